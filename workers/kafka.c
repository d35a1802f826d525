/*
 * kafka — librdkafka adapter (contract in kafka.h).
 */
#include "kafka.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <openssl/crypto.h>

#include "log.h"

#define ERRSTR_LEN 512
#define SEND_FULL_WAIT_MS 10000

struct lca_kconsumer {
    rd_kafka_t *rk;
    struct lca_kconsumer_hooks hooks;
    rd_kafka_topic_partition_list_t *revoked; /* revoked during the current poll_batch */
    struct lca_err pending;                   /* failure seen inside a callback */
    int closed;
};

struct lca_kproducer {
    rd_kafka_t *rk;
    size_t failed;          /* deliveries failed since the last flush */
    rd_kafka_resp_err_t first_err;
    char first_topic[256];
};

struct lca_kmock {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
};

static const char *const contract_topics[] = {
    LCA_KAFKA_TOPIC_ISSUE, LCA_KAFKA_TOPIC_REVOKE, LCA_KAFKA_TOPIC_ADMIN,
    LCA_KAFKA_TOPIC_REPLIES, LCA_KAFKA_TOPIC_DEAD_LETTER,
};

/* ---- errors ---- */

static enum lca_err_class classify(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR__SSL:
    case RD_KAFKA_RESP_ERR__INVALID_TYPE:
    case RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED:
    case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
        return LCA_ERR_FATAL;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART: /* final once librdkafka reports it: it waits
                                                   * topic.metadata.propagation.max.ms first */
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
        return LCA_ERR_BAD_INPUT;
    default:
        /* Broker-down, timeouts, queue full, coordinator moves, unknown-topic-or-partition
         * while metadata propagates: nothing is committed, so trying again is safe. */
        return LCA_ERR_RETRIABLE;
    }
}

/* Records librdkafka error e (class from classify, or FATAL when rk has a fatal error). */
static int kerr(struct lca_err *err, rd_kafka_t *rk, rd_kafka_resp_err_t e, const char *what,
                const char *detail)
{
    char code[sizeof(((struct lca_err *)0)->code)];
    char fatal[ERRSTR_LEN] = "";
    enum lca_err_class cls = classify(e);
    size_t i;

    if (rk != NULL && (e == RD_KAFKA_RESP_ERR__FATAL ||
                       rd_kafka_fatal_error(rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR)) {
        e = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        cls = LCA_ERR_FATAL;
    }
    snprintf(code, sizeof(code), "kafka%s%s", rd_kafka_err2name(e)[0] == '_' ? "" : "_",
             rd_kafka_err2name(e));
    for (i = 0; code[i] != '\0'; i++) {
        code[i] = (char)tolower((unsigned char)code[i]);
    }
    return lca_err_set(err, cls, code, "%s: %s%s%s", what,
                       fatal[0] != '\0' ? fatal : rd_kafka_err2str(e),
                       detail != NULL && detail[0] != '\0' ? ": " : "",
                       detail != NULL ? detail : "");
}

/* Records an rd_kafka_error_t (freed here) using its own retriable/fatal flags. */
static int kerr_obj(struct lca_err *err, rd_kafka_error_t *ke, const char *what)
{
    int rc = kerr(err, NULL, rd_kafka_error_code(ke), what, rd_kafka_error_string(ke));

    if (err != NULL && rd_kafka_error_is_fatal(ke)) {
        err->cls = LCA_ERR_FATAL;
    } else if (err != NULL && rd_kafka_error_is_retriable(ke)) {
        err->cls = LCA_ERR_RETRIABLE;
    }
    rd_kafka_error_destroy(ke);
    return rc;
}

/* ---- configuration ---- */

static void conf_free(rd_kafka_conf_t *conf)
{
    if (conf != NULL) {
        rd_kafka_conf_destroy(conf);
    }
}

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                    struct lca_err *err)
{
    char errstr[ERRSTR_LEN];

    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_conf", "property %s: %s", name,
                           errstr);
    }
    return LCA_OK;
}

/* Applies pairs[] (name, value, ..., NULL) then extra[] (same shape, may be NULL). */
static int conf_apply(rd_kafka_conf_t *conf, const char *const *pairs, const char *const *extra,
                      struct lca_err *err)
{
    const char *const *lists[2] = {pairs, extra};
    size_t l, i;

    for (l = 0; l < 2; l++) {
        for (i = 0; lists[l] != NULL && lists[l][i] != NULL; i += 2) {
            if (lists[l][i + 1] == NULL) {
                return lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_conf",
                                   "property %s has no value", lists[l][i]);
            }
            if (conf_set(conf, lists[l][i], lists[l][i + 1], err) != LCA_OK) {
                return LCA_FAIL;
            }
        }
    }
    return LCA_OK;
}

/* librdkafka's own log lines (syslog levels) as structured records; its default writes raw
 * "%4|..." lines to stderr. AUTOCREATE only says that a broker (dev mode's mock cluster) cannot
 * honour allow.auto.create.topics=false; topics are created explicitly, so it is debug. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    enum lca_log_level l = level <= 3   ? LCA_LOG_ERROR
                           : level == 4 ? LCA_LOG_WARN
                           : level <= 6 ? LCA_LOG_INFO
                                        : LCA_LOG_DEBUG;
    char text[512];

    if (strcmp(fac, "AUTOCREATE") == 0) {
        l = LCA_LOG_DEBUG;
    }
    lca_log_quote(text, sizeof(text), buf);
    lca_log(l, "kafka client", "client=%s facility=%s text=%s", rd_kafka_name(rk), fac, text);
}

/* One "name=value" line of the operator's file (trimmed; "#" or "!" starts a comment line).
 * Errors name the file, the line and the property, never the value: it may be a password. */
