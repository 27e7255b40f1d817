# warm_python.py: the bootstrap of a python warm pool (nomad-driver-elide).
#
# The host starts `<runtime> -c LOADER NAME...` with only the start-up
# variables NAME... in its environment (the module's copy of the host's
# LANG, LC_*, PYTHON*, as Nomad passes them on to tasks), cwd "/",
# this file on fd 0 and a SOCK_SEQPACKET control socket on fd 3; LOADER execs
# this file in a namespace of its own (__name__ == '__elide_warm__'), so
# __main__ stays exactly as a cold `python3 -c` leaves it. The wire protocol
# between host, zygote, monitor and copy is abi/warm-starts.md. One file,
# three processes:
#   zygote  the pool process: initialised once, it forks one copy per "fork"
#           request on its control socket.
#   X       the zygote's child: makes a session, forks Y, and execs
#           `elide-monitor --warm <Y>`, so that the monitor is Y's parent as
#           a cold monitor is its task's.
#   Y       the copy: idle until its monitor hands it a task, it then becomes
#           the task as `execve(runtime, [runtime, script|-c code, args...],
#           envp)` would have started it, or refuses (the task starts cold).
#
# A copy runs the task's code through the interpreter's own C entry points
# (PyRun_SimpleStringFlags for -c, PyRun_AnyFileExFlags for a script, the
# calls python's main makes), so __main__ set-up, .pyc handling, error
# printing, sys.last_*, SystemExit and KeyboardInterrupt behave as in a cold
# start, and tracebacks start at the task's code.
#
# What a copy cannot make identical to a cold start:
#   - the hash seed: str and bytes hashes are seeded once, when the zygote's
#     interpreter starts, so every copy of a pool shares it (a set's
#     iteration order repeats across tasks of one pool);
#   - two frames below the task's module frame (LOADER's and this file's),
#     seen only by stack introspection (sys._getframe, traceback.print_stack),
#     and four levels less recursion depth (994 calls instead of 998 under
#     the default limit of 1000);
#   - /proc/self/cmdline and /proc/self/environ show the zygote's unless the
#     pool runs with CAP_SYS_RESOURCE (see _show_in_proc);
#   - the objects of the zygote's start-up are frozen (gc.freeze, see
#     _main): gc.get_freeze_count() is not 0 and gc.get_objects() does not
#     list them; the task's own objects are collected as in a cold start.
#
# Nothing here may import a module that seeds state at import (random,
# tempfile, uuid, ...): that state would be shared by every copy.
import sys

# What a cold start has loaded and cached, taken before this file imports
# anything of its own (see _forget_bootstrap).
_COLD_MODULES = frozenset(sys.modules)
_COLD_IMPORTERS = frozenset(sys.path_importer_cache)

import gc
import io
import os
import site
import time
import _signal
import _socket

_CONTROL_FD = 3      # the zygote's socket to the host

try:
    import ctypes
except ImportError as e:
    _socket.socket(fileno=_CONTROL_FD).send(b'unusable no ctypes: ' + str(e).encode())
    os._exit(1)

# The start-up variables the host gave the zygote, by the names LOADER's
# arguments list; the rest of its os.environ was added by the interpreter at
# start-up (LC_CTYPE=C.UTF-8, PEP 538's coercion of the C locale), which a
# cold start of a task adds the same way.
_GIVEN_ENV = {name: os.environb[name] for name in map(os.fsencode, sys.argv[1:])
              if name in os.environb}
_STARTUP_ENV = {name: value for name, value in os.environ.items()
                if os.fsencode(name) not in _GIVEN_ENV}

_SLOT_FD = 3         # in the monitor: its socket to the host (MON_SPEC_FD)
_COPY_FD = 4         # in the monitor: its socket to Y (MON_WARM_FD)
_FD_LIMIT = 2 ** 31 - 1
_REQUEST_MAX = 4096 + 64
_INT_SIZE = 4

_HANDOFF_MAGIC = b'ELH1'
_REASON_MAX = 150    # the monitor keeps about this much of a refusal

