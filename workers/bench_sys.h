/*
 * bench_sys — the system a benchmark measures, run in its own process on threads: a signer, a
 * projector and optionally the HTTP API, with the options the benchmark filled in; plus the
 * commands it sends them through the API's Kafka facade. One stop flag ends all threads.
 */
#ifndef LCA_BENCH_SYS_H
#define LCA_BENCH_SYS_H

#include <pthread.h>
#include <signal.h>

#include "api.h"
#include "api_facade.h"
#include "err.h"
#include "projector.h"
#include "signer.h"
#include "val.h"

struct lca_bench_sys {
    struct lca_signer_opts so;
    struct lca_projector_opts po;
    struct lca_api_opts ao;
    int with_api;        /* start the API too (ao filled in) */
    pthread_t t[3];      /* signer, projector, API */
    int started[3];
    volatile int failed; /* a thread's worker stopped with an error (logged) */
};

/* Fills the options every benchmark gives the signer and the projector (the API's are the
 * caller's): Kafka bootstrap, the cluster's database and KEK from db, cluster, consumer group and
 * the stop flag. Strings are borrowed and must outlive the threads. */
struct lca_bench_db;
void lca_bench_sys_init(struct lca_bench_sys *s, const char *bootstrap,
                        const struct lca_bench_db *db, const char *cluster, const char *group,
                        volatile sig_atomic_t *stop);

/* Starts the threads. The options' stop fields must point at one flag the caller owns. */
int lca_bench_sys_start(struct lca_bench_sys *s, struct lca_err *err) LCA_MUST_USE;

/* Joins the threads started; the caller has set the stop flag first. Safe to repeat. */
void lca_bench_sys_join(struct lca_bench_sys *s);

/* A command envelope with a fresh command id (also its correlation id) and `token`; payload is
 * taken. NULL (payload freed) when memory or randomness runs out. */
struct lca_val *lca_bench_envelope(const char *token, const char *type, struct lca_val *payload);

/* Sends env (taken; NULL is an error) and waits up to timeout_ms for its reply. LCA_OK only for
 * an "ok" reply; then *result (if result is not NULL; caller frees) is a copy of its result. */
int lca_bench_call(struct lca_api_facade *f, struct lca_val *env, int timeout_ms,
                   struct lca_val **result, struct lca_err *err) LCA_MUST_USE;

#endif
