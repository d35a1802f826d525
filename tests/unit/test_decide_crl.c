/*
 * test_decide_crl — CRL publication at scale through decide (engine/decide_crl.c): delta CRLs
 * (RFC 5280 5.2.4) and freshestCRL (5.2.6), CRLs sharded by serial with an
 * issuingDistributionPoint (5.2.5) that matches each certificate's CRL distribution point
 * (4.2.1.13), the max_crl_entries guard, the schedule (lca_decide_crl_due) and old logs.
 * Revocation checks are judged by `openssl verify -crl_check` (and certtool via
 * lca_oracle_verify); CRLs are linted by pkilint.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/Basic.h>
#include <openssl/x509v3.h>

#include "cert.h"
#include "command.h"
#include "crl.h"
#include "decide.h"
#include "fakeenv.h"
#include "json.h"
#include "oracle.h"
#include "pkix.h"
#include "seal.h"
#include "state.h"

#define BASE "http://crl.example/pki"

struct ca {
    struct lca_fakeenv *fe;
    struct lca_state *st;
    int64_t pos;
};

static char tmp[256];

/* A CA bootstrapped at time t with config_json. */
static void ca_init_at(struct ca *ca, const char *config_json, int64_t t)
{
    struct lca_val *cfg = NULL;
    struct lca_decision *d = NULL;
    struct lca_err err;
    size_t i;

    ca->fe = lca_fakeenv_new(9);
    ca->st = lca_state_new();
    ca->pos = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(ca->fe);
    lca_fakeenv_set_time(ca->fe, t);
    lca_err_clear(&err);
    CU_ASSERT_EQUAL_FATAL(lca_json_decode(config_json, strlen(config_json),
                                          &lca_codec_default_limits, &cfg, &err),
                          LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_decide_bootstrap(ca->st, cfg, "dc1", lca_fakeenv_env(ca->fe), &d,
                                               &err),
                          LCA_OK);
    CU_ASSERT_FALSE_FATAL(d->rejected);
    for (i = 0; i < d->n_events; i++) {
        CU_ASSERT_EQUAL_FATAL(lca_state_evolve(ca->st, ++ca->pos, d->events[i], &err), LCA_OK);
    }
    lca_decision_free(d);
    lca_val_free(cfg);
}

static void ca_init(struct ca *ca, const char *config_json)
{
    ca_init_at(ca, config_json, (int64_t)time(NULL)); /* the oracles use the real clock */
}

static void ca_cleanup(struct ca *ca)
{
    lca_state_free(ca->st);
    lca_fakeenv_free(ca->fe);
}

static struct lca_decision *run(struct ca *ca, enum lca_cmd_type type, const char *json)
{
    struct lca_command c;
    struct lca_decision *d = NULL;
    struct lca_err err;
    size_t i;

    memset(&c, 0, sizeof(c));
    lca_err_clear(&err);
    strcpy(c.command_id, "6f1d7c2e-4c1a-4b5e-9a7b-0d3c2e1f0a9b");
    strcpy(c.correlation_id, c.command_id);
    c.type = type;
    CU_ASSERT_EQUAL_FATAL(
        lca_json_decode(json, strlen(json), &lca_codec_default_limits, &c.payload, &err), LCA_OK);
    if (lca_decide(ca->st, &c, lca_fakeenv_env(ca->fe), &d, &err) != LCA_OK) {
        fprintf(stderr, "decide: %s: %s\n", err.code, err.msg);
        CU_FAIL_FATAL("decide");
    }
    for (i = 0; i < d->n_events; i++) {
        if (lca_state_evolve(ca->st, ++ca->pos, d->events[i], &err) != LCA_OK) {
            fprintf(stderr, "evolve: %s\n", err.msg);
            CU_FAIL_FATAL("evolve");
        }
    }
    lca_val_free(c.payload);
    return d;
}

static void run_free(struct ca *ca, enum lca_cmd_type type, const char *json)
{
    struct lca_decision *d = run(ca, type, json);

    CU_ASSERT_FALSE(d->rejected);
    lca_decision_free(d);
}

static void expect_reject(struct ca *ca, enum lca_cmd_type type, const char *json,
                          const char *code)
{
    struct lca_decision *d = run(ca, type, json);

    CU_ASSERT_TRUE(d->rejected);
    if (strcmp(d->code, code) != 0) {
        fprintf(stderr, "wanted %s, got %s (%s)\n", code, d->code, d->reason);
    }
    CU_ASSERT_STRING_EQUAL(d->code, code);
    lca_decision_free(d);
}

#define ROLE_WEB                                                                               \
    "{\"name\":\"web\",\"allowed_domains\":[\"example.com\"],\"allow_subdomains\":true,"       \
    "\"key_type\":\"ec\",\"key_bits\":256,\"ttl\":\"24h\",\"max_ttl\":\"72h\"}"

/* A leaf: its PEM and serial (colon hex), malloc'd. */
struct leaf {
    char *pem;
    char serial[64];
};

static struct leaf issue(struct ca *ca, int i)
{
    uint8_t priv[32], pub[32];
    char hex[65], json[512];
    struct lca_err err;
    struct leaf lf;
    struct lca_decision *d;
    int k;

    for (k = 0; k < 32; k++) {
        priv[k] = (uint8_t)(k * 7 + 3);
    }
    CU_ASSERT_EQUAL_FATAL(lca_seal_x25519_pub(priv, pub, &err), LCA_OK);
    for (k = 0; k < 32; k++) {
        sprintf(hex + 2 * k, "%02x", pub[k]);
    }
    snprintf(json, sizeof(json),
             "{\"role\":\"web\",\"common_name\":\"h%d.example.com\",\"recipient_public_key\":"
             "\"%s\"}",
             i, hex);
    d = run(ca, LCA_CMD_ISSUE, json);
    CU_ASSERT_FALSE_FATAL(d->rejected);
    lf.pem = strdup(lca_val_map_get_str(d->result, "certificate"));
    snprintf(lf.serial, sizeof(lf.serial), "%s", lca_val_map_get_str(d->result, "serial_number"));
    lca_decision_free(d);
    return lf;
}

static struct lca_decision *revoke(struct ca *ca, const struct leaf *lf)
{
    char json[200];

