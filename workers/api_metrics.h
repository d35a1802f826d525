/*
 * api_metrics — `GET /v1/sys/metrics?format=prometheus` of `ledgerca api` (seed 003, "Telemetry"):
 * count and duration of issue, sign, sign-verbatim and revoke by role, issuer and cluster, with
 * failures counted apart; the signer's consumer lag on the command topics (high watermark in
 * Kafka minus the next offset the signer stored in PostgreSQL with its events); the projector's
 * lag (log head minus the read models' position). Threads: every function may be called from
 * any number of threads at once.
 */
#ifndef LCA_API_METRICS_H
#define LCA_API_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "api_facade.h"
#include "api_write.h"
#include "err.h"

struct lca_api_metrics;

/* cluster: the cluster label; group: the signer's consumer group whose lag is reported;
 * bootstrap: Kafka, asked once for the command topics' partition counts. */
int lca_api_metrics_new(const char *cluster, const char *group, const char *bootstrap,
                        struct lca_api_metrics **out, struct lca_err *err) LCA_MUST_USE;
void lca_api_metrics_free(struct lca_api_metrics *m);
/* The command topics' suffix for the lag metric (signer --topic-suffix); NULL: none. */
void lca_api_metrics_set_topic_suffix(struct lca_api_metrics *m, const char *suffix);

/* One measured PKI call (c->op non-NULL) that took secs. */
void lca_api_metrics_record(struct lca_api_metrics *m, const struct lca_api_call *c, double secs);

/* One HTTP request served. */
void lca_api_metrics_request(struct lca_api_metrics *m);

/* Renders the exposition text (malloc'd, *len bytes). pg: a connection for the stored offsets
 * (NULL: lag not reported); f: the facade whose producer asks Kafka for high watermarks;
 * head/position: the log head and the read models' position. NULL when out of memory. */
char *lca_api_metrics_render(struct lca_api_metrics *m, PGconn *pg, struct lca_api_facade *f,
                             int64_t head, int64_t position, size_t *len);

#endif
