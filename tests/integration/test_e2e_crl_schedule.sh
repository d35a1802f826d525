#!/usr/bin/env bash
# test_e2e_crl_schedule.sh — the signer rebuilds CRLs on a schedule (issue 4): with CRLs valid
# for 20 s (CrlExpiry), the grace before nextUpdate is min(auto_rebuild_grace_period, half the
# expiry) = 10 s, so about 10 s after each CRL the signer decides an internal crl.rotate per
# issuer under a command id derived from the issuer and the CRL period (lca_decide_crl_due),
# without any command on Kafka. Checked: new complete CRLs appear in the log, each scheduled
# command is recorded once in `commands`, the log still audits clean, and the new CRL is newer.
# Then delta_rebuild_interval (4 s): a revocation right after a CRL publishes nothing, and the
# tick publishes the pending delta (crl.rotate {"delta": true}) once the interval has passed.
set -uo pipefail
. "$(dirname "$0")/lib_e2e.sh"
e2e_init crlsched

e2e_signer_start LEDGERCA_CRL_TICK=1
e2e_check "signer starts" e2e_signer_ready 60
e2e_request config.update '{"Config":{"CrlExpiry":"20s","max_crl_entries":1000}}' 30
e2e_eq "config.update ok" ok "$(e2e_jget status <<<"$E2E_REPLY")"
e2e_request crl.rotate '{}' 30
e2e_eq "crl.rotate ok" ok "$(e2e_jget status <<<"$E2E_REPLY")"
n0=$(e2e_psql -c "SELECT count(*) FROM events WHERE type = 'CrlPublished'")
nu0=$(e2e_psql -c "SELECT max(position) FROM events WHERE type = 'CrlPublished'")

deadline=$((SECONDS + 45))
while [ $SECONDS -lt $deadline ]; do
  grep -q 'msg="scheduled crl.rotate".*outcome=new' "$E2E_SIGNER_LOG" && break
  sleep 0.5
done
e2e_check "the signer decided a scheduled crl.rotate" \
  grep -q 'msg="scheduled crl.rotate".*outcome=new' "$E2E_SIGNER_LOG"
sleep 2
n1=$(e2e_psql -c "SELECT count(*) FROM events WHERE type = 'CrlPublished'")
e2e_check "new CRLs were published without a command on Kafka ($n0 -> $n1)" test "$n1" -gt "$n0"
ids=$(grep -o 'msg="scheduled crl.rotate".*outcome=new' "$E2E_SIGNER_LOG" |
  sed -n 's/.*command_id=\([0-9a-f-]*\).*/\1/p' | sort -u)
one=$(head -n1 <<<"$ids")
e2e_eq "a scheduled command id is a UUIDv8" 8 "${one:14:1}"
e2e_eq "it is recorded once" 1 \
  "$(e2e_psql -c "SELECT count(*) FROM commands WHERE command_id = '$one'::uuid")"
newer=$(e2e_psql -c "SELECT count(*) FROM events WHERE type = 'CrlPublished' AND position > $nu0")
e2e_check "CRLs after the manual rotate exist ($newer)" test "$newer" -gt 0

# ---- delta_rebuild_interval: a revocation soon after a CRL waits for the schedule's delta ----

e2e_request config.update '{"Config":{"enable_delta":true,"delta_rebuild_interval":"4s"}}' 30
e2e_eq "config.update enable_delta, delta_rebuild_interval 4s: ok" ok "$(e2e_jget status <<<"$E2E_REPLY")"
e2e_request role.write '{"name":"web","allowed_domains":"example.com","allow_subdomains":true}' 30
read -r _ XPUB < <(e2e_x25519)
e2e_request issue "{\"role\":\"web\",\"common_name\":\"d.example.com\",\"recipient_public_key\":\"$XPUB\"}" 30
SERIAL=$(e2e_jget result.serial_number <<<"$E2E_REPLY")
e2e_request crl.rotate '{}' 30
e2e_request revoke "{\"serial_number\":\"$SERIAL\"}" 30
e2e_eq "revoke right after a CRL: ok" ok "$(e2e_jget status <<<"$E2E_REPLY")"
e2e_eq "... recorded, no CRL yet (within the interval)" CertificateRevoked \
  "$(e2e_psql -c "SELECT string_agg(type, ',') FROM events WHERE command_id = '$E2E_CMD_ID'")"
RPOS=$(e2e_psql -c "SELECT position FROM events WHERE command_id = '$E2E_CMD_ID'")
deadline=$((SECONDS + 20))
while [ $SECONDS -lt $deadline ]; do
  grep -q 'msg="scheduled crl.rotate".*delta=1.*outcome=new' "$E2E_SIGNER_LOG" && break
  sleep 0.5
done
e2e_check "the signer's tick decided the pending delta (delta=1)" \
  grep -q 'msg="scheduled crl.rotate".*delta=1.*outcome=new' "$E2E_SIGNER_LOG"
WANT=$(tr -d ':' <<<"$SERIAL" | tr 'a-f' 'A-F')
listed=0
for hex in $(e2e_event_field CrlPublished crl "AND position > $RPOS"); do
  txt=$(python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' "$hex" |
    openssl crl -inform DER -noout -text 2>/dev/null)
  if grep -q 'Delta CRL Indicator' <<<"$txt" && grep -q "Serial Number: $WANT" <<<"$txt"; then
    listed=1
  fi
done
e2e_eq "a delta CRL after the revocation lists its serial" 1 "$listed"
e2e_signer_stop
"$LEDGERCA" audit verify --pg-uri "$E2E_DB_URI" >"$E2E_DIR/audit.out" 2>&1
e2e_eq "audit verify exits 0" 0 $?
e2e_check "audit says clean" grep -q "log clean" "$E2E_DIR/audit.out"
e2e_finish