    snprintf(json, sizeof(json), "{\"serial_number\":\"%s\",\"reason\":\"superseded\"}",
             lf->serial);
    return run(ca, LCA_CMD_REVOKE, json);
}

static X509_CRL *crl_of(const struct lca_event *ev)
{
    size_t len = 0;
    const uint8_t *der = lca_val_map_get_bin(ev->payload, "crl", &len), *p = der;
    X509_CRL *crl;

    CU_ASSERT_EQUAL_FATAL(ev->type, LCA_EVT_CRL_PUBLISHED);
    crl = d2i_X509_CRL(NULL, &p, (long)len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(crl);
    return crl;
}

static int n_entries(X509_CRL *crl)
{
    STACK_OF(X509_REVOKED) *r = X509_CRL_get_REVOKED(crl);

    return r == NULL ? 0 : sk_X509_REVOKED_num(r);
}

/* 1 when the CRL lists the serial (colon hex). */
static int lists(X509_CRL *crl, const char *serial)
{
    STACK_OF(X509_REVOKED) *r = X509_CRL_get_REVOKED(crl);
    uint8_t want[20];
    size_t wl = 0;
    int i;

    CU_ASSERT_EQUAL_FATAL(lca_state_serial_parse(serial, want, &wl), LCA_OK);
    for (i = 0; r != NULL && i < sk_X509_REVOKED_num(r); i++) {
        const ASN1_INTEGER *s = X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(r, i));
        const uint8_t *b = ASN1_STRING_get0_data(s), *w = want;
        size_t bl = (size_t)ASN1_STRING_length(s), l = wl;
        while (l > 1 && *w == 0) {
            w++;
            l--;
        }
        if (bl == l && memcmp(b, w, l) == 0) {
            return 1;
        }
    }
    return 0;
}

static int64_t int_ext(X509_CRL *crl, int nid)
{
    ASN1_INTEGER *ai = X509_CRL_get_ext_d2i(crl, nid, NULL, NULL);
    int64_t v = -1;

    if (ai != NULL) {
        ASN1_INTEGER_get_int64(&v, ai);
        ASN1_INTEGER_free(ai);
    }
    return v;
}

/* The single fullName URI of a DIST_POINT name, or "" (static buffer). */
static const char *dpn_uri(const DIST_POINT_NAME *dpn)
{
    static char out[1100];
    GENERAL_NAME *gn;

    out[0] = '\0';
    if (dpn != NULL && dpn->type == 0 && sk_GENERAL_NAME_num(dpn->name.fullname) == 1) {
        gn = sk_GENERAL_NAME_value(dpn->name.fullname, 0);
        if (gn->type == GEN_URI) {
            snprintf(out, sizeof(out), "%.*s", ASN1_STRING_length(gn->d.uniformResourceIdentifier),
                     (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier));
        }
    }
    return out;
}

static const char *idp_uri(X509_CRL *crl, int *crit)
{
    ISSUING_DIST_POINT *idp = X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, crit, NULL);
    const char *u = idp != NULL ? dpn_uri(idp->distpoint) : "";

    ISSUING_DIST_POINT_free(idp);
    return u;
}

static const char *cdp_uri(const char *pem)
{
    X509 *x = NULL;
    struct lca_err err;
    CRL_DIST_POINTS *dps;
    const char *u = "";

    CU_ASSERT_EQUAL_FATAL(lca_cert_from_pem(pem, strlen(pem), &x, &err), LCA_OK);
    dps = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);
    if (dps != NULL && sk_DIST_POINT_num(dps) == 1) {
        u = dpn_uri(sk_DIST_POINT_value(dps, 0)->distpoint);
    }
    CRL_DIST_POINTS_free(dps);
    X509_free(x);
    return u;
}

/* The certificate's single freshestCRL URI (4.2.1.15), or "". */
static const char *freshest_uri(const char *pem)
{
    X509 *x = NULL;
    struct lca_err err;
    CRL_DIST_POINTS *dps;
    const char *u = "";

    CU_ASSERT_EQUAL_FATAL(lca_cert_from_pem(pem, strlen(pem), &x, &err), LCA_OK);
    dps = X509_get_ext_d2i(x, NID_freshest_crl, NULL, NULL);
    if (dps != NULL && sk_DIST_POINT_num(dps) == 1) {
        u = dpn_uri(sk_DIST_POINT_value(dps, 0)->distpoint);
    }
    CRL_DIST_POINTS_free(dps);
    X509_free(x);
    return u;
}

static char *pem_of(const struct lca_event *ev)
{
    size_t len = 0, pl = 0;
    const uint8_t *der = lca_val_map_get_bin(ev->payload, "crl", &len);
    char *pem = NULL;
    struct lca_err err;

    CU_ASSERT_EQUAL_FATAL(lca_crl_der_to_pem(der, len, &pem, &pl, &err), LCA_OK);
    return pem;
}

static void lint(const struct lca_event *ev)
{
    char why[4096] = "", *pem = pem_of(ev);

    if (lca_oracle_lint_crl(pem, why, sizeof(why)) != 0) {
        fprintf(stderr, "pkilint: %s\n", why);
        CU_FAIL("pkilint");
    }
    free(pem);
}

static void write_str(const char *name, const char *s, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", tmp, name);
    CU_ASSERT_EQUAL_FATAL(lca_pkix_write_file(path, s, strlen(s)), 0);
}

/* openssl verify -crl_check of a leaf under the default issuer with the given CRL files. */
static int openssl_check(struct ca *ca, const struct leaf *lf, const char *crls, int deltas,
                         char *out, size_t cap)
{
    const struct lca_issuer *inter = lca_state_default_issuer(ca->st);
    const struct lca_issuer *root = lca_state_active_root(ca->st);
    char lp[300], ip[300], rp[300], cmd[2000];

    write_str("leaf.pem", lf->pem, lp, sizeof(lp));
    write_str("inter.pem", inter->pem, ip, sizeof(ip));
    write_str("root.pem", root->pem, rp, sizeof(rp));
    snprintf(cmd, sizeof(cmd),
             "openssl verify -x509_strict -crl_check %s -CAfile %s -untrusted %s %s %s 2>&1",
             deltas ? "-use_deltas" : "", rp, ip, crls, lp);
    return lca_pkix_run(cmd, out, cap);
}

