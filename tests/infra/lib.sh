# shellcheck shell=bash
# Shared helpers for the scripts in tests/infra/ (sourced, never run).
# Everything here is quiet on success and says what failed on stderr.

LCA_CACHE=${LCA_CACHE:-$HOME/.cache/ledgerca}

lca_die() { echo "${0##*/}: $*" >&2; exit 1; }

# lca_free_ports [N]: prints N (default 1) distinct TCP ports on 127.0.0.1 that nothing listens on now.
lca_free_ports() {
  python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
' "${1:-1}"
}

# lca_as_root CMD...: runs CMD as root (directly when we are root, else through sudo).
lca_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# lca_apt_install PKG...: installs the Debian packages that are missing. `apt-get update` runs once
# per runner invocation (stamp in $LCA_RUN_DIR, set by the runner) or once per call when standalone.
lca_apt_install() {
  local p missing=() stamp=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "${0##*/}: installing ${missing[*]}" >&2
  [ -n "${LCA_RUN_DIR:-}" ] && stamp="$LCA_RUN_DIR/.apt-updated"
  if [ -z "$stamp" ] || [ ! -e "$stamp" ]; then
    lca_as_root apt-get update -qq >/dev/null || lca_die "apt-get update failed"
    [ -n "$stamp" ] && touch "$stamp"
  fi
  local log
  log=$(mktemp)
  if ! lca_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    rm -f "$log"
    lca_die "apt-get install ${missing[*]} failed"
  fi
  rm -f "$log"
}

# lca_now: seconds since the epoch with microseconds (for phase timings).
lca_now() { echo "${EPOCHREALTIME}"; }

# lca_elapsed START: seconds since START, one decimal.
lca_elapsed() { awk -v a="$1" -v b="${EPOCHREALTIME}" 'BEGIN { printf "%.1f", b - a }'; }
