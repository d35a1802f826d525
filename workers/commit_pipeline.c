/*
 * commit_pipeline — see commit_pipeline.h. The thread sleeps on a condition variable until a
 * job arrives, runs it (commit, replies, flush) and signals its completion.
 */
#include "commit_pipeline.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "kafka.h"
#include "log.h"
#include "outbox.h"
#include "pgstore.h"

/* Replies of one job not yet known to be delivered: `left` is decremented by the producer's
 * delivery reports (lca_kproducer_send_counted), atomically, on whichever thread polls the shared
 * producer; at 0 every one of the `n` was acknowledged. */
struct gen {
    size_t left, n;
};

#define GENS 4          /* jobs whose replies may be unacknowledged at once */
#define FLUSH_MS 30000  /* a blocking wait for acknowledgements */

struct lca_cpipe {
    struct lca_pgstore *store;  /* the thread's own session */
    struct lca_kproducer *prod; /* borrowed */
    lca_cpipe_crash_fn *crash;
    void *crash_ctx;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct lca_cpipe_job *job; /* submitted, not yet taken (under mu) */
    int running, done, quit;   /* under mu */
    int busy;                  /* submitted and not waited for (caller's thread only) */
    int rc;                    /* outcome of the last job (under mu) */
    struct lca_err err;        /* its error */
    /* marks[0 .. n_marks): acknowledged replies whose outbox rows are not marked yet;
     * marks[n_marks .. n_marks+n_unconf): sent, not yet acknowledged, in the order of the
     * generations (one per job) of gens[g_head ..] that count their outstanding deliveries */
    uint8_t (*marks)[16];
    size_t n_marks, n_unconf, cap_marks;
    struct gen *gens;          /* GENS of them (heap: delivery reports write to them) */
    size_t g_head, g_count;
    int tainted;               /* a flush failed: late delivery reports may still arrive, so
                                * the counters are no longer trusted; only a flush confirms */
};

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void crash(struct lca_cpipe *p, const char *point, long number)
{
    if (p->crash != NULL) {
        p->crash(p->crash_ctx, point, number);
    }
}

static int mark_add(struct lca_cpipe *p, const uint8_t id[16], struct lca_err *err)
{
    size_t need = p->n_marks + p->n_unconf + 1, ncap;
    void *np;

    if (need > p->cap_marks) {
        ncap = p->cap_marks == 0 ? 1024 : p->cap_marks * 2;
        if ((np = realloc(p->marks, ncap * sizeof(*p->marks))) == NULL) {
            return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
        }
        p->marks = np;
        p->cap_marks = ncap;
    }
    memcpy(p->marks[p->n_marks + p->n_unconf++], id, 16);
    return LCA_OK;
}

/* Moves the generations whose replies are all acknowledged (oldest first) to the marks. */
static void promote(struct lca_cpipe *p)
{
    struct gen *g;

    if (p->tainted) {
        return;
    }
    lca_kproducer_poll(p->prod); /* the delivery reports that are ready */
    while (p->g_count > 0 &&
           __atomic_load_n(&(g = &p->gens[p->g_head])->left, __ATOMIC_ACQUIRE) == 0) {
        p->n_marks += g->n;
        p->n_unconf -= g->n;
        p->g_head = (p->g_head + 1) % GENS;
        p->g_count--;
    }
}

/* Waits for every reply sent (a flush): on success they are all acknowledged. On failure the
 * unacknowledged ones stay unmarked (their outbox rows are relayed at the next start). */
static int settle_all(struct lca_cpipe *p, struct lca_err *err)
{
    int rc = lca_kproducer_flush(p->prod, FLUSH_MS, err);

    if (rc == LCA_OK) {
        p->n_marks += p->n_unconf;
    } else {
        p->tainted = 1;
    }
    p->n_unconf = 0;
    p->g_head = p->g_count = 0;
    return rc;
}

/* The marks written by a commit leave the front of the array. */
static void marks_written(struct lca_cpipe *p, size_t n)
{
    memmove(p->marks, p->marks + n, (p->n_marks - n + p->n_unconf) * sizeof(*p->marks));
    p->n_marks -= n;
}

