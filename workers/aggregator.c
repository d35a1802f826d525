/* aggregator — every cluster's events to unified CRLs; forwarded revocations (aggregator.h). */
#include "aggregator.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "aggcrl.h"
#include "aggfwd.h"
#include "aggrows.h"
#include "command.h"
#include "fedlog.h"
#include "json.h"
#include "kafka.h"
#include "log.h"
#include "osslenv.h"
#include "pgexec.h"
#include "pgstore.h"

#define MAX_CLUSTERS 256
#define EVENTS_REGEX "^ledgerca\\.events\\..*"

struct cursor {
    char cluster[65];
    struct lca_fedlog_cursor c;
    int dirty;
};

struct pend_crl {
    char cluster[65];
    char issuer_id[64];
    uint8_t *der;
    size_t len;
    int64_t number, this_update, next_update;
};

struct agg {
    const struct lca_aggregator_opts *o;
    char group[128];
    uint8_t kek[32];
    struct lca_pgstore *store;
    struct lca_aggcrl *crl;
    struct lca_kconsumer *cons;
    struct lca_kproducer *prod;
    struct lca_aggfwd *fwd;
    struct lca_aggrows *rows; /* the batch's rows, written at its end */
    struct cursor cur[MAX_CLUSTERS];
    size_t n_cur;
    struct pend_crl *crls;
    size_t n_crls, cap_crls;
    uint64_t folded, dups, refused;
};

/* ---- SQL helpers ---- */

static PGresult *q(struct agg *a, const char *what, const char *sql, struct lca_err *err)
{
    return lca_pgexec_query(a->store, what, sql, 0, NULL, NULL, NULL, err);
}

static int x(struct agg *a, const char *what, const char *sql, struct lca_err *err)
{
    return lca_pgexec_run(a->store, what, sql, 0, NULL, NULL, NULL, NULL, err);
}

/* ---- cursors ---- */

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int load_cursors(struct agg *a, struct lca_err *err)
{
    PGresult *res =
        q(a, "agg_clusters read", "SELECT cluster, position, encode(hash, 'hex') FROM agg_clusters",
          err);
    int r;
    size_t i;

    if (res == NULL) {
        return LCA_FAIL;
    }
    a->n_cur = 0;
    for (r = 0; r < PQntuples(res) && a->n_cur < MAX_CLUSTERS; r++) {
        struct cursor *c = &a->cur[a->n_cur++];
        const char *h = PQgetvalue(res, r, 2);
        memset(c, 0, sizeof(*c));
        snprintf(c->cluster, sizeof(c->cluster), "%s", PQgetvalue(res, r, 0));
        c->c.position = strtoll(PQgetvalue(res, r, 1), NULL, 10);
        for (i = 0; i < LCA_FEDLOG_HASH_LEN && strlen(h) == 64; i++) {
            c->c.hash[i] = (uint8_t)(hexval(h[2 * i]) << 4 | hexval(h[2 * i + 1]));
        }
    }
    PQclear(res);
    return LCA_OK;
}

static struct cursor *cursor_of(struct agg *a, const char *cluster, struct lca_err *err)
{
    size_t i;

    for (i = 0; i < a->n_cur; i++) {
        if (strcmp(a->cur[i].cluster, cluster) == 0) {
            return &a->cur[i];
        }
    }
    if (a->n_cur == MAX_CLUSTERS) {
        (void)lca_err_set(err, LCA_ERR_FATAL, "too_many_clusters", "aggregator: over %d",
                          MAX_CLUSTERS);
        return NULL;
    }
    memset(&a->cur[a->n_cur], 0, sizeof(a->cur[0]));
    snprintf(a->cur[a->n_cur].cluster, sizeof(a->cur[0].cluster), "%s", cluster);
    lca_log(LCA_LOG_INFO, "new cluster", "cluster=%s", cluster);
    return &a->cur[a->n_cur++];
}

/* The cursors that moved in this batch: one row each. */
static void add_cursors(struct agg *a)
{
    size_t i;

    for (i = 0; i < a->n_cur; i++) {
        if (a->cur[i].dirty) {
            lca_aggrows_add_cursor(a->rows, a->cur[i].cluster, &a->cur[i].c);
        }
    }
}

static void cursors_clean(struct agg *a)
{
    size_t i;

    for (i = 0; i < a->n_cur; i++) {
        a->cur[i].dirty = 0;
    }
}

/* ---- per-cluster CRLs of the batch (the latest per cluster and issuer) ---- */

