/*
 * api — routes of `ledgerca api` (see api.h). Reads, with seed 003's persona per path:
 *
 *   GET  /v1/sys/health                          anyone  {"initialized":true,"sealed":false,...}
 *   GET  /v1/sys/metrics?format=prometheus       anyone
 *   GET  /v1/connect/ca/roots[?pem=true][&index=N&wait=5s]   anyone (Consul agents)
 *   GET  /v1/connect/ca/configuration            Agent
 *   GET  /v1/pki/ca, ca/pem, ca_chain, crl, crl/pem, cert/:serial     Unauthed
 *   LIST /v1/pki/issuers; GET issuer/:ref/(json|der|pem), issuer/:ref/crl(/der|/pem)  Unauthed
 *   GET  /v1/pki/unified-crl(/pem), issuer/:ref/unified-crl(/der|/pem)  Unauthed (aggregator)
 *   GET  /v1/pki/crl/delta(/pem), issuer/:ref/crl/delta(/der|/pem)  Unauthed (delta CRL)
 *   GET  <CRL base URL path>/<issuer_id>[/<k>][.delta].crl|.pem, also under /v1/pki/crls:
 *        every complete, delta and shard CRL at the URL certificates carry (api_crl.h)  Unauthed
 *   LIST /v1/pki/certs, roles; GET roles/:name   Requester
 *   GET  /v1/pki/issuer/:ref, config/crl, tidy-status   Agent
 *   GET  /v1/pki/config/urls                     Operator
 * LIST is the LIST method or GET with ?list=true. Errors are Vault's {"errors": [...]}: 403
 * permission denied, 404 unknown path or object, 405 a method the path does not take.
 */
#include "api.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_crl.h"
#include "api_facade.h"
#include "api_metrics.h"
#include "api_view.h"
#include "api_write.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "pgstore.h"
#include "tokens.h"

#define API_POOL 4
#define API_WAIT_MAX_MS 600000

struct api {
    const struct lca_api_opts *o;
    struct lca_api_view *view;
    struct lca_api_facade *facade;
    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;
    struct lca_pgstore *pool[API_POOL];
    int busy[API_POOL];
    struct lca_api_metrics *metrics;
};

/* Frees a string json_dumps returned: jansson's allocator may be the wiping one
 * (lca_json_install_wiping_alloc), whose blocks plain free() must not see. */
static void jfree(void *p)
{
    json_malloc_t m;
    json_free_t f;

    json_get_alloc_funcs(&m, &f);
    if (p != NULL) {
        f(p);
    }
}

/* ---- the connection pool (tokens, rm_certs) ---- */

static struct lca_pgstore *pool_get(struct api *a, int *slot)
{
    int i;

    pthread_mutex_lock(&a->pool_mu);
    for (;;) {
        for (i = 0; i < API_POOL; i++) {
            if (!a->busy[i]) {
                a->busy[i] = 1;
                pthread_mutex_unlock(&a->pool_mu);
                *slot = i;
                return a->pool[i];
            }
        }
        pthread_cond_wait(&a->pool_cv, &a->pool_mu);
    }
}

static void pool_put(struct api *a, int slot)
{
    pthread_mutex_lock(&a->pool_mu);
    a->busy[slot] = 0;
    pthread_cond_signal(&a->pool_cv);
    pthread_mutex_unlock(&a->pool_mu);
}

/* ---- responses ---- */

static void set_text(struct lca_http_resp *r, int status, const char *ctype, const char *s)
{
    lca_http_set(r, status, ctype, s, strlen(s));
}

/* Vault's response envelope around data_json (a JSON object text). */
static void vault_data(struct lca_http_resp *r, const char *data_json)
{
    static const char head[] = "{\"request_id\":\"\",\"lease_id\":\"\",\"renewable\":false,"
                               "\"lease_duration\":0,\"data\":";
    static const char tail[] = ",\"wrap_info\":null,\"warnings\":null,\"auth\":null}";
    size_t n = strlen(data_json);
    char *b = malloc(sizeof(head) + n + sizeof(tail));

    if (b == NULL) {
        lca_http_error(r, 500, "out of memory");
        return;
    }
    memcpy(b, head, sizeof(head) - 1);
    memcpy(b + sizeof(head) - 1, data_json, n);
    memcpy(b + sizeof(head) - 1 + n, tail, sizeof(tail));
    lca_http_set(r, 200, "application/json", b, strlen(b));
    free(b);
}

/* PEM of der under label ("X509 CRL"), malloc'd. */
static char *pem_encode(const char *label, const unsigned char *der, size_t len)
{
    size_t lines = (len + 47) / 48, cap = lines * 66 + 2 * strlen(label) + 64, o = 0, i;
    char *out = malloc(cap);

    if (out == NULL) {
        return NULL;
    }
    o += (size_t)snprintf(out, cap, "-----BEGIN %s-----\n", label);
    for (i = 0; i < len; i += 48) {
        size_t n = len - i < 48 ? len - i : 48;

        o += (size_t)EVP_EncodeBlock((unsigned char *)out + o, der + i, (int)n);
        out[o++] = '\n';
    }
    snprintf(out + o, cap - o, "-----END %s-----\n", label);
    return out;
}

