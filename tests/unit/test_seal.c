/* Unit tests for engine/seal: known answers, round trips, every tamper, and an independent
 * Python implementation (tests/support/seal_oracle.py) as the oracle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <openssl/crypto.h>

#include "seal.h"

static const uint8_t INFO[] = "command 7d3f0c1e";
#define INFO_LEN (sizeof(INFO) - 1)

static void fill(uint8_t *buf, size_t len, uint8_t start)
{
    size_t i;

    for (i = 0; i < len; i++) {
        buf[i] = (uint8_t)(start + 31 * i);
    }
}

static void to_hex(const uint8_t *in, size_t len, char *out)
{
    size_t i;

    for (i = 0; i < len; i++) {
        snprintf(out + 2 * i, 3, "%02x", in[i]);
    }
    out[2 * len] = '\0';
}

static int from_hex(const char *in, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = strlen(in);
    size_t i;
    unsigned int v;

    while (n > 0 && (in[n - 1] == '\n' || in[n - 1] == '\r')) {
        n--;
    }
    if (n % 2 != 0 || n / 2 > cap) {
        return -1;
    }
    for (i = 0; i < n / 2; i++) {
        if (sscanf(in + 2 * i, "%2x", &v) != 1) {
            return -1;
        }
        out[i] = (uint8_t)v;
    }
    *len = n / 2;
    return 0;
}

/* Fixed recipient and ephemeral keys. */
static void keys(uint8_t rpriv[32], uint8_t rpub[32], uint8_t epriv[32])
{
    struct lca_err err;

    fill(rpriv, 32, 0x42);
    fill(epriv, 32, 0x99);
    CU_ASSERT_FATAL(lca_seal_x25519_pub(rpriv, rpub, &err) == LCA_OK);
}

static void test_rfc7748_vector(void)
{
    /* RFC 7748 section 6.1: Alice's and Bob's keys and their shared secret. */
    static const char *a_priv = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
    static const char *a_pub = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
    static const char *b_priv = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
    static const char *b_pub = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
    uint8_t priv[32];
    uint8_t pub[32];
    char hex[65];
    size_t n;
    struct lca_err err;

    CU_ASSERT_FATAL(from_hex(a_priv, priv, 32, &n) == 0 && n == 32);
    CU_ASSERT_FATAL(lca_seal_x25519_pub(priv, pub, &err) == LCA_OK);
    to_hex(pub, 32, hex);
    CU_ASSERT_STRING_EQUAL(hex, a_pub);
    CU_ASSERT_FATAL(from_hex(b_priv, priv, 32, &n) == 0 && n == 32);
    CU_ASSERT_FATAL(lca_seal_x25519_pub(priv, pub, &err) == LCA_OK);
    to_hex(pub, 32, hex);
    CU_ASSERT_STRING_EQUAL(hex, b_pub);
}

static void test_round_trip(void)
{
    uint8_t rpriv[32], rpub[32], epriv[32], epub[32], pt[300];
    uint8_t *box = NULL, *box2 = NULL, *out = NULL;
    size_t blen = 0, blen2 = 0, olen = 0;
    struct lca_err err;

    keys(rpriv, rpub, epriv);
    fill(pt, sizeof(pt), 7);
    CU_ASSERT_FATAL(lca_seal(rpub, epriv, INFO, INFO_LEN, pt, sizeof(pt), &box, &blen, &err) ==
                    LCA_OK);
    CU_ASSERT_EQUAL(blen, sizeof(pt) + LCA_SEAL_OVERHEAD);
    CU_ASSERT_FATAL(lca_seal_x25519_pub(epriv, epub, &err) == LCA_OK);
    CU_ASSERT_EQUAL(memcmp(box, epub, 32), 0);
    /* The plaintext does not appear in the box. */
    CU_ASSERT_NOT_EQUAL(memcmp(box + 32, pt, 32), 0);
    CU_ASSERT_FATAL(lca_seal_open(rpriv, INFO, INFO_LEN, box, blen, &out, &olen, &err) == LCA_OK);
    CU_ASSERT_EQUAL(olen, sizeof(pt));
    CU_ASSERT_EQUAL(memcmp(out, pt, sizeof(pt)), 0);
    /* Pure: same inputs, same bytes. */
    CU_ASSERT_FATAL(lca_seal(rpub, epriv, INFO, INFO_LEN, pt, sizeof(pt), &box2, &blen2, &err) ==
                    LCA_OK);
    CU_ASSERT(blen2 == blen && memcmp(box, box2, blen) == 0);
    OPENSSL_free(box2);
    box2 = NULL;
    /* Another ephemeral key gives another box. */
    epriv[0] ^= 0x40;
    CU_ASSERT_FATAL(lca_seal(rpub, epriv, INFO, INFO_LEN, pt, sizeof(pt), &box2, &blen2, &err) ==
                    LCA_OK);
    CU_ASSERT(memcmp(box, box2, blen) != 0);
    OPENSSL_clear_free(out, olen);
    OPENSSL_free(box);
    OPENSSL_free(box2);
}

