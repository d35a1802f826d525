#!/usr/bin/env python3
"""Independent implementation of ledgerca's sealed box (engine/seal.h), for tests.

Written from the construction documented in engine/seal.h only, with the `cryptography`
package, so a C bug that is symmetric between lca_seal and lca_seal_open still shows up.

  seal_oracle.py open RECIPIENT_PRIV_HEX INFO_HEX SEALED_HEX   -> prints plaintext hex
  seal_oracle.py seal RECIPIENT_PUB_HEX EPH_PRIV_HEX INFO_HEX PT_HEX -> prints sealed hex

Exit status 0 on success, 1 if the box does not open, 2 on usage or environment errors.
"""
import sys

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.x25519 import (
        X25519PrivateKey,
        X25519PublicKey,
    )
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
except ImportError as exc:  # the C test reports this output as the failure reason
    print("seal_oracle: python package 'cryptography' is missing (%s); "
          "install it with: pip install cryptography" % exc, file=sys.stderr)
    sys.exit(2)

LABEL = b"ledgerca seal v1"


def raw_pub(key):
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_nonce(shared, eph_pub, recipient_pub, info):
    if shared == bytes(32):
        raise ValueError("all-zero shared secret")
    okm = HKDF(algorithm=hashes.SHA256(), length=44, salt=eph_pub + recipient_pub,
               info=LABEL + info).derive(shared)
    return okm[:32], okm[32:]


def seal(recipient_pub, eph_priv, info, pt):
    eph = X25519PrivateKey.from_private_bytes(eph_priv)
    shared = eph.exchange(X25519PublicKey.from_public_bytes(recipient_pub))
    key, nonce = key_nonce(shared, raw_pub(eph), recipient_pub, info)
    return raw_pub(eph) + AESGCM(key).encrypt(nonce, pt, None)


def open_box(recipient_priv, info, sealed):
    if len(sealed) <= 48:
        raise ValueError("box too short")
    me = X25519PrivateKey.from_private_bytes(recipient_priv)
    eph_pub = sealed[:32]
    shared = me.exchange(X25519PublicKey.from_public_bytes(eph_pub))
    key, nonce = key_nonce(shared, eph_pub, raw_pub(me), info)
    return AESGCM(key).decrypt(nonce, sealed[32:], None)


def main(argv):
    try:
        args = [bytes.fromhex(a) for a in argv[2:]]
    except ValueError:
        args = None
    if len(argv) == 5 and argv[1] == "open" and args is not None:
        try:
            print(open_box(*args).hex())
        except (InvalidTag, ValueError) as exc:
            print("seal_oracle: box does not open: %r" % exc, file=sys.stderr)
            return 1
        return 0
    if len(argv) == 6 and argv[1] == "seal" and args is not None:
        print(seal(*args).hex())
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
