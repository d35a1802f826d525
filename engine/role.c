/*
 * role — Vault-compatible PKI roles (contract in role.h).
 *
 * A role is a fixed table of fields (ROLE_FIELDS below: Vault's field name, kind, default),
 * each stored in one slot. Parsing fills the slots from the payload, defaults the rest, then
 * normalises and validates (key type/bits, TTLs, usages, CN validations, formats).
 * lca_role_to_val walks the same table, so the normalised form always carries every field.
 * The name policy itself lives in names.c; this file turns a role into a names policy and
 * words the denials as Vault does.
 */
#include "role.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cert.h"
#include "duration.h"
#include "names.h"

#define ROLE_LIST_MAX 1024 /* entries in one list field */
#define ROLE_STR_MAX 4096  /* bytes in one string or list entry */

enum field_kind { FK_BOOL, FK_DUR, FK_INT, FK_STR, FK_LIST };

/* Vault's role fields, in the order of its GET roles/:name response, with Vault's defaults
 * (api-docs/secret/pki "Create/Update role"). List defaults are comma-separated. */
#define ROLE_FIELDS(X)                                                                     \
    X(TTL, "ttl", FK_DUR, 0, NULL)                                                         \
    X(MAX_TTL, "max_ttl", FK_DUR, 0, NULL)                                                 \
    X(ALLOW_LOCALHOST, "allow_localhost", FK_BOOL, 1, NULL)                                \
    X(ALLOWED_DOMAINS, "allowed_domains", FK_LIST, 0, "")                                  \
    X(ALLOWED_DOMAINS_TEMPLATE, "allowed_domains_template", FK_BOOL, 0, NULL)              \
    X(ALLOW_BARE_DOMAINS, "allow_bare_domains", FK_BOOL, 0, NULL)                          \
    X(ALLOW_TOKEN_DISPLAYNAME, "allow_token_displayname", FK_BOOL, 0, NULL)                \
    X(ALLOW_SUBDOMAINS, "allow_subdomains", FK_BOOL, 0, NULL)                              \
    X(ALLOW_GLOB_DOMAINS, "allow_glob_domains", FK_BOOL, 0, NULL)                          \
    X(ALLOW_WILDCARD_CERTIFICATES, "allow_wildcard_certificates", FK_BOOL, 1, NULL)        \
    X(ALLOW_ANY_NAME, "allow_any_name", FK_BOOL, 0, NULL)                                  \
    X(ALLOWED_URI_SANS_TEMPLATE, "allowed_uri_sans_template", FK_BOOL, 0, NULL)            \
    X(ENFORCE_HOSTNAMES, "enforce_hostnames", FK_BOOL, 1, NULL)                            \
    X(ALLOW_IP_SANS, "allow_ip_sans", FK_BOOL, 1, NULL)                                    \
    X(SERVER_FLAG, "server_flag", FK_BOOL, 1, NULL)                                        \
    X(CLIENT_FLAG, "client_flag", FK_BOOL, 1, NULL)                                        \
    X(CODE_SIGNING_FLAG, "code_signing_flag", FK_BOOL, 0, NULL)                            \
    X(EMAIL_PROTECTION_FLAG, "email_protection_flag", FK_BOOL, 0, NULL)                    \
    X(USE_CSR_COMMON_NAME, "use_csr_common_name", FK_BOOL, 1, NULL)                        \
    X(USE_CSR_SANS, "use_csr_sans", FK_BOOL, 1, NULL)                                      \
    X(KEY_TYPE, "key_type", FK_STR, 0, "rsa")                                              \
    X(KEY_BITS, "key_bits", FK_INT, 0, NULL)                                               \
    X(SIGNATURE_BITS, "signature_bits", FK_INT, 0, NULL)                                   \
    X(USE_PSS, "use_pss", FK_BOOL, 0, NULL)                                                \
    X(KEY_USAGE, "key_usage", FK_LIST, 0, "DigitalSignature,KeyAgreement,KeyEncipherment") \
    X(EXT_KEY_USAGE, "ext_key_usage", FK_LIST, 0, "")                                      \
    X(EXT_KEY_USAGE_OIDS, "ext_key_usage_oids", FK_LIST, 0, "")                            \
    X(OU, "ou", FK_LIST, 0, "")                                                            \
    X(ORGANIZATION, "organization", FK_LIST, 0, "")                                        \
    X(COUNTRY, "country", FK_LIST, 0, "")                                                  \
    X(LOCALITY, "locality", FK_LIST, 0, "")                                                \
    X(PROVINCE, "province", FK_LIST, 0, "")                                                \
    X(STREET_ADDRESS, "street_address", FK_LIST, 0, "")                                    \
    X(POSTAL_CODE, "postal_code", FK_LIST, 0, "")                                          \
    X(NO_STORE, "no_store", FK_BOOL, 0, NULL)                                              \
    X(NO_STORE_METADATA, "no_store_metadata", FK_BOOL, 0, NULL)                            \
    X(ALLOWED_OTHER_SANS, "allowed_other_sans", FK_LIST, 0, "")                            \
    X(ALLOWED_SERIAL_NUMBERS, "allowed_serial_numbers", FK_LIST, 0, "")                    \
    X(ALLOWED_USER_IDS, "allowed_user_ids", FK_LIST, 0, "")                                \
    X(ALLOWED_URI_SANS, "allowed_uri_sans", FK_LIST, 0, "")                                \
    X(REQUIRE_CN, "require_cn", FK_BOOL, 1, NULL)                                          \
    X(CN_VALIDATIONS, "cn_validations", FK_LIST, 0, "email,hostname")                      \
    X(POLICY_IDENTIFIERS, "policy_identifiers", FK_LIST, 0, "")                            \
    X(BASIC_CONSTRAINTS_VALID_FOR_NON_CA, "basic_constraints_valid_for_non_ca", FK_BOOL, 0, \
      NULL)                                                                                \
    X(NOT_BEFORE_DURATION, "not_before_duration", FK_DUR, 30, NULL)                        \
    X(NOT_AFTER, "not_after", FK_STR, 0, "")                                               \
    X(ISSUER_REF, "issuer_ref", FK_STR, 0, "default")                                      \
    X(GENERATE_LEASE, "generate_lease", FK_BOOL, 0, NULL)                                  \
    X(SERIAL_NUMBER_SOURCE, "serial_number_source", FK_STR, 0, "json-csr")

