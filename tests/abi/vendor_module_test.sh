#!/usr/bin/env bash
# The vendor-module example end to end: installs the build into a fresh
# prefix, copies examples/vendor-module out of the source tree, builds it
# with only the installed header and pkg-config, checks it exports one
# symbol, installs it into the prefix's module directory (from pkg-config),
# and runs Lua tasks through the real loader on the mock host.
# Usage: vendor_module_test.sh BUILD_DIR SOURCE_DIR CC TEST_BINARY
set -euo pipefail
build_dir=$1 source_dir=$2 cc=$3 test_binary=$4
here=$(cd "$(dirname "$0")" && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/elide-vendor-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

step() { echo "== $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

step "cmake --install into $prefix"
cmake --install "$build_dir" --prefix "$prefix" >"$tmp/install.log" || {
  cat "$tmp/install.log" >&2; fail "cmake --install"; }
header=$prefix/include/nomad-driver-elide/elide_module.h
[ -f "$header" ] || fail "header not installed at $header"
pc=$(find "$prefix" -name nomad-driver-elide-module.pc)
[ -n "$pc" ] || fail "nomad-driver-elide-module.pc not installed"
export PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_LIBDIR=$PKG_CONFIG_PATH # nothing from the system's own .pc files

step "pkg-config"
cflags=$(pkg-config --cflags nomad-driver-elide-module)
echo "cflags: $cflags"
[[ " $cflags " == *" -I$prefix/include/nomad-driver-elide "* ]] || fail "cflags lack the installed include dir"
moduledir=$(pkg-config --variable=moduledir nomad-driver-elide-module)
echo "moduledir: $moduledir"
[ "$moduledir" = "$prefix/lib/nomad-driver-elide/modules" ] || fail "moduledir is not the prefix's module dir"
[ -f "$moduledir/python.so" ] || fail "the shipped modules are not in moduledir"
[ "$(pkg-config --modversion nomad-driver-elide-module)" = "$(pkg-config --variable=abi_major nomad-driver-elide-module).$(pkg-config --variable=abi_minor nomad-driver-elide-module)" ] ||
  fail "Version is not the ABI version"

step "the installed header stands alone (C99, C11 pedantic; C++ when a compiler is here)"
printf '#include "elide_module.h"\nint main(void) { return ELIDE_ABI_MAJOR - 1; }\n' >"$tmp/hdr.c"
for std in c99 c11; do
  "$cc" -std=$std -Wall -Wextra -Wpedantic -Werror $cflags -fsyntax-only "$tmp/hdr.c"
done
if cxx=$(command -v c++ || command -v g++ || command -v clang++); then
  "$cxx" -x c++ -std=c++11 -Wall -Wextra -Wpedantic -Werror $cflags -fsyntax-only "$tmp/hdr.c"
else
  echo "no C++ compiler: C++ check skipped"
fi

step "build the vendor module out of tree"
cp -r "$source_dir/examples/vendor-module" "$tmp/vendor-src"
mkdir "$tmp/vendor-build"
make -C "$tmp/vendor-build" -f "$tmp/vendor-src/Makefile" CC="$cc" lua.so
"$here/check_exports.sh" "$tmp/vendor-build/lua.so"
make -C "$tmp/vendor-build" -f "$tmp/vendor-src/Makefile" install
[ -f "$moduledir/lua.so" ] || fail "make install did not put lua.so into $moduledir"

step "load it beside the shipped modules and run Lua tasks"
"$test_binary" "$moduledir"
