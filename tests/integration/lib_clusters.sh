#!/usr/bin/env bash
# lib_clusters.sh — helpers of the multi-cluster tests: several ledgerca clusters, each its own
# PostgreSQL database (its own event log) with its own signer, replicator and projector, all on
# the one Kafka broker of the test runner. Sources lib_e2e.sh (results, commands, replies).
#
#   . "$(dirname "$0")/lib_clusters.sh"; clu_init NAME; clu_add 1; clu_add 2; ...; e2e_finish
#
# Cluster N is "dcN". Cluster 1 uses the database of e2e_init; the others get
# "<that database>_dcN", migrated, with the test's Operator token copied in (tokens are local to
# a cluster's database). Every cluster's signers consume ledgerca.commands.<kind><suffix>; the
# deployment convention is suffix ".dcN", and the tests add the run id (".dcN.<run>") so that
# runs sharing one broker, or a rerun, never decide each other's commands: the topics are
# fresh, so a new consumer group starting at the earliest offset sees only this run's commands.
# Run directly (CTest globs every integration/*.sh), it checks that it parses and exits 0.

. "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh"

CLU_DBS=()          # extra databases, dropped at exit when the test passed
declare -A CLU_URI CLU_SUFFIX CLU_PID CLU_LOG CLU_N
CLU_PROCS=()        # every background process started here (killed at exit)

# clu_init NAME: e2e_init, then the exit trap of this file.
clu_init() {
  e2e_init "$1"
  trap clu_cleanup EXIT
}

clu_rc() { return "$1"; }

