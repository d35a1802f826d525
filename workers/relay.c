/* relay — the cluster's events to ledgerca.events.<cluster> (relay.h). */
#include "relay.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "fedlog.h"
#include "kafka.h"
#include "log.h"
#include "pgstore.h"

struct relay {
    const struct lca_relay_opts *o;
    char topic[128];
    struct lca_pgstore *store;
    struct lca_kproducer *prod;
    int64_t cursor;   /* last acknowledged position */
    int64_t last;     /* last position queued in the current page */
    uint64_t sent;
};

static void uuid_text(const uint8_t id[16], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    size_t i, o = 0;

    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out[o++] = '-';
        }
        out[o++] = hex[id[i] >> 4];
        out[o++] = hex[id[i] & 15];
    }
    out[o] = '\0';
}

static int sql(struct relay *r, const char *what, const char *q, int n, const char *const *v,
               PGresult **keep, struct lca_err *err)
{
    PGconn *c = lca_pgstore_conn(r->store, err);
    PGresult *res;
    ExecStatusType s;

    if (c == NULL) {
        return LCA_FAIL;
    }
    res = PQexecParams(c, q, n, NULL, v, NULL, NULL, 0);
    s = PQresultStatus(res);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        (void)lca_pgstore_pg_err(c, res, what, err);
        PQclear(res);
        return LCA_FAIL;
    }
    if (keep != NULL) {
        *keep = res;
    } else {
        PQclear(res);
    }
    return LCA_OK;
}

static int load_cursor(struct relay *r, struct lca_err *err)
{
    const char *v[1] = {r->o->cluster};
    PGresult *res = NULL;

    if (sql(r, "relay_cursor insert",
            "INSERT INTO relay_cursor (cluster, position) VALUES ($1, 0) "
            "ON CONFLICT (cluster) DO NOTHING",
            1, v, NULL, err) != LCA_OK ||
        sql(r, "relay_cursor read", "SELECT position FROM relay_cursor WHERE cluster = $1", 1, v,
            &res, err) != LCA_OK) {
        return LCA_FAIL;
    }
    r->cursor = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return LCA_OK;
}

static int store_cursor(struct relay *r, int64_t position, struct lca_err *err)
{
    char pos[24];
    const char *v[2] = {r->o->cluster, pos};

    snprintf(pos, sizeof(pos), "%" PRId64, position);
    return sql(r, "relay_cursor update",
               "UPDATE relay_cursor SET position = greatest(position, $2::bigint), "
               "updated_at = clock_timestamp() WHERE cluster = $1",
               2, v, NULL, err);
}

static int send_one(void *ctx, const struct lca_pgevent *pe, struct lca_err *err)
{
    static const struct lca_kheader h = {"content-type", "application/msgpack", 19};
    struct relay *r = ctx;
    struct lca_fedlog_msg m;
    char id[37], key[24];
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    uuid_text(pe->command_id, id);
    memset(&m, 0, sizeof(m));
    m.cluster = r->o->cluster;
    m.position = pe->position;
    m.stream = pe->stream;
    m.stream_version = pe->stream_version;
    m.type = pe->type;
    m.command_id = id;
    m.recorded_at_us = pe->recorded_at_us;
    memcpy(m.prev_hash, pe->prev_hash, sizeof(m.prev_hash));
    memcpy(m.hash, pe->hash, sizeof(m.hash));
    m.payload = pe->payload;
    m.payload_len = pe->payload_len;
    snprintf(key, sizeof(key), "%" PRId64, pe->position);
    if (lca_fedlog_encode(&m, &buf, &len, err) != LCA_OK) {
        return LCA_FAIL;
    }
    rc = lca_kproducer_send(r->prod, r->topic, key, strlen(key), buf, len, &h, 1, err);
    free(buf);
    if (rc == LCA_OK) {
        r->last = pe->position;
    }
    return rc;
}

/* One page: read after the cursor, queue, flush, then move the cursor. */
static int page(struct relay *r, size_t *n, struct lca_err *err)
{
    size_t max = r->o->max_batch > 0 ? r->o->max_batch : 1000;

    *n = 0;
    r->last = r->cursor;
    if (lca_pgstore_read(r->store, r->cursor, max, send_one, r, n, err) != LCA_OK ||
        (*n > 0 && lca_kproducer_flush(r->prod, 30000, err) != LCA_OK) ||
        (*n > 0 && store_cursor(r, r->last, err) != LCA_OK)) {
        return LCA_FAIL;
    }
    if (*n > 0) {
        r->cursor = r->last;
        r->sent += *n;
        lca_log(LCA_LOG_DEBUG, "relayed", "topic=%s events=%zu position=%" PRId64, r->topic, *n,
                r->cursor);
    }
    return LCA_OK;
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static int loop(struct relay *r, struct lca_err *err)
{
    int backoff = 100;
    size_t n;

    while (r->o->stop == NULL || !*r->o->stop) {
        if (page(r, &n, err) != LCA_OK) {
            if (r->o->once || err->cls != LCA_ERR_RETRIABLE) {
                return LCA_FAIL;
            }
            lca_log_err("relay: page not delivered; sending again from the cursor", err);
            lca_err_clear(err);
            pause_ms(backoff);
            backoff = backoff < 5000 ? backoff * 2 : 5000;
            continue;
        }
        backoff = 100;
        if (n == 0) {
            if (r->o->once) {
                break;
            }
            pause_ms(r->o->poll_ms > 0 ? r->o->poll_ms : 100);
        }
    }
    return LCA_OK;
}

int lca_relay_run(const struct lca_relay_opts *o, struct lca_err *err)
{
    struct relay r;
    const char *names[1];
    int rc = LCA_FAIL;

    memset(&r, 0, sizeof(r));
    r.o = o;
    if (o == NULL || o->pg_uri == NULL || o->bootstrap == NULL ||
        lca_fedlog_topic(o->cluster, r.topic, sizeof(r.topic)) != LCA_OK) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_options",
                           "relay: --pg-uri, --bootstrap and a cluster id of 1..64 of "
                           "[A-Za-z0-9._-] are required");
    }
    names[0] = r.topic;
    if (lca_pgstore_open(o->pg_uri, o->cluster, &r.store, err) != LCA_OK ||
        load_cursor(&r, err) != LCA_OK ||
        lca_kafka_create_topics(o->bootstrap, names, 1, 1, 30000, err) != LCA_OK ||
        lca_kproducer_new(o->bootstrap, NULL, &r.prod, err) != LCA_OK) {
        goto out;
    }
    lca_log(LCA_LOG_INFO, "relay started", "cluster=%s topic=%s cursor=%" PRId64, o->cluster,
            r.topic, r.cursor);
    rc = loop(&r, err);
    lca_log(LCA_LOG_INFO, "relay stopped", "cluster=%s sent=%llu cursor=%" PRId64, o->cluster,
            (unsigned long long)r.sent, r.cursor);
out:
    lca_kproducer_free(r.prod);
    lca_pgstore_free(r.store);
    return rc;
}
