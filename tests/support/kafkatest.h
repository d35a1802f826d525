/*
 * kafkatest — helpers for tests that talk to Kafka through workers/kafka.h.
 *
 * - lca_kafkatest_bootstrap(): the real broker the test runner started (LCA_TEST_KAFKA_BOOTSTRAP).
 *   Integration tests fail (never skip) when it is unset; this returns NULL and prints why.
 * - lca_kafkatest_unique(): names that differ per process and call, so reruns against the same
 *   broker never see an earlier run's topics, groups or offsets.
 * - struct lca_kafkatest_store: an in-memory offset store standing in for PostgreSQL's consumed-
 *   offsets table, with hooks that count assignments and revocations. Its hooks are meant for
 *   struct lca_kconsumer_hooks (ctx = the store).
 * - lca_kafkatest_collect(): polls a consumer until it has a number of messages or times out.
 * Single-threaded, like the consumer it serves.
 */
#ifndef LCA_KAFKATEST_H
#define LCA_KAFKATEST_H

#include <stddef.h>
#include <stdint.h>

#include "kafka.h"

#define LCA_KAFKATEST_MAX_TP 16

struct lca_kafkatest_entry {
    char topic[128];
    int32_t partition;
    int64_t offset; /* next offset, or LCA_KOFFSET_NONE; fail = 1 makes load_offsets fail */
    int fail;
};

struct lca_kafkatest_store {
    struct lca_kafkatest_entry e[LCA_KAFKATEST_MAX_TP];
    size_t n;
    size_t assigned_now;              /* partitions currently assigned */
    size_t assign_calls, revoke_calls, lost_calls;
    size_t last_revoke_n;             /* size of the last revocation */
    size_t errors;                    /* on_error calls */
    int owned[LCA_KAFKATEST_MAX_TP];  /* owned[p] = 1 while partition p is assigned (one topic) */
    int64_t started_at[LCA_KAFKATEST_MAX_TP]; /* start offset chosen at the last assignment */
};

/* The real broker's bootstrap list, or NULL (after printing a clear message to stderr). */
const char *lca_kafkatest_bootstrap(void);

/* Writes "<prefix>-<pid>-<time>-<counter>" into buf. */
void lca_kafkatest_unique(char *buf, size_t len, const char *prefix);

/* Zeroes the store. */
void lca_kafkatest_store_init(struct lca_kafkatest_store *s);

/* Records next offset for (topic, partition); fail = 1 makes its lookup fail instead. */
void lca_kafkatest_store_put(struct lca_kafkatest_store *s, const char *topic, int32_t partition,
                             int64_t next_offset, int fail);

/* Hooks over the store (ctx = s), conf = the given property list (may be NULL). */
struct lca_kconsumer_hooks lca_kafkatest_hooks(struct lca_kafkatest_store *s,
                                               const char *const *conf);

/* Polls c until `want` messages are in out[0..*n) or timeout_ms passes (*n may then be less).
 * Returns LCA_FAIL only if a poll fails (err set). cap = capacity of out, >= want. */
int lca_kafkatest_collect(struct lca_kconsumer *c, size_t want, size_t cap, int timeout_ms,
                          struct lca_kmsg *out, size_t *n, struct lca_err *err) LCA_MUST_USE;

/* Polls c (discarding messages, which it releases) for `ms` milliseconds: lets rebalances run. */
int lca_kafkatest_pump(struct lca_kconsumer *c, int ms, struct lca_err *err) LCA_MUST_USE;

#endif