static void crls_clear(struct agg *a)
{
    size_t i;

    for (i = 0; i < a->n_crls; i++) {
        free(a->crls[i].der);
    }
    a->n_crls = 0;
}

static int remember_crl(struct agg *a, const char *cluster, const struct lca_fedlog_change *c,
                        struct lca_err *err)
{
    struct pend_crl *p = NULL;
    size_t i;

    for (i = 0; i < a->n_crls && p == NULL; i++) {
        if (strcmp(a->crls[i].cluster, cluster) == 0 &&
            strcmp(a->crls[i].issuer_id, c->view.crl.issuer_id) == 0) {
            p = &a->crls[i];
            free(p->der);
        }
    }
    if (p == NULL) {
        if (a->n_crls == a->cap_crls) {
            size_t cap = a->cap_crls ? a->cap_crls * 2 : 8;
            struct pend_crl *n = realloc(a->crls, cap * sizeof(*n));
            if (n == NULL) {
                return lca_err_set(err, LCA_ERR_FATAL, "oom", "aggregator: out of memory");
            }
            a->crls = n;
            a->cap_crls = cap;
        }
        p = &a->crls[a->n_crls++];
        snprintf(p->cluster, sizeof(p->cluster), "%s", cluster);
        snprintf(p->issuer_id, sizeof(p->issuer_id), "%s", c->view.crl.issuer_id);
    }
    p->der = malloc(c->view.crl.der_len + 1);
    if (p->der == NULL) {
        a->n_crls--;
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "aggregator: out of memory");
    }
    memcpy(p->der, c->view.crl.der, c->view.crl.der_len);
    p->len = c->view.crl.der_len;
    p->number = c->view.crl.crl_number;
    p->this_update = c->view.crl.this_update;
    p->next_update = c->view.crl.next_update;
    return LCA_OK;
}

/* The latest CRL of each (cluster, issuer) of the batch: one row each. */
static void add_crls(struct agg *a)
{
    size_t i;

    for (i = 0; i < a->n_crls; i++) {
        struct pend_crl *p = &a->crls[i];
        lca_aggrows_add_crl(a->rows, p->cluster, p->issuer_id, p->number, p->der, p->len,
                            p->this_update, p->next_update);
    }
}

/* ---- the fold's rows ---- */

static int put_change(struct agg *a, const char *cluster, const struct lca_fedlog_change *c,
                      struct lca_err *err)
{
    if (c->kind == LCA_FEDLOG_CRL) {
        return remember_crl(a, cluster, c, err);
    }
    lca_aggrows_add_change(a->rows, cluster, c); /* copied: c borrows from the event */
    return LCA_OK;
}

/* One relayed event. Refused messages (undecodable, misrouted, gap, broken chain, bad hash)
 * are logged and dropped: nothing unverified is folded. */
static int fold_msg(struct agg *a, const struct lca_kmsg *m, struct lca_err *err)
{
    struct lca_fedlog_decoded d = {NULL, {0}};
    struct lca_fedlog_change c;
    struct lca_event *ev = NULL;
    struct lca_fedlog_cursor next;
    struct cursor *cur;
    struct lca_err why;
    int rc = LCA_FAIL;

    lca_err_clear(&why);
    if (lca_fedlog_decode(m->value, m->value != NULL ? m->len : 0, &d, &why) != LCA_OK ||
        strcmp(m->topic + strlen(LCA_KAFKA_TOPIC_EVENTS_PREFIX), d.msg.cluster) != 0) {
        if (why.cls == LCA_ERR_NONE) {
            lca_err_set(&why, LCA_ERR_BAD_INPUT, "misrouted", "cluster %s on topic %s",
                        d.msg.cluster, m->topic);
        }
        goto refuse;
    }
    if ((cur = cursor_of(a, d.msg.cluster, err)) == NULL) {
        goto out;
    }
    next = cur->c;
    if (lca_fedlog_apply(&next, &d.msg, &c, &ev, &why) != LCA_OK) {
        goto refuse;
    }
    if (c.duplicate) {
        a->dups++;
        rc = LCA_OK;
        goto out;
    }
    if (put_change(a, d.msg.cluster, &c, err) != LCA_OK) {
        goto out;
    }
    cur->c = next;
    cur->dirty = 1;
    a->folded++;
    rc = LCA_OK;
    goto out;
refuse:
    a->refused++;
    lca_log(LCA_LOG_WARN, "relayed event refused", "topic=%s offset=%lld code=%s msg=\"%s\"",
            m->topic, (long long)m->offset, why.code, why.msg);
    rc = why.cls == LCA_ERR_FATAL ? (*err = why, LCA_FAIL) : LCA_OK;
out:
    lca_event_free(ev);
    lca_fedlog_decoded_cleanup(&d);
    return rc;
}

