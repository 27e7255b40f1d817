#!/usr/bin/env bash
# The whole test suite, as the README's test command and CI run it: installs
# the build dependencies, builds the normal tree (build/) and an ASan+UBSan
# tree (build-asan/), runs the unit and integration tests in the sanitizer
# build, then every test in the normal build - unit, integration, valgrind
# and the end-to-end tests on a real Nomad agent.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/install-deps.sh
[ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH"
export GOFLAGS="${GOFLAGS:--mod=mod}"

cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DELIDE_SANITIZE=ON -DELIDE_E2E=OFF \
  -DELIDE_VALGRIND=OFF
cmake --build build-asan
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build

status=0
echo "==> unit and integration tests under ASan+UBSan"
(cd build-asan && ctest --output-on-failure -j2) || status=1
echo "==> all tests (unit, integration, valgrind, end-to-end with a real Nomad agent)"
(cd build && ctest --output-on-failure -j2) || status=1
exit $status
