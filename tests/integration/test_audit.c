/*
 * Integration tests of workers/audit (audit verify, checkpoints, replay) on the real PostgreSQL
 * of LCA_TEST_PG_URI (DESIGN.md invariants 2 and 3, issue 4).
 *
 * Each test builds a real log by running the engine (decide with the fake env, events committed
 * with lca_pgstore_commit_batch exactly as the signer does): bootstrap, a role, leaves, revokes
 * with their CRLs, a root rotation, a leaf and a revoke in the new hierarchy, crl.rotate. Then:
 * a clean log verifies; as the superuser, bypassing the append-only triggers, each tampering is
 * detected at the exact position: one payload byte changed, a row deleted, two payloads swapped,
 * a certificate replaced by one signed with another key (chain recomputed, so only the
 * signature check can see it), a CRL re-signed by the real issuer key but omitting a revocation
 * (chain recomputed), the tail cut (with and without log_head reset) below a checkpoint; a
 * forged checkpoint; the checkpointer refuses to sign a broken chain. Replay twice gives
 * identical bytes (diff -r); an earlier position shows the earlier state. Chain verification
 * speed is measured on 200,000 appended events and printed.
 */
#include <CUnit/Basic.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "catalog.h"
#include "codec.h"
#include "command.h"
#include "crl.h"
#include "decide.h"
#include "event.h"
#include "fakeenv.h"
#include "json.h"
#include "migrate.h"
#include "pgstore.h"
#include "pgtest.h"
#include "projector.h"
#include "seal.h"
#include "state.h"

/* ---- building a real log ------------------------------------------------------------------ */

struct ca {
    struct lca_pgtest *t;
    struct lca_pgstore *store;
    struct lca_fakeenv *fe;
    struct lca_state *st;
    struct lca_pgbatch *batch;
    unsigned ncmd;
    char leaf[8][64];       /* serials of the leaves issued */
    size_t nleaf;
    int64_t before_revoke;  /* head just before the first revoke */
};

static void uuid_of(unsigned n, char out[37], uint8_t bin[16])
{
    size_t i;

    snprintf(out, 37, "6f1d7c2e-4c1a-4b5e-9a7b-%012x", n);
    for (i = 0; i < 16; i++) {
        unsigned v;
        const char *p = out + 2 * i + (i >= 4) + (i >= 6) + (i >= 8) + (i >= 10);
        CU_ASSERT_EQUAL_FATAL(sscanf(p, "%2x", &v), 1);
        bin[i] = (uint8_t)v;
    }
}

/* Appends a decision's events as the signer does (workers/signer.c add_events). */
static void commit(struct ca *ca, const char *cmd_id, const uint8_t id[16],
                   const struct lca_decision *d)
{
    struct lca_err err;
    char stream[96];
    int32_t version;
    uint8_t *bytes = NULL;
    size_t i, len = 0;
    int64_t first = 0, last = 0;

    lca_err_clear(&err);
    lca_pgbatch_reset(ca->batch);
    CU_ASSERT_EQUAL_FATAL(lca_pgbatch_add_command(ca->batch, id, (const uint8_t *)"{}", 2, NULL,
                                                  &err), LCA_OK);
    for (i = 0; i < d->n_events; i++) {
        CU_ASSERT_EQUAL_FATAL(lca_state_stream(ca->st, d->events[i], cmd_id, stream,
                                               sizeof(stream), &version), LCA_OK);
        CU_ASSERT_EQUAL_FATAL(lca_event_canonical(d->events[i], &bytes, &len, &err), LCA_OK);
        CU_ASSERT_EQUAL_FATAL(lca_pgbatch_add_event(ca->batch, stream, version,
                                                    lca_catalog_evt_name(d->events[i]->type),
                                                    bytes, len, &err), LCA_OK);
        free(bytes);
        CU_ASSERT_EQUAL_FATAL(lca_state_evolve(ca->st, 0, d->events[i], &err), LCA_OK);
    }
    if (lca_pgstore_commit_batch(ca->store, ca->batch, &err) != LCA_OK) {
        fprintf(stderr, "commit: %s\n", err.msg);
        CU_FAIL_FATAL("commit");
    }
    CU_ASSERT_EQUAL(lca_pgbatch_result(ca->batch, 0, &first, &last, NULL, NULL),
                    LCA_PGBATCH_NEW);
    lca_state_advance(ca->st, last);
}

static struct lca_decision *run(struct ca *ca, enum lca_cmd_type type, const char *json)
{
    struct lca_command c;
    struct lca_decision *d = NULL;
    struct lca_err err;
    uint8_t id[16];

    memset(&c, 0, sizeof(c));
    lca_err_clear(&err);
    uuid_of(++ca->ncmd, c.command_id, id);
    c.type = type;
    strcpy(c.correlation_id, c.command_id);
    strcpy(c.reply_to, "ledgerca.replies");
    CU_ASSERT_EQUAL_FATAL(lca_json_decode(json, strlen(json), NULL, &c.payload, &err), LCA_OK);
    if (lca_decide(ca->st, &c, lca_fakeenv_env(ca->fe), &d, &err) != LCA_OK) {
        fprintf(stderr, "decide: %s\n", err.msg);
        CU_FAIL_FATAL("decide");
    }
    if (d->rejected) {
        fprintf(stderr, "rejected: %s %s\n", d->code, d->reason);
    }
    CU_ASSERT_FALSE(d->rejected);
    commit(ca, c.command_id, id, d);
    lca_val_free(c.payload);
    return d;
}

