/* Unit tests for engine/csr: requests made with OpenSSL's own X509_REQ API for every key type
 * parse (PEM and DER) with the right names, key and SPKI bytes; proof of possession, weak keys
 * and signatures, malformed, truncated and oversized input are refused with the documented
 * codes; every single-byte corruption of a request is refused; a CSR-issued leaf verifies
 * under openssl and certtool (tests/support/oracle). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/Basic.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cert.h"
#include "csr.h"
#include "curun.h"
#include "oracle.h"

enum { K_P256, K_P384, K_ED25519, K_RSA2048, K_RSA1024, K_K256, K_COUNT };
static EVP_PKEY *g_keys[K_COUNT];

#define SAN_ALL "DNS:web.service.consul,DNS:*.example.test,IP:10.1.2.3,IP:2001:db8::7," \
                "URI:spiffe://td.consul/ns/default/dc/dc1/svc/web"

static int suite_init(void)
{
    int i;

    g_keys[K_P256] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    g_keys[K_P384] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    g_keys[K_ED25519] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    g_keys[K_RSA2048] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    g_keys[K_RSA1024] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    g_keys[K_K256] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
    for (i = 0; i < K_COUNT; i++) {
        if (g_keys[i] == NULL) {
            return 1;
        }
    }
    return 0;
}

static int suite_clean(void)
{
    int i;

    for (i = 0; i < K_COUNT; i++) {
        EVP_PKEY_free(g_keys[i]);
    }
    return 0;
}

/* ------------------------------------------------------------------ request factory */

static void add_ext(STACK_OF(X509_EXTENSION) *exts, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, nid, value);

    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_FATAL(sk_X509_EXTENSION_push(exts, e) > 0);
}

/* A DER request signed by k with md ("SHA256", "SHA1", NULL for Ed25519). san/bc may be NULL. */
static uint8_t *make_csr(EVP_PKEY *k, const char *md, const char *cn, const char *san,
                         const char *bc, size_t *len)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    unsigned char *der = NULL;
    int n;

    CU_ASSERT_FATAL(req != NULL && name != NULL && exts != NULL);
    CU_ASSERT_FATAL(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                               (const unsigned char *)"ledgerca", -1, -1, 0));
    if (cn != NULL) {
        CU_ASSERT_FATAL(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                                   (const unsigned char *)cn, -1, -1, 0));
    }
    CU_ASSERT_FATAL(X509_REQ_set_subject_name(req, name) == 1);
    CU_ASSERT_FATAL(X509_REQ_set_pubkey(req, k) == 1);
    if (san != NULL) {
        add_ext(exts, NID_subject_alt_name, san);
    }
    if (bc != NULL) {
        add_ext(exts, NID_basic_constraints, bc);
    }
    if (sk_X509_EXTENSION_num(exts) > 0) {
        CU_ASSERT_FATAL(X509_REQ_add_extensions(req, exts) == 1);
    }
    CU_ASSERT_FATAL(X509_REQ_sign(req, k, md != NULL ? EVP_get_digestbyname(md) : NULL) > 0);
    n = i2d_X509_REQ(req, &der);
    CU_ASSERT_FATAL(n > 0);
    *len = (size_t)n;
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_NAME_free(name);
    X509_REQ_free(req);
    return der;
}

static char *to_pem(const uint8_t *der, size_t len, const char *label)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out;
    long n;

    CU_ASSERT_FATAL(PEM_write_bio(b, label, "", der, (long)len) > 0);
    n = BIO_get_mem_data(b, &data);
    out = malloc((size_t)n + 1);
    CU_ASSERT_FATAL(out != NULL);
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    BIO_free(b);
    return out;
}

static void expect_refused(const uint8_t *buf, size_t len, const char *code)
{
    struct lca_csr *c = NULL;
    struct lca_err err;

    lca_err_clear(&err);
    CU_ASSERT_EQUAL(lca_csr_parse(buf, len, &c, &err), LCA_FAIL);
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    if (code != NULL) {
        CU_ASSERT_STRING_EQUAL(err.code, code);
        if (strcmp(err.code, code) != 0) {
            fprintf(stderr, "\nexpected %s, got %s: %s\n", code, err.code, err.msg);
        }
    }
    lca_csr_free(c);
}

