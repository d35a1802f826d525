/*
 * signer — see signer.h for the protocol. This file is the loop; Kafka and PostgreSQL are
 * reached through workers/kafka.h and workers/pgstore.h, the CA through engine/decide.h.
 */
#include "signer.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "catalog.h"
#include "command.h"
#include "commit_pipeline.h"
#include "csrpool.h"
#include "decide.h"
#include "event.h"
#include "json.h"
#include "kafka.h"
#include "key.h"
#include "log.h"
#include "osslenv.h"
#include "outbox.h"
#include "pgstore.h"
#include "state.h"
#include "tokens.h"

#define MAX_RANGES 4096
#define TOKEN_CACHE 64
#define TOKEN_TTL 30
/* the consumer's read-ahead bound (see open_all): KB queued, messages per partition, and the
 * size of one fetch (>= librdkafka's message.max.bytes, 1,000,000; a larger message is still
 * returned whole, KIP-74) */
#define SIGNER_PREFETCH_KB "2048"
#define SIGNER_PREFETCH_MSGS "1000"
#define SIGNER_FETCH_MAX_BYTES "1048576"
#define SIGNER_FETCH_MIN_BYTES "65536"

/* The Kafka copy of the consumed offsets (secondary: the record is PostgreSQL's) is committed
 * at most once every KCOMMIT_EVERY_MS, not after each batch: one OffsetCommit per batch was
 * a write to __consumer_offsets per batch for the broker. A new owner of a partition seeks to
 * the offsets in PostgreSQL, so the lag changes nothing but the group's lag metrics. */
#define KCOMMIT_MAX 64
#define KCOMMIT_EVERY_MS 1000.0

struct kcommit {
    char topic[192];
    int32_t partition;
    int64_t offset;
};

struct token_slot {
    uint8_t hash[32];
    time_t fetched;
    struct lca_token_info info;
};

struct range {
    int64_t first, last;
};

struct batch_cmds {
    struct lca_command **cmds;
    char **fwd;  /* per command: the forward to send instead of a reply (owned; NULL: none) */
    size_t n;
};

/* One polled batch, from poll to the end of its commit (two alternate: one is decided while
 * the other commits on the pipeline thread). */
struct slot {
    struct lca_kmsg *msgs;       /* the polled messages, released once committed */
    size_t n;
    struct batch_cmds b;         /* the parsed commands */
    struct lca_pgbatch *batch;   /* their outcome, committed by the pipeline */
    const char **reply_to, **keys, **ids; /* per command, borrowed from b (the job's view) */
    uint8_t (*sorted)[16];       /* the command ids, sorted: events to skip in catch_up */
    size_t n_sorted;
    struct lca_cpipe_job job;
};

#define REPLY_TOPICS 64 /* reply topics known to exist (besides the default) */

struct signer {
    const struct lca_signer_opts *o;
    char reply_topics[REPLY_TOPICS][250];
    size_t n_reply_topics, next_reply_topic;
    char group[160];
    uint8_t kek[32];
    struct lca_pgstore *store;
    struct lca_osslenv *oe;
    struct lca_state *st;
    struct lca_kconsumer *cons;
    struct lca_kproducer *prod;
    struct lca_pgbatch *batch; /* the batch being filled (one of the slots') */
    struct lca_cpipe *pipe;    /* the commit thread */
    struct slot slots[2];
    size_t cur;                /* the slot the next poll fills */
    struct slot *prev;         /* the slot whose commit is in flight (NULL: none) */
    int stale;                 /* the state the current slot was decided on is void */
    long numbered;             /* batches numbered so far (crash points count them) */
    struct range own[MAX_RANGES]; /* own committed events already in the in-memory state */
    size_t n_own;
    int need_rebuild;
    long batches;       /* committed batches */
    char crash_at[32];  /* LEDGERCA_TEST_CRASH=<point>:<batch number> */
    long crash_batch;
    uint64_t n_commands, n_dead, n_dups;
    struct token_slot tokens[TOKEN_CACHE];
    size_t n_tokens, next_token;
    struct lca_csrpool *csrs; /* a batch's CSRs parsed on two threads (NULL: on this one) */
    struct kcommit kpend[KCOMMIT_MAX]; /* offsets not yet committed to Kafka */
    size_t n_kpend;
    double last_kcommit; /* mono_ms() of the last commit */
};

/* ---- test crash points (DESIGN.md invariant 1 tests kill the signer at each) ---- */

/* Called on the commit thread with the batch's number (1-based, in poll order). Reads only
 * fields set before the thread started. */
static void crash_point(void *ctx, const char *point, long number)
{
    struct signer *s = ctx;

    if (s->crash_at[0] != '\0' && strcmp(s->crash_at, point) == 0 && number > 0 &&
        number == s->crash_batch) {
        lca_log(LCA_LOG_WARN, "test crash point reached", "point=%s batch=%ld", point, number);
        raise(SIGKILL);
    }
}

static void crash_init(struct signer *s)
{
    const char *c = getenv("LEDGERCA_TEST_CRASH");
    const char *colon = c != NULL ? strchr(c, ':') : NULL;

    if (colon != NULL && (size_t)(colon - c) < sizeof(s->crash_at)) {
        memcpy(s->crash_at, c, (size_t)(colon - c));
        s->crash_at[colon - c] = '\0';
        s->crash_batch = strtol(colon + 1, NULL, 10);
    }
}

/* ---- keys: wrapped under the KEK into ca_keys, unwrapped on demand ---- */

static int persist_key(void *ctx, const char *key_id, EVP_PKEY *key, struct lca_err *err)
{
    struct signer *s = ctx;
    uint8_t nonce[12], *blob = NULL;
    size_t len = 0;
    int rc;

    if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
        return lca_err_set(err, LCA_ERR_FATAL, "rng", "RAND_bytes failed");
    }
    if (lca_key_wrap(s->kek, nonce, key, key_id, &blob, &len, err) != LCA_OK) {
        return LCA_FAIL;
    }
    rc = lca_pgstore_key_put(s->store, key_id, blob, len, err);
    free(blob);
    return rc;
}

static int load_key(void *ctx, const char *key_id, EVP_PKEY **key, struct lca_err *err)
{
    struct signer *s = ctx;
    uint8_t *blob = NULL;
    size_t len = 0;
    int rc;

    if (lca_pgstore_key_get(s->store, key_id, &blob, &len, err) != LCA_OK) {
        return LCA_FAIL;
    }
    rc = lca_key_unwrap(s->kek, blob, len, key_id, key, err);
    free(blob);
    if (rc != LCA_OK && err->cls == LCA_ERR_BAD_INPUT) {
        err->cls = LCA_ERR_FATAL; /* wrong KEK or a damaged key row: an operator must look */
    }
    return rc;
}

/* ---- state: rebuilt from the log, then kept current ---- */

struct replay {
    struct lca_state *st;
    const struct range *own;
    size_t n_own;
    const uint8_t (*skip)[16]; /* sorted ids of the commands whose commit is in flight */
    size_t n_skip;
};

static int id_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

