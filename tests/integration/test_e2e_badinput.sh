#!/usr/bin/env bash
# test_e2e_badinput.sh — bad input through real Kafka: what cannot be decoded goes to
# ledgerca.dead-letter with the reason in its headers; what decodes but is wrong gets a
# `rejected` reply recorded as one CommandRejected event; nothing else is appended to the log,
# and the signer keeps running and answers a good command afterwards.
set -uo pipefail
. "$(dirname "$0")/lib_e2e.sh"
e2e_init badinput
W=$E2E_DIR

e2e_signer_start
e2e_check "signer starts" e2e_signer_ready 60
e2e_request role.write '{"name":"web","allowed_domains":["example.com"],"allow_subdomains":true,"key_type":"ec"}'
e2e_eq "role.write answered ok" ok "$(e2e_jget status <<<"$E2E_REPLY")"
read -r _ XPUB < <(e2e_x25519)

# counts by event type, and dedupe rows, before the bad input
counts() { e2e_psql -c "SELECT type || '=' || count(*) FROM events GROUP BY type ORDER BY type" | tr '\n' ' '; }
before_counts=$(counts)
before_cmds=$(e2e_psql -c "SELECT count(*) FROM commands")

# ---- undecodable: dead letters ----

# dead FILE_OR_EMPTY NAME EXPECTED_CODE [KCAT ARGS...]: produces the file as ONE message keyed
# NAME (kcat sends each file argument as a single message) and expects a dead letter.
DEAD_N=0
declare -A DEAD_CODE
dead() {
  local file=$1 name=$2 code=$3 key
  shift 3
  key="bad-$E2E_RUN-$name"
  DEAD_CODE[$key]=$code
  DEAD_N=$((DEAD_N + 1))
  kcat -P -b "$E2E_BS" -t "$E2E_TOPIC_ISSUE" -k "$key" "$@" "$file" || e2e_bad "$name: kcat could not produce it"
}

printf '\xc1\x00\x01not msgpack' >"$W/c1.bin"
dead "$W/c1.bin" reserved-byte bad_msgpack
head -c 300 /dev/urandom | tr '{' 'x' >"$W/random.bin"
dead "$W/random.bin" random-bytes '*'
printf '{"command_id": "%s", "type": ' "$(e2e_uuid)" >"$W/trunc.json"
dead "$W/trunc.json" truncated-json '*' -H content-type=application/json
printf '{"command_id":"%s","type":"issue"}' "$(e2e_uuid)" >"$W/ct.json"
dead "$W/ct.json" content-type bad_content_type -H content-type=text/plain
printf '{"command_id":"%s","type":"frobnicate","payload":{}}' "$(e2e_uuid)" >"$W/unknown.json"
dead "$W/unknown.json" unknown-type unknown_type -H content-type=application/json
printf '{"type":"issue","payload":{"role":"web","common_name":"a.example.com"}}' >"$W/noid.json"
dead "$W/noid.json" missing-command-id missing_field -H content-type=application/json
printf '{"command_id":"%s","payload":{}}' "$(e2e_uuid)" >"$W/notype.json"
dead "$W/notype.json" missing-type missing_field -H content-type=application/json
printf '{"command_id":"not-a-uuid","type":"issue","payload":{}}' >"$W/badid.json"
dead "$W/badid.json" bad-command-id bad_command_id -H content-type=application/json
printf '[1,2,3]' >"$W/array.json"
dead "$W/array.json" not-an-object bad_command -H content-type=application/json
printf '{"command_id":"%s","type":"issue","payload":"a string"}' "$(e2e_uuid)" >"$W/payload.json"
dead "$W/payload.json" payload-not-a-map bad_field -H content-type=application/json
# a message with a NULL value (kcat -Z turns the empty value after the key delimiter into NULL)
DEAD_CODE["bad-$E2E_RUN-null-value"]=empty
DEAD_N=$((DEAD_N + 1))
printf 'bad-%s-null-value:\n' "$E2E_RUN" | kcat -P -b "$E2E_BS" -t "$E2E_TOPIC_ISSUE" -K: -Z \
  || e2e_bad "null-value: kcat could not produce it"

# ---- decodable but wrong: rejections ----

# reject TYPE NAME EXPECTED_CODE PAYLOAD
REJ_N=0
: >"$W/rej.cids"
declare -A REJ_CODE
reject() {
  local id cid="rej-$E2E_RUN-$2"
  id=$(e2e_uuid)
  REJ_CODE[$cid]=$3
  REJ_N=$((REJ_N + 1))
  echo "$cid" >>"$W/rej.cids"
  e2e_cmd "$1" "$cid" "$4" "$id" | e2e_send "$(e2e_topic "$1")"
}

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/c.key" \
  -subj "/CN=c.example.com" -out "$W/c.csr" 2>/dev/null
