/* Unit tests for engine/cert: chains for every key type checked by openssl + certtool and
 * zlint (tests/support/oracle), the RFC 5280 fields the builder promises (AKI keyid-only,
 * SKI method 1, positive serial, UTCTime/GeneralizedTime, SAN criticality, URLs), name
 * constraints and path length enforced by openssl, cross-signing and reissue, and refusals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/Basic.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cert.h"
#include "curun.h"
#include "oracle.h"

enum { K_P256, K_P384, K_ED25519, K_RSA2048, K_RSA3072, K_RSA4096, K_COUNT };
static const char *const KNAMES[K_COUNT] = {"P-256", "P-384", "Ed25519",
                                            "RSA-2048", "RSA-3072", "RSA-4096"};
static const int SIG_NIDS[K_COUNT] = {NID_ecdsa_with_SHA256, NID_ecdsa_with_SHA384, NID_ED25519,
                                      NID_sha256WithRSAEncryption, NID_sha256WithRSAEncryption,
                                      NID_sha256WithRSAEncryption};

/* Per type: [0] a root key, [1] a leaf key (generated once: RSA generation is slow). */
static EVP_PKEY *g_keys[K_COUNT][2];
static EVP_PKEY *g_int_key; /* P-256 key of the intermediates */
static int64_t g_now;

static const char *const URL_ISSUING[] = {"http://ca.example.test/v1/pki/ca"};
static const char *const URL_CRL[] = {"http://ca.example.test/v1/pki/crl",
                                      "http://ca2.example.test/v1/pki/crl"};
static const char *const URL_OCSP[] = {"http://ca.example.test/v1/pki/ocsp"};
static const struct lca_urls URLS = {URL_ISSUING, 1, URL_CRL, 2, URL_OCSP, 1, NULL, 0};

static EVP_PKEY *gen(int type)
{
    switch (type) {
    case K_P256:
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    case K_P384:
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    case K_ED25519:
        return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    case K_RSA2048:
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    case K_RSA3072:
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
    default:
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
    }
}

static int suite_init(void)
{
    int i, j;

    g_now = (int64_t)time(NULL);
    for (i = 0; i < K_COUNT; i++) {
        for (j = 0; j < 2; j++) {
            if ((g_keys[i][j] = gen(i)) == NULL) {
                return 1;
            }
        }
    }
    g_int_key = gen(K_P256);
    return g_int_key == NULL;
}

static int suite_clean(void)
{
    int i;

    for (i = 0; i < K_COUNT; i++) {
        EVP_PKEY_free(g_keys[i][0]);
        EVP_PKEY_free(g_keys[i][1]);
    }
    EVP_PKEY_free(g_int_key);
    return 0;
}

/* ------------------------------------------------------------------ helpers */

static uint8_t *spki_of(EVP_PKEY *k, size_t *len)
{
    unsigned char *p = NULL;
    int n = i2d_PUBKEY(k, &p);

    CU_ASSERT_FATAL(n > 0);
    *len = (size_t)n;
    return p;
}

static void new_serial(uint8_t serial[16])
{
    CU_ASSERT_FATAL(RAND_bytes(serial, 16) == 1);
}

static void base_req(struct lca_cert_req *r, const char *cn, uint8_t serial[16])
{
    memset(r, 0, sizeof(*r));
    new_serial(serial);
    r->common_name = cn;
    r->serial = serial;
    r->serial_len = 16;
    r->not_before = g_now - 60;
    r->not_after = g_now + 86400;
    r->path_len = -1;
}

static X509 *make_root(EVP_PKEY *k, const char *cn, int path_len)
{
    struct lca_cert_req r;
    uint8_t serial[16];
    struct lca_err err;
    X509 *x = NULL;

    base_req(&r, cn, serial);
    r.organization = "ledgerca tests";
    r.not_after = g_now + 10 * 86400;
    r.path_len = path_len;
    CU_ASSERT_FATAL(lca_cert_self_sign(k, &r, &x, &err) == LCA_OK);
    return x;
}

/* A CA or leaf signed by signer s for key k. */
static X509 *make_cert(struct lca_cert_signer *s, EVP_PKEY *k, struct lca_cert_req *r)
{
    struct lca_err err;
    uint8_t *spki;
    size_t n;
    X509 *x = NULL;
    int rc;

    spki = spki_of(k, &n);
    rc = lca_cert_sign(s, r, spki, n, &x, &err);
    if (rc != LCA_OK) {
        fprintf(stderr, "lca_cert_sign: %s %s\n", err.code, err.msg);
    }
    OPENSSL_free(spki);
    CU_ASSERT_FATAL(rc == LCA_OK);
    return x;
}

static struct lca_cert_signer *signer(X509 *c, EVP_PKEY *k)
{
    struct lca_cert_signer *s = NULL;
    struct lca_err err;

    CU_ASSERT_FATAL(lca_cert_signer_new(c, k, &s, &err) == LCA_OK);
    return s;
}

/* PEM of x (static rotating buffers: up to 4 alive at once). */
static char *pem(X509 *x)
{
    static char *bufs[4];
    static int next;
    struct lca_err err;
    size_t len;
    char *p = NULL;

    CU_ASSERT_FATAL(lca_cert_to_pem(x, &p, &len, &err) == LCA_OK);
    free(bufs[next]);
    bufs[next] = p;
    next = (next + 1) % 4;
    return p;
}

static char *pem_cat(X509 *a, X509 *b)
{
    char *pa = pem(a), *pb = pem(b), *out = malloc(strlen(pa) + strlen(pb) + 1);

    CU_ASSERT_FATAL(out != NULL);
    strcpy(out, pa);
    strcat(out, pb);
    return out;
}

