/*
 * audit — see audit.h. This file holds the log reader and the verifier; the checkpoint and
 * replay halves follow in their own sections.
 */
#include "audit.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "catalog.h"
#include "cert.h"
#include "certsig.h"
#include "codec.h"
#include "crl.h"
#include "event.h"
#include "json.h"
#include "key.h"
#include "pgstore.h"
#include "roots.h"
#include "state.h"

#define PROGRESS_EVERY 65536
#define HLEN LCA_PGSTORE_HASH_LEN
/* Microseconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01. */
#define PG_EPOCH_US INT64_C(946684800000000)
#define FINDING "audit_finding"

/* ---- the log reader: large binary pages, borrowed pointers, no allocation per row ---------- */

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static void put_be64(uint8_t *p, uint64_t v)
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
    l = (uint32_t)be64((const uint8_t[8]){0, 0, 0, 0, r->p[0], r->p[1], r->p[2], r->p[3]});
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
    if (l[0] != 8 || l[3] != 8 || l[4] != HLEN || l[5] != HLEN || l[1] >= tlen) {
        return -1;
    }
    ev->position = (int64_t)be64(f[0]);
    memcpy(type, f[1], l[1]);
    type[l[1]] = '\0';
    ev->type = type;
    ev->payload = f[2];
    ev->payload_len = l[2];
    ev->recorded_at_us = (int64_t)be64(f[3]) + PG_EPOCH_US;
    memcpy(ev->prev_hash, f[4], HLEN);
    memcpy(ev->hash, f[5], HLEN);
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
            skip = len >= 19 && memcmp(b, sig, 11) == 0 ? 19 + (size_t)be64((const uint8_t[8]){
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
static int read_range(struct lca_pgstore *store, int64_t after, int64_t upto, lca_pgevent_cb *cb,
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

static int finding(struct lca_audit_report *rep, int64_t pos, struct lca_err *err,
                   const char *fmt, ...) LCA_PRINTF(4, 5);

/* Records the first problem and stops the read (the caller turns FINDING back into LCA_OK). */
static int finding(struct lca_audit_report *rep, int64_t pos, struct lca_err *err,
                   const char *fmt, ...)
{
    va_list ap;

    rep->clean = 0;
    rep->bad_position = pos;
    va_start(ap, fmt);
    vsnprintf(rep->problem, sizeof(rep->problem), fmt, ap);
    va_end(ap);
    return lca_err_set(err, LCA_ERR_BAD_INPUT, FINDING, "%s", rep->problem);
}

static void hex(const uint8_t *p, size_t n, char *out)
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

struct chain {
    EVP_MD_CTX *md;
    EVP_MD *sha;
    uint8_t prev[HLEN]; /* hash of `last` */
    int64_t last;       /* last position checked */
};

static int chain_init(struct chain *c, int64_t last, const uint8_t prev[HLEN], struct lca_err *err)
{
    c->md = EVP_MD_CTX_new();
    c->sha = EVP_MD_fetch(NULL, "SHA256", NULL);
    c->last = last;
    memcpy(c->prev, prev, HLEN);
    if (c->md == NULL || c->sha == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "sha256", "audit: cannot set up SHA-256");
    }
    return LCA_OK;
}

static void chain_cleanup(struct chain *c)
{
    EVP_MD_CTX_free(c->md);
    EVP_MD_free(c->sha);
}

/* Same digest as lca_pgstore_chain_hash, with a reused context and a pre-fetched algorithm. */
static int chain_hash(struct chain *c, const uint8_t *payload, size_t len, uint8_t out[HLEN],
                      struct lca_err *err)
{
    unsigned int n = 0;

    if (EVP_DigestInit_ex(c->md, c->sha, NULL) != 1 ||
        EVP_DigestUpdate(c->md, c->prev, HLEN) != 1 ||
        EVP_DigestUpdate(c->md, payload, len) != 1 || EVP_DigestFinal_ex(c->md, out, &n) != 1 ||
        n != HLEN) {
        return lca_err_set(err, LCA_ERR_FATAL, "sha256", "audit: SHA-256 failed");
    }
    return LCA_OK;
}

static int chain_step(struct chain *c, struct lca_audit_report *rep, const struct lca_pgevent *ev,
                      struct lca_err *err)
{
    uint8_t h[HLEN];

    if (ev->position != c->last + 1) {
        return finding(rep, c->last + 1, err,
                       "position %lld is missing: the log jumps from %lld to %lld (row deleted)",
                       (long long)(c->last + 1), (long long)c->last, (long long)ev->position);
    }
    if (CRYPTO_memcmp(ev->prev_hash, c->prev, HLEN) != 0) {
        return finding(rep, ev->position, err,
                       "prev_hash is not the hash of position %lld (rows reordered, deleted "
                       "or rewritten)",
                       (long long)c->last);
    }
    if (chain_hash(c, ev->payload, ev->payload_len, h, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (CRYPTO_memcmp(h, ev->hash, HLEN) != 0) {
        return finding(rep, ev->position, err,
                       "hash mismatch: SHA-256(prev_hash || payload) differs from the stored "
                       "hash (payload or hash changed)");
    }
    memcpy(c->prev, h, HLEN);
    c->last = ev->position;
    return LCA_OK;
}

/* ---- (b) certificates ----------------------------------------------------------------------- */

/* Big-endian magnitude without leading zero octets. */
static const uint8_t *strip0(const uint8_t *p, size_t *len)
{
    while (*len > 1 && p[0] == 0) {
        p++;
        (*len)--;
    }
    return p;
}

static int serial_equal(const ASN1_INTEGER *a, const uint8_t *s, size_t slen)
{
    size_t alen = (size_t)ASN1_STRING_length(a);
    const uint8_t *ap = strip0(ASN1_STRING_get0_data(a), &alen);
    const uint8_t *sp = strip0(s, &slen);

    return alen == slen && memcmp(ap, sp, slen) == 0;
}

static int check_cert_issued(const struct lca_state *st, struct lca_audit_report *rep,
                             int64_t pos, const struct lca_val *p, struct lca_err *err)
{
    const char *sn = lca_val_map_get_str(p, "serial_number");
    const char *iid = lca_val_map_get_str(p, "issuer_id");
    const struct lca_issuer *iss = iid != NULL ? lca_state_issuer_ref(st, iid) : NULL;
    size_t len = 0, slen = 0;
    const uint8_t *der = lca_val_map_get_bin(p, "certificate", &len);
    const uint8_t *q = der;
    uint8_t serial[20];
    X509 *x;
    int ok;

    if (iss == NULL || strcmp(iss->id, iid) != 0) {
        return finding(rep, pos, err, "CertificateIssued names issuer '%.40s' which the log "
                       "does not hold", iid != NULL ? iid : "");
    }
    if (der == NULL) {
        return LCA_OK; /* no_store role: nothing to verify */
    }
    if (sn == NULL || lca_state_serial_parse(sn, serial, &slen) != LCA_OK) {
        return finding(rep, pos, err, "CertificateIssued without a valid serial_number");
    }
    switch (lca_certsig_verify(der, len, X509_get0_pubkey(iss->cert), serial, slen)) {
    case LCA_CERTSIG_OK: /* the DER walk: no X509 object (workers/certsig.h) */
        rep->certificates++;
        return LCA_OK;
    case LCA_CERTSIG_BAD_DER:
        return finding(rep, pos, err, "certificate %s does not parse as DER", sn);
    case LCA_CERTSIG_SERIAL:
        return finding(rep, pos, err, "certificate carries another serial than the event's %s",
                       sn);
    case LCA_CERTSIG_BAD_SIG:
        return finding(rep, pos, err, "certificate %s is not signed by its issuer %s (key %s)",
                       sn, iss->id, iss->key_id);
    default:
        break; /* another algorithm: the full decoder */
    }
    if ((x = d2i_X509(NULL, &q, (long)len)) == NULL || q != der + len) {
        X509_free(x);
        return finding(rep, pos, err, "certificate %s does not parse as DER", sn);
    }
    ok = serial_equal(X509_get0_serialNumber(x), serial, slen);
    if (ok && X509_verify(x, X509_get0_pubkey(iss->cert)) != 1) {
        ok = -1;
    }
    X509_free(x);
    ERR_clear_error();
    if (ok != 1) {
        return finding(rep, pos, err,
                       ok == 0 ? "certificate carries another serial than the event's %s"
                               : "certificate %s is not signed by its issuer %s (key %s)",
                       sn, iss->id, iss->key_id);
    }
    rep->certificates++;
    return LCA_OK;
}

/* After IssuerCreated was applied: its certificate verifies under its parent or itself. */
static int check_issuer_created(const struct lca_state *st, struct lca_audit_report *rep,
                                int64_t pos, const struct lca_val *p, struct lca_err *err)
{
    const struct lca_issuer *iss = lca_state_issuer_ref(st, lca_val_map_get_str(p, "issuer_id"));
    const struct lca_issuer *parent = iss;

    if (iss == NULL) {
        return finding(rep, pos, err, "IssuerCreated did not create its issuer");
    }
    if (iss->parent_id[0] != '\0') {
        parent = lca_state_issuer_ref(st, iss->parent_id);
        if (parent == NULL || strcmp(parent->id, iss->parent_id) != 0) {
            return finding(rep, pos, err, "issuer %s names parent %s which the log does not hold",
                           iss->id, iss->parent_id);
        }
    } else if (iss->kind == LCA_ISSUER_EXTERNAL) {
        rep->unverifiable++; /* signed outside this log */
        return LCA_OK;
    }
    if (X509_verify(iss->cert, X509_get0_pubkey(parent->cert)) != 1) {
        ERR_clear_error();
        return finding(rep, pos, err, "issuer certificate %s is not signed by %s %s", iss->id,
                       parent == iss ? "itself" : "its parent", parent->id);
    }
    rep->certificates++;
    return LCA_OK;
}

/* ---- (c) CRLs --------------------------------------------------------------------------------- */

struct serial_set {
    const char *issuer_id;
    int64_t this_update;
    int shard;          /* -1: every serial of the issuer; else only its shard's */
    unsigned n_shards;
    int delta;          /* only revocations after after_seq (a delta CRL, RFC 5280 5.2.4) */
    uint64_t after_seq;
    struct {
        uint8_t b[20];
        size_t n;
    } *v;
    size_t n, cap;
    int oom;
};

static void set_add(struct serial_set *s, const uint8_t *p, size_t n)
{
    if (s->n == s->cap) {
        size_t cap = s->cap == 0 ? 32 : 2 * s->cap;
        void *nv = realloc(s->v, cap * sizeof(*s->v));
        if (nv == NULL) {
            s->oom = 1;
            return;
        }
        s->v = nv;
        s->cap = cap;
    }
    p = strip0(p, &n);
    if (n > 20) {
        n = 20; /* longer than RFC 5280 4.1.2.2 allows: compared truncated, still a mismatch */
    }
    memcpy(s->v[s->n].b, p, n);
    s->v[s->n++].n = n;
}

static int revoked_of(const struct lca_certrec *rec, void *ctx)
{
    struct serial_set *s = ctx;

    if (rec->revoked_at != 0 && rec->not_after >= s->this_update &&
        strcmp(rec->issuer_id, s->issuer_id) == 0 &&
        (s->shard < 0 ||
         lca_crl_shard(rec->serial, rec->serial_len, s->n_shards) == (unsigned)s->shard) &&
        (!s->delta || rec->revoke_seq > s->after_seq)) {
        set_add(s, rec->serial, rec->serial_len);
    }
    return s->oom;
}

static int serial_cmp(const void *a, const void *b)
{
    const struct {
        uint8_t b[20];
        size_t n;
    } *x = a, *y = b;

    if (x->n != y->n) {
        return x->n < y->n ? -1 : 1;
    }
    return memcmp(x->b, y->b, x->n);
}

static int64_t asn1_unix(const ASN1_TIME *t)
{
    struct tm tm;
    int64_t y, m, days;

    memset(&tm, 0, sizeof(tm));
    if (ASN1_TIME_to_tm(t, &tm) != 1) {
        return 0;
    }
    y = (int64_t)tm.tm_year + 1900;
    m = (int64_t)tm.tm_mon + 1;
    y -= m <= 2;
    days = 365 * y + y / 4 - y / 100 + y / 400 + (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 +
           tm.tm_mday - 1 - 719468; /* days from civil (proleptic Gregorian), 1970-01-01 = 0 */
    return days * 86400 + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
}

/* First serial in exactly one of the two sorted sets; 0 when equal. */
static int set_diff(const struct serial_set *crl, const struct serial_set *log, char *out,
                    size_t outlen)
{
    size_t i = 0, j = 0;
    int c;

    while (i < crl->n || j < log->n) {
        c = i == crl->n ? 1 : j == log->n ? -1 : serial_cmp(&crl->v[i], &log->v[j]);
        if (c == 0) {
            i++;
            j++;
            continue;
        }
        if (c < 0) {
            lca_state_serial_format(crl->v[i].b, crl->v[i].n, out, outlen);
            return -1; /* listed, but not revoked in the log */
        }
        lca_state_serial_format(log->v[j].b, log->v[j].n, out, outlen);
        return 1; /* revoked in the log, missing from the CRL */
    }
    return 0;
}

static int crl_sets(const struct lca_state *st, X509_CRL *crl, const char *issuer_id,
                    struct serial_set *in_crl, struct serial_set *in_log)
{
    STACK_OF(X509_REVOKED) *rv = X509_CRL_get_REVOKED(crl);
    int i;

    in_log->issuer_id = issuer_id; /* scope fields set by the caller */
    in_log->this_update = asn1_unix(X509_CRL_get0_lastUpdate(crl));
    lca_state_cert_foreach(st, revoked_of, in_log);
    for (i = 0; i < sk_X509_REVOKED_num(rv); i++) {
        const ASN1_INTEGER *s = X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(rv, i));
        set_add(in_crl, ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
    }
    if (in_crl->oom || in_log->oom) {
        return LCA_FAIL;
    }
    if (in_crl->n > 0) {
        qsort(in_crl->v, in_crl->n, sizeof(*in_crl->v), serial_cmp);
    }
    if (in_log->n > 0) {
        qsort(in_log->v, in_log->n, sizeof(*in_log->v), serial_cmp);
    }
    return LCA_OK;
}

static int crl_number_is(X509_CRL *crl, int64_t want)
{
    ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    uint64_t v = 0;
    int ok = n != NULL && ASN1_INTEGER_get_uint64(&v, n) == 1 && want >= 0 && v == (uint64_t)want;

    ASN1_INTEGER_free(n);
    return ok;
}

/* The scope a CrlPublished claims (RFC 5280 5.2.4, 5.2.5), as the log's state knows it. */
struct crl_scope_check {
    int shard;                          /* -1: unsharded */
    int64_t delta_base;                 /* -1: complete CRL */
    const struct lca_crl_scope *scope;  /* the state's record of that scope */
    char label[24];                     /* " shard k" or "" for messages */
};

static int64_t crl_int_ext(X509_CRL *crl, int nid, int *crit)
{
    ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, nid, crit, NULL);
    int64_t v = -1;

    if (n != NULL && ASN1_INTEGER_get_int64(&v, n) != 1) {
        v = -2;
    }
    ASN1_INTEGER_free(n);
    return v;
}

/* The URI of an IDP's fullName (one URI) into out; "" when absent or of another form. */
static void idp_uri(X509_CRL *crl, int *crit, char *out, size_t len)
{
    ISSUING_DIST_POINT *idp = X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, crit,
                                                   NULL);
    GENERAL_NAME *gn;

    out[0] = '\0';
    if (idp != NULL && idp->distpoint != NULL && idp->distpoint->type == 0 &&
        sk_GENERAL_NAME_num(idp->distpoint->name.fullname) == 1 &&
        (gn = sk_GENERAL_NAME_value(idp->distpoint->name.fullname, 0))->type == GEN_URI) {
        snprintf(out, len, "%.*s", ASN1_STRING_length(gn->d.uniformResourceIdentifier),
                 (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier));
    }
    ISSUING_DIST_POINT_free(idp);
}

static int check_crl_scope(struct lca_audit_report *rep, int64_t pos, X509_CRL *crl,
                           const struct lca_issuer *iss, const struct crl_scope_check *sc,
                           struct lca_err *err)
{
    char got[1100], want[1100];
    int crit = 0;
    int64_t ind = crl_int_ext(crl, NID_delta_crl, &crit);

    if (ind != sc->delta_base || (ind >= 0 && crit != 1)) {
        return finding(rep, pos, err,
                       "CRL of issuer %s%s: deltaCRLIndicator %lld, the event says delta_base "
                       "%lld (RFC 5280 5.2.4: critical, present only in delta CRLs)",
                       iss->id, sc->label, (long long)ind, (long long)sc->delta_base);
    }
    if (sc->delta_base >= 0 && (uint64_t)sc->delta_base != sc->scope->base_number) {
        return finding(rep, pos, err,
                       "delta CRL of issuer %s%s is against CRL %lld, but the last complete "
                       "CRL of its scope is %llu",
                       iss->id, sc->label, (long long)sc->delta_base,
                       (unsigned long long)sc->scope->base_number);
    }
    crit = 0;
    idp_uri(crl, &crit, got, sizeof(got));
    if (sc->shard < 0) {
        return got[0] == '\0' ? LCA_OK
                               : finding(rep, pos, err,
                                         "CRL of unsharded issuer %s has an IDP (%s)", iss->id,
                                         got);
    }
    if (lca_crl_url(iss->crl_base_url, iss->id, sc->shard, 0, want, sizeof(want)) != LCA_OK ||
        strcmp(got, want) != 0 || crit != 1) {
        return finding(rep, pos, err,
                       "CRL of issuer %s%s: issuingDistributionPoint '%s' is not the shard's "
                       "URL '%s', critical (RFC 5280 5.2.5)",
                       iss->id, sc->label, got, want);
    }
    return LCA_OK;
}

static int check_crl_content(const struct lca_state *st, struct lca_audit_report *rep,
                             int64_t pos, X509_CRL *crl, const struct lca_issuer *iss,
                             const struct crl_scope_check *sc, struct lca_err *err)
{
    struct serial_set a, b;
    char sn[64];
    int d, rc;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    b.shard = sc->shard;
    b.n_shards = iss->crl_shards;
    b.delta = sc->delta_base >= 0;
    b.after_seq = sc->scope->base_seq;
    if (crl_sets(st, crl, iss->id, &a, &b) != LCA_OK) {
        rc = lca_err_set(err, LCA_ERR_FATAL, "oom", "audit: out of memory");
    } else if ((d = set_diff(&a, &b, sn, sizeof(sn))) != 0) {
        rc = finding(rep, pos, err,
                     d < 0 ? "%s of issuer %s%s lists serial %s which the log does not hold "
                             "revoked%s"
                           : "%s of issuer %s%s omits serial %s which the log holds revoked%s",
                     b.delta ? "delta CRL" : "CRL", iss->id, sc->label, sn,
                     b.delta ? " after its base" : "");
    } else {
        rc = LCA_OK;
    }
    free(a.v);
    free(b.v);
    return rc;
}

static int check_crl(const struct lca_state *st, struct lca_audit_report *rep, int64_t pos,
                     const struct lca_val *p, struct lca_err *err)
{
    const char *iid = lca_val_map_get_str(p, "issuer_id");
    const struct lca_issuer *iss = iid != NULL ? lca_state_issuer_ref(st, iid) : NULL;
    size_t len = 0;
    const uint8_t *der = lca_val_map_get_bin(p, "crl", &len), *q = der;
    X509_CRL *crl = NULL;
    struct crl_scope_check sc;
    int rc;

    if (iss == NULL || strcmp(iss->id, iid) != 0 || der == NULL) {
        return finding(rep, pos, err, "CrlPublished without a known issuer or a CRL");
    }
    memset(&sc, 0, sizeof(sc));
    sc.shard = (int)lca_val_map_get_int(p, "shard", -1);
    sc.delta_base = lca_val_map_get_int(p, "delta_base", -1);
    if (sc.shard >= 0) {
        snprintf(sc.label, sizeof(sc.label), " shard %d", sc.shard);
    }
    if ((sc.scope = lca_state_crl_scope(iss, sc.shard)) == NULL) {
        return finding(rep, pos, err, "CrlPublished for shard %d of issuer %s, which has %u",
                       sc.shard, iss->id, (unsigned)iss->crl_shards);
    }
    if ((crl = d2i_X509_CRL(NULL, &q, (long)len)) == NULL || q != der + len) {
        X509_CRL_free(crl);
        ERR_clear_error();
        return finding(rep, pos, err, "CRL of issuer %s does not parse as DER", iss->id);
    }
    if (X509_CRL_verify(crl, X509_get0_pubkey(iss->cert)) != 1) {
        rc = finding(rep, pos, err, "CRL is not signed by its issuer %s", iss->id);
    } else if (!crl_number_is(crl, lca_val_map_get_int(p, "crl_number", -1))) {
        rc = finding(rep, pos, err, "CRL of issuer %s does not carry the event's cRLNumber",
                     iss->id);
    } else if ((rc = check_crl_scope(rep, pos, crl, iss, &sc, err)) == LCA_OK) {
        rc = check_crl_content(st, rep, pos, crl, iss, &sc, err);
    }
    X509_CRL_free(crl);
    ERR_clear_error();
    if (rc == LCA_OK) {
        rep->crls++;
    }
    return rc;
}

/* ---- (d) checkpoints: loading and checking a signed body ---------------------------------- */

struct cp_row {
    struct lca_audit_checkpoint cp;
    uint8_t *body;
    size_t body_len;
};

struct cp_list {
    struct cp_row *v;
    size_t n;
    size_t next; /* first checkpoint not yet matched against the log (sorted by position) */
};

static void cp_list_free(struct cp_list *l)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        free(l->v[i].body);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}


static int body_encode(const struct lca_audit_checkpoint *cp, uint8_t **out, size_t *len,
                       struct lca_err *err)
{
    struct lca_val *m = lca_val_new_map();
    int rc;

    lca_val_map_set_str(m, "cluster", cp->cluster);
    lca_val_map_set_bin(m, "hash", cp->hash, HLEN);
    lca_val_map_set_int(m, "position", cp->position);
    lca_val_map_set_int(m, "time", cp->time);
    lca_val_map_set_int(m, "v", 1);
    rc = lca_codec_encode(m, out, len, err); /* canonical: keys sorted */
    lca_val_free(m);
    return rc;
}

/* 1: sig is a valid Ed25519 signature of body under pub. */
static int ed25519_ok(const uint8_t pub[32], const uint8_t *body, size_t len,
                      const uint8_t sig[64])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = k != NULL && md != NULL && EVP_DigestVerifyInit(md, NULL, NULL, NULL, k) == 1 &&
             EVP_DigestVerify(md, sig, 64, body, len) == 1;

    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    ERR_clear_error();
    return ok;
}

#define SQL_CP "SELECT id, cluster, position, hash, time_s, body, public_key, signature FROM checkpoints"

static int cp_row_parse(const PGresult *res, int r, struct cp_row *row, struct lca_err *err)
{
    size_t blen = (size_t)PQgetlength(res, r, 5);

    memset(row, 0, sizeof(*row));
    if (PQgetlength(res, r, 3) != HLEN || PQgetlength(res, r, 6) != 32 ||
        PQgetlength(res, r, 7) != 64 || (size_t)PQgetlength(res, r, 1) >= sizeof(row->cp.cluster)) {
        return lca_err_set(err, LCA_ERR_FATAL, "bad_row", "audit: malformed checkpoint row");
    }
    row->cp.id = (int64_t)be64((const uint8_t *)PQgetvalue(res, r, 0));
    memcpy(row->cp.cluster, PQgetvalue(res, r, 1), (size_t)PQgetlength(res, r, 1));
    row->cp.position = (int64_t)be64((const uint8_t *)PQgetvalue(res, r, 2));
    memcpy(row->cp.hash, PQgetvalue(res, r, 3), HLEN);
    row->cp.time = (int64_t)be64((const uint8_t *)PQgetvalue(res, r, 4));
    memcpy(row->cp.pub, PQgetvalue(res, r, 6), 32);
    memcpy(row->cp.sig, PQgetvalue(res, r, 7), 64);
    if ((row->body = malloc(blen + 1)) == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "audit: out of memory");
    }
    memcpy(row->body, PQgetvalue(res, r, 5), blen);
    row->body_len = blen;
    return LCA_OK;
}

