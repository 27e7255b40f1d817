"""End-to-end tests of the wasm backend: the example wasm jobs through
nomad-driver-elide on a real Nomad dev agent built from the pinned Nomad Go
module, once per tested engine (node's WASI, then wazero), each selected by
an INI deployment file ([module.wasm] engine, engine_path) named by the
plugin block's config_file. The jobs download their .wasm with an artifact
block from a web server this test runs on 127.0.0.1 over the fixtures built
from tests/fixtures/wasm.

Usage: test_e2e_wasm.py <nomad-driver-elide> <built wasm fixture dir> <install-wazero.sh>
Fails (never skips) when Nomad cannot be built, wazero cannot be installed
or the agent cannot start. Prints one line per check and a closing
"N passed, N failed"."""

import functools
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_util import (EXAMPLES, check, check_exit_code, check_nothing_left,  # noqa: E402
                      check_refused, finish, new_agent, nomad_binary, refused_job, run_tests,
                      usage_ok, write_job)

# Inline code is refused by the wasm backend, naming the field.
INLINE_CODE_JOB = refused_job("wasm-inline", language="wasm",
                              code='(module (func (export "_start")))')


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass


def serve(directory):
    """Serves `directory` on 127.0.0.1; returns (server, base URL)."""
    handler = functools.partial(QuietHandler, directory=directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, "http://127.0.0.1:%d" % server.server_address[1]


def install_wazero(script):
    out = subprocess.run(["bash", script], stdout=subprocess.PIPE, check=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def write_ini(directory, engine, binary):
    """The deployment file selecting the engine; 0600 as the host requires."""
    path = os.path.join(directory, "driver-%s.ini" % engine)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("; wasm backend on %s\n[module.wasm]\nengine = %s\nengine_path = %s\n" %
                (engine, engine, binary))
    return path


def run_job(agent, path, url):
    """`nomad job run -detach -var wasm_url=<url>`; returns the job ID."""
    return agent.run_job(path, variables={"wasm_url": url})


def test_fingerprint(agent, engine, binary):
    drv = agent.elide_node_driver()
    check(drv["Detected"] and drv["Healthy"], "[%s] elide driver detected and healthy" % engine)
    check("wasm" not in drv.get("HealthDescription", ""),
          "[%s] health description names no wasm problem (%s)" %
          (engine, drv.get("HealthDescription")))
    attrs = agent.node()["Attributes"]
    check("wasm" in attrs.get("driver.elide.backends", ""),
          "[%s] driver.elide.backends lists wasm" % engine)
    check(attrs.get("driver.elide.wasm.engine") == engine,
          "[%s] driver.elide.wasm.engine is %s" % (engine, engine))
    check(attrs.get("driver.elide.wasm.runtime") == binary,
          "[%s] driver.elide.wasm.runtime is %s" % (engine, binary))
    check(attrs.get("driver.elide.wasm.version", "")[:1].isdigit(),
          "[%s] driver.elide.wasm.version is a version (%s)" %
          (engine, attrs.get("driver.elide.wasm.version")))


def test_hello(agent, engine, base):
    job = run_job(agent, os.path.join(EXAMPLES, "wasm-hello.nomad.hcl"), base + "/hello.wasm")
    alloc = agent.wait_alloc(job, ("complete", "failed"))
    check(alloc["ClientStatus"] == "complete", "[%s] wasm-hello completes" % engine)
    out = agent.logs(alloc["ID"], "hello")
    err = agent.logs(alloc["ID"], "hello", stderr=True)
    lines = out.splitlines()
    check(lines[:3] == ["argv[0]=hello.wasm", "argv[1]=--day", "argv[2]=2026-11-20"],
          "[%s] argv is the module name and the job's args" % engine)
    check("env GREETING=hello from the job's env block" in lines,
          "[%s] the env block reaches the module" % engine)
    check("env NOMAD_ALLOC_ID=" + alloc["ID"] in lines,
          "[%s] NOMAD_ALLOC_ID reaches the module" % engine)
    check("local/input.txt: rendered by a template" in lines,
          "[%s] the module reads the template's file by a relative path" % engine)
    listing = [l for l in lines if l.startswith("/local:")]
    check(listing and {"hello.wasm", "input.txt"} <= set(listing[0].split()[1:]),
          "[%s] the module lists /local, the task dir preopened as / (%s)" % (engine, listing))
    check(err == "hello: this goes to stderr\n",
          "[%s] stderr is exactly the module's (no engine warnings): %r" % (engine, err))
    check_exit_code(agent, alloc, 0, "[%s] " % engine)
    # What does not depend on the agent (env values differ per alloc).
    return [l for l in lines if not l.startswith("env ")]


def test_exit(agent, engine, base):
    job = run_job(agent, os.path.join(EXAMPLES, "wasm-exit.nomad.hcl"), base + "/exit7.wasm")
    alloc = agent.wait_alloc(job, ("complete", "failed"))
    check(alloc["ClientStatus"] == "failed", "[%s] exit code 7 fails the allocation" % engine)
    check_exit_code(agent, alloc, 7, "[%s] " % engine)
    check(agent.logs(alloc["ID"], "exit") == "argc=1 argv[0]=exit7.wasm\n",
          "[%s] stdout of the exiting module" % engine)
    check(agent.logs(alloc["ID"], "exit", stderr=True) == "exiting with 7\n",
          "[%s] stderr of the exiting module" % engine)


def test_inline_refused(agent, engine):
    check_refused(agent, write_job(agent, "wasm-inline.nomad.hcl", INLINE_CODE_JOB),
                  "[%s] inline code" % engine, 'field "code"',
                  named='the event names field "code"', status=False)


def run_engine(nomad, plugin, engine, binary, base, workdir):
    """All checks on one agent configured for `engine`; the hello lines."""
    ini = write_ini(workdir, engine, binary)
    agent = new_agent(nomad, plugin, plugin_config={"config_file": ini})
    raised = "[%s] a test raised" % engine
    results = run_tests(agent, [(raised, test_fingerprint, agent, engine, binary),
                                (raised, test_exit, agent, engine, base),
                                (raised, test_inline_refused, agent, engine),
                                ("[%s] test_hello raised" % engine, test_hello, agent, engine,
                                 base)],
                        started="[%s] agent started" % engine, print_log_path=False)
    return results[-1] if results else None


def main():
    if not usage_ok(3, "test_e2e_wasm.py <nomad-driver-elide> <wasm fixture dir> "
                       "<install-wazero.sh>"):
        return 2
    plugin, fixtures, installer = sys.argv[1:]
    nomad = nomad_binary()
    wazero = install_wazero(installer)
    print("wazero: " + wazero)
    server, base = serve(fixtures)
    workdir = tempfile.mkdtemp(prefix="elide-e2e-wasm-")
    try:
        outputs = {}
        for engine, binary in (("node", "/usr/bin/node"), ("wazero", wazero)):
            outputs[engine] = run_engine(nomad, plugin, engine, binary, base, workdir)
        check(outputs["node"] is not None and outputs["node"] == outputs["wazero"],
              "node and wazero give the module the same argv, files and output")
    finally:
        server.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)
    check_nothing_left(plugin, after="the agents")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