enum role_field {
#define ROLE_ENUM(id, name, kind, di, ds) F_##id,
    ROLE_FIELDS(ROLE_ENUM)
#undef ROLE_ENUM
        F_COUNT
};

struct field_def {
    const char *name;
    enum field_kind kind;
    int64_t dflt_i;
    const char *dflt_s;
};

static const struct field_def FIELDS[F_COUNT] = {
#define ROLE_DEF(id, name, kind, di, ds) {name, kind, di, ds},
    ROLE_FIELDS(ROLE_DEF)
#undef ROLE_DEF
};

struct strlist {
    char **v;
    size_t n;
};

union slot {
    int64_t i;        /* FK_BOOL (0/1), FK_DUR (seconds), FK_INT */
    char *s;          /* FK_STR, owned */
    struct strlist l; /* FK_LIST, owned */
};

struct lca_role {
    char *name;
    union slot f[F_COUNT];
    unsigned ku;  /* LCA_KU_* bits */
    unsigned eku; /* LCA_EKU_* bits, flags folded in */
};

/* ---- small helpers ---------------------------------------------------------------- */

static int oom(struct lca_err *err)
{
    return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static int ieq(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        char x = (*a >= 'A' && *a <= 'Z') ? (char)(*a - 'A' + 'a') : *a;
        char y = (*b >= 'A' && *b <= 'Z') ? (char)(*b - 'A' + 'a') : *b;
        if (x != y) {
            return 0;
        }
    }
    return *a == *b;
}

static void strlist_free(struct strlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i]);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* Appends s[0..n) trimmed of spaces; empty entries are dropped (Vault skips them too). */
static int strlist_push(struct strlist *l, const char *s, size_t n, struct lca_err *err)
{
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        n--;
    }
    if (n == 0) {
        return LCA_OK;
    }
    if (l->n >= ROLE_LIST_MAX || n > ROLE_STR_MAX) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "too_large", "list too long");
    }
    char **v = realloc(l->v, (l->n + 1) * sizeof(*v));
    if (v == NULL) {
        return oom(err);
    }
    l->v = v;
    if ((l->v[l->n] = dup_n(s, n)) == NULL) {
        return oom(err);
    }
    l->n++;
    return LCA_OK;
}

/* Splits a comma-separated string into l. */
static int strlist_split(struct strlist *l, const char *s, struct lca_err *err)
{
    for (;;) {
        const char *c = strchr(s, ',');
        size_t n = c != NULL ? (size_t)(c - s) : strlen(s);
        if (strlist_push(l, s, n, err) != LCA_OK) {
            return LCA_FAIL;
        }
        if (c == NULL) {
            return LCA_OK;
        }
        s = c + 1;
    }
}

static int list_has(const struct strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i], s) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ---- payload value parsers (Vault's accepted shapes) ---------------------------------- */

static int bad_field(struct lca_err *err, const char *field, const char *expect)
{
    return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_field", "field %s: expected %s", field,
                       expect);
}

/* Decimal digits only (no sign), into *out; 0 on overflow or other characters. */
/* Vault's duration strings for role fields: "" is 0, otherwise engine/duration.h. */
static int parse_duration(const char *s, int64_t *secs)
{
    if (s[0] == '\0') {
        *secs = 0;
        return 1;
    }
    return lca_duration_parse(s, secs, NULL) == LCA_OK;
}

static int parse_digits(const char *s, size_t n, int64_t *out)
{
    return lca_duration_parse_uint(s, n, out) == LCA_OK;
}

static int parse_bool(const struct lca_val *v, int64_t *out)
{
    static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
    switch (lca_val_kind(v)) {
    case LCA_VAL_BOOL:
        *out = lca_val_bool(v) != 0;
        return 1;
    case LCA_VAL_INT:
        *out = lca_val_int(v) != 0;
        return lca_val_int(v) == 0 || lca_val_int(v) == 1;
    case LCA_VAL_STR:
        for (size_t i = 0; i < 6; i++) {
            if (strcmp(lca_val_str(v), t[i]) == 0 || strcmp(lca_val_str(v), f[i]) == 0) {
                *out = strcmp(lca_val_str(v), t[i]) == 0;
                return 1;
            }
        }
        return 0;
    default:
        return 0;
    }
}

