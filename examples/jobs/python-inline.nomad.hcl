# Inline python code instead of a script file.
job "python-inline" {
  type = "batch"

  group "inline" {
    restart {
      attempts = 0
    }

    task "sum" {
      driver = "elide"

      config {
        language = "python"
        code     = "import sys; print('sum =', sum(int(a) for a in sys.argv[1:]))"
        args     = ["1", "2", "39"]
      }
    }
  }
}
