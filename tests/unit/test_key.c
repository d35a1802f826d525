/* Unit tests for engine/key: spec policy, generation, weak-key refusal, key ids (checked
 * against the openssl command line), PEM/DER round trips, and AES-GCM wrapping. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "curun.h"
#include "key.h"

static const uint8_t KEK[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t NONCE[12] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5,
                                  0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab};

/* Keys generated once per run (RSA generation is slow). */
static EVP_PKEY *g_keys[4];
static const struct lca_keyspec g_specs[4] = {
    {LCA_KEY_EC, 256}, {LCA_KEY_EC, 384}, {LCA_KEY_RSA, 2048}, {LCA_KEY_ED25519, 0}};

static int suite_init(void)
{
    struct lca_err err;
    size_t i;

    for (i = 0; i < 4; i++) {
        if (lca_key_generate(&g_specs[i], &g_keys[i], &err) != LCA_OK) {
            fprintf(stderr, "keygen %zu: %s\n", i, err.msg);
            return 1;
        }
    }
    return 0;
}

static int suite_clean(void)
{
    size_t i;

    for (i = 0; i < 4; i++) {
        EVP_PKEY_free(g_keys[i]);
    }
    return 0;
}

static void expect_err(struct lca_err *err, const char *code)
{
    CU_ASSERT_EQUAL(err->cls, LCA_ERR_BAD_INPUT);
    CU_ASSERT_STRING_EQUAL(err->code, code);
    CU_ASSERT(err->msg[0] != '\0');
}

static void test_spec_parse_ok(void)
{
    static const struct {
        const char *type;
        int bits;
        enum lca_key_type want_type;
        int want_bits;
    } ok[] = {{"ec", 0, LCA_KEY_EC, 256},      {"ec", 256, LCA_KEY_EC, 256},
              {"ec", 384, LCA_KEY_EC, 384},    {"rsa", 0, LCA_KEY_RSA, 2048},
              {"rsa", 2048, LCA_KEY_RSA, 2048}, {"rsa", 3072, LCA_KEY_RSA, 3072},
              {"rsa", 4096, LCA_KEY_RSA, 4096}, {"ed25519", 0, LCA_KEY_ED25519, 0}};
    struct lca_keyspec s;
    struct lca_err err;
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        s.type = 0;
        s.bits = -1;
        CU_ASSERT_EQUAL(lca_key_spec_parse(ok[i].type, ok[i].bits, &s, &err), LCA_OK);
        CU_ASSERT_EQUAL(s.type, ok[i].want_type);
        CU_ASSERT_EQUAL(s.bits, ok[i].want_bits);
    }
}

static void test_spec_parse_bad(void)
{
    static const struct {
        const char *type;
        int bits;
    } bad[] = {{"ec", 224},  {"ec", 521},   {"ec", 255},     {"ec", -256},  {"rsa", 1024},
               {"rsa", 1536}, {"rsa", 2047}, {"rsa", 8192},   {"rsa", -1},   {"dsa", 2048},
               {"dsa", 0},   {"EC", 256},   {"ed25519", 256}, {"ed448", 0},  {"", 0},
               {"x25519", 0}, {NULL, 0}};
    struct lca_keyspec s = {LCA_KEY_EC, 12345};
    struct lca_err err;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lca_err_clear(&err);
        CU_ASSERT_EQUAL(lca_key_spec_parse(bad[i].type, bad[i].bits, &s, &err), LCA_FAIL);
        expect_err(&err, "bad_key_spec");
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "accepted: ec (256, 384), rsa"));
        CU_ASSERT_EQUAL(s.bits, 12345); /* untouched */
    }
}

static void test_generate_bad_spec(void)
{
    static const struct lca_keyspec bad[] = {{LCA_KEY_RSA, 1024}, {LCA_KEY_RSA, 8192},
                                             {LCA_KEY_EC, 521},   {LCA_KEY_EC, 0},
                                             {LCA_KEY_ED25519, 1}, {(enum lca_key_type)99, 0}};
    EVP_PKEY *k = NULL;
    struct lca_err err;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CU_ASSERT_EQUAL(lca_key_generate(&bad[i], &k, &err), LCA_FAIL);
        expect_err(&err, "bad_key_spec");
        CU_ASSERT_PTR_NULL(k);
    }
    CU_ASSERT_EQUAL(lca_key_generate(NULL, &k, &err), LCA_FAIL);
}

