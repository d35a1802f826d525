/* roots — Consul's roots list as a pure function of the state (roots.h). */
#include "roots.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "cert.h"

#define SKI_HEX_LEN 200 /* colon hex of up to 66 bytes */

void lca_roots_rfc3339(int64_t t, char *out, size_t outlen)
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (outlen == 0) {
        return;
    }
    out[0] = '\0';
    if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL ||
        strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        out[0] = '\0';
    }
}

int lca_roots_affected(const struct lca_event *ev)
{
    switch (ev != NULL ? ev->type : LCA_EVT_NONE) {
    case LCA_EVT_CONFIG_UPDATED:
    case LCA_EVT_ISSUER_CREATED:
    case LCA_EVT_ROOT_ACTIVATED:
    case LCA_EVT_ISSUER_UPDATED:
    case LCA_EVT_TIDIED:
        return 1;
    default:
        return 0;
    }
}

static int ski_of(const struct lca_issuer *iss, char out[SKI_HEX_LEN], struct lca_err *err)
{
    if (lca_cert_ski_hex(iss->cert, out, SKI_HEX_LEN) != LCA_OK) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "no_ski",
                           "issuer %s has no SubjectKeyIdentifier", iss->id);
    }
    return LCA_OK;
}

/* Low 63 bits of the certificate serial (see the header on SerialNumber). */
static int64_t serial63(const struct lca_issuer *iss)
{
    const ASN1_INTEGER *sn = X509_get0_serialNumber(iss->cert);
    const unsigned char *p = ASN1_STRING_get0_data(sn);
    int i, n = ASN1_STRING_length(sn);
    uint64_t v = 0;

    for (i = n > 8 ? n - 8 : 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return (int64_t)(v & 0x7fffffffffffffffULL);
}

/* issuer_name, else the subject CN (UTF-8), else "". */
static struct lca_val *name_of(const struct lca_issuer *iss)
{
    const X509_NAME *subj = X509_get_subject_name(iss->cert);
    int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
    unsigned char *utf8 = NULL;
    struct lca_val *v;
    int n;

    if (iss->name[0] != '\0' || idx < 0) {
        return lca_val_new_str(iss->name);
    }
    n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx)));
    v = n >= 0 ? lca_val_new_strn((const char *)utf8, (size_t)n) : lca_val_new_str("");
    OPENSSL_free(utf8);
    return v;
}

static const char *key_type(const struct lca_issuer *iss, int64_t *bits)
{
    EVP_PKEY *pk = X509_get0_pubkey(iss->cert);

    *bits = pk != NULL ? EVP_PKEY_get_bits(pk) : 0;
    switch (pk != NULL ? EVP_PKEY_get_base_id(pk) : 0) {
    case EVP_PKEY_EC:
        return "ec";
    case EVP_PKEY_RSA:
        return "rsa";
    case EVP_PKEY_ED25519:
        return "ed25519";
    default:
        *bits = 0;
        return "";
    }
}

/* The leaf-signing issuer of root's hierarchy (see the header on SigningKeyID). */
static const struct lca_issuer *signing_of(const struct lca_state *st,
                                           const struct lca_issuer *root)
{
    const struct lca_issuer *def = lca_state_default_issuer(st);
    const struct lca_issuer *act = lca_state_active_root(st);
    const struct lca_issuer *found = root;
    size_t i;

    if (act == root && def != NULL) {
        return def;
    }
    for (i = 0; i < lca_state_issuer_count(st); i++) {
        const struct lca_issuer *c = lca_state_issuer_at(st, i);
        if (c->kind == LCA_ISSUER_INTERMEDIATE && !c->retired &&
            strcmp(c->parent_id, root->id) == 0) {
            found = c;
        }
    }
    return found;
}