/* Runs a checkpoint query (binary results). BAD_INPUT "no_checkpoints_table" without sql/007. */
static int cp_query(struct lca_pgstore *store, const char *sql, int nparams, const char *const *vals,
                    const int *lens, PGresult **out, struct lca_err *err)
{
    PGconn *conn = lca_pgstore_conn(store, err);
    int fmts[2] = {1, 1};
    PGresult *res;
    const char *state;

    if (conn == NULL) {
        return LCA_FAIL;
    }
    res = PQexecParams(conn, sql, nparams, NULL, vals, lens, fmts, 1);
    if (PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK) {
        *out = res;
        return LCA_OK;
    }
    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (state != NULL && strcmp(state, "42P01") == 0) {
        PQclear(res);
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "no_checkpoints_table",
                           "audit: no checkpoints table: run `ledgerca migrate`");
    }
    lca_pgstore_pg_err(conn, res, "audit: checkpoints", err);
    PQclear(res);
    return LCA_FAIL;
}

/* Signature, body and key of one stored checkpoint; a finding names its position. */
static int cp_check(const struct cp_row *row, const uint8_t *pin, struct lca_audit_report *rep,
                    struct lca_err *err)
{
    uint8_t *body = NULL;
    size_t len = 0;
    int same;

    if (body_encode(&row->cp, &body, &len, err) != LCA_OK) {
        return LCA_FAIL;
    }
    same = len == row->body_len && memcmp(body, row->body, len) == 0;
    free(body);
    if (pin != NULL && CRYPTO_memcmp(pin, row->cp.pub, 32) != 0) {
        return finding(rep, row->cp.position, err,
                       "checkpoint #%lld is signed with another key than the log key",
                       (long long)row->cp.id);
    }
    if (!same || !ed25519_ok(row->cp.pub, row->body, row->body_len, row->cp.sig)) {
        return finding(rep, row->cp.position, err,
                       "checkpoint #%lld (position %lld): bad signature or its columns differ "
                       "from the signed body",
                       (long long)row->cp.id, (long long)row->cp.position);
    }
    return LCA_OK;
}

