#!/usr/bin/python3
"""An independent client of elide-execd: Python grpcio stubs generated from
the proto at test time (protoc + grpc_python_plugin), against the real
daemon on a unix socket. Covers ExecuteSnippet (and its idempotency),
ReadOutput streaming (from an offset, followed to eof), WaitExecution,
CancelExecution, Health and the status codes of bad requests.

Usage: execd_python_client.py --daemon BIN --module-dir DIR --proto-dir DIR
                              --protoc PROTOC --plugin GRPC_PYTHON_PLUGIN
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def generate_stubs(args, out_dir):
    subprocess.run(
        [args.protoc, "-I", args.proto_dir, "--python_out=" + out_dir,
         "--grpc_python_out=" + out_dir,
         "--plugin=protoc-gen-grpc_python=" + args.plugin,
         "elide/daemon/v1alpha1/execution_api.proto"],
        check=True)
    sys.path.insert(0, out_dir)


def start_daemon(args, root):
    sock = os.path.join(root, "execd.sock")
    ini = os.path.join(root, "execd.ini")
    with open(ini, "w") as f:
        f.write("[daemon]\nlisten = unix:%s\nwork_root = %s\nmodule_dir = %s\n"
                % (sock, os.path.join(root, "work"), args.module_dir))
    os.chmod(ini, 0o600)
    log = open(os.path.join(root, "daemon.log"), "ab")
    proc = subprocess.Popen([args.daemon, "-config", ini], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL)
    return proc, "unix:" + sock


def main():
    ap = argparse.ArgumentParser()
    for opt in ("--daemon", "--module-dir", "--proto-dir", "--protoc", "--plugin"):
        ap.add_argument(opt, required=True)
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="execd-py.")
    proc = None
    try:
        generate_stubs(args, os.path.join(root))
        import grpc
        from elide.daemon.v1alpha1 import execution_api_pb2 as pb
        from elide.daemon.v1alpha1 import execution_api_pb2_grpc as pb_grpc

        proc, target = start_daemon(args, root)
        channel = grpc.insecure_channel(target)
        grpc.channel_ready_future(channel).result(timeout=20)
        api = pb_grpc.ExecutionApiStub(channel)

        # Health
        h = api.Health(pb.HealthRequest(), timeout=30)
        check(h.healthy and h.version, "health: healthy with a version")
        check("python" in h.languages and list(h.languages) == sorted(h.languages),
              "health: sorted languages with python")
        py = [m for m in h.modules if m.name == "python"]
        check(py and py[0].healthy and py[0].attributes.get("runtime") == "/usr/bin/python3",
              "health: python module with its runtime attribute")

        # ExecuteSnippet, idempotent
        code = ("import sys\nfor i in range(2000): print('row %05d' % i)\n"
                "print('done', file=sys.stderr)\nsys.exit(5)\n")
        req = pb.ExecuteSnippetRequest(execution_id="py-1", language="python", code=code,
                                       env={"A": "1"}, args=["x"])
        r1 = api.ExecuteSnippet(req, timeout=30)
        check(r1.execution_id == "py-1" and not r1.existing, "execute: started")
        r2 = api.ExecuteSnippet(req, timeout=30)
        check(r2.existing, "execute: a repeat is the existing execution")

        # WaitExecution
        w = api.WaitExecution(pb.WaitExecutionRequest(execution_id="py-1"), timeout=60)
        check(w.complete and w.result.exit_code == 5
              and w.result.reason == pb.ExitResult.REASON_EXITED
              and w.status == pb.EXECUTION_STATUS_FAILED, "wait: exit 5")

        # ReadOutput from 0 and from an offset
        want = "".join("row %05d\n" % i for i in range(2000)).encode()
        got, offsets, eof = b"", [], False
        for chunk in api.ReadOutput(pb.ReadOutputRequest(
                execution_id="py-1", fd=pb.OUTPUT_FD_STDOUT, max_chunk_bytes=4096), timeout=60):
            offsets.append((chunk.offset, len(chunk.data)))
            got += chunk.data
            eof = eof or chunk.eof
        check(got == want and eof, "read: all of stdout, then eof")
        check(all(o + n == offsets[i + 1][0] for i, (o, n) in enumerate(offsets[:-1])),
              "read: contiguous offsets")
        tail = b"".join(c.data for c in api.ReadOutput(pb.ReadOutputRequest(
            execution_id="py-1", fd=pb.OUTPUT_FD_STDOUT, offset=10000), timeout=60))
        check(tail == want[10000:], "read: from an offset")
        err = b"".join(c.data for c in api.ReadOutput(pb.ReadOutputRequest(
            execution_id="py-1", fd=pb.OUTPUT_FD_STDERR), timeout=60))
        check(err == b"done\n", "read: stderr")

        # ReadOutput following a running execution
        api.ExecuteSnippet(pb.ExecuteSnippetRequest(
            execution_id="py-follow", language="python",
            code="import time\nfor i in range(10):\n    print(i, flush=True)\n"
                 "    time.sleep(0.05)\n"), timeout=30)
        followed = b""
        last = None
        for chunk in api.ReadOutput(pb.ReadOutputRequest(
                execution_id="py-follow", fd=pb.OUTPUT_FD_STDOUT, follow=True), timeout=60):
            followed += chunk.data
            last = chunk
        check(followed == b"".join(b"%d\n" % i for i in range(10)) and last and last.eof,
              "read: followed to eof")

        # CancelExecution with a grace period
        api.ExecuteSnippet(pb.ExecuteSnippetRequest(
            execution_id="py-cancel", language="python",
            code="import time\ntime.sleep(60)\n"), timeout=30)
        c = api.CancelExecution(pb.CancelExecutionRequest(
            execution_id="py-cancel", signal=signal.SIGTERM, grace_period_ms=2000), timeout=30)
        check(c.success, "cancel: success")
        w = api.WaitExecution(pb.WaitExecutionRequest(execution_id="py-cancel"), timeout=60)
        check(w.complete and w.result.reason == pb.ExitResult.REASON_CANCELLED
              and w.result.signal == signal.SIGTERM
              and w.status == pb.EXECUTION_STATUS_CANCELLED, "cancel: reason CANCELLED")

        # Bad requests
        def code_of(fn):
            try:
                fn()
            except grpc.RpcError as e:
                return e.code(), e.details()
            return grpc.StatusCode.OK, ""

        st, details = code_of(lambda: api.GetExecutionStatus(
            pb.GetExecutionStatusRequest(execution_id="nosuch"), timeout=30))
        check(st == grpc.StatusCode.NOT_FOUND, "bad: unknown id is NOT_FOUND")
        st, details = code_of(lambda: api.ExecuteSnippet(pb.ExecuteSnippetRequest(
            execution_id="py-bad", language="ruby", code="1"), timeout=30))
        check(st == grpc.StatusCode.INVALID_ARGUMENT and "language" in details,
              "bad: unknown language is INVALID_ARGUMENT naming the field")
        st, details = code_of(lambda: list(api.ReadOutput(pb.ReadOutputRequest(
            execution_id="py-1", fd=pb.OUTPUT_FD_STDOUT, offset=len(want) + 1), timeout=30)))
        check(st == grpc.StatusCode.OUT_OF_RANGE, "bad: offset beyond the end is OUT_OF_RANGE")
        st, details = code_of(lambda: api.WriteStdin(pb.WriteStdinRequest(
            execution_id="py-1", data=b"x" * ((1 << 20) + 1)), timeout=30))
        check(st == grpc.StatusCode.RESOURCE_EXHAUSTED, "bad: oversize stdin chunk")

        channel.close()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=20)
        check(rc == 0, "daemon exits 0 on SIGTERM (got %s)" % rc)
        proc = None
    finally:
        if proc:
            proc.kill()
            proc.wait()
        if failures:
            try:
                with open(os.path.join(root, "daemon.log"), "rb") as f:
                    sys.stderr.write(f.read().decode(errors="replace"))
            except OSError:
                pass
        shutil.rmtree(root, ignore_errors=True)
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
