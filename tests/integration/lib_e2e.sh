#!/usr/bin/env bash
# lib_e2e.sh — shared helpers of the end-to-end tests (tests/integration/test_e2e_*.sh).
#
# The tests drive the real `ledgerca` binary the way an operator would: commands are produced
# with kcat, replies and dead letters are consumed with kcat, the log is read with psql, and
# certificates are checked with openssl. Python (with the `cryptography` package the oracles
# already need) is used only for JSON handling and to open sealed keys independently.
#
# Sourced by a test:  . "$(dirname "$0")/lib_e2e.sh"; e2e_init NAME; ...; e2e_finish
# Run directly (CTest globs every integration/*.sh), it self-tests its Python helpers: the
# msgpack decoder, the sealed-box opener and the hash-chain checker, against independent data.
#
# Environment in (a missing one is a FAILURE, never a skip):
#   LEDGERCA                  path of the ledgerca binary (tests/CMakeLists.txt passes it)
#   LCA_TEST_PG_URI           superuser URI of a running PostgreSQL (tests/infra/setup.sh)
#   LCA_TEST_KAFKA_BOOTSTRAP  bootstrap address of a running Kafka broker
#   E2E_KEEP=1                keep the database and the work directory even when the test passes
#
# Isolation: every test has its own database, its own consumer group and unique command and
# correlation ids. The command topics are shared, and the signer's consumer starts at the
# earliest offset of a group it has never seen, so e2e_init stores the current end offsets
# of the command topics as the group's offsets in the test's database (the signer seeks to
# PostgreSQL-stored offsets on assignment): a test's signer never decides other tests' commands.
# Replies are read from the test's start time on and filtered by correlation id.

E2E_PASS=0
E2E_FAIL=0
E2E_PIDS=()
E2E_SIGNER_PID=""
E2E_SIGNER_N=0
E2E_TOPIC_ISSUE=ledgerca.commands.issue
E2E_TOPIC_REVOKE=ledgerca.commands.revoke
E2E_TOPIC_ADMIN=ledgerca.commands.admin
E2E_TOPIC_REPLIES=ledgerca.replies
E2E_TOPIC_DEAD=ledgerca.dead-letter

# ---- results ----

e2e_ok() {
  E2E_PASS=$((E2E_PASS + 1))
  echo "ok   - $*"
}

e2e_bad() {
  E2E_FAIL=$((E2E_FAIL + 1))
  echo "FAIL - $*"
}

# e2e_check DESC CMD...: passes when CMD succeeds.
e2e_check() {
  local d=$1
  shift
  if "$@"; then e2e_ok "$d"; else e2e_bad "$d"; fi
}

# e2e_eq DESC EXPECTED ACTUAL
e2e_eq() {
  if [ "$2" = "$3" ]; then e2e_ok "$1"; else e2e_bad "$1 (expected '$2', got '$3')"; fi
}

# e2e_die MSG: a broken precondition fails the test at once.
e2e_die() {
  echo "FAIL - ${E2E_NAME:-e2e}: $*" >&2
  E2E_FAIL=$((E2E_FAIL + 1))
  echo "$E2E_PASS passed, $E2E_FAIL failed"
  exit 1
}

# e2e_finish: prints the summary and exits non-zero on any failure.
e2e_finish() {
  echo "${E2E_NAME:-e2e}: $((SECONDS - ${E2E_T0:-0}))s"
  echo "$E2E_PASS passed, $E2E_FAIL failed"
  [ "$E2E_FAIL" -eq 0 ] && exit 0
  exit 1
}

e2e_cleanup() {
  local rc=$? p
  if [ -n "$E2E_SIGNER_PID" ] && kill -0 "$E2E_SIGNER_PID" 2>/dev/null; then
    kill -KILL "$E2E_SIGNER_PID" 2>/dev/null
    wait "$E2E_SIGNER_WRAP" 2>/dev/null
  fi
  for p in "${E2E_PIDS[@]}"; do
    kill "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  if [ "$E2E_FAIL" -eq 0 ] && [ "$rc" -eq 0 ] && [ "${E2E_KEEP:-}" != "1" ]; then
    [ -n "${E2E_DB:-}" ] && psql -XAtq "$LCA_TEST_PG_URI" -c "DROP DATABASE IF EXISTS $E2E_DB WITH (FORCE)" \
      >/dev/null 2>&1
    [ -n "${E2E_DIR:-}" ] && rm -rf "$E2E_DIR"
  elif [ -n "${E2E_DIR:-}" ]; then
    echo "# kept for inspection: database ${E2E_DB:-?}, directory $E2E_DIR (signer logs there)"
    for p in "$E2E_DIR"/signer.*.log; do
      [ -f "$p" ] || continue
      echo "# --- last lines of $p"
      tail -n 15 "$p" | sed 's/^/# /'
    done
  fi
}

