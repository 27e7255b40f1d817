"""End-to-end tests of exec on a real Nomad dev agent: `nomad alloc exec`
into tasks of nomad-driver-elide without a TTY (stdout, stderr, exit code,
stdin piped) and with one (driven under a pty: `tty`, `stty size` before and
after a resize, the exit code), the task's environment, directory, user and
cgroups seen by the exec'd command, and `elide-repl` opening the python and
js REPLs of the tasks' languages.

Usage: test_e2e_exec.py <path of the built nomad-driver-elide>
Fails (never skips) when Nomad cannot be built or the agent cannot start.
Prints one line per check and a closing "N passed, N failed"."""

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_util import (check, check_nothing_left, finish, new_agent, nomad_binary,  # noqa: E402
                      one_shot_job, run_tests, usage_ok, write_job)

# Each python task leaves its pid in its directory, so the test can read
# the task's own /proc entries and compare.
PY_FOREVER = ("import os, time\\nopen('task.pid', 'w').write(str(os.getpid()))\\n"
              "while True: time.sleep(1)\\n")

EXEC_TASKS = """
    task "py" {
      driver = "elide"
      env {
        FOO        = "bar from the job"
        LD_PRELOAD = "/nonexistent/preload.so"
      }
      config {
        language = "python"
        code     = "%(py)s"
      }
    }
    task "nobody" {
      driver = "elide"
      user   = "nobody"
      config {
        language = "python"
        code     = "%(py)s"
      }
    }
    task "js" {
      driver = "elide"
      config {
        language = "js"
        code     = "setInterval(() => {}, 1000)"
      }
    }
""" % {"py": PY_FOREVER}


