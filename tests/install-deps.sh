#!/usr/bin/env bash
# Installs what building and testing nomad-driver-elide needs on Debian 12:
# the C toolchain and libraries from Debian's packages. Nomad itself is built
# later from its Go module (tests/e2e/build-nomad.sh), which needs Go >= 1.25
# on PATH. Safe to run repeatedly; never prompts.
set -euo pipefail

packages=(
  gcc make cmake ninja-build pkg-config
  libgrpc-dev libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev protobuf-compiler
  protobuf-compiler-grpc
  libinih-dev libmsgpack-dev libffi-dev
  python3 python3-grpcio python3-protobuf
  clang lld wasi-libc libclang-rt-dev-wasm32
  lua5.4 nodejs valgrind
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null 2>&1; then
  echo "install-deps: Go >= 1.25 is needed to build the Nomad agent for the end-to-end tests" >&2
  exit 1
fi