static int cp_pos_cmp(const void *a, const void *b)
{
    const struct cp_row *x = a, *y = b;

    if (x->cp.position != y->cp.position) {
        return x->cp.position < y->cp.position ? -1 : 1;
    }
    return x->cp.id < y->cp.id ? -1 : x->cp.id > y->cp.id;
}

static int cp_load(struct lca_pgstore *store, const uint8_t *pin, struct cp_list *l,
                   struct lca_audit_report *rep, struct lca_err *err)
{
    PGresult *res = NULL;
    int r, n, rc = LCA_FAIL;

    if (cp_query(store, SQL_CP " ORDER BY id", 0, NULL, NULL, &res, err) != LCA_OK) {
        return LCA_FAIL;
    }
    n = PQntuples(res);
    if (n > 0 && (l->v = calloc((size_t)n, sizeof(*l->v))) == NULL) {
        lca_err_set(err, LCA_ERR_FATAL, "oom", "audit: out of memory");
        goto out;
    }
    for (r = 0; r < n; r++) {
        if (cp_row_parse(res, r, &l->v[r], err) != LCA_OK) {
            goto out;
        }
        l->n++;
        if (cp_check(&l->v[r], pin != NULL ? pin : l->v[0].cp.pub, rep, err) != LCA_OK) {
            goto out;
        }
    }
    if (l->n > 0) {
        qsort(l->v, l->n, sizeof(*l->v), cp_pos_cmp);
    }
    while (l->next < l->n && l->v[l->next].cp.position == 0) {
        rep->checkpoints++; /* an empty log: nothing to match */
        l->next++;
    }
    rc = LCA_OK;
out:
    PQclear(res);
    return rc;
}

