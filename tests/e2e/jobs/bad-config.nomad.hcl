# Both `script` and `code` set: StartTask must refuse it, naming the fields.
job "bad-config" {
  type = "batch"

  group "bad" {
    restart {
      attempts = 0
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "bad" {
      driver = "elide"

      config {
        language = "python"
        script   = "local/x.py"
        code     = "print(1)"
      }
    }
  }
}
