#!/usr/bin/env bash
# `ledgerca dev` as a user runs it: ready with an env file, a demo certificate whose key matches,
# a kcat round trip through the embedded Kafka, and a clean stop on SIGTERM.
set -u
L=${LEDGERCA:?LEDGERCA must name the ledgerca binary}
work=$(mktemp -d); pass=0; fail=0
ok()  { pass=$((pass+1)); echo "ok   - $*"; }
bad() { fail=$((fail+1)); echo "FAIL - $*"; }
"$L" dev --env-file "$work/env" --http-addr 127.0.0.1:0 >"$work/out" 2>"$work/err" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 120); do [ -s "$work/env" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.5; done
if [ ! -s "$work/env" ]; then bad "dev mode became ready"; tail -20 "$work/err"; echo "$pass passed, $((fail)) failed"; exit 1; fi
ok "dev mode became ready"
# shellcheck disable=SC1091
. "$work/env"
for v in LEDGERCA_KAFKA_BOOTSTRAP LEDGERCA_PG_URI LEDGERCA_ROOT_TOKEN LEDGERCA_HTTP_ADDR; do
  [ -n "${!v:-}" ] && ok "env file has $v" || bad "env file has $v"
done
demo=$(grep -o '/tmp/ledgerca-dev-[A-Za-z0-9]*/demo.pem' "$work/out" | head -1)
dir=$(dirname "$demo")
[ -f "$demo" ] && ok "demo certificate written" || bad "demo certificate written"
a=$(openssl x509 -in "$demo" -noout -pubkey | sha256sum); b=$(openssl pkey -in "$dir/demo-key.pem" -pubout | sha256sum)
[ "$a" = "$b" ] && ok "demo key matches its certificate" || bad "demo key matches its certificate"
openssl x509 -in "$demo" -noout -ext subjectAltName | grep -q 'spiffe://.*/svc/demo' && ok "SPIFFE service SAN" || bad "SPIFFE service SAN"
id=$(python3 -c 'import uuid; print(uuid.uuid4())')
bad_id=$(python3 -c 'import uuid; print(uuid.uuid4())')
echo "{\"command_id\":\"$bad_id\",\"type\":\"role.write\",\"correlation_id\":\"$bad_id\",\"token\":\"wrong\",\"payload\":{\"name\":\"x\"}}" \
  | kcat -P -b "$LEDGERCA_KAFKA_BOOTSTRAP" -t ledgerca.commands.admin -H content-type=application/json
echo "{\"command_id\":\"$id\",\"type\":\"role.write\",\"correlation_id\":\"$id\",\"token\":\"$LEDGERCA_ROOT_TOKEN\",\"payload\":{\"name\":\"web\",\"allowed_domains\":\"example.com\",\"allow_subdomains\":true,\"key_type\":\"ec\",\"key_bits\":256}}" \
  | kcat -P -b "$LEDGERCA_KAFKA_BOOTSTRAP" -t ledgerca.commands.admin -H content-type=application/json
got=""
for _ in $(seq 1 30); do
  got=$(kcat -C -b "$LEDGERCA_KAFKA_BOOTSTRAP" -t ledgerca.replies -o beginning -e -f '%k %s\n' 2>/dev/null | grep "^$id ")
  [ -n "$got" ] && break; sleep 1
done
echo "$got" | grep -q '"status":"ok"' && ok "kcat command answered" || bad "kcat command answered: $got"
denied=$(kcat -C -b "$LEDGERCA_KAFKA_BOOTSTRAP" -t ledgerca.replies -o beginning -e -f '%k %s\n' 2>/dev/null | grep "^$bad_id ")
echo "$denied" | grep -q '"code":"permission_denied"' && ok "a wrong token is refused" || bad "a wrong token is refused: $denied"
n=$(psql "$LEDGERCA_PG_URI" -Atc "select count(*) from events where type='CommandRejected'")
[ "$n" = 1 ] && ok "the denial is in the event log" || bad "CommandRejected events: $n"
n=$(psql "$LEDGERCA_PG_URI" -Atc "select count(*) from events where type='RoleWritten'")
[ "$n" = 1 ] && ok "the role is in the event log" || bad "RoleWritten events: $n"
roots=""
for _ in $(seq 1 20); do
  roots=$(psql "$LEDGERCA_PG_URI" -Atc "select doc from rm_roots" 2>/dev/null)
  [ -n "$roots" ] && break; sleep 0.5
done
echo "$roots" | grep -q '"ActiveRootID"' && ok "projector wrote the roots list" || bad "roots list: $roots"
n=$(psql "$LEDGERCA_PG_URI" -Atc "select count(*) from rm_certs")
[ "$n" -ge 1 ] && ok "projector lists the demo certificate" || bad "rm_certs rows: $n"
# the HTTP API of dev mode: Consul's roots, and a Vault issue through the facade with the root token
curl -s "http://$LEDGERCA_HTTP_ADDR/v1/connect/ca/roots" | grep -q '"ActiveRootID"' \
  && ok "HTTP API serves /v1/connect/ca/roots" || bad "HTTP API serves /v1/connect/ca/roots"
resp=$(curl -s -H "X-Vault-Token: $LEDGERCA_ROOT_TOKEN" -d '{"common_name":"www.example.com"}' \
  "http://$LEDGERCA_HTTP_ADDR/v1/pki/issue/web")
echo "$resp" | python3 -c 'import json,sys; d=json.load(sys.stdin)["data"]; assert "BEGIN CERTIFICATE" in d["certificate"] and d["private_key"]' 2>/dev/null \
  && ok "HTTP API issues through Kafka (pki/issue/web)" || bad "HTTP API issue: ${resp:0:300}"
code=$(curl -s -o /dev/null -w '%{http_code}' -d '{"common_name":"www.example.com"}' "http://$LEDGERCA_HTTP_ADDR/v1/pki/issue/web")
[ "$code" = 403 ] && ok "HTTP API refuses a request without a token (403)" || bad "no token: HTTP $code"
kill -TERM $pid; wait $pid; rc=$?
[ $rc -eq 0 ] && ok "clean exit on SIGTERM" || bad "exit code $rc on SIGTERM"
[ ! -d "$dir" ] && ok "data directory removed" || bad "data directory left behind: $dir"
[ ! -f "$work/env" ] && ok "env file removed" || bad "env file left behind"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