# Variables that change how the interpreter starts, compared with the
# zygote's (_GIVEN_ENV); a task whose values differ starts cold. PYTHON* and
# the locale ones are CPython's; SETUPTOOLS_USE_DISTUTILS is read at start-up
# by setuptools' distutils-precedence.pth (it decides sys.meta_path).
_STARTUP_VARS = (b'LANG', b'LC_ALL', b'LC_CTYPE', b'SETUPTOOLS_USE_DISTUTILS')
_STARTUP_PREFIX = b'PYTHON'

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_MM = 35
_PR_SET_MM_ARG_START = 8
_PR_SET_MM_ARG_END = 9
_PR_SET_MM_ENV_START = 10
_PR_SET_MM_ENV_END = 11
_PY_CF_IGNORE_COOKIE = 0x0800
_STAT_ARG_START = 48  # its field number in /proc/<pid>/stat (proc(5))


class _Refusal(Exception):
    """Why a copy does not take a task; the monitor then starts it cold."""


class _CompilerFlags(ctypes.Structure):
    """CPython's PyCompilerFlags."""
    _fields_ = [('cf_flags', ctypes.c_int), ('cf_feature_version', ctypes.c_int)]


class _Native:
    """The C functions a copy needs, looked up once in the zygote."""

    def __init__(self):
        libc = ctypes.CDLL(None, use_errno=True)
        self.prctl = libc.prctl
        self.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
        self.malloc = libc.malloc
        self.malloc.argtypes = [ctypes.c_size_t]
        self.malloc.restype = ctypes.c_void_p
        self.fopen = libc.fopen
        self.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        self.fopen.restype = ctypes.c_void_p
        self.fileno = libc.fileno
        self.fileno.argtypes = [ctypes.c_void_p]
        flags = ctypes.POINTER(_CompilerFlags)
        # pythonapi calls hold the GIL, as python's main does around them.
        self.run_string = ctypes.pythonapi.PyRun_SimpleStringFlags
        self.run_string.argtypes = [ctypes.c_char_p, flags]
        self.run_file = ctypes.pythonapi.PyRun_AnyFileExFlags
        self.run_file.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, flags]
        self.can_set_mm = self._can_set_mm()

    def _can_set_mm(self):
        """Whether PR_SET_MM is allowed (CAP_SYS_RESOURCE): setting the
        argument area's start to its current value changes nothing."""
        with open('/proc/self/stat', 'rb') as f:
            fields = f.read().rpartition(b')')[2].split()
        arg_start = int(fields[_STAT_ARG_START - 3])
        return self.prctl(_PR_SET_MM, _PR_SET_MM_ARG_START, arg_start, 0, 0) == 0

    def prctl_or_raise(self, what, option, arg):
        if self.prctl(option, arg, 0, 0, 0) != 0:
            raise _Refusal('cannot set %s: %s' % (what, os.strerror(ctypes.get_errno())))


def _send(sock, message):
    """Sends one message; a peer that is gone ends this process."""
    try:
        sock.send(message)
    except OSError:
        os._exit(0)


def _received_fds(ancdata):
    fds = []
    for level, kind, data in ancdata:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.extend(memoryview(data[:len(data) - len(data) % _INT_SIZE]).cast('i'))
    return fds


# ---------------------------------------------------------------------------
# The zygote

def _unusable_reason():
    """Why this interpreter cannot serve warm starts, or None."""
    if sys.orig_argv[1:2] != ['-c']:
        return 'not started as `python3 -c LOADER`'
    # Its own user site (its user's, found without HOME) would be on every
    # copy's sys.path, where a task's cold start would have its task user's.
    if site.ENABLE_USER_SITE and os.path.isdir(site.USER_SITE):
        return 'a user site-packages directory is on sys.path: %s' % site.USER_SITE
    return None


def _forget_bootstrap():
    """Drops from sys.modules and sys.path_importer_cache what this file's
    imports added, once, in the zygote (which imports nothing afterwards):
    the modules stay alive for this file, a task's imports load fresh ones."""
    for name in [n for n in sys.modules if n not in _COLD_MODULES]:
        del sys.modules[name]
    for path in [p for p in sys.path_importer_cache if p not in _COLD_IMPORTERS]:
        del sys.path_importer_cache[path]


