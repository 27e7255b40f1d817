#!/usr/bin/python3
"""ExecTask and ExecTaskStreaming against the real plugin binary over gRPC,
as Nomad drives them, with a Python grpcio client whose stubs are generated
from proto/nomad at test time (protoc + grpc_python_plugin):

- ExecTask: exit codes 0/1/2, stderr folded into stdout, the 4 KiB tail,
  the timeout killing the whole process group, command lookup, errors;
- the exec'd command's environment, directory, user and cgroups equal the
  task's own (read from /proc of the task's process);
- ExecTaskStreaming: Nomad's conformance table (non-TTY and TTY, byte-exact),
  a large stdin, the wire obligations (setup first, close markers, exit
  message last, OK status), 128+signal, cancel killing the command, 5 MB of
  output in order;
- `elide-repl`: python and js REPLs on a terminal and without one, and a
  backend without a REPL;
- after a kill -9 of the plugin and RecoverTask (also with a handle whose
  driver config is gone, as after an agent restart), exec still runs as the
  task; a task that exited refuses exec.

Everything above runs twice: for local tasks, then (with --daemon) for the
same tasks run by a real elide-execd (every backend in `mode = daemon`),
where the plugin proxies both RPCs onto the daemon's ExecInExecution; that
pass also checks exec after the daemon itself restarted (SIGKILL and
SIGTERM), from the context it persisted.

Usage: test_plugin_exec.py --plugin BIN --module-dir DIR --fixture-module SO
                           --proto-dir DIR --protoc PROTOC --grpc-plugin PLUGIN
                           [--daemon ELIDE_EXECD]
Prints one line per failed check and a closing "N passed, N failed".
"""
import argparse
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exec_test_util import (ExecCall, check, check_wire, pid_by_cwd, ppid_in_stat,  # noqa: E402
                            wait_gone)


# -- msgpack, as much of it as cty needs here ------------------------------
def mp(v):
    if v is None:
        return b"\xc0"
    if isinstance(v, bool):
        return b"\xc3" if v else b"\xc2"
    if isinstance(v, str):
        b = v.encode()
        if len(b) < 32:
            return bytes([0xa0 | len(b)]) + b
        if len(b) < 256:
            return b"\xd9" + bytes([len(b)]) + b
        return b"\xda" + len(b).to_bytes(2, "big") + b
    if isinstance(v, list):
        assert len(v) < 16
        return bytes([0x90 | len(v)]) + b"".join(mp(x) for x in v)
    if isinstance(v, dict):
        assert len(v) < 16
        return bytes([0x80 | len(v)]) + b"".join(mp(k) + mp(v[k]) for k in sorted(v))
    raise TypeError(v)


def task_config(language, code):
    """The cty object of the host's task keys (every one present, sorted)."""
    return mp({"args": None, "code": code, "language": language, "script": None})


# -- the plugin ------------------------------------------------------------
VALGRIND_NOTES = (b"Warning: noted but unhandled ioctl", b"This could cause spurious",
                  b"See README_MISSING_SYSCALL_OR_IOCTL")


def clean_log(log):
    """No ASan/UBSan/LSan report and no valgrind error (its lines start with
    ==PID==; its notes about ioctls it has no wrapper for, e.g. TIOCGPTPEER,
    are not errors) in a plugin's stderr."""
    reports = [ln for ln in re.findall(rb"(?m)^==\d+== .*$", log)
               if not any(n in ln for n in VALGRIND_NOTES)]
    if reports:
        print("\n".join(r.decode(errors="replace") for r in reports[:20]), file=sys.stderr)
    return b"Sanitizer" not in log and b"runtime error:" not in log and not reports


class Plugin:
    COOKIE = "e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255"

    def __init__(self, binary, root, name):
        self.name = name
        env = dict(os.environ, NOMAD_PLUGIN_MAGIC_COOKIE=self.COOKIE,
                   PLUGIN_PROTOCOL_VERSIONS="2", PLUGIN_MIN_PORT="10000",
                   PLUGIN_MAX_PORT="25000")
        self.log_path = os.path.join(root, name + ".log")
        self.log = open(self.log_path, "ab")
        # ELIDE_PLUGIN_WRAPPER runs the plugin under a tool (e.g. valgrind),
        # as in plugin_harness.c.
        wrapper = os.environ.get("ELIDE_PLUGIN_WRAPPER", "").split()
        self.proc = subprocess.Popen(wrapper + [binary], stdout=subprocess.PIPE,
                                     stderr=self.log, stdin=subprocess.DEVNULL, env=env)
        line = self.proc.stdout.readline().decode().strip()
        fields = line.split("|")
        if len(fields) < 5 or fields[2] != "unix":
            raise RuntimeError("bad handshake %r" % line)
        import grpc
        self.address = "unix:" + fields[3]
        self.channel = grpc.insecure_channel(self.address)
        grpc.channel_ready_future(self.channel).result(timeout=20)
        self.drv = pb_grpc.DriverStub(self.channel)
        self.base = base_grpc.BasePluginStub(self.channel)

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.channel.close()
        self.log.close()
        with open(self.log_path, "rb") as f:
            log = f.read()
        check(clean_log(log), "no sanitizer or valgrind report in " + self.log_path)

    def stop(self):
        """SIGTERM (tasks keep running); the exit status, None if it had to
        be killed. Sanitizer reports in its log fail the test."""
        status = self.proc.poll()
        if status is None:
            self.proc.terminate()
            try:
                status = self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            check(status == 0, "plugin exits 0 on SIGTERM (%s)" % status)
        self.channel.close()
        self.log.close()
        with open(self.log_path, "rb") as f:
            log = f.read()
        check(clean_log(log), "no sanitizer or valgrind report in " + self.log_path)
        return status


