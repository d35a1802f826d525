/*
 * test_decide_sec — a secondary cluster's own intermediate on the pure core (engine/decide_sec.c):
 * intermediate.generate on the secondary, sign-intermediate on the primary, set-signed on the
 * secondary, and a leaf of the secondary verified by the independent oracles against the
 * primary's root only. Negative cases: unknown key, a chain that does not reach a root, a wrong
 * root, a missing certificate, a second import, a non-CA certificate. Also the replicated
 * variant (the primary's CA-wide events folded into the secondary, root found in the state).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/Basic.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "catalog.h"
#include "cert.h"
#include "codec.h"
#include "command.h"
#include "csr.h"
#include "curun.h"
#include "decide.h"
#include "fakeenv.h"
#include "json.h"
#include "oracle.h"
#include "state.h"

struct ca {
    struct lca_fakeenv *fe;
    struct lca_state *st;
    int64_t pos;
};

static void ca_init(struct ca *ca, uint64_t seed)
{
    ca->fe = lca_fakeenv_new(seed);
    ca->st = lca_state_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(ca->fe);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ca->st);
    lca_fakeenv_set_time(ca->fe, (int64_t)time(NULL));
    ca->pos = 0;
}

static void ca_cleanup(struct ca *ca)
{
    lca_state_free(ca->st);
    lca_fakeenv_free(ca->fe);
}

static void apply(struct ca *ca, const struct lca_decision *d)
{
    struct lca_err err;
    size_t i;

    for (i = 0; i < d->n_events; i++) {
        lca_err_clear(&err);
        if (lca_state_evolve(ca->st, ++ca->pos, d->events[i], &err) != LCA_OK) {
            fprintf(stderr, "evolve: %s\n", err.msg);
            CU_FAIL_FATAL("evolve");
        }
    }
}

/* What `ledgerca replicate` copies: the CA-wide events only. */
static void mirror(struct ca *dst, const struct lca_decision *d)
{
    struct lca_err err;
    size_t i;

    for (i = 0; i < d->n_events; i++) {
        enum lca_evt_type t = d->events[i]->type;
        if (t == LCA_EVT_CONFIG_UPDATED || t == LCA_EVT_ISSUER_CREATED ||
            t == LCA_EVT_ROOT_ACTIVATED || t == LCA_EVT_ISSUER_UPDATED ||
            t == LCA_EVT_ROLE_WRITTEN || t == LCA_EVT_ROLE_DELETED) {
            CU_ASSERT_EQUAL_FATAL(lca_state_evolve(dst->st, ++dst->pos, d->events[i], &err),
                                  LCA_OK);
        }
    }
}

static struct lca_decision *run(struct ca *ca, enum lca_cmd_type type, const char *json)
{
    struct lca_command *c = calloc(1, sizeof(*c));
    struct lca_decision *d = NULL;
    struct lca_err err;

    lca_err_clear(&err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    strcpy(c->command_id, "6f1d7c2e-4c1a-4b5e-9a7b-0d3c2e1f0a9b");
    c->type = type;
    strcpy(c->correlation_id, c->command_id);
    strcpy(c->reply_to, "ledgerca.replies");
    CU_ASSERT_EQUAL_FATAL(lca_json_decode(json, strlen(json), &lca_codec_default_limits,
                                          &c->payload, &err),
                          LCA_OK);
    if (lca_decide(ca->st, c, lca_fakeenv_env(ca->fe), &d, &err) != LCA_OK) {
        fprintf(stderr, "decide failed: %s: %s\n", err.code, err.msg);
        CU_FAIL_FATAL("decide failed");
    }
    apply(ca, d);
    lca_command_free(c);
    return d;
}

static struct lca_decision *bootstrap(struct ca *ca)
{
    struct lca_decision *d = NULL;
    struct lca_err err;