static int parse_int(const struct lca_val *v, int64_t *out)
{
    if (lca_val_kind(v) == LCA_VAL_INT) {
        *out = lca_val_int(v);
        return 1;
    }
    if (lca_val_kind(v) == LCA_VAL_STR) {
        const char *s = lca_val_str(v);
        int neg = *s == '-';
        if (parse_digits(s + neg, strlen(s + neg), out)) {
            *out = neg ? -*out : *out;
            return 1;
        }
    }
    return 0;
}

/* A str without embedded NUL bytes (they would silently cut the value short). */
static int plain_str(const struct lca_val *v)
{
    return lca_val_kind(v) == LCA_VAL_STR && strlen(lca_val_str(v)) == lca_val_len(v);
}

static int parse_list(const struct lca_val *v, struct strlist *l, struct lca_err *err,
                      const char *field)
{
    if (plain_str(v)) {
        return strlist_split(l, lca_val_str(v), err);
    }
    if (lca_val_kind(v) != LCA_VAL_ARR) {
        return bad_field(err, field, "a list or a comma-separated string");
    }
    for (size_t i = 0; i < lca_val_len(v); i++) {
        const struct lca_val *e = lca_val_arr_at(v, i);
        if (!plain_str(e)) {
            return bad_field(err, field, "a list of strings");
        }
        if (strlist_push(l, lca_val_str(e), strlen(lca_val_str(e)), err) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    return LCA_OK;
}

/* Parses payload value v into slot per def. */
static int parse_field(const struct field_def *def, const struct lca_val *v, union slot *slot,
                       struct lca_err *err)
{
    switch (def->kind) {
    case FK_BOOL:
        return parse_bool(v, &slot->i) ? LCA_OK : bad_field(err, def->name, "a boolean");
    case FK_INT:
        return parse_int(v, &slot->i) ? LCA_OK : bad_field(err, def->name, "an integer");
    case FK_DUR:
        if (lca_val_kind(v) == LCA_VAL_INT && lca_val_int(v) >= 0) {
            slot->i = lca_val_int(v);
            return LCA_OK;
        }
        if (lca_val_kind(v) == LCA_VAL_STR && parse_duration(lca_val_str(v), &slot->i)) {
            return LCA_OK;
        }
        return bad_field(err, def->name, "a non-negative duration (seconds or e.g. \"72h\")");
    case FK_STR:
        if (!plain_str(v) || lca_val_len(v) > ROLE_STR_MAX) {
            return bad_field(err, def->name, "a string");
        }
        slot->s = dup_n(lca_val_str(v), lca_val_len(v));
        return slot->s != NULL ? LCA_OK : oom(err);
    case FK_LIST:
        return parse_list(v, &slot->l, err, def->name);
    }
    return bad_field(err, def->name, "a known kind");
}

/* ---- parse: fill, default, normalise ----------------------------------------------- */

void lca_role_free(struct lca_role *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < F_COUNT; i++) {
        if (FIELDS[i].kind == FK_STR) {
            free(r->f[i].s);
        } else if (FIELDS[i].kind == FK_LIST) {
            strlist_free(&r->f[i].l);
        }
    }
    free(r->name);
    free(r);
}

static int find_field(const char *key)
{
    for (int i = 0; i < F_COUNT; i++) {
        if (strcmp(FIELDS[i].name, key) == 0) {
            return i;
        }
    }
    return -1;
}

/* Copies the payload's fields into r; set[i] records which were present. */
static int fill(struct lca_role *r, const struct lca_val *payload, int *set, struct lca_err *err)
{
    for (size_t i = 0; i < lca_val_len(payload); i++) {
        const char *key = lca_val_map_key_at(payload, i);
        const struct lca_val *v = lca_val_map_val_at(payload, i);
        int f = find_field(key);
        if (f < 0 && strcmp(key, "name") == 0) {
            if (lca_val_kind(v) != LCA_VAL_STR || strcmp(lca_val_str(v), r->name) != 0) {
                return bad_field(err, "name", "the role's own name");
            }
            continue;
        }
        if (f < 0) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "unknown_field", "unknown field %s", key);
        }
        if (lca_val_kind(v) == LCA_VAL_NIL) {
            continue; /* null: take the default, as an absent field */
        }
        if (parse_field(&FIELDS[f], v, &r->f[f], err) != LCA_OK) {
            return LCA_FAIL;
        }
        set[f] = 1;
    }
    return LCA_OK;
}

static int apply_defaults(struct lca_role *r, const int *set, struct lca_err *err)
{
    for (size_t i = 0; i < F_COUNT; i++) {
        const struct field_def *d = &FIELDS[i];
        if (set[i]) {
            continue;
        }
        if (d->kind == FK_STR) {
            if ((r->f[i].s = dup_n(d->dflt_s, strlen(d->dflt_s))) == NULL) {
                return oom(err);
            }
        } else if (d->kind == FK_LIST) {
            if (strlist_split(&r->f[i].l, d->dflt_s, err) != LCA_OK) {
                return LCA_FAIL;
            }
        } else {
            r->f[i].i = d->dflt_i;
        }
    }
    return LCA_OK;
}

