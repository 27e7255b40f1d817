"""Real-agent benchmarks (issue 6): on ONE Nomad dev agent with both the elide
driver and Nomad's raw_exec, side by side and interleaved run by run,

  a) job submission -> allocation complete for the same python snippet
     (print a line, exit 0) through elide and through raw_exec, p50/p95 over
     N runs; next to it the client's own span from the alloc's "Received"
     event to the task's "Terminated" event, which leaves out the server's
     scheduling and the client's batched status updates (Nomad's client
     sends a non-urgent alloc update on every 5th tick of 200 ms, so
     submit -> complete lands near the same value for any driver);
  b) the per-task helper's memory with M long-running python tasks per
     driver: elide-monitor (the task's parent in local mode) against
     raw_exec's `nomad executor` (the task's parent), RSS, PSS,
     Private_Dirty and USS from /proc/PID/smaps_rollup, and their ratio.

Prints a table and writes JSON. Standard library only (runs under Debian's
/usr/bin/python3); must run as root like the e2e tests (it reads other
processes' smaps). Not a ctest: run it by hand, see tests/bench/README.md.

Usage: bench_agent.py [--build DIR] [--runs N] [--tasks M] [--out FILE.json]
                      [--submit cli|api] (--help for the rest)"""

import argparse
import datetime
import glob
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.realpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
from e2e_util import hcl_string, helper_path, one_shot_job, ppid_of  # noqa: E402
from nomad_agent import NomadAgent, build_nomad  # noqa: E402

DRIVERS = ("elide", "raw_exec")
PYTHON = "/usr/bin/python3"
HELLO_CODE = "print('hello from the bench')"
HELLO_OUT = "hello from the bench\n"
# The long-running task of the memory phase; its marker argument lets us find
# each task's python process (and from it the helper) in /proc.
# A warm elide task (python's warm pool) shows its zygote's argv in /proc
# without CAP_SYS_RESOURCE, so the sleepers are found by the pid each one
# prints with its marker into its stdout log (see task_pids).
SLEEP_CODE = ("import os, sys, time; print('up', sys.argv[1], os.getpid(), flush=True); "
              "time.sleep(86400)")
# Every sleeper pid seen, for the left-behind check after the agent stops.
SEEN_TASKS = set()
MARKERS = {d: "elide-bench-mem-%s-%d" % (d, os.getpid()) for d in DRIVERS}

TASK = {
    "elide": """
    task "t" {
      driver = "elide"
      config {
        language = "python"
        code     = %(code)s
        args     = %(args)s
      }
%(resources)s    }
""",
    "raw_exec": """
    task "t" {
      driver = "raw_exec"
      config {
        command = "%(python)s"
        args    = %(args_c)s
      }
%(resources)s    }
""",
}
# Small reservations so that 2 x M sleeping tasks fit on a 2-core dev node.
SMALL_RESOURCES = """      resources {
        cpu    = 20
        memory = 64
      }
"""

# Issue 6's per-task helper targets.
HELPER_RSS_TARGET_KB = 1536
HELPER_PRIVATE_TARGET_KB = 256
HELPER_RATIO_TARGET = 10.0


# -- the job texts -----------------------------------------------------------
def task_block(driver, code, args=(), resources=""):
    return TASK[driver] % {
        "code": hcl_string(code), "args": json.dumps(list(args)), "python": PYTHON,
        "args_c": json.dumps(["-c", code] + list(args)).replace("${", "$${"),
        "resources": resources}


def hello_job(job, driver):
    return one_shot_job(job, task_block(driver, HELLO_CODE))


def sleeper_job(job, driver, count, marker):
    return one_shot_job(job, task_block(driver, SLEEP_CODE, [marker], SMALL_RESOURCES),
                        job_type="service", count=count)


