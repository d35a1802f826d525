#!/usr/bin/env bash
# test_http_api.sh — `ledgerca api` end to end: a real signer, projector and API against the
# runner's PostgreSQL and Kafka, driven with curl and with Debian's python3-hvac, unchanged.
#   1. Consul roots: exactly the seed's field set, ?pem=true, X-Consul-Index;
#   2. a blocking query returns within a second of a rotation's reply and lists both roots,
#      the new one with its cross-signed twin and signing intermediate;
#   3. hvac: create a role, issue (the private key matches the certificate), sign a CSR,
#      revoke, read the CA, the chain and the CRL (which lists the revoked serial), list certs;
#   4. the persona matrix of seed 003: every persona against every path, 403 exactly where
#      the table says so;
#   5. bad input: malformed JSON, a body over 1 MiB, unknown paths and methods, slow and
#      abandoned connections: Vault's error form, nothing appended, the server stays up.
set -uo pipefail
. "$(dirname "$0")/lib_e2e.sh"
e2e_init http
W=$E2E_DIR
HVAC_PY=/usr/bin/python3
$HVAC_PY -c 'import hvac' 2>/dev/null || e2e_die "python3-hvac is not installed (tests/infra/deps.sh)"
command -v curl >/dev/null || e2e_die "curl is not installed"

# ---- start the signer, the projector and the API ----

e2e_signer_start
e2e_check "signer starts and bootstraps a root" e2e_signer_ready 60
"$LEDGERCA" projector --pg-uri "$E2E_DB_URI" >"$W/projector.log" 2>&1 &
E2E_PIDS+=($!)
"$LEDGERCA" api --listen 127.0.0.1:0 --pg-uri "$E2E_DB_URI" --bootstrap "$E2E_BS" \
  --conn-timeout 2 --timeout 20000 --signer-group "$E2E_GROUP" >"$W/api.log" 2>&1 &
API_PID=$!
E2E_PIDS+=($API_PID)
for _ in $(seq 1 100); do
  PORT=$(sed -n 's/.*msg="api ready".* port=\([0-9]*\).*/\1/p' "$W/api.log")
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "${PORT:-}" ] || { cat "$W/api.log"; e2e_die "ledgerca api did not start"; }
U="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do
  curl -s "$U/v1/connect/ca/roots" | grep -q ActiveRootID && break
  sleep 0.1
done

api_alive() { kill -0 "$API_PID" 2>/dev/null && [ "$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/sys/health")" = 200 ]; }
events() { e2e_psql -c "SELECT count(*) FROM events"; }
# code METHOD PATH [TOKEN] [BODY]: the HTTP status.
code() {
  local args=(-s -o "$W/body" -w '%{http_code}' -X "$1")
  [ -n "${3:-}" ] && args+=(-H "X-Vault-Token: $3")
  [ -n "${4:-}" ] && args+=(--data-binary "$4")
  curl "${args[@]}" "$U$2"
}

# ---- 1. Consul roots ----

curl -s -D "$W/roots.h" "$U/v1/connect/ca/roots" >"$W/roots.json"
e2e_eq "roots: Consul's field set, top level and per root" ok "$(python3 - "$W/roots.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
top = ["ActiveRootID", "TrustDomain", "Roots"]
root = ["ID", "Name", "SerialNumber", "SigningKeyID", "ExternalTrustDomain", "NotBefore", "NotAfter",
        "RootCert", "IntermediateCerts", "Active", "PrivateKeyType", "PrivateKeyBits", "CreateIndex",
        "ModifyIndex"]
ok = list(d) == top and len(d["Roots"]) == 1 and all(list(r) == root for r in d["Roots"])
ok = ok and d["Roots"][0]["Active"] is True and d["Roots"][0]["ID"] == d["ActiveRootID"]
print("ok" if ok else "bad: %s" % json.dumps(d)[:300])
EOF
)"
e2e_eq "roots document equals the read model rm_roots" "$(e2e_psql -c 'SELECT doc FROM rm_roots')" "$(cat "$W/roots.json")"
IDX=$(tr -d '\r' <"$W/roots.h" | sed -n 's/^X-Consul-Index: //Ip')
e2e_eq "X-Consul-Index is the document's position" "$(e2e_psql -c 'SELECT position FROM rm_roots')" "$IDX"
curl -s "$U/v1/connect/ca/roots?pem=true" >"$W/roots.pem"
e2e_eq "?pem=true gives the root PEM" \
  "$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["Roots"][0]["RootCert"].strip())' "$W/roots.json")" \
  "$(sed '/^$/d' "$W/roots.pem")"

