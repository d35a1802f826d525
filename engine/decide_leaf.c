/*
 * decide_leaf — leaf certificates (issue, sign, sign-verbatim), revocation and CRLs, roles,
 * tidy. Roles follow Vault's PKI options (engine/role.h); a request naming `service` instead
 * of a role gets a Consul service leaf: a SPIFFE URI SAN under the trust domain
 * (spiffe://<trust-domain>/ns/<namespace>/dc/<cluster>/svc/<service>, <cluster> the deciding
 * cluster: env->cluster_id) and LeafCertTTL.
 */
#include "decide_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "crl.h"
#include "csr.h"
#include "duration.h"
#include "key.h"
#include "names.h"
#include "seal.h"

#define MAX_NAMES 100

/* The subject names of a request, borrowed from payload lists (and a CSR for sign). */
struct names {
    const char *cn;
    const char *dns[MAX_NAMES], *ips[MAX_NAMES], *uris[MAX_NAMES];
    size_t n_dns, n_ips, n_uris;
    struct lca_val *lists[3]; /* owned normalized lists */
    char spiffe[512];
};

static void names_cleanup(struct names *n)
{
    lca_val_free(n->lists[0]);
    lca_val_free(n->lists[1]);
    lca_val_free(n->lists[2]);
}

static int names_from_payload(const struct lca_val *p, struct names *n, struct lca_err *err)
{
    static const char *const fields[] = {"alt_names", "ip_sans", "uri_sans"};
    const char **dst[] = {n->dns, n->ips, n->uris};
    size_t *cnt[] = {&n->n_dns, &n->n_ips, &n->n_uris};
    size_t i;

    memset(n, 0, sizeof(*n));
    n->cn = lca_val_map_get_str(p, "common_name");
    for (i = 0; i < 3; i++) {
        if ((n->lists[i] = lca_decide_list(lca_val_map_get(p, fields[i]))) == NULL) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_field",
                               "%s must be a list or a comma-separated string", fields[i]);
        }
        if (lca_val_len(n->lists[i]) > MAX_NAMES) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "too_many_names",
                               "%s has more than %d entries", fields[i], MAX_NAMES);
        }
        *cnt[i] = lca_decide_strs(n->lists[i], dst[i], MAX_NAMES);
    }
    return LCA_OK;
}

/* Vault's use_csr_common_name / use_csr_sans (both default true for sign). */
static void names_add_csr(const struct lca_val *p, const struct lca_csr *csr, struct names *n)
{
    size_t i;

    if (n->cn == NULL && lca_val_map_get_bool(p, "use_csr_common_name", 1)) {
        n->cn = lca_csr_common_name(csr);
    }
    if (!lca_val_map_get_bool(p, "use_csr_sans", 1)) {
        return;
    }
    for (i = 0; i < lca_csr_dns_count(csr) && n->n_dns < MAX_NAMES; i++) {
        n->dns[n->n_dns++] = lca_csr_dns_at(csr, i);
    }
    for (i = 0; i < lca_csr_ip_count(csr) && n->n_ips < MAX_NAMES; i++) {
        n->ips[n->n_ips++] = lca_csr_ip_at(csr, i);
    }
    for (i = 0; i < lca_csr_uri_count(csr) && n->n_uris < MAX_NAMES; i++) {
        n->uris[n->n_uris++] = lca_csr_uri_at(csr, i);
    }
}

/* The policy of one leaf request, resolved. */
struct leaf {
    const struct lca_role *role; /* NULL for sign-verbatim and Consul service leaves */
    const struct lca_issuer *iss;
    const char *role_name;
    struct names names;
    int64_t ttl_req;
    enum lca_key_type key_type; /* of the subject key */
    unsigned ku, eku;
    int no_store;
};