static int verify(X509 *leaf, X509 *chain, X509 *root, char *why, size_t whylen)
{
    char *l = strdup(pem(leaf)), *c = chain != NULL ? strdup(pem(chain)) : NULL;
    int rc = lca_oracle_verify(l, c, pem(root), NULL, why, whylen);

    free(l);
    free(c);
    return rc;
}

static void assert_lint(X509 *x, const char *what)
{
    char why[4096];
    int rc = lca_oracle_lint(pem(x), why, sizeof(why));

    if (rc != 0) {
        fprintf(stderr, "\n%s: %s\n", what, why);
    }
    CU_ASSERT(rc == 0);
}

/* AKI: keyIdentifier only, equal to the issuer's SKI (RFC 5280 4.2.1.1). */
static void assert_aki(X509 *x, X509 *issuer)
{
    AUTHORITY_KEYID *aki = X509_get_ext_d2i(x, NID_authority_key_identifier, NULL, NULL);
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(issuer);

    CU_ASSERT_PTR_NOT_NULL_FATAL(aki);
    CU_ASSERT_PTR_NOT_NULL(aki->keyid);
    CU_ASSERT_PTR_NULL(aki->issuer);
    CU_ASSERT_PTR_NULL(aki->serial);
    CU_ASSERT(ski != NULL && ASN1_OCTET_STRING_cmp(aki->keyid, ski) == 0);
    AUTHORITY_KEYID_free(aki);
}

/* SKI = SHA-1 of the subjectPublicKey BIT STRING value (4.2.1.2 method 1). */
static void assert_ski(X509 *x)
{
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(x);
    ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(x);
    uint8_t md[20];

    CU_ASSERT_PTR_NOT_NULL_FATAL(ski);
    SHA1(ASN1_STRING_get0_data(bits), (size_t)ASN1_STRING_length(bits), md);
    CU_ASSERT(ASN1_STRING_length(ski) == 20 && memcmp(ASN1_STRING_get0_data(ski), md, 20) == 0);
}

/* Serial: positive INTEGER of at most 16 octets, not zero (4.1.2.2). */
static void assert_serial(X509 *x)
{
    const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
    BIGNUM *bn = ASN1_INTEGER_to_BN(sn, NULL);

    CU_ASSERT_PTR_NOT_NULL_FATAL(bn);
    CU_ASSERT(!BN_is_negative(bn) && !BN_is_zero(bn) && BN_num_bits(bn) <= 127);
    BN_free(bn);
}

static int count_urls(X509 *x, int nid)
{
    void *ext = X509_get_ext_d2i(x, nid, NULL, NULL);
    int n = -1;

    if (nid == NID_info_access && ext != NULL) {
        n = sk_ACCESS_DESCRIPTION_num(ext);
        AUTHORITY_INFO_ACCESS_free(ext);
    } else if (ext != NULL) {
        n = sk_DIST_POINT_num(ext);
        CRL_DIST_POINTS_free(ext);
    }
    return n;
}

/* ------------------------------------------------------------------ chains */

/* root(type) -> intermediate (P-256, URLs, pathlen 0) -> leaf(type key). */
static void chain_for_type(int t)
{
    struct lca_cert_signer *rs, *is;
    struct lca_cert_req r;
    uint8_t serial[16];
    const char *dns[] = {"web.service.consul", "web.example.test"};
    const char *ips[] = {"10.0.0.7", "2001:db8::1"};
    X509 *root, *inter, *leaf;
    char why[8192];
    int rc;

    root = make_root(g_keys[t][0], "ledgerca test root", -1);
    rs = signer(root, g_keys[t][0]);
    base_req(&r, "ledgerca test intermediate", serial);
    r.is_ca = 1;
    r.path_len = 0;
    r.urls = &URLS;
    inter = make_cert(rs, g_int_key, &r);
    is = signer(inter, g_int_key);
    base_req(&r, "web.service.consul", serial);
    r.dns_names = dns;
    r.n_dns = 2;
    r.ip_addrs = ips;
    r.n_ip = 2;
    r.urls = &URLS;
    leaf = make_cert(is, g_keys[t][1], &r);

    rc = verify(leaf, inter, root, why, sizeof(why));
    if (rc != 0) {
        fprintf(stderr, "\n%s chain: %s\n", KNAMES[t], why);
    }
    CU_ASSERT(rc == 0);
    assert_lint(root, KNAMES[t]);
    assert_lint(inter, KNAMES[t]);
    assert_lint(leaf, KNAMES[t]);
    CU_ASSERT_EQUAL(X509_get_signature_nid(root), SIG_NIDS[t]);
    CU_ASSERT_EQUAL(X509_get_signature_nid(inter), SIG_NIDS[t]);
    CU_ASSERT_EQUAL(X509_get_signature_nid(leaf), NID_ecdsa_with_SHA256);
    assert_aki(inter, root);
    assert_aki(leaf, inter);
    assert_ski(root);
    assert_ski(inter);
    assert_ski(leaf);
    assert_serial(root);
    assert_serial(inter);
    assert_serial(leaf);
    CU_ASSERT_EQUAL(count_urls(leaf, NID_info_access), 2);
    CU_ASSERT_EQUAL(count_urls(leaf, NID_crl_distribution_points), 2);
    CU_ASSERT_EQUAL(count_urls(inter, NID_crl_distribution_points), 2);
    CU_ASSERT_EQUAL(count_urls(root, NID_info_access), -1);
    /* default keyUsage: keyEncipherment only for RSA subject keys; CA bits on CAs */
    CU_ASSERT_EQUAL((X509_get_key_usage(leaf) & KU_KEY_ENCIPHERMENT) != 0, t >= K_RSA2048);
    CU_ASSERT(X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE);
    CU_ASSERT(X509_get_extended_key_usage(leaf) == (XKU_SSL_SERVER | XKU_SSL_CLIENT));
    CU_ASSERT(X509_get_key_usage(inter) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN | KU_DIGITAL_SIGNATURE));
    CU_ASSERT_EQUAL(X509_check_ca(inter), 1);
    CU_ASSERT_EQUAL(X509_check_ca(leaf), 0);
    CU_ASSERT_EQUAL(X509_get_pathlen(inter), 0);
    CU_ASSERT_EQUAL(X509_get_pathlen(root), -1);
    lca_cert_signer_free(rs);
    lca_cert_signer_free(is);
    X509_free(root);
    X509_free(inter);
    X509_free(leaf);
}

