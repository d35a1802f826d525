#!/usr/bin/env bash
# test_http_crl.sh — `ledgerca api` serves every CRL at the URL certificates carry (issue 4):
# a real signer, projector and API on the runner's PostgreSQL and Kafka, driven with curl and
# checked with openssl:
#   - deltas on, the configuration's CrlBaseURL = <api>/v1/pki/crls, the default issuer sharded
#     in 4 with its own crl_base_url = <api>/shard-crls (a path the API knows only from the log);
#   - each leaf's CRL distribution point and freshestCRL URL are fetched as they are: the shard's
#     complete CRL (its IDP names that URL) and its delta, DER and PEM, byte-identical to the
#     projector's --crl-dir files, signed by the issuer; openssl verify -crl_check -use_deltas
#     refuses the revoked leaf and accepts an unrevoked one of the same shard; after crl.rotate
#     the complete shard CRL alone refuses it;
#   - the root's unsharded complete and delta CRLs under /v1/pki/crls, the delta at the URL the
#     complete CRL's freshestCRL names; Vault's crl/delta paths;
#   - 404 with Vault's error form for an unknown issuer, a shard the issuer does not have, a
#     shard of an unsharded issuer, a delta not published yet, and a malformed CRL path.
set -uo pipefail
. "$(dirname "$0")/lib_e2e.sh"
e2e_init httpcrl
W=$E2E_DIR
command -v curl >/dev/null || e2e_die "curl is not installed"

e2e_signer_start
e2e_check "signer starts and bootstraps a root" e2e_signer_ready 60
mkdir -p "$W/crl"
"$LEDGERCA" projector --pg-uri "$E2E_DB_URI" --crl-dir "$W/crl" >"$W/projector.log" 2>&1 &
E2E_PIDS+=($!)
"$LEDGERCA" api --listen 127.0.0.1:0 --pg-uri "$E2E_DB_URI" --bootstrap "$E2E_BS" \
  --timeout 20000 --signer-group "$E2E_GROUP" >"$W/api.log" 2>&1 &
E2E_PIDS+=($!)
for _ in $(seq 1 100); do
  PORT=$(sed -n 's/.*msg="api ready".* port=\([0-9]*\).*/\1/p' "$W/api.log")
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "${PORT:-}" ] || { cat "$W/api.log"; e2e_die "ledgerca api did not start"; }
U="http://127.0.0.1:$PORT"

# code PATH|URL: GET it into $W/body, print the HTTP status.
code() {
  local u=$1
  [ "${u#http}" = "$u" ] && u="$U$u"
  curl -s -o "$W/body" -w '%{http_code}' "$u"
}
# post PATH BODY: the Vault API with the Operator token; the reply in $W/post.json.
post() { curl -s -o "$W/post.json" -w '%{http_code}' -H "X-Vault-Token: $E2E_TOKEN" -d "$2" "$U$1"; }
jq_() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d = d[int(k)] if isinstance(d, list) else d[k]
print(d)' "$@"; }
# uri_of CERT EXT: the first URI of the extension named EXT in `openssl x509 -text`.
uri_of() {
  openssl x509 -in "$1" -noout -text | awk -v ext="$2" '
    index($0, ext) { on = 1; next }
    on && /URI:/ { sub(/.*URI:/, ""); print; exit }
    on && /X509v3|Signature Algorithm/ { exit }'
}
nf() { # nf NAME PATH WORDS: 404 and {"errors": [...]} containing WORDS
  local st
  st=$(code "$2")
  if [ "$st" = 404 ] && python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["errors"]; sys.exit(0 if sys.argv[2] in e[0] else 1)' "$W/body" "$3" 2>/dev/null; then
    e2e_ok "$1: 404, $3"
  else
    e2e_bad "$1: $st $(head -c 200 "$W/body")"
  fi
}
wait_projected() { # the read models (and so the API) reach the log head
  for _ in $(seq 1 200); do
    [ "$(e2e_psql -c "SELECT (SELECT position FROM rm_position) >= (SELECT position FROM log_head)")" = t ] && sleep 0.2 && return 0
    sleep 0.05
  done
  return 1
}

