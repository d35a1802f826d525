/*
 * cert — X.509 v3 certificate building (RFC 5280), pure.
 *
 * The builder writes the TBSCertificate DER itself from prebuilt pieces (issuer name, AKI,
 * signature AlgorithmIdentifier) and the requester's SubjectPublicKeyInfo bytes copied
 * verbatim, signs it with a reusable context, and appends the signature. This avoids
 * OpenSSL 3.0's decoder/encoder path (X509_set_pubkey, X509_sign), which costs ~10x the
 * signature itself (STYLE.md "OpenSSL 3.0 on the hot path").
 *
 * The builder is pure: serial numbers and times come in as parameters; it reads no clock or
 * RNG. It builds what it is told: policy (e.g. clamping a leaf's notAfter to its issuer's) is
 * the caller's decision.
 *
 * Certificate profile (RFC 5280 section 4.1):
 *   Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
 *   TBSCertificate ::= SEQUENCE {
 *       version [0] EXPLICIT INTEGER (2 = v3),  serialNumber INTEGER,  signature AlgId,
 *       issuer Name,  validity SEQUENCE { notBefore Time, notAfter Time },  subject Name,
 *       subjectPublicKeyInfo,  extensions [3] EXPLICIT SEQUENCE OF Extension }
 *   - Names: CN (+ O) only, UTF8String; the subject may be empty (SAN then critical, 4.2.1.6).
 *   - Time: UTCTime for years < 2050, GeneralizedTime from 2050 (4.1.2.5).
 *   - Signature: ecdsa-with-SHA256 (P-256), ecdsa-with-SHA384 (P-384), Ed25519 (RFC 8410),
 *     sha256WithRSAEncryption (RSA, PKCS#1 v1.5).
 *   - Extensions, in this order: basicConstraints (critical, 4.2.1.9; CA:FALSE in leaves), keyUsage
 *     (critical, 4.2.1.3), extKeyUsage (4.2.1.12), SKI (every certificate: SHA-1 of the
 *     subjectPublicKey BIT STRING value, 4.2.1.2 method 1; RFC 5280 says SHOULD for leaves),
 *     AKI (keyIdentifier only, 4.2.1.1: the issuer's SKI; self-signed roots carry their own),
 *     subjectAltName (4.2.1.6), nameConstraints (critical, 4.2.1.10),
 *     CRL distribution points (4.2.1.13), freshest CRL (4.2.1.15, delta CRLs),
 *     authorityInfoAccess (caIssuers/OCSP, 4.2.2.1).
 *
 * Thread-safety: a struct lca_cert_signer is used by one thread at a time (its signing
 * context is reused). The other functions are reentrant.
 */
#ifndef LCA_CERT_H
#define LCA_CERT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "err.h"

/* Issuing/CRL/OCSP URLs configured in advance (seed 003). Each list may be NULL with n = 0.
 * Strings are borrowed for the duration of the call. */
struct lca_urls {
    const char *const *issuing_certificates; /* AIA caIssuers (RFC 5280 4.2.2.1) */
    size_t n_issuing;
    const char *const *crl_distribution_points; /* CRL DP fullName URIs (4.2.1.13) */
    size_t n_crl;
    const char *const *ocsp_servers; /* AIA id-ad-ocsp (4.2.2.1) */
    size_t n_ocsp;
    const char *const *freshest_crl; /* FreshestCRL fullName URIs (4.2.1.15): where the delta
                                        CRLs of the certificate's scope are (engine/crl.h) */
    size_t n_freshest;
};

/* keyUsage bits (RFC 5280 4.2.1.3). */
enum {
    LCA_KU_DIGITAL_SIGNATURE = 1,
    LCA_KU_KEY_ENCIPHERMENT = 2,
    LCA_KU_KEY_AGREEMENT = 4,
    LCA_KU_CERT_SIGN = 8,
    LCA_KU_CRL_SIGN = 16,
    LCA_KU_CONTENT_COMMITMENT = 32,
    LCA_KU_DATA_ENCIPHERMENT = 64
};

