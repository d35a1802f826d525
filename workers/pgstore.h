/*
 * pgstore — the PostgreSQL event log adapter (libpq). The schema is sql/001..004.
 *
 * One struct lca_pgstore owns one PGconn. It is NOT thread-safe: use one store per thread.
 *
 * Writing: a signer collects the outcome of several commands into a struct lca_pgbatch (per
 * command: its id, its reply bytes, its events as (stream, stream_version, type, canonical
 * payload bytes), its outbox messages; plus the consumed Kafka offsets) and commits it with
 * lca_pgstore_commit_batch in ONE transaction:
 *   1. BEGIN; SELECT position, hash FROM log_head WHERE id = 1 FOR UPDATE  -- the sequencer lock
 *   2. look up which command ids are already recorded (a statement of its own, so that it runs
 *      with a snapshot taken AFTER the lock was granted and sees the previous holder's rows)
 *   3. for each new command: number its events head+1.., chain their hashes, then insert
 *      events, dedupe rows, outbox rows, upsert offsets, move log_head and mark the outbox
 *      rows of earlier batches published (lca_pgbatch_add_published), in one statement
 *      (binary array parameters + unnest: one round trip for the whole batch)
 *   4. COMMIT
 * Steps 1 and 2 are sent as one libpq pipeline, so a batch of any size costs three round trips
 * (pipeline, append, COMMIT) plus the commit's WAL flush.
 * Commands already recorded (or repeated within the batch) are duplicates: nothing is
 * appended for them and their recorded reply is returned instead (DESIGN.md invariant 1).
 *
 * Why the reader never skips: positions are assigned while holding the log_head row lock, which
 * is released only when the appending transaction ends, so transactions commit in position
 * order and every snapshot sees a prefix 1..K of the log. `WHERE position > last ORDER BY
 * position` therefore never sees N+1 before N (no sequence gaps, no timeouts). A rolled-back
 * append does not move the head, so its positions are reused: the log stays gapless.
 *
 * Hash chain: hash(N) = SHA-256(hash(N-1) || payload(N)), hash(0) = 32 zero bytes
 * (lca_pgstore_chain_hash is the one definition). The payload is the event's canonical bytes
 * from events/; the store never re-encodes them, so the event encoding must carry every field
 * that has to be tamper-evident (type, stream, command id), the columns being an index.
 *
 * Errors (err->cls): RETRIABLE for connection loss (the next call reconnects), SQLSTATE class
 * 08, 40001 serialization_failure, 40P01 deadlock, 53xxx, 57P0x, and "stream_conflict" (another
 * writer already appended that stream version: reload the stream, decide again); BAD_INPUT for
 * data the server rejects (class 22) and malformed arguments; FATAL otherwise (missing schema:
 * run `ledgerca migrate`; privileges; the append-only triggers, SQLSTATE LC001).
 * On any failure of lca_pgstore_commit_batch the transaction is rolled back: nothing of the
 * batch is stored.
 */
#ifndef LCA_PGSTORE_H
#define LCA_PGSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define LCA_PGSTORE_HASH_LEN 32
#define LCA_PGSTORE_UUID_LEN 16

struct lca_pgstore;
struct lca_pgbatch;
struct pg_conn;   /* libpq's PGconn */
struct pg_result; /* libpq's PGresult */

/* ---- the store ---------------------------------------------------------------------------- */

/*
 * Connects to `uri` (libpq URI or key=value string). `cluster` names the log (e.g. "dc1") and is
 * copied into every appended event. *out is set only on success; free with lca_pgstore_free.
 * Errors: RETRIABLE if the server is unreachable, BAD_INPUT for a malformed uri or empty cluster.
 */
int lca_pgstore_open(const char *uri, const char *cluster, struct lca_pgstore **out,
                     struct lca_err *err) LCA_MUST_USE;

/* Closes the connection. NULL is a no-op. */
void lca_pgstore_free(struct lca_pgstore *store);

/*
 * Appends a batch (see the file comment). Afterwards lca_pgbatch_result tells, per command,
 * whether it was NEW (its events now have positions first..last) or a DUPLICATE (nothing
 * appended; the recorded reply is returned). Offsets are upserted (never moved backwards) in
 * the same transaction whether the commands were new or not. An empty batch is a no-op.
 * On failure nothing is stored and the batch's results stay PENDING; the batch may be retried.
 */
int lca_pgstore_commit_batch(struct lca_pgstore *store, struct lca_pgbatch *batch,
                             struct lca_err *err) LCA_MUST_USE;

/*
 * The recorded reply of a command. *bytes (malloc'd, caller frees) and *len are set only on
 * success. Errors: BAD_INPUT with code "not_found" if the command was never recorded.
 */
