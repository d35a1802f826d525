/*
 * test_crl — the DER CRL v2 writer (RFC 5280 §5), checked by independent parsers:
 * OpenSSL (d2i_X509_CRL, `openssl crl -CAfile`, `openssl verify -crl_check`), GnuTLS
 * (`certtool --crl-info`, `certtool --verify-crl`) and pkilint (`lint_crl`, PKIX profile).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/Basic.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "crl.h"
#include "curun.h"
#include "pkix.h"

enum { EC256, EC384, RSA2K, ED, N_ISS };

static const char *alg_names[N_ISS] = {"P-256", "P-384", "RSA-2048", "Ed25519"};
static EVP_PKEY *iss_key[N_ISS];
static X509 *iss_cert[N_ISS];
static EVP_PKEY *leaf_key;
static X509 *leaf_revoked, *leaf_good; /* under EC256, serials 0x1001 and 0x1002 */
static char dir[256];
static int64_t now;

static const uint8_t SER_REVOKED[] = {0x10, 0x01};

static int init_suite(void)
{
    enum lca_pkix_alg algs[N_ISS] = {LCA_PKIX_P256, LCA_PKIX_P384, LCA_PKIX_RSA2048,
                                     LCA_PKIX_ED25519};
    const char *cns[N_ISS] = {"CRL Root P-256", "CRL Root P-384", "CRL Root RSA",
                              "CRL Root Ed25519"};

    now = (int64_t)time(NULL);
    for (int i = 0; i < N_ISS; i++) {
        iss_key[i] = lca_pkix_key(algs[i]);
        iss_cert[i] = lca_pkix_cert(&(struct lca_pkix_spec){
            .cn = cns[i], .key = iss_key[i], .is_ca = 1, .serial = (uint64_t)i + 1,
            .not_before = now - 86400, .not_after = now + 86400 * 365});
    }
    leaf_key = lca_pkix_key(LCA_PKIX_P256);
    leaf_revoked = lca_pkix_cert(&(struct lca_pkix_spec){
        .cn = "revoked.example", .key = leaf_key, .issuer = iss_cert[EC256],
        .issuer_key = iss_key[EC256], .serial = 0x1001, .not_before = now - 3600,
        .not_after = now + 86400});
    leaf_good = lca_pkix_cert(&(struct lca_pkix_spec){
        .cn = "good.example", .key = leaf_key, .issuer = iss_cert[EC256],
        .issuer_key = iss_key[EC256], .serial = 0x1002, .not_before = now - 3600,
        .not_after = now + 86400});
    return lca_pkix_tmpdir(dir, sizeof(dir));
}

static int clean_suite(void)
{
    for (int i = 0; i < N_ISS; i++) {
        X509_free(iss_cert[i]);
        EVP_PKEY_free(iss_key[i]);
    }
    X509_free(leaf_revoked);
    X509_free(leaf_good);
    EVP_PKEY_free(leaf_key);
    if (getenv("LCA_KEEP_TMP") == NULL) {
        lca_pkix_rmdir(dir);
    }
    return 0;
}

/* ------------------------------------------------------------------ helpers */

static struct lca_crl_req base_req(void)
{
    return (struct lca_crl_req){.this_update = now - 60, .next_update = now + 3600,
                                .crl_number = 1, .delta_base = -1};
}

static uint8_t *must_build(int iss, const struct lca_crl_req *req, size_t *len)
{
    struct lca_err err = {0};
    uint8_t *der = NULL;

    if (lca_crl_build(iss_cert[iss], iss_key[iss], req, &der, len, &err) != LCA_OK) {
        fprintf(stderr, "\nlca_crl_build: %s: %s\n", err.code, err.msg);
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(der);
    return der;
}

/* Parses with OpenSSL; every octet must be consumed and the signature must verify. */
static X509_CRL *must_parse(int iss, const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)len);

    CU_ASSERT_PTR_NOT_NULL_FATAL(crl);
    CU_ASSERT_EQUAL((size_t)(p - der), len);
    CU_ASSERT_EQUAL(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
    CU_ASSERT_EQUAL(X509_CRL_verify(crl, iss_key[iss]), 1);
    CU_ASSERT_EQUAL(X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(iss_cert[iss])),
                    0);
    return crl;
}

static void path_of(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
}

/* Runs cmd; asserts the exit status is (or is not) zero and, if needle, that output holds it. */
static void run_expect(const char *cmd, int want_ok, const char *needle)
{
    static char out[1 << 16];
    int rc = lca_pkix_run(cmd, out, sizeof(out));
    int ok = want_ok ? rc == 0 : rc != 0;

    if (ok && needle != NULL) {
        ok = strstr(out, needle) != NULL;
    }
    if (!ok) {
        fprintf(stderr, "\n$ %s\n-> %d (wanted %s%s%s)\n%.3000s\n", cmd, rc,
                want_ok ? "success" : "failure", needle ? " with " : "", needle ? needle : "",
                out);
    }
    CU_ASSERT_TRUE(ok);
}

