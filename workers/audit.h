/*
 * audit — proving from the log what the CA did (issue 4, DESIGN.md invariants 2 and 3).
 *
 * Three jobs, all reading the PostgreSQL event log of workers/pgstore.h:
 *
 * 1. Verify (lca_audit_verify). Streams the log (COPY ... TO STDOUT (FORMAT binary) in one
 *    read-only snapshot, planned as an index scan) up to the head recorded in log_head when the
 *    audit starts, and checks in position order (chain only: consecutive ranges on 2 readers,
 *    their seams checked after; full mode: one walk, certificate signatures on 2 threads; see
 *    lca_audit_opts.threads — the report is the single thread's either way):
 *      a. the hash chain: positions gapless from 1, prev_hash(N) = hash(N-1), hash(N) =
 *         SHA-256(prev_hash || payload) (lca_pgstore_chain_hash is the definition; the same
 *         digest is computed here with one reused context), and log_head equal to the last row;
 *      b. (full mode) every payload decodes (lca_event_decode), its type column matches the
 *         payload, and it evolves the state (lca_state_evolve). A CertificateIssued certificate
 *         verifies (X509_verify) under the public key of its issuer's certificate as the log
 *         holds it at that position and carries the serial the event names; an IssuerCreated
 *         certificate verifies under its parent issuer, or under itself when it has no parent
 *         (roots; external intermediates, signed outside the log, are counted as unverifiable);
 *      c. (full mode) every CrlPublished CRL is signed by its issuer (X509_CRL_verify), carries
 *         the event's cRLNumber (RFC 5280 section 5.2.3), and lists exactly the serials the log
 *         holds revoked for that issuer at that position whose certificate had not expired at
 *         the CRL's thisUpdate (section 3.3 lets expired entries go; section 5.1.2.6) — within
 *         its scope: a shard's CRL (event field `shard`) exactly the revocations of the serials
 *         of that shard (engine/crl.h), with a critical IDP naming the shard's URL (5.2.5), an
 *         unsharded CRL no IDP; a delta CRL (delta_base >= 0) carries a critical
 *         deltaCRLIndicator equal to delta_base, which must be the scope's last complete CRL,
 *         and lists exactly the scope's revocations folded after that base (5.2.4); a complete
 *         CRL has no deltaCRLIndicator;
 *      d. (with checkpoints) every signed checkpoint's Ed25519 signature, that all checkpoints
 *         use one log key, and that the log still holds each checkpointed position with the
 *         checkpointed hash: a tail cut below a published checkpoint is named.
 *    The first problem stops the audit; the report names its position and what is wrong.
 *    A problem is a finding, not an error: lca_audit_verify returns LCA_OK with
 *    report.clean = 0. LCA_FAIL means the audit could not run (database down: RETRIABLE).
 *
 * 2. Checkpoints (Certificate Transparency's signed tree heads, RFC 6962 section 3.5). A
 *    dedicated Ed25519 log key, generated once and stored wrapped under the operator's KEK in
 *    ca_keys as LCA_AUDIT_LOG_KEY_ID, signs the canonical msgpack map
 *      {"cluster": str, "hash": bin(32), "position": int, "time": int (Unix s), "v": 1}
 *    Before signing, the checkpointer re-verifies the hash chain from the previous checkpoint
 *    (or from position 1) to the head, so it never vouches for a log it has not checked.
 *    Rows go to the insert-only `checkpoints` table (sql/007); the CLI also publishes them to
 *    Kafka (LCA_AUDIT_CHECKPOINT_TOPIC) as JSON (lca_audit_checkpoint_json).
 *
 * 3. Replay (lca_audit_replay). Folds the log up to a position (or the last event recorded at
 *    or before a time) and writes the CA's state as of then into a directory, byte-identical on
 *    every run (only the log decides the content; maps are built in a fixed order):
 *      state.json                   {position, time}: the point replayed to
 *      roots.json                   trust domain, active root and every issuer (id, name, kind,
 *                                   parent, root, validity, active, retired, indices, PEM)
 *      issuers/<id>.pem             each issuer's certificate
 *      issuers/<id>.chain.pem       its ca_chain (self first), concatenated PEM
 *      revoked.json                 revoked serials: serial, issuer, revoked_at, reason, sorted
 *      certificates.json            certificates valid at the replay time (not revoked, not
 *                                   expired), sorted by serial
 *      crls/<issuer_id>.crl         the DER of the issuer's last complete CrlPublished then
 *      crls/<issuer_id>.delta.crl   its last delta CRL (when deltas were published)
 *      crls/<issuer_id>/<k>.crl     sharded issuers: shard k's last complete CRL (and
 *                                   <k>.delta.crl), the paths of lca_crl_path (engine/crl.h)
 *    "time" is the requested time, or the recorded_at of the last event folded for --to POS.
 *
 * Thread: one audit per struct lca_pgstore at a time (the store is not thread-safe). An audit
 * or replay starts its own threads (and, for a split read, extra connections with the store's
 * parameters) and joins them before it returns; the progress callback runs on the caller's
 * thread.
 */
#ifndef LCA_AUDIT_H
#define LCA_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct lca_pgstore;

#define LCA_AUDIT_LOG_KEY_ID "log-checkpoint-key"
#define LCA_AUDIT_CHECKPOINT_TOPIC "ledgerca.checkpoints"

