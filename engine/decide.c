/*
 * decide — dispatch and shared helpers. See decide.h for the contract and decide_int.h for
 * how the work is split.
 */
#include "decide_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "key.h"

void lca_decision_free(struct lca_decision *d)
{
    size_t i;

    if (d == NULL) {
        return;
    }
    for (i = 0; i < d->n_events; i++) {
        lca_event_free(d->events[i]);
    }
    free(d->events);
    lca_val_free(d->result);
    free(d);
}

int lca_decide_emit(struct lca_decision *d, enum lca_evt_type type, struct lca_val *payload,
                    struct lca_err *err)
{
    struct lca_event **n;
    struct lca_event *ev;

    if (!lca_val_ok(payload)) {
        lca_val_free(payload);
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory building an event");
    }
    n = realloc(d->events, (d->n_events + 1) * sizeof(*n));
    if (n == NULL) {
        lca_val_free(payload);
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
    }
    d->events = n;
    if ((ev = lca_event_new(type, payload)) == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
    }
    d->events[d->n_events++] = ev;
    return LCA_OK;
}

int lca_decide_reject(struct lca_decision *d, const struct lca_command *cmd, const char *code,
                      const char *fmt, ...)
{
    struct lca_val *p = lca_val_new_map();
    va_list ap;
    size_t i;

    for (i = 0; i < d->n_events; i++) {
        lca_event_free(d->events[i]);
    }
    d->n_events = 0;
    lca_val_free(d->result);
    d->result = lca_val_new_map();
    d->rejected = 1;
    snprintf(d->code, sizeof(d->code), "%s", code);
    va_start(ap, fmt);
    vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
    va_end(ap);
    lca_val_map_set_str(p, "command_type",
                        cmd != NULL ? lca_catalog_cmd_name(cmd->type) : "bootstrap");
    lca_val_map_set_str(p, "code", d->code);
    lca_val_map_set_str(p, "reason", d->reason);
    return lca_decide_emit(d, LCA_EVT_COMMAND_REJECTED, p, NULL);
}

int lca_decide_reject_err(struct lca_decision *d, const struct lca_command *cmd,
                          struct lca_err *err)
{
    if (err->cls != LCA_ERR_BAD_INPUT) {
        return LCA_FAIL;
    }
    return lca_decide_reject(d, cmd, err->code, "%s", err->msg);
}

int lca_decide_now(struct lca_env *env, int64_t *now, struct lca_err *err)
{
    return env->now(env->ctx, now, err);
}

