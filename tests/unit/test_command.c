/*
 * test_command — the catalog tables, the command envelope (JSON and msgpack, defaults,
 * validation, hostile inputs) and the canonical event envelope.
 */
#include <CUnit/Basic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "codec.h"
#include "command.h"
#include "curun.h"
#include "event.h"

#define TXT(s) (const uint8_t *)(s), (sizeof(s) - 1)
#define UUID_LC "0f8fad5b-d9cb-469f-a165-70867728950e"
#define UUID_UC "0F8FAD5B-D9CB-469F-A165-70867728950E"

static struct lca_command *const CSENT = (struct lca_command *)&lca_codec_default_limits;

/* ---- catalog ----------------------------------------------------------------------------- */

static void test_catalog_commands(void)
{
    int t;
    int n = 0;

    CU_ASSERT_EQUAL(LCA_CMD_ISSUE, 1); /* wire stability: order of types.def */
    CU_ASSERT_STRING_EQUAL(lca_catalog_cmd_name(LCA_CMD_SIGN_VERBATIM), "sign-verbatim");
    CU_ASSERT_STRING_EQUAL(lca_catalog_cmd_name(LCA_CMD_ROLE_WRITE), "role.write");
    CU_ASSERT_EQUAL(lca_catalog_cmd_from_name("tidy"), LCA_CMD_TIDY);
    CU_ASSERT_EQUAL(lca_catalog_cmd_from_name("Issue"), LCA_CMD_NONE);
    CU_ASSERT_EQUAL(lca_catalog_cmd_from_name("issue "), LCA_CMD_NONE);
    CU_ASSERT_EQUAL(lca_catalog_cmd_from_name(""), LCA_CMD_NONE);
    CU_ASSERT_EQUAL(lca_catalog_cmd_from_name(NULL), LCA_CMD_NONE);
    CU_ASSERT_PTR_NULL(lca_catalog_cmd_name(LCA_CMD_NONE));
    CU_ASSERT_PTR_NULL(lca_catalog_cmd_name((enum lca_cmd_type)999));
    for (t = 1; lca_catalog_cmd_name((enum lca_cmd_type)t) != NULL; t++) {
        CU_ASSERT_EQUAL(lca_catalog_cmd_from_name(lca_catalog_cmd_name((enum lca_cmd_type)t)),
                        t);
        n++;
    }
    CU_ASSERT_EQUAL(n, 16);
    /* appended at the end of the list (issue 4): the older values never move */
    CU_ASSERT_EQUAL(LCA_CMD_TIDY, 14);
    CU_ASSERT_EQUAL(lca_catalog_cmd_from_name("intermediate.generate"), 15);
    CU_ASSERT_EQUAL(lca_catalog_cmd_from_name("intermediate.set-signed"), 16);
    CU_ASSERT_EQUAL(lca_catalog_cmd_topic(LCA_CMD_INTERMEDIATE_SET_SIGNED), LCA_TOPIC_ADMIN);
    CU_ASSERT_EQUAL(lca_catalog_cmd_topic(LCA_CMD_ISSUE), LCA_TOPIC_ISSUE);
    CU_ASSERT_EQUAL(lca_catalog_cmd_topic(LCA_CMD_SIGN), LCA_TOPIC_ISSUE);
    CU_ASSERT_EQUAL(lca_catalog_cmd_topic(LCA_CMD_REVOKE), LCA_TOPIC_REVOKE);
    CU_ASSERT_EQUAL(lca_catalog_cmd_topic(LCA_CMD_SIGN_INTERMEDIATE), LCA_TOPIC_ADMIN);
    CU_ASSERT_EQUAL(lca_catalog_cmd_topic(LCA_CMD_TIDY), LCA_TOPIC_ADMIN);
    CU_ASSERT_EQUAL(lca_catalog_cmd_topic((enum lca_cmd_type)999), LCA_TOPIC_ADMIN);
    CU_ASSERT_STRING_EQUAL(lca_catalog_topic_name(LCA_TOPIC_ISSUE), "ledgerca.commands.issue");
    CU_ASSERT_STRING_EQUAL(lca_catalog_topic_name(LCA_TOPIC_REVOKE), "ledgerca.commands.revoke");
    CU_ASSERT_STRING_EQUAL(lca_catalog_topic_name(LCA_TOPIC_ADMIN), "ledgerca.commands.admin");
    CU_ASSERT_PTR_NULL(lca_catalog_topic_name((enum lca_topic)3));
}