/* ---- persona checks ---- */

struct who {
    int resolved;
    struct lca_token_info info;
};

static int resolve(struct api *a, const struct lca_http_req *req, struct who *w,
                   struct lca_http_resp *resp)
{
    struct lca_err err;
    int slot, rc;
    struct lca_pgstore *s;

    if (w->resolved) {
        return LCA_OK;
    }
    memset(&w->info, 0, sizeof(w->info));
    if (req->token == NULL) {
        w->resolved = 1;
        return LCA_OK;
    }
    s = pool_get(a, &slot);
    rc = lca_tokens_lookup(s, req->token, &w->info, &err);
    pool_put(a, slot);
    if (rc != LCA_OK) {
        lca_log_err("token lookup", &err);
        lca_http_error(resp, 503, "token store unavailable");
        return LCA_FAIL;
    }
    w->resolved = 1;
    return LCA_OK;
}

/* LCA_OK when the caller is at least `need`; otherwise resp is 403 (or 503). */
static int require(struct api *a, const struct lca_http_req *req, struct who *w,
                   enum lca_persona need, struct lca_http_resp *resp)
{
    if (need == LCA_PERSONA_UNAUTHED) {
        return LCA_OK;
    }
    if (resolve(a, req, w, resp) != LCA_OK) {
        return LCA_FAIL;
    }
    if (w->info.persona < need) {
        lca_http_error(resp, 403, "permission denied");
        return LCA_FAIL;
    }
    return LCA_OK;
}

/* ---- Consul ---- */

/* "5s", "500ms", "2m", "10" (seconds) -> ms; default 5 min (Consul's), capped at 10 min. */
static int wait_ms(const char *s)
{
    char *end = NULL;
    long v;

    if (s == NULL || s[0] == '\0') {
        return 300000;
    }
    v = strtol(s, &end, 10);
    if (v < 0) {
        return 0;
    }
    if (strcmp(end, "ms") == 0) {
        v = v / 1;
    } else if (strcmp(end, "m") == 0) {
        v = v > 10 ? API_WAIT_MAX_MS : v * 60000;
    } else {
        v = v > 600 ? API_WAIT_MAX_MS : v * 1000;
    }
    return v > API_WAIT_MAX_MS ? API_WAIT_MAX_MS : (int)v;
}

/* Concatenated RootCert PEMs of the roots document (Consul's ?pem=true). */
static char *roots_pem(const char *doc)
{
    json_t *j = json_loads(doc, 0, NULL), *roots = json_object_get(j, "Roots"), *r;
    size_t i, len = 0;
    char *out = calloc(1, 1);

    json_array_foreach(roots, i, r) {
        const char *pem = json_string_value(json_object_get(r, "RootCert"));
        size_t n = pem != NULL ? strlen(pem) : 0;
        char *grown = out != NULL ? realloc(out, len + n + 2) : NULL;

        if (grown == NULL) {
            free(out);
            out = NULL;
            break;
        }
        out = grown;
        memcpy(out + len, pem != NULL ? pem : "", n);
        len += n;
        if (n > 0 && out[len - 1] != '\n') {
            out[len++] = '\n';
        }
        out[len] = '\0';
    }
    json_decref(j);
    return out;
}

static void consul_roots(struct api *a, const struct lca_http_req *req, struct lca_http_resp *r)
{
    const char *idx = lca_http_query(req, "index"), *pem = lca_http_query(req, "pem");
    const struct lca_api_snap *s;

    if (idx != NULL && idx[0] != '\0') {
        s = lca_api_view_wait_roots(a->view, strtoll(idx, NULL, 10),
                                    wait_ms(lca_http_query(req, "wait")));
    } else {
        s = lca_api_view_get(a->view);
    }
    snprintf(r->consul_index, sizeof(r->consul_index), "%lld", (long long)s->roots_index);
    if (s->roots_doc == NULL) {
        set_text(r, 200, "application/json",
                 "{\"ActiveRootID\":\"\",\"TrustDomain\":\"\",\"Roots\":[]}");
    } else if (pem != NULL && strcmp(pem, "true") == 0) {
        char *text = roots_pem(s->roots_doc);

        if (text != NULL) {
            set_text(r, 200, "application/pem-certificate-chain", text);
        } else {
            lca_http_error(r, 500, "cannot read the roots document");
        }
        free(text);
    } else {
        set_text(r, 200, "application/json", s->roots_doc);
    }
    lca_api_view_put(a->view, s);
}

