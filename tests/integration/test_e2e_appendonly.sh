#!/usr/bin/env bash
# test_e2e_appendonly.sh — DESIGN.md invariant 2 on a log written by the real signer: UPDATE,
# DELETE and TRUNCATE on the append-only tables are refused by PostgreSQL for the application
# role (privileges) and for the owner (triggers, also under session_replication_role =
# replica); the SHA-256 hash chain recomputed in Python from the rows matches
# (hash = SHA-256(prev_hash || payload), 32 zero bytes before position 1), and an edit made
# behind the triggers' back is found at its position.
set -uo pipefail
. "$(dirname "$0")/lib_e2e.sh"
e2e_init appendonly
W=$E2E_DIR

# ---- a log written through Kafka ----
e2e_signer_start
e2e_check "signer starts" e2e_signer_ready 60
e2e_request role.write '{"name":"web","allowed_domains":["example.com"],"allow_subdomains":true,"key_type":"ec"}'
read -r _ XPUB < <(e2e_x25519)
serial=""
for i in 1 2 3; do
  e2e_request issue "{\"role\":\"web\",\"common_name\":\"h$i.example.com\",\"recipient_public_key\":\"$XPUB\"}"
  serial=$(e2e_jget result.serial_number <<<"$E2E_REPLY")
done
e2e_request revoke "{\"serial_number\":\"$serial\"}"
e2e_request issue '{"role":"web","common_name":"www.evil.test","recipient_public_key":"'"$XPUB"'"}'
e2e_eq "the last command was rejected (a CommandRejected event in the log)" rejected "$(e2e_jget status <<<"$E2E_REPLY")"
e2e_signer_stop
N=$(e2e_psql -c "SELECT count(*) FROM events")
e2e_check "the log has events ($N)" test "$N" -ge 9

fingerprint() {
  e2e_psql -c "SELECT count(*) || ' ' || md5(string_agg(position || ':' || encode(hash, 'hex') || ':' || md5(payload) || ':' || type || ':' || stream || ':' || command_id, ',' ORDER BY position)) FROM events"
}
FP=$(fingerprint)

# refused SQLSTATE DESC URI SQL: SQL must fail with SQLSTATE.
refused() {
  local want=$1 desc=$2 uri=$3 sql=$4 out
  out=$(psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose "$uri" -c "$sql" 2>&1)
  if [ $? -ne 0 ] && grep -q "ERROR: *$want" <<<"$out"; then
    e2e_ok "$desc: refused ($want)"
  else
    e2e_bad "$desc: not refused with $want: $(head -c 300 <<<"$out")"
  fi
}

# ---- as the owner (the superuser that ran the migrations) ----
OWNER=$(e2e_psql -c "SELECT tableowner FROM pg_tables WHERE tablename = 'events'")
e2e_eq "the tables belong to the migrating user" "$(e2e_psql -c "SELECT current_user")" "$OWNER"
refused LC001 "owner: UPDATE events" "$E2E_DB_URI" "UPDATE events SET type = 'Forged' WHERE position = 1"
refused LC001 "owner: UPDATE events (payload)" "$E2E_DB_URI" "UPDATE events SET payload = '\\x80' WHERE position = 2"
refused LC001 "owner: DELETE events" "$E2E_DB_URI" "DELETE FROM events WHERE position = $N"
refused LC001 "owner: TRUNCATE events" "$E2E_DB_URI" "TRUNCATE events"
refused LC001 "owner: DELETE events under session_replication_role = replica" "$E2E_DB_URI" \
  "SET session_replication_role = replica; DELETE FROM events WHERE position = $N"
refused LC001 "owner: UPDATE events under session_replication_role = replica" "$E2E_DB_URI" \
  "SET session_replication_role = replica; UPDATE events SET type = 'Forged'"
refused LC001 "owner: DELETE commands" "$E2E_DB_URI" "DELETE FROM commands"
refused LC001 "owner: TRUNCATE commands" "$E2E_DB_URI" "TRUNCATE commands"
refused LC001 "owner: DELETE ca_keys" "$E2E_DB_URI" "DELETE FROM ca_keys"
refused LC001 "owner: log_head moved backwards" "$E2E_DB_URI" "UPDATE log_head SET position = 1"
refused LC001 "owner: DELETE log_head" "$E2E_DB_URI" "DELETE FROM log_head"

