/*
 * api_view — the read side of `ledgerca api`: an in-memory snapshot of the read models,
 * refreshed from PostgreSQL by one background thread.
 *
 * Every ~50 ms the thread reads rm_position and the log head. When the projector's cursor
 * moved it loads, in one REPEATABLE READ transaction (so the rows match one cursor value, as
 * the projector commits rows and cursor together): rm_roots (Consul's document, verbatim),
 * every rm_issuers row and every rm_crls row (each issuer's CRL of every scope: complete,
 * delta, each shard's); and it folds the events up to that cursor into
 * its own struct lca_state for what has no table (the roles, the CA configuration, the default
 * issuer, the last tidy). It then publishes a new immutable snapshot and wakes every waiter
 * (Consul blocking queries). Requests therefore never touch PostgreSQL for these reads.
 *
 * Snapshots are reference-counted: lca_api_view_get returns one the caller must hand back with
 * lca_api_view_put; its contents never change.
 * Threads: every function may be called from any thread.
 */
#ifndef LCA_API_VIEW_H
#define LCA_API_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* One CRL of an issuer's snapshot: an rm_crls row (sql/009_crl_scale.sql). */
struct lca_api_crl {
    char scope[24];     /* "" complete, "delta", "k" shard k's complete, "k.delta" its delta */
    unsigned char *der; /* owned */
    size_t len;
};

/* One issuer of the snapshot (rm_issuers + rm_crls). */
struct lca_api_issuer {
    char id[40];          /* issuer_id (UUID) */
    char name[130];       /* issuer_name, "" when none */
    char *doc;            /* Vault's read-issuer JSON (projections/issuerview.h) */
    char *pem;            /* the issuer certificate */
    char *chain_pem;      /* ca_chain concatenated, the issuer first */
    unsigned char *crl;   /* its latest CRL (DER), NULL when none */
    size_t crl_len;
    unsigned char *ucrl;  /* its unified CRL across clusters (DER, agg_unified_crls of
                             `ledgerca aggregator`), NULL when none */
    size_t ucrl_len;
    struct lca_api_crl *crls; /* every scope's latest CRL (rm_crls), sorted by scope */
    size_t n_crls;
    unsigned crl_shards;      /* 0: unsharded; else its shard count (issuer.update crl_shards) */
};

struct lca_api_snap {
    int64_t position;       /* rm_position: the read models reflect events 1..position */
    char *roots_doc;        /* rm_roots.doc, NULL before the first root */
    int64_t roots_index;    /* rm_roots.position (X-Consul-Index) */
    struct lca_api_issuer *iss;
    size_t n_iss;
    char default_id[40];    /* the default (leaf-signing) issuer id, "" when none */
    char **role_names;      /* sorted */
    char **role_docs;       /* Vault role JSON, same order */
    size_t n_roles;
    char *config_doc;       /* the CA configuration (flat normalized map) as JSON; NULL */
    int64_t config_index;   /* position of the last ConfigUpdated ("CA" stream) */
    int64_t tidy_at_us;     /* recorded_at of the last Tidied event, 0 when none */
    int64_t unified_version; /* sum of the unified CRL numbers: a new one reloads the snapshot */
    char **crl_paths;       /* URL paths ("" or "/a/b", no trailing slash) of the CRL base URLs
                               certificates name: the configuration's CrlBaseURL and every
                               issuer's crl_base_url, without duplicates (workers/api_crl.h) */
    size_t n_crl_paths;
    int refs;               /* managed by the view */
};

struct lca_api_view;

/* Connects to pg_uri, loads a first snapshot and starts the refresh thread (poll_ms, 0: 50).
 * Errors: RETRIABLE when PostgreSQL is unreachable, FATAL otherwise. */
int lca_api_view_new(const char *pg_uri, const char *cluster, int poll_ms,
                     struct lca_api_view **out, struct lca_err *err) LCA_MUST_USE;

/* Stops the thread and frees everything (snapshots still held must be put first). NULL-safe. */
void lca_api_view_free(struct lca_api_view *v);

/* The current snapshot (never NULL), to be released with lca_api_view_put. */
const struct lca_api_snap *lca_api_view_get(struct lca_api_view *v);
void lca_api_view_put(struct lca_api_view *v, const struct lca_api_snap *s);

/* Waits until the roots document's index exceeds `index` or timeout_ms passes; returns the
 * snapshot then current (release with lca_api_view_put). */
const struct lca_api_snap *lca_api_view_wait_roots(struct lca_api_view *v, int64_t index,
                                                   int timeout_ms);

/* Waits until the read models reflect the log up to `position` (read-your-writes after a
 * command) or timeout_ms passes; 1 when reached. */
int lca_api_view_wait_position(struct lca_api_view *v, int64_t position, int timeout_ms);

/* The log head as last seen (for the projector-lag metric) and whether the last refresh
 * failed (1) — health. */
int64_t lca_api_view_head(struct lca_api_view *v);
int lca_api_view_stale(struct lca_api_view *v);

/* Finds an issuer of s by id, name or "default"; NULL when none. */
const struct lca_api_issuer *lca_api_view_issuer(const struct lca_api_snap *s, const char *ref);

/* The issuer's latest CRL of `scope` (see struct lca_api_crl); NULL when none was published. */
const struct lca_api_crl *lca_api_view_crl(const struct lca_api_issuer *is, const char *scope);

#endif