static int bad_key(struct lca_err *err, const char *type, int64_t bits)
{
    return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_key",
                       "unsupported key_type/key_bits: %s/%" PRId64
                       " (rsa: 2048, 3072, 4096; ec: 256, 384; ed25519; any)",
                       type, bits);
}

/* key_type/key_bits/signature_bits, defaulted as Vault does: rsa 0 -> 2048 with SHA-256,
 * ec 0 -> P-256 with a hash matching the curve; ed25519 and any ignore key_bits. Vault also
 * takes rsa 8192 and ec 224/521; ledgerca's safe minimums (DESIGN.md invariant 6) do not. */
static int norm_key(struct lca_role *r, struct lca_err *err)
{
    const char *t = r->f[F_KEY_TYPE].s;
    int64_t *bits = &r->f[F_KEY_BITS].i, *sig = &r->f[F_SIGNATURE_BITS].i;
    if (strcmp(t, "rsa") == 0) {
        *bits = *bits == 0 ? 2048 : *bits;
        if (*bits != 2048 && *bits != 3072 && *bits != 4096) {
            return bad_key(err, t, *bits);
        }
        *sig = *sig == 0 ? 256 : *sig;
    } else if (strcmp(t, "ec") == 0) {
        *bits = *bits == 0 ? 256 : *bits;
        if (*bits != 256 && *bits != 384) {
            return bad_key(err, t, *bits);
        }
        *sig = *sig == 0 ? *bits : *sig;
    } else if (strcmp(t, "ed25519") == 0 || strcmp(t, "any") == 0) {
        *bits = 0;
    } else {
        return bad_key(err, t, *bits);
    }
    if (*sig != 0 && *sig != 256 && *sig != 384 && *sig != 512) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_key",
                           "unsupported signature_bits: %" PRId64 " (256, 384, 512)", *sig);
    }
    return LCA_OK;
}

static int norm_ttl(struct lca_role *r, struct lca_err *err)
{
    int64_t ttl = r->f[F_TTL].i, max = r->f[F_MAX_TTL].i;
    if (max > 0 && ttl > max) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_ttl",
                           "\"ttl\" value must be less than \"max_ttl\" value (%" PRId64
                           "s > %" PRId64 "s)",
                           ttl, max);
    }
    return LCA_OK;
}

struct usage_name {
    const char *name; /* Go's x509 constant without its KeyUsage / ExtKeyUsage prefix */
    unsigned bit;     /* 0: a valid Vault name that ledgerca does not issue */
};

static const struct usage_name KU_NAMES[] = {
    {"DigitalSignature", LCA_KU_DIGITAL_SIGNATURE}, {"ContentCommitment", LCA_KU_CONTENT_COMMITMENT},
    {"KeyEncipherment", LCA_KU_KEY_ENCIPHERMENT},   {"DataEncipherment", LCA_KU_DATA_ENCIPHERMENT},
    {"KeyAgreement", LCA_KU_KEY_AGREEMENT},         {"CertSign", LCA_KU_CERT_SIGN},
    {"CRLSign", LCA_KU_CRL_SIGN},                   {"EncipherOnly", 0},
    {"DecipherOnly", 0},                        {NULL, 0}};

static const struct usage_name EKU_NAMES[] = {{"Any", LCA_EKU_ANY},
                                              {"ServerAuth", LCA_EKU_SERVER_AUTH},
                                              {"ClientAuth", LCA_EKU_CLIENT_AUTH},
                                              {"CodeSigning", LCA_EKU_CODE_SIGNING},
                                              {"EmailProtection", LCA_EKU_EMAIL_PROTECTION},
                                              {"IPSECEndSystem", 0},
                                              {"IPSECTunnel", 0},
                                              {"IPSECUser", 0},
                                              {"TimeStamping", LCA_EKU_TIME_STAMPING},
                                              {"OCSPSigning", LCA_EKU_OCSP_SIGNING},
                                              {"MicrosoftServerGatedCrypto", 0},
                                              {"NetscapeServerGatedCrypto", 0},
                                              {"MicrosoftCommercialCodeSigning", 0},
                                              {"MicrosoftKernelCodeSigning", 0},
                                              {NULL, 0}};

/* Maps each name of l (case-insensitive, as Vault) to its canonical spelling and ORs its bit
 * into *bits. Unknown or unsupported names: BAD_INPUT "bad_key_usage". */
static int norm_usage_list(struct strlist *l, const struct usage_name *tab, const char *field,
                           unsigned *bits, struct lca_err *err)
{
    for (size_t i = 0; i < l->n; i++) {
        size_t k = 0;
        while (tab[k].name != NULL && !ieq(tab[k].name, l->v[i])) {
            k++;
        }
        if (tab[k].name == NULL || tab[k].bit == 0) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_key_usage", "%s: %s %s", field,
                               tab[k].name == NULL ? "unrecognized value" : "unsupported value",
                               l->v[i]);
        }
        char *canon = dup_n(tab[k].name, strlen(tab[k].name));
        if (canon == NULL) {
            return oom(err);
        }
        free(l->v[i]);
        l->v[i] = canon;
        *bits |= tab[k].bit;
    }
    return LCA_OK;
}

