/*
 * test_decide — decide/evolve end to end on the pure core, with a deterministic env, and every
 * certificate and CRL checked by independent verifiers (openssl, GnuTLS certtool, zlint).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/Basic.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "catalog.h"
#include "cert.h"
#include "codec.h"
#include "command.h"
#include "crl.h"
#include "curun.h"
#include "decide.h"
#include "fakeenv.h"
#include "json.h"
#include "oracle.h"
#include "seal.h"
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
    /* The independent verifiers check validity against the real clock, so these tests run the
     * fake env at the current time (the determinism test pins its own). */
    if (ca->fe != NULL && seed != 42) {
        lca_fakeenv_set_time(ca->fe, (int64_t)time(NULL));
    }
    ca->pos = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(ca->fe);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ca->st);
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

static struct lca_command *mkcmd(enum lca_cmd_type type, const char *payload_json)
{
    struct lca_command *c = calloc(1, sizeof(*c));
    struct lca_err err;

    lca_err_clear(&err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    strcpy(c->command_id, "6f1d7c2e-4c1a-4b5e-9a7b-0d3c2e1f0a9b");
    c->type = type;
    strcpy(c->correlation_id, c->command_id);
    strcpy(c->reply_to, "ledgerca.replies");
    if (lca_json_decode(payload_json, strlen(payload_json), &lca_codec_default_limits,
                        &c->payload, &err) != LCA_OK) {
        fprintf(stderr, "bad test payload: %s\n", err.msg);
        CU_FAIL_FATAL("payload");
    }
    return c;
}

/* Runs a command and applies its events; returns the decision (caller frees). */
static struct lca_decision *run(struct ca *ca, enum lca_cmd_type type, const char *json)
{
    struct lca_command *c = mkcmd(type, json);
    struct lca_decision *d = NULL;
    struct lca_err err;

    lca_err_clear(&err);
    if (lca_decide(ca->st, c, lca_fakeenv_env(ca->fe), &d, &err) != LCA_OK) {
        fprintf(stderr, "decide failed: %s: %s\n", err.code, err.msg);
        CU_FAIL_FATAL("decide failed");
    }
    if (d->rejected) {
        fprintf(stderr, "  (rejected %s: %s)\n", d->code, d->reason);
    }
    apply(ca, d);
    lca_command_free(c);
    return d;
}

static void bootstrap(struct ca *ca, const char *config_json)
{
    struct lca_val *cfg = NULL;
    struct lca_decision *d = NULL;
    struct lca_err err;

    lca_err_clear(&err);
    if (config_json != NULL) {
        CU_ASSERT_EQUAL_FATAL(lca_json_decode(config_json, strlen(config_json),
                                              &lca_codec_default_limits, &cfg, &err),
                              LCA_OK);
    }
    if (lca_decide_bootstrap(ca->st, cfg, "dc1", lca_fakeenv_env(ca->fe), &d, &err) != LCA_OK) {
        fprintf(stderr, "bootstrap: %s\n", err.msg);
        CU_FAIL_FATAL("bootstrap");
    }
    CU_ASSERT_FALSE(d->rejected);
    apply(ca, d);
    lca_decision_free(d);
    lca_val_free(cfg);
}

static const char *res_str(const struct lca_decision *d, const char *k)
{
    return lca_val_map_get_str(d->result, k);
}

/* Concatenates the PEMs of ca_chain, skipping self-signed certs (they go in the trust store). */
static char *chain_untrusted(const struct lca_decision *d)
{
    const struct lca_val *chain = lca_val_map_get(d->result, "ca_chain");
    size_t i, len = 1;
    char *out;
    struct lca_err err;

    for (i = 0; i < lca_val_len(chain); i++) {
        len += strlen(lca_val_str(lca_val_arr_at(chain, i)));
    }
    out = calloc(1, len);
    for (i = 0; i < lca_val_len(chain); i++) {
        const char *pem = lca_val_str(lca_val_arr_at(chain, i));
        X509 *x = NULL;
        if (lca_cert_from_pem(pem, strlen(pem), &x, &err) == LCA_OK) {
            if (X509_check_issued(x, x) != X509_V_OK) {
                strcat(out, pem);
            }
            X509_free(x);
        }
    }
    return out;
}

static const char *root_pem(const struct lca_state *st, const char *root_id)
{
    return lca_state_issuer_ref(st, root_id)->pem;
}

static void assert_verifies(const char *leaf, const char *chain, const char *roots,
                            const char *crl, int expect_ok)
{
    char why[4096] = "";
    int rc = lca_oracle_verify(leaf, chain, roots, crl, why, sizeof(why));

    if ((rc == 0) != expect_ok) {
        fprintf(stderr, "oracle: expected %s, got: %s\n", expect_ok ? "accept" : "reject", why);
    }
    CU_ASSERT_EQUAL(rc == 0, expect_ok);
}

static void assert_lints(const char *pem)
{
    char why[4096] = "";
    int rc = lca_oracle_lint(pem, why, sizeof(why));

    if (rc != 0) {
        fprintf(stderr, "zlint: %s\n", why);
    }
    CU_ASSERT_EQUAL(rc, 0);
}

static void x25519_pair(uint8_t priv[32], char hex[65])
{
    uint8_t pub[32];
    struct lca_err err;
    size_t i;

    for (i = 0; i < 32; i++) {
        priv[i] = (uint8_t)(i * 7 + 3);
    }
    CU_ASSERT_EQUAL_FATAL(lca_seal_x25519_pub(priv, pub, &err), LCA_OK);
    for (i = 0; i < 32; i++) {
        sprintf(hex + 2 * i, "%02x", pub[i]);
    }
}

#define ROLE_WEB                                                                               \
    "{\"name\":\"web\",\"allowed_domains\":[\"example.com\"],\"allow_subdomains\":true,"       \
    "\"key_type\":\"ec\",\"key_bits\":256,\"ttl\":\"24h\",\"max_ttl\":\"72h\"}"

static struct lca_decision *issue_web(struct ca *ca, const char *cn, uint8_t priv[32])
{
    char hex[65], json[512];

