/*
 * test_role — role parsing (Vault defaults, accepted shapes, validation), the name policy
 * (every option on and off, allowed and denied), key checks, TTLs and leaf_not_after_behavior.
 * Expected values and messages come from Vault's PKI API documentation and behaviour.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curun.h"
#include "json.h"
#include "names.h"
#include "role.h"
#include "val.h"

/* The LCA_KU_* / LCA_EKU_* numbers role.h documents (engine/cert.h). */
enum { KU_DS = 1, KU_KE = 2, KU_KA = 4, KU_CS = 8, KU_CRL = 16, KU_CC = 32, KU_DE = 64 };
enum { EKU_SRV = 1, EKU_CLI = 2, EKU_CODE = 4, EKU_EMAIL = 8, EKU_TS = 16, EKU_OCSP = 32 };

#define MAX_ITEMS 8

/* "k=v;k=v" -> map of strings (Vault accepts strings for bools, lists and durations). */
static struct lca_val *payload(const char *spec)
{
    struct lca_val *m = lca_val_new_map();
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", spec != NULL ? spec : "");
    for (char *item = buf; item != NULL && *item != '\0';) {
        char *next = strchr(item, ';');
        if (next != NULL) {
            *next++ = '\0';
        }
        char *eq = strchr(item, '=');
        CU_ASSERT_FATAL(eq != NULL);
        *eq = '\0';
        lca_val_map_set_str(m, item, eq + 1);
        item = next;
    }
    CU_ASSERT_FATAL(lca_val_ok(m));
    return m;
}

static struct lca_role *mk(const char *spec)
{
    struct lca_val *p = payload(spec);
    struct lca_role *r = NULL;
    struct lca_err err;
    lca_err_clear(&err);
    int rc = lca_role_parse("web", p, &r, &err);
    if (rc != LCA_OK) {
        fprintf(stderr, "parse '%s': %s\n", spec, err.msg);
    }
    CU_ASSERT_FATAL(rc == LCA_OK);
    lca_val_free(p);
    return r;
}

/* Splits a comma list into v (pointers into buf). */
static size_t split(const char *list, char *buf, size_t cap, const char **v)
{
    size_t n = 0;
    if (list == NULL || *list == '\0') {
        return 0;
    }
    snprintf(buf, cap, "%s", list);
    for (char *p = buf; p != NULL && n < MAX_ITEMS;) {
        v[n++] = p;
        p = strchr(p, ',');
        if (p != NULL) {
            *p++ = '\0';
        }
    }
    return n;
}

/* ---- defaults ---------------------------------------------------------------------- */

static void assert_list(const struct lca_val *m, const char *key, const char *csv)
{
    const char *want[MAX_ITEMS];
    char buf[256];
    size_t n = split(csv, buf, sizeof(buf), want);
    const struct lca_val *a = lca_val_map_get(m, key);
    CU_ASSERT_EQUAL_FATAL(lca_val_kind(a), LCA_VAL_ARR);
    CU_ASSERT_EQUAL(lca_val_len(a), n);
    for (size_t i = 0; i < n && i < lca_val_len(a); i++) {
        CU_ASSERT_STRING_EQUAL(lca_val_str(lca_val_arr_at(a, i)), want[i]);
    }
}

static void assert_bool(const struct lca_val *m, const char *key, int want)
{
    const struct lca_val *v = lca_val_map_get(m, key);
    CU_ASSERT_EQUAL(lca_val_kind(v), LCA_VAL_BOOL);
    if (lca_val_bool(v) != want) {
        fprintf(stderr, "field %s: want %d\n", key, want);
    }
    CU_ASSERT_EQUAL(lca_val_bool(v), want);
}

static void assert_int(const struct lca_val *m, const char *key, int64_t want)
{
    const struct lca_val *v = lca_val_map_get(m, key);
    CU_ASSERT_EQUAL(lca_val_kind(v), LCA_VAL_INT);
    CU_ASSERT_EQUAL(lca_val_int(v), want);
}

static void assert_str(const struct lca_val *m, const char *key, const char *want)
{
    const struct lca_val *v = lca_val_map_get(m, key);
    CU_ASSERT_EQUAL_FATAL(lca_val_kind(v), LCA_VAL_STR);
    CU_ASSERT_STRING_EQUAL(lca_val_str(v), want);
}

static void check_defaults(const struct lca_val *m)
{
    static const struct {
        const char *k;
        int v;
    } bools[] = {{"allow_localhost", 1},           {"allowed_domains_template", 0},
                 {"allow_bare_domains", 0},        {"allow_token_displayname", 0},
                 {"allow_subdomains", 0},          {"allow_glob_domains", 0},
                 {"allow_wildcard_certificates", 1}, {"allow_any_name", 0},
                 {"allowed_uri_sans_template", 0}, {"enforce_hostnames", 1},
                 {"allow_ip_sans", 1},             {"server_flag", 1},
                 {"client_flag", 1},               {"code_signing_flag", 0},
                 {"email_protection_flag", 0},     {"use_csr_common_name", 1},
                 {"use_csr_sans", 1},              {"use_pss", 0},
                 {"no_store", 0},                  {"no_store_metadata", 0},
                 {"require_cn", 1},                {"basic_constraints_valid_for_non_ca", 0},
                 {"generate_lease", 0}};
    static const char *const empty_lists[] = {
        "allowed_domains", "ext_key_usage", "ext_key_usage_oids", "ou", "organization",
        "country", "locality", "province", "street_address", "postal_code",
        "allowed_other_sans", "allowed_serial_numbers", "allowed_user_ids", "allowed_uri_sans",
        "policy_identifiers"};
    for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
        assert_bool(m, bools[i].k, bools[i].v);
    }
    for (size_t i = 0; i < sizeof(empty_lists) / sizeof(empty_lists[0]); i++) {
        assert_list(m, empty_lists[i], "");
    }
    assert_int(m, "ttl", 0);
    assert_int(m, "max_ttl", 0);
    assert_int(m, "not_before_duration", 30);
    assert_str(m, "key_type", "rsa");
    assert_int(m, "key_bits", 2048);     /* Vault stores the defaulted size */
    assert_int(m, "signature_bits", 256); /* SHA-256 for RSA */
    assert_list(m, "key_usage", "DigitalSignature,KeyAgreement,KeyEncipherment");
    assert_list(m, "cn_validations", "email,hostname");
    assert_str(m, "not_after", "");
    assert_str(m, "issuer_ref", "default");
    assert_str(m, "serial_number_source", "json-csr");
    /* every field present, nothing else: 23 bools + 15 empty lists + 11 others */
    CU_ASSERT_EQUAL(lca_val_len(m), 49u);
}