static int conf_line(rd_kafka_conf_t *conf, const char *path, int lineno, char *line,
                     struct lca_err *err)
{
    char errstr[ERRSTR_LEN], *eq, *name = line, *value, *end;

    while (isspace((unsigned char)*name)) {
        name++;
    }
    end = name + strlen(name);
    while (end > name && isspace((unsigned char)end[-1])) {
        *--end = '\0';
    }
    if (*name == '\0' || *name == '#' || *name == '!') {
        return LCA_OK;
    }
    if ((eq = strchr(name, '=')) == NULL || eq == name) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_conf",
                           "%s line %d: expected name=value", path, lineno);
    }
    value = eq + 1;
    for (end = eq; end > name && isspace((unsigned char)end[-1]); end--) {
    }
    *end = '\0';
    while (isspace((unsigned char)*value)) {
        value++;
    }
    if (strcmp(name, "bootstrap.servers") == 0 || strcmp(name, "group.id") == 0 ||
        strcmp(name, "enable.idempotence") == 0 || strcmp(name, "enable.auto.commit") == 0 ||
        strcmp(name, "enable.auto.offset.store") == 0 || strcmp(name, "isolation.level") == 0 ||
        strcmp(name, "acks") == 0) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_conf",
                           "%s line %d: %s is set by ledgerca (its guarantees depend on it)",
                           path, lineno, name);
    }
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_conf",
                           "%s line %d: property %s is unknown or its value is invalid", path,
                           lineno, name);
    }
    return LCA_OK;
}

/* The operator's librdkafka properties (TLS, SASL, client.id, tuning) from the file named by
 * LEDGERCA_KAFKA_CONFIG_FILE, applied over ledgerca's own settings to every client. */
static int conf_operator(rd_kafka_conf_t *conf, struct lca_err *err)
{
    const char *path = getenv("LEDGERCA_KAFKA_CONFIG_FILE");
    char line[4096];
    int lineno = 0, rc = LCA_OK;
    FILE *f;

    if (path == NULL || path[0] == '\0') {
        return LCA_OK;
    }
    if ((f = fopen(path, "r")) == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_conf",
                           "LEDGERCA_KAFKA_CONFIG_FILE %s cannot be read", path);
    }
    while (rc == LCA_OK && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            rc = lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_conf", "%s line %d: too long", path,
                             lineno);
        } else {
            rc = conf_line(conf, path, lineno, line, err);
        }
    }
    if (rc == LCA_OK && ferror(f)) {
        rc = lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_conf", "%s: read error", path);
    }
    OPENSSL_cleanse(line, sizeof(line));
    fclose(f);
    return rc;
}

/* rd_kafka_new, which takes conf on success only; `with_operator`: the operator's properties apply
 * (not to the mock cluster's own handle). */
static int client_new(rd_kafka_type_t type, int with_operator, rd_kafka_conf_t **conf,
                      rd_kafka_t **out, struct lca_err *err)
{
    char errstr[ERRSTR_LEN];
    rd_kafka_t *rk;

    if (with_operator && conf_operator(*conf, err) != LCA_OK) {
        return LCA_FAIL;
    }
    rd_kafka_conf_set_log_cb(*conf, log_cb);
    rk = rd_kafka_new(type, *conf, errstr, sizeof(errstr));

    if (rk == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_client", "rd_kafka_new: %s", errstr);
    }
    *conf = NULL;
    *out = rk;
    return LCA_OK;
}

/* ---- consumer: callbacks ---- */

static void report(struct lca_kconsumer *c, const struct lca_err *e)
{
    if (c->hooks.on_error != NULL) {
        c->hooks.on_error(c->hooks.ctx, e);
    }
}

static void error_cb(rd_kafka_t *rk, int e, const char *reason, void *opaque)
{
    struct lca_kconsumer *c = opaque;
    struct lca_err le;

    (void)kerr(&le, rk, (rd_kafka_resp_err_t)e, "kafka client", reason);
    if (le.cls == LCA_ERR_FATAL && c->pending.cls == LCA_ERR_NONE) {
        c->pending = le;
    }
    report(c, &le);
}

static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    struct lca_err le;

    (void)offsets;
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR__NO_OFFSET) {
        return;
    }
    (void)kerr(&le, rk, e, "async offset commit", NULL);
    report(opaque, &le);
}

/* Copies a partition list into an array view for the hooks (topics borrowed from parts). */
static struct lca_ktp *tp_view(const rd_kafka_topic_partition_list_t *parts)
{
    struct lca_ktp *v = calloc((size_t)parts->cnt + 1, sizeof(*v));
    int i;

    for (i = 0; v != NULL && i < parts->cnt; i++) {
        v[i].topic = parts->elems[i].topic;
        v[i].partition = parts->elems[i].partition;
        v[i].offset = parts->elems[i].offset >= 0 ? parts->elems[i].offset : LCA_KOFFSET_NONE;
    }
    return v;
}

