/*
 * audit_log — the log reader and the hash chain of the audit (see audit_int.h, audit.h).
 */
/* SHA256_Init/Update/Final: see chain_hash */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "audit_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <stdatomic.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

/* ---- the log reader: large binary pages, borrowed pointers, no allocation per row ---------- */

uint64_t lca_audit_log_be64(const uint8_t *p)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

void lca_audit_log_put_be64(uint8_t *p, uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/*
 * The read is one COPY ... TO STDOUT (FORMAT binary) of a query over (after, upto]: the server
 * streams rows while the client hashes them (a paged SELECT would wait for each whole page),
 * and the whole range is read from one snapshot. PostgreSQL's binary COPY format: an 11-byte
 * signature, flags (4), header extension length (4) + extension, then per row a field count
 * (int16) and per field a length (int32, -1 NULL) and the bytes; a count of -1 ends it.
 */
struct copy_rd {
    const uint8_t *p;
    size_t n;
};

static int rd_field(struct copy_rd *r, const uint8_t **out, size_t *len)
{
    uint32_t l;

    if (r->n < 4) {
        return -1;
    }
    l = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
    r->p += 4;
    r->n -= 4;
    if (l == UINT32_MAX || l > r->n) {
        return -1;
    }
    *out = r->p;
    *len = l;
    r->p += l;
    r->n -= l;
    return 0;
}

/*
 * Parses one COPY row into ev: (position, type, payload, recorded_at, prev_hash, hash), or in
 * the chain's narrow form (position, payload, prev_hash, hash), where type is "" and
 * recorded_at 0.
 */
static int copy_row(const uint8_t *buf, size_t n, struct lca_pgevent *ev, char *type, size_t tlen)
{
    static const int wide[6] = {0, 1, 2, 3, 4, 5}, narrow[6] = {0, -1, 1, -1, 2, 3};
    struct copy_rd r = {buf + 2, n - 2};
    const uint8_t *f[6] = {NULL, (const uint8_t *)"", NULL, NULL, NULL, NULL};
    size_t l[6] = {0, 0, 0, 8, 0, 0}, i, nf = n >= 2 && buf[1] == 4 ? 4 : 6;
    const int *map = nf == 4 ? narrow : wide;

    if (n < 2 || buf[0] != 0 || buf[1] != (uint8_t)nf) {
        return -1;
    }
    for (i = 0; i < 6; i++) {
        if (map[i] >= 0 && rd_field(&r, &f[i], &l[i]) != 0) {
            return -1;
        }
    }
    if (l[0] != 8 || l[3] != 8 || l[4] != LCA_AUDIT_HLEN || l[5] != LCA_AUDIT_HLEN ||
        l[1] >= tlen) {
        return -1;
    }
    ev->position = (int64_t)lca_audit_log_be64(f[0]);
    memcpy(type, f[1], l[1]);
    type[l[1]] = '\0';
    ev->type = type;
    ev->payload = f[2];
    ev->payload_len = l[2];
    ev->recorded_at_us =
        f[3] != NULL ? (int64_t)lca_audit_log_be64(f[3]) + LCA_AUDIT_PG_EPOCH_US : 0;
    memcpy(ev->prev_hash, f[4], LCA_AUDIT_HLEN);
    memcpy(ev->hash, f[5], LCA_AUDIT_HLEN);
    return 0;
}

/* Ends a COPY early (the callback stopped): cancel on the server, drain, collect results. */
static void copy_abort(PGconn *conn)
{
    PGcancel *c = PQgetCancel(conn);
    char errbuf[256];
    char *buf = NULL;
    PGresult *res;

    if (c != NULL) {
        (void)PQcancel(c, errbuf, sizeof(errbuf));
        PQfreeCancel(c);
    }
    while (PQgetCopyData(conn, &buf, 0) > 0) {
        PQfreemem(buf);
    }
    while ((res = PQgetResult(conn)) != NULL) {
        PQclear(res);
    }
}

static int copy_rows(PGconn *conn, lca_pgevent_cb *cb, void *ctx, struct lca_err *err)
{
    static const uint8_t sig[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0};
    struct lca_pgevent ev;
    char *buf = NULL, type[64];
    int n, first = 1;

    memset(&ev, 0, sizeof(ev));
    ev.stream = "";
    ev.cluster = "";
    while ((n = PQgetCopyData(conn, &buf, 0)) > 0) {
        const uint8_t *b = (const uint8_t *)buf;
        size_t len = (size_t)n, skip = 0;
        int rc = LCA_OK;
        if (first) { /* the header arrives with the first row */
            skip = len >= 19 && memcmp(b, sig, 11) == 0
                       ? 19 + (size_t)lca_audit_log_be64(
                                  (const uint8_t[8]){0, 0, 0, 0, b[15], b[16], b[17], b[18]})
                       : len + 1;
            first = 0;
        }
        if (skip > len) {
            rc = lca_err_set(err, LCA_ERR_FATAL, "bad_copy", "audit: malformed COPY header");
        } else if (len - skip == 2 && b[skip] == 0xff && b[skip + 1] == 0xff) {
            rc = LCA_OK; /* trailer */
        } else if (copy_row(b + skip, len - skip, &ev, type, sizeof(type)) != 0) {
            rc = lca_err_set(err, LCA_ERR_FATAL, "bad_row", "audit: malformed event row");
        } else {
            rc = cb(ctx, &ev, err);
        }
        PQfreemem(buf);
        if (rc != LCA_OK) {
            copy_abort(conn);
            return LCA_FAIL;
        }
    }
    return n == -1 ? LCA_OK : lca_pgstore_pg_err(conn, NULL, "audit: read events", err);
}

/*
 * One reader's session. The COPY runs in a READ ONLY REPEATABLE READ transaction (the parts of a
 * split read share one exported snapshot) with sorts, sequential and bitmap scans disabled: the
 * plan must be the primary-key index scan, whatever the statistics say. Right after a bulk load
 * (no ANALYZE yet) the planner otherwise picks a bitmap heap scan plus an on-disk sort of the
 * whole log, which took half the time of `audit verify`.
 */
static int session_begin(PGconn *conn, const char *snap_in, char *snap_out, size_t snap_len,
                         struct lca_err *err)
{
    char sql[400], set[100] = "";
    PGresult *res;
    int ok;

    if (snap_in != NULL &&
        (strlen(snap_in) > 64 || strspn(snap_in, "0123456789ABCDEFabcdef-") != strlen(snap_in))) {
        return lca_err_set(err, LCA_ERR_FATAL, "snapshot", "audit: odd snapshot id");
    }
    if (snap_in != NULL) {
        snprintf(set, sizeof(set), "SET TRANSACTION SNAPSHOT '%s'; ", snap_in);
    }
    snprintf(sql, sizeof(sql),
             "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; %sSET LOCAL enable_sort = off; "
             "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off",
             set);
    res = PQexec(conn, sql);
    ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (ok && snap_out != NULL) {
        res = PQexec(conn, "SELECT pg_export_snapshot()");
        ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
             (size_t)PQgetlength(res, 0, 0) < snap_len;
        if (ok) {
            snprintf(snap_out, snap_len, "%s", PQgetvalue(res, 0, 0));
        }
        PQclear(res);
    }
    return ok ? LCA_OK : lca_pgstore_pg_err(conn, NULL, "audit: begin the read", err);
}

static void session_end(PGconn *conn)
{
    PQclear(PQexec(conn, "ROLLBACK")); /* read only: nothing to keep; also after a cancel */
}

/* Streams part->(after, upto] in position order to part->cb, on conn (in a session). */
static int read_one(PGconn *conn, struct lca_audit_log_part *part, struct lca_err *err)
{
    char sql[320];
    PGresult *res;
    int rc;

    snprintf(sql, sizeof(sql),
             "COPY (SELECT position, %spayload, %sprev_hash, hash FROM events "
             "WHERE position > %lld AND position <= %lld ORDER BY position) TO STDOUT "
             "(FORMAT binary)",
             part->narrow ? "" : "type, ", part->narrow ? "" : "recorded_at, ",
             (long long)part->after, (long long)part->upto);
    res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        rc = lca_pgstore_pg_err(conn, res, "audit: read events", err);
        PQclear(res);
        return rc;
    }
    PQclear(res);
    if (copy_rows(conn, part->cb, part->ctx, err) != LCA_OK) {
        return LCA_FAIL;
    }
    rc = LCA_OK;
    while ((res = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == LCA_OK) {
            rc = lca_pgstore_pg_err(conn, res, "audit: read events", err);
        }
        PQclear(res);
    }
    return rc;
}

