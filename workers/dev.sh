#!/usr/bin/env bash
# The README's first command: install what is missing, build, and run `ledgerca dev`
# (PostgreSQL in a throwaway directory, Kafka embedded, the workers, a demo certificate).
# Arguments go to `ledgerca dev` (e.g. --env-file FILE).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tests/infra/deps.sh"
build=${LCA_BUILD_DIR:-$top/build}
cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "${LCA_JOBS:-2}" >/dev/null
exec "$build/workers/ledgerca" dev "$@"
