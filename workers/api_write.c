/* api_write — write routes of `ledgerca api` (see api_write.h). */
#include "api_write.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "command.h"
#include "json.h"
#include "seal.h"
#include "uuid.h"

#define SEG_MAX 130

/* A write route resolved from method and path. */
struct target {
    enum lca_cmd_type type;
    char role[SEG_MAX];       /* from the path, "" when none */
    char issuer_ref[SEG_MAX]; /* from the path, "" when none */
    char name[SEG_MAX];       /* roles/:name */
    int consul;               /* Consul's configuration endpoint */
    int vault_cfg;            /* 1 config/urls, 2 config/crl */
    int delta;                /* crl/rotate-delta: crl.rotate {"delta": true} */
};

/* Copies the path segment at s (up to '/' or end) into out; returns the rest ("" or "/..."),
 * NULL when the segment is empty or too long. */
static const char *seg(const char *s, char out[SEG_MAX])
{
    size_t n = strcspn(s, "/");

    if (n == 0 || n >= SEG_MAX) {
        return NULL;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return s + n;
}

/* issue/:role, sign/:role, sign-verbatim(/:role) after an optional issuer/:ref/. */
static int leaf_route(const char *p, struct target *t)
{
    static const struct {
        const char *prefix;
        enum lca_cmd_type type;
        int role_required;
    } leaf[] = {{"issue", LCA_CMD_ISSUE, 1},
                {"sign", LCA_CMD_SIGN, 1},
                {"sign-verbatim", LCA_CMD_SIGN_VERBATIM, 0}};
    size_t i, n;
    const char *rest;

    for (i = 0; i < sizeof(leaf) / sizeof(leaf[0]); i++) {
        n = strlen(leaf[i].prefix);
        if (strncmp(p, leaf[i].prefix, n) != 0 || (p[n] != '\0' && p[n] != '/')) {
            continue;
        }
        if (p[n] == '\0') {
            t->type = leaf[i].role_required ? LCA_CMD_NONE : leaf[i].type;
            return t->type != LCA_CMD_NONE;
        }
        rest = seg(p + n + 1, t->role);
        t->type = leaf[i].type;
        return rest != NULL && rest[0] == '\0';
    }
    return 0;
}

/* Routes under /v1/pki/ taking POST/PUT. */
static int pki_post_route(const char *p, struct target *t)
{
    const char *rest;

    if (strncmp(p, "issuer/", 7) == 0 && (rest = seg(p + 7, t->issuer_ref)) != NULL) {
        if (rest[0] == '\0') {
            t->type = LCA_CMD_ISSUER_UPDATE;
            return 1;
        }
        if (strcmp(rest, "/sign-intermediate") == 0) {
            t->type = LCA_CMD_SIGN_INTERMEDIATE;
            return 1;
        }
        return leaf_route(rest + 1, t);
    }
    if (leaf_route(p, t)) {
        return 1;
    }
    if (strncmp(p, "roles/", 6) == 0) {
        t->type = LCA_CMD_ROLE_WRITE;
        return (rest = seg(p + 6, t->name)) != NULL && rest[0] == '\0';
    }
    if (strncmp(p, "root/rotate/", 12) == 0) {
        t->type = LCA_CMD_ROTATE;
        return (rest = seg(p + 12, t->name)) != NULL && rest[0] == '\0';
    }
    t->type = strcmp(p, "revoke") == 0                       ? LCA_CMD_REVOKE
              : strcmp(p, "intermediate/cross-sign") == 0      ? LCA_CMD_CROSS_SIGN
              : strcmp(p, "issuers/generate/root/existing") == 0 ? LCA_CMD_REISSUE
              : strcmp(p, "crl/rotate") == 0 || strcmp(p, "crl/rotate-delta") == 0
                  ? LCA_CMD_CRL_ROTATE
              : strcmp(p, "tidy") == 0                         ? LCA_CMD_TIDY
              : strcmp(p, "config/urls") == 0 || strcmp(p, "config/crl") == 0
                  ? LCA_CMD_CONFIG_UPDATE
                  : LCA_CMD_NONE;
    t->vault_cfg = strcmp(p, "config/urls") == 0 ? 1 : strcmp(p, "config/crl") == 0 ? 2 : 0;
    t->delta = strcmp(p, "crl/rotate-delta") == 0;
    return t->type != LCA_CMD_NONE;
}

static int match(const char *method, const char *path, struct target *t)
{
    int post = strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0;
    const char *rest;

    memset(t, 0, sizeof(*t));
    if (strcmp(path, "/v1/connect/ca/configuration") == 0 && post) {
        t->type = LCA_CMD_CONFIG_UPDATE;
        t->consul = 1;
        return 1;
    }
    if (strncmp(path, "/v1/pki/", 8) != 0) {
        return 0;
    }
    path += 8;
    if (strcmp(method, "DELETE") == 0 && strncmp(path, "roles/", 6) == 0) {
        t->type = LCA_CMD_ROLE_DELETE;
        return (rest = seg(path + 6, t->name)) != NULL && rest[0] == '\0';
    }
    if (strcmp(method, "GET") == 0 &&
        (strcmp(path, "crl/rotate") == 0 || strcmp(path, "crl/rotate-delta") == 0)) {
        t->type = LCA_CMD_CRL_ROTATE; /* Vault reads crl/rotate and crl/rotate-delta */
        t->delta = path[10] != '\0';
        return 1;
    }
    return post && pki_post_route(path, t);
}

/* ---- requests ---- */

/* The body as a map ({} when empty); 400 in resp otherwise. */
static struct lca_val *body_map(const struct lca_http_req *req, struct lca_http_resp *resp)
{
    struct lca_val *v = NULL;
    struct lca_err err;
    char msg[600];
    size_t i;

    for (i = 0; i < req->body_len && strchr(" \t\r\n", req->body[i]) != NULL; i++) {
    }
    if (i == req->body_len) {
        return lca_val_new_map();
    }
    if (lca_json_decode(req->body, req->body_len, NULL, &v, &err) != LCA_OK) {
        snprintf(msg, sizeof(msg), "failed to parse JSON input: %s", err.msg);
        lca_http_error(resp, 400, msg);
        return NULL;
    }
    if (lca_val_kind(v) != LCA_VAL_MAP) {
        lca_val_free(v);
        lca_http_error(resp, 400, "failed to parse JSON input: the body must be a JSON object");
        return NULL;
    }
    return v;
}

/* Vault's config/urls and config/crl fields onto config.update's. */
static struct lca_val *vault_config(const struct lca_val *in, int which)
{
    static const char *const urls[] = {"issuing_certificates", "crl_distribution_points",
                                       "ocsp_servers"};
    static const char *const crl[] = {"enable_delta", "delta_rebuild_interval", "max_crl_entries",
                                      "auto_rebuild_grace_period", "crl_base_url"};
    struct lca_val *out = lca_val_new_map();
    const struct lca_val *v;
    size_t i;

    if (which == 1) {
        for (i = 0; i < 3; i++) {
            if ((v = lca_val_map_get(in, urls[i])) != NULL) {
                lca_val_map_set(out, urls[i], lca_val_clone(v));
            }
        }
    } else {
        if ((v = lca_val_map_get(in, "expiry")) != NULL) {
            lca_val_map_set(out, "CrlExpiry", lca_val_clone(v));
        }
        if ((v = lca_val_map_get(in, "auto_rebuild")) != NULL) {
            lca_val_map_set(out, "CrlAutoRebuild", lca_val_clone(v));
        }
        for (i = 0; i < sizeof(crl) / sizeof(crl[0]); i++) { /* issue 4: engine/decide_crl.c */
            if ((v = lca_val_map_get(in, crl[i])) != NULL) {
                lca_val_map_set(out, crl[i], lca_val_clone(v));
            }
        }
    }
    return out;
}

/* The command's payload: the body with the path's parameters. */
static struct lca_val *payload_of(const struct target *t, const struct lca_http_req *req,
                                  struct lca_http_resp *resp)
{
    struct lca_val *p = body_map(req, resp), *q;

    if (p == NULL) {
        return NULL;
    }
    if (t->vault_cfg != 0) {
        q = vault_config(p, t->vault_cfg);
        lca_val_free(p);
        p = q;
    }
    if (t->role[0] != '\0') {
        lca_val_map_set_str(p, "role", t->role);
    }
    if (t->issuer_ref[0] != '\0') {
        lca_val_map_set_str(p, "issuer_ref", t->issuer_ref);
    }
    if (t->name[0] != '\0' && (t->type == LCA_CMD_ROLE_WRITE || t->type == LCA_CMD_ROLE_DELETE)) {
        lca_val_map_set_str(p, "name", t->name);
    }
    if (t->delta) {
        lca_val_map_set_bool(p, "delta", 1);
    }
    return p;
}

/* Adds a fresh X25519 public key to an issue payload; priv receives its private key. */
static int add_recipient(struct lca_val *payload, uint8_t priv[32])
{
    uint8_t pub[32];
    char hex[65];
    struct lca_err err;
    size_t i;

    if (RAND_priv_bytes(priv, 32) != 1 || lca_seal_x25519_pub(priv, pub, &err) != LCA_OK) {
        return LCA_FAIL;
    }
    for (i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", pub[i]);
    }
    lca_val_map_set_str(payload, "recipient_public_key", hex);
    return LCA_OK;
}

/* ---- replies ---- */

/* Opens the sealed key of an issue result into "private_key"; drops the sealed fields. */
static int open_key(struct lca_val *result, const uint8_t priv[32])
{
    const char *b64 = lca_val_map_get_str(result, "sealed_private_key");
    const char *serial = lca_val_map_get_str(result, "serial_number");
    uint8_t *box = NULL, *pt = NULL;
    size_t n = b64 != NULL ? strlen(b64) : 0, pt_len = 0;
    struct lca_err err;
    int dl, rc = LCA_FAIL;

    if (b64 == NULL || serial == NULL || (box = malloc(n / 4 * 3 + 3)) == NULL) {
        return LCA_FAIL;
    }
    dl = EVP_DecodeBlock(box, (const unsigned char *)b64, (int)n);
    while (dl > 0 && n > 0 && b64[n - 1] == '=') {
        n--;
        dl--;
    }
    if (dl > 0 && lca_seal_open(priv, (const uint8_t *)serial, strlen(serial), box, (size_t)dl,
                                &pt, &pt_len, &err) == LCA_OK) {
        struct lca_val *k = lca_val_new_strn((const char *)pt, pt_len);

        lca_val_map_set(result, "private_key", k);
        lca_val_map_del(result, "sealed_private_key");
        lca_val_map_del(result, "sealed_private_key_format");
        rc = LCA_OK;
    }
    OPENSSL_clear_free(pt, pt_len);
    free(box);
    return rc;
}

/* Vault's envelope around a value map (or 204 when data is NULL). */
static void respond_data(struct lca_http_resp *resp, int status, const struct lca_val *data)
{
    struct lca_val *env = lca_val_new_map();
    struct lca_err err;
    char *text = NULL;
    size_t len = 0;

    if (data == NULL) {
        lca_http_set(resp, 204, NULL, NULL, 0);
        lca_val_free(env);
        return;
    }
    lca_val_map_set_str(env, "request_id", "");
    lca_val_map_set_str(env, "lease_id", "");
    lca_val_map_set_bool(env, "renewable", 0);
    lca_val_map_set_int(env, "lease_duration", 0);
    lca_val_map_set(env, "data", lca_val_clone(data));
    lca_val_map_set(env, "wrap_info", lca_val_new_nil());
    lca_val_map_set(env, "warnings", lca_val_new_nil());
    lca_val_map_set(env, "auth", lca_val_new_nil());
    if (lca_json_encode(env, &text, &len, &err) == LCA_OK) {
        lca_http_set(resp, status, "application/json", text, len);
    } else {
        lca_http_error(resp, 500, "cannot encode the response");
    }
    if (text != NULL) {
        OPENSSL_cleanse(text, len); /* may hold a private key */
    }
    free(text);
    lca_val_free(env);
}

/* Maps an ok/rejected/error reply onto the HTTP answer. */
static void respond(const struct target *t, struct lca_val *reply, const uint8_t priv[32],
                    struct lca_http_resp *resp, struct lca_api_call *call)
{
    const char *st = lca_val_map_get_str(reply, "status");
    const struct lca_val *e = lca_val_map_get(reply, "error");
    struct lca_val *result = lca_val_map_take(reply, "result");
    const char *code = lca_val_map_get_str(e, "code"), *msg = lca_val_map_get_str(e, "message");

    if (st == NULL || strcmp(st, "ok") != 0) {
        lca_http_error(resp,
                       st != NULL && strcmp(st, "rejected") == 0
                           ? (code != NULL && strcmp(code, "permission_denied") == 0 ? 403 : 400)
                           : 500,
                       msg != NULL ? msg : (code != NULL ? code : "command failed"));
    } else if (t->type == LCA_CMD_ISSUE && open_key(result, priv) != LCA_OK) {
        lca_http_error(resp, 500, "cannot open the sealed private key");
    } else {
        call->failed = 0;
        if (lca_val_map_get_str(result, "issuer_id") != NULL) {
            snprintf(call->issuer, sizeof(call->issuer), "%s",
                     lca_val_map_get_str(result, "issuer_id"));
        }
        if (t->consul) {
            lca_http_set(resp, 200, "application/json", "true", 4);
        } else if (t->type == LCA_CMD_ROLE_DELETE || t->vault_cfg != 0) {
            respond_data(resp, 204, NULL);
        } else if (t->type == LCA_CMD_ROLE_WRITE && lca_val_map_get(result, "role") != NULL) {
            respond_data(resp, 200, lca_val_map_get(result, "role"));
        } else {
            respond_data(resp, t->type == LCA_CMD_TIDY ? 202 : 200,
                         result != NULL ? result : lca_val_map_get(reply, "status"));
        }
    }
    lca_val_free(result);
}

/* The envelope of a command of type t with payload (taken) and the caller's token. */
static struct lca_val *envelope(const struct target *t, struct lca_val *payload,
                                const char *token)
{
    struct lca_val *env = lca_val_new_map();
    char id[37], corr[64];

    if (env == NULL || lca_uuid_v4(id) != LCA_OK) {
        lca_val_free(env);
        lca_val_free(payload);
        return NULL;
    }
    snprintf(corr, sizeof(corr), "api-%s", id);
    lca_val_map_set_str(env, "command_id", id);
    lca_val_map_set_str(env, "type", lca_catalog_cmd_name(t->type));
    lca_val_map_set_str(env, "correlation_id", corr);
    lca_val_map_set_str(env, "reply_to", LCA_COMMAND_DEFAULT_REPLY_TO);
    if (token != NULL) {
        lca_val_map_set_str(env, "token", token);
    }
    lca_val_map_set(env, "payload", payload);
    return env;
}

/* The facade's own check, before a round trip: the signer's rule (engine/authz.h). */
static int precheck(const struct target *t, struct lca_val *payload,
                    const struct lca_token_info *who, struct lca_http_resp *resp)
{
    const char *roles[LCA_TOKEN_MAX_ROLES];
    struct lca_command cmd;
    struct lca_err err;
    size_t i;

    memset(&cmd, 0, sizeof(cmd));
    cmd.type = t->type;
    cmd.payload = payload;
    for (i = 0; i < who->n_roles; i++) {
        roles[i] = who->roles[i];
    }
    if (lca_authz_check(who->persona, roles, who->n_roles, &cmd, &err) != LCA_OK) {
        lca_http_error(resp, 403, err.msg);
        return LCA_FAIL;
    }
    return LCA_OK;
}

static const char *measured(enum lca_cmd_type t)
{
    return t == LCA_CMD_ISSUE || t == LCA_CMD_SIGN || t == LCA_CMD_SIGN_VERBATIM ||
                   t == LCA_CMD_REVOKE
               ? lca_catalog_cmd_name(t)
               : NULL;
}

int lca_api_write(struct lca_api_facade *f, int timeout_ms, const struct lca_token_info *who,
                  const struct lca_http_req *req, struct lca_http_resp *resp,
                  struct lca_api_call *call)
{
    struct target t;
    struct lca_val *payload, *env = NULL, *reply = NULL;
    uint8_t priv[32];
    struct lca_err err;

    if (!match(req->method, req->path, &t)) {
        return 0;
    }
    call->op = measured(t.type);
    call->leaf = t.type == LCA_CMD_ISSUE || t.type == LCA_CMD_SIGN || t.type == LCA_CMD_SIGN_VERBATIM;
    call->failed = 1;
    snprintf(call->role, sizeof(call->role), "%s", t.role);
    snprintf(call->issuer, sizeof(call->issuer), "%s", t.issuer_ref);
    if ((payload = payload_of(&t, req, resp)) == NULL) {
        return 1;
    }
    if (precheck(&t, payload, who, resp) != LCA_OK ||
        (t.type == LCA_CMD_ISSUE && add_recipient(payload, priv) != LCA_OK)) {
        if (resp->status == 0) {
            lca_http_error(resp, 500, "no random bytes");
        }
        lca_val_free(payload);
        return 1;
    }
    if ((env = envelope(&t, payload, req->token)) == NULL) {
        lca_http_error(resp, 500, "cannot build the command");
    } else if (lca_api_facade_call(f, env, timeout_ms, &reply, &err) != LCA_OK) {
        lca_http_error(resp, err.cls == LCA_ERR_RETRIABLE ? 504 : 502, err.msg);
    } else {
        respond(&t, reply, priv, resp, call);
    }
    OPENSSL_cleanse(priv, sizeof(priv));
    lca_val_free(reply);
    lca_val_free(env);
    return 1;
}
