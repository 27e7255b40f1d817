#!/usr/bin/python3
"""A plugin whose Nomad agent is gone leaves by itself: the plugin is
started the way Nomad starts it (magic cookie, protocol 2) by a parent that
exits at once without stopping it, as an agent killed with kill -9, or one
that re-launched the plugin while it shut down, would. The plugin must
print its handshake, notice it has been orphaned and exit within a few
seconds (it polls its parent once a second); with a parent that stays, it
must keep running.

Usage: test_plugin_orphan.py PLUGIN_BINARY. Prints "N passed, N failed".
"""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exec_test_util import check, running  # noqa: E402

COOKIE = "e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255"


def wait_for(cond, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def main():
    plugin = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="plugin-orphan.")
    env = dict(os.environ, NOMAD_PLUGIN_MAGIC_COOKIE=COOKIE, PLUGIN_PROTOCOL_VERSIONS="2",
               TMPDIR=work)
    out = os.path.join(work, "handshake")

    # A parent that stays: the plugin keeps serving.
    kept = subprocess.Popen([plugin], stdout=open(out + ".kept", "w"),
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env,
                            cwd=work)
    check(wait_for(lambda: os.path.getsize(out + ".kept") > 0, 10),
          "a plugin with its parent prints the handshake")
    time.sleep(2.5)
    check(kept.poll() is None, "a plugin whose parent stays keeps running")
    kept.terminate()
    check(kept.wait(10) == 0, "and exits 0 on SIGTERM")

    # A parent that starts the plugin, reads its handshake as go-plugin
    # does, and exits without stopping it.
    launcher = subprocess.run(
        ["/bin/sh", "-c", '"$1" >"$2" 2>/dev/null </dev/null & '
         'while [ ! -s "$2" ]; do sleep 0.05; done; echo $!', "sh", plugin, out],
        stdout=subprocess.PIPE, env=env, cwd=work, check=True, text=True)
    pid = int(launcher.stdout.strip())
    check(wait_for(lambda: os.path.exists(out) and os.path.getsize(out) > 0, 10),
          "the orphaned plugin printed its handshake")
    with open(out) as f:
        check(f.read().startswith("1|2|unix|"), "the handshake is go-plugin's")
    t0 = time.time()
    gone = wait_for(lambda: not running(pid), 10)
    check(gone, "the orphaned plugin exits by itself (%.1f s after its parent)"
          % (time.time() - t0))
    if not gone:
        os.kill(pid, 9)
    leftovers = [d for d in os.listdir(work) if d.startswith("elide-plugin-")]
    check(not leftovers, "its socket directory is removed (%s)" % leftovers)
    subprocess.run(["rm", "-rf", work])
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
