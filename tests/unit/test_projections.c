/*
 * test_projections — the read models (roots, issuer views, certificate/CRL rows, revoked sets)
 * as pure folds, on states built by decide/evolve with the deterministic env.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "catalog.h"
#include "cert.h"
#include "certview.h"
#include "codec.h"
#include "command.h"
#include "curun.h"
#include "decide.h"
#include "event.h"
#include "fakeenv.h"
#include "issuerview.h"
#include "json.h"
#include "roots.h"
#include "state.h"

/* ---- a small CA driven by decide (helpers as in test_decide.c) ---- */

struct ca {
    struct lca_fakeenv *fe;
    struct lca_state *st;
    int64_t pos;
    uint8_t *logs[256]; /* canonical bytes of every event applied, in log order */
    size_t lens[256];
    size_t n_log;
};

static void ca_init(struct ca *ca, uint64_t seed)
{
    memset(ca, 0, sizeof(*ca));
    ca->fe = lca_fakeenv_new(seed);
    ca->st = lca_state_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(ca->fe);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ca->st);
}

static void ca_cleanup(struct ca *ca)
{
    size_t i;

    for (i = 0; i < ca->n_log; i++) {
        free(ca->logs[i]);
    }
    lca_state_free(ca->st);
    lca_fakeenv_free(ca->fe);
}

