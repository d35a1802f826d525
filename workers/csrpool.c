/*
 * csrpool — see csrpool.h. The worker parses entries 1, 3, 5, ... of a batch while the caller
 * parses 0, 2, 4, ...; the caller then waits for the worker's half (a mutex and two condition
 * variables: one for "a job is there", one for "the job is done").
 */
#include "csrpool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "val.h"

struct entry {
    const char *pem;     /* the payload string (borrowed) */
    struct lca_csr *csr; /* parsed, owned until taken; NULL: not parsable or taken */
};

struct lca_csrpool {
    struct entry *e;
    size_t n, max, cursor; /* cursor: where the next take starts looking */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    int job, stop; /* job: the worker's half is to be parsed (1) or is parsed (0) */
};

static void parse_entry(struct entry *e)
{
    struct lca_err err;

    lca_err_clear(&err);
    if (lca_csr_parse((const uint8_t *)e->pem, strlen(e->pem), &e->csr, &err) != LCA_OK) {
        e->csr = NULL; /* decide parses it again and rejects it with this error */
    }
}

static void *worker(void *arg)
{
    struct lca_csrpool *p = arg;
    size_t i;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->job && !p->stop) {
            pthread_cond_wait(&p->go, &p->mu);
        }
        if (p->stop) {
            break;
        }
        pthread_mutex_unlock(&p->mu);
        for (i = 1; i < p->n; i += 2) {
            parse_entry(&p->e[i]);
        }
        pthread_mutex_lock(&p->mu);
        p->job = 0;
        pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

struct lca_csrpool *lca_csrpool_new(size_t max)
{
    struct lca_csrpool *p = calloc(1, sizeof(*p));

    if (p == NULL || (p->e = calloc(max > 0 ? max : 1, sizeof(*p->e))) == NULL) {
        free(p);
        return NULL;
    }
    p->max = max;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p->e);
        free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->go, NULL) != 0 || pthread_cond_init(&p->done, NULL) != 0 ||
        pthread_create(&p->thread, NULL, worker, p) != 0) {
        /* a condition variable that did initialise is left as is: the pool is not used */
        pthread_mutex_destroy(&p->mu);
        free(p->e);
        free(p);
        return NULL;
    }
    return p;
}

void lca_csrpool_clear(struct lca_csrpool *p)
{
    size_t i;

    for (i = 0; p != NULL && i < p->n; i++) {
        lca_csr_free(p->e[i].csr);
    }
    if (p != NULL) {
        p->n = p->cursor = 0;
    }
}

void lca_csrpool_free(struct lca_csrpool *p)
{
    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_signal(&p->go);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    lca_csrpool_clear(p);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->e);
    free(p);
}

void lca_csrpool_run(struct lca_csrpool *p, struct lca_command *const *cmds, size_t n)
{
    size_t i;

    if (p == NULL) {
        return;
    }
    lca_csrpool_clear(p);
    for (i = 0; i < n && p->n < p->max; i++) {
        const char *pem = lca_val_map_get_str(cmds[i]->payload, "csr");
        if (pem != NULL &&
            (cmds[i]->type == LCA_CMD_SIGN || cmds[i]->type == LCA_CMD_SIGN_VERBATIM)) {
            p->e[p->n].pem = pem;
            p->e[p->n++].csr = NULL;
        }
    }
    if (p->n > 1) {
        pthread_mutex_lock(&p->mu);
        p->job = 1;
        pthread_cond_signal(&p->go);
        pthread_mutex_unlock(&p->mu);
    }
    for (i = 0; i < p->n; i += 2) {
        parse_entry(&p->e[i]);
    }
    if (p->n > 1) {
        pthread_mutex_lock(&p->mu);
        while (p->job) {
            pthread_cond_wait(&p->done, &p->mu);
        }
        pthread_mutex_unlock(&p->mu);
    }
}

struct lca_csr *lca_csrpool_take(void *pool, const char *pem)
{
    struct lca_csrpool *p = pool;
    struct lca_csr *c;
    size_t k, i;

    /* decide asks in batch order: start where the last take matched */
    for (k = 0; p != NULL && k < p->n; k++) {
        i = (p->cursor + k) % p->n;
        if (p->e[i].pem == pem) {
            c = p->e[i].csr;
            p->e[i].csr = NULL;
            p->cursor = i + 1;
            return c;
        }
    }
    return NULL;
}
