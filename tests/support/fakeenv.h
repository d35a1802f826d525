/*
 * fakeenv — a deterministic struct lca_env for tests (STYLE.md rule 10).
 *
 * now():    returns the time set with lca_fakeenv_set_time (default 2026-01-01T00:00:00Z).
 * random(): SHA-256(seed || counter) stream: the same seed gives the same bytes.
 * keygen(): Ed25519 keys are derived from the random stream (deterministic); EC and RSA keys
 *           come from OpenSSL's generator (not deterministic — determinism tests use Ed25519).
 * key_put/key_get: an in-memory key store; lca_fakeenv_fail_next() makes the next callback of
 *           a given name fail with LCA_ERR_RETRIABLE, for fault-injection tests.
 */
#ifndef LCA_FAKEENV_H
#define LCA_FAKEENV_H

#include <stdint.h>

#include "env.h"

struct lca_fakeenv;

struct lca_fakeenv *lca_fakeenv_new(uint64_t seed);
void lca_fakeenv_free(struct lca_fakeenv *fe);
/* The env view; valid while fe lives. */
struct lca_env *lca_fakeenv_env(struct lca_fakeenv *fe);
void lca_fakeenv_set_time(struct lca_fakeenv *fe, int64_t unix_seconds);
void lca_fakeenv_advance(struct lca_fakeenv *fe, int64_t seconds);
/* name: "now", "random", "keygen", "key_put" or "key_get". */
void lca_fakeenv_fail_next(struct lca_fakeenv *fe, const char *name);
/* Number of keys held by the store. */
size_t lca_fakeenv_key_count(const struct lca_fakeenv *fe);

#endif
