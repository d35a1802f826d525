#!/usr/bin/env bash
# test_e2e_commands.sh — every command type end to end through a real Kafka broker, the real
# `ledgerca signer` and a real PostgreSQL: each JSON command is produced with kcat, its reply
# consumed with kcat and checked (status, ids, Vault field names), every certificate verified
# with `openssl verify -x509_strict`, the sealed private key of `issue` opened independently
# (Python `cryptography`, construction of engine/seal.h) and matched to the certificate, and a
# revoked leaf refused by `openssl verify -crl_check` with the CRL read from the event log.
set -uo pipefail
. "$(dirname "$0")/lib_e2e.sh"
e2e_init commands
W=$E2E_DIR

# ---- helpers ----

# check_reply DESC TYPE [STATUS]: the reply in $R answers the last request with STATUS (ok).
check_reply() {
  local st
  st=$(e2e_jget status <<<"$R")
  if [ "$st" = "${3:-ok}" ] &&
    [ "$(e2e_jget command_id <<<"$R")" = "$E2E_CMD_ID" ] &&
    [ "$(e2e_jget correlation_id <<<"$R")" = "$E2E_CID" ] &&
    [ "$(e2e_jget type <<<"$R")" = "$2" ]; then
    e2e_ok "$1: reply $st with its command_id, correlation_id and type"
  else
    e2e_bad "$1: reply not as expected: $(head -c 400 <<<"$R")"
  fi
}

# req TYPE PAYLOAD: sends, waits, sets R (empty on timeout).
req() {
  e2e_request "$1" "$2" 30
  R=$E2E_REPLY
}

# save_cert FIELD FILE: a PEM field of the result in $R into FILE.
save_cert() { e2e_jget "result.$1" <<<"$R" >"$2" && grep -q 'BEGIN CERTIFICATE' "$2"; }

# save_chain PREFIX: ca_chain of $R into PREFIX.chain.pem (all), PREFIX.root.pem (last),
# PREFIX.inter.pem (all but the last), PREFIX.first.pem (the issuing CA).
save_chain() {
  e2e_jget result.ca_chain <<<"$R" | python3 -c '
import json, sys
c = json.load(sys.stdin)
p = sys.argv[1]
open(p + ".chain.pem", "w").write("".join(c))
open(p + ".root.pem", "w").write(c[-1])
open(p + ".inter.pem", "w").write("".join(c[:-1]))
open(p + ".first.pem", "w").write(c[0])
sys.exit(0 if len(c) >= 2 else 1)' "$1"
}

# verify CAFILE UNTRUSTED LEAF [EXTRA OPENSSL ARGS...]: openssl verify -x509_strict.
verify() {
  local ca=$1 un=$2 leaf=$3 out
  shift 3
  if [ -s "$un" ]; then
    out=$(openssl verify -x509_strict -CAfile "$ca" -untrusted "$un" "$@" "$leaf" 2>&1)
  else
    out=$(openssl verify -x509_strict -CAfile "$ca" "$@" "$leaf" 2>&1)
  fi
  VERIFY_OUT=$out
  [ "$out" = "$leaf: OK" ]
}

serial_of() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//' | tr 'a-f' 'A-F' | sed 's/^0*//'; }
norm_serial() { tr -d ':' <<<"$1" | tr 'a-f' 'A-F' | sed 's/^0*//'; }
pubkey_of_cert() { openssl x509 -in "$1" -noout -pubkey; }
pubkey_of_key() { openssl pkey -in "$1" -pubout; }
der_hex() { openssl x509 -in "$1" -outform DER | od -An -v -tx1 | tr -d ' \n'; }
subject_of() { openssl x509 -in "$1" -noout -subject -nameopt RFC2253 | sed 's/^subject=//'; }

# events_of TYPE: number of events of TYPE the last request appended.
events_of() { e2e_psql -c "SELECT count(*) FROM events WHERE command_id = '$E2E_CMD_ID' AND type = '$1'"; }

# ---- start ----

e2e_signer_start
e2e_check "signer starts and bootstraps a root" e2e_signer_ready 60
e2e_eq "bootstrap appended a root, its intermediate and the root activation" "2 1" \
  "$(e2e_psql -c "SELECT count(*) FILTER (WHERE type = 'IssuerCreated'),
                         count(*) FILTER (WHERE type = 'RootActivated') FROM events")"

