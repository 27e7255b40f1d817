# A batch job running a WASI preview1 module (hello.wasm, compiled from
# tests/fixtures/wasm/hello.c) through the elide driver's wasm backend.
#
# Getting the .wasm into the task: a job file cannot carry a binary (a
# template renders text), so the task downloads it with an `artifact` block,
# Nomad's own way to ship binaries, from any source go-getter knows (https,
# s3, gcs, git, an internal artifact server). The module lands in the task
# directory, where `script` must point; nothing outside the task directory
# is ever run. Give the URL with
#   nomad job run -var wasm_url=https://artifacts.example/hello.wasm wasm-hello.nomad.hcl
# (the end-to-end test serves the built fixture from 127.0.0.1) and pin it
# in production with `options { checksum = "sha256:<digest>" }`.
#
# What the module sees, whichever engine the client runs (node, wazero,
# wasmtime or wasmedge; [module.wasm] engine in the INI deployment file):
# argv = ["hello.wasm", args...], the task environment (the env block and
# NOMAD_*), and the task directory as "/", so the template's
# local/input.txt is also /local/input.txt. Its exit code is the task's.
variable "wasm_url" {
  type        = string
  description = "URL of hello.wasm, the WASI module to run"
  default     = "http://127.0.0.1:8080/hello.wasm"
}

job "wasm-hello" {
  type = "batch"

  group "hello" {
    restart {
      attempts = 0
    }

    task "hello" {
      driver = "elide"

      artifact {
        source      = var.wasm_url
        destination = "local/hello.wasm"
        mode        = "file"
      }

      env {
        GREETING = "hello from the job's env block"
      }

      template {
        destination = "local/input.txt"
        data        = "rendered by a template\n"
      }

      config {
        language = "wasm"
        script   = "local/hello.wasm"
        args     = ["--day", "2026-11-20"]
      }

      resources {
        cpu    = 100
        memory = 128
      }
    }
  }
}
