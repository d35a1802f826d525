/* aggrows — the aggregator's batched rows (aggrows.h). */
#include "aggrows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define MAX_COLS 6

enum table { T_ISSUERS, T_CERTS, T_REVS, T_CRLS, T_CURSORS, T_OFFSETS, T_COUNT };

#define TEXT LCA_PGEXEC_OID_TEXT
#define BYTEA LCA_PGEXEC_OID_BYTEA
#define INT8 LCA_PGEXEC_OID_INT8
#define INT4 LCA_PGEXEC_OID_INT4

/* One statement per table, in the order they must run (aggrows.h). A revocation's not_after is
 * sent when its certificate came earlier in the batch (NULL otherwise: then looked up, and
 * COALESCE skips the lookup when it is sent). DISTINCT ON keeps the first
 * row of a key in the batch's order (WITH ORDINALITY): two rows of one key in one INSERT would
 * otherwise leave the winner to the plan. */
static const struct {
    const char *what;
    const char *sql;
    int ncols;
    uint32_t oids[MAX_COLS];
} TABLES[T_COUNT] = {
    [T_ISSUERS] = {"agg_issuers insert",
                   "INSERT INTO agg_issuers (issuer_id, key_id, certificate, cluster) "
                   "SELECT DISTINCT ON (u.i) u.i, u.k, u.d, u.c FROM unnest($1::text[], "
                   "$2::text[], $3::bytea[], $4::text[]) WITH ORDINALITY AS u(i, k, d, c, o) "
                   "ORDER BY u.i, u.o ON CONFLICT (issuer_id) DO NOTHING",
                   4,
                   {TEXT, TEXT, BYTEA, TEXT}},
    [T_CERTS] = {"agg_certs insert",
                 "INSERT INTO agg_certs (serial, cluster, issuer_id, not_after, position) "
                 "SELECT DISTINCT ON (u.s) u.s, u.c, u.i, u.n, u.p FROM unnest($1::text[], "
                 "$2::text[], $3::text[], $4::int8[], $5::int8[]) WITH ORDINALITY AS "
                 "u(s, c, i, n, p, o) ORDER BY u.s, u.o ON CONFLICT (serial) DO NOTHING",
                 5,
                 {TEXT, TEXT, TEXT, INT8, INT8}},
    [T_REVS] = {"agg_revocations insert",
                "WITH ins AS (INSERT INTO agg_revocations (issuer_id, serial, cluster, "
                "revoked_at, reason, not_after) SELECT DISTINCT ON (u.i, u.s, u.c) u.i, u.s, "
                "u.c, u.a, u.r, coalesce(u.n, (SELECT not_after FROM agg_certs WHERE serial = "
                "u.s), 0) FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], "
                "$5::int4[], $6::int8[]) WITH ORDINALITY AS u(i, s, c, a, r, n, o) "
                "ORDER BY u.i, u.s, u.c, u.o "
                "ON CONFLICT DO NOTHING RETURNING issuer_id), "
                "n AS (SELECT issuer_id, count(*) AS k FROM ins GROUP BY issuer_id) "
                "UPDATE agg_issuers SET rev_count = rev_count + n.k FROM n "
                "WHERE agg_issuers.issuer_id = n.issuer_id",
                6,
                {TEXT, TEXT, TEXT, INT8, INT4, INT8}},
    [T_CRLS] = {"agg_cluster_crls upsert",
                "INSERT INTO agg_cluster_crls AS x (cluster, issuer_id, crl_number, der, "
                "this_update, next_update) SELECT * FROM unnest($1::text[], $2::text[], "
                "$3::int8[], $4::bytea[], $5::int8[], $6::int8[]) "
                "ON CONFLICT (cluster, issuer_id) DO UPDATE SET crl_number = "
                "EXCLUDED.crl_number, der = EXCLUDED.der, this_update = EXCLUDED.this_update, "
                "next_update = EXCLUDED.next_update WHERE x.crl_number < EXCLUDED.crl_number",
                6,
                {TEXT, TEXT, INT8, BYTEA, INT8, INT8}},
    [T_CURSORS] = {"agg_clusters upsert",
                   "INSERT INTO agg_clusters (cluster, position, hash) SELECT * FROM "
                   "unnest($1::text[], $2::int8[], $3::bytea[]) ON CONFLICT (cluster) DO "
                   "UPDATE SET position = EXCLUDED.position, hash = EXCLUDED.hash, "
                   "updated_at = clock_timestamp()",
                   3,
                   {TEXT, INT8, BYTEA}},
    [T_OFFSETS] = {"consumer_offsets upsert",
                   "INSERT INTO consumer_offsets AS o (group_id, topic, partition, "
                   "next_offset) SELECT * FROM unnest($1::text[], $2::text[], $3::int4[], "
                   "$4::int8[]) ON CONFLICT (group_id, topic, partition) DO UPDATE SET "
                   "next_offset = greatest(o.next_offset, EXCLUDED.next_offset), "
                   "updated_at = clock_timestamp()",
                   4,
                   {TEXT, TEXT, INT4, INT8}},
};

