# Inline code run as an ES module: `js_module_type = "module"` makes node
# treat `code` as ESM (import, top-level await); inline code is CommonJS
# otherwise. The args reach process.argv.slice(2).
job "js-esm-inline" {
  type = "batch"

  group "inline" {
    restart {
      attempts = 0
    }

    task "sum" {
      driver = "elide"

      config {
        language       = "js"
        js_module_type = "module"
        code           = <<-EOT
          import { setTimeout as sleep } from "node:timers/promises";

          await sleep(10);
          const sum = process.argv.slice(2).map(Number).reduce((a, b) => a + b, 0);
          console.log("sum =", sum);
          console.log("es module:", typeof require === "undefined");
        EOT
        args           = ["1", "2", "39"]
      }

      resources {
        cpu    = 100
        memory = 128
      }
    }
  }
}
