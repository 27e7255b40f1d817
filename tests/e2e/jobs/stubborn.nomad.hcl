# A service that ignores its kill signal: `nomad job stop` must still end it
# by SIGKILL once kill_timeout (3s) has passed.
job "stubborn" {
  type = "service"

  group "stubborn" {
    task "stubborn" {
      driver       = "elide"
      kill_signal  = "SIGINT"
      kill_timeout = "3s"

      config {
        language = "python"
        code     = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nprint('ignoring SIGINT', flush=True)\nwhile True:\n    time.sleep(1)\n"
      }
    }
  }
}
