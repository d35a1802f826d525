/* Unit tests for workers/osslenv: the production env (clock, RNG, keygen, key store with its
 * persist hook) and the KEK file loader. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "curun.h"
#include "key.h"
#include "osslenv.h"

static char g_dir[] = "/tmp/lca_test_osslenv_XXXXXX";

static int suite_init(void)
{
    return mkdtemp(g_dir) == NULL ? 1 : 0;
}

static int suite_clean(void)
{
    return rmdir(g_dir) == 0 ? 0 : 1;
}

static void test_now_and_random(void)
{
    struct lca_osslenv *oe = lca_osslenv_new();
    struct lca_env *env = lca_osslenv_env(oe);
    uint8_t a[32], b[32], zero[32] = {0};
    int64_t t = 0;
    int64_t before = (int64_t)time(NULL);
    struct lca_err err;

    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    CU_ASSERT_EQUAL(env->now(env->ctx, &t, &err), LCA_OK);
    CU_ASSERT(t >= before && t <= (int64_t)time(NULL));
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    CU_ASSERT_EQUAL(env->random(env->ctx, a, sizeof(a), &err), LCA_OK);
    CU_ASSERT_EQUAL(env->random(env->ctx, b, sizeof(b), &err), LCA_OK);
    CU_ASSERT_NOT_EQUAL(memcmp(a, zero, 32), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(a, b, 32), 0);
    CU_ASSERT_EQUAL(env->random(env->ctx, a, 0, &err), LCA_OK);
    CU_ASSERT_PTR_NULL(lca_osslenv_env(NULL));
    lca_osslenv_free(oe);
    lca_osslenv_free(NULL);
}

static void test_keygen(void)
{
    struct lca_osslenv *oe = lca_osslenv_new();
    struct lca_env *env = lca_osslenv_env(oe);
    struct lca_keyspec spec = {LCA_KEY_ED25519, 0}, got;
    EVP_PKEY *k = NULL;
    struct lca_err err;

    CU_ASSERT_FATAL(env->keygen(env->ctx, &spec, &k, &err) == LCA_OK);
    CU_ASSERT_EQUAL(lca_key_spec_of(k, &got, &err), LCA_OK);
    CU_ASSERT_EQUAL(got.type, LCA_KEY_ED25519);
    EVP_PKEY_free(k);
    k = NULL;
    spec.type = LCA_KEY_EC;
    spec.bits = 384;
    CU_ASSERT_FATAL(env->keygen(env->ctx, &spec, &k, &err) == LCA_OK);
    CU_ASSERT_EQUAL(lca_key_spec_of(k, &got, &err), LCA_OK);
    CU_ASSERT(got.type == LCA_KEY_EC && got.bits == 384);
    EVP_PKEY_free(k);
    k = NULL;
    spec.type = LCA_KEY_RSA;
    spec.bits = 1024;
    CU_ASSERT_EQUAL(env->keygen(env->ctx, &spec, &k, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "bad_key_spec");
    CU_ASSERT_PTR_NULL(k);
    lca_osslenv_free(oe);
}

#define NKEYS 20 /* more than the store's initial capacity: exercises growth */

