#!/usr/bin/env bash
# Build and run the whole suite (unit + integration) against a real PostgreSQL and a real Kafka broker.
# Extra arguments go to ctest (e.g. `-L unit`). Benchmarks: tests/infra/bench.sh.
set -euo pipefail
LCA_TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$LCA_TOP/tests/infra/lib.sh"
. "$LCA_TOP/tests/infra/setup.sh"
lca_setup
cd "$LCA_BUILD_DIR"
rc=0
ctest --output-on-failure --timeout 600 -LE bench "$@" || rc=$?
exit "$rc"