static int leaf_emit(const struct lca_state *st, const struct lca_command *cmd, struct leaf *lf,
                     const uint8_t *spki, size_t spki_len, struct lca_env *env,
                     struct lca_decision *d, struct lca_err *err)
{
    struct lca_cert_signer *s = NULL;
    struct lca_cert_req req;
    struct lca_urls urls;
    const char *storage[24];
    uint8_t serial[LCA_SERIAL_LEN], *der = NULL;
    size_t der_len = 0;
    struct lca_val *ev;
    char hex[64], cdp[2200];
    const char *crl_slot[2];
    int64_t now, ttl;
    int rc = LCA_FAIL;

    ttl = lf->role != NULL ? lca_role_ttl(lf->role, lf->ttl_req, lca_decide_cfg_int(st, "DefaultTTL"),
                                          lca_decide_cfg_int(st, "MaxTTL"))
                           : (lf->ttl_req > 0 ? lf->ttl_req : lca_decide_cfg_int(st, "LeafCertTTL"));
    if (lca_decide_now(env, &now, err) != LCA_OK) {
        return LCA_FAIL;
    }
    memset(&req, 0, sizeof(req));
    req.not_before = now - 30;
    req.not_after = now + ttl;
    if (lca_role_apply_notafter(lf->iss->leaf_not_after, lf->iss->not_after, &req.not_after,
                                err) != LCA_OK) {
        return lca_decide_reject_err(d, cmd, err);
    }
    req.common_name = lf->names.cn;
    req.dns_names = lf->names.dns;
    req.n_dns = lf->names.n_dns;
    req.ip_addrs = lf->names.ips;
    req.n_ip = lf->names.n_ips;
    req.uris = lf->names.uris;
    req.n_uri = lf->names.n_uris;
    req.path_len = -1;
    /* keyEncipherment and dataEncipherment need an RSA key (RFC 5480 §3, RFC 8410 §5);
     * Vault's default role asks for them, so they are dropped for EC and Ed25519 keys. */
    req.key_usage = lf->key_type == LCA_KEY_RSA
                        ? lf->ku
                        : lf->ku & ~(unsigned)(LCA_KU_KEY_ENCIPHERMENT | LCA_KU_DATA_ENCIPHERMENT |
                                               (lf->key_type == LCA_KEY_ED25519
                                                    ? LCA_KU_KEY_AGREEMENT
                                                    : 0));
    req.ext_key_usage = lf->eku;
    lca_decide_cfg_urls(st, &urls, storage);
    req.urls = &urls;
    req.serial = serial;
    req.serial_len = sizeof(serial);
    if (lca_decide_serial(env, serial, err) != LCA_OK ||
        lca_decide_signer(lf->iss, env, &s, err) != LCA_OK) {
        goto out;
    }
    lca_decide_crl_cdp(st, lf->iss, serial, sizeof(serial), &urls, cdp, sizeof(cdp), crl_slot);
    if (lca_cert_sign_der(s, &req, spki, spki_len, &der, &der_len, err) != LCA_OK) {
        rc = lca_decide_reject_err(d, cmd, err); /* e.g. an unparsable IP SAN */
        goto out;
    }
    lca_state_serial_format(serial, sizeof(serial), hex, sizeof(hex));
    ev = lca_val_new_map();
    lca_val_map_set_str(ev, "serial_number", hex);
    lca_val_map_set_str(ev, "issuer_id", lf->iss->id);
    lca_val_map_set_int(ev, "not_after", req.not_after);
    lca_val_map_set_str(ev, "kind", "leaf");
    if (!lf->no_store) {
        lca_val_map_set_bin(ev, "certificate", der, der_len);
    }
    lca_val_map_set_str(ev, "role", lf->role_name != NULL ? lf->role_name : "");
    lca_val_map_set_str(ev, "common_name", lf->names.cn != NULL ? lf->names.cn : "");
    lca_decide_result_cert(d, st, lf->iss, der, der_len, serial, sizeof(serial), req.not_after);
    rc = lca_decide_emit(d, LCA_EVT_CERT_ISSUED, ev, err);
out:
    free(der);
    lca_decide_signer_done(env, s);
    return rc;
}