def _next_request(control):
    """Waits for "fork\\0<monitor path>" with one fd; returns (fd, path).
    Exits on EOF: the host stopped the pool or is gone."""
    while True:
        message, ancdata, flags, _ = control.recvmsg(
            _REQUEST_MAX, _socket.CMSG_SPACE(_INT_SIZE), _socket.MSG_CMSG_CLOEXEC)
        fds = _received_fds(ancdata)
        if not message and not fds:
            os._exit(0)
        command, _, monitor = message.partition(b'\0')
        if (command == b'fork' and monitor.startswith(b'/') and len(fds) == 1
                and not flags & (_socket.MSG_TRUNC | _socket.MSG_CTRUNC)):
            return fds[0], monitor
        for fd in fds:
            os.close(fd)
        _send(control, b'error malformed request')


def _fork_copy(control, slot, monitor):
    """Runs in X, the zygote's child: becomes the copy's monitor. Returns
    only in Y, with Y's end of the handoff socket and the monitor's pid."""
    try:
        control_fd = control.detach()
        os.setsid()
        _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
        to_copy_side, copy_side = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        monitor_pid = os.getpid()
        copy_pid = os.fork()
        if copy_pid == 0:
            os.close(control_fd)
            os.close(slot)
            to_copy_side.close()
            return copy_side, monitor_pid
        # Every fd is above 3 here (0-3 were open when they were made), so
        # the slot can take 3 and the copy's socket 4 without clobbering.
        os.dup2(slot, _SLOT_FD)
        os.dup2(to_copy_side.fileno(), _COPY_FD)
        os.set_inheritable(_COPY_FD, True)  # dup2 onto itself keeps FD_CLOEXEC
        os.closerange(_COPY_FD + 1, _FD_LIMIT)
        os.execve(monitor, [b'elide-monitor', b'--warm', b'%d' % copy_pid], {})
    except BaseException:
        pass
    # The host sees EOF on the slot; Y sees EOF on its socket and exits.
    os._exit(127)


def _serve(control, native):
    """The zygote's loop. Returns only in a copy that took a task: the C
    function that runs it and its arguments."""
    # Forked children (X) are reaped by the kernel.
    _signal.signal(_signal.SIGCHLD, _signal.SIG_IGN)
    while True:
        slot, monitor = _next_request(control)
        try:
            pid = os.fork()
        except OSError as e:
            os.close(slot)
            _send(control, b'error cannot fork: ' + os.strerror(e.errno).encode())
            continue
        if pid == 0:
            copy_side, monitor_pid = _fork_copy(control, slot, monitor)
            return _take_task(copy_side, monitor_pid, native)
        os.close(slot)


# ---------------------------------------------------------------------------
# A copy (Y)