/* Go duration text of seconds ("72h", "90m", "45s"). */
static json_t *go_duration(json_int_t secs)
{
    char b[32];

    if (secs % 3600 == 0) {
        snprintf(b, sizeof(b), "%lldh", (long long)(secs / 3600));
    } else if (secs % 60 == 0) {
        snprintf(b, sizeof(b), "%lldm", (long long)(secs / 60));
    } else {
        snprintf(b, sizeof(b), "%llds", (long long)secs);
    }
    return json_string(b);
}

/* Consul's CAConfiguration from the flat normalized configuration. */
static char *consul_config(const struct lca_api_snap *s)
{
    static const char *const durs[] = {"LeafCertTTL", "IntermediateCertTTL", "RootCertTTL",
                                       "DefaultTTL", "MaxTTL", "CrlExpiry"};
    json_t *flat = json_loads(s->config_doc != NULL ? s->config_doc : "{}", 0, NULL);
    json_t *cfg = json_object(), *out = json_object(), *v;
    const char *k;
    char *text;
    size_t i;

    json_object_foreach(flat, k, v) {
        int is_dur = 0;

        for (i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
            is_dur |= strcmp(k, durs[i]) == 0;
        }
        if (strcmp(k, "Provider") != 0 && strcmp(k, "ClusterID") != 0) {
            json_object_set_new(cfg, k, is_dur && json_is_integer(v)
                                            ? go_duration(json_integer_value(v))
                                            : json_incref(v));
        }
    }
    json_object_set_new(out, "Provider", json_string("consul"));
    json_object_set(out, "ClusterID", json_object_get(flat, "ClusterID"));
    json_object_set_new(out, "Config", cfg);
    json_object_set_new(out, "State", json_null());
    json_object_set_new(out, "ForceWithoutCrossSigning", json_false());
    json_object_set_new(out, "CreateIndex", json_integer(s->config_index));
    json_object_set_new(out, "ModifyIndex", json_integer(s->config_index));
    text = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(out);
    json_decref(flat);
    return text;
}

static void text_or_500(struct lca_http_resp *r, char *text)
{
    if (text != NULL) {
        set_text(r, 200, "application/json", text);
    } else {
        lca_http_error(r, 500, "internal error");
    }
    jfree(text);
}

/* ---- Vault PKI reads ---- */

/* Vault accepts "01:ab:..." and "01-ab-..."; rm_certs holds lowercase colon hex. */
static int norm_serial(const char *in, char *out, size_t cap)
{
    size_t i;

    for (i = 0; in[i] != '\0'; i++) {
        char c = in[i] == '-' ? ':' : in[i];

        if (i + 1 >= cap || !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                              (c >= 'A' && c <= 'F') || c == ':')) {
            return LCA_FAIL;
        }
        out[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
    }
    out[i] = '\0';
    return i > 0 ? LCA_OK : LCA_FAIL;
}

static void fmt_rfc3339(int64_t secs, char *out, size_t cap)
{
    time_t t = (time_t)secs;
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* rm_certs query on a pooled connection; NULL with resp set on failure. */
static PGresult *certs_query(struct api *a, const char *sql, const char *param,
                             struct lca_http_resp *r)
{
    struct lca_err err;
    int slot;
    struct lca_pgstore *s = pool_get(a, &slot);
    PGconn *c = lca_pgstore_conn(s, &err);
    PGresult *res = NULL;

    if (c != NULL) {
        res = PQexecParams(c, sql, param != NULL ? 1 : 0, NULL, &param, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            (void)lca_pgstore_pg_err(c, res, "rm_certs", &err);
            PQclear(res);
            res = NULL;
        }
    }
    pool_put(a, slot);
    if (res == NULL) {
        lca_log_err("certificate read", &err);
        lca_http_error(r, 503, "read models unavailable");
    }
    return res;
}

static void pki_cert(struct api *a, const char *serial, struct lca_http_resp *r)
{
    char norm[128], when[32] = "";
    PGresult *res;
    json_t *d;
    int64_t rev;

    if (norm_serial(serial, norm, sizeof(norm)) != LCA_OK) {
        lca_http_error(r, 400, "invalid serial number");
        return;
    }
    res = certs_query(a,
                      "SELECT issuer_id, certificate IS NULL, encode(certificate, 'base64'), "
                      "COALESCE(extract(epoch FROM revoked_at)::bigint, 0) FROM rm_certs "
                      "WHERE serial = $1", norm, r);
    if (res == NULL) {
        return;
    }
    if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 1), "t") == 0) {
        PQclear(res);
        lca_http_error(r, 404, "certificate not found");
        return;
    }
    rev = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
    if (rev > 0) {
        fmt_rfc3339(rev, when, sizeof(when));
    }
    {
        const char *b64 = PQgetvalue(res, 0, 2);
        size_t n = strlen(b64), i, o = 0;
        char *pem = malloc(n + n / 64 + 128);

        if (pem != NULL) {
            o += (size_t)sprintf(pem, "-----BEGIN CERTIFICATE-----\n");
            for (i = 0; i < n; i++) {
                if (b64[i] != '\n') {
                    pem[o++] = b64[i];
                    if ((o - 28) % 65 == 64) {
                        pem[o++] = '\n';
                    }
                }
            }
            if (pem[o - 1] != '\n') {
                pem[o++] = '\n';
            }
            sprintf(pem + o, "-----END CERTIFICATE-----\n");
        }
        d = json_pack("{s:s, s:s, s:I, s:s}", "certificate", pem != NULL ? pem : "",
                      "issuer_id", PQgetvalue(res, 0, 0), "revocation_time", (json_int_t)rev,
                      "revocation_time_rfc3339", when);
        free(pem);
    }
    PQclear(res);
    {
        char *text = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);

        text != NULL ? vault_data(r, text) : lca_http_error(r, 500, "internal error");
        jfree(text);
    }
    json_decref(d);
}