static int norm_usages(struct lca_role *r, struct lca_err *err)
{
    if (norm_usage_list(&r->f[F_KEY_USAGE].l, KU_NAMES, "key_usage", &r->ku, err) != LCA_OK ||
        norm_usage_list(&r->f[F_EXT_KEY_USAGE].l, EKU_NAMES, "ext_key_usage", &r->eku, err) !=
            LCA_OK) {
        return LCA_FAIL;
    }
    r->eku |= (r->f[F_SERVER_FLAG].i ? LCA_EKU_SERVER_AUTH : 0u) |
              (r->f[F_CLIENT_FLAG].i ? LCA_EKU_CLIENT_AUTH : 0u) |
              (r->f[F_CODE_SIGNING_FLAG].i ? LCA_EKU_CODE_SIGNING : 0u) |
              (r->f[F_EMAIL_PROTECTION_FLAG].i ? LCA_EKU_EMAIL_PROTECTION : 0u);
    return LCA_OK;
}

/* Vault's checkCNValidations: email / hostname / disabled (alone), each once; an empty
 * list means the default "email,hostname". Values are lower-cased. */
static int norm_cn_validations(struct lca_role *r, struct lca_err *err)
{
    struct strlist *l = &r->f[F_CN_VALIDATIONS].l;
    if (l->n == 0) {
        return strlist_split(l, "email,hostname", err);
    }
    int seen[3] = {0, 0, 0};
    static const char *const names[3] = {"disabled", "email", "hostname"};
    for (size_t i = 0; i < l->n; i++) {
        int k = 0;
        while (k < 3 && !ieq(names[k], l->v[i])) {
            k++;
        }
        if (k == 3 || seen[k]++) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_field",
                               k == 3 ? "cn_validations value incorrect: unknown type: `%s`"
                                      : "cn_validations value incorrect: `%s` specified multiple "
                                        "times",
                               l->v[i]);
        }
        memcpy(l->v[i], names[k], strlen(names[k])); /* same length: lower-case in place */
    }
    if (seen[0] && (seen[1] || seen[2])) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_field",
                           "cn_validations value incorrect: cannot specify `disabled` along with "
                           "`email` or `hostname`");
    }
    return LCA_OK;
}

/* Dotted-decimal OID with at least two arcs ("1.3.6.1..."). */
static int oid_ok(const char *s)
{
    int arcs = 0;
    for (const char *p = s;; p++) {
        const char *start = p;
        while (*p >= '0' && *p <= '9') {
            p++;
        }
        if (p == start) {
            return 0;
        }
        arcs++;
        if (*p == '\0') {
            return arcs >= 2;
        }
        if (*p != '.') {
            return 0;
        }
    }
}

static int check_oids(const struct strlist *l, const char *field, struct lca_err *err)
{
    for (size_t i = 0; i < l->n; i++) {
        if (!oid_ok(l->v[i])) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_field",
                               "%s: \"%s\" could not be parsed as a valid oid", field, l->v[i]);
        }
    }
    return LCA_OK;
}

/* allowed_other_sans: a lone "*", or "<oid>;UTF8:<value glob>" entries (UTF-8 also). */
static int check_other_sans(const struct strlist *l, struct lca_err *err)
{
    if (l->n == 1 && strcmp(l->v[0], "*") == 0) {
        return LCA_OK;
    }
    for (size_t i = 0; i < l->n; i++) {
        char *semi = strchr(l->v[i], ';');
        int ok = semi != NULL;
        if (ok) {
            *semi = '\0';
            ok = oid_ok(l->v[i]) && (strncmp(semi + 1, "UTF8:", 5) == 0 ||
                                     strncmp(semi + 1, "utf8:", 5) == 0 ||
                                     strncmp(semi + 1, "UTF-8:", 6) == 0 ||
                                     strncmp(semi + 1, "utf-8:", 6) == 0);
            *semi = ';';
        }
        if (!ok) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_field",
                               "error parsing allowed_other_sans: expected <oid>;UTF8:<value> in "
                               "\"%s\"",
                               l->v[i]);
        }
    }
    return LCA_OK;
}

/* "YYYY-MM-DDTHH:MM:SSZ" (Vault's not_after format), or "". */
static int not_after_ok(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    if (*s == '\0') {
        return 1;
    }
    if (strlen(s) != sizeof(shape) - 1) {
        return 0;
    }
    for (size_t i = 0; shape[i] != '\0'; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i]) {
            return 0;
        }
    }
    return 1;
}