static void crl_file(const struct lca_event *ev, const char *name, char *arg, size_t cap)
{
    char path[300], *pem = pem_of(ev);
    size_t n = strlen(arg);

    write_str(name, pem, path, sizeof(path));
    snprintf(arg + n, cap - n, " -CRLfile %s", path);
    free(pem);
}

/* ------------------------------------------------------------------ delta CRLs */

static void test_delta(void)
{
    struct ca ca;
    struct lca_decision *d, *base;
    struct leaf a, b, c;
    X509_CRL *crl;
    const struct lca_issuer *inter;
    char want[300], arg[1000] = "", out[8192];
    int64_t base_no;

    ca_init(&ca, "{\"enable_delta\":true,\"crl_base_url\":\"" BASE "\"}");
    inter = lca_state_default_issuer(ca.st);
    run_free(&ca, LCA_CMD_ROLE_WRITE, ROLE_WEB);
    a = issue(&ca, 1);
    b = issue(&ca, 2);
    c = issue(&ca, 3);
    /* leaves name their delta CRL too (freshestCRL, 4.2.1.15), and still lint */
    snprintf(want, sizeof(want), BASE "/%s.delta.crl", inter->id);
    CU_ASSERT_STRING_EQUAL(freshest_uri(a.pem), want);
    {
        char why[4096] = "";
        if (lca_oracle_lint(a.pem, why, sizeof(why)) != 0) {
            fprintf(stderr, "zlint: %s\n", why);
            CU_FAIL("zlint on a leaf with freshestCRL");
        }
    }
    /* rotate: per issuer a complete CRL with freshestCRL, then an empty delta against it */
    base = run(&ca, LCA_CMD_CRL_ROTATE, "{\"issuer_ref\":\"default\"}");
    CU_ASSERT_EQUAL_FATAL(base->n_events, 2);
    CU_ASSERT_EQUAL(lca_val_map_get_int(base->events[0]->payload, "delta_base", 0), -1);
    base_no = lca_val_map_get_int(base->events[0]->payload, "crl_number", 0);
    CU_ASSERT_EQUAL(lca_val_map_get_int(base->events[1]->payload, "delta_base", 0), base_no);
    crl = crl_of(base->events[0]);
    {
        STACK_OF(DIST_POINT) *fr = X509_CRL_get_ext_d2i(crl, NID_freshest_crl, NULL, NULL);
        snprintf(want, sizeof(want), BASE "/%s.delta.crl", inter->id);
        CU_ASSERT_PTR_NOT_NULL_FATAL(fr);
        CU_ASSERT_STRING_EQUAL(dpn_uri(sk_DIST_POINT_value(fr, 0)->distpoint), want);
        sk_DIST_POINT_pop_free(fr, DIST_POINT_free);
    }
    X509_CRL_free(crl);
    lint(base->events[0]);
    lint(base->events[1]);
    /* revoke a: a delta holding exactly a */
    d = revoke(&ca, &a);
    CU_ASSERT_EQUAL_FATAL(d->n_events, 2);
    CU_ASSERT_EQUAL(lca_val_map_get_int(d->events[1]->payload, "delta_base", 0), base_no);
    crl = crl_of(d->events[1]);
    CU_ASSERT_EQUAL(int_ext(crl, NID_delta_crl), base_no);
    CU_ASSERT_EQUAL(int_ext(crl, NID_crl_number), base_no + 2);
    CU_ASSERT_EQUAL(n_entries(crl), 1);
    CU_ASSERT_TRUE(lists(crl, a.serial));
    CU_ASSERT_PTR_NULL(X509_CRL_get_ext_d2i(crl, NID_freshest_crl, NULL, NULL));
    X509_CRL_free(crl);
    lint(d->events[1]);
    lca_decision_free(d);
    /* revoke b: the delta is cumulative since the base (a and b) */
    d = revoke(&ca, &b);
    crl = crl_of(d->events[1]);
    CU_ASSERT_EQUAL(n_entries(crl), 2);
    CU_ASSERT_TRUE(lists(crl, a.serial) && lists(crl, b.serial));
    X509_CRL_free(crl);
    /* openssl with the base and this delta: b is revoked, c is not */
    crl_file(base->events[0], "base.pem", arg, sizeof(arg));
    crl_file(d->events[1], "delta.pem", arg, sizeof(arg));
    CU_ASSERT_NOT_EQUAL(openssl_check(&ca, &b, arg, 1, out, sizeof(out)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "revoked"));
    if (openssl_check(&ca, &c, arg, 1, out, sizeof(out)) != 0) {
        fprintf(stderr, "openssl: %s\n", out);
        CU_FAIL("unrevoked leaf refused with base + delta");
    }
    /* the base alone does not know b (why deltas need the freshest CRL) */
    arg[0] = '\0';
    crl_file(base->events[0], "base.pem", arg, sizeof(arg));
    CU_ASSERT_EQUAL(openssl_check(&ca, &b, arg, 0, out, sizeof(out)), 0);
    lca_decision_free(d);
    lca_decision_free(base);
    /* a new base holds a and b; the next delta only c */
    base = run(&ca, LCA_CMD_CRL_ROTATE, "{\"issuer_ref\":\"default\"}");
    crl = crl_of(base->events[0]);
    CU_ASSERT_EQUAL(n_entries(crl), 2);
    X509_CRL_free(crl);
    crl = crl_of(base->events[1]);
    CU_ASSERT_EQUAL(n_entries(crl), 0);
    X509_CRL_free(crl);
    d = revoke(&ca, &c);
    crl = crl_of(d->events[1]);
    CU_ASSERT_EQUAL(n_entries(crl), 1);
    CU_ASSERT_TRUE(lists(crl, c.serial));
    CU_ASSERT_EQUAL(int_ext(crl, NID_delta_crl),
                    lca_val_map_get_int(base->events[0]->payload, "crl_number", 0));
    X509_CRL_free(crl);
    lca_decision_free(d);
    lca_decision_free(base);
    free(a.pem);
    free(b.pem);
    free(c.pem);
    ca_cleanup(&ca);
}