/* {"keys": [...]} (plus key_info) as Vault's LIST; 404 {"errors":[]} when empty, as Vault. */
static void vault_list(struct lca_http_resp *r, json_t *keys, json_t *key_info)
{
    json_t *d = json_object();
    char *text;

    if (json_array_size(keys) == 0) {
        json_decref(keys);
        json_decref(key_info);
        json_decref(d);
        set_text(r, 404, "application/json", "{\"errors\":[]}");
        return;
    }
    json_object_set_new(d, "keys", keys);
    if (key_info != NULL) {
        json_object_set_new(d, "key_info", key_info);
    }
    text = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);
    text != NULL ? vault_data(r, text) : lca_http_error(r, 500, "internal error");
    jfree(text);
    json_decref(d);
}

static void pki_list_certs(struct api *a, struct lca_http_resp *r)
{
    PGresult *res = certs_query(a, "SELECT serial FROM rm_certs WHERE certificate IS NOT NULL "
                                   "ORDER BY position", NULL, r);
    json_t *keys = json_array();
    int i;

    if (res == NULL) {
        json_decref(keys);
        return;
    }
    for (i = 0; i < PQntuples(res); i++) {
        json_array_append_new(keys, json_string(PQgetvalue(res, i, 0)));
    }
    PQclear(res);
    vault_list(r, keys, NULL);
}

static void pki_list_issuers(const struct lca_api_snap *s, struct lca_http_resp *r)
{
    json_t *keys = json_array(), *info = json_object();
    size_t i;

    for (i = 0; i < s->n_iss; i++) {
        json_array_append_new(keys, json_string(s->iss[i].id));
        json_object_set_new(info, s->iss[i].id,
                            json_pack("{s:s, s:b}", "issuer_name", s->iss[i].name, "is_default",
                                      strcmp(s->iss[i].id, s->default_id) == 0));
    }
    vault_list(r, keys, info);
}

static void pki_list_roles(const struct lca_api_snap *s, struct lca_http_resp *r)
{
    json_t *keys = json_array();
    size_t i;

    for (i = 0; i < s->n_roles; i++) {
        json_array_append_new(keys, json_string(s->role_names[i]));
    }
    vault_list(r, keys, NULL);
}

static void pki_role(const struct lca_api_snap *s, const char *name, struct lca_http_resp *r)
{
    size_t i;

    for (i = 0; i < s->n_roles; i++) {
        if (strcmp(s->role_names[i], name) == 0) {
            vault_data(r, s->role_docs[i]);
            return;
        }
    }
    lca_http_error(r, 404, "role not found");
}

static void der_crl_out(const unsigned char *crl, size_t crl_len, const char *form,
                        struct lca_http_resp *r);

static void crl_out(const struct lca_api_issuer *is, const char *form, struct lca_http_resp *r)
{
    if (is == NULL || is->crl == NULL) {
        lca_http_error(r, 404, is == NULL ? "no default issuer" : "no CRL published yet");
        return;
    }
    der_crl_out(is->crl, is->crl_len, form, r);
}

/* Vault's crl/delta paths: the issuer's latest delta CRL (scope "delta", enable_delta). */
static void delta_out(const struct lca_api_issuer *is, const char *form, struct lca_http_resp *r)
{
    const struct lca_api_crl *c = lca_api_view_crl(is, "delta");

    if (is == NULL || c == NULL) {
        lca_http_error(r, 404, is == NULL ? "no default issuer" : "no delta CRL published yet");
        return;
    }
    der_crl_out(c->der, c->len, form, r);
}

/* Vault's unified-crl paths: the aggregator's CRL of the issuer across every cluster. */
static void unified_out(const struct lca_api_issuer *is, const char *form,
                        struct lca_http_resp *r)
{
    if (is == NULL || is->ucrl == NULL) {
        lca_http_error(r, 404, is == NULL ? "no default issuer" : "no unified CRL built yet");
        return;
    }
    der_crl_out(is->ucrl, is->ucrl_len, form, r);
}

static void der_crl_out(const unsigned char *crl, size_t crl_len, const char *form,
                        struct lca_http_resp *r)
{
    char *pem;

