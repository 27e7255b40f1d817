#!/usr/bin/python3
"""ExecInExecution against the real elide-execd over its unix socket, from a
Python grpcio client (stubs generated from the proto at test time, as in
execd_python_client.py):

- the command runs in the execution's context: environment (loader
  variables filtered), working directory, user, and the execution's own
  cgroups (it has a memory limit), as a child of the daemon;
- pipes: output and close markers before the exit, stdin then its close,
  128+signal; a terminal: the size given with setup and a later resize;
- `elide-repl` opens the python REPL through the module;
- refusals: unknown execution or session, an ended one, no setup first, an
  empty command, a binary that cannot be found;
- a client that cancels gets the command's process group killed;
- bounded memory: a command writing 64 MB to a client that does not read
  leaves the daemon's RSS bounded, and every byte arrives once read; stdin
  beyond 8 MiB that the command does not read ends the call;
- after the daemon is killed and restarted, exec still runs in the same
  context, rebuilt from what it persisted.

Usage: test_execd_exec.py --daemon BIN --module-dir DIR --proto-dir DIR
                          --protoc PROTOC --plugin GRPC_PYTHON_PLUGIN
Needs root (a task user and cgroups). Prints "N passed, N failed".
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import execd_python_client as stubs  # noqa: E402  (generate_stubs)
from exec_test_util import (ExecCall, check, check_wire, pid_by_cwd, ppid_in_stat,  # noqa: E402
                            wait_gone)


class Daemon:
    def __init__(self, binary, root, module_dir, cgroup_parent):
        self.binary = binary
        sock = os.path.join(root, "execd.sock")
        self.target = "unix:" + sock
        self.ini = os.path.join(root, "execd.ini")
        with open(self.ini, "w") as f:
            f.write("[daemon]\nlisten = unix:%s\nwork_root = %s\nmodule_dir = %s\n"
                    "cgroup_parent = %s\nlog_level = debug\n"
                    % (sock, os.path.join(root, "work"), module_dir, cgroup_parent))
        os.chmod(self.ini, 0o600)
        self.log_path = os.path.join(root, "daemon.log")
        self.start()

    def start(self):
        import grpc
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary, "-config", self.ini], stdout=self.log,
                                     stderr=self.log, stdin=subprocess.DEVNULL)
        self.channel = grpc.insecure_channel(self.target)
        grpc.channel_ready_future(self.channel).result(timeout=20)
        self.api = pb_grpc.ExecutionApiStub(self.channel)

    def stop(self, sig=signal.SIGTERM):
        self.channel.close()
        self.proc.send_signal(sig)
        status = self.proc.wait(20)
        self.log.close()
        if sig == signal.SIGTERM:
            check(status == 0, "daemon exits 0 on SIGTERM (%s)" % status)

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


class Exec(ExecCall):
    """One ExecInExecution call (exec_test_util.ExecCall)."""

    def __init__(self, api, execution_id, command, tty=False, size=None, session_id="",
                 first=None, reader=True):
        setup = pb.ExecInExecutionRequest.Setup(session_id=session_id,
                                                execution_id=execution_id, command=command,
                                                tty=tty)
        if size:
            setup.terminal_size.CopyFrom(pb.TerminalSize(rows=size[0], cols=size[1]))
        super().__init__(api.ExecInExecution, first or pb.ExecInExecutionRequest(setup=setup),
                         120, reader)

    def take(self, m):
        stream = "stderr" if m.fd == pb.OUTPUT_FD_STDERR else "stdout"
        if m.data:
            self.output(stream, m.data)
        if m.close:
            self.closed(stream)
        if m.HasField("exit"):
            self.exited(m.exit.exit_code, m.exit.signal)

    @property
    def exit(self):
        return (self.exit_code, self.signal) if self.signal is not None else None

    def send(self, data=b"", close=False, size=None):
        req = pb.ExecInExecutionRequest(stdin_data=data, stdin_close=close)
        if size:
            req.terminal_size.CopyFrom(pb.TerminalSize(rows=size[0], cols=size[1]))
        self.q.put(req)


def run(api, eid, script, stdin=None, tty=False, size=None):
    e = Exec(api, eid, ["/bin/sh", "-c", script], tty=tty, size=size)
    if stdin is not None:
        e.send(stdin, close=not tty)
    check(e.wait(40), "%r ends" % script)
    return e


def proc_file(pid, name):
    with open("/proc/%d/%s" % (pid, name), "rb") as f:
        return f.read()


def check_context(api, daemon, eid, wd, label):
    """env, cwd, user, cgroups and parent of an exec'd command."""
    pid = pid_by_cwd(wd)
    e = Exec(api, eid, ["/usr/bin/env", "-0"])  # not through sh, which adds PWD
    e.send(close=True)
    check(e.wait(20), "%s: env ends" % label)
    got = sorted(x for x in e.stdout.decode().split("\0") if x)
    # A warm python execution's /proc environ (and cmdline) is its zygote's where
    # the daemon may not use PR_SET_MM (README, "Warm starts"): compared
    # when set; the request's variables are checked below either way.
    want = sorted(x for x in proc_file(pid, "environ").decode().split("\0") if x)
    check(b"<elide-warm>" in proc_file(pid, "cmdline") or got == want,
          "%s: env equals the execution's (%s vs %s)" % (label, got, want))
    check("GREETING=hello there" in got and not any(x.startswith("LD_PRELOAD=") for x in got),
          "%s: the request's env, without LD_PRELOAD" % label)
    e = run(api, eid, "pwd; id -un")
    check(e.stdout == (wd + "\nnobody\n").encode(), "%s: cwd and user (%r)" % (label, e.stdout))
    e = run(api, eid, "cat /proc/self/cgroup")
    cg = proc_file(pid, "cgroup")
    check(e.stdout == cg, "%s: cgroups equal the execution's\n%s\nvs\n%s"
          % (label, e.stdout.decode(), cg.decode()))
    check(b"/" + PARENT.encode() + b"/" in cg,
          "%s: those are the execution's own groups under %s" % (label, PARENT))
    e = run(api, eid, "cat /proc/$$/stat")
    ppid = ppid_in_stat(e.stdout)
    check(ppid == daemon.proc.pid, "%s: a child of the daemon (%d vs %d)"
          % (label, ppid, daemon.proc.pid))


