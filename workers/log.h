/*
 * log — structured logs for the worker processes: one logfmt line per record on stderr,
 *   ts=2026-11-22T21:40:00.123Z level=info comp=signer msg="batch committed" n=100
 * Values are quoted when needed. Never log secrets: keys, tokens and KEKs stay out of every
 * call site (workers pass ids and counts only). Thread-safe (one write(2) per line).
 */
#ifndef LCA_LOG_H
#define LCA_LOG_H

#include "err.h"

enum lca_log_level { LCA_LOG_DEBUG, LCA_LOG_INFO, LCA_LOG_WARN, LCA_LOG_ERROR };

/* Minimum level printed (default INFO; LEDGERCA_LOG_LEVEL=debug|info|warn|error). */
void lca_log_init(const char *component);

/* fields: "key=value key2=value2" already formatted by the caller (printf-style). */
void lca_log(enum lca_log_level lvl, const char *msg, const char *fields_fmt, ...)
    LCA_PRINTF(3, 4);

/* Writes s as a logfmt value into out: double-quoted, \" and \\ escaped, line breaks as
 * spaces, cut to fit cap (at least 3). */
void lca_log_quote(char *out, size_t cap, const char *s);

/* Logs an lca_err at the level its class implies (bad input: warn, others: error). */
void lca_log_err(const char *msg, const struct lca_err *err);

#endif