static void test_chain_p256(void) { chain_for_type(K_P256); }
static void test_chain_p384(void) { chain_for_type(K_P384); }
static void test_chain_ed25519(void) { chain_for_type(K_ED25519); }
static void test_chain_rsa2048(void) { chain_for_type(K_RSA2048); }
static void test_chain_rsa3072(void) { chain_for_type(K_RSA3072); }
static void test_chain_rsa4096(void) { chain_for_type(K_RSA4096); }

static int contains(const uint8_t *hay, size_t hn, const uint8_t *needle, size_t nn)
{
    size_t i;

    for (i = 0; i + nn <= hn; i++) {
        if (memcmp(hay + i, needle, nn) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The DER fast path gives the same certificate as lca_cert_sign would for the same input
 * (Ed25519 signatures are deterministic), and it parses. */
static void test_der_fast_path(void)
{
    X509 *root = make_root(g_keys[K_ED25519][0], "ed root", -1);
    struct lca_cert_signer *s = signer(root, g_keys[K_ED25519][0]);
    struct lca_cert_req r;
    uint8_t serial[16], *spki, *d1 = NULL, *d2 = NULL, *d3 = NULL;
    size_t n, l1, l2, l3;
    struct lca_err err;
    X509 *x = NULL;
    EVP_PKEY *pub;

    base_req(&r, "svc", serial);
    spki = spki_of(g_keys[K_P256][1], &n);
    CU_ASSERT_FATAL(lca_cert_sign_der(s, &r, spki, n, &d1, &l1, &err) == LCA_OK);
    CU_ASSERT_FATAL(lca_cert_sign_der(s, &r, spki, n, &d2, &l2, &err) == LCA_OK);
    CU_ASSERT(l1 == l2 && memcmp(d1, d2, l1) == 0);
    CU_ASSERT_FATAL(lca_cert_sign(s, &r, spki, n, &x, &err) == LCA_OK);
    CU_ASSERT_FATAL(lca_cert_to_der(x, &d3, &l3, &err) == LCA_OK);
    CU_ASSERT(l1 == l3 && memcmp(d1, d3, l1) == 0);
    pub = X509_get0_pubkey(root);
    CU_ASSERT_EQUAL(X509_verify(x, pub), 1);
    /* the subject public key is the one supplied, byte for byte */
    CU_ASSERT(contains(d1, l1, spki, n));
    free(d1);
    free(d2);
    free(d3);
    OPENSSL_free(spki);
    X509_free(x);
    X509_free(root);
    lca_cert_signer_free(s);
}

static X509 *leaf_with_dns(struct lca_cert_signer *s, const char *dns)
{
    struct lca_cert_req r;
    uint8_t serial[16];

    base_req(&r, dns, serial);
    r.dns_names = &dns;
    r.n_dns = 1;
    return make_cert(s, g_keys[K_P256][1], &r);
}

static void test_name_constraints(void)
{
    const char *permitted[] = {"example.test", "consul"};
    X509 *root = make_root(g_keys[K_P256][0], "nc root", -1), *inter, *good, *evil;
    struct lca_cert_signer *rs = signer(root, g_keys[K_P256][0]), *is;
    NAME_CONSTRAINTS *nc;
    struct lca_cert_req r;
    uint8_t serial[16];
    char why[8192];
    int crit = -1;

    base_req(&r, "nc intermediate", serial);
    r.is_ca = 1;
    r.permitted_dns_domains = permitted;
    r.n_permitted = 2;
    inter = make_cert(rs, g_int_key, &r);
    nc = X509_get_ext_d2i(inter, NID_name_constraints, &crit, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(nc);
    CU_ASSERT_EQUAL(crit, 1);
    CU_ASSERT_EQUAL(sk_GENERAL_SUBTREE_num(nc->permittedSubtrees), 2);
    NAME_CONSTRAINTS_free(nc);
    assert_lint(inter, "name-constrained intermediate");
    is = signer(inter, g_int_key);
    good = leaf_with_dns(is, "web.example.test");
    evil = leaf_with_dns(is, "web.evil.test");
    CU_ASSERT(verify(good, inter, root, why, sizeof(why)) == 0);
    CU_ASSERT(verify(evil, inter, root, why, sizeof(why)) != 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "openssl verify rejected"));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "permitted subtree violation"));
    X509_free(good);
    X509_free(evil);
    X509_free(inter);
    X509_free(root);
    lca_cert_signer_free(rs);
    lca_cert_signer_free(is);
}

/* root pathlen 0 -> intermediate -> leaf must fail; pathlen 1 passes. */
static void test_path_length(void)
{
    int pl;

    for (pl = 0; pl <= 1; pl++) {
        X509 *root = make_root(g_keys[K_P256][0], "pl root", pl), *inter, *leaf;
        struct lca_cert_signer *rs = signer(root, g_keys[K_P256][0]), *is;
        struct lca_cert_req r;
        uint8_t serial[16];
        char why[8192];

        CU_ASSERT_EQUAL(X509_get_pathlen(root), pl);
        base_req(&r, "pl intermediate", serial);
        r.is_ca = 1;
        inter = make_cert(rs, g_int_key, &r);
        is = signer(inter, g_int_key);
        leaf = leaf_with_dns(is, "a.example.test");
        CU_ASSERT_EQUAL(verify(leaf, inter, root, why, sizeof(why)) == 0, pl == 1);
        if (pl == 0) {
            CU_ASSERT_PTR_NOT_NULL(strstr(why, "path length"));
        }
        X509_free(root);
        X509_free(inter);
        X509_free(leaf);
        lca_cert_signer_free(rs);
        lca_cert_signer_free(is);
    }
}

static int same_spki(X509 *a, X509 *b)
{
    unsigned char *pa = NULL, *pb = NULL;
    int na = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(a), &pa);
    int nb = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(b), &pb);
    int same = na > 0 && na == nb && memcmp(pa, pb, (size_t)na) == 0;

    OPENSSL_free(pa);
    OPENSSL_free(pb);
    return same;
}