def alloc_exec(agent, alloc_id, task, command, stdin=b"", tty=False, timeout=60):
    """`nomad alloc exec` with pipes (no TTY); (exit code, stdout, stderr)."""
    env = dict(os.environ, NOMAD_ADDR=agent.addr)
    args = [agent.nomad, "alloc", "exec", "-i", "-t=%s" % ("true" if tty else "false"),
            "-task", task, alloc_id] + command
    r = subprocess.run(args, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=env, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


class PtyExec:
    """`nomad alloc exec -i -t` run on a pty of its own, as from a terminal:
    the CLI is the session leader of the pty (SIGWINCH reaches it on a
    resize), the test types into the master and reads the screen from it."""

    def __init__(self, agent, alloc_id, task, command, rows=24, cols=80):
        self.master, slave = os.openpty()
        self.resize(rows, cols, fd=slave)
        env = dict(os.environ, NOMAD_ADDR=agent.addr, TERM="xterm")
        args = [agent.nomad, "alloc", "exec", "-i", "-t", "-task", task, alloc_id] + command
        self.pid = os.fork()
        if self.pid == 0:  # the child: only exec-safe calls
            try:
                os.close(self.master)
                os.setsid()
                fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
                for fd in (0, 1, 2):
                    os.dup2(slave, fd)
                if slave > 2:
                    os.close(slave)
                os.execve(args[0], args, env)
            finally:
                os._exit(127)
        os.close(slave)
        self.screen = b""
        self.status = None

    def resize(self, rows, cols, fd=None):
        fcntl.ioctl(self.master if fd is None else fd, termios.TIOCSWINSZ,
                    struct.pack("HHHH", rows, cols, 0, 0))

    def send(self, data):
        os.write(self.master, data)

    def _read(self, timeout):
        r, _, _ = select.select([self.master], [], [], timeout)
        if not r:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the CLI and everything on the pty are gone
            return None
        if not data:
            return None
        self.screen += data
        return True

    def expect(self, pattern, timeout=20):
        """Waits until the screen (since `since`) matches `pattern`."""
        deadline = time.time() + timeout
        while not re.search(pattern, self.screen):
            left = deadline - time.time()
            if left <= 0 or self._read(left) is None:
                break
        return re.search(pattern, self.screen) is not None

    def wait(self, timeout=30):
        """The CLI's exit code (None if it did not exit in time: killed)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.status = os.waitstatus_to_exitcode(status)
                break
            self._read(0.1)
        if self.status is None:
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
        while self._read(0.05):
            pass
        os.close(self.master)
        return self.status


def wait_running(agent, job, tasks, timeout=60):
    """The job's alloc once every one of `tasks` is running."""
    deadline = time.time() + timeout
    alloc = None
    while time.time() < deadline:
        alloc = agent.wait_alloc(job, ("running",), timeout=timeout)
        states = alloc.get("TaskStates") or {}
        if all(states.get(t, {}).get("State") == "running" for t in tasks):
            return alloc
        time.sleep(0.25)
    raise RuntimeError("tasks %s of %s not running: %s" % (tasks, job, alloc))


def task_pid(agent, alloc_id, task):
    deadline = time.time() + 15
    while time.time() < deadline:
        r = agent.cli("alloc", "fs", alloc_id, "%s/task.pid" % task, check=False)
        if r.returncode == 0 and r.stdout.strip().isdigit():
            return int(r.stdout)
        time.sleep(0.2)
    raise RuntimeError("no task.pid for %s" % task)


def proc_text(pid, what):
    with open("/proc/%d/%s" % (pid, what), "rb") as f:
        return f.read().decode()


# -- the tests -------------------------------------------------------------
def test_no_tty(agent, alloc):
    a = alloc["ID"]
    code, out, err = alloc_exec(agent, a, "py", ["/bin/sh", "-c",
                                                "echo hello stdout; echo hello stderr >&2; "
                                                "exit 43"])
    check(code == 43, "no tty: the CLI exits with the command's code 43 (%d)" % code)
    check(out == b"hello stdout\n", "no tty: stdout exact (%r)" % out)
    check(err == b"hello stderr\n", "no tty: stderr exact (%r)" % err)
    code, out, err = alloc_exec(agent, a, "py", ["/bin/sh", "-c", "tr a-z A-Z; echo done"],
                                stdin=b"piped into the command\nline two\n")
    check(code == 0 and out == b"PIPED INTO THE COMMAND\nLINE TWO\ndone\n",
          "no tty: stdin piped in, EOF ends it (%d %r %r)" % (code, out, err))
    code, out, err = alloc_exec(agent, a, "py", ["stty", "size"])
    check(code == 1 and b"Inappropriate ioctl for device" in err,
          "no tty: stty has no terminal (%d %r)" % (code, err))
    big = os.urandom(200000).hex().encode()
    code, out, err = alloc_exec(agent, a, "py", ["/bin/sh", "-c", "cat; echo"], stdin=big)
    check(code == 0 and out == big + b"\n", "no tty: 400 kB through stdin and stdout intact")
    code, out, err = alloc_exec(agent, a, "py", ["no-such-command-xyz"])
    check(code != 0 and b"no-such-command-xyz" in err and b"could not be found" in err,
          "no tty: a missing command is reported (%d %r)" % (code, err))


def test_context(agent, alloc):
    a = alloc["ID"]
    code, out, err = alloc_exec(agent, a, "py", ["env"])
    env = dict(line.split("=", 1) for line in out.decode().splitlines() if "=" in line)
    check(code == 0 and env.get("FOO") == "bar from the job",
          "env: the job's env block reaches the exec'd command")
    check(env.get("NOMAD_ALLOC_ID") == a and env.get("NOMAD_TASK_NAME") == "py",
          "env: NOMAD_ALLOC_ID and NOMAD_TASK_NAME are the task's")
    check("LD_PRELOAD" not in env, "env: LD_PRELOAD is filtered as for the task")
    pid = task_pid(agent, a, "py")
    # A warm python task's /proc environ (and cmdline) is its zygote's where
    # the host may not use PR_SET_MM (README, "Warm starts"): not compared.
    task_env = sorted(x for x in proc_text(pid, "environ").split("\0") if x)
    warm_block = "<elide-warm>" in proc_text(pid, "cmdline")
    code, out, err = alloc_exec(agent, a, "py", ["env", "-0"])
    check(warm_block or sorted(x for x in out.decode().split("\0") if x) == task_env,
          "env: exactly the task's environment")
    code, out, err = alloc_exec(agent, a, "py", ["pwd"])
    check(out.decode().strip() == os.readlink("/proc/%d/cwd" % pid) and
          out.decode().strip().endswith("/%s/py" % a), "cwd: the task directory (%r)" % out)
    code, out, err = alloc_exec(agent, a, "py", ["cat", "/proc/self/cgroup"])
    task_cg = proc_text(pid, "cgroup")
    check(out.decode() == task_cg, "cgroup: the exec'd command is in the task's cgroups\n%s\nvs\n%s"
          % (out.decode(), task_cg))
    if "/nomad/" in task_cg:
        check(("/nomad/%s.py" % a) in out.decode(),
              "cgroup: that is Nomad's cgroup for the task")

    code, out, err = alloc_exec(agent, a, "nobody", ["id"])
    check(code == 0 and out == b"uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n",
          "user: id in the user = \"nobody\" task (%r)" % out)
    npid = task_pid(agent, a, "nobody")
    ids = [ln for ln in proc_text(npid, "status").splitlines()
           if ln.split(":")[0] in ("Uid", "Gid", "Groups")]
    code, out, err = alloc_exec(agent, a, "nobody", ["cat", "/proc/self/status"])
    got = [ln for ln in out.decode().splitlines() if ln.split(":")[0] in ("Uid", "Gid", "Groups")]
    check(got == ids, "user: exec'd uid/gid/groups equal the task's (%s vs %s)" % (got, ids))


def test_tty(agent, alloc):
    a = alloc["ID"]
    p = PtyExec(agent, a, "py", ["/bin/sh"], rows=30, cols=100)
    p.send(b"tty; echo tty-done\r")
    check(p.expect(rb"/dev/pts/\d+\r\ntty-done"), "tty: the command has a terminal")
    p.send(b"stty size\r")
    check(p.expect(rb"\r\n30 100\r\n"), "tty: stty size is the CLI's terminal size (30 100)")
    p.resize(40, 120)
    time.sleep(0.5)
    p.send(b"stty size\r")
    check(p.expect(rb"\r\n40 120\r\n"), "tty: after a resize stty size follows (40 120)")
    p.send(b"echo $USER-$NOMAD_TASK_NAME; exit 7\r")
    check(p.expect(rb"-py\r\n"), "tty: the task's environment")
    code = p.wait()
    check(code == 7, "tty: the CLI exits with the shell's code 7 (%s)" % code)


def test_repl(agent, alloc):
    a = alloc["ID"]
    p = PtyExec(agent, a, "py", ["elide-repl"], rows=40, cols=120)
    check(p.expect(rb">>> "), "python REPL: prompt")
    p.send(b"print(6*7)\r")
    check(p.expect(rb"\r\n42\r\n"), "python REPL: print(6*7) prints 42")
    p.send(b"import os; print(os.environ['FOO'], os.getcwd().endswith('/py'))\r")
    check(p.expect(rb"bar from the job True\r\n"), "python REPL: the task's env and directory")
    p.send(b"exit()\r")
    code = p.wait()
    check(code == 0, "python REPL: exit() ends the session, exit code 0 (%s)" % code)
    check(re.search(rb"Python 3\.\d+", p.screen) is not None, "python REPL: python's banner")

    p = PtyExec(agent, a, "js", ["elide-repl"], rows=40, cols=120)
    check(p.expect(rb"> "), "js REPL: prompt")
    p.send(b"console.log(6*7)\r")
    # node colours values when the terminal says it can (\x1b[33m42\x1b[39m).
    check(p.expect(rb"\r\n(\x1b\[[0-9;]*m)?42(\x1b\[[0-9;]*m)?\r\n"),
          "js REPL: console.log(6*7) prints 42 (%r)" % p.screen[-300:])
    p.send(b"process.version\r")
    check(p.expect(rb"'v\d+\.\d+\.\d+'"), "js REPL: node evaluates expressions")
    p.send(b".exit\r")
    code = p.wait()
    check(code == 0, "js REPL: .exit ends the session, exit code 0 (%s)" % code)

    code, out, err = alloc_exec(agent, a, "py", ["elide-repl", "-q"], stdin=b"print(6*7)\n")
    check(code == 0 and b"42\n" in out, "python REPL without a tty (%d %r)" % (code, out))


EXEC_CHECKS = (test_no_tty, test_context, test_tty, test_repl)


def run_exec_job(agent, name, checks=EXEC_CHECKS):
    """Runs the py/nobody/js job `name` and every check(agent, alloc) on it
    (test_e2e_daemon.py runs the same checks with python in the daemon)."""
    # The nobody task must be able to reach its directory under the agent's
    # private (0700) temp dir.
    os.chmod(agent.dir, 0o711)
    os.chmod(os.path.join(agent.dir, "data"), 0o711)
    path = write_job(agent, name + ".nomad.hcl",
                     one_shot_job(name, EXEC_TASKS, job_type="service"))
    job = agent.run_job(path)
    alloc = wait_running(agent, job, ("py", "nobody", "js"))
    for fn in checks:
        try:
            fn(agent, alloc)
        except Exception:  # one group failing must not hide the others
            import traceback
            traceback.print_exc()
            check(False, "%s raised" % fn.__name__)
    took, _ = agent.stop_job(job)
    check(took is not None, "%s: the job stops" % name)


def test_exec(agent, plugin_binary):
    run_exec_job(agent, "exec-target")


def main():
    if not usage_ok(1, "test_e2e_exec.py <nomad-driver-elide>"):
        return 2
    plugin_binary = sys.argv[1]
    agent = new_agent(nomad_binary(), plugin_binary)
    run_tests(agent, [("exec", test_exec, agent, plugin_binary)])
    check_nothing_left(plugin_binary)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