    CU_ASSERT_EQUAL_FATAL(
        lca_decide_bootstrap(ca->st, NULL, "dc1", lca_fakeenv_env(ca->fe), &d, &err), LCA_OK);
    CU_ASSERT_FALSE_FATAL(d->rejected);
    apply(ca, d);
    return d;
}

/* JSON string literal (with quotes) of s. */
static char *jstr(const char *s)
{
    char *out = calloc(1, strlen(s) * 2 + 3), *o = out;

    *o++ = '"';
    for (; *s; s++) {
        if (*s == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else {
            *o++ = *s;
        }
    }
    *o = '"';
    return out;
}

static const char *res(const struct lca_decision *d, const char *k)
{
    return lca_val_map_get_str(d->result, k);
}

static char *csr_for(EVP_PKEY *k, const char *cn)
{
    X509_REQ *r = X509_REQ_new();
    BIO *b = BIO_new(BIO_s_mem());
    char *p, *out;
    long len;

    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(r), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_REQ_set_pubkey(r, k);
    X509_REQ_sign(r, k, EVP_sha256());
    PEM_write_bio_X509_REQ(b, r);
    len = BIO_get_mem_data(b, &p);
    out = calloc(1, (size_t)len + 1);
    memcpy(out, p, (size_t)len);
    BIO_free(b);
    X509_REQ_free(r);
    return out;
}

/* The primary signs csr_pem (sign-intermediate); returns the decision. */
static struct lca_decision *primary_signs(struct ca *p, const char *csr_pem)
{
    char *j = jstr(csr_pem), json[8192];
    struct lca_decision *d;

    snprintf(json, sizeof(json), "{\"csr\":%s}", j);
    d = run(p, LCA_CMD_SIGN_INTERMEDIATE, json);
    CU_ASSERT_FALSE_FATAL(d->rejected);
    free(j);
    return d;
}

/* set-signed with certificate and, when root_pem is not NULL, ca_chain [root_pem]. */
static struct lca_decision *set_signed(struct ca *s, const char *cert, const char *root_pem)
{
    char *jc = jstr(cert), *jr = root_pem != NULL ? jstr(root_pem) : NULL, json[16384];
    struct lca_decision *d;

    if (jr != NULL) {
        snprintf(json, sizeof(json), "{\"certificate\":%s,\"ca_chain\":[%s]}", jc, jr);
    } else {
        snprintf(json, sizeof(json), "{\"certificate\":%s}", jc);
    }
    d = run(s, LCA_CMD_INTERMEDIATE_SET_SIGNED, json);
    free(jc);
    free(jr);
    return d;
}

static size_t count_type(const struct lca_decision *d, enum lca_evt_type t)
{
    size_t i, n = 0;

    for (i = 0; i < d->n_events; i++) {
        n += d->events[i]->type == t;
    }
    return n;
}

static int contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
    size_t i;

    for (i = 0; i + m <= n; i++) {
        if (memcmp(hay + i, needle, m) == 0) {
            return 1;
        }
    }
    return 0;
}

/* generate: one event with the CSR and key id, no private key bytes anywhere in it. */
static struct lca_decision *generate(struct ca *s, char kid[65])
{
    struct lca_decision *d = run(s, LCA_CMD_INTERMEDIATE_GENERATE, "{\"common_name\":\"dc2 CA\"}");
    struct lca_csr *csr = NULL;
    struct lca_err err;
    EVP_PKEY *k = NULL;
    uint8_t *bytes = NULL, scalar[32];
    BIGNUM *bn = NULL;
    size_t len = 0;
    int plen;

    CU_ASSERT_FALSE_FATAL(d->rejected);
    CU_ASSERT_EQUAL_FATAL(d->n_events, 1);
    CU_ASSERT_EQUAL(d->events[0]->type, LCA_EVT_INTERMEDIATE_GENERATED);
    snprintf(kid, 65, "%s", res(d, "key_id"));
    CU_ASSERT_TRUE(lca_state_generated_key(s->st, kid));
    CU_ASSERT_EQUAL_FATAL(lca_csr_parse((const uint8_t *)res(d, "csr"), strlen(res(d, "csr")),
                                        &csr, &err),
                          LCA_OK);
    CU_ASSERT_STRING_EQUAL(lca_csr_common_name(csr), "dc2 CA");
    CU_ASSERT_TRUE(lca_csr_is_ca(csr));
    lca_csr_free(csr);
    /* the key is in the key store, and not in the event */
    CU_ASSERT_EQUAL_FATAL(lca_fakeenv_env(s->fe)->key_get(lca_fakeenv_env(s->fe)->ctx, kid, &k,
                                                          &err),
                          LCA_OK);
    CU_ASSERT_EQUAL_FATAL(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &bn), 1);
    plen = BN_bn2binpad(bn, scalar, sizeof(scalar));
    CU_ASSERT_EQUAL_FATAL(plen, 32);
    CU_ASSERT_EQUAL_FATAL(lca_event_canonical(d->events[0], &bytes, &len, &err), LCA_OK);
    CU_ASSERT_FALSE(contains(bytes, len, scalar, 32)); /* the private scalar */
    CU_ASSERT_FALSE(contains(bytes, len, (const uint8_t *)"PRIVATE", 7));
    CU_ASSERT_EQUAL(lca_val_len(d->events[0]->payload), 5);
    BN_clear_free(bn);
    OPENSSL_cleanse(scalar, sizeof(scalar));
    free(bytes);
    return d;
}

