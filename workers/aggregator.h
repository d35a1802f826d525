/*
 * aggregator — `ledgerca aggregator`: every cluster's events in, unified CRLs and cross-cluster
 * revocation out (README "Multi-cluster").
 *
 * Consumes ledgerca.events.<cluster> of every cluster (a regex subscription
 * ^ledgerca\.events\..* , so a cluster added later is picked up and read from its first event;
 * or an explicit list) and ledgerca.revoke-forward, as consumer group `group`. Per batch of
 * messages, ONE transaction in the aggregator's database holds the fold's results and the
 * consumed offsets (consumer_offsets); on partition assignment the consumer seeks to the offsets
 * stored there, so a crash anywhere converges after a restart to the same tables. The batch is
 * folded in memory and its rows written with one statement per table in one pipeline with its
 * BEGIN and COMMIT (workers/aggrows.h).
 *
 * Events are folded by projections/fedlog.h per cluster (cursor = position + hash, verifying
 * continuity): duplicates are dropped, a gap, a broken chain or a bad hash is refused (logged;
 * the cluster's cursor stays, so the relay's re-delivery of the right event continues it).
 * Rows: agg_clusters (cursor), agg_issuers, agg_certs (serial -> owning cluster),
 * agg_revocations, agg_cluster_crls (each cluster's own latest CRL). Unified CRLs are rebuilt
 * (workers/aggcrl.h) at most every crl_interval_ms for issuers whose revocations changed.
 *
 * Forwarded revocations (signer --forward-revocations): recorded once per command id in
 * agg_forwards with the high watermarks of every events topic at arrival (its "horizon"). When
 * a cluster issued the serial, the command is produced once to ledgerca.commands.revoke.<owner>
 * (header forwarded-from), and the owner replies to the client. When no cluster did, once the
 * aggregator has consumed every events topic up to the horizon, one `rejected` reply with code
 * `unknown_serial` goes to the command's reply_to, keyed by its correlation id. The forwarded
 * command's bytes (they carry the client's token) are erased from the row once sent.
 * SIGTERM/SIGINT: the batch in progress commits, the consumer leaves the group.
 * Thread: the calling thread only.
 */
#ifndef LCA_AGGREGATOR_H
#define LCA_AGGREGATOR_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct lca_aggregator_opts {
    const char *bootstrap;   /* Kafka bootstrap servers */
    const char *pg_uri;      /* the primary cluster's database (ca_keys, agg_* tables) */
    const char *kek_file;    /* KEK that wraps the issuers' keys in ca_keys */
    const char *clusters;    /* NULL: regex subscription; else "dc1,dc2,..." */
    const char *group;       /* consumer group; NULL: "ledgerca-aggregator" */
    const char *crl_dir;     /* NULL: no files */
    const char *url_base;    /* base of the unified CRL's distribution point URL */
    int crl_interval_ms;     /* at most one unified CRL build per issuer per interval (0: 500) */
    size_t max_batch;        /* messages per transaction (0: 1000) */
    int once;                /* tests: stop after idle_ms without messages and no open forward */
    int idle_ms;             /* with once (0: 3000) */
    volatile sig_atomic_t *stop;
};

int lca_aggregator_run(const struct lca_aggregator_opts *o, struct lca_err *err) LCA_MUST_USE;

#endif
