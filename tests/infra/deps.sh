#!/usr/bin/env bash
# Installs the Debian packages ledgerca builds and tests with, when missing.
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config libssl-dev openssl libmsgpack-dev
      libcunit1-dev libjansson-dev librdkafka-dev libpq-dev postgresql kcat
      libmicrohttpd-dev gnutls-bin libnss3-tools)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