static void test_catalog_events(void)
{
    int t;
    int n = 0;

    CU_ASSERT_EQUAL(LCA_EVT_CONFIG_UPDATED, 1);
    CU_ASSERT_STRING_EQUAL(lca_catalog_evt_name(LCA_EVT_CERT_ISSUED), "CertificateIssued");
    CU_ASSERT_EQUAL(lca_catalog_evt_from_name("CommandRejected"), LCA_EVT_COMMAND_REJECTED);
    CU_ASSERT_EQUAL(lca_catalog_evt_from_name("certificateissued"), LCA_EVT_NONE);
    CU_ASSERT_EQUAL(lca_catalog_evt_from_name(NULL), LCA_EVT_NONE);
    CU_ASSERT_PTR_NULL(lca_catalog_evt_name(LCA_EVT_NONE));
    CU_ASSERT_PTR_NULL(lca_catalog_evt_name((enum lca_evt_type)-1));
    for (t = 1; lca_catalog_evt_name((enum lca_evt_type)t) != NULL; t++) {
        CU_ASSERT_EQUAL(lca_catalog_evt_from_name(lca_catalog_evt_name((enum lca_evt_type)t)),
                        t);
        n++;
    }
    CU_ASSERT_EQUAL(n, (int)LCA_EVT_COUNT_ - 1); /* every type of events/types.def */
    CU_ASSERT_EQUAL(lca_catalog_evt_from_name("CrlBuildFailed"), LCA_EVT_CRL_BUILD_FAILED);
    CU_ASSERT_EQUAL(lca_catalog_evt_from_name("IntermediateGenerated"), LCA_EVT_INTERMEDIATE_GENERATED);
    CU_ASSERT_EQUAL(lca_catalog_evt_from_name("RevocationForwarded"), LCA_EVT_REVOCATION_FORWARDED);
}

/* ---- command parse ----------------------------------------------------------------------- */

static struct lca_command *parse_ok(const uint8_t *buf, size_t len, const char *ct)
{
    struct lca_command *c = NULL;
    struct lca_err err;

    lca_err_clear(&err);
    CU_ASSERT_EQUAL(lca_command_parse(buf, len, ct, &c, &err), LCA_OK);
    if (c == NULL) {
        fprintf(stderr, "\n  parse failed: %s: %s\n", err.code, err.msg);
    }
    return c;
}

static void parse_fail(const uint8_t *buf, size_t len, const char *ct, const char *code,
                       struct lca_err *err)
{
    struct lca_command *c = CSENT;

    lca_err_clear(err);
    CU_ASSERT_EQUAL(lca_command_parse(buf, len, ct, &c, err), LCA_FAIL);
    CU_ASSERT_PTR_EQUAL(c, CSENT);
    CU_ASSERT_EQUAL(err->cls, LCA_ERR_BAD_INPUT);
    CU_ASSERT_STRING_EQUAL(err->code, code);
    if (strcmp(err->code, code) != 0) {
        fprintf(stderr, "\n  expected %s, got %s: %s\n", code, err->code, err->msg);
    }
}

static void json_fail(const char *json, const char *code)
{
    struct lca_err err;

    parse_fail((const uint8_t *)json, strlen(json), "application/json", code, &err);
}

