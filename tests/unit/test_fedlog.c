/*
 * test_fedlog — the relay message codec and the aggregator's pure fold (projections/fedlog.h):
 * a cluster's chain folded in order; negative cases: a gap, a broken prev_hash, a bad hash, a
 * duplicate delivery (ignored, cursor unchanged), a fork at the cursor, a misnamed type, and
 * hostile message bytes (wrong version, missing field, short hash, truncation).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <openssl/sha.h>

#include "catalog.h"
#include "codec.h"
#include "crl.h"
#include "event.h"
#include "fedlog.h"
#include "val.h"

#define N_EV 5

struct chain {
    uint8_t *payload[N_EV];
    size_t len[N_EV];
    const char *type[N_EV];
    uint8_t prev[N_EV][32], hash[N_EV][32];
};

static uint8_t *event_bytes(enum lca_evt_type t, struct lca_val *p, size_t *len)
{
    struct lca_event *ev = lca_event_new(t, p);
    struct lca_err err;
    uint8_t *out = NULL;

    lca_err_clear(&err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
    CU_ASSERT_EQUAL_FATAL(lca_event_canonical(ev, &out, len, &err), LCA_OK);
    lca_event_free(ev);
    return out;
}

/* IssuerCreated, CertificateIssued x2, CertificateRevoked, CrlPublished: hashes chained. */
static void chain_init(struct chain *c)
{
    static const uint8_t der[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    struct lca_val *p;
    size_t i;

    memset(c, 0, sizeof(*c));
    p = lca_val_new_map();
    lca_val_map_set_str(p, "issuer_id", "11111111-1111-4111-8111-111111111111");
    lca_val_map_set_str(p, "key_id", "k1");
    lca_val_map_set_bin(p, "certificate", der, sizeof(der));
    c->payload[0] = event_bytes(LCA_EVT_ISSUER_CREATED, p, &c->len[0]);
    c->type[0] = "IssuerCreated";
    for (i = 1; i <= 2; i++) {
        p = lca_val_new_map();
        lca_val_map_set_str(p, "serial_number", i == 1 ? "0a:0b" : "0c:0d");
        lca_val_map_set_str(p, "issuer_id", "11111111-1111-4111-8111-111111111111");
        lca_val_map_set_int(p, "not_after", 2000000000);
        lca_val_map_set_str(p, "kind", "leaf");
        lca_val_map_set_str(p, "common_name", "a.example.com");
        c->payload[i] = event_bytes(LCA_EVT_CERT_ISSUED, p, &c->len[i]);
        c->type[i] = "CertificateIssued";
    }
    p = lca_val_new_map();
    lca_val_map_set_str(p, "serial_number", "0a:0b");
    lca_val_map_set_str(p, "issuer_id", "11111111-1111-4111-8111-111111111111");
    lca_val_map_set_int(p, "revoked_at", 1800000000);
    lca_val_map_set_int(p, "reason", LCA_CRL_KEY_COMPROMISE);
    c->payload[3] = event_bytes(LCA_EVT_CERT_REVOKED, p, &c->len[3]);
    c->type[3] = "CertificateRevoked";
    p = lca_val_new_map();
    lca_val_map_set_str(p, "issuer_id", "11111111-1111-4111-8111-111111111111");
    lca_val_map_set_int(p, "crl_number", 2);
    lca_val_map_set_int(p, "this_update", 1800000000);
    lca_val_map_set_int(p, "next_update", 1800086400);
    lca_val_map_set_int(p, "delta_base", -1);
    lca_val_map_set_bin(p, "crl", der, sizeof(der));
    c->payload[4] = event_bytes(LCA_EVT_CRL_PUBLISHED, p, &c->len[4]);
    c->type[4] = "CrlPublished";
    for (i = 0; i < N_EV; i++) {
        uint8_t buf[32 + 4096];
        CU_ASSERT_FATAL(c->len[i] <= 4096);
        if (i > 0) {
            memcpy(c->prev[i], c->hash[i - 1], 32);
        }
        memcpy(buf, c->prev[i], 32);
        memcpy(buf + 32, c->payload[i], c->len[i]);
        SHA256(buf, 32 + c->len[i], c->hash[i]);
    }
}

static void chain_free(struct chain *c)
{
    size_t i;

    for (i = 0; i < N_EV; i++) {
        free(c->payload[i]);
    }
}

static struct lca_fedlog_msg msg_of(const struct chain *c, size_t i)
{
    struct lca_fedlog_msg m;

    memset(&m, 0, sizeof(m));
    m.cluster = "dc2";
    m.position = (int64_t)i + 1;
    m.stream = "ca";
    m.stream_version = 1;
    m.type = c->type[i];
    m.command_id = "22222222-2222-4222-8222-222222222222";
    m.recorded_at_us = 1800000000000000;
    memcpy(m.prev_hash, c->prev[i], 32);
    memcpy(m.hash, c->hash[i], 32);
    m.payload = c->payload[i];
    m.payload_len = c->len[i];
    return m;
}

/* Folds message i; returns the rc and fills *ch (events freed here). */
static int fold(struct lca_fedlog_cursor *cur, const struct lca_fedlog_msg *m,
                struct lca_fedlog_change *ch, char code[48])
{
    struct lca_event *ev = NULL;
    struct lca_err err;
    int rc;

    lca_err_clear(&err);
    rc = lca_fedlog_apply(cur, m, ch, &ev, &err);
    snprintf(code, 48, "%s", err.code);
    lca_event_free(ev);
    return rc;
}

static void test_fold_in_order(void)
{
    struct chain c;
    struct lca_fedlog_cursor cur;
    struct lca_fedlog_change ch;
    struct lca_event *ev = NULL;
    struct lca_err err;
    struct lca_fedlog_msg m;
    static const enum lca_fedlog_kind want[N_EV] = {LCA_FEDLOG_ISSUER, LCA_FEDLOG_ISSUED,
                                                    LCA_FEDLOG_ISSUED, LCA_FEDLOG_REVOKED,
                                                    LCA_FEDLOG_CRL};
    size_t i;

    chain_init(&c);
    memset(&cur, 0, sizeof(cur));
    for (i = 0; i < N_EV; i++) {
        m = msg_of(&c, i);
        lca_err_clear(&err);
        CU_ASSERT_EQUAL(lca_fedlog_apply(&cur, &m, &ch, &ev, &err), LCA_OK);
        CU_ASSERT_EQUAL(ch.duplicate, 0);
        CU_ASSERT_EQUAL(ch.kind, want[i]);
        CU_ASSERT_EQUAL(cur.position, (int64_t)i + 1);
        CU_ASSERT_EQUAL(memcmp(cur.hash, c.hash[i], 32), 0);
        if (ch.kind == LCA_FEDLOG_ISSUER) {
            CU_ASSERT_STRING_EQUAL(ch.issuer.key_id, "k1");
        } else if (ch.kind == LCA_FEDLOG_ISSUED) {
            CU_ASSERT_STRING_EQUAL(ch.view.cert.cluster, "dc2");
            CU_ASSERT_EQUAL(ch.view.cert.not_after, 2000000000);
        } else if (ch.kind == LCA_FEDLOG_REVOKED) {
            CU_ASSERT_STRING_EQUAL(ch.view.rev.serial, "0a:0b");
            CU_ASSERT_STRING_EQUAL(ch.revoked_issuer_id, "11111111-1111-4111-8111-111111111111");
            CU_ASSERT_EQUAL(ch.reason, LCA_CRL_KEY_COMPROMISE);
        } else if (ch.kind == LCA_FEDLOG_CRL) {
            CU_ASSERT_EQUAL(ch.view.crl.crl_number, 2);
        }
        lca_event_free(ev);
        ev = NULL;
    }
    chain_free(&c);
}

static void test_duplicate_and_fork(void)
{
    struct chain c;
    struct lca_fedlog_cursor cur, before;
    struct lca_fedlog_change ch;
    struct lca_fedlog_msg m;
    char code[48];
    size_t i;

    chain_init(&c);
    memset(&cur, 0, sizeof(cur));
    for (i = 0; i < 3; i++) {
        m = msg_of(&c, i);
        CU_ASSERT_EQUAL(fold(&cur, &m, &ch, code), LCA_OK);
    }
    before = cur;
    for (i = 0; i < 3; i++) { /* at-least-once: every earlier message again */
        m = msg_of(&c, i);
        CU_ASSERT_EQUAL(fold(&cur, &m, &ch, code), LCA_OK);
        CU_ASSERT_EQUAL(ch.duplicate, 1);
        CU_ASSERT_EQUAL(ch.kind, LCA_FEDLOG_NONE);
        CU_ASSERT_EQUAL(memcmp(&cur, &before, sizeof(cur)), 0);
    }
    m = msg_of(&c, 2); /* the cursor's position with another hash: a forked history */
    m.hash[0] ^= 1;
    CU_ASSERT_EQUAL(fold(&cur, &m, &ch, code), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(code, "fork");
    CU_ASSERT_EQUAL(memcmp(&cur, &before, sizeof(cur)), 0);
    chain_free(&c);
}

static void test_gap_chain_hash(void)
{
    struct chain c;
    struct lca_fedlog_cursor cur, before;
    struct lca_fedlog_change ch;
    struct lca_fedlog_msg m;
    char code[48];

    chain_init(&c);
    memset(&cur, 0, sizeof(cur));
    m = msg_of(&c, 0);
    CU_ASSERT_EQUAL(fold(&cur, &m, &ch, code), LCA_OK);
    before = cur;
    m = msg_of(&c, 2); /* position 3 after 1 */
    CU_ASSERT_EQUAL(fold(&cur, &m, &ch, code), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(code, "gap");
    m = msg_of(&c, 1);
    m.prev_hash[31] ^= 0x80;
    CU_ASSERT_EQUAL(fold(&cur, &m, &ch, code), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(code, "broken_chain");
    m = msg_of(&c, 1);
    m.hash[5] ^= 1;
    CU_ASSERT_EQUAL(fold(&cur, &m, &ch, code), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(code, "bad_hash");
    m = msg_of(&c, 1); /* the payload altered, the hashes kept */
    m.payload = c.payload[2];
    m.payload_len = c.len[2];
    CU_ASSERT_EQUAL(fold(&cur, &m, &ch, code), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(code, "bad_hash");
    m = msg_of(&c, 1);
    m.type = "CertificateRevoked"; /* the type column lies about the payload */
    CU_ASSERT_EQUAL(fold(&cur, &m, &ch, code), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(code, "bad_message");
    CU_ASSERT_EQUAL(memcmp(&cur, &before, sizeof(cur)), 0); /* no failure moved the cursor */
    m = msg_of(&c, 1); /* and the right message still continues the chain */
    CU_ASSERT_EQUAL(fold(&cur, &m, &ch, code), LCA_OK);
    CU_ASSERT_EQUAL(cur.position, 2);
    chain_free(&c);
}

static void test_codec_roundtrip(void)
{
    struct chain c;
    struct lca_fedlog_msg m;
    struct lca_fedlog_decoded d;
    struct lca_err err;
    uint8_t *buf = NULL, *buf2 = NULL;
    size_t len = 0, len2 = 0;

    chain_init(&c);
    m = msg_of(&c, 3);
    lca_err_clear(&err);
    CU_ASSERT_EQUAL_FATAL(lca_fedlog_encode(&m, &buf, &len, &err), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_fedlog_decode(buf, len, &d, &err), LCA_OK);
    CU_ASSERT_STRING_EQUAL(d.msg.cluster, "dc2");
    CU_ASSERT_EQUAL(d.msg.position, 4);
    CU_ASSERT_STRING_EQUAL(d.msg.type, "CertificateRevoked");
    CU_ASSERT_EQUAL(d.msg.recorded_at_us, 1800000000000000);
    CU_ASSERT_EQUAL(memcmp(d.msg.hash, c.hash[3], 32), 0);
    CU_ASSERT_EQUAL(d.msg.payload_len, c.len[3]);
    CU_ASSERT_EQUAL(memcmp(d.msg.payload, c.payload[3], c.len[3]), 0);
    CU_ASSERT_EQUAL(lca_fedlog_encode(&d.msg, &buf2, &len2, &err), LCA_OK); /* canonical */
    CU_ASSERT_EQUAL(len, len2);
    CU_ASSERT(buf2 != NULL && memcmp(buf, buf2, len) == 0);
    lca_fedlog_decoded_cleanup(&d);
    free(buf2);
    free(buf);
    chain_free(&c);
}

/* Re-encodes message 0 with one field changed by fn; expects decode to fail with code. */
static void expect_bad(void (*fn)(struct lca_val *), const char *code)
{
    struct chain c;
    struct lca_fedlog_msg m;
    struct lca_fedlog_decoded d;
    struct lca_val *v = NULL;
    struct lca_err err;
    uint8_t *buf = NULL, *buf2 = NULL;
    size_t len = 0, len2 = 0;

    chain_init(&c);
    m = msg_of(&c, 0);
    lca_err_clear(&err);
    CU_ASSERT_EQUAL_FATAL(lca_fedlog_encode(&m, &buf, &len, &err), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_codec_decode(buf, len, NULL, &v, &err), LCA_OK);
    fn(v);
    CU_ASSERT_EQUAL_FATAL(lca_codec_encode(v, &buf2, &len2, &err), LCA_OK);
    CU_ASSERT_EQUAL(lca_fedlog_decode(buf2, len2, &d, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, code);
    CU_ASSERT_EQUAL(lca_fedlog_decode(buf, len - 1, &d, &err), LCA_FAIL); /* truncated */
    CU_ASSERT_EQUAL(lca_fedlog_decode(NULL, 0, &d, &err), LCA_FAIL);
    lca_val_free(v);
    free(buf);
    free(buf2);
    chain_free(&c);
}

static void set_v2(struct lca_val *v) { lca_val_map_set_int(v, "v", 2); }
static void del_stream(struct lca_val *v) { lca_val_map_del(v, "stream"); }
static void short_hash(struct lca_val *v) { lca_val_map_set_bin(v, "hash", "abc", 3); }
static void bad_cluster(struct lca_val *v) { lca_val_map_set_str(v, "cluster", "../etc"); }
static void zero_pos(struct lca_val *v) { lca_val_map_set_int(v, "position", 0); }
static void extra(struct lca_val *v) { lca_val_map_set_int(v, "zzz", 0); }

static void test_codec_negative(void)
{
    struct lca_fedlog_msg m;
    struct lca_err err;
    uint8_t *buf = NULL;
    size_t len = 0;

    expect_bad(set_v2, "unsupported_version");
    expect_bad(del_stream, "bad_message");
    expect_bad(short_hash, "bad_message");
    expect_bad(bad_cluster, "bad_message");
    expect_bad(zero_pos, "bad_message");
    expect_bad(extra, "bad_message");
    memset(&m, 0, sizeof(m));
    m.cluster = "dc1";
    lca_err_clear(&err);
    CU_ASSERT_EQUAL(lca_fedlog_encode(&m, &buf, &len, &err), LCA_FAIL); /* incomplete */
    CU_ASSERT_PTR_NULL(buf);
}

static void test_topic_names(void)
{
    char t[64];

    CU_ASSERT_EQUAL(lca_fedlog_topic("dc2", t, sizeof(t)), LCA_OK);
    CU_ASSERT_STRING_EQUAL(t, "ledgerca.events.dc2");
    CU_ASSERT_EQUAL(lca_fedlog_topic("", t, sizeof(t)), LCA_FAIL);
    CU_ASSERT_EQUAL(lca_fedlog_topic("a/b", t, sizeof(t)), LCA_FAIL);
    CU_ASSERT_EQUAL(lca_fedlog_topic("dc2", t, 8), LCA_FAIL);
}

int main(void)
{
    CU_pSuite s;
    unsigned failed;

    if (CU_initialize_registry() != CUE_SUCCESS) {
        return 1;
    }
    s = CU_add_suite("fedlog", NULL, NULL);
    CU_add_test(s, "a cluster's chain folds in order", test_fold_in_order);
    CU_add_test(s, "duplicate deliveries are ignored; a fork is refused", test_duplicate_and_fork);
    CU_add_test(s, "gap, broken chain, bad hash, lying type are refused", test_gap_chain_hash);
    CU_add_test(s, "message codec round trip (canonical)", test_codec_roundtrip);
    CU_add_test(s, "message codec: hostile bytes", test_codec_negative);
    CU_add_test(s, "topic names", test_topic_names);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed == 0 ? 0 : 1;
}