/* ---- batches ---- */

static void add_offsets(struct agg *a, const struct lca_kmsg *msgs, size_t n)
{
    struct lca_ktp offs[MAX_CLUSTERS + 16];
    size_t i, no = lca_kafka_next_offsets(msgs, n, offs, MAX_CLUSTERS + 16);

    for (i = 0; i < no; i++) {
        lca_aggrows_add_offset(a->rows, a->group, offs[i].topic, offs[i].partition,
                               offs[i].offset);
    }
}

/* Folds the batch in memory. A forwarded revocation is recorded as it comes, inside the batch's
 * transaction, which is then opened (*begun). */
static int apply_msgs(struct agg *a, const struct lca_kmsg *msgs, size_t n, int *begun,
                      struct lca_err *err)
{
    size_t i;
    int rc;

    for (i = 0; i < n; i++) {
        if (strcmp(msgs[i].topic, LCA_KAFKA_TOPIC_REVOKE_FORWARD) != 0) {
            rc = fold_msg(a, &msgs[i], err);
        } else if (!*begun && x(a, "begin", "BEGIN", err) != LCA_OK) {
            rc = LCA_FAIL;
        } else {
            *begun = 1;
            rc = lca_aggfwd_receive(a->fwd, &msgs[i], err);
        }
        if (rc != LCA_OK) {
            return LCA_FAIL;
        }
    }
    add_cursors(a);
    add_crls(a);
    add_offsets(a, msgs, n);
    return LCA_OK;
}

/*
 * The batch's rows, cursors, CRLs and offsets (aggrows.h) and its COMMIT in one pipeline: one
 * round trip a batch. The commit does not wait for its WAL flush (synchronous_commit off, for
 * this transaction only): a server crash may lose the last batches, but always with their
 * offsets, so they are consumed and folded again. What leaves the database (a unified CRL, a
 * forward) is committed synchronously afterwards, and that flush covers the WAL before it.
 */
static int commit_batch(struct agg *a, int begun, struct lca_err *err)
{
    static const struct lca_pgexec_stmt begin = {"begin", "BEGIN", 0, NULL, NULL, NULL},
                                        async = {"synchronous_commit",
                                                 "SET LOCAL synchronous_commit = off", 0,
                                                 NULL, NULL, NULL},
                                        commit = {"commit", "COMMIT", 0, NULL, NULL, NULL};
    struct lca_pgexec_stmt st[LCA_AGGROWS_MAX_STMTS + 3];
    size_t n = 0, k = 0;

    if (!begun) {
        st[n++] = begin;
    }
    st[n++] = async;
    if (lca_aggrows_stmts(a->rows, st + n, &k, err) != LCA_OK) {
        return LCA_FAIL;
    }
    n += k;
    st[n++] = commit;
    return lca_pgexec_pipeline(a->store, st, n, err);
}

