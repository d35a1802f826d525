/*
 * decide_ca — the CA lifecycle: bootstrap, config.update, rotate, cross-sign, reissue,
 * issuer.update, sign-intermediate (Consul's CA seeds 000/001, Vault's primitives seed 002).
 *
 * A hierarchy is a root and its leaf-signing intermediate. Rotation creates a new hierarchy
 * and, as Consul does, has the old root cross-sign the new root (seed 002's cross-signed
 * primitive: same subject and key, other issuer; the result is listed in the new root's
 * IntermediateCerts). A leaf of the new hierarchy then verifies against a trust store that
 * holds only the old root (leaf -> new intermediate -> cross-signed new root -> old root) and
 * against one that holds only the new root (DESIGN.md invariant 5) with one served chain:
 * verifiers that take the first matching issuer (OpenSSL) find the trusted new root first
 * and otherwise the cross-signed twin. Cross-signing the intermediate instead would need a
 * different chain order per trust store. The new root is active at once; the old one stays in the roots
 * list until tidy finds every leaf under it expired.
 */
#include "decide_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "csr.h"
#include "duration.h"
#include "key.h"

static const char *const cfg_durations[] = {
    "LeafCertTTL", "IntermediateCertTTL", "RootCertTTL",     "DefaultTTL",
    "MaxTTL",      "CrlExpiry",           "CrlRebuildGrace", "CrlDeltaRebuildInterval"};

/* Vault's config/crl names (and ours) for the CRL fields, normalized to the stored names. */
static const char *const cfg_aliases[][2] = {
    {"expiry", "CrlExpiry"},
    {"auto_rebuild", "CrlAutoRebuild"},
    {"enable_delta", "CrlEnableDelta"},
    {"delta_rebuild_interval", "CrlDeltaRebuildInterval"},
    {"auto_rebuild_grace_period", "CrlRebuildGrace"},
    {"max_crl_entries", "CrlMaxEntries"},
    {"crl_base_url", "CrlBaseURL"},
};

static const char *cfg_name(const char *k)
{
    size_t i;

    for (i = 0; i < sizeof(cfg_aliases) / sizeof(cfg_aliases[0]); i++) {
        if (strcmp(k, cfg_aliases[i][0]) == 0) {
            return cfg_aliases[i][1];
        }
    }
    return k;
}

/* The CRL fields without a duration: flags, the entry limit and the base URL. */
static int cfg_crl_field(struct lca_val *cfg, const char *k, const struct lca_val *v,
                         struct lca_err *err)
{
    int64_t n;

    if (strcmp(k, "CrlAutoRebuild") == 0 || strcmp(k, "CrlEnableDelta") == 0) {
        lca_val_map_set_bool(cfg, k,
                             lca_val_kind(v) == LCA_VAL_STR ? strcmp(lca_val_str(v), "true") == 0
                                                            : lca_val_bool(v));
        return LCA_OK;
    }
    if (strcmp(k, "CrlMaxEntries") == 0) {
        n = lca_val_kind(v) == LCA_VAL_STR ? strtoll(lca_val_str(v), NULL, 10) : lca_val_int(v);
        if (n < -1 || n == 0) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_config",
                               "max_crl_entries must be -1 (unlimited) or positive");
        }
        lca_val_map_set_int(cfg, k, n);
        return LCA_OK;
    }
    if (lca_val_str(v) == NULL || strlen(lca_val_str(v)) > 400 ||
        (lca_val_str(v)[0] != '\0' && strncmp(lca_val_str(v), "http", 4) != 0)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_config",
                           "crl_base_url must be an http(s) URL of at most 400 bytes");
    }
    lca_val_map_set_str(cfg, k, lca_val_str(v));
    return LCA_OK;
}
static const char *const cfg_lists[] = {"issuing_certificates", "crl_distribution_points",
                                        "ocsp_servers"};

static int is_one_of(const char *k, const char *const *set, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcmp(k, set[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Copies one Config field into cfg, normalized. BAD_INPUT for unknown or invalid fields. */
static int cfg_field(struct lca_val *cfg, const char *k, const struct lca_val *v,
                     struct lca_err *err)
{
    int64_t secs;
    struct lca_val *list;

    k = cfg_name(k);
    if (is_one_of(k, cfg_durations, 8)) {
        if (lca_duration_from_val(v, 0, &secs, err) != LCA_OK) {
            return LCA_FAIL;
        }
        lca_val_map_set_int(cfg, k, secs);
    } else if (is_one_of(k, cfg_lists, 3)) {
        if ((list = lca_decide_list(v)) == NULL) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_config", "%s must be a list", k);
        }
        lca_val_map_set(cfg, k, list);
    } else if (strcmp(k, "PrivateKeyType") == 0 || strcmp(k, "key_ref") == 0 ||
               strcmp(k, "TrustDomain") == 0 || strcmp(k, "CommonName") == 0) {
        if (lca_val_str(v) == NULL) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_config", "%s must be a string", k);
        }
        lca_val_map_set_str(cfg, k, lca_val_str(v));
    } else if (strcmp(k, "PrivateKeyBits") == 0) {
        lca_val_map_set_int(cfg, k,
                            lca_val_kind(v) == LCA_VAL_STR ? strtoll(lca_val_str(v), NULL, 10)
                                                           : lca_val_int(v));
    } else if (strcmp(k, "CrlAutoRebuild") == 0 || strcmp(k, "CrlEnableDelta") == 0 ||
               strcmp(k, "CrlMaxEntries") == 0 || strcmp(k, "CrlBaseURL") == 0) {
        return cfg_crl_field(cfg, k, v, err);
    } else if (strcmp(k, "PrivateKey") == 0 || strcmp(k, "RootCert") == 0) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "secret_in_command",
                           "%s is not accepted in a command: private keys never travel on "
                           "Kafka; import the key with `ledgerca key import` and pass key_ref",
                           k);
    } else {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_config",
                           "unknown CA configuration field '%.64s'", k);
    }
    return LCA_OK;
}

