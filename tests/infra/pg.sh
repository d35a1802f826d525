#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests, from Debian's server binaries.
#
#   pg.sh start DIR    initdb in DIR/data, listen on 127.0.0.1:<free port>, unix socket in DIR, trust auth;
#                      prints the superuser URI postgresql://postgres@127.0.0.1:PORT/postgres
#   pg.sh restart DIR  fast restart on the same port (for tests that restart the database under load)
#   pg.sh stop DIR     stops it and removes DIR
#
# Idempotent: start on a running cluster prints its URI again; stop on nothing does nothing.
# As root (Debian's initdb refuses root) the cluster runs as the `postgres` system user, or as a
# dedicated `ledgerca-pg` user created when that one is absent; DIR's parents must be traversable.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pg_bindir() {
  local d
  if [ -n "${LCA_PG_BINDIR:-}" ]; then echo "$LCA_PG_BINDIR"; return; fi
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] || lca_die "no PostgreSQL server binaries under /usr/lib/postgresql (package postgresql)"
  echo "$d"
}

# The OS user the server runs as: ourselves, or an unprivileged one when we are root.
pg_owner() {
  if [ "$(id -u)" -ne 0 ]; then id -un; return; fi
  if id postgres >/dev/null 2>&1; then echo postgres; return; fi
  id ledgerca-pg >/dev/null 2>&1 || useradd -r -M -d /nonexistent -s /usr/sbin/nologin ledgerca-pg
  echo ledgerca-pg
}

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u "$owner" -- "$@"); else "$@"; fi
}

pg_running() { [ -f "$dir/data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; }

pg_init() {
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    chown "$owner" "$dir"
    chmod 700 "$dir"
    runuser -u "$owner" -- test -w "$dir" 2>/dev/null \
      || lca_die "$owner cannot write $dir (make its parent directories traversable)"
  fi
  as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-locale -E UTF8 --no-sync \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; lca_die "initdb failed"; }
}

# pg_configure PORT: loopback only, socket in DIR; the settings survive restarts.
pg_configure() {
  as_owner tee "$dir/data/postgresql.auto.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $1
unix_socket_directories = '$dir'
max_connections = 200
EOF
}

pg_start() {
  local port
  [ -d "$dir/data" ] || pg_init
  for _ in 1 2 3; do
    port=$(lca_free_ports 1)
    pg_configure "$port"
    if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 60 -s start >/dev/null 2>&1; then
      echo "postgresql://postgres@127.0.0.1:$port/postgres" >"$dir/uri"
      return 0
    fi
  done
  tail -n 20 "$dir/pg.log" >&2 || true
  lca_die "PostgreSQL did not start"
}

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || lca_die "usage: pg.sh start|restart|stop DIR"
dir=$(realpath -m "$dir")
bin=$(pg_bindir)
owner=$(pg_owner)

case "$cmd" in
  start)
    pg_running || pg_start
    cat "$dir/uri"
    ;;
  restart)
    pg_running || lca_die "no cluster running in $dir"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -m fast -w -t 60 -s restart >/dev/null
    ;;
  stop)
    if [ -d "$dir/data" ]; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 -s stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *) lca_die "usage: pg.sh start|restart|stop DIR" ;;
esac
