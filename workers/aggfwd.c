/* aggfwd — forwarded revocations of the aggregator (aggfwd.h). */
#include "aggfwd.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "certview.h"
#include "command.h"
#include "json.h"
#include "log.h"
#include "pgexec.h"

struct lca_aggfwd {
    struct lca_pgstore *store;
    struct lca_kproducer *prod;
    char group[128];
    const char *clusters;
    uint64_t forwards;
};

int lca_aggfwd_new(struct lca_pgstore *store, struct lca_kproducer *prod, const char *group,
                   const char *clusters, struct lca_aggfwd **out, struct lca_err *err)
{
    struct lca_aggfwd *a = calloc(1, sizeof(*a));

    if (a == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "aggregator: out of memory");
    }
    a->store = store;
    a->prod = prod;
    snprintf(a->group, sizeof(a->group), "%s", group);
    a->clusters = clusters;
    *out = a;
    return LCA_OK;
}

void lca_aggfwd_free(struct lca_aggfwd *a)
{
    free(a);
}

uint64_t lca_aggfwd_received(const struct lca_aggfwd *a)
{
    return a != NULL ? a->forwards : 0;
}

/* Its statements. */
static const char SQL_INSERT[] =
    "INSERT INTO agg_forwards (command_id, serial, command, from_cluster, state, "
    "horizon) VALUES ($1::uuid, $2, $3::bytea, $4, 'pending', $5) "
    "ON CONFLICT (command_id) DO NOTHING";

static const char SQL_OFFSET[] =
    "SELECT coalesce(max(next_offset), 0) FROM consumer_offsets WHERE group_id = $1 "
    "AND topic = $2 AND partition = 0";

static const char SQL_PENDING[] =
    "SELECT f.command_id, f.horizon, c.cluster FROM agg_forwards f LEFT JOIN "
    "agg_certs c ON c.serial = f.serial WHERE f.state = 'pending'";

static const char SQL_OWNER[] =
    "UPDATE agg_forwards SET state = 'forward', owner = $2 WHERE command_id = "
    "$1::uuid AND state = 'pending'";

static const char SQL_REJECT[] =
    "UPDATE agg_forwards SET state = 'reject' WHERE command_id = $1::uuid AND "
    "state = 'pending'";

static const char SQL_OPEN[] =
    "SELECT command_id, state, coalesce(owner, ''), command, from_cluster FROM "
    "agg_forwards WHERE state IN ('forward', 'reject') ORDER BY received_at";

static const char SQL_DONE[] =
    "UPDATE agg_forwards SET state = CASE state WHEN 'forward' THEN 'forwarded' ELSE "
    "'rejected' END, command = '\\x'::bytea, done_at = clock_timestamp() WHERE "
    "command_id = $1::uuid AND state IN ('forward', 'reject')";

static const char SQL_COUNT[] =
    "SELECT count(*) FROM agg_forwards WHERE state IN ('pending', 'forward', "
    "'reject')";

struct horizon {
    struct lca_aggfwd *a;
    char buf[4096];
    size_t len;
    int failed;
};

static int subscribed(const struct lca_aggfwd *a, const char *topic)
{
    const char *list = a->clusters, *t = topic + strlen(LCA_KAFKA_TOPIC_EVENTS_PREFIX);
    size_t n = strlen(t);

    if (list == NULL) {
        return 1;
    }
    while (*list != '\0') {
        size_t k = strcspn(list, ",");
        if (k == n && strncmp(list, t, n) == 0) {
            return 1;
        }
        list += k + (list[k] == ',');
    }
    return 0;
}

static void horizon_add(void *ctx, const char *topic, int partitions)
{
    struct horizon *h = ctx;
    struct lca_err err;
    int64_t hw = 0;
    int n;

    (void)partitions;
    lca_err_clear(&err);
    if (!subscribed(h->a, topic)) {
        return;
    }
    if (lca_kproducer_high_watermark(h->a->prod, topic, 0, 10000, &hw, &err) != LCA_OK) {
        h->failed = 1;
        return;
    }
    n = snprintf(h->buf + h->len, sizeof(h->buf) - h->len, "%s%s=%" PRId64,
                 h->len > 0 ? "," : "", topic, hw);
    if (n < 0 || (size_t)n >= sizeof(h->buf) - h->len) {
        h->failed = 1;
        return;
    }
    h->len += (size_t)n;
}

