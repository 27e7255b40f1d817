# A task that exits with code 3: Nomad marks the task and the allocation
# failed and, with no restarts left, does not start it again.
job "python-fail" {
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

      config {
        language = "python"
        code     = "import sys; print('giving up', file=sys.stderr); sys.exit(3)"
      }
    }
  }
}
