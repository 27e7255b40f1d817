# A service whose function never returns: int ticker(int interval_ms) in
# mathlib.so prints "tick N" every interval. The runner line-buffers stdout,
# so `nomad alloc logs` shows each tick as it happens; `nomad job stop`
# sends the kill_signal to the task's process and it ends.
#
# The library comes from a Nomad Variable decoded by a template, as in
# native-greet.nomad.hcl; publish it first:
#
#   base64 -w0 build/tests/fixtures/native/mathlib.so > /tmp/mathlib.so.b64
#   nomad var put nomad/jobs/native-ticker library=@/tmp/mathlib.so.b64
job "native-ticker" {
  type = "service"

  group "ticker" {
    task "ticker" {
      driver       = "elide"
      kill_signal  = "SIGTERM"
      kill_timeout = "5s"

      template {
        destination = "local/mathlib.so"
        change_mode = "noop"
        data        = "{{ with nomadVar \"nomad/jobs/native-ticker\" }}{{ .library.Value | base64Decode }}{{ end }}"
      }

      config {
        language  = "native"
        script    = "local/mathlib.so"
        symbol    = "ticker"
        signature = "int(int)"
        args      = ["500"]
      }

      resources {
        cpu    = 100
        memory = 32
      }
    }
  }
}