/* The certificates of the batch by serial (open addressing; an entry is live when its gen is
 * the batch's), so a revocation needs no lookup when its certificate is an earlier row. */
struct seen {
    char serial[LCA_CERTVIEW_SERIAL_LEN];
    int64_t not_after;
    uint32_t gen;
};

struct lca_aggrows {
    struct lca_pgexec_arr col[T_COUNT][MAX_COLS];
    struct seen *seen;
    size_t seen_cap, seen_n; /* cap: a power of two, kept at most half full */
    uint32_t gen;            /* the batch's generation (>= 1) */
    int failed;              /* an allocation failed: _stmts reports it */
    size_t rows[T_COUNT];
    const char *v[T_COUNT][MAX_COLS]; /* the statements' parameters (lca_aggrows_stmts) */
    int lens[T_COUNT][MAX_COLS], fmts[T_COUNT][MAX_COLS];
};

int lca_aggrows_new(struct lca_aggrows **out, struct lca_err *err)
{
    struct lca_aggrows *r = calloc(1, sizeof(*r));
    int t, k;

    if (r == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "aggregator: out of memory");
    }
    r->gen = 1;
    for (t = 0; t < T_COUNT; t++) {
        for (k = 0; k < TABLES[t].ncols; k++) {
            lca_pgexec_arr_init(&r->col[t][k], TABLES[t].oids[k]);
        }
    }
    *out = r;
    return LCA_OK;
}

void lca_aggrows_free(struct lca_aggrows *r)
{
    int t, k;

    if (r == NULL) {
        return;
    }
    for (t = 0; t < T_COUNT; t++) {
        for (k = 0; k < TABLES[t].ncols; k++) {
            lca_pgexec_arr_cleanup(&r->col[t][k]);
        }
    }
    free(r->seen);
    free(r);
}

void lca_aggrows_reset(struct lca_aggrows *r)
{
    int t, k;

    for (t = 0; t < T_COUNT; t++) {
        for (k = 0; k < TABLES[t].ncols; k++) {
            lca_pgexec_arr_reset(&r->col[t][k]);
        }
        r->rows[t] = 0;
    }
    r->seen_n = 0;
    r->failed = 0;
    if (++r->gen == 0) { /* wrapped: forget every entry */
        memset(r->seen, 0, r->seen_cap * sizeof(*r->seen));
        r->gen = 1;
    }
}

static size_t hash(const char *s)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */

    for (; *s != '\0'; s++) {
        h = (h ^ (uint8_t)*s) * 1099511628211u;
    }
    return (size_t)h;
}

/* The entry of serial, or the free slot where it would go. */
static struct seen *seen_slot(const struct lca_aggrows *r, const char *serial)
{
    size_t i = hash(serial) & (r->seen_cap - 1);