/* A second connection like `conn` (same parameters, password included). */
static PGconn *conn_like(PGconn *conn, struct lca_err *err)
{
    PQconninfoOption *o = PQconninfo(conn), *p;
    const char *keys[64], *vals[64];
    size_t n = 0;
    PGconn *c = NULL;

    for (p = o; p != NULL && p->keyword != NULL && n < 63; p++) {
        if (p->val != NULL) {
            keys[n] = p->keyword;
            vals[n++] = p->val;
        }
    }
    keys[n] = NULL;
    vals[n] = NULL;
    if (o != NULL) {
        c = PQconnectdbParams(keys, vals, 0);
    }
    PQconninfoFree(o);
    if (c == NULL || PQstatus(c) != CONNECTION_OK) {
        (void)lca_pgstore_pg_err(c, NULL, "audit: second connection", err);
        PQfinish(c);
        return NULL;
    }
    return c;
}

struct part_run {
    PGconn *conn;
    struct lca_audit_log_part *part;
};

static void *part_thread(void *arg)
{
    struct part_run *r = arg;

    r->part->rc = read_one(r->conn, r->part, &r->part->err);
    return NULL;
}

/* Opens parts 1..n-1's connections in the snapshot of conn (part 0). */
static int parts_open(PGconn *conn, struct part_run *runs, int n, struct lca_err *err)
{
    char snap[64];
    int k;

    if (session_begin(conn, NULL, n > 1 ? snap : NULL, sizeof(snap), err) != LCA_OK) {
        session_end(conn);
        return LCA_FAIL;
    }
    runs[0].conn = conn;
    for (k = 1; k < n; k++) {
        if ((runs[k].conn = conn_like(conn, err)) == NULL ||
            session_begin(runs[k].conn, snap, NULL, 0, err) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    return LCA_OK;
}

int lca_audit_log_read_parts(struct lca_pgstore *store, struct lca_audit_log_part *parts, int n,
                             struct lca_err *err)
{
    PGconn *conn = lca_pgstore_conn(store, err);
    struct part_run runs[LCA_AUDIT_MAX_PARTS];
    pthread_t t[LCA_AUDIT_MAX_PARTS];
    int k, started = 0, rc = LCA_FAIL;

    if (conn == NULL) {
        return LCA_FAIL;
    }
    if (n < 1 || n > LCA_AUDIT_MAX_PARTS || PQtransactionStatus(conn) != PQTRANS_IDLE) {
        return lca_err_set(err, LCA_ERR_FATAL, "read_parts", "audit: bad split or busy session");
    }
    memset(runs, 0, sizeof(runs));
    for (k = 0; k < n; k++) {
        lca_err_clear(&parts[k].err);
        parts[k].rc = LCA_FAIL;
        runs[k].part = &parts[k];
    }
    if (parts_open(conn, runs, n, err) != LCA_OK) {
        goto out;
    }
    for (started = 1; started < n; started++) {
        if (pthread_create(&t[started], NULL, part_thread, &runs[started]) != 0) {
            (void)lca_err_set(err, LCA_ERR_FATAL, "thread", "audit: cannot start a reader");
            break;
        }
    }
    parts[0].rc = read_one(conn, &parts[0], &parts[0].err);
    for (k = 1; k < started; k++) {
        pthread_join(t[k], NULL);
    }
    rc = started == n ? LCA_OK : LCA_FAIL;
out:
    for (k = 0; k < n; k++) {
        if (runs[k].conn != NULL) {
            session_end(runs[k].conn);
        }
        if (k > 0) {
            PQfinish(runs[k].conn);
        }
    }
    return rc;
}

int lca_audit_log_read(struct lca_pgstore *store, int64_t after, int64_t upto, lca_pgevent_cb *cb,
                       void *ctx, struct lca_err *err)
{
    struct lca_audit_log_part part;

    memset(&part, 0, sizeof(part));
    part.after = after;
    part.upto = upto;
    part.cb = cb;
    part.ctx = ctx;
    if (lca_audit_log_read_parts(store, &part, 1, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (part.rc != LCA_OK) {
        *err = part.err;
    }
    return part.rc;
}

/* ---- findings -------------------------------------------------------------------------------- */

/* Records the first problem and stops the read (the caller turns LCA_AUDIT_FINDING back into
 * LCA_OK). */
int lca_audit_log_finding(struct lca_audit_report *rep, int64_t pos, struct lca_err *err,
                          const char *fmt, ...)
{
    va_list ap;

    rep->clean = 0;
    rep->bad_position = pos;
    va_start(ap, fmt);
    vsnprintf(rep->problem, sizeof(rep->problem), fmt, ap);
    va_end(ap);
    return lca_err_set(err, LCA_ERR_BAD_INPUT, LCA_AUDIT_FINDING, "%s", rep->problem);
}

void lca_audit_log_hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* ---- (a) the hash chain -----------------------------------------------------------------------
 */

int lca_audit_log_chain_init(struct lca_audit_chain *c, int64_t last,
                             const uint8_t prev[LCA_AUDIT_HLEN], struct lca_err *err)
{
    c->md = EVP_MD_CTX_new();
    c->sha = EVP_MD_fetch(NULL, "SHA256", NULL);
    c->last = last;
    memcpy(c->prev, prev, LCA_AUDIT_HLEN);
    if (c->md == NULL || c->sha == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "sha256", "audit: cannot set up SHA-256");
    }
    return LCA_OK;
}

void lca_audit_log_chain_cleanup(struct lca_audit_chain *c)
{
    EVP_MD_CTX_free(c->md);
    EVP_MD_free(c->sha);
}

/*
 * Same digest as lca_pgstore_chain_hash. The chain pass hashes every event of the log, and on
 * OpenSSL 3.0 the EVP layer costs about 0.12 us a digest on top of 0.29 us of hashing (a
 * 250-byte payload: provider dispatch, a context set up and wiped per digest), a third more
 * than the hashing itself; the SHA256_* functions are deprecated in 3.0 but kept for exactly
 * this, and compute the same digest. The EVP objects of struct lca_audit_chain stay: init
 * still proves SHA-256 is available from the default provider.
 */
static int chain_hash(struct lca_audit_chain *c, const uint8_t *payload, size_t len,
                      uint8_t out[LCA_AUDIT_HLEN], struct lca_err *err)
{
    SHA256_CTX s;

    if (SHA256_Init(&s) != 1 || SHA256_Update(&s, c->prev, LCA_AUDIT_HLEN) != 1 ||
        SHA256_Update(&s, payload, len) != 1 || SHA256_Final(out, &s) != 1) {
        return lca_err_set(err, LCA_ERR_FATAL, "sha256", "audit: SHA-256 failed");
    }
    return LCA_OK;
}

int lca_audit_log_chain_step(struct lca_audit_chain *c, struct lca_audit_report *rep,
                             const struct lca_pgevent *ev, struct lca_err *err)
{
    uint8_t h[LCA_AUDIT_HLEN];

    if (ev->position != c->last + 1) {
        return lca_audit_log_finding(
            rep, c->last + 1, err,
            "position %lld is missing: the log jumps from %lld to %lld (row deleted)",
            (long long)(c->last + 1), (long long)c->last, (long long)ev->position);
    }
    /* memcmp, not CRYPTO_memcmp: chain hashes are public (STYLE rule 13 is for secrets), and
     * the constant-time byte loop was a tenth of the chain pass's client time */
    if (memcmp(ev->prev_hash, c->prev, LCA_AUDIT_HLEN) != 0) {
        return lca_audit_log_finding(
            rep, ev->position, err,
            "prev_hash is not the hash of position %lld (rows reordered, deleted "
            "or rewritten)",
            (long long)c->last);
    }
    if (chain_hash(c, ev->payload, ev->payload_len, h, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (memcmp(h, ev->hash, LCA_AUDIT_HLEN) != 0) {
        return lca_audit_log_finding(
            rep, ev->position, err,
            "hash mismatch: SHA-256(prev_hash || payload) differs from the stored "
            "hash (payload or hash changed)");
    }
    memcpy(c->prev, h, LCA_AUDIT_HLEN);
    c->last = ev->position;
    return LCA_OK;
}

/* Big-endian magnitude without leading zero octets. */
const uint8_t *lca_audit_log_strip0(const uint8_t *p, size_t *len)
{
    while (*len > 1 && p[0] == 0) {
        p++;
        (*len)--;
    }
    return p;
}

/* ---- the chain on several readers ------------------------------------------------------------ */

/* One part of a split chain walk: its own chain, counters, checkpoint cursor and first row. */
struct seg {
    struct lca_audit_chain chain;
    struct lca_audit_report rep; /* events, checkpoints and the part's own first finding */
    struct lca_audit_cplist cps; /* shares the rows of the caller's list; own cursor */
    int seed;                    /* 1: take the first row's prev_hash (checked at the seam) */
    int seen;                    /* a row arrived */
    int64_t first_pos;           /* the first row's position and prev_hash */
    uint8_t first_prev[LCA_AUDIT_HLEN];
    const struct lca_audit_opts *o;
    _Atomic int64_t *done; /* events checked by all parts (progress) */
};

static int seg_one(void *ctx, const struct lca_pgevent *pe, struct lca_err *err)
{
    struct seg *s = ctx;

    if (!s->seen) {
        s->seen = 1;
        s->first_pos = pe->position;
        memcpy(s->first_prev, pe->prev_hash, LCA_AUDIT_HLEN);
        if (s->seed) {
            memcpy(s->chain.prev, pe->prev_hash, LCA_AUDIT_HLEN);
        }
    }
    if (lca_audit_log_chain_step(&s->chain, &s->rep, pe, err) != LCA_OK ||
        lca_audit_checkpoint_list_match(&s->cps, &s->rep, pe, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if ((++s->rep.events & 4095) == 0) {
        int64_t all = atomic_fetch_add(s->done, 4096) + 4096;
        if (!s->seed && s->o->progress != NULL && (s->rep.events % LCA_AUDIT_PROGRESS) == 0) {
            s->o->progress(s->o->progress_ctx, all, s->rep.head); /* part 0's thread only */
        }
    }
    return LCA_OK;
}

/* Where part s continues the chain checked so far (m): exactly chain_step's first two checks. */
static int seam(const struct lca_audit_chain *m, const struct seg *s, struct lca_audit_report *rep,
                struct lca_err *err)
{
    if (s->first_pos != m->last + 1) {
        return lca_audit_log_finding(
            rep, m->last + 1, err,
            "position %lld is missing: the log jumps from %lld to %lld (row deleted)",
            (long long)(m->last + 1), (long long)m->last, (long long)s->first_pos);
    }
    if (CRYPTO_memcmp(s->first_prev, m->prev, LCA_AUDIT_HLEN) != 0) {
        return lca_audit_log_finding(rep, s->first_pos, err,
                                     "prev_hash is not the hash of position %lld (rows "
                                     "reordered, deleted or rewritten)",
                                     (long long)m->last);
    }
    return LCA_OK;
}

/* Folds the parts in position order into (c, cps, rep): the first problem by position wins. */
static int seg_merge(struct seg *segs, const struct lca_audit_log_part *parts, int n,
                     struct lca_audit_chain *c, struct lca_audit_cplist *cps,
                     struct lca_audit_report *rep, struct lca_err *err)
{
    int k;

    for (k = 0; k < n; k++) {
        struct seg *s = &segs[k];
        if (k > 0 && s->seen && seam(c, s, rep, err) != LCA_OK) {
            return LCA_FAIL;
        }
        rep->events += s->rep.events;
        rep->checkpoints += s->rep.checkpoints;
        cps->next = s->cps.next;
        if (parts[k].rc != LCA_OK) {
            if (strcmp(parts[k].err.code, LCA_AUDIT_FINDING) == 0) {
                rep->clean = 0;
                rep->bad_position = s->rep.bad_position;
                memcpy(rep->problem, s->rep.problem, sizeof(rep->problem));
            }
            *err = parts[k].err;
            return LCA_FAIL;
        }
        if (s->seen) {
            c->last = s->chain.last;
            memcpy(c->prev, s->chain.prev, LCA_AUDIT_HLEN);
        }
    }
    return LCA_OK;
}

static size_t cp_first_after(const struct lca_audit_cplist *l, int64_t pos)
{
    size_t i = l->next;

    while (i < l->n && l->v[i].cp.position <= pos) {
        i++;
    }
    return i;
}

int lca_audit_log_chain_split(struct lca_pgstore *store, int n, const struct lca_audit_opts *o,
                              struct lca_audit_chain *c, struct lca_audit_cplist *cps,
                              struct lca_audit_report *rep, int *ran, struct lca_err *err)
{
    struct seg segs[LCA_AUDIT_MAX_PARTS];
    struct lca_audit_log_part parts[LCA_AUDIT_MAX_PARTS];
    _Atomic int64_t done = 0;
    int64_t from = c->last, span = (rep->head - from + n - 1) / n;
    int k, ready = 0, rc = LCA_FAIL;

    *ran = 0;
    memset(segs, 0, sizeof(segs));
    memset(parts, 0, sizeof(parts));
    for (k = 0; k < n; k++, ready++) {
        struct seg *s = &segs[k];
        parts[k].after = from + span * k;
        parts[k].upto = k == n - 1 ? rep->head : from + span * (k + 1);
        parts[k].narrow = 1;
        parts[k].cb = seg_one;
        parts[k].ctx = s;
        s->seed = k > 0;
        s->o = o;
        s->done = &done;
        s->rep.head = rep->head;
        s->cps = *cps;
        s->cps.next = cp_first_after(cps, parts[k].after);
        if (lca_audit_log_chain_init(&s->chain, parts[k].after, c->prev, err) != LCA_OK) {
            ready++;
            break;
        }
    }
    if (ready == n && lca_audit_log_read_parts(store, parts, n, err) == LCA_OK) {
        *ran = 1;
        rc = seg_merge(segs, parts, n, c, cps, rep, err);
    }
    for (k = 0; k < ready; k++) {
        lca_audit_log_chain_cleanup(&segs[k].chain);
    }
    return rc;
}