static int norm_misc(struct lca_role *r, struct lca_err *err)
{
    const char *src = r->f[F_SERIAL_NUMBER_SOURCE].s;
    if (*src != '\0' && strcmp(src, "json-csr") != 0 && strcmp(src, "json") != 0) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_field", "unknown serial_number_source %s",
                           src);
    }
    if (!not_after_ok(r->f[F_NOT_AFTER].s)) {
        return bad_field(err, "not_after", "a UTC time YYYY-MM-DDTHH:MM:SSZ");
    }
    if (check_oids(&r->f[F_EXT_KEY_USAGE_OIDS].l, "ext_key_usage_oids", err) != LCA_OK ||
        check_oids(&r->f[F_POLICY_IDENTIFIERS].l, "policy_identifiers", err) != LCA_OK ||
        check_other_sans(&r->f[F_ALLOWED_OTHER_SANS].l, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (r->f[F_NO_STORE].i) {
        r->f[F_GENERATE_LEASE].i = 0; /* Vault: no_store implies generate_lease=false */
    }
    if (*r->f[F_ISSUER_REF].s == '\0') {
        free(r->f[F_ISSUER_REF].s);
        if ((r->f[F_ISSUER_REF].s = dup_n("default", 7)) == NULL) {
            return oom(err);
        }
    }
    return LCA_OK;
}

int lca_role_parse(const char *name, const struct lca_val *payload, struct lca_role **out,
                   struct lca_err *err)
{
    int set[F_COUNT] = {0};
    int rc = LCA_FAIL;
    struct lca_role *r = NULL;
    if (name == NULL || *name == '\0' || out == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_field", "missing role name");
    }
    if (lca_val_kind(payload) != LCA_VAL_MAP && lca_val_kind(payload) != LCA_VAL_NIL) {
        return bad_field(err, "payload", "a map");
    }
    if ((r = calloc(1, sizeof(*r))) == NULL || (r->name = dup_n(name, strlen(name))) == NULL) {
        rc = oom(err);
        goto out;
    }
    if (fill(r, payload, set, err) != LCA_OK || apply_defaults(r, set, err) != LCA_OK ||
        norm_ttl(r, err) != LCA_OK || norm_key(r, err) != LCA_OK ||
        norm_usages(r, err) != LCA_OK || norm_cn_validations(r, err) != LCA_OK ||
        norm_misc(r, err) != LCA_OK) {
        goto out;
    }
    *out = r;
    r = NULL;
    rc = LCA_OK;
out:
    lca_role_free(r);
    return rc;
}

/* ---- normalised form and accessors ------------------------------------------------- */

static struct lca_val *list_to_val(const struct strlist *l)
{
    struct lca_val *a = lca_val_new_arr();
    for (size_t i = 0; i < l->n; i++) {
        lca_val_arr_push(a, lca_val_new_str(l->v[i]));
    }
    return a;
}

struct lca_val *lca_role_to_val(const struct lca_role *r)
{
    if (r == NULL) {
        return NULL;
    }
    struct lca_val *m = lca_val_new_map();
    for (size_t i = 0; i < F_COUNT; i++) {
        const char *k = FIELDS[i].name;
        switch (FIELDS[i].kind) {
        case FK_BOOL:
            lca_val_map_set_bool(m, k, r->f[i].i != 0);
            break;
        case FK_DUR:
        case FK_INT:
            lca_val_map_set_int(m, k, r->f[i].i);
            break;
        case FK_STR:
            lca_val_map_set_str(m, k, r->f[i].s);
            break;
        case FK_LIST:
            lca_val_map_set(m, k, list_to_val(&r->f[i].l));
            break;
        }
    }
    if (!lca_val_ok(m)) {
        lca_val_free(m);
        return NULL;
    }
    return m;
}

const char *lca_role_name(const struct lca_role *r)
{
    return r != NULL ? r->name : NULL;
}

unsigned lca_role_key_usage(const struct lca_role *r)
{
    return r != NULL ? r->ku : 0u;
}

unsigned lca_role_ext_key_usage(const struct lca_role *r)
{
    return r != NULL ? r->eku : 0u;
}

int lca_role_no_store(const struct lca_role *r)
{
    return r != NULL && r->f[F_NO_STORE].i != 0;
}

const char *lca_role_issuer_ref(const struct lca_role *r)
{
    return r != NULL ? r->f[F_ISSUER_REF].s : "default";
}

void lca_role_keyspec(const struct lca_role *r, struct lca_keyspec *out)
{
    const char *t = r->f[F_KEY_TYPE].s;
    out->bits = (int)r->f[F_KEY_BITS].i;
    if (strcmp(t, "rsa") == 0) {
        out->type = LCA_KEY_RSA;
    } else if (strcmp(t, "ed25519") == 0) {
        out->type = LCA_KEY_ED25519;
        out->bits = 0;
    } else {
        out->type = LCA_KEY_EC; /* "ec", or "any": P-256 */
        out->bits = strcmp(t, "ec") == 0 ? out->bits : 256;
    }
}

int64_t lca_role_ttl(const struct lca_role *r, int64_t requested, int64_t default_ttl,
                     int64_t system_max_ttl)
{
    int64_t ttl = requested > 0 ? requested : 0;
    int64_t max = r->f[F_MAX_TTL].i > 0 ? r->f[F_MAX_TTL].i : system_max_ttl;
    if (ttl == 0) {
        ttl = r->f[F_TTL].i > 0 ? r->f[F_TTL].i : default_ttl;
    }
    return max > 0 && ttl > max ? max : ttl; /* Vault caps (with a warning), never refuses */
}

/* ---- policy checks ----------------------------------------------------------------- */

static int deny(struct lca_err *err, const char *fmt, ...) LCA_PRINTF(2, 3);

static int deny(struct lca_err *err, const char *fmt, ...)
{
    char msg[sizeof(err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return lca_err_set(err, LCA_ERR_BAD_INPUT, "policy_denied", "%s", msg);
}

static void names_policy(const struct lca_role *r, struct lca_names_policy *p)
{
    p->allow_localhost = r->f[F_ALLOW_LOCALHOST].i != 0;
    p->allow_bare_domains = r->f[F_ALLOW_BARE_DOMAINS].i != 0;
    p->allow_subdomains = r->f[F_ALLOW_SUBDOMAINS].i != 0;
    p->allow_glob_domains = r->f[F_ALLOW_GLOB_DOMAINS].i != 0;
    p->allow_any_name = r->f[F_ALLOW_ANY_NAME].i != 0;
    p->allow_wildcard = r->f[F_ALLOW_WILDCARD_CERTIFICATES].i != 0;
    p->enforce_hostnames = r->f[F_ENFORCE_HOSTNAMES].i != 0;
    p->domains = (const char *const *)r->f[F_ALLOWED_DOMAINS].l.v;
    p->n_domains = r->f[F_ALLOWED_DOMAINS].l.n;
}

/* Vault's ValidateCommonName: cn_validations "disabled" skips every check; otherwise the CN
 * passes the name policy and its type (email when it has '@', else hostname) is listed. */
static int cn_ok(const struct lca_role *r, const struct lca_names_policy *p, const char *cn)
{
    const struct strlist *v = &r->f[F_CN_VALIDATIONS].l;
    if (list_has(v, "disabled")) {
        return 1;
    }
    return lca_names_allowed(p, cn) && list_has(v, strchr(cn, '@') != NULL ? "email" : "hostname");
}

/* DNS SANs and email SANs (entries with '@'), as Vault checks alt_names. from_csr: names
 * taken from a CSR skip the DNS syntax pre-check, as in Vault. */
static int check_dns(const struct lca_role *r, const char *cn, const char *const *dns,
                     size_t n, int from_csr, struct lca_err *err)
{
    struct lca_names_policy p;
    names_policy(r, &p);
    for (size_t i = 0; i < n && !from_csr; i++) {
        if (strchr(dns[i], '@') == NULL && !lca_names_is_dns(dns[i])) {
            return deny(err, "subject alternate name %s is not a valid DNS name and cannot be "
                             "included as a SAN", dns[i]);
        }
    }
    if (cn != NULL && *cn != '\0' && !cn_ok(r, &p, cn)) {
        return deny(err, "common name %s not allowed by this role", cn);
    }
    for (int email = 0; email < 2; email++) {
        for (size_t i = 0; i < n; i++) {
            if ((strchr(dns[i], '@') != NULL) == email && !lca_names_allowed(&p, dns[i])) {
                return deny(err, email ? "email address %s not allowed by this role"
                                       : "subject alternate name %s not allowed by this role",
                            dns[i]);
            }
        }
    }
    return LCA_OK;
}

/* Go's fmt of a []string: "[a b c]", cut to fit the error message. */
static void join_list(char *buf, size_t cap, const char *const *v, size_t n)
{
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (size_t i = 0; i < n && used < cap; i++) {
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", i > 0 ? " " : "", v[i]);
    }
    if (used < cap) {
        snprintf(buf + used, cap - used, "]");
    }
}

static int check_ips(const struct lca_role *r, const char *const *ips, size_t n, int from_csr,
                     struct lca_err *err)
{
    char list[256];
    if (n > 0 && !r->f[F_ALLOW_IP_SANS].i) {
        if (from_csr) {
            return deny(err, "IP Subject Alternative Names are not allowed in this role, but was "
                             "provided some via CSR");
        }
        join_list(list, sizeof(list), ips, n);
        return deny(err, "IP Subject Alternative Names are not allowed in this role, but was "
                         "provided %s", list);
    }
    for (size_t i = 0; i < n; i++) {
        if (!lca_names_is_ip(ips[i])) {
            return deny(err, "the value \"%s\" is not a valid IP address", ips[i]);
        }
    }
    return LCA_OK;
}

static int check_uris(const struct lca_role *r, const char *const *uris, size_t n, int from_csr,
                      struct lca_err *err)
{
    const struct strlist *allowed = &r->f[F_ALLOWED_URI_SANS].l;
    const char *via = from_csr ? "via CSR" : "via the API";
    if (n > 0 && allowed->n == 0) {
        return deny(err, "URI Subject Alternative Names are not allowed in this role, but were "
                         "provided %s", via);
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < allowed->n && !lca_names_glob(allowed->v[k], uris[i])) {
            k++;
        }
        if (k == allowed->n) {
            return deny(err, "URI Subject Alternative Names were provided %s which are not "
                             "valid for this role", via);
        }
    }
    return LCA_OK;
}

static int check_all(const struct lca_role *r, const char *cn, const char *const *dns,
                     size_t n_dns, const char *const *ips, size_t n_ips, const char *const *uris,
                     size_t n_uris, int from_csr, struct lca_err *err)
{
    if (r == NULL || (n_dns > 0 && dns == NULL) || (n_ips > 0 && ips == NULL) ||
        (n_uris > 0 && uris == NULL)) {
        return lca_err_set(err, LCA_ERR_FATAL, "bad_call", "lca_role_check_names: NULL argument");
    }
    if (check_dns(r, cn, dns, n_dns, from_csr, err) != LCA_OK ||
        check_ips(r, ips, n_ips, from_csr, err) != LCA_OK ||
        check_uris(r, uris, n_uris, from_csr, err) != LCA_OK) {
        return LCA_FAIL;
    }
    return LCA_OK;
}

int lca_role_check_names(const struct lca_role *r, const char *common_name,
                         const char *const *dns, size_t n_dns, const char *const *ips,
                         size_t n_ips, const char *const *uris, size_t n_uris,
                         struct lca_err *err)
{
    return check_all(r, common_name, dns, n_dns, ips, n_ips, uris, n_uris, 0, err);
}

int lca_role_check_csr_names(const struct lca_role *r, const char *common_name,
                             const char *const *dns, size_t n_dns, const char *const *ips,
                             size_t n_ips, const char *const *uris, size_t n_uris,
                             struct lca_err *err)
{
    return check_all(r, common_name, dns, n_dns, ips, n_ips, uris, n_uris, 1, err);
}

static const char *key_type_name(enum lca_key_type t)
{
    return t == LCA_KEY_RSA ? "rsa" : t == LCA_KEY_EC ? "ec" : t == LCA_KEY_ED25519 ? "ed25519"
                                                                                   : "unknown";
}

/* ledgerca's safe minimums (DESIGN.md invariant 6), whatever the role says. */
static int key_safe(const struct lca_keyspec *k, struct lca_err *err)
{
    if (k->type == LCA_KEY_RSA && k->bits < 2048) {
        return deny(err, "ledgerca requires a minimum of a 2048-bit key, but CSR's key is %d bits",
                    k->bits);
    }
    if (k->type == LCA_KEY_EC && k->bits != 256 && k->bits != 384) {
        return deny(err, "EC keys must be P-256 or P-384, but CSR's key is %d bits", k->bits);
    }
    if (k->type != LCA_KEY_RSA && k->type != LCA_KEY_EC && k->type != LCA_KEY_ED25519) {
        return deny(err, "unsupported key type in CSR");
    }
    return LCA_OK;
}

int lca_role_check_key(const struct lca_role *r, const struct lca_keyspec *spec,
                       struct lca_err *err)
{
    if (r == NULL || spec == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "bad_call", "lca_role_check_key: NULL argument");
    }
    if (key_safe(spec, err) != LCA_OK) {
        return LCA_FAIL;
    }
    const char *want = r->f[F_KEY_TYPE].s;
    if (strcmp(want, "any") == 0) {
        return LCA_OK;
    }
    if (strcmp(want, key_type_name(spec->type)) != 0) {
        return deny(err, "role requires keys of type %s", want);
    }
    if (spec->type != LCA_KEY_ED25519 && spec->bits < r->f[F_KEY_BITS].i) {
        return deny(err, "role requires a minimum of a %" PRId64 "-bit key, but CSR's key is %d "
                         "bits", r->f[F_KEY_BITS].i, spec->bits);
    }
    return LCA_OK;
}

/* ---- leaf_not_after_behavior -------------------------------------------------------- */

static const char *const NOTAFTER_NAMES[] = {"err", "truncate", "permit"};

int lca_role_notafter_parse(const char *s, enum lca_notafter *out, struct lca_err *err)
{
    for (int i = 0; s != NULL && i < 3; i++) {
        if (strcmp(s, NOTAFTER_NAMES[i]) == 0) {
            *out = (enum lca_notafter)i;
            return LCA_OK;
        }
    }
    return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_field",
                       "leaf_not_after_behavior: expected err, truncate or permit, got %s",
                       s != NULL ? s : "(null)");
}