static void test_round_trip(void)
{
    struct ca p, s;
    struct lca_decision *b, *g, *sg, *d;
    const struct lca_issuer *def;
    char kid[65], *jcsr, json[8192], why[4096] = "", *leaf_csr;
    EVP_PKEY *lk = EVP_EC_gen("P-256");

    ca_init(&p, 31);
    ca_init(&s, 32);
    b = bootstrap(&p);
    g = generate(&s, kid);
    sg = primary_signs(&p, res(g, "csr"));
    d = set_signed(&s, res(sg, "certificate"), lca_state_active_root(p.st)->pem);
    CU_ASSERT_FALSE_FATAL(d->rejected);
    CU_ASSERT_EQUAL(count_type(d, LCA_EVT_ISSUER_CREATED), 2); /* the root (no key), ours */
    CU_ASSERT_EQUAL(count_type(d, LCA_EVT_CRL_PUBLISHED), 1);
    CU_ASSERT_EQUAL(count_type(d, LCA_EVT_ROOT_ACTIVATED), 1);
    def = lca_state_default_issuer(s.st);
    CU_ASSERT_PTR_NOT_NULL_FATAL(def);
    CU_ASSERT_EQUAL(def->kind, LCA_ISSUER_EXTERNAL);
    CU_ASSERT_STRING_EQUAL(def->key_id, kid);
    CU_ASSERT_STRING_EQUAL(def->parent_id, lca_state_active_root(s.st)->id);
    CU_ASSERT_EQUAL(X509_cmp(lca_state_active_root(s.st)->cert, lca_state_active_root(p.st)->cert),
                    0);
    CU_ASSERT_STRING_EQUAL(lca_state_active_root(s.st)->key_id, "");
    CU_ASSERT_EQUAL(def->chain_len, 2);
    lca_decision_free(d);
    /* a second import of the same key is refused */
    d = set_signed(&s, res(sg, "certificate"), lca_state_active_root(p.st)->pem);
    CU_ASSERT_TRUE(d->rejected);
    CU_ASSERT_STRING_EQUAL(d->code, "already_imported");
    lca_decision_free(d);
    /* the secondary signs a leaf under its own intermediate; it verifies against the root */
    lca_decision_free(run(&s, LCA_CMD_ROLE_WRITE,
                          "{\"name\":\"web\",\"allowed_domains\":\"example.com\","
                          "\"allow_subdomains\":true,\"key_type\":\"any\"}"));
    leaf_csr = csr_for(lk, "www.example.com");
    jcsr = jstr(leaf_csr);
    snprintf(json, sizeof(json), "{\"role\":\"web\",\"csr\":%s}", jcsr);
    d = run(&s, LCA_CMD_SIGN, json);
    CU_ASSERT_FALSE_FATAL(d->rejected);
    CU_ASSERT_STRING_EQUAL(res(d, "issuer_id"), def->id);
    CU_ASSERT_EQUAL(lca_oracle_verify(res(d, "certificate"), def->pem,
                                      lca_state_active_root(p.st)->pem, NULL, why, sizeof(why)),
                    0);
    if (why[0] != '\0') {
        fprintf(stderr, "oracle: %s\n", why);
    }
    /* and not against another CA's root */
    {
        struct ca q;
        ca_init(&q, 33);
        lca_decision_free(bootstrap(&q));
        CU_ASSERT_NOT_EQUAL(lca_oracle_verify(res(d, "certificate"), def->pem,
                                              lca_state_active_root(q.st)->pem, NULL, why,
                                              sizeof(why)),
                            0);
        ca_cleanup(&q);
    }
    lca_decision_free(d);
    free(jcsr);
    free(leaf_csr);
    EVP_PKEY_free(lk);
    lca_decision_free(sg);
    lca_decision_free(g);
    lca_decision_free(b);
    ca_cleanup(&s);
    ca_cleanup(&p);
}

static void expect_reject(struct ca *s, const char *cert, const char *root, const char *code)
{
    struct lca_decision *d = set_signed(s, cert, root);

    CU_ASSERT_TRUE(d->rejected);
    CU_ASSERT_STRING_EQUAL(d->code, code);
    CU_ASSERT_EQUAL(d->n_events, 1); /* CommandRejected only */
    lca_decision_free(d);
}

