#!/usr/bin/env bash
# The README's benchmark command: the same set-up as the test runner, then every benchmark (CTest label
# bench, `ledgerca bench NAME`), verbose so their JSON lines are printed. Extra arguments go to ctest.
set -euo pipefail
LCA_TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$LCA_TOP/tests/infra/lib.sh"
. "$LCA_TOP/tests/infra/setup.sh"
lca_setup
cd "$LCA_BUILD_DIR"
rc=0
ctest -L bench -V "$@" || rc=$?
exit "$rc"
