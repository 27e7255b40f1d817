"""End-to-end tests of the native backend: C functions of a shared library
called through libffi by nomad-driver-elide on a real Nomad dev agent built
from the pinned Nomad Go module. The example jobs (examples/jobs/native-*)
and generated ones get the fixture library mathlib.so into their task
directories the way the examples document: published as a Nomad Variable
(base64) and decoded by a template. Bad signatures, missing symbols, a
variable as the symbol, a wrong argument count and a file that is not a
library must be refused with the field named before anything runs.

Usage: test_e2e_native.py <nomad-driver-elide binary> <mathlib.so fixture>
Fails (never skips) when Nomad cannot be built or the agent cannot start.
Prints one line per check and a closing "N passed, N failed"."""

import base64
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_util import (EXAMPLES, HELPERS, check, check_exit_code, check_nothing_left,  # noqa: E402
                      check_refused, finish, helper_path, new_agent, nomad_binary, one_shot_job,
                      run_tests, usage_ok)


def runner_path(plugin_binary):
    return helper_path(plugin_binary, HELPERS["runner"])


def publish_library(agent, job, library):
    """Stores the library, base64-encoded, as item `library` of the Nomad
    Variable nomad/jobs/<job>, as the example jobs' comments say."""
    b64 = os.path.join(agent.dir, "mathlib.so.b64")
    with open(library, "rb") as src, open(b64, "w") as dst:
        dst.write(base64.b64encode(src.read()).decode())
    agent.cli("var", "put", "-force", "nomad/jobs/" + job, "library=@" + b64)


# A generated job: one group, one task per entry of `tasks`, each decoding
# the library from nomad/jobs/<job> into local/mathlib.so.
TASK = """
    task "@TASK@" {
      driver = "elide"
      env {
        GREETING = "hello from the env block"
      }
      template {
        destination = "local/mathlib.so"
        change_mode = "noop"
        data        = "{{ with nomadVar \\"nomad/jobs/@JOB@\\" }}{{ .library.Value | base64Decode }}{{ end }}"
      }
      template {
        destination = "local/notes.so"
        data        = "these are notes, not a library\\n"
      }
      config {
        language  = "native"
        script    = "@SCRIPT@"
        symbol    = "@SYMBOL@"
        signature = "@SIGNATURE@"
        args      = [@ARGS@]
      }
    }
"""



def make_job(agent, job, tasks):
    """tasks: list of (task, symbol, signature, args[, script])."""
    text = ""
    for t in tasks:
        name, symbol, signature, args = t[:4]
        script = t[4] if len(t) > 4 else "local/mathlib.so"
        text += (TASK.replace("@TASK@", name).replace("@JOB@", job).replace("@SCRIPT@", script)
                 .replace("@SYMBOL@", symbol).replace("@SIGNATURE@", signature)
                 .replace("@ARGS@", ", ".join('"%s"' % a for a in args)))
    path = os.path.join(agent.dir, job + ".nomad.hcl")
    with open(path, "w") as f:
        f.write(one_shot_job(job, text))
    return path


def test_fingerprint(agent, plugin_binary):
    drv = agent.elide_node_driver()
    check(drv["Detected"] and drv["Healthy"], "elide driver detected and healthy")
    attrs = agent.node()["Attributes"]
    check("native" in attrs.get("driver.elide.backends", "").replace(" ", "").split(","),
          "driver.elide.backends lists native (%s)" % attrs.get("driver.elide.backends"))
    runner = runner_path(plugin_binary)
    check(attrs.get("driver.elide.native.runtime") == runner,
          "driver.elide.native.runtime is the runner next to the modules (%s)" %
          attrs.get("driver.elide.native.runtime"))
    out = subprocess.run([runner, "--version"], stdout=subprocess.PIPE, text=True).stdout
    ffi = out.split(" libffi ")[-1].strip()
    check(ffi and attrs.get("driver.elide.native.version") == ffi,
          "driver.elide.native.version is the libffi version %s (%s)" %
          (ffi, attrs.get("driver.elide.native.version")))


def test_greet(agent, library):
    publish_library(agent, "native-greet", library)
    job = agent.run_job(os.path.join(EXAMPLES, "native-greet.nomad.hcl"))
    alloc = agent.wait_alloc(job, ("complete", "failed"))
    check(alloc["ClientStatus"] == "complete", "native-greet completes")
    out = agent.logs(alloc["ID"], "greet")
    err = agent.logs(alloc["ID"], "greet", stderr=True)
    check(out == "hello, nomad\n", "the function's stdout reaches nomad alloc logs (%r)" % out)
    check(err == "greeted 5 bytes\n", "the function's stderr reaches nomad alloc logs -stderr (%r)"
          % err)
    check_exit_code(agent, alloc, 0)
    stat = agent.api("/v1/client/fs/stat/%s?path=greet/local/mathlib.so" % alloc["ID"]) or {}
    check(stat.get("Size") == os.path.getsize(library),
          "the template decoded the library byte for byte (%s of %d bytes)" %
          (stat.get("Size"), os.path.getsize(library)))


