/*
 * fedlog — the multi-cluster event feed, pure: the relay's message codec and the aggregator's
 * fold over (cluster, event).
 *
 * `ledgerca relay` publishes each event of a cluster's log to Kafka topic ledgerca.events.<cluster>
 * (one partition, so Kafka keeps the log's order) as the canonical msgpack map
 *   {"v": 1, "cluster": str, "position": int, "stream": str, "stream_version": int,
 *    "type": str, "command_id": str (UUID), "recorded_at": int (Unix microseconds),
 *    "prev_hash": bin 32, "hash": bin 32, "payload": bin (the exact bytes of events.payload)}
 * keyed by the position in decimal, header content-type: application/msgpack.
 *
 * Delivery is at-least-once, so the aggregator folds each message against the cluster's cursor
 * (last folded position and its hash) with lca_fedlog_apply:
 *   position <= cursor            a duplicate (redelivery): ignored; at the cursor's own position
 *                                 its hash must be the cursor's (else BAD_INPUT "fork");
 *   position >  cursor + 1        BAD_INPUT "gap" (an event is missing: never skip one);
 *   prev_hash != cursor's hash    BAD_INPUT "broken_chain";
 *   hash != SHA-256(prev_hash || payload)   BAD_INPUT "bad_hash" (pgstore.h's one definition);
 *   payload not an event          BAD_INPUT (events/event.h codes).
 * Only then does the cursor move, and the change the event implies is returned. The fold reads
 * no clock, file or socket; its output depends only on the cursor and the message.
 * Thread-safety: none needed (no shared state).
 */
#ifndef LCA_FEDLOG_H
#define LCA_FEDLOG_H

#include <stddef.h>
#include <stdint.h>

#include "certview.h"
#include "err.h"
#include "event.h"
#include "val.h"

#define LCA_FEDLOG_VERSION 1
#define LCA_FEDLOG_HASH_LEN 32
#define LCA_FEDLOG_MAX_BYTES (8u * 1024u * 1024u) /* one message; a CRL payload can be large */

/* One relayed event. Pointers are borrowed (from the caller for encode, from the decoded tree
 * for decode). */
struct lca_fedlog_msg {
    const char *cluster;         /* 1..64 of [A-Za-z0-9._-] */
    int64_t position;            /* >= 1 */
    const char *stream;
    int32_t stream_version;
    const char *type;            /* event type name */
    const char *command_id;      /* UUID text */
    int64_t recorded_at_us;
    uint8_t prev_hash[LCA_FEDLOG_HASH_LEN];
    uint8_t hash[LCA_FEDLOG_HASH_LEN];
    const uint8_t *payload;
    size_t payload_len;
};

/* A decoded message: msg borrows from tree. Free with lca_fedlog_decoded_cleanup. */
struct lca_fedlog_decoded {
    struct lca_val *tree;
    struct lca_fedlog_msg msg;
};

/* Canonical bytes of m (see the file comment). *out malloc'd (caller frees).
 * Errors: BAD_INPUT "bad_message" (missing fields, bad cluster name); codec errors. */
int lca_fedlog_encode(const struct lca_fedlog_msg *m, uint8_t **out, size_t *len,
                      struct lca_err *err) LCA_MUST_USE;

/* Parses a message (untrusted bytes: at most LCA_FEDLOG_MAX_BYTES, depth 2). out->tree is set
 * only on success. Errors: BAD_INPUT codec codes, "bad_message" (wrong keys or kinds, hash not
 * 32 bytes), "unsupported_version". */
int lca_fedlog_decode(const uint8_t *buf, size_t len, struct lca_fedlog_decoded *out,
                      struct lca_err *err) LCA_MUST_USE;

void lca_fedlog_decoded_cleanup(struct lca_fedlog_decoded *d);

/* A cluster's place in the fold: the last folded position (0: none) and its chain hash
 * (zeros at 0). */
struct lca_fedlog_cursor {
    int64_t position;
    uint8_t hash[LCA_FEDLOG_HASH_LEN];
};

enum lca_fedlog_kind {
    LCA_FEDLOG_NONE = 0, /* nothing for the aggregator's tables (still advances the cursor) */
    LCA_FEDLOG_ISSUER,   /* IssuerCreated: issuer.{id, key_id, der} */
    LCA_FEDLOG_ISSUED,   /* CertificateIssued: view.cert (serial -> cluster, issuer, not_after) */
    LCA_FEDLOG_REVOKED,  /* CertificateRevoked: view.rev + revoked_issuer_id + reason */
    LCA_FEDLOG_CRL,      /* CrlPublished: the cluster's own CRL, view.crl */
};

struct lca_fedlog_change {
    int duplicate;             /* 1: already folded; nothing else is set */
    enum lca_fedlog_kind kind;
    struct lca_certview_change view; /* certview's mapping of the event */
    struct {
        const char *id, *key_id; /* borrowed */
        const uint8_t *der;
        size_t der_len;
    } issuer;
    const char *revoked_issuer_id; /* REVOKED: issuer of the revoked certificate (borrowed) */
    int reason;                    /* REVOKED: enum lca_crl_reason */
};

/*
 * Folds message m into cursor cur (see the file comment). On success *cur has moved (unless a
 * duplicate), *out describes the change and *ev (may be NULL for a duplicate) owns the decoded
 * event every borrowed pointer of *out points into: the caller frees it with lca_event_free.
 * On failure *cur and *ev are unchanged.
 */
int lca_fedlog_apply(struct lca_fedlog_cursor *cur, const struct lca_fedlog_msg *m,
                     struct lca_fedlog_change *out, struct lca_event **ev,
                     struct lca_err *err) LCA_MUST_USE;

/* The Kafka topic of a cluster's events: "ledgerca.events.<cluster>". Returns LCA_FAIL when the
 * cluster name is not 1..64 of [A-Za-z0-9._-] or out (len bytes) is too small. */
int lca_fedlog_topic(const char *cluster, char *out, size_t len) LCA_MUST_USE;

/* 1 when s is a valid cluster name (1..64 of [A-Za-z0-9._-]). */
int lca_fedlog_cluster_ok(const char *s);

#endif
