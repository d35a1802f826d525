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

/* Parses role `name` from a role.write payload (a map with Vault's field names; NULL or nil
 * means {}). A field that is absent or null takes Vault's default:
 *   ttl 0 (system default), max_ttl 0 (system max), not_before_duration 30s,
 *   allow_localhost true, allowed_domains [], allow_bare_domains / allow_subdomains /
 *   allow_glob_domains / allow_any_name false, allow_wildcard_certificates true,
 *   enforce_hostnames true, allow_ip_sans true, allowed_uri_sans [], allowed_other_sans [],
 *   allowed_serial_numbers [], allowed_user_ids [], server_flag / client_flag true,
 *   code_signing_flag / email_protection_flag false, key_type "rsa", key_bits 0 (stored as
 *   2048 for rsa, 256 for ec, 0 for ed25519/any), signature_bits 0 (stored as 256 for rsa,
 *   the curve size for ec), use_pss false, key_usage [DigitalSignature, KeyAgreement,
 *   KeyEncipherment], ext_key_usage [], ext_key_usage_oids [], subject fields (ou,
 *   organization, country, locality, province, street_address, postal_code) [],
 *   use_csr_common_name / use_csr_sans true, require_cn true, cn_validations
 *   [email, hostname], policy_identifiers [], basic_constraints_valid_for_non_ca false,
 *   no_store false, no_store_metadata false, generate_lease false (forced false by no_store),
 *   not_after "", issuer_ref "default", serial_number_source "json-csr", and the template /
 *   token-display-name flags false (stored; ledgerca has no identity templating, so true has
 *   no effect). A "name" field, if present, must equal `name`.
 * key_usage / ext_key_usage names are case-insensitive and stored in canonical spelling
 * (Go's x509 constant without its prefix); names Vault knows but ledgerca does not issue
 * (EncipherOnly, DecipherOnly, the IPSEC and Microsoft/Netscape EKUs) are refused.
 * Errors (BAD_INPUT): "unknown_field" naming the field, "bad_field" for a wrong type or
 * unparsable duration/list/bool, "bad_key" for a key_type/key_bits combination outside
 * rsa 2048/3072/4096, ec 256/384, ed25519, any; "bad_ttl" when max_ttl < ttl (both set);
 * "bad_key_usage" for an unknown key_usage / ext_key_usage name. FATAL on allocation failure.
 * On success *out is owned by the caller (lca_role_free). */
int lca_role_parse(const char *name, const struct lca_val *payload, struct lca_role **out,
                   struct lca_err *err) LCA_MUST_USE;

/* NULL-safe. */
void lca_role_free(struct lca_role *r);

/* The normalised role: a new map owned by the caller (NULL on allocation failure) holding
 * every field above (49 entries, not the name); lists are arrays of str, durations int
 * seconds, flags bool. Parsing it again gives the same role. */
struct lca_val *lca_role_to_val(const struct lca_role *r);

/* Borrowed; lives as long as r. */
const char *lca_role_name(const struct lca_role *r);

/* Checks the names of a request against the role, in Vault's order: DNS syntax of the
 * alt names, the common name (cn_validations; "disabled" skips it), DNS SANs, email SANs
 * (dns entries containing '@'), IP SANs (allow_ip_sans, valid address), URI SANs (glob match
 * against allowed_uri_sans). common_name may be NULL or "" (none). dns/ips/uris: n_*
 * borrowed NUL-terminated strings. Vault also puts the CN into the DNS (or email) SANs unless
 * exclude_cn_from_sans; callers that do the same pass it in dns too. An email-shaped name is
 * allowed when its domain part is. Denial: BAD_INPUT "policy_denied", message worded as
 * Vault's, e.g. "common name foo.evil.com not allowed by this role",
 * "subject alternate name x not allowed by this role", "email address x not allowed by this
 * role". FATAL "bad_call" for a NULL role or array. */
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

/* Key check for sign (CSR key) and issue (requested key), as Vault: the type must be the
 * role's ("role requires keys of type rsa") and key_bits is a minimum ("role requires a
 * minimum of a 4096-bit key, but CSR's key is 2048 bits"); key_type "any" accepts any type.
 * Always, whatever the role: RSA >= 2048 bits, EC P-256 or P-384 only (DESIGN.md invariant
 * 6). Ed25519 ignores bits. Denial: BAD_INPUT "policy_denied". */
int lca_role_check_key(const struct lca_role *r, const struct lca_keyspec *spec,
                       struct lca_err *err) LCA_MUST_USE;

/* Effective TTL in seconds. requested (0 = none) else role ttl else default_ttl; the cap is
 * the role's max_ttl, else system_max_ttl; a TTL above the cap is lowered to it (Vault
 * caps, it does not refuse). */
int64_t lca_role_ttl(const struct lca_role *r, int64_t requested, int64_t default_ttl,
                     int64_t system_max_ttl);

/* Key spec for `issue` (server-generated key): the role's key_type/key_bits (already
 * defaulted at parse). key_type "any" gives ec 256 — note Vault itself refuses `issue` on an
 * "any" role ("can only be used to sign CSRs"); a caller wanting that rule checks the
 * normalised key_type. */
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
