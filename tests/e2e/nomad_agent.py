"""A real Nomad dev agent with the elide driver plugin, for end-to-end tests,
the quick start and benchmarks. Standard library only (runs under Debian's
/usr/bin/python3).

The agent binds to 127.0.0.1 on free ports, never reaches outside this
machine (no update check, cloud fingerprinters denied, no Consul, no Vault),
and loads nomad-driver-elide from a private plugin directory that links to
the built binary. Tests that need Consul (script checks) ask for it with
`consul=<binary>` (see build_consul): a `consul agent -dev` of their own,
bound to 127.0.0.1 on free ports with no update check, which Nomad's
consul block then points at."""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def build_nomad():
    """Path of the pinned Nomad binary; builds it on first use (cached)."""
    out = subprocess.run(["bash", os.path.join(HERE, "build-nomad.sh")],
                         stdout=subprocess.PIPE, check=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def build_consul():
    """Path of the pinned Consul binary; builds it on first use (cached)."""
    out = subprocess.run(["bash", os.path.join(HERE, "build-consul.sh")],
                         stdout=subprocess.PIPE, check=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


AGENT_CONFIG = """
data_dir  = "{data}"
plugin_dir = "{plugins}"
bind_addr = "127.0.0.1"
disable_update_check = true
log_level = "DEBUG"

ports {{
  http = {http}
  rpc  = {rpc}
  serf = {serf}
}}

client {{
  options = {{
    "fingerprint.denylist" = "env_aws,env_gce,env_azure,env_digitalocean,{denied}vault"
  }}
}}

consul {{
{consul_address}  auto_advertise   = false
  server_auto_join = false
  client_auto_join = false
}}

vault {{
  enabled = false
}}

plugin "nomad-driver-elide" {{
  config {{
{plugin_config}
  }}
}}
{raw_exec_plugin}"""

# Appended to the agent's configuration by NomadAgent(raw_exec=True), for
# benchmarks that compare the elide driver with Nomad's raw_exec on one agent.
RAW_EXEC_PLUGIN = """
plugin "raw_exec" {
  config {
    enabled = true
  }
}
"""


# A private Consul dev agent (NomadAgent(consul=...)): loopback only, free
# ports, no DNS/gRPC/HTTPS listeners, no update check, no Connect.
CONSUL_CONFIG = """
bind_addr      = "127.0.0.1"
client_addr    = "127.0.0.1"
advertise_addr = "127.0.0.1"
data_dir       = "{data}"
disable_update_check        = true
disable_anonymous_signature = true
log_level = "DEBUG"

ports {{
  http     = {http}
  https    = -1
  dns      = -1
  grpc     = -1
  grpc_tls = -1
  serf_lan = {serf_lan}
  serf_wan = {serf_wan}
  server   = {server}
}}

connect {{
  enabled = false
}}
"""


class NomadAgent:
    def __init__(self, nomad, plugin_binary, plugin_config=None, keep=False, consul=None,
                 raw_exec=False):
        self.nomad = nomad
        self.plugin_binary = os.path.realpath(plugin_binary)
        self.plugin_config = plugin_config or {"python_runtime": "/usr/bin/python3"}
        self.keep = keep
        self.dir = tempfile.mkdtemp(prefix="elide-e2e-")
        self.proc = None
        self.http = _free_port()
        self.addr = "http://127.0.0.1:%d" % self.http
        self.log_path = os.path.join(self.dir, "agent.log")
        self.consul_binary = consul
        self.raw_exec = raw_exec
        self.consul_proc = None
        self.consul_http = _free_port() if consul else None
        self.consul_addr = "http://127.0.0.1:%d" % self.consul_http if consul else None
        self.consul_log_path = os.path.join(self.dir, "consul.log")

    # -- lifecycle ---------------------------------------------------------
    def _start_consul(self, timeout=60):
        cfg_path = os.path.join(self.dir, "consul.hcl")
        with open(cfg_path, "w") as f:
            f.write(CONSUL_CONFIG.format(data=os.path.join(self.dir, "consul-data"),
                                         http=self.consul_http, serf_lan=_free_port(),
                                         serf_wan=_free_port(), server=_free_port()))
        self.consul_log = open(self.consul_log_path, "w")
        self.consul_proc = subprocess.Popen(
            [self.consul_binary, "agent", "-dev", "-config-file=" + cfg_path],
            stdout=self.consul_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.consul_proc.poll() is not None:
                raise RuntimeError("consul agent exited with %s; log: %s" %
                                   (self.consul_proc.returncode, self.consul_log_path))
            if self.consul_api("/v1/status/leader"):
                return
            time.sleep(0.3)
        raise RuntimeError("consul agent has no leader within %ds; log: %s" %
                           (timeout, self.consul_log_path))

    def _stop_consul(self):
        if self.consul_proc and self.consul_proc.poll() is None:
            self.consul_proc.send_signal(signal.SIGINT)
            try:
                self.consul_proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.consul_proc.pid, signal.SIGKILL)
                self.consul_proc.wait()
        if hasattr(self, "consul_log"):
            self.consul_log.close()

    def start(self, timeout=90):
        if self.consul_binary:
            self._start_consul()
        plugins = os.path.join(self.dir, "plugins")
        os.makedirs(plugins)
        os.symlink(self.plugin_binary, os.path.join(plugins, "nomad-driver-elide"))
        lines = "\n".join('    %s = %s' % (k, json.dumps(v)) for k, v in self.plugin_config.items())
        consul_address = ('  address          = "127.0.0.1:%d"\n' % self.consul_http
                          if self.consul_binary else "")
        cfg = AGENT_CONFIG.format(data=os.path.join(self.dir, "data"), plugins=plugins,
                                  http=self.http, rpc=_free_port(), serf=_free_port(),
                                  plugin_config=lines, consul_address=consul_address,
                                  raw_exec_plugin=RAW_EXEC_PLUGIN if self.raw_exec else "",
                                  denied="" if self.consul_binary else "consul,")
        cfg_path = os.path.join(self.dir, "agent.hcl")
        with open(cfg_path, "w") as f:
            f.write(cfg)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([self.nomad, "agent", "-dev", "-config=" + cfg_path],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nomad agent exited with %s; log: %s" %
                                   (self.proc.returncode, self.log_path))
            node = self.elide_node_driver()
            if node and node.get("Healthy"):
                return self
            time.sleep(0.5)
        raise RuntimeError("elide driver not healthy within %ds; log: %s" %
                           (timeout, self.log_path))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._stop_consul()
        if hasattr(self, "log"):
            self.log.close()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- API and CLI -------------------------------------------------------
    def api(self, path, method="GET", body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.addr + path, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.URLError:
            return None

    def consul_api(self, path):
        """GET on the private Consul agent's HTTP API (decoded JSON), or None."""
        try:
            with urllib.request.urlopen(self.consul_addr + path, timeout=10) as r:
                return json.loads(r.read() or b"null")
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def cli(self, *args, check=True, timeout=120):
        env = dict(os.environ, NOMAD_ADDR=self.addr)
        r = subprocess.run([self.nomad] + list(args), env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise RuntimeError("nomad %s failed (%d): %s%s" %
                               (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def elide_node_driver(self):
        nodes = self.api("/v1/nodes")
        if not nodes:
            return None
        node = self.api("/v1/node/" + nodes[0]["ID"])
        return (node or {}).get("Drivers", {}).get("elide")

    def node(self):
        nodes = self.api("/v1/nodes")
        return self.api("/v1/node/" + nodes[0]["ID"]) if nodes else None

    def run_job(self, path, variables=None):
        """Submits a job file with `nomad job run -detach` (and `-var k=v` for
        each item of `variables`); returns its ID."""
        args = ["job", "run", "-detach"]
        for k, v in (variables or {}).items():
            args += ["-var", "%s=%s" % (k, v)]
        self.cli(*(args + [path]))
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("job "):
                    return line.split('"')[1]
        raise RuntimeError("no job name in " + path)

    def allocs(self, job):
        return self.api("/v1/job/%s/allocations" % job) or []

    def wait_alloc(self, job, statuses, timeout=60):
        """Waits for the job's first alloc to reach one of `statuses`."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for a in self.allocs(job):
                if a["ClientStatus"] in statuses:
                    return self.api("/v1/allocation/" + a["ID"])
            time.sleep(0.25)
        raise RuntimeError("job %s: no alloc reached %s in %ds (allocs: %s)" %
                           (job, statuses, timeout, self.allocs(job)))

    def logs(self, alloc_id, task, stderr=False):
        args = ["alloc", "logs"] + (["-stderr"] if stderr else []) + [alloc_id, task]
        return self.cli(*args).stdout

    def wait_for_log(self, alloc_id, task, text, timeout=15, stderr=False):
        """Polls the task's log until it contains `text` or `timeout` seconds
        have passed; returns the last log read (the caller checks it)."""
        deadline = time.time() + timeout
        while True:
            out = self.logs(alloc_id, task, stderr=stderr)
            if text in out or time.time() >= deadline:
                return out
            time.sleep(0.2)

    def stop_job(self, job, timeout=60):
        """`nomad job stop -detach`, then waits for every alloc of the job to
        be complete or failed. Returns (seconds from the stop command until
        then, the first alloc as it is then), or (None, None) on timeout."""
        t0 = time.time()
        self.cli("job", "stop", "-detach", job)
        deadline = time.time() + timeout
        while time.time() < deadline:
            allocs = self.allocs(job)
            if allocs and all(a["ClientStatus"] in ("complete", "failed") for a in allocs):
                return time.time() - t0, self.api("/v1/allocation/" + allocs[0]["ID"])
            time.sleep(0.1)
        return None, None

    def alloc_status(self, alloc_id):
        """The text of `nomad alloc status <alloc_id>`."""
        return self.cli("alloc", "status", alloc_id).stdout

    def log_tail(self, lines=60):
        """The last `lines` lines of the agent's own log, or None if
        unreadable. The HTTP API's per-request debug lines (the tests poll
        it) are left out: they would crowd out everything else."""
        try:
            with open(self.log_path) as f:
                kept = [ln for ln in f if "http: request complete" not in ln]
            return "".join(kept[-lines:])
        except OSError:
            return None

    def events(self, alloc, task):
        return (alloc.get("TaskStates") or {}).get(task, {}).get("Events") or []