static void apply(struct ca *ca, const struct lca_decision *d)
{
    struct lca_err err;
    size_t i;

    for (i = 0; i < d->n_events; i++) {
        lca_err_clear(&err);
        CU_ASSERT_FATAL(ca->n_log < 256);
        CU_ASSERT_EQUAL_FATAL(lca_event_canonical(d->events[i], &ca->logs[ca->n_log],
                                                  &ca->lens[ca->n_log], &err),
                              LCA_OK);
        ca->n_log++;
        if (lca_state_evolve(ca->st, ++ca->pos, d->events[i], &err) != LCA_OK) {
            fprintf(stderr, "evolve: %s\n", err.msg);
            CU_FAIL_FATAL("evolve");
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

static void run_ok(struct ca *ca, enum lca_cmd_type type, const char *json)
{
    struct lca_decision *d = run(ca, type, json);

    CU_ASSERT_FALSE(d->rejected);
    lca_decision_free(d);
}

static void bootstrap(struct ca *ca)
{
    struct lca_decision *d = NULL;
    struct lca_err err;

    lca_err_clear(&err);
    CU_ASSERT_EQUAL_FATAL(lca_decide_bootstrap(ca->st, NULL, "dc1", lca_fakeenv_env(ca->fe), &d,
                                               &err),
                          LCA_OK);
    CU_ASSERT_FALSE(d->rejected);
    apply(ca, d);
    lca_decision_free(d);
}

#define ROLE_WEB                                                                               \
    "{\"name\":\"web\",\"allowed_domains\":[\"example.com\"],\"allow_subdomains\":true,"       \
    "\"key_type\":\"ec\",\"key_bits\":256,\"ttl\":\"24h\",\"max_ttl\":\"72h\"}"

/* Issues a leaf through `sign`-less issue with a fixed recipient key; returns its serial. */
static void issue(struct ca *ca, const char *cn, char serial[LCA_CERTVIEW_SERIAL_LEN])
{
    char json[512];
    struct lca_decision *d;

    snprintf(json, sizeof(json),
             "{\"role\":\"web\",\"common_name\":\"%s\",\"recipient_public_key\":"
             "\"8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a\"}",
             cn);
    d = run(ca, LCA_CMD_ISSUE, json);
    CU_ASSERT_FALSE_FATAL(d->rejected);
    snprintf(serial, LCA_CERTVIEW_SERIAL_LEN, "%s",
             lca_val_map_get_str(d->result, "serial_number"));
    lca_decision_free(d);
}

static void revoke(struct ca *ca, const char *serial)
{
    char json[256];

    snprintf(json, sizeof(json), "{\"serial_number\":\"%s\",\"reason\":\"key_compromise\"}",
             serial);
    run_ok(ca, LCA_CMD_REVOKE, json);
}

static char *enc(const struct lca_val *v)
{
    char *s = NULL;
    size_t len = 0;
    struct lca_err err;

    lca_err_clear(&err);
    CU_ASSERT_EQUAL_FATAL(lca_json_encode(v, &s, &len, &err), LCA_OK);
    return s;
}

static struct lca_val *roots_of(const struct lca_state *st)
{
    struct lca_val *doc = NULL;
    struct lca_err err;

    lca_err_clear(&err);
    if (lca_roots_build(st, &doc, &err) != LCA_OK) {
        fprintf(stderr, "roots: %s\n", err.msg);
        CU_FAIL_FATAL("roots");
    }
    return doc;
}

static char *ski(const struct lca_issuer *iss)
{
    static char buf[2][200];
    static int which;

    which ^= 1;
    CU_ASSERT_EQUAL_FATAL(lca_cert_ski_hex(iss->cert, buf[which], sizeof(buf[which])), LCA_OK);
    return buf[which];
}

static const struct lca_issuer *find_kind(const struct lca_state *st, enum lca_issuer_kind k,
                                          const char *twin_of)
{
    size_t i;

    for (i = 0; i < lca_state_issuer_count(st); i++) {
        const struct lca_issuer *iss = lca_state_issuer_at(st, i);
        if (iss->kind == k && (twin_of == NULL || strcmp(iss->twin_of, twin_of) == 0)) {
            return iss;
        }
    }
    return NULL;
}

/* ---- roots ---- */

static const char *const ROOT_KEYS[] = {
    "ID",       "Name",     "SerialNumber", "SigningKeyID",      "ExternalTrustDomain",
    "NotBefore", "NotAfter", "RootCert",     "IntermediateCerts", "Active",
    "PrivateKeyType", "PrivateKeyBits", "CreateIndex", "ModifyIndex"};

static void assert_root_shape(const struct lca_val *r)
{
    size_t i, n = sizeof(ROOT_KEYS) / sizeof(ROOT_KEYS[0]);
    regex_t re;

    CU_ASSERT_EQUAL_FATAL(lca_val_len(r), n);
    for (i = 0; i < n; i++) {
        CU_ASSERT_STRING_EQUAL(lca_val_map_key_at(r, i), ROOT_KEYS[i]);
    }
    CU_ASSERT_EQUAL(lca_val_kind(lca_val_map_get(r, "SerialNumber")), LCA_VAL_INT);
    CU_ASSERT(lca_val_map_get_int(r, "SerialNumber", -1) >= 0);
    CU_ASSERT_EQUAL(lca_val_kind(lca_val_map_get(r, "Active")), LCA_VAL_BOOL);
    CU_ASSERT_EQUAL_FATAL(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$",
                                  REG_EXTENDED | REG_NOSUB),
                          0);
    CU_ASSERT_EQUAL(regexec(&re, lca_val_map_get_str(r, "NotBefore"), 0, NULL, 0), 0);
    CU_ASSERT_EQUAL(regexec(&re, lca_val_map_get_str(r, "NotAfter"), 0, NULL, 0), 0);
    regfree(&re);
    CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(r, "PrivateKeyType"), "ec");
    CU_ASSERT_EQUAL(lca_val_map_get_int(r, "PrivateKeyBits", 0), 256);
}

static void test_roots_bootstrap(void)
{
    struct ca ca;
    struct lca_val *doc;
    const struct lca_val *roots, *r, *ic;
    const struct lca_issuer *root, *inter;
    char *json;

    ca_init(&ca, 1);
    doc = roots_of(ca.st); /* before bootstrap: empty, same shape */
    CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(doc, "ActiveRootID"), "");
    CU_ASSERT_EQUAL(lca_val_len(lca_val_map_get(doc, "Roots")), 0);
    lca_val_free(doc);
    bootstrap(&ca);
    root = lca_state_active_root(ca.st);
    inter = lca_state_default_issuer(ca.st);
    doc = roots_of(ca.st);
    CU_ASSERT_EQUAL(lca_val_len(doc), 3);
    CU_ASSERT_STRING_EQUAL(lca_val_map_key_at(doc, 0), "ActiveRootID");
    CU_ASSERT_STRING_EQUAL(lca_val_map_key_at(doc, 1), "TrustDomain");
    CU_ASSERT_STRING_EQUAL(lca_val_map_key_at(doc, 2), "Roots");
    CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(doc, "TrustDomain"), lca_state_trust_domain(ca.st));
    CU_ASSERT_PTR_NOT_NULL(strstr(lca_val_map_get_str(doc, "TrustDomain"), ".consul"));
    roots = lca_val_map_get(doc, "Roots");
    CU_ASSERT_EQUAL_FATAL(lca_val_len(roots), 1);
    r = lca_val_arr_at(roots, 0);
    assert_root_shape(r);
    CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(r, "ID"), ski(root));
    CU_ASSERT_EQUAL(strlen(ski(root)), 59); /* 20 bytes, colon hex, as Consul's ID */
    CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(doc, "ActiveRootID"), ski(root));
    CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(r, "SigningKeyID"), ski(inter));
    CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(r, "RootCert"), root->pem);
    CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(r, "ExternalTrustDomain"), "dc1");
    CU_ASSERT_PTR_NOT_NULL(strstr(lca_val_map_get_str(r, "Name"), "Root CA"));
    CU_ASSERT_TRUE(lca_val_map_get_bool(r, "Active", 0));
    CU_ASSERT_EQUAL(lca_val_map_get_int(r, "CreateIndex", 0), root->create_index);
    CU_ASSERT(root->create_index > 0);
    CU_ASSERT_EQUAL(lca_val_map_get_int(r, "ModifyIndex", 0), root->modify_index);
    ic = lca_val_map_get(r, "IntermediateCerts");
    CU_ASSERT_EQUAL_FATAL(lca_val_len(ic), 1);
    CU_ASSERT_STRING_EQUAL(lca_val_str(lca_val_arr_at(ic, 0)), inter->pem);
    json = enc(doc);
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "{\"ActiveRootID\":\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"Active\":true"));
    free(json);
    lca_val_free(doc);
    ca_cleanup(&ca);
}