static int horizon_now(struct lca_aggfwd *a, struct horizon *h, struct lca_err *err)
{
    memset(h, 0, sizeof(*h));
    h->a = a;
    if (lca_kproducer_topics(a->prod, LCA_KAFKA_TOPIC_EVENTS_PREFIX, horizon_add, h, 10000,
                             err) != LCA_OK) {
        return LCA_FAIL;
    }
    return h->failed ? lca_err_set(err, LCA_ERR_RETRIABLE, "kafka",
                                   "aggregator: high watermarks not available")
                     : LCA_OK;
}

int lca_aggfwd_receive(struct lca_aggfwd *a, const struct lca_kmsg *m, struct lca_err *err)
{
    struct lca_command *cmd = NULL;
    struct horizon h;
    struct lca_err why;
    char serial[LCA_CERTVIEW_SERIAL_LEN], from[65] = "?";
    const void *fv = NULL;
    size_t fl = 0;
    const char *s;
    int rc = LCA_FAIL;

    lca_err_clear(&why);
    if (m->value == NULL ||
        lca_command_parse(m->value, m->len, m->has_content_type ? m->content_type : NULL, &cmd,
                          &why) != LCA_OK ||
        cmd->type != LCA_CMD_REVOKE || (s = lca_val_map_get_str(cmd->payload, "serial_number")) ==
                                           NULL ||
        lca_certview_serial_norm(s, serial) != LCA_OK) {
        lca_log(LCA_LOG_WARN, "forwarded revocation refused", "offset=%lld code=%s",
                (long long)m->offset, why.cls != LCA_ERR_NONE ? why.code : "bad_revoke");
        lca_command_free(cmd);
        return LCA_OK;
    }
    if (lca_kmsg_header(m, "forwarded-from", &fv, &fl) && fl > 0 && fl < sizeof(from)) {
        memcpy(from, fv, fl);
        from[fl] = '\0';
    }
    if (horizon_now(a, &h, err) == LCA_OK) {
        const char *v[5] = {cmd->command_id, serial, (const char *)m->value, from, h.buf};
        int lens[5] = {0, 0, (int)m->len, 0, 0}, fmts[5] = {0, 0, 1, 0, 0};
        long rows = 0;
        rc = lca_pgexec_run(a->store, "agg_forwards insert", SQL_INSERT,
                            5, v, lens, fmts, &rows, err);
        a->forwards += (uint64_t)rows;
        lca_log(LCA_LOG_INFO, rows ? "forwarded revocation received" : "forward already known",
                "command_id=%s from=%s", cmd->command_id, from);
    }
    lca_command_free(cmd);
    return rc;
}

/* 1 when every topic=offset of the horizon has been consumed (stored next offset >= it). */
static int caught_up(struct lca_aggfwd *a, const char *horizon, struct lca_err *err)
{
    char buf[4096], *save = NULL, *item;
    int ok = 1;

    snprintf(buf, sizeof(buf), "%s", horizon);
    for (item = strtok_r(buf, ",", &save); ok == 1 && item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strrchr(item, '=');
        PGresult *res;
        const char *v[2];
        if (eq == NULL) {
            continue;
        }
        *eq = '\0';
        v[0] = a->group;
        v[1] = item;
        res = lca_pgexec_query(a->store, "consumer_offsets read", SQL_OFFSET,
                               2, v, NULL, NULL, err);
        if (res == NULL) {
            return -1;
        }
        ok = strtoll(PQgetvalue(res, 0, 0), NULL, 10) >= strtoll(eq + 1, NULL, 10);
        PQclear(res);
    }
    return ok;
}

/* pending -> forward (a cluster issued it) or reject (none did, and we are caught up). */
int lca_aggfwd_resolve(struct lca_aggfwd *a, struct lca_err *err)
{
    PGresult *res = lca_pgexec_query(a->store, "agg_forwards pending", SQL_PENDING,
                                     0, NULL, NULL, NULL, err);
    int r, rc = LCA_OK;

    if (res == NULL) {
        return LCA_FAIL;
    }
    for (r = 0; rc == LCA_OK && r < PQntuples(res); r++) {
        const char *v[2] = {PQgetvalue(res, r, 0), PQgetvalue(res, r, 2)};
        int up;
        if (!PQgetisnull(res, r, 2)) {
            rc = lca_pgexec_run(a->store, "agg_forwards owner", SQL_OWNER,
                                2, v, NULL, NULL, NULL, err);
        } else if ((up = caught_up(a, PQgetvalue(res, r, 1), err)) < 0) {
            rc = LCA_FAIL;
        } else if (up) {
            rc = lca_pgexec_run(a->store, "agg_forwards reject", SQL_REJECT,
                                1, v, NULL, NULL, NULL, err);
        }
    }
    PQclear(res);
    return rc;
}