    if (strcmp(form, "der") == 0) {
        lca_http_set(r, 200, "application/pkix-crl", crl, crl_len);
        return;
    }
    pem = pem_encode("X509 CRL", crl, crl_len);
    if (pem != NULL && strcmp(form, "pem") == 0) {
        set_text(r, 200, "application/x-pem-file", pem);
    } else if (pem != NULL) {
        json_t *d = json_pack("{s:s}", "crl", pem);
        char *text = json_dumps(d, JSON_COMPACT);

        text != NULL ? vault_data(r, text) : lca_http_error(r, 500, "internal error");
        jfree(text);
        json_decref(d);
    } else {
        lca_http_error(r, 500, "out of memory");
    }
    free(pem);
}

/* DER of a PEM certificate. */
static void cert_der(const char *pem, struct lca_http_resp *r)
{
    const char *b = pem != NULL ? strstr(pem, "-----\n") : NULL;
    const char *e = b != NULL ? strstr(b + 6, "-----END") : NULL;
    size_t n = 0, i;
    char *clean = e != NULL ? malloc((size_t)(e - b)) : NULL;
    unsigned char *der;
    int dl;

    for (i = 6; clean != NULL && b + i < e; i++) {
        if (b[i] != '\n' && b[i] != '\r') {
            clean[n++] = b[i];
        }
    }
    der = clean != NULL ? malloc(n) : NULL;
    dl = der != NULL ? EVP_DecodeBlock(der, (unsigned char *)clean, (int)n) : -1;
    if (dl > 0) {
        while (n > 0 && clean[n - 1] == '=') { /* EVP_DecodeBlock keeps padding bytes */
            n--;
            dl--;
        }
        lca_http_set(r, 200, "application/pkix-cert", der, (size_t)dl);
    } else {
        lca_http_error(r, 500, "cannot decode the certificate");
    }
    free(clean);
    free(der);
}

/* issuer/:ref[/json|/der|/pem|/crl[/der|/pem]]; `rest` is what follows ":ref" ("" or "/x"). */
static void pki_issuer(struct api *a, const struct lca_http_req *req, struct who *w,
                       const struct lca_api_snap *s, const char *ref, const char *rest,
                       struct lca_http_resp *r)
{
    const struct lca_api_issuer *is = lca_api_view_issuer(s, ref);

    if (rest[0] == '\0' &&
        require(a, req, w, LCA_PERSONA_AGENT, r) != LCA_OK) { /* seed 003: Operator, Agent */
        return;
    }
    if (is == NULL) {
        lca_http_error(r, 404, "unable to find issuer");
    } else if (rest[0] == '\0' || strcmp(rest, "/json") == 0) {
        vault_data(r, is->doc);
    } else if (strcmp(rest, "/pem") == 0) {
        set_text(r, 200, "application/x-pem-file", is->pem);
    } else if (strcmp(rest, "/der") == 0) {
        cert_der(is->pem, r);
    } else if (strcmp(rest, "/crl") == 0 || strcmp(rest, "/crl/der") == 0 ||
               strcmp(rest, "/crl/pem") == 0) {
        crl_out(is, rest[4] == '\0' ? "json" : rest + 5, r);
    } else if (strcmp(rest, "/crl/delta") == 0 || strcmp(rest, "/crl/delta/der") == 0 ||
               strcmp(rest, "/crl/delta/pem") == 0) {
        delta_out(is, rest[10] == '\0' ? "json" : rest + 11, r);
    } else if (strcmp(rest, "/unified-crl") == 0 || strcmp(rest, "/unified-crl/der") == 0 ||
               strcmp(rest, "/unified-crl/pem") == 0) {
        unified_out(is, rest[12] == '\0' ? "json" : rest + 13, r);
    } else {
        lca_http_error(r, 404, "unsupported path");
    }
}

static void config_urls(const struct lca_api_snap *s, struct lca_http_resp *r)
{
    static const char *const keys[] = {"issuing_certificates", "crl_distribution_points",
                                       "ocsp_servers"};
    json_t *flat = json_loads(s->config_doc != NULL ? s->config_doc : "{}", 0, NULL);
    json_t *d = json_object();
    char *text;
    size_t i;

    for (i = 0; i < 3; i++) {
        json_t *v = json_object_get(flat, keys[i]);

        json_object_set_new(d, keys[i], v != NULL ? json_incref(v) : json_array());
    }
    json_object_set_new(d, "enable_templating", json_false());
    text = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);
    text != NULL ? vault_data(r, text) : lca_http_error(r, 500, "internal error");
    jfree(text);
    json_decref(d);
    json_decref(flat);
}