DAEMON_LANGUAGES = ("python", "js", "minor0")


def set_config(plugin, state_dir, module_dir, daemon=None):
    """With a Daemon: every backend the tests use in `mode = daemon`."""
    config = {"module_dir": module_dir, "state_dir": state_dir}
    plugin.daemon = daemon  # who runs exec'd commands (test_task_context)
    if daemon:
        config["daemon_endpoint"] = daemon.endpoint
        config["module_options"] = ["%s.mode=daemon" % m for m in DAEMON_LANGUAGES]
    plugin.base.SetConfig(base_pb.SetConfigRequest(msgpack_config=mp(config)), timeout=30)


class Daemon:
    """elide-execd on a unix socket of its own, loading the same modules."""

    def __init__(self, binary, root, module_dir):
        self.binary = binary
        self.root = os.path.join(root, "execd")
        os.makedirs(self.root)
        sock = os.path.join(self.root, "execd.sock")
        self.endpoint = "unix:" + sock
        self.ini = os.path.join(self.root, "execd.ini")
        with open(self.ini, "w") as f:
            f.write("[daemon]\nlisten = unix:%s\nwork_root = %s\nmodule_dir = %s\n"
                    "log_level = debug\n" % (sock, os.path.join(self.root, "work"), module_dir))
        os.chmod(self.ini, 0o600)
        self.log_path = os.path.join(self.root, "execd.log")
        self.proc = None
        self.start()

    def start(self):
        import grpc
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary, "-config", self.ini], stdout=self.log,
                                     stderr=self.log, stdin=subprocess.DEVNULL)
        channel = grpc.insecure_channel(self.endpoint)
        grpc.channel_ready_future(channel).result(timeout=20)
        channel.close()

    def stop(self, sig=signal.SIGTERM):
        """Stops the daemon (its executions keep running); with SIGTERM it
        must exit 0. Sanitizer reports in its log fail the test."""
        self.proc.send_signal(sig)
        try:
            status = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            status = self.proc.wait()
        if sig == signal.SIGTERM:
            check(status == 0, "elide-execd exits 0 on SIGTERM (%s)" % status)
        self.log.close()
        with open(self.log_path, "rb") as f:
            check(clean_log(f.read()), "no sanitizer report in " + self.log_path)

    def restart(self, sig):
        self.stop(sig)
        self.start()


def rpc_error(fn):
    """Runs fn; returns (code name, details) of the gRPC error, or None."""
    import grpc
    try:
        fn()
    except grpc.RpcError as e:
        return e.code().name, e.details()
    return None


class Task:
    """A task started through StartTask in an alloc dir of its own."""
    seq = 0

    def __init__(self, plugin, root, language, code, user="", env=None):
        Task.seq += 1
        self.language = language
        self.alloc_dir = os.path.join(root, "alloc-%d" % Task.seq)
        self.name = "t%d" % Task.seq
        self.dir = os.path.join(self.alloc_dir, self.name)
        os.makedirs(os.path.join(self.dir, "local"))
        for d in (root, self.alloc_dir, self.dir, os.path.join(self.dir, "local")):
            os.chmod(d, 0o755)  # a task user other than root must reach its dir
        self.id = "alloc-%d-%d/%s/%08x" % (os.getpid(), Task.seq, self.name, Task.seq)
        base_env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "NOMAD_TASK_DIR":
                    os.path.join(self.dir, "local"), "ELIDE_EXEC_TEST": "a value with spaces",
                    "LD_PRELOAD": "/nonexistent/preload.so"}
        base_env.update(env or {})
        self.config = pb.TaskConfig(
            id=self.id, name=self.name, alloc_id="alloc-%d" % Task.seq, alloc_dir=self.alloc_dir,
            env=base_env, user=user, msgpack_driver_config=task_config(language, code))
        rep = plugin.drv.StartTask(pb.StartTaskRequest(task=self.config), timeout=30)
        self.handle = rep.handle
        self._pid = self.inspect_pid(plugin)

    @property
    def pid(self):
        """A task in the daemon has no pid the plugin knows: found when
        first needed (a task that ends at once never needs it)."""
        if not self._pid:
            self._pid = pid_by_cwd(self.dir)
        return self._pid

    def inspect_pid(self, plugin):
        rep = plugin.drv.InspectTask(pb.InspectTaskRequest(task_id=self.id), timeout=30)
        return int(rep.driver.attributes["pid"])

    def proc(self, what):
        with open("/proc/%d/%s" % (self.pid, what), "rb") as f:
            return f.read()