int lca_decide_uuid(struct lca_env *env, char out[37], struct lca_err *err)
{
    uint8_t b[16];

    if (env->random(env->ctx, b, sizeof(b), err) != LCA_OK) {
        return LCA_FAIL;
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return LCA_OK;
}

int lca_decide_serial(struct lca_env *env, uint8_t out[LCA_SERIAL_LEN], struct lca_err *err)
{
    /* 0x01 prefix: the DER INTEGER stays positive, keeps all 17 octets (no leading-zero
     * stripping) and carries 128 bits of CSPRNG output (DESIGN.md invariant 6). */
    out[0] = 0x01;
    return env->random(env->ctx, out + 1, LCA_SERIAL_LEN - 1, err);
}

int lca_decide_signer(const struct lca_issuer *iss, struct lca_env *env,
                      struct lca_cert_signer **out, struct lca_err *err)
{
    EVP_PKEY *key = NULL;

    if (env->key_get(env->ctx, iss->key_id, &key, err) != LCA_OK) {
        return LCA_FAIL;
    }
    return env->signers != NULL ? lca_cert_signer_cached(env->signers, iss->cert, key, out, err)
                                : lca_cert_signer_new(iss->cert, key, out, err);
}

void lca_decide_signer_done(const struct lca_env *env, struct lca_cert_signer *s)
{
    if (env->signers == NULL) {
        lca_cert_signer_free(s);
    }
}

int lca_decide_key_put(struct lca_env *env, EVP_PKEY *key, char key_id[65], struct lca_err *err)
{
    if (lca_key_id(key, key_id, err) != LCA_OK) {
        return LCA_FAIL;
    }
    return env->key_put(env->ctx, key_id, key, err);
}

/* ---- configuration ---- */

static const struct {
    const char *key;
    int64_t dflt;
} cfg_ints[] = {
    {"LeafCertTTL", 72 * 3600},       {"IntermediateCertTTL", 8760 * 3600},
    {"RootCertTTL", 87600 * 3600},    {"PrivateKeyBits", 256},
    {"DefaultTTL", 768 * 3600},       {"MaxTTL", 768 * 3600},
    {"CrlExpiry", 72 * 3600},         {"CrlAutoRebuild", 1},
    {"CrlEnableDelta", 0},            {"CrlMaxEntries", 100000}, /* Vault's max_crl_entries */
    /* delta_rebuild_interval: 0 = a delta at each revocation (issue 4: a revocation visible in
     * a published CRL within 1 s); Vault's default is 15m, which an operator may set */
    {"CrlRebuildGrace", 12 * 3600},   {"CrlDeltaRebuildInterval", 0},
};

int64_t lca_decide_cfg_int(const struct lca_state *st, const char *key)
{
    const struct lca_val *cfg = lca_state_config(st);
    size_t i;

    if (lca_val_kind(lca_val_map_get(cfg, key)) == LCA_VAL_BOOL) { /* CrlAutoRebuild, ... */
        return lca_val_bool(lca_val_map_get(cfg, key));
    }
    for (i = 0; i < sizeof(cfg_ints) / sizeof(cfg_ints[0]); i++) {
        if (strcmp(cfg_ints[i].key, key) == 0) {
            return lca_val_map_get_int(cfg, key, cfg_ints[i].dflt);
        }
    }
    return lca_val_map_get_int(cfg, key, 0);
}

struct lca_val *lca_decide_list(const struct lca_val *v)
{
    struct lca_val *arr = lca_val_new_arr();
    const char *s, *comma;
    size_t i;

    if (lca_val_kind(v) == LCA_VAL_ARR) {
        for (i = 0; i < lca_val_len(v); i++) {
            if ((s = lca_val_str(lca_val_arr_at(v, i))) == NULL) {
                lca_val_free(arr);
                return NULL;
            }
            if (s[0] != '\0') {
                lca_val_arr_push(arr, lca_val_new_str(s));
            }
        }
    } else if (lca_val_kind(v) == LCA_VAL_STR) {
        for (s = lca_val_str(v); *s != '\0'; s = *comma != '\0' ? comma + 1 : comma) {
            const char *e;
            while (*s == ' ') {
                s++;
            }
            comma = strchr(s, ',');
            comma = comma != NULL ? comma : s + strlen(s);
            for (e = comma; e > s && e[-1] == ' '; e--) {
            }
            if (e > s) {
                lca_val_arr_push(arr, lca_val_new_strn(s, (size_t)(e - s)));
            }
        }
    } else if (lca_val_kind(v) != LCA_VAL_NIL) {
        lca_val_free(arr);
        return NULL;
    }
    return arr;
}

size_t lca_decide_strs(const struct lca_val *arr, const char **out, size_t max)
{
    size_t i, n = lca_val_len(arr) < max ? lca_val_len(arr) : max;

    for (i = 0; i < n; i++) {
        out[i] = lca_val_str(lca_val_arr_at(arr, i));
    }
    return n;
}

void lca_decide_cfg_urls(const struct lca_state *st, struct lca_urls *urls,
                         const char **storage)
{
    const struct lca_val *cfg = lca_state_config(st);

    /* The configuration stores these normalized as arrays (see decide_ca.c). */
    memset(urls, 0, sizeof(*urls));
    urls->issuing_certificates = storage;
    urls->n_issuing = lca_decide_strs(lca_val_map_get(cfg, "issuing_certificates"), storage, 8);
    urls->crl_distribution_points = storage + 8;
    urls->n_crl = lca_decide_strs(lca_val_map_get(cfg, "crl_distribution_points"), storage + 8, 8);
    urls->ocsp_servers = storage + 16;
    urls->n_ocsp = lca_decide_strs(lca_val_map_get(cfg, "ocsp_servers"), storage + 16, 8);
}

/* ---- results ---- */

struct lca_val *lca_decide_chain_pems(const struct lca_state *st, const struct lca_issuer *iss)
{
    struct lca_val *arr = lca_val_new_arr();
    size_t i;

    for (i = 0; i < iss->chain_len; i++) {
        lca_val_arr_push(arr, lca_val_new_str(lca_state_issuer_at(st, iss->chain[i])->pem));
    }
    return arr;
}

void lca_decide_result_cert(struct lca_decision *d, const struct lca_state *st,
                            const struct lca_issuer *iss, const uint8_t *der, size_t der_len,
                            const uint8_t *serial, size_t serial_len, int64_t not_after)
{
    char *pem = NULL, hex[64];
    size_t pem_len = 0;

    if (lca_cert_der_to_pem(der, der_len, &pem, &pem_len, NULL) == LCA_OK) {
        lca_val_map_set_str(d->result, "certificate", pem);
        free(pem);
    }
    lca_state_serial_format(serial, serial_len, hex, sizeof(hex));
    lca_val_map_set_str(d->result, "serial_number", hex);
    lca_val_map_set_str(d->result, "issuing_ca", iss->pem);
    lca_val_map_set_str(d->result, "issuer_id", iss->id);
    lca_val_map_set(d->result, "ca_chain", lca_decide_chain_pems(st, iss));
    lca_val_map_set_int(d->result, "expiration", not_after);
}

/* ---- dispatch ---- */

static lca_decide_fn handler(enum lca_cmd_type t)
{
    switch (t) {
    case LCA_CMD_ISSUE:
        return lca_decide_leaf_issue;
    case LCA_CMD_SIGN:
        return lca_decide_leaf_sign;
    case LCA_CMD_SIGN_VERBATIM:
        return lca_decide_leaf_sign_verbatim;
    case LCA_CMD_SIGN_INTERMEDIATE:
        return lca_decide_ca_sign_intermediate;
    case LCA_CMD_REVOKE:
        return lca_decide_leaf_revoke;
    case LCA_CMD_ROTATE:
        return lca_decide_ca_rotate;
    case LCA_CMD_CROSS_SIGN:
        return lca_decide_ca_cross_sign;
    case LCA_CMD_REISSUE:
        return lca_decide_ca_reissue;
    case LCA_CMD_ROLE_WRITE:
        return lca_decide_leaf_role_write;
    case LCA_CMD_ROLE_DELETE:
        return lca_decide_leaf_role_delete;
    case LCA_CMD_ISSUER_UPDATE:
        return lca_decide_ca_issuer_update;
    case LCA_CMD_CONFIG_UPDATE:
        return lca_decide_ca_config;
    case LCA_CMD_CRL_ROTATE:
        return lca_decide_leaf_crl_rotate;
    case LCA_CMD_TIDY:
        return lca_decide_leaf_tidy;
    case LCA_CMD_INTERMEDIATE_GENERATE:
        return lca_decide_sec_generate;
    case LCA_CMD_INTERMEDIATE_SET_SIGNED:
        return lca_decide_sec_set_signed;
    default:
        return NULL;
    }
}

static struct lca_decision *decision_new(void)
{
    struct lca_decision *d = calloc(1, sizeof(*d));

    if (d != NULL && (d->result = lca_val_new_map()) == NULL) {
        free(d);
        return NULL;
    }
    return d;
}

static int finish(struct lca_decision *d, int rc, struct lca_decision **out, struct lca_err *err)
{
    if (rc == LCA_OK && !lca_val_ok(d->result)) {
        rc = lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory building the reply");
    }
    if (rc != LCA_OK) {
        lca_decision_free(d);
        return LCA_FAIL;
    }
    *out = d;
    return LCA_OK;
}

int lca_decide(const struct lca_state *st, const struct lca_command *cmd, struct lca_env *env,
               struct lca_decision **out, struct lca_err *err)
{
    lca_decide_fn fn = handler(cmd->type);
    struct lca_decision *d = decision_new();
    int rc;

    if (d == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
    }
    if (fn == NULL) {
        rc = lca_decide_reject(d, cmd, "unknown_type", "unknown command type");
    } else if (!lca_state_bootstrapped(st) && cmd->type != LCA_CMD_CONFIG_UPDATE &&
               cmd->type != LCA_CMD_ROLE_WRITE && cmd->type != LCA_CMD_ROLE_DELETE &&
               cmd->type != LCA_CMD_INTERMEDIATE_GENERATE &&
               cmd->type != LCA_CMD_INTERMEDIATE_SET_SIGNED) {
        rc = lca_decide_reject(d, cmd, "not_bootstrapped",
                               "the CA has no root yet: send config.update first");
    } else {
        rc = fn(st, cmd, env, d, err);
    }
    return finish(d, rc, out, err);
}

int lca_decide_deny(const struct lca_command *cmd, const char *code, const char *reason,
                    struct lca_decision **out, struct lca_err *err)
{
    struct lca_decision *d = decision_new();

    if (d == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
    }
    return finish(d, lca_decide_reject(d, cmd, code, "%s", reason), out, err);
}

int lca_decide_bootstrap(const struct lca_state *st, const struct lca_val *config,
                         const char *cluster_id, struct lca_env *env,
                         struct lca_decision **out, struct lca_err *err)
{
    struct lca_decision *d = decision_new();

    if (d == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
    }
    return finish(d, lca_decide_ca_bootstrap(st, config, cluster_id, env, d, err), out, err);
}
