/*
 * pgexec — running one parameterised statement on a store's connection, and the binary array
 * parameters that let a batch of rows be one INSERT ... SELECT FROM unnest($1::text[], ...).
 *
 * lca_pgexec_query / lca_pgexec_run are the one PQexecParams + status check + error
 * classification (lca_pgstore_pg_err) the aggregator's modules share (workers/aggregator.c,
 * aggfwd.c, aggrows.c). Results are in text format.
 *
 * struct lca_pgexec_arr builds a one-dimensional array in PostgreSQL's binary wire format
 * (array_recv: ndim, has-nulls flag, element type OID, dimension length and lower bound, then
 * per element a 4-byte big-endian length, -1 for NULL, and the element's binary bytes), to be
 * sent with paramFormats 1 and a cast to the array type in the SQL text.
 * Thread: the connection's (the store's) thread; an array belongs to its caller.
 */
#ifndef LCA_PGEXEC_H
#define LCA_PGEXEC_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "pgstore.h"

/* Element type OIDs (PostgreSQL's pg_type.dat). */
#define LCA_PGEXEC_OID_BYTEA 17u
#define LCA_PGEXEC_OID_INT8 20u
#define LCA_PGEXEC_OID_INT4 23u
#define LCA_PGEXEC_OID_TEXT 25u
#define LCA_PGEXEC_OID_UUID 2950u

/*
 * Runs sql with n text/binary parameters (v, lens, fmts as PQexecParams; lens and fmts may be
 * NULL for all-text). Returns the result (caller PQclear's it) when its status is COMMAND_OK or
 * TUPLES_OK; else NULL with err set by lca_pgstore_pg_err (`what` names the statement):
 * RETRIABLE for connection loss and serialization failures, BAD_INPUT/FATAL otherwise.
 */
struct pg_result *lca_pgexec_query(struct lca_pgstore *store, const char *what, const char *sql,
                                   int n, const char *const *v, const int *lens, const int *fmts,
                                   struct lca_err *err);

/* As lca_pgexec_query with the result in result_format (0 text, 1 binary). */
struct pg_result *lca_pgexec_query_fmt(struct lca_pgstore *store, const char *what,
                                       const char *sql, int n, const char *const *v,
                                       const int *lens, const int *fmts, int result_format,
                                       struct lca_err *err);

/* As lca_pgexec_query, discarding the result; *rows (may be NULL) gets the number of rows the
 * statement touched (PQcmdTuples). */
int lca_pgexec_run(struct lca_pgstore *store, const char *what, const char *sql, int n,
                   const char *const *v, const int *lens, const int *fmts, long *rows,
                   struct lca_err *err) LCA_MUST_USE;

/* One statement of a pipeline (parameters as lca_pgexec_query; all borrowed). */
struct lca_pgexec_stmt {
    const char *what;         /* names it in errors */
    const char *sql;
    int n;                    /* parameters */
    const char *const *v;
    const int *lens;          /* may be NULL (all text) */
    const int *fmts;          /* may be NULL (all text) */
};

/*
 * Sends the n statements in one libpq pipeline (one round trip: the server runs them in order)
 * and reads their results, discarding them. Returns LCA_OK when every one succeeded; else
 * LCA_FAIL with err naming the first that failed (the server skips the rest of the pipeline).
 * Transaction control is the caller's: put BEGIN and COMMIT in the list to make it atomic;
 * after a failure inside such a block the session is in an aborted transaction and needs a
 * ROLLBACK. Errors are classified as lca_pgexec_query's.
 */
int lca_pgexec_pipeline(struct lca_pgstore *store, const struct lca_pgexec_stmt *s, size_t n,
                        struct lca_err *err) LCA_MUST_USE;

/* A binary array parameter. Fill with _init, _add*, then read data/len after _finish. */
struct lca_pgexec_arr {
    uint8_t *data;  /* the wire bytes (owned); valid after lca_pgexec_arr_finish */
    size_t len;     /* bytes of data */
    size_t cap;     /* allocated bytes */
    uint32_t n;     /* elements added */
    uint32_t oid;   /* element type */
    int nulls;      /* 1 when an element is NULL */
    int failed;     /* 1 after an allocation failed: _finish reports it */
};

/* Starts an empty array of `oid` elements (no allocation yet). */
void lca_pgexec_arr_init(struct lca_pgexec_arr *a, uint32_t oid);

/* Empties the array, keeping its memory, for the next batch. */
void lca_pgexec_arr_reset(struct lca_pgexec_arr *a);

/* Appends one element of len bytes (data NULL: SQL NULL). An allocation failure sets failed. */
void lca_pgexec_arr_add(struct lca_pgexec_arr *a, const void *data, size_t len);
void lca_pgexec_arr_add_str(struct lca_pgexec_arr *a, const char *s);   /* text */
void lca_pgexec_arr_add_int8(struct lca_pgexec_arr *a, int64_t v);     /* bigint */
void lca_pgexec_arr_add_int4(struct lca_pgexec_arr *a, int32_t v);     /* int */

/* Completes the header (element count, has-nulls flag; an empty array as ndim 0). Errors:
 * FATAL "oom" when an add failed. Adding after _finish needs a _reset first. */
int lca_pgexec_arr_finish(struct lca_pgexec_arr *a, struct lca_err *err) LCA_MUST_USE;

/* Frees the bytes; NULL-safe; the array may be _init'ed again. */
void lca_pgexec_arr_cleanup(struct lca_pgexec_arr *a);

#endif
