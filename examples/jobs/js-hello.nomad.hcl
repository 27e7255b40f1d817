# A batch job running a CommonJS script with node through the elide driver.
# The script is written into the task directory by a template; its
# arguments come from `args` and its greeting from the job's `env` block.
# It prints to stdout and stderr and exits 0. The .cjs extension makes it
# CommonJS whatever package.json is around (a .mjs file is an ES module; a
# .js file follows the nearest package.json "type", as node decides).
job "js-hello" {
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
        destination = "local/report.cjs"
        data        = <<-EOT
          const path = require("node:path");

          console.log("report for", process.argv.slice(2).join(" "));
          console.log("greeting:", process.env.GREETING);
          console.log("task dir:", process.cwd());
          console.log("alloc id:", process.env.NOMAD_ALLOC_ID);
          console.log("script:", path.basename(__filename), "(commonjs)");
          console.error("progress goes to stderr");
        EOT
      }

      config {
        language = "js"
        script   = "local/report.cjs"
        args     = ["--day", "2026-11-20"]
      }

      resources {
        cpu    = 100
        memory = 128
      }
    }
  }
}
