#!/usr/bin/env bash
# test_replication.sh — issue 4's multi-cluster model on the real PostgreSQL and Kafka of the
# test runner, driving the real `ledgerca` binary (signer, replicate, projector, audit) with
# kcat, psql and openssl as the clients:
#   Vault's model: dc1 is the primary; dc2 and dc3 are secondaries (`signer --secondary-of dc1`)
#   whose `ledgerca replicate` copies dc1's CA-wide events (config, issuers, roles) and wrapped
#   CA keys into their own logs. Roles and issuers written on dc1 appear on dc2 and dc3, with
#   the same command ids and payload bytes; dc2 and dc3 issue leaves under the shared issuer
#   that verify against dc1's root; leaves, CRLs and rejections stay local (per-cluster
#   rm_certs); a CA-wide command sent to a secondary is refused and recorded; a replicator
#   killed at each crash point converges without a duplicate; a cluster added later catches up;
#   bad primaries, a missing key and a wrong KEK stop it without appending anything.
#   Consul's model: a secondary with its own intermediate (intermediate.generate on dc4 ->
#   sign-intermediate on dc1 -> intermediate.set-signed on dc4), whose leaves chain to dc1's root.
#   `ledgerca audit verify` passes on every cluster's log.
set -uo pipefail
. "$(dirname "$0")/lib_clusters.sh"
clu_init repl
W=$E2E_DIR
CA_TYPES="'ConfigUpdated','IssuerCreated','RootActivated','IssuerUpdated','RoleWritten','RoleDeleted'"

# sign_on N CN: a CSR for CN signed by cluster N under role web; the leaf in $W/leaf.dcN.<CN>.pem,
# the chain (issuing CA ... root) in $W/chain.dcN.<CN>.pem; R holds the reply.
sign_on() {
  local n=$1 cn=$2 csr
  csr=$(clu_csr "$W/key.dc$n.$cn.pem" "$cn")
  clu_request "$n" sign "$(python3 -c 'import json,sys; print(json.dumps({"role": "web", "csr": sys.argv[1], "common_name": sys.argv[2]}))' "$csr" "$cn")" || return 1
  [ "$(clu_status)" = ok ] || return 1
  e2e_jget result.certificate <<<"$R" >"$W/leaf.dc$n.$cn.pem"
  e2e_jget result.ca_chain <<<"$R" | python3 -c 'import json,sys; c=json.load(sys.stdin); open(sys.argv[1],"w").write("".join(c[:-1]))' "$W/chain.dc$n.$cn.pem"
}

# verify_root LEAF CHAIN: openssl verify -x509_strict against dc1's root only.
verify_root() {
  local out
  out=$(openssl verify -x509_strict -CAfile "$W/root.dc1.pem" -untrusted "$2" "$1" 2>&1)
  VERIFY_OUT=$out
  [ "$out" = "$1: OK" ]
}

serial_of() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//' | tr 'A-F' 'a-f' | sed 's/\(..\)/\1:/g; s/:$//'; }
head_of() { clu_psql "$1" -c "SELECT position FROM log_head"; }
cursor_of() { clu_psql "$1" -c "SELECT coalesce(max(next_offset), 0) FROM consumer_offsets WHERE group_id = 'replicate-dc1'"; }

# ---- the primary ----

clu_add 1
clu_add 2
clu_signer 1 || e2e_die "dc1 signer did not start"
e2e_eq "dc1 bootstrapped its own root" 1 "$(clu_psql 1 -c "SELECT count(*) FROM events WHERE type = 'RootActivated'")"
clu_event_field 1 IssuerCreated certificate | head -1 | clu_der_to_pem >"$W/root.dc1.pem" ||
  e2e_die "no root certificate in dc1's log"
DC1_DEFAULT=$(clu_event_field 1 RootActivated default_issuer_id | tail -1)

clu_request 1 role.write '{"name":"web","allowed_domains":"example.com","allow_subdomains":true,"ttl":"24h","key_type":"any"}'
e2e_eq "role.write on dc1 accepted" ok "$(clu_status)"
ROLE_CMD=$E2E_CMD_ID
clu_request 1 issuer.update "{\"issuer_ref\":\"$DC1_DEFAULT\",\"issuer_name\":\"shared-signing\"}"
e2e_eq "issuer.update on dc1 accepted" ok "$(clu_status)"
sign_on 1 one.example.com || e2e_bad "dc1 signs a leaf: $(head -c 300 <<<"$R")"
DC1_LEAF_CMD=$E2E_CMD_ID