int lca_pgstore_get_reply(struct lca_pgstore *store, const uint8_t command_id[16],
                          uint8_t **bytes, size_t *len, struct lca_err *err) LCA_MUST_USE;

/* One event as read back. All pointers are borrowed and valid only during the callback. */
struct lca_pgevent {
    int64_t position;                        /* 1.. gapless */
    const char *stream;                      /* aggregate id */
    int32_t stream_version;                  /* 1.. within the stream */
    const char *type;                        /* event type name */
    const uint8_t *payload;                  /* canonical bytes */
    size_t payload_len;
    const char *cluster;                     /* cluster that appended it */
    uint8_t command_id[LCA_PGSTORE_UUID_LEN];
    int64_t recorded_at_us;                  /* database time, microseconds since 1970 UTC */
    uint8_t prev_hash[LCA_PGSTORE_HASH_LEN];
    uint8_t hash[LCA_PGSTORE_HASH_LEN];      /* SHA-256(prev_hash || payload) as stored */
};

/* Return LCA_OK to continue, LCA_FAIL (with err set) to stop the read with that error. */
typedef int lca_pgevent_cb(void *ctx, const struct lca_pgevent *ev, struct lca_err *err);

/*
 * Streams the committed events with position > after_position in position order, at most
 * `limit` of them (0: no limit), fetched in pages. *count_out (may be NULL) receives the number
 * delivered, only on success. Errors: those of the server, or the callback's.
 */
int lca_pgstore_read(struct lca_pgstore *store, int64_t after_position, size_t limit,
                     lca_pgevent_cb *cb, void *ctx, size_t *count_out,
                     struct lca_err *err) LCA_MUST_USE;

/* The head of the log: last position (0 = empty) and its hash (zeros when empty). */
int lca_pgstore_head(struct lca_pgstore *store, int64_t *position,
                     uint8_t hash[LCA_PGSTORE_HASH_LEN], struct lca_err *err) LCA_MUST_USE;

/*
 * Stores a wrapped CA key under key_id. Insert-only: writing the same bytes again is OK,
 * different bytes under an existing id fail with BAD_INPUT "key_exists". The bytes must
 * already be wrapped (AES-256-GCM under the KEK); the store never sees plaintext keys.
 */
int lca_pgstore_key_put(struct lca_pgstore *store, const char *key_id, const uint8_t *wrapped,
                        size_t len, struct lca_err *err) LCA_MUST_USE;

/* Reads a wrapped key: *wrapped (malloc'd, caller frees) and *len set only on success.
 * Errors: BAD_INPUT "not_found". */
int lca_pgstore_key_get(struct lca_pgstore *store, const char *key_id, uint8_t **wrapped,
                        size_t *len, struct lca_err *err) LCA_MUST_USE;

typedef void lca_pgoffset_cb(void *ctx, int32_t partition, int64_t next_offset);

/* Calls cb for every stored partition offset of (group, topic), by partition. Used on
 * partition assignment to seek the consumer to the offsets committed with the events. */
int lca_pgstore_offsets(struct lca_pgstore *store, const char *group, const char *topic,
                        lca_pgoffset_cb *cb, void *ctx, struct lca_err *err) LCA_MUST_USE;

/* out = SHA-256(prev || payload): the chain hash of one event. Errors: FATAL (OpenSSL). */
int lca_pgstore_chain_hash(const uint8_t prev[LCA_PGSTORE_HASH_LEN], const uint8_t *payload,
                           size_t len, uint8_t out[LCA_PGSTORE_HASH_LEN],
                           struct lca_err *err) LCA_MUST_USE;

/*
 * Fills err from a failed libpq call (res may be NULL: connection-level failure), classifying
 * it as described in the file comment; `what` names the operation. Always returns LCA_FAIL.
 * Shared with workers/migrate.c.
 */
int lca_pgstore_pg_err(const struct pg_conn *conn, const struct pg_result *res, const char *what,
                       struct lca_err *err);

/* The live connection (reconnected if it broke), for the sibling adapters in workers/ that
 * share the store's session (outbox relay, projection writers). Borrowed; NULL with err set
 * when the server is unreachable (RETRIABLE). Same thread rules as the store. */
struct pg_conn *lca_pgstore_conn(struct lca_pgstore *store, struct lca_err *err);

/* ---- test hooks ----------------------------------------------------------------------------- */

enum lca_pgstore_stage {
    LCA_PGSTORE_STAGE_LOCKED,        /* log_head locked, positions not yet written */
    LCA_PGSTORE_STAGE_BEFORE_COMMIT, /* events written (positions taken), not committed */
};

/* Called inside the append transaction at each stage; returning LCA_FAIL aborts the batch
 * (rolled back) with the hook's error. For fault injection and race tests only. */