def test_fail(agent, library):
    publish_library(agent, "native-fail", library)
    job = agent.run_job(os.path.join(EXAMPLES, "native-fail.nomad.hcl"))
    alloc = agent.wait_alloc(job, ("complete", "failed"))
    check(alloc["ClientStatus"] == "failed", "a function returning 3 fails the allocation")
    check(alloc["TaskStates"]["fail"]["Failed"], "a function returning 3 fails the task")
    check_exit_code(agent, alloc, 3)
    check(agent.logs(alloc["ID"], "fail", stderr=True) == "failing on purpose\n",
          "stderr of the failing function")


def test_calls(agent, library):
    publish_library(agent, "native-calls", library)
    job = agent.run_job(make_job(agent, "native-calls", [
        ("describe", "describe", "int(void)", []),
        ("scale", "scale", "double(double,double)", ["2.5", "3"]),
        ("sum", "sum_bytes", "int(bytes)", ["0101fe"]),
        ("ints", "show_ints", "int(int8,int16,int32,int64,uint8,uint16,uint32,uint64)",
         ["-128", "-2", "-3", "-9223372036854775808", "255", "6", "7", "18446744073709551615"]),
    ]))
    alloc = agent.wait_alloc(job, ("complete", "failed"))
    check(alloc["ClientStatus"] == "complete", "native-calls completes")
    out = agent.logs(alloc["ID"], "describe")
    check(("cwd: " + out.split("cwd: ")[-1].split("\n")[0]).endswith(
        "/alloc/" + alloc["ID"] + "/describe"), "the function runs in the task dir (%r)" % out)
    check("greeting: hello from the env block\n" in out, "env block reaches the function")
    check("alloc id: " + alloc["ID"] + "\n" in out, "NOMAD_ALLOC_ID reaches the function")
    out = agent.logs(alloc["ID"], "scale")
    check(out == "scale 2.5 by 3\n7.5\n", "a double result is printed after the output (%r)" % out)
    out = agent.logs(alloc["ID"], "sum")
    check(out == "3 bytes: 01 01 fe\n", "bytes arrive as pointer and length (%r)" % out)
    out = agent.logs(alloc["ID"], "ints")
    check(out == "-128 -2 -3 -9223372036854775808 255 6 7 18446744073709551615\n",
          "integer limits survive the call (%r)" % out)
    # sum_bytes returned 0x100: truncated to 0..255 it is exit code 0.
    check(not alloc["TaskStates"]["sum"]["Failed"], "a return value of 256 exits 0")


def test_ticker_stop(agent, library):
    publish_library(agent, "native-ticker", library)
    job = agent.run_job(os.path.join(EXAMPLES, "native-ticker.nomad.hcl"))
    alloc = agent.wait_alloc(job, ("running",))
    check("tick 2\n" in agent.wait_for_log(alloc["ID"], "ticker", "tick 2\n"),
          "a running function's output reaches the logs as it goes")
    done, _ = agent.stop_job(job)
    check(done is not None and done < 5.0,
          "nomad job stop ends the function within kill_timeout (%.2fs)" % (done or -1))
    events = agent.events(agent.api("/v1/allocation/" + alloc["ID"]), "ticker")
    killed = [e for e in events if e["Type"] == "Terminated"]
    check(killed and killed[-1]["Details"].get("signal") == "15",
          "Terminated event reports SIGTERM (%s)" % [e.get("Details") for e in killed])


BAD = (
    ("native-bad-signature", ("bad", "add", "int(strng)", ["1"]),
     'field "signature": unknown type "strng" at position 5'),
    ("native-missing-symbol", ("bad", "nope", "int(void)", []),
     'field "symbol": "nope" is not exported by mathlib.so'),
    ("native-variable-symbol", ("bad", "counter", "int(void)", []),
     'field "symbol": "counter" in mathlib.so is a variable, not a function'),
    ("native-arg-count", ("bad", "add", "int(int,int)", ["1"]),
     'field "args": the signature takes 2 arguments (int, int), got 1'),
    ("native-bad-number", ("bad", "add", "int(int,int)", ["1", "2x"]),
     'field "args": argument 2: "2x" is not a valid int'),
    ("native-not-elf", ("bad", "add", "int(int,int)", ["1", "2"], "local/notes.so"),
     'is not a usable shared library: not an ELF file'),
)


def test_refused(agent, library, job, task, needle):
    publish_library(agent, job, library)
    _, events = check_refused(agent, make_job(agent, job, [task]), job, needle)
    started = [e for e in events if e["Type"] == "Started"]
    check(not started, "%s: nothing was started" % job)


def main():
    if not usage_ok(2, "test_e2e_native.py <nomad-driver-elide binary> <mathlib.so>"):
        return 2
    plugin, library = sys.argv[1], os.path.realpath(sys.argv[2])
    agent = new_agent(nomad_binary(), plugin)
    raised = "a test raised"
    tests = [(raised, test_fingerprint, agent, plugin)]
    tests += [(raised, t, agent, library)
              for t in (test_greet, test_fail, test_calls, test_ticker_stop)]
    tests += [(raised, test_refused, agent, library) + b for b in BAD]
    run_tests(agent, tests)
    check_nothing_left(plugin, helpers=("monitor", "runner"))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
