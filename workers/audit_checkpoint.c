/*
 * audit_checkpoint — signed checkpoints (audit.h, part 2): the log key, signing, and loading and
 * matching them during a verify (audit_int.h).
 */
#include "audit_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "codec.h"
#include "json.h"
#include "key.h"

/* ---- (d) checkpoints: loading and checking a signed body ---------------------------------- */

void lca_audit_checkpoint_list_free(struct lca_audit_cplist *l)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        free(l->v[i].body);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int body_encode(const struct lca_audit_checkpoint *cp, uint8_t **out, size_t *len,
                       struct lca_err *err)
{
    struct lca_val *m = lca_val_new_map();
    int rc;

    lca_val_map_set_str(m, "cluster", cp->cluster);
    lca_val_map_set_bin(m, "hash", cp->hash, LCA_AUDIT_HLEN);
    lca_val_map_set_int(m, "position", cp->position);
    lca_val_map_set_int(m, "time", cp->time);
    lca_val_map_set_int(m, "v", 1);
    rc = lca_codec_encode(m, out, len, err); /* canonical: keys sorted */
    lca_val_free(m);
    return rc;
}

/* 1: sig is a valid Ed25519 signature of body under pub. */
static int ed25519_ok(const uint8_t pub[32], const uint8_t *body, size_t len, const uint8_t sig[64])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = k != NULL && md != NULL && EVP_DigestVerifyInit(md, NULL, NULL, NULL, k) == 1 &&
             EVP_DigestVerify(md, sig, 64, body, len) == 1;

    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    ERR_clear_error();
    return ok;
}

#define SQL_CP                                                                                     \
    "SELECT id, cluster, position, hash, time_s, body, public_key, signature FROM checkpoints"

static int cp_row_parse(const PGresult *res, int r, struct lca_audit_cprow *row,
                        struct lca_err *err)
{
    size_t blen = (size_t)PQgetlength(res, r, 5);

    memset(row, 0, sizeof(*row));
    if (PQgetlength(res, r, 3) != LCA_AUDIT_HLEN || PQgetlength(res, r, 6) != 32 ||
        PQgetlength(res, r, 7) != 64 || (size_t)PQgetlength(res, r, 1) >= sizeof(row->cp.cluster)) {
        return lca_err_set(err, LCA_ERR_FATAL, "bad_row", "audit: malformed checkpoint row");
    }
    row->cp.id = (int64_t)lca_audit_log_be64((const uint8_t *)PQgetvalue(res, r, 0));
    memcpy(row->cp.cluster, PQgetvalue(res, r, 1), (size_t)PQgetlength(res, r, 1));
    row->cp.position = (int64_t)lca_audit_log_be64((const uint8_t *)PQgetvalue(res, r, 2));
    memcpy(row->cp.hash, PQgetvalue(res, r, 3), LCA_AUDIT_HLEN);
    row->cp.time = (int64_t)lca_audit_log_be64((const uint8_t *)PQgetvalue(res, r, 4));
    memcpy(row->cp.pub, PQgetvalue(res, r, 6), 32);
    memcpy(row->cp.sig, PQgetvalue(res, r, 7), 64);
    if ((row->body = malloc(blen + 1)) == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "audit: out of memory");
    }
    memcpy(row->body, PQgetvalue(res, r, 5), blen);
    row->body_len = blen;
    return LCA_OK;
}

/* Runs a checkpoint query (binary results). BAD_INPUT "no_checkpoints_table" without sql/007. */
static int cp_query(struct lca_pgstore *store, const char *sql, int nparams,
                    const char *const *vals, const int *lens, PGresult **out, struct lca_err *err)
{
    PGconn *conn = lca_pgstore_conn(store, err);
    int fmts[2] = {1, 1};
    PGresult *res;
    const char *state;

    if (conn == NULL) {
        return LCA_FAIL;
    }
    res = PQexecParams(conn, sql, nparams, NULL, vals, lens, fmts, 1);
    if (PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK) {
        *out = res;
        return LCA_OK;
    }
    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (state != NULL && strcmp(state, "42P01") == 0) {
        PQclear(res);
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "no_checkpoints_table",
                           "audit: no checkpoints table: run `ledgerca migrate`");
    }
    lca_pgstore_pg_err(conn, res, "audit: checkpoints", err);
    PQclear(res);
    return LCA_FAIL;
}

