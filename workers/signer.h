/*
 * signer — the signing worker: Kafka commands in, hash-chained events in PostgreSQL out.
 *
 * One loop per process (signers scale out as one consumer group, cooperative-sticky):
 *   1. poll a batch of commands (ledgerca.commands.issue/.revoke/.admin);
 *   2. catch up with the log (events other signers appended), then for each command:
 *      parse (undecodable -> ledgerca.dead-letter with the reason in a header), decide
 *      against the in-memory state, evolve it, and add to one pgbatch the command's events
 *      (each with its stream version, so two signers cannot both take a decision that
 *      conflicts), its reply (dedupe row) and an outbox row that refers to that reply;
 *   3. hand the batch to the commit thread (workers/commit_pipeline.h), which commits it in
 *      ONE PostgreSQL transaction together with the consumed offsets, then produces the
 *      replies from memory (keyed by correlation id) without waiting for Kafka's
 *      acknowledgement; once acknowledged, their outbox rows are marked published in a later
 *      batch's transaction (or at once when the signer is idle, after a flush); the offsets
 *      also go to Kafka as a secondary record.
 * Steps 1-2 of batch N+1 run while step 3 of batch N runs (depth 1): N+1 is decided on the
 * state that already holds N's effects; if N's commit fails, or finds commands that were
 * recorded before (duplicates: the in-memory state got a second copy), the state is rebuilt
 * from the log and N+1 is decided again before it is committed.
 * On partition assignment the consumer seeks to the offsets stored in PostgreSQL, so a crash
 * before the commit redelivers (nothing was recorded), a crash after it does not (the offsets
 * moved with the events), and a crash before the replies were acknowledged is repaired by
 * the outbox relay at the next start. A redelivered command that is already recorded
 * re-sends its recorded reply and appends nothing (DESIGN.md invariant 1).
 * Authorization: each command's token is resolved to a persona (workers/tokens.h, cached for
 * 30 s) and checked against seed 003's table (engine/authz.h); a denial is a rejection reply
 * and a CommandRejected event, like any policy denial.
 * On a failed commit (database down, stream conflict) the in-memory state is rebuilt from the
 * log and the same messages are decided again; RETRIABLE errors back off and retry.
 * SIGTERM/SIGINT (the stop flag): the current batch finishes, the consumer leaves the group.
 * Thread: lca_signer_run uses the calling thread and starts one commit thread of its own.
 */
#ifndef LCA_SIGNER_H
#define LCA_SIGNER_H

#include <signal.h>
#include <stddef.h>

#include "err.h"

struct lca_signer_opts {
    const char *bootstrap; /* Kafka bootstrap servers */
    const char *pg_uri;    /* PostgreSQL of this cluster's log */
    const char *cluster;   /* cluster id, e.g. "dc1" */
    const char *kek_file;  /* operator key-encryption key (LEDGERCA_KEK_FILE) */
    const char *group;     /* consumer group; NULL: "ledgerca-signer-<cluster>" */
    const char *topic_suffix; /* appended to the three command topics (NULL or "": none), e.g.
                                 ".dc2" when several clusters share one Kafka: each cluster's
                                 signers then consume ledgerca.commands.<kind>.dc2 only; the
                                 topics are created when missing */
    size_t max_batch;      /* commands per transaction (0: 500) */
    int poll_ms;           /* wait for a first message (0: 50 ms) */
    int no_bootstrap;      /* 1: do not create a root when the log has none */
    const char *secondary_of; /* NULL: a primary (or standalone) cluster. "dc1": a secondary of
                                 dc1 — no bootstrap of its own root (the CLI sets
                                 no_bootstrap with it), and the CA-wide commands
                                 (config.update, rotate, cross-sign, reissue, issuer.update,
                                 role.write, role.delete, sign-intermediate) are rejected
                                 ("secondary_cluster", recorded as CommandRejected) */
    int no_auth;           /* 1: skip token checks (every command acts as Operator) — for
                              isolated test set-ups only; the default checks every token */
    int forward_revocations; /* 1: a revoke of a serial this cluster never issued goes to
                                ledgerca.revoke-forward (RevocationForwarded) instead of a
                                not_found rejection; see signer.c */
    volatile sig_atomic_t *stop; /* set by the signal handler */
};

/* Runs until *stop is set (returns LCA_OK) or a fatal error (LCA_FAIL, err filled). */
int lca_signer_run(const struct lca_signer_opts *o, struct lca_err *err) LCA_MUST_USE;

/* Rebuilds a state from the whole log of `store` (also used by the projector and tests). */
struct lca_pgstore;
struct lca_state;
int lca_signer_load_state(struct lca_pgstore *store, struct lca_state **out,
                          struct lca_err *err) LCA_MUST_USE;

#endif
