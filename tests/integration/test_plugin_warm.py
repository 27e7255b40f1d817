#!/usr/bin/python3
"""Warm starts (abi/warm-starts.md) against the real plugin binary over
gRPC, with two plugins side by side: one with the python backend's default
warm pool, one with `python.warm_pool=0` (every start cold).

- Indistinguishable: the same tasks, in the same task directory, with
  stdout/stderr on FIFOs read as logmon reads them, run cold and warm; a
  probe prints what a task can see of itself (environment and its order,
  /proc/self/environ and cmdline, cwd, argv, sys.orig_argv, sys.path,
  __main__'s globals, the stdio objects, signal dispositions and masks,
  credentials, session and process group, umask, rlimits, open fds, stdin,
  the modules loaded) and the two outputs must be equal, as root and as
  nobody, for inline code and for a script with arguments. Exit codes and
  stderr must be equal too: sys.exit(n), sys.exit("text"), an uncaught
  exception (its traceback), an uncaught KeyboardInterrupt (death by SIGINT
  after atexit ran), StopTask's SIGTERM, SignalTask's SIGUSR1 to a handler.
- The task says how it started (InspectTask's start/start_note): warm in
  the warm plugin; cold in the cold one; cold with the copy's reason when
  the environment sets PYTHONPATH (which a started interpreter has already
  read).
- The pool refills: after tasks took copies, after an idle copy is killed,
  after its monitor is killed, and after the zygote itself is killed.

Usage: test_plugin_warm.py --plugin BIN --module-dir DIR --proto-dir DIR
                           --protoc PROTOC --grpc-plugin PLUGIN
"""
import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_plugin_exec as tpe  # noqa: E402
from exec_test_util import check, ppid_in_stat, running  # noqa: E402

POOL_SIZE = 2
STARTUP_VARS = ("LANG", "LC_ALL", "LC_CTYPE", "SETUPTOOLS_USE_DISTUTILS")


def have_cap(bit):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> bit & 1)
    return False


# A copy shows the task's argv and environment in /proc/<pid>/cmdline and
# environ only where PR_SET_MM is allowed (CAP_SYS_RESOURCE, which root
# normally has and some sandboxes drop); elsewhere they show the zygote's,
# and those two are not compared.
HAVE_SYS_RESOURCE = have_cap(24)

# What a task can see of itself, as JSON on stdout. Its own pid, its
# monitor's and addresses are replaced, they differ between any two runs.
PROBE = r'''
import os, sys
mods = sorted(sys.modules)
import json, resource, signal
me, parent = os.getpid(), os.getppid()
def norm(v):
    return str(v).replace(str(me), "<pid>").replace(str(parent), "<ppid>")
def masks():
    with open("/proc/self/status") as f:
        return {k: v.strip() for k, v in (l.split(":", 1) for l in f)
                if k in ("SigBlk", "SigIgn", "SigCgt", "CapEff", "CapPrm", "CapBnd", "NoNewPrivs",
                         "Seccomp", "Umask")}
def stdio(s):
    return {"fileno": s.fileno(), "isatty": s.isatty(), "seekable": s.buffer.seekable(),
            "line_buffering": s.line_buffering, "write_through": s.write_through,
            "encoding": s.encoding, "errors": s.errors, "name": s.name, "mode": s.mode,
            "raw_name": getattr(s.buffer, "raw", s.buffer).name}
def fds():
    out = []
    for fd in sorted(int(x) for x in os.listdir("/proc/self/fd")):
        try:
            out.append((fd, os.readlink("/proc/self/fd/%d" % fd)))
        except OSError:
            pass  # the listing's own descriptor
    return out
g = {k: norm(type(v).__name__ if k == "__builtins__" else repr(v)).split(" object at ")[0]
     for k, v in dict(globals()).items() if k not in ("os", "sys", "mods", "json", "resource",
     "signal", "me", "parent", "norm", "masks", "stdio", "fds")}
with open("/proc/self/environ", "rb") as f:
    penv = f.read().decode(errors="replace").split("\0")
with open("/proc/self/cmdline", "rb") as f:
    cmdline = f.read().decode(errors="replace").split("\0")
st = os.fstat(0)
print(json.dumps({
    "environ": list(os.environ.items()), "proc_environ": penv, "cmdline": cmdline,
    "cwd": os.getcwd(), "argv": sys.argv, "orig_argv": sys.orig_argv, "path": sys.path,
    "executable": sys.executable, "flags": str(sys.flags), "main": g,
    "stdin": stdio(sys.stdin), "stdout": stdio(sys.stdout), "stderr": stdio(sys.stderr),
    "stdin_data": sys.stdin.read(), "stdin_kind": [oct(st.st_mode >> 12), st.st_rdev],
    "signals": {n: norm(signal.getsignal(n)) for n in sorted(signal.valid_signals())
                if n not in (signal.SIGKILL, signal.SIGSTOP)},
    "status": masks(), "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid(),
                               sorted(os.getgroups())],
    "pgid_is_pid": os.getpgid(0) == me, "sid_is_ppid": os.getsid(0) == parent,
    "rlimits": {n: resource.getrlimit(getattr(resource, n)) for n in dir(resource)
                if n.startswith("RLIMIT_")},
    "fds": [(fd, norm(t)) for fd, t in fds()], "modules": mods,
    "file": g.get("__file__"), "name": __name__,
}, sort_keys=True))
'''

