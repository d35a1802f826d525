/* projector — the read models maintained from the event log (projector.h). */
#include "projector.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "certview.h"
#include "crl.h"
#include "event.h"
#include "fsutil.h"
#include "issuerview.h"
#include "json.h"
#include "log.h"
#include "pgstore.h"
#include "roots.h"
#include "state.h"

struct crlfile {
    char issuer_id[LCA_ID_LEN + 1];
    char path[128]; /* under --crl-dir: lca_crl_path (engine/crl.h) */
    uint8_t *der;
    size_t len;
};

/* rm_crls.scope: the path under the issuer ("", "delta", "k", "k.delta"; sql/009). */
static void crl_scope(int shard, int64_t delta_base, char out[24])
{
    if (shard < 0) {
        snprintf(out, 24, "%s", delta_base >= 0 ? "delta" : "");
    } else {
        snprintf(out, 24, "%d%s", shard, delta_base >= 0 ? ".delta" : "");
    }
}

struct projector {
    const struct lca_projector_opts *o;
    struct lca_pgstore *store;
    PGconn *conn;            /* borrowed from the store for the current batch */
    struct lca_state *st;    /* the log folded up to `cursor` (or further inside a batch) */
    int64_t cursor;          /* rm_position.position as committed */
    int64_t ca_position;     /* last event that affected roots/issuers */
    int ca_dirty;            /* the batch must rewrite rm_roots and rm_issuers */
    struct crlfile *crls;    /* CRLs changed by the batch, written after the commit */
    size_t n_crls, cap_crls;
};

/* ---- SQL helpers ---- */

/* Runs a statement with text parameters except those flagged binary (lens used for those). */
static int exec(struct projector *p, const char *what, const char *sql, int n,
                const char *const *vals, const int *lens, const int *fmts, struct lca_err *err)
{
    PGresult *res = PQexecParams(p->conn, sql, n, NULL, vals, lens, fmts, 0);
    ExecStatusType s = PQresultStatus(res);
    int rc = LCA_OK;

    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        rc = lca_pgstore_pg_err(p->conn, res, what, err);
    }
    PQclear(res);
    return rc;
}

/* Simple query protocol: sql may hold several statements. */
static int exec0(struct projector *p, const char *what, const char *sql, struct lca_err *err)
{
    PGresult *res = PQexec(p->conn, sql);
    int rc = LCA_OK;

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = lca_pgstore_pg_err(p->conn, res, what, err);
    }
    PQclear(res);
    return rc;
}

static void i64(char buf[24], int64_t v)
{
    snprintf(buf, 24, "%" PRId64, v);
}

/* ---- row writers ---- */

static int put_cert(struct projector *p, const struct lca_certview_change *c,
                    struct lca_err *err)
{
    char na[24], pos[24];
    const char *v[8] = {c->cert.serial, c->cert.issuer_id, c->cert.cluster, c->cert.kind,
                        c->cert.common_name, na, (const char *)c->cert.der, pos};
    int lens[8] = {0, 0, 0, 0, 0, 0, (int)c->cert.der_len, 0};
    int fmts[8] = {0, 0, 0, 0, 0, 0, 1, 0};

    i64(na, c->cert.not_after);
    i64(pos, c->position);
    return exec(p, "rm_certs insert",
                "INSERT INTO rm_certs (serial, issuer_id, cluster, kind, common_name, not_after, "
                "certificate, position) VALUES ($1, $2, $3, $4, $5, to_timestamp($6::float8), "
                "$7::bytea, $8::bigint)",
                8, v, lens, fmts, err);
}

static int put_revocation(struct projector *p, const struct lca_certview_change *c,
                          struct lca_err *err)
{
    char at[24];
    const char *v[3] = {c->rev.serial, at, c->rev.reason};

    i64(at, c->rev.revoked_at);
    return exec(p, "rm_certs revoke",
                "UPDATE rm_certs SET revoked_at = to_timestamp($2::float8), reason = $3 "
                "WHERE serial = $1",
                3, v, NULL, NULL, err);
}