static void test_parse_json_full(void)
{
    static const char in[] = "  {\"command_id\": \"" UUID_UC "\", \"type\": \"sign\","
                             "\"correlation_id\": \"corr-1\", \"reply_to\": \"team.replies_2\","
                             "\"token\": \"s3cret\", \"future_field\": [1, {\"x\": 2}],"
                             "\"payload\": {\"role\": \"web\", \"ttl\": \"3600\"}}";
    struct lca_command *c = parse_ok(TXT(in), NULL); /* sniffed as JSON */

    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_STRING_EQUAL(c->command_id, UUID_LC);
    CU_ASSERT_EQUAL(c->type, LCA_CMD_SIGN);
    CU_ASSERT_STRING_EQUAL(c->correlation_id, "corr-1");
    CU_ASSERT_STRING_EQUAL(c->reply_to, "team.replies_2");
    CU_ASSERT_STRING_EQUAL(c->token, "s3cret");
    CU_ASSERT_STRING_EQUAL(lca_val_map_get_str(c->payload, "role"), "web");
    CU_ASSERT_EQUAL(lca_val_map_get_int(c->payload, "ttl", 0), 3600);
    lca_command_free(c);
}

static void test_parse_defaults(void)
{
    static const char in[] = "{\"command_id\":\"" UUID_LC "\",\"type\":\"tidy\",\"token\":null}";
    static const char nil_payload[] =
        "{\"command_id\":\"" UUID_LC "\",\"type\":\"tidy\",\"payload\":null}";
    struct lca_command *c = parse_ok(TXT(in), "application/json; charset=utf-8");

    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_STRING_EQUAL(c->correlation_id, UUID_LC);
    CU_ASSERT_STRING_EQUAL(c->reply_to, "ledgerca.replies");
    CU_ASSERT_PTR_NULL(c->token);
    CU_ASSERT_EQUAL(lca_val_kind(c->payload), LCA_VAL_MAP);
    CU_ASSERT_EQUAL(lca_val_len(c->payload), 0);
    lca_command_free(c);
    c = parse_ok(TXT(nil_payload), " Application/JSON ");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(lca_val_kind(c->payload), LCA_VAL_MAP);
    lca_command_free(c);
    lca_command_free(NULL);
}

static void test_parse_bad_ids_and_types(void)
{
    static const char *bad_ids[] = {
        "0f8fad5b-d9cb-469f-a165-70867728950",   /* 35 chars */
        "0f8fad5b-d9cb-469f-a165-70867728950ef", /* 37 chars */
        "0f8fad5bd-9cb-469f-a165-70867728950e",  /* dash misplaced */
        "0f8fad5b-d9cb-469f-a165-70867728950g",  /* not hex */
        "{f8fad5b-d9cb-469f-a165-70867728950}",
        "",
    };
    char buf[256];
    size_t k;
    struct lca_err err;

    for (k = 0; k < sizeof(bad_ids) / sizeof(bad_ids[0]); k++) {
        snprintf(buf, sizeof(buf), "{\"command_id\":\"%s\",\"type\":\"issue\"}", bad_ids[k]);
        json_fail(buf, "bad_command_id");
    }
    json_fail("{\"type\":\"issue\"}", "missing_field");
    json_fail("{\"command_id\":7,\"type\":\"issue\"}", "bad_field");
    json_fail("{\"command_id\":\"" UUID_LC "\"}", "missing_field");
    json_fail("{\"command_id\":\"" UUID_LC "\",\"type\":[\"issue\"]}", "bad_field");
    parse_fail(TXT("{\"command_id\":\"" UUID_LC "\",\"type\":\"mint-money\",\"token\":\"tok-XYZ\"}"),
               NULL, "unknown_type", &err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "\"mint-money\""));
    CU_ASSERT_PTR_NULL(strstr(err.msg, "tok-XYZ")); /* never the token */
    parse_fail(TXT("{\"command_id\":\"" UUID_LC "\",\"type\":\"is\\nsue\"}"), NULL,
               "unknown_type", &err);
    CU_ASSERT_PTR_NULL(strchr(err.msg, '\n'));
}

