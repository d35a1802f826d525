#!/usr/bin/env bash
# Installs the independent verifiers the tests check our certificates and CRLs with, when missing,
# and prints where each one is:
#   openssl (openssl verify -x509_strict), certtool (GnuTLS, gnutls-bin), vfychain (NSS, libnss3-tools),
#   zlint (Go, into $HOME/go/bin), pkilint (Python, lint_pkix_cert and friends).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ZLINT_MODULE=github.com/zmap/zlint/v3/cmd/zlint@v3.6.4
export PATH="$HOME/go/bin:/usr/local/go/bin:$PATH"

lca_apt_install openssl gnutls-bin libnss3-tools

if ! command -v zlint >/dev/null; then
  command -v go >/dev/null || lca_die "Go is needed to build zlint"
  echo "oracles.sh: building zlint" >&2
  GOBIN="$HOME/go/bin" go install "$ZLINT_MODULE" || lca_die "go install $ZLINT_MODULE failed"
fi

if ! python3 -c 'import pkilint' 2>/dev/null; then
  echo "oracles.sh: installing pkilint" >&2
  python3 -m pip install -q pkilint 2>/dev/null \
    || python3 -m pip install -q --break-system-packages pkilint \
    || lca_die "pip install pkilint failed"
fi
# The `cryptography` package opens sealed keys in test_seal (an independent implementation).
if ! python3 -c 'import cryptography.hazmat.primitives.asymmetric.x25519' 2>/dev/null; then
  echo "oracles.sh: installing cryptography" >&2
  python3 -m pip install -q cryptography 2>/dev/null \
    || python3 -m pip install -q --break-system-packages cryptography \
    || lca_die "pip install cryptography failed"
fi
pkilint_bin=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/lint_pkix_cert
[ -x "$pkilint_bin" ] || pkilint_bin=$(command -v lint_pkix_cert || true)
[ -n "$pkilint_bin" ] || lca_die "pkilint is installed but lint_pkix_cert is not found"

for t in openssl certtool vfychain zlint; do
  command -v "$t" >/dev/null || lca_die "$t is missing after installation"
  echo "oracles: $t=$(command -v "$t")"
done
echo "oracles: pkilint=$pkilint_bin"