static void test_generated_keys(void)
{
    struct lca_keyspec s;
    struct lca_err err;
    size_t i;

    for (i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(lca_key_check(g_keys[i], &err), LCA_OK);
        CU_ASSERT_EQUAL(lca_key_spec_of(g_keys[i], &s, &err), LCA_OK);
        CU_ASSERT_EQUAL(s.type, g_specs[i].type);
        CU_ASSERT_EQUAL(s.bits, g_specs[i].bits);
    }
    CU_ASSERT_EQUAL(EVP_PKEY_is_a(g_keys[0], "EC"), 1);
    CU_ASSERT_EQUAL(EVP_PKEY_is_a(g_keys[2], "RSA"), 1);
    CU_ASSERT_EQUAL(EVP_PKEY_get_bits(g_keys[2]), 2048);
    CU_ASSERT_EQUAL(EVP_PKEY_is_a(g_keys[3], "ED25519"), 1);
}

/* An RSA public key with a modulus of `bits` bits (no generation: n need not be a product of
 * primes for a size check). */
static EVP_PKEY *fake_rsa_public(int bits)
{
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    BIGNUM *n = BN_new();
    BIGNUM *e = BN_new();
    EVP_PKEY *k = NULL;

    if (b != NULL && ctx != NULL && n != NULL && e != NULL && BN_set_bit(n, bits - 1) == 1 &&
        BN_set_bit(n, 0) == 1 && BN_set_word(e, 65537) == 1 &&
        OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
        OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, e) == 1 &&
        (params = OSSL_PARAM_BLD_to_param(b)) != NULL && EVP_PKEY_fromdata_init(ctx) == 1) {
        if (EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) != 1) {
            k = NULL;
        }
    }
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(b);
    EVP_PKEY_CTX_free(ctx);
    BN_free(n);
    BN_free(e);
    return k;
}