static void rotation_case(int force)
{
    struct ca ca;
    struct lca_val *doc;
    const struct lca_val *roots, *r0, *r1, *ic;
    const struct lca_issuer *old_root, *old_int, *new_root, *cross;
    int64_t rotate_at;

    ca_init(&ca, 2 + (uint64_t)force);
    bootstrap(&ca);
    old_root = lca_state_active_root(ca.st);
    old_int = lca_state_default_issuer(ca.st);
    run_ok(&ca, LCA_CMD_ROTATE, force ? "{\"force_without_cross_signing\":true}" : "{}");
    rotate_at = ca.pos; /* RootActivated is the rotation's last event */
    new_root = lca_state_active_root(ca.st);
    cross = find_kind(ca.st, LCA_ISSUER_CROSS_SIGNED, new_root->id);
    CU_ASSERT_EQUAL(cross == NULL, force);
    doc = roots_of(ca.st);
    roots = lca_val_map_get(doc, "Roots");
    CU_ASSERT_EQUAL_FATAL(lca_val_len(roots), 2);
    r0 = lca_val_arr_at(roots, 0);
    r1 = lca_val_arr_at(roots, 1);
    assert_root_shape(r0);
    assert_root_shape(r1);
    CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(r0, "ID"), ski(old_root));
    CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(r1, "ID"), ski(new_root));
    CU_ASSERT_STRING_NOT_EQUAL(ski(old_root), ski(new_root));
    CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(doc, "ActiveRootID"), ski(new_root));
    CU_ASSERT_FALSE(lca_val_map_get_bool(r0, "Active", 1));
    CU_ASSERT_TRUE(lca_val_map_get_bool(r1, "Active", 0));
    /* the old root keeps its own signing key id and gets ModifyIndex = the rotation */
    CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(r0, "SigningKeyID"), ski(old_int));
    CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(r1, "SigningKeyID"),
                           ski(lca_state_default_issuer(ca.st)));
    CU_ASSERT_EQUAL(lca_val_map_get_int(r0, "ModifyIndex", 0), rotate_at);
    CU_ASSERT(lca_val_map_get_int(r0, "CreateIndex", 0) < rotate_at);
    CU_ASSERT_EQUAL(lca_val_map_get_int(r1, "ModifyIndex", 0), rotate_at);
    ic = lca_val_map_get(r1, "IntermediateCerts");
    CU_ASSERT_EQUAL_FATAL(lca_val_len(ic), force ? 1u : 2u);
    if (!force) {
        CU_ASSERT_STRING_EQUAL(lca_val_str(lca_val_arr_at(ic, 0)), cross->pem);
    }
    CU_ASSERT_STRING_EQUAL(lca_val_str(lca_val_arr_at(ic, force ? 0 : 1)),
                           lca_state_default_issuer(ca.st)->pem);
    lca_val_free(doc);
    ca_cleanup(&ca);
}

