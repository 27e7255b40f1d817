# A batch job calling a C function in a shared library through the elide
# driver's native backend: greet("nomad") from mathlib.so
# (tests/fixtures/native/mathlib.c), called through libffi with the
# signature below. It prints "hello, nomad" on stdout and a line on stderr,
# and its return value, 0, is the task's exit code.
#
# Getting the .so into the task directory. The library must be a file inside
# the task dir (`script`), and Nomad puts files there by `artifact` (a
# download) or `template` (text). In production an artifact from your
# artifact store is the usual way. This example needs no network: the
# library travels as a Nomad Variable, base64-encoded, and a template decodes
# it into local/ before the task starts (base64Decode yields the raw bytes).
# Publish it once, from the build tree:
#
#   base64 -w0 build/tests/fixtures/native/mathlib.so > /tmp/mathlib.so.b64
#   nomad var put nomad/jobs/native-greet library=@/tmp/mathlib.so.b64
#
# A job may read variables under nomad/jobs/<job id> with its workload
# identity (no ACL policy needed); variables hold at most 64 KiB, so this
# suits small libraries. Until the variable exists the task waits in its
# template ("Missing: nomad.var.block(...)").
job "native-greet" {
  type = "batch"

  group "greet" {
    restart {
      attempts = 0
    }

    task "greet" {
      driver = "elide"

      template {
        destination = "local/mathlib.so"
        change_mode = "noop"
        data        = "{{ with nomadVar \"nomad/jobs/native-greet\" }}{{ .library.Value | base64Decode }}{{ end }}"
      }

      config {
        language  = "native"
        script    = "local/mathlib.so"
        symbol    = "greet"
        signature = "int(string)"
        args      = ["nomad"]
      }

      resources {
        cpu    = 100
        memory = 32
      }
    }
  }
}
