#!/bin/sh
# Runs every benchmark of tests/bench/ against an existing build tree and
# prints their tables: bench.py (the plugin over gRPC: start latency,
# throughput, memory, logs, daemon; JSON in tests/bench/results/<date>.json),
# then bench_agent.py (one real Nomad dev agent running elide and raw_exec
# side by side; JSON in tests/bench/results/agent-<date>.json).
#
#   tests/bench/run.sh [BUILD_DIR] [--no-agent] [bench.py options, e.g. --runs 50]
#
# BUILD_DIR (default build/ of this checkout) must have been built with
# `cmake --build BUILD_DIR`; this script builds nothing of the product
# (bench.py compiles only its own ten-line native caller, the bare baseline
# of the native row; bench_agent.py builds the pinned Nomad on first use,
# as the e2e tests do, cached under ~/.cache). --no-agent skips the agent
# part. Run as root, as Nomad's client runs the driver. Exits non-zero if
# either part failed, after running both.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$here/../.." && pwd)/build
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  build=$1
  shift
fi
if [ ! -x "$build/bin/nomad-driver-elide" ]; then
  echo "run.sh: $build/bin/nomad-driver-elide is missing: run cmake --build $build first" >&2
  exit 2
fi
agent=1
for arg in "$@"; do
  shift
  if [ "$arg" = "--no-agent" ]; then
    agent=0
  else
    set -- "$@" "$arg"
  fi
done
rc=0
/usr/bin/python3 "$here/bench.py" --build "$build" "$@" || rc=$?
if [ "$agent" = 1 ]; then
  echo
  /usr/bin/python3 "$here/bench_agent.py" --build "$build" || rc=$?
fi
exit "$rc"