    while (r->seen[i].gen == r->gen && strcmp(r->seen[i].serial, serial) != 0) {
        i = (i + 1) & (r->seen_cap - 1);
    }
    return &r->seen[i];
}

static int seen_grow(struct lca_aggrows *r)
{
    size_t cap = r->seen_cap ? r->seen_cap * 2 : 1024, i, old_cap = r->seen_cap;
    struct seen *old = r->seen, *n = calloc(cap, sizeof(*n));

    if (n == NULL) {
        return LCA_FAIL;
    }
    r->seen = n;
    r->seen_cap = cap;
    for (i = 0; i < old_cap; i++) {
        if (old[i].gen == r->gen) {
            *seen_slot(r, old[i].serial) = old[i];
        }
    }
    free(old);
    return LCA_OK;
}

/* Remembers the first certificate of a serial in the batch. */
static void seen_put(struct lca_aggrows *r, const char *serial, int64_t not_after)
{
    struct seen *e;

    if (2 * (r->seen_n + 1) > r->seen_cap && seen_grow(r) != LCA_OK) {
        r->failed = 1;
        return;
    }
    e = seen_slot(r, serial);
    if (e->gen != r->gen) {
        snprintf(e->serial, sizeof(e->serial), "%s", serial);
        e->not_after = not_after;
        e->gen = r->gen;
        r->seen_n++;
    }
}

static const struct seen *seen_get(const struct lca_aggrows *r, const char *serial)
{
    const struct seen *e = r->seen_cap > 0 ? seen_slot(r, serial) : NULL;

    return e != NULL && e->gen == r->gen ? e : NULL;
}

void lca_aggrows_add_change(struct lca_aggrows *r, const char *cluster,
                            const struct lca_fedlog_change *c)
{
    struct lca_pgexec_arr *a;
    const struct seen *e;

    if (c->duplicate) {
        return;
    }
    switch (c->kind) {
    case LCA_FEDLOG_ISSUER:
        a = r->col[T_ISSUERS];
        lca_pgexec_arr_add_str(&a[0], c->issuer.id);
        lca_pgexec_arr_add_str(&a[1], c->issuer.key_id);
        lca_pgexec_arr_add(&a[2], c->issuer.der, c->issuer.der_len);
        lca_pgexec_arr_add_str(&a[3], cluster);
        r->rows[T_ISSUERS]++;
        break;
    case LCA_FEDLOG_ISSUED:
        a = r->col[T_CERTS];
        lca_pgexec_arr_add_str(&a[0], c->view.cert.serial);
        lca_pgexec_arr_add_str(&a[1], cluster);
        lca_pgexec_arr_add_str(&a[2], c->view.cert.issuer_id);
        lca_pgexec_arr_add_int8(&a[3], c->view.cert.not_after);
        lca_pgexec_arr_add_int8(&a[4], c->view.position);
        seen_put(r, c->view.cert.serial, c->view.cert.not_after);
        r->rows[T_CERTS]++;
        break;
    case LCA_FEDLOG_REVOKED:
        a = r->col[T_REVS];
        lca_pgexec_arr_add_str(&a[0], c->revoked_issuer_id);
        lca_pgexec_arr_add_str(&a[1], c->view.rev.serial);
        lca_pgexec_arr_add_str(&a[2], cluster);
        lca_pgexec_arr_add_int8(&a[3], c->view.rev.revoked_at);
        lca_pgexec_arr_add_int4(&a[4], (int32_t)c->reason);
        if ((e = seen_get(r, c->view.rev.serial)) != NULL) {
            lca_pgexec_arr_add_int8(&a[5], e->not_after);
        } else {
            lca_pgexec_arr_add(&a[5], NULL, 0);
        }
        r->rows[T_REVS]++;
        break;
    default:
        break;
    }
}

void lca_aggrows_add_cursor(struct lca_aggrows *r, const char *cluster,
                            const struct lca_fedlog_cursor *cur)
{
    struct lca_pgexec_arr *a = r->col[T_CURSORS];

    lca_pgexec_arr_add_str(&a[0], cluster);
    lca_pgexec_arr_add_int8(&a[1], cur->position);
    lca_pgexec_arr_add(&a[2], cur->hash, LCA_FEDLOG_HASH_LEN);
    r->rows[T_CURSORS]++;
}