clu_cleanup() {
  local rc=$? p d
  for p in "${CLU_PROCS[@]}"; do
    kill -KILL "$p" 2>/dev/null
  done
  for p in "${CLU_PROCS[@]}"; do
    wait "$p" 2>/dev/null
  done
  if [ "$E2E_FAIL" -eq 0 ] && [ "$rc" -eq 0 ] && [ "${E2E_KEEP:-}" != "1" ]; then
    for d in "${CLU_DBS[@]}"; do
      psql -XAtq "$LCA_TEST_PG_URI" -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1
    done
  else
    echo "# kept databases: ${CLU_DBS[*]}"
    for p in "$E2E_DIR"/*.log; do
      [ -f "$p" ] || continue
      echo "# --- last lines of $p"
      tail -n 8 "$p" | sed 's/^/# /'
    done
  fi
  clu_rc "$rc"
  e2e_cleanup
}

# clu_add N: cluster dcN (database, migrations, token).
clu_add() {
  local n=$1 db
  CLU_SUFFIX[$n]=".dc$n.$E2E_RUN"
  if [ "$n" = 1 ]; then
    CLU_URI[$n]=$E2E_DB_URI
    return 0
  fi
  db="${E2E_DB}_dc$n"
  psql -XAtq -v ON_ERROR_STOP=1 "$LCA_TEST_PG_URI" -c "CREATE DATABASE $db" >/dev/null ||
    e2e_die "cannot create database $db"
  CLU_DBS+=("$db")
  CLU_URI[$n]=$(e2e_db_uri "$db")
  "$LEDGERCA" migrate --pg-uri "${CLU_URI[$n]}" >"$E2E_DIR/migrate.dc$n.log" 2>&1 ||
    e2e_die "ledgerca migrate failed on dc$n"
  psql -XAtq -v ON_ERROR_STOP=1 "$E2E_DB_URI" -c "COPY tokens TO STDOUT" |
    psql -XAtq -v ON_ERROR_STOP=1 "${CLU_URI[$n]}" -c "COPY tokens FROM STDIN" >/dev/null ||
    e2e_die "cannot copy the token to dc$n"
}

# clu_psql N ARGS...: psql on cluster N's database (unaligned, tuples only, ' ' separated).
clu_psql() {
  local n=$1
  shift
  psql -XAtq -F ' ' -v ON_ERROR_STOP=1 "${CLU_URI[$n]}" "$@"
}

# clu_bg NAME CMD...: runs CMD in the background with its output in $E2E_DIR/NAME.log;
# CLU_PID[NAME] is its pid (the process itself: `exec` in the subshell).
clu_bg() {
  local name=$1
  shift
  CLU_LOG[$name]="$E2E_DIR/$name.log"
  (exec "$@") >"${CLU_LOG[$name]}" 2>&1 &
  CLU_PID[$name]=$!
  CLU_PROCS+=($!)
}

# clu_wait_log NAME PATTERN [TIMEOUT]: waits until NAME's log holds PATTERN (1 if it exits).
clu_wait_log() {
  local deadline=$((SECONDS + ${3:-60}))
  while [ $SECONDS -lt $deadline ]; do
    grep -q -- "$2" "${CLU_LOG[$1]}" 2>/dev/null && return 0
    kill -0 "${CLU_PID[$1]}" 2>/dev/null || { grep -q -- "$2" "${CLU_LOG[$1]}" && return 0; return 1; }
    sleep 0.1
  done
  return 1
}

# clu_stop NAME: SIGTERM, then waits (SIGKILL after 30 s); CLU_RC is the exit status.
clu_stop() {
  local p=${CLU_PID[$1]} i
  kill -TERM "$p" 2>/dev/null
  for i in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null
  wait "$p" 2>/dev/null
  CLU_RC=$?
}

# clu_signer N [ARGS...]: starts cluster N's signer (extra args, e.g. --secondary-of dc1) and
# waits until it is ready. Its process is "signer.dcN" (a second start replaces the name).
clu_signer() {
  local n=$1
  shift
  clu_bg "signer.dc$n" "$LEDGERCA" signer --bootstrap "$E2E_BS" --pg-uri "${CLU_URI[$n]}" \
    --cluster "dc$n" --kek-file "$E2E_DIR/kek" --group "ledgerca-signer-dc$n-$E2E_RUN" \
    --topic-suffix "${CLU_SUFFIX[$n]}" --max-batch 50 "$@"
  clu_wait_log "signer.dc$n" 'msg="signer ready"' 90
}

# clu_replicate N [ARGS...]: one `ledgerca replicate --once` of dcN from dc1 in the foreground;
# its status is returned, its log is $E2E_DIR/replicate.dcN.log (appended).
clu_replicate() {
  local n=$1
  shift
  "$LEDGERCA" replicate --pg-uri "${CLU_URI[$n]}" --cluster "dc$n" --primary dc1 \
    --primary-pg-uri "${CLU_URI[1]}" --kek-file "$E2E_DIR/kek" --once "$@" \
    >>"$E2E_DIR/replicate.dc$n.log" 2>&1
}

# clu_topic N TYPE: the command topic of TYPE on cluster N.
clu_topic() { echo "$(e2e_topic "$2")${CLU_SUFFIX[$1]}"; }

# clu_request N TYPE PAYLOAD_JSON [TIMEOUT]: sends one command to cluster N and waits for its
# reply: R (JSON; '{}' on timeout), E2E_CID, E2E_CMD_ID.
clu_request() {
  E2E_CMD_ID=$(e2e_uuid)
  E2E_CID="$E2E_NAME-$E2E_RUN-$E2E_CMD_ID"
  R='{}'
  e2e_cmd "$2" "$E2E_CID" "$3" "$E2E_CMD_ID" | e2e_send "$(clu_topic "$1" "$2")" || return 1
  echo "$E2E_CID" >"$E2E_DIR/one.cid"
  e2e_wait_replies "$E2E_DIR/one.cid" "${4:-60}" >&2 || return 1
  R=$(e2e_py reply "$E2E_DIR/replies.jsonl" "$E2E_CID")
}

# clu_submit N TYPE PAYLOAD_JSON: `ledgerca submit` (the operator's client) to cluster N; the
# reply JSON in R, the exit status returned.
clu_submit() {
  local rc
  R=$("$LEDGERCA" submit --bootstrap "$E2E_BS" --topic-suffix "${CLU_SUFFIX[$1]}" \
    --token "$E2E_TOKEN" --timeout 60s --type "$2" --payload "$3" 2>>"$E2E_DIR/submit.log")
  rc=$?
  [ -n "$R" ] || R='{}'
  return $rc
}

# clu_status: the status of the reply in R.
clu_status() { e2e_jget status <<<"$R"; }

# clu_ca_events N: the CA-wide events of cluster N's log, one "command_id type sha256(payload)"
# a line in log order — what replication must make identical on every cluster.
clu_ca_events() {
  clu_psql "$1" -c "SELECT command_id, type, encode(sha256(payload), 'hex') FROM events
                    WHERE type IN ('ConfigUpdated', 'IssuerCreated', 'RootActivated',
                                   'IssuerUpdated', 'RoleWritten', 'RoleDeleted')
                    ORDER BY position"
}

# clu_event_field N TYPE FIELD [WHERE]: as e2e_event_field, on cluster N.
clu_event_field() {
  clu_psql "$1" -c "SELECT encode(payload, 'hex') FROM events WHERE type = '$2' ${4:-} ORDER BY position" |
    e2e_py mpfield "payload.$3"
}

# clu_der_to_pem: DER as hex on stdin -> PEM certificate on stdout.
clu_der_to_pem() { xxd -r -p | openssl x509 -inform DER; }

# clu_csr KEYFILE CN: a fresh P-256 key into KEYFILE and its CSR (PEM) on stdout.
clu_csr() {
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1" \
    -subj "/CN=$2" 2>/dev/null
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  echo "lib_clusters.sh: helpers only (sourced by test_replication.sh)"
  exit 0
fi