# ---- dc2: a secondary, its signer started before anything was replicated ----

clu_signer 2 --secondary-of dc1 || e2e_die "dc2 signer did not start"
e2e_eq "a secondary does not bootstrap a root of its own" 0 "$(head_of 2)"
clu_request 2 sign "{\"role\":\"web\",\"csr\":\"x\"}"
e2e_eq "dc2 before replication: nothing to sign with (rejected)" rejected "$(clu_status)"

clu_bg replicate.dc2 "$LEDGERCA" replicate --pg-uri "${CLU_URI[2]}" --cluster dc2 \
  --primary-pg-uri "${CLU_URI[1]}" --primary dc1 --kek-file "$W/kek" --poll-ms 100
e2e_check "dc2's replicator starts" clu_wait_log replicate.dc2 'msg="replicator ready"' 30
for _ in $(seq 300); do
  [ "$(clu_ca_events 2)" = "$(clu_ca_events 1)" ] && break
  sleep 0.1
done
e2e_eq "dc2's CA-wide events are dc1's: same command ids, types and payload bytes, same order" \
  "$(clu_ca_events 1)" "$(clu_ca_events 2)"
e2e_eq "the role written on dc1 is on dc2, under dc1's command id" 1 \
  "$(clu_psql 2 -c "SELECT count(*) FROM events WHERE type = 'RoleWritten' AND command_id = '$ROLE_CMD'")"
clu_psql 1 -c "SELECT command_id, type FROM events WHERE type NOT IN ($CA_TYPES) ORDER BY 1, 2" >"$W/dc1.local"
clu_psql 2 -c "SELECT command_id, type FROM events ORDER BY 1, 2" >"$W/dc2.all"
e2e_eq "nothing local of dc1 (its leaf, its CRLs) is in dc2's log" "" "$(comm -12 "$W/dc1.local" "$W/dc2.all")"
e2e_eq "dc1's leaf command left no trace in dc2" 0 "$(clu_psql 2 -c "SELECT count(*) FROM events WHERE command_id = '$DC1_LEAF_CMD'")"
e2e_check "dc1 holds local events (its leaf, its CRLs)" test "$(clu_psql 1 -c "SELECT count(*) FROM events WHERE type IN ('CertificateIssued','CrlPublished')")" -gt 2
e2e_eq "the wrapped keys of every replicated issuer were copied, byte for byte" \
  "$(clu_psql 1 -c "SELECT key_id, encode(sha256(wrapped), 'hex') FROM ca_keys ORDER BY 1")" \
  "$(clu_psql 2 -c "SELECT key_id, encode(sha256(wrapped), 'hex') FROM ca_keys ORDER BY 1")"
e2e_eq "the cursor is the primary's head" "$(($(head_of 1) + 1))" "$(cursor_of 2)"

sign_on 2 two.example.com || e2e_bad "dc2 signs under the replicated role: $(head -c 300 <<<"$R")"
e2e_eq "dc2's leaf is signed by the shared issuer" "$DC1_DEFAULT" "$(e2e_jget result.issuer_id <<<"$R")"
e2e_check "dc2's leaf verifies against dc1's root (openssl verify -x509_strict)" \
  verify_root "$W/leaf.dc2.two.example.com.pem" "$W/chain.dc2.two.example.com.pem"
DC2_SERIAL=$(e2e_jget result.serial_number <<<"$R")

# ---- CA-wide commands sent to a secondary are refused and recorded ----

