/* pgexec — one statement on a store's connection; binary array parameters (pgexec.h). */
#include "pgexec.h"

#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#define ARR_HEADER 20u /* ndim, flags, oid, one dimension's length and lower bound */

PGresult *lca_pgexec_query(struct lca_pgstore *store, const char *what, const char *sql, int n,
                           const char *const *v, const int *lens, const int *fmts,
                           struct lca_err *err)
{
    return lca_pgexec_query_fmt(store, what, sql, n, v, lens, fmts, 0, err);
}

PGresult *lca_pgexec_query_fmt(struct lca_pgstore *store, const char *what, const char *sql,
                               int n, const char *const *v, const int *lens, const int *fmts,
                               int result_format, struct lca_err *err)
{
    PGconn *c = lca_pgstore_conn(store, err);
    PGresult *res;
    ExecStatusType s;

    if (c == NULL) {
        return NULL;
    }
    res = PQexecParams(c, sql, n, NULL, v, lens, fmts, result_format);
    s = PQresultStatus(res);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        (void)lca_pgstore_pg_err(c, res, what, err);
        PQclear(res);
        return NULL;
    }
    return res;
}

int lca_pgexec_run(struct lca_pgstore *store, const char *what, const char *sql, int n,
                   const char *const *v, const int *lens, const int *fmts, long *rows,
                   struct lca_err *err)
{
    PGresult *res = lca_pgexec_query(store, what, sql, n, v, lens, fmts, err);

    if (res == NULL) {
        return LCA_FAIL;
    }
    if (rows != NULL) {
        *rows = strtol(PQcmdTuples(res), NULL, 10);
    }
    PQclear(res);
    return LCA_OK;
}

/* ---- pipelines ---- */

/* Reads one statement's results up to its end marker; *first_bad gets the first failure
 * (kept: the caller clears it), skipping PIPELINE_ABORTED (a consequence, not a cause). */
static int drain_one(PGconn *c, PGresult **first_bad)
{
    PGresult *res;
    int any = 0;

    while ((res = PQgetResult(c)) != NULL) {
        ExecStatusType s = PQresultStatus(res);
        any = 1;
        if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && s != PGRES_PIPELINE_ABORTED &&
            *first_bad == NULL) {
            *first_bad = res;
            continue;
        }
        PQclear(res);
    }
    return any;
}

int lca_pgexec_pipeline(struct lca_pgstore *store, const struct lca_pgexec_stmt *s, size_t n,
                        struct lca_err *err)
{
    PGconn *c = lca_pgstore_conn(store, err);
    PGresult *bad = NULL, *res;
    size_t i, sent = 0, bad_at = 0;
    int ok;

    if (c == NULL) {
        return LCA_FAIL;
    }
    ok = PQenterPipelineMode(c) == 1;
    for (; ok && sent < n; sent++) {
        ok = PQsendQueryParams(c, s[sent].sql, s[sent].n, NULL, s[sent].v, s[sent].lens,
                               s[sent].fmts, 0) == 1;
    }
    ok = ok && PQpipelineSync(c) == 1;
    for (i = 0; ok && i < sent; i++) {
        ok = drain_one(c, &bad);
        bad_at = bad == NULL ? i + 1 : bad_at;
    }
    res = ok ? PQgetResult(c) : NULL;
    ok = ok && PQresultStatus(res) == PGRES_PIPELINE_SYNC;
    PQclear(res);
    ok = PQexitPipelineMode(c) == 1 && ok;
    if (bad != NULL) {
        (void)lca_pgstore_pg_err(c, bad, bad_at < n ? s[bad_at].what : "pipeline", err);
        PQclear(bad);
        return LCA_FAIL;
    }
    return ok ? LCA_OK : lca_pgstore_pg_err(c, NULL, "pipeline", err);
}

/* ---- binary arrays ---- */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put(struct lca_pgexec_arr *a, const void *p, size_t n)
{
    if (a->failed) {
        return;
    }
    if (a->len + n > a->cap) {
        size_t cap = a->cap ? a->cap : 256;
        uint8_t *d;
        while (cap < a->len + n) {
            cap *= 2;
        }
        if ((d = realloc(a->data, cap)) == NULL) {
            a->failed = 1;
            return;
        }
        a->data = d;
        a->cap = cap;
    }
    if (n > 0) {
        memcpy(a->data + a->len, p, n);
    }
    a->len += n;
}

void lca_pgexec_arr_init(struct lca_pgexec_arr *a, uint32_t oid)
{
    memset(a, 0, sizeof(*a));
    a->oid = oid;
    lca_pgexec_arr_reset(a);
}

void lca_pgexec_arr_reset(struct lca_pgexec_arr *a)
{
    uint8_t hdr[ARR_HEADER];

    a->len = 0;
    a->n = 0;
    a->nulls = 0;
    a->failed = 0;
    put_be32(hdr, 1);          /* ndim */
    put_be32(hdr + 4, 0);      /* has nulls: patched by _finish */
    put_be32(hdr + 8, a->oid); /* element type */
    put_be32(hdr + 12, 0);     /* dimension length: patched by _finish */
    put_be32(hdr + 16, 1);     /* lower bound */
    put(a, hdr, sizeof(hdr));
}

void lca_pgexec_arr_add(struct lca_pgexec_arr *a, const void *data, size_t len)
{
    uint8_t l[4];

    if (len > INT32_MAX) {
        a->failed = 1;
        return;
    }
    put_be32(l, data == NULL ? UINT32_MAX : (uint32_t)len);
    put(a, l, sizeof(l));
    put(a, data, data == NULL ? 0 : len);
    a->nulls |= data == NULL;
    a->n++;
}

void lca_pgexec_arr_add_str(struct lca_pgexec_arr *a, const char *s)
{
    lca_pgexec_arr_add(a, s, s != NULL ? strlen(s) : 0);
}

void lca_pgexec_arr_add_int8(struct lca_pgexec_arr *a, int64_t v)
{
    uint8_t x[8];

    put_be32(x, (uint32_t)((uint64_t)v >> 32));
    put_be32(x + 4, (uint32_t)v);
    lca_pgexec_arr_add(a, x, sizeof(x));
}

void lca_pgexec_arr_add_int4(struct lca_pgexec_arr *a, int32_t v)
{
    uint8_t x[4];

    put_be32(x, (uint32_t)v);
    lca_pgexec_arr_add(a, x, sizeof(x));
}

int lca_pgexec_arr_finish(struct lca_pgexec_arr *a, struct lca_err *err)
{
    if (a->failed || a->data == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "pgexec: out of memory building an array");
    }
    if (a->n == 0) {
        put_be32(a->data, 0); /* an empty array: ndim 0, no dimension */
        a->len = 12;
        return LCA_OK;
    }
    put_be32(a->data, 1);
    put_be32(a->data + 4, (uint32_t)a->nulls);
    put_be32(a->data + 12, a->n);
    return LCA_OK;
}

void lca_pgexec_arr_cleanup(struct lca_pgexec_arr *a)
{
    if (a == NULL) {
        return;
    }
    free(a->data);
    a->data = NULL;
    a->len = a->cap = 0;
    a->n = 0;
}