/* The log at a checkpointed position must still have the checkpointed hash. */
static int cp_match(struct cp_list *l, struct lca_audit_report *rep, const struct lca_pgevent *pe,
                    struct lca_err *err)
{
    while (l->next < l->n && l->v[l->next].cp.position == pe->position) {
        const struct lca_audit_checkpoint *cp = &l->v[l->next].cp;
        if (CRYPTO_memcmp(cp->hash, pe->hash, HLEN) != 0) {
            return finding(rep, pe->position, err,
                           "checkpoint #%lld signed another hash for position %lld than the log "
                           "now holds (history rewritten after it was published)",
                           (long long)cp->id, (long long)pe->position);
        }
        rep->checkpoints++;
        l->next++;
    }
    return LCA_OK;
}

static int cp_beyond(const struct cp_list *l, struct lca_audit_report *rep, int64_t last,
                     struct lca_err *err)
{
    const struct lca_audit_checkpoint *cp;
    char h[2 * HLEN + 1];

    if (l->next >= l->n) {
        return LCA_OK;
    }
    cp = &l->v[l->next].cp;
    hex(cp->hash, HLEN, h);
    return finding(rep, cp->position, err,
                   "log cut: checkpoint #%lld (cluster %s, time %lld) vouches for position %lld "
                   "with hash %.16s..., but the log ends at position %lld",
                   (long long)cp->id, cp->cluster, (long long)cp->time, (long long)cp->position,
                   h, (long long)last);
}

/* ---- the verifier --------------------------------------------------------------------------- */

struct verifier {
    const struct lca_audit_opts *o;
    struct lca_audit_report *rep;
    struct chain chain;
    struct lca_state *st;
    struct cp_list cps;
};

static int check_type_column(struct lca_audit_report *rep, const struct lca_pgevent *pe,
                             const struct lca_event *ev, struct lca_err *err)
{
    const char *name = lca_catalog_evt_name(ev->type);

    if (name == NULL || strcmp(name, pe->type) != 0) {
        return finding(rep, pe->position, err, "type column '%.40s' differs from the payload's "
                       "type '%s'", pe->type, name != NULL ? name : "?");
    }
    return LCA_OK;
}

static int check_semantics(struct verifier *v, const struct lca_pgevent *pe,
                           struct lca_err *err)
{
    struct lca_event *ev = NULL;
    struct lca_err why;
    int rc = LCA_FAIL;

    lca_err_clear(&why);
    if (lca_event_decode(pe->payload, pe->payload_len, &ev, &why) != LCA_OK) {
        return finding(v->rep, pe->position, err, "payload does not decode: %s", why.msg);
    }
    if (check_type_column(v->rep, pe, ev, err) != LCA_OK ||
        (ev->type == LCA_EVT_CERT_ISSUED &&
         check_cert_issued(v->st, v->rep, pe->position, ev->payload, err) != LCA_OK) ||
        (ev->type == LCA_EVT_CRL_PUBLISHED &&
         check_crl(v->st, v->rep, pe->position, ev->payload, err) != LCA_OK)) {
        goto out;
    }
    v->rep->crl_refusals += ev->type == LCA_EVT_CRL_BUILD_FAILED;
    if (lca_state_evolve(v->st, pe->position, ev, &why) != LCA_OK) {
        rc = finding(v->rep, pe->position, err, "event does not apply to the state: %s",
                     why.msg);
        goto out;
    }
    rc = ev->type == LCA_EVT_ISSUER_CREATED
             ? check_issuer_created(v->st, v->rep, pe->position, ev->payload, err)
             : LCA_OK;
out:
    lca_event_free(ev);
    return rc;
}