static void test_defaults(void)
{
    struct lca_role *r = mk("");
    struct lca_val *m = lca_role_to_val(r);
    CU_ASSERT_FATAL(m != NULL);
    check_defaults(m);
    CU_ASSERT_STRING_EQUAL(lca_role_name(r), "web");
    CU_ASSERT_STRING_EQUAL(lca_role_issuer_ref(r), "default");
    CU_ASSERT_EQUAL(lca_role_no_store(r), 0);
    CU_ASSERT_EQUAL(lca_role_key_usage(r), (unsigned)(KU_DS | KU_KA | KU_KE));
    CU_ASSERT_EQUAL(lca_role_ext_key_usage(r), (unsigned)(EKU_SRV | EKU_CLI));
    struct lca_keyspec ks;
    lca_role_keyspec(r, &ks);
    CU_ASSERT_EQUAL(ks.type, LCA_KEY_RSA);
    CU_ASSERT_EQUAL(ks.bits, 2048);
    lca_val_free(m);
    lca_role_free(r);

    /* a nil payload and explicit nulls also take the defaults */
    struct lca_val *nil = lca_val_new_nil();
    struct lca_val *nulls = lca_val_new_map();
    lca_val_map_set(nulls, "allow_localhost", lca_val_new_nil());
    struct lca_val *pl[2] = {nil, nulls};
    for (int i = 0; i < 2; i++) {
        struct lca_err err;
        CU_ASSERT_FATAL(lca_role_parse("web", pl[i], &r, &err) == LCA_OK);
        m = lca_role_to_val(r);
        check_defaults(m);
        lca_val_free(m);
        lca_role_free(r);
        lca_val_free(pl[i]);
    }
}

/* ---- accepted input shapes ------------------------------------------------------------ */

static int64_t field_int(const char *spec, const char *key)
{
    struct lca_role *r = mk(spec);
    struct lca_val *m = lca_role_to_val(r);
    int64_t v = lca_val_int(lca_val_map_get(m, key));
    lca_val_free(m);
    lca_role_free(r);
    return v;
}

static int field_bool(const char *spec, const char *key)
{
    struct lca_role *r = mk(spec);
    struct lca_val *m = lca_role_to_val(r);
    const struct lca_val *v = lca_val_map_get(m, key);
    CU_ASSERT_EQUAL(lca_val_kind(v), LCA_VAL_BOOL);
    int b = lca_val_bool(v);
    lca_val_free(m);
    lca_role_free(r);
    return b;
}

static void test_durations(void)
{
    static const struct {
        const char *in;
        int64_t secs;
    } cases[] = {{"3600", 3600},  {"72h", 259200}, {"30m", 1800}, {"1h30m", 5400},
                 {"90s", 90},     {"1.5h", 5400},  {"7d", 604800}, {"", 0},
                 {"0", 0},        {"1500ms", 1},   {"2h0m0s", 7200}};
    char spec[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(spec, sizeof(spec), "max_ttl=%s", cases[i].in);
        CU_ASSERT_EQUAL(field_int(spec, "max_ttl"), cases[i].secs);
    }
    /* integers are seconds */
    struct lca_val *p = lca_val_new_map();
    lca_val_map_set_int(p, "ttl", 120);
    lca_val_map_set_int(p, "not_before_duration", 0);
    struct lca_role *r = NULL;
    struct lca_err err;
    CU_ASSERT_FATAL(lca_role_parse("web", p, &r, &err) == LCA_OK);
    struct lca_val *m = lca_role_to_val(r);
    assert_int(m, "ttl", 120);
    assert_int(m, "not_before_duration", 0);
    lca_val_free(m);
    lca_role_free(r);
    lca_val_free(p);
}

static void test_shapes(void)
{
    /* a list as an array and as a comma-separated string (spaces trimmed) are the same */
    struct lca_val *p = lca_val_new_map();
    struct lca_val *arr = lca_val_new_arr();
    lca_val_arr_push(arr, lca_val_new_str("example.com"));
    lca_val_arr_push(arr, lca_val_new_str("example.org"));
    lca_val_map_set(p, "allowed_domains", arr);
    lca_val_map_set_bool(p, "allow_subdomains", 1);
    lca_val_map_set_int(p, "key_bits", 4096);
    struct lca_role *a = NULL;
    struct lca_err err;
    CU_ASSERT_FATAL(lca_role_parse("web", p, &a, &err) == LCA_OK);
    struct lca_role *b = mk("allowed_domains=example.com, example.org,;allow_subdomains=true;"
                            "key_bits=4096");
    struct lca_val *ma = lca_role_to_val(a), *mb = lca_role_to_val(b);
    CU_ASSERT(lca_val_equal(ma, mb));
    assert_list(mb, "allowed_domains", "example.com,example.org");
    assert_bool(mb, "allow_subdomains", 1);
    assert_int(mb, "key_bits", 4096);

    /* the normalised form parses back to itself */
    struct lca_role *c = NULL;
    CU_ASSERT_FATAL(lca_role_parse("web", mb, &c, &err) == LCA_OK);
    struct lca_val *mc = lca_role_to_val(c);
    CU_ASSERT(lca_val_equal(mb, mc));

    /* bool spellings Vault accepts */
    CU_ASSERT_EQUAL(field_bool("allow_localhost=false", "allow_localhost"), 0);
    CU_ASSERT_EQUAL(field_bool("allow_localhost=0", "allow_localhost"), 0);
    CU_ASSERT_EQUAL(field_bool("allow_localhost=F", "allow_localhost"), 0);
    CU_ASSERT_EQUAL(field_bool("allow_any_name=True", "allow_any_name"), 1);
    CU_ASSERT_EQUAL(field_bool("allow_any_name=1", "allow_any_name"), 1);
    CU_ASSERT_EQUAL(field_bool("allow_any_name=TRUE", "allow_any_name"), 1);
    lca_val_free(ma);
    lca_val_free(mb);
    lca_val_free(mc);
    lca_role_free(a);
    lca_role_free(b);
    lca_role_free(c);
    lca_val_free(p);
}