/* The new configuration: the current one (or defaults) updated by a config.update payload in
 * Consul's shape {Provider, Config{...}, ForceWithoutCrossSigning} or flat. */
static int cfg_merge(const struct lca_state *st, const struct lca_val *payload,
                     const char *cluster_id, struct lca_val **out, struct lca_err *err)
{
    struct lca_val *cfg = lca_state_config(st) != NULL ? lca_val_clone(lca_state_config(st))
                                                       : lca_val_new_map();
    const struct lca_val *inner = lca_val_map_get(payload, "Config");
    const struct lca_val *src = inner != NULL ? inner : payload;
    const char *prov = lca_val_map_get_str(payload, "Provider");
    size_t i;

    lca_val_map_del(cfg, "key_ref");
    for (i = 0; i < lca_val_len(src); i++) {
        const char *k = lca_val_map_key_at(src, i);
        if (strcmp(k, "Provider") == 0 || strcmp(k, "ForceWithoutCrossSigning") == 0 ||
            strcmp(k, "Config") == 0) {
            continue;
        }
        if (cfg_field(cfg, k, lca_val_map_val_at(src, i), err) != LCA_OK) {
            lca_val_free(cfg);
            return LCA_FAIL;
        }
    }
    if (prov != NULL && strcmp(prov, "consul") != 0 && strcmp(prov, "ledgerca") != 0) {
        lca_val_free(cfg);
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_config",
                           "unsupported CA provider '%.64s' (supported: consul)", prov);
    }
    lca_val_map_set_str(cfg, "Provider", "consul");
    if (lca_val_map_get_str(cfg, "ClusterID") == NULL) {
        lca_val_map_set_str(cfg, "ClusterID", cluster_id != NULL ? cluster_id : "dc1");
    }
    *out = cfg;
    return LCA_OK;
}

static int cfg_keyspec(const struct lca_val *cfg, struct lca_keyspec *spec, struct lca_err *err)
{
    const char *t = lca_val_map_get_str(cfg, "PrivateKeyType");

    return lca_key_spec_parse(t != NULL ? t : "ec",
                              (int)lca_val_map_get_int(cfg, "PrivateKeyBits", 0), spec, err);
}

static struct lca_val *issuer_payload(const char *id, const char *name, const char *kind,
                                      const char *key_id, const char *parent, const char *twin,
                                      const char *root, const uint8_t *der, size_t len)
{
    struct lca_val *p = lca_val_new_map();

    lca_val_map_set_str(p, "issuer_id", id);
    lca_val_map_set_str(p, "issuer_name", name);
    lca_val_map_set_str(p, "kind", kind);
    lca_val_map_set_str(p, "key_id", key_id);
    lca_val_map_set_str(p, "parent_id", parent);
    lca_val_map_set_str(p, "twin_of", twin);
    lca_val_map_set_str(p, "root_id", root);
    lca_val_map_set_bin(p, "certificate", der, len);
    lca_val_map_set_int(p, "usage", 2 | 4 | 8);
    lca_val_map_set_str(p, "leaf_not_after_behavior", "err");
    return p;
}

/* What a new hierarchy produced, for the events and the reply. */
struct hierarchy {
    char root_id[37], int_id[37];
    X509 *root, *inter;
    EVP_PKEY *int_key;
};

static void hierarchy_cleanup(struct hierarchy *h)
{
    X509_free(h->root);
    X509_free(h->inter);
    EVP_PKEY_free(h->int_key);
}

static int emit_cert_issuer(struct lca_decision *d, X509 *c, const char *id, const char *name,
                            const char *kind, const char *key_id, const char *parent,
                            const char *twin, const char *root, struct lca_err *err)
{
    uint8_t *der = NULL;
    size_t len = 0;
    int rc;

    if (lca_cert_to_der(c, &der, &len, err) != LCA_OK) {
        return LCA_FAIL;
    }
    rc = lca_decide_emit(d, LCA_EVT_ISSUER_CREATED,
                         issuer_payload(id, name, kind, key_id, parent, twin, root, der, len),
                         err);
    free(der);
    return rc;
}

static int make_root(const struct lca_val *cfg, EVP_PKEY *key, const char *id, int64_t now,
                     struct lca_env *env, X509 **out, struct lca_err *err)
{
    struct lca_cert_req req;
    uint8_t serial[LCA_SERIAL_LEN];
    char cn[128], uri[320];
    const char *uris[1];
    const char *td = lca_val_map_get_str(cfg, "TrustDomain");

