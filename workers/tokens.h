/*
 * tokens — access tokens mapped to personas (engine/authz.h), stored hashed in PostgreSQL.
 * Thread: the thread that owns the store.
 */
#ifndef LCA_TOKENS_H
#define LCA_TOKENS_H

#include <stddef.h>

#include "authz.h"
#include "err.h"
#include "pgstore.h"

#define LCA_TOKEN_LEN 64 /* hex characters */
#define LCA_TOKEN_MAX_ROLES 32

struct lca_token_info {
    enum lca_persona persona;
    char roles[LCA_TOKEN_MAX_ROLES][129];
    size_t n_roles;
};

/* Creates a token for persona (roles: NULL/0 = every role); writes it to token[] — the only
 * time it exists in clear. */
int lca_tokens_create(struct lca_pgstore *store, enum lca_persona persona,
                      const char *const *roles, size_t n_roles, const char *description,
                      char token[LCA_TOKEN_LEN + 1], struct lca_err *err) LCA_MUST_USE;

/* Resolves a token. An unknown token (or NULL) resolves to LCA_PERSONA_UNAUTHED with LCA_OK;
 * LCA_FAIL only when the database fails. */
int lca_tokens_lookup(struct lca_pgstore *store, const char *token, struct lca_token_info *out,
                      struct lca_err *err) LCA_MUST_USE;

#endif
