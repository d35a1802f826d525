/*
 * test_certsig — the audit's DER-walk signature check (workers/certsig.h) against certificates
 * made by OpenSSL's own X509 builder (tests/support/pkix.h), for every issuer algorithm:
 * accepted exactly when X509_verify accepts and the serial matches; negative cases: another
 * issuer key, a flipped signature bit, a flipped TBS bit, another serial, truncation, trailing
 * bytes, a non-minimal length, and an algorithm outside the fast path (ECDSA with SHA-512).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/Basic.h>
#include <openssl/x509.h>

#include "certsig.h"
#include "pkix.h"

static uint8_t *der_of(X509 *x, size_t *len)
{
    unsigned char *d = NULL;
    int n = i2d_X509(x, &d);

    CU_ASSERT_FATAL(n > 0);
    *len = (size_t)n;
    return d;
}

static void one_alg(enum lca_pkix_alg alg)
{
    int64_t now = (int64_t)time(NULL);
    EVP_PKEY *ik = lca_pkix_key(alg), *other = lca_pkix_key(alg), *lk = lca_pkix_key(LCA_PKIX_P256);
    X509 *ca = lca_pkix_cert(&(struct lca_pkix_spec){.cn = "ca", .key = ik, .is_ca = 1,
                                                     .serial = 1, .not_before = now - 60,
                                                     .not_after = now + 3600});
    X509 *leaf = lca_pkix_cert(&(struct lca_pkix_spec){
        .cn = "leaf.example", .key = lk, .issuer = ca, .issuer_key = ik, .serial = 0x0102a0ff,
        .not_before = now - 60, .not_after = now + 3600});
    const uint8_t ser[] = {0x00, 0x01, 0x02, 0xa0, 0xff}, bad[] = {0x01, 0x02, 0xa0, 0xfe};
    size_t len = 0;
    uint8_t *d = der_of(leaf, &len), *c = malloc(len + 1);

    CU_ASSERT_EQUAL(X509_verify(leaf, ik), 1);
    CU_ASSERT_EQUAL(lca_certsig_verify(d, len, ik, ser, sizeof(ser)), LCA_CERTSIG_OK);
    CU_ASSERT_EQUAL(lca_certsig_verify(d, len, ik, ser + 1, sizeof(ser) - 1), LCA_CERTSIG_OK);
    CU_ASSERT_EQUAL(lca_certsig_verify(d, len, other, ser, sizeof(ser)), LCA_CERTSIG_BAD_SIG);
    CU_ASSERT_EQUAL(lca_certsig_verify(d, len, ik, bad, sizeof(bad)), LCA_CERTSIG_SERIAL);
    memcpy(c, d, len);
    c[len - 3] ^= 0x01; /* inside the signature */
    CU_ASSERT_NOT_EQUAL(lca_certsig_verify(c, len, ik, ser, sizeof(ser)), LCA_CERTSIG_OK);
    memcpy(c, d, len);
    c[len / 2] ^= 0x01; /* inside the TBS (an extension or the key) */
    CU_ASSERT_NOT_EQUAL(lca_certsig_verify(c, len, ik, ser, sizeof(ser)), LCA_CERTSIG_OK);
    CU_ASSERT_EQUAL(lca_certsig_verify(d, len - 1, ik, ser, sizeof(ser)), LCA_CERTSIG_BAD_DER);
    memcpy(c, d, len);
    c[len] = 0;
    CU_ASSERT_EQUAL(lca_certsig_verify(c, len + 1, ik, ser, sizeof(ser)), LCA_CERTSIG_BAD_DER);
    CU_ASSERT_EQUAL(lca_certsig_verify(d, 1, ik, ser, sizeof(ser)), LCA_CERTSIG_BAD_DER);
    CU_ASSERT_EQUAL(lca_certsig_verify(NULL, 0, ik, ser, sizeof(ser)), LCA_CERTSIG_BAD_DER);
    free(c);
    OPENSSL_free(d);
    X509_free(leaf);
    X509_free(ca);
    EVP_PKEY_free(ik);
    EVP_PKEY_free(other);
    EVP_PKEY_free(lk);
}

static void test_p256(void) { one_alg(LCA_PKIX_P256); }
static void test_p384(void) { one_alg(LCA_PKIX_P384); }
static void test_rsa(void) { one_alg(LCA_PKIX_RSA2048); }
static void test_ed25519(void) { one_alg(LCA_PKIX_ED25519); }

/* A long-form length where the short form fits is not DER. */
static void test_non_minimal(void)
{
    const uint8_t d[] = {0x30, 0x81, 0x03, 0x30, 0x01, 0x00};
    EVP_PKEY *k = lca_pkix_key(LCA_PKIX_P256);

    CU_ASSERT_EQUAL(lca_certsig_verify(d, sizeof(d), k, d, 1), LCA_CERTSIG_BAD_DER);
    EVP_PKEY_free(k);
}

/* ECDSA with SHA-512: valid, but not what ledgerca writes: the caller's full path decides. */
static void test_other_alg(void)
{
    int64_t now = (int64_t)time(NULL);
    EVP_PKEY *ik = lca_pkix_key(LCA_PKIX_P256);
    X509 *ca = lca_pkix_cert(&(struct lca_pkix_spec){.cn = "ca", .key = ik, .is_ca = 1,
                                                     .serial = 7, .not_before = now - 60,
                                                     .not_after = now + 3600});
    const uint8_t ser[] = {0x07};
    size_t len = 0;
    uint8_t *d;

    CU_ASSERT_FATAL(X509_sign(ca, ik, EVP_sha512()) > 0);
    d = der_of(ca, &len);
    CU_ASSERT_EQUAL(X509_verify(ca, ik), 1);
    CU_ASSERT_EQUAL(lca_certsig_verify(d, len, ik, ser, 1), LCA_CERTSIG_OTHER);
    OPENSSL_free(d);
    X509_free(ca);
    EVP_PKEY_free(ik);
}

int main(void)
{
    CU_pSuite s;
    unsigned f;

    if (CU_initialize_registry() != CUE_SUCCESS) {
        return 1;
    }
    s = CU_add_suite("certsig", NULL, NULL);
    CU_add_test(s, "P-256 issuer", test_p256);
    CU_add_test(s, "P-384 issuer", test_p384);
    CU_add_test(s, "RSA issuer", test_rsa);
    CU_add_test(s, "Ed25519 issuer", test_ed25519);
    CU_add_test(s, "non-minimal length", test_non_minimal);
    CU_add_test(s, "another algorithm falls back", test_other_alg);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    f = CU_get_number_of_failures();
    CU_cleanup_registry();
    return f == 0 ? 0 : 1;
}