enum { T_OPENSSL = 0, T_GNUTLS = 1, T_LINT = 2, T_ALL = 3 };

/* Independent tools on one CRL: openssl signature check always; GnuTLS parse and verify
 * (T_GNUTLS: certtool 3.7 is quadratic in the entry count, so not for large CRLs); pkilint
 * (T_LINT: a Python start-up each). */
static void tools_check(int iss, const uint8_t *der, size_t len, int which)
{
    char derp[300], pemp[300], cap[300], cmd[1500];
    char *pem = NULL;
    size_t pem_len = 0;
    struct lca_err err = {0};

    path_of(derp, sizeof(derp), "crl.der");
    path_of(pemp, sizeof(pemp), "crl.pem");
    path_of(cap, sizeof(cap), "issuer.pem");
    CU_ASSERT_EQUAL_FATAL(lca_crl_der_to_pem(der, len, &pem, &pem_len, &err), LCA_OK);
    CU_ASSERT_EQUAL(strlen(pem), pem_len);
    CU_ASSERT_EQUAL_FATAL(lca_pkix_write_file(derp, der, len), 0);
    CU_ASSERT_EQUAL_FATAL(lca_pkix_write_file(pemp, pem, pem_len), 0);
    CU_ASSERT_EQUAL_FATAL(lca_pkix_write_pem(cap, &iss_cert[iss], 1), 0);
    free(pem);
    snprintf(cmd, sizeof(cmd), "openssl crl -inform DER -in %s -CAfile %s -noout", derp, cap);
    run_expect(cmd, 1, "verify OK");
    snprintf(cmd, sizeof(cmd), "openssl crl -in %s -CAfile %s -noout", pemp, cap);
    run_expect(cmd, 1, "verify OK"); /* the PEM armour is readable too */
    if (which & T_GNUTLS) {
        snprintf(cmd, sizeof(cmd), "certtool --crl-info --inder --infile %s", derp);
        run_expect(cmd, 1, "Version: 2");
        snprintf(cmd, sizeof(cmd), "certtool --verify-crl --load-ca-certificate %s --infile %s",
                 cap, pemp);
        run_expect(cmd, 1, "Verified");
    }
    if (which & T_LINT) {
        /* pkilint prints one line per finding at or above the threshold */
        snprintf(cmd, sizeof(cmd),
                 "out=$(lint_crl lint -t CRL -p PKIX -s WARNING %s) || exit 1; "
                 "echo \"$out\"; test -z \"$out\"", derp);
        run_expect(cmd, 1, NULL);
    }
}

/* Number of entries; OpenSSL gives no stack when revokedCertificates is absent (§5.1.2.6). */
static int n_revoked(X509_CRL *crl)
{
    STACK_OF(X509_REVOKED) *rev = X509_CRL_get_REVOKED(crl);

    return rev == NULL ? 0 : sk_X509_REVOKED_num(rev);
}

static int64_t time_of(const ASN1_TIME *t)
{
    struct tm tm;

    CU_ASSERT_FATAL(ASN1_TIME_to_tm(t, &tm) == 1);
    return (int64_t)timegm(&tm);
}

static uint64_t int_ext(X509_CRL *crl, int nid, int *crit)
{
    ASN1_INTEGER *ai = X509_CRL_get_ext_d2i(crl, nid, crit, NULL);
    uint64_t v = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(ai);
    CU_ASSERT_EQUAL(ASN1_INTEGER_get_uint64(&v, ai), 1);
    ASN1_INTEGER_free(ai);
    return v;
}

/* Reason code of a revoked entry, -1 when the extension is absent. */
static int entry_reason(X509_REVOKED *r)
{
    int crit = 0;
    ASN1_ENUMERATED *e = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &crit, NULL);
    int v;

    if (e == NULL) {
        return -1;
    }
    CU_ASSERT_EQUAL(crit, 0); /* §5.3.1: non-critical */
    v = (int)ASN1_ENUMERATED_get(e);
    ASN1_ENUMERATED_free(e);
    return v;
}

static uint64_t entry_serial(X509_REVOKED *r)
{
    uint64_t v = 0;

    CU_ASSERT_EQUAL(ASN1_INTEGER_get_uint64(&v, X509_REVOKED_get0_serialNumber(r)), 1);
    return v;
}

/* ------------------------------------------------------------------ tests */