def exec_task(plugin, task_id, command, timeout_s=10):
    from google.protobuf import duration_pb2
    return plugin.drv.ExecTask(pb.ExecTaskRequest(
        task_id=task_id, command=command, timeout=duration_pb2.Duration(seconds=timeout_s)),
        timeout=60)


# -- ExecTaskStreaming -----------------------------------------------------
class Session(ExecCall):
    """One ExecTaskStreaming call (exec_test_util.ExecCall)."""

    def __init__(self, plugin, task_id, command, tty, first=None, timeout=60):
        super().__init__(plugin.drv.ExecTaskStreaming, first or pb.ExecTaskStreamingRequest(
            setup=pb.ExecTaskStreamingRequest.Setup(task_id=task_id, command=command, tty=tty)),
            timeout)

    def take(self, m):
        for name in ("stdout", "stderr"):
            if m.HasField(name):
                io = getattr(m, name)
                if io.data:
                    self.output(name, io.data)
                if io.close:
                    self.closed(name)
        if m.exited:
            self.exited(m.result.exit_code, m.result.signal)

    def resize(self, height, width):
        self.q.put(pb.ExecTaskStreamingRequest(
            tty_size=pb.ExecTaskStreamingRequest.TerminalSize(height=height, width=width)))

    def send(self, data):
        self.q.put(pb.ExecTaskStreamingRequest(
            stdin=pb.ExecTaskStreamingIOOperation(data=data)))

    def close_stdin(self):
        self.q.put(pb.ExecTaskStreamingRequest(stdin=pb.ExecTaskStreamingIOOperation(close=True)))

    def heartbeat(self):
        self.q.put(pb.ExecTaskStreamingRequest())


def run_case(plugin, task_id, command, tty, stdin=b"", close=None):
    """Nomad's exec conformance helper: for TTY two resizes (50x40 then
    100x100) first, then one stdin message, then (non-TTY) a stdin close."""
    s = Session(plugin, task_id, ["/bin/sh", "-c", command], tty)
    if tty:
        s.resize(50, 40)
        s.resize(100, 100)
    s.send(stdin)
    if close if close is not None else not tty:
        s.close_stdin()
    check(s.wait(40), "stream %r (tty=%s) ends within 40 s" % (command, tty))
    return s