/* extKeyUsage purposes (RFC 5280 4.2.1.12). */
enum {
    LCA_EKU_SERVER_AUTH = 1,
    LCA_EKU_CLIENT_AUTH = 2,
    LCA_EKU_CODE_SIGNING = 4,
    LCA_EKU_EMAIL_PROTECTION = 8,
    LCA_EKU_TIME_STAMPING = 16,
    LCA_EKU_OCSP_SIGNING = 32,
    LCA_EKU_ANY = 64
};

/* What to put in a certificate. Filled by the caller; every pointer is borrowed for the call. */
struct lca_cert_req {
    const char *common_name;  /* subject CN; NULL: none (e.g. SPIFFE-only leaves: empty subject) */
    const char *organization; /* subject O; NULL: none */
    const char *const *dns_names; /* subjectAltName dNSName entries */
    size_t n_dns;
    const char *const *ip_addrs; /* subjectAltName iPAddress, textual IPv4 or IPv6 */
    size_t n_ip;
    const char *const *uris; /* subjectAltName URI, e.g. spiffe://<td>/ns/default/dc/dc1/svc/web */
    size_t n_uri;
    int64_t not_before; /* Unix seconds, UTC */
    int64_t not_after;  /* Unix seconds, UTC; >= not_before */
    const uint8_t *serial; /* big-endian bytes (16 from the CSPRNG); the builder clears the top
                              bit so the INTEGER is positive; must not be all zero (4.1.2.2) */
    size_t serial_len;     /* 1..20 */
    int is_ca;             /* basicConstraints CA:TRUE (critical) */
    int path_len;          /* pathLenConstraint 0..32767; -1: none. Ignored unless is_ca */
    const char *const *permitted_dns_domains; /* nameConstraints permittedSubtrees dNSName,
                                                 critical (4.2.1.10); n = 0: no extension */
    size_t n_permitted;
    unsigned key_usage; /* LCA_KU_* bits; 0: CA certSign|cRLSign|digitalSignature, leaf
                           digitalSignature (+ keyEncipherment when the subject key is RSA) */
    unsigned ext_key_usage;    /* LCA_EKU_* bits; 0: none for CAs, serverAuth|clientAuth for leaves */
    const struct lca_urls *urls; /* AIA / CRL DP; NULL: none */
};

/* An issuer ready to sign: issuer cert and key, fetched digest, issuer Name DER, prebuilt AKI
 * and signature AlgorithmIdentifier, reusable signing context. Opaque. */
struct lca_cert_signer;

/* Builds a signer. Up-references issuer_cert and issuer_key (the caller keeps its own).
 * Errors: BAD_INPUT "key_mismatch" if the key does not match the certificate, "bad_key" for an
 * unsupported key type; FATAL on allocation failure. */
int lca_cert_signer_new(X509 *issuer_cert, EVP_PKEY *issuer_key, struct lca_cert_signer **out,
                        struct lca_err *err) LCA_MUST_USE;
/* NULL-safe. */
void lca_cert_signer_free(struct lca_cert_signer *s);

/* A few signers kept for reuse, keyed by the (issuer certificate, key) objects they were built
 * from: building one fetches digests, checks the key against the certificate and sets up a
 * signing context, which cost a twelfth of the signer's CPU per certificate. A cached signer
 * holds references to both objects, so an address cannot be reused while it is cached. Used
 * by one thread at a time (as the signers in it are). */
struct lca_cert_signer_cache;

struct lca_cert_signer_cache *lca_cert_signer_cache_new(void);
/* NULL-safe; frees every cached signer. */
void lca_cert_signer_cache_free(struct lca_cert_signer_cache *c);
/* The cached signer for (issuer_cert, issuer_key), built by lca_cert_signer_new when absent
 * (the oldest entry is then dropped). *out is borrowed from the cache: do not free it; it is
 * valid until the next call on this cache (which may drop it) or lca_cert_signer_cache_free. */
int lca_cert_signer_cached(struct lca_cert_signer_cache *c, X509 *issuer_cert,
                           EVP_PKEY *issuer_key, struct lca_cert_signer **out,
                           struct lca_err *err) LCA_MUST_USE;

