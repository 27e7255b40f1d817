"""End-to-end tests of survival and task events on a real Nomad dev agent
built from the pinned Nomad Go module.

Survival: 22 python tasks (one batch job, count = 22) print a numbered line
every 100 ms until the test tells each one to end (a file per task), then
exit with their own code (10 + alloc index). The plugin is killed with
kill -9 while all run, and Nomad's relaunch of it is slowed to 5 s (the
plugin directory's entry briefly points at a wrapper that sleeps, then execs
the real binary), so that 4 of the tasks are told to end while no plugin
process exists. Checked: every other task keeps running through it (its pid
and its monitor's), Nomad relaunches the plugin and RecoverTask re-attaches
every task (the plugin's "task recovered" log line and a "Recovered after
plugin restart" event per task, no restart, allocs still running), output
keeps reaching `nomad alloc logs` with no gap and no duplicate, each task
reports its own exit code, those that ended while the plugin was down report
their recorded status, and no monitor is left once the tasks ended. Every
per-task monitor's RSS and Private_Dirty (/proc/PID/smaps_rollup) is
measured while the tasks run, before and during the plugin's absence.

Events and hygiene: a job's start event names the backend, the runtime and
its version and says "warm start" in `nomad alloc status`; a job whose env
block sets loader variables (LD_PRELOAD, ...) runs without them and sees no
file descriptor but 0, 1 and 2.

Usage: test_e2e_lifecycle.py <nomad-driver-elide binary>
Fails (never skips) when Nomad cannot be built or the agent cannot start.
Prints one line per check and a closing "N passed, N failed"."""

import os
import re
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_util import (check, check_nothing_left, finish, hcl_string, new_agent,  # noqa: E402
                      nomad_binary, one_shot_job, our_processes, pid_running, ppid_of,
                      run_tests, usage_ok, write_job)

TASKS = 22
DOWN_TASKS = range(0, 4)       # told to end while no plugin runs
RUNNING_TASKS = range(4, TASKS)
RELAUNCH_DELAY_S = 5
RSS_LIMIT_KB = 1536            # 1.5 MB
PRIVATE_DIRTY_LIMIT_KB = 256

COUNT_CODE = r"""
import os, sys, time
i = int(os.environ["NOMAD_ALLOC_INDEX"])
end = os.path.join(os.environ["END_DIR"], "end-%d" % i)
n = 0
while not os.path.exists(end):
    print("task %02d line %05d" % (i, n), flush=True)
    n += 1
    time.sleep(0.1)
print("task %02d end after %d lines" % (i, n), flush=True)
sys.exit(10 + i)
"""

SURVIVORS_TASK = """
    task "count" {{
      driver = "elide"
      config {{
        language = "python"
        code     = {code}
      }}
      env {{
        END_DIR = "{end_dir}"
      }}
      resources {{
        cpu    = 20
        memory = 64
      }}
    }}
"""

HYGIENE_CODE = r"""
import os
print("fds", sorted(int(f) for f in os.listdir("/proc/self/fd")))
for k in ("LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "GLIBC_TUNABLES", "KEEP_ME"):
    print("env", k, os.environ.get(k))
"""

HYGIENE_TASK = """
    task "look" {{
      driver = "elide"
      config {{
        language = "python"
        code     = {code}
      }}
      env {{
        LD_PRELOAD      = "/nonexistent/evil.so"
        LD_LIBRARY_PATH = "/nonexistent"
        LD_AUDIT        = "/nonexistent/audit.so"
        GLIBC_TUNABLES  = "glibc.malloc.check=3"
        KEEP_ME         = "kept"
      }}
    }}
"""


