/*
 * test_chain — ca_chain building over rotation primitives (seed 002) and manual_chain checks.
 *
 * Fixture (indices into the issuer set):
 *   0 A    old root                       1 B    new root
 *   2 B'   B cross-signed by A (backward) 3 I    intermediate under B
 *   4 I'   I cross-signed by A (forward)  5 C    unrelated root
 *   6 B~   impostor: subject "B", other key, self-signed
 *   7 R    root                            8 R2   R reissued (same key, new serial)
 *   9 K    intermediate under R
 *  10 X, 11 Y roots that cross-sign each other: 12 X' = X signed by Y, 13 Y' = Y signed by X
 * Expected chains are listed per target (table-driven, BearSSL style), then the chain of I is fed
 * to `openssl verify -x509_strict` with only A, then only B, as the trust anchor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/Basic.h>

#include "chain.h"
#include "curun.h"
#include "pkix.h"

enum { A, B, B_X, I, I_X, C, B_EVIL, R, R2, K, X, Y, X_X, Y_X, N_FIX };

static struct lca_chain_in fix[N_FIX];
static EVP_PKEY *keys[N_FIX];
static X509 *leaf;
static EVP_PKEY *leaf_key;
static char dir[256];
static int64_t now;

static const char *names[N_FIX] = {"A", "B", "B'", "I", "I'", "C", "B~",
                                   "R", "R2", "K", "X", "Y", "X'", "Y'"};

/* cert at slot: subject cn with key of slot `key_of`, signed by slot `by` (-1: self). */
static void make(int slot, const char *cn, int key_of, int by, uint64_t serial)
{
    struct lca_pkix_spec s = {
        .cn = cn,
        .key = keys[key_of],
        .issuer = by >= 0 ? fix[by].cert : NULL,
        .issuer_key = by >= 0 ? keys[by] : NULL,
        .is_ca = 1,
        .serial = serial,
        .not_before = now - 3600,
        .not_after = now + 86400 * 365,
    };

    fix[slot].cert = lca_pkix_cert(&s);
    fix[slot].issuer_id = names[slot];
}

static int init_suite(void)
{
    /* key owners: twins share the key of their original */
    int owner[N_FIX] = {A, B, B, I, I, C, B_EVIL, R, R, K, X, Y, X, Y};

    now = (int64_t)time(NULL);
    for (int i = 0; i < N_FIX; i++) {
        keys[i] = owner[i] == i ? lca_pkix_key(LCA_PKIX_P256) : NULL;
    }
    for (int i = 0; i < N_FIX; i++) {
        if (keys[i] == NULL) {
            keys[i] = keys[owner[i]];
            EVP_PKEY_up_ref(keys[i]);
        }
    }
    make(A, "A", A, -1, 1);
    make(B, "B", B, -1, 2);
    make(B_X, "B", B, A, 3);
    make(I, "I", I, B, 4);
    make(I_X, "I", I, A, 5);
    make(C, "C", C, -1, 6);
    make(B_EVIL, "B", B_EVIL, -1, 7);
    make(R, "R", R, -1, 8);
    make(R2, "R", R, -1, 9);
    make(K, "K", K, R, 10);
    make(X, "X", X, -1, 11);
    make(Y, "Y", Y, -1, 12);
    make(X_X, "X", X, Y, 13);
    make(Y_X, "Y", Y, X, 14);
    leaf_key = lca_pkix_key(LCA_PKIX_P256);
    leaf = lca_pkix_cert(&(struct lca_pkix_spec){.cn = "leaf.example", .key = leaf_key,
                                                  .issuer = fix[I].cert, .issuer_key = keys[I],
                                                  .serial = 100, .not_before = now - 3600,
                                                  .not_after = now + 86400});
    return lca_pkix_tmpdir(dir, sizeof(dir));
}

static int clean_suite(void)
{
    for (int i = 0; i < N_FIX; i++) {
        X509_free(fix[i].cert);
        EVP_PKEY_free(keys[i]);
    }
    X509_free(leaf);
    EVP_PKEY_free(leaf_key);
    if (getenv("LCA_KEEP_TMP") == NULL) {
        lca_pkix_rmdir(dir);
    }
    return 0;
}

struct chain_case {
    size_t target;
    size_t len;
    size_t want[LCA_CHAIN_MAX];
};