/* The datacenter of a service leaf's SPIFFE URI: the cluster deciding it (env->cluster_id), so
 * a Vault-model secondary, whose replicated configuration carries the primary's ClusterID,
 * names itself as Consul's datacenters do; the configuration's ClusterID when the env names
 * none (offline tools, old callers). The trust domain stays the shared one. */
static const char *spiffe_dc(const struct lca_state *st, const struct lca_env *env)
{
    if (env->cluster_id != NULL && env->cluster_id[0] != '\0') {
        return env->cluster_id;
    }
    return lca_state_cluster_id(st);
}

/* Resolves role (or Consul service), issuer, names and TTL shared by issue and sign. */
static int leaf_prepare(const struct lca_state *st, const struct lca_command *cmd,
                        const struct lca_env *env, struct leaf *lf, struct lca_decision *d,
                        int *rejected, struct lca_err *err)
{
    const struct lca_val *p = cmd->payload;
    const char *service = lca_val_map_get_str(p, "service");
    const char *ref;

    memset(lf, 0, sizeof(*lf));
    *rejected = 1;
    lf->role_name = lca_val_map_get_str(p, "role");
    if (service == NULL && (lf->role = lca_state_role(st, lf->role_name)) == NULL) {
        return lca_decide_reject(d, cmd, "unknown_role", "unknown role: %.80s",
                                 lf->role_name != NULL ? lf->role_name : "(none given)");
    }
    ref = lca_val_map_get_str(p, "issuer_ref");
    if (ref == NULL && lf->role != NULL) {
        ref = lca_role_issuer_ref(lf->role);
    }
    if ((lf->iss = lca_state_issuer_ref(st, ref)) == NULL) {
        return lca_decide_reject(d, cmd, "unknown_issuer", "issuer_ref '%.80s' names no issuer",
                                 ref);
    }
    if (!(lf->iss->usage & LCA_USAGE_ISSUING)) {
        return lca_decide_reject(d, cmd, "issuer_not_issuing",
                                 "issuer %s does not have the issuing-certificates usage",
                                 lf->iss->id);
    }
    if (names_from_payload(p, &lf->names, err) != LCA_OK ||
        lca_duration_from_val(lca_val_map_get(p, "ttl"), 0, &lf->ttl_req, err) != LCA_OK) {
        return lca_decide_reject_err(d, cmd, err);
    }
    if (service != NULL) {
        const char *ns = lca_val_map_get_str(p, "namespace");
        snprintf(lf->names.spiffe, sizeof(lf->names.spiffe), "spiffe://%s/ns/%.64s/dc/%.64s/svc/%.128s",
                 lca_state_trust_domain(st), ns != NULL ? ns : "default",
                 spiffe_dc(st, env), service);
        lf->names.uris[0] = lf->names.spiffe;
        lf->names.n_uris = 1;
        lf->names.n_dns = lf->names.n_ips = 0;
        lf->names.cn = service;
        lf->eku = 1 | 2; /* serverAuth | clientAuth: Connect mTLS */
    } else {
        lf->ku = lca_role_key_usage(lf->role);
        lf->eku = lca_role_ext_key_usage(lf->role);
        lf->no_store = lca_role_no_store(lf->role);
    }
    *rejected = 0;
    return LCA_OK;
}

/* Vault puts a hostname common name into the DNS SANs too (RFC 6125 clients ignore the CN). */
static void cn_into_sans(struct names *n)
{
    size_t i;

    if (n->cn == NULL || !lca_names_is_dns(n->cn) || n->n_dns == MAX_NAMES) {
        return;
    }
    for (i = 0; i < n->n_dns; i++) {
        if (strcmp(n->dns[i], n->cn) == 0) {
            return;
        }
    }
    n->dns[n->n_dns++] = n->cn;
}

static int check_names(const struct leaf *lf, struct lca_err *err)
{
    if (lf->role == NULL) {
        return LCA_OK;
    }
    return lca_role_check_names(lf->role, lf->names.cn, lf->names.dns, lf->names.n_dns,
                                lf->names.ips, lf->names.n_ips, lf->names.uris,
                                lf->names.n_uris, err);
}