# -- processes -------------------------------------------------------------
def environ_of(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            items = f.read().split(b"\0")
    except OSError:
        return {}
    env = {}
    for item in items:
        k, sep, v = item.partition(b"=")
        if sep:
            env[k.decode(errors="replace")] = v.decode(errors="replace")
    return env


def smaps_kb(pid):
    """(Rss, Private_Dirty) in kB from /proc/PID/smaps_rollup, or None."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            text = f.read()
    except OSError:
        return None
    rss = re.search(r"^Rss:\s+(\d+) kB", text, re.M)
    dirty = re.search(r"^Private_Dirty:\s+(\d+) kB", text, re.M)
    return (int(rss.group(1)), int(dirty.group(1))) if rss and dirty else None


def plugin_pids(agent):
    """Plugin processes (the real binary) that are children of the agent."""
    return [p for p in our_processes(agent.plugin_binary, helpers=())
            if ppid_of(p) == agent.proc.pid]


def alloc_of(pid):
    """The alloc id of a task process: NOMAD_ALLOC_ID in its environment
    block, or, for a warm python task whose block is its zygote's (the
    host may not use PR_SET_MM; README "Warm starts"), the alloc directory
    its working directory is in (<data_dir>/alloc/<alloc id>/<task>)."""
    alloc = environ_of(pid).get("NOMAD_ALLOC_ID")
    if alloc:
        return alloc
    try:
        parts = os.readlink("/proc/%d/cwd" % pid).split("/")
    except OSError:
        return None
    return parts[-2] if len(parts) > 2 and parts[-3] == "alloc" else None


def task_processes(agent):
    """{alloc id: (monitor pid, task pid)} for the running tasks: each
    monitor's child, named by the NOMAD_ALLOC_ID in its environment."""
    monitors = set(our_processes(agent.plugin_binary, helpers=("monitor",)))
    monitors -= set(our_processes(agent.plugin_binary, helpers=()))
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        parent = ppid_of(int(pid))
        if parent in monitors:
            alloc = alloc_of(int(pid))
            if alloc:
                found[alloc] = (parent, int(pid))
    return found