static void test_empty_info(void)
{
    uint8_t rpriv[32], rpub[32], epriv[32], pt[5] = {1, 2, 3, 4, 5};
    uint8_t *box = NULL, *out = NULL;
    size_t blen = 0, olen = 0;
    struct lca_err err;

    keys(rpriv, rpub, epriv);
    CU_ASSERT_FATAL(lca_seal(rpub, epriv, NULL, 0, pt, sizeof(pt), &box, &blen, &err) == LCA_OK);
    CU_ASSERT_FATAL(lca_seal_open(rpriv, NULL, 0, box, blen, &out, &olen, &err) == LCA_OK);
    CU_ASSERT(olen == sizeof(pt) && memcmp(out, pt, olen) == 0);
    OPENSSL_clear_free(out, olen);
    out = NULL;
    /* A box sealed without info does not open with info. */
    CU_ASSERT_EQUAL(lca_seal_open(rpriv, INFO, INFO_LEN, box, blen, &out, &olen, &err), LCA_FAIL);
    CU_ASSERT_PTR_NULL(out);
    OPENSSL_free(box);
}

static void expect_unseal_fail(const uint8_t *rpriv, const uint8_t *info, size_t info_len,
                               const uint8_t *box, size_t blen)
{
    uint8_t *out = NULL;
    size_t olen = 12345;
    struct lca_err err;

    lca_err_clear(&err);
    CU_ASSERT_EQUAL(lca_seal_open(rpriv, info, info_len, box, blen, &out, &olen, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    CU_ASSERT_STRING_EQUAL(err.code, "unseal_failed");
    CU_ASSERT_PTR_NULL(out);
    CU_ASSERT_EQUAL(olen, 12345);
    OPENSSL_clear_free(out, olen);
}

static void test_tamper(void)
{
    uint8_t rpriv[32], rpub[32], epriv[32], pt[40], other[32];
    uint8_t *box = NULL;
    size_t blen = 0, i;
    struct lca_err err;

    keys(rpriv, rpub, epriv);
    fill(pt, sizeof(pt), 3);
    CU_ASSERT_FATAL(lca_seal(rpub, epriv, INFO, INFO_LEN, pt, sizeof(pt), &box, &blen, &err) ==
                    LCA_OK);
    /* Every single-bit flip in eph_pub, ciphertext and tag is caught. */
    for (i = 0; i < blen; i++) {
        box[i] ^= 0x01;
        expect_unseal_fail(rpriv, INFO, INFO_LEN, box, blen);
        box[i] ^= 0x01;
    }
    /* Every truncation, and an extra byte. */
    for (i = 0; i < blen; i++) {
        expect_unseal_fail(rpriv, INFO, INFO_LEN, box, i);
    }
    /* Wrong recipient, wrong info, info one byte shorter. */
    memcpy(other, rpriv, 32);
    other[5] ^= 0x10;
    expect_unseal_fail(other, INFO, INFO_LEN, box, blen);
    expect_unseal_fail(rpriv, (const uint8_t *)"command 7d3f0c1f", INFO_LEN, box, blen);
    expect_unseal_fail(rpriv, INFO, INFO_LEN - 1, box, blen);
    /* eph_pub replaced by a small-order point (u = 0 and u = 1). */
    memset(box, 0, 32);
    expect_unseal_fail(rpriv, INFO, INFO_LEN, box, blen);
    box[0] = 1;
    expect_unseal_fail(rpriv, INFO, INFO_LEN, box, blen);
    expect_unseal_fail(NULL, INFO, INFO_LEN, box, blen);
    expect_unseal_fail(rpriv, INFO, INFO_LEN, NULL, blen);
    OPENSSL_free(box);
}

static void expect_seal_fail(const uint8_t *rpub, const uint8_t *epriv, const uint8_t *info,
                             size_t info_len, const uint8_t *pt, size_t pt_len)
{
    uint8_t *box = NULL;
    size_t blen = 0;
    struct lca_err err;

    lca_err_clear(&err);
    CU_ASSERT_EQUAL(lca_seal(rpub, epriv, info, info_len, pt, pt_len, &box, &blen, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    CU_ASSERT_STRING_EQUAL(err.code, "bad_seal_input");
    CU_ASSERT_PTR_NULL(box);
    OPENSSL_free(box);
}

static void test_bad_seal_input(void)
{
    uint8_t rpriv[32], rpub[32], epriv[32], zero[32] = {0}, one[32] = {1}, pt[4] = {9, 9, 9, 9};
    uint8_t big_info[LCA_SEAL_MAX_INFO + 1];

    keys(rpriv, rpub, epriv);
    memset(big_info, 'i', sizeof(big_info));
    expect_seal_fail(zero, epriv, INFO, INFO_LEN, pt, sizeof(pt)); /* small order, u = 0 */
    expect_seal_fail(one, epriv, INFO, INFO_LEN, pt, sizeof(pt));  /* small order, u = 1 */
    expect_seal_fail(rpub, epriv, INFO, INFO_LEN, pt, 0);
    expect_seal_fail(rpub, epriv, INFO, INFO_LEN, NULL, 4);
    expect_seal_fail(rpub, epriv, NULL, 3, pt, sizeof(pt));
    expect_seal_fail(rpub, epriv, big_info, sizeof(big_info), pt, sizeof(pt));
    expect_seal_fail(rpub, epriv, INFO, INFO_LEN, pt, (size_t)LCA_SEAL_MAX_PT + 1);
    expect_seal_fail(NULL, epriv, INFO, INFO_LEN, pt, sizeof(pt));
    expect_seal_fail(rpub, NULL, INFO, INFO_LEN, pt, sizeof(pt));
}

/* Runs the Python oracle; returns its exit status and its stdout (trimmed) in out. */
static int oracle(const char *args, char *out, size_t cap)
{
    const char *src = getenv("LCA_SOURCE_DIR");
    char *cmd;
    size_t n;
    FILE *p;
    int st;

    out[0] = '\0';
    if (src == NULL) {
        fprintf(stderr, "test_seal: LCA_SOURCE_DIR is not set (run through ctest)\n");
        return -1;
    }
    n = strlen(src) + strlen(args) + 64;
    cmd = malloc(n);
    CU_ASSERT_FATAL(cmd != NULL);
    snprintf(cmd, n, "python3 '%s/tests/support/seal_oracle.py' %s", src, args);
    p = popen(cmd, "r");
    free(cmd);
    if (p == NULL) {
        fprintf(stderr, "test_seal: cannot run python3 (needed for the seal oracle)\n");
        return -1;
    }
    n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    st = pclose(p);
    if (st == 127 << 8) {
        fprintf(stderr, "test_seal: python3 not found: install python3 and "
                        "pip install cryptography\n");
    }
    return st;
}

static void test_python_oracle(void)
{
    uint8_t rpriv[32], rpub[32], epriv[32], pt[200];
    uint8_t *box = NULL, theirs[400];
    size_t blen = 0, tlen = 0, olen = 0;
    char h_priv[65], h_pub[65], h_eph[65], h_info[2 * INFO_LEN + 1], h_pt[401], h_box[801];
    char args[1600], out[1024];
    struct lca_err err;

    keys(rpriv, rpub, epriv);
    fill(pt, sizeof(pt), 0xa5);
    CU_ASSERT_FATAL(lca_seal(rpub, epriv, INFO, INFO_LEN, pt, sizeof(pt), &box, &blen, &err) ==
                    LCA_OK);
    to_hex(rpriv, 32, h_priv);
    to_hex(rpub, 32, h_pub);
    to_hex(epriv, 32, h_eph);
    to_hex(INFO, INFO_LEN, h_info);
    to_hex(pt, sizeof(pt), h_pt);
    to_hex(box, blen, h_box);

    /* Python opens the C box and gets the plaintext back. */
    snprintf(args, sizeof(args), "open %s %s %s", h_priv, h_info, h_box);
    CU_ASSERT_EQUAL_FATAL(oracle(args, out, sizeof(out)), 0);
    CU_ASSERT_FATAL(from_hex(out, theirs, sizeof(theirs), &olen) == 0);
    CU_ASSERT(olen == sizeof(pt) && memcmp(theirs, pt, sizeof(pt)) == 0);

    /* Python seals with the same ephemeral key: byte-identical box. */
    snprintf(args, sizeof(args), "seal %s %s %s %s", h_pub, h_eph, h_info, h_pt);
    CU_ASSERT_EQUAL_FATAL(oracle(args, out, sizeof(out)), 0);
    CU_ASSERT_FATAL(from_hex(out, theirs, sizeof(theirs), &tlen) == 0);
    CU_ASSERT(tlen == blen && memcmp(theirs, box, blen) == 0);

    /* The oracle itself refuses a tampered box (so its success above means something). */
    h_box[100] = h_box[100] == '0' ? '1' : '0';
    snprintf(args, sizeof(args), "open %s %s %s 2>/dev/null", h_priv, h_info, h_box);
    CU_ASSERT_EQUAL(oracle(args, out, sizeof(out)), 1 << 8);
    OPENSSL_free(box);
}

int main(void)
{
    CU_pSuite s;
    unsigned int failures;

    if (CU_initialize_registry() != CUE_SUCCESS) {
        return 1;
    }
    s = CU_add_suite("seal", NULL, NULL);
    if (s == NULL || CU_add_test(s, "rfc7748_vector", test_rfc7748_vector) == NULL ||
        CU_add_test(s, "round_trip", test_round_trip) == NULL ||
        CU_add_test(s, "empty_info", test_empty_info) == NULL ||
        CU_add_test(s, "tamper", test_tamper) == NULL ||
        CU_add_test(s, "bad_seal_input", test_bad_seal_input) == NULL ||
        CU_add_test(s, "python_oracle", test_python_oracle) == NULL) {
        CU_cleanup_registry();
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures == 0 ? 0 : 1;
}