for t in role.write role.delete config.update rotate cross-sign reissue issuer.update sign-intermediate; do
  case $t in
    role.delete) p='{"name":"web"}' ;;
    cross-sign | reissue) p='{"issuer_ref":"default"}' ;;
    issuer.update) p='{"issuer_ref":"default","issuer_name":"renamed-on-dc2"}' ;;
    role.write) p='{"name":"evil","allow_any_name":true}' ;;
    config.update) p='{"Config":{"LeafCertTTL":"1h"}}' ;;
    rotate) p='{}' ;;
    sign-intermediate) p="{\"csr\":$(clu_csr "$W/k.tmp" x | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')}" ;;
  esac
  clu_request 2 "$t" "$p"
  if [ "$(clu_status)" = rejected ] && [ "$(e2e_jget error.code <<<"$R")" = secondary_cluster ] &&
    grep -q 'send it to the primary' <<<"$(e2e_jget error.message <<<"$R")"; then
    e2e_ok "$t sent to dc2 is refused: secondary_cluster, send it to the primary"
  else
    e2e_bad "$t sent to dc2 not refused as expected: $(head -c 300 <<<"$R")"
  fi
  e2e_eq "the refusal of $t is recorded in dc2's log (CommandRejected only)" "CommandRejected" \
    "$(clu_psql 2 -c "SELECT string_agg(type, ',') FROM events WHERE command_id = '$E2E_CMD_ID'")"
done
e2e_eq "no role 'evil' anywhere in dc2's log" 0 "$(clu_event_field 2 RoleWritten name | grep -c '^evil$')"

# ---- later writes on the primary flow to the running replicator ----

clu_request 1 role.write '{"name":"db","allowed_domains":"db.example.com","allow_bare_domains":true}'
clu_request 1 role.delete '{"name":"db"}'
for _ in $(seq 300); do
  [ "$(clu_ca_events 2)" = "$(clu_ca_events 1)" ] && break
  sleep 0.1
done
e2e_eq "a role written then deleted on dc1 is written then deleted on dc2" \
  "$(clu_ca_events 1)" "$(clu_ca_events 2)"
clu_stop replicate.dc2
e2e_eq "SIGTERM drains the replicator (exit 0)" 0 "$CLU_RC"
e2e_check "it logs its totals on the way out" grep -q 'msg="replicator stopped"' "${CLU_LOG[replicate.dc2]}"
e2e_check "no key material in the replicator's log" \
  bash -c "! grep -qiE 'BEGIN|PRIVATE|wrapped=' '${CLU_LOG[replicate.dc2]}'"

# ---- dc3: added later, replicated by a replicator killed at each crash point ----

for i in 1 2 3 4; do
  clu_request 1 role.write "{\"name\":\"r$i\",\"allowed_domains\":\"r$i.example.com\",\"allow_subdomains\":true,\"key_type\":\"any\"}"
done
clu_add 3
LEDGERCA_TEST_CRASH=after_commit:2 clu_replicate 3 --max-events 3
e2e_eq "replicator killed just after its 2nd commit (SIGKILL)" 137 "$?"
C1=$(cursor_of 3)
N1=$(clu_psql 3 -c "SELECT count(*) FROM events")
if [ "$C1" -gt 1 ] && [ "$C1" -le "$(head_of 1)" ] && [ "$N1" -gt 0 ]; then
  e2e_ok "the kill left dc3 part-way (cursor $C1 of $(head_of 1), $N1 events)"
else
  e2e_bad "the kill left dc3 at cursor $C1 with $N1 events"
fi
LEDGERCA_TEST_CRASH=before_commit:1 clu_replicate 3 --max-events 3
e2e_eq "replicator killed before its next commit (SIGKILL)" 137 "$?"
e2e_eq "a kill before the commit appends nothing and keeps the cursor" "$C1 $N1" \
  "$(cursor_of 3) $(clu_psql 3 -c "SELECT count(*) FROM events")"
clu_replicate 3 --max-events 3
e2e_eq "the restarted replicator catches up (exit 0)" 0 "$?"
e2e_eq "dc3 converged: dc1's CA-wide events, in order, none twice" "$(clu_ca_events 1)" "$(clu_ca_events 3)"
e2e_eq "no command id replicated twice into dc3" 0 \
  "$(clu_psql 3 -c "SELECT count(*) FROM (SELECT command_id, type, payload FROM events GROUP BY 1, 2, 3 HAVING count(*) > 1) d")"