/* Signature, body and key of one stored checkpoint; a finding names its position. */
static int cp_check(const struct lca_audit_cprow *row, const uint8_t *pin,
                    struct lca_audit_report *rep, struct lca_err *err)
{
    uint8_t *body = NULL;
    size_t len = 0;
    int same;

    if (body_encode(&row->cp, &body, &len, err) != LCA_OK) {
        return LCA_FAIL;
    }
    same = len == row->body_len && memcmp(body, row->body, len) == 0;
    free(body);
    if (pin != NULL && CRYPTO_memcmp(pin, row->cp.pub, 32) != 0) {
        return lca_audit_log_finding(rep, row->cp.position, err,
                                     "checkpoint #%lld is signed with another key than the log key",
                                     (long long)row->cp.id);
    }
    if (!same || !ed25519_ok(row->cp.pub, row->body, row->body_len, row->cp.sig)) {
        return lca_audit_log_finding(
            rep, row->cp.position, err,
            "checkpoint #%lld (position %lld): bad signature or its columns differ "
            "from the signed body",
            (long long)row->cp.id, (long long)row->cp.position);
    }
    return LCA_OK;
}

static int cp_pos_cmp(const void *a, const void *b)
{
    const struct lca_audit_cprow *x = a, *y = b;

    if (x->cp.position != y->cp.position) {
        return x->cp.position < y->cp.position ? -1 : 1;
    }
    return x->cp.id < y->cp.id ? -1 : x->cp.id > y->cp.id;
}

int lca_audit_checkpoint_list_load(struct lca_pgstore *store, const uint8_t *pin,
                                   struct lca_audit_cplist *l, struct lca_audit_report *rep,
                                   struct lca_err *err)
{
    PGresult *res = NULL;
    int r, n, rc = LCA_FAIL;

    if (cp_query(store, SQL_CP " ORDER BY id", 0, NULL, NULL, &res, err) != LCA_OK) {
        return LCA_FAIL;
    }
    n = PQntuples(res);
    if (n > 0 && (l->v = calloc((size_t)n, sizeof(*l->v))) == NULL) {
        lca_err_set(err, LCA_ERR_FATAL, "oom", "audit: out of memory");
        goto out;
    }
    for (r = 0; r < n; r++) {
        if (cp_row_parse(res, r, &l->v[r], err) != LCA_OK) {
            goto out;
        }
        l->n++;
        if (cp_check(&l->v[r], pin != NULL ? pin : l->v[0].cp.pub, rep, err) != LCA_OK) {
            goto out;
        }
    }
    if (l->n > 0) {
        qsort(l->v, l->n, sizeof(*l->v), cp_pos_cmp);
    }
    while (l->next < l->n && l->v[l->next].cp.position == 0) {
        rep->checkpoints++; /* an empty log: nothing to match */
        l->next++;
    }
    rc = LCA_OK;
out:
    PQclear(res);
    return rc;
}

/* The log at a checkpointed position must still have the checkpointed hash. */
int lca_audit_checkpoint_list_match(struct lca_audit_cplist *l, struct lca_audit_report *rep,
                                    const struct lca_pgevent *pe, struct lca_err *err)
{
    while (l->next < l->n && l->v[l->next].cp.position == pe->position) {
        const struct lca_audit_checkpoint *cp = &l->v[l->next].cp;
        if (CRYPTO_memcmp(cp->hash, pe->hash, LCA_AUDIT_HLEN) != 0) {
            return lca_audit_log_finding(
                rep, pe->position, err,
                "checkpoint #%lld signed another hash for position %lld than the log "
                "now holds (history rewritten after it was published)",
                (long long)cp->id, (long long)pe->position);
        }
        rep->checkpoints++;
        l->next++;
    }
    return LCA_OK;
}