static int try_batch(struct agg *a, const struct lca_kmsg *msgs, size_t n, struct lca_err *err)
{
    struct lca_err ignored;
    size_t i;
    int begun = 0;

    crls_clear(a);
    lca_aggrows_reset(a->rows);
    if (apply_msgs(a, msgs, n, &begun, err) != LCA_OK || commit_batch(a, begun, err) != LCA_OK) {
        lca_err_clear(&ignored);
        (void)x(a, "rollback", "ROLLBACK", &ignored); /* a no-op when none is open */
        lca_err_clear(&ignored);
        if (load_cursors(a, &ignored) != LCA_OK) { /* the in-memory cursors moved: undo */
            a->n_cur = 0;
        }
        return LCA_FAIL;
    }
    cursors_clean(a);
    for (i = 0; i < a->n_crls; i++) {
        if (lca_aggcrl_write_cluster(a->crl, a->crls[i].cluster, a->crls[i].issuer_id,
                                     a->crls[i].der, a->crls[i].len, err) != LCA_OK) {
            lca_log_err("cluster CRL file not written (rewritten at the next start)", err);
            lca_err_clear(err);
        }
    }
    crls_clear(a);
    return LCA_OK;
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static int stopped(const struct agg *a)
{
    return a->o->stop != NULL && *a->o->stop;
}

static int run_batch(struct agg *a, const struct lca_kmsg *msgs, size_t n, struct lca_err *err)
{
    struct lca_ktp offs[MAX_CLUSTERS + 16];
    size_t no;
    int delay = 100;

    for (;;) {
        lca_err_clear(err);
        if (try_batch(a, msgs, n, err) == LCA_OK) {
            break;
        }
        if (err->cls != LCA_ERR_RETRIABLE || stopped(a)) {
            return LCA_FAIL;
        }
        lca_log_err("aggregator: batch not committed; retrying", err);
        pause_ms(delay);
        delay = delay < 5000 ? delay * 2 : 5000;
    }
    no = lca_kafka_next_offsets(msgs, n, offs, MAX_CLUSTERS + 16);
    if (lca_kconsumer_commit(a->cons, offs, no, err) != LCA_OK) {
        lca_log_err("kafka offset commit (secondary record) failed", err);
        lca_err_clear(err);
    }
    return LCA_OK;
}

/* ---- start-up and the loop ---- */

struct offq {
    int32_t want;
    int64_t found;
};

static void offset_seen(void *ctx, int32_t partition, int64_t next_offset)
{
    struct offq *o = ctx;

    if (partition == o->want) {
        o->found = next_offset;
    }
}

static int load_offsets_pg(void *ctx, const char *topic, int32_t partition, int64_t *next)
{
    struct agg *a = ctx;
    struct offq o = {partition, LCA_KOFFSET_NONE};
    struct lca_err err;

    lca_err_clear(&err);
    if (lca_pgstore_offsets(a->store, a->group, topic, offset_seen, &o, &err) != LCA_OK) {
        lca_log_err("loading stored offsets failed", &err);
        return LCA_FAIL;
    }
    /* a topic never consumed starts at its first event, never at Kafka's committed offset:
     * the fold must see every event of a cluster */
    *next = o.found != LCA_KOFFSET_NONE ? o.found : 0;
    lca_log(LCA_LOG_INFO, "partition assigned", "topic=%s partition=%d start=%lld", topic,
            (int)partition, (long long)*next);
    return LCA_OK;
}

static void on_error(void *ctx, const struct lca_err *err)
{
    (void)ctx;
    lca_log_err("kafka", err);
}

static int topics_of(const struct agg *a, char names[][96], const char **topics, size_t *n)
{
    const char *list = a->o->clusters;

    *n = 0;
    snprintf(names[(*n)++], 96, "%s", LCA_KAFKA_TOPIC_REVOKE_FORWARD);
    if (list == NULL) {
        snprintf(names[(*n)++], 96, "%s", EVENTS_REGEX);
    }
    while (list != NULL && *list != '\0' && *n < MAX_CLUSTERS) {
        char cl[96];
        size_t k = strcspn(list, ",");
        snprintf(cl, sizeof(cl), "%.*s", (int)(k < 64 ? k : 64), list);
        if (lca_fedlog_topic(cl, names[*n], 96) != LCA_OK) {
            return LCA_FAIL;
        }
        (*n)++;
        list += k + (list[k] == ',');
    }
    for (size_t i = 0; i < *n; i++) {
        topics[i] = names[i];
    }
    return LCA_OK;
}

static int open_all(struct agg *a, struct lca_err *err)
{
    static const char *const conf[] = {"fetch.wait.max.ms", "10",
                                       "topic.metadata.refresh.interval.ms", "1000", NULL};
    static char names[MAX_CLUSTERS + 2][96];
    const char *topics[MAX_CLUSTERS + 2];
    const char *fwd[1] = {LCA_KAFKA_TOPIC_REVOKE_FORWARD};
    struct lca_kconsumer_hooks hooks;
    size_t n = 0;

    memset(&hooks, 0, sizeof(hooks));
    hooks.ctx = a;
    hooks.conf = conf;
    hooks.load_offsets = load_offsets_pg;
    hooks.on_error = on_error;
    if (topics_of(a, names, topics, &n) != LCA_OK) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_clusters",
                           "aggregator: --clusters is a comma-separated list of cluster ids");
    }
    if (lca_osslenv_load_kek(a->o->kek_file, a->kek, err) != LCA_OK ||
        lca_pgstore_open(a->o->pg_uri, "aggregator", &a->store, err) != LCA_OK ||
        lca_aggrows_new(&a->rows, err) != LCA_OK ||
        load_cursors(a, err) != LCA_OK ||
        lca_aggcrl_new(a->store, a->kek, a->o->crl_dir, a->o->url_base, 0, &a->crl, err) !=
            LCA_OK ||
        lca_aggcrl_sync_files(a->crl, err) != LCA_OK ||
        lca_kafka_create_topics(a->o->bootstrap, fwd, 1, LCA_KAFKA_PARTITIONS, 30000, err) !=
            LCA_OK ||
        lca_kproducer_new(a->o->bootstrap, NULL, &a->prod, err) != LCA_OK ||
        lca_aggfwd_new(a->store, a->prod, a->group, a->o->clusters, &a->fwd, err) != LCA_OK ||
        lca_kconsumer_new(a->o->bootstrap, a->group, topics, n, &hooks, &a->cons, err) !=
            LCA_OK) {
        return LCA_FAIL;
    }
    return LCA_OK;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CRL builds and forwards: retriable failures are logged and retried at the next tick. */
