/*
 * key — private and public keys: algorithm policy, identifiers, PEM/DER I/O, wrapping at rest.
 *
 * Pure (STYLE.md rule 10): nothing here reads the clock, the RNG, files or the environment,
 * except lca_key_generate, which draws from OpenSSL's generator and is called only by env
 * implementations (env->keygen), never by decide(). Wrapping takes its nonce as a parameter.
 *
 * Policy (DESIGN.md invariant 6): ledgerca accepts RSA 2048..8192 bits, EC P-256 and P-384 and
 * Ed25519, nothing else. Generation is narrower: RSA 2048, 3072 or 4096.
 *
 * Key id: lowercase hex SHA-256 of the DER SubjectPublicKeyInfo (RFC 5280 section 4.1.2.7), so
 * any party holding the certificate or CSR can recompute it.
 *
 * Errors: bad input (wrong algorithm, size, encoding, failed authentication) is
 * LCA_ERR_BAD_INPUT; allocation and internal OpenSSL failures are LCA_ERR_FATAL. Error
 * messages never contain key bytes. All out-pointers are set only on success.
 */
#ifndef LCA_KEY_H
#define LCA_KEY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "env.h"
#include "err.h"

/* Hex characters in a key id (SHA-256 = 32 bytes). Buffers need LCA_KEY_ID_LEN + 1. */
#define LCA_KEY_ID_LEN 64

/* Wrapped-blob layout constants (see lca_key_wrap). */
#define LCA_KEY_WRAP_VERSION 1
#define LCA_KEY_WRAP_NONCE_LEN 12
#define LCA_KEY_WRAP_TAG_LEN 16

/*
 * Parses a requested key spec. type: "ec" (bits 0 -> 256, 256, 384), "rsa" (bits 0 -> 2048,
 * 2048, 3072, 4096) or "ed25519" (bits must be 0). Anything else (NULL, "dsa", RSA < 2048,
 * EC 224/521, ...) fails with BAD_INPUT code "bad_key_spec" and a message naming the
 * accepted values. *out is filled on success only.
 */
int lca_key_spec_parse(const char *type, int bits, struct lca_keyspec *out,
                       struct lca_err *err) LCA_MUST_USE;

/*
 * Generates a fresh private key of spec (which must satisfy lca_key_spec_parse's rules:
 * BAD_INPUT "bad_key_spec" otherwise). Uses OpenSSL's RNG: only env implementations call it.
 * *out is owned by the caller (EVP_PKEY_free). Generation failure is FATAL "keygen".
 */
int lca_key_generate(const struct lca_keyspec *spec, EVP_PKEY **out,
                     struct lca_err *err) LCA_MUST_USE;

/*
 * Checks that key (public or private, borrowed) is one ledgerca accepts: RSA with a modulus of
 * 2048..8192 bits, EC on P-256 or P-384, or Ed25519. Otherwise BAD_INPUT "weak_key" with the
 * algorithm and size named in the message.
 */
int lca_key_check(EVP_PKEY *key, struct lca_err *err) LCA_MUST_USE;

/*
 * Describes key (borrowed) as a spec: EC -> bits 256/384, RSA -> modulus bits, Ed25519 -> 0.
 * Fails with BAD_INPUT "weak_key" if lca_key_check would.
 */
int lca_key_spec_of(EVP_PKEY *key, struct lca_keyspec *out, struct lca_err *err) LCA_MUST_USE;

/*
 * Writes the key id of key (borrowed) into out: 64 lowercase hex chars + NUL. FATAL if the
 * public key cannot be encoded.
 */
int lca_key_id(EVP_PKEY *key, char out[LCA_KEY_ID_LEN + 1], struct lca_err *err) LCA_MUST_USE;

/* Key id of an already-encoded DER SubjectPublicKeyInfo (spki, len bytes, not parsed).
 * Returns LCA_OK, or LCA_FAIL if spki is NULL or len is 0. */