class _Handoff:
    """The monitor's handoff payload: NUL-terminated fields "ELH1", set_user,
    uid, gid, groups, cwd, argc, argv..., envc, envp... (bytes as sent)."""

    def __init__(self, payload):
        fields = payload.split(b'\0')
        if len(fields) < 9 or fields.pop() != b'' or fields[0] != _HANDOFF_MAGIC:
            raise _Refusal('malformed handoff')
        self.set_user = fields[1] == b'1'
        self.uid, self.gid = int(fields[2]), int(fields[3])
        self.groups = [int(g) for g in fields[4].split(b',')] if fields[4] else []
        self.cwd = fields[5]
        argc = int(fields[6])
        self.argv = fields[7:7 + argc]
        if len(self.argv) != argc or len(fields) < 8 + argc:
            raise _Refusal('malformed handoff')
        envc = int(fields[7 + argc])
        self.envp = fields[8 + argc:]
        if len(self.envp) != envc:
            raise _Refusal('malformed handoff')

    def check_command(self):
        """Step a: the command line must be one the zygote's start-up fits:
        the same interpreter, then `-c code` or a script path."""
        if not self.argv or self.argv[0] != os.fsencode(sys.orig_argv[0]):
            raise _Refusal('not this pool\'s interpreter')
        if len(self.argv) >= 3 and self.argv[1] == b'-c':
            # python3 -c passes the command to the parser as UTF-8: bytes
            # that are not UTF-8 fail there with a message of its own.
            try:
                self.argv[2].decode('utf-8')
            except UnicodeDecodeError:
                raise _Refusal('the -c code is not UTF-8') from None
            self.code = self.argv[2]
            self.script = None
        elif len(self.argv) >= 2 and self.argv[1] and not self.argv[1].startswith(b'-'):
            self.code = None
            self.script = self.argv[1]
        else:
            raise _Refusal('neither `-c code` nor a script')

    def check_environment(self):
        """Step b: nothing the interpreter reads at start-up may differ from
        the zygote's start-up (_GIVEN_ENV)."""
        self.environ = {}
        for entry in self.envp:
            name, eq, value = entry.partition(b'=')
            if not name or not eq or name in self.environ:
                raise _Refusal('environment entry %r' % entry[:40])
            if ((name in _STARTUP_VARS or name.startswith(_STARTUP_PREFIX)) and
                    _GIVEN_ENV.get(name) != value):
                raise _Refusal('environment sets %s' % name.decode('ascii', 'replace'))
            self.environ[name] = value
        for name in _GIVEN_ENV:
            if name not in self.environ:
                raise _Refusal('environment lacks %s' % name.decode('ascii', 'replace'))


def _show_in_proc(native, handoff):
    """Best effort: points /proc/self/cmdline and /proc/self/environ at the
    task's argv and envp, as a cold execve would show them. PR_SET_MM needs
    CAP_SYS_RESOURCE (hence before the user switch); without it they keep
    showing the zygote's (`python3 -c LOADER`, an empty environment). The
    blocks are never freed: the kernel reads them for the process's life."""
    if not native.can_set_mm:
        return
    for start, end, strings in ((_PR_SET_MM_ARG_START, _PR_SET_MM_ARG_END, handoff.argv),
                                (_PR_SET_MM_ENV_START, _PR_SET_MM_ENV_END, handoff.envp)):
        block = b''.join(s + b'\0' for s in strings)
        address = native.malloc(max(len(block), 1))
        if not address:
            return
        ctypes.memmove(address, block, len(block))
        # The kernel checks start <= end after each call: a block below the
        # old one moves its start first, one above it its end first.
        if native.prctl(_PR_SET_MM, start, address, 0, 0) == 0:
            native.prctl(_PR_SET_MM, end, address + len(block), 0, 0)
        else:
            native.prctl(_PR_SET_MM, end, address + len(block), 0, 0)
            native.prctl(_PR_SET_MM, start, address, 0, 0)


def _set_environ(environ):
    """The task's environment, in its order, then what start-up adds (a cold
    interpreter appends its LC_CTYPE coercion to the C environment too)."""
    os.environ.clear()
    for name, value in environ.items():
        os.environb[name] = value
    for name, value in _STARTUP_ENV.items():
        os.environ.setdefault(name, value)
    # time was imported at start-up, under the zygote's (empty) TZ.
    time.tzset()


def _script_importer(path):
    """What python's main asks first of a script path (PyImport_GetImporter
    without the cache): non-None for a directory or zip archive, which it
    runs as a package."""
    for hook in sys.path_hooks:
        try:
            return hook(path)
        except ImportError:
            continue
    return None


def _open_script(native, handoff):
    """The script as python's main opens it (as the task's user, in its
    working directory); a FILE* the interpreter reads and closes."""
    if _script_importer(os.fsdecode(handoff.script)) is not None:
        raise _Refusal('the script is a directory or zip archive')
    fp = native.fopen(handoff.script, b'rbe')
    if not fp:
        # The cold start reports it with python's own message and status.
        raise _Refusal('cannot open the script: %s' % os.strerror(ctypes.get_errno()))
    return fp


