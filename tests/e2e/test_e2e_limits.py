"""End-to-end tests of limits on a real Nomad dev agent (root, cgroups v1 on
these machines; v2 checked where the host has it): the fingerprint's
driver.elide.cgroups, the task in Nomad's task cgroups and the limit values
Nomad's numbers give (memory 200 -> 209715200; memory 150 + memory_max 250
-> hard 262144000, soft 157286400, with memory oversubscription turned on
through the operator API), `nomad alloc status -stats` showing non-zero
memory for a running task, an OOM job reported as such (Terminated event's
oom_killed and our event in `nomad alloc status`), and a job stopped by its
`timeout` with its event and exit code.

Usage: test_e2e_limits.py <path of the built nomad-driver-elide>
Fails (never skips) when Nomad cannot be built or the agent cannot start.
Prints one line per check and a closing "N passed, N failed"."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_util import (check, check_exit_code, check_nothing_left, finish,  # noqa: E402
                      new_agent, nomad_binary, one_shot_job, run_tests, usage_ok, write_job)

CGROOT = "/sys/fs/cgroup"

# A task printing its cgroups, then holding ~48 MiB until stopped.
HOLDER_JOB = """
job "{job}" {{
  type = "service"
  group "g" {{
    task "holder" {{
      driver       = "elide"
      kill_timeout = "2s"
      config {{
        language = "python"
        code     = "import time\\nprint(open('/proc/self/cgroup').read(), flush=True)\\nx = bytearray(48 << 20)\\nprint('holding', flush=True)\\nwhile True:\\n    time.sleep(1)\\n"
      }}
      resources {{
        cpu    = 250
        memory = {memory}
{memory_max}      }}
    }}
  }}
}}
"""

OOM_JOB = one_shot_job("oom", """
    task "hog" {
      driver = "elide"
      config {
        language = "python"
        code     = "import time\\nprint('allocating', flush=True)\\nx = 'x' * (256 << 20)\\ntime.sleep(30)\\n"
      }
      resources {
        memory = 32
      }
    }
""")

TIMEOUT_JOB = one_shot_job("slow", """
    task "slow" {
      driver = "elide"
      config {
        language = "python"
        code     = "import time\\nprint('started', flush=True)\\ntime.sleep(120)\\n"
        timeout  = "2s"
      }
    }