static void issue(struct ca *ca, const char *cn)
{
    uint8_t priv[32], pub[32];
    char json[512], hex[65];
    struct lca_decision *d;
    struct lca_err err;
    size_t i;

    for (i = 0; i < 32; i++) {
        priv[i] = (uint8_t)(i * 7 + 3);
    }
    CU_ASSERT_EQUAL_FATAL(lca_seal_x25519_pub(priv, pub, &err), LCA_OK);
    for (i = 0; i < 32; i++) {
        sprintf(hex + 2 * i, "%02x", pub[i]);
    }
    snprintf(json, sizeof(json),
             "{\"role\":\"web\",\"common_name\":\"%s\",\"recipient_public_key\":\"%s\"}", cn,
             hex);
    d = run(ca, LCA_CMD_ISSUE, json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(lca_val_map_get_str(d->result, "serial_number"));
    snprintf(ca->leaf[ca->nleaf++], 64, "%s", lca_val_map_get_str(d->result, "serial_number"));
    lca_decision_free(d);
}

static void revoke_leaf(struct ca *ca, size_t leaf)
{
    char json[256];

    snprintf(json, sizeof(json), "{\"serial_number\":\"%s\",\"reason\":\"key_compromise\"}",
             ca->leaf[leaf]);
    lca_decision_free(run(ca, LCA_CMD_REVOKE, json));
}

static void ca_build(struct ca *ca)
{
    struct lca_decision *d = NULL;
    struct lca_err err;
    uint8_t id[16];
    char cid[37];

    memset(ca, 0, sizeof(*ca));
    lca_err_clear(&err);
    ca->t = lca_pgtest_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(ca->t);
    CU_ASSERT_EQUAL_FATAL(lca_migrate_apply(lca_pgtest_uri(ca->t), lca_migrate_builtin, NULL,
                                            NULL, NULL, &err), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_pgstore_open(lca_pgtest_uri(ca->t), "dc1", &ca->store, &err),
                          LCA_OK);
    ca->fe = lca_fakeenv_new(7);
    ca->st = lca_state_new();
    ca->batch = lca_pgbatch_new();
    CU_ASSERT_FATAL(ca->fe != NULL && ca->st != NULL && ca->batch != NULL);
    lca_fakeenv_set_time(ca->fe, (int64_t)time(NULL) - 3600);
    CU_ASSERT_EQUAL_FATAL(lca_decide_bootstrap(ca->st, NULL, "dc1", lca_fakeenv_env(ca->fe), &d,
                                               &err), LCA_OK);
    uuid_of(++ca->ncmd, cid, id);
    commit(ca, cid, id, d);
    lca_decision_free(d);
    lca_decision_free(run(ca, LCA_CMD_ROLE_WRITE,
                          "{\"name\":\"web\",\"allowed_domains\":[\"example.com\"],"
                          "\"allow_subdomains\":true,\"key_type\":\"ec\",\"key_bits\":256,"
                          "\"ttl\":\"24h\",\"max_ttl\":\"72h\"}"));
    issue(ca, "a.example.com");
    issue(ca, "b.example.com");
    issue(ca, "c.example.com");
    ca->before_revoke = lca_state_position(ca->st);
    lca_fakeenv_advance(ca->fe, 60);
    revoke_leaf(ca, 0);
    revoke_leaf(ca, 1);
    lca_fakeenv_advance(ca->fe, 60);
    lca_decision_free(run(ca, LCA_CMD_ROTATE, "{}"));
    issue(ca, "d.example.com");
    revoke_leaf(ca, 3);
    lca_decision_free(run(ca, LCA_CMD_CRL_ROTATE, "{}"));
}

static void ca_free(struct ca *ca)
{
    lca_pgbatch_free(ca->batch);
    lca_state_free(ca->st);
    lca_fakeenv_free(ca->fe);
    lca_pgstore_free(ca->store);
    lca_pgtest_free(ca->t);
}

static struct lca_audit_report verify(struct ca *ca, int checkpoints, int chain_only)
{
    struct lca_audit_opts o;
    struct lca_audit_report rep;
    struct lca_err err;

    memset(&o, 0, sizeof(o));
    memset(&rep, 0, sizeof(rep));
    o.checkpoints = checkpoints;
    o.chain_only = chain_only;
    lca_err_clear(&err);
    if (lca_audit_verify(ca->store, &o, &rep, &err) != LCA_OK) {
        fprintf(stderr, "verify failed to run: %s\n", err.msg);
        CU_FAIL("verify ran");
    }
    if (!rep.clean) {
        printf("    finding at %lld: %s\n", (long long)rep.bad_position, rep.problem);
    }
    return rep;
}

static int64_t sql_int(struct ca *ca, const char *sql)
{
    int64_t v = -1;

    CU_ASSERT_EQUAL(lca_pgtest_int(lca_pgtest_uri(ca->t), sql, &v), 0);
    return v;
}

static void sql_exec(struct ca *ca, const char *sql)
{
    char state[6], msg[512];

    if (lca_pgtest_exec(lca_pgtest_uri(ca->t), sql, state, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "sql failed (%s): %s\n", state, msg);
        CU_FAIL("sql");
    }
}

/* As the superuser: triggers off, sql, triggers back on. */
static void tamper(struct ca *ca, const char *sql)
{
    char buf[2048];

    snprintf(buf, sizeof(buf),
             "ALTER TABLE events DISABLE TRIGGER ALL; ALTER TABLE log_head DISABLE TRIGGER ALL; "
             "ALTER TABLE checkpoints DISABLE TRIGGER ALL; %s; "
             "ALTER TABLE events ENABLE TRIGGER ALL; "
             "ALTER TABLE log_head ENABLE TRIGGER ALL; "
             "ALTER TABLE checkpoints ENABLE TRIGGER ALL",
             sql);
    sql_exec(ca, buf);
}

/* The payload at pos (malloc'd). */
static uint8_t *payload_at(struct ca *ca, int64_t pos, size_t *len)
{
    PGconn *c = PQconnectdb(lca_pgtest_uri(ca->t));
    char sql[128];
    PGresult *r;
    uint8_t *out;

    snprintf(sql, sizeof(sql), "SELECT payload FROM events WHERE position = %lld",
             (long long)pos);
    r = PQexecParams(c, sql, 0, NULL, NULL, NULL, NULL, 1);
    CU_ASSERT_FATAL(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1);
    *len = (size_t)PQgetlength(r, 0, 0);
    out = malloc(*len);
    memcpy(out, PQgetvalue(r, 0, 0), *len);
    PQclear(r);
    PQfinish(c);
    return out;
}

/* Replaces the payload at pos and recomputes the chain from there (and log_head): a forger
 * who knows the hash definition. Only semantic checks can then see the change. */
static void rewrite_rechain(struct ca *ca, int64_t pos, const uint8_t *payload, size_t len)
{
    PGconn *c = PQconnectdb(lca_pgtest_uri(ca->t));
    char sql[160];
    PGresult *r, *u;
    uint8_t prev[32], h[32], pb[8];
    struct lca_err err;
    int i;

    sql_exec(ca, "ALTER TABLE events DISABLE TRIGGER ALL");
    snprintf(sql, sizeof(sql),
             "SELECT position, payload, prev_hash FROM events WHERE position >= %lld "
             "ORDER BY position", (long long)pos);
    r = PQexecParams(c, sql, 0, NULL, NULL, NULL, NULL, 1);
    CU_ASSERT_FATAL(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0);
    memcpy(prev, PQgetvalue(r, 0, 2), 32);
    for (i = 0; i < PQntuples(r); i++) {
        const uint8_t *p = i == 0 ? payload : (const uint8_t *)PQgetvalue(r, i, 1);
        size_t n = i == 0 ? len : (size_t)PQgetlength(r, i, 1);
        const char *vals[4] = {PQgetvalue(r, i, 0), (const char *)p, (const char *)prev,
                               (const char *)h};
        const int lens[4] = {8, (int)n, 32, 32}, fmts[4] = {1, 1, 1, 1};

        memcpy(pb, PQgetvalue(r, i, 0), 8);
        CU_ASSERT_EQUAL_FATAL(lca_pgstore_chain_hash(prev, p, n, h, &err), LCA_OK);
        u = PQexecParams(c, "UPDATE events SET payload = $2, prev_hash = $3, hash = $4 "
                            "WHERE position = $1::bigint", 4, NULL, vals, lens, fmts, 0);
        CU_ASSERT_EQUAL(PQresultStatus(u), PGRES_COMMAND_OK);
        PQclear(u);
        memcpy(prev, h, 32);
    }
    {
        const char *vals[1] = {(const char *)prev};
        const int lens[1] = {32}, fmts[1] = {1};
        u = PQexecParams(c, "UPDATE log_head SET hash = $1", 1, NULL, vals, lens, fmts, 0);
        CU_ASSERT_EQUAL(PQresultStatus(u), PGRES_COMMAND_OK);
        PQclear(u);
    }
    PQclear(r);
    PQfinish(c);
    sql_exec(ca, "ALTER TABLE events ENABLE TRIGGER ALL");
}

/* Replaces key `k` of the event payload at pos with bin bytes, re-encodes canonically. */
static void replace_bin(struct ca *ca, int64_t pos, const char *k, const uint8_t *v, size_t n)
{
    size_t len = 0;
    uint8_t *p = payload_at(ca, pos, &len), *out = NULL;
    struct lca_event *ev = NULL;
    struct lca_err err;

    CU_ASSERT_EQUAL_FATAL(lca_event_decode(p, len, &ev, &err), LCA_OK);
    lca_val_map_set_bin(ev->payload, k, v, n);
    CU_ASSERT_EQUAL_FATAL(lca_event_canonical(ev, &out, &len, &err), LCA_OK);
    rewrite_rechain(ca, pos, out, len);
    lca_event_free(ev);
    free(out);
    free(p);
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_clean_log(void)
{
    struct ca ca;
    struct lca_audit_report r;

    ca_build(&ca);
    r = verify(&ca, 0, 0);
    CU_ASSERT_TRUE(r.clean);
    CU_ASSERT_EQUAL(r.events, lca_state_position(ca.st));
    CU_ASSERT_EQUAL(r.head, lca_state_position(ca.st));
    /* 2 roots + 2 intermediates (+ a cross-signed one) + 4 leaves */
    CU_ASSERT_TRUE(r.certificates >= 8);
    CU_ASSERT_TRUE(r.crls >= 4);
    CU_ASSERT_EQUAL(r.bad_position, 0);
    printf("\n    clean: %lld events, %lld certificates, %lld CRLs\n", (long long)r.events,
           (long long)r.certificates, (long long)r.crls);
    r = verify(&ca, 0, 1);
    CU_ASSERT_TRUE(r.clean);
    CU_ASSERT_EQUAL(r.certificates, 0);
    ca_free(&ca);
}

static void test_payload_byte(void)
{
    struct ca ca;
    struct lca_audit_report r;
    int64_t p;
    char sql[256];

    ca_build(&ca);
    p = sql_int(&ca, "SELECT min(position) FROM events WHERE type = 'CertificateIssued'");
    snprintf(sql, sizeof(sql),
             "UPDATE events SET payload = set_byte(payload, 30, get_byte(payload, 30) # 1) "
             "WHERE position = %lld", (long long)p);
    tamper(&ca, sql);
    r = verify(&ca, 0, 0);
    CU_ASSERT_FALSE(r.clean);
    CU_ASSERT_EQUAL(r.bad_position, p);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.problem, "hash mismatch"));
    r = verify(&ca, 0, 1); /* the chain alone sees it too */
    CU_ASSERT_EQUAL(r.bad_position, p);
    ca_free(&ca);
}

