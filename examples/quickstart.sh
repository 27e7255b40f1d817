#!/usr/bin/env bash
# Quick start: installs what is needed, builds nomad-driver-elide, builds
# (once, cached) the pinned Nomad agent, runs examples/jobs/python-hello.nomad.hcl
# through the driver on a Nomad dev agent bound to 127.0.0.1, prints the
# job's logs and status, then stops the agent, leaving nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/install-deps.sh
[ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH"
export GOFLAGS="${GOFLAGS:--mod=mod}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build

exec /usr/bin/python3 - "$PWD/build/bin/nomad-driver-elide" "${1:-examples/jobs/python-hello.nomad.hcl}" <<'PY'
import os, sys
sys.path.insert(0, os.path.join(os.getcwd(), "tests", "e2e"))
from nomad_agent import NomadAgent, build_nomad

plugin, job_file = sys.argv[1], sys.argv[2]
nomad = build_nomad()
print("==> starting a Nomad dev agent (%s) with the elide driver" % nomad)
with NomadAgent(nomad, plugin) as agent:
    print("==> nomad job run " + job_file)
    job = agent.run_job(job_file)
    alloc = agent.wait_alloc(job, ("complete", "failed"), timeout=120)
    task = next(iter(alloc["TaskStates"]))
    print("==> nomad alloc logs %s %s" % (alloc["ID"][:8], task))
    sys.stdout.write(agent.logs(alloc["ID"], task))
    print("==> nomad alloc logs -stderr %s %s" % (alloc["ID"][:8], task))
    sys.stdout.write(agent.logs(alloc["ID"], task, stderr=True))
    print("==> nomad alloc status %s" % alloc["ID"][:8])
    sys.stdout.write(agent.cli("alloc", "status", alloc["ID"]).stdout)
print("==> agent stopped")
sys.exit(0 if alloc["ClientStatus"] == "complete" else 1)
PY
