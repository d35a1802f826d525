/*
 * audit_int — what the halves of the audit module share (workers/audit.c the verifier,
 * audit_log.c the log reader and hash chain, audit_checkpoint.c the signed checkpoints,
 * audit_replay.c the replay). Not a public interface: only audit*.c include it.
 */
#ifndef LCA_AUDIT_INT_H
#define LCA_AUDIT_INT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "audit.h"
#include "err.h"
#include "pgstore.h"

struct lca_audit_cplist;

#define LCA_AUDIT_HLEN LCA_PGSTORE_HASH_LEN
/* Microseconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01. */
#define LCA_AUDIT_PG_EPOCH_US INT64_C(946684800000000)
/* err->code of a finding: a problem in the log, not a failure to audit it. */
#define LCA_AUDIT_FINDING "audit_finding"
/* Events between progress reports. */
#define LCA_AUDIT_PROGRESS 65536

/* ---- audit_log.c ------------------------------------------------------------------------- */

uint64_t lca_audit_log_be64(const uint8_t *p);
void lca_audit_log_put_be64(uint8_t *p, uint64_t v);

/* Big-endian magnitude without leading zero octets (*len shortened accordingly). */
const uint8_t *lca_audit_log_strip0(const uint8_t *p, size_t *len);

/* Lower-case hex of p[0..n) into out (2n + 1 bytes). */
void lca_audit_log_hex(const uint8_t *p, size_t n, char *out);

/* Records the first problem into rep (clean = 0, position, text) and returns LCA_FAIL with
 * err BAD_INPUT LCA_AUDIT_FINDING, which stops a read; the caller turns it back into LCA_OK. */
int lca_audit_log_finding(struct lca_audit_report *rep, int64_t pos, struct lca_err *err,
                          const char *fmt, ...) LCA_PRINTF(4, 5);

/*
 * Streams the events of (after, upto] in position order to cb (one COPY ... TO STDOUT (FORMAT
 * binary) in a read-only snapshot, planned as an index scan); the lca_pgevent's pointers are
 * valid during the call only, and `stream`/`cluster` are "". A cb failure stops the read and is
 * returned. Errors: RETRIABLE for the database, FATAL "bad_copy"/"bad_row" for a malformed
 * stream.
 */
int lca_audit_log_read(struct lca_pgstore *store, int64_t after, int64_t upto, lca_pgevent_cb *cb,
                       void *ctx, struct lca_err *err) LCA_MUST_USE;

#define LCA_AUDIT_MAX_PARTS 8

/* One part of a split read: a range, its callback, and how the read of it ended. */
struct lca_audit_log_part {
    int64_t after, upto; /* (after, upto] */
    int narrow;          /* 1: only position, payload, prev_hash, hash (type "", time 0) */
    lca_pgevent_cb *cb;  /* called in position order, on the part's own thread */
    void *ctx;
    int rc;             /* out: LCA_OK, or LCA_FAIL with err (a cb failure, the database) */
    struct lca_err err; /* out */
};

/*
 * Reads n (1..LCA_AUDIT_MAX_PARTS) parts at once: part 0 on the calling thread with the store's
 * connection, each other part on its own thread and connection (same parameters), all from
 * one exported snapshot, so the server scans on as many cores. Returns LCA_OK when every part
 * ran (each part's own rc/err says how it ended), LCA_FAIL with err when the read could not be
 * set up (a second connection refused: RETRIABLE). The store must be idle (no transaction).
 */
int lca_audit_log_read_parts(struct lca_pgstore *store, struct lca_audit_log_part *parts, int n,
                             struct lca_err *err) LCA_MUST_USE;

/* The hash chain (audit.h, check a): the last position checked and its hash. */
struct lca_audit_chain {
    EVP_MD_CTX *md;
    EVP_MD *sha;
    uint8_t prev[LCA_AUDIT_HLEN]; /* hash of `last` */
    int64_t last;                 /* last position checked */
};

/* From `last` with hash `prev`. FATAL when SHA-256 cannot be set up (cleanup anyway). */
int lca_audit_log_chain_init(struct lca_audit_chain *c, int64_t last,
                             const uint8_t prev[LCA_AUDIT_HLEN], struct lca_err *err) LCA_MUST_USE;
void lca_audit_log_chain_cleanup(struct lca_audit_chain *c);

/* Checks ev continues the chain (gapless position, prev_hash, hash) and advances it; a problem
 * is a finding (lca_audit_log_finding) named at its position. */
int lca_audit_log_chain_step(struct lca_audit_chain *c, struct lca_audit_report *rep,
                             const struct lca_pgevent *ev, struct lca_err *err) LCA_MUST_USE;