static int replay_one(void *ctx, const struct lca_pgevent *pe, struct lca_err *err)
{
    struct replay *r = ctx;
    struct lca_event *ev = NULL;
    size_t i;
    int rc;

    for (i = 0; i < r->n_own; i++) {
        if (pe->position >= r->own[i].first && pe->position <= r->own[i].last) {
            lca_state_advance(r->st, pe->position); /* applied when it was decided */
            return LCA_OK;
        }
    }
    /* an event of the batch on the commit thread, committed before we read: applied too */
    if (r->n_skip > 0 && bsearch(pe->command_id, r->skip, r->n_skip, 16, id_cmp) != NULL) {
        lca_state_advance(r->st, pe->position);
        return LCA_OK;
    }
    if (lca_event_decode(pe->payload, pe->payload_len, &ev, err) != LCA_OK) {
        err->cls = LCA_ERR_FATAL;
        return LCA_FAIL;
    }
    rc = lca_state_evolve(r->st, pe->position, ev, err);
    lca_event_free(ev);
    if (rc != LCA_OK) {
        err->cls = LCA_ERR_FATAL;
    }
    return rc;
}

int lca_signer_load_state(struct lca_pgstore *store, struct lca_state **out, struct lca_err *err)
{
    struct replay r = {lca_state_new(), NULL, 0, NULL, 0};

    if (r.st == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
    }
    if (lca_pgstore_read(store, 0, 0, replay_one, &r, NULL, err) != LCA_OK) {
        lca_state_free(r.st);
        return LCA_FAIL;
    }
    *out = r.st;
    return LCA_OK;
}

static int rebuild(struct signer *s, struct lca_err *err)
{
    struct lca_state *st = NULL;

    if (lca_signer_load_state(s->store, &st, err) != LCA_OK) {
        return LCA_FAIL;
    }
    lca_state_free(s->st);
    s->st = st;
    s->n_own = 0;
    s->need_rebuild = 0;
    lca_log(LCA_LOG_INFO, "state rebuilt from the log", "position=%lld issuers=%zu certs=%zu",
            (long long)lca_state_position(st), lca_state_issuer_count(st),
            lca_state_cert_count(st));
    return LCA_OK;
}

static int catch_up(struct signer *s, struct lca_err *err)
{
    struct replay r = {s->st, s->own, s->n_own, NULL, 0};

    if (s->need_rebuild) {
        return rebuild(s, err);
    }
    if (s->prev != NULL) {
        r.skip = (const uint8_t(*)[16])s->prev->sorted;
        r.n_skip = s->prev->n_sorted;
    }
    if (lca_pgstore_read(s->store, lca_state_position(s->st), 0, replay_one, &r, NULL, err) !=
        LCA_OK) {
        return LCA_FAIL;
    }
    s->n_own = 0; /* every own range is now at or below the state's position */
    return LCA_OK;
}

/* ---- replies ---- */

static int reply_encode(const struct lca_command *cmd, const struct lca_decision *d,
                        const char *status, const char *code, const char *message,
                        char **out, size_t *len, struct lca_err *err)
{
    struct lca_val *r = lca_val_new_map(), *e;
    int rc;

    lca_val_map_set_str(r, "command_id", cmd->command_id);
    lca_val_map_set_str(r, "correlation_id", cmd->correlation_id);
    lca_val_map_set_str(r, "type", lca_catalog_cmd_name(cmd->type));
    lca_val_map_set_str(r, "status", status);
    if (code != NULL) {
        e = lca_val_new_map();
        lca_val_map_set_str(e, "code", code);
        lca_val_map_set_str(e, "message", message);
        lca_val_map_set(r, "error", e);
    }
    if (d != NULL && !d->rejected) {
        lca_val_map_set(r, "result", lca_val_clone(d->result));
    }
    rc = lca_json_encode(r, out, len, err);
    lca_val_free(r);
    return rc;
}

static int uuid_bytes(const char *s, uint8_t out[16])
{
    size_t i, n = 0;

    for (i = 0; s[i] != '\0' && n < 16; i++) {
        unsigned v;
        if (s[i] == '-') {
            continue;
        }
        if (sscanf(s + i, "%2x", &v) != 1) {
            return LCA_FAIL;
        }
        out[n++] = (uint8_t)v;
        i++;
    }
    return n == 16 ? LCA_OK : LCA_FAIL;
}

/* ---- authorization ---- */

static int resolve_token(struct signer *s, const char *token, struct lca_token_info **out,
                         struct lca_err *err)
{
    static struct lca_token_info unauthed; /* zero: LCA_PERSONA_UNAUTHED */
    uint8_t h[32];
    struct token_slot *slot;
    size_t i;

    if (token == NULL || token[0] == '\0') {
        *out = &unauthed;
        return LCA_OK;
    }
    SHA256((const unsigned char *)token, strlen(token), h);
    for (i = 0; i < s->n_tokens; i++) {
        if (CRYPTO_memcmp(s->tokens[i].hash, h, 32) == 0 &&
            time(NULL) - s->tokens[i].fetched < TOKEN_TTL) {
            *out = &s->tokens[i].info;
            return LCA_OK;
        }
    }
    slot = &s->tokens[s->n_tokens < TOKEN_CACHE ? s->n_tokens++ : s->next_token++ % TOKEN_CACHE];
    if (lca_tokens_lookup(s->store, token, &slot->info, err) != LCA_OK) {
        memset(slot, 0, sizeof(*slot));
        return LCA_FAIL;
    }
    memcpy(slot->hash, h, 32);
    slot->fetched = time(NULL);
    *out = &slot->info;
    return LCA_OK;
}

/* Secondary mode (--secondary-of): the CA-wide commands belong to the primary, whose log the
 * replicator (workers/replicate.h) copies here; deciding them here would fork the CA. */
static int secondary_refuses(enum lca_cmd_type t)
{
    switch (t) {
    case LCA_CMD_CONFIG_UPDATE:
    case LCA_CMD_ROTATE:
    case LCA_CMD_CROSS_SIGN:
    case LCA_CMD_REISSUE:
    case LCA_CMD_ISSUER_UPDATE:
    case LCA_CMD_ROLE_WRITE:
    case LCA_CMD_ROLE_DELETE:
    case LCA_CMD_SIGN_INTERMEDIATE:
        return 1;
    default:
        return 0;
    }
}

static int deny_secondary(const struct signer *s, const struct lca_command *cmd,
                          struct lca_decision **d, struct lca_err *err)
{
    char why[256];

    snprintf(why, sizeof(why),
             "this cluster (%.40s) is a secondary of %.40s: %s is CA-wide, send it to the "
             "primary (topic ledgerca.commands.admin.%.40s)",
             s->o->cluster, s->o->secondary_of, lca_catalog_cmd_name(cmd->type),
             s->o->secondary_of);
    return lca_decide_deny(cmd, "secondary_cluster", why, d, err);
}

/* 1 when Kafka has the topic (positive answers are cached; auto-creation is off, so a reply to
 * a missing topic could never be delivered and would stop the signer). */
static int reply_topic_exists(struct signer *s, const char *topic)
{
    struct lca_err err;
    size_t i;
    int parts = 0;

    if (strcmp(topic, LCA_KAFKA_TOPIC_REPLIES) == 0) {
        return 1;
    }
    for (i = 0; i < s->n_reply_topics; i++) {
        if (strcmp(s->reply_topics[i], topic) == 0) {
            return 1;
        }
    }
    lca_err_clear(&err);
    if (lca_kafka_topic_partitions(s->o->bootstrap, topic, 5000, &parts, &err) != LCA_OK) {
        /* BAD_INPUT: it does not exist; otherwise Kafka did not answer: let delivery decide */
        return err.cls != LCA_ERR_BAD_INPUT;
    }
    snprintf(s->reply_topics[s->next_reply_topic], sizeof(s->reply_topics[0]), "%s", topic);
    s->next_reply_topic = (s->next_reply_topic + 1) % REPLY_TOPICS;
    if (s->n_reply_topics < REPLY_TOPICS) {
        s->n_reply_topics++;
    }
    return 1;
}

