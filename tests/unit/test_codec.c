/*
 * test_codec — canonical msgpack encoding (known-answer vectors computed by hand from the
 * msgpack spec) and the bounded decoder against hostile inputs.
 */
#include <CUnit/Basic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "curun.h"

#define BYTES(s) ((const uint8_t *)(s)), (sizeof(s) - 1)

static struct lca_val *const SENTINEL = (struct lca_val *)&lca_codec_default_limits;

/* Decoding must fail with class BAD_INPUT and `code`, leaving *out untouched. */
static void expect_fail(const uint8_t *buf, size_t len, const struct lca_limits *lim,
                        const char *code)
{
    struct lca_val *out = SENTINEL;
    struct lca_err err;

    lca_err_clear(&err);
    CU_ASSERT_EQUAL(lca_codec_decode(buf, len, lim, &out, &err), LCA_FAIL);
    CU_ASSERT_PTR_EQUAL(out, SENTINEL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    CU_ASSERT_STRING_EQUAL(err.code, code);
    if (strcmp(err.code, code) != 0) {
        fprintf(stderr, "\n  expected %s, got %s: %s\n", code, err.code, err.msg);
    }
}

static struct lca_val *decode_ok(const uint8_t *buf, size_t len, const struct lca_limits *lim)
{
    struct lca_val *out = NULL;
    struct lca_err err;

    lca_err_clear(&err);
    CU_ASSERT_EQUAL(lca_codec_decode(buf, len, lim, &out, &err), LCA_OK);
    if (out == NULL) {
        fprintf(stderr, "\n  decode failed: %s: %s\n", err.code, err.msg);
    }
    return out;
}

/* Encodes v and compares with the expected bytes. */
static void expect_encoding(const struct lca_val *v, const uint8_t *want, size_t want_len)
{
    uint8_t *out = NULL;
    size_t len = 0;
    struct lca_err err;

    CU_ASSERT_EQUAL_FATAL(lca_codec_encode(v, &out, &len, &err), LCA_OK);
    CU_ASSERT_EQUAL(len, want_len);
    CU_ASSERT_TRUE(len == want_len && memcmp(out, want, len) == 0);
    free(out);
}

static void test_known_answer_map(void)
{
    struct lca_val *m = lca_val_new_map();
    struct lca_val *a = lca_val_new_arr();
    /* fixmap(5); "a": [true, nil]; "aa": -1; "b": 1; "c": "x"; "d": bin(01 02) */
    static const char want[] = "\x85"
                               "\xa1" "a" "\x92\xc3\xc0"
                               "\xa2" "aa" "\xff"
                               "\xa1" "b" "\x01"
                               "\xa1" "c" "\xa1" "x"
                               "\xa1" "d" "\xc4\x02\x01\x02";

    lca_val_arr_push(a, lca_val_new_bool(1));
    lca_val_arr_push(a, lca_val_new_nil());
    lca_val_map_set_str(m, "c", "x");
    lca_val_map_set_int(m, "b", 1);
    lca_val_map_set_bin(m, "d", "\x01\x02", 2);
    lca_val_map_set_int(m, "aa", -1);
    lca_val_map_set(m, "a", a);
    expect_encoding(m, BYTES(want));
    lca_val_free(m);
}

struct int_vec {
    int64_t v;
    const char *enc;
    size_t len;
};

static void test_shortest_ints(void)
{
    static const struct int_vec vecs[] = {
        {0, "\x00", 1},
        {127, "\x7f", 1},
        {128, "\xcc\x80", 2},
        {255, "\xcc\xff", 2},
        {256, "\xcd\x01\x00", 3},
        {65535, "\xcd\xff\xff", 3},
        {65536, "\xce\x00\x01\x00\x00", 5},
        {4294967295LL, "\xce\xff\xff\xff\xff", 5},
        {4294967296LL, "\xcf\x00\x00\x00\x01\x00\x00\x00\x00", 9},
        {INT64_MAX, "\xcf\x7f\xff\xff\xff\xff\xff\xff\xff", 9},
        {-1, "\xff", 1},
        {-32, "\xe0", 1},
        {-33, "\xd0\xdf", 2},
        {-128, "\xd0\x80", 2},
        {-129, "\xd1\xff\x7f", 3},
        {-32768, "\xd1\x80\x00", 3},
        {-32769, "\xd2\xff\xff\x7f\xff", 5},
        {INT32_MIN, "\xd2\x80\x00\x00\x00", 5},
        {(int64_t)INT32_MIN - 1, "\xd3\xff\xff\xff\xff\x7f\xff\xff\xff", 9},
        {INT64_MIN, "\xd3\x80\x00\x00\x00\x00\x00\x00\x00", 9},
    };
    size_t k;

    for (k = 0; k < sizeof(vecs) / sizeof(vecs[0]); k++) {
        struct lca_val *v = lca_val_new_int(vecs[k].v);
        struct lca_val *back;

        expect_encoding(v, (const uint8_t *)vecs[k].enc, vecs[k].len);
        back = decode_ok((const uint8_t *)vecs[k].enc, vecs[k].len, NULL);
        CU_ASSERT_EQUAL(lca_val_int(back), vecs[k].v);
        lca_val_free(back);
        lca_val_free(v);
    }
}

static void test_str_bin_headers(void)
{
    char buf[70000];
    uint8_t *out = NULL;
    size_t len = 0;
    struct lca_err err;
    struct {
        size_t n;
        int bin;
        uint8_t h0;
        size_t hlen;
    } cases[] = {
        {0, 0, 0xa0, 1},     {31, 0, 0xbf, 1},     {32, 0, 0xd9, 2}, {255, 0, 0xd9, 2},
        {256, 0, 0xda, 3},   {65536, 0, 0xdb, 5},  {0, 1, 0xc4, 2},  {256, 1, 0xc5, 3},
        {65536, 1, 0xc6, 5},
    };
    size_t k;

    memset(buf, 'q', sizeof(buf));
    for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct lca_val *v = cases[k].bin ? lca_val_new_bin(buf, cases[k].n)
                                         : lca_val_new_strn(buf, cases[k].n);

        CU_ASSERT_EQUAL_FATAL(lca_codec_encode(v, &out, &len, &err), LCA_OK);
        CU_ASSERT_EQUAL(out[0], cases[k].h0);
        CU_ASSERT_EQUAL(len, cases[k].hlen + cases[k].n);
        free(out);
        lca_val_free(v);
    }
}