static void test_parse_bad_fields(void)
{
    char big[400];
    char buf[600];

    json_fail("[1,2]", "bad_command");
    json_fail("\"issue\"", "bad_command");
    json_fail("{\"command_id\":\"" UUID_LC "\",\"type\":\"issue\",\"payload\":[1]}", "bad_field");
    json_fail("{\"command_id\":\"" UUID_LC "\",\"type\":\"issue\",\"payload\":\"x\"}",
              "bad_field");
    json_fail("{\"command_id\":\"" UUID_LC "\",\"type\":\"issue\",\"token\":\"\"}", "bad_field");
    json_fail("{\"command_id\":\"" UUID_LC "\",\"type\":\"issue\",\"token\":5}", "bad_field");
    json_fail("{\"command_id\":\"" UUID_LC "\",\"type\":\"issue\",\"reply_to\":\"a b\"}",
              "bad_field");
    json_fail("{\"command_id\":\"" UUID_LC "\",\"type\":\"issue\",\"reply_to\":\"..\"}",
              "bad_field");
    json_fail("{\"command_id\":\"" UUID_LC "\",\"type\":\"issue\",\"reply_to\":\"\"}",
              "bad_field");
    json_fail("{\"command_id\":\"" UUID_LC "\",\"type\":\"issue\",\"correlation_id\":\"\"}",
              "bad_field");
    /* Length limits, at and one past the edge. */
    memset(big, 'a', sizeof(big));
    big[128] = '\0';
    snprintf(buf, sizeof(buf),
             "{\"command_id\":\"" UUID_LC "\",\"type\":\"issue\",\"correlation_id\":\"%s\"}", big);
    lca_command_free(parse_ok((const uint8_t *)buf, strlen(buf), NULL));
    big[128] = 'a';
    big[129] = '\0';
    snprintf(buf, sizeof(buf),
             "{\"command_id\":\"" UUID_LC "\",\"type\":\"issue\",\"correlation_id\":\"%s\"}", big);
    json_fail(buf, "bad_field");
    big[129] = 'a';
    big[249] = '\0';
    snprintf(buf, sizeof(buf),
             "{\"command_id\":\"" UUID_LC "\",\"type\":\"issue\",\"reply_to\":\"%s\"}", big);
    lca_command_free(parse_ok((const uint8_t *)buf, strlen(buf), NULL));
    big[249] = 'a';
    big[250] = '\0';
    snprintf(buf, sizeof(buf),
             "{\"command_id\":\"" UUID_LC "\",\"type\":\"issue\",\"reply_to\":\"%s\"}", big);
    json_fail(buf, "bad_field");
}

static void test_parse_token_limit(void)
{
    size_t n = LCA_COMMAND_MAX_TOKEN + 1;
    char *buf = malloc(n + 200);
    int len;
    struct lca_command *c;
    struct lca_err err;

    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    len = snprintf(buf, 200, "{\"command_id\":\"" UUID_LC "\",\"type\":\"issue\",\"token\":\"");
    memset(buf + len, 't', n);
    memcpy(buf + (size_t)len + n, "\"}", 3);
    parse_fail((const uint8_t *)buf, strlen(buf), NULL, "bad_field", &err);
    memcpy(buf + (size_t)len + n - 1, "\"}", 3); /* exactly the maximum */
    c = parse_ok((const uint8_t *)buf, strlen(buf), NULL);
    CU_ASSERT_EQUAL(c != NULL ? strlen(c->token) : 0, LCA_COMMAND_MAX_TOKEN);
    lca_command_free(c);
    free(buf);
}