/* Without enable_delta a revocation still publishes the complete CRL (the old behaviour). */
static void test_no_delta_default(void)
{
    struct ca ca;
    struct lca_decision *d;
    struct leaf a;
    X509_CRL *crl;

    ca_init(&ca, "{}");
    run_free(&ca, LCA_CMD_ROLE_WRITE, ROLE_WEB);
    a = issue(&ca, 1);
    CU_ASSERT_STRING_EQUAL(freshest_uri(a.pem), "");
    d = revoke(&ca, &a);
    CU_ASSERT_EQUAL_FATAL(d->n_events, 2);
    CU_ASSERT_EQUAL(lca_val_map_get_int(d->events[1]->payload, "delta_base", 0), -1);
    CU_ASSERT_PTR_NULL(lca_val_map_get(d->events[1]->payload, "shard"));
    crl = crl_of(d->events[1]);
    CU_ASSERT_EQUAL(int_ext(crl, NID_delta_crl), -1);
    CU_ASSERT_TRUE(lists(crl, a.serial));
    X509_CRL_free(crl);
    lca_decision_free(d);
    free(a.pem);
    ca_cleanup(&ca);
}

/* ------------------------------------------------------------------ shards */

#define N_LEAVES 12

static void test_shards(void)
{
    struct ca ca;
    struct lca_decision *d;
    struct leaf lv[N_LEAVES];
    const struct lca_issuer *inter;
    X509_CRL *crl;
    char want[300], json[200], arg[600], out[8192];
    int i, crit = 0, k, victim = 0, other = -1, stranger = -1;
    uint8_t ser[20];
    size_t sl;

    ca_init(&ca, "{\"crl_base_url\":\"" BASE "/\"}");
    inter = lca_state_default_issuer(ca.st);
    expect_reject(&ca, LCA_CMD_ISSUER_UPDATE, "{\"issuer_ref\":\"default\",\"crl_shards\":3}",
                  "bad_field");
    expect_reject(&ca, LCA_CMD_ISSUER_UPDATE, "{\"issuer_ref\":\"default\",\"crl_shards\":512}",
                  "bad_field");
    d = run(&ca, LCA_CMD_ISSUER_UPDATE, "{\"issuer_ref\":\"default\",\"crl_shards\":4}");
    CU_ASSERT_FALSE_FATAL(d->rejected);
    CU_ASSERT_EQUAL_FATAL(d->n_events, 5); /* IssuerUpdated + an empty CRL per shard */
    CU_ASSERT_EQUAL(inter->crl_shards, 4);
    for (k = 0; k < 4; k++) {
        const struct lca_event *ev = d->events[1 + k];
        char stream[96];
        int32_t ver = 0;
        CU_ASSERT_EQUAL(lca_val_map_get_int(ev->payload, "shard", -1), k);
        CU_ASSERT_EQUAL(lca_val_map_get_int(ev->payload, "crl_number", 0), 1);
        crl = crl_of(ev);
        snprintf(want, sizeof(want), BASE "/%s/%d.crl", inter->id, k);
        CU_ASSERT_STRING_EQUAL(idp_uri(crl, &crit), want);
        CU_ASSERT_EQUAL(crit, 1);
        X509_CRL_free(crl);
        CU_ASSERT_EQUAL(lca_state_stream(ca.st, ev, "x", stream, sizeof(stream), &ver), LCA_OK);
        snprintf(want, sizeof(want), "crl:%s/%d", inter->id, k);
        CU_ASSERT_STRING_EQUAL(stream, want);
        CU_ASSERT_EQUAL(ver, 1);
    }
    lint(d->events[1]);
    lca_decision_free(d);
    run_free(&ca, LCA_CMD_ROLE_WRITE, ROLE_WEB);
    for (i = 0; i < N_LEAVES; i++) {
        lv[i] = issue(&ca, i);
        CU_ASSERT_EQUAL_FATAL(lca_state_serial_parse(lv[i].serial, ser, &sl), LCA_OK);
        k = (int)lca_crl_shard(ser, sl, 4);
        CU_ASSERT_EQUAL(k, ser[sl - 1] & 3);
        snprintf(want, sizeof(want), BASE "/%s/%d.crl", inter->id, k);
        CU_ASSERT_STRING_EQUAL(cdp_uri(lv[i].pem), want); /* the leaf names its shard */
        CU_ASSERT_STRING_EQUAL(freshest_uri(lv[i].pem), ""); /* no deltas here */
    }
    /* shards are fixed once the issuer has signed */
    expect_reject(&ca, LCA_CMD_ISSUER_UPDATE, "{\"issuer_ref\":\"default\",\"crl_shards\":8}",
                  "crl_shards_fixed");
    CU_ASSERT_EQUAL_FATAL(lca_state_serial_parse(lv[0].serial, ser, &sl), LCA_OK);
    k = (int)lca_crl_shard(ser, sl, 4);
    for (i = 1; i < N_LEAVES; i++) {
        uint8_t s2[20];
        size_t l2;
        CU_ASSERT_EQUAL_FATAL(lca_state_serial_parse(lv[i].serial, s2, &l2), LCA_OK);
        if ((int)lca_crl_shard(s2, l2, 4) == k && other < 0) {
            other = i;
        } else if ((int)lca_crl_shard(s2, l2, 4) != k && stranger < 0) {
            stranger = i;
        }
    }
    /* the revocation rebuilds only the victim's shard */
    d = revoke(&ca, &lv[victim]);
    CU_ASSERT_EQUAL_FATAL(d->n_events, 2);
    CU_ASSERT_EQUAL(lca_val_map_get_int(d->events[1]->payload, "shard", -1), k);
    CU_ASSERT_EQUAL(lca_val_map_get_int(d->events[1]->payload, "shards", -1), 4);
    CU_ASSERT_EQUAL(lca_val_map_get_int(d->events[1]->payload, "crl_number", 0), 2);
    crl = crl_of(d->events[1]);
    CU_ASSERT_EQUAL(n_entries(crl), 1);
    CU_ASSERT_TRUE(lists(crl, lv[victim].serial));
    X509_CRL_free(crl);
    CU_ASSERT_EQUAL(lca_state_crl_scope(inter, k)->number, 2);
    CU_ASSERT_EQUAL(lca_state_crl_scope(inter, (k + 1) % 4)->number, 1);
    lint(d->events[1]);
    /* openssl with the shard CRL: the revoked leaf is refused, a leaf of the same shard
     * accepted, and for a leaf of another shard the CRL is out of scope */
    arg[0] = '\0';
    crl_file(d->events[1], "shard.pem", arg, sizeof(arg));
    CU_ASSERT_NOT_EQUAL(openssl_check(&ca, &lv[victim], arg, 0, out, sizeof(out)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "revoked"));
    if (other >= 0) {
        char *pem = pem_of(d->events[1]), why[4096] = "";
        char *chain = strdup(inter->pem);
        int rc = lca_oracle_verify(lv[other].pem, chain, lca_state_active_root(ca.st)->pem, pem,
                                   why, sizeof(why));
        if (rc != 0) {
            fprintf(stderr, "oracle: %s\n", why);
        }
        CU_ASSERT_EQUAL(rc, 0);
        free(pem);
        free(chain);
    }
    if (stranger >= 0) {
        CU_ASSERT_NOT_EQUAL(openssl_check(&ca, &lv[stranger], arg, 0, out, sizeof(out)), 0);
        if (strstr(out, "different CRL scope") == NULL) {
            fprintf(stderr, "openssl: %s\n", out);
            CU_FAIL("a leaf of another shard was judged by this shard's CRL");
        }
    }
    lca_decision_free(d);
    /* crl.rotate: a complete CRL for each shard */
    d = run(&ca, LCA_CMD_CRL_ROTATE, "{\"issuer_ref\":\"default\"}");
    CU_ASSERT_EQUAL(d->n_events, 4);
    CU_ASSERT_EQUAL(lca_val_map_get_int(d->result, "crls_published", 0), 4);
    lca_decision_free(d);
    snprintf(json, sizeof(json), "{\"issuer_ref\":\"%s\"}", "no-such-issuer");
    expect_reject(&ca, LCA_CMD_CRL_ROTATE, json, "not_found");
    for (i = 0; i < N_LEAVES; i++) {
        free(lv[i].pem);
    }
    ca_cleanup(&ca);
}