static void expect_weak(EVP_PKEY *k, const char *what)
{
    struct lca_keyspec s = {LCA_KEY_EC, 777};
    struct lca_err err;

    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    lca_err_clear(&err);
    CU_ASSERT_EQUAL(lca_key_check(k, &err), LCA_FAIL);
    expect_err(&err, "weak_key");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, what));
    CU_ASSERT_EQUAL(lca_key_spec_of(k, &s, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(s.bits, 777);
    EVP_PKEY_free(k);
}

static void test_weak_keys_refused(void)
{
    EVP_PKEY *k;
    struct lca_err err;

    expect_weak(EVP_RSA_gen(1024), "1024");
    expect_weak(EVP_EC_gen("P-224"), "secp224r1");
    expect_weak(EVP_EC_gen("P-521"), "secp521r1");
    expect_weak(EVP_EC_gen("secp256k1"), "secp256k1"); /* 256 bits, but not P-256 */
    expect_weak(EVP_PKEY_Q_keygen(NULL, NULL, "X25519"), "X25519");
    expect_weak(EVP_PKEY_Q_keygen(NULL, NULL, "ED448"), "ED448");
    expect_weak(fake_rsa_public(8200), "8200");
    expect_weak(fake_rsa_public(2040), "2040");
    /* The bounds themselves are accepted. */
    k = fake_rsa_public(8192);
    CU_ASSERT_EQUAL(lca_key_check(k, &err), LCA_OK);
    EVP_PKEY_free(k);
    CU_ASSERT_EQUAL(lca_key_check(NULL, &err), LCA_FAIL);
}

/* Key id of the PEM private key in path, by the openssl command line (independent oracle). */
static int cli_key_id(const char *path, char out[LCA_KEY_ID_LEN + 1])
{
    char cmd[512];
    FILE *p;
    size_t n;

    snprintf(cmd, sizeof(cmd),
             "openssl pkey -in '%s' -pubout -outform DER | openssl dgst -sha256 -r", path);
    p = popen(cmd, "r");
    if (p == NULL) {
        return -1;
    }
    n = fread(out, 1, LCA_KEY_ID_LEN, p);
    out[n] = '\0';
    return pclose(p) == 0 && n == LCA_KEY_ID_LEN ? 0 : -1;
}

static void test_key_id(void)
{
    char id[LCA_KEY_ID_LEN + 1], id2[LCA_KEY_ID_LEN + 1], cli[LCA_KEY_ID_LEN + 1];
    char path[] = "/tmp/lca_test_key_XXXXXX";
    char *pem = NULL;
    uint8_t *der = NULL;
    size_t pemlen = 0, derlen = 0, i, j;
    struct lca_err err;
    FILE *f;
    int fd;

    for (i = 0; i < 4; i++) {
        CU_ASSERT_FATAL(lca_key_id(g_keys[i], id, &err) == LCA_OK);
        CU_ASSERT_EQUAL(strlen(id), LCA_KEY_ID_LEN);
        CU_ASSERT_EQUAL(strspn(id, "0123456789abcdef"), LCA_KEY_ID_LEN);
        CU_ASSERT_FATAL(lca_key_spki_der(g_keys[i], &der, &derlen, &err) == LCA_OK);
        CU_ASSERT_EQUAL(lca_key_id_spki(der, derlen, id2), LCA_OK);
        CU_ASSERT_STRING_EQUAL(id, id2);
        OPENSSL_free(der);
        der = NULL;
        /* Same id as `openssl pkey -pubout -outform DER | openssl dgst -sha256`. */
        CU_ASSERT_FATAL(lca_key_private_to_pem(g_keys[i], &pem, &pemlen, &err) == LCA_OK);
        fd = mkstemp(path);
        CU_ASSERT_FATAL(fd >= 0);
        f = fdopen(fd, "w");
        CU_ASSERT_FATAL(f != NULL);
        CU_ASSERT_EQUAL(fwrite(pem, 1, pemlen, f), pemlen);
        fclose(f);
        CU_ASSERT_EQUAL(cli_key_id(path, cli), 0);
        CU_ASSERT_STRING_EQUAL(id, cli);
        unlink(path);
        strcpy(path, "/tmp/lca_test_key_XXXXXX");
        lca_key_pem_free(pem, pemlen);
        pem = NULL;
        /* Distinct keys, distinct ids. */
        for (j = 0; j < i; j++) {
            CU_ASSERT_EQUAL(lca_key_id(g_keys[j], id2, &err), LCA_OK);
            CU_ASSERT_STRING_NOT_EQUAL(id, id2);
        }
    }
    CU_ASSERT_EQUAL(lca_key_id_spki(NULL, 3, id), LCA_FAIL);
    CU_ASSERT_EQUAL(lca_key_id_spki((const uint8_t *)"x", 0, id), LCA_FAIL);
}

static void test_private_pem_round_trip(void)
{
    EVP_PKEY *back = NULL;
    char *pem = NULL;
    size_t len = 0, i;
    struct lca_err err;

    for (i = 0; i < 4; i++) {
        CU_ASSERT_FATAL(lca_key_private_to_pem(g_keys[i], &pem, &len, &err) == LCA_OK);
        CU_ASSERT_EQUAL(strlen(pem), len);
        CU_ASSERT_EQUAL(strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28), 0);
        CU_ASSERT_FATAL(lca_key_private_from_pem(pem, len, &back, &err) == LCA_OK);
        CU_ASSERT_EQUAL(EVP_PKEY_eq(back, g_keys[i]), 1);
        /* Private halves match too: same PKCS#8 PEM again. */
        {
            char *pem2 = NULL;
            size_t len2 = 0;

            CU_ASSERT_FATAL(lca_key_private_to_pem(back, &pem2, &len2, &err) == LCA_OK);
            CU_ASSERT(len2 == len && memcmp(pem, pem2, len) == 0);
            lca_key_pem_free(pem2, len2);
        }
        EVP_PKEY_free(back);
        back = NULL;
        lca_key_pem_free(pem, len);
        pem = NULL;
    }
    lca_key_pem_free(NULL, 0);
}

