"""End-to-end tests of daemon mode: python tasks run by elide-execd on behalf
of nomad-driver-elide on a real Nomad dev agent built from the pinned Nomad
Go module. Covers a plain job, `nomad alloc exec` into python tasks in the
daemon (without and with a TTY, their env, directory, user and cgroups, the
python REPL: test_e2e_exec.py's checks, run by the daemon here), a kill -9
of the plugin mid-stream, a restart of the daemon mid-stream (SIGTERM and
SIGKILL) with exec working afterwards, the fingerprint while the daemon is
down, and that nothing is left behind. Log bytes are compared exactly (no
duplicated, no missing bytes).

Usage: test_e2e_daemon.py <nomad-driver-elide binary> <elide-execd binary>
Fails (never skips) when Nomad cannot be built or the agent cannot start.
Prints one line per check and a closing "N passed, N failed"."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402
import test_e2e_exec as exec_e2e  # noqa: E402
from e2e_util import (attempt, check, check_exit_code, check_nothing_left,  # noqa: E402
                      finish, new_agent, nomad_binary, our_processes, usage_ok, write_job)

e2e_util.HELPERS.setdefault("relay", "elide-relay")

LINES = 600
EXPECTED_LINES = "".join("line %04d\n" % i for i in range(LINES))

# python in daemon mode comes from a deployment file (config_file), the way
# operators deploy it; the plugin block's module_options =
# ["python.mode=daemon"] would do the same (test_e2e_python.py covers
# module_options in a real agent).
DRIVER_INI = """; written by test_e2e_daemon.py
[module.python]
mode = daemon
runtime = /usr/bin/python3
"""

EXECD_INI = """; written by test_e2e_daemon.py
[daemon]
listen = unix:{sock}
socket_mode = 0600
work_root = {work}
retain_finished = 300
log_level = debug

[module.python]
mode = local
runtime = /usr/bin/python3
"""

JOB = """
job "{job}" {{
  type = "batch"
  group "g" {{
    restart {{
      attempts = 0
      mode     = "fail"
    }}
    reschedule {{
      attempts  = 0
      unlimited = false
    }}
    task "{task}" {{
      driver = "elide"
      config {{
        language = "python"
        code     = {code}
      }}
    }}
  }}
}}
"""

HELLO_CODE = r"""
import sys
print("hello from the daemon")
print("second line")
sys.stdout.flush()
sys.stderr.write("to stderr\n")
sys.exit(3)
"""

NUMBERED_CODE = r"""
import sys, time
for i in range(%d):
    sys.stdout.write("line %%04d\n" %% i)
    sys.stdout.flush()
    time.sleep(0.01)
