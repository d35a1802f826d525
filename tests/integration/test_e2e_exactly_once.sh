#!/usr/bin/env bash
# test_e2e_exactly_once.sh — DESIGN.md invariant 1 against the real binaries, Kafka and
# PostgreSQL: each command id yields exactly one outcome and at least one reply, however the
# signer dies.
#
#  1. Crash points: LEDGERCA_TEST_CRASH=<point>:2 makes the signer SIGKILL itself before the
#     PostgreSQL commit, after it, or while relaying the replies of its 2nd committed batch.
#     Commands are sent one at a time (each waits for its reply), so each batch holds exactly
#     one command and the state at the crash is known: before_commit leaves the 2nd command
#     unrecorded, the two others leave it recorded with its reply still in the outbox. The
#     signer is then restarted without the variable and more commands are sent.
#  2. Redelivery: the same command (same command id) produced twice, in two batches and in one
#     poll: one CertificateIssued, identical replies.
#  3. Load: LCA_E2E_LOAD issue commands (default 10000, the issue's acceptance load),
#     the signer SIGKILLed from outside 3 times at random points of the load and restarted:
#     zero lost, zero duplicated (CertificateIssued per command id), every reply delivered.
#     The load signers run with --max-batch 50 (LEDGERCA_MAX_BATCH): at the default 500 the
#     whole default load is four transactions and a kill "in the middle" could not be aimed;
#     smaller batches also mean more commit boundaries for a kill to land near.
set -uo pipefail
. "$(dirname "$0")/lib_e2e.sh"
e2e_init exactly_once
W=$E2E_DIR
LOAD=${LCA_E2E_LOAD:-10000}

e2e_signer_start
e2e_check "signer starts" e2e_signer_ready 60
e2e_request role.write '{"name":"web","allowed_domains":["example.com"],"allow_subdomains":true,"key_type":"ec"}'
e2e_eq "role.write answered ok" ok "$(e2e_jget status <<<"$E2E_REPLY")"
e2e_signer_stop
read -r _ XPUB < <(e2e_x25519)

# issue_cmd ROUND I: records "ID CID" in $W/ROUND.ids and prints one issue command.
issue_cmd() {
  local id cid
  id=$(e2e_uuid)
  cid="eo-$E2E_RUN-$1-$2"
  echo "$id $cid" >>"$W/$1.ids"
  e2e_cmd issue "$cid" "{\"role\":\"web\",\"common_name\":\"${1//_/-}-$2.example.com\",\"recipient_public_key\":\"$XPUB\"}" "$id"
}

# has_reply CID
has_reply() { e2e_py reply "$W/replies.jsonl" "$1" >/dev/null; }