int lca_audit_checkpoint_list_beyond(const struct lca_audit_cplist *l, struct lca_audit_report *rep,
                                     int64_t last, struct lca_err *err)
{
    const struct lca_audit_checkpoint *cp;
    char h[2 * LCA_AUDIT_HLEN + 1];

    if (l->next >= l->n) {
        return LCA_OK;
    }
    cp = &l->v[l->next].cp;
    lca_audit_log_hex(cp->hash, LCA_AUDIT_HLEN, h);
    return lca_audit_log_finding(
        rep, cp->position, err,
        "log cut: checkpoint #%lld (cluster %s, time %lld) vouches for position %lld "
        "with hash %.16s..., but the log ends at position %lld",
        (long long)cp->id, cp->cluster, (long long)cp->time, (long long)cp->position, h,
        (long long)last);
}

/* ---- checkpoints: the log key -------------------------------------------------------------- */

struct lca_audit_logkey {
    EVP_PKEY *pkey;
    uint8_t pub[32];
};

void lca_audit_logkey_free(struct lca_audit_logkey *k)
{
    if (k != NULL) {
        EVP_PKEY_free(k->pkey); /* OpenSSL wipes the private key material */
        OPENSSL_cleanse(k, sizeof(*k));
        free(k);
    }
}

void lca_audit_logkey_public(const struct lca_audit_logkey *k, uint8_t pub[32])
{
    memcpy(pub, k->pub, 32);
}

/* Generates the key and stores it wrapped; key_exists (another creator won) is not an error. */
static int logkey_create(struct lca_pgstore *store, const uint8_t kek[32], struct lca_err *err)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    uint8_t nonce[12], *blob = NULL;
    size_t len = 0;
    int rc = LCA_FAIL;

    if (k == NULL || RAND_bytes(nonce, sizeof(nonce)) != 1) {
        lca_err_ossl(err, LCA_ERR_FATAL, "keygen", "audit: log key generation");
        goto out;
    }
    if (lca_key_wrap(kek, nonce, k, LCA_AUDIT_LOG_KEY_ID, &blob, &len, err) != LCA_OK) {
        goto out;
    }
    rc = lca_pgstore_key_put(store, LCA_AUDIT_LOG_KEY_ID, blob, len, err);
    if (rc != LCA_OK && strcmp(err->code, "key_exists") == 0) {
        lca_err_clear(err);
        rc = LCA_OK;
    }
out:
    OPENSSL_free(blob);
    EVP_PKEY_free(k);
    return rc;
}

static int logkey_unwrap(struct lca_pgstore *store, const uint8_t kek[32], EVP_PKEY **out,
                         struct lca_err *err)
{
    uint8_t *blob = NULL;
    size_t len = 0;
    int rc;

    if (lca_pgstore_key_get(store, LCA_AUDIT_LOG_KEY_ID, &blob, &len, err) != LCA_OK) {
        return LCA_FAIL;
    }
    rc = lca_key_unwrap(kek, blob, len, LCA_AUDIT_LOG_KEY_ID, out, err);
    free(blob);
    if (rc != LCA_OK) {
        err->cls = LCA_ERR_FATAL; /* wrong KEK or a damaged key row: an operator must look */
    }
    return rc;
}

int lca_audit_logkey_load(struct lca_pgstore *store, const uint8_t kek[32],
                          struct lca_audit_logkey **out, struct lca_err *err)
{
    struct lca_audit_logkey *k = calloc(1, sizeof(*k));
    size_t n = 32;
    int rc;

    if (k == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "audit: out of memory");
    }
    rc = logkey_unwrap(store, kek, &k->pkey, err);
    if (rc != LCA_OK && strcmp(err->code, "not_found") == 0) {
        lca_err_clear(err);
        rc = logkey_create(store, kek, err) == LCA_OK ? logkey_unwrap(store, kek, &k->pkey, err)
                                                      : LCA_FAIL;
    }
    if (rc == LCA_OK && (EVP_PKEY_get_id(k->pkey) != EVP_PKEY_ED25519 ||
                         EVP_PKEY_get_raw_public_key(k->pkey, k->pub, &n) != 1 || n != 32)) {
        rc = lca_err_set(err, LCA_ERR_FATAL, "bad_log_key",
                         "audit: the stored log key is not "
                         "Ed25519");
    }
    if (rc != LCA_OK) {
        lca_audit_logkey_free(k);
        return LCA_FAIL;
    }
    *out = k;
    return LCA_OK;
}

