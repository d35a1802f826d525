/*
 * test_api_crl — the CRL paths of `ledgerca api` (workers/api_crl.h) on a hand-built snapshot:
 * the relative paths lca_crl_path writes parse back to the same scope; each configured base
 * URL's path and /v1/pki/crls serve the scope's bytes (DER and PEM); the 404s name what is
 * missing; paths that are not CRLs are left to the other routes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "api_crl.h"
#include "crl.h"
#include "curun.h"

#define ID "0b6c3a52-1f2e-4d3c-9a8b-7c6d5e4f3a2b"

static unsigned char der_full[] = {0x30, 0x03, 0x02, 0x01, 0x01};
static unsigned char der_delta[] = {0x30, 0x03, 0x02, 0x01, 0x02};
static unsigned char der_s3[] = {0x30, 0x03, 0x02, 0x01, 0x03};

static void test_parse(void)
{
    static const struct {
        int shard, delta;
    } cases[] = {{-1, 0}, {-1, 1}, {0, 0}, {3, 1}, {255, 0}};
    char rel[128], id[40];
    int shard, delta, pem;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CU_ASSERT_EQUAL_FATAL(lca_crl_path(ID, cases[i].shard, cases[i].delta, rel, sizeof(rel)),
                              LCA_OK);
        CU_ASSERT_TRUE_FATAL(lca_api_crl_parse(rel, id, &shard, &delta, &pem));
        CU_ASSERT_STRING_EQUAL(id, ID);
        CU_ASSERT_EQUAL(shard, cases[i].shard);
        CU_ASSERT_EQUAL(delta, cases[i].delta);
        CU_ASSERT_EQUAL(pem, 0);
    }
    CU_ASSERT_TRUE(lca_api_crl_parse(ID "/7.delta.pem", id, &shard, &delta, &pem));
    CU_ASSERT_TRUE(shard == 7 && delta == 1 && pem == 1);
    CU_ASSERT_TRUE(lca_api_crl_parse(ID ".pem", id, &shard, &delta, &pem));
    CU_ASSERT_TRUE(shard == -1 && delta == 0 && pem == 1);
    /* not CRL paths */
    CU_ASSERT_FALSE(lca_api_crl_parse(ID, id, &shard, &delta, &pem));
    CU_ASSERT_FALSE(lca_api_crl_parse(".crl", id, &shard, &delta, &pem));
    CU_ASSERT_FALSE(lca_api_crl_parse(ID "/01.crl", id, &shard, &delta, &pem));
    CU_ASSERT_FALSE(lca_api_crl_parse(ID "/-1.crl", id, &shard, &delta, &pem));
    CU_ASSERT_FALSE(lca_api_crl_parse(ID "/.crl", id, &shard, &delta, &pem));
    CU_ASSERT_FALSE(lca_api_crl_parse(ID "/123456.crl", id, &shard, &delta, &pem));
    CU_ASSERT_FALSE(lca_api_crl_parse(ID "/1/2.crl", id, &shard, &delta, &pem));
    CU_ASSERT_FALSE(lca_api_crl_parse("a.b.crl", id, &shard, &delta, &pem));
    CU_ASSERT_FALSE(lca_api_crl_parse(ID ".crt", id, &shard, &delta, &pem));
    CU_ASSERT_FALSE(lca_api_crl_parse("v1/pki/issuer.crl", id, &shard, &delta, &pem));
    CU_ASSERT_FALSE(lca_api_crl_parse("0123456789012345678901234567890123456789.crl", id, &shard,
                                      &delta, &pem));
}

/* A snapshot with one issuer in 4 shards (shard 3's CRL only) plus its unsharded CRL and
 * delta, and a configured base path /pki. */
struct fixture {
    struct lca_api_crl crls[3];
    struct lca_api_issuer iss;
    struct lca_api_snap snap;
    char *paths[1];
};

static void fixture_init(struct fixture *f, unsigned shards)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->crls[0].scope, sizeof(f->crls[0].scope), "%s", "");
    f->crls[0].der = der_full;
    f->crls[0].len = sizeof(der_full);
    snprintf(f->crls[1].scope, sizeof(f->crls[1].scope), "%s", "3");
    f->crls[1].der = der_s3;
    f->crls[1].len = sizeof(der_s3);
    snprintf(f->crls[2].scope, sizeof(f->crls[2].scope), "%s", "delta");
    f->crls[2].der = der_delta;
    f->crls[2].len = sizeof(der_delta);
    snprintf(f->iss.id, sizeof(f->iss.id), "%s", ID);
    f->iss.crls = f->crls;
    f->iss.n_crls = 3;
    f->iss.crl_shards = shards;
    f->paths[0] = "/pki";
    f->snap.iss = &f->iss;
    f->snap.n_iss = 1;
    f->snap.crl_paths = f->paths;
    f->snap.n_crl_paths = 1;
}