static void test_deleted_row(void)
{
    struct ca ca;
    struct lca_audit_report r;

    ca_build(&ca);
    tamper(&ca, "DELETE FROM events WHERE position = 5");
    r = verify(&ca, 0, 0);
    CU_ASSERT_FALSE(r.clean);
    CU_ASSERT_EQUAL(r.bad_position, 5);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.problem, "missing"));
    ca_free(&ca);
}

static void test_swapped_rows(void)
{
    struct ca ca;
    struct lca_audit_report r;

    ca_build(&ca);
    tamper(&ca, "UPDATE events e SET payload = o.payload, type = o.type FROM events o "
                "WHERE (e.position, o.position) IN ((7, 9), (9, 7))");
    r = verify(&ca, 0, 0);
    CU_ASSERT_FALSE(r.clean);
    CU_ASSERT_EQUAL(r.bad_position, 7);
    ca_free(&ca);
}

static void test_foreign_certificate(void)
{
    struct ca ca;
    struct lca_audit_report r;
    int64_t p;
    size_t len = 0;
    uint8_t *payload, *der = NULL;
    const uint8_t *q;
    struct lca_event *ev = NULL;
    struct lca_err err;
    X509 *x;
    EVP_PKEY *other = EVP_EC_gen("P-256");
    int dlen;

    ca_build(&ca);
    p = sql_int(&ca, "SELECT max(position) FROM events WHERE type = 'CertificateIssued'");
    payload = payload_at(&ca, p, &len);
    CU_ASSERT_EQUAL_FATAL(lca_event_decode(payload, len, &ev, &err), LCA_OK);
    q = lca_val_map_get_bin(ev->payload, "certificate", &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    x = d2i_X509(NULL, &q, (long)len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    CU_ASSERT_TRUE(X509_sign(x, other, EVP_sha256()) > 0); /* same serial, same names */
    dlen = i2d_X509(x, &der);
    CU_ASSERT_TRUE_FATAL(dlen > 0);
    replace_bin(&ca, p, "certificate", der, (size_t)dlen);
    r = verify(&ca, 0, 1);
    CU_ASSERT_TRUE(r.clean); /* the chain was recomputed: only the signature check sees it */
    r = verify(&ca, 0, 0);
    CU_ASSERT_FALSE(r.clean);
    CU_ASSERT_EQUAL(r.bad_position, p);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.problem, "not signed by its issuer"));
    OPENSSL_free(der);
    X509_free(x);
    EVP_PKEY_free(other);
    lca_event_free(ev);
    free(payload);
    ca_free(&ca);
}

/* A CRL re-signed with the real issuer key that omits one revocation. */
static void test_crl_omits_revocation(void)
{
    struct ca ca;
    struct lca_audit_report r;
    int64_t p;
    size_t len = 0, der_len = 0, slen = 0;
    uint8_t *payload, *der = NULL, serial[20];
    struct lca_event *ev = NULL;
    struct lca_err err;
    const struct lca_issuer *iss;
    const struct lca_certrec *rec;
    struct lca_crl_req req;
    struct lca_crl_entry one;
    EVP_PKEY *key = NULL;
    struct lca_env *env;

    ca_build(&ca);
    env = lca_fakeenv_env(ca.fe);
    /* the CRL published with the second revoke lists leaves 0 and 1; re-sign it with only 1 */
    CU_ASSERT_EQUAL_FATAL(lca_state_serial_parse(ca.leaf[1], serial, &slen), LCA_OK);
    rec = lca_state_cert(ca.st, serial, slen);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    iss = lca_state_issuer_ref(ca.st, rec->issuer_id);
    /* CRLs 1 and 2: the root's and the intermediate's empty first CRLs; 3: first revoke */
    p = sql_int(&ca, "SELECT position FROM events WHERE type = 'CrlPublished' "
                     "ORDER BY position OFFSET 3 LIMIT 1");
    payload = payload_at(&ca, p, &len);
    CU_ASSERT_EQUAL_FATAL(lca_event_decode(payload, len, &ev, &err), LCA_OK);
    CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(ev->payload, "issuer_id"), iss->id);
    CU_ASSERT_EQUAL_FATAL(env->key_get(env->ctx, iss->key_id, &key, &err), LCA_OK);
    memset(&req, 0, sizeof(req));
    req.this_update = lca_val_map_get_int(ev->payload, "this_update", 0);
    req.next_update = lca_val_map_get_int(ev->payload, "next_update", 0);
    req.crl_number = (uint64_t)lca_val_map_get_int(ev->payload, "crl_number", 0);
    req.delta_base = -1;
    one.serial = rec->serial;
    one.serial_len = rec->serial_len;
    one.revoked_at = rec->revoked_at;
    one.reason = LCA_CRL_KEY_COMPROMISE;
    one.not_after = rec->not_after;
    req.entries = &one;
    req.n_entries = 1;
    CU_ASSERT_EQUAL_FATAL(lca_crl_build(iss->cert, key, &req, &der, &der_len, &err), LCA_OK);
    replace_bin(&ca, p, "crl", der, der_len);
    r = verify(&ca, 0, 0);
    CU_ASSERT_FALSE(r.clean);
    CU_ASSERT_EQUAL(r.bad_position, p);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.problem, ca.leaf[0]));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.problem, "omits"));
    free(der);
    lca_event_free(ev);
    free(payload);
    ca_free(&ca);
}

/* ---- CRLs at scale: delta and shard CRLs (issue 4) ----------------------------------------- */

/* ca_build's log (complete CRLs only, as logs before issue 4), then a rotation, deltas on, the
 * new default issuer sharded 4 ways, leaves 4..7 under it, revocations, a crl.rotate, one more revocation. */
static void ca_build_scale(struct ca *ca)
{
    ca_build(ca);
    lca_fakeenv_advance(ca->fe, 60);
    lca_decision_free(run(ca, LCA_CMD_ROTATE, "{}")); /* a default issuer that signed nothing */
    lca_decision_free(run(ca, LCA_CMD_CONFIG_UPDATE,
                          "{\"Config\":{\"enable_delta\":true,"
                          "\"crl_base_url\":\"http://crl.example/pki\"}}"));
    lca_decision_free(
        run(ca, LCA_CMD_ISSUER_UPDATE, "{\"issuer_ref\":\"default\",\"crl_shards\":4}"));
    issue(ca, "e.example.com");
    issue(ca, "f.example.com");
    issue(ca, "g.example.com");
    issue(ca, "h.example.com");
    revoke_leaf(ca, 4);
    revoke_leaf(ca, 5);
    lca_decision_free(run(ca, LCA_CMD_CRL_ROTATE, "{}"));
    revoke_leaf(ca, 6);
}

/* The last CrlPublished (the delta of leaf 6's shard) re-signed to also list leaf 4, which was
 * revoked before its base: audit names it. */
