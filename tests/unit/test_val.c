/*
 * test_val — the value model: builders, ownership, sticky broken flag, NULL-safety,
 * equality, clone and the typed map lookups.
 */
#include <CUnit/Basic.h>
#include <stdint.h>
#include <string.h>

#include "curun.h"
#include "val.h"

static void test_scalars(void)
{
    struct lca_val *n = lca_val_new_nil();
    struct lca_val *b = lca_val_new_bool(7);
    struct lca_val *i = lca_val_new_int(INT64_MIN);
    struct lca_val *s = lca_val_new_str("hello");
    struct lca_val *z = lca_val_new_strn("a\0b", 3);
    struct lca_val *bin = lca_val_new_bin("\x00\x01\x02", 3);
    size_t len = 99;

    CU_ASSERT_EQUAL(lca_val_kind(n), LCA_VAL_NIL);
    CU_ASSERT_EQUAL(lca_val_kind(b), LCA_VAL_BOOL);
    CU_ASSERT_EQUAL(lca_val_bool(b), 1);
    CU_ASSERT_EQUAL(lca_val_int(i), INT64_MIN);
    CU_ASSERT_STRING_EQUAL(lca_val_str(s), "hello");
    CU_ASSERT_EQUAL(lca_val_len(s), 5);
    CU_ASSERT_EQUAL(lca_val_len(z), 3);
    CU_ASSERT_EQUAL(memcmp(lca_val_str(z), "a\0b", 4), 0); /* NUL-terminated too */
    CU_ASSERT_EQUAL(memcmp(lca_val_bin(bin, &len), "\x00\x01\x02", 3), 0);
    CU_ASSERT_EQUAL(len, 3);
    /* Wrong kind gives 0 / NULL. */
    CU_ASSERT_EQUAL(lca_val_int(s), 0);
    CU_ASSERT_PTR_NULL(lca_val_str(bin));
    CU_ASSERT_PTR_NULL(lca_val_bin(s, &len));
    CU_ASSERT_EQUAL(len, 0);
    CU_ASSERT_EQUAL(lca_val_bool(i), 0);
    CU_ASSERT_EQUAL(lca_val_len(i), 0);
    CU_ASSERT_TRUE(lca_val_ok(s));
    lca_val_free(n);
    lca_val_free(b);
    lca_val_free(i);
    lca_val_free(s);
    lca_val_free(z);
    lca_val_free(bin);
}

static void test_null_safety(void)
{
    size_t len = 5;

    lca_val_free(NULL);
    CU_ASSERT_PTR_NULL(lca_val_clone(NULL));
    CU_ASSERT_EQUAL(lca_val_ok(NULL), 0);
    CU_ASSERT_EQUAL(lca_val_kind(NULL), LCA_VAL_NIL);
    CU_ASSERT_EQUAL(lca_val_len(NULL), 0);
    CU_ASSERT_PTR_NULL(lca_val_str(NULL));
    CU_ASSERT_PTR_NULL(lca_val_bin(NULL, &len));
    CU_ASSERT_PTR_NULL(lca_val_arr_at(NULL, 0));
    CU_ASSERT_PTR_NULL(lca_val_map_get(NULL, "k"));
    CU_ASSERT_PTR_NULL(lca_val_map_key_at(NULL, 0));
    CU_ASSERT_PTR_NULL(lca_val_map_val_at(NULL, 0));
    CU_ASSERT_EQUAL(lca_val_map_get_int(NULL, "k", 42), 42);
    CU_ASSERT_EQUAL(lca_val_map_get_bool(NULL, "k", 1), 1);
    CU_ASSERT_PTR_NULL(lca_val_new_str(NULL));
    CU_ASSERT_PTR_NULL(lca_val_new_bin(NULL, 3));
    CU_ASSERT_TRUE(lca_val_equal(NULL, NULL));
    /* Children handed to a NULL container are freed (ASan would report a leak). */
    lca_val_arr_push(NULL, lca_val_new_str("leak?"));
    lca_val_map_set(NULL, "k", lca_val_new_str("leak?"));
    lca_val_map_del(NULL, "k");
}

static void test_empty_bytes(void)
{
    struct lca_val *e = lca_val_new_bin(NULL, 0);
    struct lca_val *s = lca_val_new_strn(NULL, 0);
    size_t len = 9;

    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_PTR_NOT_NULL(lca_val_bin(e, &len));
    CU_ASSERT_EQUAL(len, 0);
    CU_ASSERT_STRING_EQUAL(lca_val_str(s), "");
    lca_val_free(e);
    lca_val_free(s);
}

static void test_array(void)
{
    struct lca_val *a = lca_val_new_arr();
    int k;

    for (k = 0; k < 100; k++) {
        lca_val_arr_push(a, lca_val_new_int(k));
    }
    CU_ASSERT_EQUAL(lca_val_len(a), 100);
    CU_ASSERT_EQUAL(lca_val_int(lca_val_arr_at(a, 0)), 0);
    CU_ASSERT_EQUAL(lca_val_int(lca_val_arr_at(a, 99)), 99);
    CU_ASSERT_PTR_NULL(lca_val_arr_at(a, 100));
    CU_ASSERT_TRUE(lca_val_ok(a));
    lca_val_free(a);
}