def test_basics(api, eid):
    e = run(api, eid, "echo hello stdout; echo hello stderr >&2; exit 43")
    check(e.stdout == b"hello stdout\n" and e.stderr == b"hello stderr\n" and
          e.exit == (43, 0), "pipes: output and exit 43 (%r %r %s)" % (e.stdout, e.stderr, e.exit))
    check_wire(e, "pipes", False)
    e = run(api, eid, "echo hello from command; head -n1", stdin=b"hello from stdin\nmore\n")
    check(e.stdout == b"hello from command\nhello from stdin\n" and e.exit == (0, 0),
          "pipes: stdin then its close (%r)" % e.stdout)
    e = run(api, eid, "cat", stdin=b"")
    check(e.exit == (0, 0) and e.stdout == b"", "pipes: a bare stdin close is EOF")
    e = run(api, eid, "kill -TERM $$")
    check(e.exit == (143, 15), "pipes: killed by SIGTERM is 143, signal 15 (%s)" % (e.exit,))
    check_wire(e, "killed", False)
    e = run(api, eid, "stty size", tty=True, size=(30, 100))
    check(e.stdout == b"30 100\r\n" and e.exit == (0, 0),
          "tty: the size given with setup (%r)" % e.stdout)
    check_wire(e, "tty", True)
    e = Exec(api, eid, ["/bin/sh", "-c", "sleep 1; stty size"], tty=True, size=(30, 100))
    e.send(size=(40, 120))
    check(e.wait(20) and e.stdout == b"40 120\r\n", "tty: a resize (%r)" % e.stdout)
    e = Exec(api, eid, ["/bin/sh", "-c", "head -n1"], tty=True)
    e.send(b"typed\n", close=True)  # a close is ignored on a terminal
    check(e.wait(20) and e.stdout == b"typed\r\ntyped\r\n" and e.exit == (0, 0),
          "tty: echo and output, a stdin close ignored (%r)" % e.stdout)