static void test_roots_rotation(void)
{
    rotation_case(0);
}

static void test_roots_rotation_forced(void)
{
    rotation_case(1);
}

static void test_roots_tidy_retires(void)
{
    struct ca ca;
    struct lca_val *doc;
    const struct lca_val *roots;
    char serial[LCA_CERTVIEW_SERIAL_LEN];

    ca_init(&ca, 4);
    bootstrap(&ca);
    run_ok(&ca, LCA_CMD_ROLE_WRITE, ROLE_WEB);
    issue(&ca, "old.example.com", serial);
    run_ok(&ca, LCA_CMD_ROTATE, "{}");
    lca_fakeenv_advance(ca.fe, 30 * 86400);
    run_ok(&ca, LCA_CMD_TIDY, "{}");
    doc = roots_of(ca.st);
    roots = lca_val_map_get(doc, "Roots");
    CU_ASSERT_EQUAL_FATAL(lca_val_len(roots), 1);
    CU_ASSERT_TRUE(lca_val_map_get_bool(lca_val_arr_at(roots, 0), "Active", 0));
    CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(lca_val_arr_at(roots, 0), "ID"),
                           lca_val_map_get_str(doc, "ActiveRootID"));
    lca_val_free(doc);
    ca_cleanup(&ca);
}

static void test_rfc3339_and_affected(void)
{
    char buf[32];
    struct lca_event ev;

    lca_roots_rfc3339(1528306525, buf, sizeof(buf));
    CU_ASSERT_STRING_EQUAL(buf, "2018-06-06T17:35:25Z"); /* seed 000's NotBefore */
    lca_roots_rfc3339(0, buf, sizeof(buf));
    CU_ASSERT_STRING_EQUAL(buf, "1970-01-01T00:00:00Z");
    lca_roots_rfc3339(1528306525, buf, 5); /* too small: empty, never truncated */
    CU_ASSERT_STRING_EQUAL(buf, "");
    ev.payload = NULL;
    ev.type = LCA_EVT_ROOT_ACTIVATED;
    CU_ASSERT_TRUE(lca_roots_affected(&ev));
    ev.type = LCA_EVT_CERT_ISSUED;
    CU_ASSERT_FALSE(lca_roots_affected(&ev));
    ev.type = LCA_EVT_CRL_PUBLISHED;
    CU_ASSERT_FALSE(lca_roots_affected(&ev));
    CU_ASSERT_FALSE(lca_roots_affected(NULL));
}

/* ---- issuer views ---- */