static void tamper_delta(struct ca *ca)
{
    int64_t p = sql_int(ca, "SELECT max(position) FROM events WHERE type = 'CrlPublished'");
    size_t len = 0, der_len = 0, sl = 0;
    uint8_t *payload = payload_at(ca, p, &len), *der = NULL, s4[20], s6[20];
    struct lca_event *ev = NULL;
    struct lca_err err;
    struct lca_crl_req req;
    struct lca_crl_entry e[2];
    const struct lca_certrec *r4, *r6;
    const struct lca_issuer *iss;
    struct lca_env *env = lca_fakeenv_env(ca->fe);
    EVP_PKEY *key = NULL;
    char idp[300];

    CU_ASSERT_EQUAL_FATAL(lca_event_decode(payload, len, &ev, &err), LCA_OK);
    CU_ASSERT_TRUE_FATAL(lca_val_map_get_int(ev->payload, "delta_base", -1) > 0);
    CU_ASSERT_EQUAL_FATAL(lca_state_serial_parse(ca->leaf[4], s4, &sl), LCA_OK);
    r4 = lca_state_cert(ca->st, s4, sl);
    CU_ASSERT_EQUAL_FATAL(lca_state_serial_parse(ca->leaf[6], s6, &sl), LCA_OK);
    r6 = lca_state_cert(ca->st, s6, sl);
    CU_ASSERT_FATAL(r4 != NULL && r6 != NULL);
    iss = lca_state_issuer_ref(ca->st, r6->issuer_id);
    CU_ASSERT_EQUAL_FATAL(env->key_get(env->ctx, iss->key_id, &key, &err), LCA_OK);
    memset(&req, 0, sizeof(req));
    req.this_update = lca_val_map_get_int(ev->payload, "this_update", 0);
    req.next_update = lca_val_map_get_int(ev->payload, "next_update", 0);
    req.crl_number = (uint64_t)lca_val_map_get_int(ev->payload, "crl_number", 0);
    req.delta_base = lca_val_map_get_int(ev->payload, "delta_base", -1);
    CU_ASSERT_EQUAL_FATAL(lca_crl_url(iss->crl_base_url, iss->id,
                                      (int)lca_val_map_get_int(ev->payload, "shard", -1), 0, idp,
                                      sizeof(idp)), LCA_OK);
    req.idp_url = idp;
    e[0] = (struct lca_crl_entry){r4->serial, r4->serial_len, r4->revoked_at, LCA_CRL_UNSPECIFIED,
                                  r4->not_after};
    e[1] = (struct lca_crl_entry){r6->serial, r6->serial_len, r6->revoked_at, LCA_CRL_UNSPECIFIED,
                                  r6->not_after};
    req.entries = e;
    req.n_entries = 2;
    CU_ASSERT_EQUAL_FATAL(lca_crl_build(iss->cert, key, &req, &der, &der_len, &err), LCA_OK);
    replace_bin(ca, p, "crl", der, der_len);
    free(der);
    lca_event_free(ev);
    free(payload);
}

static void test_scale_crls(void)
{
    struct ca ca;
    struct lca_audit_report r;
    struct lca_projector_opts o;
    struct lca_err err;
    char base[] = "/tmp/lca-crlscale-XXXXXX", dir[600], path[800], cmd[2000];
    const struct lca_issuer *def;
    struct stat sb;
    int64_t pos = 0, p;
    int k;

    ca_build_scale(&ca);
    def = lca_state_default_issuer(ca.st);
    CU_ASSERT_EQUAL_FATAL(def->crl_shards, 4);
    r = verify(&ca, 0, 0);
    CU_ASSERT_TRUE(r.clean);
    CU_ASSERT_TRUE(r.crls >= 4 + 8 + 3); /* shards' first CRLs, rotate (complete+delta each) */
    CU_ASSERT_EQUAL(sql_int(&ca, "SELECT count(*) FROM events WHERE type = 'CrlPublished' "
                                 "AND payload IS NOT NULL"), r.crls);
    /* replay writes each scope's latest complete and delta CRL */
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(base));
    snprintf(dir, sizeof(dir), "%s/replay", base);
    lca_err_clear(&err);
    CU_ASSERT_EQUAL(lca_audit_replay(ca.store, lca_state_position(ca.st), 0, dir, &pos, &err),
                    LCA_OK);
    for (k = 0; k < 4; k++) {
        snprintf(path, sizeof(path), "%s/crls/%s/%d.crl", dir, def->id, k);
        CU_ASSERT_EQUAL(stat(path, &sb), 0);
        snprintf(path, sizeof(path), "%s/crls/%s/%d.delta.crl", dir, def->id, k);
        CU_ASSERT_EQUAL(stat(path, &sb), 0);
    }
    /* the projector writes the same files and one rm_crls row per scope and kind */
    snprintf(dir, sizeof(dir), "%s/crls", base);
    CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0755), 0);
    memset(&o, 0, sizeof(o));
    o.pg_uri = lca_pgtest_uri(ca.t);
    o.crl_dir = dir;
    o.once = 1;
    CU_ASSERT_EQUAL_FATAL(lca_projector_run(&o, &err), LCA_OK);
    for (k = 0; k < 4; k++) {
        snprintf(cmd, sizeof(cmd), "cmp -s %s/%s/%d.delta.crl %s/replay/crls/%s/%d.delta.crl",
                 dir, def->id, k, base, def->id, k);
        CU_ASSERT_EQUAL(system(cmd), 0);
        snprintf(path, sizeof(path), "%s/%s/%d.pem", dir, def->id, k);
        CU_ASSERT_EQUAL(stat(path, &sb), 0);
    }
    snprintf(cmd, sizeof(cmd), "SELECT count(*) FROM rm_crls WHERE issuer_id = '%s'", def->id);
    CU_ASSERT_EQUAL(sql_int(&ca, cmd), 1 + 4 + 4); /* its unsharded first CRL, 4 + 4 shard ones */
    snprintf(cmd, sizeof(cmd), "SELECT count(*) FROM rm_crls WHERE scope = 'delta' AND "
                               "issuer_id = '%s'", def->id);
    CU_ASSERT_EQUAL(sql_int(&ca, cmd), 0); /* sharded: deltas per shard only */
    CU_ASSERT_TRUE(sql_int(&ca, "SELECT count(*) FROM rm_crls WHERE scope = 'delta'") > 0);
    CU_ASSERT_EQUAL(sql_int(&ca, "SELECT count(*) FROM rm_crls WHERE scope LIKE '%.delta' AND "
                                 "delta_base > 0 AND shard >= 0"), 4);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
    CU_ASSERT_EQUAL(system(cmd), 0);
    /* a delta listing a revocation from before its base is named */
    p = sql_int(&ca, "SELECT max(position) FROM events WHERE type = 'CrlPublished'");
    tamper_delta(&ca);
    r = verify(&ca, 0, 0);
    CU_ASSERT_FALSE(r.clean);
    CU_ASSERT_EQUAL(r.bad_position, p);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.problem, "delta CRL"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.problem, ca.leaf[4]));
    ca_free(&ca);
}

/* A shard's CRL without its IDP (re-signed, chain recomputed) is named. */
static void test_shard_crl_without_idp(void)
{
    struct ca ca;
    struct lca_audit_report r;
    int64_t p;
    size_t len = 0, der_len = 0;
    uint8_t *payload, *der = NULL;
    struct lca_event *ev = NULL;
    struct lca_err err;
    struct lca_crl_req req;
    const struct lca_issuer *iss;
    struct lca_env *env;
    EVP_PKEY *key = NULL;

    ca_build_scale(&ca);
    env = lca_fakeenv_env(ca.fe);
    iss = lca_state_default_issuer(ca.st);
    /* the first shard CRL (shard 0, number 1, empty) */
    p = sql_int(&ca, "SELECT min(position) FROM events WHERE type = 'CrlPublished' AND "
                     "stream LIKE 'crl:%/0'");
    payload = payload_at(&ca, p, &len);
    CU_ASSERT_EQUAL_FATAL(lca_event_decode(payload, len, &ev, &err), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_val_map_get_int(ev->payload, "shard", -1), 0);
    CU_ASSERT_EQUAL_FATAL(env->key_get(env->ctx, iss->key_id, &key, &err), LCA_OK);
    memset(&req, 0, sizeof(req));
    req.this_update = lca_val_map_get_int(ev->payload, "this_update", 0);
    req.next_update = lca_val_map_get_int(ev->payload, "next_update", 0);
    req.crl_number = 1;
    req.delta_base = -1;
    CU_ASSERT_EQUAL_FATAL(lca_crl_build(iss->cert, key, &req, &der, &der_len, &err), LCA_OK);
    replace_bin(&ca, p, "crl", der, der_len);
    r = verify(&ca, 0, 0);
    CU_ASSERT_FALSE(r.clean);
    CU_ASSERT_EQUAL(r.bad_position, p);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.problem, "issuingDistributionPoint"));
    free(der);
    lca_event_free(ev);
    free(payload);
    ca_free(&ca);
}