# ---- set-up ----

# e2e_require_env: the tools and variables every e2e test needs.
e2e_require_env() {
  local v t
  for v in LEDGERCA LCA_TEST_PG_URI LCA_TEST_KAFKA_BOOTSTRAP; do
    [ -n "${!v:-}" ] || e2e_die "$v is not set (run through tests/run, which starts PostgreSQL and Kafka)"
  done
  [ -x "$LEDGERCA" ] || e2e_die "LEDGERCA=$LEDGERCA is not an executable"
  for t in kcat psql openssl python3; do
    command -v "$t" >/dev/null || e2e_die "$t is not installed"
  done
  python3 -c 'import cryptography.hazmat.primitives.asymmetric.x25519' 2>/dev/null \
    || e2e_die "python3 package 'cryptography' is missing (tests/infra/oracles.sh installs it)"
}

# e2e_db_uri DBNAME [USER]: LCA_TEST_PG_URI pointed at another database (and user).
e2e_db_uri() {
  python3 - "$LCA_TEST_PG_URI" "$1" "${2:-}" <<'EOF'
import sys
from urllib.parse import urlsplit, urlunsplit
u = urlsplit(sys.argv[1])
netloc = u.netloc
if sys.argv[3]:
    netloc = sys.argv[3] + "@" + netloc.rsplit("@", 1)[-1]
print(urlunsplit((u.scheme, netloc, "/" + sys.argv[2], u.query, u.fragment)))
EOF
}

# e2e_init NAME: database (migrated), KEK, consumer group, work directory, reply tails.
e2e_init() {
  E2E_NAME=$1
  E2E_T0=$SECONDS
  e2e_require_env
  E2E_BS=$LCA_TEST_KAFKA_BOOTSTRAP
  E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lca-e2e-$1.XXXXXX") || e2e_die "mktemp failed"
  E2E_RUN=$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')
  E2E_DB="e2e_${1}_${E2E_RUN}"
  E2E_GROUP="ledgerca-e2e-$1-$E2E_RUN"
  E2E_GROUP_BASE=$E2E_GROUP
  E2E_GEN=0
  trap e2e_cleanup EXIT
  e2e_write_py
  psql -XAtq -v ON_ERROR_STOP=1 "$LCA_TEST_PG_URI" -c "CREATE DATABASE $E2E_DB" >/dev/null \
    || e2e_die "cannot create database $E2E_DB on $LCA_TEST_PG_URI"
  E2E_DB_URI=$(e2e_db_uri "$E2E_DB")
  "$LEDGERCA" migrate --pg-uri "$E2E_DB_URI" >"$E2E_DIR/migrate.log" 2>&1 \
    || { cat "$E2E_DIR/migrate.log" >&2; e2e_die "ledgerca migrate failed"; }
  # every command carries an Operator token, created as an operator would
  E2E_TOKEN=$("$LEDGERCA" token create --persona operator --pg-uri "$E2E_DB_URI" \
    --description "e2e $1") || e2e_die "ledgerca token create failed"
  export E2E_TOKEN
  (umask 077 && openssl rand -hex 32 >"$E2E_DIR/kek") || e2e_die "cannot write the KEK"
  chmod 600 "$E2E_DIR/kek"
  e2e_seed_offsets "$E2E_GROUP" || e2e_die "cannot store the start offsets of $E2E_GROUP"
  E2E_T0MS=$(($(date +%s%3N) - 2000))
  e2e_tail "$E2E_TOPIC_REPLIES" "$E2E_DIR/replies.jsonl"
  e2e_tail "$E2E_TOPIC_DEAD" "$E2E_DIR/dead.jsonl"
}

# e2e_psql ARGS...: psql on the test database as the superuser; unaligned, tuples only,
# fields separated by one space.
e2e_psql() {
  psql -XAtq -F ' ' -v ON_ERROR_STOP=1 "$E2E_DB_URI" "$@"
}

