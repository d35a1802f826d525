/* api_metrics — Prometheus exposition of `ledgerca api` (see api_metrics.h). */
#include "api_metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "kafka.h"
#include "log.h"

#define MAX_SERIES 256
#define MAX_PARTS 256
#define WATERMARK_TIMEOUT_MS 1000

struct series {
    char op[16], role[130], issuer[130];
    int failed;
    uint64_t count;
    double seconds;
};

struct lca_api_metrics {
    pthread_mutex_t mu;
    char cluster[64], group[200], bootstrap[512];
    struct series s[MAX_SERIES];
    size_t n;
    uint64_t requests;
    int parts[3]; /* partitions of the issue, revoke and admin topics (0: not known yet) */
    char suffix[65]; /* the command topics' suffix (signer --topic-suffix) */
};

void lca_api_metrics_set_topic_suffix(struct lca_api_metrics *m, const char *suffix)
{
    snprintf(m->suffix, sizeof(m->suffix), "%s", suffix != NULL ? suffix : "");
}

static const enum lca_topic cmd_topics[3] = {LCA_TOPIC_ISSUE, LCA_TOPIC_REVOKE, LCA_TOPIC_ADMIN};

/* Prometheus label value: the characters our labels can hold, others replaced. */
static void label(char *out, size_t cap, const char *in)
{
    size_t i;

    for (i = 0; in[i] != '\0' && i + 1 < cap; i++) {
        out[i] = (in[i] == '"' || in[i] == '\\' || in[i] == '\n') ? '_' : in[i];
    }
    out[i] = '\0';
}

int lca_api_metrics_new(const char *cluster, const char *group, const char *bootstrap,
                        struct lca_api_metrics **out, struct lca_err *err)
{
    struct lca_api_metrics *m = calloc(1, sizeof(*m));

    if (m == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "no_memory", "out of memory");
    }
    pthread_mutex_init(&m->mu, NULL);
    label(m->cluster, sizeof(m->cluster), cluster);
    label(m->group, sizeof(m->group), group);
    snprintf(m->bootstrap, sizeof(m->bootstrap), "%s", bootstrap);
    *out = m;
    return LCA_OK;
}

void lca_api_metrics_free(struct lca_api_metrics *m)
{
    if (m != NULL) {
        pthread_mutex_destroy(&m->mu);
        free(m);
    }
}

void lca_api_metrics_record(struct lca_api_metrics *m, const struct lca_api_call *c, double secs)
{
    size_t i;

    pthread_mutex_lock(&m->mu);
    for (i = 0; i < m->n; i++) {
        struct series *x = &m->s[i];

        if (strcmp(x->op, c->op) == 0 && strcmp(x->role, c->role) == 0 &&
            strcmp(x->issuer, c->issuer) == 0 && x->failed == c->failed) {
            break;
        }
    }
    if (i == m->n && m->n < MAX_SERIES) {
        struct series *x = &m->s[m->n++];

        label(x->op, sizeof(x->op), c->op);
        label(x->role, sizeof(x->role), c->role);
        label(x->issuer, sizeof(x->issuer), c->issuer);
        x->failed = c->failed;
    }
    if (i < m->n) {
        m->s[i].count++;
        m->s[i].seconds += secs;
    }
    pthread_mutex_unlock(&m->mu);
}

void lca_api_metrics_request(struct lca_api_metrics *m)
{
    pthread_mutex_lock(&m->mu);
    m->requests++;
    pthread_mutex_unlock(&m->mu);
}

/* A growing text buffer; on overflow it stops growing and `bad` is set. */
struct buf {
    char *b;
    size_t len, cap;
    int bad;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->bad) {
        return;
    }
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->b + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->bad = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        char *nb = realloc(b->b, b->cap * 2 + (size_t)n);
        if (nb == NULL) {
            b->bad = 1;
            return;
        }
        b->b = nb;
        b->cap = b->cap * 2 + (size_t)n;
    }
}

/* The next offsets the signer group stored, for one topic: next[p] (0 when no row). */
static int stored_offsets(PGconn *pg, const char *group, const char *topic, int64_t *next,
                          int parts)
{
    const char *params[2] = {group, topic};
    PGresult *r = PQexecParams(pg,
                               "SELECT partition, next_offset FROM consumer_offsets "
                               "WHERE group_id = $1 AND topic = $2",
                               2, NULL, params, NULL, NULL, 0);
    int i, ok = PQresultStatus(r) == PGRES_TUPLES_OK;

    for (i = 0; ok && i < PQntuples(r); i++) {
        int p = atoi(PQgetvalue(r, i, 0));

        if (p >= 0 && p < parts) {
            next[p] = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        }
    }
    PQclear(r);
    return ok ? 0 : -1;
}

static void consumer_lag(struct lca_api_metrics *m, struct buf *b, PGconn *pg,
                         struct lca_api_facade *f)
{
    int64_t next[MAX_PARTS], hi;
    struct lca_err err;
    int t, p, parts;