static int verify_one(void *ctx, const struct lca_pgevent *pe, struct lca_err *err)
{
    struct verifier *v = ctx;

    if (chain_step(&v->chain, v->rep, pe, err) != LCA_OK ||
        (!v->o->chain_only && check_semantics(v, pe, err) != LCA_OK) ||
        cp_match(&v->cps, v->rep, pe, err) != LCA_OK) {
        return LCA_FAIL;
    }
    v->rep->events++;
    if (v->o->progress != NULL && (pe->position % PROGRESS_EVERY) == 0) {
        v->o->progress(v->o->progress_ctx, pe->position, v->rep->head);
    }
    return LCA_OK;
}

/* After the walk: log_head must be the last row, and no checkpoint may lie beyond it. */
static int check_end(struct verifier *v, const uint8_t head_hash[HLEN], struct lca_err *err)
{
    struct lca_audit_report *rep = v->rep;
    char h[2 * HLEN + 1];

    if (v->chain.last != rep->head) {
        return finding(rep, v->chain.last + 1, err,
                       "positions %lld..%lld are missing: log_head records position %lld but "
                       "the log ends at %lld (tail deleted)",
                       (long long)(v->chain.last + 1), (long long)rep->head,
                       (long long)rep->head, (long long)v->chain.last);
    }
    if (CRYPTO_memcmp(v->chain.prev, head_hash, HLEN) != 0) {
        hex(head_hash, HLEN, h);
        return finding(rep, rep->head, err, "log_head hash %.16s... is not the hash of its "
                       "position %lld", h, (long long)rep->head);
    }
    return cp_beyond(&v->cps, rep, v->chain.last, err);
}

static int verify_run(struct lca_pgstore *store, struct verifier *v, struct lca_err *err)
{
    uint8_t head_hash[HLEN];

    if (v->o->checkpoints && cp_load(store, v->o->log_public_key, &v->cps, v->rep, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (!v->rep->clean) {
        return LCA_OK;
    }
    if (lca_pgstore_head(store, &v->rep->head, head_hash, err) != LCA_OK ||
        read_range(store, 0, v->rep->head, verify_one, v, err) != LCA_OK) {
        return LCA_FAIL;
    }
    return check_end(v, head_hash, err);
}

int lca_audit_verify(struct lca_pgstore *store, const struct lca_audit_opts *o,
                     struct lca_audit_report *rep, struct lca_err *err)
{
    static const struct lca_audit_opts dflt;
    static const uint8_t zero[HLEN];
    struct lca_audit_report r;
    struct verifier v;
    int rc = LCA_FAIL;

    memset(&r, 0, sizeof(r));
    memset(&v, 0, sizeof(v));
    r.clean = 1;
    v.o = o != NULL ? o : &dflt;
    v.rep = &r;
    if (chain_init(&v.chain, 0, zero, err) != LCA_OK ||
        (!v.o->chain_only && (v.st = lca_state_new()) == NULL)) {
        if (err->cls == LCA_ERR_NONE) {
            lca_err_set(err, LCA_ERR_FATAL, "oom", "audit: out of memory");
        }
        goto out;
    }
    rc = verify_run(store, &v, err);
    if (rc != LCA_OK && strcmp(err->code, FINDING) == 0) {
        lca_err_clear(err);
        rc = LCA_OK;
    }
    if (rc == LCA_OK) {
        if (v.o->progress != NULL) {
            v.o->progress(v.o->progress_ctx, v.chain.last, r.head);
        }
        *rep = r;
    }
out:
    chain_cleanup(&v.chain);
    lca_state_free(v.st);
    cp_list_free(&v.cps);
    return rc;
}

/* ---- checkpoints: the log key -------------------------------------------------------------- */

struct lca_audit_logkey {
    EVP_PKEY *pkey;
    uint8_t pub[32];
};

void lca_audit_logkey_free(struct lca_audit_logkey *k)
{
    if (k != NULL) {
        EVP_PKEY_free(k->pkey); /* OpenSSL wipes the private key material */
        OPENSSL_cleanse(k, sizeof(*k));
        free(k);
    }
}

void lca_audit_logkey_public(const struct lca_audit_logkey *k, uint8_t pub[32])
{
    memcpy(pub, k->pub, 32);
}

/* Generates the key and stores it wrapped; key_exists (another creator won) is not an error. */
static int logkey_create(struct lca_pgstore *store, const uint8_t kek[32], struct lca_err *err)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    uint8_t nonce[12], *blob = NULL;
    size_t len = 0;
    int rc = LCA_FAIL;

    if (k == NULL || RAND_bytes(nonce, sizeof(nonce)) != 1) {
        lca_err_ossl(err, LCA_ERR_FATAL, "keygen", "audit: log key generation");
        goto out;
    }
    if (lca_key_wrap(kek, nonce, k, LCA_AUDIT_LOG_KEY_ID, &blob, &len, err) != LCA_OK) {
        goto out;
    }
    rc = lca_pgstore_key_put(store, LCA_AUDIT_LOG_KEY_ID, blob, len, err);
    if (rc != LCA_OK && strcmp(err->code, "key_exists") == 0) {
        lca_err_clear(err);
        rc = LCA_OK;
    }
out:
    OPENSSL_free(blob);
    EVP_PKEY_free(k);
    return rc;
}

static int logkey_unwrap(struct lca_pgstore *store, const uint8_t kek[32], EVP_PKEY **out,
                         struct lca_err *err)
{
    uint8_t *blob = NULL;
    size_t len = 0;
    int rc;

    if (lca_pgstore_key_get(store, LCA_AUDIT_LOG_KEY_ID, &blob, &len, err) != LCA_OK) {
        return LCA_FAIL;
    }
    rc = lca_key_unwrap(kek, blob, len, LCA_AUDIT_LOG_KEY_ID, out, err);
    free(blob);
    if (rc != LCA_OK) {
        err->cls = LCA_ERR_FATAL; /* wrong KEK or a damaged key row: an operator must look */
    }
    return rc;
}

int lca_audit_logkey_load(struct lca_pgstore *store, const uint8_t kek[32],
                          struct lca_audit_logkey **out, struct lca_err *err)
{
    struct lca_audit_logkey *k = calloc(1, sizeof(*k));
    size_t n = 32;
    int rc;

    if (k == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "audit: out of memory");
    }
    rc = logkey_unwrap(store, kek, &k->pkey, err);
    if (rc != LCA_OK && strcmp(err->code, "not_found") == 0) {
        lca_err_clear(err);
        rc = logkey_create(store, kek, err) == LCA_OK ? logkey_unwrap(store, kek, &k->pkey, err)
                                                      : LCA_FAIL;
    }
    if (rc == LCA_OK && (EVP_PKEY_get_id(k->pkey) != EVP_PKEY_ED25519 ||
                         EVP_PKEY_get_raw_public_key(k->pkey, k->pub, &n) != 1 || n != 32)) {
        rc = lca_err_set(err, LCA_ERR_FATAL, "bad_log_key", "audit: the stored log key is not "
                         "Ed25519");
    }
    if (rc != LCA_OK) {
        lca_audit_logkey_free(k);
        return LCA_FAIL;
    }
    *out = k;
    return LCA_OK;
}

/* ---- checkpoints: signing ------------------------------------------------------------------ */

/* The last checkpoint of cluster (*found = 0 when none), its signature checked under k. */
static int cp_last(struct lca_pgstore *store, const struct lca_audit_logkey *k,
                   const char *cluster, struct cp_row *row, int *found, struct lca_err *err)
{
    const char *vals[1] = {cluster};
    const int lens[1] = {(int)strlen(cluster)};
    struct lca_audit_report rep;
    PGresult *res = NULL;
    int rc = LCA_FAIL;

    memset(&rep, 0, sizeof(rep));
    if (cp_query(store, SQL_CP " WHERE cluster = $1 ORDER BY id DESC LIMIT 1", 1, vals, lens,
                 &res, err) != LCA_OK) {
        return LCA_FAIL;
    }
    *found = PQntuples(res) == 1;
    if (*found && (cp_row_parse(res, 0, row, err) != LCA_OK ||
                   cp_check(row, k->pub, &rep, err) != LCA_OK)) {
        err->cls = LCA_ERR_BAD_INPUT;
        snprintf(err->code, sizeof(err->code), "chain_broken");
        goto out;
    }
    rc = LCA_OK;
out:
    PQclear(res);
    return rc;
}