def test_repl(api, eid):
    e = Exec(api, eid, ["elide-repl"], tty=True, size=(40, 120))
    check(e.wait_output(rb">>> "), "repl: python prompt")
    e.send(b"import os; print(6*7, os.getcwd())\r")
    check(e.wait_output(rb"42 /"), "repl: print(6*7) gives 42")
    e.send(b"exit()\r")
    check(e.wait(20) and e.exit == (0, 0) and e.code == "OK", "repl: exit() ends it, 0")


def refused(api, label, want_code, want_text, **kw):
    e = Exec(api, **kw)
    e.wait(20)
    check(e.code == want_code and want_text in (e.details or ""),
          "%s: %s %r (got %s %r)" % (label, want_code, want_text, e.code, e.details))


def test_refusals(api, eid, ended):
    refused(api, "unknown execution", "NOT_FOUND", 'execution "nosuch" not found',
            execution_id="nosuch", command=["/bin/true"])
    refused(api, "another session", "NOT_FOUND", "not found in session",
            execution_id=eid, command=["/bin/true"], session_id="other")
    refused(api, "ended execution", "FAILED_PRECONDITION", "has ended",
            execution_id=ended, command=["/bin/true"])
    refused(api, "no setup first", "INVALID_ARGUMENT", "first message must carry setup",
            execution_id=eid, command=[], first=pb.ExecInExecutionRequest(stdin_data=b"x"))
    refused(api, "empty command", "INVALID_ARGUMENT", "at least one value",
            execution_id=eid, command=[])
    refused(api, "missing binary", "INVALID_ARGUMENT",
            'binary "no-such-binary-xyz" could not be found', execution_id=eid,
            command=["no-such-binary-xyz"])


def test_cancel(api, eid, wd):
    pidfile = os.path.join(wd, "bg.pid")
    e = Exec(api, eid, ["/bin/sh", "-c", "sleep 60 & echo $! > bg.pid; echo $$; wait"])
    check(e.wait_output(rb"^\d+\n"), "cancel: started")
    lead = int(e.stdout.split()[0]) if e.stdout.strip() else 0
    bg = int(open(pidfile).read()) if os.path.exists(pidfile) else 0
    e.call.cancel()
    e.wait(10)
    check(lead > 0 and bg > 0 and wait_gone([lead, bg], 5),
          "cancel: the command and its background child are killed")


def test_bounds(api, daemon, eid):
    total = 64 << 20
    e = Exec(api, eid, ["/bin/sh", "-c", "head -c %d /dev/zero" % total], reader=False)
    e.send(close=True)
    it = iter(e.call)
    first = next(it)
    e.take(first)
    before = daemon.rss_kb()
    time.sleep(3)  # the client reads nothing: the command must block, not the daemon grow
    grown = daemon.rss_kb() - before
    check(grown < 32 * 1024, "bounded: the daemon grew %d kB while the client did not read"
          % grown)
    for m in it:
        e.take(m)
    e.q.put(None)  # ends the request iterator
    check(len(e.out["stdout"]) == total and e.exit == (0, 0),
          "bounded: every byte once read (%d of %d)" % (len(e.out["stdout"]), total))

    e = Exec(api, eid, ["/bin/sh", "-c", "echo $$; exec sleep 60"])
    check(e.wait_output(rb"^\d+\n"), "stdin backlog: started")
    lead = int(e.stdout.split()[0]) if e.stdout.strip() else 0
    for _ in range(10):
        e.send(b"x" * (1 << 20))
    check(e.wait(20) and e.code == "RESOURCE_EXHAUSTED" and "8 MiB" in (e.details or ""),
          "stdin backlog: more than 8 MiB unread ends the call (%s %s)" % (e.code, e.details))
    check(lead > 0 and wait_gone([lead], 5), "stdin backlog: the command is killed")