    put(b, "# HELP ledgerca_consumer_lag_messages Commands in Kafka not yet decided by the signer "
           "group (high watermark minus the offset stored with its events).\n"
           "# TYPE ledgerca_consumer_lag_messages gauge\n");
    for (t = 0; t < 3; t++) {
        char topic[160];
        int64_t lag = 0;

        snprintf(topic, sizeof(topic), "%s%s", lca_catalog_topic_name(cmd_topics[t]), m->suffix);
        pthread_mutex_lock(&m->mu);
        parts = m->parts[t];
        pthread_mutex_unlock(&m->mu);
        if (parts == 0) {
            lca_err_clear(&err);
            if (lca_kafka_topic_partitions(m->bootstrap, topic, WATERMARK_TIMEOUT_MS, &parts,
                                           &err) != LCA_OK) {
                lca_log_err("metrics: partition count", &err);
                continue;
            }
            parts = parts > MAX_PARTS ? MAX_PARTS : parts;
            pthread_mutex_lock(&m->mu);
            m->parts[t] = parts;
            pthread_mutex_unlock(&m->mu);
        }
        memset(next, 0, sizeof(next));
        if (stored_offsets(pg, m->group, topic, next, parts) != 0) {
            lca_log(LCA_LOG_WARN, "metrics: cannot read consumer_offsets", "%s",
                    PQerrorMessage(pg));
            continue;
        }
        for (p = 0; p < parts; p++) {
            lca_err_clear(&err);
            if (lca_api_facade_high_watermark(f, topic, p, WATERMARK_TIMEOUT_MS, &hi, &err) !=
                LCA_OK) {
                lca_log_err("metrics: high watermark", &err);
                break;
            }
            lag += hi > next[p] ? hi - next[p] : 0;
        }
        if (p == parts) {
            put(b, "ledgerca_consumer_lag_messages{cluster=\"%s\",group=\"%s\",topic=\"%s\"} %lld\n",
                m->cluster, m->group, topic, (long long)lag);
        }
    }
}

char *lca_api_metrics_render(struct lca_api_metrics *m, PGconn *pg, struct lca_api_facade *f,
                             int64_t head, int64_t position, size_t *len)
{
    struct buf b = {malloc(8192), 0, 8192, 0};
    const char *cl = m->cluster;
    int64_t lag = head - position;
    size_t i;

    if (b.b == NULL) {
        return NULL;
    }
    put(&b, "# HELP ledgerca_pki_requests_total PKI requests (issue, sign, sign-verbatim, revoke); "
            "failures have failure=\"true\".\n"
            "# TYPE ledgerca_pki_requests_total counter\n");
    pthread_mutex_lock(&m->mu);
    for (i = 0; i < m->n; i++) {
        const struct series *x = &m->s[i];
        const char *fl = x->failed ? "true" : "false";

        put(&b,
            "ledgerca_pki_requests_total{operation=\"%s\",role=\"%s\",issuer=\"%s\","
            "cluster=\"%s\",failure=\"%s\"} %llu\n",
            x->op, x->role, x->issuer, cl, fl, (unsigned long long)x->count);
    }
    put(&b, "# HELP ledgerca_pki_request_duration_seconds Time from request to the command's "
            "reply.\n# TYPE ledgerca_pki_request_duration_seconds summary\n");
    for (i = 0; i < m->n; i++) {
        const struct series *x = &m->s[i];
        const char *fl = x->failed ? "true" : "false";

        put(&b,
            "ledgerca_pki_request_duration_seconds_sum{operation=\"%s\",role=\"%s\","
            "issuer=\"%s\",cluster=\"%s\",failure=\"%s\"} %.6f\n"
            "ledgerca_pki_request_duration_seconds_count{operation=\"%s\",role=\"%s\","
            "issuer=\"%s\",cluster=\"%s\",failure=\"%s\"} %llu\n",
            x->op, x->role, x->issuer, cl, fl, x->seconds, x->op, x->role, x->issuer, cl, fl,
            (unsigned long long)x->count);
    }
    put(&b,
        "# TYPE ledgerca_http_requests_total counter\n"
        "ledgerca_http_requests_total{cluster=\"%s\"} %llu\n",
        cl, (unsigned long long)m->requests);
    pthread_mutex_unlock(&m->mu);
    put(&b,
        "# HELP ledgerca_projector_lag_events Events in the log not yet in the read models.\n"
        "# TYPE ledgerca_projector_lag_events gauge\n"
        "ledgerca_projector_lag_events{cluster=\"%s\"} %lld\n"
        "# TYPE ledgerca_log_head_position gauge\n"
        "ledgerca_log_head_position{cluster=\"%s\"} %lld\n"
        "# TYPE ledgerca_read_model_position gauge\n"
        "ledgerca_read_model_position{cluster=\"%s\"} %lld\n",
        cl, (long long)(lag > 0 ? lag : 0), cl, (long long)head, cl, (long long)position);
    if (pg != NULL && f != NULL) {
        consumer_lag(m, &b, pg, f);
    }
    if (b.bad) {
        free(b.b);
        return NULL;
    }
    *len = b.len;
    return b.b;
}