static void test_normalise(void)
{
    struct lca_role *r = mk("key_type=ec;key_usage=digitalsignature, CERTSIGN;cn_validations=Email;"
                            "issuer_ref=;no_store=true;generate_lease=true;"
                            "ext_key_usage=timestamping");
    struct lca_val *m = lca_role_to_val(r);
    assert_int(m, "key_bits", 256);
    assert_int(m, "signature_bits", 256);
    assert_list(m, "key_usage", "DigitalSignature,CertSign");
    assert_list(m, "ext_key_usage", "TimeStamping");
    assert_list(m, "cn_validations", "email");
    assert_str(m, "issuer_ref", "default");
    assert_bool(m, "no_store", 1);
    assert_bool(m, "generate_lease", 0); /* no_store implies generate_lease=false */
    CU_ASSERT_EQUAL(lca_role_no_store(r), 1);
    CU_ASSERT_EQUAL(lca_role_key_usage(r), (unsigned)(KU_DS | KU_CS));
    lca_val_free(m);
    lca_role_free(r);

    static const struct {
        const char *spec;
        int64_t bits, sig;
        enum lca_key_type kt;
        int kbits;
    } keys[] = {{"key_type=ec;key_bits=384", 384, 384, LCA_KEY_EC, 384},
                {"key_type=rsa;key_bits=3072;signature_bits=512", 3072, 512, LCA_KEY_RSA, 3072},
                {"key_type=ed25519;key_bits=4096", 0, 0, LCA_KEY_ED25519, 0},
                {"key_type=any;key_bits=2048", 0, 0, LCA_KEY_EC, 256}};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        r = mk(keys[i].spec);
        m = lca_role_to_val(r);
        assert_int(m, "key_bits", keys[i].bits);
        assert_int(m, "signature_bits", keys[i].sig);
        struct lca_keyspec ks;
        lca_role_keyspec(r, &ks);
        CU_ASSERT_EQUAL(ks.type, keys[i].kt);
        CU_ASSERT_EQUAL(ks.bits, keys[i].kbits);
        lca_val_free(m);
        lca_role_free(r);
    }
}

static void test_usages(void)
{
    static const struct {
        const char *spec;
        unsigned ku, eku;
    } cases[] = {
        {"key_usage=", 0, EKU_SRV | EKU_CLI},
        {"key_usage=ContentCommitment,DataEncipherment,CRLSign", KU_CC | KU_DE | KU_CRL,
         EKU_SRV | EKU_CLI},
        {"server_flag=false;client_flag=false", KU_DS | KU_KA | KU_KE, 0},
        {"server_flag=false;client_flag=false;code_signing_flag=true", KU_DS | KU_KA | KU_KE,
         EKU_CODE},
        {"server_flag=false;email_protection_flag=true", KU_DS | KU_KA | KU_KE,
         EKU_CLI | EKU_EMAIL},
        {"server_flag=false;client_flag=false;ext_key_usage=TimeStamping,OCSPSigning",
         KU_DS | KU_KA | KU_KE, EKU_TS | EKU_OCSP},
        {"client_flag=false;ext_key_usage=ServerAuth,Any", KU_DS | KU_KA | KU_KE, EKU_SRV | 64u},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lca_role *r = mk(cases[i].spec);
        CU_ASSERT_EQUAL(lca_role_key_usage(r), cases[i].ku);
        CU_ASSERT_EQUAL(lca_role_ext_key_usage(r), cases[i].eku);
        lca_role_free(r);
    }
}

/* A role written as JSON (the fields of Vault's "read role" sample), normalised, encoded
 * as JSON again and parsed back: the same role. */
static void test_json_round_trip(void)
{
    static const char in[] =
        "{\"allow_any_name\": false, \"allow_ip_sans\": true, \"allow_localhost\": true,"
        " \"allow_subdomains\": false, \"allowed_domains\": [\"example.com\", \"foobar.com\"],"
        " \"allowed_uri_sans\": [\"example.com\", \"spiffe://*\"],"
        " \"allowed_other_sans\": [\"1.3.6.1.4.1.311.20.2.3;utf8:devops@example.com\","
        " \"1.3.6.1.4.1.311.20.2.4;UTF-8:*\"], \"client_flag\": true,"
        " \"code_signing_flag\": false, \"key_bits\": 2048, \"key_type\": \"rsa\","
        " \"ttl\": \"6h\", \"max_ttl\": \"12h\", \"server_flag\": true}";
    struct lca_val *p = NULL, *m = NULL, *p2 = NULL, *m2 = NULL;
    struct lca_role *r = NULL, *r2 = NULL;
    struct lca_err err;
    char *txt = NULL;
    size_t len = 0;
    CU_ASSERT_FATAL(lca_json_decode(in, sizeof(in) - 1, NULL, &p, &err) == LCA_OK);
    CU_ASSERT_FATAL(lca_role_parse("my-role", p, &r, &err) == LCA_OK);
    m = lca_role_to_val(r);
    assert_int(m, "ttl", 6 * 3600);
    assert_int(m, "max_ttl", 12 * 3600);
    assert_list(m, "allowed_uri_sans", "example.com,spiffe://*");
    CU_ASSERT_FATAL(lca_json_encode(m, &txt, &len, &err) == LCA_OK);
    CU_ASSERT_FATAL(lca_json_decode(txt, len, NULL, &p2, &err) == LCA_OK);
    CU_ASSERT_FATAL(lca_role_parse("my-role", p2, &r2, &err) == LCA_OK);
    m2 = lca_role_to_val(r2);
    CU_ASSERT(lca_val_equal(m, m2));
    const char *uris[] = {"spiffe://cluster/ns/a"};
    CU_ASSERT_EQUAL(lca_role_check_names(r2, "www.foobar.com", NULL, 0, NULL, 0, uris, 1, &err),
                    LCA_FAIL); /* allow_subdomains false */
    CU_ASSERT_EQUAL(lca_role_check_names(r2, "localhost", NULL, 0, NULL, 0, uris, 1, &err),
                    LCA_OK);
    free(txt);
    lca_val_free(p);
    lca_val_free(p2);
    lca_val_free(m);
    lca_val_free(m2);
    lca_role_free(r);
    lca_role_free(r2);
}

/* ---- parse errors --------------------------------------------------------------------- */

