/*
 * issuerview — one issuer in Vault's read-issuer shape (GET /pki/issuer/:ref). Pure.
 *
 *   {"ca_chain": [PEM, ...], "certificate": PEM, "issuer_id": UUID, "issuer_name": "...",
 *    "key_id": "...", "leaf_not_after_behavior": "err"|"truncate"|"permit",
 *    "manual_chain": null | [issuer_id, ...], "revocation_signature_algorithm": "",
 *    "usage": "read-only,issuing-certificates,crl-signing,ocsp-signing"}
 *
 * Keys are sorted as Vault (Go's encoding/json) prints them. ca_chain starts with the issuer
 * itself and follows the state's chain (manual_chain when set, else automatic chain building
 * that includes cross-signed pairs: engine/chain.h). key_id is ledgerca's key store id (hex
 * SHA-256 of the SubjectPublicKeyInfo) where Vault has a UUID. revocation_signature_algorithm
 * is "" (Vault's "use the key's default"), as the CRL builder picks it from the key. Vault's
 * URL fields (issuing_certificates, crl_distribution_points, ocsp_servers) are configuration,
 * not issuer state, and are left out.
 */
#ifndef LCA_ISSUERVIEW_H
#define LCA_ISSUERVIEW_H

#include <stddef.h>

#include "err.h"
#include "state.h"
#include "val.h"

/* Builds the view of iss (an issuer of st). *out (a map, caller frees) set only on success.
 * Errors: BAD_INPUT "bad_issuer" when iss is NULL; FATAL "no_memory". */
int lca_issuerview_build(const struct lca_state *st, const struct lca_issuer *iss,
                         struct lca_val **out, struct lca_err *err) LCA_MUST_USE;

/* Vault's usage string for LCA_USAGE_* bits, in bit order, comma-separated ("" for 0). */
void lca_issuerview_usage(unsigned usage, char *out, size_t outlen);

/* The issuer's ca_chain as concatenated PEMs (self first). *out (malloc'd NUL-terminated,
 * caller frees) set only on success. Errors: FATAL "no_memory". */
int lca_issuerview_chain_pem(const struct lca_state *st, const struct lca_issuer *iss,
                             char **out, struct lca_err *err) LCA_MUST_USE;

#endif