/* recipient_public_key: 32 raw X25519 bytes as 64 hex chars or base64. */
static int recipient_key(const struct lca_val *p, uint8_t out[32])
{
    const char *s = lca_val_map_get_str(p, "recipient_public_key");
    uint8_t buf[48];
    size_t i, n;

    if (s == NULL) {
        return LCA_FAIL;
    }
    n = strlen(s);
    if (n == 64) {
        for (i = 0; i < 32; i++) {
            unsigned v;
            if (sscanf(s + 2 * i, "%2x", &v) != 1) {
                return LCA_FAIL;
            }
            out[i] = (uint8_t)v;
        }
        return LCA_OK;
    }
    if (n != 44 || EVP_DecodeBlock(buf, (const unsigned char *)s, 44) != 33) {
        return LCA_FAIL; /* 44 base64 chars decode to 33 bytes, the last one padding */
    }
    memcpy(out, buf, 32);
    return LCA_OK;
}

static int seal_key(EVP_PKEY *key, const uint8_t rpub[32], struct lca_env *env,
                    struct lca_decision *d, struct lca_err *err)
{
    char *pem = NULL, *b64 = NULL;
    size_t pem_len = 0, sealed_len = 0;
    uint8_t eph[32], *sealed = NULL;
    const char *serial = lca_val_map_get_str(d->result, "serial_number");
    int rc = LCA_FAIL;

    if (env->random(env->ctx, eph, sizeof(eph), err) != LCA_OK ||
        lca_key_private_to_pem(key, &pem, &pem_len, err) != LCA_OK ||
        lca_seal(rpub, eph, (const uint8_t *)serial, strlen(serial), (const uint8_t *)pem,
                 pem_len, &sealed, &sealed_len, err) != LCA_OK) {
        goto out;
    }
    if ((b64 = malloc(4 * ((sealed_len + 2) / 3) + 1)) == NULL) {
        lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
        goto out;
    }
    EVP_EncodeBlock((unsigned char *)b64, sealed, (int)sealed_len);
    lca_val_map_set_str(d->result, "sealed_private_key", b64);
    lca_val_map_set_str(d->result, "sealed_private_key_format", "ledgerca-seal-v1");
    rc = LCA_OK;
out:
    OPENSSL_cleanse(eph, sizeof(eph));
    lca_key_pem_free(pem, pem_len);
    free(b64);
    free(sealed);
    return rc;
}

static const char *key_type_name(enum lca_key_type t)
{
    return t == LCA_KEY_RSA ? "rsa" : t == LCA_KEY_ED25519 ? "ed25519" : "ec";
}

int lca_decide_leaf_issue(const struct lca_state *st, const struct lca_command *cmd,
                          struct lca_env *env, struct lca_decision *d, struct lca_err *err)
{
    struct leaf lf;
    struct lca_keyspec spec = {LCA_KEY_EC, 256};
    EVP_PKEY *key = NULL;
    uint8_t rpub[32], *spki = NULL;
    size_t spki_len = 0;
    int rejected, rc;

    if (recipient_key(cmd->payload, rpub) != LCA_OK) {
        return lca_decide_reject(d, cmd, "missing_recipient_key",
                                 "issue needs recipient_public_key (X25519, 32 bytes as hex or "
                                 "base64): a generated private key is only returned sealed");
    }
    rc = leaf_prepare(st, cmd, env, &lf, d, &rejected, err);
    if (rc != LCA_OK || rejected) {
        goto out;
    }
    if (lf.role != NULL) {
        lca_role_keyspec(lf.role, &spec);
    }
    lf.key_type = spec.type;
    if (check_names(&lf, err) != LCA_OK) {
        rc = lca_decide_reject_err(d, cmd, err);
        goto out;
    }
    if (lf.role != NULL) {
        cn_into_sans(&lf.names);
    }
    if ((rc = env->keygen(env->ctx, &spec, &key, err)) != LCA_OK ||
        (rc = lca_key_spki_der(key, &spki, &spki_len, err)) != LCA_OK ||
        (rc = leaf_emit(st, cmd, &lf, spki, spki_len, env, d, err)) != LCA_OK || d->rejected) {
        goto out;
    }
    lca_val_map_set_str(d->result, "private_key_type", key_type_name(spec.type));
    rc = seal_key(key, rpub, env, d, err);
out:
    OPENSSL_cleanse(rpub, sizeof(rpub));
    free(spki);
    EVP_PKEY_free(key);
    names_cleanup(&lf.names);
    return rc;
}

