/*
 * commit_pipeline — the signer's commit thread (issue 3): while the signer's own thread decides
 * batch N+1 (the CPU: CSR verify, certificate signing), this thread commits batch N in
 * PostgreSQL on a connection of its own and then sends N's replies to Kafka straight from
 * memory (no outbox read-back) and waits for their acknowledgement.
 *
 * One job at a time (depth 1): lca_cpipe_submit hands over a filled pgbatch, lca_cpipe_wait
 * returns its outcome. For each job the thread:
 *   1. adds the "published" marks of earlier jobs' acknowledged replies to the batch
 *      (lca_pgbatch_add_published: they ride in the same transaction, no round trip of their
 *      own), calls crash("before_commit"), commits the batch (lca_pgstore_commit_batch);
 *   2. calls crash("after_commit"), sends every command's reply — the one decided for NEW
 *      commands, the recorded one for DUPLICATEs — keyed by its correlation id, calls
 *      crash("while_replying"), and finishes the job WITHOUT waiting for Kafka's
 *      acknowledgement (that wait was on the path of every next commit);
 *   3. counts the job's acknowledgements (lca_kproducer_send_counted): once all of a job's
 *      replies are acknowledged, a later commit (or lca_cpipe_publish when the signer is
 *      idle, which flushes first) marks their outbox rows. At most GENS (4) jobs' replies
 *      are unacknowledged at once: a fifth job flushes first.
 * Crash safety (DESIGN.md invariant 1) is unchanged: a reply not yet acknowledged by Kafka
 * still has its unpublished outbox row, which the signer relays at its next start; a reply
 * acknowledged but not yet marked is relayed again (clients tolerate repeats: replies carry
 * the command and correlation ids).
 * On a commit failure nothing of the batch is stored, the marks are kept for the next job and
 * lca_cpipe_wait returns the error (the caller rebuilds its state and decides again). After a
 * failed send or flush the batch IS committed; the caller must stop (the relay at the next
 * start sends what is missing). A delivery that fails later (after librdkafka's own retries,
 * message.timeout.ms) surfaces at the next flush (a fifth unacknowledged job, publish); its
 * reply stays unmarked and is relayed at the next start; from then on every job flushes.
 * Thread: every lca_cpipe_* function is called from one thread (the signer's); the
 * producer passed in is used by the pipeline thread between submit and wait only, so the
 * caller may use it only when no job is in flight (its flushes then also serve the delivery
 * reports that count this pipeline's acknowledgements). lca_cpipe_free must be called before
 * the producer is freed.
 */
#ifndef LCA_COMMIT_PIPELINE_H
#define LCA_COMMIT_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct lca_cpipe;
struct lca_kproducer;
struct lca_pgbatch;

/* Test crash points: called on the pipeline thread with the job's number. */
typedef void lca_cpipe_crash_fn(void *ctx, const char *point, long number);

/* One job. Everything is borrowed until lca_cpipe_wait returns. */
struct lca_cpipe_job {
    struct lca_pgbatch *batch;     /* filled by the caller: one entry per command */
    const char *const *reply_to;   /* per command of the batch: the reply topic */
    const char *const *keys;       /* per command: the correlation id (message key) */
    const char *const *ids;        /* per command: the command id text, for logs */
    const char *const *forwards;   /* per command: NULL, or a revoke to forward instead of a
                                      reply (JSON text; signer --forward-revocations): sent to
                                      ledgerca.revoke-forward keyed by the command id, with a
                                      forwarded-from header; a DUPLICATE whose recorded reply
                                      says "forwarded" is forwarded again, never answered */
    const char *forward_from;      /* this cluster's id, for that header */
    long number;                   /* the batch number passed to the crash hook */
    size_t n_dups;                 /* out: how many commands were duplicates */
};

/*
 * Connects its own PostgreSQL session (uri, cluster as lca_pgstore_open) and starts the
 * thread. prod is borrowed (see the thread rule above); crash may be NULL.
 * *out set only on success. Errors: those of lca_pgstore_open; FATAL if no thread.
 */
int lca_cpipe_new(const char *pg_uri, const char *cluster, struct lca_kproducer *prod,
                  lca_cpipe_crash_fn *crash, void *crash_ctx, struct lca_cpipe **out,
                  struct lca_err *err) LCA_MUST_USE;

/* Stops and joins the thread (after the job in flight, if any), closes the session.
 * Marks not yet written are dropped (their replies are relayed again at the next start).
 * NULL is a no-op. */
void lca_cpipe_free(struct lca_cpipe *p);

/* Hands `job` to the thread. Errors: BAD_INPUT if a job is already in flight. */
int lca_cpipe_submit(struct lca_cpipe *p, struct lca_cpipe_job *job,
                     struct lca_err *err) LCA_MUST_USE;

/* 1 while a submitted job has not been waited for. */
int lca_cpipe_busy(const struct lca_cpipe *p);

/* Waits for the job in flight (none: LCA_OK at once) and returns its outcome; err receives
 * the thread's error. Afterwards lca_pgbatch_result tells each command's outcome. */
int lca_cpipe_wait(struct lca_cpipe *p, struct lca_err *err) LCA_MUST_USE;

/* Number of sent replies whose outbox rows are not marked yet (acknowledged or not). */
size_t lca_cpipe_unmarked(const struct lca_cpipe *p);

/* Starts marking those rows on the thread, in a statement of their own (for an idle signer:
 * no commit comes to carry them), after waiting for the acknowledgement of every reply sent
 * (a flush of up to 30 s), as a job finished by lca_cpipe_wait, whose errors are those of
 * lca_kproducer_flush (unacknowledged replies stay unmarked) or lca_outbox_mark_commands
 * (the marks are then kept for the next commit).
 * Errors: BAD_INPUT if a job is in flight. */
int lca_cpipe_publish(struct lca_cpipe *p, struct lca_err *err) LCA_MUST_USE;

#endif