static const uint8_t test_kek[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                     17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

static struct lca_audit_checkpoint checkpoint(struct ca *ca, int expect_write)
{
    struct lca_audit_logkey *k = NULL;
    struct lca_audit_checkpoint cp;
    struct lca_err err;
    int wrote = -1;

    memset(&cp, 0, sizeof(cp));
    lca_err_clear(&err);
    CU_ASSERT_EQUAL_FATAL(lca_audit_logkey_load(ca->store, test_kek, &k, &err), LCA_OK);
    if (lca_audit_checkpoint(ca->store, k, "dc1", (int64_t)time(NULL), &cp, &wrote, &err) !=
        LCA_OK) {
        fprintf(stderr, "checkpoint: %s\n", err.msg);
        CU_FAIL("checkpoint");
    }
    CU_ASSERT_EQUAL(wrote, expect_write);
    lca_audit_logkey_free(k);
    return cp;
}

static void test_checkpoints_and_cut_tail(void)
{
    struct ca ca;
    struct lca_audit_report r;
    struct lca_audit_checkpoint cp1, cp2;
    struct lca_audit_logkey *k = NULL;
    struct lca_err err;
    char *json = NULL, sql[512];
    size_t len = 0;
    int64_t head, cut;

    ca_build(&ca);
    head = lca_state_position(ca.st);
    cp1 = checkpoint(&ca, 1);
    CU_ASSERT_EQUAL(cp1.position, head);
    cp2 = checkpoint(&ca, 0); /* head unchanged: nothing new signed */
    CU_ASSERT_EQUAL(cp2.id, cp1.id);
    issue(&ca, "e.example.com");
    cp2 = checkpoint(&ca, 1);
    CU_ASSERT_EQUAL(cp2.position, lca_state_position(ca.st));
    CU_ASSERT_EQUAL(sql_int(&ca, "SELECT count(*) FROM checkpoints"), 2);
    CU_ASSERT_EQUAL(lca_audit_checkpoint_json(&cp2, &json, &len, &err), LCA_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"position\":"));
    free(json);
    /* the same key is loaded again (generated once) */
    CU_ASSERT_EQUAL_FATAL(lca_audit_logkey_load(ca.store, test_kek, &k, &err), LCA_OK);
    {
        uint8_t pub[32];
        lca_audit_logkey_public(k, pub);
        CU_ASSERT_EQUAL(memcmp(pub, cp1.pub, 32), 0);
    }
    lca_audit_logkey_free(k);
    r = verify(&ca, 1, 0);
    CU_ASSERT_TRUE(r.clean);
    CU_ASSERT_EQUAL(r.checkpoints, 2);
    /* the append-only trigger guards checkpoints too */
    CU_ASSERT_NOT_EQUAL(lca_pgtest_exec(lca_pgtest_uri(ca.t), "DELETE FROM checkpoints", NULL,
                                        NULL, 0), 0);
    /* cut the tail below checkpoint 2 and reset log_head: a valid shorter chain */
    cut = cp2.position - 3;
    snprintf(sql, sizeof(sql),
             "DELETE FROM events WHERE position > %lld; UPDATE log_head SET position = %lld, "
             "hash = (SELECT hash FROM events WHERE position = %lld)",
             (long long)cut, (long long)cut, (long long)cut);
    tamper(&ca, sql);
    r = verify(&ca, 0, 0);
    CU_ASSERT_TRUE(r.clean); /* the chain alone cannot see a cut tail */
    r = verify(&ca, 1, 1);
    CU_ASSERT_FALSE(r.clean);
    CU_ASSERT_EQUAL(r.bad_position, cp1.position); /* the lowest checkpoint above the cut */
    CU_ASSERT_PTR_NOT_NULL(strstr(r.problem, "log cut"));
    /* and the checkpointer refuses to sign the cut log */
    CU_ASSERT_EQUAL_FATAL(lca_audit_logkey_load(ca.store, test_kek, &k, &err), LCA_OK);
    {
        int w = 0;
        CU_ASSERT_EQUAL(lca_audit_checkpoint(ca.store, k, "dc1", 1, &cp1, &w, &err), LCA_FAIL);
    }
    CU_ASSERT_STRING_EQUAL(err.code, "chain_broken");
    lca_audit_logkey_free(k);
    ca_free(&ca);
}

static void test_tail_cut_without_head_reset(void)
{
    struct ca ca;
    struct lca_audit_report r;
    int64_t head;

    ca_build(&ca);
    head = lca_state_position(ca.st);
    tamper(&ca, "DELETE FROM events WHERE position > 10");
    r = verify(&ca, 0, 1);
    CU_ASSERT_FALSE(r.clean);
    CU_ASSERT_EQUAL(r.bad_position, 11);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.problem, "log_head"));
    CU_ASSERT_TRUE(head > 11);
    ca_free(&ca);
}

static void test_forged_checkpoint(void)
{
    struct ca ca;
    struct lca_audit_report r;
    struct lca_audit_checkpoint cp;

    ca_build(&ca);
    cp = checkpoint(&ca, 1);
    tamper(&ca, "UPDATE checkpoints SET signature = set_byte(signature, 5, "
                "get_byte(signature, 5) # 1)");
    r = verify(&ca, 1, 0);
    CU_ASSERT_FALSE(r.clean);
    CU_ASSERT_EQUAL(r.bad_position, cp.position);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.problem, "checkpoint #"));
    ca_free(&ca);
}

/* ---- replay ----------------------------------------------------------------------------------- */

static long file_size(const char *dir, const char *name)
{
    char path[1024];
    struct stat sb;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static char *slurp(const char *dir, const char *name)
{
    char path[512];
    FILE *f;
    long n;
    char *buf;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        buf[0] = '\0';
    }
    fclose(f);
    return buf;
}

/* ---- several threads name exactly what one thread names ------------------------------------ */

static struct lca_audit_report verify_n(struct ca *ca, int chain_only, int threads)
{
    struct lca_audit_opts o;
    struct lca_audit_report rep;
    struct lca_err err;

    memset(&o, 0, sizeof(o));
    memset(&rep, 0, sizeof(rep));
    o.checkpoints = 1;
    o.chain_only = chain_only;
    o.threads = threads;
    o.split_min = 1; /* split even this small log: seams fall every few positions */
    lca_err_clear(&err);
    if (lca_audit_verify(ca->store, &o, &rep, &err) != LCA_OK) {
        fprintf(stderr, "verify failed to run: %s\n", err.msg);
        CU_FAIL("verify ran");
    }
    return rep;
}

/* Compares 2..4 readers (chain only) and 2 signature threads (full) with one thread. Returns
 * 1 when the single-threaded audit found a problem. */
