/*
 * api_facade — the synchronous facade of `ledgerca api` over the asynchronous wire contract:
 * a command goes to Kafka like any client's, and the caller waits for its reply.
 *
 * One idempotent producer (shared, guarded by a mutex) and one group-less tail consumer of
 * ledgerca.replies read by a background thread, which hands each reply to the waiter with the
 * same correlation id (the reply's Kafka key). A waiter is registered BEFORE its command is
 * produced and the tail starts at the topic's end before the first command, so no reply can
 * be missed. Replies for no waiter (other clients', late ones) are dropped.
 * Threads: lca_api_facade_call may be called from any number of threads at once.
 */
#ifndef LCA_API_FACADE_H
#define LCA_API_FACADE_H

#include <stdint.h>

#include "err.h"
#include "val.h"

struct lca_api_facade;

/* Connects to bootstrap and starts the reply thread. Errors: RETRIABLE when Kafka or the
 * reply topic is not reachable within 30 s, BAD_INPUT for bad arguments, FATAL otherwise. */
int lca_api_facade_new(const char *bootstrap, struct lca_api_facade **out,
                       struct lca_err *err) LCA_MUST_USE;

/* Commands go to their type's topic followed by suffix (e.g. ".dc2": the signers of cluster
 * dc2, see signer --topic-suffix). NULL or "" restores none. Call before the first command.
 * Errors: BAD_INPUT when suffix is longer than 64 bytes. */
int lca_api_facade_set_topic_suffix(struct lca_api_facade *f, const char *suffix,
                                    struct lca_err *err) LCA_MUST_USE;

/* Stops the thread, frees everything. NULL-safe. */
void lca_api_facade_free(struct lca_api_facade *f);

/* Sends a command envelope (a map with command_id, type, correlation_id, token, payload; the
 * caller's, borrowed) on the topic of its type and waits up to timeout_ms for its reply.
 * *reply (a map, caller frees) set only on success. Errors: RETRIABLE "timeout" when no reply
 * came, or Kafka's errors when the command could not be queued. */
int lca_api_facade_call(struct lca_api_facade *f, const struct lca_val *envelope,
                        int timeout_ms, struct lca_val **reply, struct lca_err *err) LCA_MUST_USE;

/* The high watermark of topic/partition (Kafka's errors: see lca_kproducer_high_watermark). */
int lca_api_facade_high_watermark(struct lca_api_facade *f, const char *topic, int partition,
                                  int timeout_ms, int64_t *out, struct lca_err *err) LCA_MUST_USE;

#endif