static int put_tidy(struct projector *p, const struct lca_certview_change *c,
                    struct lca_err *err)
{
    char serial[LCA_CERTVIEW_SERIAL_LEN];
    const char *v[1] = {serial};
    size_t i;

    for (i = 0; i < lca_val_len(c->tidied); i++) {
        if (lca_certview_serial_norm(lca_val_str(lca_val_arr_at(c->tidied, i)), serial) !=
            LCA_OK) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_event", "Tidied: bad serial");
        }
        if (exec(p, "rm_certs tidy", "DELETE FROM rm_certs WHERE serial = $1", 1, v, NULL, NULL,
                 err) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    return LCA_OK;
}

static int remember_crl(struct projector *p, const struct lca_certview_change *c,
                        struct lca_err *err);

static int put_crl(struct projector *p, const struct lca_certview_change *c, struct lca_err *err)
{
    char num[24], tu[24], nu[24], pos[24], scope[24], shard[24], db[24];
    const char *v[9] = {c->crl.issuer_id, num, (const char *)c->crl.der, tu, nu, pos,
                        scope, shard, db};
    int lens[9] = {0, 0, (int)c->crl.der_len, 0, 0, 0, 0, 0, 0};
    int fmts[9] = {0, 0, 1, 0, 0, 0, 0, 0, 0};

    i64(num, c->crl.crl_number);
    i64(tu, c->crl.this_update);
    i64(nu, c->crl.next_update);
    i64(pos, c->position);
    i64(shard, c->crl.shard);
    i64(db, c->crl.delta_base);
    crl_scope(c->crl.shard, c->crl.delta_base, scope);
    if (exec(p, "rm_crls upsert",
             "INSERT INTO rm_crls (issuer_id, crl_number, der, this_update, next_update, position, "
             "scope, shard, delta_base) "
             "VALUES ($1, $2::bigint, $3::bytea, to_timestamp($4::float8), "
             "to_timestamp($5::float8), $6::bigint, $7, $8::int, $9::bigint) "
             "ON CONFLICT (issuer_id, scope) DO UPDATE SET "
             "crl_number = EXCLUDED.crl_number, der = EXCLUDED.der, this_update = "
             "EXCLUDED.this_update, next_update = EXCLUDED.next_update, position = "
             "EXCLUDED.position, shard = EXCLUDED.shard, delta_base = EXCLUDED.delta_base",
             9, v, lens, fmts, err) != LCA_OK) {
        return LCA_FAIL;
    }
    return remember_crl(p, c, err);
}

static int put_change(struct projector *p, const struct lca_certview_change *c,
                      struct lca_err *err)
{
    switch (c->kind) {
    case LCA_CERTVIEW_ISSUED:
        return put_cert(p, c, err);
    case LCA_CERTVIEW_REVOKED:
        return put_revocation(p, c, err);
    case LCA_CERTVIEW_TIDIED:
        return put_tidy(p, c, err);
    case LCA_CERTVIEW_CRL:
        return put_crl(p, c, err);
    default:
        return LCA_OK;
    }
}

static int put_roots(struct projector *p, struct lca_err *err)
{
    struct lca_val *doc = NULL;
    char *json = NULL, pos[24];
    size_t len = 0;
    const char *v[2];
    int rc;

    if (lca_roots_build(p->st, &doc, err) != LCA_OK ||
        lca_json_encode(doc, &json, &len, err) != LCA_OK) {
        lca_val_free(doc);
        return LCA_FAIL;
    }
    i64(pos, p->ca_position);
    v[0] = json;
    v[1] = pos;
    rc = exec(p, "rm_roots upsert",
              "INSERT INTO rm_roots (id, doc, position) VALUES (1, $1::json, $2::bigint) "
              "ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc, position = EXCLUDED.position",
              2, v, NULL, NULL, err);
    free(json);
    lca_val_free(doc);
    return rc;
}

static int put_issuer(struct projector *p, const struct lca_issuer *iss, struct lca_err *err)
{
    struct lca_val *doc = NULL;
    char *json = NULL, *chain = NULL, pos[24];
    size_t len = 0;
    const char *v[6];
    int rc = LCA_FAIL;

    if (lca_issuerview_build(p->st, iss, &doc, err) != LCA_OK ||
        lca_json_encode(doc, &json, &len, err) != LCA_OK ||
        lca_issuerview_chain_pem(p->st, iss, &chain, err) != LCA_OK) {
        goto out;
    }
    i64(pos, iss->modify_index);
    v[0] = iss->id;
    v[1] = iss->name;
    v[2] = json;
    v[3] = iss->pem;
    v[4] = chain;
    v[5] = pos;
    rc = exec(p, "rm_issuers upsert",
              "INSERT INTO rm_issuers (issuer_id, issuer_name, doc, pem, chain_pem, position) "
              "VALUES ($1, $2, $3::json, $4, $5, $6::bigint) ON CONFLICT (issuer_id) DO UPDATE "
              "SET issuer_name = EXCLUDED.issuer_name, doc = EXCLUDED.doc, pem = EXCLUDED.pem, "
              "chain_pem = EXCLUDED.chain_pem, position = EXCLUDED.position",
              6, v, NULL, NULL, err);
out:
    free(chain);
    free(json);
    lca_val_free(doc);
    return rc;
}

static int put_ca_views(struct projector *p, struct lca_err *err)
{
    size_t i;

    if (put_roots(p, err) != LCA_OK) {
        return LCA_FAIL;
    }
    for (i = 0; i < lca_state_issuer_count(p->st); i++) {
        if (put_issuer(p, lca_state_issuer_at(p->st, i), err) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    return LCA_OK;
}

/* ---- CRL files ---- */

static void crls_clear(struct projector *p)
{
    size_t i;

    for (i = 0; i < p->n_crls; i++) {
        free(p->crls[i].der);
    }
    p->n_crls = 0;
}

static int remember_crl(struct projector *p, const struct lca_certview_change *c,
                        struct lca_err *err)
{
    struct crlfile *f = NULL;
    uint8_t *der;
    size_t i;
    char path[128];

    if (p->o->crl_dir == NULL) {
        return LCA_OK;
    }
    if (lca_crl_path(c->crl.issuer_id, c->crl.shard, c->crl.delta_base >= 0, path,
                     sizeof(path)) != LCA_OK) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_issuer_id",
                           "projector: issuer id unfit for a file name");
    }
    for (i = 0; i < p->n_crls && f == NULL; i++) {
        f = strcmp(p->crls[i].path, path) == 0 ? &p->crls[i] : NULL;
    }
    if (f == NULL && p->n_crls == p->cap_crls) {
        size_t cap = p->cap_crls == 0 ? 8 : p->cap_crls * 2;
        struct crlfile *n = realloc(p->crls, cap * sizeof(*n));
        if (n == NULL) {
            return lca_err_set(err, LCA_ERR_FATAL, "no_memory", "projector: out of memory");
        }
        p->crls = n;
        p->cap_crls = cap;
    }
    if ((der = malloc(c->crl.der_len)) == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "no_memory", "projector: out of memory");
    }
    if (f == NULL) {
        f = &p->crls[p->n_crls++];
        snprintf(f->issuer_id, sizeof(f->issuer_id), "%s", c->crl.issuer_id);
        snprintf(f->path, sizeof(f->path), "%s", path);
    } else {
        free(f->der);
    }
    memcpy(der, c->crl.der, c->crl.der_len);
    f->der = der;
    f->len = c->crl.der_len;
    return LCA_OK;
}

