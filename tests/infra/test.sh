#!/usr/bin/env bash
# Build and run the whole suite (unit + integration). Benchmarks: tests/infra/bench.sh.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
"$top/tests/infra/deps.sh"
build=${LCA_BUILD_DIR:-$top/build}
werror=OFF; [ "${CI:-}" = "true" ] && werror=ON
cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLCA_WERROR=$werror >/dev/null
cmake --build "$build"
cd "$build"
ctest --output-on-failure -LE bench "$@"