static int same_reports(struct ca *ca, const char *what, int64_t p)
{
    int mode, n, dirty = 0;

    for (mode = 0; mode < 2; mode++) {
        struct lca_audit_report one = verify_n(ca, mode, 1);
        dirty |= !one.clean;
        for (n = 2; n <= (mode ? 4 : 2); n++) {
            struct lca_audit_report r = verify_n(ca, mode, n);
            int same = r.clean == one.clean && r.bad_position == one.bad_position &&
                       strcmp(r.problem, one.problem) == 0 && r.events == one.events &&
                       r.checkpoints == one.checkpoints && r.certificates == one.certificates &&
                       r.crls == one.crls && r.unverifiable == one.unverifiable;
            if (!same) {
                printf("\n    %s at %lld, %s, %d threads: position %lld '%s' events %lld certs "
                       "%lld; one thread: %lld '%s' events %lld certs %lld\n",
                       what, (long long)p, mode ? "chain" : "full", n, (long long)r.bad_position,
                       r.problem, (long long)r.events, (long long)r.certificates,
                       (long long)one.bad_position, one.problem, (long long)one.events,
                       (long long)one.certificates);
            }
            CU_ASSERT_TRUE(same);
        }
    }
    return dirty;
}

/* The certificate of the CertificateIssued at p re-signed by another key (chain recomputed). */
static void foreign_cert_at(struct ca *ca, int64_t p)
{
    size_t len = 0;
    uint8_t *payload = payload_at(ca, p, &len), *der = NULL;
    const uint8_t *q;
    struct lca_event *ev = NULL;
    struct lca_err err;
    EVP_PKEY *other = EVP_EC_gen("P-256");
    X509 *x;
    int dlen;

    CU_ASSERT_EQUAL_FATAL(lca_event_decode(payload, len, &ev, &err), LCA_OK);
    q = lca_val_map_get_bin(ev->payload, "certificate", &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    x = d2i_X509(NULL, &q, (long)len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    CU_ASSERT_TRUE(X509_sign(x, other, EVP_sha256()) > 0);
    dlen = i2d_X509(x, &der);
    CU_ASSERT_TRUE_FATAL(dlen > 0);
    replace_bin(ca, p, "certificate", der, (size_t)dlen);
    OPENSSL_free(der);
    X509_free(x);
    EVP_PKEY_free(other);
    lca_event_free(ev);
    free(payload);
}

/* Bad signatures found by the pool against findings of the walk below, at and above them. */
static void threads_bad_signatures(struct ca *ca)
{
    struct lca_audit_report r;
    char sql[300];
    int64_t first = sql_int(ca, "SELECT min(position) FROM events WHERE type = "
                                "'CertificateIssued' AND position > 12");
    int64_t last = sql_int(ca, "SELECT max(position) FROM events WHERE type = "
                               "'CertificateIssued'");

    int64_t cp = sql_int(ca, "SELECT max(position) FROM checkpoints");

    CU_ASSERT_TRUE_FATAL(first > 0 && last > cp && cp > first + 1);
    CU_ASSERT_EQUAL_FATAL(sql_int(ca, "SELECT count(*) FROM events e JOIN checkpoints c ON "
                                      "c.position = e.position AND e.type = 'CertificateIssued'"),
                          1);
    foreign_cert_at(ca, last);
    CU_ASSERT_TRUE(same_reports(ca, "foreign certificate", last));
    /* at a checkpointed position: the checkpoint no longer matches either, but the signature
     * check comes first */
    foreign_cert_at(ca, cp);
    CU_ASSERT_TRUE(same_reports(ca, "foreign certificate at a checkpoint", cp));
    r = verify_n(ca, 0, 2);
    CU_ASSERT_EQUAL(r.bad_position, cp);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.problem, "not signed by its issuer"));
    foreign_cert_at(ca, first);
    CU_ASSERT_TRUE(same_reports(ca, "two foreign certificates", first));
    r = verify_n(ca, 0, 2);
    CU_ASSERT_EQUAL(r.bad_position, first);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.problem, "not signed by its issuer"));
    CU_ASSERT_EQUAL(r.events, first - 1);
    /* a walk finding below the first bad certificate wins, one above it does not */
    snprintf(sql, sizeof(sql), "UPDATE events SET payload = set_byte(payload, 1, "
             "get_byte(payload, 1) # 1) WHERE position = %lld", (long long)(first - 3));
    tamper(ca, sql);
    CU_ASSERT_TRUE(same_reports(ca, "walk below pool", first - 3));
    CU_ASSERT_EQUAL(verify_n(ca, 0, 2).bad_position, first - 3);
    tamper(ca, sql);
    snprintf(sql, sizeof(sql), "UPDATE events SET payload = set_byte(payload, 1, "
             "get_byte(payload, 1) # 1) WHERE position = %lld", (long long)(first + 1));
    tamper(ca, sql);
    CU_ASSERT_TRUE(same_reports(ca, "walk above pool", first + 1));
    CU_ASSERT_EQUAL(verify_n(ca, 0, 2).bad_position, first);
    tamper(ca, sql);
}

static void test_threads_same_report(void)
{
    struct ca ca;
    struct lca_audit_report r;
    char sql[600];
    int64_t head, p;
    int found = 0;

    ca_build(&ca);
    (void)checkpoint(&ca, 1);
    issue(&ca, "t1.example.com");
    issue(&ca, "t2.example.com");
    (void)checkpoint(&ca, 1);
    issue(&ca, "t3.example.com");
    head = lca_state_position(ca.st);
    r = verify_n(&ca, 1, 4);
    CU_ASSERT_TRUE(r.clean);
    CU_ASSERT_EQUAL(r.events, head);
    CU_ASSERT_EQUAL(r.checkpoints, 2);
    CU_ASSERT_FALSE(same_reports(&ca, "clean", 0));
    for (p = 1; p <= head; p++) {
        /* a changed payload byte, then a changed prev_hash byte, each undone afterwards */
        snprintf(sql, sizeof(sql), "UPDATE events SET payload = set_byte(payload, 1, "
                 "get_byte(payload, 1) # 1) WHERE position = %lld", (long long)p);
        tamper(&ca, sql);
        found += same_reports(&ca, "payload byte", p);
        tamper(&ca, sql);
        snprintf(sql, sizeof(sql), "UPDATE events SET prev_hash = set_byte(prev_hash, 0, "
                 "get_byte(prev_hash, 0) # 1) WHERE position = %lld", (long long)p);
        tamper(&ca, sql);
        found += same_reports(&ca, "prev_hash byte", p);
        tamper(&ca, sql);
        /* a deleted row, and the tail cut from p, each put back */
        snprintf(sql, sizeof(sql), "CREATE TABLE saved AS SELECT * FROM events WHERE position "
                 ">= %lld; DELETE FROM events WHERE position = %lld", (long long)p, (long long)p);
        tamper(&ca, sql);
        found += same_reports(&ca, "deleted row", p);
        snprintf(sql, sizeof(sql), "DELETE FROM events WHERE position > %lld", (long long)p);
        tamper(&ca, sql);
        found += same_reports(&ca, "cut tail", p);
        tamper(&ca, "INSERT INTO events SELECT * FROM saved; DROP TABLE saved");
        if (p < head) { /* two neighbouring payloads swapped, and back */
            snprintf(sql, sizeof(sql), "UPDATE events e SET payload = o.payload, type = o.type "
                     "FROM events o WHERE (e.position, o.position) IN ((%lld, %lld), "
                     "(%lld, %lld))", (long long)p, (long long)p + 1, (long long)p + 1,
                     (long long)p);
            tamper(&ca, sql);
            found += same_reports(&ca, "swapped rows", p);
            tamper(&ca, sql);
        }
    }
    CU_ASSERT_EQUAL(found, 5 * head - 1); /* every tampering was seen */
    r = verify_n(&ca, 0, 3);
    CU_ASSERT_TRUE(r.clean); /* everything was put back */
    CU_ASSERT_TRUE(r.certificates >= 9);
    threads_bad_signatures(&ca);
    ca_free(&ca);
}