/* Sets each partition's start offset from the load_offsets hook. */
static void seek_stored(struct lca_kconsumer *c, rd_kafka_topic_partition_list_t *parts)
{
    struct lca_err le;
    int64_t next;
    int i;

    for (i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];

        tp->offset = RD_KAFKA_OFFSET_INVALID; /* Kafka's committed offset, else reset */
        if (c->hooks.load_offsets == NULL) {
            continue;
        }
        next = LCA_KOFFSET_NONE;
        if (c->hooks.load_offsets(c->hooks.ctx, tp->topic, tp->partition, &next) != LCA_OK) {
            lca_err_set(&le, LCA_ERR_RETRIABLE, "kafka_load_offsets",
                        "load_offsets failed for %s[%d]: starting from Kafka's committed offset",
                        tp->topic, (int)tp->partition);
            report(c, &le);
        } else if (next >= 0) {
            tp->offset = next;
        }
    }
}

static void notify(struct lca_kconsumer *c, const rd_kafka_topic_partition_list_t *parts,
                   int assign, int lost)
{
    struct lca_ktp *v;

    if ((assign && c->hooks.on_assign == NULL) || (!assign && c->hooks.on_revoke == NULL)) {
        return;
    }
    v = tp_view(parts);
    if (v == NULL) {
        lca_err_set(&c->pending, LCA_ERR_FATAL, "oom", "out of memory in rebalance");
        return;
    }
    if (assign) {
        c->hooks.on_assign(c->hooks.ctx, v, (size_t)parts->cnt);
    } else {
        c->hooks.on_revoke(c->hooks.ctx, v, (size_t)parts->cnt, lost);
    }
    free(v);
}

/* Remembers revoked partitions so poll_batch drops their already-collected messages. */
static void remember_revoked(struct lca_kconsumer *c, const rd_kafka_topic_partition_list_t *p)
{
    int i;

    if (c->revoked == NULL) {
        c->revoked = rd_kafka_topic_partition_list_new(p->cnt > 0 ? p->cnt : 1);
    }
    for (i = 0; i < p->cnt; i++) {
        rd_kafka_topic_partition_list_add(c->revoked, p->elems[i].topic, p->elems[i].partition);
    }
}

static void apply_assignment(struct lca_kconsumer *c, rd_kafka_t *rk,
                             rd_kafka_topic_partition_list_t *parts, int assign)
{
    int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *ke = NULL;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (coop) {
        ke = assign ? rd_kafka_incremental_assign(rk, parts)
                    : rd_kafka_incremental_unassign(rk, parts);
    } else {
        e = rd_kafka_assign(rk, assign ? parts : NULL);
    }
    if (ke != NULL) {
        (void)kerr_obj(&c->pending, ke, "partition assignment");
        c->pending.cls = LCA_ERR_FATAL; /* a partition nobody reads is worse than a restart */
    } else if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        (void)kerr(&c->pending, rk, e, "partition assignment", NULL);
        c->pending.cls = LCA_ERR_FATAL;
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct lca_kconsumer *c = opaque;

    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        seek_stored(c, parts);
        apply_assignment(c, rk, parts, 1);
        notify(c, parts, 1, 0);
        return;
    }
    if (e != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        struct lca_err le;

        (void)kerr(&le, rk, e, "rebalance", NULL);
        report(c, &le);
    }
    notify(c, parts, 0, rd_kafka_assignment_lost(rk));
    remember_revoked(c, parts);
    apply_assignment(c, rk, parts, 0);
}

/* ---- consumer: construction ---- */

static int consumer_conf(const char *bootstrap, const char *group, struct lca_kconsumer *c,
                         rd_kafka_conf_t *conf, struct lca_err *err)
{
    const char *const defaults[] = {
        "bootstrap.servers", bootstrap,
        "enable.auto.commit", "false",
        "enable.auto.offset.store", "false",
        "isolation.level", "read_committed",
        "auto.offset.reset", "earliest",
        "allow.auto.create.topics", "false",
        "enable.partition.eof", "false",
        NULL,
    };
    const char *const grouped[] = {
        "group.id", group,
        "partition.assignment.strategy", "cooperative-sticky",
        /* a signer that died (SIGKILL) holds its partitions until the session times out:
         * 10 s rather than librdkafka's 45 s, so a replacement takes over quickly */
        "session.timeout.ms", "10000",
        "heartbeat.interval.ms", "3000",
        NULL,
    };
    /* librdkafka needs a group.id even for assign(); a tail reader never joins or commits. */
    const char *const tail[] = {"group.id", "ledgerca.tail", NULL};

    if (conf_apply(conf, defaults, group != NULL ? grouped : tail, err) != LCA_OK ||
        conf_apply(conf, c->hooks.conf, NULL, err) != LCA_OK) {
        return LCA_FAIL;
    }
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    if (group != NULL) {
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
        rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);
    }
    return LCA_OK;
}

/* Allocates c and its rd_kafka_t (consumer queue redirected to the main queue). */
static int consumer_alloc(const char *bootstrap, const char *group,
                          const struct lca_kconsumer_hooks *hooks, struct lca_kconsumer **out,
                          struct lca_err *err)
{
    struct lca_kconsumer *c = NULL;
    rd_kafka_conf_t *conf = NULL;
    int rc = LCA_FAIL;