# ---- 1b. a CRL from the start, as Vault serves one once an issuer exists ----

e2e_eq "GET /v1/pki/crl before any revocation: 200" 200 "$(code GET /v1/pki/crl)"
openssl crl -inform DER -in "$W/body" -noout -text >"$W/crl0.txt" 2>&1
e2e_check "the first CRL is a valid, empty CRL v2" grep -q "No Revoked Certificates" "$W/crl0.txt"
e2e_eq "GET /v1/pki/crl/pem before any revocation: 200" 200 "$(code GET /v1/pki/crl/pem)"
curl -s "$U/v1/pki/ca/pem" >"$W/ca0.pem"
e2e_check "the first CRL is signed by the default issuer" \
  openssl crl -in "$W/body" -CAfile "$W/ca0.pem" -noout

# ---- 2. blocking query across a rotation ----

python3 - "$U" "$IDX" "$E2E_TOKEN" >"$W/blocking.out" 2>&1 <<'EOF'
import json, sys, threading, time, urllib.request
u, idx, tok = sys.argv[1], sys.argv[2], sys.argv[3]
got = {}
def block():
    t0 = time.time()
    with urllib.request.urlopen("%s/v1/connect/ca/roots?index=%s&wait=60s" % (u, idx), timeout=90) as r:
        got["doc"] = json.load(r)
        got["index"] = r.headers["X-Consul-Index"]
    got["t"] = time.time()
    got["waited"] = got["t"] - t0
th = threading.Thread(target=block)
th.start()
time.sleep(1.0)
req = urllib.request.Request("%s/v1/pki/root/rotate/internal" % u, data=b"{}", method="POST",
                             headers={"X-Vault-Token": tok})
with urllib.request.urlopen(req, timeout=60) as r:
    json.load(r)
t_reply = time.time()
th.join(90)
d = got.get("doc", {})
roots = d.get("Roots", [])
active = [r for r in roots if r["Active"]]
print("after_reply=%.3f waited=%.3f roots=%d active_new=%s inter=%d index_moved=%s" % (
    got.get("t", 1e9) - t_reply, got.get("waited", 0), len(roots),
    bool(active) and active[0]["ID"] != roots[0]["ID"],
    len(active[0]["IntermediateCerts"] or []) if active else -1,
    int(got.get("index", 0)) > int(idx)))
EOF
B=$(cat "$W/blocking.out")
echo "# $B"
e2e_check "blocking query waits, then returns within 1 s of the rotation's reply" python3 -c "
import re, sys; m = re.search(r'after_reply=(-?[0-9.]+) waited=([0-9.]+)', sys.argv[1])
sys.exit(0 if m and float(m.group(1)) < 1.0 and float(m.group(2)) > 0.9 else 1)" "$B"
e2e_check "it lists both roots, the new one active with its cross-signed twin and intermediate" \
  grep -q 'roots=2 active_new=True inter=2 index_moved=True' <<<"$B"
e2e_eq "a blocking query with an unchanged index times out with the same index" 200 \
  "$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/connect/ca/roots?index=999999999&wait=200ms")"

# ---- 3. hvac, unchanged ----

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/csr.key" \
  -subj "/CN=svc.example.com" -out "$W/svc.csr" 2>/dev/null || e2e_die "openssl req failed"
$HVAC_PY - "$U" "$E2E_TOKEN" "$W" >"$W/hvac.out" 2>&1 <<'EOF'
import json, subprocess, sys
import hvac
u, tok, w = sys.argv[1:4]
c = hvac.Client(url=u, token=tok)
pki = c.secrets.pki
def ok(desc, cond):
    print(("ok   - " if cond else "FAIL - ") + "hvac: " + desc)
def run(*a, data=None):
    return subprocess.run(a, input=data, capture_output=True, text=True)
