#!/usr/bin/env bash
# test_multicluster.sh — relays, the aggregator, unified CRLs and cross-cluster revocation
# (README "Multi-cluster"), with the real `ledgerca` binary on a real PostgreSQL and Kafka:
# three clusters (two from the start, one added later), each with its own database, signer
# (--forward-revocations) and relay; one aggregator on the first cluster's database. Commands
# go in with kcat, replies are counted by correlation id, CRLs are read with openssl and the
# logs with psql. Every cluster here has its own issuers; their wrapped keys are copied into the
# aggregator's database as an operator sharing issuers would (so each issuer's unified CRL can
# be signed), which `ledgerca replicate` does for a shared issuer.
set -uo pipefail
. "$(dirname "$0")/lib_e2e.sh"
. "$(dirname "$0")/lib_fed.sh"
e2e_init multicluster
W=$E2E_DIR
fed_exit() {
  local rc=$?
  local keep=$E2E_FAIL
  (exit $rc)
  e2e_cleanup
  [ "$keep" -eq 0 ] && [ "$rc" -eq 0 ] && [ "${E2E_KEEP:-}" != "1" ] && fed_cleanup_dbs
  for f in "$W"/aggregator*.log; do
    [ "$keep" -ne 0 ] && [ -f "$f" ] && { echo "# --- $f"; tail -n 20 "$f" | sed 's/^/# /'; }
  done
  return 0
}
trap fed_exit EXIT

A=$(fed_id a)
B=$(fed_id b)
C=$(fed_id c)
GROUP="ledgerca-aggregator-$E2E_RUN"
AGG_URI=$(fed_uri "$A")
read -r _ XPUB < <(e2e_x25519)

# ---- helpers ----

# issue CLUSTER CN: issues a leaf; prints its serial; the PEM in $W/<serial>.pem and its
# issuing CA chain in $W/<serial>.chain.pem, the root in $W/<serial>.root.pem.
issue() {
  local s
  fed_request "$1" issue "{\"role\":\"web\",\"common_name\":\"$2\",\"ttl\":\"1h\",\"recipient_public_key\":\"$XPUB\"}" 30 ||
    return 1
  s=$(e2e_jget result.serial_number <<<"$E2E_REPLY") || return 1
  e2e_jget result.certificate <<<"$E2E_REPLY" >"$W/$s.pem"
  e2e_jget result.ca_chain <<<"$E2E_REPLY" | python3 -c '
import json, sys
c = json.load(sys.stdin)
open(sys.argv[1] + ".inter.pem", "w").write("".join(c[:-1]))
open(sys.argv[1] + ".root.pem", "w").write(c[-1])' "$W/$s"
  echo "$s"
}

revoke() { fed_request "$1" revoke "{\"serial_number\":\"$2\"}" 30; }


agg_q() { psql -XAtq -F ' ' "$AGG_URI" -c "$1"; }

# unified_of SERIAL: path of the unified CRL file of the serial's issuer.
unified_of() { echo "$W/crl/unified/$(agg_q "SELECT issuer_id FROM agg_certs WHERE serial = '$1'").crl"; }

# verify_crl SERIAL CRLFILE: openssl verify -crl_check of the leaf with that CRL.
verify_crl() {
  openssl verify -x509_strict -crl_check -CAfile "$W/$1.root.pem" -untrusted "$W/$1.inter.pem" \
    -CRLfile "$2" "$W/$1.pem" 2>&1
}

# union_ok: the unified CRL of each issuer holds exactly the union of every cluster's
# revocations of that issuer's certificates (serial sets compared).
unified_matches() {
  local iss want got
  local in
  in=$(printf "'%s'," "${FED_CLUSTERS[@]}")
  # this run's clusters only: the regex subscription also folds other runs' topics
  for iss in $(agg_q "SELECT DISTINCT issuer_id FROM agg_revocations WHERE cluster IN (${in%,})"); do
    want=$(for c in "${FED_CLUSTERS[@]}"; do
      fed_psql "$c" -c "SELECT encode(payload, 'hex') FROM events WHERE type = 'CertificateRevoked' ORDER BY position" |
        e2e_py mpfield payload.issuer_id >"$W/iss.$c"
      fed_psql "$c" -c "SELECT encode(payload, 'hex') FROM events WHERE type = 'CertificateRevoked' ORDER BY position" |
        e2e_py mpfield payload.serial_number | paste -d' ' "$W/iss.$c" - | awk -v i="$iss" '$1 == i {print $2}'
    done | while read -r s; do fed_norm "$s"; done | sort -u)
    [ -f "$W/crl/unified/$iss.crl" ] || return 1
    got=$(fed_crl_serials "$W/crl/unified/$iss.crl" | sort -u)
    [ "$want" = "$got" ] || return 1
  done
  return 0
}