static int chain_only_cb(void *ctx, const struct lca_pgevent *pe, struct lca_err *err)
{
    void **c = ctx;

    return chain_step(c[0], c[1], pe, err);
}

/* Verifies (from, to] continues from hash `prev` and ends at `head_hash`. */
static int chain_span(struct lca_pgstore *store, int64_t from, const uint8_t prev[HLEN],
                      int64_t to, const uint8_t head_hash[HLEN], struct lca_err *err)
{
    struct lca_audit_report rep;
    struct chain c;
    void *ctx[2] = {&c, &rep};
    int rc;

    memset(&rep, 0, sizeof(rep));
    rc = chain_init(&c, from, prev, err) == LCA_OK ? read_range(store, from, to, chain_only_cb,
                                                                  ctx, err)
                                                   : LCA_FAIL;
    if (rc == LCA_OK && (c.last != to || CRYPTO_memcmp(c.prev, head_hash, HLEN) != 0)) {
        rc = finding(&rep, c.last + 1, err, "the log ends at %lld, not at log_head %lld",
                     (long long)c.last, (long long)to);
    }
    if (rc != LCA_OK && strcmp(err->code, FINDING) == 0) {
        lca_err_set(err, LCA_ERR_BAD_INPUT, "chain_broken",
                    "audit: refusing to sign: position %lld: %s", (long long)rep.bad_position,
                    rep.problem);
    }
    chain_cleanup(&c);
    return rc;
}

static int cp_sign_insert(struct lca_pgstore *store, const struct lca_audit_logkey *k,
                          struct lca_audit_checkpoint *cp, struct lca_err *err)
{
    uint8_t *body = NULL, p[8], t[8];
    size_t len = 0, siglen = 64;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    PGresult *res = NULL;
    int rc = LCA_FAIL;

    if (md == NULL || body_encode(cp, &body, &len, err) != LCA_OK) {
        goto out;
    }
    if (EVP_DigestSignInit(md, NULL, NULL, NULL, k->pkey) != 1 ||
        EVP_DigestSign(md, cp->sig, &siglen, body, len) != 1 || siglen != 64) {
        lca_err_ossl(err, LCA_ERR_FATAL, "sign", "audit: Ed25519 signature");
        goto out;
    }
    memcpy(cp->pub, k->pub, 32);
    put_be64(p, (uint64_t)cp->position);
    put_be64(t, (uint64_t)cp->time);
    {
        const char *vals[7] = {cp->cluster, (const char *)p, (const char *)cp->hash,
                               (const char *)t, (const char *)body, (const char *)cp->pub,
                               (const char *)cp->sig};
        const int lens[7] = {(int)strlen(cp->cluster), 8, HLEN, 8, (int)len, 32, 64};
        PGconn *conn = lca_pgstore_conn(store, err);
        const int fmts[7] = {0, 1, 1, 1, 1, 1, 1};
        const Oid types[7] = {25, 20, 17, 20, 17, 17, 17};

        if (conn == NULL) {
            goto out;
        }
        res = PQexecParams(conn,
                           "INSERT INTO checkpoints (cluster, position, hash, time_s, body, "
                           "public_key, signature) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                           "RETURNING id",
                           7, types, vals, lens, fmts, 1);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
            lca_pgstore_pg_err(conn, res, "audit: insert checkpoint", err);
            goto out;
        }
        cp->id = (int64_t)be64((const uint8_t *)PQgetvalue(res, 0, 0));
    }
    rc = LCA_OK;
out:
    PQclear(res);
    EVP_MD_CTX_free(md);
    free(body);
    return rc;
}

int lca_audit_checkpoint(struct lca_pgstore *store, const struct lca_audit_logkey *k,
                         const char *cluster, int64_t now, struct lca_audit_checkpoint *out,
                         int *wrote, struct lca_err *err)
{
    static const uint8_t zero[HLEN];
    struct lca_audit_checkpoint cp;
    struct cp_row last;
    int found = 0, rc;

    memset(&last, 0, sizeof(last));
    memset(&cp, 0, sizeof(cp));
    if (cluster == NULL || cluster[0] == '\0' || strlen(cluster) >= sizeof(cp.cluster)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_cluster", "audit: cluster id 1..63 bytes");
    }
    snprintf(cp.cluster, sizeof(cp.cluster), "%s", cluster);
    cp.time = now;
    if (cp_last(store, k, cluster, &last, &found, err) != LCA_OK ||
        lca_pgstore_head(store, &cp.position, cp.hash, err) != LCA_OK) {
        free(last.body);
        return LCA_FAIL;
    }
    free(last.body);
    if (found && last.cp.position == cp.position &&
        CRYPTO_memcmp(last.cp.hash, cp.hash, HLEN) == 0) {
        *out = last.cp;
        *wrote = 0;
        return LCA_OK;
    }
    rc = found ? chain_span(store, last.cp.position, last.cp.hash, cp.position, cp.hash, err)
               : chain_span(store, 0, zero, cp.position, cp.hash, err);
    if (rc != LCA_OK || cp_sign_insert(store, k, &cp, err) != LCA_OK) {
        return LCA_FAIL;
    }
    *out = cp;
    *wrote = 1;
    return LCA_OK;
}

int lca_audit_checkpoint_json(const struct lca_audit_checkpoint *cp, char **out, size_t *len,
                              struct lca_err *err)
{
    char h[2 * HLEN + 1], pub[65], sig[129];
    uint8_t *body = NULL;
    size_t blen = 0;
    struct lca_val *m;
    int rc;

    if (body_encode(cp, &body, &blen, err) != LCA_OK) {
        return LCA_FAIL;
    }
    hex(cp->hash, HLEN, h);
    hex(cp->pub, 32, pub);
    hex(cp->sig, 64, sig);
    m = lca_val_new_map();
    lca_val_map_set_str(m, "cluster", cp->cluster);
    lca_val_map_set_int(m, "position", cp->position);
    lca_val_map_set_str(m, "hash", h);
    lca_val_map_set_int(m, "time", cp->time);
    lca_val_map_set_str(m, "public_key", pub);
    lca_val_map_set_str(m, "signature", sig);
    lca_val_map_set_bin(m, "body", body, blen);
    rc = lca_json_encode(m, out, len, err);
    lca_val_free(m);
    free(body);
    return rc;
}

/* ---- replay --------------------------------------------------------------------------------- */

struct crl_keep {
    char path[128]; /* lca_crl_path: "<issuer>.crl", "<issuer>.delta.crl", "<issuer>/<k>.crl" */
    int shard;
    uint8_t *der;
    size_t len;
};

struct replayer {
    struct lca_state *st;
    struct crl_keep *crls; /* the last CrlPublished per issuer, scope and kind */
    size_t n_crls;
    int64_t last_time_us;  /* recorded_at of the last event folded */
};

static int keep_crl(struct replayer *r, const struct lca_val *p, struct lca_err *err)
{
    const char *iid = lca_val_map_get_str(p, "issuer_id");
    size_t len = 0, i;
    const uint8_t *der = lca_val_map_get_bin(p, "crl", &len);
    struct crl_keep *k = NULL;
    uint8_t *copy;
    char path[128];
    int shard = (int)lca_val_map_get_int(p, "shard", -1);

    if (iid == NULL || der == NULL || strlen(iid) > LCA_ID_LEN ||
        lca_crl_path(iid, shard, lca_val_map_get_int(p, "delta_base", -1) >= 0, path,
                     sizeof(path)) != LCA_OK) {
        return lca_err_set(err, LCA_ERR_FATAL, "bad_log", "replay: CrlPublished without a CRL");
    }
    for (i = 0; i < r->n_crls && k == NULL; i++) {
        k = strcmp(r->crls[i].path, path) == 0 ? &r->crls[i] : NULL;
    }
    if (k == NULL) {
        void *nv = realloc(r->crls, (r->n_crls + 1) * sizeof(*r->crls));
        if (nv == NULL) {
            return lca_err_set(err, LCA_ERR_FATAL, "oom", "replay: out of memory");
        }
        r->crls = nv;
        k = &r->crls[r->n_crls++];
        memset(k, 0, sizeof(*k));
        snprintf(k->path, sizeof(k->path), "%s", path);
        k->shard = shard;
    }
    if ((copy = malloc(len)) == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "replay: out of memory");
    }
    memcpy(copy, der, len);
    free(k->der);
    k->der = copy;
    k->len = len;
    return LCA_OK;
}