    if (lca_decide_serial(env, serial, err) != LCA_OK) {
        return LCA_FAIL;
    }
    snprintf(cn, sizeof(cn), "ledgerca %.24s Root CA %.8s",
             lca_val_map_get_str(cfg, "ClusterID"), id);
    snprintf(uri, sizeof(uri), "spiffe://%.255s", td != NULL ? td : "");
    uris[0] = uri;
    memset(&req, 0, sizeof(req));
    req.common_name = lca_val_map_get_str(cfg, "CommonName") != NULL
                          ? lca_val_map_get_str(cfg, "CommonName")
                          : cn;
    req.uris = uris;
    req.n_uri = td != NULL ? 1 : 0;
    req.not_before = now - 60;
    req.not_after = now + lca_val_map_get_int(cfg, "RootCertTTL", 87600 * 3600);
    req.serial = serial;
    req.serial_len = sizeof(serial);
    req.is_ca = 1;
    req.path_len = -1;
    return lca_cert_self_sign(key, &req, out, err);
}

static int make_intermediate(const struct lca_state *st, const struct lca_val *cfg,
                             struct lca_cert_signer *s, EVP_PKEY *key, const char *id,
                             int64_t now, struct lca_env *env, X509 **out, struct lca_err *err)
{
    struct lca_cert_req req;
    uint8_t serial[LCA_SERIAL_LEN], *spki = NULL;
    size_t spki_len = 0;
    char cn[128];
    const char *storage[24];
    struct lca_urls urls;
    int rc;

    if (lca_decide_serial(env, serial, err) != LCA_OK ||
        lca_key_spki_der(key, &spki, &spki_len, err) != LCA_OK) {
        return LCA_FAIL;
    }
    snprintf(cn, sizeof(cn), "ledgerca %.24s Signing CA %.8s",
             lca_val_map_get_str(cfg, "ClusterID"), id);
    lca_decide_cfg_urls(st, &urls, storage);
    memset(&req, 0, sizeof(req));
    req.common_name = cn;
    req.not_before = now - 60;
    req.not_after = now + lca_val_map_get_int(cfg, "IntermediateCertTTL", 8760 * 3600);
    req.serial = serial;
    req.serial_len = sizeof(serial);
    req.is_ca = 1;
    req.path_len = 0;
    req.urls = &urls;
    rc = lca_cert_sign(s, &req, spki, spki_len, out, err);
    free(spki);
    return rc;
}

/* An issuer publishes an empty CRL as it is created, as Vault does, so `crl` and
 * `openssl verify -crl_check` work before the first revocation. */
static int first_crl(const struct lca_state *st, X509 *cert, const char *id, const char *key_id,
                     struct lca_env *env, struct lca_decision *d, struct lca_err *err)
{
    struct lca_issuer iss;

    memset(&iss, 0, sizeof(iss));
    snprintf(iss.id, sizeof(iss.id), "%s", id);
    snprintf(iss.key_id, sizeof(iss.key_id), "%s", key_id);
    iss.cert = cert;
    return lca_decide_leaf_crl_emit(st, &iss, NULL, env, d, err);
}

/* Creates root + intermediate keys and certificates and emits their IssuerCreated events
 * and first (empty) CRLs. */
static int new_hierarchy(const struct lca_state *st, const struct lca_val *cfg,
                         EVP_PKEY *root_key, struct lca_env *env, int64_t now,
                         struct lca_decision *d, struct hierarchy *h, struct lca_err *err)
{
    struct lca_keyspec spec;
    struct lca_cert_signer *s = NULL;
    char root_kid[65], int_kid[65];
    int rc = LCA_FAIL;

    if (cfg_keyspec(cfg, &spec, err) != LCA_OK || lca_decide_uuid(env, h->root_id, err) != LCA_OK ||
        lca_decide_uuid(env, h->int_id, err) != LCA_OK ||
        env->keygen(env->ctx, &spec, &h->int_key, err) != LCA_OK ||
        lca_decide_key_put(env, root_key, root_kid, err) != LCA_OK ||
        lca_decide_key_put(env, h->int_key, int_kid, err) != LCA_OK ||
        make_root(cfg, root_key, h->root_id, now, env, &h->root, err) != LCA_OK ||
        lca_cert_signer_new(h->root, root_key, &s, err) != LCA_OK ||
        make_intermediate(st, cfg, s, h->int_key, h->int_id, now, env, &h->inter, err) != LCA_OK) {
        goto out;
    }
    if (emit_cert_issuer(d, h->root, h->root_id, "", "root", root_kid, "", "", h->root_id, err) !=
            LCA_OK ||
        emit_cert_issuer(d, h->inter, h->int_id, "", "intermediate", int_kid, h->root_id, "",
                         h->root_id, err) != LCA_OK ||
        first_crl(st, h->root, h->root_id, root_kid, env, d, err) != LCA_OK ||
        first_crl(st, h->inter, h->int_id, int_kid, env, d, err) != LCA_OK) {
        goto out;
    }
    rc = LCA_OK;
out:
    lca_cert_signer_free(s);
    return rc;
}

