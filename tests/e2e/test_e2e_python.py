"""End-to-end tests: the example python jobs through nomad-driver-elide on a
real Nomad dev agent built from the pinned Nomad Go module.

Usage: test_e2e_python.py <path of the built nomad-driver-elide>
Fails (never skips) when Nomad cannot be built or the agent cannot start.
Prints one line per check and a closing "N passed, N failed"."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_util import (EXAMPLES, JOBS, check, check_exit_code, check_nothing_left,  # noqa: E402
                      check_refused, finish, new_agent, nomad_binary, run_tests, usage_ok)


def test_fingerprint(agent):
    drv = agent.elide_node_driver()
    check(drv["Detected"] and drv["Healthy"], "elide driver detected and healthy")
    check(drv["HealthDescription"] == "Healthy", "health description is 'Healthy'")
    attrs = agent.node()["Attributes"]
    check(attrs.get("driver.elide.version"), "node attribute driver.elide.version")
    check("python" in attrs.get("driver.elide.backends", ""), "driver.elide.backends lists python")
    check(attrs.get("driver.elide.python.runtime") == "/usr/bin/python3",
          "driver.elide.python.runtime is /usr/bin/python3")
    check(attrs.get("driver.elide.python.version", "").startswith("3."),
          "driver.elide.python.version is a python 3 version")
    status = agent.cli("node", "status", "-self", "-verbose").stdout
    check(any(l.split()[:3] == ["elide", "true", "true"] for l in status.splitlines()),
          "nomad node status shows elide detected and healthy")
    # The plugin block's module_options (a list: Nomad reads agent files with
    # HCL1) reaches a module's settings in a real agent.
    check(attrs.get("driver.elide.js.runtime") == "/usr/bin/nodejs",
          "plugin block module_options sets js.runtime (%s)" % attrs.get("driver.elide.js.runtime"))


def test_hello(agent):
    job = agent.run_job(os.path.join(EXAMPLES, "python-hello.nomad.hcl"))
    alloc = agent.wait_alloc(job, ("complete", "failed"))
    check(alloc["ClientStatus"] == "complete", "python-hello completes")
    out = agent.logs(alloc["ID"], "report")
    err = agent.logs(alloc["ID"], "report", stderr=True)
    check("report for --day 2026-11-20" in out, "script args reach the script (stdout)")
    check("greeting: hello from the job's env block" in out, "env block reaches the script")
    check("alloc id: " + alloc["ID"] in out, "NOMAD_ALLOC_ID reaches the script")
    check(out.count("task dir: ") == 1 and out.split("task dir: ")[1].split("\n")[0].endswith(
        "/alloc/" + alloc["ID"] + "/report"), "working directory is the task dir")
    check(err == "progress goes to stderr\n", "stderr is exactly the script's stderr")
    check_exit_code(agent, alloc, 0)


def test_inline(agent):
    job = agent.run_job(os.path.join(EXAMPLES, "python-inline.nomad.hcl"))
    alloc = agent.wait_alloc(job, ("complete", "failed"))
    check(alloc["ClientStatus"] == "complete", "python-inline completes")
    check(agent.logs(alloc["ID"], "sum") == "sum = 42\n", "inline code output is exact")


def test_fail(agent):
    job = agent.run_job(os.path.join(EXAMPLES, "python-fail.nomad.hcl"))
    alloc = agent.wait_alloc(job, ("complete", "failed"))
    check(alloc["ClientStatus"] == "failed", "non-zero exit fails the allocation")
    state = alloc["TaskStates"]["fail"]
    check(state["Failed"], "non-zero exit fails the task")
    check_exit_code(agent, alloc, 3)
    check(agent.logs(alloc["ID"], "fail", stderr=True) == "giving up\n", "stderr of failing task")


def test_service_stop(agent):
    job = agent.run_job(os.path.join(EXAMPLES, "python-service.nomad.hcl"))
    alloc = agent.wait_alloc(job, ("running",))
    check("tick 2" in agent.wait_for_log(alloc["ID"], "ticker", "tick 2"),
          "service task logs while running")
    took, alloc = agent.stop_job(job)
    check(took is not None and took < 5.0,
          "nomad job stop ends a responsive task within its kill_timeout (%.2fs)" % (took or -1))
    out = agent.logs(alloc["ID"], "ticker")
    check("received signal 15" in out, "the task received its kill_signal SIGTERM")


def test_stubborn_stop(agent):
    job = agent.run_job(os.path.join(JOBS, "stubborn.nomad.hcl"))
    alloc = agent.wait_alloc(job, ("running",))
    agent.wait_for_log(alloc["ID"], "stubborn", "ignoring")
    took, alloc = agent.stop_job(job)
    check(took is not None and 3.0 <= took < 8.0,
          "a task ignoring kill_signal is killed after kill_timeout 3s (%.2fs)" % (took or -1))
    events = agent.events(alloc, "stubborn")
    killed = [e for e in events if e["Type"] == "Terminated"]
    check(killed and killed[-1]["Details"].get("signal") == "9",
          "Terminated event reports signal 9")


BAD_JOBS = (("bad-config.nomad.hcl", 'fields "script" and "code"'),
            ("unknown-language.nomad.hcl", 'field "language"'))


def bad_job(agent, name, needle):
    check_refused(agent, os.path.join(JOBS, name), name, needle,
                  named="task events name the field (%s)" % needle)


def main():
    if not usage_ok(1, "test_e2e_python.py <nomad-driver-elide binary>"):
        return 2
    agent = new_agent(nomad_binary(), sys.argv[1], plugin_config={
        "python_runtime": "/usr/bin/python3", "module_options": ["js.runtime=/usr/bin/nodejs"]})
    tests = [(t.__name__ + " raised", t, agent)
             for t in (test_fingerprint, test_hello, test_inline, test_fail, test_service_stop,
                       test_stubborn_stop)]
    tests += [(name + " raised", bad_job, agent, name, needle) for name, needle in BAD_JOBS]
    run_tests(agent, tests)
    check_nothing_left(sys.argv[1])
    return finish()


if __name__ == "__main__":
    sys.exit(main())