static void config_crl(const struct lca_api_snap *s, struct lca_http_resp *r)
{
    json_t *flat = json_loads(s->config_doc != NULL ? s->config_doc : "{}", 0, NULL);
    json_t *exp = json_object_get(flat, "CrlExpiry");
    json_t *dri = json_object_get(flat, "CrlDeltaRebuildInterval");
    json_t *d = json_pack("{s:o, s:b, s:b, s:b, s:o}", "expiry",
                          exp != NULL ? go_duration(json_integer_value(exp)) : json_string("72h"),
                          "disable", 0, "auto_rebuild",
                          json_is_true(json_object_get(flat, "CrlAutoRebuild")), "enable_delta",
                          json_is_true(json_object_get(flat, "CrlEnableDelta")),
                          "delta_rebuild_interval",
                          go_duration(dri != NULL ? json_integer_value(dri) : 0));
    char *text = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);

    text != NULL ? vault_data(r, text) : lca_http_error(r, 500, "internal error");
    jfree(text);
    json_decref(d);
    json_decref(flat);
}

static void tidy_status(const struct lca_api_snap *s, struct lca_http_resp *r)
{
    char when[32] = "";
    json_t *d;
    char *text;

    if (s->tidy_at_us > 0) {
        fmt_rfc3339(s->tidy_at_us / 1000000, when, sizeof(when));
    }
    d = json_pack("{s:s, s:s, s:s}", "state", s->tidy_at_us > 0 ? "Finished" : "Inactive",
                  "time_finished", when, "error", "");
    text = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);
    text != NULL ? vault_data(r, text) : lca_http_error(r, 500, "internal error");
    jfree(text);
    json_decref(d);
}

/* GET reads of /v1/pki/<p> that anyone may make; 1 when handled. */
static int pki_public(const struct lca_api_snap *s, const char *p, struct lca_http_resp *r)
{
    const struct lca_api_issuer *def = lca_api_view_issuer(s, "default");

    if (strcmp(p, "ca") == 0 || strcmp(p, "ca/pem") == 0 || strcmp(p, "cert/ca") == 0) {
        if (def == NULL) {
            lca_http_error(r, 404, "no default issuer");
        } else if (strcmp(p, "ca") == 0) {
            cert_der(def->pem, r);
        } else {
            set_text(r, 200, "application/x-pem-file", def->pem);
        }
    } else if (strcmp(p, "ca_chain") == 0 || strcmp(p, "cert/ca_chain") == 0) {
        def != NULL ? set_text(r, 200, "application/x-pem-file", def->chain_pem)
                    : lca_http_error(r, 404, "no default issuer");
    } else if (strcmp(p, "crl") == 0 || strcmp(p, "crl/pem") == 0 || strcmp(p, "crl/der") == 0) {
        crl_out(def, strcmp(p, "crl/pem") == 0 ? "pem" : "der", r);
    } else if (strcmp(p, "crl/delta") == 0 || strcmp(p, "crl/delta/pem") == 0) {
        delta_out(def, strcmp(p, "crl/delta/pem") == 0 ? "pem" : "der", r);
    } else if (strcmp(p, "unified-crl") == 0 || strcmp(p, "unified-crl/pem") == 0 ||
               strcmp(p, "unified-crl/der") == 0) {
        unified_out(def, strcmp(p, "unified-crl/pem") == 0 ? "pem" : "der", r);
    } else {
        return 0;
    }
    return 1;
}

/* Reads of /v1/pki/<p> (GET/LIST); 1 when handled, 0 when p is not a read route. */
static int pki_read(struct api *a, const struct lca_http_req *req, struct who *w, const char *p,
                    int list, struct lca_http_resp *r)
{
    const struct lca_api_snap *s = lca_api_view_get(a->view);
    const char *q;
    int done = 1;

    if (!list && pki_public(s, p, r)) {
    } else if (!list && strncmp(p, "cert/", 5) == 0 && strchr(p + 5, '/') == NULL) {
        pki_cert(a, p + 5, r);
    } else if (list && (strcmp(p, "issuers") == 0 || strcmp(p, "issuers/") == 0)) {
        pki_list_issuers(s, r);
    } else if (!list && strncmp(p, "issuer/", 7) == 0 && p[7] != '\0') {
        char ref[130];
        size_t n = (q = strchr(p + 7, '/')) != NULL ? (size_t)(q - p - 7) : strlen(p + 7);

        snprintf(ref, sizeof(ref), "%.*s", (int)n, p + 7);
        pki_issuer(a, req, w, s, ref, p + 7 + n, r);
    } else if (list && (strcmp(p, "certs") == 0 || strcmp(p, "certs/") == 0)) {
        if (require(a, req, w, LCA_PERSONA_REQUESTER, r) == LCA_OK) {
            pki_list_certs(a, r);
        }
    } else if (list && (strcmp(p, "roles") == 0 || strcmp(p, "roles/") == 0)) {
        if (require(a, req, w, LCA_PERSONA_REQUESTER, r) == LCA_OK) {
            pki_list_roles(s, r);
        }
    } else if (!list && strncmp(p, "roles/", 6) == 0 && p[6] != '\0') {
        if (require(a, req, w, LCA_PERSONA_REQUESTER, r) == LCA_OK) {
            pki_role(s, p + 6, r);
        }
    } else if (!list && strcmp(p, "config/urls") == 0) {
        if (require(a, req, w, LCA_PERSONA_OPERATOR, r) == LCA_OK) {
            config_urls(s, r);
        }
    } else if (!list && strcmp(p, "config/crl") == 0) {
        if (require(a, req, w, LCA_PERSONA_AGENT, r) == LCA_OK) {
            config_crl(s, r);
        }
    } else if (!list && strcmp(p, "tidy-status") == 0) {
        if (require(a, req, w, LCA_PERSONA_AGENT, r) == LCA_OK) {
            tidy_status(s, r);
        }
    } else {
        done = 0;
    }
    lca_api_view_put(a->view, s);
    return done;
}