static int emit_activation(struct lca_decision *d, const struct hierarchy *h,
                           const char *previous, struct lca_err *err)
{
    struct lca_val *p = lca_val_new_map();
    char *pem = NULL;
    size_t len = 0;

    lca_val_map_set_str(p, "root_id", h->root_id);
    lca_val_map_set_str(p, "default_issuer_id", h->int_id);
    lca_val_map_set_str(p, "previous_root_id", previous);
    if (lca_cert_to_pem(h->root, &pem, &len, err) != LCA_OK) {
        lca_val_free(p);
        return LCA_FAIL;
    }
    lca_val_map_set_str(d->result, "root_id", h->root_id);
    lca_val_map_set_str(d->result, "issuer_id", h->int_id);
    lca_val_map_set_str(d->result, "certificate", pem);
    free(pem);
    return lca_decide_emit(d, LCA_EVT_ROOT_ACTIVATED, p, err);
}

static int emit_config(struct lca_decision *d, struct lca_val *cfg, struct lca_err *err)
{
    struct lca_val *p = lca_val_new_map();

    lca_val_map_set(p, "config", cfg);
    return lca_decide_emit(d, LCA_EVT_CONFIG_UPDATED, p, err);
}

/* Root key: imported (key_ref, placed in the key store out of band) or generated. */
static int root_key(const struct lca_val *cfg, struct lca_env *env, EVP_PKEY **out,
                    struct lca_err *err)
{
    struct lca_keyspec spec;
    const char *ref = lca_val_map_get_str(cfg, "key_ref");
    EVP_PKEY *k = NULL;

    if (ref != NULL) {
        if (env->key_get(env->ctx, ref, &k, err) != LCA_OK) {
            return err->cls == LCA_ERR_RETRIABLE
                       ? LCA_FAIL
                       : lca_err_set(err, LCA_ERR_BAD_INPUT, "unknown_key",
                                     "key_ref %.80s is not in the key store", ref);
        }
        if (lca_key_check(k, err) != LCA_OK || EVP_PKEY_up_ref(k) != 1) {
            return LCA_FAIL;
        }
        *out = k;
        return LCA_OK;
    }
    if (cfg_keyspec(cfg, &spec, err) != LCA_OK) {
        return LCA_FAIL;
    }
    return env->keygen(env->ctx, &spec, out, err);
}

int lca_decide_ca_bootstrap(const struct lca_state *st, const struct lca_val *config,
                            const char *cluster_id, struct lca_env *env, struct lca_decision *d,
                            struct lca_err *err)
{
    struct lca_val *empty = lca_val_new_map(), *cfg = NULL;
    struct hierarchy h;
    EVP_PKEY *rk = NULL;
    char td[64];
    int64_t now;
    int rc = LCA_FAIL;

    memset(&h, 0, sizeof(h));
    if (lca_state_bootstrapped(st)) {
        rc = lca_decide_reject(d, NULL, "already_bootstrapped", "the CA already has a root");
        goto out;
    }
    if (cfg_merge(st, config != NULL ? config : empty, cluster_id, &cfg, err) != LCA_OK) {
        rc = lca_decide_reject_err(d, NULL, err);
        goto out;
    }
    if (lca_val_map_get_str(cfg, "TrustDomain") == NULL) {
        if (lca_decide_uuid(env, td, err) != LCA_OK) {
            goto out;
        }
        strcat(td, ".consul"); /* Consul's form: <cluster uuid>.consul */
        lca_val_map_set_str(cfg, "TrustDomain", td);
    }
    if (lca_decide_now(env, &now, err) != LCA_OK) {
        goto out;
    }
    if (root_key(cfg, env, &rk, err) != LCA_OK) {
        rc = lca_decide_reject_err(d, NULL, err);
        goto out;
    }
    lca_val_map_del(cfg, "key_ref");
    if (emit_config(d, lca_val_clone(cfg), err) != LCA_OK ||
        new_hierarchy(st, cfg, rk, env, now, d, &h, err) != LCA_OK ||
        emit_activation(d, &h, "", err) != LCA_OK) {
        rc = err->cls == LCA_ERR_BAD_INPUT ? lca_decide_reject_err(d, NULL, err) : LCA_FAIL;
        goto out;
    }
    rc = LCA_OK;
out:
    hierarchy_cleanup(&h);
    EVP_PKEY_free(rk);
    lca_val_free(cfg);
    lca_val_free(empty);
    return rc;
}