static const struct chain_case chain_cases[] = {
    {A, 1, {A}},                  /* root alone */
    {B, 3, {B, B_X, A}},          /* new root, then its cross-signed twin and the old root */
    {B_X, 3, {B_X, A, B}},        /* backward primitive */
    {I, 5, {I, B_X, I_X, B, A}},  /* intermediates before roots; impostor B~ excluded */
    {I_X, 5, {I_X, I, B_X, A, B}},/* forward primitive */
    {C, 1, {C}},                  /* unrelated root */
    {B_EVIL, 1, {B_EVIL}},        /* same name as B, other key: no relation */
    {R, 2, {R, R2}},              /* reissued root twins, each the other's issuer */
    {R2, 2, {R2, R}},
    {K, 3, {K, R, R2}},           /* under a reissued root: both anchors */
    {X, 4, {X, X_X, Y_X, Y}},     /* mutual cross-signing: terminates */
    {Y_X, 4, {Y_X, X_X, X, Y}},
};

static void format_chain(const size_t *idx, size_t n, char *buf, size_t cap)
{
    size_t k = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n && k < cap; i++) {
        k += (size_t)snprintf(buf + k, cap - k, "%s%s", i ? "," : "", names[idx[i]]);
    }
}

static void test_chain_table(void)
{
    for (size_t c = 0; c < sizeof(chain_cases) / sizeof(chain_cases[0]); c++) {
        const struct chain_case *tc = &chain_cases[c];
        size_t out[LCA_CHAIN_MAX], len = 0;
        struct lca_err err = {0};
        char got[128], want[128];

        CU_ASSERT_EQUAL_FATAL(lca_chain_build(fix, N_FIX, tc->target, out, &len, &err), LCA_OK);
        format_chain(out, len, got, sizeof(got));
        format_chain(tc->want, tc->len, want, sizeof(want));
        if (strcmp(got, want) != 0) {
            fprintf(stderr, "\ntarget %s: got [%s], want [%s]\n", names[tc->target], got, want);
        }
        CU_ASSERT_STRING_EQUAL(got, want);
    }
}

/* Input order must not matter beyond tie-breaking: reversing the set gives the same members. */
static void test_chain_order_independent_members(void)
{
    struct lca_chain_in rev[N_FIX];
    size_t out[LCA_CHAIN_MAX], len = 0;
    struct lca_err err = {0};
    unsigned seen = 0;

    for (int i = 0; i < N_FIX; i++) {
        rev[i] = fix[N_FIX - 1 - i];
    }
    CU_ASSERT_EQUAL_FATAL(lca_chain_build(rev, N_FIX, N_FIX - 1 - I, out, &len, &err), LCA_OK);
    CU_ASSERT_EQUAL(len, 5);
    CU_ASSERT_EQUAL(out[0], N_FIX - 1 - I);
    for (size_t i = 0; i < len; i++) {
        seen |= 1u << (N_FIX - 1 - out[i]);
    }
    CU_ASSERT_EQUAL(seen, (1u << I) | (1u << B_X) | (1u << I_X) | (1u << B) | (1u << A));
    /* roots come last */
    CU_ASSERT_TRUE(out[3] == N_FIX - 1 - A || out[3] == N_FIX - 1 - B);
    CU_ASSERT_TRUE(out[4] == N_FIX - 1 - A || out[4] == N_FIX - 1 - B);
}