static int parse_csr(const struct lca_command *cmd, const struct lca_env *env,
                     struct lca_csr **csr, struct lca_decision *d, struct lca_err *err)
{
    const char *pem = lca_val_map_get_str(cmd->payload, "csr");

    if (pem == NULL) {
        lca_decide_reject(d, cmd, "missing_field", "csr is required");
        return LCA_FAIL;
    }
    if (env->csr_take != NULL && (*csr = env->csr_take(env->csr_ctx, pem)) != NULL) {
        return LCA_OK; /* parsed beforehand from these very bytes */
    }
    if (lca_csr_parse((const uint8_t *)pem, strlen(pem), csr, err) != LCA_OK) {
        lca_decide_reject_err(d, cmd, err);
        return LCA_FAIL;
    }
    return LCA_OK;
}

static int sign_common(const struct lca_state *st, const struct lca_command *cmd, int verbatim,
                       struct lca_env *env, struct lca_decision *d, struct lca_err *err)
{
    struct lca_csr *csr = NULL;
    struct lca_keyspec spec;
    struct leaf lf;
    const uint8_t *spki;
    size_t spki_len = 0;
    int rejected = 0, rc = LCA_OK;

    memset(&lf, 0, sizeof(lf));
    if (parse_csr(cmd, env, &csr, d, err) != LCA_OK) {
        return d->rejected ? LCA_OK : LCA_FAIL;
    }
    if (verbatim) {
        lf.iss = lca_state_issuer_ref(st, lca_val_map_get_str(cmd->payload, "issuer_ref"));
        if (lf.iss == NULL) {
            rc = lca_decide_reject(d, cmd, "unknown_issuer", "issuer_ref names no issuer");
            goto out;
        }
        if (names_from_payload(cmd->payload, &lf.names, err) != LCA_OK ||
            lca_duration_from_val(lca_val_map_get(cmd->payload, "ttl"), 0, &lf.ttl_req, err) !=
                LCA_OK) {
            rc = lca_decide_reject_err(d, cmd, err);
            goto out;
        }
    } else if ((rc = leaf_prepare(st, cmd, env, &lf, d, &rejected, err)) != LCA_OK || rejected) {
        goto out;
    }
    names_add_csr(cmd->payload, csr, &lf.names);
    if (lca_key_spec_of(lca_csr_get0_pubkey(csr), &spec, err) != LCA_OK ||
        (lf.key_type = spec.type, 0) ||
        (lf.role != NULL && lca_role_check_key(lf.role, &spec, err) != LCA_OK) ||
        check_names(&lf, err) != LCA_OK) {
        rc = lca_decide_reject_err(d, cmd, err);
        goto out;
    }
    if (lf.role != NULL) {
        cn_into_sans(&lf.names);
    }
    spki = lca_csr_spki(csr, &spki_len);
    rc = leaf_emit(st, cmd, &lf, spki, spki_len, env, d, err);
out:
    names_cleanup(&lf.names);
    lca_csr_free(csr);
    return rc;
}

int lca_decide_leaf_sign(const struct lca_state *st, const struct lca_command *cmd,
                         struct lca_env *env, struct lca_decision *d, struct lca_err *err)
{
    return sign_common(st, cmd, 0, env, d, err);
}

int lca_decide_leaf_sign_verbatim(const struct lca_state *st, const struct lca_command *cmd,
                                  struct lca_env *env, struct lca_decision *d,
                                  struct lca_err *err)
{
    return sign_common(st, cmd, 1, env, d, err);
}

