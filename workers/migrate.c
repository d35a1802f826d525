/*
 * migrate — see migrate.h. Each migration: BEGIN; advisory lock; create schema_migrations if
 * needed; skip if recorded; run the file; record it; COMMIT.
 */
#include "migrate.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>

#include "pgstore.h"

/* Serializes concurrent `ledgerca migrate` runs against one database (any fixed key works).
 * Transaction-scoped: released at COMMIT/ROLLBACK. */
#define MIGRATE_LOCK_KEY "30508567583352690" /* "lcamigr" read as a big-endian integer */

static const char SQL_PREPARE[] =
    "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ");"
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version int PRIMARY KEY, name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT clock_timestamp())";

int lca_migrate_version(const char *name)
{
    long v = 0;
    int digits = 0;

    for (; name[digits] >= '0' && name[digits] <= '9' && digits < 6; digits++) {
        v = v * 10 + (name[digits] - '0');
    }
    if (digits == 0 || name[digits] != '_' || v < 1) {
        return -1;
    }
    return (int)v;
}

static int exec(PGconn *conn, const char *sql, const char *what, struct lca_err *err)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = LCA_OK;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        rc = lca_pgstore_pg_err(conn, res, what, err);
        if (err != NULL && err->cls == LCA_ERR_FATAL) {
            snprintf(err->code, sizeof(err->code), "migration_failed");
        }
    }
    PQclear(res);
    return rc;
}

/* Is `version` recorded? *yes set on success. */
static int recorded(PGconn *conn, int version, int *yes, struct lca_err *err)
{
    char v[16];
    const char *vals[1] = {v};
    PGresult *res;

    snprintf(v, sizeof(v), "%d", version);
    res = PQexecParams(conn, "SELECT 1 FROM schema_migrations WHERE version = $1::int", 1, NULL,
                       vals, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        (void)lca_pgstore_pg_err(conn, res, "schema_migrations", err);
        PQclear(res);
        return LCA_FAIL;
    }
    *yes = PQntuples(res) > 0;
    PQclear(res);
    return LCA_OK;
}

static int record(PGconn *conn, int version, const char *name, struct lca_err *err)
{
    char v[16];
    const char *vals[2] = {v, name};
    PGresult *res;
    int rc = LCA_OK;

    snprintf(v, sizeof(v), "%d", version);
    res = PQexecParams(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)",
                       2, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = lca_pgstore_pg_err(conn, res, "schema_migrations", err);
    }
    PQclear(res);
    return rc;
}

/* One migration in one transaction. *applied = 1 if it ran. */
static int apply_one(PGconn *conn, const struct lca_migration *m, int version, int *applied,
                     struct lca_err *err)
{
    int yes = 0;
    char what[128];

    snprintf(what, sizeof(what), "migration %s", m->name);
    if (exec(conn, "BEGIN", "BEGIN", err) != LCA_OK ||
        exec(conn, SQL_PREPARE, "schema_migrations", err) != LCA_OK ||
        recorded(conn, version, &yes, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (!yes && (exec(conn, m->sql, what, err) != LCA_OK ||
                 record(conn, version, m->name, err) != LCA_OK)) {
        return LCA_FAIL;
    }
    if (exec(conn, "COMMIT", "COMMIT", err) != LCA_OK) {
        return LCA_FAIL;
    }
    *applied = !yes;
    return LCA_OK;
}

static int check_order(const struct lca_migration *migs, struct lca_err *err)
{
    int prev = 0, v;
    size_t i;

    for (i = 0; migs[i].name != NULL; i++) {
        v = lca_migrate_version(migs[i].name);
        if (v <= prev) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_migration",
                               "migration '%s': name must start with a number greater than %d_",
                               migs[i].name, prev);
        }
        prev = v;
    }
    return LCA_OK;
}

int lca_migrate_apply(const char *uri, const struct lca_migration *migs, lca_migrate_cb *on_applied,
                      void *ctx, size_t *applied_out, struct lca_err *err)
{
    PGconn *conn = NULL;
    PGresult *res;
    size_t i, n = 0;
    int applied, rc = LCA_FAIL;

    if (check_order(migs, err) != LCA_OK) {
        return LCA_FAIL;
    }
    conn = PQconnectdb(uri);
    if (PQstatus(conn) != CONNECTION_OK) {
        (void)lca_pgstore_pg_err(conn, NULL, "connect", err);
        goto out;
    }
    res = PQexec(conn, "SET client_min_messages = warning");
    PQclear(res);
    for (i = 0; migs[i].name != NULL; i++) {
        applied = 0;
        if (apply_one(conn, &migs[i], lca_migrate_version(migs[i].name), &applied, err) != LCA_OK) {
            goto out;
        }
        if (applied) {
            n++;
            if (on_applied != NULL) {
                on_applied(ctx, lca_migrate_version(migs[i].name), migs[i].name);
            }
        }
    }
    if (applied_out != NULL) {
        *applied_out = n;
    }
    rc = LCA_OK;
out:
    PQfinish(conn);
    return rc;
}