int lca_key_id_spki(const uint8_t *spki, size_t len, char out[LCA_KEY_ID_LEN + 1]);

/*
 * Size limit: PEM, SubjectPublicKeyInfo and wrapped-blob inputs over 64 KiB are refused as bad
 * input (an RSA-8192 private key PEM is about 6.5 KiB).
 *
 * Parses an unencrypted private key PEM (pem, len bytes, need not be NUL-terminated): PKCS#8
 * "PRIVATE KEY" or traditional "RSA/EC PRIVATE KEY". Encrypted PEM ("ENCRYPTED PRIVATE KEY",
 * Proc-Type: 4,ENCRYPTED) fails with BAD_INPUT "encrypted_key"; other garbage with BAD_INPUT
 * "bad_key_pem". Does not apply lca_key_check (callers decide). *out is owned by the caller.
 */
int lca_key_private_from_pem(const char *pem, size_t len, EVP_PKEY **out,
                             struct lca_err *err) LCA_MUST_USE;

/*
 * Encodes a private key (borrowed) as unencrypted PKCS#8 PEM. *out is NUL-terminated, *len
 * excludes the NUL; the caller frees it with lca_key_pem_free (which wipes it).
 */
int lca_key_private_to_pem(EVP_PKEY *key, char **out, size_t *len,
                           struct lca_err *err) LCA_MUST_USE;

/* Wipes and frees a buffer from lca_key_private_to_pem. NULL-safe. */
void lca_key_pem_free(char *pem, size_t len);

/*
 * Parses a "PUBLIC KEY" (SubjectPublicKeyInfo) PEM (pem, len bytes). BAD_INPUT "bad_key_pem"
 * on failure. *out is owned by the caller.
 */
int lca_key_public_from_pem(const char *pem, size_t len, EVP_PKEY **out,
                            struct lca_err *err) LCA_MUST_USE;

/*
 * Encodes the public half of key (borrowed) as DER SubjectPublicKeyInfo (RFC 5280 4.1.2.7).
 * *out is owned by the caller (OPENSSL_free).
 */
int lca_key_spki_der(EVP_PKEY *key, uint8_t **out, size_t *len, struct lca_err *err) LCA_MUST_USE;

/*
 * Parses a DER SubjectPublicKeyInfo (spki, len bytes; trailing bytes refused). BAD_INPUT
 * "bad_spki" on failure. *out is owned by the caller.
 */
int lca_key_public_from_spki(const uint8_t *spki, size_t len, EVP_PKEY **out,
                             struct lca_err *err) LCA_MUST_USE;

/*
 * Wraps a private key for storage at rest (DESIGN.md invariant 4): AES-256-GCM under kek over
 * the key's PKCS#8 DER, with aad (a NUL-terminated string, normally the key id; its bytes
 * without the NUL) as additional authenticated data.
 *   blob = 0x01 (version) || nonce (12) || ciphertext (= len(PKCS#8 DER)) || tag (16)
 * nonce must be 12 fresh random bytes from the caller (env->random): never reuse one under the
 * same kek. *blob is owned by the caller (OPENSSL_free); it holds no plaintext.
 */
int lca_key_wrap(const uint8_t kek[32], const uint8_t nonce[12], EVP_PKEY *key, const char *aad,
                 uint8_t **blob, size_t *len, struct lca_err *err) LCA_MUST_USE;

/*
 * Reverses lca_key_wrap. A wrong kek, a wrong aad, a truncated, tampered or unknown-version
 * blob all fail with BAD_INPUT "unwrap_failed" and the same message (no oracle). Intermediate
 * plaintext is wiped. *out is owned by the caller.
 */
int lca_key_unwrap(const uint8_t kek[32], const uint8_t *blob, size_t len, const char *aad,
                   EVP_PKEY **out, struct lca_err *err) LCA_MUST_USE;

#endif
