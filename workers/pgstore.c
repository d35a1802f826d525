/*
 * pgstore — the PostgreSQL event log adapter. Contract and concurrency argument: pgstore.h and
 * sql/001_events.sql. Parameters and results travel in libpq's binary format: arrays are built
 * here (array_recv's wire format: ndim, flags, element oid, then per dimension length and lower
 * bound, then per element a 4-byte length or -1 for NULL and the bytes), so a batch of any size
 * is one INSERT ... SELECT FROM unnest(...) statement.
 */
#include "pgstore.h"

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "pgexec.h"


#define READ_PAGE 1000u
/* Microseconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01. */
#define PG_EPOCH_US INT64_C(946684800000000)

struct pb_cmd {
    uint8_t id[LCA_PGSTORE_UUID_LEN];
    uint8_t *reply;
    size_t reply_len;
    size_t ev_first, ev_count; /* its events: evs[ev_first .. ev_first+ev_count) */
    size_t ob_first, ob_count; /* its outbox rows */
    enum lca_pgbatch_outcome outcome;
    int64_t first, last;       /* positions of its events (0, 0: none) */
    uint8_t *rec_reply;        /* recorded reply of a duplicate (owned) */
    size_t rec_reply_len;
    const uint8_t *dup_reply;  /* reply of an in-batch original (borrowed) */
    size_t dup_reply_len;
};

struct pb_event {
    char *stream;
    int32_t version;
    char *type;
    uint8_t *payload;
    size_t len;
    int64_t position;
    uint8_t prev[LCA_PGSTORE_HASH_LEN];
    uint8_t hash[LCA_PGSTORE_HASH_LEN];
};

struct pb_outbox {
    char *topic;
    uint8_t *key, *payload, *headers;
    size_t key_len, len, headers_len;
};

struct pb_offset {
    char *group, *topic;
    int32_t partition;
    int64_t next;
};

struct lca_pgbatch {
    uint8_t (*pubs)[LCA_PGSTORE_UUID_LEN]; /* commands whose outbox rows get published_at */
    size_t npubs, cappubs;
    struct pb_cmd *cmds;
    size_t ncmds, capcmds;
    struct pb_event *evs;
    size_t nevs, capevs;
    struct pb_outbox *obs;
    size_t nobs, capobs;
    struct pb_offset *offs;
    size_t noffs, capoffs;
};

struct lca_pgstore {
    PGconn *conn;
    char *cluster;
    int prepared;
    lca_pgstore_hook *hook;
    void *hook_ctx;
};

/* ---- binary encoding -------------------------------------------------------------------- */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

static uint32_t get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int64_t get_be64(const uint8_t *p)
{
    return (int64_t)(((uint64_t)get_be32(p) << 32) | get_be32(p + 4));
}

/* ---- errors -------------------------------------------------------------------------------- */

static int sqlstate_retriable(const char *st)
{
    return strncmp(st, "08", 2) == 0 || strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0 ||
           strncmp(st, "53", 2) == 0 || strncmp(st, "57P0", 4) == 0;
}

static int classify(const char *st, const char *constraint, enum lca_err_class *cls,
                    const char **code)
{
    if (sqlstate_retriable(st)) {
        *cls = LCA_ERR_RETRIABLE;
        *code = "pg_transient";
    } else if (strcmp(st, "23505") == 0 && constraint != NULL &&
               strcmp(constraint, "events_stream_stream_version_key") == 0) {
        *cls = LCA_ERR_RETRIABLE;
        *code = "stream_conflict";
    } else if (strcmp(st, "23505") == 0 && constraint != NULL &&
               strcmp(constraint, "events_pkey") == 0) {
        *cls = LCA_ERR_FATAL;
        *code = "sequencer_violated";
    } else if (strncmp(st, "22", 2) == 0) {
        *cls = LCA_ERR_BAD_INPUT;
        *code = "pg_bad_data";
    } else if (strcmp(st, "LC001") == 0) {
        *cls = LCA_ERR_FATAL;
        *code = "append_only";
    } else if (strcmp(st, "42P01") == 0) {
        *cls = LCA_ERR_FATAL;
        *code = "schema_missing";
    } else {
        *cls = LCA_ERR_FATAL;
        *code = "pg_error";
    }
    return 0;
}

int lca_pgstore_pg_err(const struct pg_conn *conn, const struct pg_result *res, const char *what,
                       struct lca_err *err)
{
    const char *st = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *cons = res != NULL ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    const char *msg = res != NULL ? PQresultErrorMessage(res) : "";
    enum lca_err_class cls = LCA_ERR_RETRIABLE;
    const char *code = "pg_connection";
    int n;

    if (msg[0] == '\0' && conn != NULL) {
        msg = PQerrorMessage(conn);
    }
    if (conn != NULL && PQstatus(conn) == CONNECTION_OK && st != NULL) {
        (void)classify(st, cons, &cls, &code);
    }
    n = (int)strcspn(msg, "\n");
    return lca_err_set(err, cls, code, "%s: [%s] %.*s%s", what, st != NULL ? st : "-", n, msg,
                       strcmp(code, "schema_missing") == 0 ? " (run `ledgerca migrate`)" : "");
}

/* ---- connection ------------------------------------------------------------------------------- */

static const char SQL_LOCK[] = "SELECT position, hash FROM log_head WHERE id = 1 FOR UPDATE";
static const char SQL_LOOKUP[] =
    "SELECT command_id, reply, coalesce(first_position, 0), coalesce(last_position, 0) "
    "FROM commands WHERE command_id = ANY($1::uuid[])";