/* A command whose reply_to does not exist is answered on the default reply topic, refused. */
static void check_reply_to(struct signer *s, struct lca_command *c)
{
    if (!reply_topic_exists(s, c->reply_to)) {
        snprintf(c->missing_reply_to, sizeof(c->missing_reply_to), "%s", c->reply_to);
        snprintf(c->reply_to, sizeof(c->reply_to), "%s", LCA_KAFKA_TOPIC_REPLIES);
        lca_log(LCA_LOG_WARN, "reply_to topic does not exist: refused, answered on the default",
                "command_id=%s reply_to=%s", c->command_id, c->missing_reply_to);
    }
}

/* Decides the command, or denies it when its token's persona may not send it. */
static int decide_authorized(struct signer *s, const struct lca_command *cmd,
                             struct lca_decision **d, struct lca_err *err)
{
    struct lca_token_info *info = NULL;
    const char *roles[LCA_TOKEN_MAX_ROLES];
    struct lca_err why;
    size_t i;

    if (!s->o->no_auth) {
        if (resolve_token(s, cmd->token, &info, err) != LCA_OK) {
            return LCA_FAIL;
        }
        for (i = 0; i < info->n_roles; i++) {
            roles[i] = info->roles[i];
        }
        lca_err_clear(&why);
        if (lca_authz_check(info->persona, roles, info->n_roles, cmd, &why) != LCA_OK) {
            return lca_decide_deny(cmd, why.code, why.msg, d, err);
        }
    }
    if (cmd->missing_reply_to[0] != '\0') {
        char reason[400];
        snprintf(reason, sizeof(reason),
                 "reply_to topic '%.249s' does not exist; this reply went to %s",
                 cmd->missing_reply_to, LCA_KAFKA_TOPIC_REPLIES);
        return lca_decide_deny(cmd, "bad_reply_to", reason, d, err);
    }
    if (s->o->secondary_of != NULL && s->o->secondary_of[0] != '\0' &&
        secondary_refuses(cmd->type)) {
        return deny_secondary(s, cmd, d, err);
    }
    return lca_decide(s->st, cmd, lca_osslenv_env(s->oe), d, err);
}

/* ---- cross-cluster revocation (--forward-revocations; README "Multi-cluster") ---- */

/* A revoke of a serial this cluster never issued is handed to the aggregator instead of being
 * rejected: in the command's own transaction, a RevocationForwarded event, the dedupe row (its
 * recorded reply says "forwarded" and is never sent to the client) and an outbox message to
 * ledgerca.revoke-forward carrying the command with a `forwarded-from` header. The aggregator
 * produces it to the owning cluster, whose reply is the client's only one. A redelivery finds
 * the dedupe row and re-sends the forward (the aggregator dedupes by command id), never a
 * reply. A command that already carries `forwarded-from` is decided normally (not_found). */
static int forward_wanted(const struct signer *s, const struct lca_command *cmd,
                          const struct lca_decision *d)
{
    return s->o->forward_revocations && !cmd->forwarded && cmd->type == LCA_CMD_REVOKE &&
           d->rejected && strcmp(d->code, "not_found") == 0;
}

/* The command as JSON (the wire form a client sends), token included: the owner checks it. */
static int forward_encode(const struct lca_command *cmd, char **out, size_t *len,
                          struct lca_err *err)
{
    struct lca_val *m = lca_val_new_map();
    int rc;

    lca_val_map_set_str(m, "command_id", cmd->command_id);
    lca_val_map_set_str(m, "type", lca_catalog_cmd_name(cmd->type));
    lca_val_map_set_str(m, "correlation_id", cmd->correlation_id);
    lca_val_map_set_str(m, "reply_to", cmd->reply_to);
    if (cmd->token != NULL) {
        lca_val_map_set_str(m, "token", cmd->token);
    }
    lca_val_map_set(m, "payload", lca_val_clone(cmd->payload));
    rc = lca_json_encode(m, out, len, err);
    lca_val_free(m); /* the encoder wipes its buffers; the tree's token copy goes with it */
    return rc;
}

static int add_events(struct signer *s, const struct lca_command *cmd,
                      const struct lca_decision *d, struct lca_err *err);

static int add_forward(struct signer *s, const struct lca_command *cmd, const uint8_t id[16],
                       char **fwd_out, struct lca_err *err)
{
    struct lca_val *p = lca_val_new_map(), *r = lca_val_new_map();
    struct lca_event *ev = NULL;
    struct lca_decision d;
    char *reply = NULL, *fwd = NULL;
    size_t reply_len = 0, fwd_len = 0;
    int rc = LCA_FAIL;

    lca_val_map_set_str(p, "serial_number", lca_val_map_get_str(cmd->payload, "serial_number"));
    lca_val_map_set_str(p, "forwarded_to", LCA_KAFKA_TOPIC_REVOKE_FORWARD);
    lca_val_map_set_str(r, "command_id", cmd->command_id);
    lca_val_map_set_str(r, "correlation_id", cmd->correlation_id);
    lca_val_map_set_str(r, "type", lca_catalog_cmd_name(cmd->type));
    lca_val_map_set_str(r, "status", "forwarded");
    lca_val_map_set_str(r, "forwarded_to", LCA_KAFKA_TOPIC_REVOKE_FORWARD);
    memset(&d, 0, sizeof(d));
    d.events = &ev;
    d.n_events = 1;
    if ((ev = lca_event_new(LCA_EVT_REVOCATION_FORWARDED, p)) == NULL) {
        lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
        goto out;
    }
    if (lca_json_encode(r, &reply, &reply_len, err) != LCA_OK ||
        forward_encode(cmd, &fwd, &fwd_len, err) != LCA_OK ||
        lca_pgbatch_add_command(s->batch, id, (const uint8_t *)reply, reply_len, NULL, err) !=
            LCA_OK ||
        add_events(s, cmd, &d, err) != LCA_OK ||
        lca_pgbatch_add_outbox(s->batch, LCA_KAFKA_TOPIC_REVOKE_FORWARD,
                               (const uint8_t *)cmd->command_id, strlen(cmd->command_id),
                               (const uint8_t *)fwd, fwd_len, NULL, 0, err) != LCA_OK) {
        goto out;
    }
    lca_log(LCA_LOG_INFO, "revocation forwarded", "command_id=%s", cmd->command_id);
    *fwd_out = fwd; /* the commit pipeline sends it instead of a reply */
    fwd = NULL;
    rc = LCA_OK;
out:
    if (fwd != NULL) {
        OPENSSL_cleanse(fwd, fwd_len);
    }
    free(fwd);
    free(reply);
    lca_event_free(ev);
    lca_val_free(r);
    return rc;
}

/* The forward topic, created when missing (the outbox relay must not fail on it). */
static int forward_topic(const struct signer *s, struct lca_err *err)
{
    static const char *const t[] = {LCA_KAFKA_TOPIC_REVOKE_FORWARD};

    return !s->o->forward_revocations
               ? LCA_OK
               : lca_kafka_create_topics(s->o->bootstrap, t, 1, LCA_KAFKA_PARTITIONS, 30000, err);
}

/* ---- one command ---- */

