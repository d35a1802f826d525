/*
 * kafka — the thin librdkafka adapter used by the signer, the projector and `ledgerca submit`.
 *
 * Nothing outside this module includes <librdkafka/rdkafka.h>: callers see plain value structs
 * (struct lca_kmsg, struct lca_ktp, struct lca_kheader) and three opaque objects:
 *
 *   struct lca_kconsumer  a consumer-group member (or a group-less "tail" reader). Offsets are
 *                         never auto-committed or auto-stored: the signer stores the offsets it
 *                         consumed in PostgreSQL in the same transaction as the events (issue 3),
 *                         and on every partition assignment the consumer asks the load_offsets hook
 *                         where to start and seeks there (librdkafka's rebalance_cb pattern for
 *                         offsets kept outside Kafka). Committing to Kafka afterwards is a
 *                         secondary record only (async).
 *   struct lca_kproducer  an idempotent producer (enable.idempotence, acks=all): retries never
 *                         duplicate or reorder a partition's messages.
 *   struct lca_kmock      librdkafka's in-process mock cluster, listening on 127.0.0.1, for
 *                         `ledgerca dev` and tests; any Kafka client on the host (kcat, another
 *                         ledgerca process) can reach it while its owner lives.
 *
 * Errors (STYLE.md rule 6) are classified from librdkafka's own signals:
 *   LCA_ERR_FATAL      rd_kafka_fatal_error() is set (e.g. the idempotent producer lost its
 *                      sequence), authentication/authorization failures, invalid configuration;
 *   LCA_ERR_BAD_INPUT  the message or topic itself is wrong (unknown topic, message too large):
 *                      retrying the same bytes cannot succeed;
 *   LCA_ERR_RETRIABLE  everything transient (broker down, timeouts, queue full, coordinator moves):
 *                      do not commit, try again.
 * err->code is "kafka" followed by librdkafka's error name in lower case, e.g.
 * "kafka_unknown_topic", "kafka_msg_size_too_large", "kafka_timed_out"; err->msg carries
 * librdkafka's errstr. Messages never contain payload bytes.
 *
 * Threads: each object is used by one thread at a time. Consumer hooks run on the thread that
 * calls lca_kconsumer_poll_batch() or lca_kconsumer_close() (librdkafka serves the rebalance
 * callback from inside the poll), never concurrently with it.
 */
#ifndef LCA_KAFKA_H
#define LCA_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* "No stored offset" for load_offsets: start from Kafka's committed offset, else the earliest. */
#define LCA_KOFFSET_NONE ((int64_t)-1)

/* The topics of the wire contract (issue 3). lca_kafka_ensure_topics creates these. */
#define LCA_KAFKA_TOPIC_ISSUE "ledgerca.commands.issue"
#define LCA_KAFKA_TOPIC_REVOKE "ledgerca.commands.revoke"
#define LCA_KAFKA_TOPIC_ADMIN "ledgerca.commands.admin"
#define LCA_KAFKA_TOPIC_REPLIES "ledgerca.replies"
#define LCA_KAFKA_TOPIC_DEAD_LETTER "ledgerca.dead-letter"
#define LCA_KAFKA_PARTITIONS 4

/* A topic-partition and an offset. For commits and stored positions the offset is the NEXT
 * offset to consume (last processed + 1), as Kafka defines a committed offset. */
struct lca_ktp {
    const char *topic; /* borrowed; NUL-terminated */
    int32_t partition;
    int64_t offset;
};

/* One consumed message. Every pointer borrows from the message and stays valid until
 * lca_kconsumer_release() on it. */
struct lca_kmsg {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms;             /* -1 if the broker gave none */
    const unsigned char *key;         /* NULL when the message has no key */
    size_t key_len;
    const unsigned char *value;       /* NULL for an empty (tombstone) value */
    size_t len;
    int has_content_type;             /* 1 if a `content-type` header is present */
    char content_type[128];           /* its value, NUL-terminated; "" if absent or unusable
                                       * (longer than 127 bytes or holding a NUL byte), so a
                                       * caller that checks has_content_type dead-letters it */
    void *handle;                     /* the rd_kafka_message_t; owned, freed by release */
};