/* Seed 002: a cross-signed root A (issuer B) lets leaves under A verify for clients that
 * trust only B; it keeps A's subject, SPKI and SKI. */
static void test_cross_sign(void)
{
    X509 *ra = make_root(g_keys[K_P256][0], "root A", -1);
    X509 *rb = make_root(g_keys[K_P384][0], "root B", -1), *inter, *leaf, *cross = NULL;
    struct lca_cert_signer *sa = signer(ra, g_keys[K_P256][0]), *sb = signer(rb, g_keys[K_P384][0]);
    struct lca_cert_signer *si;
    struct lca_cert_req r;
    uint8_t serial[16];
    struct lca_err err;
    char why[8192], *untrusted, *leaf_pem;
    int rc;

    base_req(&r, "int under A", serial);
    r.is_ca = 1;
    inter = make_cert(sa, g_int_key, &r);
    si = signer(inter, g_int_key);
    leaf = leaf_with_dns(si, "svc.example.test");
    new_serial(serial);
    CU_ASSERT_FATAL(lca_cert_resign(sb, ra, serial, 16, g_now - 60, g_now + 5 * 86400, &URLS,
                                    &cross, &err) == LCA_OK);
    CU_ASSERT_EQUAL(X509_NAME_cmp(X509_get_subject_name(cross), X509_get_subject_name(ra)), 0);
    CU_ASSERT_EQUAL(X509_NAME_cmp(X509_get_issuer_name(cross), X509_get_subject_name(rb)), 0);
    CU_ASSERT(same_spki(cross, ra));
    CU_ASSERT_EQUAL(ASN1_OCTET_STRING_cmp(X509_get0_subject_key_id(cross),
                                          X509_get0_subject_key_id(ra)), 0);
    CU_ASSERT_EQUAL(X509_get_signature_nid(cross), NID_ecdsa_with_SHA384);
    CU_ASSERT_EQUAL(count_urls(cross, NID_crl_distribution_points), 2);
    assert_aki(cross, rb);
    assert_lint(cross, "cross-signed");
    CU_ASSERT(lca_cert_not_after(cross) == g_now + 5 * 86400);
    untrusted = pem_cat(inter, cross);
    leaf_pem = strdup(pem(leaf));
    rc = lca_oracle_verify(leaf_pem, untrusted, pem(rb), NULL, why, sizeof(why));
    if (rc != 0) {
        fprintf(stderr, "\ncross-signed chain: %s\n", why);
    }
    CU_ASSERT(rc == 0);
    free(leaf_pem);
    /* without the cross-signed certificate, trusting only B is not enough */
    CU_ASSERT(verify(leaf, inter, rb, why, sizeof(why)) != 0);
    free(untrusted);
    X509_free(ra);
    X509_free(rb);
    X509_free(inter);
    X509_free(leaf);
    X509_free(cross);
    lca_cert_signer_free(sa);
    lca_cert_signer_free(sb);
    lca_cert_signer_free(si);
}

/* Reissue: same key and subject, new serial and validity; leaves under the old root verify
 * under the reissued one. */
static void test_reissue(void)
{
    X509 *ra = make_root(g_keys[K_RSA2048][0], "root R", 2), *inter, *re = NULL;
    struct lca_cert_signer *sa = signer(ra, g_keys[K_RSA2048][0]);
    struct lca_cert_req r;
    uint8_t serial[16];
    struct lca_err err;
    char why[8192], h1[64], h2[64];

    base_req(&r, "int under R", serial);
    r.is_ca = 1;
    inter = make_cert(sa, g_int_key, &r);
    new_serial(serial);
    CU_ASSERT_FATAL(lca_cert_resign(sa, ra, serial, 16, g_now - 60, g_now + 20 * 86400, NULL, &re,
                                    &err) == LCA_OK);
    CU_ASSERT(same_spki(re, ra));
    CU_ASSERT_EQUAL(X509_NAME_cmp(X509_get_subject_name(re), X509_get_issuer_name(re)), 0);
    CU_ASSERT_EQUAL(X509_get_pathlen(re), 2);
    lca_cert_serial_hex(ra, h1, sizeof(h1));
    lca_cert_serial_hex(re, h2, sizeof(h2));
    CU_ASSERT(strcmp(h1, h2) != 0);
    CU_ASSERT_EQUAL(X509_check_issued(re, re), X509_V_OK);
    CU_ASSERT(verify(inter, NULL, re, why, sizeof(why)) == 0);
    assert_lint(re, "reissued root");
    X509_free(ra);
    X509_free(re);
    X509_free(inter);
    lca_cert_signer_free(sa);
}