static void test_shards_need_url(void)
{
    struct ca ca;

    ca_init(&ca, "{}");
    expect_reject(&ca, LCA_CMD_ISSUER_UPDATE, "{\"issuer_ref\":\"default\",\"crl_shards\":2}",
                  "crl_base_url_required");
    run_free(&ca, LCA_CMD_ISSUER_UPDATE,
             "{\"issuer_ref\":\"default\",\"crl_shards\":2,\"crl_base_url\":\"" BASE "\"}");
    CU_ASSERT_EQUAL(lca_state_default_issuer(ca.st)->crl_shards, 2);
    CU_ASSERT_STRING_EQUAL(lca_state_default_issuer(ca.st)->crl_base_url, BASE);
    ca_cleanup(&ca);
}

/* ------------------------------------------------------------------ max_crl_entries */

static void test_max_entries(void)
{
    struct ca ca;
    struct lca_decision *d;
    struct leaf lv[3];
    const struct lca_val *w;
    const struct lca_certrec *rec;
    uint8_t ser[20];
    size_t sl;
    X509_CRL *crl;
    int i;

    ca_init(&ca, "{\"max_crl_entries\":2}");
    expect_reject(&ca, LCA_CMD_CONFIG_UPDATE, "{\"Config\":{\"max_crl_entries\":0}}",
                  "bad_config");
    run_free(&ca, LCA_CMD_ROLE_WRITE, ROLE_WEB);
    for (i = 0; i < 3; i++) {
        lv[i] = issue(&ca, i);
    }
    lca_decision_free(revoke(&ca, &lv[0]));
    lca_decision_free(revoke(&ca, &lv[1]));
    /* the third would make 3 > 2: recorded revocation, recorded refusal, no CRL */
    d = revoke(&ca, &lv[2]);
    CU_ASSERT_FALSE(d->rejected);
    CU_ASSERT_EQUAL_FATAL(d->n_events, 2);
    CU_ASSERT_EQUAL(d->events[0]->type, LCA_EVT_CERT_REVOKED);
    CU_ASSERT_EQUAL(d->events[1]->type, LCA_EVT_CRL_BUILD_FAILED);
    CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(d->events[1]->payload, "code"), "crl_too_large");
    CU_ASSERT_EQUAL(lca_val_map_get_int(d->events[1]->payload, "entries", 0), 3);
    CU_ASSERT_EQUAL(lca_val_map_get_int(d->events[1]->payload, "max_entries", 0), 2);
    w = lca_val_map_get(d->result, "warnings");
    CU_ASSERT_EQUAL(lca_val_len(w), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(lca_val_str(lca_val_arr_at(w, 0)), "crl_too_large"));
    CU_ASSERT_PTR_NOT_NULL(lca_val_map_get_str(d->result, "serial_number"));
    lca_decision_free(d);
    CU_ASSERT_EQUAL_FATAL(lca_state_serial_parse(lv[2].serial, ser, &sl), LCA_OK);
    rec = lca_state_cert(ca.st, ser, sl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    CU_ASSERT_NOT_EQUAL(rec->revoked_at, 0); /* the revocation is not lost */
    /* rotate refuses the intermediate's CRL too, but publishes the root's */
    d = run(&ca, LCA_CMD_CRL_ROTATE, "{}");
    CU_ASSERT_EQUAL_FATAL(d->n_events, 2);
    CU_ASSERT_EQUAL(lca_val_map_get_int(d->result, "crls_published", 0), 1);
    CU_ASSERT_TRUE((d->events[0]->type == LCA_EVT_CRL_BUILD_FAILED) !=
                   (d->events[1]->type == LCA_EVT_CRL_BUILD_FAILED));
    lca_decision_free(d);
    /* the operator raises the limit and rotates: all three are listed */
    run_free(&ca, LCA_CMD_CONFIG_UPDATE, "{\"Config\":{\"max_crl_entries\":-1}}");
    d = run(&ca, LCA_CMD_CRL_ROTATE, "{\"issuer_ref\":\"default\"}");
    CU_ASSERT_EQUAL_FATAL(d->n_events, 1);
    crl = crl_of(d->events[0]);
    CU_ASSERT_EQUAL(n_entries(crl), 3);
    X509_CRL_free(crl);
    lca_decision_free(d);
    for (i = 0; i < 3; i++) {
        free(lv[i].pem);
    }
    ca_cleanup(&ca);
}

