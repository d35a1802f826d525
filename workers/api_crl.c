/* api_crl — the CRLs certificates point at, served at their URLs (see api_crl.h). */
#include "api_crl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crl.h"

/* Strips one of the suffixes (".delta.crl" before ".crl"); 1 on a match. */
static int cut_suffix(char *s, int *delta, int *pem)
{
    static const char *const sfx[] = {".delta.crl", ".delta.pem", ".crl", ".pem"};
    size_t n = strlen(s), i, m;

    for (i = 0; i < 4; i++) {
        m = strlen(sfx[i]);
        if (n > m && strcmp(s + n - m, sfx[i]) == 0) {
            s[n - m] = '\0';
            *delta = i < 2;
            *pem = i == 1 || i == 3;
            return 1;
        }
    }
    return 0;
}

/* A shard number in canonical decimal ("0", "17"; not "07", "", "-1"). */
static int parse_shard(const char *s, int *out)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > 5 || (n > 1 && s[0] == '0')) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    *out = atoi(s);
    return 1;
}

int lca_api_crl_parse(const char *rel, char id[40], int *shard, int *delta, int *pem)
{
    char buf[64], *slash;

    if (strlen(rel) >= sizeof(buf)) {
        return 0;
    }
    memcpy(buf, rel, strlen(rel) + 1);
    if (!cut_suffix(buf, delta, pem)) {
        return 0;
    }
    *shard = -1;
    if ((slash = strchr(buf, '/')) != NULL) {
        *slash = '\0';
        if (!parse_shard(slash + 1, shard)) {
            return 0;
        }
    }
    if (buf[0] == '\0' || strlen(buf) >= 40 || strchr(buf, '.') != NULL) {
        return 0;
    }
    memcpy(id, buf, strlen(buf) + 1);
    return 1;
}

static const struct lca_api_issuer *by_id(const struct lca_api_snap *s, const char *id)
{
    size_t i;

    for (i = 0; i < s->n_iss; i++) {
        if (strcasecmp(s->iss[i].id, id) == 0) {
            return &s->iss[i];
        }
    }
    return NULL;
}

static void send_crl(const struct lca_api_crl *c, int pem, struct lca_http_resp *r)
{
    struct lca_err err;
    char *text = NULL;
    size_t len = 0;

    if (!pem) {
        lca_http_set(r, 200, "application/pkix-crl", c->der, c->len);
    } else if (lca_crl_der_to_pem(c->der, c->len, &text, &len, &err) == LCA_OK) {
        lca_http_set(r, 200, "application/x-pem-file", text, len);
    } else {
        lca_http_error(r, 500, "cannot encode the CRL");
    }
    free(text);
}

/* Answers rel (relative to a base URL) once it parsed. */
static void answer(const struct lca_api_snap *s, const char *id, int shard, int delta, int pem,
                   struct lca_http_resp *r)
{
    const struct lca_api_issuer *is = by_id(s, id);
    const struct lca_api_crl *c;
    char scope[24], msg[200];

    if (is == NULL) {
        snprintf(msg, sizeof(msg), "unknown issuer %.39s", id);
        lca_http_error(r, 404, msg);
        return;
    }
    if (shard >= 0 && (unsigned)shard >= is->crl_shards) {
        snprintf(msg, sizeof(msg), "issuer %s has no CRL shard %d (crl_shards %u)", is->id,
                 shard, is->crl_shards);
        lca_http_error(r, 404, msg);
        return;
    }
    if (shard >= 0) {
        snprintf(scope, sizeof(scope), "%d%s", shard, delta ? ".delta" : "");
    } else {
        snprintf(scope, sizeof(scope), "%s", delta ? "delta" : "");
    }
    if ((c = lca_api_view_crl(is, scope)) == NULL) {
        if (shard >= 0) {
            snprintf(msg, sizeof(msg), "no %sCRL published yet for issuer %s shard %d",
                     delta ? "delta " : "", is->id, shard);
        } else {
            snprintf(msg, sizeof(msg), "no %sCRL published yet for issuer %s",
                     delta ? "delta " : "", is->id);
        }
        lca_http_error(r, 404, msg);
        return;
    }
    send_crl(c, pem, r);
}

/* rel when path is "<prefix>/<rel>", else NULL. */
static const char *under(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);

    return strncmp(path, prefix, n) == 0 && path[n] == '/' ? path + n + 1 : NULL;
}

int lca_api_crl_route(const struct lca_api_snap *s, const char *path, struct lca_http_resp *r)
{
    const char *rel;
    char id[40];
    int shard, delta, pem;
    size_t i;

    if ((rel = under(path, LCA_API_CRL_PREFIX)) != NULL) {
        if (!lca_api_crl_parse(rel, id, &shard, &delta, &pem)) {
            lca_http_error(r, 404, "not a CRL path: want " LCA_API_CRL_PREFIX
                                   "/<issuer_id>[/<shard>][.delta].crl (or .pem)");
            return 1;
        }
        answer(s, id, shard, delta, pem, r);
        return 1;
    }
    for (i = 0; i < s->n_crl_paths; i++) {
        if ((rel = under(path, s->crl_paths[i])) != NULL &&
            lca_api_crl_parse(rel, id, &shard, &delta, &pem)) {
            answer(s, id, shard, delta, pem, r);
            return 1;
        }
    }
    return 0;
}