    if (bootstrap == NULL || bootstrap[0] == '\0') {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_conf", "no bootstrap servers");
    }
    c = calloc(1, sizeof(*c));
    conf = rd_kafka_conf_new();
    if (c == NULL || conf == NULL) {
        lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
        goto out;
    }
    if (hooks != NULL) {
        c->hooks = *hooks;
    }
    if (consumer_conf(bootstrap, group, c, conf, err) != LCA_OK ||
        client_new(RD_KAFKA_CONSUMER, 1, &conf, &c->rk, err) != LCA_OK) {
        goto out;
    }
    rd_kafka_poll_set_consumer(c->rk);
    *out = c;
    c = NULL;
    rc = LCA_OK;
out:
    conf_free(conf);
    free(c);
    return rc;
}

int lca_kconsumer_new(const char *bootstrap, const char *group, const char *const *topics,
                      size_t n, const struct lca_kconsumer_hooks *hooks,
                      struct lca_kconsumer **out, struct lca_err *err)
{
    struct lca_kconsumer *c = NULL;
    rd_kafka_topic_partition_list_t *sub = NULL;
    rd_kafka_resp_err_t e;
    int rc = LCA_FAIL;
    size_t i;

    if (group == NULL || group[0] == '\0' || topics == NULL || n == 0 || n > 64) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_conf",
                           "a consumer needs a group and 1..64 topics");
    }
    if (consumer_alloc(bootstrap, group, hooks, &c, err) != LCA_OK) {
        return LCA_FAIL;
    }
    sub = rd_kafka_topic_partition_list_new((int)n);
    for (i = 0; i < n; i++) {
        rd_kafka_topic_partition_list_add(sub, topics[i], RD_KAFKA_PARTITION_UA);
    }
    e = rd_kafka_subscribe(c->rk, sub);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        kerr(err, c->rk, e, "subscribe", NULL);
        goto out;
    }
    *out = c;
    c = NULL;
    rc = LCA_OK;
out:
    rd_kafka_topic_partition_list_destroy(sub);
    lca_kconsumer_free(c);
    return rc;
}

/* Number of partitions of topic, from a metadata request. */
static int partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms, int *out,
                           struct lca_err *err)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e;
    int rc = LCA_FAIL;

    if (rkt == NULL) {
        return kerr(err, rk, rd_kafka_last_error(), "topic handle", topic);
    }
    e = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1) {
        e = md->topics[0].err;
    }
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        kerr(err, rk, e, "topic metadata", topic);
        if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART && err != NULL) {
            err->cls = LCA_ERR_BAD_INPUT;
        }
        goto out;
    }
    *out = md->topics[0].partition_cnt;
    rc = LCA_OK;
out:
    if (md != NULL) {
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return rc;
}

/* Assigns every partition of topic at its current high watermark. */
static int assign_at_end(rd_kafka_t *rk, const char *topic, int timeout_ms, struct lca_err *err)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_resp_err_t e;
    int64_t lo, hi;
    int np = 0, i, rc = LCA_FAIL;

    if (partition_count(rk, topic, timeout_ms, &np, err) != LCA_OK) {
        return LCA_FAIL;
    }
    parts = rd_kafka_topic_partition_list_new(np);
    for (i = 0; i < np; i++) {
        e = rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi, timeout_ms);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            kerr(err, rk, e, "watermark query", topic);
            goto out;
        }
        rd_kafka_topic_partition_list_add(parts, topic, i)->offset = hi;
    }
    e = rd_kafka_assign(rk, parts);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        kerr(err, rk, e, "assign", topic);
        goto out;
    }
    rc = LCA_OK;
out:
    rd_kafka_topic_partition_list_destroy(parts);
    return rc;
}

int lca_kconsumer_new_tail(const char *bootstrap, const char *topic, int timeout_ms,
                           const struct lca_kconsumer_hooks *hooks, struct lca_kconsumer **out,
                           struct lca_err *err)
{
    struct lca_kconsumer *c = NULL;

    if (topic == NULL || topic[0] == '\0') {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_conf", "no topic to tail");
    }
    if (consumer_alloc(bootstrap, NULL, hooks, &c, err) != LCA_OK) {
        return LCA_FAIL;
    }
    c->hooks.load_offsets = NULL;
    c->hooks.on_assign = NULL;
    c->hooks.on_revoke = NULL;
    if (assign_at_end(c->rk, topic, timeout_ms, err) != LCA_OK) {
        lca_kconsumer_free(c);
        return LCA_FAIL;
    }
    *out = c;
    return LCA_OK;
}

/* ---- consumer: batches ---- */

static void fill_msg(rd_kafka_message_t *m, struct lca_kmsg *out)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *hv = NULL;
    size_t hl = 0;

    memset(out, 0, sizeof(*out));
    out->topic = rd_kafka_topic_name(m->rkt);
    out->partition = m->partition;
    out->offset = m->offset;
    out->timestamp_ms = rd_kafka_message_timestamp(m, NULL);
    out->key = m->key;
    out->key_len = m->key_len;
    out->value = m->payload;
    out->len = m->len;
    out->handle = m;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(hdrs, "content-type", &hv, &hl) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
        out->has_content_type = 1;
        if (hv != NULL && hl < sizeof(out->content_type) && memchr(hv, '\0', hl) == NULL) {
            memcpy(out->content_type, hv, hl);
            out->content_type[hl] = '\0';
        }
    }
}

