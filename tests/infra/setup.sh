# shellcheck shell=bash
# The shared set-up of tests/infra/test.sh and tests/infra/bench.sh (sourced after lib.sh):
# packages, oracles, build, then a real PostgreSQL and a real Kafka broker in a temporary directory,
# torn down on exit (also on failure and Ctrl-C).
#
# Environment in:  CI=true (warnings are errors), LCA_SANITIZE=ON (ASan/UBSan build in build-asan/),
#                  LCA_BUILD_DIR, LCA_JOBS (default 2), LCA_TEST_NO_SERVICES=1 (start no services).
# Environment out: LCA_TEST_PG_URI (superuser URI; tests create their own databases),
#                  LCA_TEST_KAFKA_BOOTSTRAP (127.0.0.1:PORT), LCA_TEST_PG_DIR / LCA_TEST_KAFKA_DIR (for
#                  `pg.sh restart` / `kafka.sh restart` in restart tests), LCA_BUILD_DIR.

lca_teardown() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "${LCA_TEST_KAFKA_DIR:-}" ]; then "$LCA_INFRA/kafka.sh" stop "$LCA_TEST_KAFKA_DIR" || true; fi
  if [ -n "${LCA_TEST_PG_DIR:-}" ]; then "$LCA_INFRA/pg.sh" stop "$LCA_TEST_PG_DIR" || true; fi
  [ -n "${LCA_RUN_DIR:-}" ] && rm -rf "$LCA_RUN_DIR"
  exit "$rc"
}

# lca_phase NAME CMD...: runs CMD and records how long it took in LCA_TIMINGS.
lca_phase() {
  local name=$1 t
  shift
  t=$(lca_now)
  "$@"
  LCA_TIMINGS+="$name=$(lca_elapsed "$t")s "
}

lca_build() {
  local werror=OFF sanitize=${LCA_SANITIZE:-OFF}
  [ "${CI:-}" = "true" ] && werror=ON
  cmake -S "$LCA_TOP" -B "$LCA_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLCA_WERROR="$werror" -DLCA_SANITIZE="$sanitize" >/dev/null
  cmake --build "$LCA_BUILD_DIR" -j "${LCA_JOBS:-2}"
}

lca_start_pg() {
  export LCA_TEST_PG_DIR="$LCA_RUN_DIR/pg"
  LCA_TEST_PG_URI=$("$LCA_INFRA/pg.sh" start "$LCA_TEST_PG_DIR")
  export LCA_TEST_PG_URI
}

lca_start_kafka() {
  export LCA_TEST_KAFKA_DIR="$LCA_RUN_DIR/kafka"
  LCA_TEST_KAFKA_BOOTSTRAP=$("$LCA_INFRA/kafka.sh" start "$LCA_TEST_KAFKA_DIR")
  export LCA_TEST_KAFKA_BOOTSTRAP
}

lca_setup() {
  LCA_T0=$(lca_now)
  LCA_TIMINGS=""
  LCA_INFRA="$LCA_TOP/tests/infra"
  LCA_RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ledgerca-run.XXXXXX")
  chmod 755 "$LCA_RUN_DIR" # the PostgreSQL server may run as another user (pg.sh)
  export LCA_RUN_DIR
  trap lca_teardown EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  local default_build="$LCA_TOP/build"
  [ "${LCA_SANITIZE:-OFF}" = "ON" ] && default_build="$LCA_TOP/build-asan"
  export LCA_BUILD_DIR=${LCA_BUILD_DIR:-$default_build}

  lca_phase deps "$LCA_INFRA/deps.sh"
  lca_phase oracles "$LCA_INFRA/oracles.sh"
  local pyscripts
  pyscripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
  export PATH="$HOME/go/bin:$pyscripts:$PATH"
  lca_phase build lca_build
  if [ "${LCA_TEST_NO_SERVICES:-}" = "1" ]; then
    echo "runner: LCA_TEST_NO_SERVICES=1, no PostgreSQL or Kafka started"
  else
    lca_phase pg_start lca_start_pg
    lca_phase kafka_fetch "$LCA_INFRA/kafka.sh" fetch
    lca_phase kafka_start lca_start_kafka
    echo "runner: LCA_TEST_PG_URI=$LCA_TEST_PG_URI LCA_TEST_KAFKA_BOOTSTRAP=$LCA_TEST_KAFKA_BOOTSTRAP"
  fi
  echo "runner: set-up ${LCA_TIMINGS}total=$(lca_elapsed "$LCA_T0")s"
}