/* ---- checkpoints: signing ------------------------------------------------------------------ */

/* The last checkpoint of cluster (*found = 0 when none), its signature checked under k. */
static int cp_last(struct lca_pgstore *store, const struct lca_audit_logkey *k, const char *cluster,
                   struct lca_audit_cprow *row, int *found, struct lca_err *err)
{
    const char *vals[1] = {cluster};
    const int lens[1] = {(int)strlen(cluster)};
    struct lca_audit_report rep;
    PGresult *res = NULL;
    int rc = LCA_FAIL;

    memset(&rep, 0, sizeof(rep));
    if (cp_query(store, SQL_CP " WHERE cluster = $1 ORDER BY id DESC LIMIT 1", 1, vals, lens, &res,
                 err) != LCA_OK) {
        return LCA_FAIL;
    }
    *found = PQntuples(res) == 1;
    if (*found &&
        (cp_row_parse(res, 0, row, err) != LCA_OK || cp_check(row, k->pub, &rep, err) != LCA_OK)) {
        err->cls = LCA_ERR_BAD_INPUT;
        snprintf(err->code, sizeof(err->code), "chain_broken");
        goto out;
    }
    rc = LCA_OK;
out:
    PQclear(res);
    return rc;
}

static int chain_only_cb(void *ctx, const struct lca_pgevent *pe, struct lca_err *err)
{
    void **c = ctx;

    return lca_audit_log_chain_step(c[0], c[1], pe, err);
}

/* Verifies (from, to] continues from hash `prev` and ends at `head_hash`. */
static int chain_span(struct lca_pgstore *store, int64_t from, const uint8_t prev[LCA_AUDIT_HLEN],
                      int64_t to, const uint8_t head_hash[LCA_AUDIT_HLEN], struct lca_err *err)
{
    struct lca_audit_report rep;
    struct lca_audit_chain c;
    void *ctx[2] = {&c, &rep};
    int rc;

    memset(&rep, 0, sizeof(rep));
    rc = lca_audit_log_chain_init(&c, from, prev, err) == LCA_OK
             ? lca_audit_log_read(store, from, to, chain_only_cb, ctx, err)
             : LCA_FAIL;
    if (rc == LCA_OK && (c.last != to || CRYPTO_memcmp(c.prev, head_hash, LCA_AUDIT_HLEN) != 0)) {
        rc = lca_audit_log_finding(&rep, c.last + 1, err,
                                   "the log ends at %lld, not at log_head %lld", (long long)c.last,
                                   (long long)to);
    }
    if (rc != LCA_OK && strcmp(err->code, LCA_AUDIT_FINDING) == 0) {
        lca_err_set(err, LCA_ERR_BAD_INPUT, "chain_broken",
                    "audit: refusing to sign: position %lld: %s", (long long)rep.bad_position,
                    rep.problem);
    }
    lca_audit_log_chain_cleanup(&c);
    return rc;
}

static int cp_sign_insert(struct lca_pgstore *store, const struct lca_audit_logkey *k,
                          struct lca_audit_checkpoint *cp, struct lca_err *err)
{
    uint8_t *body = NULL, p[8], t[8];
    size_t len = 0, siglen = 64;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    PGresult *res = NULL;
    int rc = LCA_FAIL;