/* ---- metrics and health ---- */

static void metrics(struct api *a, struct lca_http_resp *r)
{
    const struct lca_api_snap *s = lca_api_view_get(a->view);
    int64_t head = lca_api_view_head(a->view), position = s->position;
    struct lca_err err;
    int slot;
    struct lca_pgstore *st;
    size_t len = 0;
    char *text;

    lca_api_view_put(a->view, s);
    st = pool_get(a, &slot);
    text = lca_api_metrics_render(a->metrics, lca_pgstore_conn(st, &err), a->facade, head,
                                  position, &len);
    pool_put(a, slot);
    if (text == NULL) {
        lca_http_error(r, 500, "out of memory");
        return;
    }
    lca_http_set(r, 200, "text/plain; version=0.0.4", text, len);
    free(text);
}

static void health(struct api *a, struct lca_http_resp *r)
{
    int stale = lca_api_view_stale(a->view);
    char b[256];

    snprintf(b, sizeof(b),
             "{\"initialized\":true,\"sealed\":false,\"standby\":false,"
             "\"performance_standby\":false,\"server_time_utc\":%lld,\"version\":\"ledgerca\","
             "\"cluster_name\":\"%s\",\"read_models\":\"%s\"}",
             (long long)time(NULL), a->o->cluster != NULL ? a->o->cluster : "dc1",
             stale ? "unavailable" : "ok");
    set_text(r, stale ? 503 : 200, "application/json", b);
}

/* ---- dispatch ---- */

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int is_list(const struct lca_http_req *req)
{
    const char *l = lca_http_query(req, "list");

    return strcmp(req->method, "LIST") == 0 ||
           (strcmp(req->method, "GET") == 0 && l != NULL && strcmp(l, "true") == 0);
}

/* After a write other than a leaf issuance, waits (up to 5 s) until the read models reach
 * the log head as it is now, so a client reads what it just wrote (Vault is read-your-writes:
 * hvac writes a role and reads it back at once). Leaves skip it: issuance must stay fast. */
static void read_your_writes(struct api *a)
{
    struct lca_err err;
    int slot;
    struct lca_pgstore *s = pool_get(a, &slot);
    uint8_t hash[LCA_PGSTORE_HASH_LEN];
    int64_t head = 0;
    int rc = lca_pgstore_head(s, &head, hash, &err);

    pool_put(a, slot);
    if (rc == LCA_OK && !lca_api_view_wait_position(a->view, head, 5000)) {
        lca_log(LCA_LOG_WARN, "read models behind the log after a write", "head=%lld",
                (long long)head);
    }
}

/* Writes: resolve the token, hand over to api_write, record the metrics. */
static int try_write(struct api *a, const struct lca_http_req *req, struct who *w,
                     struct lca_http_resp *r)
{
    struct lca_api_call call;
    double t0 = mono_s();

    memset(&call, 0, sizeof(call));
    if (strcmp(req->method, "POST") != 0 && strcmp(req->method, "PUT") != 0 &&
        strcmp(req->method, "DELETE") != 0 && strcmp(req->method, "GET") != 0) {
        return 0;
    }
    if (resolve(a, req, w, r) != LCA_OK) {
        return 1;
    }
    if (!lca_api_write(a->facade, a->o->timeout_ms > 0 ? a->o->timeout_ms : 30000, &w->info, req,
                       r, &call)) {
        return 0;
    }
    if (call.op != NULL) {
        lca_api_metrics_record(a->metrics, &call, mono_s() - t0);
    }
    if (r->status >= 200 && r->status < 300 && !call.leaf) {
        read_your_writes(a);
    }
    return 1;
}

/* A CRL at the URL a certificate names (workers/api_crl.h); 1 when answered. */
static int crl_file(struct api *a, const char *path, struct lca_http_resp *r)
{
    const struct lca_api_snap *s = lca_api_view_get(a->view);
    int done = lca_api_crl_route(s, path, r);

    lca_api_view_put(a->view, s);
    return done;
}