/* ------------------------------------------------------------------ schedule, old logs */

static void test_due(void)
{
    struct ca ca;
    char id1[LCA_ID_LEN + 1], id2[LCA_ID_LEN + 1], c1[37], c2[37], json[100];
    int64_t now = (int64_t)time(NULL);
    struct lca_decision *d;
    int dl = -1;

    ca_init(&ca, "{\"CrlExpiry\":\"10h\"}");
    /* bootstrap: 72 h */
    CU_ASSERT_EQUAL(lca_decide_crl_due(ca.st, now + 68 * 3600, id1, c1, &dl), 1);
    lca_decision_free(run(&ca, LCA_CMD_CRL_ROTATE, "{}"));
    /* the CRLs are now valid 10 h; the grace is min(12 h, 5 h) */
    CU_ASSERT_EQUAL(lca_decide_crl_due(ca.st, now, id1, c1, &dl), 0);
    CU_ASSERT_EQUAL(lca_decide_crl_due(ca.st, now + 4 * 3600, id1, c1, &dl), 0);
    CU_ASSERT_EQUAL_FATAL(lca_decide_crl_due(ca.st, now + 5 * 3600 + 60, id1, c1, &dl), 1);
    CU_ASSERT_EQUAL_FATAL(lca_decide_crl_due(ca.st, now + 5 * 3600 + 120, id2, c2, &dl), 1);
    CU_ASSERT_STRING_EQUAL(id1, id2);
    CU_ASSERT_STRING_EQUAL(c1, c2); /* same issuer and period: the same command id */
    CU_ASSERT_EQUAL(dl, 0);         /* a complete CRL is due, not a delta */
    CU_ASSERT_EQUAL(strlen(c1), 36);
    CU_ASSERT_EQUAL(c1[14], '8'); /* UUIDv8 */
    lca_fakeenv_set_time(ca.fe, now + 5 * 3600 + 60);
    snprintf(json, sizeof(json), "{\"issuer_ref\":\"%s\"}", id1);
    d = run(&ca, LCA_CMD_CRL_ROTATE, json);
    CU_ASSERT_EQUAL(d->n_events, 1);
    lca_decision_free(d);
    /* the other issuer is due next, then nobody until the new CRLs age */
    CU_ASSERT_EQUAL_FATAL(lca_decide_crl_due(ca.st, now + 5 * 3600 + 60, id2, c2, &dl), 1);
    CU_ASSERT_STRING_NOT_EQUAL(id1, id2);
    CU_ASSERT_STRING_NOT_EQUAL(c1, c2);
    snprintf(json, sizeof(json), "{\"issuer_ref\":\"%s\"}", id2);
    lca_decision_free(run(&ca, LCA_CMD_CRL_ROTATE, json));
    CU_ASSERT_EQUAL(lca_decide_crl_due(ca.st, now + 5 * 3600 + 120, id2, c2, &dl), 0);
    CU_ASSERT_EQUAL(lca_decide_crl_due(ca.st, now + 10 * 3600 + 120, id2, c2, &dl), 1);
    CU_ASSERT_STRING_NOT_EQUAL(c1, c2);
    ca_cleanup(&ca);
}

/* The number of CrlPublished events of d. */
static size_t n_published(const struct lca_decision *d)
{
    size_t i, n = 0;

    for (i = 0; i < d->n_events; i++) {
        n += d->events[i]->type == LCA_EVT_CRL_PUBLISHED;
    }
    return n;
}

/* Vault's delta_rebuild_interval: a scope's delta at most once per interval. A revocation
 * within the interval after the scope's last CRL publishes nothing and stays pending; the
 * schedule then asks for crl.rotate {"delta": true}, which publishes the pending delta only.
 * The times are the log's (thisUpdate, revoked_at) and the `now` given to the schedule. */
