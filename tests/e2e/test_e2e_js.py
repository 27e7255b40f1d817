"""End-to-end tests of the js backend: the example js jobs through
nomad-driver-elide on a real Nomad dev agent built from the pinned Nomad Go
module, plus a failing task (under the "javascript" language alias) and a
bad js_module_type refused with the field named.

Usage: test_e2e_js.py <path of the built nomad-driver-elide>
Fails (never skips) when Nomad cannot be built or the agent cannot start.
Prints one line per check and a closing "N passed, N failed"."""

import os
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from nomad_agent import NomadAgent, build_nomad  # noqa: E402
from test_e2e_python import our_processes  # noqa: E402

EXAMPLES = os.path.join(HERE, "..", "..", "examples", "jobs")
NODE = "/usr/bin/node"

# Jobs that only make sense as tests are written into the agent's directory.
FAIL_JOB = """
job "js-fail" {
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
        language = "javascript"
        code     = "console.error('giving up'); process.exit(3)"
      }
    }
  }
}
"""

BAD_MODULE_TYPE_JOB = """
job "js-bad-module-type" {
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
        language       = "js"
        js_module_type = "x"
        code           = "require('fs').writeFileSync('ran', 'x')"
      }
    }
  }
}
"""

passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print("ok   " + what)
    else:
        failed += 1
        print("FAIL " + what)
    return cond


def alloc_text(agent, alloc):
    return agent.cli("alloc", "status", alloc["ID"]).stdout


def write_job(agent, name, text):
    path = os.path.join(agent.dir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def node_version():
    out = subprocess.run([NODE, "--version"], stdout=subprocess.PIPE, text=True, check=True)
    return out.stdout.strip().lstrip("v")


def test_fingerprint(agent):
    drv = agent.elide_node_driver()
    check(drv["Detected"] and drv["Healthy"], "elide driver detected and healthy")
    attrs = agent.node()["Attributes"]
    check("js" in attrs.get("driver.elide.backends", "").replace(" ", "").split(","),
          "driver.elide.backends lists js (%s)" % attrs.get("driver.elide.backends"))
    check(attrs.get("driver.elide.js.runtime") == NODE,
          "driver.elide.js.runtime is %s (%s)" % (NODE, attrs.get("driver.elide.js.runtime")))
    check(attrs.get("driver.elide.js.version") == node_version(),
          "driver.elide.js.version is node's version without the v (%s)" %
          attrs.get("driver.elide.js.version"))


def test_hello(agent):
    job = agent.run_job(os.path.join(EXAMPLES, "js-hello.nomad.hcl"))
    alloc = agent.wait_alloc(job, ("complete", "failed"))
    check(alloc["ClientStatus"] == "complete", "js-hello completes")
    out = agent.logs(alloc["ID"], "report")
    err = agent.logs(alloc["ID"], "report", stderr=True)
    check("report for --day 2026-11-20\n" in out, "script args reach process.argv.slice(2)")
    check("greeting: hello from the job's env block\n" in out, "env block reaches the script")
    check("alloc id: " + alloc["ID"] + "\n" in out, "NOMAD_ALLOC_ID reaches the script")
    check(out.count("task dir: ") == 1 and out.split("task dir: ")[1].split("\n")[0].endswith(
        "/alloc/" + alloc["ID"] + "/report"), "working directory is the task dir")
    check("script: report.cjs (commonjs)\n" in out, "the .cjs script runs as CommonJS")
    check(err == "progress goes to stderr\n", "stderr is exactly the script's stderr")
    check("Exit Code: 0" in alloc_text(agent, alloc), "alloc status shows Exit Code: 0")
    # The control for test_bad_module_type's "never ran" check.
    check(agent.cli("alloc", "fs", alloc["ID"], "report/local/report.cjs",
                    check=False).returncode == 0, "alloc fs reads a file in the task dir")


def test_esm_inline(agent):
    job = agent.run_job(os.path.join(EXAMPLES, "js-esm-inline.nomad.hcl"))
    alloc = agent.wait_alloc(job, ("complete", "failed"))
    check(alloc["ClientStatus"] == "complete", "js-esm-inline completes")
    out = agent.logs(alloc["ID"], "sum")
    check(out == "sum = 42\nes module: true\n",
          "inline ES module output is exact (%r)" % out)


def test_fail(agent):
    job = agent.run_job(write_job(agent, "js-fail.nomad.hcl", FAIL_JOB))
    alloc = agent.wait_alloc(job, ("complete", "failed"))
    check(alloc["ClientStatus"] == "failed", "process.exit(3) fails the allocation")
    check(alloc["TaskStates"]["fail"]["Failed"], "process.exit(3) fails the task")
    check("Exit Code: 3" in alloc_text(agent, alloc), "alloc status shows Exit Code: 3")
    check(agent.logs(alloc["ID"], "fail", stderr=True) == "giving up\n",
          "stderr of the failing task (language alias \"javascript\")")


def test_bad_module_type(agent):
    job = agent.run_job(write_job(agent, "js-bad-module-type.nomad.hcl", BAD_MODULE_TYPE_JOB))
    alloc = agent.wait_alloc(job, ("failed",))
    events = agent.events(alloc, "bad")
    msgs = " | ".join(e.get("DisplayMessage", "") for e in events)
    needle = 'field "js_module_type": "x" is not one of: commonjs, module'
    check(any(e["Type"] == "Driver Failure" for e in events),
          "bad js_module_type: task events include Driver Failure")
    check(needle in msgs, "bad js_module_type: task events name the field (%s)" % msgs)
    check(needle in alloc_text(agent, alloc), "bad js_module_type: alloc status shows the reason")
    ran = agent.cli("alloc", "fs", alloc["ID"], "bad/ran", check=False)
    check(ran.returncode != 0, "bad js_module_type: the code never ran (no bad/ran file)")


def check_nothing_left(plugin_binary):
    deadline = time.time() + 10
    while time.time() < deadline and our_processes(plugin_binary):
        time.sleep(0.2)
    left = our_processes(plugin_binary)
    check(not left, "no plugin or monitor process left after the agent stopped %s" % left)


def main():
    if len(sys.argv) != 2:
        print("usage: test_e2e_js.py <nomad-driver-elide binary>")
        return 2
    nomad = build_nomad()
    print("nomad: " + nomad)
    agent = NomadAgent(nomad, sys.argv[1], keep=os.environ.get("ELIDE_E2E_KEEP") == "1")
    try:
        agent.start()
        for t in (test_fingerprint, test_hello, test_esm_inline, test_fail,
                  test_bad_module_type):
            try:
                t(agent)
            except Exception:
                traceback.print_exc()
                check(False, t.__name__ + " raised")
    except Exception:
        traceback.print_exc()
        check(False, "agent started")
        print("agent log: " + agent.log_path)
    finally:
        if failed:
            try:
                with open(agent.log_path) as f:
                    tail = f.readlines()[-60:]
                print("---- last agent log lines ----\n" + "".join(tail))
            except OSError:
                pass
        agent.stop()
    check_nothing_left(sys.argv[1])
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
