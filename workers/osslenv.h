/*
 * osslenv — the production struct lca_env (engine/env.h) backed by the system clock and
 * OpenSSL's CSPRNG, with an in-memory CA key store.
 *
 *   now      clock_gettime(CLOCK_REALTIME), whole seconds;
 *   random   RAND_priv_bytes (the private DRBG: bytes may become nonces, serials or key seeds);
 *   keygen   lca_key_generate;
 *   key_put  keeps a reference to the key under its id (a second put of the same id is a no-op
 *            if it is the same public key, BAD_INPUT "key_conflict" otherwise), then calls the
 *            persist hook if one is set; if persisting fails the key is removed again and the
 *            hook's error is returned;
 *   key_get  borrows a key by id (valid until lca_osslenv_free); FATAL "key_missing" if absent.
 *
 * The PostgreSQL key table (wrapped under the operator's KEK, see lca_key_wrap) attaches
 * through lca_osslenv_set_persist. Thread-safety: one thread at a time per osslenv.
 */
#ifndef LCA_OSSLENV_H
#define LCA_OSSLENV_H

#include <stdint.h>

#include <openssl/evp.h>

#include "env.h"
#include "err.h"

struct lca_osslenv;

/* A new env with an empty key store, or NULL when out of memory. */
struct lca_osslenv *lca_osslenv_new(void);

/* Frees the env and every stored key. NULL-safe. */
void lca_osslenv_free(struct lca_osslenv *oe);

/* The env view; valid while oe lives. */
struct lca_env *lca_osslenv_env(struct lca_osslenv *oe);

/* Installs (or, with persist NULL, removes) the persist hook; ctx is passed back to it.
 * key_put calls persist(ctx, key_id, key, err) after storing the key in memory: key_id is the
 * caller's id, key is borrowed. It returns LCA_OK, or LCA_FAIL with err filled (RETRIABLE for a
 * database outage). */
void lca_osslenv_set_persist(struct lca_osslenv *oe,
                             int (*persist)(void *ctx, const char *key_id, EVP_PKEY *key,
                                            struct lca_err *err),
                             void *ctx);

/*
 * Reads the operator's key-encryption key (the file named by LEDGERCA_KEK_FILE) into kek.
 * The file holds exactly 32 raw bytes, or 64 hex digits optionally followed by one newline
 * ("\n" or "\r\n"). Refused with BAD_INPUT: a file readable or writable by group or others
 * (mode & 077, code "kek_mode"), not a regular file, or any other length or content
 * ("bad_kek"). Unreadable file: BAD_INPUT "kek_read". Buffers are wiped; the message never
 * contains key bytes. kek is written only on success.
 */
int lca_osslenv_load_kek(const char *path, uint8_t kek[32], struct lca_err *err) LCA_MUST_USE;

/* Sets the loader key_get calls for a key id it does not hold (e.g. unwrap from the
 * PostgreSQL key table); *key is owned by the caller of load (the store takes a reference).
 * The loader's error is returned as is (RETRIABLE when the database is unreachable). */
void lca_osslenv_set_loader(struct lca_osslenv *oe,
                            int (*load)(void *ctx, const char *key_id, EVP_PKEY **key,
                                        struct lca_err *err),
                            void *ctx);

#endif