/* One header of a produced message. value need not be NUL-terminated. */
struct lca_kheader {
    const char *name;
    const void *value;
    size_t len;
};

/* Callbacks and options of a consumer. Every member may be NULL/0. */
struct lca_kconsumer_hooks {
    void *ctx; /* passed to every hook */
    /* Where to start reading a newly assigned partition. Return LCA_OK with *next_offset the
     * stored next offset (>= 0), or LCA_OK with LCA_KOFFSET_NONE when nothing is stored: the
     * consumer then starts from Kafka's committed offset, else the earliest. LCA_FAIL is
     * treated like LCA_KOFFSET_NONE and reported through on_error: this can only cause
     * redelivery, never a skip, because the Kafka commit is made after the PostgreSQL one. */
    int (*load_offsets)(void *ctx, const char *topic, int32_t partition, int64_t *next_offset);
    /* After partitions were assigned (offsets are the chosen start positions, or
     * LCA_KOFFSET_NONE). For logs and tests. */
    void (*on_assign)(void *ctx, const struct lca_ktp *parts, size_t n);
    /* Before partitions are taken away (lost = 1 when the group already gave them to another
     * member, e.g. after a session timeout). Messages of these partitions that were fetched
     * but not yet returned are dropped; the caller finishes or abandons the batch it holds. */
    void (*on_revoke)(void *ctx, const struct lca_ktp *parts, size_t n, int lost);
    /* Non-fatal client errors (broker down, failed async commit, load_offsets failure):
     * librdkafka recovers by itself; the hook is for logging. */
    void (*on_error)(void *ctx, const struct lca_err *err);
    /* Extra librdkafka properties, NULL or a NULL-terminated list of name, value pairs
     * applied after the defaults (e.g. {"session.timeout.ms", "6000", NULL}). */
    const char *const *conf;
};

struct lca_kconsumer;
struct lca_kproducer;
struct lca_kmock;

/* ---- consumer ---- */

/* Joins consumer group `group` on `bootstrap` and subscribes to topics[0..n). Properties:
 * enable.auto.commit=false, enable.auto.offset.store=false, isolation.level=read_committed,
 * partition.assignment.strategy=cooperative-sticky, auto.offset.reset=earliest,
 * allow.auto.create.topics=false. hooks may be NULL; it is copied (ctx and conf are borrowed
 * and must outlive the consumer). Errors: BAD_INPUT for bad arguments or properties. */
int lca_kconsumer_new(const char *bootstrap, const char *group, const char *const *topics,
                      size_t n, const struct lca_kconsumer_hooks *hooks,
                      struct lca_kconsumer **out, struct lca_err *err) LCA_MUST_USE;

/* A group-less reader of every partition of `topic`, starting at each partition's current end
 * (high watermark, queried before returning, so any message produced after this call returns
 * is read). For request/reply clients. Only on_error and conf of hooks are used.
 * Errors: RETRIABLE if the topic's metadata or watermarks are not available in timeout_ms,
 * BAD_INPUT if the topic does not exist. */
int lca_kconsumer_new_tail(const char *bootstrap, const char *topic, int timeout_ms,
                           const struct lca_kconsumer_hooks *hooks, struct lca_kconsumer **out,
                           struct lca_err *err) LCA_MUST_USE;

/* Waits up to timeout_ms for a first message, then takes whatever else is already fetched,
 * up to max_msgs, without waiting. Fills out[0..*n) (*n may be 0 on timeout); the caller owns
 * them and hands them back with lca_kconsumer_release(). Rebalance hooks run inside.
 * Errors: FATAL on a fatal client error or a failed assignment; transient errors go to
 * on_error and do not fail the call. On failure *n is 0 and nothing is owned. */
int lca_kconsumer_poll_batch(struct lca_kconsumer *c, size_t max_msgs, int timeout_ms,
                             struct lca_kmsg *out, size_t *n, struct lca_err *err) LCA_MUST_USE;

/* Frees msgs[0..n) (their bytes become invalid). NULL-safe. */
void lca_kconsumer_release(struct lca_kmsg *msgs, size_t n);

