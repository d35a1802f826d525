/*
 * test_json — JSON decoding under limits (hostile inputs) and compact encoding; the encoder
 * is checked byte for byte against jansson's compact printer on random trees.
 */
#include <CUnit/Basic.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "json.h"

#define TXT(s) (s), (sizeof(s) - 1)

static struct lca_val *const SENTINEL = (struct lca_val *)&lca_codec_default_limits;

static void expect_fail(const char *buf, size_t len, const struct lca_limits *lim,
                        const char *code)
{
    struct lca_val *out = SENTINEL;
    struct lca_err err;

    lca_err_clear(&err);
    CU_ASSERT_EQUAL(lca_json_decode(buf, len, lim, &out, &err), LCA_FAIL);
    CU_ASSERT_PTR_EQUAL(out, SENTINEL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    CU_ASSERT_STRING_EQUAL(err.code, code);
    if (strcmp(err.code, code) != 0) {
        fprintf(stderr, "\n  expected %s, got %s: %s\n", code, err.code, err.msg);
    }
}

static struct lca_val *decode_ok(const char *buf, size_t len, const struct lca_limits *lim)
{
    struct lca_val *out = NULL;
    struct lca_err err;

    lca_err_clear(&err);
    CU_ASSERT_EQUAL(lca_json_decode(buf, len, lim, &out, &err), LCA_OK);
    if (out == NULL) {
        fprintf(stderr, "\n  decode failed: %s: %s\n", err.code, err.msg);
    }
    return out;
}

static void expect_json(const struct lca_val *v, const char *want)
{
    char *out = NULL;
    size_t len = 0;
    struct lca_err err;

    CU_ASSERT_EQUAL_FATAL(lca_json_encode(v, &out, &len, &err), LCA_OK);
    CU_ASSERT_STRING_EQUAL(out, want);
    CU_ASSERT_EQUAL(len, strlen(want));
    free(out);
}

static void test_decode_types_and_order(void)
{
    static const char in[] = " {\"z\": 1, \"a\": [true, false, null, \"s\\u00e9\"], "
                             "\"neg\": -9223372036854775808, \"e\": 1e3, \"m\": {}} ";
    struct lca_val *v = decode_ok(TXT(in), NULL);
    const struct lca_val *a = lca_val_map_get(v, "a");

    CU_ASSERT_EQUAL_FATAL(lca_val_kind(v), LCA_VAL_MAP);
    CU_ASSERT_STRING_EQUAL(lca_val_map_key_at(v, 0), "z");
    CU_ASSERT_STRING_EQUAL(lca_val_map_key_at(v, 1), "a");
    CU_ASSERT_STRING_EQUAL(lca_val_map_key_at(v, 4), "m");
    CU_ASSERT_EQUAL(lca_val_map_get_int(v, "z", 0), 1);
    CU_ASSERT_EQUAL(lca_val_map_get_int(v, "neg", 0), INT64_MIN);
    CU_ASSERT_EQUAL(lca_val_kind(lca_val_map_get(v, "e")), LCA_VAL_INT);
    CU_ASSERT_EQUAL(lca_val_map_get_int(v, "e", 0), 1000);
    CU_ASSERT_EQUAL(lca_val_len(a), 4);
    CU_ASSERT_EQUAL(lca_val_bool(lca_val_arr_at(a, 0)), 1);
    CU_ASSERT_EQUAL(lca_val_kind(lca_val_arr_at(a, 1)), LCA_VAL_BOOL);
    CU_ASSERT_EQUAL(lca_val_kind(lca_val_arr_at(a, 2)), LCA_VAL_NIL);
    CU_ASSERT_STRING_EQUAL(lca_val_str(lca_val_arr_at(a, 3)), "s\xc3\xa9");
    CU_ASSERT_EQUAL(lca_val_kind(lca_val_map_get(v, "m")), LCA_VAL_MAP);
    lca_val_free(v);
    /* Top-level scalars are values too. */
    v = decode_ok(TXT("\"x\""), NULL);
    CU_ASSERT_STRING_EQUAL(lca_val_str(v), "x");
    lca_val_free(v);
}

static void test_decode_rejects(void)
{
    expect_fail(TXT("{\"a\": 1, \"a\": 2}"), NULL, "duplicate_key");
    expect_fail(TXT("[{\"k\": 1, \"k\": 1}]"), NULL, "duplicate_key");
    expect_fail(TXT("{\"a\": 1.5}"), NULL, "unsupported");
    expect_fail(TXT("[1e300]"), NULL, "int_range");
    expect_fail(TXT("[99999999999999999999]"), NULL, "int_range");
    expect_fail(TXT("{\"a\": 1"), NULL, "truncated");
    expect_fail(TXT("{\"a\": 1} x"), NULL, "trailing_bytes");
    expect_fail(TXT("{\"a\": 1}{}"), NULL, "trailing_bytes");
    expect_fail(TXT(""), NULL, "truncated");
    expect_fail(TXT("{a: 1}"), NULL, "bad_json");
    expect_fail(TXT("[\"\xff\"]"), NULL, "bad_json");        /* not UTF-8 */
    expect_fail(TXT("[\"a\\u0000b\"]"), NULL, "bad_json");   /* NUL */
    expect_fail(TXT("{\"a\\u0000\": 1}"), NULL, "bad_json"); /* NUL in a key */
    expect_fail(TXT("[NaN]"), NULL, "bad_json");
    expect_fail("{\"a\":1}\0", 8, NULL, "trailing_bytes");
}

static void test_decode_limits(void)
{
    size_t n = 10000, k;
    char *deep = malloc(2 * n);
    struct lca_limits lim = lca_codec_default_limits;
    struct lca_val *v;

    CU_ASSERT_PTR_NOT_NULL_FATAL(deep);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    expect_fail(deep, 2 * n, NULL, "too_deep");
    v = decode_ok(deep + n - 16, 32, NULL); /* exactly 16 */
    CU_ASSERT_EQUAL(lca_val_kind(v), LCA_VAL_ARR);
    lca_val_free(v);
    expect_fail(deep + n - 17, 34, NULL, "too_deep");
    /* Unclosed brackets are deep too, and brackets inside strings do not count. */
    expect_fail(deep, n, NULL, "too_deep");
    v = decode_ok(TXT("[\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[[[[[[[[[[[[[[[[[\"]"), NULL);
    CU_ASSERT_EQUAL(lca_val_len(lca_val_arr_at(v, 0)), 32 + 1 + 19);
    lca_val_free(v);
    for (k = 0; k + 5 <= n; k += 5) {
        memcpy(deep + k, "{\"a\":", 5);
    }
    expect_fail(deep, n, NULL, "too_deep");
    free(deep);
    lim.max_items = 3;
    expect_fail(TXT("[1,2,3,4]"), &lim, "too_many_items");
    expect_fail(TXT("{\"a\":1,\"b\":2}"), &lim, "too_many_items"); /* 1 + 2 keys + 2 values */
    lca_val_free(decode_ok(TXT("{\"a\":1}"), &lim));
    lim = lca_codec_default_limits;
    lim.max_str = 3;
    expect_fail(TXT("[\"abcd\"]"), &lim, "too_large");
    expect_fail(TXT("{\"abcd\": 1}"), &lim, "too_large");
    lca_val_free(decode_ok(TXT("[\"abc\"]"), &lim));
    lim = lca_codec_default_limits;
    lim.max_bytes = 4;
    expect_fail(TXT("[1,2]"), &lim, "too_large");
}

static void test_encode(void)
{
    struct lca_val *m = lca_val_new_map();
    struct lca_val *a = lca_val_new_arr();

    lca_val_arr_push(a, lca_val_new_nil());
    lca_val_arr_push(a, lca_val_new_bool(1));
    lca_val_arr_push(a, lca_val_new_int(INT64_MIN));
    lca_val_map_set_str(m, "zeta", "q\"\n\xc3\xa9");
    lca_val_map_set(m, "arr", a);
    lca_val_map_set_bin(m, "b1", "\xff", 1);
    lca_val_map_set_bin(m, "b2", "\xfb\xff", 2);
    lca_val_map_set_bin(m, "b3", "foo", 3);
    lca_val_map_set_bin(m, "b0", "", 0);
    lca_val_map_set(m, "empty", lca_val_new_map());
    /* insertion order, compact, RFC 4648 base64 with padding */
    expect_json(m, "{\"zeta\":\"q\\\"\\n\xc3\xa9\",\"arr\":[null,true,-9223372036854775808],"
                   "\"b1\":\"/w==\",\"b2\":\"+/8=\",\"b3\":\"Zm9v\",\"b0\":\"\",\"empty\":{}}");
    lca_val_free(m);
    m = lca_val_new_int(42);
    expect_json(m, "42");
    lca_val_free(m);
}

static void test_encode_refuses(void)
{
    struct lca_val *m = lca_val_new_map();
    struct lca_val *s = lca_val_new_strn("\xff\xfe", 2);
    char *out = (char *)"untouched";
    size_t len = 3;
    struct lca_err err;

    CU_ASSERT_EQUAL(lca_json_encode(s, &out, &len, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "bad_utf8");
    lca_val_map_set_int(m, "\xc3(", 1);
    CU_ASSERT_EQUAL(lca_json_encode(m, &out, &len, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "bad_utf8");
    lca_val_map_set(m, "broken", NULL);
    CU_ASSERT_EQUAL(lca_json_encode(m, &out, &len, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "broken_value");
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_FATAL);
    CU_ASSERT_STRING_EQUAL(out, "untouched");
    CU_ASSERT_EQUAL(len, 3);
    lca_val_free(m);
    lca_val_free(s);
}

static void test_round_trip(void)
{
    static const char in[] = "{\"command_id\":\"0f8fad5b-d9cb-469f-a165-70867728950e\","
                             "\"type\":\"issue\",\"payload\":{\"ttl\":3600,\"sans\":[\"a\","
                             "\"b\"],\"ok\":false,\"x\":null}}";
    struct lca_val *v = decode_ok(TXT(in), NULL);
    struct lca_val *back = NULL;
    char *out = NULL;
    size_t len = 0;
    struct lca_err err;

    CU_ASSERT_EQUAL_FATAL(lca_json_encode(v, &out, &len, &err), LCA_OK);
    CU_ASSERT_STRING_EQUAL(out, in); /* compact and in document order: byte-identical */
    CU_ASSERT_EQUAL_FATAL(lca_json_decode(out, len, NULL, &back, &err), LCA_OK);
    CU_ASSERT_TRUE(lca_val_equal(v, back));
    free(out);
    lca_val_free(v);
    lca_val_free(back);
}

/* ---- the encoder against jansson (an independent printer) on random trees ---- */

static uint64_t g_rng = 0x9e3779b97f4a7c15u;

static uint32_t rnd(uint32_t n)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng % n);
}

/* A random byte string: ASCII, control characters, quotes, valid UTF-8 of every length and,
 * when `bad` is set, possibly an invalid sequence. */
static size_t rnd_text(char *buf, size_t cap, int bad)
{
    static const char *const pieces[] = {"a", "Z", "/", "\\", "\"", "\n", "\t", "\x01", "\x1f",
                                         "\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x94\x92",
                                         "-----BEGIN CERTIFICATE-----\nMIIB", " ", "\b", "\f",
                                         "\r"};
    static const char *const invalid[] = {"\xff", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                          "\xe2\x82", "\x80"};
    size_t n = 0, k = rnd(12);

    while (k-- > 0) {
        const char *p = bad && rnd(8) == 0 ? invalid[rnd(6)] : pieces[rnd(18)];
        size_t l = strlen(p);

        if (n + l >= cap) {
            break;
        }
        memcpy(buf + n, p, l);
        n += l;
    }
    buf[n] = '\0';
    return n;
}

static struct lca_val *rnd_tree(int depth, int bad)
{
    char text[256];
    uint8_t bin[40];
    struct lca_val *v;
    size_t n, k;

    switch (depth > 3 ? rnd(5) : rnd(7)) {
    case 0:
        return lca_val_new_nil();
    case 1:
        return lca_val_new_bool((int)rnd(2));
    case 2:
        return lca_val_new_int((int64_t)(g_rng ^ (g_rng << 9)) >> rnd(64));
    case 3:
        n = rnd_text(text, sizeof(text), bad);
        return lca_val_new_strn(text, n);
    case 4:
        for (n = rnd(sizeof(bin)), k = 0; k < n; k++) {
            bin[k] = (uint8_t)rnd(256);
        }
        return lca_val_new_bin(bin, n);
    case 5:
        v = lca_val_new_arr();
        for (n = rnd(5); n > 0; n--) {
            lca_val_arr_push(v, rnd_tree(depth + 1, bad));
        }
        return v;
    default:
        v = lca_val_new_map();
        for (n = rnd(5); n > 0; n--) {
            rnd_text(text, sizeof(text), bad && rnd(4) == 0);
            if (text[0] == '\0') {
                snprintf(text, sizeof(text), "k%u", rnd(1000));
            }
            lca_val_map_set(v, text, rnd_tree(depth + 1, bad));
        }
        return v;
    }
}

/* The same tree as jansson values; NULL when jansson refuses a string (invalid UTF-8). */
static json_t *to_jansson(const struct lca_val *v)
{
    static const char alpha[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char b64[64];
    const uint8_t *b;
    json_t *j, *c;
    size_t k, n, o;

    switch (lca_val_kind(v)) {
    case LCA_VAL_NIL:
        return json_null();
    case LCA_VAL_BOOL:
        return json_boolean(lca_val_bool(v));
    case LCA_VAL_INT:
        return json_integer((json_int_t)lca_val_int(v));
    case LCA_VAL_STR:
        return json_stringn(lca_val_str(v), lca_val_len(v));
    case LCA_VAL_BIN:
        b = lca_val_bin(v, &n);
        for (k = 0, o = 0; k < n; k += 3) {
            uint32_t w = (uint32_t)b[k] << 16 | (k + 1 < n ? (uint32_t)b[k + 1] << 8 : 0) |
                         (k + 2 < n ? b[k + 2] : 0);
            b64[o++] = alpha[w >> 18 & 63];
            b64[o++] = alpha[w >> 12 & 63];
            b64[o++] = k + 1 < n ? alpha[w >> 6 & 63] : '=';
            b64[o++] = k + 2 < n ? alpha[w & 63] : '=';
        }
        return json_stringn(b64, o);
    case LCA_VAL_ARR:
        j = json_array();
        for (k = 0; k < lca_val_len(v); k++) {
            if ((c = to_jansson(lca_val_arr_at(v, k))) == NULL) {
                json_decref(j);
                return NULL;
            }
            json_array_append_new(j, c);
        }
        return j;
    case LCA_VAL_MAP:
        j = json_object();
        for (k = 0; k < lca_val_len(v); k++) {
            if ((c = to_jansson(lca_val_map_val_at(v, k))) == NULL ||
                json_object_set_new(j, lca_val_map_key_at(v, k), c) != 0) {
                json_decref(j);
                return NULL;
            }
        }
        return j;
    }
    return NULL;
}

static void test_encode_matches_jansson(void)
{
    int i, refused = 0, agreed = 0;
    json_malloc_t jmalloc;
    json_free_t jfree;

    json_get_alloc_funcs(&jmalloc, &jfree); /* json_dumps' buffer is jansson's to free */
    for (i = 0; i < 20000; i++) {
        struct lca_val *v = rnd_tree(0, i % 2);
        json_t *j = to_jansson(v);
        char *ours = NULL, *theirs = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY)
                                               : NULL;
        size_t len = 0;
        struct lca_err err;
        int rc = lca_json_encode(v, &ours, &len, &err);

        if (theirs == NULL) { /* jansson refused a string: so must we */
            CU_ASSERT_EQUAL(rc, LCA_FAIL);
            CU_ASSERT(rc != LCA_FAIL || strcmp(err.code, "bad_utf8") == 0);
            refused++;
        } else {
            CU_ASSERT_EQUAL_FATAL(rc, LCA_OK);
            CU_ASSERT_EQUAL(len, strlen(theirs));
            CU_ASSERT_STRING_EQUAL(ours, theirs);
            agreed += strcmp(ours, theirs) == 0;
        }
        free(ours);
        if (theirs != NULL) {
            jfree(theirs);
        }
        json_decref(j);
        lca_val_free(v);
    }
    CU_ASSERT(refused > 500); /* both branches were exercised */
    CU_ASSERT(agreed > 10000);
}

int main(void)
{
    CU_pSuite s;
    unsigned failed;

    /* Exercise the wiping allocator for every test below (ASan checks the pairing). */
    lca_json_install_wiping_alloc();
    lca_json_install_wiping_alloc();
    if (CU_initialize_registry() != CUE_SUCCESS) {
        return 2;
    }
    s = CU_add_suite("json", NULL, NULL);
    CU_add_test(s, "decode_types_and_order", test_decode_types_and_order);
    CU_add_test(s, "decode_rejects", test_decode_rejects);
    CU_add_test(s, "decode_limits", test_decode_limits);
    CU_add_test(s, "encode", test_encode);
    CU_add_test(s, "encode_refuses", test_encode_refuses);
    CU_add_test(s, "round_trip", test_round_trip);
    CU_add_test(s, "encode_matches_jansson", test_encode_matches_jansson);
    CU_basic_set_mode(CU_BRM_NORMAL);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed == 0 ? 0 : 1;
}
