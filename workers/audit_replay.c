/*
 * audit_replay — `ledgerca replay` (audit.h, part 3): the CA's state as of a position or time,
 * written byte-identically on every run.
 */
#include "audit_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libpq-fe.h>

#include "cert.h"
#include "crl.h"
#include "event.h"
#include "fsutil.h"
#include "json.h"
#include "roots.h"
#include "state.h"

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
    lca_audit_log_put_be64(b, (uint64_t)(t * 1000000 + 999999 - LCA_AUDIT_PG_EPOCH_US));
    res = PQexecParams(conn, "SELECT coalesce(max(position), 0) FROM events "
                             "WHERE recorded_at <= $1",
                       1, types, vals, lens, fmts, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
        PQgetlength(res, 0, 0) != 8) {
        lca_pgstore_pg_err(conn, res, "replay: position at time", err);
        PQclear(res);
        return LCA_FAIL;
    }
    *pos = (int64_t)lca_audit_log_be64((const uint8_t *)PQgetvalue(res, 0, 0));
    PQclear(res);
    return LCA_OK;
}

/* -- files -- */

/* dir/name, written atomically (workers/fsutil.h): a crash leaves no half-written file. */
static int write_file(const char *dir, const char *name, const void *data, size_t len,
                      struct lca_err *err)
{
    char path[4096];

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "write", "replay: path too long");
    }
    return lca_fsutil_write_atomic(path, data, len, LCA_ERR_BAD_INPUT, "write", err);
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
    const uint8_t *xp = lca_audit_log_strip0(x->serial, &xl), *yp = lca_audit_log_strip0(y->serial, &yl);

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
    uint8_t h[LCA_AUDIT_HLEN];
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
        lca_audit_log_read(store, 0, pos, replay_one, &r, err) != LCA_OK) {
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

