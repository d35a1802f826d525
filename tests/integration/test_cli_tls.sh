#!/usr/bin/env bash
# `ledgerca tls` as an operator uses it: files, flags, exit codes; every certificate checked by
# openssl, GnuTLS certtool and zlint (independent verifiers).
set -u
L=${LEDGERCA:?LEDGERCA must name the ledgerca binary}
ZLINT=$(command -v zlint || echo "$HOME/go/bin/zlint")
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; cd "$work"
pass=0; fail=0
ok()   { pass=$((pass+1)); echo "ok   - $*"; }
bad()  { fail=$((fail+1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi; }
refuse() { local what=$1; shift; if "$@" >/dev/null 2>&1; then bad "$what (accepted)"; else ok "$what"; fi; }
lint() { # no error- or fatal-level zlint findings from the lint sources that govern a private
  # CA (the CA/Browser Forum rules, e.g. a public TLD and countryName, are for web PKI)
  local out; out=$("$ZLINT" -includeSources RFC5280,RFC5480,RFC5891,RFC8813,Community -format pem "$1" 2>&1) || { bad "zlint ran on $1"; return; }
  if echo "$out" | grep -Eq '"result":"(error|fatal)"'; then bad "zlint clean $1: $(echo "$out" | grep -Eo '"[a-z_]+":\{"result":"(error|fatal)"' | head -3)"; else ok "zlint clean $1"; fi
}

check "ca create" "$L" tls ca create
[ -f consul-agent-ca.pem ] && [ -f consul-agent-ca-key.pem ] && ok "CA files named like consul's" || bad "CA file names"
[ "$(stat -c %a consul-agent-ca-key.pem)" = 600 ] && ok "CA key is 0600" || bad "CA key mode"
refuse "ca create refuses to overwrite" "$L" tls ca create
lint consul-agent-ca.pem
check "server cert" "$L" tls cert create -server -dc dc1 -additional-dnsname web.example.com -additional-ipaddress 10.0.0.7
check "client cert" "$L" tls cert create -client
check "cli cert" "$L" tls cert create -cli
check "second server cert gets index 1" test -f dc1-server-consul-0.pem -a -f dc1-server-consul-1.pem -o -f dc1-server-consul-0.pem
"$L" tls cert create -server >/dev/null && [ -f dc1-server-consul-1.pem ] && ok "next free index" || bad "next free index"
for c in dc1-server-consul-0.pem dc1-client-consul-0.pem dc1-cli-consul-0.pem; do
  check "openssl verify -x509_strict $c" openssl verify -x509_strict -CAfile consul-agent-ca.pem "$c"
  check "certtool verify $c" certtool --verify --load-ca-certificate consul-agent-ca.pem --infile "$c"
  lint "$c"
done
openssl x509 -in dc1-server-consul-0.pem -noout -ext subjectAltName | grep -q 'server.dc1.consul' && ok "server SAN" || bad "server SAN"
openssl x509 -in dc1-server-consul-0.pem -noout -ext subjectAltName | grep -q '10.0.0.7' && ok "extra IP SAN" || bad "extra IP SAN"
openssl x509 -in dc1-cli-consul-0.pem -noout -ext extendedKeyUsage | grep -q 'Server' && bad "cli cert has serverAuth" || ok "cli cert is client-only"
check "openssl verify -purpose sslserver" openssl verify -purpose sslserver -CAfile consul-agent-ca.pem dc1-server-consul-0.pem
refuse "cert create needs a kind" "$L" tls cert create
refuse "unknown flag" "$L" tls cert create -server -bogus
refuse "missing CA file" "$L" tls cert create -server -ca nope.pem
refuse "weak key type" "$L" tls ca create -domain weak -key-type rsa -key-bits 1024
[ ! -f weak-agent-ca.pem ] && ok "nothing written on bad input" || bad "wrote a file on bad input"
check "rsa CA" "$L" tls ca create -domain rsa -key-type rsa -key-bits 3072
check "ed25519 CA" "$L" tls ca create -domain ed -key-type ed25519
check "rsa server cert" "$L" tls cert create -server -domain rsa -key-type rsa
check "verify rsa chain" openssl verify -x509_strict -CAfile rsa-agent-ca.pem dc1-server-rsa-0.pem

# offline root ceremony: sign an intermediate CSR, then cross-sign it by another root
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout int.key -subj "/CN=dc2 intermediate" -out int.csr 2>/dev/null
check "sign-intermediate" "$L" tls ca sign-intermediate -csr int.csr -out int.pem -permitted-dns-domain dc2.consul
check "intermediate verifies" openssl verify -x509_strict -CAfile consul-agent-ca.pem int.pem
openssl x509 -in int.pem -noout -ext nameConstraints | grep -q dc2.consul && ok "name constraint" || bad "name constraint"
lint int.pem
check "cross-sign by the rsa root" "$L" tls ca cross-sign -ca rsa-agent-ca.pem -key rsa-agent-ca-key.pem -cert int.pem -out int-x.pem
check "cross-signed verifies under the other root" openssl verify -x509_strict -CAfile rsa-agent-ca.pem int-x.pem
[ "$(openssl x509 -in int.pem -noout -subject)" = "$(openssl x509 -in int-x.pem -noout -subject)" ] && ok "same subject" || bad "same subject"
[ "$(openssl x509 -in int.pem -noout -pubkey)" = "$(openssl x509 -in int-x.pem -noout -pubkey)" ] && ok "same key" || bad "same key"
echo "garbage" > junk.csr
refuse "garbage CSR" "$L" tls ca sign-intermediate -csr junk.csr -out junk.pem
check "--help exits 0" "$L" tls --help
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
