/* chain — ca_chain building over the issuers a CA holds. Contract in chain.h. */
#include "chain.h"

#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

/* Upper bound on the issuer set: keeps the O(n * chain) signature checks bounded. */
#define CHAIN_MAX_ISSUERS 4096

static const char *id_of(const struct lca_chain_in *in)
{
    return in->issuer_id != NULL ? in->issuer_id : "(unnamed)";
}

/* RFC 5280 §4.2.1.1: a child's AKI keyIdentifier names the key of its issuer. Unequal
 * identifiers rule the parent out; an absent one on either side rules nothing out. */
static int aki_ski_compatible(X509 *parent, X509 *child)
{
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(child);
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(parent);

    if (aki == NULL || ski == NULL) {
        return 1;
    }
    return ASN1_OCTET_STRING_cmp(aki, ski) == 0;
}

/* parent is a possible issuer of child: names chain and child's signature verifies. */
static int is_parent(X509 *parent, X509 *child)
{
    EVP_PKEY *pk;
    int ok;

    if (X509_NAME_cmp(X509_get_subject_name(parent), X509_get_issuer_name(child)) != 0) {
        return 0;
    }
    if (!aki_ski_compatible(parent, child)) {
        return 0;
    }
    pk = X509_get0_pubkey(parent);
    if (pk == NULL) {
        ERR_clear_error();
        return 0;
    }
    ok = X509_verify(child, pk) == 1;
    ERR_clear_error(); /* a failed check is an answer, not an error */
    return ok;
}

/* Same subject and same SubjectPublicKeyInfo: cross-signed or reissued twins. */
static int is_twin(X509 *a, X509 *b)
{
    EVP_PKEY *ka;
    EVP_PKEY *kb;
    int eq;

    if (X509_NAME_cmp(X509_get_subject_name(a), X509_get_subject_name(b)) != 0) {
        return 0;
    }
    ka = X509_get0_pubkey(a);
    kb = X509_get0_pubkey(b);
    if (ka == NULL || kb == NULL) {
        ERR_clear_error();
        return 0;
    }
    eq = EVP_PKEY_eq(ka, kb) == 1;
    ERR_clear_error();
    return eq;
}

/* Self-issued (§3.3 / §6.1) and self-signed: a trust anchor candidate. */
static int is_root(X509 *c)
{
    return is_parent(c, c);
}

/* Either relation the chain follows from an already chosen certificate. */
static int is_next(X509 *chosen, X509 *cand)
{
    return is_parent(cand, chosen) || is_twin(chosen, cand);
}

static int check_target(const struct lca_chain_in *issuers, size_t n, size_t target,
                        struct lca_err *err)
{
    if (issuers == NULL || n > CHAIN_MAX_ISSUERS) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "too_many_issuers",
                           "issuer set missing or larger than %d", CHAIN_MAX_ISSUERS);
    }
    if (target >= n || issuers[target].cert == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_target",
                           "target issuer %zu is not one of the %zu issuers", target, n);
    }
    return LCA_OK;
}

/* Moves roots behind every non-root, keeping relative order; out[0] (the target) stays. */
static void roots_last(const struct lca_chain_in *issuers, size_t *idx, size_t len)
{
    size_t tmp[LCA_CHAIN_MAX];
    size_t k = 1;

    for (size_t pass = 0; pass < 2; pass++) {
        for (size_t i = 1; i < len; i++) {
            int root = is_root(issuers[idx[i]].cert);
            if ((pass == 0) != (root != 0)) {
                tmp[k++] = idx[i];
            }
        }
    }
    memcpy(idx + 1, tmp + 1, (len - 1) * sizeof(*idx));
}

/* Pushes every unvisited certificate related to issuers[x] (parents first, then twins). */
static int expand(const struct lca_chain_in *issuers, size_t n, size_t x, unsigned char *seen,
                  size_t *q, size_t *qlen, struct lca_err *err)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            X509 *c = issuers[i].cert;
            if (seen[i] || c == NULL) {
                continue;
            }
            if (pass == 0 ? !is_parent(c, issuers[x].cert) : !is_twin(c, issuers[x].cert)) {
                continue;
            }
            if (*qlen == LCA_CHAIN_MAX) {
                return lca_err_set(err, LCA_ERR_BAD_INPUT, "chain_too_long",
                                   "more than %d certificates reachable from issuer %s",
                                   LCA_CHAIN_MAX, id_of(&issuers[x]));
            }
            seen[i] = 1;
            q[(*qlen)++] = i;
        }
    }
    return LCA_OK;
}

int lca_chain_build(const struct lca_chain_in *issuers, size_t n, size_t target,
                    size_t out_idx[LCA_CHAIN_MAX], size_t *out_len, struct lca_err *err)
{
    unsigned char seen[CHAIN_MAX_ISSUERS];
    size_t q[LCA_CHAIN_MAX];
    size_t qlen = 0;

    if (check_target(issuers, n, target, err) != LCA_OK) {
        return LCA_FAIL;
    }
    memset(seen, 0, n);
    seen[target] = 1;
    q[qlen++] = target;
    /* The queue is the output: BFS visits each node once, so cycles end. */
    for (size_t head = 0; head < qlen; head++) {
        if (expand(issuers, n, q[head], seen, q, &qlen, err) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    roots_last(issuers, q, qlen);
    memcpy(out_idx, q, qlen * sizeof(*q));
    *out_len = qlen;
    return LCA_OK;
}

static int manual_fail(const struct lca_chain_in *issuers, size_t n, const size_t *manual,
                       size_t pos, const char *why, struct lca_err *err)
{
    const char *id = manual[pos] < n ? id_of(&issuers[manual[pos]]) : "(out of range)";

    return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_manual_chain",
                       "manual_chain position %zu (issuer %s): %s", pos, id, why);
}

/* manual[pos] must be a parent or twin of some earlier entry. */
static int linked_to_earlier(const struct lca_chain_in *issuers, const size_t *manual, size_t pos)
{
    for (size_t j = 0; j < pos; j++) {
        if (is_next(issuers[manual[j]].cert, issuers[manual[pos]].cert)) {
            return 1;
        }
    }
    return 0;
}

int lca_chain_check_manual(const struct lca_chain_in *issuers, size_t n, size_t target,
                           const size_t *manual, size_t manual_len, struct lca_err *err)
{
    if (check_target(issuers, n, target, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (manual == NULL || manual_len == 0 || manual_len > LCA_CHAIN_MAX) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_manual_chain",
                           "manual_chain must hold 1 to %d issuers, not %zu", LCA_CHAIN_MAX,
                           manual == NULL ? (size_t)0 : manual_len);
    }
    if (manual[0] != target) {
        return manual_fail(issuers, n, manual, 0, "the first entry must be the issuer itself",
                           err);
    }
    for (size_t i = 1; i < manual_len; i++) {
        if (manual[i] >= n || issuers[manual[i]].cert == NULL) {
            return manual_fail(issuers, n, manual, i, "unknown issuer", err);
        }
        for (size_t j = 0; j < i; j++) {
            if (manual[j] == manual[i]) {
                return manual_fail(issuers, n, manual, i, "listed twice", err);
            }
        }
        if (!linked_to_earlier(issuers, manual, i)) {
            return manual_fail(issuers, n, manual, i,
                               "neither an issuer nor a twin of an earlier entry", err);
        }
    }
    return LCA_OK;
}
