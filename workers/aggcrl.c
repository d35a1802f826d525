/* aggcrl — unified CRLs and CRL files of the aggregator (aggcrl.h). */
#include "aggcrl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "crl.h"
#include "fsutil.h"
#include "key.h"
#include "log.h"
#include "pgexec.h"
#include "state.h"

#define MAX_SIGNERS 256

struct signer_key {
    char issuer_id[LCA_ID_LEN + 1];
    char key_id[72];
    X509 *cert;
    EVP_PKEY *key; /* NULL: not (yet) in this database: skipped, looked up again later */
    int64_t tried_at; /* when the key was last looked up */
};

#define KEY_RETRY_S 2 /* an operator may copy an issuer's key in later */

struct lca_aggcrl {
    struct lca_pgstore *store;
    uint8_t kek[32];
    const char *crl_dir;
    const char *url_base;
    int64_t validity;
    struct signer_key keys[MAX_SIGNERS];
    size_t n_keys;
};

int lca_aggcrl_new(struct lca_pgstore *store, const uint8_t kek[32], const char *crl_dir,
                   const char *url_base, int64_t next_update_s, struct lca_aggcrl **out,
                   struct lca_err *err)
{
    struct lca_aggcrl *a = calloc(1, sizeof(*a));

    if (a == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "aggregator: out of memory");
    }
    a->store = store;
    memcpy(a->kek, kek, 32);
    a->crl_dir = crl_dir;
    a->url_base = url_base != NULL && url_base[0] != '\0' ? url_base : NULL;
    a->validity = next_update_s > 0 ? next_update_s : 7 * 86400;
    *out = a;
    return LCA_OK;
}

void lca_aggcrl_free(struct lca_aggcrl *a)
{
    size_t i;

    if (a == NULL) {
        return;
    }
    for (i = 0; i < a->n_keys; i++) {
        X509_free(a->keys[i].cert);
        EVP_PKEY_free(a->keys[i].key);
    }
    OPENSSL_cleanse(a->kek, sizeof(a->kek));
    free(a);
}

/* ---- files ---- */

static int mkdirs(const char *path, struct lca_err *err)
{
    char buf[4096];
    size_t i, n = strlen(path);

    if (n >= sizeof(buf)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "crl_file", "path too long");
    }
    memcpy(buf, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                return lca_err_set(err, LCA_ERR_RETRIABLE, "crl_file", "mkdir %s: %s", buf,
                                   strerror(errno));
            }
            buf[i] = c;
        }
    }
    return LCA_OK;
}