static void test_key_order_bytewise(void)
{
    struct lca_val *m = lca_val_new_map();
    /* "B" (0x42) < "a" < "ab" < "b" < "\xc3\xa9" (bytes compare unsigned) */
    static const char want[] = "\x85"
                               "\xa1" "B" "\x01"
                               "\xa1" "a" "\x02"
                               "\xa2" "ab" "\x03"
                               "\xa1" "b" "\x04"
                               "\xa2" "\xc3\xa9" "\x05";

    lca_val_map_set_int(m, "\xc3\xa9", 5);
    lca_val_map_set_int(m, "b", 4);
    lca_val_map_set_int(m, "ab", 3);
    lca_val_map_set_int(m, "a", 2);
    lca_val_map_set_int(m, "B", 1);
    expect_encoding(m, BYTES(want));
    lca_val_free(m);
}

static struct lca_val *nested(int order)
{
    struct lca_val *m = lca_val_new_map();
    struct lca_val *inner = lca_val_new_map();
    const char *keys[] = {"serial", "not_after", "sans", "issuer_id", "k"};
    int k;

    for (k = 0; k < 5; k++) {
        int idx = order ? 4 - k : k;

        lca_val_map_set_int(inner, keys[idx], idx * 1000);
    }
    if (order) {
        lca_val_map_set(m, "inner", inner);
        lca_val_map_set_str(m, "type", "CertificateIssued");
        lca_val_map_set_int(m, "v", 1);
    } else {
        lca_val_map_set_int(m, "v", 1);
        lca_val_map_set_str(m, "type", "CertificateIssued");
        lca_val_map_set(m, "inner", inner);
    }
    return m;
}

static void test_canonical_independent_of_order(void)
{
    struct lca_val *a = nested(0);
    struct lca_val *b = nested(1);
    uint8_t *ea = NULL, *eb = NULL;
    size_t la = 0, lb = 0;
    struct lca_err err;

    CU_ASSERT_STRING_NOT_EQUAL(lca_val_map_key_at(a, 0), lca_val_map_key_at(b, 0));
    CU_ASSERT_EQUAL_FATAL(lca_codec_encode(a, &ea, &la, &err), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_codec_encode(b, &eb, &lb, &err), LCA_OK);
    CU_ASSERT_EQUAL(la, lb);
    CU_ASSERT_TRUE(la == lb && memcmp(ea, eb, la) == 0);
    free(ea);
    free(eb);
    lca_val_free(a);
    lca_val_free(b);
}