static int reject_reply(const struct lca_command *cmd, char **out, size_t *len,
                        struct lca_err *err)
{
    struct lca_val *r = lca_val_new_map(), *e = lca_val_new_map();
    int rc;

    lca_val_map_set_str(r, "command_id", cmd->command_id);
    lca_val_map_set_str(r, "correlation_id", cmd->correlation_id);
    lca_val_map_set_str(r, "type", "revoke");
    lca_val_map_set_str(r, "status", "rejected");
    lca_val_map_set_str(e, "code", "unknown_serial");
    lca_val_map_set_str(e, "message", "no cluster issued a certificate with this serial");
    lca_val_map_set(r, "error", e);
    rc = lca_json_encode(r, out, len, err);
    lca_val_free(r);
    return rc;
}

static int send_one(struct lca_aggfwd *a, PGresult *res, int row, struct lca_err *err)
{
    const char *state = PQgetvalue(res, row, 1), *owner = PQgetvalue(res, row, 2);
    const char *from = PQgetvalue(res, row, 4);
    size_t len = 0, rlen = 0;
    uint8_t *bytes = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, 3), &len);
    struct lca_kheader h[2] = {{"content-type", "application/json", 16},
                               {"forwarded-from", from, strlen(from)}};
    struct lca_command *cmd = NULL;
    char topic[160], *reply = NULL;
    int rc = LCA_FAIL;

    if (bytes == NULL || lca_command_parse(bytes, len, "application/json", &cmd, err) != LCA_OK) {
        goto out;
    }
    if (strcmp(state, "forward") == 0) {
        snprintf(topic, sizeof(topic), "%s.%s", LCA_KAFKA_TOPIC_REVOKE, owner);
        rc = lca_kproducer_send(a->prod, topic, cmd->command_id, strlen(cmd->command_id), bytes,
                                len, h, 2, err);
    } else if (reject_reply(cmd, &reply, &rlen, err) == LCA_OK) {
        rc = lca_kproducer_send(a->prod, cmd->reply_to, cmd->correlation_id,
                                strlen(cmd->correlation_id), reply, rlen, h, 1, err);
    }
out:
    if (bytes != NULL) {
        OPENSSL_cleanse(bytes, len);
        PQfreemem(bytes);
    }
    free(reply);
    lca_command_free(cmd);
    return rc;
}

/* Produces every resolved forward, then (Kafka acknowledged) marks it done and erases the
 * command bytes, which carry the client's token. */
int lca_aggfwd_send(struct lca_aggfwd *a, struct lca_err *err)
{
    PGresult *res = lca_pgexec_query(a->store, "agg_forwards open", SQL_OPEN,
                                     0, NULL, NULL, NULL, err);
    int r, rc = LCA_OK;

    if (res == NULL) {
        return LCA_FAIL;
    }
    for (r = 0; rc == LCA_OK && r < PQntuples(res); r++) {
        rc = send_one(a, res, r, err);
    }
    if (rc == LCA_OK && PQntuples(res) > 0) {
        rc = lca_kproducer_flush(a->prod, 30000, err);
    }
    for (r = 0; rc == LCA_OK && r < PQntuples(res); r++) {
        const char *v[1] = {PQgetvalue(res, r, 0)};
        rc = lca_pgexec_run(a->store, "agg_forwards done", SQL_DONE, 1, v, NULL, NULL, NULL, err);
        lca_log(LCA_LOG_INFO, "forwarded revocation sent", "command_id=%s state=%s owner=%s",
                v[0], PQgetvalue(res, r, 1), PQgetvalue(res, r, 2));
    }
    PQclear(res);
    return rc;
}

int lca_aggfwd_open(struct lca_aggfwd *a, long *n, struct lca_err *err)
{
    PGresult *res = lca_pgexec_query(a->store, "agg_forwards count", SQL_COUNT,
                                     0, NULL, NULL, NULL, err);

    if (res == NULL) {
        return LCA_FAIL;
    }
    *n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return LCA_OK;
}