/* Rotation proper: new hierarchy, cross-signed by the old root unless forced. */
static int rotate(const struct lca_state *st, const struct lca_command *cmd, struct lca_val *cfg,
                  int force, struct lca_env *env, struct lca_decision *d, struct lca_err *err)
{
    const struct lca_issuer *old = lca_state_active_root(st);
    struct lca_cert_signer *olds = NULL;
    struct hierarchy h;
    EVP_PKEY *rk = NULL;
    X509 *cross = NULL;
    uint8_t serial[LCA_SERIAL_LEN];
    char cross_id[37], kid[65];
    int64_t now;
    int rc = LCA_FAIL;

    memset(&h, 0, sizeof(h));
    if (lca_decide_now(env, &now, err) != LCA_OK) {
        goto out;
    }
    if (!force && lca_decide_signer(old, env, &olds, err) != LCA_OK) {
        rc = err->cls == LCA_ERR_RETRIABLE
                 ? LCA_FAIL
                 : lca_decide_reject(d, cmd, "cross_sign_unavailable",
                                     "the old root cannot cross-sign (%s); set "
                                     "force_without_cross_signing to rotate anyway",
                                     err->msg);
        goto out;
    }
    if (root_key(cfg, env, &rk, err) != LCA_OK) {
        rc = lca_decide_reject_err(d, cmd, err);
        goto out;
    }
    lca_val_map_del(cfg, "key_ref");
    if (emit_config(d, lca_val_clone(cfg), err) != LCA_OK ||
        new_hierarchy(st, cfg, rk, env, now, d, &h, err) != LCA_OK) {
        goto out;
    }
    if (!force) {
        if (lca_decide_serial(env, serial, err) != LCA_OK ||
            lca_decide_uuid(env, cross_id, err) != LCA_OK ||
            lca_cert_resign(olds, h.root, serial, sizeof(serial), now - 60,
                            lca_cert_not_after(old->cert) < lca_cert_not_after(h.root)
                                ? lca_cert_not_after(old->cert)
                                : lca_cert_not_after(h.root),
                            NULL, &cross, err) != LCA_OK ||
            lca_key_id(rk, kid, err) != LCA_OK ||
            emit_cert_issuer(d, cross, cross_id, "", "cross-signed", kid, old->id, h.root_id,
                             h.root_id, err) != LCA_OK) {
            goto out;
        }
    }
    rc = emit_activation(d, &h, old->id, err);
out:
    X509_free(cross);
    hierarchy_cleanup(&h);
    EVP_PKEY_free(rk);
    lca_decide_signer_done(env, olds);
    return rc;
}

static int rotation_needed(const struct lca_state *st, const struct lca_val *cfg)
{
    const struct lca_val *cur = lca_state_config(st);
    const char *a = lca_val_map_get_str(cur, "PrivateKeyType");
    const char *b = lca_val_map_get_str(cfg, "PrivateKeyType");

    if (lca_val_map_get_str(cfg, "key_ref") != NULL) {
        return 1;
    }
    if ((a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0)) {
        return 1;
    }
    return lca_val_map_get_int(cur, "PrivateKeyBits", 0) !=
           lca_val_map_get_int(cfg, "PrivateKeyBits", 0);
}

int lca_decide_ca_config(const struct lca_state *st, const struct lca_command *cmd,
                         struct lca_env *env, struct lca_decision *d, struct lca_err *err)
{
    struct lca_val *cfg = NULL;
    int force = lca_val_map_get_bool(cmd->payload, "ForceWithoutCrossSigning", 0);
    struct lca_keyspec spec;
    int rc;

    if (!lca_state_bootstrapped(st)) {
        return lca_decide_ca_bootstrap(st, cmd->payload, NULL, env, d, err);
    }
    if (cfg_merge(st, cmd->payload, NULL, &cfg, err) != LCA_OK ||
        cfg_keyspec(cfg, &spec, err) != LCA_OK) {
        lca_val_free(cfg);
        return lca_decide_reject_err(d, cmd, err);
    }
    if (rotation_needed(st, cfg)) {
        rc = rotate(st, cmd, cfg, force, env, d, err); /* Consul: a new root key rotates */
    } else {
        rc = emit_config(d, lca_val_clone(cfg), err);
    }
    lca_val_free(cfg);
    return rc;
}

int lca_decide_ca_rotate(const struct lca_state *st, const struct lca_command *cmd,
                         struct lca_env *env, struct lca_decision *d, struct lca_err *err)
{
    struct lca_val *cfg = lca_val_clone(lca_state_config(st));
    const struct lca_val *p = cmd->payload;
    const char *kt = lca_val_map_get_str(p, "key_type"), *ref = lca_val_map_get_str(p, "key_ref");
    int64_t ttl = 0;
    struct lca_keyspec spec;
    int rc;

    if (kt != NULL) {
        lca_val_map_set_str(cfg, "PrivateKeyType", kt);
        lca_val_map_set_int(cfg, "PrivateKeyBits", lca_val_map_get_int(p, "key_bits", 0));
    }
    if (ref != NULL) {
        lca_val_map_set_str(cfg, "key_ref", ref);
    }
    if (lca_val_map_get_str(p, "common_name") != NULL) {
        lca_val_map_set_str(cfg, "CommonName", lca_val_map_get_str(p, "common_name"));
    }
    if (lca_duration_from_val(lca_val_map_get(p, "ttl"), 0, &ttl, err) != LCA_OK ||
        cfg_keyspec(cfg, &spec, err) != LCA_OK) {
        lca_val_free(cfg);
        return lca_decide_reject_err(d, cmd, err);
    }
    if (ttl > 0) {
        lca_val_map_set_int(cfg, "RootCertTTL", ttl);
    }
    rc = rotate(st, cmd, cfg,
                lca_val_map_get_bool(p, "force_without_cross_signing", 0) ||
                    lca_val_map_get_bool(p, "ForceWithoutCrossSigning", 0),
                env, d, err);
    lca_val_free(cfg);
    return rc;
}