/* 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
static void test_generalized_time(void)
{
    X509 *root = make_root(g_keys[K_P256][0], "time root", -1), *leaf;
    struct lca_cert_signer *s = signer(root, g_keys[K_P256][0]);
    struct lca_cert_req r;
    uint8_t serial[16];
    char why[8192];
    const int64_t y2051 = 2556144000; /* 2051-01-01T00:00:00Z */

    base_req(&r, "long lived", serial);
    r.not_after = y2051;
    leaf = make_cert(s, g_keys[K_P256][1], &r);
    CU_ASSERT_EQUAL(ASN1_STRING_type(X509_get0_notBefore(leaf)), V_ASN1_UTCTIME);
    CU_ASSERT_EQUAL(ASN1_STRING_type(X509_get0_notAfter(leaf)), V_ASN1_GENERALIZEDTIME);
    CU_ASSERT_STRING_EQUAL((const char *)ASN1_STRING_get0_data(X509_get0_notAfter(leaf)),
                           "20510101000000Z");
    CU_ASSERT_EQUAL(lca_cert_not_after(leaf), y2051);
    CU_ASSERT_EQUAL(lca_cert_not_before(leaf), g_now - 60);
    X509_free(leaf);
    r.not_after = 2524607999; /* 2049-12-31T23:59:59Z: still UTCTime */
    leaf = make_cert(s, g_keys[K_P256][1], &r);
    CU_ASSERT_EQUAL(ASN1_STRING_type(X509_get0_notAfter(leaf)), V_ASN1_UTCTIME);
    CU_ASSERT_STRING_EQUAL((const char *)ASN1_STRING_get0_data(X509_get0_notAfter(leaf)),
                           "491231235959Z");
    CU_ASSERT(verify(leaf, NULL, root, why, sizeof(why)) == 0);
    X509_free(leaf);
    X509_free(root);
    lca_cert_signer_free(s);
}

/* Consul SPIFFE leaf: URI SAN only, empty subject, SAN critical (4.2.1.6). */
static void test_spiffe_leaf(void)
{
    const char *uri = "spiffe://11111111-2222-3333-4444-555555555555.consul/ns/default/dc/dc1/svc/web";
    X509 *root = make_root(g_keys[K_P256][0], "spiffe root", -1), *leaf;
    struct lca_cert_signer *s = signer(root, g_keys[K_P256][0]);
    GENERAL_NAMES *san;
    struct lca_cert_req r;
    uint8_t serial[16];
    char why[8192];
    int crit = -1;

    base_req(&r, NULL, serial);
    r.uris = &uri;
    r.n_uri = 1;
    leaf = make_cert(s, g_keys[K_P256][1], &r);
    CU_ASSERT_EQUAL(X509_NAME_entry_count(X509_get_subject_name(leaf)), 0);
    san = X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(san);
    CU_ASSERT_EQUAL(crit, 1);
    CU_ASSERT_EQUAL(sk_GENERAL_NAME_num(san), 1);
    CU_ASSERT_EQUAL(sk_GENERAL_NAME_value(san, 0)->type, GEN_URI);
    CU_ASSERT_STRING_EQUAL(
        (const char *)ASN1_STRING_get0_data(sk_GENERAL_NAME_value(san, 0)->d.uniformResourceIdentifier),
        uri);
    GENERAL_NAMES_free(san);
    CU_ASSERT(verify(leaf, NULL, root, why, sizeof(why)) == 0);
    assert_lint(leaf, "spiffe leaf");
    X509_free(leaf);
    X509_free(root);
    lca_cert_signer_free(s);
}

/* Explicit keyUsage/extKeyUsage bits are encoded as given. */
static void test_explicit_usages(void)
{
    X509 *root = make_root(g_keys[K_P256][0], "usage root", -1), *leaf;
    struct lca_cert_signer *s = signer(root, g_keys[K_P256][0]);
    struct lca_cert_req r;
    uint8_t serial[16];

    base_req(&r, "usage", serial);
    r.key_usage = LCA_KU_DIGITAL_SIGNATURE | LCA_KU_CONTENT_COMMITMENT | LCA_KU_KEY_AGREEMENT;
    r.ext_key_usage = LCA_EKU_CODE_SIGNING | LCA_EKU_TIME_STAMPING | LCA_EKU_EMAIL_PROTECTION;
    leaf = make_cert(s, g_keys[K_P256][1], &r);
    CU_ASSERT_EQUAL(X509_get_key_usage(leaf),
                    KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION | KU_KEY_AGREEMENT);
    CU_ASSERT_EQUAL(X509_get_extended_key_usage(leaf), XKU_CODE_SIGN | XKU_TIMESTAMP | XKU_SMIME);
    X509_free(leaf);
    X509_free(root);
    lca_cert_signer_free(s);
}

/* ------------------------------------------------------------------ serials and helpers */