static void test_parse_hostile(void)
{
    size_t n = 10000;
    char *deep = malloc(n + 200);
    struct lca_err err;
    int len;

    CU_ASSERT_PTR_NOT_NULL_FATAL(deep);
    len = snprintf(deep, 200, "{\"command_id\":\"" UUID_LC "\",\"type\":\"issue\",\"payload\":");
    memset(deep + len, '[', n - (size_t)len);
    deep[n] = '\0';
    json_fail(deep, "too_deep");
    free(deep);
    json_fail("{\"command_id\":\"" UUID_LC "\",\"type\":\"issue\",\"type\":\"revoke\"}",
              "duplicate_key");
    json_fail("{\"command_id\":\"" UUID_LC "\",\"type\":\"iss", "truncated");
    parse_fail(TXT("{\"command_id\":\"" UUID_LC "\"}"), "application/msgpack",
               "trailing_bytes", &err); /* '{' is a fixint */
    parse_fail(TXT("\xdb\xff\xff\xff\xff" "abcde"), NULL, "too_large", &err);
    parse_fail(TXT("\xdf\xff\xff\xff\xff"), NULL, "truncated", &err);
    parse_fail(TXT(""), NULL, "truncated", &err);
    parse_fail(TXT("{}"), "text/plain", "bad_content_type", &err);
    parse_fail(TXT("{}"), "application/jsonx", "bad_content_type", &err);
    /* msgpack: NUL inside command_id */
    parse_fail(TXT("\x82\xaa" "command_id" "\xa4" "ab\0d" "\xa4" "type" "\xa5" "issue"), NULL,
               "bad_field", &err);
    /* msgpack: 0xc1 */
    parse_fail(TXT("\x81\xa4" "type" "\xc1"), NULL, "bad_msgpack", &err);
}

/* ---- command encode ---------------------------------------------------------------------- */

static void test_encode_round_trip(void)
{
    struct lca_command c;
    struct lca_command *back = NULL;
    uint8_t *out = NULL;
    size_t len = 0;
    struct lca_val *root = NULL;
    struct lca_err err;
    char token[] = "bearer-abc";

    memset(&c, 0, sizeof(c));
    memcpy(c.command_id, UUID_LC, 37);
    c.type = LCA_CMD_REVOKE;
    c.token = token;
    c.payload = lca_val_new_map();
    lca_val_map_set_str(c.payload, "serial", "0a:0b");
    lca_val_map_set_bin(c.payload, "raw", "\x00\x01", 2);
    CU_ASSERT_EQUAL_FATAL(lca_command_encode(&c, &out, &len, &err), LCA_OK);
    /* Canonical: keys sorted, so command_id comes first and type last. */
    CU_ASSERT_EQUAL_FATAL(lca_codec_decode(out, len, NULL, &root, &err), LCA_OK);
    CU_ASSERT_STRING_EQUAL(lca_val_map_key_at(root, 0), "command_id");
    CU_ASSERT_STRING_EQUAL(lca_val_map_key_at(root, 5), "type");
    lca_val_free(root);
    back = parse_ok(out, len, "application/msgpack");
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    CU_ASSERT_STRING_EQUAL(back->command_id, UUID_LC);
    CU_ASSERT_EQUAL(back->type, LCA_CMD_REVOKE);
    CU_ASSERT_STRING_EQUAL(back->correlation_id, UUID_LC);
    CU_ASSERT_STRING_EQUAL(back->reply_to, "ledgerca.replies");
    CU_ASSERT_STRING_EQUAL(back->token, "bearer-abc");
    CU_ASSERT_TRUE(lca_val_equal(back->payload, c.payload));
    lca_command_free(back);
    back = parse_ok(out, len, NULL); /* sniffed: 0x86 is not '{' */
    CU_ASSERT_PTR_NOT_NULL(back);
    lca_command_free(back);
    free(out);
    lca_val_free(c.payload);
}

