"""End-to-end test of an out-of-tree vendor module on a real Nomad agent:
installs this build into a fresh prefix, builds examples/vendor-module (a
Lua backend) against only the installed header and pkg-config file, installs
it into the prefix's module directory, starts the installed driver under a
Nomad dev agent and runs examples/vendor-module/lua-hello.nomad.hcl.

Usage: test_e2e_vendor.py <build dir> <source dir>"""

import os
import shutil
import subprocess
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_util import check, check_exit_code, finish  # noqa: E402
from nomad_agent import NomadAgent, build_nomad  # noqa: E402


def run(cmd, **kw):
    print("$ " + " ".join(cmd))
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, **kw).stdout


def main():
    build_dir, source_dir = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="elide-vendor-e2e-")
    os.chmod(tmp, 0o755)
    prefix = os.path.join(tmp, "prefix")
    try:
        run(["cmake", "--install", build_dir, "--prefix", prefix])
        pc_dir = os.path.join(prefix, "lib", "pkgconfig")
        env = dict(os.environ, PKG_CONFIG_PATH=pc_dir, PKG_CONFIG_LIBDIR=pc_dir)
        src = os.path.join(tmp, "vendor-src")
        shutil.copytree(os.path.join(source_dir, "examples", "vendor-module"), src)
        out = os.path.join(tmp, "vendor-build")
        os.mkdir(out)
        makefile = os.path.join(src, "Makefile")
        run(["make", "-C", out, "-f", makefile, "lua.so"], env=env)
        run(["make", "-C", out, "-f", makefile, "install"], env=env)
        moduledir = run(["pkg-config", "--variable=moduledir", "nomad-driver-elide-module"],
                        env=env).strip()
        check(os.path.exists(os.path.join(moduledir, "lua.so")),
              "vendor module installed into the driver's module directory")
        agent = NomadAgent(build_nomad(), os.path.join(prefix, "bin", "nomad-driver-elide"))
        try:
            agent.start()
            attrs = agent.node()["Attributes"]
            check("lua" in attrs.get("driver.elide.backends", ""),
                  "driver.elide.backends lists the vendor's lua module")
            check(attrs.get("driver.elide.lua.version", "").startswith("5.4"),
                  "driver.elide.lua.version is Lua 5.4")
            job = agent.run_job(os.path.join(source_dir, "examples", "vendor-module",
                                             "lua-hello.nomad.hcl"))
            alloc = agent.wait_alloc(job, ("complete", "failed"))
            check(alloc["ClientStatus"] == "complete", "lua-hello completes")
            logs = agent.logs(alloc["ID"], "report")
            check("greeting: hello from the job's env block" in logs,
                  "the Lua script sees the job's env (stdout)")
            check("alloc id: " + alloc["ID"] in logs, "the Lua script sees NOMAD_ALLOC_ID")
            check_exit_code(agent, alloc, 0)
        finally:
            agent.stop()
    except Exception:
        traceback.print_exc()
        check(False, "vendor module e2e raised")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