static void test_issuerview(void)
{
    struct ca ca;
    struct lca_val *v = NULL;
    const struct lca_issuer *inter;
    struct lca_err err;
    char usage[96], json[256], *chain = NULL;
    const struct lca_val *mc;

    lca_err_clear(&err);
    ca_init(&ca, 5);
    bootstrap(&ca);
    inter = lca_state_default_issuer(ca.st);
    CU_ASSERT_EQUAL_FATAL(lca_issuerview_build(ca.st, inter, &v, &err), LCA_OK);
    CU_ASSERT_EQUAL(lca_val_len(v), 9);
    CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(v, "issuer_id"), inter->id);
    CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(v, "certificate"), inter->pem);
    CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(v, "key_id"), inter->key_id);
    CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(v, "leaf_not_after_behavior"), "err");
    CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(v, "usage"), "issuing-certificates,crl-signing,ocsp-signing");
    CU_ASSERT_EQUAL(lca_val_kind(lca_val_map_get(v, "manual_chain")), LCA_VAL_NIL);
    CU_ASSERT_EQUAL_FATAL(lca_val_len(lca_val_map_get(v, "ca_chain")), 2);
    CU_ASSERT_STRING_EQUAL(lca_val_str(lca_val_arr_at(lca_val_map_get(v, "ca_chain"), 0)),
                           inter->pem);
    CU_ASSERT_STRING_EQUAL(lca_val_str(lca_val_arr_at(lca_val_map_get(v, "ca_chain"), 1)),
                           lca_state_active_root(ca.st)->pem);
    lca_val_free(v);
    CU_ASSERT_EQUAL_FATAL(lca_issuerview_chain_pem(ca.st, inter, &chain, &err), LCA_OK);
    CU_ASSERT_EQUAL(strlen(chain), strlen(inter->pem) + strlen(lca_state_active_root(ca.st)->pem));
    CU_ASSERT_EQUAL(strncmp(chain, inter->pem, strlen(inter->pem)), 0);
    free(chain);
    /* a manual chain and a new name show up */
    snprintf(json, sizeof(json),
             "{\"issuer_ref\":\"%s\",\"issuer_name\":\"signing\",\"manual_chain\":[\"%s\",\"%s\"]}",
             inter->id, inter->id, lca_state_active_root(ca.st)->id);
    run_ok(&ca, LCA_CMD_ISSUER_UPDATE, json);
    inter = lca_state_default_issuer(ca.st);
    CU_ASSERT_EQUAL_FATAL(lca_issuerview_build(ca.st, inter, &v, &err), LCA_OK);
    CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(v, "issuer_name"), "signing");
    mc = lca_val_map_get(v, "manual_chain");
    CU_ASSERT_EQUAL_FATAL(lca_val_len(mc), 2);
    CU_ASSERT_STRING_EQUAL(lca_val_str(lca_val_arr_at(mc, 0)), inter->id);
    lca_val_free(v);
    /* negatives and the usage formatter */
    v = NULL;
    CU_ASSERT_EQUAL(lca_issuerview_build(ca.st, NULL, &v, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    CU_ASSERT_PTR_NULL(v);
    lca_issuerview_usage(LCA_USAGE_READ_ONLY | LCA_USAGE_OCSP_SIGNING, usage, sizeof(usage));
    CU_ASSERT_STRING_EQUAL(usage, "read-only,ocsp-signing");
    lca_issuerview_usage(0, usage, sizeof(usage));
    CU_ASSERT_STRING_EQUAL(usage, "");
    lca_issuerview_usage(15, usage, 12); /* only what fits, whole names */
    CU_ASSERT_STRING_EQUAL(usage, "read-only");
    ca_cleanup(&ca);
}

/* ---- certificate rows and revoked sets ---- */

static struct lca_event *decode_at(struct ca *ca, size_t i)
{
    struct lca_event *ev = NULL;
    struct lca_err err;

    lca_err_clear(&err);
    CU_ASSERT_EQUAL_FATAL(lca_event_decode(ca->logs[i], ca->lens[i], &ev, &err), LCA_OK);
    return ev;
}

static void test_certview_changes(void)
{
    struct ca ca;
    struct lca_certview_change c;
    struct lca_event *ev;
    struct lca_err err;
    char s1[LCA_CERTVIEW_SERIAL_LEN], s2[LCA_CERTVIEW_SERIAL_LEN];
    size_t i, n_issued = 0, n_revoked = 0, n_crl = 0, n_none = 0;

    lca_err_clear(&err);
    ca_init(&ca, 6);
    bootstrap(&ca);
    run_ok(&ca, LCA_CMD_ROLE_WRITE, ROLE_WEB);
    issue(&ca, "a.example.com", s1);
    issue(&ca, "b.example.com", s2);
    revoke(&ca, s2);
    for (i = 0; i < ca.n_log; i++) {
        ev = decode_at(&ca, i);
        CU_ASSERT_EQUAL_FATAL(lca_certview_change(ev, (int64_t)i + 1, "dc1", &c, &err), LCA_OK);
        CU_ASSERT_EQUAL(c.position, (int64_t)i + 1);
        switch (c.kind) {
        case LCA_CERTVIEW_ISSUED:
            CU_ASSERT_STRING_EQUAL(c.cert.serial, n_issued == 0 ? s1 : s2);
            CU_ASSERT_STRING_EQUAL(c.cert.issuer_id, lca_state_default_issuer(ca.st)->id);
            CU_ASSERT_STRING_EQUAL(c.cert.cluster, "dc1");
            CU_ASSERT_STRING_EQUAL(c.cert.kind, "leaf");
            CU_ASSERT_STRING_EQUAL(c.cert.common_name, n_issued == 0 ? "a.example.com"
                                                                    : "b.example.com");
            CU_ASSERT_PTR_NOT_NULL(c.cert.der);
            CU_ASSERT(c.cert.der_len > 100);
            CU_ASSERT(c.cert.not_after > 0);
            n_issued++;
            break;
        case LCA_CERTVIEW_REVOKED:
            CU_ASSERT_STRING_EQUAL(c.rev.serial, s2);
            CU_ASSERT_STRING_EQUAL(c.rev.reason, "key_compromise");
            CU_ASSERT(c.rev.revoked_at > 0);
            n_revoked++;
            break;
        case LCA_CERTVIEW_CRL:
            CU_ASSERT(strcmp(c.crl.issuer_id, lca_state_default_issuer(ca.st)->id) == 0 ||
                      strcmp(c.crl.issuer_id, lca_state_active_root(ca.st)->id) == 0);
            CU_ASSERT(c.crl.crl_number >= 1);
            CU_ASSERT(c.crl.next_update > c.crl.this_update);
            CU_ASSERT_PTR_NOT_NULL(c.crl.der);
            n_crl++;
            break;
        default:
            n_none++;
            break;
        }
        lca_event_free(ev);
    }
    CU_ASSERT_EQUAL(n_issued, 2);
    CU_ASSERT_EQUAL(n_revoked, 1);
    CU_ASSERT_EQUAL(n_crl, 3); /* root's and intermediate's first CRLs; revoke publishes one */
    CU_ASSERT(n_none >= 4);    /* config, issuers, activation, role */
    ca_cleanup(&ca);
}

static void test_certview_negative(void)
{
    struct lca_certview_change c;
    struct lca_event *ev;
    struct lca_val *p = lca_val_new_map();
    struct lca_err err;
    char out[LCA_CERTVIEW_SERIAL_LEN];

    lca_err_clear(&err);
    lca_val_map_set_str(p, "issuer_id", "x");
    lca_val_map_set_str(p, "kind", "leaf");
    ev = lca_event_new(LCA_EVT_CERT_ISSUED, p);
    memset(&c, 0x5a, sizeof(c));
    CU_ASSERT_EQUAL(lca_certview_change(ev, 1, "dc1", &c, &err), LCA_FAIL); /* no serial */
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    CU_ASSERT_STRING_EQUAL(err.code, "bad_event");
    CU_ASSERT_EQUAL(c.position, (int64_t)0x5a5a5a5a5a5a5a5a); /* untouched on failure */
    lca_event_free(ev);
    ev = lca_event_new(LCA_EVT_CRL_PUBLISHED, lca_val_new_map());
    CU_ASSERT_EQUAL(lca_certview_change(ev, 1, "dc1", &c, &err), LCA_FAIL);
    lca_event_free(ev);
    CU_ASSERT_EQUAL(lca_certview_change(NULL, 1, "dc1", &c, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(lca_certview_serial_norm("zz", out), LCA_FAIL);
    CU_ASSERT_EQUAL(lca_certview_serial_norm(NULL, out), LCA_FAIL);
    CU_ASSERT_EQUAL_FATAL(lca_certview_serial_norm("0A-0b-0C", out), LCA_OK);
    CU_ASSERT_STRING_EQUAL(out, "0a:0b:0c");
}

static void test_revoked_set(void)
{
    struct ca ca;
    struct lca_val *set = NULL;
    struct lca_err err;
    char s[4][LCA_CERTVIEW_SERIAL_LEN];
    const struct lca_val *e0, *e1;
    size_t i;

    lca_err_clear(&err);
    ca_init(&ca, 7);
    bootstrap(&ca);
    run_ok(&ca, LCA_CMD_ROLE_WRITE, ROLE_WEB);
    for (i = 0; i < 4; i++) {
        char cn[32];
        snprintf(cn, sizeof(cn), "h%zu.example.com", i);
        issue(&ca, cn, s[i]);
    }
    revoke(&ca, s[3]);
    revoke(&ca, s[1]);
    CU_ASSERT_EQUAL_FATAL(lca_certview_revoked(ca.st, NULL, &set, &err), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_val_len(set), 2);
    e0 = lca_val_arr_at(set, 0);
    e1 = lca_val_arr_at(set, 1);
    CU_ASSERT(strcmp(lca_val_map_get_str(e0, "serial_number"),
                     lca_val_map_get_str(e1, "serial_number")) < 0); /* sorted */
    for (i = 0; i < 2; i++) {
        const struct lca_val *e = lca_val_arr_at(set, i);
        const char *sn = lca_val_map_get_str(e, "serial_number");
        CU_ASSERT(strcmp(sn, s[1]) == 0 || strcmp(sn, s[3]) == 0);
        CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(e, "reason"), "key_compromise");
        CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(e, "issuer_id"),
                               lca_state_default_issuer(ca.st)->id);
        CU_ASSERT(lca_val_map_get_int(e, "revoked_at", 0) > 0);
    }
    lca_val_free(set);
    set = NULL;
    CU_ASSERT_EQUAL_FATAL(lca_certview_revoked(ca.st, lca_state_active_root(ca.st)->id, &set, &err),
                          LCA_OK);
    CU_ASSERT_EQUAL(lca_val_len(set), 0); /* the root signed no leaf */
    lca_val_free(set);
    ca_cleanup(&ca);
}

/* ---- projections are functions of the log ---- */

static char *views_json(const struct lca_state *st)
{
    struct lca_val *all = lca_val_new_map(), *v = NULL, *issuers = lca_val_new_arr();
    struct lca_err err;
    size_t i;
    char *s;

    lca_err_clear(&err);
    lca_val_map_set(all, "roots", roots_of(st));
    for (i = 0; i < lca_state_issuer_count(st); i++) {
        CU_ASSERT_EQUAL_FATAL(lca_issuerview_build(st, lca_state_issuer_at(st, i), &v, &err),
                              LCA_OK);
        lca_val_arr_push(issuers, v);
    }
    lca_val_map_set(all, "issuers", issuers);
    CU_ASSERT_EQUAL_FATAL(lca_certview_revoked(st, NULL, &v, &err), LCA_OK);
    lca_val_map_set(all, "revoked", v);
    s = enc(all);
    lca_val_free(all);
    return s;
}

static void test_incremental_equals_from_zero(void)
{
    struct ca ca;
    struct lca_state *replay = lca_state_new();
    struct lca_err err;
    char serial[LCA_CERTVIEW_SERIAL_LEN], *live, *again, *snap[256];
    size_t i, snap_at[256], n_snap = 0;

    lca_err_clear(&err);
    ca_init(&ca, 8);
    bootstrap(&ca);
    snap_at[n_snap] = ca.n_log;
    snap[n_snap++] = views_json(ca.st);
    run_ok(&ca, LCA_CMD_ROLE_WRITE, ROLE_WEB);
    issue(&ca, "a.example.com", serial);
    revoke(&ca, serial);
    snap_at[n_snap] = ca.n_log;
    snap[n_snap++] = views_json(ca.st);
    run_ok(&ca, LCA_CMD_ROTATE, "{}");
    snap_at[n_snap] = ca.n_log;
    snap[n_snap++] = views_json(ca.st);
    issue(&ca, "b.example.com", serial);
    run_ok(&ca, LCA_CMD_CRL_ROTATE, "{}");
    lca_fakeenv_advance(ca.fe, 30 * 86400);
    run_ok(&ca, LCA_CMD_TIDY, "{}");
    live = views_json(ca.st);
    /* replaying the stored bytes from position 0 gives the same views at every snapshot */
    for (i = 0; i < ca.n_log; i++) {
        struct lca_event *ev = decode_at(&ca, i);
        size_t k;
        CU_ASSERT_EQUAL_FATAL(lca_state_evolve(replay, (int64_t)i + 1, ev, &err), LCA_OK);
        lca_event_free(ev);
        for (k = 0; k < n_snap; k++) {
            if (snap_at[k] == i + 1) {
                again = views_json(replay);
                CU_ASSERT_STRING_EQUAL(again, snap[k]);
                free(again);
            }
        }
    }
    again = views_json(replay);
    CU_ASSERT_STRING_EQUAL(again, live);
    CU_ASSERT_STRING_NOT_EQUAL(snap[0], live); /* the views did change along the way */
    free(again);
    free(live);
    for (i = 0; i < n_snap; i++) {
        free(snap[i]);
    }
    lca_state_free(replay);
    ca_cleanup(&ca);
}

int main(void)
{
    static const struct lca_cu_test tests[] = {
        {"roots after bootstrap: Consul's shape", test_roots_bootstrap},
        {"roots after rotation: cross-signed in IntermediateCerts", test_roots_rotation},
        {"roots after a forced rotation", test_roots_rotation_forced},
        {"tidy retires the old root from the list", test_roots_tidy_retires},
        {"RFC 3339 and affected events", test_rfc3339_and_affected},
        {"issuer view (Vault)", test_issuerview},
        {"certificate/CRL row changes", test_certview_changes},
        {"certificate rows: bad events", test_certview_negative},
        {"revoked set", test_revoked_set},
        {"incremental equals from zero", test_incremental_equals_from_zero},
    };

    return LCA_CU_MAIN("projections", NULL, NULL, tests);
}