start_aggregator() {
  fed_bg aggregator "$LEDGERCA" aggregator --bootstrap "$E2E_BS" --pg-uri "$AGG_URI" \
    --kek-file "$W/kek" --crl-dir "$W/crl" --group "$GROUP" --crl-interval 300
  AGG_PID=$FED_PID
}

share_keys() { # copies every cluster's wrapped issuer keys into the aggregator's database
  local c
  for c in "${FED_CLUSTERS[@]}"; do
    [ "$c" = "$A" ] && continue
    fed_psql "$c" -c "COPY (SELECT key_id, encode(wrapped, 'hex') FROM ca_keys) TO STDOUT" |
      while read -r k h; do
        agg_q "INSERT INTO ca_keys (key_id, wrapped) VALUES ('$k', decode('$h', 'hex')) ON CONFLICT DO NOTHING" >/dev/null
      done
  done
}

# ---- two clusters ----

for c in "$A" "$B"; do
  fed_cluster_add "$c" || e2e_die "cannot create cluster $c"
  fed_signer "$c"
done
for c in "$A" "$B"; do
  fed_wait_log "signer.$c" 'msg="signer ready"' 90 || e2e_die "signer of $c not ready"
  fed_relay "$c"
done
e2e_check "ledgerca relay --help documents its flags" \
  bash -c "'$LEDGERCA' relay --help | grep -q -- --pg-uri && '$LEDGERCA' relay --help | grep -q LEDGERCA_CLUSTER"
e2e_check "ledgerca aggregator --help documents --crl-interval and --kek-file" \
  bash -c "'$LEDGERCA' aggregator --help | grep -q -- --crl-interval && '$LEDGERCA' aggregator --help | grep -q -- --kek-file"
start_aggregator
fed_wait_log aggregator 'msg="aggregator ready"' 60 || e2e_die "aggregator not ready"

for c in "$A" "$B"; do
  fed_request "$c" role.write '{"name":"web","allowed_domains":["example.com"],"allow_subdomains":true,"key_type":"ec","max_ttl":"720h"}' 30 ||
    e2e_die "role.write on $c"
done
declare -A LEAVES
for c in "$A" "$B"; do
  for i in 1 2 3; do
    s=$(issue "$c" "l$i.$c.example.com") || e2e_die "issue on $c"
    LEAVES[$c.$i]=$s
  done
done
e2e_ok "three leaves issued in each of two clusters"
share_keys

# relayed message format, read with kcat straight from the topic
kcat -C -b "$E2E_BS" -t "ledgerca.events.$A" -o beginning -c 1 -e -q -f '%k %h\n' >"$W/first.txt" 2>/dev/null
e2e_eq "relay: the first message of ledgerca.events.<cluster> is keyed by position 1, content-type msgpack" \
  "1 content-type=application/msgpack" "$(head -n1 "$W/first.txt")"
kcat -C -b "$E2E_BS" -t "ledgerca.events.$A" -o beginning -c 1 -e -q -f '%s' 2>/dev/null | od -An -v -tx1 | tr -d ' \n' >"$W/first.hex"
python3 - "$W/first.hex" "$W/e2e.py" >"$W/first.check" <<'PY'
import hashlib, sys
sys.path.insert(0, sys.argv[2].rsplit("/", 1)[0])
import e2e
m = e2e.mp_load(bytes.fromhex(open(sys.argv[1]).read()))
keys = sorted(m)
ok = keys == sorted(["v", "cluster", "position", "stream", "stream_version", "type", "command_id",
                     "recorded_at", "prev_hash", "hash", "payload"])