# -- HTTP API (errors raise: a benchmark must not average failures away) ------
def http(agent, path, method="GET", body=None, timeout=60, raw=False):
    """(decoded JSON or text with raw, response headers) of one API call."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(agent.addr + path, data=data, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        payload = r.read()
        return (payload.decode(errors="replace") if raw else json.loads(payload or b"null"),
                r.headers)


def parse_job(agent, text):
    job, _ = http(agent, "/v1/jobs/parse", "POST", {"JobHCL": text, "Canonicalize": True})
    return job


def submit(agent, how, job_id, job):
    """Registers `job`, an HCL text, by `nomad job run -detach` (how ==
    "cli": the Go CLI's start is included), or, a job parsed beforehand by
    /v1/jobs/parse outside the timing, by POST /v1/jobs (how == "api")."""
    if how == "cli":
        path = os.path.join(agent.dir, job_id + ".nomad.hcl")
        with open(path, "w") as f:
            f.write(job)
        agent.cli("job", "run", "-detach", path)
    else:
        http(agent, "/v1/jobs", "POST", {"Job": job})


def wait_allocs(agent, job_id, want, count=1, timeout=120):
    """Blocking queries on the job's allocations until `count` of them have a
    ClientStatus in `want` (a tuple); returns (perf_counter() when seen,
    time.time_ns() then, the allocs). Raises when one ends in another final state or on timeout."""
    index = 0
    deadline = time.time() + timeout
    while time.time() < deadline:
        allocs, hdr = http(agent, "/v1/job/%s/allocations?index=%d&wait=5s" % (job_id, index))
        seen, seen_wall = time.perf_counter(), time.time_ns()
        index = int(hdr.get("X-Nomad-Index", "0"))
        done = [a for a in allocs if a["ClientStatus"] in want]
        bad = [a for a in allocs if a["ClientStatus"] in ("failed", "lost")
               and a["ClientStatus"] not in want]
        if bad:
            raise RuntimeError("job %s: alloc %s is %s" % (job_id, bad[0]["ID"],
                                                          bad[0]["ClientStatus"]))
        if len(done) >= count:
            return seen, seen_wall, done
    raise RuntimeError("job %s: fewer than %d allocs reached %s in %ds" %
                       (job_id, count, want, timeout))


def purge(agent, job_id):
    http(agent, "/v1/job/%s?purge=true" % job_id, "DELETE")


def stop_and_purge(agent, job_id, timeout=60):
    """Stops the job, waits until every alloc of it is complete or failed on
    the client (its tasks and helpers have exited), then purges it. The
    agent must not stop before: a dev client leaves running tasks behind
    when it shuts down."""
    http(agent, "/v1/job/%s" % job_id, "DELETE")
    deadline = time.time() + timeout
    while time.time() < deadline:
        allocs, _ = http(agent, "/v1/job/%s/allocations" % job_id)
        if all(a["ClientStatus"] in ("complete", "failed", "lost") for a in allocs):
            purge(agent, job_id)
            return
        time.sleep(0.2)
    raise RuntimeError("job %s: allocs still running %ds after its stop" % (job_id, timeout))


def task_log(agent, alloc_id, task="t", stream="stdout"):
    q = urllib.parse.urlencode({"task": task, "type": stream, "origin": "start",
                                "offset": 0, "plain": "true"})
    text, _ = http(agent, "/v1/client/fs/logs/%s?%s" % (alloc_id, q), raw=True)
    return text


# -- statistics --------------------------------------------------------------
def percentile(values, p):
    """Linear interpolation between closest ranks (numpy's default)."""
    xs = sorted(values)
    if not xs:
        return None
    k = (len(xs) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summary(values):
    return {"n": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95),
            "min": min(values) if values else None, "max": max(values) if values else None,
            "samples": [round(v, 3) for v in values]}


# -- a) submission -> complete -------------------------------------------------
# The figures of one run (ms), in the order of the table. All but the first
# are differences of wall-clock times taken on this one machine: ours around
# the submission and the completion, the server's alloc CreateTime, and the
# client's task event times.
PHASES = (("submit_to_complete_ms", "submit -> alloc complete seen"),
          ("submit_to_alloc_created_ms", "  submit -> alloc created (server)"),
          ("created_to_received_ms", "  alloc created -> client Received"),
          ("received_to_started_ms", "  Received -> task Started"),
          ("started_to_terminated_ms", "  Started -> task Terminated"),
          ("terminated_to_complete_ms", "  Terminated -> complete seen"),
          ("received_to_terminated_ms", "client Received -> Terminated"))


def phases_ms(alloc, submitted_ns, seen_ns, task="t"):
    """The wall-clock phases of PHASES (all but the first) of one alloc."""
    events = (alloc.get("TaskStates") or {}).get(task, {}).get("Events") or []
    first = {}
    for e in events:
        first.setdefault(e["Type"], e["Time"])
    if not all(k in first for k in ("Received", "Started", "Terminated")):
        raise RuntimeError("alloc %s: events lack Received/Started/Terminated: %s" %
                           (alloc["ID"], [e["Type"] for e in events]))
    ms = lambda a, b: (b - a) / 1e6  # noqa: E731
    return {"submit_to_alloc_created_ms": ms(submitted_ns, alloc["CreateTime"]),
            "created_to_received_ms": ms(alloc["CreateTime"], first["Received"]),
            "received_to_started_ms": ms(first["Received"], first["Started"]),
            "started_to_terminated_ms": ms(first["Started"], first["Terminated"]),
            "terminated_to_complete_ms": ms(first["Terminated"], seen_ns),
            "received_to_terminated_ms": ms(first["Received"], first["Terminated"])}


def one_run(agent, driver, how, seq):
    """One hello job through `driver`: its PHASES (ms), submit -> complete
    timed with perf_counter. The job is checked (complete, exact stdout) and
    purged after the timing."""
    job_id = "bench-%s-%03d" % (driver.replace("_", "-"), seq)
    text = hello_job(job_id, driver)
    payload = text if how == "cli" else parse_job(agent, text)
    t0, w0 = time.perf_counter(), time.time_ns()
    submit(agent, how, job_id, payload)
    t1, seen_ns, allocs = wait_allocs(agent, job_id, ("complete",))
    alloc, _ = http(agent, "/v1/allocation/" + allocs[0]["ID"])
    out = task_log(agent, alloc["ID"])
    if out != HELLO_OUT:
        raise RuntimeError("job %s: stdout %r, expected %r" % (job_id, out, HELLO_OUT))
    figures = phases_ms(alloc, w0, seen_ns)
    figures["submit_to_complete_ms"] = (t1 - t0) * 1000.0
    purge(agent, job_id)
    return figures


def bench_latency(agent, runs, warmup, how, pause):
    """Interleaves the drivers run by run, alternating which goes first."""
    res = {d: {k: [] for k, _ in PHASES} for d in DRIVERS}
    for i in range(warmup + runs):
        order = DRIVERS if i % 2 == 0 else tuple(reversed(DRIVERS))
        for d in order:
            f = one_run(agent, d, how, i)
            if i >= warmup:
                for k, _ in PHASES:
                    res[d][k].append(f[k])
            print("  run %2d%s %-8s submit->complete %7.1f ms  client Received->Terminated "
                  "%6.1f ms" % (i, " (warm-up)" if i < warmup else "", d,
                                f["submit_to_complete_ms"], f["received_to_terminated_ms"]),
                  flush=True)
            time.sleep(pause)
    return {d: {k: summary(v) for k, v in m.items()} for d, m in res.items()}


# -- b) memory -------------------------------------------------------------------
def smaps_rollup_kb(pid):
    """Rss, Pss, Private_Clean, Private_Dirty (kB) of pid, plus Uss (the two
    Private_ summed)."""
    vals = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                vals[parts[0].rstrip(":")] = int(parts[1])
    out = {k: vals[k] for k in ("Rss", "Pss", "Private_Clean", "Private_Dirty")}
    out["Uss"] = out["Private_Clean"] + out["Private_Dirty"]
    return out


def exe_of(pid):
    try:
        return os.path.realpath(os.readlink("/proc/%d/exe" % pid))
    except OSError:
        return None


def argv_of(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0")[:-1]]
    except OSError:
        return []


def task_pids(agent, marker):
    """PIDs of the live python sleepers whose stdout log (in the agent's
    alloc dirs) says "up <marker> <pid>"."""
    python = os.path.realpath(PYTHON)
    pids = set()
    for log in glob.glob(os.path.join(agent.dir, "data", "alloc", "*", "alloc", "logs",
                                      "*.stdout.[0-9]*")):
        try:
            with open(log) as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            words = line.split()
            if len(words) == 3 and words[:2] == ["up", marker] and words[2].isdigit():
                pids.add(int(words[2]))
    SEEN_TASKS.update(pids)
    return sorted(p for p in pids if pid_alive(p) and exe_of(p) == python)


def helper_of(pid, is_helper, depth=4):
    """The nearest ancestor (within `depth` generations) for which
    is_helper(pid) holds, or None."""
    for _ in range(depth):
        pid = ppid_of(pid)
        if not pid or pid <= 1:
            return None
        if is_helper(pid):
            return pid
    return None


def plugin_pids(agent):
    """The agent's own plugin processes (its children running the plugin
    binary; not those of any other agent on this machine)."""
    real = os.path.realpath(agent.plugin_binary)
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and exe_of(int(p)) == real
            and ppid_of(int(p)) == agent.proc.pid]


def plugin_kb(agent):
    return [dict(smaps_rollup_kb(p), pid=p) for p in plugin_pids(agent)]


def left_behind(agent, timeout=15):
    """PIDs still alive `timeout` s after the agent stopped that belong to
    it: a sleeper (one task_pids saw, or its marker in argv) or a process
    naming the agent's directory in its argv (its plugin, `nomad
    executor`s)."""
    def ours():
        pids = []
        for p in os.listdir("/proc"):
            if p.isdigit():
                argv = argv_of(int(p))
                if (int(p) in SEEN_TASKS or any(m in argv for m in MARKERS.values())
                        or any(agent.dir in a for a in argv)):
                    pids.append(int(p))
        return [p for p in pids if p != os.getpid() and pid_alive(p)]
    deadline = time.time() + timeout
    while time.time() < deadline and ours():
        time.sleep(0.5)
    return ours()


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def med(readings, key):
    return statistics.median(r[key] for r in readings)


def bench_memory(agent, tasks, nomad, plugin_binary, settle):
    """Runs `tasks` sleepers per driver at once, reads each task's helper
    (its nearest ancestor that is elide-monitor, or `nomad executor`; one
    distinct helper per task or the run fails), then stops the jobs and
    waits for the sleepers to be gone."""
    monitor = helper_path(plugin_binary, "elide-monitor")
    nomad_real = os.path.realpath(nomad)
    is_helper = {
        "elide": lambda p: exe_of(p) == monitor,
        "raw_exec": lambda p: exe_of(p) == nomad_real and argv_of(p)[1:2] == ["executor"],
    }
    plugin_idle = plugin_kb(agent)
    marker = MARKERS  # the sleepers' argv markers, per driver
    jobs = {d: "bench-mem-%s" % d.replace("_", "-") for d in DRIVERS}
    result = {}
    try:
        for d in DRIVERS:
            path = os.path.join(agent.dir, jobs[d] + ".nomad.hcl")
            with open(path, "w") as f:
                f.write(sleeper_job(jobs[d], d, tasks, marker[d]))
            agent.cli("job", "run", "-detach", path)
        for d in DRIVERS:
            wait_allocs(agent, jobs[d], ("running",), count=tasks, timeout=180)
        deadline = time.time() + 60
        while (time.time() < deadline and
               any(len(task_pids(agent, marker[d])) < tasks for d in DRIVERS)):
            time.sleep(0.5)
        time.sleep(settle)  # let the helpers and pythons reach their steady state
        for d in DRIVERS:
            pids = task_pids(agent, marker[d])
            if len(pids) != tasks:
                raise RuntimeError("%s: %d task processes found, expected %d" %
                                   (d, len(pids), tasks))
            helpers = [helper_of(p, is_helper[d]) for p in pids]
            if None in helpers or len(set(helpers)) != tasks:
                raise RuntimeError("%s: task -> helper %s (one distinct helper per task expected)"
                                   % (d, dict(zip(pids, helpers))))
            h = [smaps_rollup_kb(p) for p in helpers]
            t = [smaps_rollup_kb(p) for p in pids]
            result[d] = {
                "helper": "elide-monitor" if d == "elide" else "nomad executor",
                "helper_pids": helpers, "task_pids": pids,
                "helper_kb": {k: med(h, k) for k in h[0]},
                "helper_kb_max": {k: max(r[k] for r in h) for k in h[0]},
                "helper_readings_kb": h,
                "task_kb": {k: med(t, k) for k in t[0]},
            }
        plugin_busy = plugin_kb(agent)
    finally:
        for d in DRIVERS:
            try:
                stop_and_purge(agent, jobs[d])
            except Exception as e:  # the agent stops anyway; say so
                print("stopping %s failed: %s" % (jobs[d], e))
        gone = time.time() + 15
        while time.time() < gone and any(task_pids(agent, marker[d]) for d in DRIVERS):
            time.sleep(0.2)
    e, r = result["elide"]["helper_kb"], result["raw_exec"]["helper_kb"]
    result["ratio_raw_exec_over_elide"] = {
        k: (r[k] / e[k] if e[k] else None) for k in ("Rss", "Pss", "Private_Dirty", "Uss")}
    result["plugin_kb"] = {"idle": plugin_idle, "with_tasks": plugin_busy}
    result["tasks_per_driver"] = tasks
    return result


# -- report --------------------------------------------------------------------
def machine():
    def first(path, prefix):
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(prefix):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return None
    try:
        with open("/etc/debian_version") as f:
            debian = f.read().strip()
    except OSError:
        debian = None
    return {"hostname": socket.gethostname(), "kernel": platform.release(),
            "debian": debian, "cpu": first("/proc/cpuinfo", "model name"),
            "cpus": os.cpu_count(), "mem_total": first("/proc/meminfo", "MemTotal"),
            "cgroup_v2_unified": os.path.exists("/sys/fs/cgroup/cgroup.controllers")}


def fmt(v, unit=""):
    return "-" if v is None else ("%.1f%s" % (v, unit))


def print_report(res):
    m = res["machine"]
    print("\n== nomad-driver-elide vs raw_exec on one %s dev agent ==" % res["nomad_version"])
    print("%s; %s, %s CPUs, %s; kernel %s, Debian %s" %
          (res["date"], m["cpu"], m["cpus"], m["mem_total"], m["kernel"], m["debian"]))
    lat = res.get("latency")
    if lat:
        print("\n(a) %s -> alloc complete, python hello (%d runs per driver, interleaved)" %
              ("`nomad job run -detach`" if res["submit"] == "cli" else "POST /v1/jobs",
               res["runs"]))
        print("%-36s %10s %10s %10s %10s" % ("ms", "elide p50", "elide p95", "raw p50", "raw p95"))
        for key, label in PHASES:
            e, r = lat["elide"][key], lat["raw_exec"][key]
            print("%-36s %10s %10s %10s %10s" % (label, fmt(e["p50"]), fmt(e["p95"]),
                                                fmt(r["p50"]), fmt(r["p95"])))
    mem = res.get("memory")
    if mem:
        e, r = mem["elide"]["helper_kb"], mem["raw_exec"]["helper_kb"]
        ratio = mem["ratio_raw_exec_over_elide"]
        print("\n(b) per-task helper, median of %d sleeping python tasks per driver (kB)" %
              mem["tasks_per_driver"])
        print("%-16s %16s %16s %10s" % ("", "elide-monitor", "nomad executor", "ratio"))
        for k in ("Rss", "Pss", "Private_Dirty", "Uss"):
            print("%-16s %16d %16d %9.1fx" % (k, e[k], r[k], ratio[k] or 0))
        te, tr = mem["elide"]["task_kb"], mem["raw_exec"]["task_kb"]
        print("%-16s %16d %16d   (the python task itself, Rss: should match)" %
              ("task Rss", te["Rss"], tr["Rss"]))
        busy = mem["plugin_kb"]["with_tasks"]
        idle = mem["plugin_kb"]["idle"]
        for when, readings in (("idle", idle), ("with %d tasks" % mem["tasks_per_driver"], busy)):
            for r in readings:
                print("plugin nomad-driver-elide (pid %d) %s: Rss %d kB, Private_Dirty %d kB" %
                      (r["pid"], when, r["Rss"], r["Private_Dirty"]))
        print("\ntargets (issue 6):")
        for t in res["targets"]:
            print("  %-4s %s" % ("met" if t["met"] else "MISS", t["text"]))


def targets(mem):
    e = mem["elide"]["helper_kb"]
    ratio = mem["ratio_raw_exec_over_elide"]
    return [
        {"text": "helper Rss %d kB <= %d kB" % (e["Rss"], HELPER_RSS_TARGET_KB),
         "met": e["Rss"] <= HELPER_RSS_TARGET_KB},
        {"text": "helper Private_Dirty %d kB <= %d kB (Uss %d kB)" %
         (e["Private_Dirty"], HELPER_PRIVATE_TARGET_KB, e["Uss"]),
         "met": e["Private_Dirty"] <= HELPER_PRIVATE_TARGET_KB},
        {"text": "raw_exec executor / elide-monitor Rss %.1fx >= %.0fx" %
         (ratio["Rss"], HELPER_RATIO_TARGET), "met": ratio["Rss"] >= HELPER_RATIO_TARGET},
        {"text": "raw_exec executor / elide-monitor Private_Dirty %.1fx >= %.0fx" %
         (ratio["Private_Dirty"], HELPER_RATIO_TARGET),
         "met": ratio["Private_Dirty"] >= HELPER_RATIO_TARGET},
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\nUsage")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(REPO, "build"),
                    help="a built build tree (default: the repository's build/)")
    ap.add_argument("--runs", type=int, default=15, help="timed runs per driver (15)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs per driver first (1)")
    ap.add_argument("--tasks", type=int, default=10, help="sleeping tasks per driver (10)")
    ap.add_argument("--submit", choices=("cli", "api"), default="cli",
                    help="how jobs are submitted: nomad job run -detach (cli) or POST /v1/jobs")
    ap.add_argument("--pause", type=float, default=0.3, help="seconds between runs (0.3)")
    ap.add_argument("--settle", type=float, default=3.0,
                    help="seconds between the sleepers running and the memory reading (3)")
    ap.add_argument("--skip", choices=("latency", "memory"), action="append", default=[],
                    help="leave a phase out (repeatable)")
    ap.add_argument("--out", "--json", dest="json", help="where the results go "
                    "(default: tests/bench/results/agent-<UTC date>.json)")
    args = ap.parse_args()
    args.plugin = os.path.join(args.build, "bin", "nomad-driver-elide")
    if not os.access(args.plugin, os.X_OK):
        print("bench_agent.py: %s is missing: run cmake --build %s first" %
              (args.plugin, args.build))
        return 2
    now = datetime.datetime.now(datetime.timezone.utc)
    json_path = args.json or os.path.join(HERE, "results",
                                          "agent-%s.json" % now.strftime("%Y-%m-%d"))

    nomad = build_nomad()
    version = subprocess.run([nomad, "version"], stdout=subprocess.PIPE, text=True,
                             check=True).stdout.splitlines()[0]
    agent = NomadAgent(nomad, args.plugin, raw_exec=True,
                       keep=os.environ.get("ELIDE_E2E_KEEP") == "1")
    res = {"date": now.strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
           "nomad_version": version, "plugin": os.path.realpath(args.plugin),
           "submit": args.submit, "runs": args.runs, "warmup": args.warmup}
    try:
        agent.start()
        raw = (agent.node() or {}).get("Drivers", {}).get("raw_exec") or {}
        if not raw.get("Healthy"):
            raise RuntimeError("raw_exec is not healthy on the agent: %s" % raw)
        print("agent at %s (log %s); elide and raw_exec healthy" % (agent.addr, agent.log_path))
        if "latency" not in args.skip:
            res["latency"] = bench_latency(agent, args.runs, args.warmup, args.submit, args.pause)
        if "memory" not in args.skip:
            res["memory"] = bench_memory(agent, args.tasks, nomad, args.plugin, args.settle)
            res["targets"] = targets(res["memory"])
    except Exception:
        tail = agent.log_tail(40)
        if tail:
            print("---- last agent log lines ----\n" + tail)
        raise
    finally:
        agent.stop()
    res["left_behind"] = [{"pid": p, "argv": " ".join(argv_of(p))[:200]}
                          for p in left_behind(agent)]
    print_report(res)
    for p in res["left_behind"]:
        print("LEFT BEHIND after the agent stopped: %(pid)d %(argv)s" % p)
    os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
    with open(json_path, "w") as f:
        json.dump(res, f, indent=2)
        f.write("\n")
    print("\nresults: " + json_path)
    return 1 if res["left_behind"] else 0


if __name__ == "__main__":
    sys.exit(main())
