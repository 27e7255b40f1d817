#!/usr/bin/env bash
# Installs the pinned wazero CLI (the wasm backend's second tested engine)
# from the Go module proxy with `go install` and caches it under
# ${XDG_CACHE_HOME:-~/.cache}/nomad-driver-elide/wazero/<version>/wazero.
# Prints the path of the binary on stdout (progress goes to stderr); exits
# non-zero when it cannot be installed, and the tests then fail.
# Safe to run concurrently (a lock serialises the install).
set -euo pipefail

version=${ELIDE_WAZERO_VERSION:-v1.12.0}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/nomad-driver-elide/wazero/$version
bin=$cache/wazero

installed() { [ -x "$bin" ] && [ "$("$bin" version 2>/dev/null)" = "$version" ]; }

if installed; then
  echo "$bin"
  exit 0
fi

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null 2>&1; then
  echo "install-wazero.sh: Go is needed to install wazero $version (go install)" >&2
  exit 1
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if ! installed; then
  echo "install-wazero.sh: installing github.com/tetratelabs/wazero/cmd/wazero@$version" >&2
  tmp=$(mktemp -d "$cache/.gobin.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  # A static binary that does not depend on the build host's libc.
  if ! CGO_ENABLED=0 GOBIN="$tmp" GOFLAGS=-mod=mod \
      go install "github.com/tetratelabs/wazero/cmd/wazero@$version" >&2; then
    echo "install-wazero.sh: go install of wazero $version failed" >&2
    exit 1
  fi
  mv -f "$tmp/wazero" "$bin"
fi
if ! installed; then
  echo "install-wazero.sh: $bin does not report version $version" >&2
  exit 1
fi
echo "$bin"
