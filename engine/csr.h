/*
 * csr — PKCS#10 certificate signing request parsing and checks (RFC 2986), for `sign`.
 *
 *   CertificationRequest ::= SEQUENCE {
 *       certificationRequestInfo SEQUENCE {
 *           version INTEGER (0), subject Name, subjectPKInfo SubjectPublicKeyInfo,
 *           attributes [0] IMPLICIT SET OF Attribute },      -- extensionRequest (RFC 2985)
 *       signatureAlgorithm AlgorithmIdentifier,
 *       signature BIT STRING }
 *
 * lca_csr_parse checks the request's self-signature over the certificationRequestInfo bytes
 * (proof of possession) and refuses weak keys and signatures (DESIGN.md invariant 6).
 * Untrusted input: the size is limited to LCA_CSR_MAX_BYTES and names/SAN counts are bounded.
 * For P-256 requests (the hot path), the public key is imported from the SPKI point without
 * OpenSSL's decoder framework.
 *
 * Process-wide state: the SHA-2 digests and P-256/P-384 parameter keys are fetched once, on
 * first use (CRYPTO_THREAD_run_once), and never change; they hold no request data.
 * Thread-safety: a struct lca_csr is used by one thread at a time; parse is thread-safe.
 */
#ifndef LCA_CSR_H
#define LCA_CSR_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "err.h"

#define LCA_CSR_MAX_BYTES 65536 /* refuse larger requests (PEM or DER) */
#define LCA_CSR_MAX_SANS 256    /* total SAN entries accepted in the extensionRequest */

struct lca_csr; /* opaque */

/* Parses a CSR in PEM ("CERTIFICATE REQUEST" / "NEW CERTIFICATE REQUEST", leading whitespace
 * allowed) or DER form, checks
 * its signature and key strength. *out is owned by the caller (lca_csr_free).
 * Errors (class BAD_INPUT): "bad_csr" (size, syntax, signature does not verify), "weak_key"
 * (RSA < 2048 bits, curves other than P-256/P-384, key types other than EC/RSA/Ed25519),
 * "weak_signature" (SHA-1, MD5 or other digests than SHA-256/384/512). FATAL on allocation. */
int lca_csr_parse(const uint8_t *buf, size_t len, struct lca_csr **out,
                  struct lca_err *err) LCA_MUST_USE;
/* NULL-safe. */
void lca_csr_free(struct lca_csr *c);

/* Builds a CSR for `key` (Vault's intermediate/generate): subject CN=common_name (1..64
 * bytes, RFC 5280 ub-common-name), an extensionRequest asking for basicConstraints CA:TRUE
 * (critical), signed by the key itself (SHA-256; Ed25519 pure). *der (malloc'd, caller frees)
 * and *len are set only on success. Errors: BAD_INPUT "bad_field" for the common name; FATAL
 * when OpenSSL fails. The key is borrowed. */
int lca_csr_build(EVP_PKEY *key, const char *common_name, uint8_t **der, size_t *len,
                  struct lca_err *err) LCA_MUST_USE;

/* Subject commonName as UTF-8, NULL if none. Borrowed: valid while c lives. */
const char *lca_csr_common_name(const struct lca_csr *c);
/* subjectAltName entries of the extensionRequest; index i < count. Borrowed strings. */
size_t lca_csr_dns_count(const struct lca_csr *c);
const char *lca_csr_dns_at(const struct lca_csr *c, size_t i);
size_t lca_csr_ip_count(const struct lca_csr *c);
const char *lca_csr_ip_at(const struct lca_csr *c, size_t i); /* textual IPv4 / IPv6 */
size_t lca_csr_uri_count(const struct lca_csr *c);
const char *lca_csr_uri_at(const struct lca_csr *c, size_t i);
/* 1 if the extensionRequest asks for basicConstraints CA:TRUE, else 0. */
int lca_csr_is_ca(const struct lca_csr *c);
/* The SubjectPublicKeyInfo DER exactly as in the request (borrowed; *len set). */
const uint8_t *lca_csr_spki(const struct lca_csr *c, size_t *len);
/* The request's public key (borrowed: valid while c lives). */
EVP_PKEY *lca_csr_get0_pubkey(struct lca_csr *c);

#endif