/* Writes path atomically: temporary file in the same directory, fsync, rename. */
/* Writes <dir>/<rel> (rel from lca_crl_path, ending ".crl") and its PEM beside it (".pem"). */
static int write_crl_file(const char *dir, const char *issuer_id, const char *rel,
                          const uint8_t *der, size_t len, struct lca_err *err)
{
    char path[4096], *pem = NULL;
    size_t pem_len = 0, n;
    int rc;

    if (issuer_id[0] == '\0' || strspn(issuer_id, "0123456789abcdef-") != strlen(issuer_id)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_issuer_id",
                           "projector: issuer id unfit for a file name");
    }
    if (strchr(rel, '/') != NULL) { /* a shard: <dir>/<issuer_id>/ */
        snprintf(path, sizeof(path), "%s/%s", dir, issuer_id);
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            return lca_err_set(err, LCA_ERR_RETRIABLE, "crl_file", "mkdir %s: %s", path,
                               strerror(errno));
        }
    }
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    if (lca_fsutil_write_atomic(path, der, len, LCA_ERR_RETRIABLE, "crl_file", err) != LCA_OK ||
        lca_crl_der_to_pem(der, len, &pem, &pem_len, err) != LCA_OK) {
        return LCA_FAIL;
    }
    n = strlen(path);
    memcpy(path + n - 4, ".pem", 4);
    rc = lca_fsutil_write_atomic(path, pem, pem_len, LCA_ERR_RETRIABLE, "crl_file", err);
    free(pem);
    return rc;
}

