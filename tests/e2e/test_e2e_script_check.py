"""End-to-end test of Consul script checks run through the driver's ExecTask
on a real Nomad dev agent and a private Consul dev agent, both built from
their pinned Go modules (build-nomad.sh, build-consul.sh) and bound to
127.0.0.1. Script checks need Consul: Nomad's own service provider runs
only http and tcp checks.

A python service task carries a group service with script checks (each with
`task = "svc"`): exit 0 must go passing, exit 1 warning, exit 2 critical,
each with the command's output; a check that runs past its timeout must go
critical and its process must be killed; a check's command runs in the
task's working directory and environment. Statuses are read from Consul's
HTTP API (the agent's view).

Usage: test_e2e_script_check.py <nomad-driver-elide binary>
Fails (never skips) when Nomad or Consul cannot be built or an agent cannot
start. Prints one line per check and a closing "N passed, N failed"."""

import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_util import (check, check_nothing_left, finish, new_agent,  # noqa: E402
                      nomad_binary, pid_running, run_tests, usage_ok, write_job)
from nomad_agent import build_consul  # noqa: E402

SERVICE = "elide-script-checks"
CHECK_TIMEOUT_S = 1

SERVICE_CODE = r"""
import time
print("serving", flush=True)
while True:
    time.sleep(1)
"""

JOB = """
job "script-checks" {{
  type = "service"
  group "g" {{
    restart {{
      attempts = 0
      mode     = "fail"
    }}
    service {{
      name     = "{service}"
      provider = "consul"
      check {{
        name     = "exit-0"
        type     = "script"
        task     = "svc"
        command  = "/bin/sh"
        args     = ["-c", "echo all good; exit 0"]
        interval = "1s"
        timeout  = "10s"
      }}
      check {{
        name     = "exit-1"
        type     = "script"
        task     = "svc"
        command  = "/bin/sh"
        args     = ["-c", "echo degraded; exit 1"]
        interval = "1s"
        timeout  = "10s"
      }}
      check {{
        name     = "exit-2"
        type     = "script"
        task     = "svc"
        command  = "/bin/sh"
        args     = ["-c", "echo broken; exit 2"]
        interval = "1s"
        timeout  = "10s"
      }}
      check {{
        name     = "context"
        type     = "script"
        task     = "svc"
        command  = "/bin/sh"
        args     = ["-c", "echo \\"cwd=$(pwd) task=$NOMAD_TASK_NAME marker=$CHECK_MARKER\\""]
        interval = "1s"
        timeout  = "10s"
      }}
      check {{
        name     = "too-slow"
        type     = "script"
        task     = "svc"
        command  = "/bin/sh"
        args     = ["-c", "echo $$ $(date +%s) >> {pids}; exec sleep 60"]
        interval = "2s"
        timeout  = "{timeout}s"
      }}
    }}
    task "svc" {{
      driver = "elide"
      config {{
        language = "python"
        code     = {code}
      }}
      env {{
        CHECK_MARKER = "from-the-task-env"
      }}
      resources {{
        cpu    = 50
        memory = 64
      }}
    }}
  }}
}}
"""


def consul_checks(agent):
    """{check name: (status, output)} of the service's checks as the Consul
    agent holds them (its /v1/agent/checks: the catalog's /v1/health view
    syncs an output change without a status change only every
    check_update_interval, 5 minutes, and script checks start critical)."""
    checks = agent.consul_api("/v1/agent/checks") or {}
    return {c["Name"]: (c["Status"], c.get("Output", "")) for c in checks.values()
            if c.get("ServiceName") == SERVICE}


def test_script_checks(agent):
    attrs = (agent.node() or {}).get("Attributes", {})
    check(attrs.get("consul.version"), "Nomad fingerprints the private Consul agent (%s)" %
          attrs.get("consul.version"))
    work = tempfile.mkdtemp(prefix="elide-e2e-checks-")
    try:
        pids = os.path.join(work, "slow.pids")
        path = write_job(agent, "script-checks.nomad.hcl", JOB.format(
            service=SERVICE, pids=pids, timeout=CHECK_TIMEOUT_S,
            code=json.dumps(SERVICE_CODE)))
        job = agent.run_job(path)
        alloc = agent.wait_alloc(job, ("running",), timeout=90)
        task_dir = os.path.join(agent.dir, "data", "alloc", alloc["ID"], "svc")
        want = {
            "exit-0": ("passing", "all good"),
            "exit-1": ("warning", "degraded"),
            "exit-2": ("critical", "broken"),
            "context": ("passing", "cwd=%s task=svc marker=from-the-task-env" % task_dir),
            "too-slow": ("critical", "deadline exceeded"),
        }
        deadline = time.time() + 90
        seen = {}
        while time.time() < deadline:
            seen = consul_checks(agent)
            if all(n in seen and seen[n][0] == st and out in seen[n][1]
                   for n, (st, out) in want.items()):
                break
            time.sleep(0.5)
        for name, (status, out) in want.items():
            got = seen.get(name)
            check(got is not None and got[0] == status and out in got[1],
                  "check %s is %s with output containing %r in Consul (%s)" %
                  (name, status, out, got))
        # Every run of the slow check that is past its timeout (and some
        # slack) must have been killed by the driver.
        time.sleep(CHECK_TIMEOUT_S + 3)
        now = time.time()
        with open(pids) if os.path.exists(pids) else open(os.devnull) as f:
            runs = [(int(p), int(t)) for p, t in (l.split() for l in f if l.strip())]
        old = [(p, t) for p, t in runs if now - t > CHECK_TIMEOUT_S + 3]
        alive = [p for p, _ in old if pid_running(p)]
        check(old and not alive, "the timed-out check's processes were killed: %d runs past "
              "their timeout, still running %s" % (len(old), alive))
        took, _ = agent.stop_job(job)
        check(took is not None, "the service job stops (%.2fs)" % (took or -1))
        time.sleep(1)
        left = [p for p, _ in runs if pid_running(p)]
        check(not left, "no check process left after the job stopped %s" % left)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    if not usage_ok(1, "test_e2e_script_check.py <nomad-driver-elide binary>"):
        return 2
    nomad = nomad_binary()
    consul = build_consul()
    print("consul: " + consul)
    agent = new_agent(nomad, sys.argv[1], consul=consul)
    run_tests(agent, [("test_script_checks raised", test_script_checks, agent)])
    check(agent.consul_proc is not None and agent.consul_proc.poll() is not None,
          "the private Consul agent stopped with the Nomad agent")
    check_nothing_left(sys.argv[1])
    return finish()


if __name__ == "__main__":
    sys.exit(main())