static void test_serial_encoding(void)
{
    X509 *root = make_root(g_keys[K_P256][0], "serial root", -1), *leaf;
    struct lca_cert_signer *s = signer(root, g_keys[K_P256][0]);
    static const uint8_t cases[3][16] = {
        {0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0},
        {0x80, 0x00, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}, /* leading zeros after clear */
        {0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
    };
    static const char *const want[3] = {
        "7f:ee:dd:cc:bb:aa:99:88:77:66:55:44:33:22:11:00",
        "ff:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d",
        "01",
    };
    struct lca_cert_req r;
    uint8_t serial[16];
    char h1[64], h2[64];
    int i;

    for (i = 0; i < 3; i++) {
        base_req(&r, "serial", serial);
        r.serial = cases[i];
        leaf = make_cert(s, g_keys[K_P256][1], &r);
        assert_serial(leaf);
        lca_cert_serial_hex(leaf, h1, sizeof(h1));
        lca_cert_serial_hex_raw(cases[i], 16, h2, sizeof(h2));
        CU_ASSERT_STRING_EQUAL(h1, want[i]);
        CU_ASSERT_STRING_EQUAL(h2, want[i]);
        X509_free(leaf);
    }
    /* truncation keeps the string terminated */
    lca_cert_serial_hex_raw(cases[0], 16, h1, 6);
    CU_ASSERT_STRING_EQUAL(h1, "7f:ee");
    X509_free(root);
    lca_cert_signer_free(s);
}

static void test_pem_der_roundtrip(void)
{
    X509 *root = make_root(g_keys[K_P256][0], "pem root", -1), *back = NULL;
    struct lca_err err;
    uint8_t *der = NULL;
    size_t dlen, plen, olen;
    char *p1 = NULL, *p2 = NULL, ski[80];
    BIO *b = BIO_new(BIO_s_mem());
    char *ossl;

    CU_ASSERT_FATAL(lca_cert_to_der(root, &der, &dlen, &err) == LCA_OK);
    CU_ASSERT_FATAL(lca_cert_der_to_pem(der, dlen, &p1, &plen, &err) == LCA_OK);
    CU_ASSERT_FATAL(PEM_write_bio_X509(b, root) == 1);
    olen = (size_t)BIO_get_mem_data(b, &ossl);
    CU_ASSERT(plen == olen && memcmp(p1, ossl, olen) == 0 && p1[plen] == '\0');
    CU_ASSERT_FATAL(lca_cert_from_pem(p1, plen, &back, &err) == LCA_OK);
    CU_ASSERT_EQUAL(X509_cmp(root, back), 0);
    X509_free(back);
    back = NULL;
    CU_ASSERT_FATAL(lca_cert_from_der(der, dlen, &back, &err) == LCA_OK);
    CU_ASSERT_EQUAL(X509_cmp(root, back), 0);
    CU_ASSERT_FATAL(lca_cert_to_pem(back, &p2, &plen, &err) == LCA_OK);
    CU_ASSERT_STRING_EQUAL(p1, p2);
    CU_ASSERT_FATAL(lca_cert_ski_hex(root, ski, sizeof(ski)) == LCA_OK);
    CU_ASSERT_EQUAL(strlen(ski), 59);
    CU_ASSERT(ski[2] == ':' && ski[58] != ':');
    CU_ASSERT_EQUAL(lca_cert_ski_hex(root, ski, 40), LCA_FAIL);
    /* negatives */
    X509_free(back);
    back = NULL;
    CU_ASSERT_EQUAL(lca_cert_from_der(der, dlen - 1, &back, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "bad_cert");
    CU_ASSERT_EQUAL(lca_cert_from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n", 33, &back, &err),
                    LCA_FAIL);
    CU_ASSERT_PTR_NULL(back);
    BIO_free(b);
    free(der);
    free(p1);
    free(p2);
    X509_free(root);
}

static void expect_bad(struct lca_cert_signer *s, const struct lca_cert_req *r, const uint8_t *spki,
                       size_t n, const char *code)
{
    struct lca_err err;
    uint8_t *der = NULL;
    size_t len = 0;

    lca_err_clear(&err);
    CU_ASSERT_EQUAL(lca_cert_sign_der(s, r, spki, n, &der, &len, &err), LCA_FAIL);
    CU_ASSERT_PTR_NULL(der);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    CU_ASSERT_STRING_EQUAL(err.code, code);
}

static void test_refusals(void)
{
    X509 *root = make_root(g_keys[K_P256][0], "neg root", -1);
    struct lca_cert_signer *s = signer(root, g_keys[K_P256][0]), *bad = NULL;
    static const uint8_t zero[16] = {0}, msb_only[1] = {0x80};
    const char *bad_ip = "10.0.0.256", *bad_dns = "a b.example", *dns = "ok.example";
    char long_cn[80];
    struct lca_cert_req r;
    uint8_t serial[16], *spki, trunc[8];
    size_t n;
    struct lca_err err;

    spki = spki_of(g_keys[K_P256][1], &n);
    base_req(&r, "x", serial);
    r.serial = zero;
    expect_bad(s, &r, spki, n, "bad_request");
    r.serial = msb_only; /* becomes zero once the top bit is cleared */
    r.serial_len = 1;
    expect_bad(s, &r, spki, n, "bad_request");
    base_req(&r, "x", serial);
    r.serial_len = 21;
    expect_bad(s, &r, spki, n, "bad_request");
    base_req(&r, "x", serial);
    r.not_after = r.not_before - 1;
    expect_bad(s, &r, spki, n, "bad_request");
    base_req(&r, "x", serial);
    r.ip_addrs = &bad_ip;
    r.n_ip = 1;
    expect_bad(s, &r, spki, n, "bad_request");
    base_req(&r, "x", serial);
    r.dns_names = &bad_dns;
    r.n_dns = 1;
    expect_bad(s, &r, spki, n, "bad_request");
    base_req(&r, NULL, serial); /* empty subject and no SAN */
    expect_bad(s, &r, spki, n, "bad_request");
    memset(long_cn, 'a', sizeof(long_cn) - 1);
    long_cn[sizeof(long_cn) - 1] = '\0';
    base_req(&r, long_cn, serial);
    expect_bad(s, &r, spki, n, "bad_request");
    base_req(&r, "x", serial);
    r.dns_names = &dns;
    r.n_dns = 1;
    memcpy(trunc, spki, sizeof(trunc));
    expect_bad(s, &r, trunc, sizeof(trunc), "bad_spki");
    expect_bad(s, &r, spki, n - 1, "bad_spki");
    expect_bad(s, &r, (const uint8_t *)"garbage!", 8, "bad_spki");
    expect_bad(s, &r, NULL, 0, "bad_spki");
    /* signer: key must match the certificate */
    CU_ASSERT_EQUAL(lca_cert_signer_new(root, g_keys[K_P256][1], &bad, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "key_mismatch");
    CU_ASSERT_PTR_NULL(bad);
    lca_cert_signer_free(NULL);
    OPENSSL_free(spki);
    X509_free(root);
    lca_cert_signer_free(s);
}

/* ------------------------------------------------------------------ the oracles themselves */

/* A CRL made with OpenSSL's own API (v2, AKI keyid, CRL number), optionally revoking x. */
static char *make_crl(X509 *issuer, EVP_PKEY *key, X509 *revoked)
{
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *lu = ASN1_TIME_set(NULL, (time_t)(g_now - 60));
    ASN1_TIME *nu = ASN1_TIME_set(NULL, (time_t)(g_now + 86400));
    ASN1_INTEGER *num = ASN1_INTEGER_new();
    X509_REVOKED *r;
    X509_EXTENSION *aki;
    X509V3_CTX ctx;
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out;
    long n;

    CU_ASSERT_FATAL(crl != NULL && lu != NULL && nu != NULL && num != NULL && b != NULL);
    CU_ASSERT_FATAL(X509_CRL_set_version(crl, X509_CRL_VERSION_2) &&
                    X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) &&
                    X509_CRL_set1_lastUpdate(crl, lu) && X509_CRL_set1_nextUpdate(crl, nu));
    if (revoked != NULL) {
        r = X509_REVOKED_new();
        CU_ASSERT_FATAL(r != NULL &&
                        X509_REVOKED_set_serialNumber(
                            r, (ASN1_INTEGER *)X509_get0_serialNumber(revoked)) &&
                        X509_REVOKED_set_revocationDate(r, lu) && X509_CRL_add0_revoked(crl, r));
    }
    X509V3_set_ctx(&ctx, issuer, NULL, NULL, crl, 0);
    aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
    CU_ASSERT_FATAL(aki != NULL && X509_CRL_add_ext(crl, aki, -1) && ASN1_INTEGER_set(num, 1) &&
                    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) == 1);
    CU_ASSERT_FATAL(X509_CRL_sort(crl) && X509_CRL_sign(crl, key, EVP_sha256()) > 0 &&
                    PEM_write_bio_X509_CRL(b, crl));
    n = BIO_get_mem_data(b, &data);
    out = malloc((size_t)n + 1);
    CU_ASSERT_FATAL(out != NULL);
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    X509_EXTENSION_free(aki);
    ASN1_INTEGER_free(num);
    ASN1_TIME_free(lu);
    ASN1_TIME_free(nu);
    X509_CRL_free(crl);
    BIO_free(b);
    return out;
}

/* The verify oracle honours CRLs: an empty CRL passes, one revoking the leaf fails (both
 * tools); pkilint accepts the well-formed CRL. */
static void test_oracle_crl(void)
{
    X509 *root = make_root(g_keys[K_P256][0], "crl root", -1), *inter, *leaf;
    struct lca_cert_signer *rs = signer(root, g_keys[K_P256][0]), *is;
    struct lca_cert_req r;
    uint8_t serial[16];
    char why[8192], *leaf_pem, *inter_pem, *root_pem, *empty, *revoking;
    int rc;

    base_req(&r, "crl intermediate", serial);
    r.is_ca = 1;
    inter = make_cert(rs, g_int_key, &r);
    is = signer(inter, g_int_key);
    leaf = leaf_with_dns(is, "revoked.example.test");
    empty = make_crl(inter, g_int_key, NULL);
    revoking = make_crl(inter, g_int_key, leaf);
    leaf_pem = strdup(pem(leaf));
    inter_pem = strdup(pem(inter));
    root_pem = strdup(pem(root));
    rc = lca_oracle_verify(leaf_pem, inter_pem, root_pem, empty, why, sizeof(why));
    if (rc != 0) {
        fprintf(stderr, "\nempty CRL: %s\n", why);
    }
    CU_ASSERT(rc == 0);
    CU_ASSERT(lca_oracle_verify(leaf_pem, inter_pem, root_pem, revoking, why, sizeof(why)) != 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "revoked"));
    rc = lca_oracle_lint_crl(empty, why, sizeof(why));
    if (rc != 0) {
        fprintf(stderr, "\nlint_crl: %s\n", why);
    }
    CU_ASSERT(rc == 0);
    free(leaf_pem);
    free(inter_pem);
    free(root_pem);
    free(empty);
    free(revoking);
    X509_free(root);
    X509_free(inter);
    X509_free(leaf);
    lca_cert_signer_free(rs);
    lca_cert_signer_free(is);
}