/* Signs a certificate for the subject public key given as DER SubjectPublicKeyInfo bytes,
 * copied as-is (the fast path: no decode/re-encode). Only its outer DER structure is checked:
 * pass bytes from lca_csr_spki (which checked the key) or from OpenSSL's encoder (i2d_PUBKEY
 * of a key ledgerca generated). *out is owned by the caller (X509_free).
 * Errors: BAD_INPUT "bad_request" (missing/invalid field: serial, times, IP text, ...),
 * "bad_spki"; FATAL on signing/allocation failure. */
int lca_cert_sign(struct lca_cert_signer *s, const struct lca_cert_req *req, const uint8_t *spki,
                  size_t spki_len, X509 **out, struct lca_err *err) LCA_MUST_USE;
/* Same, returning only the certificate DER (the fastest path); *der is malloc'd, caller frees. */
int lca_cert_sign_der(struct lca_cert_signer *s, const struct lca_cert_req *req,
                      const uint8_t *spki, size_t spki_len, uint8_t **der, size_t *der_len,
                      struct lca_err *err) LCA_MUST_USE;

/* Self-signed root for key (is_ca forced on; issuer = subject; AKI = SKI). *out caller-owned. */
int lca_cert_self_sign(EVP_PKEY *key, const struct lca_cert_req *req, X509 **out,
                       struct lca_err *err) LCA_MUST_USE;

/* Cross-sign / reissue (seed 002): a new certificate with the SAME subject, SPKI and extensions
 * (SKI, basicConstraints, nameConstraints, keyUsage, ...) as tmpl, a new serial and validity,
 * signed by s (issuer name and AKI from s). Cross-sign: s is another issuer. Reissue of a root:
 * s built from the root's own certificate and key. tmpl's AIA and CRL DP extensions are
 * replaced by urls when urls is non-NULL (kept otherwise). *out caller-owned. */
int lca_cert_resign(struct lca_cert_signer *s, X509 *tmpl, const uint8_t *serial,
                    size_t serial_len, int64_t not_before, int64_t not_after,
                    const struct lca_urls *urls, X509 **out, struct lca_err *err) LCA_MUST_USE;

/* Conversions. Outputs are caller-owned (X509_free / free). BAD_INPUT "bad_cert" on bad input. */
int lca_cert_from_der(const uint8_t *der, size_t len, X509 **out, struct lca_err *err) LCA_MUST_USE;
int lca_cert_from_pem(const char *pem, size_t len, X509 **out, struct lca_err *err) LCA_MUST_USE;
int lca_cert_to_der(X509 *c, uint8_t **der, size_t *len, struct lca_err *err) LCA_MUST_USE;
/* *pem is NUL-terminated; *len excludes the NUL. */
int lca_cert_to_pem(X509 *c, char **pem, size_t *len, struct lca_err *err) LCA_MUST_USE;
/* Base64-wraps DER as "-----BEGIN CERTIFICATE-----" PEM without decoding it. */
int lca_cert_der_to_pem(const uint8_t *der, size_t len, char **pem, size_t *pem_len,
                        struct lca_err *err) LCA_MUST_USE;

/* Serial as Vault prints it: lowercase colon-separated hex "xx:xx:..." of the INTEGER's
 * magnitude. Truncated (still NUL-terminated) if outlen is too small; 60 bytes suffice.
 * _raw formats the INTEGER the builder encodes for these serial bytes (top bit cleared,
 * leading zero octets dropped), so it equals lca_cert_serial_hex of the issued certificate. */
void lca_cert_serial_hex(X509 *c, char *out, size_t outlen);
void lca_cert_serial_hex_raw(const uint8_t *serial, size_t len, char *out, size_t outlen);
/* Validity bounds as Unix seconds (INT64_MIN if unreadable). */
int64_t lca_cert_not_after(X509 *c);
int64_t lca_cert_not_before(X509 *c);
/* SubjectKeyIdentifier as Consul's SigningKeyID: lowercase colon hex. LCA_FAIL if the
 * certificate has no SKI or outlen is too small. */
int lca_cert_ski_hex(X509 *c, char *out, size_t outlen) LCA_MUST_USE;

#endif