/* Drops messages of partitions revoked during this batch; returns the new count. */
static size_t drop_revoked(struct lca_kconsumer *c, struct lca_kmsg *msgs, size_t n)
{
    size_t i, kept = 0;

    for (i = 0; i < n; i++) {
        if (rd_kafka_topic_partition_list_find(c->revoked, msgs[i].topic, msgs[i].partition) !=
            NULL) {
            lca_kconsumer_release(&msgs[i], 1);
        } else {
            msgs[kept++] = msgs[i];
        }
    }
    rd_kafka_topic_partition_list_destroy(c->revoked);
    c->revoked = NULL;
    return kept;
}

/* Handles a message that carries an error; returns LCA_FAIL only for fatal ones. */
static int message_error(struct lca_kconsumer *c, rd_kafka_message_t *m, struct lca_err *err)
{
    struct lca_err le;
    char detail[300];

    snprintf(detail, sizeof(detail), "%s[%d]", m->rkt != NULL ? rd_kafka_topic_name(m->rkt) : "-",
             (int)m->partition);
    (void)kerr(&le, c->rk, m->err, "consume", detail);
    rd_kafka_message_destroy(m);
    if (le.cls == LCA_ERR_FATAL) {
        *err = le;
        return LCA_FAIL;
    }
    report(c, &le);
    return LCA_OK;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int lca_kconsumer_poll_batch(struct lca_kconsumer *c, size_t max_msgs, int timeout_ms,
                             struct lca_kmsg *out, size_t *n, struct lca_err *err)
{
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    struct lca_err local;
    size_t got = 0;

    *n = 0;
    if (c == NULL || c->closed || out == NULL || max_msgs == 0) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_state", "poll on a closed consumer");
    }
    while (got < max_msgs && c->pending.cls == LCA_ERR_NONE) {
        int64_t left = got == 0 ? deadline - now_ms() : 0;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, left > 0 ? (int)left : 0);

        if (c->revoked != NULL) {
            got = drop_revoked(c, out, got);
        }
        if (m == NULL) {
            if (got > 0 || now_ms() >= deadline) {
                break;
            }
            continue;
        }
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (message_error(c, m, &local) != LCA_OK) {
                c->pending = local;
            }
            continue;
        }
        fill_msg(m, &out[got++]);
    }
    if (c->pending.cls != LCA_ERR_NONE) {
        lca_kconsumer_release(out, got);
        if (err != NULL) {
            *err = c->pending;
        }
        return LCA_FAIL;
    }
    *n = got;
    return LCA_OK;
}

void lca_kconsumer_release(struct lca_kmsg *msgs, size_t n)
{
    size_t i;

    for (i = 0; msgs != NULL && i < n; i++) {
        if (msgs[i].handle != NULL) {
            rd_kafka_message_destroy(msgs[i].handle);
        }
        memset(&msgs[i], 0, sizeof(msgs[i]));
    }
}

size_t lca_kafka_next_offsets(const struct lca_kmsg *msgs, size_t n, struct lca_ktp *out,
                              size_t cap)
{
    size_t i, j, used = 0;

    for (i = 0; i < n; i++) {
        for (j = 0; j < used; j++) {
            if (out[j].partition == msgs[i].partition && strcmp(out[j].topic, msgs[i].topic) == 0) {
                break;
            }
        }
        if (j == used) {
            if (used == cap) {
                continue;
            }
            out[used].topic = msgs[i].topic;
            out[used].partition = msgs[i].partition;
            out[used++].offset = msgs[i].offset + 1;
        } else if (msgs[i].offset + 1 > out[j].offset) {
            out[j].offset = msgs[i].offset + 1;
        }
    }
    return used;
}

int lca_kconsumer_commit(struct lca_kconsumer *c, const struct lca_ktp *offsets, size_t n,
                         struct lca_err *err)
{
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_resp_err_t e;
    size_t i;

    if (c == NULL || c->closed || n == 0 || offsets == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_state", "nothing to commit");
    }
    list = rd_kafka_topic_partition_list_new((int)n);
    for (i = 0; i < n; i++) {
        rd_kafka_topic_partition_list_add(list, offsets[i].topic, offsets[i].partition)->offset =
            offsets[i].offset;
    }
    e = rd_kafka_commit(c->rk, list, 1);
    rd_kafka_topic_partition_list_destroy(list);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return kerr(err, c->rk, e, "offset commit", NULL);
    }
    return LCA_OK;
}

int lca_kconsumer_close(struct lca_kconsumer *c, struct lca_err *err)
{
    rd_kafka_resp_err_t e;

    if (c == NULL || c->closed) {
        return LCA_OK;
    }
    c->closed = 1;
    e = rd_kafka_consumer_close(c->rk);
    if (c->revoked != NULL) {
        rd_kafka_topic_partition_list_destroy(c->revoked);
        c->revoked = NULL;
    }
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return kerr(err, c->rk, e, "consumer close", NULL);
    }
    return LCA_OK;
}

void lca_kconsumer_free(struct lca_kconsumer *c)
{
    struct lca_err ignored;

    if (c == NULL) {
        return;
    }
    if (c->rk != NULL) {
        if (lca_kconsumer_close(c, &ignored) != LCA_OK) {
            /* nothing more to do: the handle is destroyed below either way */
        }
        rd_kafka_destroy(c->rk);
    }
    if (c->revoked != NULL) {
        rd_kafka_topic_partition_list_destroy(c->revoked);
    }
    free(c);
}

