/*
 * role — Vault-compatible PKI roles: parse a role.write payload, normalise it, and apply its
 * issuance policy (names, key, TTL, usages) to a request.
 *
 * Field names, accepted input shapes and defaults follow Vault's `/v1/pki/roles/:name` API:
 * lists are arrays of strings or one comma-separated string; durations are integer seconds or
 * Go-style strings ("72h", "1h30m", "90s"); booleans are bool or "true"/"false".
 * A parsed role is immutable; lca_role_to_val gives the normalised form (every field present,
 * canonical types) that the RoleWritten event stores and `GET roles/:name` returns.
 *
 * Name policy (RFC 5280 section 4.2.1.6 for the SAN kinds): the common name and each DNS SAN
 * must be allowed by one of allow_any_name, allow_localhost, allowed_domains together with
 * allow_bare_domains / allow_subdomains / allow_glob_domains; wildcards are limited by
 * allow_wildcard_certificates; enforce_hostnames checks RFC 1123 syntax; IP SANs need
 * allow_ip_sans; URI SANs must match an allowed_uri_sans glob.
 *
 * Denials return LCA_FAIL with class LCA_ERR_BAD_INPUT, code "policy_denied" and a message
 * worded like Vault's. Pure: no clock, RNG or I/O. Thread-safety: a parsed role may be shared
 * read-only between threads.
 */
#ifndef LCA_ROLE_H
#define LCA_ROLE_H

#include <stddef.h>
#include <stdint.h>

#include "env.h"
#include "err.h"
#include "val.h"

struct lca_role; /* opaque; immutable after parse */

/* Parses role `name` from a role.write payload (a map with Vault's field names).
 * Missing fields take Vault's defaults (see lca_role_to_val for the full list).
 * Errors (BAD_INPUT): "unknown_field" naming the field, "bad_field" for a wrong type or
 * unparsable duration/list/bool, "bad_key" for a key_type/key_bits combination outside
 * rsa 2048/3072/4096, ec 256/384, ed25519, any; "bad_ttl" when max_ttl < ttl (both set);
 * "bad_key_usage" for an unknown key_usage / ext_key_usage name. FATAL on allocation failure.
 * On success *out is owned by the caller (lca_role_free). */
int lca_role_parse(const char *name, const struct lca_val *payload, struct lca_role **out,
                   struct lca_err *err) LCA_MUST_USE;

/* NULL-safe. */
void lca_role_free(struct lca_role *r);

/* The normalised role: a new map owned by the caller (NULL on allocation failure); lists are
 * arrays of str, durations int seconds, flags bool. */
struct lca_val *lca_role_to_val(const struct lca_role *r);

/* Borrowed; lives as long as r. */
const char *lca_role_name(const struct lca_role *r);

/* Checks the names of a request against the role. common_name may be NULL or "" (none).
 * dns/ips/uris: n_* borrowed NUL-terminated strings. An email-shaped common name is
 * allowed when its domain part is. Denial: BAD_INPUT "policy_denied", message naming the
 * offending value as Vault does, e.g. "common name foo.evil.com not allowed by this role". */
int lca_role_check_names(const struct lca_role *r, const char *common_name,
                         const char *const *dns, size_t n_dns, const char *const *ips,
                         size_t n_ips, const char *const *uris, size_t n_uris,
                         struct lca_err *err) LCA_MUST_USE;

/* As lca_role_check_names for names taken from a CSR (sign with use_csr_sans): DNS names
 * skip the syntax pre-check that Vault applies to alt_names given in the API, and the IP / URI
 * denials say "via CSR" as Vault's do. */
int lca_role_check_csr_names(const struct lca_role *r, const char *common_name,
                             const char *const *dns, size_t n_dns, const char *const *ips,
                             size_t n_ips, const char *const *uris, size_t n_uris,
                             struct lca_err *err) LCA_MUST_USE;

/* Key check for sign (CSR key) and issue (requested key): type and bits must match the
 * role's unless key_type is "any" (then any safe-minimum key passes). Ed25519 ignores bits.
 * Denial: BAD_INPUT "policy_denied". */
int lca_role_check_key(const struct lca_role *r, const struct lca_keyspec *spec,
                       struct lca_err *err) LCA_MUST_USE;

/* Effective TTL in seconds. requested (0 = none) else role ttl else default_ttl; the cap is
 * the role's max_ttl, else system_max_ttl; a TTL above the cap is lowered to it (Vault
 * caps, it does not refuse). */
int64_t lca_role_ttl(const struct lca_role *r, int64_t requested, int64_t default_ttl,
                     int64_t system_max_ttl);

/* Key spec for `issue` (server-generated key): the role's key_type/key_bits, with key_bits
 * 0 meaning 2048 (rsa) / 256 (ec); key_type "any" gives ec 256. */
void lca_role_keyspec(const struct lca_role *r, struct lca_keyspec *out);

/* key_usage as LCA_KU_* bits (engine/cert.h): DigitalSignature=1, KeyEncipherment=2,
 * KeyAgreement=4, CertSign=8, CRLSign=16, ContentCommitment=32, DataEncipherment=64. */
unsigned lca_role_key_usage(const struct lca_role *r);

/* ext_key_usage plus server_flag/client_flag/code_signing_flag/email_protection_flag as
 * LCA_EKU_* bits: ServerAuth=1, ClientAuth=2, CodeSigning=4, EmailProtection=8,
 * TimeStamping=16, OCSPSigning=32, Any=64. */
unsigned lca_role_ext_key_usage(const struct lca_role *r);

/* 1 when issued certificates are not stored (no_store), else 0. */
int lca_role_no_store(const struct lca_role *r);

/* Borrowed; "default" unless set. */
const char *lca_role_issuer_ref(const struct lca_role *r);

/* An issuer's leaf_not_after_behavior (Vault issuer option; DESIGN.md invariant 6). */
enum lca_notafter { LCA_NOTAFTER_ERR = 0, LCA_NOTAFTER_TRUNCATE, LCA_NOTAFTER_PERMIT };

/* Parses "err", "truncate" or "permit"; anything else: BAD_INPUT "bad_field". */
int lca_role_notafter_parse(const char *s, enum lca_notafter *out,
                            struct lca_err *err) LCA_MUST_USE;

/* "err", "truncate", "permit" (static strings); "err" for an out-of-range value. */
const char *lca_role_notafter_name(enum lca_notafter b);

/* Applies behaviour b when *not_after (leaf, unix seconds) is past issuer_not_after:
 * err → BAD_INPUT "policy_denied" with Vault's message ("cannot satisfy request, as TTL
 * would result in notAfter ... that is beyond the expiration of the CA certificate at ...");
 * truncate → *not_after = issuer_not_after; permit → unchanged. A leaf within the issuer's
 * validity is always unchanged. RFC 5280 section 4.1.2.5. */
int lca_role_apply_notafter(enum lca_notafter b, int64_t issuer_not_after, int64_t *not_after,
                            struct lca_err *err) LCA_MUST_USE;

#endif