static void test_delta_interval(void)
{
    struct ca ca;
    struct lca_decision *d, *base;
    struct leaf a, b, c, e;
    X509_CRL *crl;
    const struct lca_issuer *inter;
    char id1[LCA_ID_LEN + 1], id2[LCA_ID_LEN + 1], c1[37], c2[37], json[120];
    char arg[1000] = "", out[8192];
    int64_t t0 = (int64_t)time(NULL) - 3 * 3600, base_no; /* in the past: openssl's clock */
    int dl = -1;

    ca_init_at(&ca, "{\"enable_delta\":true,\"delta_rebuild_interval\":\"15m\"}", t0);
    inter = lca_state_default_issuer(ca.st);
    run_free(&ca, LCA_CMD_ROLE_WRITE, ROLE_WEB);
    a = issue(&ca, 1);
    b = issue(&ca, 2);
    c = issue(&ca, 3);
    e = issue(&ca, 4);
    base = run(&ca, LCA_CMD_CRL_ROTATE, "{\"issuer_ref\":\"default\"}"); /* complete + delta */
    CU_ASSERT_EQUAL_FATAL(base->n_events, 2);
    base_no = lca_val_map_get_int(base->events[0]->payload, "crl_number", 0);
    CU_ASSERT_EQUAL(lca_decide_crl_due(ca.st, t0, id1, c1, &dl), 0);

    /* 1 min after that CRL: the revocation is recorded, no CRL; pending */
    lca_fakeenv_set_time(ca.fe, t0 + 60);
    d = revoke(&ca, &a);
    CU_ASSERT_FALSE(d->rejected);
    CU_ASSERT_EQUAL(d->n_events, 1);
    CU_ASSERT_EQUAL(d->events[0]->type, LCA_EVT_CERT_REVOKED);
    lca_decision_free(d);
    CU_ASSERT_TRUE(inter->crl.revoked_seq > inter->crl.last_seq);
    CU_ASSERT_EQUAL(lca_decide_crl_due(ca.st, t0 + 60, id1, c1, &dl), 0);
    CU_ASSERT_EQUAL(lca_decide_crl_due(ca.st, t0 + 899, id1, c1, &dl), 0);
    /* the interval passed: a delta is due, the same command id for every signer and tick */
    CU_ASSERT_EQUAL_FATAL(lca_decide_crl_due(ca.st, t0 + 900, id1, c1, &dl), 1);
    CU_ASSERT_EQUAL(dl, 1);
    CU_ASSERT_STRING_EQUAL(id1, inter->id);
    dl = -1;
    CU_ASSERT_EQUAL_FATAL(lca_decide_crl_due(ca.st, t0 + 960, id2, c2, &dl), 1);
    CU_ASSERT_EQUAL(dl, 1);
    CU_ASSERT_STRING_EQUAL(c1, c2);
    CU_ASSERT_EQUAL(c1[14], '8');

    /* the schedule's command: one delta, against the base, listing a */
    lca_fakeenv_set_time(ca.fe, t0 + 900);
    snprintf(json, sizeof(json), "{\"issuer_ref\":\"%s\",\"delta\":true}", id1);
    d = run(&ca, LCA_CMD_CRL_ROTATE, json);
    CU_ASSERT_FALSE_FATAL(d->rejected);
    CU_ASSERT_EQUAL_FATAL(d->n_events, 1);
    CU_ASSERT_EQUAL(lca_val_map_get_int(d->result, "crls_published", 0), 1);
    crl = crl_of(d->events[0]);
    CU_ASSERT_EQUAL(int_ext(crl, NID_delta_crl), base_no);
    CU_ASSERT_EQUAL(n_entries(crl), 1);
    CU_ASSERT_TRUE(lists(crl, a.serial));
    X509_CRL_free(crl);
    lint(d->events[0]);
    crl_file(base->events[0], "base.pem", arg, sizeof(arg));
    crl_file(d->events[0], "delta.pem", arg, sizeof(arg));
    CU_ASSERT_NOT_EQUAL(openssl_check(&ca, &a, arg, 1, out, sizeof(out)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "revoked"));
    if (openssl_check(&ca, &b, arg, 1, out, sizeof(out)) != 0) {
        fprintf(stderr, "openssl: %s\n", out);
        CU_FAIL("unrevoked leaf refused with base + scheduled delta");
    }
    lca_decision_free(d);
    CU_ASSERT_EQUAL(inter->crl.revoked_seq, inter->crl.last_seq); /* nothing pending */
    CU_ASSERT_EQUAL(lca_decide_crl_due(ca.st, t0 + 3600, id1, c1, &dl), 0);
    /* with nothing pending, a delta rotate publishes nothing */
    d = run(&ca, LCA_CMD_CRL_ROTATE, "{\"delta\":true}");
    CU_ASSERT_FALSE(d->rejected);
    CU_ASSERT_EQUAL(d->n_events, 0);
    lca_decision_free(d);

    /* b 30 s after that delta: deferred; c once 15 min passed since it: a delta at once (a
     * revocation after a quiet interval is visible at once), cumulative since the base */
    lca_fakeenv_set_time(ca.fe, t0 + 930);
    d = revoke(&ca, &b);
    CU_ASSERT_EQUAL(n_published(d), 0);
    lca_decision_free(d);
    lca_fakeenv_set_time(ca.fe, t0 + 1800);
    d = revoke(&ca, &c);
    CU_ASSERT_EQUAL_FATAL(n_published(d), 1);
    crl = crl_of(d->events[1]);
    CU_ASSERT_EQUAL(int_ext(crl, NID_delta_crl), base_no);
    CU_ASSERT_EQUAL(n_entries(crl), 3);
    CU_ASSERT_TRUE(lists(crl, a.serial) && lists(crl, b.serial) && lists(crl, c.serial));
    X509_CRL_free(crl);
    lca_decision_free(d);
    CU_ASSERT_EQUAL(lca_decide_crl_due(ca.st, t0 + 7200, id1, c1, &dl), 0);

    /* a complete CRL due takes precedence over a pending delta (it lists the revocation) */
    lca_fakeenv_set_time(ca.fe, t0 + 1830);
    lca_decision_free(revoke(&ca, &e));
    CU_ASSERT_EQUAL_FATAL(lca_decide_crl_due(ca.st, t0 + 1830 + 900, id1, c1, &dl), 1);
    CU_ASSERT_EQUAL(dl, 1);
    CU_ASSERT_EQUAL_FATAL(lca_decide_crl_due(ca.st, t0 + 70 * 3600, id1, c1, &dl), 1);
    CU_ASSERT_EQUAL(dl, 0);
    lca_decision_free(base);
    free(a.pem);
    free(b.pem);
    free(c.pem);
    free(e.pem);
    ca_cleanup(&ca);
}

/* The default interval is 0: a delta at each revocation; without enable_delta a delta rotate
 * is refused. */
static void test_delta_interval_default(void)
{
    struct ca ca;
    struct lca_decision *d;
    struct leaf a, b;
    char id1[LCA_ID_LEN + 1], c1[37];
    int dl = -1;

    ca_init(&ca, "{\"enable_delta\":true}");
    run_free(&ca, LCA_CMD_ROLE_WRITE, ROLE_WEB);
    a = issue(&ca, 1);
    lca_decision_free(run(&ca, LCA_CMD_CRL_ROTATE, "{}"));
    d = revoke(&ca, &a); /* at once, the same second as the rotate */
    CU_ASSERT_EQUAL(n_published(d), 1);
    lca_decision_free(d);
    CU_ASSERT_EQUAL(lca_decide_crl_due(ca.st, (int64_t)time(NULL), id1, c1, &dl), 0);
    free(a.pem);
    ca_cleanup(&ca);
    ca_init(&ca, "{}");
    expect_reject(&ca, LCA_CMD_CRL_ROTATE, "{\"delta\":true}", "delta_disabled");
    ca_cleanup(&ca);
    /* a scope the max-entries guard refused is not owed a delta by the schedule */
    ca_init(&ca, "{\"enable_delta\":true,\"max_crl_entries\":1}");
    run_free(&ca, LCA_CMD_ROLE_WRITE, ROLE_WEB);
    a = issue(&ca, 1);
    b = issue(&ca, 2);
    lca_decision_free(run(&ca, LCA_CMD_CRL_ROTATE, "{}"));
    lca_decision_free(revoke(&ca, &a));
    d = revoke(&ca, &b);
    CU_ASSERT_EQUAL_FATAL(d->n_events, 2);
    CU_ASSERT_EQUAL(d->events[1]->type, LCA_EVT_CRL_BUILD_FAILED);
    lca_decision_free(d);
    CU_ASSERT_EQUAL(lca_decide_crl_due(ca.st, (int64_t)time(NULL) + 3600, id1, c1, &dl), 0);
    free(a.pem);
    free(b.pem);
    ca_cleanup(&ca);
}

