#!/usr/bin/env bash
# The services the test runner started are real: a Kafka broker with the ledgerca topics that carries a
# message end to end, and a PostgreSQL 15 server. Fails (never skips) when the runner's variables are
# missing: integration tests must not pass without the real services.
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }
[ -n "${LCA_TEST_KAFKA_BOOTSTRAP:-}" ] || fail "LCA_TEST_KAFKA_BOOTSTRAP is not set (run ./tests/run)"
[ -n "${LCA_TEST_PG_URI:-}" ] || fail "LCA_TEST_PG_URI is not set (run ./tests/run)"
bs=$LCA_TEST_KAFKA_BOOTSTRAP

# 1. Metadata: one broker, and each ledgerca topic (commands with 4 partitions).
meta=$(kcat -L -b "$bs" -m 10) || fail "kcat -L -b $bs did not answer"
grep -Eq '^ *broker [0-9]+ at 127\.0\.0\.1:' <<<"$meta" || fail "no broker in metadata: $meta"
for t in ledgerca.commands.issue ledgerca.commands.revoke ledgerca.commands.admin \
         ledgerca.replies ledgerca.dead-letter; do
  grep -q "topic \"$t\" with" <<<"$meta" || fail "topic $t missing"
done
for t in ledgerca.commands.issue ledgerca.commands.revoke ledgerca.commands.admin; do
  grep -q "topic \"$t\" with 4 partitions" <<<"$meta" || fail "topic $t has not 4 partitions"
done

# 2. A JSON message produced to the dead-letter topic comes back byte for byte (unique per run).
id="infra-$$-$RANDOM-$(date +%s%N)"
msg="{\"command_id\":\"$id\",\"type\":\"infra.check\"}"
printf '%s\n' "$msg" | kcat -P -b "$bs" -t ledgerca.dead-letter -p 0 -k "$id" \
  || fail "kcat -P to ledgerca.dead-letter failed"
got=$(kcat -C -b "$bs" -t ledgerca.dead-letter -p 0 -o beginning -e -q -f '%k %s\n' -m 10) \
  || fail "kcat -C from ledgerca.dead-letter failed"
grep -qxF "$id $msg" <<<"$got" || fail "message not consumed back; got: $got"

# 3. PostgreSQL answers, and it is version 15.
ver=$(psql "$LCA_TEST_PG_URI" -XAtc 'select version()') || fail "psql could not connect"
[[ $ver == "PostgreSQL 15."* ]] || fail "unexpected server: $ver"
num=$(psql "$LCA_TEST_PG_URI" -XAtc 'show server_version_num')
[ "${num:0:2}" = "15" ] || fail "server_version_num $num"

echo "test_infra: kafka $bs (5 topics, round trip ok), ${ver%% on *}"