static void test_key_store(void)
{
    struct lca_osslenv *oe = lca_osslenv_new();
    struct lca_env *env = lca_osslenv_env(oe);
    struct lca_keyspec spec = {LCA_KEY_ED25519, 0};
    char ids[NKEYS][LCA_KEY_ID_LEN + 1];
    EVP_PKEY *keys[NKEYS];
    EVP_PKEY *got = NULL, *other = NULL;
    struct lca_err err;
    size_t i;

    for (i = 0; i < NKEYS; i++) {
        CU_ASSERT_FATAL(lca_key_generate(&spec, &keys[i], &err) == LCA_OK);
        CU_ASSERT_FATAL(lca_key_id(keys[i], ids[i], &err) == LCA_OK);
        CU_ASSERT_EQUAL(env->key_put(env->ctx, ids[i], keys[i], &err), LCA_OK);
    }
    /* The store holds its own reference: get works after the caller lets go, and the
     * borrowed key is the same public key. */
    for (i = 0; i < NKEYS; i++) {
        CU_ASSERT_FATAL(lca_key_id(keys[i], ids[i], &err) == LCA_OK);
        CU_ASSERT_EQUAL(env->key_put(env->ctx, ids[i], keys[i], &err), LCA_OK); /* same: no-op */
        EVP_PKEY_free(keys[i]);
    }
    for (i = 0; i < NKEYS; i++) {
        got = NULL;
        CU_ASSERT_FATAL(env->key_get(env->ctx, ids[i], &got, &err) == LCA_OK);
        {
            char id[LCA_KEY_ID_LEN + 1];

            CU_ASSERT_EQUAL(lca_key_id(got, id, &err), LCA_OK);
            CU_ASSERT_STRING_EQUAL(id, ids[i]);
        }
    }
    /* A different key under an existing id is refused; the first one stays. */
    CU_ASSERT_FATAL(lca_key_generate(&spec, &other, &err) == LCA_OK);
    CU_ASSERT_EQUAL(env->key_put(env->ctx, ids[3], other, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    CU_ASSERT_STRING_EQUAL(err.code, "key_conflict");
    CU_ASSERT_FATAL(env->key_get(env->ctx, ids[3], &got, &err) == LCA_OK);
    CU_ASSERT_NOT_EQUAL(EVP_PKEY_eq(got, other), 1);
    EVP_PKEY_free(other);
    /* Missing ids and bad arguments. */
    got = NULL;
    CU_ASSERT_EQUAL(env->key_get(env->ctx, "no-such-key", &got, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "key_missing");
    CU_ASSERT_PTR_NULL(got);
    CU_ASSERT_FATAL(env->key_get(env->ctx, ids[0], &got, &err) == LCA_OK);
    CU_ASSERT_EQUAL(env->key_put(env->ctx, "", got, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(env->key_put(env->ctx, NULL, got, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(env->key_put(env->ctx, "x", NULL, &err), LCA_FAIL);
    lca_osslenv_free(oe); /* frees every stored key: ASan/LSan checks it */
}

struct persist_log {
    int calls;
    int fail;
    char last[LCA_KEY_ID_LEN + 1];
};

static int persist(void *ctx, const char *key_id, EVP_PKEY *key, struct lca_err *err)
{
    struct persist_log *log = ctx;
    char id[LCA_KEY_ID_LEN + 1];

    log->calls++;
    snprintf(log->last, sizeof(log->last), "%s", key_id);
    if (log->fail) {
        return lca_err_set(err, LCA_ERR_RETRIABLE, "db_down", "database unavailable");
    }
    /* The hook sees the real key. */
    if (lca_key_id(key, id, err) != LCA_OK || strcmp(id, key_id) != 0) {
        return lca_err_set(err, LCA_ERR_FATAL, "wrong_key", "persist got another key");
    }
    return LCA_OK;
}

static void test_persist_hook(void)
{
    struct lca_osslenv *oe = lca_osslenv_new();
    struct lca_env *env = lca_osslenv_env(oe);
    struct lca_keyspec spec = {LCA_KEY_EC, 256};
    struct persist_log log = {0, 0, ""};
    char id[LCA_KEY_ID_LEN + 1], id2[LCA_KEY_ID_LEN + 1];
    EVP_PKEY *k = NULL, *k2 = NULL, *got = NULL;
    struct lca_err err;

    CU_ASSERT_FATAL(lca_key_generate(&spec, &k, &err) == LCA_OK);
    CU_ASSERT_FATAL(lca_key_generate(&spec, &k2, &err) == LCA_OK);
    CU_ASSERT_FATAL(lca_key_id(k, id, &err) == LCA_OK);
    CU_ASSERT_FATAL(lca_key_id(k2, id2, &err) == LCA_OK);
    lca_osslenv_set_persist(oe, persist, &log);
    CU_ASSERT_EQUAL(env->key_put(env->ctx, id, k, &err), LCA_OK);
    CU_ASSERT_EQUAL(log.calls, 1);
    CU_ASSERT_STRING_EQUAL(log.last, id);
    /* Re-putting a stored key does not persist it again. */
    CU_ASSERT_EQUAL(env->key_put(env->ctx, id, k, &err), LCA_OK);
    CU_ASSERT_EQUAL(log.calls, 1);
    /* A failing hook fails key_put with its error and leaves the key out of the store. */
    log.fail = 1;
    CU_ASSERT_EQUAL(env->key_put(env->ctx, id2, k2, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_RETRIABLE);
    CU_ASSERT_STRING_EQUAL(err.code, "db_down");
    CU_ASSERT_EQUAL(log.calls, 2);
    CU_ASSERT_EQUAL(env->key_get(env->ctx, id2, &got, &err), LCA_FAIL);
    /* Retry after recovery succeeds. */
    log.fail = 0;
    CU_ASSERT_EQUAL(env->key_put(env->ctx, id2, k2, &err), LCA_OK);
    CU_ASSERT_EQUAL(log.calls, 3);
    CU_ASSERT_EQUAL(env->key_get(env->ctx, id2, &got, &err), LCA_OK);
    CU_ASSERT_EQUAL(EVP_PKEY_eq(got, k2), 1);
    /* Removing the hook. */
    lca_osslenv_set_persist(oe, NULL, &log);
    EVP_PKEY_free(k2);
    k2 = NULL;
    CU_ASSERT_FATAL(lca_key_generate(&spec, &k2, &err) == LCA_OK);
    CU_ASSERT_EQUAL(env->key_put(env->ctx, "another", k2, &err), LCA_OK);
    CU_ASSERT_EQUAL(log.calls, 3);
    lca_osslenv_set_persist(NULL, persist, &log);
    EVP_PKEY_free(k);
    EVP_PKEY_free(k2);
    lca_osslenv_free(oe);
}

/* Writes len bytes to g_dir/name with mode, returns the path (static buffer). */
static const char *kek_file(const char *name, const void *data, size_t len, mode_t mode)
{
    static char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    unlink(path);
    f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fwrite(data, 1, len, f), len);
    fclose(f);
    CU_ASSERT_FATAL(chmod(path, mode) == 0);
    return path;
}

static const char HEX[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1eff";

static void expect_kek(const char *path, const uint8_t want[32])
{
    uint8_t kek[32];
    struct lca_err err;

    memset(kek, 0xee, sizeof(kek));
    lca_err_clear(&err);
    CU_ASSERT_EQUAL(lca_osslenv_load_kek(path, kek, &err), LCA_OK);
    CU_ASSERT_EQUAL(memcmp(kek, want, 32), 0);
    unlink(path);
}

static void expect_kek_fail(const char *path, const char *code)
{
    uint8_t kek[32], untouched[32];
    struct lca_err err;

    memset(kek, 0xee, sizeof(kek));
    memset(untouched, 0xee, sizeof(untouched));
    lca_err_clear(&err);
    CU_ASSERT_EQUAL(lca_osslenv_load_kek(path, kek, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    CU_ASSERT_STRING_EQUAL(err.code, code);
    CU_ASSERT_EQUAL(memcmp(kek, untouched, 32), 0);
    /* No key material in the message. */
    CU_ASSERT_PTR_NULL(strstr(err.msg, "0a0b0c0d"));
    if (path != NULL) {
        unlink(path);
    }
}

static void test_kek_good(void)
{
    uint8_t want[32], raw[32];
    char buf[80];
    size_t i;

    for (i = 0; i < 32; i++) {
        want[i] = (uint8_t)i;
        raw[i] = (uint8_t)(255 - i * 7); /* high bytes and a NUL-free mix */
    }
    want[31] = 0xff;
    expect_kek(kek_file("hex", HEX, 64, 0600), want);
    snprintf(buf, sizeof(buf), "%s\n", HEX);
    expect_kek(kek_file("hexnl", buf, 65, 0400), want);
    snprintf(buf, sizeof(buf), "%s\r\n", HEX);
    expect_kek(kek_file("hexcrlf", buf, 66, 0600), want);
    for (i = 0; i < 64; i++) {
        buf[i] = (char)(HEX[i] >= 'a' ? HEX[i] - 'a' + 'A' : HEX[i]);
    }
    expect_kek(kek_file("HEX", buf, 64, 0600), want);
    expect_kek(kek_file("raw", raw, 32, 0600), raw);
    raw[31] = '\n'; /* raw bytes may happen to end in a newline: still 32 raw bytes */
    expect_kek(kek_file("rawnl", raw, 32, 0600), raw);
}

static void test_kek_bad(void)
{
    uint8_t raw[100];
    char buf[80];
    char dir[300];

    memset(raw, 0x5a, sizeof(raw));
    expect_kek_fail(kek_file("empty", raw, 0, 0600), "bad_kek");
    expect_kek_fail(kek_file("r31", raw, 31, 0600), "bad_kek");
    expect_kek_fail(kek_file("r33", raw, 33, 0600), "bad_kek");
    expect_kek_fail(kek_file("r100", raw, 100, 0600), "bad_kek");
    expect_kek_fail(kek_file("h63", HEX, 63, 0600), "bad_kek");
    snprintf(buf, sizeof(buf), "%s0", HEX);
    expect_kek_fail(kek_file("h65", buf, 65, 0600), "bad_kek");
    snprintf(buf, sizeof(buf), "%s\n\n", HEX);
    expect_kek_fail(kek_file("h2nl", buf, 66, 0600), "bad_kek");
    snprintf(buf, sizeof(buf), "%s", HEX);
    buf[10] = 'g';
    expect_kek_fail(kek_file("nothex", buf, 64, 0600), "bad_kek");
    buf[10] = ' ';
    expect_kek_fail(kek_file("space", buf, 64, 0600), "bad_kek");
    /* Permissions: any group or other bit is refused. */
    expect_kek_fail(kek_file("m640", HEX, 64, 0640), "kek_mode");
    expect_kek_fail(kek_file("m604", HEX, 64, 0604), "kek_mode");
    expect_kek_fail(kek_file("m620", HEX, 64, 0620), "kek_mode");
    expect_kek_fail(kek_file("m601", HEX, 64, 0601), "kek_mode");
    /* Missing file, directory, no path. */
    snprintf(dir, sizeof(dir), "%s/missing", g_dir);
    expect_kek_fail(dir, "kek_read");
    snprintf(dir, sizeof(dir), "%s/sub", g_dir);
    CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
    expect_kek_fail(dir, "kek_read");
    rmdir(dir);
    expect_kek_fail("", "kek_read");
    expect_kek_fail(NULL, "kek_read");
}

static void test_kek_mode_message(void)
{
    uint8_t kek[32];
    struct lca_err err;
    const char *path = kek_file("msg", HEX, 64, 0644);

    CU_ASSERT_EQUAL(lca_osslenv_load_kek(path, kek, &err), LCA_FAIL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "644"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "chmod 600"));
    unlink(path);
}

int main(void)
{
    static const struct lca_cu_test tests[] = {
        {"now_and_random", test_now_and_random},
        {"keygen", test_keygen},
        {"key_store", test_key_store},
        {"persist_hook", test_persist_hook},
        {"kek_good", test_kek_good},
        {"kek_bad", test_kek_bad},
        {"kek_mode_message", test_kek_mode_message},
    };

    return LCA_CU_MAIN("osslenv", suite_init, suite_clean, tests);
}