static int find(const uint8_t *hay, size_t hn, const uint8_t *needle, size_t nn)
{
    size_t i;

    for (i = 0; i + nn <= hn; i++) {
        if (memcmp(hay + i, needle, nn) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* ------------------------------------------------------------------ accepted requests */

static void check_parsed(struct lca_csr *c, EVP_PKEY *k)
{
    unsigned char *spki = NULL;
    int n = i2d_PUBKEY(k, &spki);
    const uint8_t *got;
    size_t glen = 0;

    CU_ASSERT_STRING_EQUAL(lca_csr_common_name(c), "web.service.consul");
    CU_ASSERT_EQUAL_FATAL(lca_csr_dns_count(c), 2);
    CU_ASSERT_STRING_EQUAL(lca_csr_dns_at(c, 0), "web.service.consul");
    CU_ASSERT_STRING_EQUAL(lca_csr_dns_at(c, 1), "*.example.test");
    CU_ASSERT_PTR_NULL(lca_csr_dns_at(c, 2));
    CU_ASSERT_EQUAL_FATAL(lca_csr_ip_count(c), 2);
    CU_ASSERT_STRING_EQUAL(lca_csr_ip_at(c, 0), "10.1.2.3");
    CU_ASSERT_STRING_EQUAL(lca_csr_ip_at(c, 1), "2001:db8::7");
    CU_ASSERT_EQUAL_FATAL(lca_csr_uri_count(c), 1);
    CU_ASSERT_STRING_EQUAL(lca_csr_uri_at(c, 0), "spiffe://td.consul/ns/default/dc/dc1/svc/web");
    CU_ASSERT_EQUAL(lca_csr_is_ca(c), 0);
    got = lca_csr_spki(c, &glen);
    CU_ASSERT(n > 0 && glen == (size_t)n && memcmp(got, spki, glen) == 0);
    CU_ASSERT_EQUAL(EVP_PKEY_eq(lca_csr_get0_pubkey(c), k), 1);
    OPENSSL_free(spki);
}

static void parse_type(int t, const char *md)
{
    struct lca_csr *c = NULL;
    struct lca_err err;
    size_t len;
    uint8_t *der = make_csr(g_keys[t], md, "web.service.consul", SAN_ALL, NULL, &len);
    char *pem = to_pem(der, len, "CERTIFICATE REQUEST");

    if (lca_csr_parse(der, len, &c, &err) != LCA_OK) {
        fprintf(stderr, "\n%s: %s\n", err.code, err.msg);
        CU_FAIL_FATAL("DER CSR refused");
    }
    check_parsed(c, g_keys[t]);
    lca_csr_free(c);
    c = NULL;
    CU_ASSERT_FATAL(lca_csr_parse((const uint8_t *)pem, strlen(pem), &c, &err) == LCA_OK);
    check_parsed(c, g_keys[t]);
    lca_csr_free(c);
    free(pem);
    OPENSSL_free(der);
}

static void test_p256(void) { parse_type(K_P256, "SHA256"); }
static void test_p384(void) { parse_type(K_P384, "SHA384"); }
static void test_ed25519(void) { parse_type(K_ED25519, NULL); }
static void test_rsa2048(void) { parse_type(K_RSA2048, "SHA256"); }
static void test_p256_sha512(void) { parse_type(K_P256, "SHA512"); }

static void test_ca_and_minimal(void)
{
    struct lca_csr *c = NULL;
    struct lca_err err;
    size_t len;
    uint8_t *der = make_csr(g_keys[K_P256], "SHA256", "secondary dc1", NULL, "critical,CA:TRUE",
                            &len);
    char *pem = to_pem(der, len, "NEW CERTIFICATE REQUEST"), *spaced;

    spaced = malloc(strlen(pem) + 4);
    CU_ASSERT_FATAL(spaced != NULL);
    strcpy(spaced, "\n \t");
    strcat(spaced, pem);
    CU_ASSERT_FATAL(lca_csr_parse((const uint8_t *)spaced, strlen(spaced), &c, &err) == LCA_OK);
    free(spaced);
    CU_ASSERT_EQUAL(lca_csr_is_ca(c), 1);
    CU_ASSERT_STRING_EQUAL(lca_csr_common_name(c), "secondary dc1");
    CU_ASSERT_EQUAL(lca_csr_dns_count(c) + lca_csr_ip_count(c) + lca_csr_uri_count(c), 0);
    lca_csr_free(c);
    c = NULL;
    OPENSSL_free(der);
    free(pem);
    der = make_csr(g_keys[K_P256], "SHA256", NULL, NULL, NULL, &len); /* O only, no attributes */
    CU_ASSERT_FATAL(lca_csr_parse(der, len, &c, &err) == LCA_OK);
    CU_ASSERT_PTR_NULL(lca_csr_common_name(c));
    CU_ASSERT_EQUAL(lca_csr_is_ca(c), 0);
    lca_csr_free(c);
    lca_csr_free(NULL);
    OPENSSL_free(der);
}

/* ------------------------------------------------------------------ refusals */

static void test_bad_signature(void)
{
    size_t len;
    uint8_t *der = make_csr(g_keys[K_P256], "SHA256", "web.service.consul", SAN_ALL, NULL, &len);
    int cn = find(der, len, (const uint8_t *)"web.service.consul", 18);

    CU_ASSERT_FATAL(cn > 0);
    der[cn] ^= 0x01; /* the signed bytes change: the signature no longer verifies */
    expect_refused(der, len, "bad_csr");
    der[cn] ^= 0x01;
    der[len - 3] ^= 0x01; /* inside the signature's s INTEGER */
    expect_refused(der, len, "bad_csr");
    OPENSSL_free(der);
    der = make_csr(g_keys[K_ED25519], NULL, "x", NULL, NULL, &len);
    der[len - 1] ^= 0x80;
    expect_refused(der, len, "bad_csr");
    OPENSSL_free(der);
}

static void test_weak(void)
{
    size_t len;
    uint8_t *der;

    der = make_csr(g_keys[K_RSA1024], "SHA256", "x", NULL, NULL, &len);
    expect_refused(der, len, "weak_key");
    OPENSSL_free(der);
    der = make_csr(g_keys[K_K256], "SHA256", "x", NULL, NULL, &len);
    expect_refused(der, len, "weak_key");
    OPENSSL_free(der);
    der = make_csr(g_keys[K_RSA2048], "SHA1", "x", NULL, NULL, &len);
    expect_refused(der, len, "weak_signature");
    OPENSSL_free(der);
    der = make_csr(g_keys[K_P256], "SHA1", "x", NULL, NULL, &len);
    expect_refused(der, len, "weak_signature");
    OPENSSL_free(der);
    der = make_csr(g_keys[K_RSA2048], "MD5", "x", NULL, NULL, &len);
    expect_refused(der, len, "weak_signature");
    OPENSSL_free(der);
}

/* A P-256 point moved off the curve is refused before any signature check. */
static void test_point_off_curve(void)
{
    unsigned char *spki = NULL;
    int n = i2d_PUBKEY(g_keys[K_P256], &spki), off;
    size_t len;
    uint8_t *der = make_csr(g_keys[K_P256], "SHA256", "x", NULL, NULL, &len);
    struct lca_csr *c = NULL;
    struct lca_err err;

    off = find(der, len, spki, (size_t)n);
    CU_ASSERT_FATAL(off > 0);
    der[off + n - 1] ^= 0x01; /* last byte of y */
    CU_ASSERT_EQUAL(lca_csr_parse(der, len, &c, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "bad_csr");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "curve"));
    OPENSSL_free(der);
    OPENSSL_free(spki);
}

static void test_malformed(void)
{
    static const uint8_t garbage[] = "this is not a certificate request at all";
    size_t len, i;
    uint8_t *der = make_csr(g_keys[K_P256], "SHA256", "x", "DNS:a.example.test", NULL, &len);
    uint8_t *big, *longer;
    char *pem;

    expect_refused(garbage, sizeof(garbage), "bad_csr");
    expect_refused(NULL, 0, "bad_csr");
    expect_refused(der, 0, "bad_csr");
    for (i = 1; i < len; i++) { /* every truncation */
        expect_refused(der, i, "bad_csr");
    }
    longer = malloc(len + 1);
    CU_ASSERT_FATAL(longer != NULL);
    memcpy(longer, der, len);
    longer[len] = 0;
    expect_refused(longer, len + 1, "bad_csr"); /* trailing byte */
    free(longer);
    big = calloc(1, LCA_CSR_MAX_BYTES + 1);
    CU_ASSERT_FATAL(big != NULL);
    memcpy(big, der, len);
    expect_refused(big, LCA_CSR_MAX_BYTES + 1, "bad_csr");
    free(big);
    pem = to_pem(der, len, "CERTIFICATE"); /* wrong PEM label */
    expect_refused((const uint8_t *)pem, strlen(pem), "bad_csr");
    free(pem);
    OPENSSL_free(der);
}

/* Flipping any one bit of a request makes it unacceptable (signature, structure or
 * algorithm); the parser never crashes or leaks (ASan build). */
static void test_every_bit_flip(void)
{
    size_t len, i;
    uint8_t *der = make_csr(g_keys[K_P256], "SHA256", "w", "DNS:a.test,IP:10.0.0.1", NULL, &len);
    struct lca_csr *c = NULL;
    struct lca_err err;
    size_t accepted = 0;

    for (i = 0; i < len; i++) {
        der[i] ^= 0x01;
        if (lca_csr_parse(der, len, &c, &err) == LCA_OK) {
            accepted++;
            lca_csr_free(c);
            c = NULL;
        }
        der[i] ^= 0x01;
    }
    CU_ASSERT_EQUAL(accepted, 0);
    CU_ASSERT_FATAL(lca_csr_parse(der, len, &c, &err) == LCA_OK);
    lca_csr_free(c);
    OPENSSL_free(der);
}

/* ------------------------------------------------------------------ CSR -> certificate */

static void test_csr_to_leaf(void)
{
    EVP_PKEY *ca_key = g_keys[K_P384];
    struct lca_cert_req r;
    struct lca_cert_signer *s = NULL;
    struct lca_csr *c = NULL;
    struct lca_err err;
    uint8_t serial[16], *der;
    const uint8_t *spki;
    size_t len, slen;
    const char *dns[2], *ips[2], *uris[1];
    X509 *root = NULL, *leaf = NULL;
    char *root_pem = NULL, *leaf_pem = NULL, why[8192];
    size_t plen, i;

    der = make_csr(g_keys[K_P256], "SHA256", "web.service.consul", SAN_ALL, NULL, &len);
    CU_ASSERT_FATAL(lca_csr_parse(der, len, &c, &err) == LCA_OK);
    memset(&r, 0, sizeof(r));
    CU_ASSERT_FATAL(RAND_bytes(serial, 16) == 1);
    r.common_name = "ledgerca csr root";
    r.serial = serial;
    r.serial_len = 16;
    r.not_before = (int64_t)time(NULL) - 60;
    r.not_after = r.not_before + 86400;
    r.path_len = -1;
    CU_ASSERT_FATAL(lca_cert_self_sign(ca_key, &r, &root, &err) == LCA_OK);
    CU_ASSERT_FATAL(lca_cert_signer_new(root, ca_key, &s, &err) == LCA_OK);
    for (i = 0; i < 2; i++) {
        dns[i] = lca_csr_dns_at(c, i);
        ips[i] = lca_csr_ip_at(c, i);
    }
    uris[0] = lca_csr_uri_at(c, 0);
    r.common_name = lca_csr_common_name(c);
    r.dns_names = dns;
    r.n_dns = 2;
    r.ip_addrs = ips;
    r.n_ip = 2;
    r.uris = uris;
    r.n_uri = 1;
    spki = lca_csr_spki(c, &slen);
    /* a serial of its own: issuer + serial names one certificate (NSS refuses a repeat) */
    CU_ASSERT_FATAL(RAND_bytes(serial, 16) == 1);
    CU_ASSERT_FATAL(lca_cert_sign(s, &r, spki, slen, &leaf, &err) == LCA_OK);
    CU_ASSERT_EQUAL(EVP_PKEY_eq(X509_get0_pubkey(leaf), g_keys[K_P256]), 1);
    CU_ASSERT_FATAL(lca_cert_to_pem(root, &root_pem, &plen, &err) == LCA_OK);
    CU_ASSERT_FATAL(lca_cert_to_pem(leaf, &leaf_pem, &plen, &err) == LCA_OK);
    CU_ASSERT(lca_oracle_verify(leaf_pem, NULL, root_pem, NULL, why, sizeof(why)) == 0);
    CU_ASSERT(lca_oracle_lint(leaf_pem, why, sizeof(why)) == 0);
    free(root_pem);
    free(leaf_pem);
    X509_free(root);
    X509_free(leaf);
    lca_cert_signer_free(s);
    lca_csr_free(c);
    OPENSSL_free(der);
}

int main(void)
{
    static const struct lca_cu_test tests[] = {
        {"P-256 / SHA-256", test_p256},
        {"P-384 / SHA-384", test_p384},
        {"Ed25519", test_ed25519},
        {"RSA-2048 / SHA-256", test_rsa2048},
        {"P-256 / SHA-512", test_p256_sha512},
        {"CA request and minimal request", test_ca_and_minimal},
        {"bad signature", test_bad_signature},
        {"weak keys and signatures", test_weak},
        {"point off the curve", test_point_off_curve},
        {"malformed, truncated, oversized", test_malformed},
        {"every bit flip refused", test_every_bit_flip},
        {"CSR to verified leaf", test_csr_to_leaf},
    };

    return LCA_CU_MAIN("csr", suite_init, suite_clean, tests);
}