    x25519_pair(priv, hex);
    snprintf(json, sizeof(json),
             "{\"role\":\"web\",\"common_name\":\"%s\",\"alt_names\":\"a.example.com,"
             "b.example.com\",\"recipient_public_key\":\"%s\"}",
             cn, hex);
    return run(ca, LCA_CMD_ISSUE, json);
}

/* Exact base64 decode (EVP_DecodeBlock counts padding as zero bytes). */
static size_t b64dec(const char *s, uint8_t *out)
{
    size_t n = strlen(s);
    int m = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);

    if (m < 0) {
        return 0;
    }
    return (size_t)m - (n > 0 && s[n - 1] == '=') - (n > 1 && s[n - 2] == '=');
}

static int contains(const uint8_t *hay, size_t n, const char *needle)
{
    size_t i, m = strlen(needle);

    for (i = 0; i + m <= n; i++) {
        if (memcmp(hay + i, needle, m) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ---- tests ---- */

static void test_bootstrap(void)
{
    struct ca ca;
    const struct lca_issuer *root, *def;
    struct lca_decision *d = NULL;
    struct lca_err err;

    ca_init(&ca, 1);
    bootstrap(&ca, NULL);
    CU_ASSERT_TRUE(lca_state_bootstrapped(ca.st));
    CU_ASSERT_EQUAL(lca_state_issuer_count(ca.st), 2);
    root = lca_state_active_root(ca.st);
    def = lca_state_default_issuer(ca.st);
    CU_ASSERT_EQUAL(root->kind, LCA_ISSUER_ROOT);
    CU_ASSERT_EQUAL(def->kind, LCA_ISSUER_INTERMEDIATE);
    CU_ASSERT_STRING_EQUAL(def->parent_id, root->id);
    CU_ASSERT_PTR_NOT_NULL(strstr(lca_state_trust_domain(ca.st), ".consul"));
    CU_ASSERT_EQUAL(def->chain_len, 2);
    CU_ASSERT_EQUAL(lca_fakeenv_key_count(ca.fe), 2);
    assert_lints(root->pem);
    assert_lints(def->pem);
    assert_verifies(def->pem, "", root->pem, NULL, 1);
    /* each issuer publishes an empty CRL as it is created (Vault serves one from the start) */
    CU_ASSERT_EQUAL(root->crl_number, 1);
    CU_ASSERT_EQUAL(def->crl_number, 1);
    CU_ASSERT(def->last_crl_at > 0);
    /* a second bootstrap is refused */
    CU_ASSERT_EQUAL(lca_decide_bootstrap(ca.st, NULL, "dc1", lca_fakeenv_env(ca.fe), &d, &err),
                    LCA_OK);
    CU_ASSERT_TRUE(d->rejected);
    lca_decision_free(d);
    ca_cleanup(&ca);
}

static void test_issue_and_seal(void)
{
    struct ca ca;
    struct lca_decision *d;
    uint8_t priv[32], *pt = NULL, sealed[8192];
    size_t pt_len = 0, n;
    struct lca_err err;
    const char *b64, *serial, *pem;
    char *chain;
    BIO *b;
    EVP_PKEY *k;
    X509 *x = NULL;

    ca_init(&ca, 2);
    bootstrap(&ca, NULL);
    lca_decision_free(run(&ca, LCA_CMD_ROLE_WRITE, ROLE_WEB));
    d = issue_web(&ca, "www.example.com", priv);
    CU_ASSERT_FALSE_FATAL(d->rejected);
    CU_ASSERT_EQUAL(d->n_events, 1);
    CU_ASSERT_EQUAL(d->events[0]->type, LCA_EVT_CERT_ISSUED);
    chain = chain_untrusted(d);
    pem = res_str(d, "certificate");
    assert_verifies(pem, chain, root_pem(ca.st, lca_state_active_root(ca.st)->id), NULL, 1);
    assert_lints(pem);
    /* the sealed key opens with the recipient's key and matches the certificate */
    b64 = res_str(d, "sealed_private_key");
    serial = res_str(d, "serial_number");
    CU_ASSERT_PTR_NOT_NULL_FATAL(b64);
    CU_ASSERT_TRUE_FATAL(strlen(b64) < sizeof(sealed));
    n = b64dec(b64, sealed);
    CU_ASSERT_EQUAL_FATAL(lca_seal_open(priv, (const uint8_t *)serial, strlen(serial), sealed, n,
                                        &pt, &pt_len, &err),
                          LCA_OK);
    b = BIO_new_mem_buf(pt, (int)pt_len);
    k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    CU_ASSERT_EQUAL(lca_cert_from_pem(pem, strlen(pem), &x, &err), LCA_OK);
    CU_ASSERT_EQUAL(X509_check_private_key(x, k), 1);
    /* the event carries no key material */
    {
        uint8_t *canon = NULL;
        size_t cl = 0;
        CU_ASSERT_EQUAL(lca_event_canonical(d->events[0], &canon, &cl, &err), LCA_OK);
        CU_ASSERT_FALSE(contains(canon, cl, "PRIVATE"));
        free(canon);
    }
    X509_free(x);
    EVP_PKEY_free(k);
    BIO_free(b);
    OPENSSL_cleanse(pt, pt_len);
    free(pt);
    free(chain);
    lca_decision_free(d);
    ca_cleanup(&ca);
}

static void expect_reject(struct ca *ca, enum lca_cmd_type t, const char *json, const char *code)
{
    struct lca_decision *d = run(ca, t, json);

    CU_ASSERT_TRUE(d->rejected);
    if (code != NULL) {
        CU_ASSERT_STRING_EQUAL(d->code, code);
    }
    CU_ASSERT_EQUAL(d->n_events, 1);
    if (d->n_events == 1) {
        CU_ASSERT_EQUAL(d->events[0]->type, LCA_EVT_COMMAND_REJECTED);
    }
    lca_decision_free(d);
}

static void test_policy_denials(void)
{
    struct ca ca;
    struct lca_decision *d;
    uint8_t priv[32];
    char hex[65], json[512];

    ca_init(&ca, 3);
    expect_reject(&ca, LCA_CMD_REVOKE, "{\"serial_number\":\"01:02\"}", "not_bootstrapped");
    bootstrap(&ca, NULL);
    lca_decision_free(run(&ca, LCA_CMD_ROLE_WRITE, ROLE_WEB));
    d = issue_web(&ca, "www.evil.com", priv);
    CU_ASSERT_TRUE(d->rejected);
    CU_ASSERT_STRING_EQUAL(d->code, "policy_denied");
    lca_decision_free(d);
    expect_reject(&ca, LCA_CMD_ISSUE, "{\"role\":\"web\",\"common_name\":\"x.example.com\"}",
                  "missing_recipient_key");
    x25519_pair(priv, hex);
    snprintf(json, sizeof(json),
             "{\"role\":\"nope\",\"common_name\":\"x.example.com\",\"recipient_public_key\":\"%s\"}",
             hex);
    expect_reject(&ca, LCA_CMD_ISSUE, json, "unknown_role");
    expect_reject(&ca, LCA_CMD_SIGN,
                  "{\"role\":\"web\",\"csr\":\"-----BEGIN CERTIFICATE REQUEST-----\\nAAAA\\n"
                  "-----END CERTIFICATE REQUEST-----\\n\"}",
                  NULL);
    expect_reject(&ca, LCA_CMD_SIGN, "{\"role\":\"web\"}", "missing_field");
    expect_reject(&ca, LCA_CMD_REVOKE, "{\"serial_number\":\"01:02:03\"}", "not_found");
    expect_reject(&ca, LCA_CMD_REVOKE, "{\"serial_number\":\"zz\"}", "bad_serial");
    expect_reject(&ca, LCA_CMD_CONFIG_UPDATE,
                  "{\"Provider\":\"consul\",\"Config\":{\"PrivateKey\":\"x\"}}",
                  "secret_in_command");
    expect_reject(&ca, LCA_CMD_CONFIG_UPDATE, "{\"Config\":{\"LeafCertTTL\":\"forever\"}}",
                  "bad_duration");
    expect_reject(&ca, LCA_CMD_ROLE_WRITE, "{\"name\":\"r\",\"key_type\":\"rsa\",\"key_bits\":1024}",
                  NULL);
    expect_reject(&ca, LCA_CMD_ROTATE, "{\"key_type\":\"dsa\"}", NULL);
    expect_reject(&ca, LCA_CMD_CROSS_SIGN, "{\"issuer_ref\":\"nope\"}", "unknown_issuer");
    ca_cleanup(&ca);
}

static char *make_csr(EVP_PKEY *k, const char *cn)
{
    X509_REQ *r = X509_REQ_new();
    X509_NAME *n = X509_NAME_new();
    BIO *b = BIO_new(BIO_s_mem());
    char *out, *p;
    long len;

    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_REQ_set_subject_name(r, n);
    X509_REQ_set_pubkey(r, k);
    X509_REQ_sign(r, k, EVP_sha256());
    PEM_write_bio_X509_REQ(b, r);
    len = BIO_get_mem_data(b, &p);
    out = calloc(1, (size_t)len + 1);
    memcpy(out, p, (size_t)len);
    BIO_free(b);
    X509_NAME_free(n);
    X509_REQ_free(r);
    return out;
}

static char *json_escape_pem(const char *pem)
{
    char *out = calloc(1, strlen(pem) * 2 + 1), *o = out;

    for (; *pem; pem++) {
        if (*pem == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else {
            *o++ = *pem;
        }
    }
    return out;
}

static struct lca_decision *sign_cn(struct ca *ca, EVP_PKEY *k, const char *cn)
{
    char *csr = make_csr(k, cn), *esc = json_escape_pem(csr), json[4096];
    struct lca_decision *d;

    snprintf(json, sizeof(json), "{\"role\":\"web\",\"csr\":\"%s\"}", esc);
    d = run(ca, LCA_CMD_SIGN, json);
    free(csr);
    free(esc);
    return d;
}

static void test_sign_csr(void)
{
    struct ca ca;
    struct lca_decision *d;
    EVP_PKEY *k = EVP_EC_gen("P-256"), *r = EVP_RSA_gen(2048);
    char *chain;

    ca_init(&ca, 4);
    bootstrap(&ca, NULL);
    lca_decision_free(run(&ca, LCA_CMD_ROLE_WRITE, ROLE_WEB));
    d = sign_cn(&ca, k, "api.example.com");
    CU_ASSERT_FALSE_FATAL(d->rejected);
    chain = chain_untrusted(d);
    assert_verifies(res_str(d, "certificate"), chain,
                    root_pem(ca.st, lca_state_active_root(ca.st)->id), NULL, 1);
    assert_lints(res_str(d, "certificate"));
    free(chain);
    lca_decision_free(d);
    d = sign_cn(&ca, k, "api.evil.com"); /* name the role denies */
    CU_ASSERT_TRUE(d->rejected);
    CU_ASSERT_STRING_EQUAL(d->code, "policy_denied");
    lca_decision_free(d);
    d = sign_cn(&ca, r, "rsa.example.com"); /* key type the role denies */
    CU_ASSERT_TRUE(d->rejected);
    lca_decision_free(d);
    EVP_PKEY_free(k);
    EVP_PKEY_free(r);
    ca_cleanup(&ca);
}

/* DESIGN.md invariant 5. */
static void rotation_case(int force)
{
    struct ca ca;
    struct lca_decision *d;
    uint8_t priv[32];
    char old_root[64], *chain;
    const struct lca_issuer *nr;

    ca_init(&ca, 5 + (uint64_t)force);
    bootstrap(&ca, NULL);
    strcpy(old_root, lca_state_active_root(ca.st)->id);
    lca_decision_free(run(&ca, LCA_CMD_ROLE_WRITE, ROLE_WEB));
    d = run(&ca, LCA_CMD_ROTATE, force ? "{\"force_without_cross_signing\":true}" : "{}");
    CU_ASSERT_FALSE_FATAL(d->rejected);
    lca_decision_free(d);
    nr = lca_state_active_root(ca.st);
    CU_ASSERT_STRING_NOT_EQUAL(nr->id, old_root);
    CU_ASSERT_EQUAL(lca_state_issuer_count(ca.st), force ? 4u : 5u);
    d = issue_web(&ca, "www.example.com", priv);
    CU_ASSERT_FALSE_FATAL(d->rejected);
    chain = chain_untrusted(d);
    assert_verifies(res_str(d, "certificate"), chain, root_pem(ca.st, nr->id), NULL, 1);
    assert_verifies(res_str(d, "certificate"), chain, root_pem(ca.st, old_root), NULL, !force);
    free(chain);
    lca_decision_free(d);
    ca_cleanup(&ca);
}

static void test_rotation_trust(void)
{
    rotation_case(0);
}

static void test_rotation_forced(void)
{
    rotation_case(1);
}

static void test_config_update_rotates_on_key_change(void)
{
    struct ca ca;
    struct lca_decision *d;
    char old_root[64];

    ca_init(&ca, 13);
    bootstrap(&ca, NULL);
    strcpy(old_root, lca_state_active_root(ca.st)->id);
    d = run(&ca, LCA_CMD_CONFIG_UPDATE, "{\"Provider\":\"consul\",\"Config\":{\"LeafCertTTL\":\"24h\"}}");
    CU_ASSERT_FALSE(d->rejected);
    CU_ASSERT_STRING_EQUAL(lca_state_active_root(ca.st)->id, old_root);
    CU_ASSERT_EQUAL(lca_val_map_get_int(lca_state_config(ca.st), "LeafCertTTL", 0), 86400);
    lca_decision_free(d);
    d = run(&ca, LCA_CMD_CONFIG_UPDATE,
            "{\"Provider\":\"consul\",\"Config\":{\"PrivateKeyType\":\"rsa\",\"PrivateKeyBits\":2048}}");
    CU_ASSERT_FALSE(d->rejected);
    CU_ASSERT_STRING_NOT_EQUAL(lca_state_active_root(ca.st)->id, old_root);
    CU_ASSERT_EQUAL(EVP_PKEY_get_base_id(X509_get0_pubkey(lca_state_active_root(ca.st)->cert)),
                    EVP_PKEY_RSA);
    lca_decision_free(d);
    ca_cleanup(&ca);
}

static void test_revoke_and_crl(void)
{
    struct ca ca;
    struct lca_decision *d, *r;
    uint8_t priv[32];
    char json[256], *chain, *crl_pem = NULL;
    size_t crl_len = 0, der_len = 0;
    const uint8_t *der;
    struct lca_err err;
    const char *root;

    ca_init(&ca, 7);
    bootstrap(&ca, NULL);
    root = root_pem(ca.st, lca_state_active_root(ca.st)->id);
    lca_decision_free(run(&ca, LCA_CMD_ROLE_WRITE, ROLE_WEB));
    d = issue_web(&ca, "www.example.com", priv);
    chain = chain_untrusted(d);
    /* a CRL before revocation: the leaf verifies with -crl_check */
    r = run(&ca, LCA_CMD_CRL_ROTATE, "{}");
    CU_ASSERT_EQUAL_FATAL(r->n_events, 2);
    der = lca_val_map_get_bin(r->events[1]->payload, "crl", &der_len);
    CU_ASSERT_EQUAL_FATAL(lca_crl_der_to_pem(der, der_len, &crl_pem, &crl_len, &err), LCA_OK);
    assert_verifies(res_str(d, "certificate"), chain, root, crl_pem, 1);
    free(crl_pem);
    lca_decision_free(r);
    snprintf(json, sizeof(json), "{\"serial_number\":\"%s\",\"reason\":\"key_compromise\"}",
             res_str(d, "serial_number"));
    r = run(&ca, LCA_CMD_REVOKE, json);
    CU_ASSERT_FALSE_FATAL(r->rejected);
    CU_ASSERT_EQUAL_FATAL(r->n_events, 2);
    CU_ASSERT_EQUAL(r->events[0]->type, LCA_EVT_CERT_REVOKED);
    CU_ASSERT_EQUAL(r->events[1]->type, LCA_EVT_CRL_PUBLISHED);
    /* 1: the empty CRL published with the issuer, 2: crl.rotate, 3: this revocation */
    CU_ASSERT_EQUAL(lca_val_map_get_int(r->events[1]->payload, "crl_number", 0), 3);
    der = lca_val_map_get_bin(r->events[1]->payload, "crl", &der_len);
    CU_ASSERT_EQUAL_FATAL(lca_crl_der_to_pem(der, der_len, &crl_pem, &crl_len, &err), LCA_OK);
    assert_verifies(res_str(d, "certificate"), chain, root, crl_pem, 0);
    lca_decision_free(r);
    r = run(&ca, LCA_CMD_REVOKE, json); /* idempotent: no new event */
    CU_ASSERT_FALSE(r->rejected);
    CU_ASSERT_EQUAL(r->n_events, 0);
    lca_decision_free(r);
    free(crl_pem);
    free(chain);
    lca_decision_free(d);
    ca_cleanup(&ca);
}

static void test_not_after_behavior(void)
{
    struct ca ca;
    struct lca_decision *d;
    uint8_t priv[32];
    char hex[65], json[512];
    int64_t iss_na;

    ca_init(&ca, 8);
    bootstrap(&ca, "{\"IntermediateCertTTL\":\"240h\",\"MaxTTL\":\"8760h\"}");
    lca_decision_free(run(&ca, LCA_CMD_ROLE_WRITE,
                          "{\"name\":\"long\",\"allow_any_name\":true,\"key_type\":\"ec\","
                          "\"ttl\":\"720h\",\"max_ttl\":\"720h\"}"));
    x25519_pair(priv, hex);
    snprintf(json, sizeof(json),
             "{\"role\":\"long\",\"common_name\":\"x.example.com\",\"recipient_public_key\":\"%s\"}",
             hex);
    iss_na = lca_state_default_issuer(ca.st)->not_after;
    expect_reject(&ca, LCA_CMD_ISSUE, json, "policy_denied"); /* default: err */
    lca_decision_free(run(&ca, LCA_CMD_ISSUER_UPDATE,
                          "{\"issuer_ref\":\"default\",\"leaf_not_after_behavior\":\"truncate\"}"));
    d = run(&ca, LCA_CMD_ISSUE, json);
    CU_ASSERT_FALSE_FATAL(d->rejected);
    CU_ASSERT_EQUAL(lca_val_map_get_int(d->result, "expiration", 0), iss_na);
    lca_decision_free(d);
    lca_decision_free(run(&ca, LCA_CMD_ISSUER_UPDATE,
                          "{\"issuer_ref\":\"default\",\"leaf_not_after_behavior\":\"permit\"}"));
    d = run(&ca, LCA_CMD_ISSUE, json);
    CU_ASSERT_FALSE_FATAL(d->rejected);
    CU_ASSERT_TRUE(lca_val_map_get_int(d->result, "expiration", 0) > iss_na);
    lca_decision_free(d);
    expect_reject(&ca, LCA_CMD_ISSUER_UPDATE,
                  "{\"issuer_ref\":\"default\",\"leaf_not_after_behavior\":\"sometimes\"}", NULL);
    ca_cleanup(&ca);
}

static void test_cross_sign_and_reissue(void)
{
    struct ca ca;
    struct lca_decision *d;
    char old_root[64], old_int[64], json[256];
    const struct lca_issuer *x, *orig;

    ca_init(&ca, 9);
    bootstrap(&ca, NULL);
    strcpy(old_root, lca_state_active_root(ca.st)->id);
    strcpy(old_int, lca_state_default_issuer(ca.st)->id);
    lca_decision_free(run(&ca, LCA_CMD_ROTATE, "{\"force_without_cross_signing\":true}"));
    /* backward primitive: the old intermediate cross-signed by the new root */
    snprintf(json, sizeof(json),
             "{\"issuer_ref\":\"%s\",\"signer_ref\":\"%s\",\"issuer_name\":\"x1\"}", old_int,
             lca_state_active_root(ca.st)->id);
    d = run(&ca, LCA_CMD_CROSS_SIGN, json);
    CU_ASSERT_FALSE_FATAL(d->rejected);
    lca_decision_free(d);
    x = lca_state_issuer_ref(ca.st, "x1");
    orig = lca_state_issuer_ref(ca.st, old_int);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    CU_ASSERT_EQUAL(x->kind, LCA_ISSUER_CROSS_SIGNED);
    CU_ASSERT_STRING_EQUAL(x->key_id, orig->key_id);
    CU_ASSERT_EQUAL(X509_NAME_cmp(X509_get_subject_name(x->cert), X509_get_subject_name(orig->cert)),
                    0);
    assert_verifies(x->pem, "", root_pem(ca.st, lca_state_active_root(ca.st)->id), NULL, 1);
    assert_lints(x->pem);
    expect_reject(&ca, LCA_CMD_CROSS_SIGN, json, "name_taken");
    /* reissue the old root: same key, new serial, self-signed */
    snprintf(json, sizeof(json), "{\"issuer_ref\":\"%s\",\"issuer_name\":\"r1b\"}", old_root);
    d = run(&ca, LCA_CMD_REISSUE, json);
    CU_ASSERT_FALSE_FATAL(d->rejected);
    lca_decision_free(d);
    x = lca_state_issuer_ref(ca.st, "r1b");
    orig = lca_state_issuer_ref(ca.st, old_root);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    CU_ASSERT_STRING_EQUAL(x->key_id, orig->key_id);
    CU_ASSERT_NOT_EQUAL(
        ASN1_INTEGER_cmp(X509_get0_serialNumber(x->cert), X509_get0_serialNumber(orig->cert)), 0);
    CU_ASSERT_EQUAL(X509_check_issued(x->cert, x->cert), X509_V_OK);
    ca_cleanup(&ca);
}

static void test_manual_chain(void)
{
    struct ca ca;
    char json[256];
    const struct lca_issuer *def;

    ca_init(&ca, 14);
    bootstrap(&ca, NULL);
    def = lca_state_default_issuer(ca.st);
    snprintf(json, sizeof(json), "{\"issuer_ref\":\"default\",\"manual_chain\":\"self,%s\"}",
             lca_state_active_root(ca.st)->id);
    lca_decision_free(run(&ca, LCA_CMD_ISSUER_UPDATE, json));
    def = lca_state_default_issuer(ca.st);
    CU_ASSERT_EQUAL(def->n_manual, 2);
    CU_ASSERT_EQUAL(def->chain_len, 2);
    /* a chain that starts elsewhere is refused */
    snprintf(json, sizeof(json), "{\"issuer_ref\":\"default\",\"manual_chain\":\"%s\"}",
             lca_state_active_root(ca.st)->id);
    expect_reject(&ca, LCA_CMD_ISSUER_UPDATE, json, NULL);
    ca_cleanup(&ca);
}

static void test_tidy_retires_old_root(void)
{
    struct ca ca;
    struct lca_decision *d;
    uint8_t priv[32];
    size_t certs;

    ca_init(&ca, 10);
    bootstrap(&ca, NULL);
    lca_decision_free(run(&ca, LCA_CMD_ROLE_WRITE, ROLE_WEB));
    lca_decision_free(issue_web(&ca, "old.example.com", priv));
    lca_decision_free(run(&ca, LCA_CMD_ROTATE, "{}"));
    d = run(&ca, LCA_CMD_TIDY, "{}"); /* the old leaf is still valid: nothing retires */
    CU_ASSERT_EQUAL(lca_val_map_get_int(d->result, "issuers_retired", -1), 0);
    CU_ASSERT_EQUAL(d->n_events, 0);
    lca_decision_free(d);
    certs = lca_state_cert_count(ca.st);
    lca_fakeenv_advance(ca.fe, 30 * 86400);
    d = run(&ca, LCA_CMD_TIDY, "{}");
    CU_ASSERT_EQUAL(lca_val_map_get_int(d->result, "issuers_retired", -1), 2);
    CU_ASSERT_EQUAL(lca_state_cert_count(ca.st), certs - 1);
    lca_decision_free(d);
    ca_cleanup(&ca);
}

static void test_sign_intermediate(void)
{
    struct ca ca;
    struct lca_decision *d;
    EVP_PKEY *k = EVP_EC_gen("P-256");
    char *csr = make_csr(k, "dc2 Signing CA"), *esc = json_escape_pem(csr), json[4096];
    X509 *x = NULL;
    NAME_CONSTRAINTS *nc;
    struct lca_err err;
    const char *pem;

    ca_init(&ca, 11);
    bootstrap(&ca, NULL);
    snprintf(json, sizeof(json),
             "{\"csr\":\"%s\",\"permitted_dns_domains\":\"dc2.example.com\"}", esc);
    d = run(&ca, LCA_CMD_SIGN_INTERMEDIATE, json);
    CU_ASSERT_FALSE_FATAL(d->rejected);
    pem = res_str(d, "certificate");
    CU_ASSERT_EQUAL_FATAL(lca_cert_from_pem(pem, strlen(pem), &x, &err), LCA_OK);
    CU_ASSERT_EQUAL(X509_check_ca(x), 1);
    nc = X509_get_ext_d2i(x, NID_name_constraints, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL(nc);
    NAME_CONSTRAINTS_free(nc);
    assert_verifies(pem, "", root_pem(ca.st, lca_state_active_root(ca.st)->id), NULL, 1);
    assert_lints(pem);
    X509_free(x);
    lca_decision_free(d);
    free(csr);
    free(esc);
    EVP_PKEY_free(k);
    ca_cleanup(&ca);
}

static void test_consul_service_leaf(void)
{
    struct ca ca;
    struct lca_decision *d;
    uint8_t priv[32];
    char hex[65], json[256], uri[300];
    X509 *x = NULL;
    struct lca_err err;
    const char *pem;
    char *chain;

    ca_init(&ca, 15);
    bootstrap(&ca, NULL);
    x25519_pair(priv, hex);
    snprintf(json, sizeof(json), "{\"service\":\"web\",\"recipient_public_key\":\"%s\"}", hex);
    d = run(&ca, LCA_CMD_ISSUE, json);
    CU_ASSERT_FALSE_FATAL(d->rejected);
    pem = res_str(d, "certificate");
    CU_ASSERT_EQUAL_FATAL(lca_cert_from_pem(pem, strlen(pem), &x, &err), LCA_OK);
    snprintf(uri, sizeof(uri), "spiffe://%s/ns/default/dc/dc1/svc/web",
             lca_state_trust_domain(ca.st));
    {
        GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
        GENERAL_NAME *g = gens != NULL ? sk_GENERAL_NAME_value(gens, 0) : NULL;
        CU_ASSERT_PTR_NOT_NULL_FATAL(g);
        CU_ASSERT_EQUAL(sk_GENERAL_NAME_num(gens), 1); /* the SPIFFE URI only */
        CU_ASSERT_EQUAL(g->type, GEN_URI);
        CU_ASSERT_STRING_EQUAL((const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier),
                               uri);
        GENERAL_NAMES_free(gens);
    }
    CU_ASSERT_EQUAL(lca_val_map_get_int(d->result, "expiration", 0), lca_cert_not_after(x));
    CU_ASSERT_EQUAL(lca_cert_not_after(x) - lca_cert_not_before(x), 72 * 3600 + 30);
    chain = chain_untrusted(d);
    assert_verifies(pem, chain, root_pem(ca.st, lca_state_active_root(ca.st)->id), NULL, 1);
    free(chain);
    X509_free(x);
    lca_decision_free(d);
    ca_cleanup(&ca);
}

/* decide is deterministic: same state, command and fake env give byte-identical events
 * (Ed25519 keys: deterministic keygen and signatures). */
static void canonical_all(const struct lca_decision *d, uint8_t **buf, size_t *len)
{
    struct lca_err err;
    size_t i;

    for (i = 0; i < d->n_events; i++) {
        uint8_t *b = NULL;
        size_t n = 0;
        CU_ASSERT_EQUAL_FATAL(lca_event_canonical(d->events[i], &b, &n, &err), LCA_OK);
        *buf = realloc(*buf, *len + n);
        memcpy(*buf + *len, b, n);
        *len += n;
        free(b);
    }
}

static void determinism_run(uint8_t **buf, size_t *len)
{
    struct ca ca;
    struct lca_val *cfg = NULL;
    struct lca_decision *d = NULL;
    struct lca_err err;
    uint8_t priv[32];
    const char *c = "{\"PrivateKeyType\":\"ed25519\"}";

    ca_init(&ca, 42);
    CU_ASSERT_EQUAL_FATAL(lca_json_decode(c, strlen(c), &lca_codec_default_limits, &cfg, &err),
                          LCA_OK);
    CU_ASSERT_EQUAL_FATAL(
        lca_decide_bootstrap(ca.st, cfg, "dc1", lca_fakeenv_env(ca.fe), &d, &err), LCA_OK);
    canonical_all(d, buf, len);
    apply(&ca, d);
    lca_decision_free(d);
    lca_val_free(cfg);
    d = run(&ca, LCA_CMD_ROLE_WRITE,
            "{\"name\":\"web\",\"allowed_domains\":\"example.com\",\"allow_subdomains\":true,"
            "\"key_type\":\"ed25519\"}");
    canonical_all(d, buf, len);
    lca_decision_free(d);
    d = issue_web(&ca, "www.example.com", priv);
    CU_ASSERT_FALSE(d->rejected);
    canonical_all(d, buf, len);
    lca_decision_free(d);
    ca_cleanup(&ca);
}

static void test_determinism(void)
{
    uint8_t *a = NULL, *b = NULL;
    size_t al = 0, bl = 0;

    determinism_run(&a, &al);
    determinism_run(&b, &bl);
    CU_ASSERT_TRUE(al > 1000);
    CU_ASSERT_EQUAL(al, bl);
    CU_ASSERT_EQUAL(memcmp(a, b, al < bl ? al : bl), 0);
    free(a);
    free(b);
}

/* The SPIFFE URI SAN of cert (PEM) into uri; "" when it has none. */
static void spiffe_of(const char *pem, char *uri, size_t len)
{
    X509 *x = NULL;
    struct lca_err err;
    GENERAL_NAMES *gens;
    int i;

    uri[0] = '\0';
    CU_ASSERT_EQUAL_FATAL(lca_cert_from_pem(pem, strlen(pem), &x, &err), LCA_OK);
    gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_URI) {
            snprintf(uri, len, "%s",
                     (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier));
        }
    }
    GENERAL_NAMES_free(gens);
    X509_free(x);
}

/* A CSR for CN=web under a fixed Ed25519 key, JSON-escaped (deterministic signature). */
static void ed25519_csr_json(char *out, size_t len)
{
    uint8_t raw[32];
    EVP_PKEY *k;
    X509_REQ *r = X509_REQ_new();
    BIO *b = BIO_new(BIO_s_mem());
    char *p;
    long n, i;
    size_t o = 0;

    for (i = 0; i < 32; i++) {
        raw[i] = (uint8_t)(i * 13 + 1);
    }
    k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw, sizeof(raw));
    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(r), "CN", MBSTRING_ASC,
                               (const unsigned char *)"web", -1, -1, 0);
    X509_REQ_set_pubkey(r, k);
    CU_ASSERT_TRUE_FATAL(X509_REQ_sign(r, k, NULL) > 0);
    PEM_write_bio_X509_REQ(b, r);
    n = BIO_get_mem_data(b, &p);
    for (i = 0; i < n && o + 3 < len; i++) {
        if (p[i] == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = p[i];
        }
    }
    out[o] = '\0';
    BIO_free(b);
    X509_REQ_free(r);
    EVP_PKEY_free(k);
}

/* One run from scratch (pinned time, Ed25519 CA): bootstrap as dc1, then `sign` for service
 * web decided with env->cluster_id = cluster. The URI into uri; the events' canonical bytes
 * (bootstrap and leaf) appended to buf. */
static void service_run(const char *cluster, char *uri, size_t uri_len, uint8_t **buf,
                        size_t *len)
{
    struct ca ca;
    struct lca_decision *d;
    char csr[2048], json[2400];

    ca_init(&ca, 42);
    bootstrap(&ca, "{\"PrivateKeyType\":\"ed25519\"}");
    lca_fakeenv_env(ca.fe)->cluster_id = cluster;
    ed25519_csr_json(csr, sizeof(csr));
    snprintf(json, sizeof(json), "{\"service\":\"web\",\"csr\":\"%s\"}", csr);
    d = run(&ca, LCA_CMD_SIGN, json);
    CU_ASSERT_FALSE_FATAL(d->rejected);
    spiffe_of(res_str(d, "certificate"), uri, uri_len);
    canonical_all(d, buf, len);
    lca_decision_free(d);
    ca_cleanup(&ca);
}

/* The SPIFFE datacenter is the deciding cluster (env->cluster_id), not the configuration's
 * ClusterID (which a Vault-model secondary replicates from the primary); without one, the
 * configuration's. The cluster id is an input of decide: same inputs, same bytes; another
 * cluster id, other bytes. */
static void test_service_leaf_cluster(void)
{
    struct ca ca;
    char uri[300], td[256], want[300];
    uint8_t *a = NULL, *b = NULL, *c = NULL;
    size_t al = 0, bl = 0, cl = 0;

    ca_init(&ca, 42);
    bootstrap(&ca, "{\"PrivateKeyType\":\"ed25519\"}");
    CU_ASSERT_STRING_EQUAL(lca_state_cluster_id(ca.st), "dc1");
    snprintf(td, sizeof(td), "%s", lca_state_trust_domain(ca.st));
    ca_cleanup(&ca);

    service_run("dc2", uri, sizeof(uri), &a, &al);
    snprintf(want, sizeof(want), "spiffe://%s/ns/default/dc/dc2/svc/web", td);
    CU_ASSERT_STRING_EQUAL(uri, want);
    service_run("dc2", uri, sizeof(uri), &b, &bl);
    CU_ASSERT_TRUE(al > 500);
    CU_ASSERT_EQUAL(al, bl);
    CU_ASSERT_EQUAL(memcmp(a, b, al < bl ? al : bl), 0);
    service_run("dc3", uri, sizeof(uri), &c, &cl);
    snprintf(want, sizeof(want), "spiffe://%s/ns/default/dc/dc3/svc/web", td);
    CU_ASSERT_STRING_EQUAL(uri, want);
    CU_ASSERT_TRUE(al != cl || memcmp(a, c, al) != 0);
    free(a);
    free(b);
    free(c);
    a = b = NULL;
    al = bl = 0;
    /* no cluster id in the env: the configuration's ClusterID (dc1) */
    snprintf(want, sizeof(want), "spiffe://%s/ns/default/dc/dc1/svc/web", td);
    service_run(NULL, uri, sizeof(uri), &a, &al);
    CU_ASSERT_STRING_EQUAL(uri, want);
    service_run("", uri, sizeof(uri), &b, &bl);
    CU_ASSERT_STRING_EQUAL(uri, want);
    free(a);
    free(b);
}

/* Replaying the recorded events into a fresh state rebuilds the same state. */
static void test_replay_equals_live(void)
{
    struct ca ca, again;
    struct lca_decision *ds[5];
    struct lca_val *none = NULL;
    uint8_t priv[32];
    struct lca_err err;
    size_t i, j;

    ca_init(&ca, 12);
    ca_init(&again, 99);
    CU_ASSERT_EQUAL_FATAL(
        lca_decide_bootstrap(ca.st, none, "dc1", lca_fakeenv_env(ca.fe), &ds[0], &err), LCA_OK);
    apply(&ca, ds[0]);
    ds[1] = run(&ca, LCA_CMD_ROLE_WRITE, ROLE_WEB);
    ds[2] = issue_web(&ca, "www.example.com", priv);
    ds[3] = run(&ca, LCA_CMD_ROTATE, "{}");
    ds[4] = issue_web(&ca, "new.example.com", priv);
    for (i = 0; i < 5; i++) {
        for (j = 0; j < ds[i]->n_events; j++) {
            CU_ASSERT_EQUAL(lca_state_evolve(again.st, ++again.pos, ds[i]->events[j], &err),
                            LCA_OK);
        }
        lca_decision_free(ds[i]);
    }
    CU_ASSERT_EQUAL(lca_state_issuer_count(again.st), lca_state_issuer_count(ca.st));
    CU_ASSERT_EQUAL(lca_state_cert_count(again.st), lca_state_cert_count(ca.st));
    CU_ASSERT_STRING_EQUAL(lca_state_active_root(again.st)->id, lca_state_active_root(ca.st)->id);
    CU_ASSERT_STRING_EQUAL(lca_state_default_issuer(again.st)->id,
                           lca_state_default_issuer(ca.st)->id);
    CU_ASSERT_EQUAL(lca_state_position(again.st), lca_state_position(ca.st));
    for (i = 0; i < lca_state_issuer_count(ca.st); i++) {
        CU_ASSERT_EQUAL(lca_state_issuer_at(ca.st, i)->chain_len,
                        lca_state_issuer_at(again.st, i)->chain_len);
    }
    /* an event out of order is refused */
    {
        struct lca_decision *d = run(&ca, LCA_CMD_CRL_ROTATE, "{}");
        CU_ASSERT_NOT_EQUAL(lca_state_evolve(again.st, 1, d->events[0], &err), LCA_OK);
        lca_decision_free(d);
    }
    ca_cleanup(&again);
    ca_cleanup(&ca);
}

int main(void)
{
    static const struct lca_cu_test tests[] = {
        {"bootstrap", test_bootstrap},
        {"issue and sealed key", test_issue_and_seal},
        {"policy denials are events", test_policy_denials},
        {"sign a CSR", test_sign_csr},
        {"rotation: trust through cross-signing", test_rotation_trust},
        {"rotation: forced without cross-signing", test_rotation_forced},
        {"config.update rotates on a key change", test_config_update_rotates_on_key_change},
        {"revoke and CRL", test_revoke_and_crl},
        {"leaf_not_after_behavior", test_not_after_behavior},
        {"cross-sign and reissue", test_cross_sign_and_reissue},
        {"manual_chain", test_manual_chain},
        {"tidy retires the old root", test_tidy_retires_old_root},
        {"sign-intermediate", test_sign_intermediate},
        {"Consul service leaf", test_consul_service_leaf},
        {"determinism", test_determinism},
        {"service leaf names the deciding cluster", test_service_leaf_cluster},
        {"replay equals live", test_replay_equals_live},
    };

    return LCA_CU_MAIN("decide", NULL, NULL, tests);
}
