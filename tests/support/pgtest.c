/* pgtest — see pgtest.h. */
#include "pgtest.h"

/* tests/ gets libpq's link but not its include directory from lca_workers (PRIVATE); Debian
 * installs the header under postgresql/. */
#include <postgresql/libpq-fe.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROLES 8

struct lca_pgtest {
    char dbname[40];
    char *uri;                   /* superuser, fresh database */
    char *role_uri[MAX_ROLES];   /* login roles, fresh database */
    char role[MAX_ROLES][64];
    size_t nroles;
};

static atomic_uint counter;

static const char *base_uri(void)
{
    const char *u = getenv("LCA_TEST_PG_URI");

    if (u == NULL || u[0] == '\0') {
        fprintf(stderr, "FAIL: LCA_TEST_PG_URI is not set. Integration tests need a PostgreSQL "
                        "superuser connection string to a throwaway server; run them through "
                        "tests/run (which starts one) or export LCA_TEST_PG_URI yourself.\n");
        return NULL;
    }
    return u;
}

/* Appends " key='value'" with libpq's quoting (backslash before ' and \). */
static void append_kv(char *out, size_t cap, const char *key, const char *val)
{
    size_t n = strlen(out);
    const char *p;

    n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%s='", n > 0 ? " " : "", key);
    for (p = val; *p != '\0' && n + 3 < cap; p++) {
        if (*p == '\'' || *p == '\\') {
            out[n++] = '\\';
        }
        out[n++] = *p;
    }
    if (n + 2 <= cap) {
        out[n++] = '\'';
        out[n] = '\0';
    }
}

/* The base connection string with dbname (and user/password when non-NULL) replaced. */
static char *derive(const char *base, const char *db, const char *user, const char *password)
{
    PQconninfoOption *opts, *o;
    char *err = NULL, *out = calloc(1, 4096);

    opts = PQconninfoParse(base, &err);
    if (opts == NULL || out == NULL) {
        fprintf(stderr, "pgtest: cannot parse LCA_TEST_PG_URI: %s\n", err != NULL ? err : "oom");
        PQfreemem(err);
        free(out);
        return NULL;
    }
    for (o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL || o->val[0] == '\0' || strcmp(o->keyword, "dbname") == 0 ||
            (user != NULL && (strcmp(o->keyword, "user") == 0 ||
                              strcmp(o->keyword, "password") == 0))) {
            continue;
        }
        append_kv(out, 4096, o->keyword, o->val);
    }
    append_kv(out, 4096, "dbname", db);
    if (user != NULL) {
        append_kv(out, 4096, "user", user);
        append_kv(out, 4096, "password", password);
    }
    PQconninfoFree(opts);
    return out;
}

int lca_pgtest_exec(const char *uri, const char *sql, char sqlstate[6], char *msg, size_t msglen)
{
    PGconn *c = PQconnectdb(uri);
    PGresult *r = NULL;
    const char *st = "", *m;
    int rc = -1;

    if (PQstatus(c) != CONNECTION_OK) {
        m = PQerrorMessage(c);
    } else {
        r = PQexec(c, sql);
        if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK) {
            rc = 0;
        }
        st = PQresultErrorField(r, PG_DIAG_SQLSTATE) != NULL
                 ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : "";
        m = PQresultErrorMessage(r);
    }
    if (sqlstate != NULL) {
        snprintf(sqlstate, 6, "%s", st);
    }
    if (msg != NULL && msglen > 0) {
        snprintf(msg, msglen, "%s", m);
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

int lca_pgtest_int(const char *uri, const char *sql, int64_t *out)
{
    PGconn *c = PQconnectdb(uri);
    PGresult *r = PQexec(c, sql);
    int rc = -1;

    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) {
        *out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        rc = 0;
    } else {
        fprintf(stderr, "pgtest: %s: %s%s", sql, PQerrorMessage(c), PQresultErrorMessage(r));
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

int lca_pgtest_available(void)
{
    const char *base = base_uri();
    char msg[512];

    if (base == NULL) {
        return 0;
    }
    if (lca_pgtest_exec(base, "SELECT 1", NULL, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "FAIL: cannot reach the server of LCA_TEST_PG_URI: %s\n", msg);
        return 0;
    }
    return 1;
}

struct lca_pgtest *lca_pgtest_new(void)
{
    const char *base = base_uri();
    struct lca_pgtest *t;
    char sql[160], msg[512];

    if (base == NULL || (t = calloc(1, sizeof(*t))) == NULL) {
        return NULL;
    }
    snprintf(t->dbname, sizeof(t->dbname), "lca_t_%ld_%u_%ld", (long)getpid(),
             atomic_fetch_add(&counter, 1), (long)time(NULL) % 100000);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", t->dbname);
    if (lca_pgtest_exec(base, sql, NULL, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "pgtest: %s: %s\n", sql, msg);
        free(t);
        return NULL;
    }
    t->uri = derive(base, t->dbname, NULL, NULL);
    if (t->uri == NULL) {
        lca_pgtest_free(t);
        return NULL;
    }
    return t;
}

const char *lca_pgtest_uri(const struct lca_pgtest *t)
{
    return t->uri;
}

const char *lca_pgtest_role_uri(struct lca_pgtest *t, const char *member_of)
{
    char sql[256], msg[512], pw[32];
    size_t i = t->nroles;

    if (i == MAX_ROLES) {
        return NULL;
    }
    snprintf(t->role[i], sizeof(t->role[i]), "%s_r%zu", t->dbname, i);
    snprintf(pw, sizeof(pw), "pw%08x%08x", (unsigned)rand(), (unsigned)getpid());
    snprintf(sql, sizeof(sql), "CREATE ROLE %s LOGIN PASSWORD '%s'%s%s", t->role[i], pw,
             member_of != NULL ? " IN ROLE " : "", member_of != NULL ? member_of : "");
    if (lca_pgtest_exec(t->uri, sql, NULL, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "pgtest: CREATE ROLE %s: %s\n", t->role[i], msg);
        return NULL;
    }
    t->nroles++;
    t->role_uri[i] = derive(base_uri(), t->dbname, t->role[i], pw);
    return t->role_uri[i];
}

void lca_pgtest_free(struct lca_pgtest *t)
{
    const char *base = getenv("LCA_TEST_PG_URI");
    char sql[160], msg[512];
    size_t i;

    if (t == NULL) {
        return;
    }
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", t->dbname);
    if (base != NULL && lca_pgtest_exec(base, sql, NULL, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "pgtest: %s: %s\n", sql, msg);
    }
    for (i = 0; i < t->nroles; i++) {
        snprintf(sql, sizeof(sql), "DROP ROLE IF EXISTS %s", t->role[i]);
        if (base != NULL && lca_pgtest_exec(base, sql, NULL, msg, sizeof(msg)) != 0) {
            fprintf(stderr, "pgtest: %s: %s\n", sql, msg);
        }
        free(t->role_uri[i]);
    }
    free(t->uri);
    free(t);
}