/* What lca_audit_verify found. Filled on LCA_OK. */
struct lca_audit_report {
    int64_t events;       /* events checked (chain at least) */
    int64_t certificates; /* certificate signatures verified (issued and issuer certificates) */
    int64_t unverifiable; /* certificates that could not be checked (external, no parent) */
    int64_t crls;         /* CRLs verified (signature and exact revoked set) */
    int64_t crl_refusals; /* CrlBuildFailed events (max_crl_entries guard): recorded outcomes,
                             not problems; the CLI prints the count */
    int64_t checkpoints;  /* checkpoints verified (signature and log position) */
    int64_t head;         /* log_head position when the audit started */
    int clean;            /* 1: no problem found */
    int64_t bad_position; /* position of the first problem (0 when clean) */
    char problem[512];    /* what is wrong there ("" when clean) */
};

struct lca_audit_opts {
    int chain_only;  /* 1: hash chain (a) only, no decoding or signatures */
    int checkpoints; /* 1: also check the checkpoints table (d) */
    const uint8_t *log_public_key; /* 32-byte Ed25519 key every checkpoint must be signed
                                      with, or NULL: the first checkpoint's key */
    /* Called about every 64k events and at the end (may be NULL): position reached, head. */
    void (*progress)(void *ctx, int64_t position, int64_t head);
    void *progress_ctx;
    /* Threads (0: 2, at most 8). Chain only: that many readers, each with its own connection
     * and server backend, check consecutive ranges of the log from one snapshot (when each
     * range holds at least split_min events). Full mode: one walk in order, and that many
     * threads verify the certificate signatures it hands out. Either way the report is the
     * one a single thread would give: the lowest position with a problem. */
    int threads;
    int64_t split_min; /* 0: 65536 (a test lowers it to split small logs) */
};

/*
 * Audits the log of `store` (see the file comment). `o` may be NULL (full mode, no
 * checkpoints). Returns LCA_OK when the audit ran, with *rep telling whether the log is clean;
 * LCA_FAIL (err set) when it could not run: RETRIABLE for the database, FATAL for OpenSSL or
 * memory, BAD_INPUT "no_checkpoints_table" when checkpoints are asked for and sql/007 is
 * missing.
 */
int lca_audit_verify(struct lca_pgstore *store, const struct lca_audit_opts *o,
                     struct lca_audit_report *rep, struct lca_err *err) LCA_MUST_USE;

/* ---- checkpoints ------------------------------------------------------------------------- */

/* The Ed25519 log key. Opaque; the private key lives only in memory (wiped on free). */
struct lca_audit_logkey;

/*
 * Loads the log key from ca_keys (unwrapping it with kek), generating and storing it first if
 * it does not exist (a concurrent creator wins: its key is loaded). *out set only on success.
 * Errors: FATAL when the stored key does not unwrap (wrong KEK) or is not Ed25519; RETRIABLE
 * for the database.
 */
int lca_audit_logkey_load(struct lca_pgstore *store, const uint8_t kek[32],
                          struct lca_audit_logkey **out, struct lca_err *err) LCA_MUST_USE;

/* NULL-safe. */
void lca_audit_logkey_free(struct lca_audit_logkey *k);

/* The raw 32-byte Ed25519 public key (RFC 8032), to pin or publish. */
void lca_audit_logkey_public(const struct lca_audit_logkey *k, uint8_t pub[32]);

/* One signed checkpoint. */
struct lca_audit_checkpoint {
    int64_t id;         /* row id in `checkpoints` */
    int64_t position;   /* log position signed (0: empty log) */
    uint8_t hash[32];   /* chain hash at that position */
    int64_t time;       /* signing time, Unix seconds */
    char cluster[64];   /* cluster id */
    uint8_t pub[32];    /* Ed25519 public key */
    uint8_t sig[64];    /* Ed25519 signature over the canonical body (file comment) */
};

/*
 * Signs the current head of the log and appends the checkpoint to `checkpoints`. `now` is
 * the signing time (Unix seconds), `cluster` the cluster id (1..63 bytes). The chain from the
 * last checkpoint (or position 1) to the head is verified first. If the head has not moved
 * since the last checkpoint, nothing is written and *out is that checkpoint (*wrote = 0).
 * *out and *wrote set only on success. Errors: BAD_INPUT "chain_broken" (with the position)
 * when the log fails verification; RETRIABLE for the database; FATAL for OpenSSL.
 */
int lca_audit_checkpoint(struct lca_pgstore *store, const struct lca_audit_logkey *k,
                         const char *cluster, int64_t now, struct lca_audit_checkpoint *out,
                         int *wrote, struct lca_err *err) LCA_MUST_USE;

/*
 * The checkpoint as a compact JSON object (the Kafka message value):
 * {"cluster","position","hash" (hex),"time","public_key" (hex),"signature" (hex),
 *  "body" (base64 of the signed bytes)}. *out malloc'd (free()), set only on success.
 */
int lca_audit_checkpoint_json(const struct lca_audit_checkpoint *cp, char **out, size_t *len,
                              struct lca_err *err) LCA_MUST_USE;

/* ---- replay -------------------------------------------------------------------------------- */

/*
 * Folds the log up to position `to_pos` (> 0), or, when to_pos is 0, up to the last event
 * recorded at or before `to_time` (Unix seconds), and writes the files of the file comment into
 * `dir` (created if missing; it must be empty or absent, so no stale file survives).
 * *position_out (may be NULL) receives the position replayed to, only on success.
 * Errors: BAD_INPUT "bad_target" (position beyond the head, or time before the first event),
 * "dir_not_empty", "write" (I/O, with the path); FATAL for a log that does not fold (run
 * audit verify); RETRIABLE for the database.
 */
int lca_audit_replay(struct lca_pgstore *store, int64_t to_pos, int64_t to_time, const char *dir,
                     int64_t *position_out, struct lca_err *err) LCA_MUST_USE;

#endif