static int name_ok(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n <= 64 && s[0] != '.' &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* dir/<id>.crl (and .pem when pem is set). */
static int write_pair(const char *dir, const char *issuer_id, const uint8_t *der, size_t len,
                      int pem, struct lca_err *err)
{
    char path[4096], *p = NULL;
    size_t plen = 0;
    int rc;

    if (!name_ok(issuer_id)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_issuer_id", "issuer id unfit for a file");
    }
    snprintf(path, sizeof(path), "%s/%s.crl", dir, issuer_id);
    if (mkdirs(dir, err) != LCA_OK ||
        lca_fsutil_write_atomic(path, der, len, LCA_ERR_RETRIABLE, "crl_file", err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (!pem) {
        return LCA_OK;
    }
    if (lca_crl_der_to_pem(der, len, &p, &plen, err) != LCA_OK) {
        return LCA_FAIL;
    }
    snprintf(path, sizeof(path), "%s/%s.pem", dir, issuer_id);
    rc = lca_fsutil_write_atomic(path, p, plen, LCA_ERR_RETRIABLE, "crl_file", err);
    free(p);
    return rc;
}

int lca_aggcrl_write_cluster(struct lca_aggcrl *a, const char *cluster, const char *issuer_id,
                             const uint8_t *der, size_t len, struct lca_err *err)
{
    char dir[4096];

    if (a->crl_dir == NULL) {
        return LCA_OK;
    }
    if (!name_ok(cluster)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_cluster", "cluster unfit for a path");
    }
    snprintf(dir, sizeof(dir), "%s/clusters/%s", a->crl_dir, cluster);
    return write_pair(dir, issuer_id, der, len, 1, err);
}

static int write_unified(struct lca_aggcrl *a, const char *issuer_id, const uint8_t *der,
                         size_t len, struct lca_err *err)
{
    char dir[4096];

    if (a->crl_dir == NULL) {
        return LCA_OK;
    }
    snprintf(dir, sizeof(dir), "%s/unified", a->crl_dir);
    return write_pair(dir, issuer_id, der, len, 1, err);
}

/* ---- SQL ---- */

/* A statement on the aggregator's connection (lca_pgexec_query_fmt). */
static PGresult *query(struct lca_aggcrl *a, const char *what, const char *sql, int n,
                       const char *const *v, const int *lens, const int *fmts, int binary,
                       struct lca_err *err)
{
    return lca_pgexec_query_fmt(a->store, what, sql, n, v, lens, fmts, binary, err);
}

int lca_aggcrl_sync_files(struct lca_aggcrl *a, struct lca_err *err)
{
    PGresult *u, *c;
    int r, rc = LCA_OK;

    if (a->crl_dir == NULL) {
        return LCA_OK;
    }
    if ((u = query(a, "agg_unified_crls read", "SELECT issuer_id, der FROM agg_unified_crls", 0,
                   NULL, NULL, NULL, 1, err)) == NULL) {
        return LCA_FAIL;
    }
    for (r = 0; rc == LCA_OK && r < PQntuples(u); r++) {
        char id[LCA_ID_LEN + 1];
        snprintf(id, sizeof(id), "%.*s", PQgetlength(u, r, 0), PQgetvalue(u, r, 0));
        rc = write_unified(a, id, (const uint8_t *)PQgetvalue(u, r, 1),
                           (size_t)PQgetlength(u, r, 1), err);
    }
    PQclear(u);
    if (rc != LCA_OK || (c = query(a, "agg_cluster_crls read",
                                   "SELECT cluster, issuer_id, der FROM agg_cluster_crls", 0,
                                   NULL, NULL, NULL, 1, err)) == NULL) {
        return LCA_FAIL;
    }
    for (r = 0; rc == LCA_OK && r < PQntuples(c); r++) {
        char cl[65], id[LCA_ID_LEN + 1];
        snprintf(cl, sizeof(cl), "%.*s", PQgetlength(c, r, 0), PQgetvalue(c, r, 0));
        snprintf(id, sizeof(id), "%.*s", PQgetlength(c, r, 1), PQgetvalue(c, r, 1));
        rc = lca_aggcrl_write_cluster(a, cl, id, (const uint8_t *)PQgetvalue(c, r, 2),
                                      (size_t)PQgetlength(c, r, 2), err);
    }
    PQclear(c);
    return rc;
}

/* ---- signing keys ---- */

/* Looks the issuer's wrapped key up in ca_keys and unwraps it; a missing or foreign key leaves
 * k->key NULL (logged), only a RETRIABLE database failure fails. */
static struct signer_key *load_signer(struct lca_aggcrl *a, struct signer_key *k, int64_t now,
                                      struct lca_err *err)
{
    uint8_t *blob = NULL;
    size_t len = 0;
    struct lca_err why;
    int first = k->tried_at == 0;

    k->tried_at = now;
    lca_err_clear(&why);
    if (lca_pgstore_key_get(a->store, k->key_id, &blob, &len, &why) != LCA_OK) {
        if (why.cls == LCA_ERR_RETRIABLE) {
            *err = why;
            return NULL;
        }
        if (first) {
            lca_log(LCA_LOG_WARN, "issuer key not in this database: no unified CRL for it yet",
                    "issuer_id=%s", k->issuer_id);
        }
        return k;
    }
    if (lca_key_unwrap(a->kek, blob, len, k->key_id, &k->key, &why) != LCA_OK) {
        if (first) {
            lca_log_err("issuer key does not unwrap under this KEK: no unified CRL for it", &why);
        }
        k->key = NULL;
    }
    free(blob);
    return k;
}

static struct signer_key *signer_for(struct lca_aggcrl *a, const char *issuer_id,
                                     const char *key_id, const uint8_t *der, size_t der_len,
                                     int64_t now, struct lca_err *err)
{
    struct signer_key *k = NULL;
    size_t i;
    const unsigned char *p = der;

    for (i = 0; i < a->n_keys && k == NULL; i++) {
        k = strcmp(a->keys[i].issuer_id, issuer_id) == 0 ? &a->keys[i] : NULL;
    }
    if (k != NULL) {
        return k->key != NULL || now - k->tried_at < KEY_RETRY_S ? k
                                                                 : load_signer(a, k, now, err);
    }
    if (a->n_keys == MAX_SIGNERS) {
        (void)lca_err_set(err, LCA_ERR_FATAL, "too_many_issuers", "aggregator: over %d issuers",
                          MAX_SIGNERS);
        return NULL;
    }
    k = &a->keys[a->n_keys];
    memset(k, 0, sizeof(*k));
    snprintf(k->issuer_id, sizeof(k->issuer_id), "%s", issuer_id);
    snprintf(k->key_id, sizeof(k->key_id), "%s", key_id);
    if ((k->cert = d2i_X509(NULL, &p, (long)der_len)) == NULL) {
        (void)lca_err_set(err, LCA_ERR_FATAL, "bad_issuer", "issuer %s: bad certificate",
                          issuer_id);
        return NULL;
    }
    a->n_keys++;
    return load_signer(a, k, now, err);
}

/* ---- one unified CRL ---- */

struct entries {
    struct lca_crl_entry *e;
    uint8_t (*serials)[20];
    size_t n;
};

static int load_entries(struct lca_aggcrl *a, const char *issuer_id, struct entries *out,
                        struct lca_err *err)
{
    const char *v[1] = {issuer_id};
    PGresult *res = query(a, "agg_revocations read",
                          "SELECT serial, min(revoked_at), min(reason), max(not_after) "
                          "FROM agg_revocations WHERE issuer_id = $1 GROUP BY serial",
                          1, v, NULL, NULL, 0, err);
    int r, n;

    if (res == NULL) {
        return LCA_FAIL;
    }
    n = PQntuples(res);
    out->e = calloc((size_t)n + 1, sizeof(*out->e));
    out->serials = calloc((size_t)n + 1, sizeof(*out->serials));
    out->n = 0;
    if (out->e == NULL || out->serials == NULL) {
        PQclear(res);
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "aggregator: out of memory");
    }
    for (r = 0; r < n; r++) {
        struct lca_crl_entry *e = &out->e[out->n];
        size_t len = 0;
        int64_t na = strtoll(PQgetvalue(res, r, 3), NULL, 10);
        if (lca_state_serial_parse(PQgetvalue(res, r, 0), out->serials[out->n], &len) !=
            LCA_OK) {
            continue; /* unreachable: the fold stores normalised serials */
        }
        e->serial = out->serials[out->n];
        e->serial_len = len;
        e->revoked_at = strtoll(PQgetvalue(res, r, 1), NULL, 10);
        e->reason = (enum lca_crl_reason)strtol(PQgetvalue(res, r, 2), NULL, 10);
        e->not_after = na > 0 ? na : INT64_MAX; /* not seen: keep it listed */
        out->n++;
    }
    PQclear(res);
    return LCA_OK;
}

static int store_unified(struct lca_aggcrl *a, const char *issuer_id, uint64_t number,
                         const uint8_t *der, size_t len, int64_t tu, int64_t nu, size_t entries,
                         const char *rev_count, struct lca_err *err)
{
    char num[24], t[24], n[24], en[24];
    const char *v[7] = {issuer_id, num, (const char *)der, t, n, en, rev_count};
    int lens[7] = {0, 0, (int)len, 0, 0, 0, 0};
    int fmts[7] = {0, 0, 1, 0, 0, 0, 0};
    PGresult *res;

    snprintf(num, sizeof(num), "%" PRIu64, number);
    snprintf(t, sizeof(t), "%" PRId64, tu);
    snprintf(n, sizeof(n), "%" PRId64, nu);
    snprintf(en, sizeof(en), "%zu", entries);
    res = query(a, "agg_unified_crls upsert",
                "INSERT INTO agg_unified_crls (issuer_id, crl_number, der, this_update, "
                "next_update, entries, built_rev_count) VALUES ($1, $2::bigint, $3::bytea, "
                "$4::bigint, $5::bigint, $6::int, $7::bigint) ON CONFLICT (issuer_id) DO UPDATE "
                "SET crl_number = EXCLUDED.crl_number, der = EXCLUDED.der, this_update = "
                "EXCLUDED.this_update, next_update = EXCLUDED.next_update, entries = "
                "EXCLUDED.entries, built_rev_count = EXCLUDED.built_rev_count, built_at = "
                "clock_timestamp() WHERE agg_unified_crls.crl_number < EXCLUDED.crl_number",
                7, v, lens, fmts, 0, err);
    if (res == NULL) {
        return LCA_FAIL;
    }
    PQclear(res);
    return LCA_OK;
}

static int build_one(struct lca_aggcrl *a, PGresult *res, int row, int64_t now, int *built,
                     struct lca_err *err)
{
    const char *id = PQgetvalue(res, row, 0), *count = PQgetvalue(res, row, 3);
    size_t der_len = 0, crl_len = 0;
    uint8_t *cert = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, 2), &der_len);
    struct signer_key *k = NULL;
    struct entries en = {NULL, NULL, 0};
    struct lca_crl_req req;
    char url[1200];
    uint8_t *crl = NULL;
    int rc = LCA_FAIL;

    if (cert == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "aggregator: out of memory");
    }
    k = signer_for(a, id, PQgetvalue(res, row, 1), cert, der_len, now, err);
    PQfreemem(cert);
    if (k == NULL || k->key == NULL) {
        return k == NULL ? LCA_FAIL : LCA_OK;
    }
    if (load_entries(a, id, &en, err) != LCA_OK) {
        goto out;
    }
    snprintf(url, sizeof(url), "%s/v1/pki/issuer/%s/unified-crl/der",
             a->url_base != NULL ? a->url_base : "", id);
    memset(&req, 0, sizeof(req));
    req.this_update = now;
    req.next_update = now + a->validity;
    req.crl_number = (uint64_t)strtoull(PQgetvalue(res, row, 4), NULL, 10) + 1;
    if (req.crl_number <= LCA_AGGCRL_NUMBER_BASE) {
        req.crl_number = LCA_AGGCRL_NUMBER_BASE + 1;
    }
    req.delta_base = -1;
    req.idp_url = a->url_base != NULL ? url : NULL;
    req.entries = en.e;
    req.n_entries = en.n;
    if (lca_crl_build(k->cert, k->key, &req, &crl, &crl_len, err) != LCA_OK ||
        store_unified(a, id, req.crl_number, crl, crl_len, req.this_update, req.next_update,
                      en.n, count, err) != LCA_OK ||
        write_unified(a, id, crl, crl_len, err) != LCA_OK) {
        goto out;
    }
    lca_log(LCA_LOG_INFO, "unified CRL built", "issuer_id=%s crl_number=%llu entries=%zu", id,
            (unsigned long long)req.crl_number, en.n);
    *built = 1;
    rc = LCA_OK;