static void test_parse_errors(void)
{
    static const struct {
        const char *spec;
        const char *code;
        const char *msg_part;
    } cases[] = {
        {"allowed_domain=example.com", "unknown_field", "allowed_domain"},
        {"key_bits=1024", "bad_key", "rsa/1024"},
        {"key_bits=8192", "bad_key", "rsa/8192"},
        {"key_type=ec;key_bits=521", "bad_key", "ec/521"},
        {"key_type=ec;key_bits=224", "bad_key", "ec/224"},
        {"key_type=ec;key_bits=2048", "bad_key", "ec/2048"},
        {"key_type=dsa", "bad_key", "dsa"},
        {"signature_bits=123", "bad_key", "signature_bits"},
        {"key_bits=lots", "bad_field", "key_bits"},
        {"ttl=abc", "bad_field", "ttl"},
        {"ttl=-5s", "bad_field", "ttl"},
        {"ttl=10x", "bad_field", "ttl"},
        {"max_ttl=5h3", "bad_field", "max_ttl"},
        {"ttl=2h;max_ttl=1h", "bad_ttl", "\"ttl\" value must be less than \"max_ttl\" value"},
        {"key_usage=DigitalSignature,Foo", "bad_key_usage", "unrecognized value Foo"},
        {"key_usage=EncipherOnly", "bad_key_usage", "unsupported value EncipherOnly"},
        {"ext_key_usage=Bogus", "bad_key_usage", "ext_key_usage"},
        {"ext_key_usage=IPSECTunnel", "bad_key_usage", "unsupported"},
        {"cn_validations=dns", "bad_field", "unknown type: `dns`"},
        {"cn_validations=disabled,email", "bad_field", "cannot specify `disabled`"},
        {"cn_validations=email,email", "bad_field", "specified multiple times"},
        {"allow_any_name=yes", "bad_field", "allow_any_name"},
        {"not_after=tomorrow", "bad_field", "not_after"},
        {"serial_number_source=csr", "bad_field", "serial_number_source"},
        {"ext_key_usage_oids=1.3.6.x", "bad_field", "ext_key_usage_oids"},
        {"policy_identifiers=1", "bad_field", "policy_identifiers"},
        {"allowed_other_sans=1.2.3", "bad_field", "allowed_other_sans"},
        {"name=other", "bad_field", "name"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lca_val *p = payload(cases[i].spec);
        struct lca_role *r = NULL;
        struct lca_err err;
        lca_err_clear(&err);
        int rc = lca_role_parse("web", p, &r, &err);
        if (rc == LCA_OK || strcmp(err.code, cases[i].code) != 0 ||
            strstr(err.msg, cases[i].msg_part) == NULL) {
            fprintf(stderr, "case '%s': rc %d code %s msg %s\n", cases[i].spec, rc, err.code,
                    err.msg);
        }
        CU_ASSERT_EQUAL(rc, LCA_FAIL);
        CU_ASSERT_PTR_NULL(r);
        CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
        CU_ASSERT_STRING_EQUAL(err.code, cases[i].code);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, cases[i].msg_part));
        lca_val_free(p);
    }
}