static const char SQL_APPEND[] =
    "WITH ev AS (INSERT INTO events (position, stream, stream_version, type, payload, cluster,"
    " command_id, recorded_at, prev_hash, hash)"
    " SELECT u.p, u.s, u.v, u.t, u.pl, $9::text, u.c, clock_timestamp(), u.ph, u.h"
    " FROM unnest($1::int8[], $2::text[], $3::int4[], $4::text[], $5::bytea[], $6::uuid[],"
    " $7::bytea[], $8::bytea[]) AS u(p, s, v, t, pl, c, ph, h) RETURNING 1),"
    " cmd AS (INSERT INTO commands (command_id, reply, first_position, last_position)"
    " SELECT * FROM unnest($10::uuid[], $11::bytea[], $12::int8[], $13::int8[])"
    " ON CONFLICT (command_id) DO NOTHING RETURNING 1),"
    " ob AS (INSERT INTO outbox (command_id, topic, key, payload, headers)"
    " SELECT * FROM unnest($14::uuid[], $15::text[], $16::bytea[], $17::bytea[], $18::bytea[])"
    " RETURNING 1),"
    " off AS (INSERT INTO consumer_offsets AS o (group_id, topic, partition, next_offset)"
    " SELECT * FROM unnest($19::text[], $20::text[], $21::int4[], $22::int8[])"
    " ON CONFLICT (group_id, topic, partition) DO UPDATE"
    " SET next_offset = greatest(o.next_offset, excluded.next_offset),"
    " updated_at = clock_timestamp() RETURNING 1),"
    " head AS (UPDATE log_head SET position = $23::int8, hash = $24::bytea"
    " WHERE id = 1 AND position = $25::int8 RETURNING 1),"
    /* replies of earlier batches that Kafka acknowledged (lca_pgbatch_add_published) */
    " pub AS (UPDATE outbox SET published_at = clock_timestamp()"
    " WHERE published_at IS NULL AND command_id = ANY($26::uuid[]))"
    " SELECT (SELECT count(*) FROM ev), (SELECT count(*) FROM cmd), (SELECT count(*) FROM ob),"
    " (SELECT count(*) FROM head)";
static const char SQL_READ[] =
    "SELECT position, stream, stream_version, type, payload, cluster, command_id, recorded_at,"
    " prev_hash, hash FROM events WHERE position > $1::int8 ORDER BY position LIMIT $2::int8";

static const struct {
    const char *name;
    const char *sql;
} STATEMENTS[] = {
    {"lca_lock", SQL_LOCK},
    {"lca_lookup", SQL_LOOKUP},
    {"lca_append", SQL_APPEND},
    {"lca_read", SQL_READ},
};

/* Reconnects a broken connection and (re)prepares the statements. */
static int ensure_conn(struct lca_pgstore *s, struct lca_err *err)
{
    PGresult *res;
    size_t i;

    if (PQstatus(s->conn) != CONNECTION_OK) {
        s->prepared = 0;
        PQreset(s->conn);
        if (PQstatus(s->conn) != CONNECTION_OK) {
            return lca_pgstore_pg_err(s->conn, NULL, "reconnect", err);
        }
    }
    for (i = 0; !s->prepared && i < sizeof(STATEMENTS) / sizeof(STATEMENTS[0]); i++) {
        res = PQprepare(s->conn, STATEMENTS[i].name, STATEMENTS[i].sql, 0, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            (void)lca_pgstore_pg_err(s->conn, res, STATEMENTS[i].name, err);
            PQclear(res);
            return LCA_FAIL;
        }
        PQclear(res);
    }
    s->prepared = 1;
    return LCA_OK;
}

int lca_pgstore_open(const char *uri, const char *cluster, struct lca_pgstore **out,
                     struct lca_err *err)
{
    struct lca_pgstore *s = NULL;
    int rc = LCA_FAIL;

    if (uri == NULL || cluster == NULL || cluster[0] == '\0') {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_argument", "pgstore: uri and cluster required");
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->cluster = strdup(cluster)) == NULL) {
        (void)lca_err_set(err, LCA_ERR_FATAL, "oom", "pgstore: out of memory");
        goto out;
    }
    s->conn = PQconnectdb(uri);
    if (s->conn == NULL) {
        (void)lca_err_set(err, LCA_ERR_FATAL, "oom", "pgstore: out of memory");
        goto out;
    }
    if (PQstatus(s->conn) != CONNECTION_OK) {
        (void)lca_pgstore_pg_err(s->conn, NULL, "connect", err);
        goto out;
    }
    if (ensure_conn(s, err) != LCA_OK) {
        goto out;
    }
    *out = s;
    s = NULL;
    rc = LCA_OK;
out:
    lca_pgstore_free(s);
    return rc;
}

void lca_pgstore_free(struct lca_pgstore *store)
{
    if (store == NULL) {
        return;
    }
    PQfinish(store->conn);
    free(store->cluster);
    free(store);
}

void lca_pgstore_set_hook(struct lca_pgstore *store, lca_pgstore_hook *hook, void *ctx)
{
    store->hook = hook;
    store->hook_ctx = ctx;
}

int lca_pgstore_chain_hash(const uint8_t prev[LCA_PGSTORE_HASH_LEN], const uint8_t *payload,
                           size_t len, uint8_t out[LCA_PGSTORE_HASH_LEN], struct lca_err *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int outlen = 0;
    int ok;

    ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
         EVP_DigestUpdate(ctx, prev, LCA_PGSTORE_HASH_LEN) == 1 &&
         EVP_DigestUpdate(ctx, payload, len) == 1 && EVP_DigestFinal_ex(ctx, out, &outlen) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok || outlen != LCA_PGSTORE_HASH_LEN) {
        return lca_err_set(err, LCA_ERR_FATAL, "sha256", "pgstore: SHA-256 failed");
    }
    return LCA_OK;
}

/* ---- small query helpers -------------------------------------------------------------------- */

static int exec_ok(struct lca_pgstore *s, const char *sql, struct lca_err *err)
{
    PGresult *res = PQexec(s->conn, sql);
    int rc = LCA_OK;

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = lca_pgstore_pg_err(s->conn, res, sql, err);
    }
    PQclear(res);
    return rc;
}

/* Runs a prepared statement or SQL text with binary params and results; *out on success. */
static int query(struct lca_pgstore *s, const char *stmt, const char *sql, int n,
                 const char *const *vals, const int *lens, PGresult **out, struct lca_err *err)
{
    int fmts[32];
    PGresult *res;
    int i;

    for (i = 0; i < n && i < 32; i++) {
        fmts[i] = 1;
    }
    if (stmt != NULL) {
        res = PQexecPrepared(s->conn, stmt, n, vals, lens, fmts, 1);
    } else {
        res = PQexecParams(s->conn, sql, n, NULL, vals, lens, fmts, 1);
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        (void)lca_pgstore_pg_err(s->conn, res, stmt != NULL ? stmt : "query", err);
        PQclear(res);
        return LCA_FAIL;
    }
    *out = res;
    return LCA_OK;
}

