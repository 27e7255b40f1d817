# Sourced by build-nomad.sh and build-consul.sh: what building a pinned agent
# from its Go module and caching the binary takes, whichever agent it is.
# Both functions end the calling script (exit), as their names say.

# Prints the cached binary $1 and exits 0 when it is there and runs
# `$1 version`; returns (to build it) otherwise.
exit_if_cached() {
  local bin=$1
  if [ -x "$bin" ] && "$bin" version >/dev/null 2>&1; then
    echo "$bin"
    exit 0
  fi
}

# build_and_exit SCRIPT WHAT PIN MODULE VERSION BIN: in the current
# directory, whose go.mod (and go.sum) the caller wrote, downloads MODULE
# through the Go module proxy and builds it into BIN (through BIN.tmp, so an
# interrupted build never looks cached); prints BIN and exits 0. Exits 1
# when the module cannot be downloaded, non-zero when it does not build.
# Messages on stderr start with SCRIPT and name WHAT at PIN.
build_and_exit() {
  local script=$1 what=$2 pin=$3 module=$4 version=$5 bin=$6
  export GOFLAGS=-mod=mod GOTOOLCHAIN=local
  echo "$script: resolving $what $pin through the Go module proxy" >&2
  if ! go mod download "$module" >&2; then
    echo "$script: cannot download $module@$version" >&2
    exit 1
  fi
  echo "$script: building $what $pin (first build takes several minutes)" >&2
  go build -trimpath -o "$bin.tmp" "$module" >&2
  mv "$bin.tmp" "$bin"
  "$bin" version >&2
  echo "$bin"
  exit 0
}
