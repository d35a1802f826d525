/*
 * bench_db — see bench_db.h.
 */
#include "bench_db.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "kafka.h"
#include "migrate.h"
#include "pgstore.h"
#include "tokens.h"

/* Connects to server_uri with its database replaced by dbname (NULL: as given). libpq expands
 * the first "dbname" as a connection string; the second one overrides its database. */
static PGconn *connect_db(const char *server_uri, const char *dbname)
{
    const char *keys[] = {"dbname", dbname != NULL ? "dbname" : NULL, NULL};
    const char *vals[] = {server_uri, dbname, NULL};

    return PQconnectdbParams(keys, vals, 1);
}

/* The conninfo string (key='value' ...) of an open connection, from what libpq used. */
static char *conninfo_of(PGconn *c)
{
    PQconninfoOption *opts = PQconninfo(c), *o;
    size_t cap = 64, len = 0, need;
    char *s = malloc(cap), *p;

    for (o = opts; s != NULL && o != NULL && o->keyword != NULL; o++) {
        if (o->val == NULL || o->val[0] == '\0' || strchr(o->dispchar, 'D') != NULL) {
            continue; /* unset, or a debug option */
        }
        need = len + strlen(o->keyword) + 2 * strlen(o->val) + 6;
        if (need > cap) {
            char *t = realloc(s, need * 2);
            if (t == NULL) {
                free(s);
                s = NULL;
                break;
            }
            s = t;
            cap = need * 2;
        }
        len += (size_t)sprintf(s + len, "%s%s='", len ? " " : "", o->keyword);
        for (p = o->val; *p != '\0'; p++) {
            if (*p == '\\' || *p == '\'') {
                s[len++] = '\\';
            }
            s[len++] = *p;
        }
        s[len++] = '\'';
        s[len] = '\0';
    }
    PQconninfoFree(opts);
    return s;
}

static int pg_fail(struct lca_err *err, PGconn *c, const char *what)
{
    return lca_err_set(err, LCA_ERR_RETRIABLE, "postgres", "%s: %s", what,
                       c != NULL ? PQerrorMessage(c) : "out of memory");
}

static int exec_one(PGconn *c, const char *sql, struct lca_err *err)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

    PQclear(r);
    return ok ? LCA_OK : pg_fail(err, c, sql);
}

static int write_kek(struct lca_bench_db *db, struct lca_err *err)
{
    uint8_t k[32];
    char hex[65];
    int fd, i, ok;

    snprintf(db->dir, sizeof(db->dir), "/tmp/lca-bench-XXXXXX");
    if (mkdtemp(db->dir) == NULL) {
        db->dir[0] = '\0';
        return lca_err_set(err, LCA_ERR_FATAL, "tmpdir", "cannot create a temporary directory");
    }
    snprintf(db->kek_path, sizeof(db->kek_path), "%s/kek", db->dir);
    if (RAND_priv_bytes(k, sizeof(k)) != 1) {
        return lca_err_set(err, LCA_ERR_FATAL, "rand", "no random bytes for the KEK");
    }
    for (i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", k[i]);
    }
    hex[64] = '\n';
    fd = open(db->kek_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ok = fd >= 0 && write(fd, hex, sizeof(hex)) == (ssize_t)sizeof(hex);
    if (fd >= 0) {
        close(fd);
    }
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(hex, sizeof(hex));
    return ok ? LCA_OK
              : lca_err_set(err, LCA_ERR_FATAL, "kek", "cannot write %s", db->kek_path);
}

static int make_token(struct lca_bench_db *db, struct lca_err *err)
{
    struct lca_pgstore *store = NULL;
    int rc = lca_pgstore_open(db->uri, "bench", &store, err);

    if (rc == LCA_OK) {
        rc = lca_tokens_create(store, LCA_PERSONA_OPERATOR, NULL, 0, "benchmark", db->token, err);
    }
    lca_pgstore_free(store);
    return rc;
}

int lca_bench_db_create(struct lca_bench_db *db, const char *server_uri, const char *tag,
                        struct lca_err *err)
{
    PGconn *c;
    char sql[128];
    size_t i;
    int rc;

    memset(db, 0, sizeof(*db));
    for (i = 0; tag[i] != '\0'; i++) {
        if (!((tag[i] >= 'a' && tag[i] <= 'z') || (tag[i] >= '0' && tag[i] <= '9') ||
              tag[i] == '_')) {
            break;
        }
    }
    if (tag[i] != '\0' || i == 0 || i > 40) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "tag", "a bench tag is [a-z0-9_]{1,40}");
    }
    snprintf(db->name, sizeof(db->name), "lca_bench_%s", tag);
    if ((db->server_uri = strdup(server_uri)) == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
    }
    c = connect_db(server_uri, NULL);
    if (PQstatus(c) != CONNECTION_OK) {
        rc = pg_fail(err, c, "connecting");
        PQfinish(c);
        return rc;
    }
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db->name);
    rc = exec_one(c, sql, err);
    PQfinish(c);
    if (rc != LCA_OK) {
        return rc;
    }
    db->created = 1;
    c = connect_db(server_uri, db->name);
    if (PQstatus(c) != CONNECTION_OK || (db->uri = conninfo_of(c)) == NULL) {
        rc = pg_fail(err, c, "connecting to the new database");
        PQfinish(c);
        return rc;
    }
    PQfinish(c);
    if (lca_migrate_apply(db->uri, lca_migrate_builtin, NULL, NULL, NULL, err) != LCA_OK ||
        make_token(db, err) != LCA_OK) {
        return LCA_FAIL;
    }
    return write_kek(db, err);
}