/* Copies a binary field; *out is malloc'd. */
static int copy_field(const PGresult *res, int row, int col, uint8_t **out, size_t *len,
                      struct lca_err *err)
{
    size_t n = (size_t)PQgetlength(res, row, col);
    uint8_t *p = malloc(n > 0 ? n : 1);

    if (p == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "pgstore: out of memory");
    }
    memcpy(p, PQgetvalue(res, row, col), n);
    *out = p;
    *len = n;
    return LCA_OK;
}

static int field_hash(const PGresult *res, int row, int col, uint8_t out[LCA_PGSTORE_HASH_LEN],
                      struct lca_err *err)
{
    if (PQgetlength(res, row, col) != LCA_PGSTORE_HASH_LEN) {
        return lca_err_set(err, LCA_ERR_FATAL, "bad_hash", "pgstore: stored hash is not 32 bytes");
    }
    memcpy(out, PQgetvalue(res, row, col), LCA_PGSTORE_HASH_LEN);
    return LCA_OK;
}

static int64_t field_int8(const PGresult *res, int row, int col)
{
    return get_be64((const uint8_t *)PQgetvalue(res, row, col));
}

struct pg_conn *lca_pgstore_conn(struct lca_pgstore *store, struct lca_err *err)
{
    return ensure_conn(store, err) == LCA_OK ? store->conn : NULL;
}

