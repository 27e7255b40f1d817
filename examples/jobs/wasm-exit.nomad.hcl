# A WASI module that exits with status 7 through proc_exit (exit7.wasm,
# compiled from tests/fixtures/wasm/exit7.c): the exit code reaches Nomad,
# which marks the task and the allocation failed and, with no restarts
# left, does not start it again. The module is downloaded as in
# wasm-hello.nomad.hcl:
#   nomad job run -var wasm_url=https://artifacts.example/exit7.wasm wasm-exit.nomad.hcl
variable "wasm_url" {
  type        = string
  description = "URL of exit7.wasm, the WASI module to run"
  default     = "http://127.0.0.1:8080/exit7.wasm"
}

job "wasm-exit" {
  type = "batch"

  group "exit" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "exit" {
      driver = "elide"

      artifact {
        source      = var.wasm_url
        destination = "local/exit7.wasm"
        mode        = "file"
      }

      config {
        language = "wasm"
        script   = "local/exit7.wasm"
      }

      resources {
        cpu    = 100
        memory = 128
      }
    }
  }
}
