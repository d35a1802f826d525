#!/usr/bin/env bash
# compose/ is a valid deployment description: Debian's docker-compose accepts docker-compose.yml (no
# Docker engine runs here, so `config` validation is what can be checked), rejects broken copies of it,
# and the Dockerfile's runtime stage installs the packages that provide every library the built
# `ledgerca` binary links against directly.
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }
src=${LCA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
compose="$src/compose"
command -v docker-compose >/dev/null || fail "docker-compose is not installed (tests/infra/deps.sh)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. The real file validates, and holds what the deployment needs.
docker-compose -f "$compose/docker-compose.yml" config -q || fail "docker-compose.yml does not validate"
services=$(docker-compose -f "$compose/docker-compose.yml" config --services | sort | tr '\n' ' ')
want="aggregator api-dc1 api-dc2 kafka kafka-topics migrate-dc1 migrate-dc2 postgres projector-dc1 projector-dc2 relay-dc1 relay-dc2 replicate-dc2 signer-dc1 signer-dc2 "
[ "$services" = "$want" ] || fail "services are '$services', want '$want'"
resolved=$(docker-compose -f "$compose/docker-compose.yml" config)
# 12 ledgerca services; the aggregator alone has no cluster of its own
for vn in LEDGERCA_KAFKA_BOOTSTRAP:12 LEDGERCA_PG_URI:12 LEDGERCA_CLUSTER:11; do
  v=${vn%%:*}
  n=$(grep -c "^      $v: " <<<"$resolved" || true)
  [ "$n" -eq "${vn#*:}" ] || fail "$v is set in $n services, want ${vn#*:}"
done
# the KEK goes to migrate, signer, projector, replicate and the aggregator: never to the APIs or relays
n=$(grep -c "^      LEDGERCA_KEK_FILE: " <<<"$resolved" || true)
[ "$n" -eq 8 ] || fail "LEDGERCA_KEK_FILE is set in $n services, want 8 (not the APIs or relays)"
api=$(docker-compose -f "$compose/docker-compose.yml" config | awk '/^  api-dc1:/{a=1; next} /^  [a-z]/{a=0} a')
grep -q 'LEDGERCA_HTTP_ADDR: 0.0.0.0:8200' <<<"$api" || fail "api-dc1 does not listen on 0.0.0.0:8200"
grep -q 'source: kek' <<<"$api" && fail "api-dc1 is given the KEK secret"
sdc2=$(awk '/^  signer-dc2:/{a=1; next} /^  [a-z]/{a=0} a' <<<"$resolved")
grep -q 'LEDGERCA_SECONDARY_OF: dc1' <<<"$sdc2" || fail "signer-dc2 is not a secondary of dc1"
grep -q 'LEDGERCA_TOPIC_SUFFIX: .dc2' <<<"$sdc2" || fail "signer-dc2 does not consume its own topics"
for t in ledgerca.commands.issue.dc1 ledgerca.commands.revoke.dc2 ledgerca.events.dc2 ledgerca.revoke-forward; do
  grep -q "$t" <<<"$resolved" || fail "topic $t is not created"
done
agg=$(awk '/^  aggregator:/{a=1; next} /^  [a-z]/{a=0} a' <<<"$resolved")
grep -q 'ledgerca_dc1' <<<"$agg" || fail "the aggregator does not run on dc1's database (the issuers' keys)"
grep -q 'KAFKA_PROCESS_ROLES: broker,controller' <<<"$resolved" || fail "Kafka is not in KRaft mode"
grep -q 'image: apache/kafka:3\.9' <<<"$resolved" || fail "Kafka image is not apache/kafka 3.9"
grep -q 'image: postgres:15' <<<"$resolved" || fail "PostgreSQL image is not 15"
[ "$(grep -c '^    healthcheck:' <<<"$resolved")" -ge 2 ] || fail "kafka and postgres need healthchecks"
grep -q 'LEDGERCA_KEK_FILE: /run/secrets/kek' <<<"$resolved" || fail "KEK is not a docker secret"

# 2. Deliberately broken copies must be rejected (the validator is not a no-op).
cp -r "$compose" "$tmp/ok"
check_broken() { # NAME SED-EXPRESSION
  rm -rf "${tmp:?}/$1"
  cp -r "$tmp/ok" "$tmp/$1"
  sed -i "$2" "$tmp/$1/docker-compose.yml"
  cmp -s "$tmp/ok/docker-compose.yml" "$tmp/$1/docker-compose.yml" && fail "broken copy $1 is unchanged"
  if docker-compose -f "$tmp/$1/docker-compose.yml" config -q >/dev/null 2>&1; then
    fail "broken copy '$1' passed validation"
  fi
}
check_broken unknown-key 's/^    command: \["signer"\]$/    command: ["signer"]\n    restartt: always/'
check_broken yaml-syntax 's/^  postgres:$/  postgres: [/'
check_broken missing-dependency 's/^      migrate-dc1:$/      migrate-dc9:/'
check_broken bad-healthcheck 's/^      retries: 12$/      retries: twelve/'

# 3. Dockerfile: Debian 12 build and runtime stages, ENTRYPOINT ledgerca, runtime libraries complete.
df="$compose/Dockerfile"
grep -Eq '^FROM debian:12 AS build$' "$df" || fail "no Debian 12 build stage"
grep -Eq '^FROM debian:12-slim$' "$df" || fail "no Debian 12 runtime stage"
grep -qxF 'ENTRYPOINT ["ledgerca"]' "$df" || fail 'no ENTRYPOINT ["ledgerca"]'
runtime=$(awk '/^FROM debian:12-slim/{r=1} r' "$df")
bin=${LEDGERCA:-${LCA_BINARY_DIR:-$src/build}/workers/ledgerca}
[ -x "$bin" ] || fail "built ledgerca binary not found at $bin"
# owner_of PATH: the Debian package that installed PATH (dpkg may know it under /lib or /usr/lib).
owner_of() {
  local p r
  r=$(realpath "$1")
  for p in "$1" "$r" "${1#/usr}" "${r#/usr}" "/usr$1" "/usr$r"; do
    # (no early-exiting reader in these pipelines: with pipefail, SIGPIPE would fail them)
    dpkg -S "$p" 2>/dev/null | awk -F: 'NR == 1 { print $1 }' | grep . && return 0
  done
  return 1
}
dyn=$(readelf -d "$bin") || fail "$bin is not an ELF executable"
needed=$(sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' <<<"$dyn")
grep -qx 'libc.so.6' <<<"$needed" || fail "no NEEDED entries read from $bin"
for soname in $needed; do
  path=$(ldconfig -p | awk -v s="$soname" '$1 == s && /x86-64|64bit|x86_64/ && !f { print $NF; f = 1 }')
  [ -n "$path" ] || path=$(ldconfig -p | awk -v s="$soname" '$1 == s && !f { print $NF; f = 1 }')
  [ -n "$path" ] || fail "cannot locate $soname"
  pkg=$(owner_of "$path") || fail "no package owns $soname ($path)"
  case "$pkg" in libc6) continue ;; esac
  grep -qw -- "$pkg" <<<"$runtime" || fail "runtime stage lacks $pkg (provides $soname)"
done
echo "test_compose: compose file valid, 4 broken copies rejected, runtime libraries complete"