static void test_other_sans(void)
{
    static const struct {
        const char *v;
        int ok;
    } cases[] = {{"*", 1},
                 {"1.3.6.1.4.1.311.20.2.3;utf8:devops@example.com", 1},
                 {"1.3.6.1.4.1.311.20.2.4;UTF-8:*", 1},
                 {"1.2.3;IA5:x", 0},
                 {"x.y;UTF8:v", 0},
                 {"*,1.2.3;UTF8:v", 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lca_val *p = lca_val_new_map();
        lca_val_map_set_str(p, "allowed_other_sans", cases[i].v);
        struct lca_role *r = NULL;
        struct lca_err err;
        int rc = lca_role_parse("web", p, &r, &err);
        CU_ASSERT_EQUAL(rc, cases[i].ok ? LCA_OK : LCA_FAIL);
        if (rc == LCA_OK) {
            struct lca_val *m = lca_role_to_val(r);
            assert_list(m, "allowed_other_sans", cases[i].v);
            lca_val_free(m);
        }
        lca_role_free(r);
        lca_val_free(p);
    }
}

static void test_parse_bad_shapes(void)
{
    struct lca_err err;
    struct lca_role *r = NULL;
    struct lca_val *p = lca_val_new_map();
    struct lca_val *arr = lca_val_new_arr();
    lca_val_arr_push(arr, lca_val_new_int(7));
    lca_val_map_set(p, "allowed_domains", arr); /* list of non-strings */
    CU_ASSERT_EQUAL(lca_role_parse("web", p, &r, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "bad_field");
    lca_val_map_del(p, "allowed_domains");
    lca_val_map_set(p, "key_type", lca_val_new_strn("rsa\0x", 5)); /* embedded NUL */
    CU_ASSERT_EQUAL(lca_role_parse("web", p, &r, &err), LCA_FAIL);
    lca_val_map_del(p, "key_type");
    lca_val_map_set_int(p, "ttl", -1);
    CU_ASSERT_EQUAL(lca_role_parse("web", p, &r, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "bad_field");
    lca_val_free(p);

    struct lca_val *s = lca_val_new_str("not a map");
    CU_ASSERT_EQUAL(lca_role_parse("web", s, &r, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(lca_role_parse("", NULL, &r, &err), LCA_FAIL);
    CU_ASSERT_PTR_NULL(r);
    lca_val_free(s);
}

/* ---- name policy ------------------------------------------------------------------------ */

struct name_case {
    const char *spec; /* role fields */
    const char *cn;   /* common name or NULL */
    const char *dns;  /* comma list of DNS / email SANs or NULL */
    const char *msg;  /* NULL: allowed; else the exact denial message */
};

#define DOM "allowed_domains=example.com;"
#define CN_DENY(n) "common name " n " not allowed by this role"
#define SAN_DENY(n) "subject alternate name " n " not allowed by this role"

static const struct name_case NAME_CASES[] = {
    /* allow_localhost (default on) */
    {"", "localhost", NULL, NULL},
    {"", "localdomain", NULL, NULL},
    {"allow_localhost=false", "localhost", NULL, CN_DENY("localhost")},
    {"", "foo.localhost", NULL, CN_DENY("foo.localhost")},
    {"allow_subdomains=true", "foo.localhost", NULL, NULL},
    {"allow_subdomains=true", "*.localhost", NULL, NULL},
    {"", "example.com", NULL, CN_DENY("example.com")},
    /* allow_bare_domains */
    {DOM "allow_bare_domains=true", "example.com", NULL, NULL},
    {DOM "allow_bare_domains=true", "EXAMPLE.com", NULL, NULL},
    {DOM "allow_bare_domains=false", "example.com", NULL, CN_DENY("example.com")},
    {DOM "allow_bare_domains=true", "foo.example.com", NULL, CN_DENY("foo.example.com")},
    /* allow_subdomains: any depth, wildcards included; case-sensitive suffix as in Vault */
    {DOM "allow_subdomains=true", "foo.example.com", NULL, NULL},
    {DOM "allow_subdomains=true", "a.b.example.com", NULL, NULL},
    {DOM "allow_subdomains=true", "*.example.com", NULL, NULL},
    {DOM "allow_subdomains=true", "*.foo.example.com", NULL, NULL},
    {DOM "allow_subdomains=true", "example.com", NULL, CN_DENY("example.com")},
    {DOM "allow_subdomains=true", "fooexample.com", NULL, CN_DENY("fooexample.com")},
    {DOM "allow_subdomains=true", "example.com.evil.com", NULL, CN_DENY("example.com.evil.com")},
    {DOM "allow_subdomains=true", "foo.EXAMPLE.com", NULL, CN_DENY("foo.EXAMPLE.com")},
    {DOM "allow_subdomains=false", "foo.example.com", NULL, CN_DENY("foo.example.com")},
    /* allow_glob_domains: '*' crosses labels */
    {"allowed_domains=foo-*.example.com;allow_glob_domains=true", "foo-1.example.com", NULL, NULL},
    {"allowed_domains=foo-*.example.com;allow_glob_domains=true", "FOO-1.a.example.com", NULL,
     NULL},
    {"allowed_domains=foo-*.example.com;allow_glob_domains=true", "bar-1.example.com", NULL,
     CN_DENY("bar-1.example.com")},
    {"allowed_domains=foo-*.example.com;allow_glob_domains=false", "foo-1.example.com", NULL,
     CN_DENY("foo-1.example.com")},
    {"allowed_domains=*.example.com;allow_glob_domains=true", "*.example.com", NULL, NULL},
    /* Vault's documented wildcard interplay with bare and glob domains */
    {"allowed_domains=*.example.com;allow_bare_domains=true", "*.example.com", NULL, NULL},
    {"allowed_domains=*.example.com;allow_bare_domains=true;allow_wildcard_certificates=false",
     "*.example.com", NULL, CN_DENY("*.example.com")},
    {"allowed_domains=*.*.example.com;allow_glob_domains=true", "*.foo.example.com", NULL, NULL},
    /* the three matchers are independent (Vault's note on foo.*.example.com) */
    {"allowed_domains=foo.*.example.com;allow_glob_domains=true;allow_subdomains=true",
     "bar.foo.baz.example.com", NULL, CN_DENY("bar.foo.baz.example.com")},
    /* allow_wildcard_certificates: the four RFC 6125 forms; off beats every other option */
    {DOM "allow_subdomains=true", "f*o.example.com", NULL, NULL},
    {DOM "allow_subdomains=true", "foo*.example.com", NULL, NULL},
    {DOM "allow_subdomains=true", "*foo.example.com", NULL, NULL},
    {DOM "allow_subdomains=true", "*.*.example.com", NULL, CN_DENY("*.*.example.com")},
    {DOM "allow_subdomains=true", "a.*.example.com", NULL, CN_DENY("a.*.example.com")},
    {DOM "allow_subdomains=true", "**.example.com", NULL, CN_DENY("**.example.com")},
    {DOM "allow_subdomains=true", "-*.example.com", NULL, CN_DENY("-*.example.com")},
    {DOM "allow_subdomains=true;allow_wildcard_certificates=false", "*.example.com", NULL,
     CN_DENY("*.example.com")},
    {DOM "allow_subdomains=true;allow_wildcard_certificates=false", "foo.example.com", NULL, NULL},
    {"allow_any_name=true;allow_wildcard_certificates=false", "*.any.org", NULL,
     CN_DENY("*.any.org")},
    /* allow_any_name */
    {"allow_any_name=true", "anything.org", NULL, NULL},
    {"allow_any_name=false", "anything.org", NULL, CN_DENY("anything.org")},
    /* enforce_hostnames applies even with allow_any_name */
    {"allow_any_name=true", "bad_name.com", NULL, CN_DENY("bad_name.com")},
    {"allow_any_name=true", "-lead.com", NULL, CN_DENY("-lead.com")},
    {"allow_any_name=true", "trail-.com", NULL, CN_DENY("trail-.com")},
    {"allow_any_name=true", "a..com", NULL, CN_DENY("a..com")},
    {"allow_any_name=true", "My Service", NULL, CN_DENY("My Service")},
    {"allow_any_name=true", "xn--bcher-kva.example", NULL, NULL},
    {"allow_any_name=true", "1.2.3.4", NULL, NULL},
    {"allow_any_name=true;enforce_hostnames=false", "bad_name.com", NULL, NULL},
    {"allow_any_name=true;enforce_hostnames=false", "My Service", NULL, NULL},
    /* email-shaped names: the domain part is checked */
    {DOM "allow_bare_domains=true", "user@example.com", NULL, NULL},
    {DOM "allow_subdomains=true", "user@mail.example.com", NULL, NULL},
    {DOM "allow_subdomains=true", "user@example.com", NULL, CN_DENY("user@example.com")},
    {DOM "allow_bare_domains=true", "a@b@example.com", NULL, CN_DENY("a@b@example.com")},
    {DOM "allow_subdomains=true", "user@*.example.com", NULL, CN_DENY("user@*.example.com")},
    {"", "root@localhost", NULL, NULL},
    /* cn_validations */
    {DOM "allow_bare_domains=true;cn_validations=hostname", "user@example.com", NULL,
     CN_DENY("user@example.com")},
    {DOM "allow_bare_domains=true;cn_validations=email", "example.com", NULL,
     CN_DENY("example.com")},
    {DOM "allow_bare_domains=true;cn_validations=email", "user@example.com", NULL, NULL},
    {"cn_validations=disabled", "Anything At All", NULL, NULL},
    /* DNS and email SANs */
    {DOM "allow_subdomains=true", "a.example.com", "b.example.com,c.d.example.com", NULL},
    {DOM "allow_subdomains=true", "a.example.com", "b.example.com,evil.com", SAN_DENY("evil.com")},
    {DOM "allow_subdomains=true", NULL, "x@evil.com",
     "email address x@evil.com not allowed by this role"},
    {DOM "allow_subdomains=true", NULL, "x@mail.example.com", NULL},
    {"allow_any_name=true;enforce_hostnames=false", NULL, "bad_name.example.com",
     "subject alternate name bad_name.example.com is not a valid DNS name and cannot be "
     "included as a SAN"},
    {"allow_any_name=true", NULL, "*.*.com",
     "subject alternate name *.*.com is not a valid DNS name and cannot be included as a SAN"},
    {"allow_any_name=true", NULL, "", NULL},
};

static void run_name_case(const struct name_case *c, int from_csr)
{
    struct lca_role *r = mk(c->spec);
    const char *dns[MAX_ITEMS];
    char buf[512];
    size_t n = split(c->dns, buf, sizeof(buf), dns);
    struct lca_err err;
    lca_err_clear(&err);
    int rc = from_csr ? lca_role_check_csr_names(r, c->cn, dns, n, NULL, 0, NULL, 0, &err)
                      : lca_role_check_names(r, c->cn, dns, n, NULL, 0, NULL, 0, &err);
    int ok = c->msg == NULL ? rc == LCA_OK
                            : rc == LCA_FAIL && strcmp(err.msg, c->msg) == 0 &&
                                  err.cls == LCA_ERR_BAD_INPUT &&
                                  strcmp(err.code, "policy_denied") == 0;
    if (!ok) {
        fprintf(stderr, "name case [%s] cn=%s dns=%s: rc %d msg '%s'\n", c->spec,
                c->cn ? c->cn : "-", c->dns ? c->dns : "-", rc, err.msg);
    }
    CU_ASSERT(ok);
    lca_role_free(r);
}

static void test_names(void)
{
    for (size_t i = 0; i < sizeof(NAME_CASES) / sizeof(NAME_CASES[0]); i++) {
        run_name_case(&NAME_CASES[i], 0);
    }
}

static void test_names_csr(void)
{
    /* names from a CSR skip the API's DNS syntax pre-check, policy still applies */
    static const struct name_case c1 = {"allow_any_name=true;enforce_hostnames=false", NULL,
                                        "bad_name.example.com", NULL};
    static const struct name_case c2 = {DOM "allow_subdomains=true", NULL, "evil.com",
                                        SAN_DENY("evil.com")};
    static const struct name_case c3 = {"allow_any_name=true;enforce_hostnames=false", NULL,
                                        "bad_name.example.com",
                                        "subject alternate name bad_name.example.com is not a "
                                        "valid DNS name and cannot be included as a SAN"};
    run_name_case(&c1, 1);
    run_name_case(&c2, 1);
    run_name_case(&c3, 0);
    for (size_t i = 0; i < sizeof(NAME_CASES) / sizeof(NAME_CASES[0]); i++) {
        if (NAME_CASES[i].dns == NULL) {
            run_name_case(&NAME_CASES[i], 1); /* CN rules are the same on both paths */
        }
    }
}

/* ---- IP and URI SANs ---------------------------------------------------------------- */

static void expect(int rc, const struct lca_err *err, const char *msg)
{
    if (msg == NULL) {
        if (rc != LCA_OK) {
            fprintf(stderr, "unexpected denial: %s\n", err->msg);
        }
        CU_ASSERT_EQUAL(rc, LCA_OK);
        return;
    }
    if (rc != LCA_FAIL || strcmp(err->msg, msg) != 0) {
        fprintf(stderr, "want '%s', got rc %d '%s'\n", msg, rc, err->msg);
    }
    CU_ASSERT_EQUAL(rc, LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err->msg, msg);
    CU_ASSERT_STRING_EQUAL(err->code, "policy_denied");
    CU_ASSERT_EQUAL(err->cls, LCA_ERR_BAD_INPUT);
}

static void test_ip_sans(void)
{
    static const struct {
        const char *spec, *ips, *msg;
        int csr;
    } cases[] = {
        {"", "10.0.0.1,::1,2001:db8::7,::ffff:192.0.2.1", NULL, 0},
        {"", "300.1.1.1", "the value \"300.1.1.1\" is not a valid IP address", 0},
        {"", "10.0.0", "the value \"10.0.0\" is not a valid IP address", 0},
        {"", "example.com", "the value \"example.com\" is not a valid IP address", 0},
        {"allow_ip_sans=false", "10.0.0.1,::1",
         "IP Subject Alternative Names are not allowed in this role, but was provided "
         "[10.0.0.1 ::1]",
         0},
        {"allow_ip_sans=false", "10.0.0.1",
         "IP Subject Alternative Names are not allowed in this role, but was provided some via "
         "CSR",
         1},
        {"allow_ip_sans=false", "", NULL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lca_role *r = mk(cases[i].spec);
        const char *ips[MAX_ITEMS];
        char buf[256];
        size_t n = split(cases[i].ips, buf, sizeof(buf), ips);
        struct lca_err err;
        lca_err_clear(&err);
        int rc = cases[i].csr ? lca_role_check_csr_names(r, NULL, NULL, 0, ips, n, NULL, 0, &err)
                              : lca_role_check_names(r, NULL, NULL, 0, ips, n, NULL, 0, &err);
        expect(rc, &err, cases[i].msg);
        lca_role_free(r);
    }
}

static void test_uri_sans(void)
{
    static const struct {
        const char *spec, *uris, *msg;
        int csr;
    } cases[] = {
        {"", "spiffe://cluster.local/ns/a",
         "URI Subject Alternative Names are not allowed in this role, but were provided via the "
         "API",
         0},
        {"", "spiffe://cluster.local/ns/a",
         "URI Subject Alternative Names are not allowed in this role, but were provided via CSR",
         1},
        {"allowed_uri_sans=spiffe://cluster.local/ns/*", "spiffe://cluster.local/ns/a/sa/b", NULL,
         0},
        {"allowed_uri_sans=spiffe://cluster.local/ns/*", "spiffe://other.local/ns/a",
         "URI Subject Alternative Names were provided via the API which are not valid for this "
         "role",
         0},
        {"allowed_uri_sans=spiffe://cluster.local/ns/*", "SPIFFE://cluster.local/ns/a",
         "URI Subject Alternative Names were provided via CSR which are not valid for this role",
         1},
        {"allowed_uri_sans=https://a.example/x,spiffe://*/web",
         "spiffe://td/web,https://a.example/x",
         NULL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lca_role *r = mk(cases[i].spec);
        const char *uris[MAX_ITEMS];
        char buf[256];
        size_t n = split(cases[i].uris, buf, sizeof(buf), uris);
        struct lca_err err;
        lca_err_clear(&err);
        int rc = cases[i].csr ? lca_role_check_csr_names(r, NULL, NULL, 0, NULL, 0, uris, n, &err)
                              : lca_role_check_names(r, NULL, NULL, 0, NULL, 0, uris, n, &err);
        expect(rc, &err, cases[i].msg);
        lca_role_free(r);
    }
}

/* ---- keys ------------------------------------------------------------------------------- */

static void test_keys(void)
{
    static const struct {
        const char *spec;
        enum lca_key_type t;
        int bits;
        const char *msg;
    } cases[] = {
        {"", LCA_KEY_RSA, 2048, NULL},
        {"", LCA_KEY_RSA, 4096, NULL}, /* key_bits is a minimum, as in Vault */
        {"", LCA_KEY_EC, 256, "role requires keys of type rsa"},
        {"", LCA_KEY_ED25519, 0, "role requires keys of type rsa"},
        {"", LCA_KEY_RSA, 1024,
         "ledgerca requires a minimum of a 2048-bit key, but CSR's key is 1024 bits"},
        {"key_bits=4096", LCA_KEY_RSA, 2048,
         "role requires a minimum of a 4096-bit key, but CSR's key is 2048 bits"},
        {"key_type=ec", LCA_KEY_EC, 256, NULL},
        {"key_type=ec", LCA_KEY_EC, 384, NULL},
        {"key_type=ec;key_bits=384", LCA_KEY_EC, 256,
         "role requires a minimum of a 384-bit key, but CSR's key is 256 bits"},
        {"key_type=ec", LCA_KEY_RSA, 2048, "role requires keys of type ec"},
        {"key_type=ec", LCA_KEY_EC, 521,
         "EC keys must be P-256 or P-384, but CSR's key is 521 bits"},
        {"key_type=ed25519", LCA_KEY_ED25519, 0, NULL},
        {"key_type=ed25519", LCA_KEY_EC, 256, "role requires keys of type ed25519"},
        {"key_type=any", LCA_KEY_RSA, 3072, NULL},
        {"key_type=any", LCA_KEY_EC, 384, NULL},
        {"key_type=any", LCA_KEY_ED25519, 0, NULL},
        {"key_type=any", LCA_KEY_EC, 224,
         "EC keys must be P-256 or P-384, but CSR's key is 224 bits"},
        {"key_type=any", LCA_KEY_RSA, 1024,
         "ledgerca requires a minimum of a 2048-bit key, but CSR's key is 1024 bits"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lca_role *r = mk(cases[i].spec);
        struct lca_keyspec ks = {cases[i].t, cases[i].bits};
        struct lca_err err;
        lca_err_clear(&err);
        expect(lca_role_check_key(r, &ks, &err), &err, cases[i].msg);
        lca_role_free(r);
    }
}

/* ---- TTL -------------------------------------------------------------------------------- */

static void test_ttl(void)
{
    static const struct {
        const char *spec;
        int64_t requested, dflt, sysmax, want;
    } cases[] = {
        {"", 0, 3600, 86400, 3600},              /* nothing set: system default */
        {"", 7200, 3600, 86400, 7200},           /* request honoured */
        {"", 100000, 3600, 86400, 86400},        /* capped by the system max, not refused */
        {"ttl=1h;max_ttl=2h", 0, 60, 86400, 3600}, /* role ttl beats system default */
        {"ttl=1h;max_ttl=2h", 10 * 3600, 60, 86400, 7200}, /* capped by role max_ttl */
        {"ttl=1h;max_ttl=2h", 1800, 60, 86400, 1800},
        {"max_ttl=2h", 0, 3 * 3600, 86400, 7200},  /* system default capped by role max */
        {"max_ttl=48h", 40 * 3600, 3600, 86400, 40 * 3600}, /* role max replaces system max */
        {"ttl=3h", 0, 3600, 7200, 7200},           /* role ttl capped by system max */
        {"", -5, 3600, 86400, 3600},               /* negative request: none */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lca_role *r = mk(cases[i].spec);
        int64_t got = lca_role_ttl(r, cases[i].requested, cases[i].dflt, cases[i].sysmax);
        if (got != cases[i].want) {
            fprintf(stderr, "ttl case %zu: got %lld\n", i, (long long)got);
        }
        CU_ASSERT_EQUAL(got, cases[i].want);
        lca_role_free(r);
    }
}

/* ---- leaf_not_after_behavior --------------------------------------------------------- */

static void test_notafter(void)
{
    const int64_t ca = 1861920000;   /* 2029-01-01T00:00:00Z */
    const int64_t leaf = 1893456000; /* 2030-01-01T00:00:00Z */
    enum lca_notafter b;
    struct lca_err err;
    static const char *const names[] = {"err", "truncate", "permit"};
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL_FATAL(lca_role_notafter_parse(names[i], &b, &err), LCA_OK);
        CU_ASSERT_EQUAL(b, (enum lca_notafter)i);
        CU_ASSERT_STRING_EQUAL(lca_role_notafter_name(b), names[i]);
    }
    b = LCA_NOTAFTER_PERMIT;
    CU_ASSERT_EQUAL(lca_role_notafter_parse("Err", &b, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(b, LCA_NOTAFTER_PERMIT); /* untouched on failure */
    CU_ASSERT_EQUAL(lca_role_notafter_parse(NULL, &b, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(lca_role_notafter_name((enum lca_notafter)9), "err");

    int64_t na = leaf;
    lca_err_clear(&err);
    expect(lca_role_apply_notafter(LCA_NOTAFTER_ERR, ca, &na, &err), &err,
           "cannot satisfy request, as TTL would result in notAfter of 2030-01-01T00:00:00Z that "
           "is beyond the expiration of the CA certificate at 2029-01-01T00:00:00Z");
    CU_ASSERT_EQUAL(na, leaf);
    CU_ASSERT_EQUAL(lca_role_apply_notafter(LCA_NOTAFTER_TRUNCATE, ca, &na, &err), LCA_OK);
    CU_ASSERT_EQUAL(na, ca);
    na = leaf;
    CU_ASSERT_EQUAL(lca_role_apply_notafter(LCA_NOTAFTER_PERMIT, ca, &na, &err), LCA_OK);
    CU_ASSERT_EQUAL(na, leaf);
    /* within the issuer's validity nothing changes, whatever the behaviour */
    for (int i = 0; i < 3; i++) {
        na = ca - 1;
        CU_ASSERT_EQUAL(lca_role_apply_notafter((enum lca_notafter)i, ca, &na, &err), LCA_OK);
        CU_ASSERT_EQUAL(na, ca - 1);
        na = ca;
        CU_ASSERT_EQUAL(lca_role_apply_notafter((enum lca_notafter)i, ca, &na, &err), LCA_OK);
        CU_ASSERT_EQUAL(na, ca);
    }
    /* a date with seconds, in a leap year */
    na = 1709210096; /* 2024-02-29T12:34:56Z */
    expect(lca_role_apply_notafter(LCA_NOTAFTER_ERR, 1709210095, &na, &err), &err,
           "cannot satisfy request, as TTL would result in notAfter of 2024-02-29T12:34:56Z that "
           "is beyond the expiration of the CA certificate at 2024-02-29T12:34:55Z");
}

/* ---- names helpers ---------------------------------------------------------------------- */

static void test_glob(void)
{
    static const struct {
        const char *pat, *subj;
        int want;
    } cases[] = {
        {"*", "anything", 1},           {"", "", 1},
        {"", "a", 0},                   {"abc", "abc", 1},
        {"abc", "abd", 0},              {"*.example.com", "a.b.example.com", 1},
        {"*.example.com", "example.com", 0}, {"foo-*.example.com", "foo-.example.com", 1},
        {"a*b*c", "aXbYc", 1},          {"a*b*c", "aXcYb", 0},
        {"a*a", "a", 0},                {"a*a", "aa", 1},
        {"spiffe://*/web", "spiffe://td/web", 1}, {"spiffe://*/web", "spiffe://td/web/x", 0},
        {"*x", "xx", 1},                {"x*", "yx", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CU_ASSERT_EQUAL(lca_names_glob(cases[i].pat, cases[i].subj), cases[i].want);
    }
    CU_ASSERT_EQUAL(lca_names_glob("A*", "abc"), 0);
    CU_ASSERT_EQUAL(lca_names_glob_fold("A*", "abc"), 1);
    CU_ASSERT_EQUAL(lca_names_glob(NULL, "a"), 0);
}

static void test_hostname_syntax(void)
{
    char label64[80], long_name[300];
    memset(label64, 'a', 64);
    strcpy(label64 + 64, ".com");
    /* 4 x 63-octet labels + 3 dots = 255 > 253 */
    for (int i = 0; i < 4; i++) {
        memset(long_name + i * 64, 'b', 63);
        long_name[i * 64 + 63] = i < 3 ? '.' : '\0';
    }
    CU_ASSERT_EQUAL(lca_names_is_hostname("example.com"), 1);
    CU_ASSERT_EQUAL(lca_names_is_hostname("example.com."), 1);
    CU_ASSERT_EQUAL(lca_names_is_hostname("a"), 1);
    CU_ASSERT_EQUAL(lca_names_is_hostname("3com.net"), 1);
    CU_ASSERT_EQUAL(lca_names_is_hostname(label64 + 1), 1); /* 63 octets */
    CU_ASSERT_EQUAL(lca_names_is_hostname(label64), 0);     /* 64 octets */
    CU_ASSERT_EQUAL(lca_names_is_hostname(long_name), 0);
    CU_ASSERT_EQUAL(lca_names_is_hostname(long_name + 2), 1); /* 253 octets */
    CU_ASSERT_EQUAL(lca_names_is_hostname("under_score.com"), 0);
    CU_ASSERT_EQUAL(lca_names_is_hostname("-a.com"), 0);
    CU_ASSERT_EQUAL(lca_names_is_hostname("a-.com"), 0);
    CU_ASSERT_EQUAL(lca_names_is_hostname(".com"), 0);
    CU_ASSERT_EQUAL(lca_names_is_hostname(""), 0);
    CU_ASSERT_EQUAL(lca_names_is_hostname("."), 0);
    CU_ASSERT_EQUAL(lca_names_is_hostname("b\xc3\xbc" "cher.de"), 0); /* no IDNA mapping */
    CU_ASSERT_EQUAL(lca_names_is_dns("*.example.com"), 1);
    CU_ASSERT_EQUAL(lca_names_is_dns("w*.example.com"), 1);
    CU_ASSERT_EQUAL(lca_names_is_dns("*"), 0);
    CU_ASSERT_EQUAL(lca_names_is_dns("*.*.com"), 0);
    CU_ASSERT_EQUAL(lca_names_is_dns("a.*.com"), 0);
    CU_ASSERT_EQUAL(lca_names_is_ip("1.2.3.4"), 1);
    CU_ASSERT_EQUAL(lca_names_is_ip("fe80::1"), 1);
    CU_ASSERT_EQUAL(lca_names_is_ip("1.2.3.4.5"), 0);
    CU_ASSERT_EQUAL(lca_names_is_ip(NULL), 0);
}

int main(void)
{
    static const struct lca_cu_test tests[] = {
        {"defaults", test_defaults},
        {"durations", test_durations},
        {"shapes", test_shapes},
        {"normalise", test_normalise},
        {"usages", test_usages},
        {"parse_errors", test_parse_errors},
        {"parse_bad_shapes", test_parse_bad_shapes},
        {"other_sans", test_other_sans},
        {"json_round_trip", test_json_round_trip},
        {"names", test_names},
        {"names_csr", test_names_csr},
        {"ip_sans", test_ip_sans},
        {"uri_sans", test_uri_sans},
        {"keys", test_keys},
        {"ttl", test_ttl},
        {"notafter", test_notafter},
        {"glob", test_glob},
        {"hostname_syntax", test_hostname_syntax},
    };

    return LCA_CU_MAIN("role", NULL, NULL, tests);
}
