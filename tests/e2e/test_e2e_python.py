"""End-to-end tests: the example python jobs through nomad-driver-elide on a
real Nomad dev agent built from the pinned Nomad Go module.

Usage: test_e2e_python.py <path of the built nomad-driver-elide>
Fails (never skips) when Nomad cannot be built or the agent cannot start.
Prints one line per check and a closing "N passed, N failed"."""

import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from nomad_agent import NomadAgent, build_nomad  # noqa: E402

EXAMPLES = os.path.join(HERE, "..", "..", "examples", "jobs")
JOBS = os.path.join(HERE, "jobs")

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
    check("Exit Code: 0" in alloc_text(agent, alloc), "alloc status shows Exit Code: 0")


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
    check("Exit Code: 3" in alloc_text(agent, alloc), "alloc status shows Exit Code: 3")
    check(agent.logs(alloc["ID"], "fail", stderr=True) == "giving up\n", "stderr of failing task")


def stop_and_time(agent, job):
    t0 = time.time()
    agent.cli("job", "stop", "-detach", job)
    deadline = time.time() + 60
    while time.time() < deadline:
        allocs = agent.allocs(job)
        if allocs and all(a["ClientStatus"] in ("complete", "failed") for a in allocs):
            return time.time() - t0, agent.api("/v1/allocation/" + allocs[0]["ID"])
        time.sleep(0.1)
    return None, None


def test_service_stop(agent):
    job = agent.run_job(os.path.join(EXAMPLES, "python-service.nomad.hcl"))
    alloc = agent.wait_alloc(job, ("running",))
    deadline = time.time() + 15
    while time.time() < deadline and "tick 2" not in agent.logs(alloc["ID"], "ticker"):
        time.sleep(0.2)
    check("tick 2" in agent.logs(alloc["ID"], "ticker"), "service task logs while running")
    took, alloc = stop_and_time(agent, job)
    check(took is not None and took < 5.0,
          "nomad job stop ends a responsive task within its kill_timeout (%.2fs)" % (took or -1))
    out = agent.logs(alloc["ID"], "ticker")
    check("received signal 15" in out, "the task received its kill_signal SIGTERM")


def test_stubborn_stop(agent):
    job = agent.run_job(os.path.join(JOBS, "stubborn.nomad.hcl"))
    alloc = agent.wait_alloc(job, ("running",))
    deadline = time.time() + 15
    while time.time() < deadline and "ignoring" not in agent.logs(alloc["ID"], "stubborn"):
        time.sleep(0.2)
    took, alloc = stop_and_time(agent, job)
    check(took is not None and 3.0 <= took < 8.0,
          "a task ignoring kill_signal is killed after kill_timeout 3s (%.2fs)" % (took or -1))
    events = agent.events(alloc, "stubborn")
    killed = [e for e in events if e["Type"] == "Terminated"]
    check(killed and killed[-1]["Details"].get("signal") == "9",
          "Terminated event reports signal 9")


def bad_job(agent, name, needle):
    job = agent.run_job(os.path.join(JOBS, name))
    alloc = agent.wait_alloc(job, ("failed",))
    events = agent.events(alloc, "bad")
    msgs = " | ".join(e.get("DisplayMessage", "") for e in events)
    check(any(e["Type"] == "Driver Failure" for e in events),
          "%s: task events include Driver Failure" % name)
    check(needle in msgs, "%s: task events name the field (%s)" % (name, needle))
    check(needle in alloc_text(agent, alloc), "%s: alloc status shows the reason" % name)


def our_processes(plugin_binary):
    """PIDs whose executable is the plugin or the monitor built with it."""
    ours = {os.path.realpath(plugin_binary),
            os.path.realpath(os.path.join(os.path.dirname(os.path.realpath(plugin_binary)), "..",
                                          "lib", "nomad-driver-elide", "elide-monitor"))}
    pids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.path.realpath(os.readlink("/proc/%s/exe" % pid)) in ours:
                    pids.append(int(pid))
            except OSError:
                pass
    return pids


def check_nothing_left(plugin_binary):
    deadline = time.time() + 10
    while time.time() < deadline and our_processes(plugin_binary):
        time.sleep(0.2)
    left = our_processes(plugin_binary)
    check(not left, "no plugin or monitor process left after the agent stopped %s" % left)


def main():
    if len(sys.argv) != 2:
        print("usage: test_e2e_python.py <nomad-driver-elide binary>")
        return 2
    nomad = build_nomad()
    print("nomad: " + nomad)
    agent = NomadAgent(nomad, sys.argv[1], keep=os.environ.get("ELIDE_E2E_KEEP") == "1")
    try:
        agent.start()
        for t in (test_fingerprint, test_hello, test_inline, test_fail, test_service_stop,
                  test_stubborn_stop):
            try:
                t(agent)
            except Exception:
                traceback.print_exc()
                check(False, t.__name__ + " raised")
        for name, needle in (("bad-config.nomad.hcl", 'fields "script" and "code"'),
                             ("unknown-language.nomad.hcl", 'field "language"')):
            try:
                bad_job(agent, name, needle)
            except Exception:
                traceback.print_exc()
                check(False, name + " raised")
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