/* The lint oracle can fail: a CA certificate with a non-critical basicConstraints (RFC 5280
 * 4.2.1.9 MUST) made with OpenSSL's API is rejected by zlint. */
static void test_oracle_lint_fails(void)
{
    X509 *x = X509_new();
    EVP_PKEY *k = g_keys[K_P256][0];
    X509_EXTENSION *e;
    X509V3_CTX ctx;
    char why[4096];

    CU_ASSERT_FATAL(x != NULL && X509_set_version(x, X509_VERSION_3) &&
                    ASN1_INTEGER_set(X509_get_serialNumber(x), 12345) &&
                    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                                               (const unsigned char *)"lint bad", -1, -1, 0) &&
                    X509_set_issuer_name(x, X509_get_subject_name(x)) &&
                    X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, NULL) &&
                    X509_time_adj_ex(X509_getm_notAfter(x), 1, 0, NULL) && X509_set_pubkey(x, k));
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "CA:TRUE");
    CU_ASSERT_FATAL(e != NULL && X509_add_ext(x, e, -1));
    X509_EXTENSION_free(e);
    CU_ASSERT_FATAL(X509_sign(x, k, EVP_sha256()) > 0);
    CU_ASSERT(lca_oracle_lint(pem(x), why, sizeof(why)) != 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "e_basic_constraints_not_critical"));
    X509_free(x);
}