/* ---- cross-sign and reissue (seed 002) ---- */

static const struct lca_issuer *ref_or_reject(const struct lca_state *st,
                                              const struct lca_command *cmd, const char *field,
                                              const char *dflt, struct lca_decision *d, int *rc)
{
    const char *ref = lca_val_map_get_str(cmd->payload, field);
    const struct lca_issuer *iss = lca_state_issuer_ref(st, ref != NULL ? ref : dflt);

    if (iss == NULL) {
        *rc = lca_decide_reject(d, cmd, "unknown_issuer", "%s '%.80s' names no issuer", field,
                                ref != NULL ? ref : dflt);
    }
    return iss;
}

static int name_taken(const struct lca_state *st, const char *name)
{
    size_t i;

    for (i = 0; name != NULL && name[0] != '\0' && i < lca_state_issuer_count(st); i++) {
        if (strcmp(lca_state_issuer_at(st, i)->name, name) == 0) {
            return 1;
        }
    }
    return name != NULL && strcmp(name, "default") == 0;
}

/* Signs `tmpl` again with signer `by`, as a new issuer of the given kind twin of `twin`. */
static int resign(const struct lca_state *st, const struct lca_command *cmd,
                  const struct lca_issuer *twin, const struct lca_issuer *by, const char *kind,
                  struct lca_env *env, struct lca_decision *d, struct lca_err *err)
{
    struct lca_cert_signer *s = NULL;
    X509 *out = NULL;
    uint8_t serial[LCA_SERIAL_LEN];
    char id[37], *pem = NULL;
    const char *name = lca_val_map_get_str(cmd->payload, "issuer_name");
    int64_t now, ttl;
    size_t len;
    int rc = LCA_FAIL;

    if (name_taken(st, name)) {
        return lca_decide_reject(d, cmd, "name_taken", "issuer_name '%.80s' is in use", name);
    }
    if (lca_duration_from_val(lca_val_map_get(cmd->payload, "ttl"),
                              twin->not_after - twin->not_before, &ttl, err) != LCA_OK) {
        return lca_decide_reject_err(d, cmd, err);
    }
    if (lca_decide_now(env, &now, err) != LCA_OK || lca_decide_serial(env, serial, err) != LCA_OK ||
        lca_decide_uuid(env, id, err) != LCA_OK || lca_decide_signer(by, env, &s, err) != LCA_OK ||
        lca_cert_resign(s, twin->cert, serial, sizeof(serial), now - 60, now + ttl, NULL, &out,
                        err) != LCA_OK ||
        emit_cert_issuer(d, out, id, name != NULL ? name : "", kind, twin->key_id, by->id,
                         twin->id, twin->root_id,
                         err) != LCA_OK ||
        lca_cert_to_pem(out, &pem, &len, err) != LCA_OK) {
        goto out;
    }
    lca_val_map_set_str(d->result, "issuer_id", id);
    lca_val_map_set_str(d->result, "certificate", pem);
    lca_val_map_set_str(d->result, "issuing_ca", by->pem);
    rc = LCA_OK;
out:
    free(pem);
    X509_free(out);
    lca_decide_signer_done(env, s);
    return rc;
}

int lca_decide_ca_cross_sign(const struct lca_state *st, const struct lca_command *cmd,
                             struct lca_env *env, struct lca_decision *d, struct lca_err *err)
{
    int rc = LCA_OK;
    const struct lca_issuer *target = ref_or_reject(st, cmd, "issuer_ref", "default", d, &rc);
    const struct lca_issuer *by;

    if (target == NULL) {
        return rc;
    }
    if ((by = ref_or_reject(st, cmd, "signer_ref", lca_state_active_root(st)->id, d, &rc)) ==
        NULL) {
        return rc;
    }
    if (strcmp(by->key_id, target->key_id) == 0 || strcmp(by->id, target->parent_id) == 0) {
        return lca_decide_reject(d, cmd, "bad_cross_sign",
                                 "signer_ref must be another issuer than the target's own "
                                 "key or parent");
    }
    return resign(st, cmd, target, by, "cross-signed", env, d, err);
}

int lca_decide_ca_reissue(const struct lca_state *st, const struct lca_command *cmd,
                          struct lca_env *env, struct lca_decision *d, struct lca_err *err)
{
    int rc = LCA_OK;
    const struct lca_issuer *target =
        ref_or_reject(st, cmd, "issuer_ref", lca_state_active_root(st)->id, d, &rc);
    const struct lca_issuer *by;

    if (target == NULL) {
        return rc;
    }
    /* A root is reissued by itself; anything else by the issuer that signed it. */
    by = target->kind == LCA_ISSUER_ROOT || target->kind == LCA_ISSUER_REISSUED
             ? target
             : lca_state_issuer_ref(st, target->parent_id);
    if (by == NULL) {
        return lca_decide_reject(d, cmd, "no_parent",
                                 "issuer %s was signed outside this CA and cannot be reissued "
                                 "here",
                                 target->id);
    }
    return resign(st, cmd, target, by, "reissued", env, d, err);
}