# -- the survival test ------------------------------------------------------
class Survival:
    def __init__(self, agent):
        self.agent = agent
        self.end_dir = tempfile.mkdtemp(prefix="elide-e2e-end-")
        self.allocs = {}    # alloc index -> alloc id
        self.procs = {}     # alloc index -> (monitor pid, task pid)
        self.memory = []    # (when, pid, rss kB, private dirty kB)

    def end(self, indexes):
        for i in indexes:
            with open(os.path.join(self.end_dir, "end-%d" % i), "w"):
                pass

    def measure(self, when):
        for i, (mon, _) in sorted(self.procs.items()):
            m = smaps_kb(mon)
            if m:
                self.memory.append((when, mon, m[0], m[1]))

    def lines(self, i):
        try:
            return self.agent.logs(self.allocs[i], "count").count("\n")
        except RuntimeError:
            return 0

    def wait_all_running(self, job, timeout=180):
        deadline = time.time() + timeout
        allocs = []
        while time.time() < deadline:
            allocs = self.agent.allocs(job)
            if len(allocs) == TASKS and all(a["ClientStatus"] == "running" for a in allocs):
                break
            time.sleep(0.5)
        states = sorted(a["ClientStatus"] for a in allocs)
        check(len(allocs) == TASKS and all(s == "running" for s in states),
              "survival: all %d allocs running (%s)" % (TASKS, states))
        for a in allocs:
            m = re.search(r"\[(\d+)\]$", a["Name"])
            if m:
                self.allocs[int(m.group(1))] = a["ID"]
        check(sorted(self.allocs) == list(range(TASKS)),
              "survival: one alloc per index 0..%d" % (TASKS - 1))

    def find_processes(self, timeout=60):
        deadline = time.time() + timeout
        by_alloc = {}
        while time.time() < deadline:
            by_alloc = task_processes(self.agent)
            if all(self.allocs[i] in by_alloc for i in self.allocs):
                break
            time.sleep(0.5)
        for i, alloc in self.allocs.items():
            if alloc in by_alloc:
                self.procs[i] = by_alloc[alloc]
        check(len(self.procs) == TASKS,
              "survival: a monitor and its task found for each of the %d tasks (%d)" %
              (TASKS, len(self.procs)))

    def slow_relaunch(self):
        """Points the plugin directory's entry at a wrapper that sleeps
        before exec'ing the real plugin; returns a function undoing it."""
        link = os.path.join(self.agent.dir, "plugins", "nomad-driver-elide")
        wrapper = os.path.join(self.agent.dir, "slow-plugin.sh")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\n# a plugin that takes %d s to come back\nsleep %d\nexec %s\n" %
                    (RELAUNCH_DELAY_S, RELAUNCH_DELAY_S, self.agent.plugin_binary))
        os.chmod(wrapper, 0o755)
        tmp = link + ".tmp"
        os.symlink(wrapper, tmp)
        os.rename(tmp, link)

        def restore():
            os.symlink(self.agent.plugin_binary, tmp)
            os.rename(tmp, link)
        return restore

    def check_memory(self, label):
        rows = [m for m in self.memory if m[0] == label]
        if not rows:
            check(False, "survival: monitor memory measured (%s)" % label)
            return
        worst_rss = max(r[2] for r in rows)
        worst_dirty = max(r[3] for r in rows)
        check(len(rows) >= len(self.procs) // 2 and worst_rss <= RSS_LIMIT_KB,
              "survival: %d monitors %s, RSS at most %d kB (limit %d kB)" %
              (len(rows), label, worst_rss, RSS_LIMIT_KB))
        check(worst_dirty <= PRIVATE_DIRTY_LIMIT_KB,
              "survival: %d monitors %s, Private_Dirty at most %d kB (limit %d kB)" %
              (len(rows), label, worst_dirty, PRIVATE_DIRTY_LIMIT_KB))

    def check_log(self, i, text):
        lines = text.splitlines()
        body, last = lines[:-1], lines[-1] if lines else ""
        want_end = "task %02d end after %d lines" % (i, len(body))
        expected = ["task %02d line %05d" % (i, n) for n in range(len(body))]
        ok = body == expected and last == want_end
        if not ok:
            dups = len(body) - len(set(body))
            print("  task %d: %d lines, %d duplicated, last %r, first mismatch %s" %
                  (i, len(lines), dups, last,
                   next(((n, a, b) for n, (a, b) in enumerate(zip(body, expected)) if a != b),
                        None)))
        return ok, len(body)

    def cleanup(self):
        shutil.rmtree(self.end_dir, ignore_errors=True)


def test_survival(agent):
    s = Survival(agent)
    try:
        survival(agent, s)
    finally:
        s.cleanup()