static void test_map_order_replace_del(void)
{
    struct lca_val *m = lca_val_new_map();

    lca_val_map_set_str(m, "zeta", "z");
    lca_val_map_set_int(m, "alpha", 1);
    lca_val_map_set_bool(m, "mid", 1);
    lca_val_map_set_bin(m, "raw", "\xff", 1);
    CU_ASSERT_EQUAL(lca_val_len(m), 4);
    CU_ASSERT_STRING_EQUAL(lca_val_map_key_at(m, 0), "zeta");
    CU_ASSERT_STRING_EQUAL(lca_val_map_key_at(m, 1), "alpha");
    CU_ASSERT_STRING_EQUAL(lca_val_map_key_at(m, 3), "raw");
    CU_ASSERT_PTR_NULL(lca_val_map_key_at(m, 4));
    /* set replaces in place, keeping the position. */
    lca_val_map_set_int(m, "zeta", 5);
    CU_ASSERT_EQUAL(lca_val_len(m), 4);
    CU_ASSERT_STRING_EQUAL(lca_val_map_key_at(m, 0), "zeta");
    CU_ASSERT_EQUAL(lca_val_int(lca_val_map_val_at(m, 0)), 5);
    lca_val_map_del(m, "alpha");
    lca_val_map_del(m, "absent");
    CU_ASSERT_EQUAL(lca_val_len(m), 3);
    CU_ASSERT_STRING_EQUAL(lca_val_map_key_at(m, 1), "mid");
    CU_ASSERT_PTR_NULL(lca_val_map_get(m, "alpha"));
    CU_ASSERT_TRUE(lca_val_ok(m));
    {
        struct lca_val *taken = lca_val_map_take(m, "mid");

        CU_ASSERT_EQUAL(lca_val_bool(taken), 1);
        CU_ASSERT_EQUAL(lca_val_len(m), 2);
        CU_ASSERT_STRING_EQUAL(lca_val_map_key_at(m, 1), "raw");
        CU_ASSERT_PTR_NULL(lca_val_map_take(m, "mid"));
        CU_ASSERT_PTR_NULL(lca_val_map_take(NULL, "mid"));
        lca_val_free(taken);
    }
    lca_val_free(m);
}

static void test_typed_lookups(void)
{
    struct lca_val *m = lca_val_new_map();
    size_t len = 0;

    lca_val_map_set_int(m, "i", -12);
    lca_val_map_set_str(m, "si", "8760");
    lca_val_map_set_str(m, "neg", "-9223372036854775808");
    lca_val_map_set_str(m, "over", "9223372036854775808");
    lca_val_map_set_str(m, "junk", "87h");
    lca_val_map_set_str(m, "dash", "-");
    lca_val_map_set_str(m, "t", "true");
    lca_val_map_set_str(m, "f", "false");
    lca_val_map_set_str(m, "T", "TRUE");
    lca_val_map_set_bool(m, "b", 1);
    lca_val_map_set_bin(m, "bin", "ab", 2);
    CU_ASSERT_EQUAL(lca_val_map_get_int(m, "i", 0), -12);
    CU_ASSERT_EQUAL(lca_val_map_get_int(m, "si", 0), 8760);
    CU_ASSERT_EQUAL(lca_val_map_get_int(m, "neg", 0), INT64_MIN);
    CU_ASSERT_EQUAL(lca_val_map_get_int(m, "over", 7), 7);
    CU_ASSERT_EQUAL(lca_val_map_get_int(m, "junk", 7), 7);
    CU_ASSERT_EQUAL(lca_val_map_get_int(m, "dash", 7), 7);
    CU_ASSERT_EQUAL(lca_val_map_get_int(m, "b", 7), 7);
    CU_ASSERT_EQUAL(lca_val_map_get_int(m, "absent", 7), 7);
    CU_ASSERT_EQUAL(lca_val_map_get_bool(m, "t", 0), 1);
    CU_ASSERT_EQUAL(lca_val_map_get_bool(m, "f", 1), 0);
    CU_ASSERT_EQUAL(lca_val_map_get_bool(m, "T", 0), 0);
    CU_ASSERT_EQUAL(lca_val_map_get_bool(m, "b", 0), 1);
    CU_ASSERT_EQUAL(lca_val_map_get_bool(m, "i", 0), 0);
    CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(m, "t"), "true");
    CU_ASSERT_PTR_NULL(lca_val_map_get_str(m, "i"));
    CU_ASSERT_EQUAL(memcmp(lca_val_map_get_bin(m, "bin", &len), "ab", 2), 0);
    CU_ASSERT_EQUAL(len, 2);
    CU_ASSERT_PTR_NULL(lca_val_map_get_bin(m, "t", &len));
    lca_val_free(m);
}

