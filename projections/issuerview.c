/* issuerview — Vault's read-issuer shape as a pure function of the state (issuerview.h). */
#include "issuerview.h"

#include <stdlib.h>
#include <string.h>

#include "role.h"

void lca_issuerview_usage(unsigned usage, char *out, size_t outlen)
{
    static const char *const names[] = {"read-only", "issuing-certificates", "crl-signing",
                                        "ocsp-signing"};
    size_t i, used = 0;

    if (outlen == 0) {
        return;
    }
    out[0] = '\0';
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n = strlen(names[i]) + (used > 0 ? 1 : 0);
        if ((usage & (1u << i)) == 0 || used + n + 1 > outlen) {
            continue;
        }
        if (used > 0) {
            out[used++] = ',';
        }
        memcpy(out + used, names[i], strlen(names[i]) + 1);
        used += strlen(names[i]);
    }
}

static struct lca_val *chain_arr(const struct lca_state *st, const struct lca_issuer *iss)
{
    struct lca_val *arr = lca_val_new_arr();
    size_t i;

    for (i = 0; i < iss->chain_len; i++) {
        const struct lca_issuer *c = lca_state_issuer_at(st, iss->chain[i]);
        if (c != NULL) {
            lca_val_arr_push(arr, lca_val_new_str(c->pem));
        }
    }
    return arr;
}

static struct lca_val *manual_arr(const struct lca_issuer *iss)
{
    struct lca_val *arr;
    size_t i;

    if (iss->manual_chain == NULL) {
        return lca_val_new_nil();
    }
    arr = lca_val_new_arr();
    for (i = 0; i < iss->n_manual; i++) {
        lca_val_arr_push(arr, lca_val_new_str(iss->manual_chain[i]));
    }
    return arr;
}

int lca_issuerview_build(const struct lca_state *st, const struct lca_issuer *iss,
                         struct lca_val **out, struct lca_err *err)
{
    struct lca_val *m;
    char usage[96];

    if (st == NULL || iss == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_issuer", "issuerview: no issuer");
    }
    lca_issuerview_usage(iss->usage, usage, sizeof(usage));
    m = lca_val_new_map();
    lca_val_map_set(m, "ca_chain", chain_arr(st, iss));
    lca_val_map_set_str(m, "certificate", iss->pem);
    lca_val_map_set_str(m, "issuer_id", iss->id);
    lca_val_map_set_str(m, "issuer_name", iss->name);
    lca_val_map_set_str(m, "key_id", iss->key_id);
    lca_val_map_set_str(m, "leaf_not_after_behavior", lca_role_notafter_name(iss->leaf_not_after));
    lca_val_map_set(m, "manual_chain", manual_arr(iss));
    lca_val_map_set_str(m, "revocation_signature_algorithm", "");
    lca_val_map_set_str(m, "usage", usage);
    if (!lca_val_ok(m)) {
        lca_val_free(m);
        return lca_err_set(err, LCA_ERR_FATAL, "no_memory", "issuerview: out of memory");
    }
    *out = m;
    return LCA_OK;
}

int lca_issuerview_chain_pem(const struct lca_state *st, const struct lca_issuer *iss,
                             char **out, struct lca_err *err)
{
    size_t i, len = 1, at = 0;
    char *buf;

    for (i = 0; i < iss->chain_len; i++) {
        const struct lca_issuer *c = lca_state_issuer_at(st, iss->chain[i]);
        len += c != NULL ? strlen(c->pem) : 0;
    }
    if ((buf = malloc(len)) == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "no_memory", "issuerview: out of memory");
    }
    for (i = 0; i < iss->chain_len; i++) {
        const struct lca_issuer *c = lca_state_issuer_at(st, iss->chain[i]);
        if (c != NULL) {
            memcpy(buf + at, c->pem, strlen(c->pem));
            at += strlen(c->pem);
        }
    }
    buf[at] = '\0';
    *out = buf;
    return LCA_OK;
}