int lca_pgstore_head(struct lca_pgstore *store, int64_t *position,
                     uint8_t hash[LCA_PGSTORE_HASH_LEN], struct lca_err *err)
{
    PGresult *res = NULL;
    uint8_t h[LCA_PGSTORE_HASH_LEN];
    int rc = LCA_FAIL;

    if (ensure_conn(store, err) != LCA_OK ||
        query(store, NULL, "SELECT position, hash FROM log_head WHERE id = 1", 0, NULL, NULL,
              &res, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (PQntuples(res) != 1) {
        (void)lca_err_set(err, LCA_ERR_FATAL, "schema_missing", "pgstore: no log_head row");
        goto out;
    }
    if (field_hash(res, 0, 1, h, err) != LCA_OK) {
        goto out;
    }
    *position = field_int8(res, 0, 0);
    memcpy(hash, h, sizeof(h));
    rc = LCA_OK;
out:
    PQclear(res);
    return rc;
}

/* ---- reading ---------------------------------------------------------------------------------- */

static int row_event(const PGresult *res, int r, struct lca_pgevent *ev, struct lca_err *err)
{
    if (PQgetlength(res, r, 6) != LCA_PGSTORE_UUID_LEN || PQgetlength(res, r, 2) != 4 ||
        field_hash(res, r, 8, ev->prev_hash, err) != LCA_OK ||
        field_hash(res, r, 9, ev->hash, err) != LCA_OK) {
        return lca_err_set(err, LCA_ERR_FATAL, "bad_row", "pgstore: malformed event row");
    }
    ev->position = field_int8(res, r, 0);
    ev->stream = PQgetvalue(res, r, 1);
    ev->stream_version = (int32_t)get_be32((const uint8_t *)PQgetvalue(res, r, 2));
    ev->type = PQgetvalue(res, r, 3);
    ev->payload = (const uint8_t *)PQgetvalue(res, r, 4);
    ev->payload_len = (size_t)PQgetlength(res, r, 4);
    ev->cluster = PQgetvalue(res, r, 5);
    memcpy(ev->command_id, PQgetvalue(res, r, 6), LCA_PGSTORE_UUID_LEN);
    ev->recorded_at_us = field_int8(res, r, 7) + PG_EPOCH_US;
    return LCA_OK;
}

/* Reads one page; *got = rows delivered, *last = position of the last one. */
static int read_page(struct lca_pgstore *s, int64_t after, int64_t n, lca_pgevent_cb *cb,
                     void *ctx, size_t *got, int64_t *last, struct lca_err *err)
{
    uint8_t a[8], l[8];
    const char *vals[2] = {(const char *)a, (const char *)l};
    const int lens[2] = {8, 8};
    struct lca_pgevent ev;
    PGresult *res = NULL;
    int r, rc = LCA_FAIL;

    put_be64(a, (uint64_t)after);
    put_be64(l, (uint64_t)n);
    if (query(s, "lca_read", NULL, 2, vals, lens, &res, err) != LCA_OK) {
        return LCA_FAIL;
    }
    for (r = 0; r < PQntuples(res); r++) {
        if (row_event(res, r, &ev, err) != LCA_OK || cb(ctx, &ev, err) != LCA_OK) {
            goto out;
        }
        *last = ev.position;
    }
    *got = (size_t)PQntuples(res);
    rc = LCA_OK;
out:
    PQclear(res);
    return rc;
}

int lca_pgstore_read(struct lca_pgstore *store, int64_t after_position, size_t limit,
                     lca_pgevent_cb *cb, void *ctx, size_t *count_out, struct lca_err *err)
{
    size_t total = 0, got, want;
    int64_t last = after_position;

    if (ensure_conn(store, err) != LCA_OK) {
        return LCA_FAIL;
    }
    do {
        want = READ_PAGE;
        if (limit != 0 && limit - total < want) {
            want = limit - total;
        }
        got = 0;
        if (want > 0 &&
            read_page(store, last, (int64_t)want, cb, ctx, &got, &last, err) != LCA_OK) {
            return LCA_FAIL;
        }
        total += got;
    } while (want > 0 && got == want);
    if (count_out != NULL) {
        *count_out = total;
    }
    return LCA_OK;
}

/* ---- replies, keys, offsets ------------------------------------------------------------------ */

int lca_pgstore_get_reply(struct lca_pgstore *store, const uint8_t command_id[16],
                          uint8_t **bytes, size_t *len, struct lca_err *err)
{
    const char *vals[1] = {(const char *)command_id};
    const int lens[1] = {LCA_PGSTORE_UUID_LEN};
    PGresult *res = NULL;
    int rc = LCA_FAIL;

    if (ensure_conn(store, err) != LCA_OK ||
        query(store, NULL, "SELECT reply FROM commands WHERE command_id = $1::uuid", 1, vals, lens,
              &res, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (PQntuples(res) != 1) {
        (void)lca_err_set(err, LCA_ERR_BAD_INPUT, "not_found", "pgstore: command not recorded");
        goto out;
    }
    rc = copy_field(res, 0, 0, bytes, len, err);
out:
    PQclear(res);
    return rc;
}

int lca_pgstore_key_get(struct lca_pgstore *store, const char *key_id, uint8_t **wrapped,
                        size_t *len, struct lca_err *err)
{
    const char *vals[1] = {key_id};
    const int lens[1] = {(int)strlen(key_id)};
    PGresult *res = NULL;
    int rc = LCA_FAIL;

    if (ensure_conn(store, err) != LCA_OK ||
        query(store, NULL, "SELECT wrapped FROM ca_keys WHERE key_id = $1::text", 1, vals, lens,
              &res, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (PQntuples(res) != 1) {
        (void)lca_err_set(err, LCA_ERR_BAD_INPUT, "not_found", "pgstore: no key '%s'", key_id);
        goto out;
    }
    rc = copy_field(res, 0, 0, wrapped, len, err);
out:
    PQclear(res);
    return rc;
}

int lca_pgstore_key_put(struct lca_pgstore *store, const char *key_id, const uint8_t *wrapped,
                        size_t len, struct lca_err *err)
{
    const char *vals[2] = {key_id, (const char *)wrapped};
    const int lens[2] = {(int)strlen(key_id), (int)len};
    PGresult *res = NULL;
    uint8_t *old = NULL;
    size_t old_len = 0;
    int rc = LCA_FAIL;

    if (key_id[0] == '\0' || len == 0 || len > INT32_MAX) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_argument", "pgstore: empty key id or blob");
    }
    if (ensure_conn(store, err) != LCA_OK ||
        query(store, NULL,
              "INSERT INTO ca_keys (key_id, wrapped) VALUES ($1::text, $2::bytea)"
              " ON CONFLICT (key_id) DO NOTHING RETURNING 1",
              2, vals, lens, &res, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (PQntuples(res) == 1) {
        rc = LCA_OK;
        goto out;
    }
    if (lca_pgstore_key_get(store, key_id, &old, &old_len, err) != LCA_OK) {
        goto out;
    }
    if (old_len != len || CRYPTO_memcmp(old, wrapped, len) != 0) {
        (void)lca_err_set(err, LCA_ERR_BAD_INPUT, "key_exists",
                          "pgstore: key '%s' already stored with other bytes", key_id);
        goto out;
    }
    rc = LCA_OK;
out:
    PQclear(res);
    free(old);
    return rc;
}

int lca_pgstore_offsets(struct lca_pgstore *store, const char *group, const char *topic,
                        lca_pgoffset_cb *cb, void *ctx, struct lca_err *err)
{
    const char *vals[2] = {group, topic};
    const int lens[2] = {(int)strlen(group), (int)strlen(topic)};
    PGresult *res = NULL;
    int r;

    if (ensure_conn(store, err) != LCA_OK ||
        query(store, NULL,
              "SELECT partition, next_offset FROM consumer_offsets"
              " WHERE group_id = $1::text AND topic = $2::text ORDER BY partition",
              2, vals, lens, &res, err) != LCA_OK) {
        return LCA_FAIL;
    }
    for (r = 0; r < PQntuples(res); r++) {
        cb(ctx, (int32_t)get_be32((const uint8_t *)PQgetvalue(res, r, 0)), field_int8(res, r, 1));
    }
    PQclear(res);
    return LCA_OK;
}

/* ---- batches ---------------------------------------------------------------------------------- */

static int grow(void **arr, size_t *cap, size_t need, size_t elem, struct lca_err *err)
{
    void *np;
    size_t ncap;

    if (need <= *cap) {
        return LCA_OK;
    }
    ncap = *cap == 0 ? 16 : *cap * 2;
    np = realloc(*arr, ncap * elem);
    if (np == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "pgbatch: out of memory");
    }
    *arr = np;
    *cap = ncap;
    return LCA_OK;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n > 0 ? n : 1);

    if (d != NULL && n > 0) {
        memcpy(d, p, n);
    }
    return d;
}

struct lca_pgbatch *lca_pgbatch_new(void)
{
    return calloc(1, sizeof(struct lca_pgbatch));
}

void lca_pgbatch_reset(struct lca_pgbatch *b)
{
    size_t i;

    for (i = 0; i < b->ncmds; i++) {
        free(b->cmds[i].reply);
        free(b->cmds[i].rec_reply);
    }
    for (i = 0; i < b->nevs; i++) {
        free(b->evs[i].stream);
        free(b->evs[i].type);
        free(b->evs[i].payload);
    }
    for (i = 0; i < b->nobs; i++) {
        free(b->obs[i].topic);
        free(b->obs[i].key);
        free(b->obs[i].payload);
        free(b->obs[i].headers);
    }
    for (i = 0; i < b->noffs; i++) {
        free(b->offs[i].group);
        free(b->offs[i].topic);
    }
    b->ncmds = b->nevs = b->nobs = b->noffs = b->npubs = 0;
}

void lca_pgbatch_free(struct lca_pgbatch *batch)
{
    if (batch == NULL) {
        return;
    }
    lca_pgbatch_reset(batch);
    free(batch->cmds);
    free(batch->evs);
    free(batch->obs);
    free(batch->offs);
    free(batch->pubs);
    free(batch);
}

size_t lca_pgbatch_count(const struct lca_pgbatch *batch)
{
    return batch->ncmds;
}

int lca_pgbatch_command_id(const struct lca_pgbatch *b, size_t index, uint8_t id[16],
                           struct lca_err *err)
{
    if (index >= b->ncmds) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_argument", "pgbatch: no such command");
    }
    memcpy(id, b->cmds[index].id, LCA_PGSTORE_UUID_LEN);
    return LCA_OK;
}

int lca_pgbatch_add_command(struct lca_pgbatch *b, const uint8_t command_id[16],
                            const uint8_t *reply, size_t reply_len, size_t *index_out,
                            struct lca_err *err)
{
    struct pb_cmd *c;

    if (reply == NULL || reply_len > INT32_MAX) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_argument", "pgbatch: reply required");
    }
    if (grow((void **)&b->cmds, &b->capcmds, b->ncmds + 1, sizeof(*b->cmds), err) != LCA_OK) {
        return LCA_FAIL;
    }
    c = &b->cmds[b->ncmds];
    memset(c, 0, sizeof(*c));
    c->reply = dup_bytes(reply, reply_len);
    if (c->reply == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "pgbatch: out of memory");
    }
    memcpy(c->id, command_id, LCA_PGSTORE_UUID_LEN);
    c->reply_len = reply_len;
    c->ev_first = b->nevs;
    c->ob_first = b->nobs;
    if (index_out != NULL) {
        *index_out = b->ncmds;
    }
    b->ncmds++;
    return LCA_OK;
}

int lca_pgbatch_add_event(struct lca_pgbatch *b, const char *stream, int32_t stream_version,
                          const char *type, const uint8_t *payload, size_t payload_len,
                          struct lca_err *err)
{
    struct pb_event *e;

    if (b->ncmds == 0 || stream == NULL || stream[0] == '\0' || type == NULL || type[0] == '\0' ||
        stream_version < 1 || payload == NULL || payload_len > INT32_MAX) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_argument",
                           "pgbatch: event needs a command, stream, version >= 1, type, payload");
    }
    if (grow((void **)&b->evs, &b->capevs, b->nevs + 1, sizeof(*b->evs), err) != LCA_OK) {
        return LCA_FAIL;
    }
    e = &b->evs[b->nevs];
    memset(e, 0, sizeof(*e));
    e->stream = strdup(stream);
    e->type = strdup(type);
    e->payload = dup_bytes(payload, payload_len);
    e->len = payload_len;
    e->version = stream_version;
    b->nevs++;
    b->cmds[b->ncmds - 1].ev_count++;
    if (e->stream == NULL || e->type == NULL || e->payload == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "pgbatch: out of memory");
    }
    return LCA_OK;
}

