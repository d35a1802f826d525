/*
 * audit_replay — `ledgerca replay` (audit.h, part 3): the CA's state as of a position or time,
 * written byte-identically on every run.
 */
#include "audit_int.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
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
    int64_t last_time_us; /* recorded_at of the last event folded */
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

/* Folds one decoded event into the replayer. Fold thread. */
static int fold_one(struct replayer *r, int64_t pos, int64_t time_us, const struct lca_event *ev,
                    struct lca_err *err)
{
    int rc = lca_state_evolve(r->st, pos, ev, err);

    if (rc == LCA_OK && ev->type == LCA_EVT_CRL_PUBLISHED) {
        rc = keep_crl(r, ev->payload, err);
    }
    if (rc != LCA_OK) {
        err->cls = LCA_ERR_FATAL;
        return LCA_FAIL;
    }
    r->last_time_us = time_us;
    return LCA_OK;
}

/* Folds one stored payload: certificates and revocations (all but a handful of the events)
 * read flat, without a value tree (lca_event_decode_flat, lca_state_evolve_flat: a tree per
 * event was half the replay, most of it malloc and free); anything else, or anything the
 * flat path does not take, decoded and folded as a tree, which also gives the verdict on a
 * malformed one. Fold thread. */
static int fold_payload(struct replayer *r, int64_t pos, int64_t time_us, const uint8_t *p,
                        size_t n, struct lca_err *err)
{
    struct lca_event_flat flat;
    struct lca_event *ev = NULL;
    int applied = 0, rc;

    if (lca_event_decode_flat(p, n, &flat)) {
        if (lca_state_evolve_flat(r->st, pos, &flat, &applied, err) != LCA_OK) {
            err->cls = LCA_ERR_FATAL;
            return LCA_FAIL;
        }
        if (applied) {
            r->last_time_us = time_us;
            return LCA_OK;
        }
    }
    if (lca_event_decode(p, n, &ev, err) != LCA_OK) {
        err->cls = LCA_ERR_FATAL;
        return LCA_FAIL;
    }
    rc = fold_one(r, pos, time_us, ev, err);
    lca_event_free(ev);
    return rc;
}

/*
 * The replay runs as two stages on two threads: the reader (the COPY callback), which copies
 * each row's payload into a batch, and the fold thread, which decodes and applies the events
 * in order. Batches are recycled (the fold thread hands a folded batch back, the reader fills
 * it again), so the pipeline allocates nothing per event. Only the fold thread touches the
 * state until it is joined.
 */
#define BATCH 512
#define BATCHES 8 /* batches in flight */

struct batch {
    int64_t pos[BATCH], time_us[BATCH];
    size_t off[BATCH], len[BATCH];
    size_t n;
    uint8_t *buf; /* the payloads */
    size_t buf_len, buf_cap;
    struct batch *spent_next;
};

struct pipe {
    struct replayer *r;
    pthread_mutex_t mu;
    pthread_cond_t has_batch, has_room;
    struct batch *q[BATCHES];
    size_t head, n;
    struct batch *spent; /* folded batches (linked by spent_next), for the reader to refill */
    int done;            /* the reader has no more batches */
    _Atomic int failed;  /* the fold failed: err holds why */
    struct lca_err err;
    struct batch *cur; /* the reader's batch being filled */
};

/* Copies a payload into batch b. */
static int batch_add(struct batch *b, const uint8_t *p, size_t n)
{
    if (b->buf_len + n > b->buf_cap) {
        size_t cap = (b->buf_len + n) * 2 + 4096;
        uint8_t *nb = realloc(b->buf, cap);
        if (nb == NULL) {
            return LCA_FAIL;
        }
        b->buf = nb;
        b->buf_cap = cap;
    }
    memcpy(b->buf + b->buf_len, p, n);
    b->off[b->n] = b->buf_len;
    b->len[b->n] = n;
    b->buf_len += n;
    return LCA_OK;
}

static void batch_free(struct batch *b)
{
    if (b != NULL) {
        free(b->buf);
        free(b);
    }
}