def survival(agent, s):
    path = write_job(agent, "survivors.nomad.hcl", one_shot_job("survivors", SURVIVORS_TASK.format(
        code=hcl_string(COUNT_CODE), end_dir=s.end_dir), count=TASKS))
    job = agent.run_job(path)
    s.wait_all_running(job)
    s.find_processes()
    deadline = time.time() + 60
    while time.time() < deadline and any(s.lines(i) < 5 for i in s.allocs):
        time.sleep(0.5)
    check(all(s.lines(i) >= 5 for i in s.allocs),
          "survival: every task has logged at least 5 lines before the kill")
    s.measure("while running")
    s.check_memory("while running")

    # kill -9 of the plugin, with a relaunch that takes RELAUNCH_DELAY_S
    before = plugin_pids(agent)
    check(len(before) == 1, "survival: one plugin process under the agent (%s)" % before)
    restore = s.slow_relaunch()
    try:
        for p in before:
            os.kill(p, signal.SIGKILL)
        killed_at = time.time()
        s.end(DOWN_TASKS)
        down = [s.procs[i] for i in DOWN_TASKS if i in s.procs]
        deadline = time.time() + 3
        while time.time() < deadline and any(pid_running(m) or pid_running(t) for m, t in down):
            time.sleep(0.05)
        ended_at = time.time()
        check(not any(pid_running(m) or pid_running(t) for m, t in down),
              "survival: the %d tasks told to end did, monitors too, %.1f s after the kill" %
              (len(down), ended_at - killed_at))
        none_yet = our_processes(agent.plugin_binary, helpers=())
        check(not none_yet, "survival: no plugin process existed when they ended (%s)" % none_yet)
        alive = [i for i in RUNNING_TASKS if i in s.procs and
                 pid_running(s.procs[i][0]) and pid_running(s.procs[i][1])]
        check(len(alive) == len(RUNNING_TASKS),
              "survival: all %d other tasks and their monitors run on without a plugin (%d)" %
              (len(RUNNING_TASKS), len(alive)))
        s.measure("without a plugin")
        s.check_memory("without a plugin")
        deadline = time.time() + 90
        after = []
        while time.time() < deadline and not after:
            after = plugin_pids(agent)
            time.sleep(0.2)
        relaunched = time.time() - killed_at
    finally:
        restore()
    check(after and not set(after) & set(before),
          "survival: Nomad relaunched the plugin (%s, was %s) %.1f s after the kill" %
          (after, before, relaunched))

    # RecoverTask re-attached every task
    deadline = time.time() + 60
    log = ""
    while time.time() < deadline:
        with open(agent.log_path) as f:
            log = f.read()
        recovered = [i for i, a in s.allocs.items()
                     if re.search(r"task recovered.*%s" % a, log)]
        if len(recovered) == TASKS:
            break
        time.sleep(0.5)
    check(len(recovered) == TASKS, "survival: the plugin log says 'task recovered' for %d of %d "
          "tasks" % (len(recovered), TASKS))
    statuses = {i: (agent.api("/v1/allocation/" + s.allocs[i]) or {}).get("ClientStatus")
                for i in RUNNING_TASKS}
    check(all(v == "running" for v in statuses.values()),
          "survival: the %d running tasks' allocs are still running after the recovery (%s)" %
          (len(RUNNING_TASKS), sorted(set(statuses.values()))))
    same = [i for i in RUNNING_TASKS if pid_running(s.procs[i][1])]
    check(len(same) == len(RUNNING_TASKS),
          "survival: the same task processes run after the recovery (%d)" % len(same))

    # output keeps coming after the recovery, then every task ends
    counts = {i: s.lines(i) for i in RUNNING_TASKS}
    deadline = time.time() + 30
    while time.time() < deadline and any(s.lines(i) < counts[i] + 10 for i in RUNNING_TASKS):
        time.sleep(0.5)
    check(all(s.lines(i) >= counts[i] + 10 for i in RUNNING_TASKS),
          "survival: every running task logged at least 10 more lines after the recovery")
    s.end(RUNNING_TASKS)
    deadline = time.time() + 120
    allocs = []
    while time.time() < deadline:
        allocs = agent.allocs(job)
        if allocs and all(a["ClientStatus"] in ("complete", "failed") for a in allocs):
            break
        time.sleep(0.5)
    check(len(allocs) == TASKS, "survival: still exactly %d allocs (no reschedule)" % TASKS)

    exact = codes = started_once = recovered_events = down_events = 0
    for i in range(TASKS):
        alloc = agent.api("/v1/allocation/" + s.allocs[i])
        status = agent.alloc_status(s.allocs[i])
        if "Exit Code: %d" % (10 + i) in status:
            codes += 1
        else:
            print("  task %d: alloc status does not show Exit Code: %d" % (i, 10 + i))
        ok, n = s.check_log(i, agent.logs(s.allocs[i], "count"))
        exact += ok
        events = agent.events(alloc, "count")
        types = [e["Type"] for e in events]
        if types.count("Started") == 1 and "Restarting" not in types:
            started_once += 1
        else:
            print("  task %d: event types %s" % (i, types))
        msgs = [e.get("DisplayMessage", "") for e in events]
        rec = [m for m in msgs if m.startswith("Recovered after plugin restart")]
        if i in DOWN_TASKS:
            want = "ended while no plugin ran, with exit code %d" % (10 + i)
            down_events += any(want in m for m in rec)
        else:
            recovered_events += any("re-attached to the running task" in m for m in rec)
        if not rec:
            print("  task %d: no Recovered event in %s" % (i, msgs))
    check(codes == TASKS, "survival: %d of %d allocs show their own Exit Code (10 + index)" %
          (codes, TASKS))
    check(exact == TASKS, "survival: %d of %d logs are exactly lines 0..n then the end line "
          "(no gap, no duplicate)" % (exact, TASKS))
    check(started_once == TASKS, "survival: %d of %d tasks started once and never restarted" %
          (started_once, TASKS))
    check(recovered_events == len(RUNNING_TASKS),
          "survival: %d of %d running tasks have a 'Recovered after plugin restart: re-attached "
          "to the running task' event" % (recovered_events, len(RUNNING_TASKS)))
    check(down_events == len(DOWN_TASKS),
          "survival: %d of %d tasks that ended while the plugin was down have a 'Recovered ...: "
          "the task ended while no plugin ran, with exit code N' event" %
          (down_events, len(DOWN_TASKS)))
    text = agent.alloc_status(s.allocs[DOWN_TASKS[0]])
    check("Recovered after plugin restart" in text,
          "survival: nomad alloc status shows the Recovered event")
    def idle_warm(pid):
        """A warm pool's monitor still waiting for a task: `--warm` on its
        command line and its stderr not yet a task's monitor.log."""
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                warm = b"--warm" in f.read().split(b"\0")
            return warm and os.readlink("/proc/%d/fd/2" % pid) == "/dev/null"
        except OSError:
            return False

    def monitors_left():
        return {p for p in (set(our_processes(agent.plugin_binary, helpers=("monitor",))) -
                            set(our_processes(agent.plugin_binary, helpers=())))
                if not idle_warm(p)}
    deadline = time.time() + 10
    while time.time() < deadline and monitors_left():
        time.sleep(0.2)
    left = monitors_left()
    check(not left, "survival: no monitor left once every task ended (%s)" % sorted(left))
    agent.cli("job", "stop", "-purge", job)