/*
 * The chain (and checkpoint matches) of (c->last, rep->head] on n readers
 * (lca_audit_log_read_parts), each checking its range from its first row's prev_hash; the
 * seams between ranges are checked afterwards, so the first problem named is the one a single
 * reader would name, with the same counts. On return c, cps->next and rep's counters stand where
 * one walk would have left them. A finding returns LCA_FAIL with LCA_AUDIT_FINDING (rep filled).
 * Progress (o->progress) is reported from the calling thread with the events checked so far.
 * *ran = 0 when the split read could not be set up (a second connection refused, no thread):
 * nothing was checked and c, cps, rep are untouched, so the caller can read on one connection.
 */
int lca_audit_log_chain_split(struct lca_pgstore *store, int n, const struct lca_audit_opts *o,
                              struct lca_audit_chain *c, struct lca_audit_cplist *cps,
                              struct lca_audit_report *rep, int *ran,
                              struct lca_err *err) LCA_MUST_USE;

/* ---- audit_sigpool.c ---------------------------------------------------------------------- */

/* The counters of a walk (struct lca_audit_report's) as they stood at some event. */
struct lca_audit_counts {
    int64_t events, certificates, unverifiable, crls, crl_refusals, checkpoints;
};

/* One certificate signature to check. */
struct lca_audit_certjob {
    int64_t position; /* the CertificateIssued event */
    int64_t seq;      /* set by submit: jobs queued before this one */
    uint8_t *der;     /* the certificate (submit copies it) */
    size_t len;
    EVP_PKEY *key;      /* the issuer's public key (submit takes a reference) */
    uint8_t serial[20]; /* the event's serial, big-endian */
    size_t serial_len;
    char sn[64]; /* the serial as the event spells it, for the finding */
    char issuer_id[40];
    char key_id[65];
    struct lca_audit_counts at; /* the walk's counters when it was queued */
};

/* Checks j (any thread): 0 when the signature verifies under j->key and the serial matches;
 * 1 with the finding's text in problem (the single-threaded audit's words). */
int lca_audit_sigpool_check(const struct lca_audit_certjob *j, char *problem, size_t len);

/* `threads` (1..LCA_AUDIT_MAX_PARTS) verifier threads behind a bounded queue. */
struct lca_audit_sigpool;
int lca_audit_sigpool_new(int threads, struct lca_audit_sigpool **out,
                          struct lca_err *err) LCA_MUST_USE;

/* Queues a copy of j (blocks while the queue is full). Walk thread only; positions rising. */
int lca_audit_sigpool_submit(struct lca_audit_sigpool *p, const struct lca_audit_certjob *j,
                             struct lca_err *err) LCA_MUST_USE;

/* The lowest failing position found so far, INT64_MAX when none (any thread). */
int64_t lca_audit_sigpool_first_bad(struct lca_audit_sigpool *p);

/* Waits until every queued job was checked; returns how many were queued. When one failed,
 * *bad is the lowest failing job (der and key NULL) and problem its finding. */
int64_t lca_audit_sigpool_drain(struct lca_audit_sigpool *p, struct lca_audit_certjob *bad,
                                char *problem, size_t len);

/* Stops the threads (after the queue is empty). NULL-safe. */
void lca_audit_sigpool_free(struct lca_audit_sigpool *p);

/* ---- audit_checkpoint.c -------------------------------------------------------------------- */

/* One stored checkpoint and the body it signed. */
struct lca_audit_cprow {
    struct lca_audit_checkpoint cp;
    uint8_t *body;
    size_t body_len;
};

/* The checkpoints table, sorted by position. */
struct lca_audit_cplist {
    struct lca_audit_cprow *v;
    size_t n;
    size_t next; /* first checkpoint not yet matched against the log (sorted by position) */
};

/* Loads every checkpoint and checks its signature (pinned to `pin`, or the first one's key);
 * a bad one is a finding. BAD_INPUT "no_checkpoints_table" without sql/007. */
int lca_audit_checkpoint_list_load(struct lca_pgstore *store, const uint8_t *pin,
                                   struct lca_audit_cplist *l, struct lca_audit_report *rep,
                                   struct lca_err *err) LCA_MUST_USE;

/* Matches the checkpoints at pe's position against its hash (a finding when they differ). */
int lca_audit_checkpoint_list_match(struct lca_audit_cplist *l, struct lca_audit_report *rep,
                                    const struct lca_pgevent *pe, struct lca_err *err) LCA_MUST_USE;

/* After the walk ended at `last`: a checkpoint not matched yet vouches for a cut tail. */
int lca_audit_checkpoint_list_beyond(const struct lca_audit_cplist *l, struct lca_audit_report *rep,
                                     int64_t last, struct lca_err *err) LCA_MUST_USE;

void lca_audit_checkpoint_list_free(struct lca_audit_cplist *l);

#endif