static int flush_crl_files(struct projector *p, struct lca_err *err)
{
    size_t i;

    for (i = 0; i < p->n_crls; i++) {
        if (write_crl_file(p->o->crl_dir, p->crls[i].issuer_id, p->crls[i].path, p->crls[i].der,
                           p->crls[i].len, err) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    crls_clear(p);
    return LCA_OK;
}

/* A big-endian int8 of a binary-format result. */
static int64_t be64(const char *p)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++) {
        v = v << 8 | (uint8_t)p[i];
    }
    return (int64_t)v;
}

/* Rewrites every CRL file from rm_crls (repairs a crash between commit and file write). */
static int sync_crl_files(struct projector *p, struct lca_err *err)
{
    PGresult *res;
    int r, rc = LCA_OK;

    if (p->o->crl_dir == NULL) {
        return LCA_OK;
    }
    if ((p->conn = lca_pgstore_conn(p->store, err)) == NULL) {
        return LCA_FAIL;
    }
    res = PQexecParams(p->conn,
                       "SELECT issuer_id, der, shard::int8, delta_base FROM rm_crls "
                       "ORDER BY issuer_id, scope",
                       0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = lca_pgstore_pg_err(p->conn, res, "rm_crls read", err);
    }
    for (r = 0; rc == LCA_OK && r < PQntuples(res); r++) {
        char id[LCA_ID_LEN + 1], rel[128];
        int n = PQgetlength(res, r, 0);
        snprintf(id, sizeof(id), "%.*s", n, PQgetvalue(res, r, 0));
        if (lca_crl_path(id, (int)be64(PQgetvalue(res, r, 2)), be64(PQgetvalue(res, r, 3)) >= 0,
                         rel, sizeof(rel)) != LCA_OK) {
            rc = lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_issuer_id",
                             "projector: issuer id unfit for a file name");
            break;
        }
        rc = write_crl_file(p->o->crl_dir, id, rel, (const uint8_t *)PQgetvalue(res, r, 1),
                            (size_t)PQgetlength(res, r, 1), err);
    }
    PQclear(res);
    return rc;
}

/* ---- folding ---- */

static int fold(struct projector *p, const struct lca_pgevent *pe, struct lca_event **out,
                struct lca_err *err)
{
    struct lca_event *ev = NULL;

    if (lca_event_decode(pe->payload, pe->payload_len, &ev, err) != LCA_OK ||
        lca_state_evolve(p->st, pe->position, ev, err) != LCA_OK) {
        lca_event_free(ev);
        if (err->cls != LCA_ERR_FATAL) {
            err->cls = LCA_ERR_BAD_INPUT; /* the log holds something we cannot fold */
        }
        return LCA_FAIL;
    }
    if (lca_roots_affected(ev)) {
        p->ca_position = pe->position;
        p->ca_dirty = 1;
    }
    *out = ev;
    return LCA_OK;
}

