/*
 * api — `ledgerca api`: Consul's CA and Vault's PKI HTTP APIs over the event log.
 *
 * Reads come from the read models (workers/api_view.h, kept current by `ledgerca projector`);
 * writes become the same Kafka commands as every other client's (workers/api_facade.h) and
 * are answered with the command's reply, so the event log stays the only path to a change.
 * Tokens (X-Vault-Token or Authorization: Bearer) resolve to seed 003's personas
 * (workers/tokens.h); reads are checked against seed 003's path table here, writes against
 * engine/authz.h here first (a 403 without a round trip) and again by the signer.
 * Routes, shapes and status codes: see the table at the top of api.c.
 */
#ifndef LCA_API_H
#define LCA_API_H

#include <signal.h>

#include "err.h"

struct lca_api_opts {
    const char *listen;    /* "127.0.0.1:8200"; port 0 picks one (logged as "api ready") */
    const char *pg_uri;    /* PostgreSQL of this cluster (read models, tokens) */
    const char *bootstrap; /* Kafka bootstrap servers */
    const char *cluster;   /* cluster id (metrics label, store); NULL: "dc1" */
    const char *signer_group; /* the signers' consumer group (lag metric); NULL: the default */
    const char *topic_suffix; /* the signers' command-topic suffix (signer --topic-suffix, e.g.
                                 ".dc2"); NULL or "": none */
    int timeout_ms;        /* how long a write waits for its reply (0: 30 s) */
    unsigned conn_timeout_s; /* idle connection timeout (0: 30 s) */
    volatile sig_atomic_t *stop; /* set by a signal handler: stop serving and return */
    unsigned *port_out;          /* optional: the bound port, set before *ready */
    volatile sig_atomic_t *ready; /* optional: set to 1 once the listener accepts connections */
};

/* Serves until *stop is set. Errors: those of the view, the facade or the listener at start. */
int lca_api_run(const struct lca_api_opts *o, struct lca_err *err) LCA_MUST_USE;

#endif