# ---- the configuration: deltas on, CRL base URLs on the API ----

e2e_request config.update "{\"Config\":{\"CrlEnableDelta\":true,\"CrlBaseURL\":\"$U/v1/pki/crls\"}}"
e2e_eq "config.update: deltas on, CrlBaseURL on the API" ok "$(e2e_jget status <<<"$E2E_REPLY")"
e2e_request issuer.update "{\"issuer_ref\":\"default\",\"crl_shards\":4,\"crl_base_url\":\"$U/shard-crls\"}"
e2e_eq "issuer.update: the default issuer sharded in 4" ok "$(e2e_jget status <<<"$E2E_REPLY")"
ISS=$(e2e_event_field IssuerUpdated issuer_id | tail -1)
ROOT=$(e2e_event_field RootActivated root_id | tail -1)
e2e_check "issuer ids known" test -n "$ISS" -a -n "$ROOT"
e2e_check "role web written" test "$(post /v1/pki/roles/web '{"allowed_domains":"example.com","allow_subdomains":true,"ttl":"24h"}' | cut -c1)" = 2
curl -s "$U/v1/pki/issuer/$ISS/pem" >"$W/issuer.pem"
curl -s "$U/v1/pki/issuer/$ROOT/pem" >"$W/root.pem"
cat "$W/issuer.pem" "$W/root.pem" >"$W/chain.pem"

# ---- leaves: their shard's URLs ----

