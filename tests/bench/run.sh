#!/bin/sh
# Runs the benchmarks of tests/bench/ against an existing build tree and
# prints the table; the JSON results go to tests/bench/results/<date>.json.
#
#   tests/bench/run.sh [BUILD_DIR] [bench.py options, e.g. --runs 50 --out r.json]
#
# BUILD_DIR (default build/ of this checkout) must have been built with
# `cmake --build BUILD_DIR`; this script builds nothing (bench.py compiles
# only its own ten-line native caller, the bare baseline of the native row).
# Run as root, as Nomad's client runs the driver.
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
exec /usr/bin/python3 "$here/bench.py" --build "$build" "$@"
