/*
 * bench_db — what a benchmark needs around the system it measures: a throwaway cluster
 * database (CREATE DATABASE with a unique name, the embedded migrations, an Operator token),
 * a 0600 key-encryption-key file in a private temporary directory, and consumer-group start
 * offsets stored at the current end of the command topics, so that commands other runs left
 * on a shared broker are never decided. Everything is removed by lca_bench_db_drop.
 */
#ifndef LCA_BENCH_DB_H
#define LCA_BENCH_DB_H

#include "err.h"

struct lca_bench_db {
    char name[64];      /* database name: lca_bench_<tag> */
    char *uri;          /* conninfo of that database (owned) */
    char token[65];     /* an Operator token valid in it */
    char dir[64];       /* private temporary directory */
    char kek_path[96];  /* dir/kek, 0600 */
    char *server_uri;   /* the superuser URI it was created with (owned copy) */
    int created;
};

/* Creates database lca_bench_<tag> on server_uri (a superuser URI or conninfo), migrates it,
 * creates an Operator token and a KEK file. tag: [a-z0-9_], at most 40 characters.
 * Errors: BAD_INPUT for a bad URI or tag, RETRIABLE for PostgreSQL errors, FATAL otherwise;
 * what was created is removed by lca_bench_db_drop even after an error. */
int lca_bench_db_create(struct lca_bench_db *db, const char *server_uri, const char *tag,
                        struct lca_err *err) LCA_MUST_USE;

/* Stores, for consumer group `group`, the current high watermark of every partition of the
 * three command topics as the group's next offset in the database. */
int lca_bench_db_seed_offsets(struct lca_bench_db *db, const char *bootstrap, const char *group,
                              struct lca_err *err) LCA_MUST_USE;

/* Drops the database (WITH FORCE), removes the KEK file and the directory. Safe to repeat. */
void lca_bench_db_drop(struct lca_bench_db *db);

#endif
