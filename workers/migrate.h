/*
 * migrate — applies the numbered SQL migrations of sql/ to a PostgreSQL database.
 *
 * The migrations are embedded into the binary at build time (workers/CMakeLists.txt turns
 * sql/NNN_name.sql into lca_migrate_builtin[]), so `ledgerca migrate` needs no files at run time.
 * Each missing migration runs in its own transaction together with the row that records it in
 * `schema_migrations(version, name, applied_at)`; a failing migration leaves nothing behind.
 * Concurrent migrators are serialized by a transaction-scoped advisory lock, so two processes
 * starting at once apply each migration exactly once. Applying twice is a no-op.
 *
 * The version of a migration is the number its file name starts with (001_events.sql -> 1).
 * Versions must be strictly increasing in the table; a recorded version whose file is no
 * longer embedded is left alone (a newer binary's database read by an older binary still works).
 */
#ifndef LCA_MIGRATE_H
#define LCA_MIGRATE_H

#include <stddef.h>

#include "err.h"

struct lca_migration {
    const char *name; /* file name, e.g. "001_events.sql"; NULL ends the table */
    const char *sql;  /* NUL-terminated SQL text, run with the simple query protocol */
};

/* The embedded migrations, sorted by file name, terminated by {NULL, NULL}. Generated. */
extern const struct lca_migration lca_migrate_builtin[];

/* Called once per migration applied by this run (not for those already present). */
typedef void lca_migrate_cb(void *ctx, int version, const char *name);

/*
 * Connects to `uri` (a libpq URI or key=value string) and applies every migration of `migs`
 * (a table like lca_migrate_builtin) whose version is not recorded yet, in order.
 * on_applied may be NULL. *applied_out (may be NULL) receives the number applied by this call,
 * only on success. Errors: BAD_INPUT for an unparsable migration name, RETRIABLE when the
 * server is unreachable or the transaction hit a serialization failure/deadlock, FATAL for SQL
 * errors in a migration (its name and the server's message are in err->msg).
 * Thread: any; uses its own connection.
 */
int lca_migrate_apply(const char *uri, const struct lca_migration *migs, lca_migrate_cb *on_applied,
                      void *ctx, size_t *applied_out, struct lca_err *err) LCA_MUST_USE;

/* Version number of a migration file name ("004_x.sql" -> 4), or -1 if it has none. */
int lca_migrate_version(const char *name);

#endif