def _receive_handoff(sock):
    """Blocks until the monitor hands a task over: (payload, fds, flags).
    Exits if the monitor goes away first."""
    try:
        size = sock.recv_into(bytearray(1), 1, _socket.MSG_PEEK | _socket.MSG_TRUNC)
        if size == 0:
            os._exit(0)
        payload, ancdata, flags, _ = sock.recvmsg(
            size, _socket.CMSG_SPACE(3 * _INT_SIZE), _socket.MSG_CMSG_CLOEXEC)
    except OSError:
        os._exit(0)
    return payload, _received_fds(ancdata), flags


def _step(what, call, *args):
    """One system call of the set-up; its failure becomes a refusal that
    names the step (the cold start then reports the real error)."""
    try:
        return call(*args)
    except OSError as e:
        raise _Refusal('cannot %s: %s' % (what, e.strerror)) from None


def _prepare(native, handoff, fds, monitor_pid):
    """Steps c-g of abi/warm-starts.md, in a cold monitor's order (see
    host/exec/monitor_task.c): the process the task's code will run in.
    Returns the script's FILE* (None for -c)."""
    _step('create a process group', os.setpgid, 0, 0)
    for target, fd in enumerate(fds):
        _step('set up stdin/stdout/stderr', os.dup2, fd, target)
        os.close(fd)
    _show_in_proc(native, handoff)
    if handoff.set_user:
        _step('set %d supplementary groups' % len(handoff.groups), os.setgroups, handoff.groups)
        _step('set gid %d' % handoff.gid, os.setgid, handoff.gid)
        _step('set uid %d' % handoff.uid, os.setuid, handoff.uid)
        # The credential change made the process undumpable (no core, no
        # ptrace by its user, /proc/self owned by root); a cold start's
        # execve would have made it dumpable again.
        native.prctl_or_raise('the dumpable flag', _PR_SET_DUMPABLE, 1)
    _step('change directory to %s' % os.fsdecode(handoff.cwd), os.chdir, handoff.cwd)
    # After the credential change, which clears it.
    native.prctl_or_raise('the parent-death signal', _PR_SET_PDEATHSIG, _signal.SIGKILL)
    if os.getppid() != monitor_pid:
        raise _Refusal('the monitor is gone')
    # The environment comes before the user site, which depends on it.
    _set_environ(handoff.environ)
    # Step g: site computed the zygote's user site at start-up; a cold start
    # would have this user's, on sys.path if it exists.
    site.USER_BASE = site.USER_SITE = None
    user_site = site.getusersitepackages()
    if site.ENABLE_USER_SITE and os.path.isdir(user_site):
        raise _Refusal('user site-packages %s exists' % user_site)
    return None if handoff.script is None else _open_script(native, handoff)


def _take_task(sock, monitor_pid, native):
    """Y: waits for the handoff, prepares the task's process, answers "ok"
    or "no <reason>", then becomes the task. Returns the C call that runs
    it; exits after a refusal, having run nothing of the task's."""
    _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
    payload, fds, flags = _receive_handoff(sock)
    try:
        if flags & (_socket.MSG_TRUNC | _socket.MSG_CTRUNC) or len(fds) != 3:
            raise _Refusal('malformed handoff')
        handoff = _Handoff(payload)
        handoff.check_command()
        handoff.check_environment()
        fp = _prepare(native, handoff, fds, monitor_pid)
        sock.send(b'ok')
    except BaseException as e:
        reason = str(e) if isinstance(e, _Refusal) else '%s: %s' % (type(e).__name__, e)
        _send(sock, b'no ' + reason.encode('utf-8', 'backslashreplace')[:_REASON_MAX])
        os._exit(0)
    sock.close()
    # Nothing of the zygote's stays open; the script's FILE is the task's.
    if fp is None:
        os.closerange(3, _FD_LIMIT)
    else:
        script_fd = native.fileno(fp)
        os.closerange(3, script_fd)
        os.closerange(script_fd + 1, _FD_LIMIT)
    return _become_task(native, handoff, fp)


