/*
 * crl — certificate revocation lists per issuer (RFC 5280 §5), built fast.
 *
 * Pure: the caller passes the times, the CRL number and the entries. The DER is written directly
 * (no X509_CRL object): a million entries must build in about a second, which OpenSSL's
 * X509_CRL_add0_revoked + sort path cannot do. The output is a v2 CRL:
 *
 *   CertificateList ::= SEQUENCE { tbsCertList TBSCertList, signatureAlgorithm AlgorithmIdentifier,
 *                                  signatureValue BIT STRING }                          -- §5.1
 *   TBSCertList ::= SEQUENCE {
 *       version              INTEGER (1)              -- v2, since extensions are present §5.1.2.1
 *       signature            AlgorithmIdentifier      -- same as signatureAlgorithm §5.1.2.2
 *       issuer               Name                     -- the issuer certificate's subject §5.1.2.3
 *       thisUpdate           Time                     -- §5.1.2.4
 *       nextUpdate           Time                     -- always present §5.1.2.5
 *       revokedCertificates  SEQUENCE OF SEQUENCE { userCertificate CertificateSerialNumber,
 *                                revocationDate Time, crlEntryExtensions Extensions OPTIONAL }
 *                            -- omitted when empty §5.1.2.6, sorted by serial, reasonCode §5.3.1
 *       crlExtensions    [0] Extensions               -- AKI keyIdentifier §5.2.1, cRLNumber §5.2.3,
 *                                                     -- deltaCRLIndicator §5.2.4 (critical),
 *                                                     -- issuingDistributionPoint §5.2.5 (critical)
 *   }
 * Times are UTCTime through 2049 and GeneralizedTime from 2050 (§5.1.2.4).
 * Signature: ecdsa-with-SHA256 (P-256), ecdsa-with-SHA384 (P-384), sha256WithRSAEncryption (RSA),
 * Ed25519 (RFC 8410). Other key types: BAD_INPUT "bad_key".
 */
#ifndef LCA_CRL_H
#define LCA_CRL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "err.h"

/* CRLReason (RFC 5280 §5.3.1); value 7 is unused in the standard. */
enum lca_crl_reason {
    LCA_CRL_UNSPECIFIED = 0,
    LCA_CRL_KEY_COMPROMISE = 1,
    LCA_CRL_CA_COMPROMISE = 2,
    LCA_CRL_AFFILIATION_CHANGED = 3,
    LCA_CRL_SUPERSEDED = 4,
    LCA_CRL_CESSATION = 5, /* cessationOfOperation */
    LCA_CRL_CERTIFICATE_HOLD = 6,
    LCA_CRL_REMOVE_FROM_CRL = 8, /* only meaningful in delta CRLs */
    LCA_CRL_PRIVILEGE_WITHDRAWN = 9,
    LCA_CRL_AA_COMPROMISE = 10,
};

/*
 * Parses a reason name. Accepts the snake_case form ("key_compromise", "cessation_of_operation"
 * or "cessation") and RFC 5280's camelCase ASN.1 name ("keyCompromise", "cessationOfOperation"),
 * case-insensitively. *out set only on success. Errors: BAD_INPUT "bad_reason".
 */
int lca_crl_reason_parse(const char *name, enum lca_crl_reason *out,
                         struct lca_err *err) LCA_MUST_USE;

/* Canonical snake_case name ("key_compromise"); "unknown" for a value outside the enum. */
const char *lca_crl_reason_name(enum lca_crl_reason r);

/* One revoked certificate. */
struct lca_crl_entry {
    const uint8_t *serial; /* big-endian unsigned magnitude, borrowed; leading zeros are
                              stripped; 1..20 significant octets (§4.1.2.2), not all zero */
    size_t serial_len;
    int64_t revoked_at;         /* revocationDate, Unix seconds */
    enum lca_crl_reason reason; /* reasonCode extension omitted when UNSPECIFIED (§5.3.1) */
    int64_t not_after;          /* the certificate's notAfter: entries with not_after <
                                   this_update are dropped (§3.3 allows removal after expiry) */
};

/* What to build. */
struct lca_crl_req {
    int64_t this_update;  /* Unix seconds */
    int64_t next_update;  /* Unix seconds, > this_update */
    uint64_t crl_number;  /* cRLNumber (§5.2.3); the caller keeps the strictly increasing counter */
    int64_t delta_base;   /* -1: full CRL; >= 0: delta CRL (§5.2.4) whose deltaCRLIndicator is
                             this base CRL number; the caller selects the entries (revoked after the
                             base was built) and must pass crl_number > delta_base */
    const char *idp_url;  /* NULL, or the issuingDistributionPoint fullName URI (§5.2.5), critical,
                             for sharded CRLs; printable ASCII, at most 1024 bytes */
    const struct lca_crl_entry *entries; /* n_entries, any order; borrowed */
    size_t n_entries;
    size_t max_entries;   /* 0 = no limit; more entries than this left after dropping expired
                             ones: BAD_INPUT "crl_too_large" */
};