/* ---- revocation and CRLs ---- */

int lca_decide_leaf_revoke(const struct lca_state *st, const struct lca_command *cmd,
                           struct lca_env *env, struct lca_decision *d, struct lca_err *err)
{
    const char *s = lca_val_map_get_str(cmd->payload, "serial_number");
    const char *why = lca_val_map_get_str(cmd->payload, "reason");
    enum lca_crl_reason reason = LCA_CRL_UNSPECIFIED;
    const struct lca_certrec *rec;
    struct lca_certrec now_rec;
    struct lca_val *ev;
    uint8_t serial[20];
    size_t len = 0;
    char hex[64];

    if (s == NULL || lca_state_serial_parse(s, serial, &len) != LCA_OK) {
        return lca_decide_reject(d, cmd, "bad_serial", "serial_number is missing or malformed");
    }
    if (why != NULL && lca_crl_reason_parse(why, &reason, err) != LCA_OK) {
        return lca_decide_reject_err(d, cmd, err);
    }
    if ((rec = lca_state_cert(st, serial, len)) == NULL) {
        return lca_decide_reject(d, cmd, "not_found", "certificate with serial %.80s not found",
                                 s);
    }
    lca_state_serial_format(serial, len, hex, sizeof(hex));
    if (rec->revoked_at != 0) { /* Vault answers a repeated revoke with the first time */
        lca_val_map_set_int(d->result, "revocation_time", rec->revoked_at);
        lca_val_map_set_str(d->result, "serial_number", hex);
        return LCA_OK;
    }
    now_rec = *rec;
    if (lca_decide_now(env, &now_rec.revoked_at, err) != LCA_OK) {
        return LCA_FAIL;
    }
    now_rec.reason = (uint8_t)reason;
    ev = lca_val_new_map();
    lca_val_map_set_str(ev, "serial_number", hex);
    lca_val_map_set_str(ev, "issuer_id", rec->issuer_id);
    lca_val_map_set_int(ev, "revoked_at", now_rec.revoked_at);
    lca_val_map_set_int(ev, "reason", (int64_t)reason);
    if (lca_decide_emit(d, LCA_EVT_CERT_REVOKED, ev, err) != LCA_OK) {
        return LCA_FAIL;
    }
    lca_val_map_set_int(d->result, "revocation_time", now_rec.revoked_at);
    lca_val_map_set_str(d->result, "serial_number", hex);
    now_rec.revoke_seq = lca_state_revocations(st) + 1;
    return lca_decide_crl_on_revoke(st, &now_rec, env, d, err);
}

/* ---- roles ---- */

int lca_decide_leaf_role_write(const struct lca_state *st, const struct lca_command *cmd,
                               struct lca_env *env, struct lca_decision *d, struct lca_err *err)
{
    const char *name = lca_val_map_get_str(cmd->payload, "name");
    struct lca_val *fields = lca_val_clone(cmd->payload), *ev;
    struct lca_role *role = NULL;
    int rc;

    (void)st;
    (void)env;
    lca_val_map_del(fields, "name");
    if (name == NULL || name[0] == '\0' || strlen(name) > 128) {
        lca_val_free(fields);
        return lca_decide_reject(d, cmd, "missing_field", "role name is required (≤ 128 bytes)");
    }
    if (lca_role_parse(name, fields, &role, err) != LCA_OK) {
        lca_val_free(fields);
        return lca_decide_reject_err(d, cmd, err);
    }
    ev = lca_val_new_map();
    lca_val_map_set_str(ev, "name", name);
    lca_val_map_set(ev, "role", lca_role_to_val(role));
    lca_val_map_set(d->result, "role", lca_role_to_val(role));
    rc = lca_decide_emit(d, LCA_EVT_ROLE_WRITTEN, ev, err);
    lca_role_free(role);
    lca_val_free(fields);
    return rc;
}

