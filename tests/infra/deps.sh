#!/usr/bin/env bash
# Installs the Debian packages ledgerca builds and tests with, when missing (apt-get update once first).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lca_apt_install build-essential cmake ninja-build pkg-config libssl-dev openssl libmsgpack-dev \
  libcunit1-dev libjansson-dev librdkafka-dev libpq-dev postgresql postgresql-client kcat \
  libmicrohttpd-dev gnutls-bin libnss3-tools python3 docker-compose python3-hvac wrk curl