def test_conformance_table(plugin, t):
    cases = [
        ("notty basic", "echo hello stdout; echo hello stderr >&2; exit 43", False, b"",
         b"hello stdout\n", b"hello stderr\n", 43),
        ("notty streaming", "for n in 1 2 3; do echo $n; sleep 1; done", False, b"",
         b"1\n2\n3\n", b"", 0),
        ("notty no terminal", "stty size", False, b"", b"",
         re.compile(rb"^stty: .?standard input.?: Inappropriate ioctl for device\n$"), 1),
        ("notty stdin then EOF", "echo hello from command; head -n1", False,
         b"hello from stdin\n", b"hello from command\nhello from stdin\n", b"", 0),
        ("tty basic", "echo hello stdout; echo hello stderr >&2; exit 43", True, b"",
         b"hello stdout\r\nhello stderr\r\n", b"", 43),
        ("tty streaming", "for n in 1 2 3; do echo $n; sleep 1; done", True, b"",
         b"1\r\n2\r\n3\r\n", b"", 0),
        ("tty size follows the last resize", "sleep 1; stty size", True, b"", b"100 100\r\n",
         b"", 0),
        ("tty stdin echo", "head -n1", True, b"hello from stdin\n",
         b"hello from stdin\r\nhello from stdin\r\n", b"", 0),
        ("tty waits for the lead process only",
         "(( sleep 3; echo from background ) & ); echo from main; exec sleep 1", True, b"",
         b"from main\r\n", b"", 0),
    ]
    for label, command, tty, stdin, out, err, code in cases:
        t0 = time.time()
        s = run_case(plugin, t.id, command, tty, stdin)
        took = time.time() - t0
        check(s.stdout == out, "%s: stdout %r (got %r)" % (label, out, s.stdout))
        if isinstance(err, bytes):
            check(s.stderr == err, "%s: stderr %r (got %r)" % (label, err, s.stderr))
        else:
            check(err.match(s.stderr) is not None,
                  "%s: stderr matches (got %r)" % (label, s.stderr))
        check(s.exit_code == code, "%s: exit %d (got %d)" % (label, code, s.exit_code))
        check_wire(s, label, tty)
        if label.startswith("tty waits"):
            check(took < 2.9, "%s: done before the background child's 3 s (%.2f s)" % (label, took))

    # A large stdin piped to a non-TTY exec (item 71): an 8100-byte tar.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        data = b"x" * 5000
        info = tarfile.TarInfo("filename.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    archive = buf.getvalue()[:8100].ljust(8100, b"\0")
    s = Session(plugin, t.id, ["/bin/sh", "-c", "cd \"$(mktemp -d)\" && tar --extract "
                               "--verbose --file=/dev/stdin"], False)
    s.send(archive[:4000])
    s.send(archive[4000:])
    s.close_stdin()
    check(s.wait(20), "tar: ends")
    check(s.exit_code == 0 and s.stdout + s.stderr == b"filename.txt\n",
          "tar: 8100 bytes of stdin extracted, output exactly filename.txt (%d %r %r)"
          % (s.exit_code, s.stdout, s.stderr))


def test_streaming_more(plugin, t, root):
    # Death by signal: 128+n.
    s = run_case(plugin, t.id, "kill -KILL $$", False)
    check(s.exit_code == 137, "stream: killed by SIGKILL exits 137 (%d)" % s.exit_code)
    check_wire(s, "stream killed", False)

    # Heartbeats (empty messages) and a repeated setup change nothing.
    s = Session(plugin, t.id, ["/bin/sh", "-c", "read x; echo got $x"], False)
    s.heartbeat()
    s.q.put(pb.ExecTaskStreamingRequest(setup=pb.ExecTaskStreamingRequest.Setup(
        task_id="other", command=["/bin/false"])))
    s.send(b"line\n")
    s.close_stdin()
    check(s.wait(20) and s.stdout == b"got line\n" and s.exit_code == 0,
          "stream: heartbeats and a second setup are ignored (%r %d)" % (s.stdout, s.exit_code))

    # 5 MB of output arrives whole and in order (bounded buffering inside).
    s = Session(plugin, t.id, ["/bin/sh", "-c", "head -c 5000000 /dev/zero | tr '\\0' a; "
                               "echo; echo end"], False)
    s.close_stdin()
    check(s.wait(60), "stream 5 MB: ends")
    check(len(s.stdout) == 5000005 and s.stdout.endswith(b"a\nend\n") and
          s.stdout.count(b"a") == 5000000, "stream 5 MB: every byte (%d)" % len(s.stdout))

    # The client going away kills the command's process group.
    pidfile = os.path.join(root, "cancel.pid")
    s = Session(plugin, t.id, ["/bin/sh", "-c", "sleep 60 & echo $! > %s; echo $$; wait"
                               % pidfile], False)
    check(s.wait_output(rb"^\d+\n"), "cancel: the command started")
    lead = int(s.stdout.split()[0]) if s.stdout.strip() else 0
    bg = int(open(pidfile).read()) if os.path.exists(pidfile) else 0
    s.cancel()
    s.wait(10)
    gone = wait_gone([lead, bg], 5)
    check(lead > 0 and bg > 0 and gone, "cancel: the command and its child are killed")

    # Errors: no setup first, unknown task, empty command, missing binary.
    s = Session(plugin, t.id, None, False, first=pb.ExecTaskStreamingRequest(
        stdin=pb.ExecTaskStreamingIOOperation(data=b"x")))
    s.wait(10)
    check(s.code == "INVALID_ARGUMENT" and s.details == "first message should always be setup",
          "stream: a first message without setup (%s %s)" % (s.code, s.details))
    s = Session(plugin, "no-such-task", ["/bin/true"], False)
    s.wait(10)
    check(s.code == "NOT_FOUND" and "task not found" in s.details,
          "stream: unknown task is NOT_FOUND (%s %s)" % (s.code, s.details))
    s = Session(plugin, t.id, ["no-such-binary-xyz"], True)
    s.wait(10)
    check(s.code == "INVALID_ARGUMENT" and s.details ==
          'binary "no-such-binary-xyz" could not be found',
          "stream: a missing binary (%s %s)" % (s.code, s.details))


# -- ExecTask --------------------------------------------------------------
def test_exec_task(plugin, t, root):
    for code in (0, 1, 2):
        r = exec_task(plugin, t.id, ["/bin/sh", "-c", "exit %d" % code])
        check(r.result.exit_code == code, "exec: exit %d (got %d)" % (code, r.result.exit_code))
    r = exec_task(plugin, t.id, ["/usr/bin/stat", "/tmp"])
    check(r.result.exit_code == 0 and len(r.stdout) > 100, "exec: stat /tmp prints > 100 bytes")
    r = exec_task(plugin, t.id, ["/usr/bin/stat", "notarealfile123abc"])
    check(r.result.exit_code != 0 and b"No such file or directory" in r.stdout and
          b"No such file or directory" in r.stderr,
          "exec: stat's stderr is in stdout (what a script check shows) and in stderr")
    r = exec_task(plugin, t.id, ["/bin/sh", "-c", "echo out; echo err >&2"])
    check(r.stdout in (b"out\nerr\n", b"err\nout\n") and r.stderr == b"err\n",
          "exec: stdout carries both streams, stderr only stderr (%r %r)" % (r.stdout, r.stderr))
    r = exec_task(plugin, t.id, ["/bin/sh", "-c", "seq 1 3000"])
    full = "".join("%d\n" % i for i in range(1, 3001)).encode()
    check(r.stdout == full[-4096:], "exec: the last 4096 bytes of output (%d)" % len(r.stdout))

    # The timeout kills the command's whole process group.
    t0 = time.time()
    r = exec_task(plugin, t.id, ["/bin/sh", "-c", "echo $$ > exec.pid; sleep 30 & echo $! > "
                                 "bg.pid; wait"], timeout_s=1)
    took = time.time() - t0
    check(r.result.exit_code == 137 and r.result.signal == 9,
          "exec timeout: killed, exit 137 (%d, signal %d)" % (r.result.exit_code, r.result.signal))
    check(0.9 <= took < 4, "exec timeout: returns after about 1 s (%.2f s)" % took)
    pids = [int(open(os.path.join(t.dir, f)).read()) for f in ("exec.pid", "bg.pid")]
    check(wait_gone(pids, 3), "exec timeout: the command and its background child are gone")

    # Command lookup: <task>/local first, then the task dir, then PATH.
    with open(os.path.join(t.dir, "local", "hello.sh"), "w") as f:
        f.write("#!/bin/sh\necho from local \"$@\"\n")
    os.chmod(os.path.join(t.dir, "local", "hello.sh"), 0o755)
    r = exec_task(plugin, t.id, ["hello.sh", "arg"])
    check(r.stdout == b"from local arg\n", "exec: a command in local/ by name (%r)" % r.stdout)
    r = exec_task(plugin, t.id, ["true"])
    check(r.result.exit_code == 0, "exec: a command from the task's PATH")

    # Errors.
    e = rpc_error(lambda: exec_task(plugin, "no-such-task", ["/bin/true"]))
    check(e and e[0] == "NOT_FOUND" and "task not found" in e[1], "exec: unknown task (%s)" % (e,))
    e = rpc_error(lambda: exec_task(plugin, t.id, []))
    check(e and e[0] == "INVALID_ARGUMENT" and "at least one value" in e[1],
          "exec: empty command (%s)" % (e,))
    e = rpc_error(lambda: exec_task(plugin, t.id, ["no-such-binary-xyz"]))
    check(e == ("INVALID_ARGUMENT", 'binary "no-such-binary-xyz" could not be found'),
          "exec: a binary that cannot be found (%s)" % (e,))


def environ_lines(raw):
    return sorted(x for x in raw.decode().split("\0") if x)


def status_ids(text):
    """Uid, Gid and Groups lines of /proc/<pid>/status."""
    return [line for line in text.splitlines() if line.split(":")[0] in ("Uid", "Gid", "Groups")]


def test_task_context(plugin, t, label):
    """The exec'd command's env, cwd, user and cgroups are the task's."""
    r = exec_task(plugin, t.id, ["/usr/bin/env", "-0"])
    got = environ_lines(r.stdout)
    # The task's environment as configured, loader variables dropped. Its
    # /proc/<pid>/environ says the same for a cold task; a warm python task
    # shows its zygote's block (and command line) there unless the host may
    # use PR_SET_MM (README, "Warm starts"), so that one is not compared.
    want = sorted("%s=%s" % kv for kv in t.config.env.items() if not kv[0].startswith("LD_"))
    check(got == want, "%s: exec'd env equals the task's (%s vs %s)" % (label, got, want))
    in_proc = environ_lines(t.proc("environ"))
    check(b"<elide-warm>" in t.proc("cmdline") or in_proc == got,
          "%s: exec'd env equals the task's /proc environ (%s vs %s)" % (label, got, in_proc))
    check("ELIDE_EXEC_TEST=a value with spaces" in got and
          not any(x.startswith("LD_PRELOAD=") for x in got),
          "%s: the job's env is there, LD_PRELOAD is not" % label)
    r = exec_task(plugin, t.id, ["/bin/pwd"])
    check(r.stdout.decode() == os.readlink("/proc/%d/cwd" % t.pid) + "\n" and
          r.stdout.decode() == t.dir + "\n", "%s: exec'd cwd is the task dir" % label)
    r = exec_task(plugin, t.id, ["/bin/cat", "/proc/self/status"])
    check(status_ids(r.stdout.decode()) == status_ids(t.proc("status").decode()),
          "%s: exec'd uid/gid/groups equal the task's" % label)
    r = exec_task(plugin, t.id, ["/bin/cat", "/proc/self/cgroup"])
    check(r.stdout == t.proc("cgroup"), "%s: exec'd cgroups equal the task's\n%s\nvs\n%s" %
          (label, r.stdout.decode(), t.proc("cgroup").decode()))
    # Who ran it: the plugin for a local task, the daemon for one in it.
    runner = plugin.daemon.proc.pid if plugin.daemon else plugin.proc.pid
    r = exec_task(plugin, t.id, ["/bin/cat", "/proc/self/stat"])
    ppid = ppid_in_stat(r.stdout)
    check(ppid == runner, "%s: the exec'd command is a child of the %s (%d, got %d)"
          % (label, "daemon" if plugin.daemon else "plugin", runner, ppid))


def test_user(plugin, t):
    r = exec_task(plugin, t.id, ["/usr/bin/id"])
    check(r.stdout == b"uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n",
          "exec as nobody: id (%r)" % r.stdout)
    s = run_case(plugin, t.id, "whoami", False)
    check(s.stdout == b"nobody\n" and s.stderr == b"" and s.exit_code == 0,
          "stream as nobody: whoami (%r %r %d)" % (s.stdout, s.stderr, s.exit_code))
    s = run_case(plugin, t.id, "id -u; tty", True)
    check(s.stdout.startswith(b"65534\r\n/dev/pts/") and s.exit_code == 0,
          "stream as nobody on a tty (%r)" % s.stdout)


# -- REPL ------------------------------------------------------------------
def test_repl(plugin, py, js, nrepl):
    s = Session(plugin, py.id, ["elide-repl"], True)
    s.resize(40, 120)
    check(s.wait_output(rb">>> "), "python REPL: prompt")
    s.send(b"print(6*7)\r")
    check(s.wait_output(rb"\r\n42\r\n"), "python REPL: print(6*7) gives 42")
    s.send(b"import os; print(os.getcwd(), os.environ['ELIDE_EXEC_TEST'])\r")
    check(s.wait_output(re.escape(("%s a value with spaces\r\n" % py.dir).encode())),
          "python REPL: the task's directory and environment")
    s.send(b"exit()\r")
    check(s.wait(20) and s.exit_code == 0 and s.code == "OK", "python REPL: exit() ends it, 0")

    s = Session(plugin, js.id, ["elide-repl"], True)
    s.resize(40, 120)
    check(s.wait_output(rb"> "), "js REPL: prompt")
    s.send(b"console.log(6*7)\r")
    check(s.wait_output(rb"42\r\n"), "js REPL: console.log(6*7) gives 42")
    s.send(b"console.log(process.cwd())\r")
    check(s.wait_output(re.escape((js.dir + "\r\n").encode())), "js REPL: the task's directory")
    s.send(b".exit\r")
    check(s.wait(20) and s.exit_code == 0 and s.code == "OK", "js REPL: .exit ends it, 0")

    # Without a terminal: input from stdin, EOF ends it.
    s = Session(plugin, py.id, ["elide-repl", "-q"], False)
    s.send(b"print(6*7)\n")
    s.close_stdin()
    check(s.wait(20) and b"42\n" in s.stdout and s.exit_code == 0,
          "python REPL without a tty (%r %d)" % (s.stdout, s.exit_code))

    # ExecTask can run it too (a script check could).
    e = rpc_error(lambda: exec_task(plugin, nrepl.id, ["elide-repl"]))
    check(e and e[0] == "FAILED_PRECONDITION" and "the minor0 backend has no REPL" in e[1],
          "a backend without the repl op says so (%s)" % (e,))
    s = Session(plugin, nrepl.id, ["elide-repl"], True)
    s.wait(10)
    check(s.code == "FAILED_PRECONDITION" and "the minor0 backend has no REPL" in s.details,
          "stream: a backend without the repl op says so (%s)" % s.details)


# -- recovery and the end of a task ----------------------------------------
def test_after_recovery(args, root, state_dir, module_dir, tasks, old, daemon=None):
    old.kill9()
    plugin = Plugin(args.plugin, root, old.name + "-recovered")
    try:
        set_config(plugin, state_dir, module_dir, daemon)
        for t, drop_driver_config in tasks:
            h = pb.TaskHandle()
            h.CopyFrom(t.handle)
            if drop_driver_config:  # as after an agent restart
                h.config.msgpack_driver_config = b""
            plugin.drv.RecoverTask(pb.RecoverTaskRequest(handle=h), timeout=30)
        for t, dropped in tasks:
            if t.language != "minor0":  # its `sh -c` adds PWD to its own environ
                test_task_context(plugin, t, "after recovery (%s)" % t.name)
        if daemon:  # the daemon keeps each execution's context itself
            return plugin
        # A handle whose user no longer resolves: exec refuses, saying why.
        t = tasks[0][0]
        ghost = Task.__new__(Task)
        ghost.id = t.id + "-ghost"
        h = pb.TaskHandle()
        h.CopyFrom(t.handle)
        h.config.id = ghost.id
        h.config.user = "no-such-user-zz"
        plugin.drv.RecoverTask(pb.RecoverTaskRequest(handle=h), timeout=30)
        e = rpc_error(lambda: exec_task(plugin, ghost.id, ["/bin/true"]))
        check(e and e[0] == "FAILED_PRECONDITION" and "could not be rebuilt" in e[1],
              "recovered task without a context refuses exec (%s)" % (e,))
        # The ghost shares the first task's monitor: it is left in the table
        # (destroying it would kill that task) and goes with the plugin.
    except Exception:
        plugin.stop()
        raise
    return plugin


def test_exited(plugin, root, tasks):
    t = Task(plugin, root, "python", "pass")
    tasks.append(t)
    plugin.drv.WaitTask(pb.WaitTaskRequest(task_id=t.id), timeout=30)
    e = rpc_error(lambda: exec_task(plugin, t.id, ["/bin/true"]))
    check(e and e[0] == "FAILED_PRECONDITION" and "the task has exited" in e[1],
          "exec into an exited task is refused (%s)" % (e,))


def test_after_daemon_restart(plugin, daemon, py, nobody, js):
    """The daemon rebuilds an execution's context from what it persisted:
    after a kill -9 and after a SIGTERM, exec still runs as the task. A
    daemon that stops mid-exec ends the session and kills its command."""
    pidfile = os.path.join(daemon.root, "shutdown.pid")
    s = Session(plugin, py.id, ["/bin/sh", "-c", "sleep 60 & echo $! > %s; echo $$; wait"
                                % pidfile], False)
    check(s.wait_output(rb"^\d+\n"), "exec open while the daemon stops: started")
    lead = int(s.stdout.split()[0]) if s.stdout.strip() else 0
    bg = int(open(pidfile).read()) if os.path.exists(pidfile) else 0
    daemon.restart(signal.SIGTERM)
    check(s.wait(20) and s.code == "UNAVAILABLE" and "shutting down" in (s.details or ""),
          "exec open while the daemon stops: the call ends UNAVAILABLE (%s %s)"
          % (s.code, s.details))
    check(lead > 0 and bg > 0 and wait_gone([lead, bg], 5),
          "exec open while the daemon stops: its command and child are killed")
    test_task_context(plugin, py, "after a daemon SIGTERM restart")

    daemon.restart(signal.SIGKILL)
    test_task_context(plugin, py, "after a daemon kill -9 restart")
    test_task_context(plugin, nobody, "nobody task after a daemon kill -9 restart")
    test_user(plugin, nobody)
    r = exec_task(plugin, py.id, ["/bin/sh", "-c", "exit 3"])
    check(r.result.exit_code == 3, "after a daemon restart: ExecTask exit 3 (%d)"
          % r.result.exit_code)
    s = Session(plugin, js.id, ["elide-repl"], True)
    check(s.wait_output(rb"> "), "after a daemon restart: js REPL prompt")
    s.send(b"console.log(6*7)\r")
    check(s.wait_output(rb"42\r\n"), "after a daemon restart: js REPL gives 42")
    s.send(b".exit\r")
    check(s.wait(20) and s.exit_code == 0 and s.code == "OK",
          "after a daemon restart: js REPL exits 0")


def module_dir_with(build_module_dir, fixture, root):
    """The built modules plus the 1.0 fixture module (language "minor0",
    runs code with /bin/sh, has no repl op), in a trusted directory."""
    d = os.path.join(root, "modules")
    os.makedirs(d)
    os.chmod(d, 0o755)
    for name in os.listdir(build_module_dir):
        if name.endswith(".so"):
            shutil.copy(os.path.join(build_module_dir, name), d)
    shutil.copy(fixture, d)
    for name in os.listdir(d):
        os.chmod(os.path.join(d, name), 0o755)
    return d


def run_pass(args, root, module_dir, daemon=None):
    """Every check against one plugin (and its recovered successor), for
    local tasks or, with a Daemon, for tasks in the execution daemon."""
    name = "daemon" if daemon else "local"
    state_dir = os.path.join(root, "state-" + name)
    plugin = Plugin(args.plugin, root, "plugin-" + name)
    tasks = []
    try:
        set_config(plugin, state_dir, module_dir, daemon)
        caps = plugin.drv.Capabilities(pb.CapabilitiesRequest(), timeout=30).capabilities
        check(caps.exec, "capabilities: exec = true")
        forever = "import time\nwhile True: time.sleep(1)\n"
        py = Task(plugin, root, "python", forever)
        tasks.append(py)
        nobody = Task(plugin, root, "python", forever, user="nobody")
        tasks.append(nobody)
        js = Task(plugin, root, "js", "setInterval(() => {}, 1000)")
        tasks.append(js)
        nrepl = Task(plugin, root, "minor0", "exec sleep 3600")
        tasks.append(nrepl)
        test_exec_task(plugin, py, root)
        test_task_context(plugin, py, "root task")
        test_task_context(plugin, nobody, "nobody task")
        test_user(plugin, nobody)
        test_conformance_table(plugin, py)
        test_streaming_more(plugin, py, root)
        test_repl(plugin, py, js, nrepl)
        test_exited(plugin, root, tasks)
        plugin = test_after_recovery(args, root, state_dir, module_dir,
                                     [(py, False), (nobody, True), (js, False), (nrepl, False)],
                                     plugin, daemon)
        test_user(plugin, nobody)
        if daemon:
            test_after_daemon_restart(plugin, daemon, py, nobody, js)
    except Exception:
        import traceback
        traceback.print_exc()
        check(False, "no exception")
    finally:
        # Kill and forget every task this test started (through whichever
        # plugin is current; RecoverTask is a no-op for a known task).
        for t in tasks:
            try:
                plugin.drv.RecoverTask(pb.RecoverTaskRequest(handle=t.handle), timeout=30)
                plugin.drv.DestroyTask(pb.DestroyTaskRequest(task_id=t.id, force=True),
                                       timeout=30)
            except Exception as e:  # noqa: BLE001 - cleanup goes on
                print("cleanup of %s: %s" % (t.id, e), file=sys.stderr)
        plugin.stop()


def load_stubs(args, root):
    """Generates the gRPC stubs under root/gen (args: protoc, grpc_plugin,
    proto_dir) and imports them into this module, where Plugin, Task and
    set_config use them; also used by test_plugin_warm.py."""
    gen = os.path.join(root, "gen")
    os.makedirs(gen)
    subprocess.run([args.protoc, "-I", args.proto_dir, "--python_out=" + gen,
                    "--grpc_python_out=" + gen,
                    "--plugin=protoc-gen-grpc_python=" + args.grpc_plugin,
                    "nomad/driver.proto", "nomad/driver_service.proto", "nomad/hcl_spec.proto",
                    "nomad/attribute.proto", "nomad/base.proto",
                    "elide/daemon/v1alpha1/execution_api.proto"], check=True)
    sys.path.insert(0, gen)
    global pb, pb_grpc, base_pb, base_grpc
    from nomad import driver_pb2 as pb
    from nomad import driver_service_pb2_grpc as pb_grpc
    from nomad import base_pb2 as base_pb
    from nomad import base_pb2_grpc as base_grpc


def main():
    ap = argparse.ArgumentParser()
    for opt in ("--plugin", "--module-dir", "--fixture-module", "--proto-dir", "--protoc",
                "--grpc-plugin"):
        ap.add_argument(opt, required=True)
    ap.add_argument("--daemon", help="elide-execd: also run every check in daemon mode")
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="elide-exec-")
    os.chmod(root, 0o755)
    load_stubs(args, root)
    module_dir = module_dir_with(args.module_dir, args.fixture_module, root)
    run_pass(args, root, module_dir)
    if args.daemon:
        check.label = "daemon: "
        daemon = None
        try:
            daemon = Daemon(args.daemon, root, module_dir)
            run_pass(args, root, module_dir, daemon)
        except Exception:
            import traceback
            traceback.print_exc()
            check(False, "no exception")
        finally:
            if daemon and daemon.proc:
                daemon.stop()
    if check.failures:
        print("plugin logs in " + root, file=sys.stderr)
    else:
        shutil.rmtree(root, ignore_errors=True)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