static int add_outbox(struct lca_pgbatch *b, const char *topic, const uint8_t *key,
                      size_t key_len, const uint8_t *payload, size_t payload_len,
                      const uint8_t *headers, size_t headers_len, struct lca_err *err)
{
    struct pb_outbox *o;

    if (b->ncmds == 0 || topic == NULL || topic[0] == '\0' || payload_len > INT32_MAX ||
        key_len > INT32_MAX || headers_len > INT32_MAX) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_argument",
                           "pgbatch: outbox message needs a command, topic and payload");
    }
    if (grow((void **)&b->obs, &b->capobs, b->nobs + 1, sizeof(*b->obs), err) != LCA_OK) {
        return LCA_FAIL;
    }
    o = &b->obs[b->nobs];
    memset(o, 0, sizeof(*o));
    o->topic = strdup(topic);
    o->payload = payload != NULL ? dup_bytes(payload, payload_len) : NULL;
    o->len = payload_len;
    o->key = key != NULL ? dup_bytes(key, key_len) : NULL;
    o->key_len = key_len;
    o->headers = headers != NULL ? dup_bytes(headers, headers_len) : NULL;
    o->headers_len = headers_len;
    b->nobs++;
    b->cmds[b->ncmds - 1].ob_count++;
    if (o->topic == NULL || (payload != NULL && o->payload == NULL) ||
        (key != NULL && o->key == NULL) || (headers != NULL && o->headers == NULL)) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "pgbatch: out of memory");
    }
    return LCA_OK;
}

int lca_pgbatch_add_outbox(struct lca_pgbatch *b, const char *topic, const uint8_t *key,
                           size_t key_len, const uint8_t *payload, size_t payload_len,
                           const uint8_t *headers, size_t headers_len, struct lca_err *err)
{
    if (payload == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_argument",
                           "pgbatch: outbox message needs a command, topic and payload");
    }
    return add_outbox(b, topic, key, key_len, payload, payload_len, headers, headers_len, err);
}

int lca_pgbatch_add_reply_outbox(struct lca_pgbatch *b, const char *topic, const uint8_t *key,
                                 size_t key_len, const uint8_t *headers, size_t headers_len,
                                 struct lca_err *err)
{
    return add_outbox(b, topic, key, key_len, NULL, 0, headers, headers_len, err);
}

int lca_pgbatch_add_published(struct lca_pgbatch *b, const uint8_t command_id[16],
                              struct lca_err *err)
{
    if (grow((void **)&b->pubs, &b->cappubs, b->npubs + 1, sizeof(*b->pubs), err) != LCA_OK) {
        return LCA_FAIL;
    }
    memcpy(b->pubs[b->npubs++], command_id, LCA_PGSTORE_UUID_LEN);
    return LCA_OK;
}

int lca_pgbatch_add_offset(struct lca_pgbatch *b, const char *group, const char *topic,
                           int32_t partition, int64_t next_offset, struct lca_err *err)
{
    struct pb_offset *o;
    size_t i;

    if (group == NULL || topic == NULL || partition < 0 || next_offset < 0) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_argument", "pgbatch: bad offset");
    }
    for (i = 0; i < b->noffs; i++) {
        o = &b->offs[i];
        if (o->partition == partition && strcmp(o->group, group) == 0 &&
            strcmp(o->topic, topic) == 0) {
            o->next = next_offset > o->next ? next_offset : o->next;
            return LCA_OK;
        }
    }
    if (grow((void **)&b->offs, &b->capoffs, b->noffs + 1, sizeof(*b->offs), err) != LCA_OK) {
        return LCA_FAIL;
    }
    o = &b->offs[b->noffs++];
    o->group = strdup(group);
    o->topic = strdup(topic);
    o->partition = partition;
    o->next = next_offset;
    if (o->group == NULL || o->topic == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "pgbatch: out of memory");
    }
    return LCA_OK;
}

