# A native task whose function returns 3: int fail(void) in mathlib.so
# prints "failing on purpose" on stderr and returns 3, which becomes the
# exit code (an integer return value is truncated to 0..255, like exit()).
# Nomad marks the task and the allocation failed.
#
# The library comes from a Nomad Variable decoded by a template, as in
# native-greet.nomad.hcl; publish it first:
#
#   base64 -w0 build/tests/fixtures/native/mathlib.so > /tmp/mathlib.so.b64
#   nomad var put nomad/jobs/native-fail library=@/tmp/mathlib.so.b64
job "native-fail" {
  type = "batch"

  group "fail" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "fail" {
      driver = "elide"

      template {
        destination = "local/mathlib.so"
        change_mode = "noop"
        data        = "{{ with nomadVar \"nomad/jobs/native-fail\" }}{{ .library.Value | base64Decode }}{{ end }}"
      }

      config {
        language  = "native"
        script    = "local/mathlib.so"
        symbol    = "fail"
        signature = "int(void)"
      }
    }
  }
}
