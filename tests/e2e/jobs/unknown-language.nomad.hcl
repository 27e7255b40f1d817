# An unknown language: StartTask must refuse it, naming the field.
job "unknown-language" {
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
        language = "cobol"
        code     = "DISPLAY 'HI'."
      }
    }
  }
}
