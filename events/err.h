/*
 * err — the caller-owned error record every fallible ledgerca function fills.
 *
 * Fallible functions return LCA_OK (0) or LCA_FAIL (-1) and are must-use. On failure they
 * describe what went wrong in a struct lca_err the caller owns; the class tells a worker what
 * to do with the command in hand (STYLE.md rule 6):
 *   LCA_ERR_BAD_INPUT  the input is wrong: reject the command or dead-letter the message;
 *   LCA_ERR_RETRIABLE  a transient failure (network, database): do not commit, try again;
 *   LCA_ERR_FATAL      a broken invariant or resource exhaustion: stop the process.
 * Messages never contain secrets (key bytes, tokens); they name fields and limits instead.
 */
#ifndef LCA_ERR_H
#define LCA_ERR_H

#include <stddef.h>

#define LCA_MUST_USE __attribute__((warn_unused_result))
#define LCA_PRINTF(a, b) __attribute__((format(printf, a, b)))

enum { LCA_OK = 0, LCA_FAIL = -1 };

enum lca_err_class {
    LCA_ERR_NONE = 0,
    LCA_ERR_BAD_INPUT,
    LCA_ERR_RETRIABLE,
    LCA_ERR_FATAL,
};

struct lca_err {
    enum lca_err_class cls; /* what the caller should do, see above */
    char code[48];          /* short machine-readable code, e.g. "bad_csr", "too_deep" */
    char msg[512];          /* human-readable detail, never secret material */
};

/* Resets err to "no error". err may be NULL. */
void lca_err_clear(struct lca_err *err);

/* Records an error (first failure wins is NOT applied: the latest call overwrites) and
 * returns LCA_FAIL so a caller can write `return lca_err_set(err, ...)`. err may be NULL. */
int lca_err_set(struct lca_err *err, enum lca_err_class cls, const char *code,
                const char *fmt, ...) LCA_PRINTF(4, 5);

/* Like lca_err_set, and appends OpenSSL's error queue (which it then clears) to the
 * message. Declared here so every layer reports crypto failures the same way; defined
 * in engine/ (the only layer that links OpenSSL for crypto). */
int lca_err_ossl(struct lca_err *err, enum lca_err_class cls, const char *code,
                 const char *what);

/* Name of a class, e.g. "bad_input". */
const char *lca_err_class_name(enum lca_err_class cls);

#endif