/* ---- issuer.update ---- */

static int usage_parse(const struct lca_val *v, unsigned *out, struct lca_err *err)
{
    static const char *const names[] = {"read-only", "issuing-certificates", "crl-signing",
                                        "ocsp-signing"};
    struct lca_val *list = lca_decide_list(v);
    size_t i, j;
    unsigned u = 0;

    for (i = 0; list != NULL && i < lca_val_len(list); i++) {
        const char *s = lca_val_str(lca_val_arr_at(list, i));
        for (j = 0; j < 4 && strcmp(s, names[j]) != 0; j++) {
        }
        if (j == 4) {
            lca_val_free(list);
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_usage", "unknown usage '%.40s'", s);
        }
        u |= 1u << j;
    }
    lca_val_free(list);
    if (list == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_usage", "usage must be a list");
    }
    *out = u;
    return LCA_OK;
}

/* Resolves manual_chain refs ("self" = the target) to issuer ids and validates the order. */
static int manual_chain(const struct lca_state *st, const struct lca_issuer *target,
                        const struct lca_val *v, struct lca_val **out, struct lca_err *err)
{
    struct lca_val *list = lca_decide_list(v), *ids = lca_val_new_arr();
    struct lca_chain_in in[64];
    size_t idx[LCA_CHAIN_MAX], i, n = lca_state_issuer_count(st);
    int rc = LCA_FAIL;

    if (list == NULL || lca_val_len(list) > LCA_CHAIN_MAX || n > 64) {
        lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_chain", "manual_chain must be a list of at "
                    "most %d issuers", LCA_CHAIN_MAX);
        goto out;
    }
    for (i = 0; i < n; i++) {
        in[i].cert = lca_state_issuer_at(st, i)->cert;
        in[i].issuer_id = lca_state_issuer_at(st, i)->id;
    }
    for (i = 0; i < lca_val_len(list); i++) {
        const char *ref = lca_val_str(lca_val_arr_at(list, i));
        const struct lca_issuer *m =
            strcmp(ref, "self") == 0 ? target : lca_state_issuer_ref(st, ref);
        if (m == NULL) {
            lca_err_set(err, LCA_ERR_BAD_INPUT, "unknown_issuer",
                        "manual_chain entry %zu ('%.80s') names no issuer", i, ref);
            goto out;
        }
        idx[i] = lca_state_issuer_index(st, m);
        lca_val_arr_push(ids, lca_val_new_str(m->id));
    }
    if (lca_val_len(list) > 0 &&
        lca_chain_check_manual(in, n, lca_state_issuer_index(st, target), idx, lca_val_len(list),
                               err) != LCA_OK) {
        goto out;
    }
    *out = ids;
    ids = NULL;
    rc = LCA_OK;
out:
    lca_val_free(list);
    lca_val_free(ids);
    return rc;
}

int lca_decide_ca_issuer_update(const struct lca_state *st, const struct lca_command *cmd,
                                struct lca_env *env, struct lca_decision *d,
                                struct lca_err *err)
{
    const struct lca_val *p = cmd->payload, *v;
    struct lca_val *ev = lca_val_new_map(), *chain = NULL;
    const char *name = lca_val_map_get_str(p, "issuer_name");
    enum lca_notafter na = LCA_NOTAFTER_ERR;
    unsigned usage = 0;
    int rc = LCA_OK, rejected = 0;
    struct lca_val *shard_ev;
    const struct lca_issuer *iss = ref_or_reject(st, cmd, "issuer_ref", "default", d, &rc);

    if (iss == NULL) {
        lca_val_free(ev);
        return rc;
    }
    lca_val_map_set_str(ev, "issuer_id", iss->id);
    if (name != NULL && strcmp(name, iss->name) != 0) {
        if (name_taken(st, name)) {
            lca_val_free(ev);
            return lca_decide_reject(d, cmd, "name_taken", "issuer_name '%.80s' is in use", name);
        }
        lca_val_map_set_str(ev, "issuer_name", name);
    }
    if (((v = lca_val_map_get(p, "usage")) != NULL &&
         (usage_parse(v, &usage, err) != LCA_OK ||
          (lca_val_map_set_int(ev, "usage", usage), 0))) ||
        ((v = lca_val_map_get(p, "leaf_not_after_behavior")) != NULL &&
         (lca_role_notafter_parse(lca_val_str(v), &na, err) != LCA_OK ||
          (lca_val_map_set_str(ev, "leaf_not_after_behavior", lca_role_notafter_name(na)), 0))) ||
        ((v = lca_val_map_get(p, "manual_chain")) != NULL &&
         (manual_chain(st, iss, v, &chain, err) != LCA_OK ||
          (lca_val_map_set(ev, "manual_chain", chain), 0)))) {
        lca_val_free(ev);
        return lca_decide_reject_err(d, cmd, err);
    }
    if (lca_decide_crl_shard_update(st, cmd, iss, ev, &rejected, d) != LCA_OK || rejected) {
        lca_val_free(ev);
        return rejected ? LCA_OK : LCA_FAIL;
    }
    lca_val_map_set_str(d->result, "issuer_id", iss->id);
    if (lca_val_map_get(ev, "crl_shards") == NULL) {
        return lca_decide_emit(d, LCA_EVT_ISSUER_UPDATED, ev, err);
    }
    lca_val_map_set_int(d->result, "crl_shards", lca_val_map_get_int(ev, "crl_shards", 0));
    shard_ev = lca_val_clone(ev);
    rc = lca_decide_emit(d, LCA_EVT_ISSUER_UPDATED, ev, err) != LCA_OK ||
                 lca_decide_crl_first_shards(st, iss, shard_ev, env, d, err) != LCA_OK
             ? LCA_FAIL
             : LCA_OK;
    lca_val_free(shard_ev);
    return rc;
}