static int replay_one(void *ctx, const struct lca_pgevent *pe, struct lca_err *err)
{
    struct lca_event *ev = NULL;

    if (fold(ctx, pe, &ev, err) != LCA_OK) {
        return LCA_FAIL;
    }
    lca_event_free(ev);
    return LCA_OK;
}

static int apply_one(void *ctx, const struct lca_pgevent *pe, struct lca_err *err)
{
    struct projector *p = ctx;
    struct lca_event *ev = NULL;
    struct lca_certview_change c;
    int rc;

    if (fold(p, pe, &ev, err) != LCA_OK) {
        return LCA_FAIL;
    }
    rc = lca_certview_change(ev, pe->position, pe->cluster, &c, err);
    if (rc == LCA_OK) {
        rc = put_change(p, &c, err);
    }
    lca_event_free(ev);
    if (rc == LCA_OK && p->o->hook != NULL) {
        rc = p->o->hook(p->o->hook_ctx, pe->position, err);
    }
    return rc;
}

/* Rebuilds the in-memory state from events 1..cursor. */
static int reload(struct projector *p, struct lca_err *err)
{
    size_t n = 0;

    lca_state_free(p->st);
    p->ca_position = 0;
    p->ca_dirty = 0;
    crls_clear(p);
    if ((p->st = lca_state_new()) == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "no_memory", "projector: out of memory");
    }
    if (p->cursor > 0 && lca_pgstore_read(p->store, 0, (size_t)p->cursor, replay_one, p, &n,
                                          err) != LCA_OK) {
        return LCA_FAIL;
    }
    if ((int64_t)n != p->cursor) {
        return lca_err_set(err, LCA_ERR_FATAL, "cursor_ahead",
                           "projector: rm_position is %lld but the log has %zu events",
                           (long long)p->cursor, n);
    }
    p->ca_dirty = 0;
    return LCA_OK;
}

/* ---- batches ---- */

static int read_cursor(struct projector *p, struct lca_err *err)
{
    PGresult *res;
    int rc = LCA_OK;

    if ((p->conn = lca_pgstore_conn(p->store, err)) == NULL) {
        return LCA_FAIL;
    }
    res = PQexec(p->conn, "SELECT position FROM rm_position WHERE id = 1");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = lca_pgstore_pg_err(p->conn, res, "rm_position read", err);
    } else if (PQntuples(res) != 1) {
        rc = lca_err_set(err, LCA_ERR_FATAL, "schema_missing",
                         "projector: no rm_position row (run ledgerca migrate)");
    } else {
        p->cursor = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    }
    PQclear(res);
    return rc;
}

static int truncate_models(struct projector *p, struct lca_err *err)
{
    if ((p->conn = lca_pgstore_conn(p->store, err)) == NULL) {
        return LCA_FAIL;
    }
    return exec0(p, "rebuild",
                 "BEGIN; TRUNCATE rm_roots, rm_issuers, rm_certs, rm_crls; "
                 "UPDATE rm_position SET position = 0 WHERE id = 1; COMMIT",
                 err);
}

static int set_cursor(struct projector *p, int64_t position, struct lca_err *err)
{
    char pos[24];
    const char *v[1] = {pos};

    i64(pos, position);
    return exec(p, "rm_position update", "UPDATE rm_position SET position = $1::bigint WHERE id = 1",
                1, v, NULL, NULL, err);
}

