/*
 * relay — `ledgerca relay`: publishes a cluster's event log to Kafka for the other clusters.
 *
 * Tails the `events` table of this cluster's database by position and produces each event to
 * topic ledgerca.events.<cluster> (one partition, so Kafka keeps the log's order; created when
 * missing) with the idempotent producer, as the message of projections/fedlog.h (key: the
 * position in decimal; header content-type: application/msgpack; value: the canonical msgpack
 * map carrying the event's exact payload bytes and both chain hashes).
 * Its cursor, the last position Kafka acknowledged, is the row of `relay_cursor`
 * (sql/010_federation.sql) for this cluster; it moves only after a flush confirmed every
 * message of a page. Delivery is therefore at-least-once: after a crash the events since the
 * cursor are sent again and consumers drop them by position (lca_fedlog_apply).
 * SIGTERM/SIGINT (the stop flag): the page in flight is flushed and its cursor stored, then it
 * returns. Thread: the calling thread only.
 */
#ifndef LCA_RELAY_H
#define LCA_RELAY_H

#include <signal.h>
#include <stddef.h>

#include "err.h"

struct lca_relay_opts {
    const char *bootstrap; /* Kafka bootstrap servers */
    const char *pg_uri;    /* this cluster's database */
    const char *cluster;   /* cluster id: names the topic and the cursor row */
    size_t max_batch;      /* events per page (0: 1000) */
    int poll_ms;           /* pause when caught up (0: 100 ms) */
    int once;              /* 1: deliver everything committed so far, then return */
    volatile sig_atomic_t *stop; /* set by the signal handler */
};

/* Runs the relay. LCA_OK when stopped (or caught up with once); LCA_FAIL with err otherwise:
 * RETRIABLE failures (database or Kafka down) are retried inside unless once is set. */
int lca_relay_run(const struct lca_relay_opts *o, struct lca_err *err) LCA_MUST_USE;

#endif