def _reopen_stdio():
    """sys.stdin/stdout/stderr over the task's fds, built as CPython's
    create_stdio() (Python/pylifecycle.c) builds them at start-up, so that
    isatty(), seekable(), line buffering and buffer sizes are the task's;
    encoding and errors are the zygote's, which had the same locale."""
    for fd, name in ((0, 'stdin'), (1, 'stdout'), (2, 'stderr')):
        old = getattr(sys, name)
        writing = fd != 0
        binary = io.open(fd, 'wb' if writing else 'rb', -1, None, None, None, False)
        binary.raw.name = '<%s>' % name
        line_buffering = binary.raw.isatty() or fd == 2
        stream = io.TextIOWrapper(binary, old.encoding, old.errors, '\n', line_buffering, False)
        stream.mode = 'w' if writing else 'r'
        setattr(sys, name, stream)
        setattr(sys, '__%s__' % name, stream)


def _fresh_main():
    """A new __main__ module, equal to the zygote's untouched one. That one
    was frozen with the rest of start-up (gc.freeze): the task's classes and
    functions make cycles with their module's dict, which a frozen dict
    would keep from ever being collected, so the finalization of __main__'s
    objects (an unclosed file's flush, a __del__) would not happen."""
    old = sys.modules['__main__']
    main = type(sys)('__main__')
    for name, value in old.__dict__.items():
        setattr(main, name, {} if name == '__annotations__' else value)
    sys.modules['__main__'] = main


def _become_task(native, handoff, fp):
    """Step i: the interpreter state python's main would have set up for
    this command line. Returns (C function, arguments) running the task."""
    argv = [os.fsdecode(a) for a in handoff.argv]
    sys.orig_argv = argv
    _reopen_stdio()
    _fresh_main()
    # site's start-up imports pwd (in os.path.expanduser) only without HOME,
    # as the zygote's had.
    if b'HOME' in handoff.environ:
        sys.modules.pop('pwd', None)
    flags = _CompilerFlags(0, sys.version_info.minor)
    if fp is None:
        sys.argv = ['-c'] + argv[3:]
        # sys.path[0] is already '', as for any -c. The parser reads the
        # command as UTF-8 with coding cookies ignored, as python's main does.
        flags.cf_flags |= _PY_CF_IGNORE_COOKIE
        return native.run_string, (handoff.code, ctypes.byref(flags))
    script = argv[1]
    sys.argv = argv[1:]
    # As python's main: the script is looked up as an importer first (and
    # cached as none), then its real directory leads sys.path.
    sys.path_importer_cache[script] = None
    sys.path[0] = os.path.dirname(os.path.realpath(script))
    return native.run_file, (fp, handoff.script, 1, ctypes.byref(flags))


# ---------------------------------------------------------------------------

def _main():
    control = _socket.socket(fileno=_CONTROL_FD)
    try:
        native = _Native()
        reason = _unusable_reason()
    except Exception as e:
        reason = '%s: %s' % (type(e).__name__, e)
    if reason:
        _send(control, b'unusable ' + reason.encode('utf-8', 'backslashreplace'))
        os._exit(1)
    # LOADER has read this file to EOF: fd 0 becomes /dev/null, as 1 and 2.
    null = os.open('/dev/null', os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    _forget_bootstrap()
    # Start-up's objects go to the permanent generation: a copy's collections
    # (and the final one at its exit) skip them instead of writing to every
    # page they share with the zygote, which copied each page on write (in
    # the benchmark, about 1.7 ms of CPU per task). Garbage first, or it
    # would be kept for good.
    gc.collect()
    gc.freeze()
    _send(control, b'ready python ' + sys.version.split()[0].encode())
    return _serve(control, native)


# Only a copy that took a task gets here. The task's code runs inside this
# call, at module level so that it stacks on as few frames as possible.
_run, _run_args = _main()
if _run(*_run_args) != 0:
    # The error is printed (by the task's sys.excepthook). A KeyboardInterrupt
    # set the interpreter's flag to die by SIGINT after finalization: this
    # file must end normally for it. Anything else exits 1, as python's main.
    _last = getattr(sys, 'last_type', None)
    if not (isinstance(_last, type) and issubclass(_last, KeyboardInterrupt)):
        raise SystemExit(1)
