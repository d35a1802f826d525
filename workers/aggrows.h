/*
 * aggrows — the aggregator's rows of one batch, written with a few statements (README
 * "Multi-cluster"; aggregator.h).
 *
 * The aggregator folds a Kafka poll batch message by message (projections/fedlog.h) and adds
 * each change here instead of sending a statement per row; lca_aggrows_write then sends, inside
 * the caller's transaction, one INSERT ... SELECT FROM unnest(array parameters) per table that
 * has rows, in this order (each statement sees the rows of the ones before it):
 *   1. agg_issuers        (IssuerCreated; the first row of an issuer wins, as ON CONFLICT DO
 *                          NOTHING kept the first cluster seen)
 *   2. agg_certs          (CertificateIssued; the first row of a serial wins)
 *   3. agg_revocations    (CertificateRevoked; not_after from the certificate's row when it
 *                          came earlier in the batch, else from agg_certs, which now holds the
 *                          batch's certificates too, else 0), and agg_issuers.rev_count
 *                          raised by the revocations actually inserted (a revocation already
 *                          stored, or twice in the batch, counts once)
 *   4. agg_cluster_crls   (the latest CRL per cluster and issuer; an older number never
 *                          replaces a newer one)
 *   5. agg_clusters       (the cursors that moved)
 *   6. consumer_offsets   (the batch's next offsets; never moved back)
 * So the batch's rows and its offsets commit or roll back together, as with one statement a row.
 * Strings and bytes are copied when added: the change's borrowed pointers may die after the add.
 * Thread: the aggregator's; the store is borrowed.
 */
#ifndef LCA_AGGROWS_H
#define LCA_AGGROWS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "fedlog.h"
#include "pgexec.h"
#include "pgstore.h"

#define LCA_AGGROWS_MAX_STMTS 6 /* one per table */

struct lca_aggrows;

/* Per-table row counts added since the last reset (tests, logs). */
struct lca_aggrows_counts {
    size_t issuers, certs, revocations, crls, cursors, offsets;
};

int lca_aggrows_new(struct lca_aggrows **out, struct lca_err *err) LCA_MUST_USE;

/* NULL-safe. */
void lca_aggrows_free(struct lca_aggrows *r);

/* Forgets every row added (keeps the memory for the next batch). */
void lca_aggrows_reset(struct lca_aggrows *r);

/* Adds the row a fold change implies: ISSUER, ISSUED and REVOKED; other kinds (NONE, CRL,
 * duplicates) add nothing. cluster: the event's cluster. An allocation failure is reported by
 * lca_aggrows_write. */
void lca_aggrows_add_change(struct lca_aggrows *r, const char *cluster,
                            const struct lca_fedlog_change *c);

/* A cluster's cursor after the batch (at most one per cluster: the caller's duty). */
void lca_aggrows_add_cursor(struct lca_aggrows *r, const char *cluster,
                            const struct lca_fedlog_cursor *cur);

/* A cluster's latest CRL of an issuer (at most one per cluster and issuer). */
void lca_aggrows_add_crl(struct lca_aggrows *r, const char *cluster, const char *issuer_id,
                         int64_t crl_number, const uint8_t *der, size_t len, int64_t this_update,
                         int64_t next_update);

/* The next offset to consume of a partition, for consumer group `group`. */
void lca_aggrows_add_offset(struct lca_aggrows *r, const char *group, const char *topic,
                            int32_t partition, int64_t next_offset);

void lca_aggrows_counts(const struct lca_aggrows *r, struct lca_aggrows_counts *out);

/* The statements that write the rows (see the file comment), in order, one per table that has
 * rows, for the caller to run (e.g. in one lca_pgexec_pipeline between its BEGIN and COMMIT).
 * They borrow r's buffers: valid until the next add, reset or free. Errors: FATAL "oom" (an add
 * failed), FATAL "too_large". */
int lca_aggrows_stmts(struct lca_aggrows *r, struct lca_pgexec_stmt out[LCA_AGGROWS_MAX_STMTS],
                      size_t *n, struct lca_err *err) LCA_MUST_USE;

/* Runs those statements in one pipeline inside the caller's open transaction; the rows stay
 * until lca_aggrows_reset. Errors: lca_aggrows_stmts's, and the store's classification of
 * PostgreSQL errors (RETRIABLE: roll back and retry the batch). */
int lca_aggrows_write(struct lca_aggrows *r, struct lca_pgstore *store,
                      struct lca_err *err) LCA_MUST_USE;

#endif