/* PEM written by OpenSSL directly: traditional, encrypted, public. */
static char *ossl_pem(EVP_PKEY *k, int kind, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *copy = NULL;
    long n;
    int ok = 0;

    if (kind == 0) {
        ok = PEM_write_bio_PrivateKey_traditional(bio, k, NULL, NULL, 0, NULL, NULL);
    } else if (kind == 1) {
        ok = PEM_write_bio_PKCS8PrivateKey(bio, k, EVP_aes_256_cbc(), NULL, 0, NULL,
                                           (void *)"passphrase");
    } else if (kind == 2) {
        ok = PEM_write_bio_PrivateKey_traditional(bio, k, EVP_aes_256_cbc(),
                                                  (unsigned char *)"passphrase", 10, NULL, NULL);
    } else {
        ok = PEM_write_bio_PUBKEY(bio, k);
    }
    n = BIO_get_mem_data(bio, &data);
    if (ok == 1 && n > 0) {
        copy = malloc((size_t)n + 1);
        if (copy != NULL) {
            memcpy(copy, data, (size_t)n);
            copy[n] = '\0';
            *len = (size_t)n;
        }
    }
    BIO_free(bio);
    return copy;
}

static void test_pem_variants(void)
{
    EVP_PKEY *k = NULL;
    char *pem;
    size_t len = 0, i;
    struct lca_err err;

    for (i = 0; i < 3; i++) { /* traditional PEM: EC and RSA */
        pem = ossl_pem(g_keys[i], 0, &len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(pem);
        CU_ASSERT_PTR_NULL(strstr(pem, "BEGIN PRIVATE KEY"));
        CU_ASSERT_FATAL(lca_key_private_from_pem(pem, len, &k, &err) == LCA_OK);
        CU_ASSERT_EQUAL(EVP_PKEY_eq(k, g_keys[i]), 1);
        EVP_PKEY_free(k);
        k = NULL;
        OPENSSL_cleanse(pem, len);
        free(pem);
    }
    for (i = 1; i <= 2; i++) { /* encrypted PKCS#8 and encrypted traditional */
        pem = ossl_pem(g_keys[0], (int)i, &len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(pem);
        CU_ASSERT_EQUAL(lca_key_private_from_pem(pem, len, &k, &err), LCA_FAIL);
        expect_err(&err, "encrypted_key");
        CU_ASSERT_PTR_NULL(k);
        free(pem);
    }
    for (i = 0; i < 4; i++) { /* public keys */
        pem = ossl_pem(g_keys[i], 3, &len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(pem);
        CU_ASSERT_FATAL(lca_key_public_from_pem(pem, len, &k, &err) == LCA_OK);
        CU_ASSERT_EQUAL(EVP_PKEY_eq(k, g_keys[i]), 1);
        EVP_PKEY_free(k);
        k = NULL;
        /* A public key PEM is not a private key. */
        CU_ASSERT_EQUAL(lca_key_private_from_pem(pem, len, &k, &err), LCA_FAIL);
        expect_err(&err, "bad_key_pem");
        /* Truncated PEM. */
        CU_ASSERT_EQUAL(lca_key_public_from_pem(pem, len / 2, &k, &err), LCA_FAIL);
        expect_err(&err, "bad_key_pem");
        CU_ASSERT_PTR_NULL(k);
        free(pem);
    }
}

static void test_pem_garbage(void)
{
    static const char junk[] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    EVP_PKEY *k = NULL;
    char *big;
    struct lca_err err;

    CU_ASSERT_EQUAL(lca_key_private_from_pem(junk, strlen(junk), &k, &err), LCA_FAIL);
    expect_err(&err, "bad_key_pem");
    CU_ASSERT_EQUAL(lca_key_private_from_pem("hello", 5, &k, &err), LCA_FAIL);
    expect_err(&err, "bad_key_pem");
    CU_ASSERT_EQUAL(lca_key_private_from_pem(junk, 0, &k, &err), LCA_FAIL);
    expect_err(&err, "bad_key_pem");
    CU_ASSERT_EQUAL(lca_key_public_from_pem(NULL, 10, &k, &err), LCA_FAIL);
    expect_err(&err, "bad_key_pem");
    big = malloc(70000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memset(big, 'A', 70000);
    CU_ASSERT_EQUAL(lca_key_private_from_pem(big, 70000, &k, &err), LCA_FAIL);
    expect_err(&err, "bad_key_pem");
    free(big);
    CU_ASSERT_PTR_NULL(k);
}

static void test_spki(void)
{
    EVP_PKEY *k = NULL;
    uint8_t *der = NULL, *longer;
    size_t len = 0, i;
    struct lca_err err;

    for (i = 0; i < 4; i++) {
        CU_ASSERT_FATAL(lca_key_spki_der(g_keys[i], &der, &len, &err) == LCA_OK);
        CU_ASSERT_EQUAL(der[0], 0x30); /* SEQUENCE */
        CU_ASSERT_FATAL(lca_key_public_from_spki(der, len, &k, &err) == LCA_OK);
        CU_ASSERT_EQUAL(EVP_PKEY_eq(k, g_keys[i]), 1);
        EVP_PKEY_free(k);
        k = NULL;
        /* Trailing byte, truncation, corrupted tag. */
        longer = malloc(len + 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(longer);
        memcpy(longer, der, len);
        longer[len] = 0;
        CU_ASSERT_EQUAL(lca_key_public_from_spki(longer, len + 1, &k, &err), LCA_FAIL);
        expect_err(&err, "bad_spki");
        CU_ASSERT_EQUAL(lca_key_public_from_spki(der, len - 1, &k, &err), LCA_FAIL);
        expect_err(&err, "bad_spki");
        longer[0] = 0x31;
        CU_ASSERT_EQUAL(lca_key_public_from_spki(longer, len, &k, &err), LCA_FAIL);
        expect_err(&err, "bad_spki");
        CU_ASSERT_EQUAL(lca_key_public_from_spki(der, 0, &k, &err), LCA_FAIL);
        CU_ASSERT_PTR_NULL(k);
        free(longer);
        OPENSSL_free(der);
        der = NULL;
    }
}

/* PKCS#8 DER of k as OpenSSL encodes it, for layout checks. */
static size_t pkcs8_len(EVP_PKEY *k)
{
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k);
    int n = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);

    PKCS8_PRIV_KEY_INFO_free(p8);
    return n > 0 ? (size_t)n : 0;
}

static void test_wrap_round_trip(void)
{
    char id[LCA_KEY_ID_LEN + 1];
    uint8_t *blob = NULL, *blob2 = NULL;
    size_t len = 0, len2 = 0, i;
    EVP_PKEY *k = NULL;
    struct lca_err err;
    uint8_t nonce2[12];

    for (i = 0; i < 4; i++) {
        CU_ASSERT_FATAL(lca_key_id(g_keys[i], id, &err) == LCA_OK);
        CU_ASSERT_FATAL(lca_key_wrap(KEK, NONCE, g_keys[i], id, &blob, &len, &err) == LCA_OK);
        /* Layout: version || nonce || ciphertext (len of PKCS#8) || tag. */
        CU_ASSERT_EQUAL(blob[0], LCA_KEY_WRAP_VERSION);
        CU_ASSERT_EQUAL(memcmp(blob + 1, NONCE, 12), 0);
        CU_ASSERT_EQUAL(len, 1 + 12 + pkcs8_len(g_keys[i]) + 16);
        CU_ASSERT_FATAL(lca_key_unwrap(KEK, blob, len, id, &k, &err) == LCA_OK);
        CU_ASSERT_EQUAL(EVP_PKEY_eq(k, g_keys[i]), 1);
        CU_ASSERT_EQUAL(lca_key_check(k, &err), LCA_OK);
        EVP_PKEY_free(k);
        k = NULL;
        /* Pure: same nonce, same bytes; another nonce, other ciphertext. */
        CU_ASSERT_FATAL(lca_key_wrap(KEK, NONCE, g_keys[i], id, &blob2, &len2, &err) == LCA_OK);
        CU_ASSERT(len2 == len && memcmp(blob, blob2, len) == 0);
        OPENSSL_free(blob2);
        memcpy(nonce2, NONCE, 12);
        nonce2[11] ^= 1;
        CU_ASSERT_FATAL(lca_key_wrap(KEK, nonce2, g_keys[i], id, &blob2, &len2, &err) == LCA_OK);
        CU_ASSERT(len2 == len && memcmp(blob + 13, blob2 + 13, len - 13) != 0);
        OPENSSL_free(blob2);
        OPENSSL_free(blob);
        blob = NULL;
    }
    CU_ASSERT_EQUAL(lca_key_wrap(KEK, NONCE, g_keys[0], NULL, &blob, &len, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(lca_key_wrap(KEK, NONCE, NULL, "id", &blob, &len, &err), LCA_FAIL);
    CU_ASSERT_PTR_NULL(blob);
}

static void expect_unwrap_fail(const uint8_t *kek, const uint8_t *blob, size_t len, const char *aad)
{
    EVP_PKEY *k = NULL;
    struct lca_err err;

    lca_err_clear(&err);
    CU_ASSERT_EQUAL(lca_key_unwrap(kek, blob, len, aad, &k, &err), LCA_FAIL);
    expect_err(&err, "unwrap_failed");
    /* One message for every failure: no padding/tag/version oracle. */
    CU_ASSERT_STRING_EQUAL(err.msg, "wrapped key does not open under this KEK and key id");
    CU_ASSERT_PTR_NULL(k);
    EVP_PKEY_free(k);
}

static void test_unwrap_failures(void)
{
    char id[LCA_KEY_ID_LEN + 1];
    uint8_t kek2[32];
    uint8_t *blob = NULL, *longer;
    size_t len = 0, i;
    struct lca_err err;

    CU_ASSERT_FATAL(lca_key_id(g_keys[3], id, &err) == LCA_OK);
    CU_ASSERT_FATAL(lca_key_wrap(KEK, NONCE, g_keys[3], id, &blob, &len, &err) == LCA_OK);
    /* Wrong KEK (one bit off). */
    memcpy(kek2, KEK, 32);
    kek2[31] ^= 0x80;
    expect_unwrap_fail(kek2, blob, len, id);
    /* Wrong aad: another id, a prefix of it, empty. */
    id[0] = id[0] == 'a' ? 'b' : 'a';
    expect_unwrap_fail(KEK, blob, len, id);
    id[0] = id[0] == 'a' ? 'b' : 'a';
    CU_ASSERT_FATAL(lca_key_id(g_keys[3], id, &err) == LCA_OK);
    id[LCA_KEY_ID_LEN - 1] = '\0';
    expect_unwrap_fail(KEK, blob, len, id);
    expect_unwrap_fail(KEK, blob, len, "");
    expect_unwrap_fail(KEK, blob, len, NULL);
    CU_ASSERT_FATAL(lca_key_id(g_keys[3], id, &err) == LCA_OK);
    /* A flipped bit anywhere: version, nonce, ciphertext, tag. */
    for (i = 0; i < len; i++) {
        blob[i] ^= 0x04;
        expect_unwrap_fail(KEK, blob, len, id);
        blob[i] ^= 0x04;
    }
    /* Every truncation, and an appended byte. */
    for (i = 0; i < len; i++) {
        expect_unwrap_fail(KEK, blob, i, id);
    }
    longer = malloc(len + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(longer);
    memcpy(longer, blob, len);
    longer[len] = 0;
    expect_unwrap_fail(KEK, longer, len + 1, id);
    free(longer);
    expect_unwrap_fail(NULL, blob, len, id);
    expect_unwrap_fail(KEK, NULL, len, id);
    /* Untouched blob still opens (the loops restored every byte). */
    {
        EVP_PKEY *k = NULL;

        CU_ASSERT_EQUAL(lca_key_unwrap(KEK, blob, len, id, &k, &err), LCA_OK);
        EVP_PKEY_free(k);
    }
    OPENSSL_free(blob);
}

int main(void)
{
    static const struct lca_cu_test tests[] = {
        {"spec_parse_ok", test_spec_parse_ok},
        {"spec_parse_bad", test_spec_parse_bad},
        {"generate_bad_spec", test_generate_bad_spec},
        {"generated_keys", test_generated_keys},
        {"weak_keys_refused", test_weak_keys_refused},
        {"key_id", test_key_id},
        {"private_pem_round_trip", test_private_pem_round_trip},
        {"pem_variants", test_pem_variants},
        {"pem_garbage", test_pem_garbage},
        {"spki", test_spki},
        {"wrap_round_trip", test_wrap_round_trip},
        {"unwrap_failures", test_unwrap_failures},
    };

    return LCA_CU_MAIN("key", suite_init, suite_clean, tests);
}