static void test_encode_refuses(void)
{
    struct lca_command c;
    uint8_t *out = NULL;
    size_t len = 0;
    struct lca_err err;

    memset(&c, 0, sizeof(c));
    memcpy(c.command_id, UUID_LC, 37);
    CU_ASSERT_EQUAL(lca_command_encode(&c, &out, &len, &err), LCA_FAIL); /* type NONE */
    CU_ASSERT_STRING_EQUAL(err.code, "bad_command");
    c.type = LCA_CMD_ISSUE;
    c.command_id[3] = 'x';
    CU_ASSERT_EQUAL(lca_command_encode(&c, &out, &len, &err), LCA_FAIL);
    memcpy(c.command_id, UUID_LC, 37);
    c.payload = lca_val_new_arr();
    CU_ASSERT_EQUAL(lca_command_encode(&c, &out, &len, &err), LCA_FAIL);
    lca_val_free(c.payload);
    c.payload = NULL; /* NULL payload encodes an empty map */
    CU_ASSERT_EQUAL_FATAL(lca_command_encode(&c, &out, &len, &err), LCA_OK);
    free(out);
    CU_ASSERT_EQUAL(lca_command_encode(NULL, &out, &len, &err), LCA_FAIL);
}

/* ---- events ------------------------------------------------------------------------------ */

static struct lca_event *revoked_event(int order)
{
    struct lca_val *p = lca_val_new_map();

    if (order) {
        lca_val_map_set_int(p, "at", 5);
        lca_val_map_set_str(p, "serial", "01");
    } else {
        lca_val_map_set_str(p, "serial", "01");
        lca_val_map_set_int(p, "at", 5);
    }
    return lca_event_new(LCA_EVT_CERT_REVOKED, p);
}

static void test_event_canonical(void)
{
    /* {"payload": {"at": 5, "serial": "01"}, "type": "CertificateRevoked", "v": 1} */
    static const char want[] = "\x83"
                               "\xa7" "payload" "\x82\xa2" "at" "\x05\xa6" "serial" "\xa2" "01"
                               "\xa4" "type" "\xb2" "CertificateRevoked"
                               "\xa1" "v" "\x01";
    struct lca_event *a = revoked_event(0);
    struct lca_event *b = revoked_event(1);
    struct lca_event *back = NULL;
    uint8_t *ea = NULL, *eb = NULL, *ec = NULL;
    size_t la = 0, lb = 0, lc = 0;
    struct lca_err err;

    CU_ASSERT_EQUAL_FATAL(lca_event_canonical(a, &ea, &la, &err), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_event_canonical(b, &eb, &lb, &err), LCA_OK);
    CU_ASSERT_EQUAL(la, sizeof(want) - 1);
    CU_ASSERT_TRUE(la == sizeof(want) - 1 && memcmp(ea, want, la) == 0);
    CU_ASSERT_TRUE(la == lb && memcmp(ea, eb, la) == 0);
    CU_ASSERT_EQUAL_FATAL(lca_event_decode(ea, la, &back, &err), LCA_OK);
    CU_ASSERT_EQUAL(back->type, LCA_EVT_CERT_REVOKED);
    CU_ASSERT_TRUE(lca_val_equal(back->payload, a->payload));
    CU_ASSERT_EQUAL_FATAL(lca_event_canonical(back, &ec, &lc, &err), LCA_OK);
    CU_ASSERT_TRUE(la == lc && memcmp(ea, ec, la) == 0);
    free(ea);
    free(eb);
    free(ec);
    lca_event_free(a);
    lca_event_free(b);
    lca_event_free(back);
    lca_event_free(NULL);
}

static void event_decode_fail(struct lca_val *root, const char *code)
{
    struct lca_event *e = (struct lca_event *)CSENT;
    uint8_t *buf = NULL;
    size_t len = 0;
    struct lca_err err;

    CU_ASSERT_EQUAL_FATAL(lca_codec_encode(root, &buf, &len, &err), LCA_OK);
    lca_err_clear(&err);
    CU_ASSERT_EQUAL(lca_event_decode(buf, len, &e, &err), LCA_FAIL);
    CU_ASSERT_PTR_EQUAL(e, (struct lca_event *)CSENT);
    CU_ASSERT_STRING_EQUAL(err.code, code);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    free(buf);
    lca_val_free(root);
}