ok = ok and m["v"] == 1 and m["position"] == 1 and m["prev_hash"] == bytes(32)
ok = ok and hashlib.sha256(m["prev_hash"] + m["payload"]).digest() == m["hash"]
print("ok" if ok else "bad %r" % keys)
PY
e2e_eq "relay: the message is the documented map and hash = SHA-256(prev_hash || payload)" ok "$(cat "$W/first.check")"

# ---- revocations in each cluster ----
revoke "$A" "${LEAVES[$A.1]}" && e2e_eq "revoke in $A: ok" ok "$(e2e_jget status <<<"$E2E_REPLY")"
revoke "$B" "${LEAVES[$B.1]}" && e2e_eq "revoke in $B: ok" ok "$(e2e_jget status <<<"$E2E_REPLY")"

head_of() { fed_psql "$1" -c "SELECT position FROM log_head"; }
cursor_of() { agg_q "SELECT position FROM agg_clusters WHERE cluster = '$1'"; }
caught() { local c; for c in "$@"; do [ "$(cursor_of "$c")" = "$(head_of "$c")" ] || return 1; done; }
e2e_check "aggregator: cursors of $A and $B equal their log heads" fed_until 60 caught "$A" "$B"
e2e_check "aggregator: unified CRLs hold exactly the union of the revocations" fed_until 60 unified_matches

for c in "$A" "$B"; do
  s=${LEAVES[$c.1]}
  out=$(verify_crl "$s" "$(unified_of "$s")")
  if grep -q "certificate revoked" <<<"$out"; then
    e2e_ok "openssl verify -crl_check with the unified CRL rejects the revoked leaf of $c"
  else
    e2e_bad "unified CRL does not revoke $c's leaf: $out"
  fi
  s=${LEAVES[$c.2]}
  out=$(verify_crl "$s" "$(unified_of "$s")")
  e2e_eq "openssl verify -crl_check with the unified CRL accepts an unrevoked leaf of $c" "$W/$s.pem: OK" "$out"
done
for c in "$A" "$B"; do
  iss=$(agg_q "SELECT issuer_id FROM agg_certs WHERE serial = '${LEAVES[$c.1]}'")
  f="$W/crl/clusters/$c/$iss.crl"
  e2e_eq "per-cluster CRL of $c holds only $c's own revocations" "$(fed_revoked_in "$c")" "$(fed_crl_serials "$f")"
done
e2e_check "the unified CRL is also written as PEM" \
  bash -c "openssl crl -in '$(unified_of "${LEAVES[$A.1]}" | sed 's/\.crl$/.pem/')' -noout"
iss=$(agg_q "SELECT issuer_id FROM agg_certs WHERE serial = '${LEAVES[$A.1]}'")
un=$(agg_q "SELECT crl_number FROM agg_unified_crls WHERE issuer_id = '$iss'")
cl=$(agg_q "SELECT crl_number FROM agg_cluster_crls WHERE issuer_id = '$iss' AND cluster = '$A'")
e2e_check "the unified CRL numbers its own range (above 2^40), apart from the cluster's ($cl)" \
  test "${un:-0}" -gt 1099511627776 -a "${cl:-0}" -ge 1 -a "${cl:-0}" -lt 1099511627776
echo "# unified crl_number=$un cluster crl_number=$cl"

# ---- cross-cluster revocation ----
target=${LEAVES[$B.2]}
fed_request "$A" revoke "{\"serial_number\":\"$target\"}" 60
FWD_CID=$E2E_CID
FWD_ID=$E2E_CMD_ID
e2e_eq "a revoke sent to $A for a $B serial is answered ok (by $B)" ok "$(e2e_jget status <<<"$E2E_REPLY")"
e2e_eq "the $B serial is revoked in $B's log" 1 \
  "$(fed_psql "$B" -c "SELECT count(*) FROM events WHERE type = 'CertificateRevoked' AND command_id = '$FWD_ID'")"
e2e_eq "$A recorded RevocationForwarded, not a rejection" "1 0" \
  "$(fed_psql "$A" -c "SELECT count(*) FILTER (WHERE type = 'RevocationForwarded'), count(*) FILTER (WHERE type = 'CommandRejected') FROM events WHERE command_id = '$FWD_ID'")"