static void test_reason_names(void)
{
    enum lca_crl_reason r = LCA_CRL_UNSPECIFIED;
    struct lca_err err = {0};
    const enum lca_crl_reason all[] = {
        LCA_CRL_UNSPECIFIED, LCA_CRL_KEY_COMPROMISE, LCA_CRL_CA_COMPROMISE,
        LCA_CRL_AFFILIATION_CHANGED, LCA_CRL_SUPERSEDED, LCA_CRL_CESSATION,
        LCA_CRL_CERTIFICATE_HOLD, LCA_CRL_REMOVE_FROM_CRL, LCA_CRL_PRIVILEGE_WITHDRAWN,
        LCA_CRL_AA_COMPROMISE};

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        CU_ASSERT_EQUAL(lca_crl_reason_parse(lca_crl_reason_name(all[i]), &r, &err), LCA_OK);
        CU_ASSERT_EQUAL(r, all[i]);
    }
    CU_ASSERT_EQUAL(lca_crl_reason_parse("keyCompromise", &r, &err), LCA_OK);
    CU_ASSERT_EQUAL(r, LCA_CRL_KEY_COMPROMISE);
    CU_ASSERT_EQUAL(lca_crl_reason_parse("KEY_COMPROMISE", &r, &err), LCA_OK);
    CU_ASSERT_EQUAL(lca_crl_reason_parse("cessationOfOperation", &r, &err), LCA_OK);
    CU_ASSERT_EQUAL(r, LCA_CRL_CESSATION);
    CU_ASSERT_EQUAL(lca_crl_reason_parse("cessation", &r, &err), LCA_OK);
    CU_ASSERT_EQUAL(lca_crl_reason_parse("aACompromise", &r, &err), LCA_OK);
    CU_ASSERT_EQUAL(r, LCA_CRL_AA_COMPROMISE);
    r = LCA_CRL_SUPERSEDED;
    CU_ASSERT_EQUAL(lca_crl_reason_parse("key compromise", &r, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    CU_ASSERT_STRING_EQUAL(err.code, "bad_reason");
    CU_ASSERT_EQUAL(r, LCA_CRL_SUPERSEDED); /* untouched */
    CU_ASSERT_EQUAL(lca_crl_reason_parse("", &r, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(lca_crl_reason_parse(NULL, &r, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(lca_crl_reason_name((enum lca_crl_reason)7), "unknown");
}

static void test_empty_crl(void)
{
    struct lca_crl_req req = base_req();
    size_t len = 0;
    uint8_t *der = must_build(EC256, &req, &len);
    X509_CRL *crl = must_parse(EC256, der, len);
    int crit = -1;
    AUTHORITY_KEYID *aki;

    CU_ASSERT_EQUAL(n_revoked(crl), 0);
    CU_ASSERT_EQUAL(time_of(X509_CRL_get0_lastUpdate(crl)), req.this_update);
    CU_ASSERT_EQUAL(time_of(X509_CRL_get0_nextUpdate(crl)), req.next_update);
    CU_ASSERT_EQUAL(int_ext(crl, NID_crl_number, &crit), 1);
    CU_ASSERT_EQUAL(crit, 0);
    aki = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, &crit, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(aki);
    CU_ASSERT_EQUAL(ASN1_OCTET_STRING_cmp(aki->keyid, X509_get0_subject_key_id(iss_cert[EC256])), 0);
    CU_ASSERT_PTR_NULL(aki->issuer); /* keyIdentifier only (DESIGN invariant 6) */
    CU_ASSERT_PTR_NULL(aki->serial);
    AUTHORITY_KEYID_free(aki);
    CU_ASSERT_PTR_NULL(X509_CRL_get_ext_d2i(crl, NID_delta_crl, &crit, NULL));
    CU_ASSERT_PTR_NULL(X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, &crit, NULL));
    tools_check(EC256, der, len, T_ALL);
    X509_CRL_free(crl);
    free(der);
}

/* One entry per reason valid in a full CRL; unsorted input, serials of varied length. */
static void test_each_reason(void)
{
    const enum lca_crl_reason rs[] = {
        LCA_CRL_UNSPECIFIED, LCA_CRL_KEY_COMPROMISE, LCA_CRL_CA_COMPROMISE,
        LCA_CRL_AFFILIATION_CHANGED, LCA_CRL_SUPERSEDED, LCA_CRL_CESSATION,
        LCA_CRL_CERTIFICATE_HOLD, LCA_CRL_PRIVILEGE_WITHDRAWN, LCA_CRL_AA_COMPROMISE};
    enum { N = sizeof(rs) / sizeof(rs[0]) };
    /* serial i: (N - i) * 0x1111 ... descending, so the builder has to sort */
    uint8_t ser[N][3];
    struct lca_crl_entry e[N];
    struct lca_crl_req req = base_req();
    size_t len = 0;
    uint8_t *der;
    X509_CRL *crl;
    STACK_OF(X509_REVOKED) *rev;

    for (size_t i = 0; i < N; i++) {
        uint32_t v = (uint32_t)(N - i) * 0x11111u; /* up to 0x99999: top bit set in 3 octets */
        ser[i][0] = (uint8_t)(v >> 16);
        ser[i][1] = (uint8_t)(v >> 8);
        ser[i][2] = (uint8_t)v;
        e[i] = (struct lca_crl_entry){ser[i], 3, now - 1000 - (int64_t)i, rs[i], now + 86400};
    }
    req.entries = e;
    req.n_entries = N;
    der = must_build(EC256, &req, &len);
    crl = must_parse(EC256, der, len);
    rev = X509_CRL_get_REVOKED(crl);
    CU_ASSERT_EQUAL_FATAL(sk_X509_REVOKED_num(rev), N);
    for (int k = 0; k < N; k++) {
        X509_REVOKED *r = sk_X509_REVOKED_value(rev, k);
        size_t i = N - 1 - (size_t)k; /* ascending serial = reverse input order */
        CU_ASSERT_EQUAL(entry_serial(r), (uint64_t)(N - i) * 0x11111u);
        CU_ASSERT_EQUAL(entry_reason(r), rs[i] == LCA_CRL_UNSPECIFIED ? -1 : (int)rs[i]);
        CU_ASSERT_EQUAL(time_of(X509_REVOKED_get0_revocationDate(r)), e[i].revoked_at);
    }
    tools_check(EC256, der, len, T_ALL);
    X509_CRL_free(crl);
    free(der);
}

static void test_expired_dropped(void)
{
    const uint8_t s1[] = {0x01}, s2[] = {0x02}, s3[] = {0x03};
    struct lca_crl_req req = base_req();
    struct lca_crl_entry e[] = {
        {s1, 1, now - 5000, LCA_CRL_KEY_COMPROMISE, req.this_update - 1}, /* expired: dropped */
        {s2, 1, now - 5000, LCA_CRL_SUPERSEDED, req.this_update},         /* still valid then */
        {s3, 1, now - 5000, LCA_CRL_UNSPECIFIED, now + 86400},
    };
    size_t len = 0;
    uint8_t *der;
    X509_CRL *crl;
    STACK_OF(X509_REVOKED) *rev;

    req.entries = e;
    req.n_entries = 3;
    der = must_build(EC256, &req, &len);
    crl = must_parse(EC256, der, len);
    rev = X509_CRL_get_REVOKED(crl);
    CU_ASSERT_EQUAL_FATAL(sk_X509_REVOKED_num(rev), 2);
    CU_ASSERT_EQUAL(entry_serial(sk_X509_REVOKED_value(rev, 0)), 2);
    CU_ASSERT_EQUAL(entry_serial(sk_X509_REVOKED_value(rev, 1)), 3);
    X509_CRL_free(crl);
    free(der);
    /* all expired: an empty CRL, and max_entries counts only what remains */
    e[1].not_after = e[2].not_after = req.this_update - 10;
    req.max_entries = 1;
    der = must_build(EC256, &req, &len);
    crl = must_parse(EC256, der, len);
    CU_ASSERT_EQUAL(n_revoked(crl), 0);
    X509_CRL_free(crl);
    free(der);
}

static void test_crl_number_increasing(void)
{
    const uint64_t nums[] = {41, 42, 0x7fffffffffffffffULL, 0x8000000000000005ULL};
    uint64_t prev = 0;

    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        struct lca_crl_req req = base_req();
        size_t len = 0;
        uint8_t *der;
        X509_CRL *crl;
        int crit = -1;
        uint64_t got;

        req.crl_number = nums[i];
        der = must_build(EC256, &req, &len);
        crl = must_parse(EC256, der, len);
        got = int_ext(crl, NID_crl_number, &crit);
        CU_ASSERT_EQUAL(got, nums[i]);
        CU_ASSERT_TRUE(got > prev);
        prev = got;
        if (i == 3) {
            tools_check(EC256, der, len, T_GNUTLS); /* 9-octet INTEGER with a leading zero */
        }
        X509_CRL_free(crl);
        free(der);
    }
}

static void test_delta_crl(void)
{
    const uint8_t s1[] = {0xab, 0xcd}, s2[] = {0x7f};
    struct lca_crl_req req = base_req();
    struct lca_crl_entry e[] = {
        {s1, 2, now - 100, LCA_CRL_KEY_COMPROMISE, now + 86400},
        {s2, 1, now - 100, LCA_CRL_REMOVE_FROM_CRL, now + 86400}, /* only in deltas */
    };
    size_t len = 0;
    uint8_t *der;
    X509_CRL *crl;
    int crit = 0;

    req.crl_number = 42;
    req.delta_base = 41;
    req.entries = e;
    req.n_entries = 2;
    der = must_build(EC256, &req, &len);
    crl = must_parse(EC256, der, len);
    CU_ASSERT_EQUAL(int_ext(crl, NID_delta_crl, &crit), 41);
    CU_ASSERT_EQUAL(crit, 1); /* §5.2.4: critical */
    CU_ASSERT_EQUAL(int_ext(crl, NID_crl_number, &crit), 42);
    CU_ASSERT_EQUAL(entry_reason(sk_X509_REVOKED_value(X509_CRL_get_REVOKED(crl), 0)),
                    LCA_CRL_REMOVE_FROM_CRL);
    tools_check(EC256, der, len, T_ALL);
    X509_CRL_free(crl);
    free(der);
}

static void test_idp(void)
{
    static const char url[] = "http://crl.example/dc1/issuer-1/shard-3.crl";
    struct lca_crl_req req = base_req();
    size_t len = 0;
    uint8_t *der;
    X509_CRL *crl;
    int crit = 0;
    ISSUING_DIST_POINT *idp;
    GENERAL_NAME *gn;

    req.idp_url = url;
    der = must_build(EC256, &req, &len);
    crl = must_parse(EC256, der, len);
    idp = X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, &crit, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(idp);
    CU_ASSERT_EQUAL(crit, 1); /* §5.2.5: critical */
    CU_ASSERT_PTR_NOT_NULL_FATAL(idp->distpoint);
    CU_ASSERT_EQUAL_FATAL(idp->distpoint->type, 0); /* fullName */
    CU_ASSERT_EQUAL_FATAL(sk_GENERAL_NAME_num(idp->distpoint->name.fullname), 1);
    gn = sk_GENERAL_NAME_value(idp->distpoint->name.fullname, 0);
    CU_ASSERT_EQUAL_FATAL(gn->type, GEN_URI);
    CU_ASSERT_EQUAL(ASN1_STRING_length(gn->d.uniformResourceIdentifier), (int)strlen(url));
    CU_ASSERT_EQUAL(memcmp(ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier), url,
                           strlen(url)), 0);
    CU_ASSERT_EQUAL(idp->onlyuser, 0);
    CU_ASSERT_EQUAL(idp->onlyCA, 0);
    ISSUING_DIST_POINT_free(idp);
    tools_check(EC256, der, len, T_ALL);
    X509_CRL_free(crl);
    free(der);
}

/* freshestCRL (§5.2.6) in a complete CRL: where its delta is; refused in a delta CRL. */
static void test_freshest(void)
{
    static const char url[] = "http://crl.example/pki/issuer-1.delta.crl";
    struct lca_crl_opts opts = {.freshest_url = url};
    struct lca_crl_req req = base_req();
    struct lca_err err = {0};
    STACK_OF(DIST_POINT) *fr;
    GENERAL_NAME *gn;
    uint8_t *der = NULL;
    size_t len = 0;
    X509_CRL *crl;
    int crit = 1;

    CU_ASSERT_EQUAL_FATAL(
        lca_crl_build_opts(iss_cert[EC256], iss_key[EC256], &req, &opts, &der, &len, &err), LCA_OK);
    crl = must_parse(EC256, der, len);
    fr = X509_CRL_get_ext_d2i(crl, NID_freshest_crl, &crit, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fr);
    CU_ASSERT_EQUAL(crit, 0); /* §5.2.6: non-critical */
    CU_ASSERT_EQUAL_FATAL(sk_DIST_POINT_num(fr), 1);
    gn = sk_GENERAL_NAME_value(sk_DIST_POINT_value(fr, 0)->distpoint->name.fullname, 0);
    CU_ASSERT_EQUAL_FATAL(gn->type, GEN_URI);
    CU_ASSERT_EQUAL(ASN1_STRING_length(gn->d.uniformResourceIdentifier), (int)strlen(url));
    sk_DIST_POINT_pop_free(fr, DIST_POINT_free);
    tools_check(EC256, der, len, T_ALL);
    X509_CRL_free(crl);
    free(der);
    der = NULL;
    req.crl_number = 5;
    req.delta_base = 4;
    CU_ASSERT_EQUAL(
        lca_crl_build_opts(iss_cert[EC256], iss_key[EC256], &req, &opts, &der, &len, &err),
        LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "bad_crl_request");
    CU_ASSERT_PTR_NULL(der);
    opts.freshest_url = "http://bad url";
    req.delta_base = -1;
    CU_ASSERT_EQUAL(
        lca_crl_build_opts(iss_cert[EC256], iss_key[EC256], &req, &opts, &der, &len, &err),
        LCA_FAIL);
}

/* Every supported issuer algorithm, with entries, through every tool. */
static void test_algorithms(void)
{
    const uint8_t s1[] = {0x42, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01};
    struct lca_crl_entry e[] = {{s1, sizeof(s1), now - 10, LCA_CRL_CA_COMPROMISE, now + 99}};
    struct lca_crl_req req = base_req();

    req.entries = e;
    req.n_entries = 1;
    for (int i = 0; i < N_ISS; i++) {
        size_t len = 0;
        uint8_t *der = must_build(i, &req, &len);
        X509_CRL *crl = must_parse(i, der, len);

        printf("\n  %s: %zu octets", alg_names[i], len);
        CU_ASSERT_EQUAL(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 1);
        CU_ASSERT_NOT_EQUAL(X509_CRL_verify(crl, iss_key[(i + 1) % N_ISS]), 1); /* other key */
        tools_check(i, der, len, T_GNUTLS | (i == RSA2K || i == ED ? T_LINT : 0));
        X509_CRL_free(crl);
        free(der);
    }
}

/* openssl verify -crl_check: the revoked leaf is refused, the other one accepted. */
static void test_openssl_crl_check(void)
{
    struct lca_crl_entry e[] = {
        {SER_REVOKED, sizeof(SER_REVOKED), now - 30, LCA_CRL_KEY_COMPROMISE, now + 86400}};
    struct lca_crl_req req = base_req();
    char crlp[300], cap[300], lp[300], cmd[1500];
    size_t len = 0, pem_len = 0;
    uint8_t *der;
    char *pem = NULL;
    struct lca_err err = {0};

    req.entries = e;
    req.n_entries = 1;
    der = must_build(EC256, &req, &len);
    CU_ASSERT_EQUAL_FATAL(lca_crl_der_to_pem(der, len, &pem, &pem_len, &err), LCA_OK);
    path_of(crlp, sizeof(crlp), "check.crl.pem");
    path_of(cap, sizeof(cap), "root.pem");
    CU_ASSERT_EQUAL_FATAL(lca_pkix_write_file(crlp, pem, pem_len), 0);
    CU_ASSERT_EQUAL_FATAL(lca_pkix_write_pem(cap, &iss_cert[EC256], 1), 0);
    path_of(lp, sizeof(lp), "revoked.pem");
    CU_ASSERT_EQUAL_FATAL(lca_pkix_write_pem(lp, &leaf_revoked, 1), 0);
    snprintf(cmd, sizeof(cmd), "openssl verify -x509_strict -crl_check -CAfile %s -CRLfile %s %s",
             cap, crlp, lp);
    run_expect(cmd, 0, "certificate revoked");
    path_of(lp, sizeof(lp), "good.pem");
    CU_ASSERT_EQUAL_FATAL(lca_pkix_write_pem(lp, &leaf_good, 1), 0);
    snprintf(cmd, sizeof(cmd), "openssl verify -x509_strict -crl_check -CAfile %s -CRLfile %s %s",
             cap, crlp, lp);
    run_expect(cmd, 1, ": OK");
    free(pem);
    free(der);
}

static void test_max_entries(void)
{
    const uint8_t s[3][1] = {{1}, {2}, {3}};
    struct lca_crl_entry e[3];
    struct lca_crl_req req = base_req();
    struct lca_err err = {0};
    uint8_t *der = (uint8_t *)&err; /* sentinel: must stay untouched on failure */
    size_t len = 12345;

    for (int i = 0; i < 3; i++) {
        e[i] = (struct lca_crl_entry){s[i], 1, now - 10, LCA_CRL_SUPERSEDED, now + 100};
    }
    req.entries = e;
    req.n_entries = 3;
    req.max_entries = 2;
    CU_ASSERT_EQUAL(lca_crl_build(iss_cert[EC256], iss_key[EC256], &req, &der, &len, &err),
                    LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    CU_ASSERT_STRING_EQUAL(err.code, "crl_too_large");
    CU_ASSERT_PTR_EQUAL(der, (uint8_t *)&err);
    CU_ASSERT_EQUAL(len, 12345);
    req.max_entries = 3;
    der = must_build(EC256, &req, &len);
    free(der);
}

struct bad_case {
    const char *name;
    const char *code;
};

/* Applies mutation i to a valid request; returns the case description. */
static struct bad_case mutate(int i, struct lca_crl_req *req, struct lca_crl_entry *e,
                              int *iss, EVP_PKEY **key)
{
    static const uint8_t zero[] = {0x00, 0x00}, big[21] = {0x01}, five[] = {0x05},
                         five0[] = {0x00, 0x05};
    static char long_url[1100];

    switch (i) {
    case 0: req->next_update = req->this_update; return (struct bad_case){"next<=this", "bad_crl_request"};
    case 1: req->this_update = -700000000; return (struct bad_case){"before 1950", "bad_crl_request"};
    case 2: req->delta_base = 1; req->crl_number = 1; return (struct bad_case){"delta>=number", "bad_crl_request"};
    case 3: req->delta_base = -2; return (struct bad_case){"delta<-1", "bad_crl_request"};
    case 4: req->idp_url = ""; return (struct bad_case){"empty url", "bad_crl_request"};
    case 5: req->idp_url = "http://a b"; return (struct bad_case){"url with space", "bad_crl_request"};
    case 6:
        memset(long_url, 'a', sizeof(long_url) - 1);
        req->idp_url = long_url;
        return (struct bad_case){"url too long", "bad_crl_request"};
    case 7: e[0].serial = zero; e[0].serial_len = 2; return (struct bad_case){"zero serial", "bad_crl_request"};
    case 8: e[0].serial = big; e[0].serial_len = 21; return (struct bad_case){"21-octet serial", "bad_crl_request"};
    case 9: e[0].serial = NULL; return (struct bad_case){"NULL serial", "bad_crl_request"};
    case 10: e[0].reason = (enum lca_crl_reason)7; return (struct bad_case){"reason 7", "bad_crl_request"};
    case 11: e[0].reason = (enum lca_crl_reason)11; return (struct bad_case){"reason 11", "bad_crl_request"};
    case 12: e[0].reason = LCA_CRL_REMOVE_FROM_CRL; return (struct bad_case){"removeFromCRL in full CRL", "bad_crl_request"};
    case 13: e[0].revoked_at = 253402300800LL; return (struct bad_case){"year 10000", "bad_crl_request"};
    case 14:
        e[0].serial = five; e[0].serial_len = 1; e[1].serial = five0; e[1].serial_len = 2;
        return (struct bad_case){"same serial twice", "duplicate_serial"};
    case 15: *key = iss_key[EC384]; return (struct bad_case){"key of another issuer", "key_mismatch"};
    case 16: *iss = -1; return (struct bad_case){"NULL issuer", "bad_key"};
    case 17: req->entries = NULL; return (struct bad_case){"entries NULL", "bad_crl_request"};
    default: return (struct bad_case){NULL, NULL};
    }
}

static void test_bad_requests(void)
{
    for (int i = 0;; i++) {
        const uint8_t s1[] = {0x01}, s2[] = {0x02};
        struct lca_crl_entry e[] = {{s1, 1, now - 10, LCA_CRL_SUPERSEDED, now + 100},
                                    {s2, 1, now - 10, LCA_CRL_SUPERSEDED, now + 100}};
        struct lca_crl_req req = base_req();
        struct lca_err err = {0};
        uint8_t *der = NULL;
        size_t len = 0;
        int iss = EC256;
        EVP_PKEY *key = iss_key[EC256];
        struct bad_case bc;

        req.entries = e;
        req.n_entries = 2;
        bc = mutate(i, &req, e, &iss, &key);
        if (bc.name == NULL) {
            CU_ASSERT_EQUAL(i, 18);
            break;
        }
        CU_ASSERT_EQUAL(lca_crl_build(iss >= 0 ? iss_cert[iss] : NULL, key, &req, &der, &len, &err),
                        LCA_FAIL);
        CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
        CU_ASSERT_PTR_NULL(der);
        if (strcmp(err.code, bc.code) != 0) {
            fprintf(stderr, "\ncase %s: code %s, want %s (%s)\n", bc.name, err.code, bc.code,
                    err.msg);
        }
        CU_ASSERT_STRING_EQUAL(err.code, bc.code);
    }
}

static void test_unsupported_key(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    EVP_PKEY *ec521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
    struct lca_crl_req req = base_req();
    struct lca_err err = {0};
    uint8_t *der = NULL;
    size_t len = 0;
    X509 *c;

    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ec521);
    c = lca_pkix_cert(&(struct lca_pkix_spec){.cn = "weak", .key = k, .is_ca = 1, .serial = 9,
                                              .not_before = now, .not_after = now + 60});
    CU_ASSERT_EQUAL(lca_crl_build(c, k, &req, &der, &len, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "bad_key");
    X509_free(c);
    c = lca_pkix_cert(&(struct lca_pkix_spec){.cn = "p521", .key = ec521, .is_ca = 1, .serial = 9,
                                              .not_before = now, .not_after = now + 60});
    CU_ASSERT_EQUAL(lca_crl_build(c, ec521, &req, &der, &len, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "bad_key");
    CU_ASSERT_PTR_NULL(der);
    X509_free(c);
    EVP_PKEY_free(k);
    EVP_PKEY_free(ec521);
}

/* Times on both sides of the UTCTime/GeneralizedTime switch (§5.1.2.4) and before 1970. */
static void test_time_encoding(void)
{
    const int64_t at[] = {-631152000LL /* 1950-01-01 */, 0, 951782400 /* 2000-02-29 */,
                          2524607999LL /* 2049-12-31T23:59:59 */, 2524608000LL /* 2050 */,
                          4107542400LL /* 2100-03-01 */};
    enum { N = sizeof(at) / sizeof(at[0]) };
    uint8_t ser[N];
    struct lca_crl_entry e[N];
    struct lca_crl_req req = base_req();
    size_t len = 0;
    uint8_t *der;
    X509_CRL *crl;
    STACK_OF(X509_REVOKED) *rev;

    for (size_t i = 0; i < N; i++) {
        ser[i] = (uint8_t)(i + 1);
        e[i] = (struct lca_crl_entry){&ser[i], 1, at[i], LCA_CRL_UNSPECIFIED, INT64_MAX};
    }
    req.entries = e;
    req.n_entries = N;
    req.next_update = 2524608000LL + 86400; /* nextUpdate in GeneralizedTime */
    der = must_build(EC256, &req, &len);
    crl = must_parse(EC256, der, len);
    rev = X509_CRL_get_REVOKED(crl);
    CU_ASSERT_EQUAL_FATAL(sk_X509_REVOKED_num(rev), N);
    for (int i = 0; i < N; i++) {
        const ASN1_TIME *t = X509_REVOKED_get0_revocationDate(sk_X509_REVOKED_value(rev, i));
        CU_ASSERT_EQUAL(time_of(t), at[i]);
        CU_ASSERT_EQUAL(ASN1_STRING_type(t), at[i] >= 2524608000LL ? V_ASN1_GENERALIZEDTIME
                                                                   : V_ASN1_UTCTIME);
    }
    CU_ASSERT_EQUAL(ASN1_STRING_type(X509_CRL_get0_nextUpdate(crl)), V_ASN1_GENERALIZEDTIME);
    CU_ASSERT_EQUAL(time_of(X509_CRL_get0_nextUpdate(crl)), req.next_update);
    tools_check(EC256, der, len, T_ALL);
    X509_CRL_free(crl);
    free(der);
}

static void test_pem_bad_input(void)
{
    struct lca_err err = {0};
    char *pem = NULL;
    size_t n = 0;
    const uint8_t one = 0x30;

    CU_ASSERT_EQUAL(lca_crl_der_to_pem(NULL, 5, &pem, &n, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(lca_crl_der_to_pem(&one, 0, &pem, &n, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    CU_ASSERT_PTR_NULL(pem);
}

static double secs_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* A large CRL (100,000 entries; LCA_CRL_BIG overrides the count) builds and parses.
 * Build time is printed, never asserted. */
static void test_large_crl(void)
{
    const char *env = getenv("LCA_CRL_BIG");
    size_t n = env != NULL ? (size_t)strtoul(env, NULL, 10) : 100000;
    uint8_t *serials = malloc(n * 16);
    struct lca_crl_entry *e = calloc(n, sizeof(*e));
    struct lca_crl_req req = base_req();
    struct timespec t0;
    size_t len = 0;
    uint8_t *der;
    X509_CRL *crl;
    double build_s;

    CU_ASSERT_PTR_NOT_NULL_FATAL(serials);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL_FATAL(RAND_bytes(serials, (int)(n * 16)), 1);
    for (size_t i = 0; i < n; i++) {
        serials[i * 16] &= 0x7f; /* 128-bit serials, positive as DER INTEGERs like ours */
        serials[i * 16] |= 0x01;
        e[i] = (struct lca_crl_entry){serials + i * 16, 16, now - (int64_t)(i % 86400),
                                      (enum lca_crl_reason)(i % 7), now + 86400};
    }
    req.entries = e;
    req.n_entries = n;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    der = must_build(EC256, &req, &len);
    build_s = secs_since(&t0);
    printf("\n  %zu entries (P-256): built in %.3f s, %zu octets", n, build_s, len);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    crl = must_parse(EC256, der, len);
    printf(", OpenSSL d2i+verify %.3f s", secs_since(&t0));
    CU_ASSERT_EQUAL(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), (int)n);
    for (int i = 1; i < sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)); i++) {
        STACK_OF(X509_REVOKED) *rev = X509_CRL_get_REVOKED(crl);
        if (ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(rev, i - 1)),
                             X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(rev, i))) >= 0) {
            CU_FAIL("serials not strictly ascending");
            break;
        }
    }
    tools_check(EC256, der, len, T_OPENSSL);
    X509_CRL_free(crl);
    free(der);
    free(e);
    free(serials);
}

int main(void)
{
    static const struct lca_cu_test tests[] = {
        {"reason names", test_reason_names},
        {"empty CRL", test_empty_crl},
        {"one entry per reason, sorted", test_each_reason},
        {"expired entries dropped", test_expired_dropped},
        {"cRLNumber present and increasing", test_crl_number_increasing},
        {"delta CRL", test_delta_crl},
        {"issuingDistributionPoint", test_idp},
        {"freshestCRL", test_freshest},
        {"P-256, P-384, RSA, Ed25519 issuers", test_algorithms},
        {"openssl verify -crl_check", test_openssl_crl_check},
        {"max_entries", test_max_entries},
        {"bad requests", test_bad_requests},
        {"unsupported keys", test_unsupported_key},
        {"UTCTime/GeneralizedTime", test_time_encoding},
        {"PEM bad input", test_pem_bad_input},
        {"large CRL", test_large_crl},
    };

    return LCA_CU_MAIN("crl", init_suite, clean_suite, tests);
}