enum lca_pgbatch_outcome lca_pgbatch_result(const struct lca_pgbatch *b, size_t index,
                                            int64_t *first, int64_t *last,
                                            const uint8_t **reply, size_t *reply_len)
{
    const struct pb_cmd *c;

    if (index >= b->ncmds) {
        return LCA_PGBATCH_PENDING;
    }
    c = &b->cmds[index];
    if (first != NULL) {
        *first = c->first;
    }
    if (last != NULL) {
        *last = c->last;
    }
    if (reply != NULL) {
        *reply = c->outcome == LCA_PGBATCH_NEW         ? c->reply
                 : c->rec_reply != NULL                 ? c->rec_reply
                 : c->dup_reply;
    }
    if (reply_len != NULL) {
        *reply_len = c->outcome == LCA_PGBATCH_NEW ? c->reply_len
                     : c->rec_reply != NULL       ? c->rec_reply_len
                                                  : c->dup_reply_len;
    }
    return c->outcome;
}

/* ---- committing ------------------------------------------------------------------------------- */

static void clear_outcomes(struct lca_pgbatch *b)
{
    size_t i;

    for (i = 0; i < b->ncmds; i++) {
        free(b->cmds[i].rec_reply);
        b->cmds[i].rec_reply = NULL;
        b->cmds[i].dup_reply = NULL;
        b->cmds[i].outcome = LCA_PGBATCH_PENDING;
        b->cmds[i].first = b->cmds[i].last = 0;
    }
}

static int run_hook(struct lca_pgstore *s, enum lca_pgstore_stage st, struct lca_err *err)
{
    return s->hook != NULL ? s->hook(s->hook_ctx, st, err) : LCA_OK;
}

/* Sends BEGIN, the sequencer lock and the dedupe lookup as one pipeline (one round trip) and
 * collects their results into res[0..2]. The server still runs them one after the other: the
 * lookup starts only once the lock is granted. */
static int pipeline_begin(struct lca_pgstore *s, const struct lca_pgexec_arr *ids,
                          PGresult *res[3], struct lca_err *err)
{
    const char *vals[1] = {(const char *)ids->data};
    const int lens[1] = {(int)ids->len}, fmts[1] = {1};
    PGresult *r;
    int q, ok;

    ok = PQenterPipelineMode(s->conn) == 1 &&
         PQsendQueryParams(s->conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 1) == 1 &&
         PQsendQueryPrepared(s->conn, "lca_lock", 0, NULL, NULL, NULL, 1) == 1 &&
         PQsendQueryPrepared(s->conn, "lca_lookup", 1, vals, lens, fmts, 1) == 1 &&
         PQpipelineSync(s->conn) == 1;
    for (q = 0; ok && q < 3; q++) {
        res[q] = PQgetResult(s->conn);
        while (res[q] != NULL && (r = PQgetResult(s->conn)) != NULL) {
            PQclear(r); /* the end-of-query marker is NULL; anything else is unexpected */
        }
        ok = res[q] != NULL;
    }
    r = ok ? PQgetResult(s->conn) : NULL;
    ok = ok && PQresultStatus(r) == PGRES_PIPELINE_SYNC;
    PQclear(r);
    ok = PQexitPipelineMode(s->conn) == 1 && ok;
    if (!ok) {
        return lca_pgstore_pg_err(s->conn, NULL, "pipeline", err);
    }
    for (q = 0; q < 3; q++) {
        if (PQresultStatus(res[q]) != (q == 0 ? PGRES_COMMAND_OK : PGRES_TUPLES_OK)) {
            return lca_pgstore_pg_err(s->conn, res[q], q == 1 ? "lca_lock" : "lca_lookup", err);
        }
    }
    return LCA_OK;
}

/* Step 1: the sequencer lock's result: the head the batch appends after. */
static int read_head(const PGresult *res, int64_t *pos, uint8_t hash[LCA_PGSTORE_HASH_LEN],
                     struct lca_err *err)
{
    if (PQntuples(res) != 1) {
        return lca_err_set(err, LCA_ERR_FATAL, "schema_missing", "pgstore: no log_head row");
    }
    if (field_hash(res, 0, 1, hash, err) != LCA_OK) {
        return LCA_FAIL;
    }
    *pos = field_int8(res, 0, 0);
    return LCA_OK;
}

static struct pb_cmd *find_cmd(struct lca_pgbatch *b, const uint8_t id[16], size_t before)
{
    size_t i;

    for (i = 0; i < before; i++) {
        if (memcmp(b->cmds[i].id, id, LCA_PGSTORE_UUID_LEN) == 0) {
            return &b->cmds[i];
        }
    }
    return NULL;
}

/* Step 2: marks the commands already recorded as duplicates, with their recorded reply.
 * The lookup is a statement of its own, run after the lock was granted: in READ COMMITTED it
 * takes a fresh snapshot that includes the rows of the transaction that held the lock before. */
static int mark_recorded(struct lca_pgbatch *b, const PGresult *res, struct lca_err *err)
{
    struct pb_cmd *c;
    size_t i;
    int r;

    for (r = 0; r < PQntuples(res); r++) {
        for (i = 0; i < b->ncmds; i++) {
            c = &b->cmds[i];
            if (memcmp(c->id, PQgetvalue(res, r, 0), LCA_PGSTORE_UUID_LEN) != 0 ||
                c->outcome != LCA_PGBATCH_PENDING) {
                continue;
            }
            c->outcome = LCA_PGBATCH_DUPLICATE;
            c->first = field_int8(res, r, 2);
            c->last = field_int8(res, r, 3);
            if (copy_field(res, r, 1, &c->rec_reply, &c->rec_reply_len, err) != LCA_OK) {
                return LCA_FAIL;
            }
        }
    }
    return LCA_OK;
}

/* Step 3a: numbers and chains the events of the new commands, in batch order. Repeats of a
 * command id within the batch become duplicates of its first occurrence. */
static int number_events(struct lca_pgbatch *b, int64_t *pos, uint8_t hash[32],
                         struct lca_err *err)
{
    struct pb_cmd *c, *orig;
    struct pb_event *e;
    size_t i, j;