# a redelivery of the same command to A: the forward again, deduplicated by the aggregator
fed_send "$A" revoke "{\"serial_number\":\"$target\"}" "$FWD_CID" "$FWD_ID"
fed_request "$A" revoke '{"serial_number":"01:02:03:04:05:06:07:08:09:0a"}' 60
UNK_CID=$E2E_CID
e2e_eq "an unknown serial gets an unknown_serial rejection" "rejected unknown_serial" \
  "$(e2e_jget status <<<"$E2E_REPLY") $(e2e_jget error.code <<<"$E2E_REPLY")"
e2e_check "aggregator: the redelivered forward was seen" \
  fed_until 30 bash -c "grep -q 'forward already known' '$W/aggregator.log'"
sleep 2 # lets any wrongly duplicated reply arrive before counting (the count is the assertion)
e2e_eq "the forwarded revoke was answered exactly once (replies with its correlation id)" 1 "$(fed_replies "$FWD_CID")"
e2e_eq "the unknown serial was answered exactly once" 1 "$(fed_replies "$UNK_CID")"
e2e_eq "aggregator: one forward row per command id" "1 forwarded" \
  "$(agg_q "SELECT count(*), min(state) FROM agg_forwards WHERE command_id = '$FWD_ID'")"
e2e_eq "aggregator: the forwarded command bytes (with the token) are erased once sent" 0 \
  "$(agg_q "SELECT coalesce(sum(length(command)), 0) FROM agg_forwards WHERE state IN ('forwarded', 'rejected')")"
e2e_check "unified CRL now also lists the cross-cluster revocation" fed_until 60 unified_matches
e2e_check "audit verify accepts $A's log with RevocationForwarded" \
  "$LEDGERCA" audit verify --pg-uri "$(fed_uri "$A")" --chain-only


# ---- a shared issuer (Vault's model): a secondary issues and revokes under the primary's ----
D=$(fed_id d)
fed_cluster_add "$D" || e2e_die "cannot create cluster $D"
e2e_check "ledgerca replicate copies $A's issuers, roles and keys into $D" \
  "$LEDGERCA" replicate --pg-uri "$(fed_uri "$D")" --cluster "$D" --primary "$A" \
  --primary-pg-uri "$(fed_uri "$A")" --kek-file "$W/kek" --once
fed_signer "$D" --secondary-of "$A"
fed_wait_log "signer.$D" 'msg="signer ready"' 90 || e2e_die "signer of $D not ready"
fed_relay "$D"
d1=$(issue "$D" "d1.$D.example.com") || e2e_die "issue on $D"
d2=$(issue "$D" "d2.$D.example.com") || e2e_die "issue on $D"
a4=$(issue "$A" "a4.$A.example.com") || e2e_die "issue on $A"
revoke "$D" "$d1"
revoke "$A" "$a4"
e2e_check "aggregator: $D's cursor reaches its head" fed_until 60 caught "$A" "$B" "$D"
shared=$(agg_q "SELECT issuer_id FROM agg_certs WHERE serial = '$d1'")
e2e_eq "$D's leaves are issued by $A's issuer (shared)" "$shared" \
  "$(agg_q "SELECT issuer_id FROM agg_certs WHERE serial = '$a4'")"
e2e_check "unified CRLs hold exactly the union (with the shared issuer)" fed_until 60 unified_matches
both=$(printf '%s\n%s\n' "$(fed_norm "$d1")" "$(fed_norm "$a4")" | sort)
e2e_eq "the shared issuer's unified CRL lists the revocations of both clusters" "$both" \
  "$(fed_crl_serials "$W/crl/unified/$shared.crl" | grep -x -e "$(fed_norm "$d1")" -e "$(fed_norm "$a4")")"
for s in "$d1" "$a4"; do
  out=$(verify_crl "$s" "$W/crl/unified/$shared.crl")
  if grep -q "certificate revoked" <<<"$out"; then
    e2e_ok "openssl rejects revoked leaf $s (shared issuer) with the unified CRL"
  else
    e2e_bad "unified CRL does not revoke $s: $out"
  fi
done
e2e_eq "openssl accepts the unrevoked leaf of $D with the unified CRL" "$W/$d2.pem: OK" \
  "$(verify_crl "$d2" "$W/crl/unified/$shared.crl")"
e2e_eq "$D's own CRL of the shared issuer holds only $D's revocation" "$(fed_norm "$d1")" \
  "$(fed_crl_serials "$W/crl/clusters/$D/$shared.crl")"
