/*
 * chain — issuer chain building: Vault's `ca_chain` of an issuer (seed 002, "Rotation Primitives").
 *
 * Pure: no clock, no I/O. Given every issuer certificate the CA holds (roots, intermediates,
 * cross-signed and reissued twins), computes the ordered list of certificates a client may need
 * to reach any root from one issuer, so a leaf issued by it verifies against a trust store holding
 * any one of those roots (DESIGN.md invariant 5).
 *
 * Vocabulary:
 *   parent/child  P is a possible issuer of C when subject(P) == issuer(C) (RFC 5280 §4.1.2.4,
 *                 name comparison by canonical DER, §7.1) and C's signature verifies under P's
 *                 public key. When C carries an authorityKeyIdentifier keyIdentifier and P a
 *                 subjectKeyIdentifier (§4.2.1.1, §4.2.1.2), unequal identifiers rule P out
 *                 before any signature is checked (fast filter only: absent identifiers never
 *                 rule anything out, equal identifiers never rule anything in).
 *   twin          same subject and same SubjectPublicKeyInfo (§4.1.2.7) as another certificate:
 *                 a cross-signed primitive (different issuer) or a reissued primitive (same issuer,
 *                 new serial). Twins sign the same children, so each may stand in for the other.
 *   root          a self-issued certificate whose signature verifies under its own key.
 *
 * Forward primitive: old root A signs the new hierarchy's intermediate I (twin of I-under-B).
 * Backward primitive: new root B cross-signed by old root A (twin of self-signed B).
 * Both are found because the walk follows parents of the target AND parents of every twin.
 */
#ifndef LCA_CHAIN_H
#define LCA_CHAIN_H

#include <stddef.h>

#include <openssl/x509.h>

#include "err.h"

/* One issuer certificate the CA holds. Both fields are borrowed for the duration of a call. */
struct lca_chain_in {
    X509 *cert;            /* the issuer certificate; non-NULL */
    const char *issuer_id; /* the CA's id for it (informational, used in error messages); may be NULL */
};

/* Longest chain returned or accepted (more is refused, not truncated). */
#define LCA_CHAIN_MAX 16

/*
 * Builds the ca_chain of issuers[target].
 *
 * Order: target first; then breadth-first, each certificate followed by its possible issuers and
 * by twins of itself; every certificate appears at most once; self-signed roots are moved to the
 * end (in the order BFS met them), so a client that reads the chain front to back meets every
 * intermediate before any anchor. Cycles (A cross-signs B and B cross-signs A; a root and its
 * reissued twin, each a valid issuer of the other) terminate because visited nodes are skipped.
 *
 * issuers: n entries, n <= 4096 (larger n: BAD_INPUT "too_many_issuers").
 * out_idx: receives indices into issuers, *out_len their count (<= LCA_CHAIN_MAX); both written
 *          only on success.
 * Errors: BAD_INPUT "bad_target" if target >= n or issuers[target].cert is NULL;
 *         BAD_INPUT "chain_too_long" if more than LCA_CHAIN_MAX certificates are reachable.
 *         Never FATAL: an unverifiable signature just means "not a parent".
 */
int lca_chain_build(const struct lca_chain_in *issuers, size_t n, size_t target,
                    size_t out_idx[LCA_CHAIN_MAX], size_t *out_len,
                    struct lca_err *err) LCA_MUST_USE;

/*
 * Validates a manual_chain (Vault issuer field, seed 002 "Notes on manual_chain"): a list of
 * issuer indices that replaces the automatic chain.
 *   - 1 <= manual_len <= LCA_CHAIN_MAX;
 *   - manual[0] == target ("self");
 *   - every index < n, no index twice;
 *   - each manual[i], i >= 1, is a possible issuer or a twin of some manual[j], j < i.
 * Errors: BAD_INPUT, code "bad_manual_chain", message naming the offending position i and the
 *         issuer_id at it; BAD_INPUT "bad_target" as for lca_chain_build.
 */
int lca_chain_check_manual(const struct lca_chain_in *issuers, size_t n, size_t target,
                           const size_t *manual, size_t manual_len,
                           struct lca_err *err) LCA_MUST_USE;

#endif