/* The signer cache hands back the same signer for the same (certificate, key) objects, a new
 * one for other objects, keeps signing valid certificates after evictions, and caches
 * nothing for a key that does not match its certificate. */
static void test_signer_cache(void)
{
    struct lca_cert_signer_cache *c = lca_cert_signer_cache_new();
    struct lca_cert_signer *a = NULL, *b = NULL, *x = NULL;
    X509 *roots[10], *leaf;
    struct lca_cert_req r;
    uint8_t serial[16];
    struct lca_err err;
    char why[512];
    int i;

    CU_ASSERT_FATAL(c != NULL);
    for (i = 0; i < 10; i++) {
        roots[i] = make_root(g_keys[K_P256][i % 2], "cache root", -1);
    }
    CU_ASSERT_FATAL(lca_cert_signer_cached(c, roots[0], g_keys[K_P256][0], &a, &err) == LCA_OK);
    CU_ASSERT_FATAL(lca_cert_signer_cached(c, roots[0], g_keys[K_P256][0], &b, &err) == LCA_OK);
    CU_ASSERT_PTR_EQUAL(a, b);
    CU_ASSERT_EQUAL(lca_cert_signer_cached(c, roots[0], g_keys[K_P256][1], &x, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "key_mismatch");
    CU_ASSERT_EQUAL(lca_cert_signer_cached(c, roots[0], g_keys[K_P256][1], &x, &err), LCA_FAIL);
    /* ten issuers through eight slots: every signer signs a certificate its root verifies */
    for (i = 0; i < 30; i++) {
        int k = (i * 7) % 10;
        CU_ASSERT_FATAL(lca_cert_signer_cached(c, roots[k], g_keys[K_P256][k % 2], &b, &err) ==
                        LCA_OK);
        base_req(&r, "cached.example.test", serial);
        leaf = make_cert(b, g_int_key, &r);
        CU_ASSERT_EQUAL(verify(leaf, NULL, roots[k], why, sizeof(why)), 0);
        assert_aki(leaf, roots[k]);
        X509_free(leaf);
    }
    for (i = 0; i < 10; i++) {
        X509_free(roots[i]); /* the cache still holds references to the ones it keeps */
    }
    /* roots[3] was the last one used: cached, so still alive (ASan would see a use after free) */
    CU_ASSERT_FATAL(lca_cert_signer_cached(c, roots[3], g_keys[K_P256][1], &b, &err) == LCA_OK);
    base_req(&r, "after-free.example.test", serial);
    leaf = make_cert(b, g_int_key, &r);
    X509_free(leaf);
    lca_cert_signer_cache_free(c);
    lca_cert_signer_cache_free(NULL);
}

int main(void)
{
    static const struct lca_cu_test tests[] = {
        {"chain P-256", test_chain_p256},
        {"chain P-384", test_chain_p384},
        {"chain Ed25519", test_chain_ed25519},
        {"chain RSA-2048", test_chain_rsa2048},
        {"chain RSA-3072", test_chain_rsa3072},
        {"chain RSA-4096", test_chain_rsa4096},
        {"DER fast path = X509 path, deterministic", test_der_fast_path},
        {"name constraints enforced by openssl", test_name_constraints},
        {"path length enforced by openssl", test_path_length},
        {"cross-sign", test_cross_sign},
        {"reissue", test_reissue},
        {"GeneralizedTime from 2050", test_generalized_time},
        {"SPIFFE URI-only leaf", test_spiffe_leaf},
        {"explicit key usages", test_explicit_usages},
        {"serial encoding and hex", test_serial_encoding},
        {"PEM/DER round trips", test_pem_der_roundtrip},
        {"refusals", test_refusals},
        {"signer cache", test_signer_cache},
        {"oracle: CRLs honoured, pkilint", test_oracle_crl},
        {"oracle: zlint rejects a bad certificate", test_oracle_lint_fails},
    };

    return LCA_CU_MAIN("cert", suite_init, suite_clean, tests);
}