e2e_check "$A's own CRL of the shared issuer does not list $D's revocation" \
  bash -c "! grep -qx '$(fed_norm "$d1")' <<<'$(fed_crl_serials "$W/crl/clusters/$A/$shared.crl")'"
e2e_eq "openssl with $A's own CRL alone accepts $D's revoked leaf (why a unified CRL is needed)" \
  "$W/$d1.pem: OK" "$(verify_crl "$d1" "$W/crl/clusters/$A/$shared.crl")"


# ---- the HTTP API serves the unified CRLs (Vault's paths) from the aggregator's database ----
"$LEDGERCA" projector --pg-uri "$AGG_URI" --cluster "$A" --once >>"$W/projector.log" 2>&1 ||
  e2e_bad "projector --once on $A failed"
fed_bg api "$LEDGERCA" api --listen 127.0.0.1:0 --pg-uri "$AGG_URI" --bootstrap "$E2E_BS" --cluster "$A"
API_PID=$FED_PID
fed_wait_log api 'msg="api ready"' 60 || e2e_bad "ledgerca api did not start"
PORT=$(sed -n 's/.*msg="api ready".* port=\([0-9]*\).*/\1/p' "$W/api.log" | head -1)
U="http://127.0.0.1:$PORT"
same_der() { curl -sf "$U/v1/pki/issuer/$shared/unified-crl/der" -o "$W/api.crl" && cmp -s "$W/api.crl" "$W/crl/unified/$shared.crl"; }
e2e_check "GET /v1/pki/issuer/:ref/unified-crl/der is the unified CRL file" fed_until 30 same_der
e2e_check "GET /v1/pki/unified-crl/pem (the default issuer's) is a PEM CRL listing $D's revocation" \
  bash -c "curl -sf '$U/v1/pki/unified-crl/pem' | openssl crl -noout -text | tr -d ' ' | grep -qi '$(fed_norm "$d1")'"
e2e_eq "GET /v1/pki/issuer/:ref/unified-crl answers JSON with the PEM" "-----BEGIN X509 CRL-----" \
  "$(curl -sf "$U/v1/pki/issuer/$shared/unified-crl" | e2e_jget data.crl | head -n1)"
e2e_eq "an unknown issuer's unified CRL is a 404" 404 \
  "$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/pki/issuer/00000000-0000-4000-8000-00000000dead/unified-crl/der")"
kill -TERM "$API_PID" 2>/dev/null


# ---- the aggregator killed mid-way converges ----
for i in $(seq 1 12); do
  for c in "$A" "$B"; do
    s=$(issue "$c" "k$i.$c.example.com") || e2e_die "issue on $c"
    echo "$c $s" >>"$W/batch2"
  done
done
while read -r c s; do
  fed_send "$c" revoke "{\"serial_number\":\"$s\"}" "$E2E_NAME-$E2E_RUN-k-$s"
  echo "$E2E_NAME-$E2E_RUN-k-$s" >>"$W/batch2.cid"
done <"$W/batch2"
sleep 0.5
kill -KILL "$AGG_PID" 2>/dev/null
fed_until 30 bash -c "! kill -0 $AGG_PID 2>/dev/null"
e2e_check "revocations of the batch answered" e2e_wait_replies "$W/batch2.cid" 60
start_aggregator
e2e_check "after SIGKILL and restart the cursors reach the heads" fed_until 90 caught "$A" "$B" "$D"
e2e_check "after SIGKILL and restart the unified CRLs are exactly the union" fed_until 90 unified_matches
e2e_eq "no revocation folded twice" "$(agg_q "SELECT count(DISTINCT (issuer_id, serial, cluster)) FROM agg_revocations")" \
  "$(agg_q "SELECT count(*) FROM agg_revocations")"
e2e_eq "no refused relayed event of this run (no gap, no bad hash)" 0 \
  "$(grep 'relayed event refused' "$W"/aggregator.log | grep -c -e "topic=ledgerca.events.$A " -e "topic=ledgerca.events.$B ")"