def remove_cgroups(parent):
    """The test's cgroup parent in every hierarchy (v1) or the one (v2),
    children first (cgroup directories go with rmdir only)."""
    for base in ["/sys/fs/cgroup"] + [os.path.join("/sys/fs/cgroup", d)
                                      for d in os.listdir("/sys/fs/cgroup")]:
        top = os.path.join(base, parent)
        if not os.path.isdir(top):
            continue
        for d, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
            try:
                os.rmdir(d)
            except OSError:
                pass


def start_execution(api, eid, wd, code, limits=None):
    req = pb.ExecuteSnippetRequest(
        execution_id=eid, language="python", code=code, working_directory=wd, user="nobody",
        env={"GREETING": "hello there", "LD_PRELOAD": "/nonexistent.so",
             "PATH": "/usr/local/bin:/usr/bin:/bin"})
    if limits:
        req.limits.CopyFrom(limits)
    api.ExecuteSnippet(req, timeout=30)


def main():
    global pb, pb_grpc, PARENT
    ap = argparse.ArgumentParser()
    for opt in ("--daemon", "--module-dir", "--proto-dir", "--protoc", "--plugin"):
        ap.add_argument(opt, required=True)
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="execd-exec.")
    os.chmod(root, 0o755)
    PARENT = "elide-exec-test-%d" % os.getpid()
    daemon = None
    try:
        stubs.generate_stubs(args, root)
        from elide.daemon.v1alpha1 import execution_api_pb2 as pb
        from elide.daemon.v1alpha1 import execution_api_pb2_grpc as pb_grpc
        daemon = Daemon(args.daemon, root, args.module_dir, PARENT)
        wd = os.path.join(root, "task")
        os.makedirs(wd)
        os.chmod(wd, 0o777)
        forever = "import time\nwhile True: time.sleep(1)\n"
        start_execution(daemon.api, "run", wd, forever,
                        pb.ResourceLimits(memory_bytes=256 << 20, cpu_shares=512))
        start_execution(daemon.api, "ended", root, "pass")
        daemon.api.WaitExecution(pb.WaitExecutionRequest(execution_id="ended"), timeout=30)

        check_context(daemon.api, daemon, "run", wd, "context")
        test_basics(daemon.api, "run")
        test_repl(daemon.api, "run")
        test_refusals(daemon.api, "run", "ended")
        test_cancel(daemon.api, "run", wd)
        test_bounds(daemon.api, daemon, "run")

        daemon.stop(signal.SIGKILL)
        daemon.start()
        check_context(daemon.api, daemon, "run", wd, "after a daemon kill -9")
        test_repl(daemon.api, "run")
        daemon.api.CancelExecution(pb.CancelExecutionRequest(execution_id="run"), timeout=30)
        daemon.api.WaitExecution(pb.WaitExecutionRequest(execution_id="run"), timeout=30)
        refused(daemon.api, "cancelled execution", "FAILED_PRECONDITION", "has ended",
                execution_id="run", command=["/bin/true"])
        daemon.stop()
        daemon = None
        with open(os.path.join(root, "daemon.log"), "rb") as f:
            log = f.read()
        check(b"Sanitizer" not in log and b"runtime error:" not in log,
              "no sanitizer report in the daemon's log")
    except Exception:
        import traceback
        traceback.print_exc()
        check(False, "no exception")
    finally:
        if daemon:  # a failure left it running: its executions go first
            try:
                daemon.api.CancelExecution(pb.CancelExecutionRequest(execution_id="run"),
                                           timeout=10)
                daemon.api.WaitExecution(pb.WaitExecutionRequest(execution_id="run"), timeout=10)
            except Exception as e:  # noqa: BLE001 - cleanup goes on
                print("cleanup: %s" % e, file=sys.stderr)
            daemon.proc.kill()
            daemon.proc.wait()
        if check.failures:
            try:
                with open(os.path.join(root, "daemon.log"), "rb") as f:
                    sys.stderr.write(f.read().decode(errors="replace")[-20000:])
            except OSError:
                pass
        shutil.rmtree(root, ignore_errors=True)
        remove_cgroups(PARENT)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