static int replay_one(void *ctx, const struct lca_pgevent *pe, struct lca_err *err)
{
    struct replayer *r = ctx;
    struct lca_event *ev = NULL;
    int rc;

    if (lca_event_decode(pe->payload, pe->payload_len, &ev, err) != LCA_OK) {
        err->cls = LCA_ERR_FATAL;
        return LCA_FAIL;
    }
    rc = lca_state_evolve(r->st, pe->position, ev, err);
    if (rc == LCA_OK && ev->type == LCA_EVT_CRL_PUBLISHED) {
        rc = keep_crl(r, ev->payload, err);
    }
    lca_event_free(ev);
    if (rc != LCA_OK) {
        err->cls = LCA_ERR_FATAL;
        return LCA_FAIL;
    }
    r->last_time_us = pe->recorded_at_us;
    return LCA_OK;
}

/* The last position recorded at or before t (Unix seconds); 0 when none. */
static int position_at(struct lca_pgstore *store, int64_t t, int64_t *pos, struct lca_err *err)
{
    uint8_t b[8];
    const char *vals[1] = {(const char *)b};
    const int lens[1] = {8}, fmts[1] = {1};
    const Oid types[1] = {1184}; /* timestamptz, binary: microseconds since 2000-01-01 */
    PGconn *conn = lca_pgstore_conn(store, err);
    PGresult *res;

    if (conn == NULL) {
        return LCA_FAIL;
    }
    put_be64(b, (uint64_t)(t * 1000000 + 999999 - PG_EPOCH_US));
    res = PQexecParams(conn, "SELECT coalesce(max(position), 0) FROM events "
                             "WHERE recorded_at <= $1",
                       1, types, vals, lens, fmts, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
        PQgetlength(res, 0, 0) != 8) {
        lca_pgstore_pg_err(conn, res, "replay: position at time", err);
        PQclear(res);
        return LCA_FAIL;
    }
    *pos = (int64_t)be64((const uint8_t *)PQgetvalue(res, 0, 0));
    PQclear(res);
    return LCA_OK;
}

/* -- files -- */

static int write_file(const char *dir, const char *name, const void *data, size_t len,
                      struct lca_err *err)
{
    char path[4096];
    FILE *f;
    int ok;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "write", "replay: path too long");
    }
    if ((f = fopen(path, "wb")) == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "write", "replay: cannot create %s: %s", path,
                           strerror(errno));
    }
    ok = fwrite(data, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    return ok ? LCA_OK
              : lca_err_set(err, LCA_ERR_BAD_INPUT, "write", "replay: cannot write %s", path);
}

/* Encodes v (consumed) as JSON plus a newline into dir/name. */
static int write_json(const char *dir, const char *name, struct lca_val *v, struct lca_err *err)
{
    char *json = NULL;
    size_t len = 0;
    int rc = LCA_FAIL;

    if (lca_json_encode(v, &json, &len, err) == LCA_OK) {
        json[len] = '\n'; /* replaces the NUL: the buffer holds len + 1 bytes */
        rc = write_file(dir, name, json, len + 1, err);
    }
    free(json);
    lca_val_free(v);
    return rc;
}

static int make_dirs(const char *dir, struct lca_err *err)
{
    static const char *const subs[] = {"", "/issuers", "/crls"};
    char path[4096];
    size_t i;
    DIR *d;
    struct dirent *e;

    for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        snprintf(path, sizeof(path), "%s%s", dir, subs[i]);
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "write", "replay: cannot create %s: %s",
                               path, strerror(errno));
        }
        if ((d = opendir(path)) == NULL) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "write", "replay: cannot open %s", path);
        }
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
                (i != 0 || (strcmp(e->d_name, "issuers") != 0 && strcmp(e->d_name, "crls") != 0))) {
                closedir(d);
                return lca_err_set(err, LCA_ERR_BAD_INPUT, "dir_not_empty",
                                   "replay: %s is not empty", path);
            }
        }
        closedir(d);
    }
    return LCA_OK;
}

static const char *kind_name(enum lca_issuer_kind k)
{
    switch (k) {
    case LCA_ISSUER_ROOT:
        return "root";
    case LCA_ISSUER_INTERMEDIATE:
        return "intermediate";
    case LCA_ISSUER_CROSS_SIGNED:
        return "cross-signed";
    case LCA_ISSUER_REISSUED:
        return "reissued";
    case LCA_ISSUER_EXTERNAL:
        return "external";
    }
    return "unknown";
}

static struct lca_val *issuer_json(const struct lca_state *st, const struct lca_issuer *iss)
{
    const struct lca_issuer *root = lca_state_active_root(st);
    struct lca_val *m = lca_val_new_map();
    char serial[64];

    lca_cert_serial_hex(iss->cert, serial, sizeof(serial));
    lca_val_map_set_str(m, "ID", iss->id);
    lca_val_map_set_str(m, "Name", iss->name);
    lca_val_map_set_str(m, "Kind", kind_name(iss->kind));
    lca_val_map_set_str(m, "ParentID", iss->parent_id);
    lca_val_map_set_str(m, "RootID", iss->root_id);
    lca_val_map_set_str(m, "TwinOf", iss->twin_of);
    lca_val_map_set_str(m, "KeyID", iss->key_id);
    lca_val_map_set_str(m, "SerialNumber", serial);
    lca_val_map_set_int(m, "NotBefore", iss->not_before);
    lca_val_map_set_int(m, "NotAfter", iss->not_after);
    lca_val_map_set_bool(m, "Active", root != NULL && strcmp(root->id, iss->id) == 0);
    lca_val_map_set_bool(m, "Retired", iss->retired);
    lca_val_map_set_int(m, "CRLNumber", (int64_t)iss->crl_number);
    lca_val_map_set_int(m, "CreateIndex", iss->create_index);
    lca_val_map_set_int(m, "ModifyIndex", iss->modify_index);
    lca_val_map_set_str(m, "CertPEM", iss->pem);
    return m;
}

/* roots.json: the roots list exactly as the projector publishes it (Consul's shape). */
static int write_roots(const char *dir, const struct lca_state *st, struct lca_err *err)
{
    struct lca_val *roots = NULL;

    if (lca_roots_build(st, &roots, err) != LCA_OK) {
        return LCA_FAIL;
    }
    return write_json(dir, "roots.json", roots, err);
}

/* issuers.json: every issuer the log holds (retired and twins included), in log order. */
static int write_issuers_index(const char *dir, const struct lca_state *st, struct lca_err *err)
{
    const struct lca_issuer *root = lca_state_active_root(st);
    const struct lca_issuer *def = lca_state_default_issuer(st);
    struct lca_val *m = lca_val_new_map(), *arr = lca_val_new_arr();
    size_t i;

    lca_val_map_set_str(m, "TrustDomain", lca_state_trust_domain(st));
    lca_val_map_set_str(m, "ActiveRootID", root != NULL ? root->id : "");
    lca_val_map_set_str(m, "DefaultIssuerID", def != NULL ? def->id : "");
    for (i = 0; i < lca_state_issuer_count(st); i++) { /* log order: deterministic */
        lca_val_arr_push(arr, issuer_json(st, lca_state_issuer_at(st, i)));
    }
    lca_val_map_set(m, "Issuers", arr);
    return write_json(dir, "issuers.json", m, err);
}

static int write_issuer(const char *dir, const struct lca_state *st, const struct lca_issuer *iss,
                        struct lca_err *err)
{
    char name[128], *chain = NULL;
    size_t i, len = 0, n;
    int rc;