# ---- a cluster added later is caught up ----
fed_cluster_add "$C" || e2e_die "cannot create cluster $C"
fed_signer "$C"
fed_wait_log "signer.$C" 'msg="signer ready"' 90 || e2e_die "signer of $C not ready"
fed_request "$C" role.write '{"name":"web","allowed_domains":["example.com"],"allow_subdomains":true,"key_type":"ec","max_ttl":"720h"}' 30
cs=$(issue "$C" "l1.$C.example.com") || e2e_die "issue on $C"
revoke "$C" "$cs"
share_keys
fed_relay "$C"
e2e_check "a cluster added later is picked up and caught up from its first event" fed_until 90 caught "$A" "$B" "$C" "$D"
e2e_check "the unified CRLs include the new cluster's revocation" fed_until 60 unified_matches
out=$(verify_crl "$cs" "$(unified_of "$cs")")
if grep -q "certificate revoked" <<<"$out"; then e2e_ok "openssl rejects the new cluster's revoked leaf with the unified CRL"; else e2e_bad "$out"; fi

# ---- at-least-once: a relay that lost its cursor sends everything again; all dropped ----
rb=$(eval echo "\$FED_RELAY_$B")
kill -TERM "$rb"
fed_until 30 bash -c "! kill -0 $rb 2>/dev/null"
e2e_check "relay: SIGTERM drains it" grep -q 'msg="relay stopped"' "$W/relay.$B.log"
fed_psql "$B" -c "DELETE FROM relay_cursor" >/dev/null
revs_before=$(agg_q "SELECT count(*) FROM agg_revocations")
fed_relay "$B"
relayed() { [ "$(fed_psql "$B" -c "SELECT position FROM relay_cursor")" = "$(head_of "$B")" ]; }
e2e_check "the relay sends $B's whole log again (cursor back at the head)" fed_until 60 relayed
RESENT=$(head_of "$B")
# a barrier: a new event of B comes after every re-sent one in its one-partition topic
barrier=$(issue "$B" "barrier.$B.example.com") || e2e_bad "issue on $B"
e2e_check "the aggregator reads past the re-sent events to the new one" fed_until 60 caught "$B"
e2e_eq "the aggregator dropped every re-sent event: no new revocation rows" "$revs_before" \
  "$(agg_q "SELECT count(*) FROM agg_revocations")"
e2e_eq "... no refusal (they are duplicates, not gaps)" 0 \
  "$(grep 'relayed event refused' "$W"/aggregator.log | grep -c -e "topic=ledgerca.events.$B ")"
e2e_check "... and $B's cursor is still its head" caught "$B"

# ---- negative: a tampered relayed event is refused, the cursor stays ----
before=$(cursor_of "$A")
# re-publish message 1 with its position changed to head+1 (its prev_hash cannot match)
python3 - "$W/first.hex" "$(($(head_of "$A") + 1))" >"$W/forged.bin" <<'PY'
import sys
h = open(sys.argv[1]).read().strip()
key = "position".encode().hex()
at = h.index("a8" + key + "01")  # fixstr "position", positive fixint 1
new = "a8" + key + "cd%04x" % int(sys.argv[2])  # uint16
sys.stdout.buffer.write(bytes.fromhex(h[:at] + new + h[at + len("a8" + key + "01"):]))
PY
if [ -s "$W/forged.bin" ]; then
  kcat -P -b "$E2E_BS" -t "ledgerca.events.$A" -H content-type=application/msgpack -k forged "$W/forged.bin"
  e2e_check "a forged relayed event (broken chain) is refused" \
    fed_until 30 bash -c "grep -q 'code=broken_chain' '$W/aggregator.log'"
  e2e_eq "and the cluster's cursor did not move" "$before" "$(cursor_of "$A")"
else
  e2e_bad "could not forge a relayed event"
fi

kill -TERM "$AGG_PID"
fed_until 60 bash -c "! kill -0 $AGG_PID 2>/dev/null"
e2e_check "SIGTERM drains the aggregator" grep -q 'msg="aggregator stopped"' "$W/aggregator.log"
dups=$(grep 'msg="aggregator stopped"' "$W/aggregator.log" | tail -n1 | sed -n 's/.* duplicates=\([0-9]*\).*/\1/p')
e2e_check "the aggregator counted the re-sent events as duplicates (${dups:-?} >= $RESENT)" \
  test "${dups:-0}" -ge "$RESENT"
e2e_finish