static struct lca_val *envelope(const char *type, int64_t v, struct lca_val *payload)
{
    struct lca_val *m = lca_val_new_map();

    lca_val_map_set_str(m, "type", type);
    lca_val_map_set_int(m, "v", v);
    if (payload != NULL) {
        lca_val_map_set(m, "payload", payload);
    }
    return m;
}

static void test_event_decode_rejects(void)
{
    struct lca_val *m;
    struct lca_event *e = NULL;
    struct lca_err err;

    event_decode_fail(envelope("CertificateRevoked", 2, lca_val_new_map()),
                      "unsupported_version");
    event_decode_fail(envelope("CertificateMinted", 1, lca_val_new_map()), "unknown_type");
    event_decode_fail(envelope("CertificateRevoked", 1, NULL), "bad_event");
    event_decode_fail(envelope("CertificateRevoked", 1, lca_val_new_arr()), "bad_event");
    m = envelope("CertificateRevoked", 1, lca_val_new_map());
    lca_val_map_set_int(m, "extra", 0);
    event_decode_fail(m, "bad_event");
    m = envelope("CertificateRevoked", 1, lca_val_new_map());
    lca_val_map_set_bool(m, "v", 1);
    event_decode_fail(m, "bad_event");
    event_decode_fail(lca_val_new_str("CertificateRevoked"), "bad_event");
    CU_ASSERT_EQUAL(lca_event_decode((const uint8_t *)"\x83\xa7" "pay", 5, &e, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "truncated");
    CU_ASSERT_PTR_NULL(e);
}

static void test_event_canonical_refuses(void)
{
    struct lca_event *e = lca_event_new(LCA_EVT_NONE, lca_val_new_map());
    uint8_t *out = NULL;
    size_t len = 0;
    struct lca_err err;

    CU_ASSERT_PTR_NULL(lca_event_new(LCA_EVT_TIDIED, NULL));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(lca_event_canonical(e, &out, &len, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "bad_event");
    e->type = (enum lca_evt_type)500;
    CU_ASSERT_EQUAL(lca_event_canonical(e, &out, &len, &err), LCA_FAIL);
    e->type = LCA_EVT_TIDIED;
    lca_val_map_set(e->payload, "x", NULL); /* broken payload */
    CU_ASSERT_EQUAL(lca_event_canonical(e, &out, &len, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "broken_value");
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_FATAL);
    lca_val_free(e->payload);
    e->payload = lca_val_new_arr();
    CU_ASSERT_EQUAL(lca_event_canonical(e, &out, &len, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "bad_event");
    CU_ASSERT_EQUAL(lca_event_canonical(NULL, &out, &len, &err), LCA_FAIL);
    CU_ASSERT_PTR_NULL(out);
    lca_event_free(e);
}

int main(void)
{
    static const struct lca_cu_test tests[] = {
        {"catalog_commands", test_catalog_commands},
        {"catalog_events", test_catalog_events},
        {"parse_json_full", test_parse_json_full},
        {"parse_defaults", test_parse_defaults},
        {"parse_bad_ids_and_types", test_parse_bad_ids_and_types},
        {"parse_bad_fields", test_parse_bad_fields},
        {"parse_token_limit", test_parse_token_limit},
        {"parse_hostile", test_parse_hostile},
        {"encode_round_trip", test_encode_round_trip},
        {"encode_refuses", test_encode_refuses},
        {"event_canonical", test_event_canonical},
        {"event_decode_rejects", test_event_decode_rejects},
        {"event_canonical_refuses", test_event_canonical_refuses},
    };

    return LCA_CU_MAIN("command", NULL, NULL, tests);
}
