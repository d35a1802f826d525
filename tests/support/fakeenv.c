#include "fakeenv.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#define FAKE_MAX_KEYS 256

struct fake_key {
    char id[128];
    EVP_PKEY *key;
};

struct lca_fakeenv {
    struct lca_env env;
    uint64_t seed;
    uint64_t counter;
    int64_t now;
    char fail_next[16];
    struct fake_key keys[FAKE_MAX_KEYS];
    size_t nkeys;
};

static int should_fail(struct lca_fakeenv *fe, const char *name, struct lca_err *err)
{
    if (strcmp(fe->fail_next, name) != 0) {
        return 0;
    }
    fe->fail_next[0] = '\0';
    lca_err_set(err, LCA_ERR_RETRIABLE, "injected", "injected failure in %s", name);
    return 1;
}

static int fake_now(void *ctx, int64_t *out, struct lca_err *err)
{
    struct lca_fakeenv *fe = ctx;

    if (should_fail(fe, "now", err)) {
        return LCA_FAIL;
    }
    *out = fe->now;
    return LCA_OK;
}

static void stream(struct lca_fakeenv *fe, uint8_t *buf, size_t len)
{
    uint8_t block[SHA256_DIGEST_LENGTH];
    uint8_t in[16];
    size_t n;

    while (len > 0) {
        memcpy(in, &fe->seed, 8);
        memcpy(in + 8, &fe->counter, 8);
        fe->counter++;
        SHA256(in, sizeof(in), block);
        n = len < sizeof(block) ? len : sizeof(block);
        memcpy(buf, block, n);
        buf += n;
        len -= n;
    }
}

static int fake_random(void *ctx, uint8_t *buf, size_t len, struct lca_err *err)
{
    struct lca_fakeenv *fe = ctx;

    if (should_fail(fe, "random", err)) {
        return LCA_FAIL;
    }
    stream(fe, buf, len);
    return LCA_OK;
}

static int fake_keygen(void *ctx, const struct lca_keyspec *spec, EVP_PKEY **out,
                       struct lca_err *err)
{
    struct lca_fakeenv *fe = ctx;
    uint8_t seed[32];
    EVP_PKEY *k = NULL;

    if (should_fail(fe, "keygen", err)) {
        return LCA_FAIL;
    }
    switch (spec->type) {
    case LCA_KEY_ED25519:
        stream(fe, seed, sizeof(seed));
        k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof(seed));
        break;
    case LCA_KEY_EC:
        k = EVP_EC_gen(spec->bits == 384 ? "P-384" : "P-256");
        break;
    case LCA_KEY_RSA:
        k = EVP_RSA_gen((unsigned int)spec->bits);
        break;
    }
    if (k == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "keygen", "fake keygen failed");
    }
    *out = k;
    return LCA_OK;
}

static int fake_key_put(void *ctx, const char *id, EVP_PKEY *key, struct lca_err *err)
{
    struct lca_fakeenv *fe = ctx;
    size_t i;

    if (should_fail(fe, "key_put", err)) {
        return LCA_FAIL;
    }
    for (i = 0; i < fe->nkeys; i++) {
        if (strcmp(fe->keys[i].id, id) == 0) {
            return LCA_OK;
        }
    }
    if (fe->nkeys == FAKE_MAX_KEYS || strlen(id) >= sizeof(fe->keys[0].id)) {
        return lca_err_set(err, LCA_ERR_FATAL, "key_store_full", "fake key store full");
    }
    if (EVP_PKEY_up_ref(key) != 1) {
        return lca_err_set(err, LCA_ERR_FATAL, "key_ref", "EVP_PKEY_up_ref failed");
    }
    strcpy(fe->keys[fe->nkeys].id, id);
    fe->keys[fe->nkeys].key = key;
    fe->nkeys++;
    return LCA_OK;
}

static int fake_key_get(void *ctx, const char *id, EVP_PKEY **out, struct lca_err *err)
{
    struct lca_fakeenv *fe = ctx;
    size_t i;

    if (should_fail(fe, "key_get", err)) {
        return LCA_FAIL;
    }
    for (i = 0; i < fe->nkeys; i++) {
        if (strcmp(fe->keys[i].id, id) == 0) {
            *out = fe->keys[i].key;
            return LCA_OK;
        }
    }
    return lca_err_set(err, LCA_ERR_FATAL, "key_missing", "no key with id %s", id);
}

struct lca_fakeenv *lca_fakeenv_new(uint64_t seed)
{
    struct lca_fakeenv *fe = calloc(1, sizeof(*fe));

    if (fe == NULL) {
        return NULL;
    }
    fe->seed = seed;
    fe->now = 1767225600; /* 2026-01-01T00:00:00Z */
    fe->env.ctx = fe;
    fe->env.now = fake_now;
    fe->env.random = fake_random;
    fe->env.keygen = fake_keygen;
    fe->env.key_put = fake_key_put;
    fe->env.key_get = fake_key_get;
    return fe;
}

void lca_fakeenv_free(struct lca_fakeenv *fe)
{
    size_t i;

    if (fe == NULL) {
        return;
    }
    for (i = 0; i < fe->nkeys; i++) {
        EVP_PKEY_free(fe->keys[i].key);
    }
    free(fe);
}

struct lca_env *lca_fakeenv_env(struct lca_fakeenv *fe)
{
    return &fe->env;
}

void lca_fakeenv_set_time(struct lca_fakeenv *fe, int64_t t)
{
    fe->now = t;
}

void lca_fakeenv_advance(struct lca_fakeenv *fe, int64_t s)
{
    fe->now += s;
}

void lca_fakeenv_fail_next(struct lca_fakeenv *fe, const char *name)
{
    strncpy(fe->fail_next, name, sizeof(fe->fail_next) - 1);
}

size_t lca_fakeenv_key_count(const struct lca_fakeenv *fe)
{
    return fe->nkeys;
}