static int add_events(struct signer *s, const struct lca_command *cmd,
                      const struct lca_decision *d, struct lca_err *err)
{
    char stream[96];
    int32_t version;
    uint8_t *bytes = NULL;
    size_t i, len = 0;

    for (i = 0; i < d->n_events; i++) {
        const struct lca_event *ev = d->events[i];
        if (lca_state_stream(s->st, ev, cmd->command_id, stream, sizeof(stream), &version) !=
                LCA_OK ||
            lca_event_canonical(ev, &bytes, &len, err) != LCA_OK ||
            lca_pgbatch_add_event(s->batch, stream, version, lca_catalog_evt_name(ev->type),
                                  bytes, len, err) != LCA_OK) {
            free(bytes);
            return err->cls != LCA_ERR_NONE
                       ? LCA_FAIL
                       : lca_err_set(err, LCA_ERR_FATAL, "stream", "no stream for an event");
        }
        free(bytes);
        bytes = NULL;
        /* later commands of the batch must see this one's effect */
        if (lca_state_evolve(s->st, 0, ev, err) != LCA_OK) {
            err->cls = LCA_ERR_FATAL;
            return LCA_FAIL;
        }
    }
    return LCA_OK;
}

static int process_command(struct signer *s, const struct lca_command *cmd, char **fwd,
                           struct lca_err *err)
{
    struct lca_decision *d = NULL;
    char *reply = NULL;
    size_t reply_len = 0;
    uint8_t id[16];
    int rc = LCA_FAIL;