# -- events and hygiene -----------------------------------------------------
def test_start_event_and_hygiene(agent):
    path = write_job(agent, "hygiene.nomad.hcl",
                     one_shot_job("hygiene", HYGIENE_TASK.format(code=hcl_string(HYGIENE_CODE))))
    job = agent.run_job(path)
    alloc = agent.wait_alloc(job, ("complete", "failed"))
    check(alloc["ClientStatus"] == "complete", "hygiene: the job completes")
    out = agent.logs(alloc["ID"], "look")
    check("fds [0, 1, 2, 3]\n" in out,
          "hygiene: the task sees only fds 0, 1, 2 (and the one listing them) (%r)" %
          out.split("\n")[0])
    for k in ("LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "GLIBC_TUNABLES"):
        check("env %s None\n" % k in out, "hygiene: %s from the env block does not reach the "
              "task" % k)
    check("env KEEP_ME kept\n" in out, "hygiene: other env block variables do")
    version = agent.node()["Attributes"].get("driver.elide.python.version", "?")
    # The python backend's warm pool (2 copies by default) is long ready.
    want = "runtime python3 %s (/usr/bin/python3), warm start" % version
    status = agent.alloc_status(alloc["ID"])
    check("Started python task: backend python " in status and want in status,
          "hygiene: alloc status shows the start event with '%s'" % want)
    if want not in status:
        print(status)


def main():
    if not usage_ok(1, "test_e2e_lifecycle.py <nomad-driver-elide binary>"):
        return 2
    agent = new_agent(nomad_binary(), sys.argv[1])
    run_tests(agent, [("test_start_event_and_hygiene raised", test_start_event_and_hygiene, agent),
                      ("test_survival raised", test_survival, agent)])
    check_nothing_left(sys.argv[1])
    return finish()


if __name__ == "__main__":
    sys.exit(main())