static struct lca_val *intermediates_of(const struct lca_state *st,
                                        const struct lca_issuer *root,
                                        const struct lca_issuer *signing)
{
    struct lca_val *arr = lca_val_new_arr();
    size_t i;

    for (i = 0; i < lca_state_issuer_count(st); i++) {
        const struct lca_issuer *c = lca_state_issuer_at(st, i);
        if (c->kind == LCA_ISSUER_CROSS_SIGNED && strcmp(c->twin_of, root->id) == 0) {
            lca_val_arr_push(arr, lca_val_new_str(c->pem));
        }
    }
    if (signing != root) {
        lca_val_arr_push(arr, lca_val_new_str(signing->pem));
    }
    if (lca_val_len(arr) == 0) {
        lca_val_free(arr);
        return lca_val_new_nil();
    }
    return arr;
}

static int root_entry(const struct lca_state *st, const struct lca_issuer *root,
                      struct lca_val *m, struct lca_err *err)
{
    const struct lca_issuer *signing = signing_of(st, root);
    char id[SKI_HEX_LEN], sk[SKI_HEX_LEN], nb[32], na[32];
    int64_t bits = 0;
    const char *kt;

    if (ski_of(root, id, err) != LCA_OK || ski_of(signing, sk, err) != LCA_OK) {
        return LCA_FAIL;
    }
    lca_roots_rfc3339(root->not_before, nb, sizeof(nb));
    lca_roots_rfc3339(root->not_after, na, sizeof(na));
    kt = key_type(root, &bits);
    lca_val_map_set_str(m, "ID", id);
    lca_val_map_set(m, "Name", name_of(root));
    lca_val_map_set_int(m, "SerialNumber", serial63(root));
    lca_val_map_set_str(m, "SigningKeyID", sk);
    lca_val_map_set_str(m, "ExternalTrustDomain", lca_state_cluster_id(st));
    lca_val_map_set_str(m, "NotBefore", nb);
    lca_val_map_set_str(m, "NotAfter", na);
    lca_val_map_set_str(m, "RootCert", root->pem);
    lca_val_map_set(m, "IntermediateCerts", intermediates_of(st, root, signing));
    lca_val_map_set_bool(m, "Active", root == lca_state_active_root(st));
    lca_val_map_set_str(m, "PrivateKeyType", kt);
    lca_val_map_set_int(m, "PrivateKeyBits", bits);
    lca_val_map_set_int(m, "CreateIndex", root->create_index);
    lca_val_map_set_int(m, "ModifyIndex", root->modify_index);
    return LCA_OK;
}

int lca_roots_build(const struct lca_state *st, struct lca_val **out, struct lca_err *err)
{
    struct lca_val *doc = lca_val_new_map(), *roots = lca_val_new_arr(), *m;
    const struct lca_issuer *act = lca_state_active_root(st);
    char id[SKI_HEX_LEN] = "";
    size_t i;

    if (act != NULL && ski_of(act, id, err) != LCA_OK) {
        goto fail;
    }
    for (i = 0; i < lca_state_issuer_count(st); i++) {
        const struct lca_issuer *iss = lca_state_issuer_at(st, i);
        if (iss->kind != LCA_ISSUER_ROOT || iss->retired) {
            continue;
        }
        if ((m = lca_val_new_map()) == NULL || root_entry(st, iss, m, err) != LCA_OK) {
            lca_val_free(m);
            goto fail;
        }
        lca_val_arr_push(roots, m);
    }
    lca_val_map_set_str(doc, "ActiveRootID", id);
    lca_val_map_set_str(doc, "TrustDomain", lca_state_trust_domain(st));
    lca_val_map_set(doc, "Roots", roots);
    roots = NULL;
    if (!lca_val_ok(doc)) {
        (void)lca_err_set(err, LCA_ERR_FATAL, "no_memory", "roots: out of memory");
        goto fail;
    }
    *out = doc;
    return LCA_OK;
fail:
    if (err != NULL && err->cls == LCA_ERR_NONE) {
        (void)lca_err_set(err, LCA_ERR_FATAL, "no_memory", "roots: out of memory");
    }
    lca_val_free(roots);
    lca_val_free(doc);
    return LCA_FAIL;
}