static void test_round_trip(void)
{
    struct lca_val *m = nested(1);
    struct lca_val *arr = lca_val_new_arr();
    struct lca_val *back = NULL;
    uint8_t *enc = NULL, *enc2 = NULL;
    size_t len = 0, len2 = 0;
    struct lca_err err;

    lca_val_arr_push(arr, lca_val_new_bin("\x00\xff", 2));
    lca_val_arr_push(arr, lca_val_new_strn("a\0b", 3));
    lca_val_arr_push(arr, lca_val_new_bool(0));
    lca_val_arr_push(arr, lca_val_new_map());
    lca_val_arr_push(arr, lca_val_new_int(-70000));
    lca_val_map_set(m, "arr", arr);
    CU_ASSERT_EQUAL_FATAL(lca_codec_encode(m, &enc, &len, &err), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_codec_decode(enc, len, NULL, &back, &err), LCA_OK);
    CU_ASSERT_TRUE(lca_val_equal(m, back));
    /* The decoded map keeps the (sorted) wire order. */
    CU_ASSERT_STRING_EQUAL(lca_val_map_key_at(back, 0), "arr");
    CU_ASSERT_EQUAL_FATAL(lca_codec_encode(back, &enc2, &len2, &err), LCA_OK);
    CU_ASSERT_TRUE(len == len2 && memcmp(enc, enc2, len) == 0);
    free(enc);
    free(enc2);
    lca_val_free(back);
    lca_val_free(m);
}

