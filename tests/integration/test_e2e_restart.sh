#!/usr/bin/env bash
# test_e2e_restart.sh — the infrastructure restarted under load: PostgreSQL (pg.sh restart,
# a fast shutdown that drops every connection) and then the Kafka broker (kafka.sh restart)
# while the signer works through a load of issue commands. The same signer process must
# reconnect and go on: every command answered, exactly one commands row and one
# CertificateIssued event per command id, nothing lost.
#
# Needs LCA_TEST_PG_DIR and LCA_TEST_KAFKA_DIR (exported by tests/infra/setup.sh) to restart
# the services the runner started. LCA_E2E_RESTART_LOAD commands per phase (default 1000).
set -uo pipefail
. "$(dirname "$0")/lib_e2e.sh"
for v in LCA_TEST_PG_DIR LCA_TEST_KAFKA_DIR; do
  [ -n "${!v:-}" ] || e2e_die "$v is not set (run through tests/run, which starts PostgreSQL and Kafka)"
done
INFRA=${LCA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/infra
[ -x "$INFRA/pg.sh" ] || [ -f "$INFRA/pg.sh" ] || e2e_die "no $INFRA/pg.sh"
e2e_init restart
W=$E2E_DIR
LOAD=${LCA_E2E_RESTART_LOAD:-1000}

e2e_signer_start
e2e_check "signer starts" e2e_signer_ready 60
e2e_request role.write '{"name":"web","allowed_domains":["example.com"],"allow_subdomains":true,"key_type":"ec"}'
e2e_eq "role.write answered ok" ok "$(e2e_jget status <<<"$E2E_REPLY")"
read -r _ XPUB < <(e2e_x25519)
SIGNER=$E2E_SIGNER_PID

# make_load PHASE: PHASE.jsonl (commands), PHASE.cids, and the ids in table e2e_PHASE.
make_load() {
  python3 -c '
import json, os, sys, uuid
n, run, pub, phase, d = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
with open(d + "/" + phase + ".uuids", "w") as ids, open(d + "/" + phase + ".cids", "w") as cids, \
     open(d + "/" + phase + ".jsonl", "w") as cmds:
    for i in range(n):
        u = str(uuid.uuid4())
        cid = "rs-%s-%s-%d" % (run, phase, i)
        ids.write(u + "\n")
        cids.write(cid + "\n")
        cmds.write(json.dumps({"command_id": u, "type": "issue", "correlation_id": cid,
                               "token": os.environ.get("E2E_TOKEN", ""),
                               "payload": {"role": "web", "common_name": "%s%d.example.com" % (phase, i),
                                           "recipient_public_key": pub}}) + "\n")
' "$LOAD" "$E2E_RUN" "$XPUB" "$1" "$W"
  e2e_psql -c "CREATE TABLE e2e_$1 (command_id uuid PRIMARY KEY)" -c "\\copy e2e_$1 FROM '$W/$1.uuids'"
}

# done_count PHASE: commands of the phase recorded so far (empty while the database is down).
done_count() { e2e_psql -c "SELECT count(*) FROM commands JOIN e2e_$1 USING (command_id)" 2>/dev/null; }

# wait_progress PHASE MIN: until at least MIN commands of the phase are recorded.
wait_progress() {
  local deadline=$((SECONDS + 60)) c
  while [ $SECONDS -lt $deadline ]; do
    c=$(done_count "$1")
    [ "${c:-0}" -ge "$2" ] && return 0
    sleep 0.05
  done
  return 1
}

# check_phase PHASE REPLIES_FILE
check_phase() {
  e2e_check "$1: every command answered" e2e_py wait "$2" "$W/$1.cids" 180
  e2e_eq "$1: one commands row per command id, none lost" "$LOAD 0" \
    "$(e2e_psql -c "SELECT count(*), count(*) FILTER (WHERE c <> 1) FROM
                      (SELECT command_id, count(*) c FROM commands JOIN e2e_$1 USING (command_id) GROUP BY 1) d")"
  e2e_eq "$1: exactly one CertificateIssued per command id" "$LOAD 0" \
    "$(e2e_psql -c "SELECT count(*), count(*) FILTER (WHERE c <> 1) FROM
                      (SELECT command_id, count(*) c FROM events JOIN e2e_$1 USING (command_id)
                       WHERE type = 'CertificateIssued' GROUP BY 1) d")"
  e2e_eq "$1: replies: none missing, duplicates identical, all ok" "missing=0 differing=0 not_ok=0" \
    "$(e2e_py replystats "$2" "$W/$1.cids" | sed 's/ duplicated=[0-9]*//')"
  echo "# $1: $(e2e_py replystats "$2" "$W/$1.cids")"
  e2e_check "$1: the same signer process is still running (it reconnected)" \
    test "$E2E_SIGNER_PID" = "$SIGNER" -a -n "$SIGNER"
  e2e_signer_alive || e2e_bad "$1: signer exited: $(grep -m1 'signer stopped' "$E2E_SIGNER_LOG")"
}

# ---- PostgreSQL restarted during the load ----
make_load pg
t=$SECONDS
e2e_send "$E2E_TOPIC_ISSUE" <"$W/pg.jsonl"
e2e_check "pg: the load is being processed" wait_progress pg $((LOAD / 5))
if bash "$INFRA/pg.sh" restart "$LCA_TEST_PG_DIR"; then
  e2e_ok "pg: PostgreSQL restarted (fast shutdown, all connections dropped) at $(done_count pg)/$LOAD"
else
  e2e_bad "pg: pg.sh restart failed"
fi
check_phase pg "$W/replies.jsonl"
e2e_check "pg: the signer noticed the outage and retried" \
  grep -q 'msg="batch not committed; retrying after rebuilding the state" class=retriable' "$E2E_SIGNER_LOG"
echo "# pg phase: $((SECONDS - t))s"

# ---- the Kafka broker restarted during the load ----
make_load kafka
t=$SECONDS
e2e_send "$E2E_TOPIC_ISSUE" <"$W/kafka.jsonl"
e2e_check "kafka: the load is being processed" wait_progress kafka $((LOAD / 5))
at=$(done_count kafka)
if bash "$INFRA/kafka.sh" restart "$LCA_TEST_KAFKA_DIR" >"$W/kafka-restart.log" 2>&1; then
  e2e_ok "kafka: broker restarted at $at/$LOAD"
else
  e2e_bad "kafka: kafka.sh restart failed: $(tail -n 3 "$W/kafka-restart.log")"
fi
# the reply tail may have missed messages around the broker restart: read the replies again
deadline=$((SECONDS + 180))
while :; do
  kcat -C -b "$E2E_BS" -t "$E2E_TOPIC_REPLIES" -o "s@$E2E_T0MS" -e -J -q >"$W/replies.final.jsonl" 2>/dev/null
  e2e_py wait "$W/replies.final.jsonl" "$W/kafka.cids" 0 2>/dev/null && break
  [ $SECONDS -lt $deadline ] || break
  sleep 2
done
check_phase kafka "$W/replies.final.jsonl"
e2e_check "kafka: the signer noticed the broker outage (retriable client errors logged)" \
  grep -q 'msg="kafka" class=retriable' "$E2E_SIGNER_LOG"
echo "# kafka phase: $((SECONDS - t))s"

e2e_signer_stop
e2e_eq "the signer drains on SIGTERM after both restarts (exit 0)" 0 "$E2E_SIGNER_RC"
e2e_finish