# sql_ids ROUND: the command ids of a round as a SQL list.
sql_ids() { awk '{printf "%s'\''%s'\''", (NR > 1 ? "," : ""), $1}' "$W/$1.ids"; }

# check_round ROUND: exactly one outcome and at least one identical ok reply per command.
check_round() {
  local r=$1 n ids
  n=$(wc -l <"$W/$r.ids")
  ids=$(sql_ids "$r")
  cut -d' ' -f2 "$W/$r.ids" >"$W/$r.cids"
  e2e_check "$r: every command answered after the restart" e2e_wait_replies "$W/$r.cids" 60
  e2e_eq "$r: one commands row per command id ($n commands)" "$n 0" \
    "$(e2e_psql -c "SELECT count(*), count(*) FILTER (WHERE c <> 1) FROM
                      (SELECT command_id, count(*) c FROM commands WHERE command_id IN ($ids) GROUP BY 1) d")"
  e2e_eq "$r: exactly one CertificateIssued per command id" "$n 0" \
    "$(e2e_psql -c "SELECT count(*), count(*) FILTER (WHERE c <> 1) FROM
                      (SELECT command_id, count(*) c FROM events WHERE type = 'CertificateIssued'
                       AND command_id IN ($ids) GROUP BY 1) d")"
  e2e_eq "$r: replies: none missing, duplicates identical, all ok" \
    "missing=0 differing=0 not_ok=0" \
    "$(e2e_py replystats "$W/replies.jsonl" "$W/$r.cids" | sed 's/ duplicated=[0-9]*//')"
}

# ---- 1. crash points ----

crash_round() {
  local point=$1 i cid deadline committed unpublished second
  : >"$W/$point.ids"
  e2e_signer_start LEDGERCA_TEST_CRASH="$point:2"
  if ! e2e_signer_ready 60; then
    e2e_bad "$point: the signer with LEDGERCA_TEST_CRASH=$point:2 did not start (exit before ready)"
  fi
  for i in 1 2 3 4; do
    e2e_signer_alive || break
    issue_cmd "$point" "$i" | e2e_send "$E2E_TOPIC_ISSUE"
    cid=$(tail -n 1 "$W/$point.ids" | cut -d' ' -f2)
    deadline=$((SECONDS + 30))
    while ! has_reply "$cid" && e2e_signer_alive && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  done
  if e2e_signer_wait_exit 20; then
    e2e_eq "$point: the signer killed itself with SIGKILL (exit 137)" 137 "$E2E_SIGNER_RC"
  else
    e2e_bad "$point: the signer did not die at its crash point"
    e2e_signer_kill
  fi
  e2e_check "$point: the signer logged the crash point" \
    grep -q "msg=\"test crash point reached\" point=$point" "$E2E_SIGNER_LOG"
  committed=$(e2e_psql -c "SELECT count(*) FROM commands WHERE command_id IN ($(sql_ids "$point"))")
  unpublished=$(e2e_psql -c "SELECT count(*) FROM outbox WHERE published_at IS NULL
                             AND command_id IN ($(sql_ids "$point"))")
  second=$(sed -n 2p "$W/$point.ids" | cut -d' ' -f1)
  case $point in
    before_commit)
      e2e_eq "$point: at the crash the 1st command is recorded and the 2nd is not" "1 0" \
        "$committed $(e2e_psql -c "SELECT count(*) FROM commands WHERE command_id = '${second:-00000000-0000-0000-0000-000000000000}'")"
      ;;
    *)
      # LEDGERCA_TEST_CRASH=<point>:N documents "the N-th committed batch"
      e2e_eq "$point: at the crash the 2nd batch is committed (2 commands recorded)" 2 "$committed"
      e2e_check "$point: at the crash a recorded reply is still in the outbox" test "$unpublished" -ge 1
      ;;
  esac
  # restart: a new signer continues where the dead one stopped
  [ "$point" = before_commit ] || e2e_next_group
  e2e_signer_start
  e2e_check "$point: the signer restarts" e2e_signer_ready 60
  if [ "$point" = before_commit ]; then
    # same consumer group: the replacement gets the partitions after the dead member's
    # session times out
    e2e_check "$point: the restarted signer (same group) is assigned every partition" \
      e2e_signer_assigned 12 90
  fi
  for i in 5 6; do issue_cmd "$point" "$i"; done | e2e_send "$E2E_TOPIC_ISSUE"
  check_round "$point"
  e2e_signer_stop
  e2e_eq "$point: the restarted signer drains on SIGTERM (exit 0)" 0 "$E2E_SIGNER_RC"
  e2e_next_group
}

for p in before_commit after_commit while_replying; do crash_round "$p"; done

# ---- 2. redelivery of the same command id ----

e2e_signer_start
e2e_check "redelivery: signer starts" e2e_signer_ready 60
: >"$W/redeliver.ids"
cmd=$(issue_cmd redeliver 1)
echo "$cmd" | e2e_send "$E2E_TOPIC_ISSUE"
cid1=$(sed -n 1p "$W/redeliver.ids" | cut -d' ' -f2)
e2e_check "redelivery: first copy answered" e2e_wait_replies <(echo "$cid1") 30
echo "$cmd" | e2e_send "$E2E_TOPIC_ISSUE"
deadline=$((SECONDS + 30))
while [ "$(e2e_py reply "$W/replies.jsonl" "$cid1" all | wc -l)" -lt 2 ] && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
e2e_eq "redelivery (two batches): two replies, identical" "2 1" \
  "$(e2e_py reply "$W/replies.jsonl" "$cid1" all | wc -l) $(e2e_py reply "$W/replies.jsonl" "$cid1" all | sort -u | wc -l)"
cmd=$(issue_cmd redeliver 2)
cid2=$(sed -n 2p "$W/redeliver.ids" | cut -d' ' -f2)
printf '%s\n%s\n%s\n' "$cmd" "$cmd" "$cmd" | e2e_send "$E2E_TOPIC_ISSUE" -k "$cid2"
deadline=$((SECONDS + 30))
while [ "$(e2e_py reply "$W/replies.jsonl" "$cid2" all | wc -l)" -lt 3 ] && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
e2e_eq "redelivery (three copies in one poll): three replies, identical" "3 1" \
  "$(e2e_py reply "$W/replies.jsonl" "$cid2" all | wc -l) $(e2e_py reply "$W/replies.jsonl" "$cid2" all | sort -u | wc -l)"
check_round redeliver
e2e_check "redelivery: the signer is still running" e2e_signer_alive
e2e_check "redelivery: the signer logged the duplicates" grep -q 'msg="duplicate command: recorded reply sent again"' "$E2E_SIGNER_LOG"

# ---- 3. load with kills from outside ----