static void test_chain_bad_input(void)
{
    size_t out[LCA_CHAIN_MAX], len = 77;
    struct lca_err err = {0};

    CU_ASSERT_EQUAL(lca_chain_build(fix, N_FIX, N_FIX, out, &len, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    CU_ASSERT_STRING_EQUAL(err.code, "bad_target");
    CU_ASSERT_EQUAL(len, 77); /* untouched on failure */
    CU_ASSERT_EQUAL(lca_chain_build(NULL, 0, 0, out, &len, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
}

/* A straight line of 17 CAs: 16 reachable is the limit, 17 is refused, never truncated. */
static void test_chain_too_long(void)
{
    struct lca_chain_in line[LCA_CHAIN_MAX + 1];
    EVP_PKEY *k = lca_pkix_key(LCA_PKIX_P256);
    size_t out[LCA_CHAIN_MAX], len = 0;
    struct lca_err err = {0};
    char cn[16];

    for (int i = 0; i <= LCA_CHAIN_MAX; i++) {
        snprintf(cn, sizeof(cn), "L%d", i);
        /* one key for all: each level's signature verifies only under the name above it */
        line[i].cert = lca_pkix_cert(&(struct lca_pkix_spec){
            .cn = cn, .key = k, .issuer = i ? line[i - 1].cert : NULL, .issuer_key = k,
            .is_ca = 1, .serial = (uint64_t)i + 1, .not_before = now, .not_after = now + 3600});
        line[i].issuer_id = NULL;
    }
    CU_ASSERT_EQUAL(lca_chain_build(line, LCA_CHAIN_MAX + 1, LCA_CHAIN_MAX - 1, out, &len, &err),
                    LCA_OK);
    CU_ASSERT_EQUAL(len, LCA_CHAIN_MAX);
    CU_ASSERT_EQUAL(out[LCA_CHAIN_MAX - 1], 0);
    CU_ASSERT_EQUAL(lca_chain_build(line, LCA_CHAIN_MAX + 1, LCA_CHAIN_MAX, out, &len, &err),
                    LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "chain_too_long");
    for (int i = 0; i <= LCA_CHAIN_MAX; i++) {
        X509_free(line[i].cert);
    }
    EVP_PKEY_free(k);
}

/* openssl verify -x509_strict of the leaf with `anchor` as the only trust anchor and `chain`
 * (indices) as the untrusted certificates. Returns the exit status. */
static int ossl_verify(int anchor, const size_t *chain, size_t n)
{
    X509 *certs[LCA_CHAIN_MAX];
    char leafp[300], chainp[300], cap[300], cmd[1200], out[4096];
    int rc;

    for (size_t i = 0; i < n; i++) {
        certs[i] = fix[chain[i]].cert;
    }
    snprintf(leafp, sizeof(leafp), "%s/leaf.pem", dir);
    snprintf(chainp, sizeof(chainp), "%s/chain.pem", dir);
    snprintf(cap, sizeof(cap), "%s/anchor.pem", dir);
    CU_ASSERT_EQUAL_FATAL(lca_pkix_write_pem(leafp, &leaf, 1), 0);
    CU_ASSERT_EQUAL_FATAL(lca_pkix_write_pem(chainp, certs, n), 0);
    CU_ASSERT_EQUAL_FATAL(lca_pkix_write_pem(cap, &fix[anchor].cert, 1), 0);
    snprintf(cmd, sizeof(cmd), "openssl verify -x509_strict -CAfile %s -untrusted %s %s", cap,
             chainp, leafp);
    rc = lca_pkix_run(cmd, out, sizeof(out));
    printf("\n  [anchor %s] %s -> %d: %s", names[anchor], cmd, rc, out);
    return rc;
}

static void test_chain_openssl_verify_rotation(void)
{
    size_t out[LCA_CHAIN_MAX], len = 0;
    struct lca_err err = {0};
    const size_t without_cross[] = {I, B};

    CU_ASSERT_EQUAL_FATAL(lca_chain_build(fix, N_FIX, I, out, &len, &err), LCA_OK);
    CU_ASSERT_EQUAL(ossl_verify(A, out, len), 0); /* old root only: through B' (backward) */
    CU_ASSERT_EQUAL(ossl_verify(B, out, len), 0); /* new root only */
    CU_ASSERT_NOT_EQUAL(ossl_verify(C, out, len), 0); /* unrelated anchor: refused */
    /* the cross-signed twins are what makes the old anchor work: */
    CU_ASSERT_NOT_EQUAL(ossl_verify(A, without_cross, 2), 0);
}

/* GnuTLS sorts the list itself. With the old root A as the only anchor it must find
 * leaf -> I -> B' -> A (or leaf -> I' -> A) in the full ca_chain.
 * Not asserted: GnuTLS 3.7.9 with only the new root B fails on the full ca_chain whenever B'
 * precedes B (it follows the cross-signed branch and does not backtrack), while OpenSSL 3.0 with
 * only A fails whenever B precedes B' (first-match issuer, no backtracking). No single order of
 * the full set satisfies both; a served chain of one path per anchor (I, B', A) does. */
static void test_chain_gnutls_verify_rotation(void)
{
    size_t out[LCA_CHAIN_MAX], len = 0;
    struct lca_err err = {0};
    X509 *certs[LCA_CHAIN_MAX + 1];
    char bundle[300], cap[300], cmd[1200], buf[8192];
    const int anchors[] = {A, C};

    CU_ASSERT_EQUAL_FATAL(lca_chain_build(fix, N_FIX, I, out, &len, &err), LCA_OK);
    certs[0] = leaf;
    for (size_t i = 0; i < len; i++) {
        certs[i + 1] = fix[out[i]].cert;
    }
    snprintf(bundle, sizeof(bundle), "%s/bundle.pem", dir);
    snprintf(cap, sizeof(cap), "%s/anchor.pem", dir);
    CU_ASSERT_EQUAL_FATAL(lca_pkix_write_pem(bundle, certs, len + 1), 0);
    for (size_t a = 0; a < 2; a++) {
        CU_ASSERT_EQUAL_FATAL(lca_pkix_write_pem(cap, &fix[anchors[a]].cert, 1), 0);
        snprintf(cmd, sizeof(cmd), "certtool --verify --load-ca-certificate %s --infile %s", cap,
                 bundle);
        int rc = lca_pkix_run(cmd, buf, sizeof(buf));
        printf("\n  [gnutls anchor %s] -> %d", names[anchors[a]], rc);
        if (anchors[a] == C) {
            CU_ASSERT_NOT_EQUAL(rc, 0);
        } else {
            CU_ASSERT_EQUAL(rc, 0);
            if (rc != 0) {
                printf("\n%s", buf);
            }
        }
    }
}

struct manual_case {
    size_t target;
    size_t len;
    size_t list[LCA_CHAIN_MAX + 1];
    int bad_pos; /* -1: accepted; else the position the error must name */
};

static const struct manual_case manual_cases[] = {
    {I, 4, {I, B, I_X, A}, -1},        /* seed 002: self, own root, cross twin, other root */
    {I, 5, {I, B_X, I_X, A, B}, -1},   /* the automatic chain itself */
    {I, 1, {I}, -1},                   /* self only */
    {I_X, 4, {I_X, A, I, B}, -1},
    {R, 2, {R, R2}, -1},
    {I, 2, {B, I}, 0},                 /* must start with self */
    {I, 2, {I, A}, 1},                 /* A did not sign I */
    {I, 3, {I, B, B}, 2},              /* duplicate */
    {I, 2, {I, 99}, 1},                /* unknown index */
    {I, 3, {I, B, C}, 2},              /* unrelated root */
    {I, 2, {I, B_EVIL}, 1},            /* same name as B, other key */
    {K, 3, {K, R, A}, 2},
};

static void test_manual_table(void)
{
    char want[32];

    for (size_t c = 0; c < sizeof(manual_cases) / sizeof(manual_cases[0]); c++) {
        const struct manual_case *mc = &manual_cases[c];
        struct lca_err err = {0};
        int rc = lca_chain_check_manual(fix, N_FIX, mc->target, mc->list, mc->len, &err);

        if (mc->bad_pos < 0) {
            CU_ASSERT_EQUAL(rc, LCA_OK);
            if (rc != LCA_OK) {
                fprintf(stderr, "\nmanual case %zu refused: %s\n", c, err.msg);
            }
            continue;
        }
        CU_ASSERT_EQUAL(rc, LCA_FAIL);
        CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
        CU_ASSERT_STRING_EQUAL(err.code, "bad_manual_chain");
        snprintf(want, sizeof(want), "position %d ", mc->bad_pos);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want));
        if (strstr(err.msg, want) == NULL) {
            fprintf(stderr, "\nmanual case %zu: '%s' lacks '%s'\n", c, err.msg, want);
        }
    }
}

static void test_manual_lengths(void)
{
    size_t many[LCA_CHAIN_MAX + 1];
    struct lca_err err = {0};

    for (size_t i = 0; i <= LCA_CHAIN_MAX; i++) {
        many[i] = I;
    }
    CU_ASSERT_EQUAL(lca_chain_check_manual(fix, N_FIX, I, many, 0, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "bad_manual_chain");
    CU_ASSERT_EQUAL(lca_chain_check_manual(fix, N_FIX, I, many, LCA_CHAIN_MAX + 1, &err),
                    LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "bad_manual_chain");
    CU_ASSERT_EQUAL(lca_chain_check_manual(fix, N_FIX, I, NULL, 1, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(lca_chain_check_manual(fix, N_FIX, N_FIX, many, 1, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "bad_target");
}

int main(void)
{
    static const struct lca_cu_test tests[] = {
        {"expected chain per issuer", test_chain_table},
        {"members independent of input order", test_chain_order_independent_members},
        {"bad target", test_chain_bad_input},
        {"too long refused at 17", test_chain_too_long},
        {"openssl verify with old-only and new-only anchor", test_chain_openssl_verify_rotation},
        {"gnutls verify with old-only anchor", test_chain_gnutls_verify_rotation},
        {"manual_chain cases", test_manual_table},
        {"manual_chain lengths", test_manual_lengths},
    };

    return LCA_CU_MAIN("chain", init_suite, clean_suite, tests);
}