/* Fills out[] with one entry per topic-partition found in msgs[0..n): the highest offset + 1,
 * i.e. the position to store/commit after processing them. Returns the number of entries
 * (at most cap; entries beyond cap are dropped, so pass cap >= partitions in the batch).
 * Topic pointers borrow from msgs. */
size_t lca_kafka_next_offsets(const struct lca_kmsg *msgs, size_t n, struct lca_ktp *out,
                              size_t cap);

/* Commits offsets[0..n) (next offsets) to Kafka asynchronously: a secondary record made
 * after the PostgreSQL commit. A failure of the async commit is reported through on_error.
 * Errors: RETRIABLE/FATAL if the request cannot even be queued. */
int lca_kconsumer_commit(struct lca_kconsumer *c, const struct lca_ktp *offsets, size_t n,
                         struct lca_err *err) LCA_MUST_USE;

/* Graceful leave (SIGTERM drain): revokes the assignment (on_revoke runs), leaves the group
 * so the others rebalance at once, waits for outstanding commits. Idempotent.
 * Errors: RETRIABLE/FATAL as reported by librdkafka; the consumer must still be freed. */
int lca_kconsumer_close(struct lca_kconsumer *c, struct lca_err *err) LCA_MUST_USE;

/* Closes (if not yet closed; hooks may run) and frees. NULL-safe. */
void lca_kconsumer_free(struct lca_kconsumer *c);

/* ---- producer ---- */

/* An idempotent producer: enable.idempotence=true, acks=all, linger.ms=5,
 * allow.auto.create.topics=false (a misspelt topic fails its messages instead of creating the
 * topic), topic.metadata.propagation.max.ms=5000. conf: NULL or NULL-terminated name, value
 * pairs applied after these defaults. Errors: BAD_INPUT for bad arguments or properties. */
int lca_kproducer_new(const char *bootstrap, const char *const *conf, struct lca_kproducer **out,
                      struct lca_err *err) LCA_MUST_USE;

/* Queues one message (copied: the caller keeps its buffers). key may be NULL (keylen 0);
 * headers[0..nh) are added in order. Waits up to 10 s while the local queue is full.
 * The delivery result is known only after lca_kproducer_flush().
 * Errors: BAD_INPUT (message too large, bad topic), RETRIABLE (queue stays full), FATAL. */
int lca_kproducer_send(struct lca_kproducer *p, const char *topic, const void *key,
                       size_t keylen, const void *value, size_t len,
                       const struct lca_kheader *headers, size_t nh,
                       struct lca_err *err) LCA_MUST_USE;

/* As lca_kproducer_send, and counts the message in *outstanding (incremented when queued,
 * decremented atomically by the delivery report of a successful delivery, served by this
 * producer's send, poll or flush calls on whichever thread calls them: read it with
 * __atomic_load_n; a failed delivery leaves it
 * counted and is reported by the next lca_kproducer_flush). *outstanding must stay valid
 * until it is back to 0 or that flush returned. outstanding NULL: lca_kproducer_send. */
int lca_kproducer_send_counted(struct lca_kproducer *p, const char *topic, const void *key,
                               size_t keylen, const void *value, size_t len,
                               const struct lca_kheader *headers, size_t nh,
                               size_t *outstanding, struct lca_err *err) LCA_MUST_USE;

/* Serves the delivery reports that are ready, without waiting. NULL-safe. */
void lca_kproducer_poll(struct lca_kproducer *p);

/* Waits until every queued message is delivered or failed, at most timeout_ms. Succeeds only
 * if every message queued since the previous flush was delivered. Errors: RETRIABLE if
 * messages are still in flight at the deadline; otherwise the class of the first failed
 * delivery (e.g. BAD_INPUT "kafka_unknown_topic"), with the failure count and topic in msg.
 * The failure counters are reset by each call. */
int lca_kproducer_flush(struct lca_kproducer *p, int timeout_ms, struct lca_err *err) LCA_MUST_USE;

/* Frees the producer after a best-effort flush of up to 5 s. NULL-safe. */
void lca_kproducer_free(struct lca_kproducer *p);

/* ---- topics ---- */

