# A long-running service. `nomad job stop` sends kill_signal (SIGTERM here);
# the task logs it and exits. A task that ignored the signal would be
# SIGKILLed once kill_timeout has passed.
job "python-service" {
  type = "service"

  group "ticker" {
    task "ticker" {
      driver       = "elide"
      kill_signal  = "SIGTERM"
      kill_timeout = "5s"

      config {
        language = "python"
        code     = <<-EOT
          import signal, sys, time

          def stop(signum, frame):
              print("received signal", signum, flush=True)
              sys.exit(0)

          signal.signal(signal.SIGTERM, stop)
          n = 0
          while True:
              print("tick", n, flush=True)
              n += 1
              time.sleep(0.5)
        EOT
      }
    }
  }
}