void lca_aggrows_add_crl(struct lca_aggrows *r, const char *cluster, const char *issuer_id,
                         int64_t crl_number, const uint8_t *der, size_t len, int64_t this_update,
                         int64_t next_update)
{
    struct lca_pgexec_arr *a = r->col[T_CRLS];

    lca_pgexec_arr_add_str(&a[0], cluster);
    lca_pgexec_arr_add_str(&a[1], issuer_id);
    lca_pgexec_arr_add_int8(&a[2], crl_number);
    lca_pgexec_arr_add(&a[3], der != NULL ? der : (const uint8_t *)"", len);
    lca_pgexec_arr_add_int8(&a[4], this_update);
    lca_pgexec_arr_add_int8(&a[5], next_update);
    r->rows[T_CRLS]++;
}

void lca_aggrows_add_offset(struct lca_aggrows *r, const char *group, const char *topic,
                            int32_t partition, int64_t next_offset)
{
    struct lca_pgexec_arr *a = r->col[T_OFFSETS];

    lca_pgexec_arr_add_str(&a[0], group);
    lca_pgexec_arr_add_str(&a[1], topic);
    lca_pgexec_arr_add_int4(&a[2], partition);
    lca_pgexec_arr_add_int8(&a[3], next_offset);
    r->rows[T_OFFSETS]++;
}

void lca_aggrows_counts(const struct lca_aggrows *r, struct lca_aggrows_counts *out)
{
    out->issuers = r->rows[T_ISSUERS];
    out->certs = r->rows[T_CERTS];
    out->revocations = r->rows[T_REVS];
    out->crls = r->rows[T_CRLS];
    out->cursors = r->rows[T_CURSORS];
    out->offsets = r->rows[T_OFFSETS];
}

/* Completes table t's arrays and describes its statement in *st. */
static int table_stmt(struct lca_aggrows *r, int t, struct lca_pgexec_stmt *st,
                      struct lca_err *err)
{
    int k;

    for (k = 0; k < TABLES[t].ncols; k++) {
        struct lca_pgexec_arr *a = &r->col[t][k];
        if (lca_pgexec_arr_finish(a, err) != LCA_OK) {
            return LCA_FAIL;
        }
        if (a->len > INT32_MAX) {
            return lca_err_set(err, LCA_ERR_FATAL, "too_large", "aggregator: batch too large");
        }
        r->v[t][k] = (const char *)a->data;
        r->lens[t][k] = (int)a->len;
        r->fmts[t][k] = 1;
    }
    st->what = TABLES[t].what;
    st->sql = TABLES[t].sql;
    st->n = TABLES[t].ncols;
    st->v = r->v[t];
    st->lens = r->lens[t];
    st->fmts = r->fmts[t];
    return LCA_OK;
}

int lca_aggrows_stmts(struct lca_aggrows *r, struct lca_pgexec_stmt out[LCA_AGGROWS_MAX_STMTS],
                      size_t *n, struct lca_err *err)
{
    size_t got = 0;
    int t;

    if (r->failed) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "aggregator: out of memory");
    }
    for (t = 0; t < T_COUNT; t++) {
        if (r->rows[t] > 0 && table_stmt(r, t, &out[got++], err) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    *n = got;
    return LCA_OK;
}

int lca_aggrows_write(struct lca_aggrows *r, struct lca_pgstore *store, struct lca_err *err)
{
    struct lca_pgexec_stmt st[LCA_AGGROWS_MAX_STMTS];
    size_t n = 0;

    if (lca_aggrows_stmts(r, st, &n, err) != LCA_OK) {
        return LCA_FAIL;
    }
    return n > 0 ? lca_pgexec_pipeline(store, st, n, err) : LCA_OK;
}
