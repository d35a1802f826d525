/*
 * replicate — Vault's performance-replication model for ledgerca (seed 003, "Cluster
 * Scalability" / "Certificate Storage"): a secondary cluster's own event log receives the
 * CA-wide events of the primary's log, byte for byte, so the secondary's signers fold the same
 * configuration, issuers and roles, while leaves, revocations and CRLs stay local.
 *
 * The loop (one process beside a secondary's signers):
 *   1. read the cursor: the primary position up to which the primary log was consumed, stored
 *      in the secondary's consumer_offsets as (group "replicate-<primary>", topic "events",
 *      partition 0, next_offset = the next primary position to read);
 *   2. read up to max_events primary events after it (never splitting one command's events
 *      across two batches);
 *   3. keep the CA-wide ones (lca_replicate_is_ca_wide): for each primary command that has any,
 *      one batch command with the SAME command id and the SAME canonical payload bytes (so
 *      `audit verify` on the secondary checks them like any event), stream "ca" numbered after
 *      the secondary's own "ca" stream (which also holds the secondary's local CA events, e.g.
 *      its Consul-model intermediate); the recorded reply is {"status": "replicated", ...};
 *   4. copy the wrapped CA key of every replicated IssuerCreated from the primary's ca_keys to
 *      the secondary's (insert-only, same bytes: it is wrapped under the KEK both clusters
 *      share, as Vault replicates its keyring; keys never cross Kafka), BEFORE the event is
 *      appended; with a KEK file, each copied key is unwrapped once to prove the secondary's
 *      signers will be able to use it;
 *   5. commit the events and the moved cursor in ONE transaction (lca_pgstore_commit_batch), so
 *      a kill at any point neither loses nor duplicates an event.
 * A cursor at 0 (a cluster added later) catches up from the primary's first event. Two
 * replicators of one secondary are safe (the second finds the command ids recorded and the
 * stream versions taken) but pointless.
 *
 * What is replicated and why: ConfigUpdated (the CA configuration and trust domain),
 * IssuerCreated, RootActivated, IssuerUpdated (the issuers: one trust bundle everywhere),
 * RoleWritten, RoleDeleted (one policy everywhere). Not replicated: CertificateIssued,
 * CertificateRevoked, CrlPublished (per-cluster storage and CRLs, as in Vault; the aggregator
 * unifies CRLs), CommandRejected (a denial belongs to the log that judged it), and Tidied: its
 * serials are the primary's own leaves, unknown to the secondary, and whether an issuer may
 * leave the roots list depends on every leaf it signed having expired — which each cluster
 * judges from its own leaves with its own `tidy`.
 *
 * Errors: FATAL for a primary that is not the named cluster, a secondary log that already has
 * a root of its own while its cursor is 0, a key the primary's key store lacks, a key the KEK
 * does not open; RETRIABLE (retried with back-off inside the loop) for database outages and
 * stream conflicts with the secondary's signers.
 * Thread: the calling thread only.
 */
#ifndef LCA_REPLICATE_H
#define LCA_REPLICATE_H

#include <signal.h>
#include <stddef.h>

#include "err.h"

struct lca_replicate_opts {
    const char *pg_uri;         /* the secondary's log (written) */
    const char *cluster;        /* the secondary's cluster id, e.g. "dc2" */
    const char *primary_pg_uri; /* the primary's log (read only: events, ca_keys) */
    const char *primary;        /* the primary's cluster id (NULL: "dc1"); checked against the
                                   cluster column of the primary's events */
    const char *kek_file;       /* NULL: copy wrapped keys without opening them */
    size_t max_events;          /* primary events read per batch (0: 1000) */
    int poll_ms;                /* wait between polls when caught up (0: 500 ms) */
    int once;                   /* 1: return once caught up with the primary's head */
    volatile sig_atomic_t *stop; /* set by the signal handler: the batch finishes, then return */
};

/* Runs the loop. LCA_OK when stopped or (once) caught up; LCA_FAIL with err on a fatal error. */
int lca_replicate_run(const struct lca_replicate_opts *o, struct lca_err *err) LCA_MUST_USE;

/* 1 if events of this type (types.def name) are CA-wide, i.e. replicated. */
int lca_replicate_is_ca_wide(const char *type);

#endif