declare -A SHARD_OF SER
for i in $(seq 1 12); do
  [ "$(post /v1/pki/issue/web "{\"common_name\":\"h$i.example.com\"}")" = 200 ] || { e2e_bad "issue h$i: $(head -c 300 "$W/post.json")"; continue; }
  jq_ "$W/post.json" data.certificate >"$W/leaf$i.pem"
  SER[$i]=$(jq_ "$W/post.json" data.serial_number)
  cdp=$(uri_of "$W/leaf$i.pem" "CRL Distribution Points")
  SHARD_OF[$i]=$(sed -n "s|^$U/shard-crls/$ISS/\([0-9]*\)\.crl$|\1|p" <<<"$cdp")
done
e2e_check "every leaf names its shard's CRL under the issuer's crl_base_url" \
  bash -c "[ ${#SHARD_OF[@]} = 12 ] && ! printf '%s\n' ${SHARD_OF[*]} | grep -vq '^[0-3]$'"
CDP1=$(uri_of "$W/leaf1.pem" "CRL Distribution Points")
FRESH1=$(uri_of "$W/leaf1.pem" "Freshest CRL")
K=${SHARD_OF[1]}
e2e_eq "leaf 1's freshestCRL is its shard's delta" "$U/shard-crls/$ISS/$K.delta.crl" "$FRESH1"
OTHER=
for i in $(seq 2 12); do [ "${SHARD_OF[$i]}" = "$K" ] && OTHER=$i && break; done

# ---- revoke leaf 1: its shard's delta lists it ----

SERIAL=$(openssl x509 -in "$W/leaf1.pem" -noout -serial | sed 's/^serial=//')
e2e_eq "revoke leaf 1" 200 "$(post /v1/pki/revoke "{\"serial_number\":\"${SER[1]}\"}")"
e2e_check "the read models reach the log head" wait_projected

e2e_eq "GET the leaf's CRL distribution point, as it is: 200" 200 "$(code "$CDP1")"
cp "$W/body" "$W/base.der"
e2e_eq "... DER, byte-identical to the projector's file" "$(sha256sum <"$W/crl/$ISS/$K.crl")" "$(sha256sum <"$W/base.der")"
e2e_check "... signed by the issuer (openssl crl -CAfile)" \
  bash -c "openssl crl -inform DER -in '$W/base.der' -CAfile '$W/chain.pem' -noout 2>&1 | grep -q 'verify OK'"
e2e_check "... its issuingDistributionPoint is that URL" \
  bash -c "openssl crl -inform DER -in '$W/base.der' -noout -text | grep -A3 'Issuing Distribution Point' | grep -qF 'URI:$CDP1'"
e2e_eq "GET the leaf's freshestCRL: 200" 200 "$(code "$FRESH1")"
cp "$W/body" "$W/delta.der"
e2e_eq "... byte-identical to the projector's delta file" "$(sha256sum <"$W/crl/$ISS/$K.delta.crl")" "$(sha256sum <"$W/delta.der")"
e2e_check "... a delta CRL listing the revoked serial, signed by the issuer" bash -c "
  openssl crl -inform DER -in '$W/delta.der' -CAfile '$W/chain.pem' -noout 2>&1 | grep -q 'verify OK' &&
  openssl crl -inform DER -in '$W/delta.der' -noout -text | grep -q 'Delta CRL Indicator' &&
  openssl crl -inform DER -in '$W/delta.der' -noout -text | grep -q 'Serial Number: $SERIAL'"
e2e_eq "the PEM forms (.pem) equal the projector's .pem files" \
  "200 $(sha256sum <"$W/crl/$ISS/$K.pem") 200 $(sha256sum <"$W/crl/$ISS/$K.delta.pem")" \
  "$(code "${CDP1%.crl}.pem") $(sha256sum <"$W/body") $(code "${FRESH1%.crl}.pem") $(sha256sum <"$W/body")"
e2e_eq "the same CRLs under /v1/pki/crls" \
  "200 $(sha256sum <"$W/base.der") 200 $(sha256sum <"$W/delta.der")" \
  "$(code "/v1/pki/crls/$ISS/$K.crl") $(sha256sum <"$W/body") $(code "/v1/pki/crls/$ISS/$K.delta.crl") $(sha256sum <"$W/body")"
openssl crl -inform DER -in "$W/base.der" -out "$W/base.pem"
openssl crl -inform DER -in "$W/delta.der" -out "$W/delta.pem"
out=$(openssl verify -crl_check -use_deltas -CAfile "$W/root.pem" -untrusted "$W/issuer.pem" \
  -CRLfile "$W/base.pem" -CRLfile "$W/delta.pem" "$W/leaf1.pem" 2>&1)
e2e_check "openssl verify -crl_check -use_deltas with the fetched shard CRLs refuses the revoked leaf" \
  grep -q 'certificate revoked' <<<"$out"
if [ -n "$OTHER" ]; then
  out=$(openssl verify -crl_check -use_deltas -CAfile "$W/root.pem" -untrusted "$W/issuer.pem" \
    -CRLfile "$W/base.pem" -CRLfile "$W/delta.pem" "$W/leaf$OTHER.pem" 2>&1)
  e2e_eq "... and accepts an unrevoked leaf of the same shard" "$W/leaf$OTHER.pem: OK" "$out"
fi

NOT_DELTA=
for k in 0 1 2 3; do [ ! -e "$W/crl/$ISS/$k.delta.crl" ] && NOT_DELTA=$k && break; done
if [ -n "$NOT_DELTA" ]; then
  nf "a shard whose delta was never published (only shard $K's was)" "/shard-crls/$ISS/$NOT_DELTA.delta.crl" "no delta CRL published yet"
fi

# ---- crl.rotate: the complete shard CRL lists it ----

e2e_eq "crl/rotate" 200 "$(post /v1/pki/crl/rotate '{}')"
e2e_check "the read models reach the log head" wait_projected
code "$CDP1" >/dev/null
openssl crl -inform DER -in "$W/body" -out "$W/base2.pem"
out=$(openssl verify -crl_check -CAfile "$W/root.pem" -untrusted "$W/issuer.pem" \
  -CRLfile "$W/base2.pem" "$W/leaf1.pem" 2>&1)
e2e_check "after crl.rotate the fetched complete shard CRL alone refuses the revoked leaf" \
  grep -q 'certificate revoked' <<<"$out"

# ---- the root: unsharded complete and delta CRLs ----

e2e_eq "GET /v1/pki/crls/<root>.crl: 200" 200 "$(code "/v1/pki/crls/$ROOT.crl")"
cp "$W/body" "$W/root.crl"
e2e_check "... signed by the root" \
  bash -c "openssl crl -inform DER -in '$W/root.crl' -CAfile '$W/root.pem' -noout 2>&1 | grep -q 'verify OK'"
RFRESH=$(openssl crl -inform DER -in "$W/root.crl" -noout -text | awk '/Freshest CRL/ { on = 1 } on && /URI:/ { sub(/.*URI:/, ""); print; exit }')
e2e_eq "its freshestCRL names /v1/pki/crls/<root>.delta.crl" "$U/v1/pki/crls/$ROOT.delta.crl" "$RFRESH"
e2e_eq "GET that URL: 200, the projector's file" "200 $(sha256sum <"$W/crl/$ROOT.delta.crl")" \
  "$(code "$RFRESH") $(sha256sum <"$W/body")"
e2e_eq "Vault's issuer/:ref/crl/delta/der: the same delta" "200 $(sha256sum <"$W/crl/$ROOT.delta.crl")" \
  "$(code "/v1/pki/issuer/$ROOT/crl/delta/der") $(sha256sum <"$W/body")"
e2e_eq "Vault's issuer/:ref/crl/delta/pem: the .pem file" "200 $(sha256sum <"$W/crl/$ROOT.delta.pem")" \
  "$(code "/v1/pki/issuer/$ROOT/crl/delta/pem") $(sha256sum <"$W/body")"

# ---- what is not there: 404, Vault's error form ----

nf "an unknown issuer" "/v1/pki/crls/00000000-0000-4000-8000-00000000dead.crl" "unknown issuer"
nf "an unknown issuer under the issuer's base URL" "/shard-crls/00000000-0000-4000-8000-00000000dead/0.crl" "unknown issuer"
nf "shard 4 of a 4-shard issuer" "/shard-crls/$ISS/4.crl" "has no CRL shard 4 (crl_shards 4)"
nf "a shard of an unsharded issuer" "/v1/pki/crls/$ROOT/0.crl" "has no CRL shard 0 (crl_shards 0)"
nf "a malformed path under /v1/pki/crls" "/v1/pki/crls/$ISS/x.crl" "not a CRL path"
nf "a non-canonical shard number" "/v1/pki/crls/$ISS/01.crl" "not a CRL path"
e2e_eq "a path under the base URL that is not a CRL is not taken for one" 404 "$(code "/shard-crls/$ISS/notes.txt")"
e2e_check "... (no handler)" grep -q 'no handler' "$W/body"

# ---- Vault's config/crl and crl/rotate-delta ----

st=$(curl -s -o "$W/cfg.json" -w '%{http_code}' -H "X-Vault-Token: $E2E_TOKEN" "$U/v1/pki/config/crl")
e2e_eq "config/crl shows enable_delta and delta_rebuild_interval (default 0: a delta per revocation)" \
  "200 True 0h" "$st $(jq_ "$W/cfg.json" data.enable_delta) $(jq_ "$W/cfg.json" data.delta_rebuild_interval)"
st=$(curl -s -o "$W/rd.json" -w '%{http_code}' -H "X-Vault-Token: $E2E_TOKEN" "$U/v1/pki/crl/rotate-delta")
e2e_eq "GET crl/rotate-delta: 200, nothing pending, no CRL" "200 True 0" \
  "$st $(jq_ "$W/rd.json" data.success) $(jq_ "$W/rd.json" data.crls_published)"

e2e_finish
