/*
 * aggfwd — the aggregator's forwarded revocations (README "Multi-cluster"; aggregator.h).
 *
 * A cluster's signer (--forward-revocations) hands a revoke of a serial it never issued to
 * ledgerca.revoke-forward. Each is recorded once per command id in agg_forwards with its
 * "horizon": the high watermark of every events topic the aggregator follows, at arrival.
 *   pending  -> forward  a cluster issued the serial (agg_certs): produce the command once to
 *                        ledgerca.commands.revoke.<owner>, header forwarded-from; the owner
 *                        decides and replies to the client;
 *   pending  -> reject   none did, and the aggregator's stored offsets reached the horizon:
 *                        one `rejected` reply, code unknown_serial, to the command's reply_to
 *                        keyed by its correlation id;
 *   then forwarded / rejected once Kafka acknowledged it; the stored command (it carries the
 *   client's token, which the owner checks) is erased.
 * A crash between Kafka's acknowledgement and the row update sends that one again (the owner's
 * dedupe row keeps its effect single; its reply would then be repeated).
 * Thread: the aggregator's; the store and producer are borrowed from it.
 */
#ifndef LCA_AGGFWD_H
#define LCA_AGGFWD_H

#include <stdint.h>

#include "err.h"
#include "kafka.h"
#include "pgstore.h"

struct lca_aggfwd;

/* group: the aggregator's consumer group (its stored offsets tell how far it has read);
 * clusters: NULL (every ledgerca.events.* topic) or the comma-separated list it follows.
 * Both borrowed. */
int lca_aggfwd_new(struct lca_pgstore *store, struct lca_kproducer *prod, const char *group,
                   const char *clusters, struct lca_aggfwd **out, struct lca_err *err) LCA_MUST_USE;
void lca_aggfwd_free(struct lca_aggfwd *f);

/* One message of ledgerca.revoke-forward, inside the caller's transaction (with the offsets).
 * Malformed messages are logged and dropped (LCA_OK). */
int lca_aggfwd_receive(struct lca_aggfwd *f, const struct lca_kmsg *m,
                       struct lca_err *err) LCA_MUST_USE;

/* pending -> forward | reject (own statements, outside a batch transaction). */
int lca_aggfwd_resolve(struct lca_aggfwd *f, struct lca_err *err) LCA_MUST_USE;

/* Produces every resolved forward or rejection, flushes, marks them done. */
int lca_aggfwd_send(struct lca_aggfwd *f, struct lca_err *err) LCA_MUST_USE;

/* Number of forwards not done yet (pending, forward or reject). */
int lca_aggfwd_open(struct lca_aggfwd *f, long *n, struct lca_err *err) LCA_MUST_USE;

/* Forwards newly recorded by this process. */
uint64_t lca_aggfwd_received(const struct lca_aggfwd *f);

#endif