static void test_replay(void)
{
    struct ca ca;
    struct lca_err err;
    char base[] = "/tmp/lca-replay-XXXXXX", a[600], b[600], c[600], d[600], cmd[2048];
    char *rev_now, *rev_then, *certs_then, *state, *crl_name;
    int64_t pos = 0, head;
    const struct lca_issuer *def;

    ca_build(&ca);
    head = lca_state_position(ca.st);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(base));
    snprintf(a, sizeof(a), "%s/a", base);
    snprintf(b, sizeof(b), "%s/b", base);
    snprintf(c, sizeof(c), "%s/c", base);
    snprintf(d, sizeof(d), "%s/d", base);
    lca_err_clear(&err);
    CU_ASSERT_EQUAL(lca_audit_replay(ca.store, head, 0, a, &pos, &err), LCA_OK);
    CU_ASSERT_EQUAL(pos, head);
    CU_ASSERT_EQUAL(lca_audit_replay(ca.store, head, 0, b, &pos, &err), LCA_OK);
    snprintf(cmd, sizeof(cmd), "diff -r %s %s", a, b);
    CU_ASSERT_EQUAL(system(cmd), 0);
    /* a time after the last event gives the same state as the head */
    CU_ASSERT_EQUAL(lca_audit_replay(ca.store, 0, (int64_t)time(NULL) + 3600, d, &pos, &err),
                    LCA_OK);
    CU_ASSERT_EQUAL(pos, head);
    /* not empty any more: refused */
    CU_ASSERT_EQUAL(lca_audit_replay(ca.store, head, 0, a, &pos, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "dir_not_empty");
    CU_ASSERT_EQUAL(lca_audit_replay(ca.store, head + 1, 0, c, &pos, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "bad_target");
    CU_ASSERT_EQUAL(lca_audit_replay(ca.store, 0, 1000, c, &pos, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "bad_target");
    /* before the first revoke: serial 0 valid, not revoked, the issuer's first (empty) CRL */
    CU_ASSERT_EQUAL(lca_audit_replay(ca.store, ca.before_revoke, 0, c, &pos, &err), LCA_OK);
    rev_now = slurp(a, "revoked.json");
    rev_then = slurp(c, "revoked.json");
    certs_then = slurp(c, "certificates.json");
    state = slurp(c, "state.json");
    CU_ASSERT_FATAL(rev_now != NULL && rev_then != NULL && certs_then != NULL && state != NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(rev_now, ca.leaf[0]));
    CU_ASSERT_PTR_NULL(strstr(rev_then, ca.leaf[0]));
    CU_ASSERT_STRING_EQUAL(rev_then, "[]\n");
    CU_ASSERT_PTR_NOT_NULL(strstr(certs_then, ca.leaf[0]));
    CU_ASSERT_PTR_NULL(strstr(certs_then, ca.leaf[3])); /* not issued yet */
    CU_ASSERT_PTR_NOT_NULL(strstr(state, "\"position\":"));
    def = lca_state_issuer_ref(ca.st, lca_state_issuer_at(ca.st, 1)->id);
    crl_name = calloc(1, 128);
    snprintf(crl_name, 128, "crls/%s.crl", def->id);
    {
        char *now_crl = slurp(a, crl_name), *then_crl = slurp(c, crl_name);
        CU_ASSERT_PTR_NOT_NULL(now_crl);
        CU_ASSERT_PTR_NOT_NULL(then_crl);
        CU_ASSERT(file_size(c, crl_name) > 0);
        CU_ASSERT(file_size(a, crl_name) > file_size(c, crl_name)); /* now it lists serials */
        free(now_crl);
        free(then_crl);
    }
    snprintf(crl_name, 128, "issuers/%s.chain.pem", def->id);
    {
        char *chain = slurp(a, crl_name), *roots = slurp(a, "roots.json");
        CU_ASSERT_PTR_NOT_NULL(chain != NULL ? strstr(chain, "BEGIN CERTIFICATE") : NULL);
        CU_ASSERT_PTR_NOT_NULL(roots != NULL ? strstr(roots, "\"ActiveRootID\"") : NULL);
        free(chain);
        free(roots);
    }
    {
        char plain[64];
        size_t i, j = 0;
        for (i = 0; ca.leaf[0][i] != '\0' && j + 1 < sizeof(plain); i++) {
            if (ca.leaf[0][i] != ':') {
                plain[j++] = ca.leaf[0][i];
            }
        }
        plain[j] = '\0';
        /* openssl prints the serial without colons, in upper case */
        snprintf(cmd, sizeof(cmd), "openssl crl -inform DER -in %s/crls/%s.crl -noout -text | "
                 "grep -qi 'Serial Number: %s'", a, def->id, plain);
    }
    CU_ASSERT_EQUAL(system(cmd), 0);
    free(crl_name);
    free(rev_now);
    free(rev_then);
    free(certs_then);
    free(state);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
    CU_ASSERT_EQUAL(system(cmd), 0);
    ca_free(&ca);
}

/* ---- the CLI, as another process ----------------------------------------------------------- */

static int sh(const char *fmt, ...) LCA_PRINTF(1, 2);

static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* A log of several 256-event batches: the reader decodes batches 1 and 3, the fold thread
 * batch 2; a payload that does not decode in either is a FATAL error, not a crash or a state. */
static void test_replay_batches(void)
{
    struct ca ca;
    struct lca_err err;
    char base[] = "/tmp/lca-replay-XXXXXX", dir[600], cmd[1400];
    int64_t pos = 0, head;
    int i, k;

    ca_build(&ca);
    for (i = 0; i < 560; i++) {
        snprintf(cmd, sizeof(cmd), "b%d.example.com", i);
        ca.nleaf = 4;
        issue(&ca, cmd);
    }
    head = lca_state_position(ca.st);
    CU_ASSERT_TRUE_FATAL(head > 2 * 256 + 40);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(base));
    for (k = 0; k < 3; k++) {
        snprintf(dir, sizeof(dir), "%s/%d", base, k);
        lca_err_clear(&err);
        CU_ASSERT_EQUAL(lca_audit_replay(ca.store, k < 2 ? head : 300, 0, dir, &pos, &err),
                        LCA_OK);
        CU_ASSERT_EQUAL(pos, k < 2 ? head : 300);
    }
    snprintf(cmd, sizeof(cmd), "diff -r %s/0 %s/1 && ! diff -q %s/0/certificates.json "
             "%s/2/certificates.json >/dev/null", base, base, base, base);
    CU_ASSERT_EQUAL(system(cmd), 0);
    for (k = 0; k < 2; k++) {
        int64_t bad = k == 0 ? 300 : head - 10; /* batch 2 (fold thread), batch 3 (reader) */
        snprintf(cmd, sizeof(cmd), "UPDATE events SET payload = '\\x81a174c0' WHERE position = "
                 "%lld", (long long)bad);
        tamper(&ca, cmd);
        snprintf(dir, sizeof(dir), "%s/bad%d", base, k);
        lca_err_clear(&err);
        CU_ASSERT_EQUAL(lca_audit_replay(ca.store, head, 0, dir, &pos, &err), LCA_FAIL);
        CU_ASSERT_EQUAL(err.cls, LCA_ERR_FATAL);
        printf("\n    undecodable payload at %lld: %s (%s)", (long long)bad, err.msg, err.code);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
    CU_ASSERT_EQUAL(system(cmd), 0);
    ca_free(&ca);
}

static void test_cli(void)
{
    struct ca ca;
    const char *bin_dir = getenv("LCA_BINARY_DIR");
    char bin[512], base[] = "/tmp/lca-audit-cli-XXXXXX", when[64];
    const char *uri;
    time_t now = time(NULL) + 3600;
    struct tm tm;
    int64_t head;

    CU_ASSERT_PTR_NOT_NULL_FATAL(bin_dir);
    snprintf(bin, sizeof(bin), "%s/workers/ledgerca", bin_dir);
    ca_build(&ca);
    uri = lca_pgtest_uri(ca.t);
    head = lca_state_position(ca.st);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(base));
    CU_ASSERT_EQUAL(sh("%s audit verify --pg-uri '%s' > %s/out 2>&1", bin, uri, base), 0);
    CU_ASSERT_EQUAL(sh("grep -q 'log clean' %s/out", base), 0);
    /* checkpoint with a KEK file (0600), then verify with checkpoints */
    CU_ASSERT_EQUAL(sh("umask 077 && head -c 32 /dev/urandom > %s/kek", base), 0);
    CU_ASSERT_EQUAL(sh("%s audit checkpoint --pg-uri '%s' --kek-file %s/kek > %s/cp 2>&1", bin,
                       uri, base, base), 0);
    CU_ASSERT_EQUAL(sh("grep -q 'signed' %s/cp", base), 0);
    CU_ASSERT_EQUAL(sh("%s audit verify --checkpoints --pg-uri '%s' > %s/out 2>&1", bin, uri,
                       base), 0);
    CU_ASSERT_EQUAL(sh("grep -q 'checkpoints 1' %s/out", base), 0);
    /* replay by position twice, and by time: identical bytes */
    CU_ASSERT_EQUAL(sh("%s replay --to %lld --out %s/r1 --pg-uri '%s' > /dev/null", bin,
                       (long long)head, base, uri), 0);
    CU_ASSERT_EQUAL(sh("%s replay --to %lld --out %s/r2 --pg-uri '%s' > /dev/null", bin,
                       (long long)head, base, uri), 0);
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    CU_ASSERT_EQUAL(sh("%s replay --to %s --out %s/r3 --pg-uri '%s' > /dev/null", bin, when,
                       base, uri), 0);
    CU_ASSERT_EQUAL(sh("diff -r %s/r1 %s/r2", base, base), 0);
    if (getenv("LCA_TEST_REPLAY_REF") != NULL) { /* another build's ledgerca: the same bytes */
        CU_ASSERT_EQUAL(sh("'%s' replay --to %lld --out %s/r5 --pg-uri '%s' > /dev/null && "
                           "diff -r %s/r1 %s/r5",
                           getenv("LCA_TEST_REPLAY_REF"), (long long)head, base, uri, base, base),
                        0);
    }
    /* by time: the same state; only state.json's time differs */
    CU_ASSERT_EQUAL(sh("diff -r -x state.json %s/r1 %s/r3", base, base), 0);
    CU_ASSERT_NOT_EQUAL(sh("cmp -s %s/r1/state.json %s/r3/state.json", base, base), 0);
    CU_ASSERT_EQUAL(sh("%s replay --to not-a-time --out %s/r4 --pg-uri '%s' 2>/dev/null", bin,
                       base, uri), 2);
    /* tamper: exit 1 and the position named */
    tamper(&ca, "UPDATE events SET payload = set_byte(payload, 10, get_byte(payload, 10) # 4) "
                "WHERE position = 3");
    CU_ASSERT_EQUAL(sh("%s audit verify --pg-uri '%s' > %s/out 2>&1", bin, uri, base), 1);
    CU_ASSERT_EQUAL(sh("grep -q 'PROBLEM at position 3:' %s/out", base), 0);
    CU_ASSERT_EQUAL(sh("rm -rf %s", base), 0);
    ca_free(&ca);
}

/* Full verification (decode, evolve, every certificate and CRL signature) over a real log. */
static void test_full_speed(void)
{
    struct ca ca;
    struct lca_audit_report r;
    struct timespec t0, t1;
    char cn[64];
    double sec;
    int i;

    ca_build(&ca);
    for (i = 0; i < 400; i++) {
        snprintf(cn, sizeof(cn), "h%d.example.com", i);
        ca.nleaf = 4; /* keep the serial table small: only the first leaves are used */
        issue(&ca, cn);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = verify(&ca, 0, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    sec = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CU_ASSERT_TRUE(r.clean);
    CU_ASSERT_TRUE(r.certificates >= 400);
    printf("\n    full verification: %lld events, %lld certificates, %lld CRLs in %.3f s = "
           "%.0f events/s\n", (long long)r.events, (long long)r.certificates,
           (long long)r.crls, sec, (double)r.events / sec);
    ca_free(&ca);
}

/* ---- speed: chain verification over many appended events ---------------------------------- */

static void test_chain_speed(void)
{
    struct lca_pgtest *t = lca_pgtest_new();
    struct lca_pgstore *s = NULL;
    struct lca_pgbatch *b = lca_pgbatch_new();
    struct lca_audit_opts o;
    struct lca_audit_report r;
    struct lca_err err;
    uint8_t id[16], payload[160];
    char stream[32];
    struct timespec t0, t1;
    unsigned i, j, n = 200000, per = 2000;
    double sec;

    CU_ASSERT_FATAL(t != NULL && b != NULL);
    CU_ASSERT_EQUAL_FATAL(lca_migrate_apply(lca_pgtest_uri(t), lca_migrate_builtin, NULL, NULL,
                                            NULL, &err), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_pgstore_open(lca_pgtest_uri(t), "dc1", &s, &err), LCA_OK);
    memset(payload, 0xa5, sizeof(payload));
    for (i = 0; i < n / per; i++) {
        lca_pgbatch_reset(b);
        memset(id, 0, sizeof(id));
        memcpy(id, &i, sizeof(i));
        id[6] = 0x40;
        id[8] = 0x80;
        CU_ASSERT_EQUAL_FATAL(lca_pgbatch_add_command(b, id, (const uint8_t *)"{}", 2, NULL,
                                                      &err), LCA_OK);
        for (j = 0; j < per; j++) {
            snprintf(stream, sizeof(stream), "s/%u", i * per + j);
            memcpy(payload, &j, sizeof(j));
            CU_ASSERT_EQUAL_FATAL(lca_pgbatch_add_event(b, stream, 1, "Synthetic", payload,
                                                        sizeof(payload), &err), LCA_OK);
        }
        CU_ASSERT_EQUAL_FATAL(lca_pgstore_commit_batch(s, b, &err), LCA_OK);
    }
    memset(&o, 0, sizeof(o));
    o.chain_only = 1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CU_ASSERT_EQUAL(lca_audit_verify(s, &o, &r, &err), LCA_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    sec = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CU_ASSERT_TRUE(r.clean);
    CU_ASSERT_EQUAL(r.events, (int64_t)n);
    printf("\n    chain verification: %u events (%zu-byte payloads) in %.3f s = %.0f events/s\n",
           n, sizeof(payload), sec, (double)n / sec);
    lca_pgbatch_free(b);
    lca_pgstore_free(s);
    lca_pgtest_free(t);
}

int main(void)
{
    CU_pSuite s;
    unsigned fails;

    if (!lca_pgtest_available()) {
        return 1; /* never skip: the message says how to run the tests */
    }
    if (CU_initialize_registry() != CUE_SUCCESS) {
        return 1;
    }
    s = CU_add_suite("audit", NULL, NULL);
    CU_add_test(s, "a clean log verifies (chain, certificates, CRLs)", test_clean_log);
    CU_add_test(s, "one payload byte changed is named", test_payload_byte);
    CU_add_test(s, "a deleted row is named", test_deleted_row);
    CU_add_test(s, "two swapped rows are named", test_swapped_rows);
    CU_add_test(s, "a certificate signed by another key (chain recomputed)",
                test_foreign_certificate);
    CU_add_test(s, "a CRL omitting a revocation (chain recomputed)", test_crl_omits_revocation);
    CU_add_test(s, "delta and shard CRLs: verify, replay, projector files; a bad delta is named",
                test_scale_crls);
    CU_add_test(s, "a shard CRL without its IDP is named", test_shard_crl_without_idp);
    CU_add_test(s, "checkpoints: signed, verified, a cut tail below one is named",
                test_checkpoints_and_cut_tail);
    CU_add_test(s, "a cut tail without log_head reset is named", test_tail_cut_without_head_reset);
    CU_add_test(s, "a forged checkpoint is named", test_forged_checkpoint);
    CU_add_test(s, "2-4 readers and signature threads name exactly what one thread names",
                test_threads_same_report);
    CU_add_test(s, "replay: byte-identical, earlier positions show earlier state", test_replay);
    CU_add_test(s, "replay over several batches: identical; an undecodable payload is fatal",
                test_replay_batches);
    CU_add_test(s, "the CLI: verify, checkpoint, replay, exit codes", test_cli);
    CU_add_test(s, "full verification speed", test_full_speed);
    CU_add_test(s, "chain verification speed", test_chain_speed);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails == 0 ? 0 : 1;
}