/* ---- producer ---- */

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct lca_kproducer *p = opaque;
    size_t *outstanding = m->_private; /* lca_kproducer_send_counted's counter, or NULL */

    (void)rk;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (outstanding != NULL) { /* counted before it was queued: never below 0 */
            __atomic_fetch_sub(outstanding, 1, __ATOMIC_RELEASE);
        }
        return;
    }
    if (p->failed++ == 0) {
        p->first_err = m->err;
        snprintf(p->first_topic, sizeof(p->first_topic), "%s", rd_kafka_topic_name(m->rkt));
    }
}

int lca_kproducer_new(const char *bootstrap, const char *const *conf, struct lca_kproducer **out,
                      struct lca_err *err)
{
    const char *const defaults[] = {
        "bootstrap.servers", bootstrap,
        "enable.idempotence", "true",
        "acks", "all",
        "linger.ms", "5",
        "allow.auto.create.topics", "false",
        "topic.metadata.propagation.max.ms", "5000",
        NULL,
    };
    struct lca_kproducer *p = NULL;
    rd_kafka_conf_t *kc = NULL;
    int rc = LCA_FAIL;

    if (bootstrap == NULL || bootstrap[0] == '\0') {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_conf", "no bootstrap servers");
    }
    p = calloc(1, sizeof(*p));
    kc = rd_kafka_conf_new();
    if (p == NULL || kc == NULL) {
        lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
        goto out;
    }
    if (conf_apply(kc, defaults, conf, err) != LCA_OK) {
        goto out;
    }
    rd_kafka_conf_set_opaque(kc, p);
    rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
    if (client_new(RD_KAFKA_PRODUCER, 1, &kc, &p->rk, err) != LCA_OK) {
        goto out;
    }
    *out = p;
    p = NULL;
    rc = LCA_OK;
out:
    conf_free(kc);
    free(p);
    return rc;
}

static rd_kafka_headers_t *make_headers(const struct lca_kheader *h, size_t nh)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(nh);
    size_t i;

    for (i = 0; hdrs != NULL && i < nh; i++) {
        if (h[i].name == NULL ||
            rd_kafka_header_add(hdrs, h[i].name, -1, h[i].value, (ssize_t)h[i].len) !=
                RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_headers_destroy(hdrs);
            return NULL;
        }
    }
    return hdrs;
}

int lca_kproducer_send(struct lca_kproducer *p, const char *topic, const void *key,
                       size_t keylen, const void *value, size_t len,
                       const struct lca_kheader *headers, size_t nh, struct lca_err *err)
{
    return lca_kproducer_send_counted(p, topic, key, keylen, value, len, headers, nh, NULL, err);
}

int lca_kproducer_send_counted(struct lca_kproducer *p, const char *topic, const void *key,
                               size_t keylen, const void *value, size_t len,
                               const struct lca_kheader *headers, size_t nh,
                               size_t *outstanding, struct lca_err *err)
{
    int64_t deadline = now_ms() + SEND_FULL_WAIT_MS;
    rd_kafka_headers_t *hdrs = NULL;
    rd_kafka_resp_err_t e;

    if (p == NULL || topic == NULL || (nh > 0 && headers == NULL)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_arg", "bad producer arguments");
    }
    for (;;) {
        hdrs = make_headers(headers, nh);
        if (hdrs == NULL) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_arg", "bad message header");
        }
        /* counted first: another thread polling this producer may serve its delivery
         * report before producev returns */
        if (outstanding != NULL) {
            __atomic_fetch_add(outstanding, 1, __ATOMIC_RELAXED);
        }
        e = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, keylen),
                              RD_KAFKA_V_VALUE((void *)value, len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(outstanding),
                              RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_poll(p->rk, 0); /* serve delivery reports */
            return LCA_OK;
        }
        if (outstanding != NULL) { /* not queued */
            __atomic_fetch_sub(outstanding, 1, __ATOMIC_RELAXED);
        }
        rd_kafka_headers_destroy(hdrs); /* not taken on failure */
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || now_ms() >= deadline) {
            return kerr(err, p->rk, e, "produce", topic);
        }
        rd_kafka_poll(p->rk, 50);
    }
}

int lca_kproducer_flush(struct lca_kproducer *p, int timeout_ms, struct lca_err *err)
{
    rd_kafka_resp_err_t e;
    char detail[320];
    size_t failed;

    if (p == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_arg", "no producer");
    }
    e = rd_kafka_flush(p->rk, timeout_ms);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(detail, sizeof(detail), "%d message(s) still in flight", rd_kafka_outq_len(p->rk));
        return kerr(err, p->rk, e, "flush", detail);
    }
    failed = p->failed;
    p->failed = 0;
    if (failed > 0) {
        snprintf(detail, sizeof(detail), "%zu message(s) not delivered, first to topic %s",
                 failed, p->first_topic);
        return kerr(err, p->rk, p->first_err, "delivery", detail);
    }
    if (rd_kafka_fatal_error(p->rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return kerr(err, p->rk, RD_KAFKA_RESP_ERR__FATAL, "producer", NULL);
    }
    return LCA_OK;
}

void lca_kproducer_poll(struct lca_kproducer *p)
{
    if (p != NULL) {
        rd_kafka_poll(p->rk, 0);
    }
}

void lca_kproducer_free(struct lca_kproducer *p)
{
    if (p == NULL) {
        return;
    }
    if (p->rk != NULL) {
        (void)rd_kafka_flush(p->rk, 5000);
        rd_kafka_destroy(p->rk);
    }
    free(p);
}