/* Creates names[0..n) with `partitions` partitions and the broker's default replication
 * factor if they do not exist yet (an existing topic is left as it is), then waits until the
 * broker's metadata shows every one of them. When metadata already shows them all, no
 * CreateTopics request is sent (so this also succeeds on the mock cluster for topics it has). Errors: RETRIABLE on timeout or broker errors,
 * FATAL on authorization failure, BAD_INPUT on an invalid name. */
int lca_kafka_create_topics(const char *bootstrap, const char *const *names, size_t n,
                            int partitions, int timeout_ms, struct lca_err *err) LCA_MUST_USE;

/* Partition count of topic, from a metadata request. Errors: BAD_INPUT if the topic does not
 * exist, RETRIABLE if no answer in timeout_ms. */
int lca_kafka_topic_partitions(const char *bootstrap, const char *topic, int timeout_ms,
                               int *out, struct lca_err *err) LCA_MUST_USE;

/* Creates the five topics of the wire contract (LCA_KAFKA_TOPIC_*, 4 partitions each), waiting
 * up to 30 s. Idempotent. Errors: as lca_kafka_create_topics. */
int lca_kafka_ensure_topics(const char *bootstrap, struct lca_err *err) LCA_MUST_USE;

/* ---- embedded mock cluster (dev mode, tests) ---- */

/* Starts librdkafka's mock cluster with `brokers` brokers (1..9) listening on 127.0.0.1
 * ephemeral ports, creates the wire-contract topics in it, and writes its bootstrap list
 * ("127.0.0.1:P1,127.0.0.1:P2") into bootstrap_out[0..len). The cluster runs on its own
 * thread until lca_kafka_mock_free(); any client on the host can use it (kcat -L/-P/-C/-G
 * work). The mock keeps everything in memory and does not implement every Kafka API:
 * notably not CreateTopics in librdkafka 2.0 (a CreateTopics request gets no answer), so
 * create further topics with lca_kafka_mock_create_topic. Errors: BAD_INPUT for bad arguments or a too-small buffer,
 * FATAL if it cannot start. */
int lca_kafka_mock_start(int brokers, char *bootstrap_out, size_t len, struct lca_kmock **out,
                         struct lca_err *err) LCA_MUST_USE;

/* Creates a topic in the mock cluster (no-op error if it exists: BAD_INPUT). */
int lca_kafka_mock_create_topic(struct lca_kmock *m, const char *topic, int partitions,
                                struct lca_err *err) LCA_MUST_USE;

/* Stops the mock cluster (clients still connected see their brokers go down). NULL-safe. */
void lca_kafka_mock_free(struct lca_kmock *m);

/* The high watermark (offset of the next message) of topic/partition, asked of the partition
 * leader with p's connection (for consumer-lag metrics). Errors: RETRIABLE if no answer in
 * timeout_ms, BAD_INPUT for an unknown topic or partition. */
int lca_kproducer_high_watermark(struct lca_kproducer *p, const char *topic, int32_t partition,
                                 int timeout_ms, int64_t *out, struct lca_err *err) LCA_MUST_USE;

/* ---- multi-cluster helpers ---- */

/* Topic of the revocations a cluster forwards (signer --forward-revocations) to the aggregator. */
#define LCA_KAFKA_TOPIC_REVOKE_FORWARD "ledgerca.revoke-forward"
/* Prefix of the relayed event topics: ledgerca.events.<cluster> (see workers/relay.h). */
#define LCA_KAFKA_TOPIC_EVENTS_PREFIX "ledgerca.events."

/* The last header `name` of a consumed message: returns 1 and sets *value and *len (borrowed from
 * the message, valid until its release; either may be NULL) when present, else 0. */
int lca_kmsg_header(const struct lca_kmsg *m, const char *name, const void **value, size_t *len);

/* Calls cb for every topic whose name starts with prefix, from one metadata request made
 * with p's connection. Errors: RETRIABLE if no answer in timeout_ms. */
typedef void lca_ktopic_cb(void *ctx, const char *topic, int partitions);
int lca_kproducer_topics(struct lca_kproducer *p, const char *prefix, lca_ktopic_cb *cb,
                         void *ctx, int timeout_ms, struct lca_err *err) LCA_MUST_USE;

#endif
