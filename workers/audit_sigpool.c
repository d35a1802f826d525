/*
 * audit_sigpool — the certificate signature checks of a full audit, on worker threads
 * (audit_int.h). The walk stays in order on the calling thread; each CertificateIssued's
 * signature check (workers/certsig.h, or the full decoder for another algorithm) is queued with
 * a copy of the DER and a reference to its issuer's key, and the lowest failing position is
 * kept, with the walk's counters as they stood when that job was queued.
 */
#include "audit_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "certsig.h"

#define QUEUE 512 /* jobs waiting: ~250 KB of DER at most */

static int serial_equal(const ASN1_INTEGER *a, const uint8_t *s, size_t slen)
{
    size_t alen = (size_t)ASN1_STRING_length(a);
    const uint8_t *ap = lca_audit_log_strip0(ASN1_STRING_get0_data(a), &alen);
    const uint8_t *sp = lca_audit_log_strip0(s, &slen);

    return alen == slen && memcmp(ap, sp, slen) == 0;
}

/* The full decoder, for algorithms certsig does not take: 0 ok, else which problem. */
static enum lca_certsig_result slow_check(const struct lca_audit_certjob *j)
{
    const uint8_t *q = j->der;
    X509 *x = d2i_X509(NULL, &q, (long)j->len);
    enum lca_certsig_result r = LCA_CERTSIG_OK;

    if (x == NULL || q != j->der + j->len) {
        r = LCA_CERTSIG_BAD_DER;
    } else if (!serial_equal(X509_get0_serialNumber(x), j->serial, j->serial_len)) {
        r = LCA_CERTSIG_SERIAL;
    } else if (X509_verify(x, j->key) != 1) {
        r = LCA_CERTSIG_BAD_SIG;
    }
    X509_free(x);
    ERR_clear_error();
    return r;
}

int lca_audit_sigpool_check(const struct lca_audit_certjob *j, char *problem, size_t len)
{
    enum lca_certsig_result r =
        lca_certsig_verify(j->der, j->len, j->key, j->serial, j->serial_len);

    if (r == LCA_CERTSIG_OTHER) {
        r = slow_check(j);
    }
    switch (r) {
    case LCA_CERTSIG_OK:
        return 0;
    case LCA_CERTSIG_BAD_DER:
        snprintf(problem, len, "certificate %s does not parse as DER", j->sn);
        break;
    case LCA_CERTSIG_SERIAL:
        snprintf(problem, len, "certificate carries another serial than the event's %s", j->sn);
        break;
    default:
        snprintf(problem, len, "certificate %s is not signed by its issuer %s (key %s)", j->sn,
                 j->issuer_id, j->key_id);
        break;
    }
    return 1;
}

struct lca_audit_sigpool {
    pthread_mutex_t mu;
    pthread_cond_t has_job, has_room, idle;
    struct lca_audit_certjob q[QUEUE];
    size_t head, n, busy; /* ring: q[head..head+n); jobs being checked */
    int sleepers;         /* workers waiting for a job */
    int full;             /* the walk waits for room (woken at half empty, not per job) */
    int stop;
    int threads;
    pthread_t t[LCA_AUDIT_MAX_PARTS];
    int64_t seq;                  /* jobs queued so far */
    _Atomic int64_t first_bad;    /* lowest failing position (INT64_MAX: none) */
    struct lca_audit_certjob bad; /* that job (der and key released) */
    char problem[512];            /* and what is wrong with it */
};

static void job_release(struct lca_audit_certjob *j)
{
    free(j->der);
    EVP_PKEY_free(j->key);
    j->der = NULL;
    j->key = NULL;
}

/* Keeps the lowest failing job (p holds its problem). Called with the lock held. */
static void note_bad(struct lca_audit_sigpool *p, const struct lca_audit_certjob *j,
                     const char *problem)
{
    if (j->position < atomic_load(&p->first_bad)) {
        p->bad = *j;
        p->bad.der = NULL;
        p->bad.key = NULL;
        snprintf(p->problem, sizeof(p->problem), "%s", problem);
        atomic_store(&p->first_bad, j->position);
    }
}