r = pki.create_or_update_role("web", {"allowed_domains": "example.com", "allow_subdomains": True,
                                      "key_type": "ec", "max_ttl": "72h"})
# hvac's JSONAdapter gives the decoded body, or the requests Response for a 204
ok("create_or_update_role", r is not None and (not hasattr(r, "status_code") or r.status_code == 204))
role = pki.read_role("web")["data"]
ok("read_role gives the role with Vault's fields", role["allowed_domains"] == ["example.com"]
   and role["allow_subdomains"] is True)
iss = pki.generate_certificate("web", "a.example.com", extra_params={"ttl": "1h"})["data"]
open(w + "/h.crt", "w").write(iss["certificate"])
open(w + "/h.key", "w").write(iss["private_key"])
pub_c = run("openssl", "x509", "-in", w + "/h.crt", "-noout", "-pubkey").stdout
pub_k = run("openssl", "pkey", "-in", w + "/h.key", "-pubout").stdout
ok("generate_certificate returns a certificate and its private key", pub_c and pub_c == pub_k)
ok("issue's response has no sealed fields", "sealed_private_key" not in iss)
chain = "".join(iss["ca_chain"])
open(w + "/h.chain", "w").write(chain)
v = run("openssl", "verify", "-CAfile", w + "/h.chain", w + "/h.crt")
ok("the issued certificate verifies with its ca_chain", v.returncode == 0)
sig = pki.sign_certificate("web", open(w + "/svc.csr").read(), "svc.example.com")["data"]
open(w + "/s.crt", "w").write(sig["certificate"])
pub_s = run("openssl", "x509", "-in", w + "/s.crt", "-noout", "-pubkey").stdout
pub_csr = run("openssl", "req", "-in", w + "/svc.csr", "-noout", "-pubkey").stdout
ok("sign_certificate signs the CSR's key", pub_s and pub_s == pub_csr)
rv = pki.revoke_certificate(iss["serial_number"])["data"]
ok("revoke_certificate", rv.get("revocation_time", 0) > 0)
ca = pki.read_ca_certificate()
ok("read_ca_certificate is a PEM certificate", "BEGIN CERTIFICATE" in ca)
ch = pki.read_ca_certificate_chain()
ok("read_ca_certificate_chain holds the issuing CA", ca.strip() in ch)
import time
serial = iss["serial_number"].replace(":", "").upper().lstrip("0")
crl_text = ""
for _ in range(50):
    crl = pki.read_crl()
    crl_text = run("openssl", "crl", "-noout", "-text", data=crl).stdout
    if serial in crl_text.replace(":", "").upper():
        break
    time.sleep(0.1)
ok("read_crl lists the revoked serial", serial in crl_text.replace(":", "").upper())
keys = pki.list_certificates()["data"]["keys"]
ok("list_certificates lists both leaves", iss["serial_number"] in keys and sig["serial_number"] in keys)
cert = pki.read_certificate(iss["serial_number"])["data"]
ok("read_certificate shows the revocation", cert["revocation_time"] > 0)
EOF
cat "$W/hvac.out"
E2E_PASS=$((E2E_PASS + $(grep -c '^ok   - ' "$W/hvac.out")))
E2E_FAIL=$((E2E_FAIL + $(grep -c '^FAIL - ' "$W/hvac.out")))
[ "$(grep -c '^ok   - ' "$W/hvac.out")" -eq 12 ] || e2e_bad "hvac: not every step ran (see above)"

# ---- 4. the persona matrix (seed 003) ----

declare -A TOK
TOK[operator]=$E2E_TOKEN
for p in agent advanced requester; do
  TOK[$p]=$("$LEDGERCA" token create --persona "$p" --pg-uri "$E2E_DB_URI") || e2e_die "token create $p"
done
TOK[unauthed]=""
SERIAL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["keys"][0])' \
  <(curl -s -H "X-Vault-Token: $E2E_TOKEN" -X LIST "$U/v1/pki/certs"))