    if (uuid_bytes(cmd->command_id, id) != LCA_OK) {
        return lca_err_set(err, LCA_ERR_FATAL, "bad_uuid", "command id not a UUID");
    }
    if (decide_authorized(s, cmd, &d, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (forward_wanted(s, cmd, d)) {
        lca_decision_free(d);
        return add_forward(s, cmd, id, fwd, err);
    }
    if (reply_encode(cmd, d, d->rejected ? "rejected" : "ok", d->rejected ? d->code : NULL,
                     d->reason, &reply, &reply_len, err) != LCA_OK ||
        lca_pgbatch_add_command(s->batch, id, (const uint8_t *)reply, reply_len, NULL, err) !=
            LCA_OK ||
        add_events(s, cmd, d, err) != LCA_OK ||
        lca_pgbatch_add_reply_outbox(s->batch, cmd->reply_to,
                                     (const uint8_t *)cmd->correlation_id,
                                     strlen(cmd->correlation_id), NULL, 0, err) != LCA_OK) {
        goto out;
    }
    if (d->rejected) {
        lca_log(LCA_LOG_INFO, "command rejected", "command_id=%s type=%s code=%s",
                cmd->command_id, lca_catalog_cmd_name(cmd->type), d->code);
    }
    rc = LCA_OK;
out:
    free(reply);
    lca_decision_free(d);
    return rc;
}

/* ---- dead letters ---- */

/* The dead-letter copy keeps at most this much of the message (a poison pill larger than the
 * producer's message limit must not stop the signer); the original size goes in a header. */
#define DEAD_LETTER_MAX_VALUE (256 * 1024)

static int dead_letter(struct signer *s, const struct lca_kmsg *m, const struct lca_err *why,
                       struct lca_err *err)
{
    char part[16], off[24], size[24];
    size_t len = m->value != NULL ? m->len : 0;
    struct lca_kheader h[6] = {
        {"error", why->msg, strlen(why->msg)},
        {"error-code", why->code, strlen(why->code)},
        {"source-topic", m->topic, strlen(m->topic)},
        {"source-partition", part, 0},
        {"source-offset", off, 0},
        {"original-size", size, 0},
    };

    snprintf(part, sizeof(part), "%d", (int)m->partition);
    snprintf(off, sizeof(off), "%lld", (long long)m->offset);
    snprintf(size, sizeof(size), "%zu", len);
    h[3].len = strlen(part);
    h[4].len = strlen(off);
    h[5].len = strlen(size);
    if (len > DEAD_LETTER_MAX_VALUE) {
        len = DEAD_LETTER_MAX_VALUE;
    }
    s->n_dead++;
    lca_log(LCA_LOG_WARN, "message dead-lettered", "topic=%s partition=%d offset=%lld code=%s",
            m->topic, (int)m->partition, (long long)m->offset, why->code);
    return lca_kproducer_send(s->prod, LCA_KAFKA_TOPIC_DEAD_LETTER, m->key,
                              m->key_len > 1024 ? 1024 : m->key_len,
                              m->value != NULL ? m->value : (const unsigned char *)"", len, h, 6,
                              err);
}

/* ---- the outbox relay ---- */

struct relay {
    struct signer *s;
    int64_t ids[4096];
    size_t n;
};

static int relay_one(void *ctx, const struct lca_outbox_msg *m, struct lca_err *err)
{
    struct relay *r = ctx;
    const char *cl = r->s->o->cluster;
    struct lca_kheader h[2] = {{"content-type", "application/json", 16},
                               {"forwarded-from", cl, strlen(cl)}};
    size_t nh = strcmp(m->topic, LCA_KAFKA_TOPIC_REVOKE_FORWARD) == 0 ? 2 : 1;

    if (lca_kproducer_send(r->s->prod, m->topic, m->key, m->key_len, m->payload, m->len, h, nh,
                           err) != LCA_OK) {
        return LCA_FAIL;
    }
    r->ids[r->n++] = m->id;
    return LCA_OK;
}

static int relay_outbox(struct signer *s, struct lca_err *err)
{
    struct relay *r = calloc(1, sizeof(*r));
    size_t n = 0;
    int rc = LCA_FAIL;

    if (r == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
    }
    r->s = s;
    do {
        r->n = 0;
        if (lca_outbox_pending(s->store, 4096, relay_one, r, &n, err) != LCA_OK) {
            goto out;
        }
        if (n > 0 && (lca_kproducer_flush(s->prod, 30000, err) != LCA_OK ||
                      lca_outbox_mark(s->store, r->ids, r->n, err) != LCA_OK)) {
            goto out;
        }
    } while (n == 4096);
    rc = LCA_OK;
out:
    free(r);
    return rc;
}

/* ---- a batch ---- */

/* Forwards hold the client's token: wiped before free. */
static void fwd_free(struct batch_cmds *b)
{
    size_t i;

    for (i = 0; i < b->n; i++) {
        if (b->fwd[i] != NULL) {
            OPENSSL_cleanse(b->fwd[i], strlen(b->fwd[i]));
            free(b->fwd[i]);
            b->fwd[i] = NULL;
        }
    }
}

static void cmds_free(struct batch_cmds *b)
{
    size_t i;

    fwd_free(b);
    for (i = 0; i < b->n; i++) {
        lca_command_free(b->cmds[i]);
    }
    b->n = 0;
}

static int drain(struct signer *s, struct lca_err *err);

/* Parses the messages; undecodable ones go to the dead-letter topic (flushed before the
 * offsets that skip them are committed). The producer is the commit thread's while a commit
 * is in flight, so that commit is finished first (rare: only for undecodable messages). */
static int parse_all(struct signer *s, const struct lca_kmsg *msgs, size_t n,
                     struct batch_cmds *b, struct lca_err *err)
{
    size_t i, dead = 0;

    for (i = 0; i < n; i++) {
        struct lca_err why;
        struct lca_command *c = NULL;
        lca_err_clear(&why);
        if (msgs[i].value == NULL ||
            lca_command_parse(msgs[i].value, msgs[i].len,
                              msgs[i].has_content_type ? msgs[i].content_type : NULL, &c,
                              &why) != LCA_OK) {
            if (msgs[i].value == NULL) {
                lca_err_set(&why, LCA_ERR_BAD_INPUT, "empty", "empty message");
            }
            if (drain(s, err) != LCA_OK || dead_letter(s, &msgs[i], &why, err) != LCA_OK) {
                return LCA_FAIL;
            }
            dead++;
            continue;
        }
        c->forwarded = lca_kmsg_header(&msgs[i], "forwarded-from", NULL, NULL);
        check_reply_to(s, c);
        b->cmds[b->n++] = c;
    }
    if (dead > 0 && lca_kproducer_flush(s->prod, 30000, err) != LCA_OK) {
        return LCA_FAIL;
    }
    return LCA_OK;
}

static int fill_batch(struct signer *s, const struct lca_kmsg *msgs, size_t n,
                      struct batch_cmds *b, struct lca_err *err)
{
    struct lca_ktp offs[64];
    size_t i, no;

    lca_pgbatch_reset(s->batch);
    fwd_free(b); /* a batch decided again forwards again */
    for (i = 0; i < b->n; i++) {
        if (process_command(s, b->cmds[i], &b->fwd[i], err) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    no = lca_kafka_next_offsets(msgs, n, offs, 64);
    for (i = 0; i < no; i++) {
        if (lca_pgbatch_add_offset(s->batch, s->group, offs[i].topic, offs[i].partition,
                                   offs[i].offset, err) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    return LCA_OK;
}

/* Own committed events the state already holds: when they follow the state's position
 * directly (nothing of another signer in between), the position moves past them without
 * reading them back; otherwise catch_up skips them by range. */
static void note_committed(struct signer *s, const struct lca_pgbatch *batch, size_t n)
{
    size_t i;
    int64_t first, last;

    for (i = 0; i < n; i++) {
        enum lca_pgbatch_outcome o = lca_pgbatch_result(batch, i, &first, &last, NULL, NULL);
        if (o == LCA_PGBATCH_DUPLICATE) {
            s->need_rebuild = 1; /* we decided it again in memory: drop that copy */
        } else if (o == LCA_PGBATCH_NEW && first > 0) {
            if (first == lca_state_position(s->st) + 1) {
                lca_state_advance(s->st, last);
            } else if (last <= lca_state_position(s->st)) {
                continue; /* already read back (and skipped) by catch_up */
            } else if (s->n_own == MAX_RANGES) {
                s->need_rebuild = 1;
            } else {
                s->own[s->n_own].first = first;
                s->own[s->n_own++].last = last;
            }
        }
    }
}

/* The pipeline job of a filled slot: per-command reply routes and the sorted ids. */
static int job_prepare(struct slot *sl, struct lca_err *err)
{
    size_t i;

    for (i = 0; i < sl->b.n; i++) {
        sl->reply_to[i] = sl->b.cmds[i]->reply_to;
        sl->keys[i] = sl->b.cmds[i]->correlation_id;
        sl->ids[i] = sl->b.cmds[i]->command_id;
        if (lca_pgbatch_command_id(sl->batch, i, sl->sorted[i], err) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    sl->n_sorted = sl->b.n;
    qsort(sl->sorted, sl->n_sorted, 16, id_cmp);
    sl->job.batch = sl->batch;
    sl->job.reply_to = sl->reply_to;
    sl->job.keys = sl->keys;
    sl->job.ids = sl->ids;
    sl->job.forwards = (const char *const *)sl->b.fwd;
    return LCA_OK;
}

/* Catches up with the log and decides the slot's commands (again) on the current state. */
static int decide_slot(struct signer *s, struct slot *sl, struct lca_err *err)
{
    if (s->need_rebuild && drain(s, err) != LCA_OK) {
        return LCA_FAIL; /* a rebuilt state must include the batch in flight */
    }
    s->stale = 0;
    s->batch = sl->batch;
    if (catch_up(s, err) != LCA_OK || fill_batch(s, sl->msgs, sl->n, &sl->b, err) != LCA_OK ||
        job_prepare(sl, err) != LCA_OK) {
        s->need_rebuild = 1; /* the state may hold part of the batch */
        return LCA_FAIL;
    }
    return LCA_OK;
}

static double mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Commits the pending offsets to Kafka (secondary record) if `force` or KCOMMIT_EVERY_MS has
 * passed since the last commit. */
static void kcommit_flush(struct signer *s, int force)
{
    struct lca_ktp offs[KCOMMIT_MAX];
    struct lca_err kerr;
    size_t i;

    if (s->n_kpend == 0 || (!force && mono_ms() - s->last_kcommit < KCOMMIT_EVERY_MS)) {
        return;
    }
    for (i = 0; i < s->n_kpend; i++) {
        offs[i].topic = s->kpend[i].topic;
        offs[i].partition = s->kpend[i].partition;
        offs[i].offset = s->kpend[i].offset;
    }
    lca_err_clear(&kerr);
    if (lca_kconsumer_commit(s->cons, offs, s->n_kpend, &kerr) != LCA_OK) {
        lca_log_err("kafka offset commit (secondary record) failed", &kerr);
    }
    s->n_kpend = 0;
    s->last_kcommit = mono_ms();
}

/* Adds a batch's next offsets to the pending ones (the highest per partition). */
static void kcommit_add(struct signer *s, const struct lca_ktp *offs, size_t n)
{
    size_t i, j;

    for (i = 0; i < n; i++) {
        for (j = 0; j < s->n_kpend; j++) {
            if (s->kpend[j].partition == offs[i].partition &&
                strcmp(s->kpend[j].topic, offs[i].topic) == 0) {
                break;
            }
        }
        if (j == s->n_kpend) {
            if (j == KCOMMIT_MAX || strlen(offs[i].topic) >= sizeof(s->kpend[j].topic)) {
                continue; /* more partitions than slots: the secondary record skips them */
            }
            snprintf(s->kpend[j].topic, sizeof(s->kpend[j].topic), "%s", offs[i].topic);
            s->kpend[j].partition = offs[i].partition;
            s->kpend[j].offset = offs[i].offset;
            s->n_kpend++;
        } else if (offs[i].offset > s->kpend[j].offset) {
            s->kpend[j].offset = offs[i].offset;
        }
    }
}

/* After the slot's commit and replies: bookkeeping, the Kafka offsets (secondary record,
 * committed once a second), then the messages are released. */
static void slot_done(struct signer *s, struct slot *sl)
{
    struct lca_ktp offs[64];
    size_t no;

    note_committed(s, sl->batch, sl->b.n);
    if (s->need_rebuild) {
        s->stale = 1; /* a batch decided meanwhile saw that wrong copy */
    }
    s->batches++;
    s->n_commands += sl->b.n;
    s->n_dups += sl->job.n_dups;
    no = lca_kafka_next_offsets(sl->msgs, sl->n, offs, 64);
    kcommit_add(s, offs, no);
    kcommit_flush(s, 0);
    cmds_free(&sl->b);
    lca_kconsumer_release(sl->msgs, sl->n);
    sl->n = 0;
}

/* Commits the slot and waits, deciding it again after each RETRIABLE failure (on a state
 * rebuilt from the log); `decided`: its batch is filled already. Retries until stopped. */
static int commit_sync(struct signer *s, struct slot *sl, int decided, struct lca_err *err)
{
    int delay = 1;

    for (;;) {
        if ((decided || decide_slot(s, sl, err) == LCA_OK) &&
            lca_cpipe_submit(s->pipe, &sl->job, err) == LCA_OK &&
            lca_cpipe_wait(s->pipe, err) == LCA_OK) {
            slot_done(s, sl);
            return LCA_OK;
        }
        decided = 0;
        if (err->cls != LCA_ERR_RETRIABLE) {
            return LCA_FAIL;
        }
        lca_log_err("batch not committed; retrying after rebuilding the state", err);
        s->need_rebuild = 1;
        s->stale = 1;
        if (*s->o->stop) {
            return LCA_FAIL;
        }
        sleep((unsigned)delay);
        delay = delay < 8 ? delay * 2 : delay;
        lca_err_clear(err);
    }
}

/* Finishes the commit in flight, if any (retrying it synchronously if it failed). */
static int drain(struct signer *s, struct lca_err *err)
{
    struct slot *sl = s->prev;

    if (sl == NULL) {
        /* at most a mark-only job: its failure leaves the marks for the next commit */
        if (lca_cpipe_wait(s->pipe, err) != LCA_OK) {
            lca_log_err("marking replies published failed; the next commit retries", err);
        }
        lca_err_clear(err);
        return LCA_OK;
    }
    s->prev = NULL;
    if (lca_cpipe_wait(s->pipe, err) == LCA_OK) {
        slot_done(s, sl);
        return LCA_OK;
    }
    if (err->cls != LCA_ERR_RETRIABLE) {
        return LCA_FAIL;
    }
    lca_log_err("batch not committed; retrying after rebuilding the state", err);
    s->need_rebuild = 1;
    s->stale = 1;
    lca_err_clear(err);
    return commit_sync(s, sl, 0, err);
}

/* One polled batch: decided while the previous one commits, then handed to the commit
 * thread. A batch decided on a state that turned out void (the previous commit failed or
 * met duplicates) is decided again and committed synchronously. */
/* Age in ms of the batch's oldest message when polled (its producer's CreateTime against this
 * clock: meaningful on one host or with synchronized clocks; for the debug log only). */
static double oldest_age_ms(const struct lca_kmsg *msgs, size_t n)
{
    struct timespec ts;
    int64_t oldest = INT64_MAX;
    size_t i;

    for (i = 0; i < n; i++) {
        if (msgs[i].timestamp_ms >= 0 && msgs[i].timestamp_ms < oldest) {
            oldest = msgs[i].timestamp_ms;
        }
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    return oldest == INT64_MAX ? -1
                               : (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6 -
                                     (double)oldest;
}

static int run_batch(struct signer *s, struct slot *sl, struct lca_err *err)
{
    double t0, t1, age = oldest_age_ms(sl->msgs, sl->n);
    int decided;

    sl->b.n = 0;
    if (parse_all(s, sl->msgs, sl->n, &sl->b, err) != LCA_OK) {
        return LCA_FAIL;
    }
    sl->job.number = ++s->numbered;
    t0 = mono_ms();
    lca_csrpool_run(s->csrs, sl->b.cmds, sl->b.n);
    decided = decide_slot(s, sl, err) == LCA_OK;
    lca_csrpool_clear(s->csrs); /* a batch decided again parses its CSRs itself */
    if (!decided && err->cls != LCA_ERR_RETRIABLE) {
        return LCA_FAIL;
    }
    lca_err_clear(err);
    t1 = mono_ms();
    if (drain(s, err) != LCA_OK) {
        return LCA_FAIL;
    }
    lca_log(LCA_LOG_DEBUG, "batch decided",
            "batch=%ld commands=%zu age_ms=%.1f decide_ms=%.1f wait_ms=%.1f", sl->job.number,
            sl->b.n, age, t1 - t0, mono_ms() - t1);
    if (!decided || s->stale) {
        return commit_sync(s, sl, 0, err);
    }
    if (lca_cpipe_submit(s->pipe, &sl->job, err) != LCA_OK) {
        return LCA_FAIL;
    }
    s->prev = sl;
    s->cur ^= 1;
    return LCA_OK;
}

/* Nothing polled: finish the commit in flight, then have the commit thread mark its replies
 * published while this thread polls again (no later commit is there to carry the marks). */
static int run_idle(struct signer *s, struct lca_err *err)
{
    if (drain(s, err) != LCA_OK) {
        return LCA_FAIL;
    }
    kcommit_flush(s, 0);
    return lca_cpipe_unmarked(s->pipe) > 0 ? lca_cpipe_publish(s->pipe, err) : LCA_OK;
}

static int slots_init(struct signer *s, size_t max)
{
    size_t k;

    for (k = 0; k < 2; k++) {
        struct slot *sl = &s->slots[k];
        sl->msgs = calloc(max, sizeof(*sl->msgs));
        sl->b.cmds = calloc(max + 1, sizeof(*sl->b.cmds));
        sl->b.fwd = calloc(max + 1, sizeof(*sl->b.fwd));
        sl->job.forward_from = s->o->cluster;
        sl->batch = lca_pgbatch_new();
        sl->reply_to = calloc(max + 1, sizeof(char *));
        sl->keys = calloc(max + 1, sizeof(char *));
        sl->ids = calloc(max + 1, sizeof(char *));
        sl->sorted = calloc(max + 1, 16);
        if (sl->msgs == NULL || sl->b.cmds == NULL || sl->b.fwd == NULL || sl->batch == NULL ||
            sl->reply_to == NULL || sl->keys == NULL || sl->ids == NULL || sl->sorted == NULL) {
            return LCA_FAIL;
        }
    }
    s->batch = s->slots[0].batch;
    return LCA_OK;
}

static void slots_free(struct signer *s)
{
    size_t k;

    for (k = 0; k < 2; k++) {
        struct slot *sl = &s->slots[k];
        if (sl->msgs != NULL && sl->n > 0) {
            lca_kconsumer_release(sl->msgs, sl->n);
        }
        if (sl->b.cmds != NULL) {
            cmds_free(&sl->b);
        }
        free(sl->msgs);
        free(sl->b.cmds);
        free(sl->b.fwd);
        lca_pgbatch_free(sl->batch);
        free(sl->reply_to);
        free(sl->keys);
        free(sl->ids);
        free(sl->sorted);
    }
}

/* ---- start-up and the loop ---- */

struct offq {
    int32_t want;
    int64_t found;
};

static void offset_seen(void *ctx, int32_t partition, int64_t next_offset)
{
    struct offq *q = ctx;

    if (partition == q->want) {
        q->found = next_offset;
    }
}

static int load_offsets_pg(void *ctx, const char *topic, int32_t partition, int64_t *next)
{
    struct signer *s = ctx;
    struct offq q = {partition, LCA_KOFFSET_NONE};
    struct lca_err err;

    lca_err_clear(&err);
    if (lca_pgstore_offsets(s->store, s->group, topic, offset_seen, &q, &err) != LCA_OK) {
        lca_log_err("loading stored offsets failed", &err);
        return LCA_FAIL;
    }
    *next = q.found;
    lca_log(LCA_LOG_INFO, "partition assigned", "topic=%s partition=%d start=%lld", topic,
            (int)partition, (long long)q.found);
    return LCA_OK;
}

static void on_error(void *ctx, const struct lca_err *err)
{
    (void)ctx;
    lca_log_err("kafka", err);
}

static int ca_bootstrap(struct signer *s, struct lca_err *err)
{
    struct lca_decision *d = NULL;
    struct lca_command cmd;
    char *reply = NULL;
    size_t len = 0;
    uint8_t id[16];
    int rc = LCA_FAIL;

    memset(&cmd, 0, sizeof(cmd));
    snprintf(cmd.command_id, sizeof(cmd.command_id), "%s", LCA_BOOTSTRAP_COMMAND_ID);
    snprintf(cmd.correlation_id, sizeof(cmd.correlation_id), "%s", LCA_BOOTSTRAP_COMMAND_ID);
    cmd.type = LCA_CMD_CONFIG_UPDATE;
    if (uuid_bytes(cmd.command_id, id) != LCA_OK ||
        lca_decide_bootstrap(s->st, NULL, s->o->cluster, lca_osslenv_env(s->oe), &d, err) !=
            LCA_OK) {
        goto out;
    }
    lca_pgbatch_reset(s->batch);
    if (reply_encode(&cmd, d, d->rejected ? "rejected" : "ok", NULL, NULL, &reply, &len, err) !=
            LCA_OK ||
        lca_pgbatch_add_command(s->batch, id, (const uint8_t *)reply, len, NULL, err) !=
            LCA_OK ||
        add_events(s, &cmd, d, err) != LCA_OK ||
        lca_pgstore_commit_batch(s->store, s->batch, err) != LCA_OK) {
        goto out;
    }
    lca_log(LCA_LOG_INFO, "CA bootstrapped",
            "cluster=%s outcome=%s", s->o->cluster,
            lca_pgbatch_result(s->batch, 0, NULL, NULL, NULL, NULL) == LCA_PGBATCH_NEW
                ? "new"
                : "already-bootstrapped");
    rc = rebuild(s, err);
out:
    free(reply);
    lca_decision_free(d);
    return rc;
}

/* ---- scheduled CRL rebuild (issue 4) ---- */

/* When an issuer's CRL nears its nextUpdate (lca_decide_crl_due), decides and commits a
 * crl.rotate for it as the bootstrap does: no Kafka round trip and no token (an internal
 * command), under a command id derived from the issuer and the CRL period, so that the copies
 * of concurrent signers are duplicates of one command in the event store. Failures are logged
 * and retried at the next tick: they never stop the signer. */
static void crl_tick(struct signer *s)
{
    struct lca_command cmd;
    struct lca_decision *d = NULL;
    struct lca_err err;
    struct lca_pgbatch *saved = s->batch, *batch = lca_pgbatch_new();
    char iid[LCA_ID_LEN + 1], *reply = NULL;
    size_t len = 0;
    uint8_t id[16];
    int evolved = 0; /* events applied in memory: the state must be rebuilt from the log */
    int delta = 0;   /* 1: pending revocations' delta CRLs (delta_rebuild_interval) */

    memset(&cmd, 0, sizeof(cmd));
    lca_err_clear(&err);
    if (batch == NULL) {
        lca_err_set(&err, LCA_ERR_FATAL, "oom", "out of memory");
        goto out;
    }
    s->batch = batch; /* its own batch: the slots' belong to the pipeline */
    if (catch_up(s, &err) != LCA_OK ||
        !lca_decide_crl_due(s->st, (int64_t)time(NULL), iid, cmd.command_id, &delta)) {
        goto out;
    }
    snprintf(cmd.correlation_id, sizeof(cmd.correlation_id), "%s", cmd.command_id);
    cmd.type = LCA_CMD_CRL_ROTATE;
    cmd.payload = lca_val_new_map();
    lca_val_map_set_str(cmd.payload, "issuer_ref", iid);
    if (delta) {
        lca_val_map_set_bool(cmd.payload, "delta", 1);
    }
    if (uuid_bytes(cmd.command_id, id) != LCA_OK ||
        lca_decide(s->st, &cmd, lca_osslenv_env(s->oe), &d, &err) != LCA_OK ||
        reply_encode(&cmd, d, d->rejected ? "rejected" : "ok", d->rejected ? d->code : NULL,
                     d->reason, &reply, &len, &err) != LCA_OK ||
        lca_pgbatch_add_command(s->batch, id, (const uint8_t *)reply, len, NULL, &err) !=
            LCA_OK ||
        (evolved = 1, add_events(s, &cmd, d, &err)) != LCA_OK ||
        lca_pgstore_commit_batch(s->store, s->batch, &err) != LCA_OK) {
        goto out;
    }
    lca_log(LCA_LOG_INFO, "scheduled crl.rotate", "issuer_id=%s delta=%d command_id=%s outcome=%s",
            iid, delta, cmd.command_id,
            lca_pgbatch_result(s->batch, 0, NULL, NULL, NULL, NULL) == LCA_PGBATCH_NEW
                ? "new"
                : "duplicate");
out:
    if (err.cls != LCA_ERR_NONE) {
        lca_log_err("scheduled crl.rotate failed; retrying at the next tick", &err);
    }
    if (evolved) {
        s->need_rebuild = 1; /* the in-memory copy may be a duplicate's, or uncommitted */
    }
    s->batch = saved;
    lca_pgbatch_free(batch);
    lca_val_free(cmd.payload);
    free(reply);
    lca_decision_free(d);
}

/* Seconds between CRL schedule checks: LEDGERCA_CRL_TICK (0 disables), default 60. */
static long crl_tick_seconds(void)
{
    const char *v = getenv("LEDGERCA_CRL_TICK");

    return v != NULL && v[0] != '\0' ? strtol(v, NULL, 10) : 60;
}

/* The periodic progress line, with the memory figures that explain the RSS: the resident
 * set, and glibc's heap split into bytes in use and bytes free inside the arenas. */
static void progress_log(const struct signer *s)
{
    long rss_pages = -1, ignored;
    FILE *f = fopen("/proc/self/statm", "r");
    size_t in_use = 0, heap_free = 0;

    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &ignored, &rss_pages) != 2) {
            rss_pages = -1;
        }
        fclose(f);
    }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    {
        struct mallinfo2 mi = mallinfo2();
        in_use = mi.uordblks + mi.hblkhd;
        heap_free = mi.fordblks;
    }
#endif
    lca_log(LCA_LOG_INFO, "signer progress",
            "commands=%llu dead_letters=%llu duplicates=%llu position=%lld certs=%zu "
            "rss_kb=%ld heap_in_use_kb=%zu heap_free_kb=%zu",
            (unsigned long long)s->n_commands, (unsigned long long)s->n_dead,
            (unsigned long long)s->n_dups, (long long)lca_state_position(s->st),
            lca_state_cert_count(s->st),
            rss_pages < 0 ? -1 : rss_pages * (sysconf(_SC_PAGESIZE) / 1024), in_use / 1024,
            heap_free / 1024);
}

static int open_all(struct signer *s, struct lca_err *err)
{
    static const char *const base[] = {LCA_KAFKA_TOPIC_ISSUE, LCA_KAFKA_TOPIC_REVOKE,
                                       LCA_KAFKA_TOPIC_ADMIN};
    /* replies leave at once: the commit thread no longer flushes after each batch (which
     * sent them without waiting for linger.ms), it counts their acknowledgements instead */
    static const char *const prod_conf[] = {"linger.ms", "0", NULL};
    const char *suffix = s->o->topic_suffix != NULL ? s->o->topic_suffix : "";
    char names[3][160];
    const char *topics[3];
    struct lca_kconsumer_hooks hooks;
    size_t i;

    /* A fetch returns once SIGNER_FETCH_MIN_BYTES (about 60 sign commands) are there, and
     * otherwise after at most 5 ms (librdkafka's default wait of 500 ms dominated latency).
     * A minimum of 1 byte answered each fetch with the one or two commands that had just
     * arrived: at 950 commands/s the broker then spent 0.76 of a core serving fetches and
     * the p99 at half load was 600 ms; with this minimum it spends 0.45 and p99 is 35-60 ms.
     * Bounded read-ahead: librdkafka's defaults prefetch up to 64 MB of a backlog into the
     * consumer queue (queued.max.messages.kbytes, overshot by up to fetch.max.bytes = 50 MB),
     * so the signer's RSS grew with the backlog (~0.8 KB, one sign command, per queued
     * message: 127 MB behind 105,000 commands). A few batches ahead is enough to keep the
     * deciding thread busy: at most SIGNER_PREFETCH_KB + one fetch of FETCH_MAX_BYTES. */
    static const char *const conf[] = {"fetch.wait.max.ms", "5",
                                       "fetch.min.bytes", SIGNER_FETCH_MIN_BYTES,
                                       "queued.max.messages.kbytes", SIGNER_PREFETCH_KB,
                                       "queued.min.messages", SIGNER_PREFETCH_MSGS,
                                       "fetch.max.bytes", SIGNER_FETCH_MAX_BYTES,
                                       NULL};

    if (strlen(suffix) > 64 || strspn(suffix, "abcdefghijklmnopqrstuvwxyz"
                                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
                                   strlen(suffix)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_topic_suffix",
                           "the topic suffix may hold at most 64 of [A-Za-z0-9._-]");
    }
    for (i = 0; i < 3; i++) {
        snprintf(names[i], sizeof(names[i]), "%s%s", base[i], suffix);
        topics[i] = names[i];
    }
    memset(&hooks, 0, sizeof(hooks));
    hooks.ctx = s;
    hooks.conf = conf;
    hooks.load_offsets = load_offsets_pg;
    hooks.on_error = on_error;
    if (s->o->kek_file == NULL || s->o->kek_file[0] == '\0') {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "no_kek",
                           "a key-encryption key file is required (--kek-file or "
                           "LEDGERCA_KEK_FILE)");
    }
    if (lca_osslenv_load_kek(s->o->kek_file, s->kek, err) != LCA_OK ||
        lca_pgstore_open(s->o->pg_uri, s->o->cluster, &s->store, err) != LCA_OK ||
        (s->oe = lca_osslenv_new()) == NULL) {
        return err->cls != LCA_ERR_NONE ? LCA_FAIL
                                        : lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
    }
    lca_osslenv_set_persist(s->oe, persist_key, s);
    lca_osslenv_set_loader(s->oe, load_key, s);
    lca_osslenv_env(s->oe)->cluster_id = s->o->cluster; /* SPIFFE dc/<this cluster> */
    if (s->csrs != NULL) {
        lca_osslenv_env(s->oe)->csr_take = lca_csrpool_take;
        lca_osslenv_env(s->oe)->csr_ctx = s->csrs;
    }
    if (rebuild(s, err) != LCA_OK ||
        (!lca_state_bootstrapped(s->st) && !s->o->no_bootstrap && ca_bootstrap(s, err) != LCA_OK) ||
        lca_kafka_ensure_topics(s->o->bootstrap, err) != LCA_OK ||
        forward_topic(s, err) != LCA_OK ||
        (suffix[0] != '\0' &&
         lca_kafka_create_topics(s->o->bootstrap, topics, 3, LCA_KAFKA_PARTITIONS, 30000, err) != LCA_OK) ||
        lca_kproducer_new(s->o->bootstrap, prod_conf, &s->prod, err) != LCA_OK ||
        relay_outbox(s, err) != LCA_OK /* replies a crashed predecessor did not send */ ||
        lca_cpipe_new(s->o->pg_uri, s->o->cluster, s->prod, crash_point, s, &s->pipe, err) !=
            LCA_OK ||
        lca_kconsumer_new(s->o->bootstrap, s->group, topics, 3, &hooks, &s->cons, err) !=
            LCA_OK) {
        return LCA_FAIL;
    }
    return LCA_OK;
}

static void close_all(struct signer *s)
{
    struct lca_err err;

    lca_err_clear(&err);
    lca_cpipe_free(s->pipe); /* joins the commit thread (after its job, if one is in flight) */
    lca_csrpool_free(s->csrs);
    slots_free(s);
    if (s->cons != NULL && lca_kconsumer_close(s->cons, &err) != LCA_OK) {
        lca_log_err("leaving the consumer group", &err);
    }
    lca_kconsumer_free(s->cons);
    lca_kproducer_free(s->prod);
    lca_state_free(s->st);
    lca_osslenv_free(s->oe);
    lca_pgstore_free(s->store);
    OPENSSL_cleanse(s->kek, sizeof(s->kek));
}

int lca_signer_run(const struct lca_signer_opts *o, struct lca_err *err)
{
    struct signer *s = calloc(1, sizeof(*s));
    size_t max = o->max_batch > 0 ? o->max_batch : 500;
    time_t last_report = time(NULL), last_crl_tick = 0;
    long crl_every = crl_tick_seconds();
    int rc = LCA_FAIL;

    if (s == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
    }
    s->o = o;
    snprintf(s->group, sizeof(s->group), "%s",
             o->group != NULL ? o->group : "ledgerca-signer-");
    if (o->group == NULL) {
        snprintf(s->group, sizeof(s->group), "ledgerca-signer-%s", o->cluster);
    }
    crash_init(s);
    s->csrs = lca_csrpool_new(max); /* none: CSRs are parsed while deciding */
    if (slots_init(s, max) != LCA_OK) {
        lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
        goto out;
    }
    if (open_all(s, err) != LCA_OK) {
        goto out;
    }
    lca_log(LCA_LOG_INFO, "signer ready", "cluster=%s group=%s position=%lld auth=%s",
            o->cluster, s->group, (long long)lca_state_position(s->st),
            o->no_auth ? "none" : "tokens");
    if (o->no_auth) {
        lca_log(LCA_LOG_WARN, "token checks are OFF: every command acts as Operator", NULL);
    }
    while (!*o->stop) {
        struct slot *sl = &s->slots[s->cur];
        /* a commit in flight or replies to mark: look for more work without waiting */
        int busy = lca_cpipe_busy(s->pipe) || lca_cpipe_unmarked(s->pipe) > 0;
        if (lca_kconsumer_poll_batch(s->cons, max, busy ? 0 : o->poll_ms > 0 ? o->poll_ms : 50,
                                     sl->msgs, &sl->n, err) != LCA_OK) {
            goto out;
        }
        if ((sl->n > 0 ? run_batch(s, sl, err) : run_idle(s, err)) != LCA_OK) {
            goto out;
        }
        if (crl_every > 0 && time(NULL) - last_crl_tick >= crl_every) {
            if (drain(s, err) != LCA_OK) { /* the tick commits on this thread's session */
                goto out;
            }
            last_crl_tick = time(NULL);
            crl_tick(s);
        }
        if (time(NULL) - last_report >= 10) {
            last_report = time(NULL);
            progress_log(s);
        }
    }
    if (run_idle(s, err) != LCA_OK || drain(s, err) != LCA_OK) {
        goto out;
    }
    kcommit_flush(s, 1);
    lca_log(LCA_LOG_INFO, "signer draining on signal", "commands=%llu",
            (unsigned long long)s->n_commands);
    rc = LCA_OK;
out:
    close_all(s);
    free(s);
    return rc;
}
