/*
 * pgtest — throwaway PostgreSQL databases for integration tests.
 *
 * The test runner starts a PostgreSQL server and exports LCA_TEST_PG_URI, a superuser
 * connection string (URI or key=value) to it. Each test gets a fresh, uniquely named database
 * (lca_pgtest_new) and login roles it asks for (lca_pgtest_role_uri); lca_pgtest_free drops them.
 * Without LCA_TEST_PG_URI the tests FAIL with a message saying how to run them: integration
 * tests are never skipped silently.
 *
 * All connection strings returned are libpq key=value strings, owned by the struct lca_pgtest.
 * Thread: functions may be called from any thread, but one struct lca_pgtest from one at a time.
 */
#ifndef LCA_PGTEST_H
#define LCA_PGTEST_H

#include <stddef.h>
#include <stdint.h>

struct lca_pgtest;

/* 1 if LCA_TEST_PG_URI is set and the server answers; otherwise prints why to stderr, 0. */
int lca_pgtest_available(void);

/* Creates a fresh database. NULL on failure (reason printed to stderr). */
struct lca_pgtest *lca_pgtest_new(void);

/* Drops the database (terminating its connections) and the roles created. NULL is a no-op. */
void lca_pgtest_free(struct lca_pgtest *t);

/* Superuser connection string to the fresh database. */
const char *lca_pgtest_uri(const struct lca_pgtest *t);

/*
 * Creates a LOGIN role with a random password, member of `member_of` (NULL: of nothing), and
 * returns a connection string to the fresh database as that role, or NULL (reason printed).
 */
const char *lca_pgtest_role_uri(struct lca_pgtest *t, const char *member_of);

/*
 * Runs `sql` (simple query protocol) on a new connection to `uri`. Returns 0 on success, -1 on
 * failure with sqlstate (6 bytes, may be NULL) set to the server's SQLSTATE ("" for connection
 * failures) and msg (may be NULL) to its message.
 */
int lca_pgtest_exec(const char *uri, const char *sql, char sqlstate[6], char *msg, size_t msglen);

/* Runs a query returning one integer (first column of the first row). 0 on success, -1 else. */
int lca_pgtest_int(const char *uri, const char *sql, int64_t *out);

#endif
