#!/usr/bin/python3
"""elide-execd without cgroups it may manage: the real daemon run as
`nobody` (cgroups need root), over its unix socket, from a Python grpcio
client (stubs generated from the proto at test time).

- limits asked for plainly are refused with FAILED_PRECONDITION naming the
  field and why (the daemon is not root);
- limits asked for with `best_effort` (what the plugin sends for Nomad's
  resources) run the execution without them: ExecuteSnippetResponse says
  limits_enforced = false and gives the reason in limits_note, and the
  execution runs to its exit code with its output;
- an execution without limits says nothing about them.

Usage: test_execd_unprivileged.py --daemon BIN --module-dir DIR --proto-dir DIR
                                  --protoc PROTOC --plugin GRPC_PYTHON_PLUGIN
Needs root (to start the daemon as nobody). Prints "N passed, N failed".
"""
import argparse
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import execd_python_client as stubs  # noqa: E402  (generate_stubs)
from exec_test_util import check  # noqa: E402


def start_daemon(binary, root, module_dir, user):
    """elide-execd as `user` (a pwd entry) with its files in root."""
    sock = os.path.join(root, "execd.sock")
    ini = os.path.join(root, "execd.ini")
    with open(ini, "w") as f:
        f.write("[daemon]\nlisten = unix:%s\nwork_root = %s\nmodule_dir = %s\n"
                "log_level = debug\n" % (sock, os.path.join(root, "work"), module_dir))
    for path in (root, ini):
        os.chown(path, user.pw_uid, user.pw_gid)
    os.chmod(ini, 0o600)
    log = open(os.path.join(root, "daemon.log"), "ab")

    def drop():
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)

    proc = subprocess.Popen([binary, "-config", ini], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL, preexec_fn=drop, cwd=root)
    return proc, log, "unix:" + sock


def execute(api, pb, eid, limits=None):
    req = pb.ExecuteSnippetRequest(execution_id=eid, language="python",
                                   code="print('ran without root'); raise SystemExit(3)",
                                   env={"PATH": "/usr/bin:/bin"})
    if limits is not None:
        req.limits.CopyFrom(limits)
    return api.ExecuteSnippet(req, timeout=30)


def main():
    ap = argparse.ArgumentParser()
    for opt in ("--daemon", "--module-dir", "--proto-dir", "--protoc", "--plugin"):
        ap.add_argument(opt, required=True)
    args = ap.parse_args()
    import grpc
    root = tempfile.mkdtemp(prefix="execd-unpriv.")
    os.chmod(root, 0o755)
    nobody = pwd.getpwnam("nobody")
    proc = log = None
    try:
        stubs.generate_stubs(args, root)
        from elide.daemon.v1alpha1 import execution_api_pb2 as pb
        from elide.daemon.v1alpha1 import execution_api_pb2_grpc as pb_grpc
        home = os.path.join(root, "daemon")
        os.mkdir(home)
        proc, log, target = start_daemon(args.daemon, home, args.module_dir, nobody)
        channel = grpc.insecure_channel(target)
        grpc.channel_ready_future(channel).result(timeout=20)
        api = pb_grpc.ExecutionApiStub(channel)

        try:
            execute(api, pb, "strict", pb.ResourceLimits(memory_bytes=64 << 20))
            check(False, "plain limits without cgroups are refused")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.FAILED_PRECONDITION,
                  "plain limits without cgroups: FAILED_PRECONDITION (%s)" % e.code())
            check("limits.memory_bytes" in e.details() and "not root" in e.details(),
                  "the refusal names the field and why (%s)" % e.details())

        rep = execute(api, pb, "lenient",
                      pb.ResourceLimits(memory_bytes=64 << 20, cpu_shares=100, best_effort=True))
        check(not rep.limits_enforced, "best_effort limits: limits_enforced is false")
        check("not root" in rep.limits_note,
              "best_effort limits: limits_note says why (%s)" % rep.limits_note)
        w = api.WaitExecution(pb.WaitExecutionRequest(execution_id="lenient", timeout_ms=30000),
                              timeout=40)
        check(w.complete and w.result.exit_code == 3,
              "the execution ran without the limits to its exit code (%s)" % w.result.exit_code)
        out = b"".join(m.data for m in api.ReadOutput(
            pb.ReadOutputRequest(execution_id="lenient", fd=pb.OUTPUT_FD_STDOUT), timeout=30))
        check(out == b"ran without root\n", "its output arrives (%r)" % out)

        rep = execute(api, pb, "plain")
        check(not rep.limits_enforced and rep.limits_note == "",
              "no limits asked for: nothing enforced, no note")
        channel.close()
        proc.send_signal(signal.SIGTERM)
        check(proc.wait(20) == 0, "the daemon exits 0 on SIGTERM")
        proc = None
    except Exception as e:  # a crash is a failure with its reason, never a pass
        check(False, "unexpected %s: %s" % (type(e).__name__, e))
    finally:
        if proc:
            proc.kill()
            proc.wait()
        if log:
            log.close()
            with open(os.path.join(root, "daemon", "daemon.log"), "rb") as f:
                text = f.read()
            check(b"Sanitizer" not in text and b"runtime error:" not in text,
                  "no sanitizer report in the daemon's log")
        shutil.rmtree(root, ignore_errors=True)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