# a CSR whose signature does not verify: one bit flipped near the end of the DER
python3 -c '
import base64, sys
pem = open(sys.argv[1]).read().split("\n")
der = bytearray(base64.b64decode("".join(l for l in pem if l and not l.startswith("-----"))))
der[-3] ^= 0x01
b64 = base64.b64encode(bytes(der)).decode()
print("-----BEGIN CERTIFICATE REQUEST-----")
for i in range(0, len(b64), 64):
    print(b64[i:i + 64])
print("-----END CERTIFICATE REQUEST-----")' "$W/c.csr" >"$W/tampered.csr"
jstr() { python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$1"; }
GARBAGE_CSR='"-----BEGIN CERTIFICATE REQUEST-----\nAAAAAAAA\n-----END CERTIFICATE REQUEST-----\n"'

reject sign csr-garbage bad_csr "{\"role\":\"web\",\"csr\":$GARBAGE_CSR}"
reject sign csr-bad-signature bad_csr "{\"role\":\"web\",\"csr\":$(jstr "$W/tampered.csr")}"
reject sign csr-missing missing_field '{"role":"web"}'
reject issue policy-denied policy_denied "{\"role\":\"web\",\"common_name\":\"www.evil.test\",\"recipient_public_key\":\"$XPUB\"}"
reject issue unknown-role unknown_role "{\"role\":\"nope\",\"common_name\":\"a.example.com\",\"recipient_public_key\":\"$XPUB\"}"
reject issue bad-recipient-key missing_recipient_key '{"role":"web","common_name":"a.example.com","recipient_public_key":"abcd"}'
reject revoke revoke-no-serial bad_serial '{}'
reject revoke revoke-unknown-serial not_found '{"serial_number":"01:02:03:04"}'
reject role.write role-no-name missing_field '{"allowed_domains":["example.com"]}'
reject role.write role-unknown-field unknown_field '{"name":"r2","no_such_option":true}'
reject issue bad-ttl '*' "{\"role\":\"web\",\"common_name\":\"a.example.com\",\"ttl\":\"forever\",\"recipient_public_key\":\"$XPUB\"}"
# authorization (seed 003's personas): a wrong token, no token, and a Requester token used for
# an Operator command are each a rejection and a CommandRejected event
REQ_TOKEN=$("$LEDGERCA" token create --persona requester --roles web --pg-uri "$E2E_DB_URI") \
  || e2e_bad "ledgerca token create --persona requester"
E2E_TOKEN=wrong-token reject issue wrong-token permission_denied "{\"role\":\"web\",\"common_name\":\"a.example.com\",\"recipient_public_key\":\"$XPUB\"}"
E2E_TOKEN= reject role.write no-token permission_denied '{"name":"r3","allowed_domains":["example.com"]}'
E2E_TOKEN=$REQ_TOKEN reject rotate requester-rotates permission_denied '{}'
# a reply_to naming a topic Kafka does not have (auto-creation is off): refused, answered on
# ledgerca.replies instead of stopping the signer when the reply cannot be delivered
E2E_REPLY_TO=ledgerca.no-such-topic-$E2E_RUN reject role.write missing-reply-topic bad_reply_to '{"name":"r4","allowed_domains":["example.com"]}'
E2E_TOKEN=$REQ_TOKEN reject issue requester-other-role permission_denied "{\"role\":\"nope\",\"common_name\":\"a.example.com\",\"recipient_public_key\":\"$XPUB\"}"

# ---- results ----

e2e_check "every rejection answered" e2e_wait_replies "$W/rej.cids" 60
while read -r cid; do
  r=$(e2e_py reply "$W/replies.jsonl" "$cid")
  st=$(e2e_jget status <<<"$r")
  code=$(e2e_jget error.code <<<"$r")
  want=${REJ_CODE[$cid]}
  if [ "$st" = rejected ] && { [ "$want" = '*' ] && [ -n "$code" ] || [ "$code" = "$want" ]; }; then
    e2e_ok "${cid#rej-"$E2E_RUN"-}: rejected, code $code, message: $(e2e_jget error.message <<<"$r" | head -c 80)"
  else
    e2e_bad "${cid#rej-"$E2E_RUN"-}: expected a rejection with code $want, got: $(head -c 300 <<<"$r")"
  fi
done <"$W/rej.cids"

deadline=$((SECONDS + 30))
while [ "$(grep -c "\"key\":\"bad-$E2E_RUN-" "$W/dead.jsonl" 2>/dev/null)" -lt "$DEAD_N" ] && [ $SECONDS -lt $deadline ]; do
  sleep 0.2
done
for key in "${!DEAD_CODE[@]}"; do
  h=$(e2e_py dead "$W/dead.jsonl" "$key" | head -n 1)
  if [ -z "$h" ]; then
    e2e_bad "${key#bad-"$E2E_RUN"-}: no dead letter"
    continue
  fi
  got=$(e2e_jget error-code <<<"$h")
  want=${DEAD_CODE[$key]}
  if { [ "$want" = '*' ] && [ -n "$got" ] || [ "$got" = "$want" ]; } &&
    [ "$(e2e_jget source-topic <<<"$h")" = "$E2E_TOPIC_ISSUE" ] &&
    [ -n "$(e2e_jget error <<<"$h")" ] &&
    [[ "$(e2e_jget source-offset <<<"$h")" =~ ^[0-9]+$ ]] &&
    [[ "$(e2e_jget source-partition <<<"$h")" =~ ^[0-9]+$ ]]; then
    e2e_ok "${key#bad-"$E2E_RUN"-}: dead-lettered, error-code $got, source topic/partition/offset, error: $(e2e_jget error <<<"$h" | head -c 70)"
  else
    e2e_bad "${key#bad-"$E2E_RUN"-}: dead letter headers not as expected (want code $want): $h"
  fi
done
e2e_check "a dead letter keeps the original bytes" \
  python3 -c '
import json, sys
want = open(sys.argv[2], "rb").read().decode("utf-8", "replace")
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    e = json.loads(line)
    if e.get("key") == sys.argv[3]:
        sys.exit(0 if e.get("payload") == want else 1)
sys.exit(1)' "$W/dead.jsonl" "$W/unknown.json" "bad-$E2E_RUN-unknown-type"

after_counts=$(counts)
diff_counts=$(python3 -c '
import sys
def parse(s):
    return {k: int(v) for k, v in (x.split("=") for x in s.split())}
a, b = parse(sys.argv[1]), parse(sys.argv[2])
print(" ".join("%s+%d" % (k, b.get(k, 0) - a.get(k, 0)) for k in sorted(set(a) | set(b)) if b.get(k, 0) != a.get(k, 0)))' "$before_counts" "$after_counts")
e2e_eq "the log grew only by one CommandRejected per rejection" "CommandRejected+$REJ_N" "$diff_counts"
e2e_eq "one commands row per rejection, none for dead letters" "$((before_cmds + REJ_N))" \
  "$(e2e_psql -c "SELECT count(*) FROM commands")"

e2e_check "the signer is still running" e2e_signer_alive
e2e_request issue "{\"role\":\"web\",\"common_name\":\"good.example.com\",\"recipient_public_key\":\"$XPUB\"}"
e2e_eq "a good command afterwards is answered ok" ok "$(e2e_jget status <<<"$E2E_REPLY")"

# ---- oversized: more than 1 MiB ----
# The broker's default message.max.bytes (about 1 MiB) bounds a record batch after
# compression, so a 1.1 MiB command sent lz4-compressed reaches the signer whole.
BIG_ID=$(e2e_uuid)
python3 -c '
import json, sys
print(json.dumps({"command_id": sys.argv[1], "type": "issue", "correlation_id": "big",
                  "payload": {"role": "web", "common_name": "x" * (1100 * 1024)}}), end="")' "$BIG_ID" >"$W/big.json"
DEAD_KEY="bad-$E2E_RUN-oversized"
if kcat -P -b "$E2E_BS" -t "$E2E_TOPIC_ISSUE" -k "$DEAD_KEY" -H content-type=application/json \
  -z lz4 -X message.max.bytes=4000000 "$W/big.json"; then
  e2e_ok "oversized: a $(wc -c <"$W/big.json")-byte command is accepted by the broker (compressed)"
else
  e2e_bad "oversized: kcat could not produce the oversized command"
fi
deadline=$((SECONDS + 30))
while ! e2e_py dead "$W/dead.jsonl" "$DEAD_KEY" >/dev/null && e2e_signer_alive && [ $SECONDS -lt $deadline ]; do
  sleep 0.2
done
h=$(e2e_py dead "$W/dead.jsonl" "$DEAD_KEY" | head -n 1)
code=none
[ -n "$h" ] && code=$(e2e_jget error-code <<<"$h")
e2e_eq "oversized: dead-lettered with error-code too_large" too_large "$code"
e2e_check "oversized: the signer is still running" e2e_signer_alive
if e2e_signer_alive; then
  e2e_request issue "{\"role\":\"web\",\"common_name\":\"after-big.example.com\",\"recipient_public_key\":\"$XPUB\"}"
  e2e_eq "oversized: a good command afterwards is answered ok" ok "$(e2e_jget status <<<"$E2E_REPLY")"
else
  e2e_bad "oversized: signer died: $(grep 'signer stopped' "$E2E_SIGNER_LOG" | head -n 1)"
  # a restarted signer must get past the message (no poison pill)
  e2e_signer_wait_exit 10
  e2e_signer_start
  e2e_signer_ready 60
  e2e_request issue "{\"role\":\"web\",\"common_name\":\"after-big.example.com\",\"recipient_public_key\":\"$XPUB\"}" 20
  e2e_eq "oversized: a restarted signer gets past the message and answers a good command" ok \
    "$(e2e_jget status <<<"$E2E_REPLY")"
fi
e2e_eq "oversized: no commands row and no event for it" "0 0" \
  "$(e2e_psql -c "SELECT (SELECT count(*) FROM commands WHERE command_id = '$BIG_ID'),
                         (SELECT count(*) FROM events WHERE command_id = '$BIG_ID')")"
e2e_signer_stop
e2e_finish