# e2e_seed_offsets GROUP: stores the end offset of every command-topic partition as GROUP's
# next offset in the test database.
e2e_seed_offsets() {
  local t spec=() sql
  for t in "$E2E_TOPIC_ISSUE" "$E2E_TOPIC_REVOKE" "$E2E_TOPIC_ADMIN"; do
    while read -r p; do spec+=(-t "$t:$p:-1"); done < <(
      kcat -L -b "$E2E_BS" -J -t "$t" -m 10 2>/dev/null | python3 -c '
import json, sys
for t in json.load(sys.stdin)["topics"]:
    for p in t["partitions"]:
        print(p["partition"])')
  done
  [ ${#spec[@]} -ge 6 ] || { echo "no partitions found for the command topics" >&2; return 1; }
  sql=$(kcat -Q -b "$E2E_BS" -m 10 "${spec[@]}" | python3 -c '
import re, sys
group = sys.argv[1]
rows = []
for line in sys.stdin:
    m = re.match(r"^(\S+) \[(\d+)\] offset (-?\d+)$", line.strip())
    if m:
        off = max(int(m.group(3)), 0)
        rows.append("(%r, %r, %s, %d)" % (group, m.group(1), m.group(2), off))
if not rows:
    sys.exit(1)
print("INSERT INTO consumer_offsets (group_id, topic, partition, next_offset) VALUES "
      + ", ".join(rows) + ";")' "$1") || return 1
  e2e_psql -c "$sql" >/dev/null
}

# e2e_tail TOPIC FILE: consumes TOPIC from the test's start time on into FILE (kcat JSON
# envelopes, one per line) in the background until the test ends.
e2e_tail() {
  kcat -C -b "$E2E_BS" -t "$1" -o "s@$E2E_T0MS" -J -u -q -E >"$2" 2>>"$E2E_DIR/kcat-$1.err" &
  E2E_PIDS+=($!)
}

# ---- the signer ----

# e2e_signer_start [VAR=VALUE...]: starts a signer of the test's database and group in the
# background with the extra environment given; E2E_SIGNER_PID (the signer itself),
# E2E_SIGNER_LOG. A small bash wrapper is this shell's job and reports the signer's status as
# its exit code (so a killed signer leaves no "Killed" job notice in the test output).
e2e_signer_start() {
  local pidfile
  E2E_SIGNER_N=$((E2E_SIGNER_N + 1))
  E2E_SIGNER_LOG="$E2E_DIR/signer.$E2E_SIGNER_N.log"
  pidfile="$E2E_DIR/signer.$E2E_SIGNER_N.pid"
  bash -c 'env "${@:2}" & echo $! >"$1.tmp"; mv "$1.tmp" "$1"; wait $!' e2e-signer "$pidfile" \
    "$@" "$LEDGERCA" signer --bootstrap "$E2E_BS" --pg-uri "$E2E_DB_URI" --cluster dc1 \
    --kek-file "$E2E_DIR/kek" --group "$E2E_GROUP" >"$E2E_SIGNER_LOG" 2>&1 &
  E2E_SIGNER_WRAP=$!
  while [ ! -s "$pidfile" ] && kill -0 "$E2E_SIGNER_WRAP" 2>/dev/null; do sleep 0.01; done
  E2E_SIGNER_PID=$(cat "$pidfile" 2>/dev/null)
}

# e2e_signer_ready [TIMEOUT]: waits until the signer logs "signer ready" (1 if it exits first).
e2e_signer_ready() {
  local deadline=$((SECONDS + ${1:-60}))
  while [ $SECONDS -lt $deadline ]; do
    grep -q 'msg="signer ready"' "$E2E_SIGNER_LOG" 2>/dev/null && return 0
    kill -0 "$E2E_SIGNER_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# e2e_signer_wait_exit TIMEOUT: waits for the signer to exit; E2E_SIGNER_RC is its status
# (128+signal when killed). Returns 1 if it is still running after TIMEOUT seconds.
e2e_signer_wait_exit() {
  local deadline=$((SECONDS + $1))
  while kill -0 "$E2E_SIGNER_WRAP" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
  wait "$E2E_SIGNER_WRAP"
  E2E_SIGNER_RC=$?
  E2E_SIGNER_PID=""
  return 0
}

# e2e_signer_alive: the signer process still runs.
e2e_signer_alive() { [ -n "$E2E_SIGNER_PID" ] && kill -0 "$E2E_SIGNER_PID" 2>/dev/null; }

# e2e_signer_kill: SIGKILL from outside (a crash), then reaps it.
e2e_signer_kill() {
  [ -n "$E2E_SIGNER_PID" ] || return 0
  kill -KILL "$E2E_SIGNER_PID" 2>/dev/null
  e2e_signer_wait_exit 30
}

# e2e_signer_stop: SIGTERM (graceful drain), SIGKILL after 30 s; E2E_SIGNER_RC.
e2e_signer_stop() {
  [ -n "$E2E_SIGNER_PID" ] || return 0
  kill -TERM "$E2E_SIGNER_PID" 2>/dev/null
  e2e_signer_wait_exit 30 || e2e_signer_kill
}

# e2e_next_group: the next signer joins as a new consumer group that starts exactly where the
# previous group stopped (its offsets stored in PostgreSQL are copied while no signer runs).
# Why: after a SIGKILL the dead member stays in its group until its session times out
# (librdkafka's default session.timeout.ms, 45 s; the signer offers no way to shorten it or to
# use static membership), and a replacement in the same group gets no partitions until then.
# The copied offsets are what the replacement would have read from PostgreSQL on assignment,
# so the exactly-once path (seek to the PostgreSQL offsets, dedupe rows, outbox relay) is the
# same; tests that want the real same-group rebalance simply do not call this.
e2e_next_group() {
  local old=$E2E_GROUP
  E2E_GEN=$((E2E_GEN + 1))
  E2E_GROUP="$E2E_GROUP_BASE-g$E2E_GEN"
  e2e_psql -c "INSERT INTO consumer_offsets (group_id, topic, partition, next_offset)
               SELECT '$E2E_GROUP', topic, partition, next_offset FROM consumer_offsets
               WHERE group_id = '$old'" >/dev/null
}

# e2e_signer_assigned N [TIMEOUT]: waits until the current signer logged N partition assignments.
e2e_signer_assigned() {
  local deadline=$((SECONDS + ${2:-90}))
  while [ "$(grep -c 'msg="partition assigned"' "$E2E_SIGNER_LOG" 2>/dev/null)" -lt "$1" ]; do
    [ $SECONDS -lt $deadline ] || return 1
    e2e_signer_alive || return 1
    sleep 0.2
  done
}

# ---- commands and replies ----

e2e_uuid() { cat /proc/sys/kernel/random/uuid; }

# e2e_topic TYPE: the command topic of a command type (issue #3 wire contract).
e2e_topic() {
  case "$1" in
    issue | sign | sign-verbatim) echo "$E2E_TOPIC_ISSUE" ;;
    revoke) echo "$E2E_TOPIC_REVOKE" ;;
    *) echo "$E2E_TOPIC_ADMIN" ;;
  esac
}

# e2e_cmd TYPE CORRELATION_ID PAYLOAD_JSON [COMMAND_ID]: one JSON command on one line.
e2e_cmd() {
  python3 -c '
import json, sys
import os
cmd = {"command_id": sys.argv[4], "type": sys.argv[1], "correlation_id": sys.argv[2],
       "payload": json.loads(sys.argv[3])}
if os.environ.get("E2E_TOKEN"):
    cmd["token"] = os.environ["E2E_TOKEN"]
if os.environ.get("E2E_REPLY_TO"):
    cmd["reply_to"] = os.environ["E2E_REPLY_TO"]
print(json.dumps(cmd, separators=(",", ":")))' \
    "$1" "$2" "$3" "${4:-$(e2e_uuid)}"
}

# e2e_send TOPIC [KCAT ARGS...]: produces the lines of stdin as JSON commands.
e2e_send() {
  local t=$1
  shift
  kcat -P -b "$E2E_BS" -t "$t" -H content-type=application/json "$@"
}

# e2e_py ARGS...: the Python helpers (see e2e_write_py).
e2e_py() { python3 "$E2E_DIR/e2e.py" "$@"; }

# e2e_wait_replies CIDFILE TIMEOUT: waits until every correlation id of CIDFILE (one a line)
# has a reply.
e2e_wait_replies() { e2e_py wait "$E2E_DIR/replies.jsonl" "$1" "$2"; }

# e2e_request TYPE PAYLOAD_JSON [TIMEOUT]: sends one command with a fresh id and correlation
# id and waits for its reply: E2E_REPLY (JSON; '{}' on timeout), E2E_CID and E2E_CMD_ID.
e2e_request() {
  E2E_CMD_ID=$(e2e_uuid)
  E2E_CID="$E2E_NAME-$E2E_RUN-$E2E_CMD_ID"
  E2E_REPLY='{}'
  e2e_cmd "$1" "$E2E_CID" "$2" "$E2E_CMD_ID" | e2e_send "$(e2e_topic "$1")" || return 1
  echo "$E2E_CID" >"$E2E_DIR/one.cid"
  e2e_wait_replies "$E2E_DIR/one.cid" "${3:-30}" >&2 || return 1
  E2E_REPLY=$(e2e_py reply "$E2E_DIR/replies.jsonl" "$E2E_CID")
}

# e2e_jget PATH: reads JSON on stdin, prints the value at PATH (a.b.0.c); strings raw.
e2e_jget() { e2e_py jget "$1"; }

# e2e_x25519: prints "PRIVATE_HEX PUBLIC_HEX" of a fresh X25519 key pair.
e2e_x25519() { e2e_py x25519; }

# e2e_event_field TYPE FIELD [WHERE]: FIELD of the payloads of the events of TYPE, one line
# each in log order; bin as hex, str raw. The stored bytes are the canonical msgpack envelope
# {"payload": {...}, "type": ..., "v": 1} (events/event.h).
e2e_event_field() {
  e2e_psql -c "SELECT encode(payload, 'hex') FROM events WHERE type = '$1' ${3:-} ORDER BY position" |
    e2e_py mpfield "payload.$2"
}

# ---- the Python helpers ----

e2e_write_py() {
  cat >"$E2E_DIR/e2e.py" <<'PYEOF'
"""Helpers of lib_e2e.sh: JSON replies, msgpack, sealed keys, the hash chain."""
import base64
import hashlib
import json
import sys
import time


def envelopes(path):
    out = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass  # a line still being written
    except FileNotFoundError:
        pass
    return out


def by_key(path):
    d = {}
    for e in envelopes(path):
        d.setdefault(e.get("key"), []).append(e)
    return d


def cmd_wait(path, cidfile, timeout):
    want = [l.strip() for l in open(cidfile) if l.strip()]
    deadline = time.time() + float(timeout)
    while True:
        got = by_key(path)
        missing = [c for c in want if c not in got]
        if not missing:
            return 0
        if time.time() > deadline:
            print("%d of %d replies missing after %ss, e.g. %s"
                  % (len(missing), len(want), timeout, missing[:3]), file=sys.stderr)
            return 1
        time.sleep(0.2)


def cmd_reply(path, cid, which="first"):
    got = by_key(path).get(cid, [])
    if not got:
        return 1
    if which == "all":
        for e in got:
            print(e["payload"])
    else:
        print(got[0]["payload"])
    return 0


def cmd_replystats(path, cidfile):
    """Per correlation id of cidfile: missing, duplicated, differing duplicates, not ok."""
    want = [l.strip() for l in open(cidfile) if l.strip()]
    got = by_key(path)
    missing = dup = differ = notok = 0
    for c in want:
        es = got.get(c, [])
        if not es:
            missing += 1
            continue
        if len(es) > 1:
            dup += 1
            if len({e["payload"] for e in es}) > 1:
                differ += 1
        if json.loads(es[0]["payload"]).get("status") != "ok":
            notok += 1
    print("missing=%d duplicated=%d differing=%d not_ok=%d" % (missing, dup, differ, notok))
    return 0


def cmd_dead(path, key):
    """Headers of the dead letters with this key, as one JSON object per line."""
    n = 0
    for e in envelopes(path):
        if e.get("key") == key:
            h = e.get("headers") or []
            print(json.dumps(dict(zip(h[0::2], h[1::2])), sort_keys=True))
            n += 1
    return 0 if n else 1


def cmd_jget(path):
    v = json.load(sys.stdin)
    for part in path.split("."):
        if part == "":
            continue
        if isinstance(v, list):
            v = v[int(part)]
        elif isinstance(v, dict):
            if part not in v:
                return 1
            v = v[part]
        else:
            return 1
    print(v if isinstance(v, str) else json.dumps(v))
    return 0


def cmd_x25519():
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (Encoding, NoEncryption,
                                                              PrivateFormat, PublicFormat)
    k = X25519PrivateKey.generate()
    print(k.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()).hex(),
          k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex())
    return 0


def unseal(priv, info, sealed):
    """engine/seal.h, written from its description: X25519, HKDF-SHA256, AES-256-GCM."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.x25519 import (X25519PrivateKey,
                                                                  X25519PublicKey)
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    me = X25519PrivateKey.from_private_bytes(priv)
    my_pub = me.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    eph = sealed[:32]
    shared = me.exchange(X25519PublicKey.from_public_bytes(eph))
    okm = HKDF(algorithm=hashes.SHA256(), length=44, salt=eph + my_pub,
               info=b"ledgerca seal v1" + info).derive(shared)
    return AESGCM(okm[:32]).decrypt(okm[32:], sealed[32:], None)


def cmd_unseal(priv_hex, info, b64):
    sys.stdout.write(unseal(bytes.fromhex(priv_hex), info.encode(),
                            base64.b64decode(b64)).decode())
    return 0


class MsgpackError(ValueError):
    pass


def mp_decode(b):
    """A small msgpack decoder (the types ledgerca's canonical encoding uses)."""
    def need(i, n):
        if i + n > len(b):
            raise MsgpackError("truncated")

    def be(i, n):
        need(i, n)
        return int.from_bytes(b[i:i + n], "big"), i + n

    def seq(i, n, is_map):
        items = []
        for _ in range(n * (2 if is_map else 1)):
            v, i = one(i)
            items.append(v)
        if is_map:
            return dict(zip(items[0::2], items[1::2])), i
        return items, i

    def raw(i, n, text):
        need(i, n)
        v = b[i:i + n]
        return (v.decode() if text else bytes(v)), i + n

    def one(i):
        need(i, 1)
        t = b[i]
        i += 1
        if t <= 0x7f:
            return t, i
        if t >= 0xe0:
            return t - 0x100, i
        if 0x80 <= t <= 0x8f:
            return seq(i, t & 0x0f, True)
        if 0x90 <= t <= 0x9f:
            return seq(i, t & 0x0f, False)
        if 0xa0 <= t <= 0xbf:
            return raw(i, t & 0x1f, True)
        simple = {0xc0: None, 0xc2: False, 0xc3: True}
        if t in simple:
            return simple[t], i
        sizes = {0xc4: 1, 0xc5: 2, 0xc6: 4, 0xd9: 1, 0xda: 2, 0xdb: 4}
        if t in sizes:
            n, i = be(i, sizes[t])
            return raw(i, n, t >= 0xd9)
        if t in (0xcc, 0xcd, 0xce, 0xcf):
            return be(i, 1 << (t - 0xcc))
        if t in (0xd0, 0xd1, 0xd2, 0xd3):
            n = 1 << (t - 0xd0)
            v, i = be(i, n)
            return (v - (1 << (8 * n)) if v >> (8 * n - 1) else v), i
        if t in (0xdc, 0xdd, 0xde, 0xdf):
            n, i = be(i, 2 if t in (0xdc, 0xde) else 4)
            return seq(i, n, t >= 0xde)
        raise MsgpackError("unsupported msgpack type 0x%02x" % t)

    v, end = one(0)
    if end != len(b):
        raise MsgpackError("trailing bytes")
    return v


def mp_load(b):
    try:
        import msgpack  # the reference decoder when installed; the local one otherwise
        return msgpack.unpackb(b, raw=False, strict_map_key=False)
    except ImportError:
        return mp_decode(b)


def cmd_mpfield(field):
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        v = mp_load(bytes.fromhex(line))
        for part in field.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        if isinstance(v, (bytes, bytearray)):
            print(bytes(v).hex())
        elif isinstance(v, str):
            print(v)
        else:
            print(json.dumps(v))
    return 0


def cmd_chain():
    """stdin: position|prev_hash|hash|payload (hex) in position order. Prints the first
    position where the chain breaks (or 'ok N'), checking gaplessness too."""
    prev = bytes(32)
    want_pos = 1
    n = 0
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        pos, prev_hex, hash_hex, payload_hex = line.split("|")
        if int(pos) != want_pos:
            print("gap at position %d (found %s)" % (want_pos, pos))
            return 1
        if bytes.fromhex(prev_hex) != prev:
            print("prev_hash mismatch at position %s" % pos)
            return 1
        h = hashlib.sha256(prev + bytes.fromhex(payload_hex)).digest()
        if h != bytes.fromhex(hash_hex):
            print("hash mismatch at position %s" % pos)
            return 1
        prev = h
        want_pos += 1
        n += 1
    print("ok %d %s" % (n, prev.hex()))
    return 0


def cmd_selftest():
    """Checks the helpers against independent data (lib_e2e.sh run directly)."""
    fails = 0
    # msgpack: hand-assembled bytes per the msgpack specification
    doc = (b"\x85" + b"\xa1a" + b"\x01" + b"\xa1b" + b"\xd0\xfe" + b"\xa3crl" + b"\xc4\x03\x30\x01\x00"
           + b"\xa1l" + b"\x92\xc3\xc0" + b"\xa1n" + b"\xcd\x01\x00")
    want = {"a": 1, "b": -2, "crl": b"\x30\x01\x00", "l": [True, None], "n": 256}
    got = mp_decode(doc)
    print(("ok   - " if got == want else "FAIL - ") + "msgpack decoder reads a hand-made map")
    fails += got != want
    for bad, name in ((doc[:-1], "truncated"), (doc + b"\x00", "trailing")):
        try:
            mp_decode(bad)
            print("FAIL - msgpack decoder accepts %s input" % name)
            fails += 1
        except MsgpackError:
            print("ok   - msgpack decoder refuses %s input" % name)
    # sealed box: sealed here with the `cryptography` primitives, opened by unseal()
    import os
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    raw = lambda k: k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    rcpt, eph = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    okm = HKDF(algorithm=hashes.SHA256(), length=44, salt=raw(eph) + raw(rcpt),
               info=b"ledgerca seal v1" + b"01:02").derive(eph.exchange(rcpt.public_key()))
    box = raw(eph) + AESGCM(okm[:32]).encrypt(okm[32:], b"secret pem", None)
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat
    priv = rcpt.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    ok = unseal(priv, b"01:02", box) == b"secret pem"
    print(("ok   - " if ok else "FAIL - ") + "unseal opens a box sealed per engine/seal.h")
    fails += not ok
    try:
        unseal(priv, b"01:03", box)
        print("FAIL - unseal opens a box with the wrong info")
        fails += 1
    except Exception:
        print("ok   - unseal refuses the wrong info")
    # hash chain: two rows built here, then one payload altered
    p1, p2 = b"\x81\xa1a\x01", b"\x81\xa1a\x02"
    h1 = hashlib.sha256(bytes(32) + p1).digest()
    h2 = hashlib.sha256(h1 + p2).digest()
    rows = ["1|%s|%s|%s" % (bytes(32).hex(), h1.hex(), p1.hex()),
            "2|%s|%s|%s" % (h1.hex(), h2.hex(), p2.hex())]
    import io
    for text, want_rc, name in (("\n".join(rows), 0, "accepts an intact chain"),
                                (rows[0] + "\n" + rows[1].replace(p2.hex(), p1.hex()), 1,
                                 "finds an altered payload"),
                                (rows[1], 1, "finds a missing first row")):
        sys.stdin = io.StringIO(text)
        saved, sys.stdout = sys.stdout, io.StringIO()
        rc = cmd_chain()
        sys.stdout = saved
        print(("ok   - " if rc == want_rc else "FAIL - ") + "hash-chain checker " + name)
        fails += rc != want_rc
    print("%d passed, %d failed" % (8 - fails, fails))
    return 1 if fails else 0


def main(argv):
    cmds = {"wait": cmd_wait, "reply": cmd_reply, "replystats": cmd_replystats,
            "dead": cmd_dead, "jget": cmd_jget, "x25519": cmd_x25519, "unseal": cmd_unseal,
            "mpfield": cmd_mpfield, "chain": cmd_chain, "selftest": cmd_selftest}
    return cmds[argv[1]](*argv[2:])


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except BrokenPipeError:  # a reader such as `head -c` stopped early
        sys.stderr.close()
        sys.exit(0)
PYEOF
}

# Run directly: self-test of the helpers (no services needed).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lca-e2e-lib.XXXXXX")
  command -v python3 >/dev/null || { echo "python3 missing"; echo "0 passed, 1 failed"; exit 1; }
  e2e_write_py
  python3 "$E2E_DIR/e2e.py" selftest
  rc=$?
  rm -rf "$E2E_DIR"
  exit $rc
fi
