/*
 * env — the one door through which the pure core reaches the world (STYLE.md rule 10).
 *
 * engine/ never reads the clock, the RNG, files or sockets. decide() receives a struct lca_env:
 *   now      the current time (seconds since the Unix epoch, UTC);
 *   random   CSPRNG bytes (serial numbers, nonces);
 *   keygen   a fresh private key of the given spec (CA keys and server-generated leaf keys);
 *   key_put  hand a CA private key to the key store under its key id; the store wraps it
 *            (AES-256-GCM under the operator's KEK) — the core never sees wrapped bytes;
 *   key_get  fetch a CA private key by key id (borrowed: valid until the env is destroyed);
 *   cluster_id  not a callback: the id of the cluster whose log the decision is appended to
 *            (the signer's --cluster). A Consul service leaf names it as its SPIFFE datacenter
 *            (dc/<cluster_id>); NULL or "" falls back to the configuration's ClusterID. It is
 *            an input like the others, so decide stays a function of (state, command, env).
 *   signers  not a callback either: an optional cache of signing contexts (engine/cert.h).
 *   csr_take optional: CSRs parsed before deciding (below).
 * Workers pass an env backed by OpenSSL's RNG and the PostgreSQL key table; tests pass a
 * deterministic fake (tests/support/fakeenv.h), so decide() run twice gives identical bytes
 * for deterministic signature schemes (Ed25519, RSA PKCS#1 v1.5).
 *
 * Every callback returns LCA_OK or LCA_FAIL and fills err on failure.
 * Thread-safety: an env is used by one thread at a time unless its implementation says more.
 */
#ifndef LCA_ENV_H
#define LCA_ENV_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "err.h"

struct lca_cert_signer_cache; /* engine/cert.h */
struct lca_csr;               /* engine/csr.h */

/* Key algorithms ledgerca accepts (DESIGN.md invariant 6: safe minimums). */
enum lca_key_type {
    LCA_KEY_EC = 1, /* bits: 256 (P-256) or 384 (P-384) */
    LCA_KEY_RSA,    /* bits: 2048, 3072 or 4096 */
    LCA_KEY_ED25519 /* bits ignored (0) */
};

struct lca_keyspec {
    enum lca_key_type type; /* algorithm */
    int bits;               /* see enum lca_key_type */
};

struct lca_env {
    void *ctx; /* implementation state, passed back to every callback */
    int (*now)(void *ctx, int64_t *unix_seconds, struct lca_err *err);
    int (*random)(void *ctx, uint8_t *buf, size_t len, struct lca_err *err);
    /* *out is owned by the caller (EVP_PKEY_free). */
    int (*keygen)(void *ctx, const struct lca_keyspec *spec, EVP_PKEY **out,
                  struct lca_err *err);
    /* key: borrowed; the store takes its own reference or copy. */
    int (*key_put)(void *ctx, const char *key_id, EVP_PKEY *key, struct lca_err *err);
    /* *out is borrowed from the store. */
    int (*key_get)(void *ctx, const char *key_id, EVP_PKEY **out, struct lca_err *err);
    /* Borrowed; must outlive the env's use. NULL: the configuration's ClusterID. */
    const char *cluster_id;
    /* Optional (NULL: none): signers reused across decisions; owned by the implementation,
     * used by the env's thread only. A cache changes no output, only the cost of signing. */
    struct lca_cert_signer_cache *signers;
    /* Optional (NULL: none): a sign command's CSR parsed beforehand (and so verified) from
     * exactly this payload string (pointer identity), handed to the caller, or NULL, and decide
     * parses it itself. The parse depends on the bytes only, so decisions do not change;
     * workers/csrpool.h parses a batch's CSRs on two threads this way. */
    struct lca_csr *(*csr_take)(void *csr_ctx, const char *pem);
    void *csr_ctx;
};

#endif
