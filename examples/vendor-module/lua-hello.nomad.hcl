# A batch job for the vendor Lua module (install it first: see README.md).
# The script comes from a template; its arguments from `args`; `warnings`
# is the module's own task key (lua -W). It prints to stdout and stderr and
# exits 0.
job "lua-hello" {
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
        destination = "local/report.lua"
        data        = <<-EOT
          print("report for " .. table.concat({...}, " "))
          print("greeting: " .. os.getenv("GREETING"))
          print("alloc id: " .. os.getenv("NOMAD_ALLOC_ID"))
          warn("warnings go to stderr")
        EOT
      }

      config {
        language = "lua"
        script   = "local/report.lua"
        args     = ["--day", "2026-11-20"]
        warnings = true
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
