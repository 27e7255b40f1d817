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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_util import (EXAMPLES, check, check_exit_code, check_nothing_left,  # noqa: E402
                      check_refused, finish, new_agent, nomad_binary, one_shot_job, refused_job,
                      run_tests, usage_ok, write_job)

NODE = "/usr/bin/node"

# Jobs that only make sense as tests are written into the agent's directory.
FAIL_JOB = one_shot_job("js-fail", """
    task "fail" {
      driver = "elide"
      config {
        language = "javascript"
        code     = "console.error('giving up'); process.exit(3)"
      }
    }
""", group="fail")

BAD_MODULE_TYPE_JOB = refused_job("js-bad-module-type", language="js", js_module_type="x",
                                  code="require('fs').writeFileSync('ran', 'x')")


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
    check_exit_code(agent, alloc, 0)
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
    check_exit_code(agent, alloc, 3)
    check(agent.logs(alloc["ID"], "fail", stderr=True) == "giving up\n",
          "stderr of the failing task (language alias \"javascript\")")


def test_bad_module_type(agent):
    alloc, _ = check_refused(
        agent, write_job(agent, "js-bad-module-type.nomad.hcl", BAD_MODULE_TYPE_JOB),
        "bad js_module_type", 'field "js_module_type": "x" is not one of: commonjs, module')
    ran = agent.cli("alloc", "fs", alloc["ID"], "bad/ran", check=False)
    check(ran.returncode != 0, "bad js_module_type: the code never ran (no bad/ran file)")


def main():
    if not usage_ok(1, "test_e2e_js.py <nomad-driver-elide binary>"):
        return 2
    agent = new_agent(nomad_binary(), sys.argv[1])
    run_tests(agent, [(t.__name__ + " raised", t, agent)
                      for t in (test_fingerprint, test_hello, test_esm_inline, test_fail,
                                test_bad_module_type)])
    check_nothing_left(sys.argv[1])
    return finish()


if __name__ == "__main__":
    sys.exit(main())