int lca_decide_leaf_role_delete(const struct lca_state *st, const struct lca_command *cmd,
                                struct lca_env *env, struct lca_decision *d, struct lca_err *err)
{
    const char *name = lca_val_map_get_str(cmd->payload, "name");
    struct lca_val *ev;

    (void)env;
    if (name == NULL) {
        return lca_decide_reject(d, cmd, "missing_field", "role name is required");
    }
    if (lca_state_role(st, name) == NULL) {
        return LCA_OK; /* as Vault: deleting an absent role succeeds and changes nothing */
    }
    ev = lca_val_new_map();
    lca_val_map_set_str(ev, "name", name);
    return lca_decide_emit(d, LCA_EVT_ROLE_DELETED, ev, err);
}

/* ---- tidy ---- */

struct tidy {
    const struct lca_state *st;
    int64_t cutoff, now;
    struct lca_val *serials;
    const char *root; /* when set: is any cert of this hierarchy still valid? */
    int live;
};

static int tidy_collect(const struct lca_certrec *rec, void *ctx)
{
    struct tidy *t = ctx;
    char hex[64];

    if (rec->not_after < t->cutoff) {
        lca_state_serial_format(rec->serial, rec->serial_len, hex, sizeof(hex));
        lca_val_arr_push(t->serials, lca_val_new_str(hex));
    }
    return 0;
}

static int tidy_live(const struct lca_certrec *rec, void *ctx)
{
    struct tidy *t = ctx;
    const struct lca_issuer *iss = lca_state_issuer_ref(t->st, rec->issuer_id);

    if (iss != NULL && strcmp(iss->root_id, t->root) == 0 && rec->not_after >= t->now) {
        t->live = 1;
        return 1;
    }
    return 0;
}

int lca_decide_leaf_tidy(const struct lca_state *st, const struct lca_command *cmd,
                         struct lca_env *env, struct lca_decision *d, struct lca_err *err)
{
    struct tidy t;
    struct lca_val *ev, *retired = lca_val_new_arr();
    const struct lca_issuer *active = lca_state_active_root(st);
    int64_t buffer;
    size_t i;

    memset(&t, 0, sizeof(t));
    t.st = st;
    if (lca_duration_from_val(lca_val_map_get(cmd->payload, "safety_buffer"), 72 * 3600, &buffer,
                              err) != LCA_OK) {
        lca_val_free(retired);
        return lca_decide_reject_err(d, cmd, err);
    }
    if (lca_decide_now(env, &t.now, err) != LCA_OK) {
        lca_val_free(retired);
        return LCA_FAIL;
    }
    t.cutoff = t.now - buffer;
    t.serials = lca_val_new_arr();
    if (lca_val_map_get_bool(cmd->payload, "tidy_cert_store", 1)) {
        lca_state_cert_foreach(st, tidy_collect, &t);
    }
    /* A root leaves the roots list only once every certificate under it has expired. */
    for (i = 0; i < lca_state_issuer_count(st); i++) {
        const struct lca_issuer *iss = lca_state_issuer_at(st, i);
        if (iss->retired || strcmp(iss->root_id, active->root_id) == 0) {
            continue;
        }
        t.root = iss->root_id;
        t.live = 0;
        lca_state_cert_foreach(st, tidy_live, &t);
        if (!t.live) {
            lca_val_arr_push(retired, lca_val_new_str(iss->id));
        }
    }
    lca_val_map_set_int(d->result, "certificates_removed", (int64_t)lca_val_len(t.serials));
    lca_val_map_set_int(d->result, "issuers_retired", (int64_t)lca_val_len(retired));
    if (lca_val_len(t.serials) == 0 && lca_val_len(retired) == 0) {
        lca_val_free(t.serials);
        lca_val_free(retired);
        return LCA_OK;
    }
    ev = lca_val_new_map();
    lca_val_map_set(ev, "serials", t.serials);
    lca_val_map_set(ev, "retired_issuers", retired);
    return lca_decide_emit(d, LCA_EVT_TIDIED, ev, err);
}
