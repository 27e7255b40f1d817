# A batch job running a python script through the elide driver. The script
# is written into the task directory by a template; its arguments come from
# `args` and its greeting from the job's `env` block. It prints to stdout
# and stderr and exits 0.
job "python-hello" {
  type = "batch"

  group "report" {
    restart {
      attempts = 0
    }

    task "report" {
      driver = "elide"

      env {
        GREETING = "hello from the job's env block"
      }

      template {
        destination = "local/report.py"
        data        = <<-EOT
          import os
          import sys

          print("report for", " ".join(sys.argv[1:]))
          print("greeting:", os.environ["GREETING"])
          print("task dir:", os.getcwd())
          print("alloc id:", os.environ["NOMAD_ALLOC_ID"])
          print("progress goes to stderr", file=sys.stderr)
        EOT
      }

      config {
        language = "python"
        script   = "local/report.py"
        args     = ["--day", "2026-11-20"]
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
