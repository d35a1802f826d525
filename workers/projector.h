/*
 * projector — the projection worker: tails the event log and maintains the read models.
 *
 * The projector folds the log into its own struct lca_state and, per batch of events, writes
 * in ONE PostgreSQL transaction (sql/005_read_models.sql):
 *   - rm_certs rows (insert on CertificateIssued, revocation on CertificateRevoked, delete on
 *     Tidied) and rm_crls (the latest CRL per issuer), from projections/certview.h;
 *   - rm_roots (Consul's roots document, projections/roots.h) and every rm_issuers row (Vault's
 *     issuer view, projections/issuerview.h) when an event of the batch affects them;
 *   - rm_position, the cursor: the position of the batch's last event.
 * Rows and cursor therefore move together: a crash or a failed statement rolls the whole
 * batch back and the next run starts again after the stored cursor. Every row is a function
 * of the events up to the cursor (never of batch boundaries or wall-clock time), so a rebuild
 * from position 0 gives the same tables as tailing (DESIGN.md invariant 3).
 *
 * Reading never skips an event: the log's writer serializes appends (workers/pgstore.h), so
 * `position > cursor ORDER BY position` always sees a gapless prefix. The projector polls every
 * poll_ms when it has caught up.
 *
 * CRL files: with crl_dir, after each commit the projector writes the latest CRL of each issuer
 * whose CRL changed to <crl_dir>/<issuer_id>.crl (DER) and .pem, each atomically (temporary
 * file, fsync, rename). At start it rewrites every file from rm_crls, so a crash between the
 * commit and the file write is repaired by the next start.
 *
 * On failure inside a batch the in-memory state (already evolved) is rebuilt from the log up to
 * the stored cursor before anything else happens. RETRIABLE errors (database unreachable) back
 * off and retry unless `once`; BAD_INPUT (an undecodable or inconsistent event) and FATAL stop.
 * Thread: the calling thread only; the stop flag may be set from a signal handler.
 */
#ifndef LCA_PROJECTOR_H
#define LCA_PROJECTOR_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Test hook: called inside the batch transaction after the rows of the event at `position`
 * were written; LCA_FAIL (with err set) aborts and rolls back the batch. */
typedef int lca_projector_hook(void *ctx, int64_t position, struct lca_err *err);

struct lca_projector_opts {
    const char *pg_uri;    /* PostgreSQL of this cluster's log and read models */
    const char *cluster;   /* cluster id (NULL: "dc1"), for the store and the logs */
    const char *crl_dir;   /* NULL: no CRL files */
    int rebuild;           /* 1: empty the read models and replay from position 0 */
    int once;              /* 1: catch up with the log, then return */
    size_t max_batch;      /* events per transaction (0: 1000) */
    int poll_ms;           /* pause when caught up (0: 100 ms) */
    volatile sig_atomic_t *stop; /* NULL or set by a signal handler: finish the batch, return */
    lca_projector_hook *hook;    /* tests only; NULL in production */
    void *hook_ctx;
};

/* Runs the projector (see the file comment). Returns LCA_OK when caught up (once) or stopped,
 * LCA_FAIL with err set otherwise (with once, any failure of a batch is returned at once). */
int lca_projector_run(const struct lca_projector_opts *o, struct lca_err *err) LCA_MUST_USE;

#endif