# ---- as the application role ----
APP="e2e_app_$E2E_RUN"
e2e_psql -c "CREATE ROLE $APP LOGIN IN ROLE ledgerca_app" >/dev/null || e2e_bad "cannot create a login role in ledgerca_app"
trap 'psql -XAtq "$LCA_TEST_PG_URI" -c "DROP ROLE IF EXISTS $APP" >/dev/null 2>&1; e2e_cleanup' EXIT
APP_URI=$(e2e_db_uri "$E2E_DB" "$APP")
e2e_eq "app role: may read the log" "$N" "$(psql -XAtq "$APP_URI" -c "SELECT count(*) FROM events" 2>&1)"
refused 42501 "app role: UPDATE events" "$APP_URI" "UPDATE events SET type = 'Forged' WHERE position = 1"
refused 42501 "app role: DELETE events" "$APP_URI" "DELETE FROM events WHERE position = $N"
refused 42501 "app role: TRUNCATE events" "$APP_URI" "TRUNCATE events"
refused 42501 "app role: UPDATE commands" "$APP_URI" "UPDATE commands SET reply = reply"
refused 42501 "app role: DELETE ca_keys" "$APP_URI" "DELETE FROM ca_keys"
refused 42501 "app role: disabling the triggers (owner only)" "$APP_URI" "ALTER TABLE events DISABLE TRIGGER events_no_update"
refused 42501 "app role: DELETE log_head" "$APP_URI" "DELETE FROM log_head"

e2e_eq "after all attempts the log is unchanged (count and digest of every row)" "$FP" "$(fingerprint)"

# ---- the hash chain ----
rows() {
  psql -XAtq -v ON_ERROR_STOP=1 "$E2E_DB_URI" -c "$1" \
    -c "SELECT concat_ws('|', position, encode(prev_hash,'hex'), encode(hash,'hex'), encode(payload,'hex')) FROM events ORDER BY position" \
    -c "${2:-SELECT 1 WHERE false}"
}
chain=$(rows "SELECT 1 WHERE false" | e2e_py chain)
e2e_eq "the chain recomputed in Python matches every row (positions 1..N gapless)" "ok $N" "$(cut -d' ' -f1-2 <<<"$chain")"
e2e_eq "log_head holds the last position and hash" "$N ${chain##* }" \
  "$(e2e_psql -c "SELECT position || ' ' || encode(hash, 'hex') FROM log_head")"
e2e_eq "every payload is the envelope of its row's type, version 1" 0 \
  "$(e2e_psql -c "SELECT type || ' ' || encode(payload, 'hex') FROM events ORDER BY position" | python3 -c '
import sys
sys.path.insert(0, sys.argv[1])
import e2e
bad = 0
for line in sys.stdin:
    t, h = line.split()
    env = e2e.mp_load(bytes.fromhex(h))
    bad += not (isinstance(env, dict) and env.get("type") == t and env.get("v") == 1 and isinstance(env.get("payload"), dict))
print(bad)' "$W")"
e2e_eq "every event belongs to a recorded command, inside its position range" 0 \
  "$(e2e_psql -c "SELECT count(*) FROM events e LEFT JOIN commands c USING (command_id)
                  WHERE c.command_id IS NULL OR e.position NOT BETWEEN c.first_position AND c.last_position")"

# the owner can bypass the triggers only explicitly; the chain then names the edited row
# (done inside a transaction that is rolled back)
TX_BEGIN="BEGIN; ALTER TABLE events DISABLE TRIGGER events_no_update; ALTER TABLE events DISABLE TRIGGER events_no_delete"
mid=$(((N + 1) / 2))
got=$(rows "$TX_BEGIN; UPDATE events SET payload = payload || '\\x00'::bytea WHERE position = $mid" "ROLLBACK" | e2e_py chain)
e2e_eq "an edited payload is found at its position" "hash mismatch at position $mid" "$got"
got=$(rows "$TX_BEGIN; DELETE FROM events WHERE position = $mid" "ROLLBACK" | e2e_py chain)
e2e_eq "a deleted row is found at its position" "gap at position $mid (found $((mid + 1)))" "$got"
got=$(rows "$TX_BEGIN; UPDATE events SET prev_hash = hash, hash = prev_hash WHERE position = $mid" "ROLLBACK" | e2e_py chain)
e2e_eq "a rewritten hash is found at its position" "prev_hash mismatch at position $mid" "$got"
e2e_eq "the rolled-back edits left the log as it was" "$FP" "$(fingerprint)"
e2e_finish