/* ---- topics ---- */

/* Sends CreateTopics for names[] and checks each topic's result. */
static int create_request(rd_kafka_t *rk, const char *const *names, size_t n, int partitions,
                          int timeout_ms, struct lca_err *err)
{
    rd_kafka_NewTopic_t **nt = calloc(n, sizeof(*nt));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = NULL;
    rd_kafka_event_t *ev = NULL;
    const rd_kafka_topic_result_t **res;
    char errstr[ERRSTR_LEN];
    size_t i, cnt = 0;
    int rc = LCA_FAIL;

    for (i = 0; nt != NULL && i < n; i++) {
        nt[i] = rd_kafka_NewTopic_new(names[i], partitions, -1, errstr, sizeof(errstr));
        if (nt[i] == NULL) {
            lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_topic", "topic %s: %s", names[i], errstr);
            goto out;
        }
    }
    if (nt == NULL) {
        lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
        goto out;
    }
    opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    if (rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, errstr, sizeof(errstr)) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
        lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_arg", "CreateTopics: %s", errstr);
        goto out;
    }
    rd_kafka_CreateTopics(rk, nt, n, opts, q);
    ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
    if (ev == NULL) {
        lca_err_set(err, LCA_ERR_RETRIABLE, "kafka_timed_out", "CreateTopics: no answer in %d ms",
                    timeout_ms);
        goto out;
    }
    if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        kerr(err, rk, rd_kafka_event_error(ev), "CreateTopics", rd_kafka_event_error_string(ev));
        goto out;
    }
    res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
    for (i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);

        if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            kerr(err, rk, e, rd_kafka_topic_result_name(res[i]),
                 rd_kafka_topic_result_error_string(res[i]));
            goto out;
        }
    }
    rc = LCA_OK;
out:
    for (i = 0; nt != NULL && i < n; i++) {
        rd_kafka_NewTopic_destroy(nt[i]);
    }
    free(nt);
    if (ev != NULL) {
        rd_kafka_event_destroy(ev);
    }
    if (opts != NULL) {
        rd_kafka_AdminOptions_destroy(opts);
    }
    rd_kafka_queue_destroy(q);
    return rc;
}

/* Number of names[] that a metadata request does not show (with partitions, without error);
 * n when the request fails. */
static size_t count_missing(rd_kafka_t *rk, const char *const *names, size_t n, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    size_t i, missing = 0;
    int t;

    if (rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return n;
    }
    for (i = 0; i < n; i++) {
        for (t = 0; t < md->topic_cnt; t++) {
            if (strcmp(md->topics[t].topic, names[i]) == 0 &&
                md->topics[t].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                md->topics[t].partition_cnt > 0) {
                break;
            }
        }
        missing += t == md->topic_cnt;
    }
    rd_kafka_metadata_destroy(md);
    return missing;
}

/* Waits until a metadata request shows every topic of names[]. */
static int wait_visible(rd_kafka_t *rk, const char *const *names, size_t n, int64_t deadline,
                        struct lca_err *err)
{
    struct timespec pause = {0, 100 * 1000000L};

    for (;;) {
        int64_t left = deadline - now_ms();

        if (count_missing(rk, names, n, left > 0 ? (int)left : 1) == 0) {
            return LCA_OK;
        }
        if (now_ms() >= deadline) {
            return lca_err_set(err, LCA_ERR_RETRIABLE, "kafka_timed_out",
                               "created topics not visible in metadata in time");
        }
        nanosleep(&pause, NULL);
    }
}

int lca_kafka_create_topics(const char *bootstrap, const char *const *names, size_t n,
                            int partitions, int timeout_ms, struct lca_err *err)
{
    const char *const defaults[] = {"bootstrap.servers", bootstrap,
                                    "allow.auto.create.topics", "false", NULL};
    int64_t deadline = now_ms() + timeout_ms;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_t *rk = NULL;
    int rc = LCA_FAIL;

    if (bootstrap == NULL || names == NULL || n == 0 || partitions < 1 || timeout_ms < 1) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_arg", "bad topic creation arguments");
    }
    conf = rd_kafka_conf_new();
    if (conf_apply(conf, defaults, NULL, err) != LCA_OK ||
        client_new(RD_KAFKA_PRODUCER, 1, &conf, &rk, err) != LCA_OK) {
        goto out;
    }
    /* Topics that already exist need no CreateTopics (which e.g. the mock cluster lacks). */
    if (count_missing(rk, names, n, timeout_ms) > 0 &&
        (create_request(rk, names, n, partitions, timeout_ms, err) != LCA_OK ||
         wait_visible(rk, names, n, deadline, err) != LCA_OK)) {
        goto out;
    }
    rc = LCA_OK;
out:
    conf_free(conf);
    if (rk != NULL) {
        rd_kafka_destroy(rk);
    }
    return rc;
}

int lca_kafka_topic_partitions(const char *bootstrap, const char *topic, int timeout_ms,
                               int *out, struct lca_err *err)
{
    const char *const defaults[] = {"bootstrap.servers", bootstrap,
                                    "allow.auto.create.topics", "false", NULL};
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_t *rk = NULL;
    int rc = LCA_FAIL;

    if (bootstrap == NULL || topic == NULL || out == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_arg", "bad arguments");
    }
    conf = rd_kafka_conf_new();
    if (conf_apply(conf, defaults, NULL, err) == LCA_OK &&
        client_new(RD_KAFKA_PRODUCER, 1, &conf, &rk, err) == LCA_OK) {
        rc = partition_count(rk, topic, timeout_ms, out, err);
    }
    conf_free(conf);
    if (rk != NULL) {
        rd_kafka_destroy(rk);
    }
    return rc;
}