static int housekeeping(struct agg *a, size_t *built, struct lca_err *err)
{
    *built = 0;
    if (lca_aggcrl_rebuild(a->crl, (int64_t)time(NULL), built, err) != LCA_OK ||
        lca_aggfwd_resolve(a->fwd, err) != LCA_OK || lca_aggfwd_send(a->fwd, err) != LCA_OK) {
        if (err->cls == LCA_ERR_FATAL) {
            return LCA_FAIL;
        }
        lca_log_err("aggregator: CRL build or forward failed; retrying", err);
        lca_err_clear(err);
    }
    return LCA_OK;
}

static int loop(struct agg *a, struct lca_kmsg *msgs, size_t max, struct lca_err *err)
{
    int interval = a->o->crl_interval_ms > 0 ? a->o->crl_interval_ms : 500;
    int64_t last_build = 0, idle_since = now_ms();
    size_t n = 0, built = 0;
    long open = 0;

    while (!stopped(a)) {
        if (lca_kconsumer_poll_batch(a->cons, max, 50, msgs, &n, err) != LCA_OK) {
            return LCA_FAIL;
        }
        if (n > 0) {
            int rc = run_batch(a, msgs, n, err);
            lca_kconsumer_release(msgs, n);
            if (rc != LCA_OK) {
                return LCA_FAIL;
            }
            idle_since = now_ms();
        }
        if (now_ms() - last_build >= interval) {
            last_build = now_ms();
            if (housekeeping(a, &built, err) != LCA_OK) {
                return LCA_FAIL;
            }
            if (built > 0) {
                idle_since = now_ms();
            }
        }
        if (a->o->once && n == 0 &&
            now_ms() - idle_since >= (a->o->idle_ms > 0 ? a->o->idle_ms : 3000)) {
            if (lca_aggfwd_open(a->fwd, &open, err) != LCA_OK) {
                return LCA_FAIL;
            }
            if (open == 0) {
                break;
            }
        }
    }
    return LCA_OK;
}

int lca_aggregator_run(const struct lca_aggregator_opts *o, struct lca_err *err)
{
    struct agg *a = calloc(1, sizeof(*a));
    size_t max = o->max_batch > 0 ? o->max_batch : 1000;
    struct lca_kmsg *msgs = calloc(max, sizeof(*msgs));
    struct lca_err ignored;
    int rc = LCA_FAIL;

    if (a == NULL || msgs == NULL) {
        free(a);
        free(msgs);
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "aggregator: out of memory");
    }
    a->o = o;
    snprintf(a->group, sizeof(a->group), "%s", o->group != NULL ? o->group : "ledgerca-aggregator");
    if (open_all(a, err) == LCA_OK) {
        lca_log(LCA_LOG_INFO, "aggregator ready", "group=%s clusters=%s crl_dir=%s", a->group,
                o->clusters != NULL ? o->clusters : "(all)", o->crl_dir != NULL ? o->crl_dir : "-");
        rc = loop(a, msgs, max, err);
    }
    lca_log(LCA_LOG_INFO, "aggregator stopped",
            "folded=%llu duplicates=%llu refused=%llu forwards=%llu",
            (unsigned long long)a->folded, (unsigned long long)a->dups,
            (unsigned long long)a->refused,
            (unsigned long long)lca_aggfwd_received(a->fwd));
    lca_err_clear(&ignored);
    if (a->cons != NULL && lca_kconsumer_close(a->cons, &ignored) != LCA_OK) {
        lca_log_err("leaving the consumer group", &ignored);
    }
    lca_kconsumer_free(a->cons);
    lca_aggfwd_free(a->fwd);
    lca_aggrows_free(a->rows);
    lca_kproducer_free(a->prod);
    lca_aggcrl_free(a->crl);
    lca_pgstore_free(a->store);
    crls_clear(a);
    free(a->crls);
    OPENSSL_cleanse(a->kek, sizeof(a->kek));
    free(a);
    free(msgs);
    return rc;
}