static void route(struct api *a, const struct lca_http_req *req, struct lca_http_resp *r)
{
    const char *p = req->path;
    int get = strcmp(req->method, "GET") == 0, list = is_list(req);
    struct who w;

    memset(&w, 0, sizeof(w));
    if (get && strcmp(p, "/v1/sys/health") == 0) {
        health(a, r);
    } else if (get && strcmp(p, "/v1/sys/metrics") == 0) {
        metrics(a, r);
    } else if (get && strcmp(p, "/v1/connect/ca/roots") == 0) {
        consul_roots(a, req, r);
    } else if (get && strcmp(p, "/v1/connect/ca/configuration") == 0) {
        if (require(a, req, &w, LCA_PERSONA_AGENT, r) == LCA_OK) {
            const struct lca_api_snap *s = lca_api_view_get(a->view);

            text_or_500(r, consul_config(s));
            lca_api_view_put(a->view, s);
        }
    } else if (get && crl_file(a, p, r)) {
    } else if ((get || list) && strncmp(p, "/v1/pki/", 8) == 0 &&
               pki_read(a, req, &w, p + 8, list, r)) {
    } else if (!list && try_write(a, req, &w, r)) {
    } else if (strncmp(p, "/v1/pki/", 8) == 0 || strncmp(p, "/v1/connect/ca/", 15) == 0 ||
               strncmp(p, "/v1/sys/", 8) == 0) {
        lca_http_error(r, get || list ? 404 : 405,
                       get || list ? "unsupported path" : "unsupported operation");
    } else {
        lca_http_error(r, 404, "no handler for route");
    }
}

static void on_request(void *ctx, const struct lca_http_req *req, struct lca_http_resp *r)
{
    struct api *a = ctx;

    route(a, req, r);
    lca_api_metrics_request(a->metrics);
}

/* ---- run ---- */

static void api_close(struct api *a)
{
    int i;

    lca_api_facade_free(a->facade);
    lca_api_view_free(a->view);
    for (i = 0; i < API_POOL; i++) {
        lca_pgstore_free(a->pool[i]);
    }
    pthread_mutex_destroy(&a->pool_mu);
    pthread_cond_destroy(&a->pool_cv);
    lca_api_metrics_free(a->metrics);
    free(a);
}

static int api_open(const struct lca_api_opts *o, struct api **out, struct lca_err *err)
{
    struct api *a = calloc(1, sizeof(*a));
    const char *cl = o->cluster != NULL ? o->cluster : "dc1";
    char group[200];
    int i;

    if (a == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "no_memory", "oom");
    }
    a->o = o;
    pthread_mutex_init(&a->pool_mu, NULL);
    pthread_cond_init(&a->pool_cv, NULL);
    for (i = 0; i < API_POOL; i++) {
        if (lca_pgstore_open(o->pg_uri, cl, &a->pool[i], err) != LCA_OK) {
            api_close(a);
            return LCA_FAIL;
        }
    }
    snprintf(group, sizeof(group), "ledgerca-signer-%s", cl);
    if (lca_api_metrics_new(cl, o->signer_group != NULL ? o->signer_group : group, o->bootstrap,
                            &a->metrics, err) != LCA_OK ||
        lca_api_view_new(o->pg_uri, cl, 50, &a->view, err) != LCA_OK ||
        lca_api_facade_new(o->bootstrap, &a->facade, err) != LCA_OK ||
        lca_api_facade_set_topic_suffix(a->facade, o->topic_suffix, err) != LCA_OK) {
        api_close(a);
        return LCA_FAIL;
    }
    lca_api_metrics_set_topic_suffix(a->metrics, o->topic_suffix);
    *out = a;
    return LCA_OK;
}

int lca_api_run(const struct lca_api_opts *o, struct lca_err *err)
{
    struct lca_http_opts ho;
    struct lca_http *h = NULL;
    struct api *a = NULL;

    if (o->pg_uri == NULL || o->bootstrap == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_args", "pg_uri and bootstrap required");
    }
    if (api_open(o, &a, err) != LCA_OK) {
        return LCA_FAIL;
    }
    memset(&ho, 0, sizeof(ho));
    ho.listen = o->listen != NULL ? o->listen : "127.0.0.1:8200";
    ho.conn_timeout_s = o->conn_timeout_s;
    ho.handler = on_request;
    ho.ctx = a;
    if (lca_http_start(&ho, &h, err) != LCA_OK) {
        api_close(a);
        return LCA_FAIL;
    }
    lca_log(LCA_LOG_INFO, "api ready", "listen=%s port=%u", ho.listen,
            (unsigned)lca_http_port(h));
    if (o->port_out != NULL) {
        *o->port_out = (unsigned)lca_http_port(h);
    }
    if (o->ready != NULL) {
        *o->ready = 1;
    }
    while (o->stop == NULL || !*o->stop) {
        struct timespec ts = {0, 100000000L};

        nanosleep(&ts, NULL);
    }
    lca_http_stop(h);
    api_close(a);
    lca_log(LCA_LOG_INFO, "api stopped", "%s", "");
    return LCA_OK;
}