python3 -c '
import json, os, sys, uuid
n, run, pub = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with open(sys.argv[4], "w") as ids, open(sys.argv[5], "w") as cmds:
    for i in range(n):
        u = str(uuid.uuid4())
        cid = "eo-%s-load-%d" % (run, i)
        ids.write("%s %s\n" % (u, cid))
        cmds.write(json.dumps({"command_id": u, "type": "issue", "correlation_id": cid,
                               "token": os.environ.get("E2E_TOKEN", ""),
                               "payload": {"role": "web", "common_name": "l%d.example.com" % i,
                                           "recipient_public_key": pub}}) + "\n")
' "$LOAD" "$E2E_RUN" "$XPUB" "$W/load.ids" "$W/load.jsonl"
cut -d' ' -f1 "$W/load.ids" >"$W/load.uuids"
cut -d' ' -f2 "$W/load.ids" >"$W/load.cids"
e2e_psql -c "CREATE TABLE e2e_load_ids (command_id uuid PRIMARY KEY)" -c "\\copy e2e_load_ids FROM '$W/load.uuids'"
load_done() { e2e_psql -c "SELECT count(*) FROM commands JOIN e2e_load_ids USING (command_id)"; }

e2e_signer_stop
e2e_next_group
e2e_signer_start LEDGERCA_MAX_BATCH=50
e2e_check "load: signer starts (max batch 50)" e2e_signer_ready 60
t_load=$SECONDS
e2e_send "$E2E_TOPIC_ISSUE" <"$W/load.jsonl" || e2e_bad "load: kcat could not produce the commands"
# kill points: random fractions of the load in three disjoint bands
read -r k1 k2 k3 < <(python3 -c 'import random, sys; n = int(sys.argv[1]); print(*(int(n * random.uniform(a, b)) for a, b in ((0.1, 0.3), (0.4, 0.6), (0.7, 0.85))))' "$LOAD")
kills=""
for target in $k1 $k2 $k3; do
  deadline=$((SECONDS + 120))
  while [ "$(load_done)" -lt "$target" ] && e2e_signer_alive && [ $SECONDS -lt $deadline ]; do sleep 0.02; done
  at=$(load_done)
  sleep "0.0$((RANDOM % 5))" # a random point inside the batch in flight
  e2e_signer_kill
  kills+="$at/$E2E_SIGNER_RC "
  e2e_next_group
  e2e_signer_start LEDGERCA_MAX_BATCH=50
  e2e_signer_ready 60 || e2e_bad "load: the signer did not restart after the kill at $at"
done
e2e_check "load: three SIGKILLs (exit 137) in the middle of the load (committed/exit: $kills)" \
  python3 -c '
import sys
n = int(sys.argv[1])
ks = [tuple(map(int, k.split("/"))) for k in sys.argv[2].split()]
sys.exit(0 if len(ks) == 3 and all(rc == 137 and 0 < at < n for at, rc in ks) else 1)' "$LOAD" "$kills"
e2e_check "load: every reply delivered" e2e_wait_replies "$W/load.cids" 180
echo "# load: $LOAD commands with 3 kills answered in $((SECONDS - t_load))s"
e2e_eq "load: zero lost ($LOAD commands rows, none twice)" "$LOAD 0" \
  "$(e2e_psql -c "SELECT count(*), count(*) FILTER (WHERE c <> 1) FROM
                    (SELECT command_id, count(*) c FROM commands JOIN e2e_load_ids USING (command_id) GROUP BY 1) d")"
e2e_eq "load: zero duplicated (one CertificateIssued per command id)" "$LOAD 0" \
  "$(e2e_psql -c "SELECT count(*), count(*) FILTER (WHERE c <> 1) FROM
                    (SELECT command_id, count(*) c FROM events JOIN e2e_load_ids USING (command_id)
                     WHERE type = 'CertificateIssued' GROUP BY 1) d")"
e2e_eq "load: every CertificateIssued event is distinct" "$LOAD" \
  "$(e2e_psql -c "SELECT count(DISTINCT payload) FROM events JOIN e2e_load_ids USING (command_id) WHERE type = 'CertificateIssued'")"
e2e_eq "load: replies: none missing, duplicates identical, all ok" "missing=0 differing=0 not_ok=0" \
  "$(e2e_py replystats "$W/replies.jsonl" "$W/load.cids" | sed 's/ duplicated=[0-9]*//')"
echo "# load: $(e2e_py replystats "$W/replies.jsonl" "$W/load.cids")"
e2e_eq "load: every outbox row published" 0 "$(e2e_psql -c "SELECT count(*) FROM outbox WHERE published_at IS NULL")"
chain=$(e2e_psql -c "SELECT concat_ws('|', position, encode(prev_hash,'hex'), encode(hash,'hex'), encode(payload,'hex')) FROM events ORDER BY position" | e2e_py chain)
e2e_check "load: the hash chain of the log is intact after the kills ($chain)" test "${chain%% *}" = ok
e2e_signer_stop
e2e_finish