static void test_broken_is_sticky(void)
{
    struct lca_val *root = lca_val_new_map();
    struct lca_val *inner = lca_val_new_arr();
    struct lca_val *s = lca_val_new_str("x");

    lca_val_arr_push(inner, lca_val_new_int(1));
    lca_val_arr_push(inner, NULL); /* a failed constructor */
    lca_val_map_set(root, "inner", inner);
    lca_val_map_set_int(root, "after", 2);
    CU_ASSERT_EQUAL(lca_val_ok(root), 0);
    CU_ASSERT_PTR_NULL(lca_val_clone(root));
    /* Deleting the broken child makes the parent fine again: the flag lives on the node. */
    lca_val_map_del(root, "inner");
    CU_ASSERT_EQUAL(lca_val_ok(root), 1);
    lca_val_map_set_str(root, "nullstr", NULL);
    CU_ASSERT_EQUAL(lca_val_ok(root), 0);
    lca_val_map_set_int(root, "later", 3); /* still broken after a successful set */
    CU_ASSERT_EQUAL(lca_val_ok(root), 0);
    /* Wrong container kind: the child is freed and the node broken. */
    lca_val_arr_push(s, lca_val_new_int(1));
    lca_val_map_set(s, "k", lca_val_new_int(1));
    CU_ASSERT_EQUAL(lca_val_ok(s), 0);
    lca_val_free(s);
    lca_val_free(root);
}

static void test_map_append(void)
{
    struct lca_val *m = lca_val_new_map();
    struct lca_val *s = lca_val_new_str("x");

    lca_val_map_append(m, "keyXX", 3, lca_val_new_int(1)); /* only "key" is copied */
    lca_val_map_append(m, "", 0, lca_val_new_int(2));
    CU_ASSERT_EQUAL(lca_val_len(m), 2);
    CU_ASSERT_EQUAL(lca_val_map_get_int(m, "key", 0), 1);
    CU_ASSERT_EQUAL(lca_val_map_get_int(m, "", 0), 2);
    CU_ASSERT_TRUE(lca_val_ok(m));
    lca_val_map_append(m, "a\0b", 3, lca_val_new_int(3)); /* NUL in key */
    CU_ASSERT_EQUAL(lca_val_len(m), 2);
    CU_ASSERT_FALSE(lca_val_ok(m));
    lca_val_map_append(s, "k", 1, lca_val_new_int(1)); /* not a map */
    CU_ASSERT_FALSE(lca_val_ok(s));
    lca_val_map_append(NULL, "k", 1, lca_val_new_int(1));
    lca_val_free(m);
    lca_val_free(s);
}

static struct lca_val *build_sample(int reversed)
{
    struct lca_val *m = lca_val_new_map();
    struct lca_val *a = lca_val_new_arr();

    lca_val_arr_push(a, lca_val_new_str("x"));
    lca_val_arr_push(a, lca_val_new_nil());
    if (reversed) {
        lca_val_map_set(m, "list", a);
        lca_val_map_set_bin(m, "b", "\x01\x02", 2);
        lca_val_map_set_int(m, "n", 3);
    } else {
        lca_val_map_set_int(m, "n", 3);
        lca_val_map_set_bin(m, "b", "\x01\x02", 2);
        lca_val_map_set(m, "list", a);
    }
    return m;
}

static void test_equal_and_clone(void)
{
    struct lca_val *a = build_sample(0);
    struct lca_val *b = build_sample(1);
    struct lca_val *c = lca_val_clone(a);
    struct lca_val *s1 = lca_val_new_str("ab");
    struct lca_val *b1 = lca_val_new_bin("ab", 2);

    CU_ASSERT_TRUE(lca_val_equal(a, b)); /* map order ignored */
    CU_ASSERT_TRUE(lca_val_equal(a, c));
    CU_ASSERT_STRING_EQUAL(lca_val_map_key_at(c, 0), "n"); /* clone keeps order */
    CU_ASSERT_FALSE(lca_val_equal(s1, b1));               /* str != bin */
    lca_val_map_set_int(c, "n", 4);
    CU_ASSERT_FALSE(lca_val_equal(a, c));
    lca_val_map_set_int(c, "n", 3);
    lca_val_map_set_int(c, "extra", 0);
    CU_ASSERT_FALSE(lca_val_equal(a, c));
    CU_ASSERT_FALSE(lca_val_equal(c, a));
    CU_ASSERT_FALSE(lca_val_equal(a, NULL));
    /* The clone is independent: freeing the original leaves it usable. */
    lca_val_free(a);
    CU_ASSERT_STRING_EQUAL(lca_val_str(lca_val_arr_at(lca_val_map_get(c, "list"), 0)), "x");
    lca_val_free(b);
    lca_val_free(c);
    lca_val_free(s1);
    lca_val_free(b1);
}

int main(void)
{
    static const struct lca_cu_test tests[] = {
        {"scalars", test_scalars},
        {"null_safety", test_null_safety},
        {"empty_bytes", test_empty_bytes},
        {"array", test_array},
        {"map_order_replace_del", test_map_order_replace_del},
        {"typed_lookups", test_typed_lookups},
        {"broken_is_sticky", test_broken_is_sticky},
        {"map_append", test_map_append},
        {"equal_and_clone", test_equal_and_clone},
    };

    return LCA_CU_MAIN("val", NULL, NULL, tests);
}
