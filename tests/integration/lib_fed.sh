#!/usr/bin/env bash
# lib_fed.sh — cluster helpers of the multi-cluster tests (test_multicluster.sh), on top of
# lib_e2e.sh. A cluster is its own database (migrated; the Operator token of the test copied
# in, hashed as stored), its own signer consuming ledgerca.commands.<kind>.<cluster>, and a
# relay to ledgerca.events.<cluster>. Cluster ids are unique per run (e.g. a3f9c2d1a), so
# their topics are new and hold only this run's messages. The KEK file is shared.
#
# Sourced after lib_e2e.sh and e2e_init. Run directly, it has nothing to self-test.

FED_CLUSTERS=()

# fed_id LETTER: the cluster id of this run for LETTER (a, b, c).
fed_id() { echo "f${E2E_RUN}$1"; }

# fed_uri CLUSTER: the database URI of a cluster.
fed_uri() { e2e_db_uri "e2e_fed_${1}"; }

fed_psql() {
  local c=$1
  shift
  psql -XAtq -F ' ' -v ON_ERROR_STOP=1 "$(fed_uri "$c")" "$@"
}

# fed_cluster_add CLUSTER: database, migration, token.
fed_cluster_add() {
  local c=$1
  psql -XAtq -v ON_ERROR_STOP=1 "$LCA_TEST_PG_URI" -c "CREATE DATABASE e2e_fed_$c" >/dev/null ||
    return 1
  FED_CLUSTERS+=("$c")
  "$LEDGERCA" migrate --pg-uri "$(fed_uri "$c")" >"$E2E_DIR/migrate.$c.log" 2>&1 || return 1
  e2e_psql -c "COPY (SELECT encode(token_hash, 'hex'), persona FROM tokens) TO STDOUT" |
    while read -r h p; do
      fed_psql "$c" -c "INSERT INTO tokens (token_hash, persona) VALUES (decode('$h', 'hex'), '$p')"
    done >/dev/null
}

# fed_bg NAME CMD...: runs CMD in the background, its output in $E2E_DIR/NAME.log; the pid of
# the command itself (not a wrapper) in FED_PID, registered for clean-up.
fed_bg() {
  local name=$1 pidfile="$E2E_DIR/$1.pid"
  shift
  rm -f "$pidfile"
  bash -c '"${@:2}" & echo $! >"$1.tmp"; mv "$1.tmp" "$1"; wait $!' fed-bg "$pidfile" "$@" \
    >>"$E2E_DIR/$name.log" 2>&1 &
  while [ ! -s "$pidfile" ]; do sleep 0.01; done
  FED_PID=$(cat "$pidfile")
  E2E_PIDS+=("$FED_PID")
}

# fed_signer CLUSTER [ARGS...]: a signer of the cluster (forwarding revocations).
fed_signer() {
  local c=$1
  shift
  fed_bg "signer.$c" "$LEDGERCA" signer --bootstrap "$E2E_BS" --pg-uri "$(fed_uri "$c")" \
    --cluster "$c" --kek-file "$E2E_DIR/kek" --topic-suffix ".$c" --forward-revocations "$@"
  eval "FED_SIGNER_$c=$FED_PID"
}

# fed_relay CLUSTER: a relay of the cluster.
fed_relay() {
  fed_bg "relay.$1" "$LEDGERCA" relay --bootstrap "$E2E_BS" --pg-uri "$(fed_uri "$1")" \
    --cluster "$1"
  eval "FED_RELAY_$1=$FED_PID"
}

# fed_wait_log NAME PATTERN [TIMEOUT]: waits until $E2E_DIR/NAME.log holds PATTERN.
fed_wait_log() {
  local deadline=$((SECONDS + ${3:-60}))
  until grep -q "$2" "$E2E_DIR/$1.log" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

# fed_until TIMEOUT CMD...: waits until CMD succeeds (the end state, never a duration, is
# what the tests assert).
fed_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.3
  done
}

# fed_request CLUSTER TYPE PAYLOAD [TIMEOUT] [COMMAND_ID]: like e2e_request, to a cluster's
# topics; E2E_REPLY, E2E_CID, E2E_CMD_ID.
fed_request() {
  local c=$1 t
  t=$(e2e_topic "$2").$c
  E2E_CMD_ID=${5:-$(e2e_uuid)}
  E2E_CID="$E2E_NAME-$E2E_RUN-$E2E_CMD_ID"
  E2E_REPLY='{}'
  e2e_cmd "$2" "$E2E_CID" "$3" "$E2E_CMD_ID" | e2e_send "$t" || return 1
  echo "$E2E_CID" >"$E2E_DIR/one.cid"
  e2e_wait_replies "$E2E_DIR/one.cid" "${4:-30}" >&2 || return 1
  E2E_REPLY=$(e2e_py reply "$E2E_DIR/replies.jsonl" "$E2E_CID")
}

# fed_send CLUSTER TYPE PAYLOAD CID [COMMAND_ID]: sends without waiting.
fed_send() {
  e2e_cmd "$2" "$4" "$3" "${5:-$(e2e_uuid)}" | e2e_send "$(e2e_topic "$2").$1"
}

# fed_replies CID: how many replies carry this correlation id.
fed_replies() { e2e_py reply "$E2E_DIR/replies.jsonl" "$1" all 2>/dev/null | grep -c .; }

# fed_crl_serials FILE: the serials of a DER CRL, uppercase hex without leading zeros, sorted.
fed_crl_serials() {
  openssl crl -inform DER -in "$1" -noout -text 2>/dev/null |
    sed -n 's/^ *Serial Number: *\([0-9A-Fa-f]*\)$/\1/p' | tr 'a-f' 'A-F' | sed 's/^0*//' | sort
}

# fed_norm SERIAL: colon hex to the form of fed_crl_serials.
fed_norm() { tr -d ':' <<<"$1" | tr 'a-f' 'A-F' | sed 's/^0*//'; }

# fed_revoked_in CLUSTER: serials revoked in a cluster's log (form of fed_crl_serials).
fed_revoked_in() {
  fed_psql "$1" -c "SELECT encode(payload, 'hex') FROM events WHERE type = 'CertificateRevoked' ORDER BY position" |
    e2e_py mpfield payload.serial_number | while read -r s; do fed_norm "$s"; done | sort
}

fed_cleanup_dbs() {
  local c
  for c in "${FED_CLUSTERS[@]}"; do
    psql -XAtq "$LCA_TEST_PG_URI" -c "DROP DATABASE IF EXISTS e2e_fed_$c WITH (FORCE)" >/dev/null 2>&1
  done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  echo "lib_fed.sh: helpers only"
  echo "0 passed, 0 failed"
fi