EXITS = [
    ("exit 7", "import sys; sys.exit(7)", 7, 0),
    ("exit text", "import sys; sys.exit('bye now')", 1, 0),
    ("uncaught exception", "def f():\n    raise ValueError('boom')\nf()", 1, 0),
    ("KeyboardInterrupt", "import atexit, os, signal, time\n"
     "atexit.register(lambda: print('atexit ran', flush=True))\n"
     "os.kill(os.getpid(), signal.SIGINT)\ntime.sleep(5)", 130, 2),
    ("print and return", "print('plain')", 0, 0),
    # What the interpreter's finalization does for the task's own objects
    # (the zygote's start-up objects are frozen, the task's are not): a
    # garbage cycle's __del__, a weakref.finalize, a file never closed whose
    # buffer is flushed when it is destroyed.
    ("finalizers at exit", "import gc, sys, weakref\n"
     "class Node:\n"
     "    def __del__(self):\n"
     "        print('cycle collected', flush=True)\n"
     "n = Node(); n.me = n; del n\n"
     "class Box: pass\n"
     "b = Box(); weakref.finalize(b, print, 'finalize ran', flush=True)\n"
     "f = open('/dev/stdout', 'w'); f.write('unclosed file flushed\\n')\n", 0, 0),
]


class FifoTask:
    """A python task through StartTask, its stdout/stderr on FIFOs opened
    for reading first (as Nomad's logmon does), in a directory the caller
    names, so that a cold and a warm run see the same paths."""

    def __init__(self, plugin, alloc_dir, code=None, script=None, args=None, env=None, user=""):
        self.plugin = plugin
        if os.path.exists(alloc_dir):
            shutil.rmtree(alloc_dir)
        self.dir = os.path.join(alloc_dir, "t")
        os.makedirs(os.path.join(self.dir, "local"))
        for d in (alloc_dir, self.dir, os.path.join(self.dir, "local")):
            os.chmod(d, 0o755)
        if script:
            with open(os.path.join(self.dir, "local", "probe.py"), "w") as f:
                f.write(script)
        self.fifos = {}
        for name in ("stdout", "stderr"):
            path = os.path.join(alloc_dir, name + ".fifo")
            os.mkfifo(path, 0o666)
            os.chmod(path, 0o666)
            self.fifos[name] = (path, os.open(path, os.O_RDONLY | os.O_NONBLOCK))
        self.id = "warm-%s" % os.path.basename(alloc_dir)
        base_env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "NOMAD_TASK_DIR":
                    os.path.join(self.dir, "local"), "ELIDE_WARM_TEST": "x y"}
        base_env.update(env or {})
        cfg = tpe.mp({"args": args, "code": code, "language": "python",
                      "script": "local/probe.py" if script else None})
        self.config = tpe.pb.TaskConfig(
            id=self.id, name="t", alloc_id=os.path.basename(alloc_dir), alloc_dir=alloc_dir,
            env=base_env, user=user, msgpack_driver_config=cfg,
            stdout_path=self.fifos["stdout"][0], stderr_path=self.fifos["stderr"][0])
        plugin.drv.StartTask(tpe.pb.StartTaskRequest(task=self.config), timeout=30)
        self.output = {"stdout": b"", "stderr": b""}

    def attrs(self):
        rep = self.plugin.drv.InspectTask(tpe.pb.InspectTaskRequest(task_id=self.id), timeout=30)
        return dict(rep.driver.attributes)

    def drain(self):
        for name, (_, fd) in self.fifos.items():
            while True:
                try:
                    b = os.read(fd, 65536)
                except BlockingIOError:
                    break
                if not b:
                    break
                self.output[name] += b

    def wait(self, timeout=30):
        """(exit_code, signal); the output read meanwhile (a FIFO holds
        64 KiB, more than any of these tasks writes)."""
        rep = self.plugin.drv.WaitTask(tpe.pb.WaitTaskRequest(task_id=self.id), timeout=timeout)
        self.drain()
        return rep.result.exit_code, rep.result.signal

    def destroy(self):
        self.plugin.drv.DestroyTask(tpe.pb.DestroyTaskRequest(task_id=self.id, force=True),
                                    timeout=30)
        for _, fd in self.fifos.values():
            os.close(fd)


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def children(ppid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d, "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            if ppid_in_stat(stat) == ppid and running(int(d)):
                out.append(int(d))
    return out


def zygote_of(plugin):
    """The plugin's python child that serves as the zygote, or 0."""
    for pid in children(plugin.proc.pid):
        argv = cmdline(pid)
        if len(argv) > 2 and argv[1] == b"-c" and b"elide-warm" in argv[2]:
            return pid
    return 0


def idle_copies(zygote):
    """{monitor pid: copy pid} of the zygote's warm monitors."""
    out = {}
    for mon in children(zygote) if zygote else []:
        argv = cmdline(mon)
        if b"--warm" in argv:
            kids = children(mon)
            out[mon] = kids[0] if kids else 0
    return out


def wait_pool(plugin, want, timeout=20, exclude=()):
    """Waits until the pool has `want` copies, none of them in `exclude`;
    (zygote pid, {monitor: copy})."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        z = zygote_of(plugin)
        copies = idle_copies(z)
        if len(copies) == want and all(copies.values()) and not set(copies) & set(exclude):
            return z, copies
        time.sleep(0.05)
    z = zygote_of(plugin)
    return z, idle_copies(z)


def run_pair(warm, cold, root, label, **kw):
    """The same task cold then warm in the same directory; both results."""
    results = []
    for plugin in (cold, warm):
        t = FifoTask(plugin, os.path.join(root, "pair"), **kw)
        attrs = t.attrs()
        status = t.wait()
        t.destroy()
        results.append((status, t.output, attrs))
        if plugin is warm:
            wait_pool(warm, POOL_SIZE)  # the next task finds a copy ready
    (cs, co, ca), (ws, wo, wa) = results
    check(ca.get("start") == "cold", label + ": the cold plugin starts cold (%s)" % ca)
    check(wa.get("start") == "warm", label + ": the warm plugin starts warm (%s)" % wa)
    return (cs, co), (ws, wo)


def compare_probe(cold, warm, label):
    (cs, co), (ws, wo) = cold, warm
    check(cs == ws == (0, 0), label + ": both exit 0 (%s, %s)" % (cs, ws))
    check(co["stderr"] == wo["stderr"] == b"", label + ": nothing on stderr (%r, %r)"
          % (co["stderr"][-300:], wo["stderr"][-300:]))
    try:
        c, w = json.loads(co["stdout"]), json.loads(wo["stdout"])
    except ValueError:
        check(False, label + ": probe output is JSON (%r / %r)" % (co["stdout"][:200],
                                                                    wo["stdout"][:200]))
        return
    # The environment's order is the order of the TaskConfig map on the
    # wire, which the client does not fix: two cold runs differ too.
    for d in (c, w):
        d["environ"] = sorted(map(tuple, d["environ"]))
    for key in sorted(c):
        if key in ("cmdline", "proc_environ") and not HAVE_SYS_RESOURCE:
            continue  # see HAVE_SYS_RESOURCE
        check(c[key] == w.get(key), "%s: %s is the same warm and cold\n  cold: %s\n  warm: %s"
              % (label, key, c[key], w.get(key)))


def test_fidelity(warm, cold, root):
    for user in ("", "nobody"):
        who = user or "root"
        compare_probe(*run_pair(warm, cold, root, "code as " + who, code=PROBE, user=user),
                      "code as " + who)
        compare_probe(*run_pair(warm, cold, root, "script as " + who, script=PROBE,
                                args=["one", "two words"], user=user), "script as " + who)
    for label, code, want_code, want_sig in EXITS:
        (cs, co), (ws, wo) = run_pair(warm, cold, root, label, code=code)
        check(cs == ws == (want_code, want_sig), "%s: exit %s cold, %s warm, want %s"
              % (label, cs, ws, (want_code, want_sig)))
        check(co == wo, "%s: the same output cold and warm\n  cold: %r\n  warm: %r"
              % (label, co, wo))


def test_signals(warm, cold, root):
    """StopTask's SIGTERM (default action) and SignalTask's SIGUSR1 to a
    handler the task installed: the same outcome both ways."""
    from google.protobuf import duration_pb2
    code = ("import signal, sys, time\n"
            "signal.signal(signal.SIGUSR1, lambda *a: print('usr1', flush=True))\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n")
    outcomes = []
    for plugin in (cold, warm):
        t = FifoTask(plugin, os.path.join(root, "sig"), code=code)
        deadline = time.time() + 15
        while b"ready" not in t.output["stdout"] and time.time() < deadline:
            t.drain()
            time.sleep(0.02)
        plugin.drv.SignalTask(tpe.pb.SignalTaskRequest(task_id=t.id, signal="SIGUSR1"),
                              timeout=30)
        while b"usr1" not in t.output["stdout"] and time.time() < deadline:
            t.drain()
            time.sleep(0.02)
        plugin.drv.StopTask(tpe.pb.StopTaskRequest(
            task_id=t.id, signal="SIGTERM", timeout=duration_pb2.Duration(seconds=5)), timeout=30)
        status = t.wait()
        attrs = t.attrs()
        t.destroy()
        outcomes.append((status, t.output["stdout"], attrs.get("start")))
        if plugin is warm:
            wait_pool(warm, POOL_SIZE)
    check(outcomes[0][:2] == outcomes[1][:2] == ((143, 15), b"ready\nusr1\n"),
          "signals: SIGUSR1 handled, SIGTERM kills, the same both ways (%s)" % outcomes)
    check(outcomes[1][2] == "warm", "signals: the warm plugin's task was warm")


def test_refused(warm, root):
    """PYTHONPATH set by the job: the copy refuses, the monitor starts the
    task cold, and the task and its attributes say so."""
    t = FifoTask(warm, os.path.join(root, "refused"),
                 code="import os, sys; print(os.environ['PYTHONPATH'], sys.path[1])",
                 env={"PYTHONPATH": "/opt/elide-warm-test"})
    attrs = t.attrs()
    status = t.wait()
    t.destroy()
    check(attrs.get("start") == "cold" and "PYTHONPATH" in attrs.get("start_note", ""),
          "PYTHONPATH: cold, and the note names it (%s)" % attrs)
    check(status == (0, 0) and t.output["stdout"] == b"/opt/elide-warm-test /opt/elide-warm-test\n",
          "PYTHONPATH: the cold start honoured it (%s, %r)" % (status, t.output))


def test_refill(warm, root):
    z, copies = wait_pool(warm, POOL_SIZE)
    check(z > 0 and len(copies) == POOL_SIZE, "a zygote with %d ready copies (%d: %s)"
          % (POOL_SIZE, z, copies))
    # Use: three tasks take copies; the pool is full again with new ones.
    before = set(copies)
    for i in range(3):
        t = FifoTask(warm, os.path.join(root, "use"), code="print('used')")
        attrs = t.attrs()
        t.wait()
        t.destroy()
        check(attrs.get("start") == "warm", "use %d: warm" % i)
        wait_pool(warm, POOL_SIZE)
    z2, copies = wait_pool(warm, POOL_SIZE, exclude=before)
    check(z2 == z and len(copies) == POOL_SIZE and not set(copies) & before,
          "after use: %d fresh copies from the same zygote (%s)" % (POOL_SIZE, copies))
    # An idle copy killed: its monitor goes, a new copy replaces it.
    mon, copy = sorted(copies.items())[0]
    os.kill(copy, signal.SIGKILL)
    z3, after = wait_pool(warm, POOL_SIZE, exclude=(mon,))
    check(mon not in after and len(after) == POOL_SIZE,
          "an idle copy killed: replaced (%s -> %s)" % (copies, after))
    # An idle monitor killed: its copy goes with it, and is replaced.
    mon, copy = sorted(after.items())[0]
    os.kill(mon, signal.SIGKILL)
    deadline = time.time() + 10
    while running(copy) and time.time() < deadline:
        time.sleep(0.05)
    check(not running(copy), "an idle monitor killed: its copy exits too")
    _, again = wait_pool(warm, POOL_SIZE, exclude=(mon,))
    check(mon not in again and len(again) == POOL_SIZE, "an idle monitor killed: replaced")
    # The zygote killed: a new one. The copies it forked before stay ready
    # (they no longer need it); once tasks have used them, the new zygote
    # forks their replacements.
    os.kill(z, signal.SIGKILL)
    deadline = time.time() + 20
    z4 = z
    while time.time() < deadline and (z4 == z or not z4):
        z4 = zygote_of(warm)
        time.sleep(0.05)
    check(z4 and z4 != z, "the zygote killed: a new zygote (%s, was %s)" % (z4, z))
    for i in range(POOL_SIZE):
        t = FifoTask(warm, os.path.join(root, "old-copies"), code="print('old copy')")
        attrs = t.attrs()
        t.wait()
        t.destroy()
        check(attrs.get("start") == "warm", "after the zygote's death, old copy %d: warm" % i)
    z5, last = wait_pool(warm, POOL_SIZE, timeout=30)
    check(z5 == z4 and len(last) == POOL_SIZE,
          "the new zygote forked %d copies (%s)" % (POOL_SIZE, last))
    t = FifoTask(warm, os.path.join(root, "after-zygote"), code="print('again')")
    attrs = t.attrs()
    status = t.wait()
    t.destroy()
    check(attrs.get("start") == "warm" and status == (0, 0) and t.output["stdout"] == b"again\n",
          "a task after the zygote's restart runs warm (%s %s %r)" % (attrs, status, t.output))


def main():
    ap = argparse.ArgumentParser()
    for opt in ("--plugin", "--module-dir", "--proto-dir", "--protoc", "--grpc-plugin"):
        ap.add_argument(opt, required=True)
    args = ap.parse_args()
    # The zygote takes the plugin's start-up variables (LANG, PYTHON*, ...),
    # as Nomad passes the agent's on to its tasks; these tasks get none, so
    # neither does the plugin.
    for name in [n for n in os.environ if n.startswith("PYTHON") or n in STARTUP_VARS]:
        del os.environ[name]
    root = tempfile.mkdtemp(prefix="elide-warm-")
    os.chmod(root, 0o755)
    tpe.load_stubs(args, root)
    warm = tpe.Plugin(args.plugin, root, "warm")
    cold = tpe.Plugin(args.plugin, root, "cold")
    try:
        for plugin, options in ((warm, ["python.warm_pool=%d" % POOL_SIZE]),
                                (cold, ["python.warm_pool=0"])):
            config = {"module_dir": args.module_dir, "module_options": options,
                      "state_dir": os.path.join(root, plugin.name + "-state")}
            plugin.base.SetConfig(tpe.base_pb.SetConfigRequest(msgpack_config=tpe.mp(config)),
                                  timeout=30)
        wait_pool(warm, POOL_SIZE, timeout=30)
        check(zygote_of(cold) == 0, "warm_pool=0: no zygote")
        test_fidelity(warm, cold, root)
        test_signals(warm, cold, root)
        test_refused(warm, root)
        test_refill(warm, root)
    except Exception:
        import traceback
        traceback.print_exc()
        check(False, "no exception")
    finally:
        z = zygote_of(warm)
        copies = idle_copies(z)
        warm.stop()
        cold.stop()
        gone = time.time() + 10
        while time.time() < gone and (running(z) or any(running(p) for kv in copies.items()
                                                           for p in kv)):
            time.sleep(0.05)
        check(not running(z) and not any(running(p) for kv in copies.items() for p in kv),
              "the plugin's SIGTERM ends its zygote and idle copies")
    if check.failures:
        print("plugin logs in " + root, file=sys.stderr)
    else:
        shutil.rmtree(root, ignore_errors=True)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