const char *lca_role_notafter_name(enum lca_notafter b)
{
    return (unsigned)b < 3 ? NOTAFTER_NAMES[b] : "err";
}

/* Unix seconds as RFC 3339 UTC ("2006-01-02T15:04:05Z"). */
static void rfc3339(int64_t t, char *buf, size_t cap)
{
    /* a pure conversion (no clock is read): gmtime_r only splits the given instant */
    time_t tt = (time_t)t;
    struct tm tm;

    if (cap == 0) {
        return;
    }
    buf[0] = '\0';
    if (gmtime_r(&tt, &tm) != NULL) {
        strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
}

int lca_role_apply_notafter(enum lca_notafter b, int64_t issuer_not_after, int64_t *not_after,
                            struct lca_err *err)
{
    char leaf[32], ca[32];
    if (not_after == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "bad_call", "lca_role_apply_notafter: NULL");
    }
    if (*not_after <= issuer_not_after || b == LCA_NOTAFTER_PERMIT) {
        return LCA_OK;
    }
    if (b == LCA_NOTAFTER_TRUNCATE) {
        *not_after = issuer_not_after;
        return LCA_OK;
    }
    rfc3339(*not_after, leaf, sizeof(leaf));
    rfc3339(issuer_not_after, ca, sizeof(ca));
    return deny(err, "cannot satisfy request, as TTL would result in notAfter of %s that is "
                     "beyond the expiration of the CA certificate at %s", leaf, ca);
}