int lca_kafka_ensure_topics(const char *bootstrap, struct lca_err *err)
{
    return lca_kafka_create_topics(bootstrap, contract_topics,
                                   sizeof(contract_topics) / sizeof(contract_topics[0]),
                                   LCA_KAFKA_PARTITIONS, 30000, err);
}

/* ---- mock cluster ---- */

int lca_kafka_mock_create_topic(struct lca_kmock *m, const char *topic, int partitions,
                                struct lca_err *err)
{
    rd_kafka_resp_err_t e;

    if (m == NULL || topic == NULL || partitions < 1) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_arg", "bad mock topic arguments");
    }
    e = rd_kafka_mock_topic_create(m->mc, topic, partitions, 1);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return kerr(err, NULL, e, "mock topic", topic);
    }
    return LCA_OK;
}

int lca_kafka_mock_start(int brokers, char *bootstrap_out, size_t len, struct lca_kmock **out,
                         struct lca_err *err)
{
    const char *const defaults[] = {"log_level", "3", NULL};
    struct lca_kmock *m = NULL;
    rd_kafka_conf_t *conf = NULL;
    const char *bs;
    size_t i;
    int rc = LCA_FAIL;

    if (brokers < 1 || brokers > 9 || bootstrap_out == NULL || len == 0) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_arg", "bad mock cluster arguments");
    }
    m = calloc(1, sizeof(*m));
    conf = rd_kafka_conf_new();
    if (m == NULL || conf == NULL) {
        lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
        goto out;
    }
    if (conf_apply(conf, defaults, NULL, err) != LCA_OK ||
        client_new(RD_KAFKA_PRODUCER, 0, &conf, &m->rk, err) != LCA_OK) {
        goto out;
    }
    m->mc = rd_kafka_mock_cluster_new(m->rk, brokers);
    if (m->mc == NULL) {
        lca_err_set(err, LCA_ERR_FATAL, "kafka_mock", "cannot start the mock cluster");
        goto out;
    }
    for (i = 0; i < sizeof(contract_topics) / sizeof(contract_topics[0]); i++) {
        if (lca_kafka_mock_create_topic(m, contract_topics[i], LCA_KAFKA_PARTITIONS, err) !=
            LCA_OK) {
            goto out;
        }
    }
    bs = rd_kafka_mock_cluster_bootstraps(m->mc);
    if (strlen(bs) >= len) {
        lca_err_set(err, LCA_ERR_BAD_INPUT, "kafka_arg", "bootstrap buffer too small");
        goto out;
    }
    memcpy(bootstrap_out, bs, strlen(bs) + 1);
    *out = m;
    m = NULL;
    rc = LCA_OK;
out:
    conf_free(conf);
    lca_kafka_mock_free(m);
    return rc;
}

void lca_kafka_mock_free(struct lca_kmock *m)
{
    if (m == NULL) {
        return;
    }
    if (m->mc != NULL) {
        rd_kafka_mock_cluster_destroy(m->mc);
    }
    if (m->rk != NULL) {
        rd_kafka_destroy(m->rk);
    }
    free(m);
}

int lca_kproducer_high_watermark(struct lca_kproducer *p, const char *topic, int32_t partition,
                                 int timeout_ms, int64_t *out, struct lca_err *err)
{
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(p->rk, topic, partition, &lo, &hi, timeout_ms);

    if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
        e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "unknown_partition", "%.200s[%d]: %s", topic,
                           (int)partition, rd_kafka_err2str(e));
    }
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return lca_err_set(err, LCA_ERR_RETRIABLE, "kafka", "watermarks of %.200s[%d]: %s", topic,
                           (int)partition, rd_kafka_err2str(e));
    }
    *out = hi;
    return LCA_OK;
}

/* ---- multi-cluster helpers (relay, aggregator, forwarded revocations) ---- */

int lca_kmsg_header(const struct lca_kmsg *m, const char *name, const void **value, size_t *len)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *hv = NULL;
    size_t hl = 0;

    if (m == NULL || m->handle == NULL || name == NULL ||
        rd_kafka_message_headers((rd_kafka_message_t *)m->handle, &hdrs) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(hdrs, name, &hv, &hl) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return 0;
    }
    if (value != NULL) {
        *value = hv;
    }
    if (len != NULL) {
        *len = hl;
    }
    return 1;
}

int lca_kproducer_topics(struct lca_kproducer *p, const char *prefix, lca_ktopic_cb *cb,
                         void *ctx, int timeout_ms, struct lca_err *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e;
    size_t plen = strlen(prefix);
    int t;

    if ((e = rd_kafka_metadata(p->rk, 1, NULL, &md, timeout_ms)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return lca_err_set(err, LCA_ERR_RETRIABLE, "kafka", "metadata: %s", rd_kafka_err2str(e));
    }
    for (t = 0; t < md->topic_cnt; t++) {
        if (md->topics[t].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
            strncmp(md->topics[t].topic, prefix, plen) == 0) {
            cb(ctx, md->topics[t].topic, md->topics[t].partition_cnt);
        }
    }
    rd_kafka_metadata_destroy(md);
    return LCA_OK;
}
