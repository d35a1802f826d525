/*
 * audit_log — the log reader and the hash chain of the audit (see audit_int.h, audit.h).
 */
#include "audit_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

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
    l = (uint32_t)lca_audit_log_be64((const uint8_t[8]){0, 0, 0, 0, r->p[0], r->p[1], r->p[2], r->p[3]});
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

/* Parses one COPY row (position, type, payload, recorded_at, prev_hash, hash) into ev. */
static int copy_row(const uint8_t *buf, size_t n, struct lca_pgevent *ev, char *type, size_t tlen)
{
    struct copy_rd r = {buf + 2, n - 2};
    const uint8_t *f[6];
    size_t l[6], i;

    if (n < 2 || buf[0] != 0 || buf[1] != 6) {
        return -1;
    }
    for (i = 0; i < 6; i++) {
        if (rd_field(&r, &f[i], &l[i]) != 0) {
            return -1;
        }
    }
    if (l[0] != 8 || l[3] != 8 || l[4] != LCA_AUDIT_HLEN || l[5] != LCA_AUDIT_HLEN || l[1] >= tlen) {
        return -1;
    }
    ev->position = (int64_t)lca_audit_log_be64(f[0]);
    memcpy(type, f[1], l[1]);
    type[l[1]] = '\0';
    ev->type = type;
    ev->payload = f[2];
    ev->payload_len = l[2];
    ev->recorded_at_us = (int64_t)lca_audit_log_be64(f[3]) + LCA_AUDIT_PG_EPOCH_US;
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
            skip = len >= 19 && memcmp(b, sig, 11) == 0 ? 19 + (size_t)lca_audit_log_be64((const uint8_t[8]){
                                                              0, 0, 0, 0, b[15], b[16], b[17],
                                                              b[18]})
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

/* Streams the events of (after, upto] in position order to cb. */
int lca_audit_log_read(struct lca_pgstore *store, int64_t after, int64_t upto, lca_pgevent_cb *cb,
                      void *ctx, struct lca_err *err)
{
    PGconn *conn = lca_pgstore_conn(store, err);
    char sql[320];
    PGresult *res;
    int rc;

    if (conn == NULL) {
        return LCA_FAIL;
    }
    snprintf(sql, sizeof(sql),
             "COPY (SELECT position, type, payload, recorded_at, prev_hash, hash FROM events "
             "WHERE position > %lld AND position <= %lld ORDER BY position) TO STDOUT "
             "(FORMAT binary)",
             (long long)after, (long long)upto);
    res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        rc = lca_pgstore_pg_err(conn, res, "audit: read events", err);
        PQclear(res);
        return rc;
    }
    PQclear(res);
    if (copy_rows(conn, cb, ctx, err) != LCA_OK) {
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

/* ---- findings -------------------------------------------------------------------------------- */

/* Records the first problem and stops the read (the caller turns LCA_AUDIT_FINDING back into LCA_OK). */
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

/* ---- (a) the hash chain ----------------------------------------------------------------------- */

int lca_audit_log_chain_init(struct lca_audit_chain *c, int64_t last, const uint8_t prev[LCA_AUDIT_HLEN], struct lca_err *err)
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

/* Same digest as lca_pgstore_chain_hash, with a reused context and a pre-fetched algorithm. */
static int chain_hash(struct lca_audit_chain *c, const uint8_t *payload, size_t len, uint8_t out[LCA_AUDIT_HLEN],
                      struct lca_err *err)
{
    unsigned int n = 0;

    if (EVP_DigestInit_ex(c->md, c->sha, NULL) != 1 ||
        EVP_DigestUpdate(c->md, c->prev, LCA_AUDIT_HLEN) != 1 ||
        EVP_DigestUpdate(c->md, payload, len) != 1 || EVP_DigestFinal_ex(c->md, out, &n) != 1 ||
        n != LCA_AUDIT_HLEN) {
        return lca_err_set(err, LCA_ERR_FATAL, "sha256", "audit: SHA-256 failed");
    }
    return LCA_OK;
}

int lca_audit_log_chain_step(struct lca_audit_chain *c, struct lca_audit_report *rep, const struct lca_pgevent *ev,
                      struct lca_err *err)
{
    uint8_t h[LCA_AUDIT_HLEN];

    if (ev->position != c->last + 1) {
        return lca_audit_log_finding(rep, c->last + 1, err,
                       "position %lld is missing: the log jumps from %lld to %lld (row deleted)",
                       (long long)(c->last + 1), (long long)c->last, (long long)ev->position);
    }
    if (CRYPTO_memcmp(ev->prev_hash, c->prev, LCA_AUDIT_HLEN) != 0) {
        return lca_audit_log_finding(rep, ev->position, err,
                       "prev_hash is not the hash of position %lld (rows reordered, deleted "
                       "or rewritten)",
                       (long long)c->last);
    }
    if (chain_hash(c, ev->payload, ev->payload_len, h, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (CRYPTO_memcmp(h, ev->hash, LCA_AUDIT_HLEN) != 0) {
        return lca_audit_log_finding(rep, ev->position, err,
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