/* One transaction: events after the cursor, their rows, the CA views, the cursor. */
static int batch(struct projector *p, size_t *applied, struct lca_err *err)
{
    size_t n = 0, max = p->o->max_batch != 0 ? p->o->max_batch : 1000;
    struct lca_err ignored;

    p->ca_dirty = 0;
    if ((p->conn = lca_pgstore_conn(p->store, err)) == NULL ||
        exec0(p, "begin", "BEGIN", err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (lca_pgstore_read(p->store, p->cursor, max, apply_one, p, &n, err) != LCA_OK ||
        (n > 0 && p->ca_dirty && put_ca_views(p, err) != LCA_OK) ||
        (n > 0 && set_cursor(p, lca_state_position(p->st), err) != LCA_OK) ||
        exec0(p, "commit", "COMMIT", err) != LCA_OK) {
        lca_err_clear(&ignored);
        if (PQstatus(p->conn) == CONNECTION_OK) {
            (void)exec0(p, "rollback", "ROLLBACK", &ignored);
        }
        return LCA_FAIL;
    }
    if (n > 0) {
        lca_log(LCA_LOG_DEBUG, "batch applied", "from=%lld to=%lld events=%zu",
                (long long)p->cursor + 1, (long long)lca_state_position(p->st), n);
        p->cursor = lca_state_position(p->st);
    }
    *applied = n;
    return LCA_OK;
}

/* ---- the loop ---- */

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static int stopped(const struct projector *p)
{
    return p->o->stop != NULL && *p->o->stop;
}

/* One step: a batch, its CRL files; on failure the state is rebuilt to the cursor. */
static int step(struct projector *p, size_t *n, struct lca_err *err)
{
    struct lca_err again;

    if (batch(p, n, err) == LCA_OK) {
        return p->o->crl_dir != NULL ? flush_crl_files(p, err) : LCA_OK;
    }
    lca_err_clear(&again);
    if (reload(p, &again) != LCA_OK) {
        lca_log_err("projector: state reload failed", &again);
        if (again.cls == LCA_ERR_FATAL) {
            *err = again;
        }
    }
    return LCA_FAIL;
}

static int loop(struct projector *p, struct lca_err *err)
{
    int backoff = 100;
    size_t n;

    while (!stopped(p)) {
        n = 0;
        if (step(p, &n, err) != LCA_OK) {
            if (p->o->once || err->cls != LCA_ERR_RETRIABLE) {
                return LCA_FAIL;
            }
            lca_log_err("projector: batch failed, retrying", err);
            pause_ms(backoff);
            backoff = backoff < 5000 ? backoff * 2 : 5000;
            lca_err_clear(err);
            continue;
        }
        backoff = 100;
        if (n == 0) {
            if (p->o->once) {
                break;
            }
            pause_ms(p->o->poll_ms > 0 ? p->o->poll_ms : 100);
        }
    }
    return LCA_OK;
}

static int start(struct projector *p, struct lca_err *err)
{
    if (lca_pgstore_open(p->o->pg_uri, p->o->cluster != NULL ? p->o->cluster : "dc1", &p->store,
                         err) != LCA_OK ||
        (p->o->rebuild && truncate_models(p, err) != LCA_OK) || read_cursor(p, err) != LCA_OK ||
        reload(p, err) != LCA_OK || sync_crl_files(p, err) != LCA_OK) {
        return LCA_FAIL;
    }
    lca_log(LCA_LOG_INFO, "projector started", "cursor=%lld rebuild=%d crl_dir=%s",
            (long long)p->cursor, p->o->rebuild, p->o->crl_dir != NULL ? p->o->crl_dir : "-");
    return LCA_OK;
}

int lca_projector_run(const struct lca_projector_opts *o, struct lca_err *err)
{
    struct projector p;
    int rc;

    if (o == NULL || o->pg_uri == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_options", "projector: pg_uri required");
    }
    memset(&p, 0, sizeof(p));
    p.o = o;
    rc = start(&p, err);
    if (rc == LCA_OK) {
        rc = loop(&p, err);
    }
    if (rc == LCA_OK) {
        lca_log(LCA_LOG_INFO, "projector stopped", "cursor=%lld", (long long)p.cursor);
    }
    crls_clear(&p);
    free(p.crls);
    lca_state_free(p.st);
    lca_pgstore_free(p.store);
    return rc;
}