typedef int lca_pgstore_hook(void *ctx, enum lca_pgstore_stage stage, struct lca_err *err);
void lca_pgstore_set_hook(struct lca_pgstore *store, lca_pgstore_hook *hook, void *ctx);

/* ---- batches -------------------------------------------------------------------------------- */

enum lca_pgbatch_outcome {
    LCA_PGBATCH_PENDING = 0, /* not committed yet (or the commit failed) */
    LCA_PGBATCH_NEW,         /* recorded by this commit; its events were appended */
    LCA_PGBATCH_DUPLICATE,   /* recorded before (or earlier in this batch): nothing appended */
};

/* An empty batch; NULL on allocation failure. Reusable after lca_pgbatch_reset. */
struct lca_pgbatch *lca_pgbatch_new(void);
void lca_pgbatch_free(struct lca_pgbatch *batch);
/* Empties the batch (keeps its memory). */
void lca_pgbatch_reset(struct lca_pgbatch *batch);

/*
 * Starts a command: the events and outbox messages added next belong to it. The reply bytes
 * are copied. *index_out (may be NULL) receives its index for lca_pgbatch_result.
 * Errors: FATAL on allocation failure.
 */
int lca_pgbatch_add_command(struct lca_pgbatch *batch, const uint8_t command_id[16],
                            const uint8_t *reply, size_t reply_len, size_t *index_out,
                            struct lca_err *err) LCA_MUST_USE;

/* Adds an event to the current command (copied). stream_version is the version this event
 * gets in its stream (expected previous version + 1). Errors: BAD_INPUT if no command was
 * started, stream/type empty or stream_version < 1; FATAL on allocation failure. */
int lca_pgbatch_add_event(struct lca_pgbatch *batch, const char *stream, int32_t stream_version,
                          const char *type, const uint8_t *payload, size_t payload_len,
                          struct lca_err *err) LCA_MUST_USE;

/* Adds an outbox message to the current command (copied; key and headers may be NULL). It is
 * stored only if the command is new. Errors: as lca_pgbatch_add_event. */
int lca_pgbatch_add_outbox(struct lca_pgbatch *batch, const char *topic, const uint8_t *key,
                           size_t key_len, const uint8_t *payload, size_t payload_len,
                           const uint8_t *headers, size_t headers_len,
                           struct lca_err *err) LCA_MUST_USE;

/* Adds an outbox row whose payload is the current command's reply (stored once, in the
 * commands row: the outbox column stays NULL and lca_outbox_pending reads the reply through
 * the command id). Stored only if the command is new. Errors: as lca_pgbatch_add_event. */
int lca_pgbatch_add_reply_outbox(struct lca_pgbatch *batch, const char *topic,
                                 const uint8_t *key, size_t key_len, const uint8_t *headers,
                                 size_t headers_len, struct lca_err *err) LCA_MUST_USE;

/* Marks, in the same transaction as the batch, every unpublished outbox row of command
 * `command_id` as published (its messages were acknowledged by Kafka after an earlier
 * commit): a relay after a crash then does not send them again. Rows already published, or
 * of unknown commands, are left alone. A batch holding only such marks is still committed
 * (it takes the sequencer lock, so prefer lca_outbox_mark_commands when idle).
 * Errors: FATAL on allocation failure. */
int lca_pgbatch_add_published(struct lca_pgbatch *batch, const uint8_t command_id[16],
                              struct lca_err *err) LCA_MUST_USE;

/* Records a consumed offset: next_offset is the offset to consume next. Adding the same
 * (group, topic, partition) again keeps the larger offset. */
int lca_pgbatch_add_offset(struct lca_pgbatch *batch, const char *group, const char *topic,
                           int32_t partition, int64_t next_offset,
                           struct lca_err *err) LCA_MUST_USE;

/* Number of commands in the batch. */
size_t lca_pgbatch_count(const struct lca_pgbatch *batch);

/* Copies the id of command `index` to id. Errors: BAD_INPUT for an out-of-range index. */
int lca_pgbatch_command_id(const struct lca_pgbatch *batch, size_t index, uint8_t id[16],
                           struct lca_err *err) LCA_MUST_USE;

/*
 * The outcome of command `index` after lca_pgstore_commit_batch. first/last (may be NULL)
 * receive the positions of its events (0, 0 when it has none, or for duplicates the recorded
 * ones). reply and reply_len (may be NULL) borrow the reply to send: for NEW the one given, for
 * DUPLICATE the recorded one; valid until the batch is reset or freed. Returns PENDING for an
 * out-of-range index.
 */
enum lca_pgbatch_outcome lca_pgbatch_result(const struct lca_pgbatch *batch, size_t index,
                                            int64_t *first, int64_t *last,
                                            const uint8_t **reply, size_t *reply_len);

#endif