static void *fold_thread(void *arg)
{
    struct pipe *p = arg;
    struct batch *b;
    size_t i;

    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->n == 0 && !p->done) {
            pthread_cond_wait(&p->has_batch, &p->mu);
        }
        if (p->n == 0) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        b = p->q[p->head];
        p->head = (p->head + 1) % BATCHES;
        p->n--;
        pthread_mutex_unlock(&p->mu);
        for (i = 0; i < b->n && !atomic_load(&p->failed); i++) {
            if (fold_payload(p->r, b->pos[i], b->time_us[i], b->buf + b->off[i], b->len[i],
                             &p->err) != LCA_OK) {
                atomic_store(&p->failed, 1);
            }
        }
        b->n = 0;
        b->buf_len = 0;
        pthread_mutex_lock(&p->mu);
        b->spent_next = p->spent;
        p->spent = b;
        pthread_cond_signal(&p->has_room);
        pthread_mutex_unlock(&p->mu);
    }
}

static void spent_free(struct batch *b)
{
    while (b != NULL) {
        struct batch *next = b->spent_next;
        batch_free(b);
        b = next;
    }
}

/* Hands the reader's batch to the fold thread (waits while BATCHES are in flight). */
static void pipe_push(struct pipe *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->n == BATCHES) {
        pthread_cond_wait(&p->has_room, &p->mu);
    }
    p->q[(p->head + p->n) % BATCHES] = p->cur;
    p->n++;
    p->cur = NULL;
    pthread_cond_signal(&p->has_batch);
    pthread_mutex_unlock(&p->mu);
}

/* The reader's next batch: a folded one again, or a new one. */
static struct batch *pipe_take(struct pipe *p)
{
    struct batch *b;

    pthread_mutex_lock(&p->mu);
    b = p->spent;
    if (b != NULL) {
        p->spent = b->spent_next;
    }
    pthread_mutex_unlock(&p->mu);
    return b != NULL ? b : calloc(1, sizeof(*b));
}

static int replay_one(void *ctx, const struct lca_pgevent *pe, struct lca_err *err)
{
    struct pipe *p = ctx;
    struct batch *b;

    if (atomic_load(&p->failed)) {
        return lca_err_set(err, LCA_ERR_FATAL, "bad_log", "replay: the fold stopped");
    }
    if (p->cur == NULL && (p->cur = pipe_take(p)) == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "replay: out of memory");
    }
    b = p->cur;
    if (batch_add(b, pe->payload, pe->payload_len) != LCA_OK) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "replay: out of memory");
    }
    b->pos[b->n] = pe->position;
    b->time_us[b->n++] = pe->recorded_at_us;
    if (b->n == BATCH) {
        pipe_push(p);
    }
    return LCA_OK;
}

/* Reads and folds (0, pos] into r on the two stages. */
static int read_fold(struct lca_pgstore *store, int64_t pos, struct replayer *r,
                     struct lca_err *err)
{
    struct pipe p;
    pthread_t t;
    size_t i;
    int rc;

    memset(&p, 0, sizeof(p));
    p.r = r;
    atomic_init(&p.failed, 0);
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.has_batch, NULL);
    pthread_cond_init(&p.has_room, NULL);
    lca_state_reserve(r->st, (size_t)pos); /* at most one certificate per event */
    if (pthread_create(&t, NULL, fold_thread, &p) != 0) {
        rc = lca_err_set(err, LCA_ERR_FATAL, "thread", "replay: cannot start the fold");
        goto out;
    }
    rc = lca_audit_log_read(store, 0, pos, replay_one, &p, err);
    if (rc == LCA_OK && p.cur != NULL) {
        pipe_push(&p);
    }
    pthread_mutex_lock(&p.mu);
    p.done = 1;
    pthread_cond_signal(&p.has_batch);
    pthread_mutex_unlock(&p.mu);
    pthread_join(t, NULL);
    if (atomic_load(&p.failed)) { /* the fold's own error is the one that matters */
        *err = p.err;
        rc = LCA_FAIL;
    }