    if (md == NULL || body_encode(cp, &body, &len, err) != LCA_OK) {
        goto out;
    }
    if (EVP_DigestSignInit(md, NULL, NULL, NULL, k->pkey) != 1 ||
        EVP_DigestSign(md, cp->sig, &siglen, body, len) != 1 || siglen != 64) {
        lca_err_ossl(err, LCA_ERR_FATAL, "sign", "audit: Ed25519 signature");
        goto out;
    }
    memcpy(cp->pub, k->pub, 32);
    lca_audit_log_put_be64(p, (uint64_t)cp->position);
    lca_audit_log_put_be64(t, (uint64_t)cp->time);
    {
        const char *vals[7] = {cp->cluster,          (const char *)p,    (const char *)cp->hash,
                               (const char *)t,      (const char *)body, (const char *)cp->pub,
                               (const char *)cp->sig};
        const int lens[7] = {(int)strlen(cp->cluster), 8, LCA_AUDIT_HLEN, 8, (int)len, 32, 64};
        PGconn *conn = lca_pgstore_conn(store, err);
        const int fmts[7] = {0, 1, 1, 1, 1, 1, 1};
        const Oid types[7] = {25, 20, 17, 20, 17, 17, 17};

        if (conn == NULL) {
            goto out;
        }
        res = PQexecParams(conn,
                           "INSERT INTO checkpoints (cluster, position, hash, time_s, body, "
                           "public_key, signature) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                           "RETURNING id",
                           7, types, vals, lens, fmts, 1);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
            lca_pgstore_pg_err(conn, res, "audit: insert checkpoint", err);
            goto out;
        }
        cp->id = (int64_t)lca_audit_log_be64((const uint8_t *)PQgetvalue(res, 0, 0));
    }
    rc = LCA_OK;
out:
    PQclear(res);
    EVP_MD_CTX_free(md);
    free(body);
    return rc;
}

int lca_audit_checkpoint(struct lca_pgstore *store, const struct lca_audit_logkey *k,
                         const char *cluster, int64_t now, struct lca_audit_checkpoint *out,
                         int *wrote, struct lca_err *err)
{
    static const uint8_t zero[LCA_AUDIT_HLEN];
    struct lca_audit_checkpoint cp;
    struct lca_audit_cprow last;
    int found = 0, rc;

    memset(&last, 0, sizeof(last));
    memset(&cp, 0, sizeof(cp));
    if (cluster == NULL || cluster[0] == '\0' || strlen(cluster) >= sizeof(cp.cluster)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_cluster", "audit: cluster id 1..63 bytes");
    }
    snprintf(cp.cluster, sizeof(cp.cluster), "%s", cluster);
    cp.time = now;
    if (cp_last(store, k, cluster, &last, &found, err) != LCA_OK ||
        lca_pgstore_head(store, &cp.position, cp.hash, err) != LCA_OK) {
        free(last.body);
        return LCA_FAIL;
    }
    free(last.body);
    if (found && last.cp.position == cp.position &&
        CRYPTO_memcmp(last.cp.hash, cp.hash, LCA_AUDIT_HLEN) == 0) {
        *out = last.cp;
        *wrote = 0;
        return LCA_OK;
    }
    rc = found ? chain_span(store, last.cp.position, last.cp.hash, cp.position, cp.hash, err)
               : chain_span(store, 0, zero, cp.position, cp.hash, err);
    if (rc != LCA_OK || cp_sign_insert(store, k, &cp, err) != LCA_OK) {
        return LCA_FAIL;
    }
    *out = cp;
    *wrote = 1;
    return LCA_OK;
}

int lca_audit_checkpoint_json(const struct lca_audit_checkpoint *cp, char **out, size_t *len,
                              struct lca_err *err)
{
    char h[2 * LCA_AUDIT_HLEN + 1], pub[65], sig[129];
    uint8_t *body = NULL;
    size_t blen = 0;
    struct lca_val *m;
    int rc;

    if (body_encode(cp, &body, &blen, err) != LCA_OK) {
        return LCA_FAIL;
    }
    lca_audit_log_hex(cp->hash, LCA_AUDIT_HLEN, h);
    lca_audit_log_hex(cp->pub, 32, pub);
    lca_audit_log_hex(cp->sig, 64, sig);
    m = lca_val_new_map();
    lca_val_map_set_str(m, "cluster", cp->cluster);
    lca_val_map_set_int(m, "position", cp->position);
    lca_val_map_set_str(m, "hash", h);
    lca_val_map_set_int(m, "time", cp->time);
    lca_val_map_set_str(m, "public_key", pub);
    lca_val_map_set_str(m, "signature", sig);
    lca_val_map_set_bin(m, "body", body, blen);
    rc = lca_json_encode(m, out, len, err);
    lca_val_free(m);
    free(body);
    return rc;
}