/* Routes path: 1 handled (status and body in *r, the caller frees r->body), 0 not handled. */
static int get(const struct fixture *f, const char *path, struct lca_http_resp *r)
{
    memset(r, 0, sizeof(*r));
    return lca_api_crl_route(&f->snap, path, r);
}

static void expect_der(const struct fixture *f, const char *path, const unsigned char *der,
                       size_t len)
{
    struct lca_http_resp r;

    CU_ASSERT_TRUE_FATAL(get(f, path, &r));
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(r.content_type, "application/pkix-crl");
    CU_ASSERT_TRUE(r.len == len && memcmp(r.body, der, len) == 0);
    free(r.body);
}

static void expect_404(const struct fixture *f, const char *path, const char *words)
{
    struct lca_http_resp r;

    char text[512] = "";

    CU_ASSERT_TRUE_FATAL(get(f, path, &r));
    CU_ASSERT_EQUAL(r.status, 404);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r.body);
    snprintf(text, sizeof(text), "%.*s", (int)r.len, r.body); /* the body has no NUL */
    if (strstr(text, words) == NULL) {
        fprintf(stderr, "%s: %s (wanted %s)\n", path, text, words);
        CU_FAIL("404 does not name what is missing");
    }
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"errors\"")); /* Vault's error form */
    free(r.body);
}

static void test_route(void)
{
    struct fixture f;
    struct lca_http_resp r;

    fixture_init(&f, 4);
    expect_der(&f, "/v1/pki/crls/" ID ".crl", der_full, sizeof(der_full));
    expect_der(&f, "/pki/" ID ".crl", der_full, sizeof(der_full));
    expect_der(&f, "/pki/" ID ".delta.crl", der_delta, sizeof(der_delta));
    expect_der(&f, "/pki/" ID "/3.crl", der_s3, sizeof(der_s3));
    expect_der(&f, "/v1/pki/crls/0B6C3A52-1F2E-4D3C-9A8B-7C6D5E4F3A2B/3.crl", der_s3,
               sizeof(der_s3));
    CU_ASSERT_TRUE_FATAL(get(&f, "/pki/" ID "/3.pem", &r));
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(r.content_type, "application/x-pem-file");
    CU_ASSERT_TRUE(r.len > 20 && strncmp(r.body, "-----BEGIN X509 CRL-----\n", 25) == 0);
    free(r.body);
    expect_404(&f, "/pki/" ID "/3.delta.crl", "no delta CRL published yet for issuer " ID
                                              " shard 3");
    expect_404(&f, "/pki/" ID "/2.crl", "no CRL published yet for issuer " ID " shard 2");
    expect_404(&f, "/pki/" ID "/4.crl", "has no CRL shard 4 (crl_shards 4)");
    expect_404(&f, "/pki/00000000-0000-4000-8000-00000000dead.crl", "unknown issuer");
    expect_404(&f, "/v1/pki/crls/nonsense", "not a CRL path");
    expect_404(&f, "/v1/pki/crls/" ID "/x.crl", "not a CRL path");
    /* left to the other routes */
    CU_ASSERT_FALSE(get(&f, "/pki/readme.txt", &r));
    CU_ASSERT_FALSE(get(&f, "/pkix/" ID ".crl", &r));
    CU_ASSERT_FALSE(get(&f, "/v1/pki/crl", &r));
    CU_ASSERT_FALSE(get(&f, "/v1/pki/issuer/" ID "/crl", &r));
    CU_ASSERT_FALSE(get(&f, "/pki", &r));
    /* unsharded: no shard paths */
    fixture_init(&f, 0);
    expect_404(&f, "/pki/" ID "/3.crl", "has no CRL shard 3 (crl_shards 0)");
    expect_der(&f, "/pki/" ID ".crl", der_full, sizeof(der_full));
}

int main(void)
{
    static const struct lca_cu_test tests[] = {
        {"CRL paths parse back to their scope", test_parse},
        {"routes, forms and 404s", test_route},
    };

    return LCA_CU_MAIN("api_crl", NULL, NULL, tests);
}