clu_replicate 3
e2e_eq "a replicator with nothing to do appends nothing" "$(clu_ca_events 1)" "$(clu_ca_events 3)"
clu_signer 3 --secondary-of dc1 || e2e_die "dc3 signer did not start"
sign_on 3 three.r2.example.com || e2e_bad "dc3 signs under a role written before it existed: $(head -c 300 <<<"$R")"
e2e_check "dc3's leaf verifies against dc1's root" \
  verify_root "$W/leaf.dc3.three.r2.example.com.pem" "$W/chain.dc3.three.r2.example.com.pem"
DC3_SERIAL=$(e2e_jget result.serial_number <<<"$R")
e2e_eq "dc3's leaf is signed by the shared issuer too" "$DC1_DEFAULT" "$(e2e_jget result.issuer_id <<<"$R")"

# ---- per-cluster views ----

for n in 1 2 3; do
  mkdir -p "$W/crl.dc$n"
  "$LEDGERCA" projector --pg-uri "${CLU_URI[$n]}" --cluster "dc$n" --crl-dir "$W/crl.dc$n" --once \
    >"$W/projector.dc$n.log" 2>&1 || e2e_bad "projector --once on dc$n failed"
done
e2e_eq "dc2's rm_certs lists only dc2's leaf" "$DC2_SERIAL dc2" "$(clu_psql 2 -c "SELECT serial, cluster FROM rm_certs")"
e2e_eq "dc3's rm_certs lists only dc3's leaf" "$DC3_SERIAL dc3" "$(clu_psql 3 -c "SELECT serial, cluster FROM rm_certs")"
e2e_eq "dc1's rm_certs has neither" 0 \
  "$(clu_psql 1 -c "SELECT count(*) FROM rm_certs WHERE serial IN ('$DC2_SERIAL', '$DC3_SERIAL') OR cluster <> 'dc1'")"
ROOT_ID=$(clu_psql 1 -c "SELECT doc->>'ActiveRootID' FROM rm_roots")
e2e_check "dc1's roots list names its active root" test -n "$ROOT_ID"
e2e_eq "every cluster's roots list (rm_roots) has dc1's active root" "$ROOT_ID $ROOT_ID $ROOT_ID" \
  "$(for n in 1 2 3; do clu_psql $n -c "SELECT doc->>'ActiveRootID' FROM rm_roots"; done | tr '\n' ' ' | sed 's/ $//')"
sign_on 2 again.example.com || e2e_bad "dc2 still signs under 'web' after the refused role.delete"

# ---- Consul service leaves name the issuing cluster (SPIFFE dc/<cluster>), trust domain shared ----

read -r _ XPUB < <(e2e_x25519)
spiffe_on() { # spiffe_on N: the SPIFFE URI of a service leaf `issue`d by cluster N (in SPIFFE)
  SPIFFE=
  clu_request "$1" issue "{\"service\":\"api\",\"recipient_public_key\":\"$XPUB\"}" || return 1
  [ "$(clu_status)" = ok ] || return 1
  e2e_jget result.certificate <<<"$R" >"$W/svc.dc$1.pem"
  SPIFFE=$(openssl x509 -in "$W/svc.dc$1.pem" -noout -ext subjectAltName | grep -o 'spiffe://[^, ]*')
}
TD=$(clu_psql 1 -c "SELECT doc->>'TrustDomain' FROM rm_roots")
spiffe_on 1 || e2e_bad "dc1 issues a service leaf: $(head -c 300 <<<"$R")"
e2e_eq "a service leaf of dc1 names dc1" "spiffe://$TD/ns/default/dc/dc1/svc/api" "$SPIFFE"
spiffe_on 2 || e2e_bad "dc2 issues a service leaf: $(head -c 300 <<<"$R")"
e2e_eq "a service leaf of dc2 (Vault-model secondary, dc1's replicated configuration) names dc2, under the shared trust domain" \
  "spiffe://$TD/ns/default/dc/dc2/svc/api" "$SPIFFE"
e2e_check "dc2's service leaf verifies against dc1's root" \
  verify_root "$W/svc.dc2.pem" "$W/chain.dc2.two.example.com.pem"

# ---- negative cases ----