    snprintf(name, sizeof(name), "issuers/%s.pem", iss->id);
    if (write_file(dir, name, iss->pem, strlen(iss->pem), err) != LCA_OK) {
        return LCA_FAIL;
    }
    for (i = 0; i < iss->chain_len; i++) {
        const char *pem = lca_state_issuer_at(st, iss->chain[i])->pem;
        char *nc = realloc(chain, len + (n = strlen(pem)) + 1);
        if (nc == NULL) {
            free(chain);
            return lca_err_set(err, LCA_ERR_FATAL, "oom", "replay: out of memory");
        }
        chain = nc;
        memcpy(chain + len, pem, n + 1);
        len += n;
    }
    snprintf(name, sizeof(name), "issuers/%s.chain.pem", iss->id);
    rc = write_file(dir, name, chain != NULL ? chain : "", len, err);
    free(chain);
    return rc;
}

/* -- certificate lists, sorted by serial -- */

struct rec_list {
    const struct lca_certrec **v;
    size_t n, cap;
    int64_t at;   /* replay time */
    int revoked;  /* 1: revoked ones; 0: valid ones */
    int oom;
};

static int rec_pick(const struct lca_certrec *rec, void *ctx)
{
    struct rec_list *l = ctx;
    int take = l->revoked ? rec->revoked_at != 0 : rec->revoked_at == 0 && rec->not_after > l->at;

    if (!take) {
        return 0;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap == 0 ? 64 : 2 * l->cap;
        void *nv = realloc(l->v, cap * sizeof(*l->v));
        if (nv == NULL) {
            l->oom = 1;
            return 1;
        }
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = rec;
    return 0;
}

static int rec_cmp(const void *a, const void *b)
{
    const struct lca_certrec *x = *(const struct lca_certrec *const *)a;
    const struct lca_certrec *y = *(const struct lca_certrec *const *)b;
    size_t xl = x->serial_len, yl = y->serial_len;
    const uint8_t *xp = strip0(x->serial, &xl), *yp = strip0(y->serial, &yl);

    if (xl != yl) {
        return xl < yl ? -1 : 1;
    }
    return memcmp(xp, yp, xl);
}

/* One record as compact JSON, keys in the order lca_json_encode gives a map built in this
 * order. Serials, issuer ids and reason names need no escaping (hex, UUIDs, [a-z_]). */
static int rec_json(FILE *f, const struct lca_certrec *rec, int revoked, int first)
{
    char sn[64];

    lca_state_serial_format(rec->serial, rec->serial_len, sn, sizeof(sn));
    if (revoked) {
        return fprintf(f, "%s{\"serial_number\":\"%s\",\"issuer_id\":\"%s\",\"revoked_at\":%lld,"
                          "\"reason\":\"%s\"}",
                       first ? "" : ",", sn, rec->issuer_id, (long long)rec->revoked_at,
                       lca_crl_reason_name((enum lca_crl_reason)rec->reason));
    }
    return fprintf(f, "%s{\"serial_number\":\"%s\",\"issuer_id\":\"%s\",\"not_after\":%lld,"
                      "\"is_ca\":%s,\"position\":%lld}",
                   first ? "" : ",", sn, rec->issuer_id, (long long)rec->not_after,
                   rec->is_ca ? "true" : "false", (long long)rec->position);
}

/* revoked.json / certificates.json, streamed: a replay of 1,000,000 certificates must not build
 * a million-map value tree first (it cost 3/4 of the replay). */
static int write_recs(const char *dir, const struct lca_state *st, int revoked, int64_t at,
                      struct lca_err *err)
{
    struct rec_list l;
    char path[4096];
    FILE *f;
    size_t i;
    int ok;

    memset(&l, 0, sizeof(l));
    l.at = at;
    l.revoked = revoked;
    lca_state_cert_foreach(st, rec_pick, &l);
    if (l.oom) {
        free(l.v);
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "replay: out of memory");
    }
    if (l.n > 0) {
        qsort(l.v, l.n, sizeof(*l.v), rec_cmp);
    }
    snprintf(path, sizeof(path), "%s/%s", dir, revoked ? "revoked.json" : "certificates.json");
    if ((f = fopen(path, "wb")) == NULL) {
        free(l.v);
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "write", "replay: cannot create %s: %s", path,
                           strerror(errno));
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    ok = fputc('[', f) != EOF;
    for (i = 0; ok && i < l.n; i++) {
        ok = rec_json(f, l.v[i], revoked, i == 0) > 0;
    }
    ok = ok && fputs("]\n", f) != EOF;
    ok = fclose(f) == 0 && ok;
    free(l.v);
    return ok ? LCA_OK
              : lca_err_set(err, LCA_ERR_BAD_INPUT, "write", "replay: cannot write %s", path);
}

static int write_all(const char *dir, const struct replayer *r, int64_t pos, int64_t at,
                     struct lca_err *err)
{
    struct lca_val *m = lca_val_new_map();
    char name[200], sub[4096];
    size_t i;

    lca_val_map_set_int(m, "position", pos);
    lca_val_map_set_int(m, "time", at);
    if (write_json(dir, "state.json", m, err) != LCA_OK || write_roots(dir, r->st, err) != LCA_OK ||
        write_issuers_index(dir, r->st, err) != LCA_OK ||
        write_recs(dir, r->st, 1, at, err) != LCA_OK ||
        write_recs(dir, r->st, 0, at, err) != LCA_OK) {
        return LCA_FAIL;
    }
    for (i = 0; i < lca_state_issuer_count(r->st); i++) {
        if (write_issuer(dir, r->st, lca_state_issuer_at(r->st, i), err) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    for (i = 0; i < r->n_crls; i++) {
        if (r->crls[i].shard >= 0) { /* crls/<issuer>/ for shard files */
            snprintf(sub, sizeof(sub), "%s/crls/%.*s", dir,
                     (int)(strchr(r->crls[i].path, '/') - r->crls[i].path), r->crls[i].path);
            if (mkdir(sub, 0755) != 0 && errno != EEXIST) {
                return lca_err_set(err, LCA_ERR_BAD_INPUT, "write",
                                   "replay: cannot create %s: %s", sub, strerror(errno));
            }
        }
        snprintf(name, sizeof(name), "crls/%s", r->crls[i].path);
        if (write_file(dir, name, r->crls[i].der, r->crls[i].len, err) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    return LCA_OK;
}

static int replay_target(struct lca_pgstore *store, int64_t to_pos, int64_t to_time, int64_t *pos,
                         struct lca_err *err)
{
    uint8_t h[HLEN];
    int64_t head = 0;

    if (lca_pgstore_head(store, &head, h, err) != LCA_OK ||
        (to_pos == 0 && position_at(store, to_time, &to_pos, err) != LCA_OK)) {
        return LCA_FAIL;
    }
    if (to_pos <= 0 || to_pos > head) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_target",
                           "replay: no such point in the log (head is %lld)", (long long)head);
    }
    *pos = to_pos;
    return LCA_OK;
}

int lca_audit_replay(struct lca_pgstore *store, int64_t to_pos, int64_t to_time, const char *dir,
                     int64_t *position_out, struct lca_err *err)
{
    struct replayer r;
    int64_t pos = 0, at;
    size_t i;
    int rc = LCA_FAIL;

    memset(&r, 0, sizeof(r));
    if ((r.st = lca_state_new()) == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "replay: out of memory");
    }
    if (replay_target(store, to_pos, to_time, &pos, err) != LCA_OK ||
        read_range(store, 0, pos, replay_one, &r, err) != LCA_OK) {
        goto out;
    }
    if (lca_state_position(r.st) != pos) {
        lca_err_set(err, LCA_ERR_FATAL, "bad_log", "replay: the log stops at %lld before %lld "
                    "(run ledgerca audit verify)", (long long)lca_state_position(r.st),
                    (long long)pos);
        goto out;
    }
    at = to_pos != 0 ? r.last_time_us / 1000000 : to_time;
    if (make_dirs(dir, err) != LCA_OK || write_all(dir, &r, pos, at, err) != LCA_OK) {
        goto out;
    }
    if (position_out != NULL) {
        *position_out = pos;
    }
    rc = LCA_OK;
out:
    for (i = 0; i < r.n_crls; i++) {
        free(r.crls[i].der);
    }
    free(r.crls);
    lca_state_free(r.st);
    return rc;
}