""")


def mode_of(agent):
    return agent.node()["Attributes"].get("driver.elide.cgroups")


def test_fingerprint(agent):
    attrs = agent.node()["Attributes"]
    check(attrs.get("driver.elide.cgroups") in ("v1", "v2"),
          "driver.elide.cgroups is v1 or v2 (%s)" % attrs.get("driver.elide.cgroups"))
    check("driver.elide.cgroups.reason" not in attrs,
          "no driver.elide.cgroups.reason when cgroups are used")


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        return "(%s)" % e


def task_dir(mode, controller, alloc_id, task):
    if mode == "v2":
        return os.path.join(CGROOT, "nomad.slice", "share.slice", "%s.%s.scope" % (alloc_id, task))
    return os.path.join(CGROOT, controller, "nomad", "%s.%s" % (alloc_id, task))


def run_holder(agent, job, memory, memory_max=None):
    path = write_job(agent, job + ".nomad.hcl", HOLDER_JOB.format(
        job=job, memory=memory,
        memory_max="        memory_max = %d\n" % memory_max if memory_max else ""))
    agent.run_job(path)
    alloc = agent.wait_alloc(job, ("running",))
    out = agent.wait_for_log(alloc["ID"], "holder", "holding", timeout=30)
    check("holding" in out, "%s: the task runs and allocates" % job)
    return alloc, out


def test_cgroups_and_stats(agent):
    mode = mode_of(agent)
    alloc, out = run_holder(agent, "holder", 200)
    aid = alloc["ID"]
    if mode == "v1":
        for ctrl in ("memory", "cpu", "freezer"):
            want = ":%s:/nomad/%s.holder\n" % (ctrl, aid)
            check(want in out, "/proc/self/cgroup of the task shows %s" % want.strip())
        mem = task_dir(mode, "memory", aid, "holder")
        check(read(os.path.join(mem, "memory.limit_in_bytes")) == "209715200",
              "memory = 200 -> memory.limit_in_bytes 209715200 (%s)" %
              read(os.path.join(mem, "memory.limit_in_bytes")))
        cpu = task_dir(mode, "cpu", aid, "holder")
        check(read(os.path.join(cpu, "cpu.shares")) == "250", "cpu = 250 -> cpu.shares 250")
        # Only the task: its own pid, not the monitor's (checklist item 96).
        procs = read(os.path.join(mem, "cgroup.procs")).split()
        check(len(procs) == 1 and read("/proc/%s/comm" % procs[0]).startswith("python"),
              "the memory cgroup holds exactly the task's process (%s)" % procs)
    else:
        want = "0::/nomad.slice/share.slice/%s.holder.scope\n" % aid
        check(want in out, "/proc/self/cgroup of the task shows %s" % want.strip())
        scope = task_dir(mode, None, aid, "holder")
        check(read(os.path.join(scope, "memory.max")) == "209715200",
              "memory = 200 -> memory.max 209715200")
    # `nomad alloc status -stats`: the task's memory is real (> 40 MiB of
    # the 48 it holds), with the cgroup's figures. The client shows its
    # latest sample, taken every second, which may predate the allocation.
    text, used_mib = "", 0.0
    for _ in range(30):
        text = agent.cli("alloc", "status", "-stats", aid).stdout
        m = re.search(r"(\d+(?:\.\d+)?) (KiB|MiB|GiB)/200 MiB", text)
        if m:
            used_mib = float(m.group(1)) * {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024}[m.group(2)]
        if used_mib > 40:
            break
        time.sleep(1)
    check(used_mib > 40, "alloc status -stats shows the task's memory (%.1f MiB of 200)" % used_mib)
    check("Usage" in text and "Cache" in text and "RSS" in text,
          "alloc status -stats shows the cgroup's RSS, Cache and Usage")
    agent.stop_job("holder")
    if mode == "v1":
        own = os.path.join(CGROOT, "cpuacct", "nomad", "%s.holder" % aid)
        deadline = time.time() + 15
        while time.time() < deadline and os.path.exists(own):
            time.sleep(0.2)
        check(not os.path.exists(own), "the driver's own cpuacct group is removed after the task")


def enable_oversubscription(agent):
    cur = agent.api("/v1/operator/scheduler/configuration") or {}
    cfg = cur.get("SchedulerConfig") or {}
    cfg["MemoryOversubscriptionEnabled"] = True
    agent.api("/v1/operator/scheduler/configuration", method="PUT", body=cfg)
    now = (agent.api("/v1/operator/scheduler/configuration") or {}).get("SchedulerConfig") or {}
    return now.get("MemoryOversubscriptionEnabled") is True


def test_memory_max(agent):
    check(enable_oversubscription(agent), "memory oversubscription enabled via the operator API")
    mode = mode_of(agent)
    alloc, _ = run_holder(agent, "holder-max", 150, memory_max=250)
    aid = alloc["ID"]
    if mode == "v1":
        mem = task_dir(mode, "memory", aid, "holder")
        hard = read(os.path.join(mem, "memory.limit_in_bytes"))
        soft = read(os.path.join(mem, "memory.soft_limit_in_bytes"))
    else:
        scope = task_dir(mode, None, aid, "holder")
        hard = read(os.path.join(scope, "memory.max"))
        soft = read(os.path.join(scope, "memory.low"))
    check(hard == "262144000", "memory 150 + memory_max 250 -> hard limit 262144000 (%s)" % hard)
    check(soft == "157286400", "memory 150 + memory_max 250 -> soft limit 157286400 (%s)" % soft)
    agent.stop_job("holder-max")


def test_oom(agent):
    agent.run_job(write_job(agent, "oom.nomad.hcl", OOM_JOB))
    alloc = agent.wait_alloc("oom", ("complete", "failed"), timeout=90)
    check(alloc["ClientStatus"] == "failed", "the OOM job fails")
    events = agent.events(alloc, "hog")
    term = [e for e in events if e["Type"] == "Terminated"]
    check(term and term[-1]["Details"].get("oom_killed") == "true",
          "the Terminated event says oom_killed = true (%s)" %
          (term[-1]["Details"] if term else None))
    check(term and term[-1]["Details"].get("signal") == "9", "the Terminated event has signal 9")
    ours = [e for e in events if "OOM killed" in (e.get("DisplayMessage") or "")]
    check(ours and "memory limit of 32 MiB" in ours[-1]["DisplayMessage"],
          "our event names the OOM killer and the 32 MiB limit (%s)" %
          (ours[-1]["DisplayMessage"] if ours else [e.get("DisplayMessage") for e in events]))
    status = agent.alloc_status(alloc["ID"])
    check("OOM killed" in status, "nomad alloc status shows the OOM kill")
    check_exit_code(agent, alloc, 137, "oom: ")


def test_timeout(agent):
    t0 = time.time()
    agent.run_job(write_job(agent, "slow.nomad.hcl", TIMEOUT_JOB))
    alloc = agent.wait_alloc("slow", ("complete", "failed"), timeout=90)
    took = time.time() - t0
    check(alloc["ClientStatus"] == "failed", "the timed-out job fails")
    check(took < 30, "the 2s timeout ends the task well before its 120s sleep (%.1fs)" % took)
    check("started" in agent.logs(alloc["ID"], "slow"), "the task ran before its timeout")
    events = agent.events(alloc, "slow")
    msgs = [e.get("DisplayMessage") or "" for e in events]
    want = "Task exceeded its timeout of 2s: sent SIGINT"
    check(any(want in m for m in msgs), "task events include '%s' (%s)" % (want, msgs))
    check(want in agent.alloc_status(alloc["ID"]), "nomad alloc status shows the timeout event")
    check_exit_code(agent, alloc, 130, "timeout: ")


def main():
    if not usage_ok(1, "test_e2e_limits.py <nomad-driver-elide binary>"):
        return 2
    if os.geteuid() != 0:
        print("FAIL these tests need root (cgroups)")
        return 1
    agent = new_agent(nomad_binary(), sys.argv[1])
    tests = [(t.__name__ + " raised", t, agent)
             for t in (test_fingerprint, test_cgroups_and_stats, test_memory_max, test_oom,
                       test_timeout)]
    run_tests(agent, tests)
    check_nothing_left(sys.argv[1])
    return finish()


if __name__ == "__main__":
    sys.exit(main())