# lowest persona allowed | method | path | body (writes: a body the engine rejects, or harmless)
MATRIX="unauthed GET /v1/pki/ca
unauthed GET /v1/pki/ca/pem
unauthed GET /v1/pki/ca_chain
unauthed GET /v1/pki/crl
unauthed GET /v1/pki/crl/pem
unauthed GET /v1/pki/cert/$SERIAL
unauthed LIST /v1/pki/issuers
unauthed GET /v1/pki/issuer/default/json
unauthed GET /v1/pki/issuer/default/der
unauthed GET /v1/pki/issuer/default/pem
unauthed GET /v1/pki/issuer/default/crl
unauthed GET /v1/pki/issuer/default/crl/pem
unauthed GET /v1/connect/ca/roots
requester LIST /v1/pki/certs
requester LIST /v1/pki/roles
requester GET /v1/pki/roles/web
requester POST /v1/pki/issue/web {\"common_name\":\"x.invalid\"}
requester POST /v1/pki/sign/web {\"csr\":\"not a csr\"}
advanced POST /v1/pki/issuer/default/issue/web {\"common_name\":\"x.invalid\"}
advanced POST /v1/pki/issuer/default/sign/web {\"csr\":\"not a csr\"}
agent GET /v1/connect/ca/configuration
agent GET /v1/pki/config/crl
agent GET /v1/pki/issuer/default
agent GET /v1/pki/tidy-status
agent GET /v1/pki/crl/rotate
agent POST /v1/pki/roles/tmp {\"allowed_domains\":\"tmp.example.com\"}
agent DELETE /v1/pki/roles/tmp
agent POST /v1/pki/sign-verbatim {\"csr\":\"not a csr\"}
agent POST /v1/pki/revoke {\"serial_number\":\"00:00:01\"}
agent POST /v1/pki/tidy {}
operator GET /v1/pki/config/urls
operator POST /v1/pki/config/urls {\"issuing_certificates\":[\"http://127.0.0.1:1/ca\"]}
operator POST /v1/pki/root/rotate/internal {\"key_type\":\"bogus\"}
operator POST /v1/pki/intermediate/cross-sign {\"issuer_ref\":\"no-such-issuer\"}
operator POST /v1/pki/issuers/generate/root/existing {\"issuer_ref\":\"no-such-issuer\"}
operator POST /v1/pki/issuer/default/sign-intermediate {\"csr\":\"not a csr\"}
operator POST /v1/pki/issuer/no-such-issuer {\"leaf_not_after_behavior\":\"err\"}
operator PUT /v1/connect/ca/configuration {\"Provider\":\"bogus\"}"
rank() { case $1 in unauthed) echo 0 ;; requester) echo 1 ;; advanced) echo 2 ;; agent) echo 3 ;; operator) echo 4 ;; esac; }
bad_matrix=0
n_matrix=0
while read -r need method path body; do
  # the agent's role write is undone by its delete; run them in this order per persona
  for p in unauthed requester advanced agent operator; do
    st=$(code "$method" "$path" "${TOK[$p]}" "$body")
    n_matrix=$((n_matrix + 1))
    if [ "$(rank "$p")" -ge "$(rank "$need")" ]; then
      if [ "$st" = 403 ] || { [ "$method" != POST ] && [ "$method" != PUT ] && [ "$method" != DELETE ] &&
        [ "$path" != /v1/pki/crl/rotate ] && [ "$st" != 200 ]; } || [ "$st" -ge 500 ]; then
        e2e_bad "matrix: $p $method $path: $st (allowed: $need and above) $(head -c 200 "$W/body")"
        bad_matrix=$((bad_matrix + 1))
      fi
    elif [ "$st" != 403 ]; then
      e2e_bad "matrix: $p $method $path: $st, expected 403 $(head -c 200 "$W/body")"
      bad_matrix=$((bad_matrix + 1))
    elif ! grep -q '"errors":\["permission denied' "$W/body"; then
      e2e_bad "matrix: $p $method $path: 403 without Vault's error form"
      bad_matrix=$((bad_matrix + 1))
    fi
  done
done <<<"$MATRIX"
e2e_eq "persona matrix: $n_matrix requests, allowed exactly where seed 003 says" 0 "$bad_matrix"
e2e_eq "a Requester limited to other roles is denied the role (403)" 403 \
  "$(code POST /v1/pki/issue/web "$("$LEDGERCA" token create --persona requester --roles api --pg-uri "$E2E_DB_URI")" '{"common_name":"a.example.com"}')"

# ---- 5. bad input ----

sleep 0.5
N0=$(events)
st=$(code POST /v1/pki/issue/web "$E2E_TOKEN" '{"common_name": ')
e2e_check "malformed JSON: 400 in Vault's form" bash -c "[ $st = 400 ] && grep -q '\"errors\":\[\"failed to parse JSON' '$W/body'"
st=$(code POST /v1/pki/issue/web "$E2E_TOKEN" '["not", "an", "object"]')
e2e_eq "a JSON array body: 400" 400 "$st"
head -c 1100000 /dev/zero | tr '\0' 'a' >"$W/big.json"
st=$(curl -s -o "$W/body" -w '%{http_code}' -X POST -H "X-Vault-Token: $E2E_TOKEN" \
  --data-binary @"$W/big.json" "$U/v1/pki/issue/web")
e2e_check "a body over 1 MiB: 413 in Vault's form" bash -c "[ $st = 413 ] && grep -q '\"errors\"' '$W/body'"
st=$(python3 - "$PORT" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /v1/pki/issue/web HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
chunk = b"a" * 65536
try:
    for _ in range(20):
        s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
    s.sendall(b"0\r\n\r\n")
    print(s.recv(4096).split(b"\r\n")[0].decode())
except OSError as e:
    print("closed", e)
EOF
)
e2e_check "a chunked body over 1 MiB: 413" grep -q ' 413 ' <<<"$st"
e2e_eq "unknown PKI path: 404" 404 "$(code GET /v1/pki/no-such-thing)"
e2e_check "404 is in Vault's form" grep -q '"errors"' "$W/body"
e2e_eq "unknown top-level path: 404" 404 "$(code GET /v1/no/such/path)"
e2e_eq "a write to a read-only path: 405" 405 "$(code POST /v1/pki/ca "$E2E_TOKEN" '{}')"
e2e_eq "an unknown write path: 405" 405 "$(code POST /v1/pki/no-such-write "$E2E_TOKEN" '{}')"
e2e_eq "unknown serial: 404" 404 "$(code GET /v1/pki/cert/00:11:22)"
e2e_eq "malformed serial: 400" 400 "$(code GET '/v1/pki/cert/zz%20top')"
e2e_eq "unknown issuer: 404" 404 "$(code GET /v1/pki/issuer/no-such-issuer/json)"
slow=$(python3 - "$PORT" <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
# abandoned: connections that send nothing, or half a request, and vanish
for i in range(40):
    s = socket.create_connection(("127.0.0.1", port))
    if i % 2:
        s.sendall(b"GET /v1/pki/ca HTTP/1.1\r\nHost")
    s.close()
# slow: half a request, then silence; the server must close it (--conn-timeout 2)
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"POST /v1/pki/issue/web HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"common")
s.settimeout(10)
t0 = time.time()
try:
    data = s.recv(4096)
    while data:
        data = s.recv(4096)
    print("closed after %.1f s" % (time.time() - t0))
except socket.timeout:
    print("still open after 10 s")
EOF
)
echo "# slow client: $slow"
e2e_check "a slow client is disconnected by the connection timeout" python3 -c "
import sys; w = sys.argv[1].split(); sys.exit(0 if w[0] == 'closed' and float(w[2]) < 6 else 1)" "$slow"
e2e_check "the server stays up after the bad input" api_alive
sleep 0.5
e2e_eq "nothing was appended by the bad input" "$N0" "$(events)"

# ---- metrics ----

curl -s "$U/v1/sys/metrics?format=prometheus" >"$W/metrics.txt"
e2e_check "metrics: issue counted with role, issuer and cluster labels" \
  grep -Eq '^ledgerca_pki_requests_total\{operation="issue",role="web",issuer="[0-9a-f-]{36}",cluster="dc1",failure="false"\} [1-9]' "$W/metrics.txt"
e2e_check "metrics: failures counted apart" \
  grep -Eq '^ledgerca_pki_requests_total\{operation="issue",role="web",.*failure="true"\} [1-9]' "$W/metrics.txt"
e2e_check "metrics: sign, revoke and durations" bash -c "grep -q 'operation=\"sign\"' '$W/metrics.txt' &&
  grep -q 'operation=\"revoke\"' '$W/metrics.txt' && grep -q '^ledgerca_pki_request_duration_seconds_sum' '$W/metrics.txt'"
e2e_check "metrics: projector lag" grep -Eq '^ledgerca_projector_lag_events\{cluster="dc1"\} [0-9]+$' "$W/metrics.txt"
e2e_check "metrics: consumer lag of each command topic" bash -c "
  grep -Eq '^ledgerca_consumer_lag_messages\{cluster=\"dc1\",group=\"$E2E_GROUP\",topic=\"ledgerca.commands.issue\"\} [0-9]+$' '$W/metrics.txt' &&
  grep -Eq '^ledgerca_consumer_lag_messages\{.*topic=\"ledgerca.commands.revoke\"\} [0-9]+$' '$W/metrics.txt' &&
  grep -Eq '^ledgerca_consumer_lag_messages\{.*topic=\"ledgerca.commands.admin\"\} [0-9]+$' '$W/metrics.txt'"
admin_lag() {
  curl -s "$U/v1/sys/metrics?format=prometheus" |
    sed -n 's/^ledgerca_consumer_lag_messages{.*topic="ledgerca.commands.admin"} \([0-9]*\)$/\1/p'
}
# the signer paused: three commands wait in Kafka and the lag says so; resumed, it drains to 0
kill -STOP "$E2E_SIGNER_PID"
for i in 1 2 3; do
  e2e_cmd role.write "lag-$E2E_RUN-$i" "{\"name\":\"lag$i\",\"allow_any_name\":true}"
done | e2e_send "$E2E_TOPIC_ADMIN"
e2e_eq "metrics: consumer lag counts the commands the paused signer has not decided" 3 "$(admin_lag)"
kill -CONT "$E2E_SIGNER_PID"
for _ in $(seq 1 100); do [ "$(admin_lag)" = 0 ] && break; sleep 0.2; done
e2e_eq "metrics: consumer lag back to 0 once the signer caught up" 0 "$(admin_lag)"
e2e_check "health: initialized and unsealed" bash -c "curl -s '$U/v1/sys/health' | grep -q '\"initialized\":true,\"sealed\":false'"

# ---- Consul's PUT configuration: a new key type rotates, cross-signed unless forced ----

# roots_after_put BODY: PUT it; prints "<status> <roots> <active key> <intermediates of the active root>"
roots_after_put() {
  local st
  st=$(curl -s -o "$W/put.json" -w '%{http_code}' -X PUT -H "X-Vault-Token: $E2E_TOKEN" -d "$1" \
    "$U/v1/connect/ca/configuration")
  sleep 0.2 # the read-your-writes wait covers the write; the snapshot refresh follows within 50 ms
  python3 - "$U" "$st" <<'EOF'
import json, sys, urllib.request
d = json.load(urllib.request.urlopen(sys.argv[1] + "/v1/connect/ca/roots", timeout=30))
a = [r for r in d["Roots"] if r["Active"]][0]
print(sys.argv[2], len(d["Roots"]), "%s%s" % (a["PrivateKeyType"], a["PrivateKeyBits"]),
      len(a["IntermediateCerts"] or []))
EOF
}
before=$(curl -s "$U/v1/connect/ca/roots" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Roots"]))')
r=$(roots_after_put '{"Provider":"consul","Config":{"PrivateKeyType":"ec","PrivateKeyBits":384}}')
echo "# PUT P-384: $r"
e2e_eq "PUT configuration with a new key type rotates: one more root, P-384, cross-signed twin + intermediate" \
  "200 $((before + 1)) ec384 2" "$r"
r=$(roots_after_put '{"Provider":"consul","Config":{"PrivateKeyType":"ec","PrivateKeyBits":256},"ForceWithoutCrossSigning":true}')
echo "# PUT P-256 forced: $r"
e2e_eq "ForceWithoutCrossSigning rotates without a cross-signed twin" "200 $((before + 2)) ec256 1" "$r"
n0=$(events)
r=$(roots_after_put '{"Provider":"consul","Config":{"LeafCertTTL":"48h"}}')
e2e_eq "PUT without a key change does not rotate" "200 $((before + 2)) ec256 1" "$r"
e2e_check "... but records the configuration" bash -c "[ $(events) -gt $n0 ]"

e2e_finish