/* ---- sign-intermediate: a secondary cluster's CSR signed by this CA (seed 001) ---- */

int lca_decide_ca_sign_intermediate(const struct lca_state *st, const struct lca_command *cmd,
                                    struct lca_env *env, struct lca_decision *d,
                                    struct lca_err *err)
{
    const struct lca_val *p = cmd->payload;
    struct lca_csr *csr = NULL;
    struct lca_cert_signer *s = NULL;
    struct lca_val *pdoms = NULL, *ev = NULL;
    struct lca_cert_req req;
    struct lca_urls urls;
    const char *storage[24], *doms[32], *csr_pem = lca_val_map_get_str(p, "csr");
    char cdp[2200];
    const char *crl_slot[2];
    uint8_t serial[LCA_SERIAL_LEN], *der = NULL;
    const uint8_t *spki;
    size_t der_len = 0, spki_len = 0;
    int64_t now, ttl;
    char hex[64];
    int rc = LCA_OK;
    const struct lca_issuer *iss =
        ref_or_reject(st, cmd, "issuer_ref", lca_state_active_root(st)->id, d, &rc);

    if (iss == NULL) {
        return rc;
    }
    memset(&req, 0, sizeof(req));
    if (csr_pem == NULL) {
        return lca_decide_reject(d, cmd, "missing_field", "csr is required");
    }
    if (lca_csr_parse((const uint8_t *)csr_pem, strlen(csr_pem), &csr, err) != LCA_OK ||
        lca_duration_from_val(lca_val_map_get(p, "ttl"),
                              lca_decide_cfg_int(st, "IntermediateCertTTL"), &ttl,
                              err) != LCA_OK ||
        (pdoms = lca_decide_list(lca_val_map_get(p, "permitted_dns_domains"))) == NULL ||
        lca_decide_now(env, &now, err) != LCA_OK) {
        rc = pdoms == NULL && err->cls == LCA_ERR_NONE
                 ? lca_decide_reject(d, cmd, "bad_field", "permitted_dns_domains must be a list")
                 : lca_decide_reject_err(d, cmd, err);
        goto out;
    }
    req.common_name = lca_val_map_get_str(p, "common_name") != NULL
                          ? lca_val_map_get_str(p, "common_name")
                          : lca_csr_common_name(csr);
    req.not_before = now - 60;
    req.not_after = now + ttl;
    if (lca_role_apply_notafter(iss->leaf_not_after, iss->not_after, &req.not_after, err) !=
        LCA_OK) {
        rc = lca_decide_reject_err(d, cmd, err);
        goto out;
    }
    req.is_ca = 1;
    req.path_len = (int)lca_val_map_get_int(p, "max_path_length", -1);
    req.permitted_dns_domains = doms;
    req.n_permitted = lca_decide_strs(pdoms, doms, 32);
    lca_decide_cfg_urls(st, &urls, storage);
    req.urls = &urls;
    req.serial = serial;
    req.serial_len = sizeof(serial);
    spki = lca_csr_spki(csr, &spki_len);
    if (lca_decide_serial(env, serial, err) != LCA_OK ||
        lca_decide_signer(iss, env, &s, err) != LCA_OK ||
        (lca_decide_crl_cdp(st, iss, serial, sizeof(serial), &urls, cdp, sizeof(cdp),
                            crl_slot),
         0) ||
        lca_cert_sign_der(s, &req, spki, spki_len, &der, &der_len, err) != LCA_OK) {
        rc = LCA_FAIL;
        goto out;
    }
    lca_state_serial_format(serial, sizeof(serial), hex, sizeof(hex));
    ev = lca_val_new_map();
    lca_val_map_set_str(ev, "serial_number", hex);
    lca_val_map_set_str(ev, "issuer_id", iss->id);
    lca_val_map_set_int(ev, "not_after", req.not_after);
    lca_val_map_set_str(ev, "kind", "intermediate");
    lca_val_map_set_bin(ev, "certificate", der, der_len);
    lca_val_map_set_str(ev, "role", "");
    lca_val_map_set_str(ev, "common_name", req.common_name != NULL ? req.common_name : "");
    lca_decide_result_cert(d, st, iss, der, der_len, serial, sizeof(serial), req.not_after);
    rc = lca_decide_emit(d, LCA_EVT_CERT_ISSUED, ev, err);
out:
    free(der);
    lca_val_free(pdoms);
    lca_decide_signer_done(env, s);
    lca_csr_free(csr);
    return rc;
}