static void test_encode_refuses(void)
{
    struct lca_val *m = lca_val_new_map();
    struct lca_val *deep = lca_val_new_arr();
    struct lca_val *cur = deep;
    uint8_t *out = (uint8_t *)"untouched";
    size_t len = 7;
    struct lca_err err;
    int k;

    lca_val_map_set(m, "bad", NULL);
    CU_ASSERT_EQUAL(lca_codec_encode(m, &out, &len, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "broken_value");
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_FATAL);
    CU_ASSERT_EQUAL(lca_codec_encode(NULL, &out, &len, &err), LCA_FAIL);
    for (k = 0; k < LCA_CODEC_DEPTH_CAP + 5; k++) {
        struct lca_val *next = lca_val_new_arr();

        lca_val_arr_push(cur, next);
        cur = next;
    }
    CU_ASSERT_EQUAL(lca_codec_encode(deep, &out, &len, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "too_deep");
    CU_ASSERT_STRING_EQUAL((const char *)out, "untouched");
    CU_ASSERT_EQUAL(len, 7);
    lca_val_free(m);
    lca_val_free(deep);
}

static void test_deep_nesting(void)
{
    size_t n = 10000, k;
    uint8_t *buf = malloc(n + 1);
    struct lca_limits lim = lca_codec_default_limits;
    struct lca_val *v;

    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    memset(buf, 0x91, n); /* fixarray(1) x n, then nil */
    buf[n] = 0xc0;
    expect_fail(buf, n + 1, NULL, "too_deep");
    /* Exactly max_depth levels pass, one more fails. */
    v = decode_ok(buf + n - 16, 17, NULL);
    CU_ASSERT_EQUAL(lca_val_kind(v), LCA_VAL_ARR);
    lca_val_free(v);
    expect_fail(buf + n - 17, 18, NULL, "too_deep");
    /* The cap holds whatever the caller asks, and msgpack-c copes with the cap itself. */
    lim.max_depth = 100000;
    v = decode_ok(buf + n - LCA_CODEC_DEPTH_CAP, LCA_CODEC_DEPTH_CAP + 1, &lim);
    {
        const struct lca_val *cur = v;
        size_t depth = 0;

        while (lca_val_kind(cur) == LCA_VAL_ARR) {
            depth++;
            cur = lca_val_arr_at(cur, 0);
        }
        CU_ASSERT_EQUAL(depth, LCA_CODEC_DEPTH_CAP);
    }
    lca_val_free(v);
    expect_fail(buf + n - LCA_CODEC_DEPTH_CAP - 1, LCA_CODEC_DEPTH_CAP + 2, &lim, "too_deep");
    /* Deep maps too: {"a": {"a": ...}} */
    for (k = 0; k + 3 <= n; k += 3) {
        memcpy(buf + k, "\x81\xa1" "a", 3);
    }
    expect_fail(buf, n + 1, NULL, "too_deep");
    free(buf);
}

static void test_huge_declared_lengths(void)
{
    struct lca_limits lim = lca_codec_default_limits;

    /* str32 claiming 4 GiB with 5 bytes behind it: over max_str, no allocation. */
    expect_fail(BYTES("\xdb\xff\xff\xff\xff" "abcde"), NULL, "too_large");
    expect_fail(BYTES("\xc6\xff\xff\xff\xff" "abcde"), NULL, "too_large");
    /* With max_str lifted, the declared length is checked against the bytes present. */
    lim.max_str = SIZE_MAX;
    expect_fail(BYTES("\xdb\xff\xff\xff\xff" "abcde"), &lim, "truncated");
    /* array32 / map32 claiming 2^32-1 elements. */
    expect_fail(BYTES("\xdd\xff\xff\xff\xff\x01"), NULL, "truncated");
    expect_fail(BYTES("\xdf\xff\xff\xff\xff\xa1" "a"), NULL, "truncated");
    expect_fail(BYTES("\xdc\xff\xff"), NULL, "truncated");
}

static void test_truncated_every_prefix(void)
{
    struct lca_val *m = nested(0);
    uint8_t *enc = NULL;
    size_t len = 0, k;
    struct lca_err err;

    CU_ASSERT_EQUAL_FATAL(lca_codec_encode(m, &enc, &len, &err), LCA_OK);
    for (k = 0; k < len; k++) {
        expect_fail(enc, k, NULL, "truncated");
    }
    expect_fail(NULL, 0, NULL, "truncated");
    free(enc);
    lca_val_free(m);
}

static void test_limits(void)
{
    struct lca_limits lim = lca_codec_default_limits;

    expect_fail(BYTES("\xc0\xc0"), NULL, "trailing_bytes");
    expect_fail(BYTES("\x81\xa1" "a\x01\x00"), NULL, "trailing_bytes");
    lim.max_items = 3;
    expect_fail(BYTES("\x95\x01\x02\x03\x04\x05"), &lim, "too_many_items");
    lca_val_free(decode_ok(BYTES("\x92\x01\x02"), &lim));
    /* keys count as items: {"a":1} is 3 values */
    lim.max_items = 2;
    expect_fail(BYTES("\x81\xa1" "a\x01"), &lim, "too_many_items");
    lim = lca_codec_default_limits;
    lim.max_bytes = 4;
    expect_fail(BYTES("\xa4" "abcd"), &lim, "too_large");
    lim = lca_codec_default_limits;
    lim.max_str = 3;
    expect_fail(BYTES("\xa4" "abcd"), &lim, "too_large");
    lca_val_free(decode_ok(BYTES("\xa3" "abc"), &lim));
}

static void test_rejected_types(void)
{
    expect_fail(BYTES("\xca\x00\x00\x00\x00"), NULL, "unsupported");
    expect_fail(BYTES("\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00"), NULL, "unsupported");
    expect_fail(BYTES("\xd4\x01\x00"), NULL, "unsupported");
    expect_fail(BYTES("\xc7\x01\x05\x00"), NULL, "unsupported");
    expect_fail(BYTES("\x91\xd6\xff\x00\x00\x00\x00"), NULL, "unsupported"); /* timestamp */
    expect_fail(BYTES("\xc1"), NULL, "bad_msgpack");
    expect_fail(BYTES("\xcf\x80\x00\x00\x00\x00\x00\x00\x00"), NULL, "int_range");
    expect_fail(BYTES("\xcf\xff\xff\xff\xff\xff\xff\xff\xff"), NULL, "int_range");
}

static void test_map_keys(void)
{
    struct lca_val *v;

    expect_fail(BYTES("\x81\x01\x01"), NULL, "bad_key");
    expect_fail(BYTES("\x81\xc4\x01" "a\x01"), NULL, "bad_key"); /* bin key */
    expect_fail(BYTES("\x81\x90\x01"), NULL, "bad_key");         /* array key */
    expect_fail(BYTES("\x81\xa2" "a\x00\x01"), NULL, "bad_key");  /* NUL in key */
    expect_fail(BYTES("\x82\xa1" "a\x01\xa1" "a\x02"), NULL, "duplicate_key");
    expect_fail(BYTES("\x91\x83\xa1" "b\x01\xa1" "a\x02\xa1" "b\x03"), NULL, "duplicate_key");
    /* Wire order is kept, not sorted. */
    v = decode_ok(BYTES("\x83\xa1" "b\x01\xa1" "a\x02\xa2" "ab\x03"), NULL);
    CU_ASSERT_STRING_EQUAL(lca_val_map_key_at(v, 0), "b");
    CU_ASSERT_STRING_EQUAL(lca_val_map_key_at(v, 2), "ab");
    CU_ASSERT_EQUAL(lca_val_map_get_int(v, "ab", 0), 3);
    lca_val_free(v);
    /* Found by fuzz_codec: an empty fixstr key (msgpack-c gives it a NULL pointer). */
    v = decode_ok(BYTES("\x81\xa0\x21"), NULL);
    CU_ASSERT_TRUE(lca_val_ok(v));
    CU_ASSERT_EQUAL(lca_val_map_get_int(v, "", 0), 33);
    expect_encoding(v, BYTES("\x81\xa0\x21"));
    lca_val_free(v);
    /* Values may be str8 keys etc.; empty key is fine. */
    v = decode_ok(BYTES("\x81\xd9\x00\xc0"), NULL);
    CU_ASSERT_EQUAL(lca_val_kind(lca_val_map_get(v, "")), LCA_VAL_NIL);
    CU_ASSERT_PTR_NOT_NULL(lca_val_map_get(v, ""));
    lca_val_free(v);
}

static void test_lenient_forms(void)
{
    struct lca_val *v;
    size_t len = 0;

    /* Non-UTF-8 str bytes are kept as they are. */
    v = decode_ok(BYTES("\xa2\xff\xfe"), NULL);
    CU_ASSERT_EQUAL(lca_val_kind(v), LCA_VAL_STR);
    CU_ASSERT_EQUAL(memcmp(lca_val_str(v), "\xff\xfe", 3), 0);
    lca_val_free(v);
    /* Non-shortest ints decode (the encoder re-canonicalises). */
    v = decode_ok(BYTES("\xcd\x00\x05"), NULL);
    CU_ASSERT_EQUAL(lca_val_int(v), 5);
    lca_val_free(v);
    v = decode_ok(BYTES("\xd3\x00\x00\x00\x00\x00\x00\x00\x07"), NULL);
    CU_ASSERT_EQUAL(lca_val_int(v), 7);
    lca_val_free(v);
    v = decode_ok(BYTES("\xc5\x00\x02\x01\x02"), NULL);
    CU_ASSERT_EQUAL(memcmp(lca_val_bin(v, &len), "\x01\x02", 2), 0);
    CU_ASSERT_EQUAL(len, 2);
    lca_val_free(v);
    v = decode_ok(BYTES("\xc2"), NULL);
    CU_ASSERT_EQUAL(lca_val_kind(v), LCA_VAL_BOOL);
    CU_ASSERT_EQUAL(lca_val_bool(v), 0);
    lca_val_free(v);
}

/* ---- the flat view (lca_codec_decode_flat) ------------------------------------------------ */

/* 1 when item `it` holds what tree value v holds. */
static int item_matches(const struct lca_codec_item *it, const struct lca_val *v)
{
    const uint8_t *b;
    size_t n = 0;

    if (lca_val_kind(v) != it->kind) {
        return 0;
    }
    switch (it->kind) {
    case LCA_VAL_NIL:
        return 1;
    case LCA_VAL_BOOL:
        return lca_val_bool(v) == (int)it->i;
    case LCA_VAL_INT:
        return lca_val_int(v) == it->i;
    case LCA_VAL_STR:
        return lca_val_len(v) == it->n && memcmp(lca_val_str(v), it->p, it->n) == 0;
    case LCA_VAL_BIN:
        b = lca_val_bin(v, &n);
        return n == it->n && (n == 0 || memcmp(b, it->p, n) == 0);
    case LCA_VAL_MAP:
        return lca_val_len(v) == it->n;
    default:
        return 0;
    }
}

/* Items [0, n) against map m, entry for entry in wire order (children of maps included). */
static int items_match_map(const struct lca_codec_item *items, size_t n, const struct lca_val *m)
{
    size_t i = 0, k = 0;

    for (; i < n; k++) {
        const char *key = lca_val_map_key_at(m, k);
        const struct lca_val *v = lca_val_map_val_at(m, k);
        if (key == NULL || strlen(key) != items[i].klen ||
            memcmp(key, items[i].key, items[i].klen) != 0 || !item_matches(&items[i], v)) {
            return 0;
        }
        if (items[i].kind == LCA_VAL_MAP &&
            !items_match_map(items + i + 1, items[i].n, v)) {
            return 0;
        }
        i += 1 + (items[i].kind == LCA_VAL_MAP ? items[i].n : 0);
    }
    return k == lca_val_len(m);
}

/* The flat view's promise, on any input: when it takes buf, the tree decoder accepts buf too
 * and gives the same values. Returns what the flat view said. */
static int flat_agrees(const uint8_t *buf, size_t len, const struct lca_limits *lim)
{
    struct lca_codec_item items[24];
    struct lca_val *v = NULL;
    struct lca_err err;
    size_t n = 0;
    int flat = lca_codec_decode_flat(buf, len, lim, items, 24, &n);
    int tree = lca_codec_decode(buf, len, lim, &v, &err) == LCA_OK;

    if (flat) {
        CU_ASSERT_TRUE(tree);
        CU_ASSERT_TRUE(tree && items_match_map(items, n, v));
    }
    lca_val_free(v);
    return flat;
}

/* {"a": 1, "m": {"s": "xy", "b": bin 01 02, "t": true, "z": nil, "n": -5}, "q": "r"} */
static const uint8_t flat_ok[] = "\x83\xa1" "a\x01\xa1m\x85\xa1s\xa2xy\xa1" "b\xc4\x02\x01\x02"
                                 "\xa1t\xc3\xa1z\xc0\xa1n\xfb\xa1q\xa1r";

static void test_flat_view(void)
{
    struct lca_codec_item items[24];
    size_t n = 0, len = sizeof(flat_ok) - 1, i;
    struct lca_limits small = lca_codec_default_limits;

    CU_ASSERT_TRUE(flat_agrees(flat_ok, len, NULL));
    CU_ASSERT_EQUAL(lca_codec_decode_flat(flat_ok, len, NULL, items, 24, &n), 1);
    CU_ASSERT_EQUAL(n, 8);
    CU_ASSERT_EQUAL(items[1].kind, LCA_VAL_MAP);
    CU_ASSERT_EQUAL(items[1].n, 5);
    CU_ASSERT_EQUAL(items[6].i, -5);
    /* too few items for it, or a value outside the shape: not taken */
    CU_ASSERT_EQUAL(lca_codec_decode_flat(flat_ok, len, NULL, items, 7, &n), 0);
    CU_ASSERT_EQUAL(flat_agrees(BYTES("\x81\xa1" "a\x91\x01"), NULL), 0);           /* arr */
    CU_ASSERT_EQUAL(flat_agrees(BYTES("\x81\xa1" "a\x81\xa1" "b\x81\xa1" "c\x01"), NULL), 0);
    CU_ASSERT_EQUAL(flat_agrees(BYTES("\x91\x01"), NULL), 0);                          /* top arr */
    CU_ASSERT_EQUAL(flat_agrees(BYTES("\x01"), NULL), 0);
    /* what the tree decoder refuses, the flat view refuses */
    CU_ASSERT_EQUAL(flat_agrees(BYTES("\x82\xa1" "a\x01\xa1" "a\x02"), NULL), 0);    /* dup */
    CU_ASSERT_EQUAL(flat_agrees(BYTES("\x81\xa1m\x82\xa1" "a\x01\xa1" "a\x02"), NULL), 0);
    CU_ASSERT_EQUAL(flat_agrees(BYTES("\x81\xa1" "a\x01\x00"), NULL), 0);            /* trailing */
    CU_ASSERT_EQUAL(flat_agrees(BYTES("\x81\xa1" "a\xca\x00\x00\x00\x00"), NULL), 0); /* float */
    CU_ASSERT_EQUAL(flat_agrees(BYTES("\x81\xa1" "a\xc1"), NULL), 0);                /* reserved */
    CU_ASSERT_EQUAL(flat_agrees(BYTES("\x81\xa1" "a\xcf\x80\x00\x00\x00\x00\x00\x00\x00"), NULL),
                    0);                                                                /* > int64 */
    CU_ASSERT_EQUAL(flat_agrees(BYTES("\x81\xa2" "a\x00\x01"), NULL), 0);            /* NUL key */
    CU_ASSERT_EQUAL(flat_agrees(BYTES("\x81\x01\x01"), NULL), 0);                    /* int key */
    CU_ASSERT_EQUAL(flat_agrees(BYTES("\x82\xa1" "a\x01"), NULL), 0);                /* short */
    small.max_str = 1;
    CU_ASSERT_EQUAL(flat_agrees(flat_ok, len, &small), 0); /* "xy" is over max_str */
    small = lca_codec_default_limits;
    small.max_depth = 1;
    CU_ASSERT_EQUAL(flat_agrees(flat_ok, len, &small), 0); /* "m" is at depth 2 */
    small = lca_codec_default_limits;
    small.max_bytes = len - 1;
    CU_ASSERT_EQUAL(flat_agrees(flat_ok, len, &small), 0);
    for (i = 0; i < len; i++) {
        CU_ASSERT_EQUAL(flat_agrees(flat_ok, i, NULL), 0); /* every proper prefix */
    }
}

/* Every int form, canonical or not, reads as the tree decoder reads it. */
static void test_flat_ints(void)
{
    static const struct {
        const char *bytes;
        size_t len;
        int64_t want;
    } v[] = {
        {"\x81\xa1i\x7f", 4, 127},
        {"\x81\xa1i\xe0", 4, -32},
        {"\x81\xa1i\xcc\xff", 5, 255},
        {"\x81\xa1i\xcd\xff\xff", 6, 65535},
        {"\x81\xa1i\xce\xff\xff\xff\xff", 8, 4294967295LL},
        {"\x81\xa1i\xcf\x7f\xff\xff\xff\xff\xff\xff\xff", 12, INT64_MAX},
        {"\x81\xa1i\xd0\x80", 5, -128},
        {"\x81\xa1i\xd0\x7f", 5, 127},
        {"\x81\xa1i\xd1\x80\x00", 6, -32768},
        {"\x81\xa1i\xd1\xff\xfe", 6, -2},
        {"\x81\xa1i\xd2\x80\x00\x00\x00", 8, INT32_MIN},
        {"\x81\xa1i\xd2\x7f\xff\xff\xff", 8, INT32_MAX},
        {"\x81\xa1i\xd3\x80\x00\x00\x00\x00\x00\x00\x00", 12, INT64_MIN},
        {"\x81\xa1i\xd3\xff\xff\xff\xff\xff\xff\xff\xfd", 12, -3},
    };
    struct lca_codec_item items[4];
    size_t i, n = 0;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        const uint8_t *b = (const uint8_t *)v[i].bytes;
        CU_ASSERT_EQUAL(flat_agrees(b, v[i].len, NULL), 1);
        CU_ASSERT_EQUAL(lca_codec_decode_flat(b, v[i].len, NULL, items, 4, &n), 1);
        CU_ASSERT_EQUAL(items[0].i, v[i].want);
    }
}