/*
 * Builds and signs a DER CRL v2.
 * issuer_cert: borrowed; gives the issuer Name (its subject) and the AKI keyIdentifier (its
 *              subjectKeyIdentifier, or the SHA-1 of its subjectPublicKey bits when it has none,
 *              §4.2.1.2 method 1).
 * issuer_key:  borrowed; the private key matching issuer_cert (checked: BAD_INPUT "key_mismatch").
 * *der:        on success, malloc'd buffer owned by the caller (free()), *der_len its length.
 * Errors: BAD_INPUT "bad_crl_request" (times, serials, delta base, URL), "crl_too_large",
 *         "duplicate_serial" (the same serial twice), "bad_key", "key_mismatch";
 *         FATAL "oom" / "crl_sign" on allocation or signing failure.
 */
int lca_crl_build(X509 *issuer_cert, EVP_PKEY *issuer_key, const struct lca_crl_req *req,
                  uint8_t **der, size_t *der_len, struct lca_err *err) LCA_MUST_USE;

/* Options of lca_crl_build_opts; a NULL pointer means all absent. Later fields may be added:
 * zero-initialise the struct. */
struct lca_crl_opts {
    const char *freshest_url; /* NULL, or the freshestCRL (RFC 5280 §5.2.6, non-critical)
                                 fullName URI where the delta CRL of this complete CRL's scope
                                 is published; only in complete CRLs (delta_base -1); printable
                                 ASCII, at most 1024 bytes */
};

/* lca_crl_build with options (opts may be NULL: then identical to lca_crl_build).
 * Errors: those of lca_crl_build; BAD_INPUT "bad_crl_request" for a bad freshest_url or one
 * given for a delta CRL. */
int lca_crl_build_opts(X509 *issuer_cert, EVP_PKEY *issuer_key, const struct lca_crl_req *req,
                       const struct lca_crl_opts *opts, uint8_t **der, size_t *der_len,
                       struct lca_err *err) LCA_MUST_USE;

/*
 * CRL scopes (issue 4: CRLs at scale). An issuer's revocations are published either in one CRL
 * or partitioned by serial into n_shards CRLs (a power of two, 1..LCA_CRL_MAX_SHARDS). Each
 * shard is a distinct CRL scope (RFC 5280 §5.2.5): its CRL carries a critical
 * issuingDistributionPoint naming the shard's URL, which is also the CRL distribution point
 * (§4.2.1.13) of every certificate whose serial falls in it, and it has its own cRLNumber
 * sequence (§5.2.3: complete and delta CRLs of one scope share one sequence).
 *
 * The shard of a serial is its last (least significant) octet modulo n_shards: serials are
 * 128 CSPRNG bits, so shards fill evenly, and the function is visible to anyone holding the
 * certificate (`openssl x509 -serial`). Returns 0 when n_shards <= 1.
 */
#define LCA_CRL_MAX_SHARDS 256
unsigned lca_crl_shard(const uint8_t *serial, size_t len, unsigned n_shards);
/* 1 when n is a valid shard count (power of two in 1..LCA_CRL_MAX_SHARDS). */
int lca_crl_shards_valid(int64_t n);

/*
 * Where a scope's CRL is published, relative to a CRL directory or base URL:
 *   shard < 0 (unsharded): "<issuer_id>.crl", delta "<issuer_id>.delta.crl"
 *   shard k:               "<issuer_id>/<k>.crl", delta "<issuer_id>/<k>.delta.crl"
 * lca_crl_url prefixes base_url (trailing slashes dropped) and a "/". LCA_FAIL when the issuer
 * id is empty or holds '/' or "..", when out (len bytes) is too small, or the URL is longer
 * than 1024 bytes or not printable ASCII.
 */
int lca_crl_path(const char *issuer_id, int shard, int delta, char *out, size_t len) LCA_MUST_USE;
int lca_crl_url(const char *base_url, const char *issuer_id, int shard, int delta, char *out,
                size_t len) LCA_MUST_USE;

/*
 * PEM-armours a DER CRL ("-----BEGIN X509 CRL-----", 64-column base64, trailing newline).
 * The DER is not parsed. *pem: malloc'd NUL-terminated string owned by the caller (free()),
 * *pem_len its length without the NUL. Errors: BAD_INPUT "bad_crl_request" for empty input,
 * FATAL "oom".
 */
int lca_crl_der_to_pem(const uint8_t *der, size_t len, char **pem, size_t *pem_len,
                       struct lca_err *err) LCA_MUST_USE;

#endif
