/*
 * devpg — a throwaway PostgreSQL server for `ledgerca dev`, from Debian's server binaries
 * (/usr/lib/postgresql/<version>/bin): initdb into a fresh directory, listen on 127.0.0.1 at
 * a free port with the socket in that directory, trust authentication (loopback only, data
 * thrown away at exit). As root, the server runs as the `postgres` system user (initdb
 * refuses root). Thread: the main thread; it forks and waits for the tools.
 */
#ifndef LCA_DEVPG_H
#define LCA_DEVPG_H

#include <stddef.h>

#include "err.h"

struct lca_devpg;

/* Starts a server with its data under `dir` (created, must not exist). uri receives
 * "postgresql://<user>@127.0.0.1:<port>/postgres". */
int lca_devpg_start(const char *dir, char *uri, size_t urilen, struct lca_devpg **out,
                    struct lca_err *err) LCA_MUST_USE;

/* Stops the server (fast shutdown) and removes its directory. NULL-safe. */
void lca_devpg_stop(struct lca_devpg *pg);

/* A free TCP port on 127.0.0.1 (bind to port 0, read it back, close), or 0. */
int lca_devpg_free_port(void);

#endif