static void *worker(void *arg)
{
    struct lca_audit_sigpool *p = arg;
    struct lca_audit_certjob j;
    char problem[512];
    int bad;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->n == 0 && !p->stop) {
            p->sleepers++;
            pthread_cond_wait(&p->has_job, &p->mu);
            p->sleepers--;
        }
        if (p->n == 0) {
            break;
        }
        j = p->q[p->head];
        p->head = (p->head + 1) % QUEUE;
        p->n--;
        p->busy++;
        if (p->full && p->n <= QUEUE / 2) { /* one wake-up per half queue, not per job */
            p->full = 0;
            pthread_cond_signal(&p->has_room);
        }
        pthread_mutex_unlock(&p->mu);
        /* a job above a known failure cannot change the report: skip its verification */
        bad = j.position < atomic_load(&p->first_bad) &&
              lca_audit_sigpool_check(&j, problem, sizeof(problem));
        job_release(&j);
        pthread_mutex_lock(&p->mu);
        if (bad) {
            note_bad(p, &j, problem);
        }
        if (--p->busy == 0 && p->n == 0) {
            pthread_cond_broadcast(&p->idle);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int lca_audit_sigpool_new(int threads, struct lca_audit_sigpool **out, struct lca_err *err)
{
    struct lca_audit_sigpool *p = calloc(1, sizeof(*p));
    int k;

    if (p == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "audit: out of memory");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->has_job, NULL);
    pthread_cond_init(&p->has_room, NULL);
    pthread_cond_init(&p->idle, NULL);
    atomic_init(&p->first_bad, INT64_MAX);
    for (k = 0; k < threads && k < LCA_AUDIT_MAX_PARTS; k++) {
        if (pthread_create(&p->t[k], NULL, worker, p) != 0) {
            break;
        }
        p->threads++;
    }
    if (p->threads == 0) {
        lca_audit_sigpool_free(p);
        return lca_err_set(err, LCA_ERR_FATAL, "thread", "audit: cannot start a verifier");
    }
    *out = p;
    return LCA_OK;
}

int64_t lca_audit_sigpool_first_bad(struct lca_audit_sigpool *p)
{
    return atomic_load(&p->first_bad);
}

int lca_audit_sigpool_submit(struct lca_audit_sigpool *p, const struct lca_audit_certjob *j,
                             struct lca_err *err)
{
    struct lca_audit_certjob c = *j;

    if ((c.der = malloc(j->len > 0 ? j->len : 1)) == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "audit: out of memory");
    }
    memcpy(c.der, j->der, j->len);
    if (EVP_PKEY_up_ref(c.key) != 1) {
        free(c.der);
        return lca_err_set(err, LCA_ERR_FATAL, "key_ref", "audit: cannot reference a key");
    }
    pthread_mutex_lock(&p->mu);
    while (p->n == QUEUE) {
        p->full = 1;
        pthread_cond_wait(&p->has_room, &p->mu);
    }
    c.seq = p->seq++;
    p->q[(p->head + p->n) % QUEUE] = c;
    p->n++;
    if (p->sleepers > 0) {
        pthread_cond_signal(&p->has_job);
    }
    pthread_mutex_unlock(&p->mu);
    return LCA_OK;
}

int64_t lca_audit_sigpool_drain(struct lca_audit_sigpool *p, struct lca_audit_certjob *bad,
                                char *problem, size_t len)
{
    int64_t n;

    pthread_mutex_lock(&p->mu);
    while (p->n > 0 || p->busy > 0) {
        pthread_cond_wait(&p->idle, &p->mu);
    }
    n = p->seq;
    if (atomic_load(&p->first_bad) != INT64_MAX) {
        *bad = p->bad;
        snprintf(problem, len, "%s", p->problem);
    }
    pthread_mutex_unlock(&p->mu);
    return n;
}

void lca_audit_sigpool_free(struct lca_audit_sigpool *p)
{
    int k;

    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->has_job);
    pthread_mutex_unlock(&p->mu);
    for (k = 0; k < p->threads; k++) {
        pthread_join(p->t[k], NULL);
    }
    while (p->n > 0) { /* workers drain the queue before they stop; nothing should be left */
        job_release(&p->q[p->head]);
        p->head = (p->head + 1) % QUEUE;
        p->n--;
    }
    pthread_cond_destroy(&p->idle);
    pthread_cond_destroy(&p->has_room);
    pthread_cond_destroy(&p->has_job);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