/* Every single-byte change of a flat value: where the flat view takes the result, the tree
 * decoder does too, with the same values. */
static void test_flat_mutations(void)
{
    uint8_t buf[sizeof(flat_ok)];
    size_t len = sizeof(flat_ok) - 1, i;
    unsigned b;
    int taken = 0;

    for (i = 0; i < len; i++) {
        for (b = 0; b < 256; b++) {
            memcpy(buf, flat_ok, len);
            buf[i] = (uint8_t)b;
            taken += flat_agrees(buf, len, NULL);
        }
    }
    CU_ASSERT_TRUE(taken > (int)len); /* many changes keep the shape (other bytes, ints) */
}

int main(void)
{
    static const struct lca_cu_test tests[] = {
        {"known_answer_map", test_known_answer_map},
        {"shortest_ints", test_shortest_ints},
        {"str_bin_headers", test_str_bin_headers},
        {"key_order_bytewise", test_key_order_bytewise},
        {"canonical_independent_of_order", test_canonical_independent_of_order},
        {"round_trip", test_round_trip},
        {"encode_refuses", test_encode_refuses},
        {"deep_nesting", test_deep_nesting},
        {"huge_declared_lengths", test_huge_declared_lengths},
        {"truncated_every_prefix", test_truncated_every_prefix},
        {"limits", test_limits},
        {"rejected_types", test_rejected_types},
        {"map_keys", test_map_keys},
        {"lenient_forms", test_lenient_forms},
        {"flat_view", test_flat_view},
        {"flat_ints", test_flat_ints},
        {"flat_mutations", test_flat_mutations},
    };

    return LCA_CU_MAIN("codec", NULL, NULL, tests);
}
