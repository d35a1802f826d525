/*
 * csrpool — the CSRs of a polled batch parsed on two threads before the batch is decided.
 *
 * Parsing a CSR is mostly the verification of its self-signature (proof of possession), about
 * half of what the signer's deciding thread spends on a `sign` command; it depends on the
 * request's bytes only, so it can run before deciding and beside it. lca_csrpool_run parses the
 * `csr` of every sign / sign-verbatim command of a batch, half on the calling thread and half on
 * the pool's worker thread, and keeps each result under the address of the payload string it
 * came from. decide then takes it through the env's csr_take hook (engine/env.h) instead of
 * parsing the same bytes again; a CSR that did not parse is not kept, so decide parses it itself
 * and rejects it with its own error. Decisions are the same with or without the pool.
 *
 * The CSRs are parsed before the commands' tokens are checked, so a command that decide will
 * refuse still costs its CSR's verification; the parser takes untrusted input either way
 * (size-bounded, fuzzed: tests/fuzz).
 *
 * The commands' payloads must stay alive and unchanged from lca_csrpool_run until the next
 * lca_csrpool_clear. Thread: one caller thread (the signer's deciding thread); the worker is
 * internal.
 */
#ifndef LCA_CSRPOOL_H
#define LCA_CSRPOOL_H

#include <stddef.h>

#include "command.h"
#include "csr.h"

struct lca_csrpool;

/* A pool for batches of at most max commands, its worker thread started; NULL when memory or
 * the thread cannot be had (the signer then decides without it). */
struct lca_csrpool *lca_csrpool_new(size_t max);
/* Stops and joins the worker; frees every CSR not taken. NULL-safe. */
void lca_csrpool_free(struct lca_csrpool *p);
/* Parses the CSRs of cmds[0..n) (n <= max) as above; CSRs kept from an earlier batch are
 * freed first. NULL-safe (nothing is parsed). */
void lca_csrpool_run(struct lca_csrpool *p, struct lca_command *const *cmds, size_t n);
/* The CSR parsed from exactly this payload string (pointer identity), handed to the caller
 * (lca_csr_free), or NULL: not parsed here, not parsable, or taken already. */
struct lca_csr *lca_csrpool_take(void *pool, const char *pem);
/* Frees the CSRs not taken. */
void lca_csrpool_clear(struct lca_csrpool *p);

#endif