clu_add 5
clu_replicate 5 --primary-pg-uri "postgresql://postgres@127.0.0.1:1/nope?connect_timeout=2"
e2e_eq "an unreachable --primary-pg-uri: exit 1" 1 "$?"
clu_replicate 5 --primary-pg-uri "${CLU_URI[2]}"
e2e_eq "a --primary-pg-uri that is not dc1's log: exit 1" 1 "$?"
e2e_check "... named as such" grep -q "wrong_primary" "$W/replicate.dc5.log"
"$LEDGERCA" replicate --pg-uri "${CLU_URI[5]}" --cluster dc1 --primary-pg-uri "${CLU_URI[1]}" --once \
  >>"$W/replicate.dc5.log" 2>&1
e2e_eq "--cluster equal to --primary is a usage error" 1 "$?"
"$LEDGERCA" replicate --pg-uri "${CLU_URI[5]}" --cluster dc5 --once >/dev/null 2>&1
e2e_eq "--primary-pg-uri missing: usage error (2)" 2 "$?"
(umask 077 && openssl rand -hex 32 >"$W/other.kek")
clu_replicate 5 --kek-file "$W/other.kek"
e2e_eq "a KEK that does not open the primary's keys: exit 1" 1 "$?"
e2e_check "... named as such" grep -q "kek_mismatch" "$W/replicate.dc5.log"
e2e_eq "... and nothing was appended or moved" "0 0" "$(head_of 5) $(cursor_of 5)"
# a primary log whose keys are missing: dc1's events copied into a database without its ca_keys
clu_add 6
clu_psql 1 -c "COPY events TO STDOUT" | clu_psql 6 -c "COPY events FROM STDIN"
clu_psql 6 -c "UPDATE log_head SET position = (SELECT max(position) FROM events), hash = (SELECT hash FROM events ORDER BY position DESC LIMIT 1)"
"$LEDGERCA" replicate --pg-uri "${CLU_URI[5]}" --cluster dc5 --primary-pg-uri "${CLU_URI[6]}" --once \
  >>"$W/replicate.dc5.log" 2>&1
e2e_eq "a key missing from the primary's ca_keys: exit 1" 1 "$?"
e2e_check "... named as such" grep -q "key_missing" "$W/replicate.dc5.log"
e2e_eq "... and nothing was appended or moved" "0 0" "$(head_of 5) $(cursor_of 5)"
"$LEDGERCA" replicate --pg-uri "${CLU_URI[6]}" --cluster dc6 --primary-pg-uri "${CLU_URI[1]}" --once \
  >>"$W/replicate.dc6.log" 2>&1
e2e_eq "a secondary log with a root of its own is refused: exit 1" 1 "$?"
e2e_check "... named as such" grep -q "secondary_has_root" "$W/replicate.dc6.log"

# ---- Consul's model: dc4 holds its own intermediate, signed by dc1's root ----
# The sequence an operator runs (README "Multi-cluster"): replicate dc1's configuration and
# roles, generate the key and CSR on dc4, have dc1 sign it, import the result on dc4.