    for (i = 0; i < b->ncmds; i++) {
        c = &b->cmds[i];
        if (c->outcome != LCA_PGBATCH_PENDING) {
            continue;
        }
        orig = find_cmd(b, c->id, i);
        if (orig != NULL) {
            c->outcome = LCA_PGBATCH_DUPLICATE;
            c->first = orig->first;
            c->last = orig->last;
            c->dup_reply = orig->outcome == LCA_PGBATCH_NEW ? orig->reply : orig->rec_reply;
            c->dup_reply_len = orig->outcome == LCA_PGBATCH_NEW ? orig->reply_len
                                                                : orig->rec_reply_len;
            continue;
        }
        c->outcome = LCA_PGBATCH_NEW;
        for (j = 0; j < c->ev_count; j++) {
            e = &b->evs[c->ev_first + j];
            e->position = ++*pos;
            memcpy(e->prev, hash, LCA_PGSTORE_HASH_LEN);
            if (lca_pgstore_chain_hash(e->prev, e->payload, e->len, e->hash, err) != LCA_OK) {
                return LCA_FAIL;
            }
            memcpy(hash, e->hash, LCA_PGSTORE_HASH_LEN);
        }
        c->first = c->ev_count > 0 ? b->evs[c->ev_first].position : 0;
        c->last = c->ev_count > 0 ? b->evs[c->ev_first + c->ev_count - 1].position : 0;
    }
    return LCA_OK;
}

enum { P_EV_POS, P_EV_STREAM, P_EV_VER, P_EV_TYPE, P_EV_PAYLOAD, P_EV_CMD, P_EV_PREV, P_EV_HASH,
       P_CLUSTER, P_C_ID, P_C_REPLY, P_C_FIRST, P_C_LAST, P_O_CMD, P_O_TOPIC, P_O_KEY, P_O_PAYLOAD,
       P_O_HEADERS, P_F_GROUP, P_F_TOPIC, P_F_PART, P_F_NEXT, P_HEAD_POS, P_HEAD_HASH, P_OLD_POS,
       P_PUB_CMD, P_COUNT };

static const uint32_t PARAM_OID[P_COUNT] = {
    LCA_PGEXEC_OID_INT8, LCA_PGEXEC_OID_TEXT, LCA_PGEXEC_OID_INT4, LCA_PGEXEC_OID_TEXT,
    LCA_PGEXEC_OID_BYTEA, LCA_PGEXEC_OID_UUID, LCA_PGEXEC_OID_BYTEA, LCA_PGEXEC_OID_BYTEA, 0,
    LCA_PGEXEC_OID_UUID, LCA_PGEXEC_OID_BYTEA, LCA_PGEXEC_OID_INT8, LCA_PGEXEC_OID_INT8,
    LCA_PGEXEC_OID_UUID, LCA_PGEXEC_OID_TEXT, LCA_PGEXEC_OID_BYTEA, LCA_PGEXEC_OID_BYTEA,
    LCA_PGEXEC_OID_BYTEA, LCA_PGEXEC_OID_TEXT, LCA_PGEXEC_OID_TEXT, LCA_PGEXEC_OID_INT4,
    LCA_PGEXEC_OID_INT8, 0, 0, 0, LCA_PGEXEC_OID_UUID,
};

static void put_new_command(struct lca_pgexec_arr *p, const struct lca_pgbatch *b,
                            const struct pb_cmd *c)
{
    const struct pb_event *e;
    const struct pb_outbox *o;
    size_t j;

    for (j = 0; j < c->ev_count; j++) {
        e = &b->evs[c->ev_first + j];
        lca_pgexec_arr_add_int8(&p[P_EV_POS], e->position);
        lca_pgexec_arr_add_str(&p[P_EV_STREAM], e->stream);
        lca_pgexec_arr_add_int4(&p[P_EV_VER], e->version);
        lca_pgexec_arr_add_str(&p[P_EV_TYPE], e->type);
        lca_pgexec_arr_add(&p[P_EV_PAYLOAD], e->payload, e->len);
        lca_pgexec_arr_add(&p[P_EV_CMD], c->id, LCA_PGSTORE_UUID_LEN);
        lca_pgexec_arr_add(&p[P_EV_PREV], e->prev, LCA_PGSTORE_HASH_LEN);
        lca_pgexec_arr_add(&p[P_EV_HASH], e->hash, LCA_PGSTORE_HASH_LEN);
    }
    for (j = 0; j < c->ob_count; j++) {
        o = &b->obs[c->ob_first + j];
        lca_pgexec_arr_add(&p[P_O_CMD], c->id, LCA_PGSTORE_UUID_LEN);
        lca_pgexec_arr_add_str(&p[P_O_TOPIC], o->topic);
        lca_pgexec_arr_add(&p[P_O_KEY], o->key, o->key_len);
        lca_pgexec_arr_add(&p[P_O_PAYLOAD], o->payload, o->len); /* NULL: the command's reply */
        lca_pgexec_arr_add(&p[P_O_HEADERS], o->headers, o->headers_len);
    }
    lca_pgexec_arr_add(&p[P_C_ID], c->id, LCA_PGSTORE_UUID_LEN);
    lca_pgexec_arr_add(&p[P_C_REPLY], c->reply, c->reply_len);
    if (c->ev_count > 0) {
        lca_pgexec_arr_add_int8(&p[P_C_FIRST], c->first);
        lca_pgexec_arr_add_int8(&p[P_C_LAST], c->last);
    } else {
        lca_pgexec_arr_add(&p[P_C_FIRST], NULL, 0);
        lca_pgexec_arr_add(&p[P_C_LAST], NULL, 0);
    }
}

/* The scalar parameters of SQL_APPEND (PARAM_OID 0), in binary. */
struct scalars {
    uint8_t head_pos[8], old_pos[8];
};

/* Fills the P_COUNT parameters of SQL_APPEND (arrays in p, scalars pointing into sc, the
 * store and hash) into vals/lens; *expect receives the row counts it must affect (events,
 * commands, outbox). Fails only when memory runs out. */
static int build_params(struct lca_pgexec_arr *p, struct scalars *sc, const struct lca_pgstore *s,
                        const struct lca_pgbatch *b, int64_t old_pos, int64_t new_pos,
                        const uint8_t hash[32], const char **vals, int *lens, int64_t expect[3],
                        struct lca_err *err)
{
    size_t i;
    int k;

