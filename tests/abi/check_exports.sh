#!/usr/bin/env bash
# Checks that every module exports exactly one dynamic symbol, the ABI entry
# elide_module_entry_v1. Arguments: module directories (every *.so in them,
# globbed now, so modules added later are covered) or .so files.
set -euo pipefail
NM=${NM:-nm}
want=elide_module_entry_v1

modules=()
for arg in "$@"; do
  if [ -d "$arg" ]; then
    for so in "$arg"/*.so; do [ -e "$so" ] && modules+=("$so"); done
  else
    modules+=("$arg")
  fi
done
if [ ${#modules[@]} -eq 0 ]; then
  echo "check_exports: no modules found in: $*" >&2
  exit 1
fi

bad=0
for so in "${modules[@]}"; do
  syms=$("$NM" -D --defined-only --format=posix "$so" | awk '{print $1}' | sort)
  if [ "$syms" = "$want" ]; then
    echo "ok: $so exports only $want"
  else
    echo "FAIL: $so must export exactly $want; it exports:" >&2
    printf '  %s\n' ${syms:-"(nothing)"} >&2
    bad=1
  fi
done
exit $bad
