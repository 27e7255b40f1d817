"""What the end-to-end suites (test_e2e_*.py) share: the pass/fail counters
behind check() and the closing "N passed, N failed" line, running the tests
on an agent (an exception is a failed check, the agent log's tail is printed
when anything failed), job texts whose failures are seen once, the checks on
a job the driver refuses, /proc readings of a process, and that no process of
the driver outlives its agent. Standard library only (runs under Debian's
/usr/bin/python3). What is about one agent lives in nomad_agent.py."""

import json
import os
import sys
import time
import traceback

from nomad_agent import NomadAgent, build_nomad

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "..", "examples", "jobs")
JOBS = os.path.join(HERE, "jobs")

passed = failed = 0


# -- counting --------------------------------------------------------------
def check(cond, what):
    """Prints "ok   <what>" or "FAIL <what>" and counts it; returns cond."""
    global passed, failed
    if cond:
        passed += 1
        print("ok   " + what)
    else:
        failed += 1
        print("FAIL " + what)
    return cond


def attempt(what, fn, *args):
    """Runs fn(*args); if it raises, prints the traceback and fails the
    check `what`. Returns what fn returned, or None."""
    try:
        return fn(*args)
    except Exception:
        traceback.print_exc()
        check(False, what)
        return None


def finish():
    """Prints the closing "N passed, N failed" line; the exit status."""
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


def usage_ok(count, usage):
    """False (after printing the usage line) unless sys.argv has `count`
    arguments after the script's name."""
    if len(sys.argv) != count + 1:
        print("usage: " + usage)
        return False
    return True


# -- the agent -------------------------------------------------------------
def nomad_binary():
    """The pinned Nomad binary (built on first use), printed as "nomad: ..."."""
    nomad = build_nomad()
    print("nomad: " + nomad)
    return nomad


def new_agent(nomad, plugin_binary, plugin_config=None, consul=None):
    """An agent (not started) that keeps its directory if ELIDE_E2E_KEEP=1;
    with `consul` (a Consul binary, see nomad_agent.build_consul) it gets a
    private Consul dev agent."""
    return NomadAgent(nomad, plugin_binary, plugin_config=plugin_config,
                      keep=os.environ.get("ELIDE_E2E_KEEP") == "1", consul=consul)


def run_tests(agent, tests, started="agent started", print_log_path=True):
    """Starts the agent, runs `tests`, each (what, fn, *args), with attempt()
    in order, and stops the agent. The agent not starting is the failed
    check `started`; if any check has failed by then, the last lines of the
    agent's log are printed before it stops. Returns the tests' results (None
    for one that raised), or None when the agent did not start."""
    results = None
    try:
        agent.start()
        results = [attempt(*t) for t in tests]
    except Exception:
        traceback.print_exc()
        check(False, started)
        if print_log_path:
            print("agent log: " + agent.log_path)
    finally:
        if failed:
            tail = agent.log_tail(60)
            if tail is not None:
                print("---- last agent log lines ----\n" + tail)
        agent.stop()
    return results


# -- job texts -------------------------------------------------------------
def hcl_string(s):
    """An HCL quoted string (JSON escaping is valid HCL, but ${ and %{ must
    be escaped as $${ and %%{)."""
    return json.dumps(s).replace("${", "$${").replace("%{", "%%{")


ONE_SHOT_JOB = """
job "%(job)s" {
  type = "%(type)s"
  group "%(group)s" {
%(count)s    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }
%(tasks)s
  }
}
"""


def one_shot_job(job, tasks, group="g", job_type="batch", count=None):
    """The text of job `job` (of type `job_type`) with one group, `group`
    (`count` instances), holding the task blocks `tasks` (HCL, indented for
    a group). The group neither restarts nor reschedules a failed task, so
    a test sees every failure once, as it happened."""
    return ONE_SHOT_JOB % {"job": job, "type": job_type, "group": group,
                           "count": "    count = %d\n" % count if count is not None else "",
                           "tasks": tasks.strip("\n")}


