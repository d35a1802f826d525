#include "outbox.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int lca_outbox_pending(struct lca_pgstore *store, size_t limit, lca_outbox_cb *cb, void *ctx,
                       size_t *count, struct lca_err *err)
{
    PGconn *conn = (PGconn *)lca_pgstore_conn(store, err);
    PGresult *res;
    char lim[32];
    const char *vals[1] = {lim};
    int i, n, rc = LCA_OK;

    if (conn == NULL) {
        return LCA_FAIL;
    }
    snprintf(lim, sizeof(lim), "%zu", limit);
    res = PQexecParams(conn,
                       "SELECT o.id, o.topic, o.key, coalesce(o.payload, c.reply) FROM outbox o"
                       " LEFT JOIN commands c ON o.payload IS NULL AND c.command_id = o.command_id"
                       " WHERE o.published_at IS NULL ORDER BY o.id LIMIT $1::int8",
                       1, NULL, vals, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = lca_pgstore_pg_err((struct pg_conn *)conn, (struct pg_result *)res, "outbox read",
                                err);
        PQclear(res);
        return rc;
    }
    n = PQntuples(res);
    for (i = 0; i < n && rc == LCA_OK; i++) {
        struct lca_outbox_msg m;
        const uint8_t *idp = (const uint8_t *)PQgetvalue(res, i, 0);
        uint64_t id = 0;
        int k;
        char topic[256];

        for (k = 0; k < 8; k++) {
            id = id << 8 | idp[k];
        }
        snprintf(topic, sizeof(topic), "%.*s", PQgetlength(res, i, 1), PQgetvalue(res, i, 1));
        m.id = (int64_t)id;
        m.topic = topic;
        m.key = PQgetisnull(res, i, 2) ? NULL : (const uint8_t *)PQgetvalue(res, i, 2);
        m.key_len = PQgetisnull(res, i, 2) ? 0 : (size_t)PQgetlength(res, i, 2);
        if (PQgetisnull(res, i, 3)) {
            continue; /* a reply row whose command row is missing: nothing to send */
        }
        m.payload = (const uint8_t *)PQgetvalue(res, i, 3);
        m.len = (size_t)PQgetlength(res, i, 3);
        rc = cb(ctx, &m, err);
    }
    PQclear(res);
    if (rc == LCA_OK && count != NULL) {
        *count = (size_t)n;
    }
    return rc;
}

int lca_outbox_mark(struct lca_pgstore *store, const int64_t *ids, size_t n, struct lca_err *err)
{
    PGconn *conn;
    PGresult *res;
    char *list, *p;
    const char *vals[1];
    size_t i;
    int rc = LCA_OK;

    if (n == 0) {
        return LCA_OK;
    }
    if ((conn = (PGconn *)lca_pgstore_conn(store, err)) == NULL) {
        return LCA_FAIL;
    }
    if ((list = malloc(n * 24 + 3)) == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
    }
    p = list;
    *p++ = '{';
    for (i = 0; i < n; i++) {
        p += sprintf(p, "%s%lld", i > 0 ? "," : "", (long long)ids[i]);
    }
    *p++ = '}';
    *p = '\0';
    vals[0] = list;
    res = PQexecParams(conn,
                       "UPDATE outbox SET published_at = clock_timestamp()"
                       " WHERE id = ANY($1::int8[]) AND published_at IS NULL",
                       1, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = lca_pgstore_pg_err((struct pg_conn *)conn, (struct pg_result *)res, "outbox mark",
                                err);
    }
    PQclear(res);
    free(list);
    return rc;
}

int lca_outbox_mark_commands(struct lca_pgstore *store, const uint8_t (*command_ids)[16],
                             size_t n, struct lca_err *err)
{
    PGconn *conn;
    PGresult *res;
    uint8_t *arr;
    const char *vals[1];
    int lens[1], fmts[1] = {1}, rc = LCA_OK;
    size_t i, len = 20 + n * 20;
    uint8_t *p;

    if (n == 0) {
        return LCA_OK;
    }
    if (n > INT32_MAX / 20 || (conn = (PGconn *)lca_pgstore_conn(store, err)) == NULL) {
        return n > INT32_MAX / 20 ? lca_err_set(err, LCA_ERR_BAD_INPUT, "too_many", "too many ids")
                                  : LCA_FAIL;
    }
    if ((arr = malloc(len)) == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
    }
    /* binary uuid[]: ndim 1, no nulls, element oid 2950, n elements from index 1 */
    p = arr;
    put_be32(p, 1);
    put_be32(p + 4, 0);
    put_be32(p + 8, 2950u);
    put_be32(p + 12, (uint32_t)n);
    put_be32(p + 16, 1);
    for (i = 0, p += 20; i < n; i++, p += 20) {
        put_be32(p, 16);
        memcpy(p + 4, command_ids[i], 16);
    }
    vals[0] = (const char *)arr;
    lens[0] = (int)len;
    res = PQexecParams(conn,
                       "UPDATE outbox SET published_at = clock_timestamp()"
                       " WHERE published_at IS NULL AND command_id = ANY($1::uuid[])",
                       1, NULL, vals, lens, fmts, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = lca_pgstore_pg_err((struct pg_conn *)conn, (struct pg_result *)res,
                                "outbox mark", err);
    }
    PQclear(res);
    free(arr);
    return rc;
}