# ---- role.write ----
req role.write '{"name":"web","allowed_domains":["example.com"],"allow_subdomains":true,"key_type":"ec","max_ttl":"720h"}'
check_reply role.write role.write
e2e_eq "role.write: result.role is the normalised role" '["example.com"] true ec 256' \
  "$(e2e_jget result.role.allowed_domains <<<"$R") $(e2e_jget result.role.allow_subdomains <<<"$R") $(e2e_jget result.role.key_type <<<"$R") $(e2e_jget result.role.key_bits <<<"$R")"
e2e_eq "role.write: one RoleWritten event" 1 "$(events_of RoleWritten)"

# ---- issue ----
read -r XPRIV XPUB < <(e2e_x25519)
req issue "{\"role\":\"web\",\"common_name\":\"a.example.com\",\"alt_names\":\"b.example.com\",\"ttl\":\"1h\",\"recipient_public_key\":\"$XPUB\"}"
check_reply issue issue
ISSUE_CMD=$E2E_CMD_ID
save_cert certificate "$W/a.pem" && save_chain "$W/a"
e2e_check "issue: certificate, issuing_ca and a ca_chain [intermediate, root]" \
  test -s "$W/a.pem" -a -s "$W/a.root.pem" -a -s "$W/a.inter.pem"
e2e_jget result.issuing_ca <<<"$R" >"$W/a.issuing.pem"
e2e_eq "issue: issuing_ca is the first ca_chain entry" "$(der_hex "$W/a.inter.pem")" "$(der_hex "$W/a.issuing.pem")"
e2e_check "issue: leaf verifies (openssl verify -x509_strict -purpose sslserver) against the chain" \
  verify "$W/a.root.pem" "$W/a.inter.pem" "$W/a.pem" -purpose sslserver
e2e_check "issue: ca_chain root is self-signed and verifies alone" verify "$W/a.root.pem" "" "$W/a.root.pem"
A_SERIAL=$(e2e_jget result.serial_number <<<"$R")
e2e_eq "issue: serial_number is the certificate's serial" "$(serial_of "$W/a.pem")" "$(norm_serial "$A_SERIAL")"
exp=$(e2e_jget result.expiration <<<"$R")
now=$(date +%s)
e2e_check "issue: expiration is now + ttl (1h)" test "$exp" -ge $((now + 3500)) -a "$exp" -le $((now + 3700))
e2e_check "issue: the subject alternative names hold both names" \
  bash -c "openssl x509 -in '$W/a.pem' -noout -ext subjectAltName | grep -q 'DNS:a.example.com' &&
           openssl x509 -in '$W/a.pem' -noout -ext subjectAltName | grep -q 'DNS:b.example.com'"
e2e_eq "issue: private_key_type and sealed_private_key_format" "ec ledgerca-seal-v1" \
  "$(e2e_jget result.private_key_type <<<"$R") $(e2e_jget result.sealed_private_key_format <<<"$R")"
SEALED=$(e2e_jget result.sealed_private_key <<<"$R")
if e2e_py unseal "$XPRIV" "$A_SERIAL" "$SEALED" >"$W/a.key" 2>/dev/null; then
  e2e_ok "issue: sealed_private_key opens with the recipient key and the serial as info"
else
  e2e_bad "issue: sealed_private_key does not open"
fi
e2e_eq "issue: the unsealed private key matches the certificate's public key" \
  "$(pubkey_of_cert "$W/a.pem")" "$(pubkey_of_key "$W/a.key" 2>&1)"
e2e_check "issue: the box does not open with another info (bound to the serial)" \
  bash -c "! python3 '$W/e2e.py' unseal '$XPRIV' 'not-the-serial' '$SEALED' >/dev/null 2>&1"
read -r OTHERPRIV _ < <(e2e_x25519)
e2e_check "issue: the box does not open with another recipient key" \
  bash -c "! python3 '$W/e2e.py' unseal '$OTHERPRIV' '$A_SERIAL' '$SEALED' >/dev/null 2>&1"
e2e_eq "issue: one CertificateIssued event" 1 "$(events_of CertificateIssued)"
e2e_eq "issue: the event's certificate is the replied one" "$(der_hex "$W/a.pem")" \
  "$(e2e_event_field CertificateIssued certificate "AND command_id = '$ISSUE_CMD'")"