out:
    batch_free(p.cur);
    spent_free(p.spent);
    for (i = 0; i < p.n; i++) {
        batch_free(p.q[(p.head + i) % BATCHES]);
    }
    pthread_cond_destroy(&p.has_room);
    pthread_cond_destroy(&p.has_batch);
    pthread_mutex_destroy(&p.mu);
    return rc;
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
    res = PQexecParams(conn,
                       "SELECT coalesce(max(position), 0) FROM events "
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

/* A record and its sort key: the serial's length without leading zero octets, then the
 * serial, zero-padded (21 bytes), held big-endian in three integers (a: bytes 0-7, b: 8-15,
 * c: 16-20 in its top 40 bits), so comparing (a, b, c) orders by (length, bytes) as numbers;
 * ties (one serial under two issuers) keep the state's order, which is the order of the
 * records in the state's one array (lca_state_cert_foreach), so their addresses break them.
 * Integers instead of a 21-byte memcmp, and 32 bytes an element (glibc's qsort sorts larger
 * ones through pointers): the sort was a quarter of the replay. */
struct rec_key {
    uint64_t a, b, c;
    const struct lca_certrec *rec;
};

struct rec_list {
    struct rec_key *v;
    size_t n, cap;
    int64_t at;  /* replay time */
    int revoked; /* 1: revoked ones; 0: valid ones */
    int oom;
};

static int rec_pick(const struct lca_certrec *rec, void *ctx)
{
    struct rec_list *l = ctx;
    int take = l->revoked ? rec->revoked_at != 0 : rec->revoked_at == 0 && rec->not_after > l->at;
    struct rec_key *e;
    size_t n = rec->serial_len, i;
    const uint8_t *p = lca_audit_log_strip0(rec->serial, &n);
    uint8_t k[24];

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
    e = &l->v[l->n++];
    memset(k, 0, sizeof(k));
    n = n > 20 ? 20 : n;
    k[0] = (uint8_t)n;
    memcpy(k + 1, p, n);
    e->a = e->b = e->c = 0;
    for (i = 0; i < 8; i++) {
        e->a = e->a << 8 | k[i];
        e->b = e->b << 8 | k[8 + i];
        e->c = e->c << 8 | k[16 + i];
    }
    e->rec = rec;
    return 0;
}

static int rec_cmp(const void *x, const void *y)
{
    const struct rec_key *p = x, *q = y;

    if (p->a != q->a) {
        return p->a < q->a ? -1 : 1;
    }
    if (p->b != q->b) {
        return p->b < q->b ? -1 : 1;
    }
    if (p->c != q->c) {
        return p->c < q->c ? -1 : 1;
    }
    return p->rec < q->rec ? -1 : p->rec > q->rec;
}

/* 1 when key x sorts before key y. */
static int rec_before(const struct rec_key *x, const struct rec_key *y)
{
    return rec_cmp(x, y) < 0;
}

struct sort_half {
    struct rec_key *v;
    size_t n;
};

static void *sort_thread(void *arg)
{
    struct sort_half *h = arg;

    qsort(h->v, h->n, sizeof(*h->v), rec_cmp);
    return NULL;
}

/* Sorts the two halves of l->v, the second on another thread when the list is long (the fold
 * thread is done by now; two cores sort twice as fast); *mid is where the second begins. The
 * writer merges them. */
static void rec_sort(struct rec_list *l, size_t *mid)
{
    struct sort_half h;
    pthread_t t;

    *mid = l->n;
    if (l->n < 65536) {
        if (l->n > 0) { /* l->v is NULL for an empty list */
            qsort(l->v, l->n, sizeof(*l->v), rec_cmp);
        }
        return;
    }
    *mid = l->n / 2;
    h.v = l->v + *mid;
    h.n = l->n - *mid;
    if (pthread_create(&t, NULL, sort_thread, &h) != 0) {
        qsort(l->v, l->n, sizeof(*l->v), rec_cmp);
        *mid = l->n;
        return;
    }
    qsort(l->v, *mid, sizeof(*l->v), rec_cmp);
    pthread_join(t, NULL);
}

/* Appends the decimal of v (as %lld) at p; returns its length. */
static size_t put_i64(char *p, int64_t v)
{
    char tmp[24];
    size_t n = 0, i;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    do {
        tmp[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u != 0);
    if (v < 0) {
        tmp[n++] = '-';
    }
    for (i = 0; i < n; i++) {
        p[i] = tmp[n - 1 - i];
    }
    return n;
}

static size_t put_s(char *p, const char *s)
{
    size_t n = strlen(s);

    memcpy(p, s, n);
    return n;
}

/* One record as compact JSON, keys in the order lca_json_encode gives a map built in this
 * order (the bytes fprintf gave before; printf's format parsing was a tenth of the replay).
 * Serials, issuer ids and reason names need no escaping (hex, UUIDs, [a-z_]). */
static size_t rec_json(char *p, const struct lca_certrec *rec, int revoked, int first)
{
    size_t n = 0;

    if (!first) {
        p[n++] = ',';
    }
    n += put_s(p + n, "{\"serial_number\":\"");
    lca_state_serial_format(rec->serial, rec->serial_len, p + n, 64);
    n += strlen(p + n);
    n += put_s(p + n, "\",\"issuer_id\":\"");
    n += put_s(p + n, rec->issuer_id);
    if (revoked) {
        n += put_s(p + n, "\",\"revoked_at\":");
        n += put_i64(p + n, rec->revoked_at);
        n += put_s(p + n, ",\"reason\":\"");
        n += put_s(p + n, lca_crl_reason_name((enum lca_crl_reason)rec->reason));
        n += put_s(p + n, "\"}");
        return n;
    }
    n += put_s(p + n, "\",\"not_after\":");
    n += put_i64(p + n, rec->not_after);
    n += put_s(p + n,
               rec->is_ca ? ",\"is_ca\":true,\"position\":" : ",\"is_ca\":false,\"position\":");
    n += put_i64(p + n, rec->position);
    p[n++] = '}';
    return n;
}

/* revoked.json / certificates.json, streamed: a replay of 1,000,000 certificates must not build
 * a million-map value tree first (it cost 3/4 of the replay). */
static int write_recs(const char *dir, const struct lca_state *st, int revoked, int64_t at,
                      struct lca_err *err)
{
    struct rec_list l;
    char path[4096], line[512];
    FILE *f;
    size_t i, j, n, mid = 0;
    int ok;

    memset(&l, 0, sizeof(l));
    l.at = at;
    l.revoked = revoked;
    lca_state_cert_foreach(st, rec_pick, &l);
    if (l.oom) {
        free(l.v);
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "replay: out of memory");
    }
    rec_sort(&l, &mid);
    snprintf(path, sizeof(path), "%s/%s", dir, revoked ? "revoked.json" : "certificates.json");
    if ((f = fopen(path, "wb")) == NULL) {
        free(l.v);
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "write", "replay: cannot create %s: %s", path,
                           strerror(errno));
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    ok = fputc('[', f) != EOF;
    for (i = 0, j = mid; ok && (i < mid || j < l.n);) { /* merge the sorted halves */
        const struct rec_key *k =
            j == l.n || (i < mid && rec_before(&l.v[i], &l.v[j])) ? &l.v[i++] : &l.v[j++];
        n = rec_json(line, k->rec, revoked, i + j == mid + 1);
        ok = fwrite(line, 1, n, f) == n;
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
                return lca_err_set(err, LCA_ERR_BAD_INPUT, "write", "replay: cannot create %s: %s",
                                   sub, strerror(errno));
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
        read_fold(store, pos, &r, err) != LCA_OK) {
        goto out;
    }
    if (lca_state_position(r.st) != pos) {
        lca_err_set(err, LCA_ERR_FATAL, "bad_log",
                    "replay: the log stops at %lld before %lld "
                    "(run ledgerca audit verify)",
                    (long long)lca_state_position(r.st), (long long)pos);
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
