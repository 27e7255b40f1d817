"""What the Python integration tests of exec share (test_plugin_exec.py,
test_execd_exec.py): the check counter, an interactive exec call as a
client sees it, and the processes they look at through /proc."""
import os
import queue
import re
import sys
import threading
import time


class Checks:
    """Counts checks; a failed one is printed at once with the label of the
    current pass."""

    def __init__(self):
        self.passed = 0
        self.failures = []
        self.label = ""

    def __call__(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failures.append(self.label + what)
            print("FAIL:", self.label + what, file=sys.stderr)
        return cond

    def summary(self):
        """Prints "N passed, N failed"; the exit status."""
        print("%d passed, %d failed" % (self.passed, len(self.failures)))
        return 1 if self.failures else 0


check = Checks()


def running(pid):
    """True while pid is a process that is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def wait_gone(pids, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not [p for p in pids if p > 0 and running(p)]:
            return True
        time.sleep(0.05)
    return False


def ppid_in_stat(stat):
    """The parent pid in the text of /proc/<pid>/stat (bytes), 0 if none."""
    return int(stat.rsplit(b") ", 1)[1].split()[1]) if b") " in stat else 0


def pid_by_cwd(directory, skip=("elide-monitor", "elide-relay"), timeout=10):
    """The oldest process working in `directory` whose program is not one of
    `skip` (a task run by the daemon, whose pid the plugin does not know,
    once it has exec'd its runtime); waits up to `timeout` s for it."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for name in sorted((n for n in os.listdir("/proc") if n.isdigit()), key=int):
            try:
                if os.readlink("/proc/%s/cwd" % name) == directory and \
                        os.path.basename(os.readlink("/proc/%s/exe" % name)) not in skip:
                    return int(name)
            except OSError:
                continue
        time.sleep(0.05)
    raise RuntimeError("no process works in %s" % directory)


class ExecCall:
    """One interactive exec call (Nomad's ExecTaskStreaming or the daemon's
    ExecInExecution): requests from a queue that never ends on its own (as
    Nomad's client, which never half-closes), responses read by a thread
    (unless `reader` is False: the test then reads `call` itself) and handed
    to the subclass's take(m), which reports them with output(), closed()
    and exited(). `events` is the order they came in: ("stdout"|"stderr",
    data), ("close", "stdout"|"stderr"), ("exit", code)."""

    def __init__(self, method, first, timeout=60, reader=True):
        self.q = queue.Queue()
        self.q.put(first)
        self.out = {"stdout": bytearray(), "stderr": bytearray()}
        self.events = []
        self.exit_code = -2  # Nomad's helper's value when no exit came
        self.signal = None
        self.code = self.details = None
        self.mu = threading.Condition()
        self.done = False
        self.call = method(self._requests(), timeout=timeout)
        if reader:
            self.reader = threading.Thread(target=self.read_all, daemon=True)
            self.reader.start()

    def _requests(self):
        while True:
            item = self.q.get()
            if item is None:
                return
            yield item

    def output(self, stream, data):
        with self.mu:
            self.out[stream] += data
            self.events.append((stream, bytes(data)))
            self.mu.notify_all()

    def closed(self, stream):
        with self.mu:
            self.events.append(("close", stream))

    def exited(self, code, sig):
        with self.mu:
            self.exit_code, self.signal = code, sig
            self.events.append(("exit", code))

    def read_all(self):
        """Reads every response, then the status into code and details."""
        import grpc
        try:
            for m in self.call:
                self.take(m)
            self.code, self.details = "OK", ""
        except grpc.RpcError as e:
            self.code, self.details = e.code().name, e.details()
        with self.mu:
            self.done = True
            self.mu.notify_all()
        self.q.put(None)  # let the request generator end

    @property
    def stdout(self):
        return bytes(self.out["stdout"])

    @property
    def stderr(self):
        return bytes(self.out["stderr"])

    def wait_output(self, pattern, timeout=15):
        """Waits until stdout matches the regex `pattern` (bytes)."""
        deadline = time.time() + timeout
        with self.mu:
            while not re.search(pattern, self.out["stdout"]) and not self.done:
                left = deadline - time.time()
                if left <= 0:
                    break
                self.mu.wait(left)
            return re.search(pattern, self.out["stdout"]) is not None

    def wait(self, timeout=40):
        self.reader.join(timeout)
        return not self.reader.is_alive()

    def cancel(self):
        self.call.cancel()


def check_wire(s, label, tty):
    """Exit message last, close markers before it, status OK."""
    check(s.code == "OK", "%s: the call ends with OK (%s %s)" % (label, s.code, s.details))
    check(bool(s.events) and s.events[-1][0] == "exit", "%s: the exit message comes last" % label)
    closes = [e[1] for e in s.events if e[0] == "close"]
    want = ["stdout"] if tty else ["stdout", "stderr"]
    check(sorted(closes) == sorted(want), "%s: close markers %s (got %s)" % (label, want, closes))
    exit_at = len(s.events) - 1
    data_after_close = [e for i, e in enumerate(s.events)
                        if e[0] in ("stdout", "stderr") and ("close", e[0]) in s.events[:i]]
    check(not data_after_close and all(e[0] != "exit" for e in s.events[:exit_at]),
          "%s: no data after its stream's close marker, one exit message" % label)