int lca_bench_db_seed_offsets(struct lca_bench_db *db, const char *bootstrap, const char *group,
                              struct lca_err *err)
{
    static const char *const topics[] = {LCA_KAFKA_TOPIC_ISSUE, LCA_KAFKA_TOPIC_REVOKE,
                                         LCA_KAFKA_TOPIC_ADMIN};
    struct lca_kproducer *p = NULL;
    PGconn *c = NULL;
    int t, part, n, rc;

    rc = lca_kproducer_new(bootstrap, NULL, &p, err);
    if (rc == LCA_OK) {
        c = PQconnectdb(db->uri);
        if (PQstatus(c) != CONNECTION_OK) {
            rc = pg_fail(err, c, "connecting");
        }
    }
    for (t = 0; rc == LCA_OK && t < 3; t++) {
        rc = lca_kafka_topic_partitions(bootstrap, topics[t], 10000, &n, err);
        for (part = 0; rc == LCA_OK && part < n; part++) {
            int64_t hw = 0;
            char ps[16], hs[24];
            const char *params[4] = {group, topics[t], ps, hs};
            PGresult *r;

            rc = lca_kproducer_high_watermark(p, topics[t], part, 10000, &hw, err);
            if (rc != LCA_OK) {
                break;
            }
            snprintf(ps, sizeof(ps), "%d", part);
            snprintf(hs, sizeof(hs), "%lld", (long long)hw);
            r = PQexecParams(c,
                             "INSERT INTO consumer_offsets (group_id, topic, partition, "
                             "next_offset) VALUES ($1, $2, $3::int, $4::bigint)",
                             4, NULL, params, NULL, NULL, 0);
            if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                rc = pg_fail(err, c, "storing start offsets");
            }
            PQclear(r);
        }
    }
    PQfinish(c);
    lca_kproducer_free(p);
    return rc;
}

void lca_bench_db_drop(struct lca_bench_db *db)
{
    if (db->created && db->server_uri != NULL) {
        PGconn *c = connect_db(db->server_uri, NULL);
        char sql[128];
        struct lca_err err;

        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db->name);
        if (PQstatus(c) == CONNECTION_OK && exec_one(c, sql, &err) == LCA_OK) {
            db->created = 0;
        } else {
            fprintf(stderr, "bench: could not drop database %s: %s", db->name,
                    PQerrorMessage(c));
        }
        PQfinish(c);
    }
    if (db->kek_path[0] != '\0') {
        unlink(db->kek_path);
        db->kek_path[0] = '\0';
    }
    if (db->dir[0] != '\0') {
        rmdir(db->dir);
        db->dir[0] = '\0';
    }
    OPENSSL_cleanse(db->token, sizeof(db->token));
    free(db->uri);
    free(db->server_uri);
    db->uri = NULL;
    db->server_uri = NULL;
}