/* A log written before shards and deltas (no shard field, delta_base -1) folds as before;
 * an event naming a shard the issuer lacks does not. */
static void test_old_log(void)
{
    struct ca ca;
    struct lca_event ev;
    struct lca_err err;
    const struct lca_issuer *inter;
    uint8_t der[4] = {0x30, 0x02, 0x30, 0x00};
    int64_t n;

    ca_init(&ca, "{}");
    inter = lca_state_default_issuer(ca.st);
    n = (int64_t)inter->crl_number;
    memset(&ev, 0, sizeof(ev));
    ev.type = LCA_EVT_CRL_PUBLISHED;
    ev.payload = lca_val_new_map();
    lca_val_map_set_str(ev.payload, "issuer_id", inter->id);
    lca_val_map_set_int(ev.payload, "crl_number", n + 1);
    lca_val_map_set_int(ev.payload, "this_update", 1000);
    lca_val_map_set_int(ev.payload, "next_update", 2000);
    lca_val_map_set_int(ev.payload, "delta_base", -1);
    lca_val_map_set_bin(ev.payload, "crl", der, sizeof(der));
    lca_err_clear(&err);
    CU_ASSERT_EQUAL(lca_state_evolve(ca.st, ++ca.pos, &ev, &err), LCA_OK);
    CU_ASSERT_EQUAL(inter->crl_number, (uint64_t)n + 1);
    CU_ASSERT_EQUAL(inter->crl.base_number, (uint64_t)n + 1);
    CU_ASSERT_EQUAL(inter->crl.next_update, 2000);
    lca_val_map_set_int(ev.payload, "crl_number", n + 2);
    lca_val_map_set_int(ev.payload, "shard", 1);
    CU_ASSERT_EQUAL(lca_state_evolve(ca.st, ++ca.pos, &ev, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    lca_val_free(ev.payload);
    ca_cleanup(&ca);
}

static void test_paths(void)
{
    char out[200];

    CU_ASSERT_EQUAL(lca_crl_path("abc", -1, 0, out, sizeof(out)), LCA_OK);
    CU_ASSERT_STRING_EQUAL(out, "abc.crl");
    CU_ASSERT_EQUAL(lca_crl_path("abc", -1, 1, out, sizeof(out)), LCA_OK);
    CU_ASSERT_STRING_EQUAL(out, "abc.delta.crl");
    CU_ASSERT_EQUAL(lca_crl_path("abc", 7, 0, out, sizeof(out)), LCA_OK);
    CU_ASSERT_STRING_EQUAL(out, "abc/7.crl");
    CU_ASSERT_EQUAL(lca_crl_path("abc", 7, 1, out, sizeof(out)), LCA_OK);
    CU_ASSERT_STRING_EQUAL(out, "abc/7.delta.crl");
    CU_ASSERT_EQUAL(lca_crl_path("../x", 0, 0, out, sizeof(out)), LCA_FAIL);
    CU_ASSERT_EQUAL(lca_crl_path("a/b", 0, 0, out, sizeof(out)), LCA_FAIL);
    CU_ASSERT_EQUAL(lca_crl_path("abc", 0, 0, out, 4), LCA_FAIL);
    CU_ASSERT_EQUAL(lca_crl_url("http://x/y//", "abc", 2, 0, out, sizeof(out)), LCA_OK);
    CU_ASSERT_STRING_EQUAL(out, "http://x/y/abc/2.crl");
    CU_ASSERT_EQUAL(lca_crl_url("http://x y", "abc", 2, 0, out, sizeof(out)), LCA_FAIL);
    CU_ASSERT_EQUAL(lca_crl_shards_valid(1), 1);
    CU_ASSERT_EQUAL(lca_crl_shards_valid(256), 1);
    CU_ASSERT_EQUAL(lca_crl_shards_valid(0), 0);
    CU_ASSERT_EQUAL(lca_crl_shards_valid(6), 0);
    CU_ASSERT_EQUAL(lca_crl_shards_valid(512), 0);
    CU_ASSERT_EQUAL(lca_crl_shard((const uint8_t *)"\x01\xff", 2, 1), 0);
    CU_ASSERT_EQUAL(lca_crl_shard((const uint8_t *)"\x01\xff", 2, 16), 15);
    CU_ASSERT_EQUAL(lca_crl_shard((const uint8_t *)"\xff\x12", 2, 16), 2);
}

int main(void)
{
    CU_pSuite s;
    int failures;

    if (lca_pkix_tmpdir(tmp, sizeof(tmp)) != 0 || CU_initialize_registry() != CUE_SUCCESS) {
        return 1;
    }
    s = CU_add_suite("decide_crl", NULL, NULL);
    CU_add_test(s, "paths, URLs, shard function", test_paths);
    CU_add_test(s, "delta CRLs and freshestCRL", test_delta);
    CU_add_test(s, "no delta by default", test_no_delta_default);
    CU_add_test(s, "shards: IDP, CDP, one shard rebuilt, openssl", test_shards);
    CU_add_test(s, "shards need a base URL", test_shards_need_url);
    CU_add_test(s, "max_crl_entries guard", test_max_entries);
    CU_add_test(s, "schedule: crl.rotate due, deterministic id", test_due);
    CU_add_test(s, "delta_rebuild_interval: deferred delta, scheduled", test_delta_interval);
    CU_add_test(s, "delta_rebuild_interval: default 0, disabled deltas", test_delta_interval_default);
    CU_add_test(s, "old logs fold", test_old_log);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    lca_pkix_rmdir(tmp);
    return failures == 0 ? 0 : 1;
}