/* Step 1: the marks of earlier jobs ride in this transaction; on success they are done. */
static int commit(struct lca_cpipe *p, struct lca_cpipe_job *job, struct lca_err *err)
{
    size_t i, n;

    promote(p);
    n = p->n_marks;
    for (i = 0; i < n; i++) {
        if (lca_pgbatch_add_published(job->batch, p->marks[i], err) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    crash(p, "before_commit", job->number);
    if (lca_pgstore_commit_batch(p->store, job->batch, err) != LCA_OK) {
        return LCA_FAIL;
    }
    marks_written(p, n);
    return LCA_OK;
}

/* 1 when a recorded reply is the marker of a forwarded revocation (status "forwarded"). */
static int recorded_forward(const uint8_t *reply, size_t len)
{
    struct lca_val *v = NULL;
    struct lca_err ignored;
    const char *st;
    int yes;

    lca_err_clear(&ignored);
    if (reply == NULL || lca_json_decode((const char *)reply, len, NULL, &v, &ignored) != LCA_OK) {
        return 0;
    }
    st = lca_val_map_get_str(v, "status");
    yes = st != NULL && strcmp(st, "forwarded") == 0;
    lca_val_free(v);
    return yes;
}

/* Command i's message: its reply, or the forward of a forwarded revocation. */
static int send_one(struct lca_cpipe *p, const struct lca_cpipe_job *job, size_t i,
                    enum lca_pgbatch_outcome o, const uint8_t *reply, size_t len,
                    size_t *outstanding, struct lca_err *err)
{
    static const struct lca_kheader h = {"content-type", "application/json", 16};
    const char *fwd = job->forwards != NULL ? job->forwards[i] : NULL;
    const char *from = job->forward_from != NULL ? job->forward_from : "";
    struct lca_kheader fh[2] = {{"content-type", "application/json", 16},
                                {"forwarded-from", from, strlen(from)}};

    if (o == LCA_PGBATCH_DUPLICATE && !recorded_forward(reply, len)) {
        fwd = NULL; /* recorded as answered: the recorded reply, whatever was decided now */
    } else if (o == LCA_PGBATCH_DUPLICATE && fwd == NULL) {
        lca_log(LCA_LOG_WARN, "recorded forward not repeated: decided otherwise now",
                "command_id=%s", job->ids[i]);
        return LCA_OK;
    }
    if (fwd != NULL) {
        return lca_kproducer_send_counted(p->prod, LCA_KAFKA_TOPIC_REVOKE_FORWARD, job->ids[i],
                                          strlen(job->ids[i]), fwd, strlen(fwd), fh, 2,
                                          outstanding, err);
    }
    return lca_kproducer_send_counted(p->prod, job->reply_to[i], job->keys[i],
                                      strlen(job->keys[i]), reply, len, &h, 1, outstanding,
                                      err);
}

/* A new generation for this job's replies (after a flush when GENS are unacknowledged);
 * NULL when the counters are not trusted (the replies are then flushed at once). */
static int gen_open(struct lca_cpipe *p, struct gen **out, struct lca_err *err)
{
    *out = NULL;
    if (p->g_count == GENS && settle_all(p, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (!p->tainted) {
        *out = &p->gens[(p->g_head + p->g_count++) % GENS];
        (*out)->left = (*out)->n = 0;
    }
    return LCA_OK;
}

/* Step 2: every command's reply, from memory. Their acknowledgement is not waited for: the
 * next job's commit starts at once and carries the marks of the replies acknowledged by then. */
static int reply_all(struct lca_cpipe *p, struct lca_cpipe_job *job, struct lca_err *err)
{
    size_t i, n = lca_pgbatch_count(job->batch);
    const uint8_t *reply;
    size_t len;
    uint8_t id[16];
    enum lca_pgbatch_outcome o;
    struct gen *g = NULL;

    crash(p, "after_commit", job->number);
    if (n > 0 && gen_open(p, &g, err) != LCA_OK) {
        return LCA_FAIL;
    }
    for (i = 0; i < n; i++) {
        o = lca_pgbatch_result(job->batch, i, NULL, NULL, &reply, &len);
        if (o == LCA_PGBATCH_DUPLICATE) {
            job->n_dups++;
            lca_log(LCA_LOG_INFO, "duplicate command: recorded reply sent again",
                    "command_id=%s", job->ids[i]);
        }
        if (send_one(p, job, i, o, reply, len, g != NULL ? &g->left : NULL, err) != LCA_OK ||
            lca_pgbatch_command_id(job->batch, i, id, err) != LCA_OK ||
            mark_add(p, id, err) != LCA_OK) {
            return LCA_FAIL;
        }
        if (g != NULL) {
            g->n++;
        }
    }
    if (n > 0) {
        crash(p, "while_replying", job->number);
    }
    if (g == NULL) {
        return settle_all(p, err); /* counters not trusted: wait for them here */
    }
    promote(p);
    return LCA_OK;
}

static int run_job(struct lca_cpipe *p, struct lca_cpipe_job *job, struct lca_err *err)
{
    double t0 = now_ms(), t1;
    int rc = commit(p, job, err);

    t1 = now_ms();
    rc = rc == LCA_OK ? reply_all(p, job, err) : LCA_FAIL;
    lca_log(LCA_LOG_DEBUG, "batch committed and answered",
            "batch=%ld commands=%zu commit_ms=%.1f reply_ms=%.1f", job->number,
            lca_pgbatch_count(job->batch), t1 - t0, now_ms() - t1);
    return rc;
}

/* The marks in a statement of their own (kept on failure, for the next commit). */
static int publish(struct lca_cpipe *p, struct lca_err *err)
{
    if ((p->n_unconf > 0 && settle_all(p, err) != LCA_OK) ||
        lca_outbox_mark_commands(p->store, (const uint8_t(*)[16])p->marks, p->n_marks, err) !=
            LCA_OK) {
        return LCA_FAIL;
    }
    marks_written(p, p->n_marks);
    return LCA_OK;
}

static void *thread_main(void *arg)
{
    struct lca_cpipe *p = arg;
    struct lca_cpipe_job *job;
    struct lca_err err;
    int rc;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->job == NULL && !p->quit) {
            pthread_cond_wait(&p->cv, &p->mu);
        }
        if (p->job == NULL) {
            break;
        }
        job = p->job;
        p->job = NULL;
        pthread_mutex_unlock(&p->mu);
        lca_err_clear(&err);
        rc = job->batch != NULL ? run_job(p, job, &err) : publish(p, &err);
        pthread_mutex_lock(&p->mu);
        p->rc = rc;
        p->err = err;
        p->done = 1;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int lca_cpipe_new(const char *pg_uri, const char *cluster, struct lca_kproducer *prod,
                  lca_cpipe_crash_fn *crash_fn, void *crash_ctx, struct lca_cpipe **out,
                  struct lca_err *err)
{
    struct lca_cpipe *p = calloc(1, sizeof(*p));

    if (p == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
    }
    p->prod = prod;
    if ((p->gens = calloc(GENS, sizeof(*p->gens))) == NULL) {
        free(p);
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
    }
    p->crash = crash_fn;
    p->crash_ctx = crash_ctx;
    if (lca_pgstore_open(pg_uri, cluster, &p->store, err) != LCA_OK) {
        free(p->gens);
        free(p);
        return LCA_FAIL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&p->thread, NULL, thread_main, p) != 0) {
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        lca_pgstore_free(p->store);
        free(p->gens);
        free(p);
        return lca_err_set(err, LCA_ERR_FATAL, "thread", "cannot start the commit thread");
    }
    p->running = 1;
    *out = p;
    return LCA_OK;
}

/* The counters may be written by delivery reports until every counted message settled:
 * freed only then (after a bounded wait); otherwise, or once a flush failed, left allocated
 * (GENS * 16 bytes, at exit). */
static void gens_release(struct lca_cpipe *p)
{
    struct lca_err ignored;
    size_t k;
    int pending = 0;

    for (k = 0; k < p->g_count; k++) {
        pending |=
            __atomic_load_n(&p->gens[(p->g_head + k) % GENS].left, __ATOMIC_ACQUIRE) > 0;
    }
    lca_err_clear(&ignored);
    if (p->tainted || (pending && lca_kproducer_flush(p->prod, 5000, &ignored) != LCA_OK)) {
        return; /* a failed flush: late reports may still come */
    }
    free(p->gens);
}

void lca_cpipe_free(struct lca_cpipe *p)
{
    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (p->running) {
        pthread_join(p->thread, NULL);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    lca_pgstore_free(p->store);
    free(p->marks);
    gens_release(p);
    free(p);
}

int lca_cpipe_submit(struct lca_cpipe *p, struct lca_cpipe_job *job, struct lca_err *err)
{
    if (p->busy) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "busy", "a commit is already in flight");
    }
    job->n_dups = 0; /* the mark-only job is never written otherwise */
    pthread_mutex_lock(&p->mu);
    p->job = job;
    p->done = 0;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    p->busy = 1;
    return LCA_OK;
}

int lca_cpipe_busy(const struct lca_cpipe *p)
{
    return p->busy;
}

int lca_cpipe_wait(struct lca_cpipe *p, struct lca_err *err)
{
    int rc;

    if (!p->busy) {
        return LCA_OK;
    }
    pthread_mutex_lock(&p->mu);
    while (!p->done) {
        pthread_cond_wait(&p->cv, &p->mu);
    }
    rc = p->rc;
    if (rc != LCA_OK && err != NULL) {
        *err = p->err;
    }
    pthread_mutex_unlock(&p->mu);
    p->busy = 0;
    return rc;
}

size_t lca_cpipe_unmarked(const struct lca_cpipe *p)
{
    return p->n_marks + p->n_unconf;
}

int lca_cpipe_publish(struct lca_cpipe *p, struct lca_err *err)
{
    static struct lca_cpipe_job mark_only; /* batch NULL: the thread only marks */

    return lca_cpipe_submit(p, &mark_only, err);
}