clu_add 4
clu_replicate 4 || e2e_bad "dc4's first replication failed"
clu_signer 4 --secondary-of dc1 || e2e_die "dc4 signer did not start"
jpay() { python3 -c 'import json,sys; d={}
for a in sys.argv[1:]:
    k, v = a.split("=", 1); d[k] = json.loads(v) if v[:1] in "[{" else v
print(json.dumps(d))' "$@"; }
clu_submit 4 intermediate.generate '{"common_name":"ledgerca dc4 Signing CA"}'
e2e_eq "1/3 intermediate.generate on dc4 (ledgerca submit): ok" "0 ok" "$? $(clu_status)"
GEN_CMD=$(e2e_jget command_id <<<"$R")
DC4_KID=$(e2e_jget result.key_id <<<"$R")
e2e_jget result.csr <<<"$R" >"$W/dc4.csr"
e2e_check "the CSR is a valid request for CN=ledgerca dc4 Signing CA" \
  bash -c "openssl req -in '$W/dc4.csr' -noout -verify -subject 2>&1 | grep -q 'CN *= *ledgerca dc4 Signing CA'"
clu_submit 1 sign-intermediate "$(jpay "csr=$(cat "$W/dc4.csr")" ttl=720h)"
e2e_eq "2/3 sign-intermediate on dc1: ok" "0 ok" "$? $(clu_status)"
SIGN_CMD=$(e2e_jget command_id <<<"$R")
e2e_jget result.certificate <<<"$R" >"$W/dc4.int.pem"
CHAIN_JSON=$(e2e_jget result.ca_chain <<<"$R")
clu_submit 4 intermediate.set-signed "$(jpay "certificate=$(cat "$W/dc4.int.pem")" "ca_chain=$CHAIN_JSON" issuer_name=dc4-own)"
e2e_eq "3/3 intermediate.set-signed on dc4: ok" "0 ok" "$? $(clu_status)"
SET_CMD=$(e2e_jget command_id <<<"$R")
DC4_ISSUER=$(e2e_jget result.issuer_id <<<"$R")
e2e_eq "every step is a command in one of the two logs" "IntermediateGenerated|CertificateIssued|IssuerCreated,CrlPublished,RootActivated" \
  "$(clu_psql 4 -c "SELECT string_agg(type, ',' ORDER BY position) FROM events WHERE command_id = '$GEN_CMD'")|$(clu_psql 1 -c "SELECT string_agg(type, ',' ORDER BY position) FROM events WHERE command_id = '$SIGN_CMD'")|$(clu_psql 4 -c "SELECT string_agg(type, ',' ORDER BY position) FROM events WHERE command_id = '$SET_CMD'")"
e2e_eq "the imported issuer is external, holds the generated key, its parent is dc1's root" \
  "external $DC4_KID $(clu_event_field 1 RootActivated root_id | tail -1)" \
  "$(clu_event_field 4 IssuerCreated kind "AND command_id = '$SET_CMD'") $(clu_event_field 4 IssuerCreated key_id "AND command_id = '$SET_CMD'") $(clu_event_field 4 IssuerCreated parent_id "AND command_id = '$SET_CMD'")"
e2e_eq "dc4's key is in dc4's ca_keys only" "1 0" \
  "$(clu_psql 4 -c "SELECT count(*) FROM ca_keys WHERE key_id = '$DC4_KID'") $(clu_psql 1 -c "SELECT count(*) FROM ca_keys WHERE key_id = '$DC4_KID'")"
e2e_eq "IntermediateGenerated holds no key material (key_id, common_name, key_type, key_bits, csr)" \
  "common_name csr key_bits key_id key_type" \
  "$(clu_psql 4 -c "SELECT encode(payload, 'hex') FROM events WHERE type = 'IntermediateGenerated'" | python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import e2e
print(" ".join(sorted(e2e.mp_load(bytes.fromhex(sys.stdin.read().strip()))["payload"])))' "$W")"
e2e_check "dc4's intermediate verifies against dc1's root" \
  bash -c "openssl verify -x509_strict -CAfile '$W/root.dc1.pem' '$W/dc4.int.pem' | grep -q ': OK\$'"
sign_on 4 four.example.com || e2e_bad "dc4 signs under its own intermediate: $(head -c 300 <<<"$R")"
e2e_eq "dc4's leaf is signed by dc4's own issuer, not the shared one" "$DC4_ISSUER" "$(e2e_jget result.issuer_id <<<"$R")"
e2e_check "dc4's leaf chains to dc1's root through dc4's intermediate (openssl verify)" \
  verify_root "$W/leaf.dc4.four.example.com.pem" "$W/dc4.int.pem"
e2e_eq "... whose issuer is dc4's intermediate" \
  "$(openssl x509 -in "$W/dc4.int.pem" -noout -subject -nameopt RFC2253)" \
  "$(openssl x509 -in "$W/leaf.dc4.four.example.com.pem" -noout -issuer -nameopt RFC2253 | sed 's/^issuer/subject/')"
clu_submit 4 intermediate.set-signed "$(jpay "certificate=$(cat "$W/dc4.int.pem")" "ca_chain=$CHAIN_JSON")"
e2e_eq "a second import of the same certificate is refused (already_imported)" "1 already_imported" "$? $(e2e_jget error.code <<<"$R")"
clu_submit 4 intermediate.set-signed "$(jpay "certificate=$(cat "$W/leaf.dc2.two.example.com.pem")" "ca_chain=$CHAIN_JSON")"
e2e_eq "a leaf is not an intermediate (bad_certificate)" "1 bad_certificate" "$? $(e2e_jget error.code <<<"$R")"
clu_request 1 role.write '{"name":"late","allowed_domains":"late.example.com","allow_bare_domains":true,"key_type":"any"}'
clu_replicate 4
e2e_eq "dc4 still receives dc1's roles after importing its own intermediate" 1 \
  "$(clu_event_field 4 RoleWritten name | grep -c '^late$')"
sign_on 4 late.example.com || e2e_bad "dc4 signs under the late role: $(head -c 300 <<<"$R")"
e2e_eq "... still under its own intermediate" "$DC4_ISSUER" "$(e2e_jget result.issuer_id <<<"$R")"

# ---- the same round trip as one command: ledgerca secondary init ----

clu_add 7
clu_replicate 7 || e2e_bad "dc7's first replication failed"
clu_signer 7 --secondary-of dc1 || e2e_die "dc7 signer did not start"
"$LEDGERCA" secondary init --bootstrap "$E2E_BS" --token "$E2E_TOKEN" --cluster dc7 --primary dc1 \
  --topic-suffix "${CLU_SUFFIX[7]}" --primary-topic-suffix "${CLU_SUFFIX[2]}" --timeout 60 \
  >"$W/init.bad.json" 2>"$W/init.bad.err"
e2e_eq "secondary init whose 'primary' is itself a secondary: exit 1" 1 "$?"
e2e_check "... the refused step is named" grep -q "sign-intermediate refused: secondary_cluster" "$W/init.bad.err"
e2e_eq "... dc7 recorded the generate, imported nothing (its issuers are dc1's replicated ones)" \
  "1 $(clu_psql 1 -c "SELECT count(*) FROM events WHERE type = 'IssuerCreated'")" \
  "$(clu_psql 7 -c "SELECT count(*) FROM events WHERE type = 'IntermediateGenerated'") $(clu_psql 7 -c "SELECT count(*) FROM events WHERE type = 'IssuerCreated'")"
"$LEDGERCA" secondary init --bootstrap "$E2E_BS" --token "$E2E_TOKEN" --cluster dc7 --primary dc1 \
  --topic-suffix "${CLU_SUFFIX[7]}" --primary-topic-suffix "${CLU_SUFFIX[1]}" --issuer-name dc7-own \
  --timeout 60 >"$W/init.json" 2>"$W/init.err"
e2e_eq "ledgerca secondary init: exit 0" 0 "$?"
DC7_ISSUER=$(e2e_jget issuer_id <"$W/init.json")
e2e_jget certificate <"$W/init.json" >"$W/dc7.int.pem"
e2e_eq "its three commands are in the two logs" "IntermediateGenerated CertificateIssued RootActivated" \
  "$(clu_psql 7 -c "SELECT type FROM events WHERE command_id = '$(e2e_jget generate_command_id <"$W/init.json")'") $(clu_psql 1 -c "SELECT type FROM events WHERE command_id = '$(e2e_jget sign_command_id <"$W/init.json")'") $(clu_psql 7 -c "SELECT type FROM events WHERE command_id = '$(e2e_jget set_signed_command_id <"$W/init.json")' AND type = 'RootActivated'")"
e2e_check "the token is not in its output" bash -c "! grep -q '$E2E_TOKEN' '$W/init.json' '$W/init.err'"
sign_on 7 seven.example.com || e2e_bad "dc7 signs under its own intermediate: $(head -c 300 <<<"$R")"
e2e_eq "dc7's leaf is signed by the issuer secondary init imported" "$DC7_ISSUER" "$(e2e_jget result.issuer_id <<<"$R")"
e2e_check "dc7's leaf chains to dc1's root (openssl verify)" \
  verify_root "$W/leaf.dc7.seven.example.com.pem" "$W/dc7.int.pem"

# ---- audit ----

for n in 1 2 3 4 7; do
  if "$LEDGERCA" audit verify --pg-uri "${CLU_URI[$n]}" >"$W/audit.dc$n.log" 2>&1; then
    e2e_ok "ledgerca audit verify passes on dc$n's log"
  else
    e2e_bad "audit verify on dc$n: $(tail -3 "$W/audit.dc$n.log")"
  fi
done

e2e_finish