out:
    free(crl);
    free(en.e);
    free(en.serials);
    return rc;
}

int lca_aggcrl_rebuild(struct lca_aggcrl *a, int64_t now, size_t *built, struct lca_err *err)
{
    char nowbuf[24], half[24];
    const char *v[2] = {nowbuf, half};
    PGresult *res;
    int r, rc = LCA_OK;
    size_t n = 0;

    snprintf(nowbuf, sizeof(nowbuf), "%" PRId64, now);
    snprintf(half, sizeof(half), "%" PRId64, a->validity / 2);
    res = query(a, "agg_issuers read",
                "SELECT i.issuer_id, i.key_id, i.certificate, i.rev_count, "
                "coalesce(u.crl_number, 0) FROM agg_issuers i LEFT JOIN agg_unified_crls u "
                "USING (issuer_id) WHERE u.issuer_id IS NULL OR u.built_rev_count <> i.rev_count "
                "OR u.next_update - $1::bigint < $2::bigint ORDER BY i.issuer_id",
                2, v, NULL, NULL, 0, err);
    if (res == NULL) {
        return LCA_FAIL;
    }
    for (r = 0; rc == LCA_OK && r < PQntuples(res); r++) {
        int b = 0;
        if ((rc = build_one(a, res, r, now, &b, err)) == LCA_OK) {
            n += (size_t)b;
        }
    }
    PQclear(res);
    if (built != NULL) {
        *built = n;
    }
    return rc;
}
