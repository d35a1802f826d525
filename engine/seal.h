/*
 * seal — sealing a server-generated leaf private key to the requester's X25519 public key
 * (DESIGN.md invariant 4): an HPKE-style one-shot box built from X25519, HKDF-SHA256 and
 * AES-256-GCM (OpenSSL). Pure: the ephemeral private key comes from the caller (env->random).
 *
 * Construction (version 1), so any client can open a box without this code:
 *   eph_pub   = X25519(eph_priv, 9)                            (RFC 7748 section 6.1)
 *   shared    = X25519(eph_priv, recipient_pub)                (32 bytes)
 *               an all-zero shared secret (small-order point) is refused by both sides
 *   okm       = HKDF-SHA256(IKM  = shared,                      (RFC 5869)
 *                           salt = eph_pub || recipient_pub,   (64 bytes)
 *                           info = "ledgerca seal v1" || info, (the 16 ASCII bytes, no NUL,
 *                                                               then the caller's info bytes)
 *                           L    = 44)
 *   key       = okm[0..32)       nonce = okm[32..44)
 *   ct || tag = AES-256-GCM-Encrypt(key, nonce, plaintext, AAD = empty), tag of 16 bytes
 *   sealed    = eph_pub (32) || ct (len(plaintext)) || tag (16)
 * Opening recomputes recipient_pub from recipient_priv, shared = X25519(recipient_priv,
 * eph_pub), derives key/nonce the same way and decrypts. info binds the box to its context
 * (ledgerca passes the command id); it is not transmitted, both sides must know it.
 * A fresh eph_priv per box is required: reusing one with the same recipient and info reuses
 * the GCM key and nonce.
 *
 * Errors: bad sizes, a small-order public key, or a box that fails to open (wrong recipient,
 * wrong info, tampering, truncation) are LCA_ERR_BAD_INPUT; box failures all use code
 * "unseal_failed" with one message (no oracle). Internal OpenSSL failures are FATAL.
 * Out-pointers are set only on success.
 */
#ifndef LCA_SEAL_H
#define LCA_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define LCA_SEAL_KEY_LEN 32        /* X25519 public and private key length */
#define LCA_SEAL_TAG_LEN 16        /* AES-GCM tag length */
#define LCA_SEAL_OVERHEAD 48       /* eph_pub + tag */
#define LCA_SEAL_MAX_INFO 256      /* limit on info_len */
#define LCA_SEAL_MAX_PT (1u << 20) /* limit on plaintext length (1 MiB) */

/*
 * Seals pt (pt_len bytes, 0 < pt_len <= LCA_SEAL_MAX_PT) to recipient_pub with the caller's
 * 32 random bytes eph_priv. info (info_len <= LCA_SEAL_MAX_INFO; may be NULL when info_len is
 * 0) is mixed into the key derivation. *out (pt_len + LCA_SEAL_OVERHEAD bytes, *out_len) is
 * owned by the caller (OPENSSL_free). BAD_INPUT "bad_seal_input" for bad sizes or a
 * small-order recipient key.
 */
int lca_seal(const uint8_t recipient_pub[32], const uint8_t eph_priv[32], const uint8_t *info,
             size_t info_len, const uint8_t *pt, size_t pt_len, uint8_t **out, size_t *out_len,
             struct lca_err *err) LCA_MUST_USE;

/*
 * Opens a box made by lca_seal for the holder of recipient_priv with the same info. *pt
 * (*pt_len bytes) is owned by the caller, who must wipe it (OPENSSL_clear_free(*pt, *pt_len)).
 * BAD_INPUT "unseal_failed" if the box does not open.
 */
int lca_seal_open(const uint8_t recipient_priv[32], const uint8_t *info, size_t info_len,
                  const uint8_t *sealed, size_t len, uint8_t **pt, size_t *pt_len,
                  struct lca_err *err) LCA_MUST_USE;

/* Computes the X25519 public key of priv (32 bytes, clamped per RFC 7748) into pub. */
int lca_seal_x25519_pub(const uint8_t priv[32], uint8_t pub[32], struct lca_err *err) LCA_MUST_USE;

#endif