sys.stderr.write("done\n")
sys.exit(7)
""" % LINES


def hcl_string(s):
    """An HCL quoted string (JSON escaping is valid HCL, but ${ and %{ must
    be escaped as $${ and %%{)."""
    return json.dumps(s).replace("${", "$${").replace("%{", "%%{")


class Execd:
    """elide-execd on a unix socket in a private directory."""

    def __init__(self, binary):
        self.binary = os.path.realpath(binary)
        self.dir = tempfile.mkdtemp(prefix="elide-e2e-execd-")
        self.sock = os.path.join(self.dir, "execd.sock")
        self.work = os.path.join(self.dir, "work")
        self.ini = os.path.join(self.dir, "execd.ini")
        self.log_path = os.path.join(self.dir, "execd.log")
        self.proc = None
        fd = os.open(self.ini, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(EXECD_INI.format(sock=self.sock, work=self.work))
        os.chmod(self.ini, 0o600)
        self.driver_ini = os.path.join(self.dir, "driver.ini")
        fd = os.open(self.driver_ini, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(DRIVER_INI)

    def start(self, timeout=20):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([self.binary, "-config", self.ini], stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("elide-execd exited with %s; log:\n%s" %
                                   (self.proc.returncode, self.log_tail()))
            if self.serving():
                return self
            time.sleep(0.05)
        raise RuntimeError("elide-execd not serving within %ds; log:\n%s" %
                           (timeout, self.log_tail()))

    def serving(self):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(1)
                s.connect(self.sock)
                return True
        except OSError:
            return False

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Sends `sig` and waits; returns the exit status (None if it had to
        be SIGKILLed after `timeout`)."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def log_tail(self, lines=40):
        try:
            with open(self.log_path) as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no log)"

    def cleanup(self):
        self.stop()
        if os.environ.get("ELIDE_E2E_KEEP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)


def execd_processes(binary):
    ours = os.path.realpath(binary)
    pids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.path.realpath(os.readlink("/proc/%s/exe" % pid)) == ours:
                    pids.append(int(pid))
            except OSError:
                pass
    return pids


def ppid_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def plugin_pids(agent):
    """The plugin processes that are children of the agent."""
    return [p for p in our_processes(agent.plugin_binary, helpers=())
            if ppid_of(p) == agent.proc.pid]


def job_file(agent, job, task, code):
    return write_job(agent, job + ".nomad.hcl",
                     JOB.format(job=job, task=task, code=hcl_string(code)))


def first_alloc(agent, job, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        allocs = agent.allocs(job)
        if allocs:
            return allocs[0]["ID"]
        time.sleep(0.2)
    raise RuntimeError("job %s has no alloc after %ds" % (job, timeout))


def wait_some_lines(agent, alloc_id, task, count=50, timeout=30):
    """Waits until the stdout log holds at least `count` lines; returns how
    many it held."""
    deadline = time.time() + timeout
    n = 0
    while time.time() < deadline:
        try:
            n = agent.logs(alloc_id, task).count("\n")
        except RuntimeError:
            n = 0
        if n >= count:
            return n
        time.sleep(0.1)
    return n


def compare_lines(out, label):
    ok = out == EXPECTED_LINES
    if not ok:
        got = out.splitlines()
        dups = len(got) - len(set(got))
        missing = sorted(set(EXPECTED_LINES.splitlines()) - set(got))
        print("  %s: %d lines, %d duplicated, %d missing (first missing: %s), "
              "first 80 bytes %r, last 80 bytes %r" %
              (label, len(got), dups, len(missing), missing[:5], out[:80], out[-80:]))
    check(ok, "%s: stdout is exactly line 0000..line %04d (%d bytes)" %
          (label, LINES - 1, len(EXPECTED_LINES)))


def finished_numbered(agent, job, alloc_id, task, label):
    alloc = agent.wait_alloc(job, ("complete", "failed"), timeout=90)
    check(alloc["ID"] == alloc_id, "%s: the same alloc finished (no reschedule)" % label)
    check(len(agent.allocs(job)) == 1, "%s: the job has exactly one alloc" % label)
    check(alloc["ClientStatus"] == "failed", "%s: exit 7 fails the alloc (%s)" %
          (label, alloc["ClientStatus"]))
    compare_lines(agent.logs(alloc_id, task), label)
    err = agent.logs(alloc_id, task, stderr=True)
    check(err == "done\n", "%s: stderr is exactly 'done\\n' (%r)" % (label, err[:200]))
    check_exit_code(agent, alloc, 7, label + ": ")
    starts = [e for e in agent.events(alloc, task) if e["Type"] == "Started"]
    check(len(starts) == 1, "%s: the task started once (%d Started events)" %
          (label, len(starts)))


def check_driver_event(agent, alloc_id, task, label, text):
    """Checks that the task has a driver event containing `text`, and that
    `nomad alloc status` shows it."""
    alloc = agent.api("/v1/allocation/" + alloc_id) or {}
    msgs = [e.get("DisplayMessage", "") for e in agent.events(alloc, task)]
    check(any(text in m for m in msgs), "%s: a task event says '%s...' (%s)" %
          (label, text, " | ".join(msgs)))
    check(text in agent.alloc_status(alloc_id), "%s: nomad alloc status shows it" % label)


def plugin_exec_failures(agent):
    """The plugin's log lines about refused or failed execs (the CLI may
    only say "unexpected EOF": Nomad drops errors that mention EOF)."""
    try:
        with open(agent.log_path) as f:
            return "".join(ln for ln in f if "exec failed" in ln or "exec refused" in ln)
    except OSError:
        return "(no agent log)"


# -- the tests -------------------------------------------------------------
def test_fingerprint(agent):
    drv = agent.elide_node_driver()
    check(drv["Detected"] and drv["Healthy"], "elide driver detected and healthy")
    attrs = agent.node()["Attributes"]
    check(attrs.get("driver.elide.python.mode") == "daemon",
          "driver.elide.python.mode is daemon (%r)" % attrs.get("driver.elide.python.mode"))
    check("python" in attrs.get("driver.elide.backends", "").split(","),
          "driver.elide.backends lists python (%r)" % attrs.get("driver.elide.backends"))
    check("unreachable" not in drv.get("HealthDescription", ""),
          "health description does not say unreachable (%r)" % drv.get("HealthDescription"))


def test_hello(agent, execd):
    path = job_file(agent, "daemon-hello", "hello", HELLO_CODE)
    job = agent.run_job(path)
    alloc = agent.wait_alloc(job, ("complete", "failed"))
    check(alloc["ClientStatus"] == "failed", "hello: exit 3 fails the alloc")
    out = agent.logs(alloc["ID"], "hello")
    err = agent.logs(alloc["ID"], "hello", stderr=True)
    check(out == "hello from the daemon\nsecond line\n", "hello: stdout is exact (%r)" % out)
    check(err == "to stderr\n", "hello: stderr is exact (%r)" % err)
    check_exit_code(agent, alloc, 3, "hello: ")
    task_id_dir = os.listdir(execd.work) if os.path.isdir(execd.work) else []
    check(task_id_dir, "hello: the daemon's work_root holds state (%s)" % task_id_dir)


def test_plugin_kill9(agent):
    label = "plugin kill -9"
    path = job_file(agent, "daemon-plugin-kill", "count", NUMBERED_CODE)
    job = agent.run_job(path)
    alloc_id = first_alloc(agent, job)
    n = wait_some_lines(agent, alloc_id, "count", 50)
    check(50 <= n < LINES, "%s: %d lines logged before the kill" % (label, n))
    pids = plugin_pids(agent)
    check(len(pids) == 1, "%s: one plugin process under the agent (%s)" % (label, pids))
    for p in pids:
        os.kill(p, signal.SIGKILL)
    finished_numbered(agent, job, alloc_id, "count", label)
    after = plugin_pids(agent)
    check(after and not set(after) & set(pids),
          "%s: the agent runs a new plugin process (%s, was %s)" % (label, after, pids))
    check_driver_event(agent, alloc_id, "count", label, "Recovered after plugin restart: "
                       "re-attached to the task in the execution daemon at unix:")


def daemon_restart(agent, execd, sig, name):
    label = "daemon %s + restart" % name
    path = job_file(agent, "daemon-restart-" + name.lower(), "count", NUMBERED_CODE)
    job = agent.run_job(path)
    alloc_id = first_alloc(agent, job)
    n = wait_some_lines(agent, alloc_id, "count", 50)
    check(50 <= n < LINES, "%s: %d lines logged before the daemon stopped" % (label, n))
    rc = execd.stop(sig)
    if sig == signal.SIGTERM:
        check(rc == 0, "%s: elide-execd exits 0 on SIGTERM (%s)" % (label, rc))
    time.sleep(1.0)
    execd.start()
    finished_numbered(agent, job, alloc_id, "count", label)
    check_driver_event(agent, alloc_id, "count", label, "Reconnected to the execution daemon at "
                       "unix:" + execd.sock)


def exec_parent_is(agent, alloc_id, task, pid):
    """The ppid of a command `nomad alloc exec` runs in the task."""
    code, out, err = exec_e2e.alloc_exec(agent, alloc_id, task,
                                         ["/bin/sh", "-c", "cat /proc/$$/stat"])
    got = int(out.rsplit(b") ", 1)[1].split()[1]) if code == 0 and b") " in out else None
    return got == pid, got if got is not None else (code, err)


def test_exec(agent, execd):
    """test_e2e_exec.py's checks on the same job, its python tasks (py,
    nobody) in the daemon, where ExecInExecution runs the commands (the js
    task stays local: only python is in daemon mode here)."""
    def runs_in_daemon(agent, alloc):
        for task in ("py", "nobody"):
            ok, got = exec_parent_is(agent, alloc["ID"], task, execd.proc.pid)
            check(ok, "exec in %s: the command is a child of elide-execd %d (got %s)"
                  % (task, execd.proc.pid, got))

    def after_daemon_restart(agent, alloc):
        rc = execd.stop(signal.SIGKILL)
        check(rc is not None, "exec after a daemon kill -9: the daemon died")
        # Down for a second: the plugin's retries fail meanwhile, and its
        # channel must not still be backing off when the first exec comes.
        time.sleep(1.0)
        execd.start()
        ok, got = exec_parent_is(agent, alloc["ID"], "py", execd.proc.pid)
        check(ok, "exec after a daemon kill -9: run by the new daemon (got %s)" % got)
        exec_e2e.test_context(agent, alloc)
        code, out, err = exec_e2e.alloc_exec(agent, alloc["ID"], "nobody", ["id", "-un"])
        check(code == 0 and out == b"nobody\n",
              "exec after a daemon kill -9: as the task's user (%d %r %r)" % (code, out, err))

    exec_e2e.run_exec_job(agent, "daemon-exec",
                          (runs_in_daemon,) + exec_e2e.EXEC_CHECKS + (after_daemon_restart,))


def test_unreachable(agent, execd):
    label = "daemon stopped"
    rc = execd.stop(signal.SIGTERM)
    check(rc == 0, "%s: elide-execd exits 0 on SIGTERM (%s)" % (label, rc))
    t0 = time.time()
    seen = None
    while time.time() - t0 < 45:
        drv = agent.elide_node_driver() or {}
        attrs = (agent.node() or {}).get("Attributes", {})
        backends = attrs.get("driver.elide.backends", "").split(",")
        desc = drv.get("HealthDescription", "")
        if "unreachable" in desc or "python" not in backends:
            seen = (time.time() - t0, drv.get("Healthy"), desc, backends)
            break
        time.sleep(0.5)
    check(seen is not None, "%s: the fingerprint reports python unreachable within 45 s (%s)" %
          (label, seen))
    if seen:
        check("unreachable" in seen[2],
              "%s: health description says unreachable (%r)" % (label, seen[2]))
        check("python" not in seen[3],
              "%s: python leaves driver.elide.backends (%s)" % (label, seen[3]))
    execd.start()
    t0 = time.time()
    back = None
    while time.time() - t0 < 45:
        drv = agent.elide_node_driver() or {}
        attrs = (agent.node() or {}).get("Attributes", {})
        if (drv.get("Healthy") and "unreachable" not in drv.get("HealthDescription", "")
                and "python" in attrs.get("driver.elide.backends", "").split(",")):
            back = time.time() - t0
            break
        time.sleep(0.5)
    check(back is not None, "%s: healthy again within 45 s of the daemon's restart (%s s)" %
          (label, None if back is None else round(back, 1)))
    # and it runs jobs again
    path = job_file(agent, "daemon-after", "hello", HELLO_CODE)
    job = agent.run_job(path)
    alloc = agent.wait_alloc(job, ("complete", "failed"))
    check(agent.logs(alloc["ID"], "hello") == "hello from the daemon\nsecond line\n",
          "%s: a job runs in the restarted daemon" % label)


def main():
    if not usage_ok(2, "test_e2e_daemon.py <nomad-driver-elide binary> <elide-execd binary>"):
        return 2
    plugin, execd_bin = sys.argv[1], sys.argv[2]
    nomad = nomad_binary()
    execd = Execd(execd_bin)
    agent = None
    try:
        out = subprocess.run([execd.binary, "-config", execd.ini, "-check"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if not check(out.returncode == 0, "elide-execd -check accepts the config"):
            print(out.stdout)
        execd.start()
        check(True, "elide-execd serves on " + execd.sock)
        agent = new_agent(nomad, plugin, plugin_config={
            "python_runtime": "/usr/bin/python3",
            "daemon_endpoint": "unix:" + execd.sock,
            "config_file": execd.driver_ini,
        })
        try:
            agent.start()
            tests = [("test_fingerprint raised", test_fingerprint, agent),
                     ("test_hello raised", test_hello, agent, execd),
                     ("test_exec raised", test_exec, agent, execd),
                     ("test_plugin_kill9 raised", test_plugin_kill9, agent),
                     ("daemon SIGTERM restart raised", daemon_restart, agent, execd,
                      signal.SIGTERM, "SIGTERM"),
                     ("daemon SIGKILL restart raised", daemon_restart, agent, execd,
                      signal.SIGKILL, "SIGKILL"),
                     ("test_unreachable raised", test_unreachable, agent, execd)]
            for t in tests:
                attempt(*t)
        except Exception:
            import traceback
            traceback.print_exc()
            check(False, "agent started")
        finally:
            if e2e_util.failed:
                print("---- last agent log lines ----\n" + (agent.log_tail(80) or ""))
                print("---- last elide-execd log lines ----\n" + execd.log_tail(150))
                print("---- the plugin's exec failures ----\n" + plugin_exec_failures(agent))
            agent.stop()
    except Exception:
        import traceback
        traceback.print_exc()
        check(False, "elide-execd started")
    finally:
        rc = execd.stop(signal.SIGTERM)
        check(rc == 0, "elide-execd exits 0 on SIGTERM at the end (%s)" % rc)
        execd.cleanup()
    check_nothing_left(plugin, helpers=("monitor", "relay"))
    left = execd_processes(execd_bin)
    check(not left, "no elide-execd process left %s" % left)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
