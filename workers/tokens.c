#include "tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

static void hash_token(const char *token, uint8_t out[32])
{
    SHA256((const unsigned char *)token, strlen(token), out);
}

/* A text[] literal for roles (names are checked to hold no quoting characters). */
static int roles_literal(const char *const *roles, size_t n, char *out, size_t cap,
                         struct lca_err *err)
{
    size_t i, o = 0;

    out[o++] = '{';
    for (i = 0; i < n; i++) {
        size_t len = strlen(roles[i]);
        if (len == 0 || len > 128 || strpbrk(roles[i], "{}\",\\ ") != NULL || o + len + 2 >= cap) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_role", "invalid role name '%.80s'",
                               roles[i]);
        }
        if (i > 0) {
            out[o++] = ',';
        }
        memcpy(out + o, roles[i], len);
        o += len;
    }
    out[o++] = '}';
    out[o] = '\0';
    return LCA_OK;
}

int lca_tokens_create(struct lca_pgstore *store, enum lca_persona persona,
                      const char *const *roles, size_t n_roles, const char *description,
                      char token[LCA_TOKEN_LEN + 1], struct lca_err *err)
{
    PGconn *conn;
    PGresult *res;
    uint8_t raw[32], h[32];
    char hex[LCA_TOKEN_LEN + 1], lit[LCA_TOKEN_MAX_ROLES * 131 + 4];
    const char *vals[4];
    int lens[4] = {32, 0, 0, 0}, fmts[4] = {1, 0, 0, 0};
    size_t i;
    int rc = LCA_OK;

    if (persona == LCA_PERSONA_UNAUTHED || n_roles > LCA_TOKEN_MAX_ROLES) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_token_request",
                           "a token needs a persona and at most %d roles", LCA_TOKEN_MAX_ROLES);
    }
    if (roles_literal(roles, n_roles, lit, sizeof(lit), err) != LCA_OK) {
        return LCA_FAIL;
    }
    if ((conn = (PGconn *)lca_pgstore_conn(store, err)) == NULL) {
        return LCA_FAIL;
    }
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        return lca_err_set(err, LCA_ERR_FATAL, "rng", "RAND_bytes failed");
    }
    for (i = 0; i < sizeof(raw); i++) {
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    }
    hash_token(hex, h);
    vals[0] = (const char *)h;
    vals[1] = lca_authz_persona_name(persona);
    vals[2] = lit;
    vals[3] = description != NULL ? description : "";
    res = PQexecParams(conn,
                       "INSERT INTO tokens (token_hash, persona, roles, description)"
                       " VALUES ($1, $2, $3::text[], $4)",
                       4, NULL, vals, lens, fmts, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = lca_pgstore_pg_err((struct pg_conn *)conn, (struct pg_result *)res, "token insert",
                                err);
    } else {
        memcpy(token, hex, sizeof(hex));
    }
    PQclear(res);
    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(hex, sizeof(hex));
    return rc;
}

static void parse_roles(const char *lit, struct lca_token_info *out)
{
    const char *p = lit + (lit[0] == '{' ? 1 : 0);

    while (*p != '\0' && *p != '}' && out->n_roles < LCA_TOKEN_MAX_ROLES) {
        size_t n = strcspn(p, ",}");
        if (n > 0 && n < sizeof(out->roles[0])) {
            memcpy(out->roles[out->n_roles], p, n);
            out->roles[out->n_roles++][n] = '\0';
        }
        p += n;
        if (*p == ',') {
            p++;
        }
    }
}

int lca_tokens_lookup(struct lca_pgstore *store, const char *token, struct lca_token_info *out,
                      struct lca_err *err)
{
    PGconn *conn;
    PGresult *res;
    uint8_t h[32];
    const char *vals[1] = {(const char *)h};
    int lens[1] = {32}, fmts[1] = {1};
    int rc = LCA_OK;

    memset(out, 0, sizeof(*out));
    out->persona = LCA_PERSONA_UNAUTHED;
    if (token == NULL || token[0] == '\0') {
        return LCA_OK;
    }
    if ((conn = (PGconn *)lca_pgstore_conn(store, err)) == NULL) {
        return LCA_FAIL;
    }
    hash_token(token, h);
    res = PQexecParams(conn, "SELECT persona, roles FROM tokens WHERE token_hash = $1", 1, NULL,
                       vals, lens, fmts, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = lca_pgstore_pg_err((struct pg_conn *)conn, (struct pg_result *)res, "token lookup",
                                err);
    } else if (PQntuples(res) == 1) {
        struct lca_err ignored;
        if (lca_authz_persona_parse(PQgetvalue(res, 0, 0), &out->persona, &ignored) != LCA_OK) {
            out->persona = LCA_PERSONA_UNAUTHED;
        }
        parse_roles(PQgetvalue(res, 0, 1), out);
    }
    PQclear(res);
    return rc;
}