    for (k = 0; k < P_COUNT; k++) {
        lca_pgexec_arr_init(&p[k], PARAM_OID[k]);
    }
    expect[0] = expect[1] = expect[2] = 0;
    for (i = 0; i < b->ncmds; i++) {
        if (b->cmds[i].outcome == LCA_PGBATCH_NEW) {
            put_new_command(p, b, &b->cmds[i]);
            expect[0] += (int64_t)b->cmds[i].ev_count;
            expect[1] += 1;
            expect[2] += (int64_t)b->cmds[i].ob_count;
        }
    }
    for (i = 0; i < b->noffs; i++) {
        lca_pgexec_arr_add_str(&p[P_F_GROUP], b->offs[i].group);
        lca_pgexec_arr_add_str(&p[P_F_TOPIC], b->offs[i].topic);
        lca_pgexec_arr_add_int4(&p[P_F_PART], b->offs[i].partition);
        lca_pgexec_arr_add_int8(&p[P_F_NEXT], b->offs[i].next);
    }
    for (i = 0; i < b->npubs; i++) {
        lca_pgexec_arr_add(&p[P_PUB_CMD], b->pubs[i], LCA_PGSTORE_UUID_LEN);
    }
    for (k = 0; k < P_COUNT; k++) {
        if (PARAM_OID[k] != 0) {
            if (lca_pgexec_arr_finish(&p[k], err) != LCA_OK) {
                return LCA_FAIL;
            }
            vals[k] = (const char *)p[k].data;
            lens[k] = (int)p[k].len;
        }
    }
    put_be64(sc->head_pos, (uint64_t)new_pos);
    put_be64(sc->old_pos, (uint64_t)old_pos);
    vals[P_CLUSTER] = s->cluster;
    lens[P_CLUSTER] = (int)strlen(s->cluster);
    vals[P_HEAD_POS] = (const char *)sc->head_pos;
    lens[P_HEAD_POS] = 8;
    vals[P_HEAD_HASH] = (const char *)hash;
    lens[P_HEAD_HASH] = LCA_PGSTORE_HASH_LEN;
    vals[P_OLD_POS] = (const char *)sc->old_pos;
    lens[P_OLD_POS] = 8;
    return LCA_OK;
}

/* Step 3b: one statement writes everything, then the affected row counts are checked. */
static int append(struct lca_pgstore *s, struct lca_pgbatch *b, int64_t old_pos, int64_t new_pos,
                  const uint8_t hash[32], struct lca_err *err)
{
    struct lca_pgexec_arr p[P_COUNT];
    struct scalars sc;
    const char *vals[P_COUNT];
    int lens[P_COUNT], k, rc = LCA_FAIL;
    int64_t expect[3];
    PGresult *res = NULL;

    if (build_params(p, &sc, s, b, old_pos, new_pos, hash, vals, lens, expect, err) != LCA_OK ||
        query(s, "lca_append", NULL, P_COUNT, vals, lens, &res, err) != LCA_OK) {
        goto out;
    }
    if (PQntuples(res) != 1 || field_int8(res, 0, 0) != expect[0] ||
        field_int8(res, 0, 1) != expect[1] || field_int8(res, 0, 2) != expect[2] ||
        field_int8(res, 0, 3) != 1) {
        /* A command row appeared without the sequencer lock, or the head moved under us. */
        (void)lca_err_set(err, LCA_ERR_FATAL, "sequencer_violated",
                          "pgstore: append affected unexpected rows; batch rolled back");
        goto out;
    }
    rc = LCA_OK;
out:
    PQclear(res);
    for (k = 0; k < P_COUNT; k++) {
        lca_pgexec_arr_cleanup(&p[k]);
    }
    return rc;
}

/* BEGIN, lock, lookup (one round trip); mark duplicates; *old_pos and hash = the head. */
static int begin_batch(struct lca_pgstore *s, struct lca_pgbatch *b, int64_t *old_pos,
                       uint8_t hash[LCA_PGSTORE_HASH_LEN], struct lca_err *err)
{
    struct lca_pgexec_arr ids;
    PGresult *res[3] = {NULL, NULL, NULL};
    size_t i;
    int rc = LCA_FAIL;

    lca_pgexec_arr_init(&ids, LCA_PGEXEC_OID_UUID);
    for (i = 0; i < b->ncmds; i++) {
        lca_pgexec_arr_add(&ids, b->cmds[i].id, LCA_PGSTORE_UUID_LEN);
    }
    if (lca_pgexec_arr_finish(&ids, err) != LCA_OK) {
        goto out;
    }
    if (pipeline_begin(s, &ids, res, err) != LCA_OK ||
        read_head(res[1], old_pos, hash, err) != LCA_OK ||
        run_hook(s, LCA_PGSTORE_STAGE_LOCKED, err) != LCA_OK ||
        mark_recorded(b, res[2], err) != LCA_OK) {
        goto out;
    }
    rc = LCA_OK;
out:
    for (i = 0; i < 3; i++) {
        PQclear(res[i]);
    }
    lca_pgexec_arr_cleanup(&ids);
    return rc;
}

static int run_batch(struct lca_pgstore *s, struct lca_pgbatch *b, struct lca_err *err)
{
    uint8_t hash[LCA_PGSTORE_HASH_LEN];
    int64_t old_pos = 0, pos;

    if (begin_batch(s, b, &old_pos, hash, err) != LCA_OK) {
        return LCA_FAIL;
    }
    pos = old_pos;
    if (number_events(b, &pos, hash, err) != LCA_OK ||
        append(s, b, old_pos, pos, hash, err) != LCA_OK ||
        run_hook(s, LCA_PGSTORE_STAGE_BEFORE_COMMIT, err) != LCA_OK) {
        return LCA_FAIL;
    }
    /* If the connection drops during COMMIT the outcome is unknown; the error is RETRIABLE and
     * the retried batch finds its commands recorded (duplicates) if the commit did happen. */
    return exec_ok(s, "COMMIT", err);
}

int lca_pgstore_commit_batch(struct lca_pgstore *store, struct lca_pgbatch *batch,
                             struct lca_err *err)
{
    PGresult *res;

    clear_outcomes(batch);
    if (batch->ncmds == 0 && batch->noffs == 0 && batch->npubs == 0) {
        return LCA_OK;
    }
    if (ensure_conn(store, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (run_batch(store, batch, err) == LCA_OK) {
        return LCA_OK;
    }
    if (PQstatus(store->conn) == CONNECTION_OK &&
        PQtransactionStatus(store->conn) != PQTRANS_IDLE) {
        res = PQexec(store->conn, "ROLLBACK");
        PQclear(res);
    }
    clear_outcomes(batch);
    return LCA_FAIL;
}