# the leaf's private scalar must not be anywhere in the log, the dedupe rows or the outbox
SCALAR=$(python3 -c '
import sys
from cryptography.hazmat.primitives.serialization import load_pem_private_key
k = load_pem_private_key(open(sys.argv[1], "rb").read(), None)
print(k.private_numbers().private_value.to_bytes(32, "big").hex())' "$W/a.key" 2>/dev/null)
if [ ${#SCALAR} -eq 64 ]; then
  e2e_eq "issue: the private key is in no event, command row or outbox row" "0 0 0" \
    "$(e2e_psql -c "SELECT (SELECT count(*) FROM events WHERE position(decode('$SCALAR','hex') in payload) > 0),
                           (SELECT count(*) FROM commands WHERE position(decode('$SCALAR','hex') in reply) > 0),
                           (SELECT count(*) FROM outbox WHERE position(decode('$SCALAR','hex') in payload) > 0)")"
else
  e2e_bad "issue: could not read the unsealed private key"
fi

# ---- sign ----
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/c.key" \
  -subj "/CN=c.example.com" -out "$W/c.csr" 2>/dev/null
CSR=$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$W/c.csr")
req sign "{\"role\":\"web\",\"csr\":$CSR,\"ttl\":\"2h\"}"
check_reply sign sign
save_cert certificate "$W/c.pem"
e2e_check "sign: leaf verifies against the chain" verify "$W/a.root.pem" "$W/a.inter.pem" "$W/c.pem" -purpose sslserver
e2e_eq "sign: the certificate carries the CSR's public key" "$(pubkey_of_key "$W/c.key")" "$(pubkey_of_cert "$W/c.pem")"
no_sealed() { ! e2e_jget result.sealed_private_key <<<"$R" >/dev/null; }
e2e_check "sign: no sealed key in the reply (the requester holds the key)" no_sealed
C_SERIAL=$(e2e_jget result.serial_number <<<"$R")
e2e_eq "sign: one CertificateIssued event" 1 "$(events_of CertificateIssued)"

# a CSR outside the role's domains is a rejection, recorded as CommandRejected
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/evil.key" \
  -subj "/CN=www.evil.test" -out "$W/evil.csr" 2>/dev/null
EVIL=$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$W/evil.csr")
req sign "{\"role\":\"web\",\"csr\":$EVIL}"
check_reply "sign outside the role" sign rejected
e2e_eq "sign outside the role: code policy_denied, one CommandRejected event, no certificate" \
  "policy_denied 1 0" "$(e2e_jget error.code <<<"$R") $(events_of CommandRejected) $(events_of CertificateIssued)"

# ---- sign-verbatim ----
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/v.key" \
  -subj "/CN=verbatim.internal" -addext "subjectAltName=DNS:verbatim.internal" -out "$W/v.csr" 2>/dev/null
VCSR=$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$W/v.csr")
req sign-verbatim "{\"csr\":$VCSR,\"ttl\":\"1h\"}"
check_reply sign-verbatim sign-verbatim
save_cert certificate "$W/v.pem"
e2e_check "sign-verbatim: leaf verifies against the chain" verify "$W/a.root.pem" "$W/a.inter.pem" "$W/v.pem"
e2e_eq "sign-verbatim: subject taken from the CSR as is" "CN=verbatim.internal" "$(subject_of "$W/v.pem")"
e2e_eq "sign-verbatim: the certificate carries the CSR's public key" "$(pubkey_of_key "$W/v.key")" "$(pubkey_of_cert "$W/v.pem")"

# ---- sign-intermediate ----
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/i2.key" \
  -subj "/CN=dc2 intermediate" -out "$W/i2.csr" 2>/dev/null
ICSR=$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$W/i2.csr")
req sign-intermediate "{\"csr\":$ICSR,\"permitted_dns_domains\":[\"dc2.example.com\"],\"ttl\":\"48h\"}"
check_reply sign-intermediate sign-intermediate
save_cert certificate "$W/i2.pem"
e2e_check "sign-intermediate: the CA certificate verifies against the root" verify "$W/a.root.pem" "" "$W/i2.pem"
e2e_check "sign-intermediate: CA:TRUE and the permitted DNS subtree" \
  bash -c "openssl x509 -in '$W/i2.pem' -noout -ext basicConstraints | grep -q 'CA:TRUE' &&
           openssl x509 -in '$W/i2.pem' -noout -ext nameConstraints | grep -q 'DNS:dc2.example.com'"
e2e_eq "sign-intermediate: one CertificateIssued event (kind intermediate)" "intermediate" \
  "$(e2e_event_field CertificateIssued kind "AND command_id = '$E2E_CMD_ID'")"
# the secondary cluster signs its own leaves: inside the subtree they verify, outside they do not
for host in www.dc2.example.com www.elsewhere.test; do
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/$host.key" \
    -subj "/CN=$host" -out "$W/$host.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s\nbasicConstraints=critical,CA:FALSE\n' "$host" >"$W/$host.ext"
  openssl x509 -req -in "$W/$host.csr" -CA "$W/i2.pem" -CAkey "$W/i2.key" -CAcreateserial \
    -days 1 -extfile "$W/$host.ext" -out "$W/$host.pem" 2>/dev/null
done
e2e_check "sign-intermediate: a dc2 leaf inside the permitted subtree verifies" \
  verify "$W/a.root.pem" "$W/i2.pem" "$W/www.dc2.example.com.pem"
if verify "$W/a.root.pem" "$W/i2.pem" "$W/www.elsewhere.test.pem"; then
  e2e_bad "sign-intermediate: a leaf outside the permitted subtree verifies"
else
  e2e_check "sign-intermediate: a leaf outside the permitted subtree is refused (name constraints)" \
    grep -qi 'name constraint\|subtree' <<<"$VERIFY_OUT"
fi

# ---- revoke and crl.rotate ----
req revoke "{\"serial_number\":\"$A_SERIAL\",\"reason\":\"keyCompromise\"}"
check_reply revoke revoke
e2e_eq "revoke: result names the serial" "$A_SERIAL" "$(e2e_jget result.serial_number <<<"$R")"
rt=$(e2e_jget result.revocation_time <<<"$R")
e2e_check "revoke: revocation_time is now" test "$rt" -ge $((now - 60)) -a "$rt" -le $(($(date +%s) + 5))
e2e_eq "revoke: one CertificateRevoked event" 1 "$(events_of CertificateRevoked)"
req revoke "{\"serial_number\":\"$A_SERIAL\"}"
check_reply "revoke again" revoke
e2e_eq "revoke again: answered with the first revocation time, nothing appended" "$rt 0" \
  "$(e2e_jget result.revocation_time <<<"$R") $(e2e_psql -c "SELECT count(*) FROM events WHERE command_id = '$E2E_CMD_ID'")"

A_ISSUER=$(e2e_event_field CertificateIssued issuer_id "AND command_id = '$ISSUE_CMD'")
req crl.rotate '{}'
check_reply crl.rotate crl.rotate
npub=$(e2e_jget result.crls_published <<<"$R")
e2e_check "crl.rotate: at least one CRL published" test "${npub:-0}" -ge 1
e2e_eq "crl.rotate: one CrlPublished event per published CRL" "$npub" "$(events_of CrlPublished)"
e2e_event_field CrlPublished crl "AND command_id = '$E2E_CMD_ID'" >"$W/crls.hex"
e2e_event_field CrlPublished issuer_id "AND command_id = '$E2E_CMD_ID'" >"$W/crl-issuers.txt"
line=$(grep -nx "$A_ISSUER" "$W/crl-issuers.txt" | head -n 1 | cut -d: -f1)
if [ -n "$line" ]; then
  sed -n "${line}p" "$W/crls.hex" | xxd -r -p >"$W/a.crl.der"
  openssl crl -inform DER -in "$W/a.crl.der" -out "$W/a.crl.pem" 2>/dev/null
  e2e_ok "crl.rotate: a CRL of the leaf's issuer is in the log"
else
  e2e_bad "crl.rotate: no CRL of issuer $A_ISSUER in the log"
fi
e2e_check "CRL: lists the revoked serial" \
  bash -c "openssl crl -in '$W/a.crl.pem' -noout -text | tr -d ':' | grep -qi 'Serial Number 0*$(serial_of "$W/a.pem")\$'"
if verify "$W/a.root.pem" "$W/a.inter.pem" "$W/a.pem" -crl_check -CRLfile "$W/a.crl.pem"; then
  e2e_bad "CRL: the revoked leaf passes openssl verify -crl_check"
else
  e2e_check "CRL: openssl verify -crl_check refuses the revoked leaf (certificate revoked)" \
    grep -q 'certificate revoked' <<<"$VERIFY_OUT"
fi
e2e_check "CRL: a leaf that is not revoked passes -crl_check with the same CRL (signature valid)" \
  verify "$W/a.root.pem" "$W/a.inter.pem" "$W/c.pem" -crl_check -CRLfile "$W/a.crl.pem"

# ---- config.update ----
req config.update '{"Provider":"consul","Config":{"LeafCertTTL":"24h","CrlAutoRebuild":true}}'
check_reply config.update config.update
e2e_eq "config.update: one ConfigUpdated event, no rotation" "1 0" \
  "$(events_of ConfigUpdated) $(events_of RootActivated)"
req revoke "{\"serial_number\":\"$C_SERIAL\",\"reason\":\"superseded\"}"
check_reply "revoke with CrlAutoRebuild" revoke
e2e_eq "revoke with CrlAutoRebuild: CertificateRevoked and a fresh CrlPublished" "1 1" \
  "$(events_of CertificateRevoked) $(events_of CrlPublished)"
e2e_event_field CrlPublished crl "AND command_id = '$E2E_CMD_ID'" | xxd -r -p >"$W/c.crl.der"
openssl crl -inform DER -in "$W/c.crl.der" -out "$W/c.crl.pem" 2>/dev/null
if verify "$W/a.root.pem" "$W/a.inter.pem" "$W/c.pem" -crl_check -CRLfile "$W/c.crl.pem"; then
  e2e_bad "CRL (auto rebuild): the revoked sign leaf passes -crl_check"
else
  e2e_check "CRL (auto rebuild): -crl_check refuses the revoked sign leaf" grep -q 'certificate revoked' <<<"$VERIFY_OUT"
fi
req config.update '{"Provider":"vault-unknown","Config":{}}'
check_reply "config.update with an unknown provider" config.update rejected

# ---- issuer.update ----
req issuer.update '{"issuer_name":"e2e-signing"}'
check_reply issuer.update issuer.update
e2e_eq "issuer.update: one IssuerUpdated event" 1 "$(events_of IssuerUpdated)"
req sign-verbatim "{\"csr\":$VCSR,\"issuer_ref\":\"e2e-signing\"}"
check_reply "sign-verbatim by the renamed issuer" sign-verbatim
e2e_jget result.issuing_ca <<<"$R" >"$W/renamed.pem"
e2e_eq "issuer.update: the new name resolves to the same issuer" "$(der_hex "$W/a.inter.pem")" "$(der_hex "$W/renamed.pem")"

# ---- reissue ----
ROOT_ID=$(e2e_event_field RootActivated root_id | tail -n 1)
req reissue "{\"issuer_ref\":\"$ROOT_ID\",\"issuer_name\":\"root-reissued\"}"
check_reply reissue reissue
save_cert certificate "$W/reissued.pem"
e2e_eq "reissue: same subject and key as the root, new serial" \
  "$(subject_of "$W/a.root.pem") $(pubkey_of_cert "$W/a.root.pem" | md5sum)" \
  "$(subject_of "$W/reissued.pem") $(pubkey_of_cert "$W/reissued.pem" | md5sum)"
e2e_check "reissue: the serial differs from the root's" test "$(serial_of "$W/reissued.pem")" != "$(serial_of "$W/a.root.pem")"
e2e_check "reissue: a leaf verifies against a trust store holding only the reissued root" \
  verify "$W/reissued.pem" "$W/a.inter.pem" "$W/v.pem"

# ---- rotate ----
req rotate '{}'
check_reply rotate rotate
NEW_ROOT_ID=$(e2e_jget result.root_id <<<"$R")
save_cert certificate "$W/newroot.pem"
e2e_check "rotate: result.certificate is a self-signed root" verify "$W/newroot.pem" "" "$W/newroot.pem"
e2e_check "rotate: a new root id" test -n "$NEW_ROOT_ID" -a "$NEW_ROOT_ID" != "$ROOT_ID"
e2e_eq "rotate: one RootActivated event" 1 "$(events_of RootActivated)"
read -r XPRIV2 XPUB2 < <(e2e_x25519)
req issue "{\"role\":\"web\",\"common_name\":\"new.example.com\",\"recipient_public_key\":\"$XPUB2\"}"
check_reply "issue after rotate" issue
save_cert certificate "$W/n.pem" && save_chain "$W/n"
e2e_check "rotate: the new root differs from the old one" test "$(der_hex "$W/newroot.pem")" != "$(der_hex "$W/a.root.pem")"
e2e_check "rotate: the new leaf verifies against the new root and its issuing CA" verify "$W/newroot.pem" "$W/n.first.pem" "$W/n.pem"
if verify "$W/a.root.pem" "$W/n.first.pem" "$W/n.pem"; then
  e2e_bad "rotate: the new leaf verifies against the old root without the cross-signed root"
else
  e2e_ok "rotate: without the cross-signed root the old root does not vouch for the new leaf"
fi
e2e_check "rotate: the new leaf verifies against the OLD root through the served chain (cross-signed)" \
  verify "$W/a.root.pem" "$W/n.chain.pem" "$W/n.pem"

# ---- cross-sign ----
req cross-sign "{\"issuer_ref\":\"$ROOT_ID\",\"signer_ref\":\"$NEW_ROOT_ID\",\"issuer_name\":\"old-root-by-new\"}"
check_reply cross-sign cross-sign
save_cert certificate "$W/cross.pem"
e2e_eq "cross-sign: subject and key of the old root" \
  "$(subject_of "$W/a.root.pem") $(pubkey_of_cert "$W/a.root.pem" | md5sum)" \
  "$(subject_of "$W/cross.pem") $(pubkey_of_cert "$W/cross.pem" | md5sum)"
e2e_check "cross-sign: verifies against the new root" verify "$W/newroot.pem" "" "$W/cross.pem"
cat "$W/a.inter.pem" "$W/cross.pem" >"$W/old-via-new.pem"
e2e_check "cross-sign: an old-hierarchy leaf verifies against a store holding only the new root" \
  verify "$W/newroot.pem" "$W/old-via-new.pem" "$W/v.pem"
req cross-sign "{\"issuer_ref\":\"$NEW_ROOT_ID\",\"signer_ref\":\"$NEW_ROOT_ID\"}"
check_reply "cross-sign by itself" cross-sign rejected

# ---- tidy ----
read -r XPRIV3 XPUB3 < <(e2e_x25519)
req issue "{\"role\":\"web\",\"common_name\":\"short.example.com\",\"ttl\":\"1s\",\"recipient_public_key\":\"$XPUB3\"}"
check_reply "issue (1s ttl)" issue
SHORT_SERIAL=$(e2e_jget result.serial_number <<<"$R")
sleep 3
req tidy '{"safety_buffer":"1s"}'
check_reply tidy tidy
removed=$(e2e_jget result.certificates_removed <<<"$R")
e2e_check "tidy: the expired certificate is removed" test "${removed:-0}" -ge 1
e2e_check "tidy: the Tidied event lists the expired serial" \
  grep -qF "\"$SHORT_SERIAL\"" <<<"$(e2e_event_field Tidied serials "AND command_id = '$E2E_CMD_ID'")"

# ---- role.delete ----
req role.delete '{"name":"web"}'
check_reply role.delete role.delete
e2e_eq "role.delete: one RoleDeleted event" 1 "$(events_of RoleDeleted)"
read -r _ XPUB4 < <(e2e_x25519)
req issue "{\"role\":\"web\",\"common_name\":\"late.example.com\",\"recipient_public_key\":\"$XPUB4\"}"
check_reply "issue with the deleted role" issue rejected
e2e_eq "issue with the deleted role: unknown_role, recorded as CommandRejected" "unknown_role 1" \
  "$(e2e_jget error.code <<<"$R") $(events_of CommandRejected)"
req issue '{"role":"web","common_name":"nokey.example.com"}'
check_reply "issue without a recipient key" issue rejected
e2e_eq "issue without a recipient key: missing_recipient_key" missing_recipient_key "$(e2e_jget error.code <<<"$R")"

# ---- the log as a whole ----
e2e_eq "every command of this test has exactly one commands row" 0 \
  "$(e2e_psql -c "SELECT count(*) FROM (SELECT command_id FROM commands GROUP BY 1 HAVING count(*) <> 1) d")"
e2e_eq "every reply was relayed (no unpublished outbox row)" 0 \
  "$(e2e_psql -c "SELECT count(*) FROM outbox WHERE published_at IS NULL")"
chain=$(e2e_psql -c "SELECT concat_ws('|', position, encode(prev_hash,'hex'), encode(hash,'hex'), encode(payload,'hex')) FROM events ORDER BY position" | e2e_py chain)
e2e_check "the hash chain of the whole log recomputes ($chain)" test "${chain%% *}" = ok

e2e_check "the signer is still running" e2e_signer_alive
e2e_signer_stop
e2e_eq "SIGTERM: the signer drains and exits 0" 0 "$E2E_SIGNER_RC"
e2e_finish