static void test_set_signed_refusals(void)
{
    struct ca p, s, q;
    struct lca_decision *g, *sg, *other, *qroot, *d;
    EVP_PKEY *k = EVP_EC_gen("P-256");
    char kid[65], *csr = csr_for(k, "not generated here");

    ca_init(&p, 41);
    ca_init(&s, 42);
    ca_init(&q, 43);
    lca_decision_free(bootstrap(&p));
    qroot = bootstrap(&q);
    g = generate(&s, kid);
    sg = primary_signs(&p, res(g, "csr"));
    other = primary_signs(&p, csr);
    d = run(&s, LCA_CMD_INTERMEDIATE_SET_SIGNED, "{}");
    CU_ASSERT_STRING_EQUAL(d->code, "missing_field");
    lca_decision_free(d);
    d = run(&s, LCA_CMD_INTERMEDIATE_SET_SIGNED, "{\"certificate\":\"not a pem\"}");
    CU_ASSERT_STRING_EQUAL(d->code, "bad_certificate");
    lca_decision_free(d);
    /* a certificate for a key this cluster never generated */
    expect_reject(&s, res(other, "certificate"), lca_state_active_root(p.st)->pem, "unknown_key");
    /* no chain, and the root is not in this log */
    expect_reject(&s, res(sg, "certificate"), NULL, "bad_chain");
    /* a chain to another CA's root */
    expect_reject(&s, res(sg, "certificate"), lca_state_active_root(q.st)->pem, "bad_chain");
    /* a root certificate is not an intermediate for our key */
    expect_reject(&s, lca_state_active_root(p.st)->pem, NULL, "unknown_key");
    CU_ASSERT_PTR_NULL(lca_state_default_issuer(s.st));
    CU_ASSERT_EQUAL(lca_state_issuer_count(s.st), 0);
    lca_decision_free(other);
    lca_decision_free(sg);
    lca_decision_free(g);
    lca_decision_free(qroot);
    free(csr);
    EVP_PKEY_free(k);
    ca_cleanup(&q);
    ca_cleanup(&s);
    ca_cleanup(&p);
}

/* The replicated variant: the primary's CA-wide events are in the secondary's log already, so
 * set-signed needs no chain and creates only its own issuer. */
static void test_replicated_secondary(void)
{
    struct ca p, s;
    struct lca_decision *b, *g, *sg, *d;
    char kid[65];
    const char *prev_default;

    ca_init(&p, 51);
    ca_init(&s, 52);
    b = bootstrap(&p);
    mirror(&s, b);
    CU_ASSERT_TRUE(lca_state_bootstrapped(s.st));
    prev_default = lca_state_default_issuer(s.st)->id;
    CU_ASSERT_STRING_EQUAL(prev_default, lca_state_default_issuer(p.st)->id);
    g = generate(&s, kid);
    sg = primary_signs(&p, res(g, "csr"));
    d = set_signed(&s, res(sg, "certificate"), NULL);
    CU_ASSERT_FALSE_FATAL(d->rejected);
    CU_ASSERT_EQUAL(count_type(d, LCA_EVT_ISSUER_CREATED), 1);
    CU_ASSERT_STRING_EQUAL(lca_state_active_root(s.st)->id, lca_state_active_root(p.st)->id);
    CU_ASSERT_STRING_EQUAL(lca_state_default_issuer(s.st)->key_id, kid);
    CU_ASSERT_STRING_NOT_EQUAL(lca_state_default_issuer(s.st)->id,
                               lca_state_default_issuer(p.st)->id);
    CU_ASSERT_STRING_EQUAL(lca_state_default_issuer(s.st)->parent_id,
                           lca_state_active_root(p.st)->id);
    lca_decision_free(d);
    lca_decision_free(sg);
    lca_decision_free(g);
    lca_decision_free(b);
    ca_cleanup(&s);
    ca_cleanup(&p);
}

/* Replaying the secondary's own events rebuilds the same state (evolve of the new event). */
static void test_generated_replay(void)
{
    struct ca s, again;
    struct lca_decision *g;
    struct lca_err err;
    char kid[65];

    ca_init(&s, 61);
    ca_init(&again, 62);
    g = generate(&s, kid);
    CU_ASSERT_EQUAL(lca_state_evolve(again.st, 1, g->events[0], &err), LCA_OK);
    CU_ASSERT_TRUE(lca_state_generated_key(again.st, kid));
    CU_ASSERT_FALSE(lca_state_generated_key(again.st, "00"));
    /* the same IntermediateGenerated twice does not fit the state */
    CU_ASSERT_NOT_EQUAL(lca_state_evolve(again.st, 2, g->events[0], &err), LCA_OK);
    lca_decision_free(g);
    ca_cleanup(&again);
    ca_cleanup(&s);
}

int main(void)
{
    static const struct lca_cu_test tests[] = {
        {"generate, sign-intermediate, set-signed, leaf", test_round_trip},
        {"set-signed refusals", test_set_signed_refusals},
        {"replicated secondary", test_replicated_secondary},
        {"IntermediateGenerated replays", test_generated_replay},
    };

    return LCA_CU_MAIN("decide_sec", NULL, NULL, tests);
}
