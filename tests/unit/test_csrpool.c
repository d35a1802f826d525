/*
 * test_csrpool — a batch's CSRs parsed on two threads (workers/csrpool.h): every sign and
 * sign-verbatim CSR is parsed once and handed out by the address of its payload string; a CSR
 * that does not parse, a command of another type and a second take give NULL; a new batch
 * replaces the old one.
 */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "command.h"
#include "csr.h"
#include "csrpool.h"
#include "curun.h"
#include "val.h"

#define N 101

static EVP_PKEY *g_key;

static int suite_init(void)
{
    g_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    return g_key == NULL;
}

static int suite_clean(void)
{
    EVP_PKEY_free(g_key);
    return 0;
}

/* A PEM P-256 CSR for cn (malloc'd); `broken`: one byte of its signature changed. */
static char *csr_pem(const char *cn, int broken)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    BIO *bio = BIO_new(BIO_s_mem());
    unsigned char *der = NULL, *p;
    char *pem = NULL, *data;
    long n;
    int len;

    CU_ASSERT_FATAL(req != NULL && name != NULL && bio != NULL);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_REQ_set_subject_name(req, name);
    X509_REQ_set_pubkey(req, g_key);
    CU_ASSERT_FATAL(X509_REQ_sign(req, g_key, EVP_sha256()) > 0);
    len = i2d_X509_REQ(req, &der);
    CU_ASSERT_FATAL(len > 0);
    if (broken) {
        der[len - 3] ^= 0x01; /* inside the signature's last integer */
    }
    p = der;
    X509_REQ_free(req);
    req = d2i_X509_REQ(NULL, (const unsigned char **)&p, len);
    CU_ASSERT_FATAL(req != NULL);
    CU_ASSERT_FATAL(PEM_write_bio_X509_REQ(bio, req) == 1);
    n = BIO_get_mem_data(bio, &data);
    pem = calloc(1, (size_t)n + 1);
    CU_ASSERT_FATAL(pem != NULL);
    memcpy(pem, data, (size_t)n);
    OPENSSL_free(der);
    X509_NAME_free(name);
    X509_REQ_free(req);
    BIO_free(bio);
    return pem;
}

static struct lca_command *command(enum lca_cmd_type type, const char *pem)
{
    struct lca_command *c = calloc(1, sizeof(*c));

    CU_ASSERT_FATAL(c != NULL);
    c->type = type;
    c->payload = lca_val_new_map();
    lca_val_map_set_str(c->payload, "csr", pem);
    return c;
}

static const char *pem_of(const struct lca_command *c)
{
    return lca_val_map_get_str(c->payload, "csr");
}

/* Takes command k's CSR and checks it against a fresh parse of the same bytes. */
static void check_take(struct lca_csrpool *pool, struct lca_command *const *cmds, size_t k)
{
    struct lca_csr *c = lca_csrpool_take(pool, pem_of(cmds[k])), *fresh = NULL;
    const uint8_t *a, *b;
    struct lca_err err;
    size_t la = 0, lb = 0;

    if (k % 7 == 5 || k % 10 == 3) { /* not a sign command, or a broken signature */
        CU_ASSERT_PTR_NULL(c);
        lca_csr_free(c);
        return;
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_FATAL(lca_csr_parse((const uint8_t *)pem_of(cmds[k]), strlen(pem_of(cmds[k])),
                                  &fresh, &err) == LCA_OK);
    a = lca_csr_spki(c, &la);
    b = lca_csr_spki(fresh, &lb);
    CU_ASSERT(la == lb && memcmp(a, b, la) == 0);
    lca_csr_free(fresh);
    lca_csr_free(c);
    CU_ASSERT_PTR_NULL(lca_csrpool_take(pool, pem_of(cmds[k]))); /* taken once */
}

static void test_batch(void)
{
    struct lca_csrpool *pool = lca_csrpool_new(N + 10);
    struct lca_command *cmds[N];
    struct lca_csr *c;
    char cn[32], *copy;
    size_t i;

    CU_ASSERT_FATAL(pool != NULL);
    for (i = 0; i < N; i++) {
        char *pem;
        snprintf(cn, sizeof(cn), "svc-%zu", i);
        pem = csr_pem(cn, i % 10 == 3);
        cmds[i] = command(i % 7 == 5 ? LCA_CMD_ISSUE
                                     : i % 2 ? LCA_CMD_SIGN_VERBATIM : LCA_CMD_SIGN,
                          pem);
        free(pem);
    }
    lca_csrpool_run(pool, cmds, N);
    for (i = 1; i < N; i += 2) { /* out of order: the odd ones first, then the even ones */
        check_take(pool, cmds, i);
    }
    for (i = 0; i < N; i += 2) {
        check_take(pool, cmds, i);
    }
    /* the same bytes at another address are not this batch's */
    lca_csrpool_run(pool, cmds, N);
    copy = strdup(pem_of(cmds[0]));
    CU_ASSERT_PTR_NULL(lca_csrpool_take(pool, copy));
    free(copy);
    /* a new batch (one command) replaces what was not taken */
    lca_csrpool_run(pool, cmds + 2, 1);
    c = lca_csrpool_take(pool, pem_of(cmds[2]));
    CU_ASSERT_PTR_NOT_NULL(c);
    lca_csr_free(c);
    CU_ASSERT_PTR_NULL(lca_csrpool_take(pool, pem_of(cmds[4])));
    lca_csrpool_run(pool, cmds, N); /* left untaken: freed by the pool (ASan checks) */
    lca_csrpool_free(pool);
    lca_csrpool_free(NULL);
    CU_ASSERT_PTR_NULL(lca_csrpool_take(NULL, "x"));
    for (i = 0; i < N; i++) {
        lca_command_free(cmds[i]);
    }
}

int main(void)
{
    static const struct lca_cu_test tests[] = {
        {"batch parsed on two threads, handed out by address", test_batch},
    };

    return LCA_CU_MAIN("csrpool", suite_init, suite_clean, tests);
}