def write_job(agent, name, text):
    """Writes a job only the tests use into the agent's directory; its path."""
    path = os.path.join(agent.dir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


REFUSED_TASK = """
    task "bad" {
      driver = "elide"
      config {
%s
      }
    }
"""


def refused_job(job, **config):
    """The text of a batch job `job` whose one task, "bad" in group "bad",
    neither restarts nor reschedules and has the string fields `config`
    (in that order): for jobs the driver must refuse (see check_refused)."""
    width = max(len(k) for k in config)
    return one_shot_job(job, REFUSED_TASK % "\n".join(
        "        %s = %s" % (k.ljust(width), json.dumps(v)) for k, v in config.items()),
        group="bad")


# -- checks shared by the suites -------------------------------------------
def check_exit_code(agent, alloc, code, label=""):
    """Checks that `nomad alloc status` shows the task's exit code."""
    check("Exit Code: %d" % code in agent.alloc_status(alloc["ID"]),
          "%salloc status shows Exit Code: %d" % (label, code))


def check_refused(agent, path, label, needle, named=None, status=True, task="bad"):
    """Runs the job file `path`, which the driver must refuse: its alloc
    fails, the task `task` has a Driver Failure event, and the events'
    messages contain `needle` (the check says `named`, by default "task
    events name the field (<the messages>)"); with `status`, so does
    `nomad alloc status`. Every check is labelled "<label>: ...". Returns
    (the failed alloc, the task's events)."""
    job = agent.run_job(path)
    alloc = agent.wait_alloc(job, ("failed",))
    events = agent.events(alloc, task)
    msgs = " | ".join(e.get("DisplayMessage", "") for e in events)
    check(any(e["Type"] == "Driver Failure" for e in events),
          "%s: task events include Driver Failure" % label)
    check(needle in msgs, "%s: %s" % (label, named or "task events name the field (%s)" % msgs))
    if status:
        check(needle in agent.alloc_status(alloc["ID"]),
              "%s: alloc status shows the reason" % label)
    return alloc, events


# -- processes -------------------------------------------------------------
def _stat_fields(pid):
    """/proc/<pid>/stat's fields after the command name (state first); the
    name may hold spaces and parentheses, so they start after the last ")"."""
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()


def ppid_of(pid):
    """pid's parent, or None once it is gone."""
    try:
        return int(_stat_fields(pid)[1])
    except (OSError, IndexError, ValueError):
        return None


def pid_running(pid):
    """True while pid exists and is not a zombie."""
    try:
        return _stat_fields(pid)[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


# -- nothing left behind ---------------------------------------------------
HELPERS = {"monitor": "elide-monitor", "runner": "elide-native-runner"}


def helper_path(plugin_binary, name):
    """The real path of a program installed with the plugin in
    <prefix>/lib/nomad-driver-elide/ (e.g. elide-monitor)."""
    return os.path.realpath(os.path.join(os.path.dirname(os.path.realpath(plugin_binary)), "..",
                                         "lib", "nomad-driver-elide", name))


def our_processes(plugin_binary, helpers=("monitor",)):
    """PIDs whose executable is the plugin or one of its `helpers` (keys of
    HELPERS)."""
    ours = {os.path.realpath(plugin_binary)}
    ours |= {helper_path(plugin_binary, HELPERS[h]) for h in helpers}
    pids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.path.realpath(os.readlink("/proc/%s/exe" % pid)) in ours:
                    pids.append(int(pid))
            except OSError:
                pass
    return pids


def check_nothing_left(plugin_binary, helpers=("monitor",), after="the agent"):
    """Waits up to 10 s for our_processes() to be gone, then checks it is."""
    deadline = time.time() + 10
    while time.time() < deadline and our_processes(plugin_binary, helpers):
        time.sleep(0.2)
    left = our_processes(plugin_binary, helpers)
    kinds = ["plugin"] + list(helpers)
    listed = " or ".join([", ".join(kinds[:-1]), kinds[-1]])
    check(not left, "no %s process left after %s stopped %s" % (listed, after, left))
