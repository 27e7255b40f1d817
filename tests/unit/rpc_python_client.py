"""Python grpcio client for the C Echo server (host/rpc cross-check).

Usage: rpc_python_client.py PROTO ADDRESS
Compiles PROTO with `protoc --python_out` into a temporary directory (Debian
ships no grpc_tools module and this needs no grpc_python_plugin: calls go
through grpc's generic channel.unary_unary / unary_stream with the message
classes as serializers). Exits 0 on success, 1 on a failed check, 77 when
grpcio or protoc is missing (ctest SKIP_RETURN_CODE).
"""
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

try:
    import grpc
except ImportError:
    print("python grpcio is not installed (Debian: python3-grpcio)")
    sys.exit(77)

FAILED = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILED.append(what)


def load_messages(proto):
    protoc = shutil.which("protoc")
    if not protoc:
        print("protoc not found (Debian: protobuf-compiler)")
        sys.exit(77)
    out = tempfile.mkdtemp(prefix="elide-rpc-py-")
    subprocess.run([protoc, "-I", os.path.dirname(proto), "--python_out", out, proto], check=True)
    sys.path.insert(0, out)
    return importlib.import_module("rpc_test_pb2"), out


def main():
    proto, address = sys.argv[1], sys.argv[2]
    pb, gen_dir = load_messages(proto)
    path = "/elide.rpctest.Echo/"

    with grpc.insecure_channel(address) as ch:
        echo = ch.unary_unary(path + "Echo", request_serializer=pb.EchoRequest.SerializeToString,
                              response_deserializer=pb.EchoReply.FromString)
        rep = echo(pb.EchoRequest(text="from python", seq=7), timeout=5)
        check(rep.text == "from python" and rep.seq == 7, "unary echo")

        try:
            echo(pb.EchoRequest(text="fail"), timeout=5)
            check(False, "error status raised")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.INVALID_ARGUMENT, "error status code")
            check(e.details() == "echo refused: fail", "error status details")

        try:
            echo(pb.EchoRequest(text="details"), timeout=5)
            check(False, "details status raised")
        except grpc.RpcError as e:
            trailer = dict(e.trailing_metadata() or ())
            check(e.code() == grpc.StatusCode.FAILED_PRECONDITION, "details status code")
            check(trailer.get("grpc-status-details-bin") == bytes(
                [0x08, 0x09, 0x12, 0x00, 0xff, 0x80, 0x00, 0x7f, 0x1a]), "status details trailer bytes")

        count = ch.unary_stream(path + "Count", request_serializer=pb.EchoRequest.SerializeToString,
                                response_deserializer=pb.EchoReply.FromString)
        seqs = [r.seq for r in count(pb.EchoRequest(text="n", count=500), timeout=10)]
        check(seqs == list(range(500)), "server streaming: 500 replies in order")

        tick = ch.unary_stream(path + "Tick", request_serializer=pb.EchoRequest.SerializeToString,
                               response_deserializer=pb.EchoReply.FromString)
        seqs = [r.seq for r in tick(pb.EchoRequest(count=10, interval_ms=5), timeout=10)]
        check(seqs == list(range(10)), "stream fed from a server thread")

        raw = ch.unary_unary(path + "Echo")  # bytes in, bytes out
        try:
            raw(b"\xff\xff\xff\xff\xff\xff\x01", timeout=5)
            check(False, "garbage request raised")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.INTERNAL, "garbage request -> INTERNAL")

        unknown = ch.unary_unary("/elide.rpctest.Echo/Nope")
        t0 = time.monotonic()
        try:
            unknown(b"", timeout=10)
            check(False, "unknown method raised")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.UNIMPLEMENTED, "unknown method -> UNIMPLEMENTED")
            check(time.monotonic() - t0 < 1.0, "UNIMPLEMENTED at once")

        chat = ch.stream_stream(path + "Chat", request_serializer=pb.EchoRequest.SerializeToString,
                                response_deserializer=pb.EchoReply.FromString)
        reqs = (pb.EchoRequest(text="c%d" % i, seq=i) for i in range(20))
        seqs = [r.seq for r in chat(reqs, timeout=10)]
        check(seqs == list(range(20)), "bidi echo")

        sums = ch.stream_unary(path + "Sum", request_serializer=pb.EchoRequest.SerializeToString,
                               response_deserializer=pb.EchoReply.FromString)
        rep = sums((pb.EchoRequest(seq=i) for i in range(1, 11)), timeout=10)
        check(rep.seq == 55 and rep.text == "10", "client streaming sum")

    shutil.rmtree(gen_dir, ignore_errors=True)
    if FAILED:
        print("%d python checks failed" % len(FAILED))
        return 1
    print("all python checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
