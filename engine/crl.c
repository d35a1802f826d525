/*
 * crl — DER CRL v2 writer. Contract and the ASN.1 of the whole CRL in crl.h.
 *
 * The large part, revokedCertificates, is written in two passes over a compact, sorted copy of
 * the entries: the first sums the encoded sizes, the second writes into one buffer allocated at
 * the final size. Small parts (names, extensions) go through a growable buffer whose TLV headers
 * are inserted after the content (db_wrap).
 */
#include "crl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#define SERIAL_MAX 20          /* §4.1.2.2: at most 20 octets */
#define IDP_URL_MAX 1024
#define T_1950 (-631152000LL)  /* 1950-01-01T00:00:00Z: first UTCTime instant */
#define T_2050 2524608000LL    /* 2050-01-01T00:00:00Z: GeneralizedTime from here (§5.1.2.4) */
#define T_10000 253402300800LL /* 10000-01-01T00:00:00Z: GeneralizedTime ends */

/* ---------------------------------------------------------------- reason names (§5.3.1) */

static const struct {
    enum lca_crl_reason r;
    const char *snake; /* canonical */
    const char *camel; /* RFC 5280 ASN.1 identifier */
} reasons[] = {
    {LCA_CRL_UNSPECIFIED, "unspecified", "unspecified"},
    {LCA_CRL_KEY_COMPROMISE, "key_compromise", "keyCompromise"},
    {LCA_CRL_CA_COMPROMISE, "ca_compromise", "cACompromise"},
    {LCA_CRL_AFFILIATION_CHANGED, "affiliation_changed", "affiliationChanged"},
    {LCA_CRL_SUPERSEDED, "superseded", "superseded"},
    {LCA_CRL_CESSATION, "cessation_of_operation", "cessationOfOperation"},
    {LCA_CRL_CERTIFICATE_HOLD, "certificate_hold", "certificateHold"},
    {LCA_CRL_REMOVE_FROM_CRL, "remove_from_crl", "removeFromCRL"},
    {LCA_CRL_PRIVILEGE_WITHDRAWN, "privilege_withdrawn", "privilegeWithdrawn"},
    {LCA_CRL_AA_COMPROMISE, "aa_compromise", "aACompromise"},
};
#define N_REASONS (sizeof(reasons) / sizeof(reasons[0]))

int lca_crl_reason_parse(const char *name, enum lca_crl_reason *out, struct lca_err *err)
{
    if (name != NULL && strcasecmp(name, "cessation") == 0) {
        *out = LCA_CRL_CESSATION;
        return LCA_OK;
    }
    for (size_t i = 0; name != NULL && i < N_REASONS; i++) {
        if (strcasecmp(name, reasons[i].snake) == 0 || strcasecmp(name, reasons[i].camel) == 0) {
            *out = reasons[i].r;
            return LCA_OK;
        }
    }
    return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_reason", "unknown revocation reason '%.64s'",
                       name != NULL ? name : "(null)");
}

const char *lca_crl_reason_name(enum lca_crl_reason r)
{
    for (size_t i = 0; i < N_REASONS; i++) {
        if (reasons[i].r == r) {
            return reasons[i].snake;
        }
    }
    return "unknown";
}

static int reason_valid(int r)
{
    return (r >= 0 && r <= 6) || (r >= 8 && r <= 10);
}

/* ---------------------------------------------------------------- DER primitives (X.690) */

/* Octets of the length field for n content octets (short form below 128). */
static size_t der_lenlen(size_t n)
{
    size_t k = 1;

    if (n < 0x80) {
        return 1;
    }
    while (n > 0) {
        k++;
        n >>= 8;
    }
    return k;
}

static size_t der_tlv(size_t n)
{
    return 1 + der_lenlen(n) + n;
}

/* Writes tag and length; returns the position of the content. */
static uint8_t *der_hdr(uint8_t *p, uint8_t tag, size_t n)
{
    size_t ll = der_lenlen(n);

    *p++ = tag;
    if (ll == 1) {
        *p++ = (uint8_t)n;
        return p;
    }
    *p++ = (uint8_t)(0x80 | (ll - 1));
    for (size_t i = ll - 1; i > 0; i--) {
        *p++ = (uint8_t)(n >> (8 * (i - 1)));
    }
    return p;
}

/* Unix seconds to UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ) TLV.
 * Days to civil date: the proleptic Gregorian era/day-of-era decomposition. */
static size_t der_time(int64_t t, uint8_t out[17])
{
    int64_t days = (t >= 0 ? t : t - 86399) / 86400;
    int64_t sod = t - days * 86400;
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t f[6];
    size_t k = 0;
    int gen = t >= T_2050;

    f[1] = mp < 10 ? mp + 3 : mp - 9;
    f[0] = yoe + era * 400 + (f[1] <= 2);
    f[2] = doy - (153 * mp + 2) / 5 + 1;
    f[3] = sod / 3600;
    f[4] = sod / 60 % 60;
    f[5] = sod % 60;
    out[k++] = gen ? 0x18 : 0x17;
    out[k++] = gen ? 15 : 13;
    if (gen) {
        out[k++] = (uint8_t)('0' + f[0] / 1000);
        out[k++] = (uint8_t)('0' + f[0] / 100 % 10);
    }
    for (int i = 0; i < 6; i++) {
        out[k++] = (uint8_t)('0' + f[i] / 10 % 10);
        out[k++] = (uint8_t)('0' + f[i] % 10);
    }
    out[k++] = 'Z';
    return k;
}

static int time_ok(int64_t t)
{
    return t >= T_1950 && t < T_10000;
}

/* INTEGER TLV of a non-negative value (§5.2.3: cRLNumber up to 20 octets; ours fit 8). */
static size_t der_uint(uint8_t out[11], uint64_t v)
{
    uint8_t tmp[9];
    size_t n = 0;

    do {
        tmp[n++] = (uint8_t)v;
        v >>= 8;
    } while (v > 0);
    if (tmp[n - 1] & 0x80) {
        tmp[n++] = 0;
    }
    out[0] = 0x02;
    out[1] = (uint8_t)n;
    for (size_t i = 0; i < n; i++) {
        out[2 + i] = tmp[n - 1 - i];
    }
    return n + 2;
}

/* ---------------------------------------------------------------- growable buffer */

struct dbuf {
    uint8_t *p;
    size_t len, cap;
    int oom;
};

static int db_reserve(struct dbuf *b, size_t more)
{
    size_t want;
    uint8_t *np;

    if (b->oom) {
        return 0;
    }
    if (b->cap - b->len >= more) {
        return 1;
    }
    want = b->cap * 2 + more + 64;
    np = realloc(b->p, want);
    if (np == NULL) {
        b->oom = 1;
        return 0;
    }
    b->p = np;
    b->cap = want;
    return 1;
}

static void db_put(struct dbuf *b, const void *src, size_t n)
{
    if (n > 0 && db_reserve(b, n)) {
        memcpy(b->p + b->len, src, n);
        b->len += n;
    }
}

/* Turns the bytes from start to the end into the content of one TLV with this tag. */
static void db_wrap(struct dbuf *b, size_t start, uint8_t tag)
{
    size_t n = b->len - start;
    size_t h = 1 + der_lenlen(n);

    if (!db_reserve(b, h)) {
        return;
    }
    memmove(b->p + start + h, b->p + start, n);
    der_hdr(b->p + start, tag, n);
    b->len += h;
}

/* ---------------------------------------------------------------- signature algorithm */

/* AlgorithmIdentifier DER for each supported key (RFC 5758 §3.2, RFC 4055 §5, RFC 8410 §3). */
static const uint8_t ALG_ECDSA_SHA256[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                           0xce, 0x3d, 0x04, 0x03, 0x02};
static const uint8_t ALG_ECDSA_SHA384[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                           0xce, 0x3d, 0x04, 0x03, 0x03};
static const uint8_t ALG_RSA_SHA256[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                         0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00};
static const uint8_t ALG_ED25519[] = {0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70};

struct sigalg {
    const EVP_MD *md; /* NULL for Ed25519 (no pre-hash) */
    const uint8_t *algid;
    size_t algid_len;
};

static int sigalg_for(EVP_PKEY *key, struct sigalg *sa, struct lca_err *err)
{
    char group[32] = "";

    if (EVP_PKEY_is_a(key, "EC")) {
        if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                            sizeof(group), NULL)) {
            group[0] = '\0';
        }
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
            *sa = (struct sigalg){EVP_sha256(), ALG_ECDSA_SHA256, sizeof(ALG_ECDSA_SHA256)};
            return LCA_OK;
        }
        if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
            *sa = (struct sigalg){EVP_sha384(), ALG_ECDSA_SHA384, sizeof(ALG_ECDSA_SHA384)};
            return LCA_OK;
        }
    } else if (EVP_PKEY_is_a(key, "RSA") && EVP_PKEY_get_bits(key) >= 2048) {
        *sa = (struct sigalg){EVP_sha256(), ALG_RSA_SHA256, sizeof(ALG_RSA_SHA256)};
        return LCA_OK;
    } else if (EVP_PKEY_is_a(key, "ED25519")) {
        *sa = (struct sigalg){NULL, ALG_ED25519, sizeof(ALG_ED25519)};
        return LCA_OK;
    }
    ERR_clear_error();
    return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_key",
                       "CRL signing key must be P-256, P-384, RSA >= 2048 or Ed25519");
}

/* ---------------------------------------------------------------- request checks */

static int req_fail(struct lca_err *err, const char *what)
{
    return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_crl_request", "%s", what);
}

static int url_ok(const char *u)
{
    size_t n = strlen(u);

    if (n == 0 || n > IDP_URL_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (u[i] < 0x21 || u[i] > 0x7e) {
            return 0;
        }
    }
    return 1;
}

static int check_req(const struct lca_crl_req *req, struct lca_err *err)
{
    if (req == NULL) {
        return req_fail(err, "missing request");
    }
    if (!time_ok(req->this_update) || !time_ok(req->next_update) ||
        req->next_update <= req->this_update) {
        return req_fail(err, "this_update/next_update out of range or not increasing");
    }
    if (req->delta_base < -1 ||
        (req->delta_base >= 0 && (uint64_t)req->delta_base >= req->crl_number)) {
        return req_fail(err, "delta_base must be -1 or below crl_number (RFC 5280 5.2.4)");
    }
    if (req->idp_url != NULL && !url_ok(req->idp_url)) {
        return req_fail(err, "idp_url must be 1..1024 printable ASCII characters");
    }
    if (req->entries == NULL && req->n_entries > 0) {
        return req_fail(err, "entries missing");
    }
    return LCA_OK;
}

/* ---------------------------------------------------------------- entries */

/* A compact copy of one entry: serial right-aligned in 20 octets, so memcmp is numeric order. */
struct ent {
    uint8_t s[SERIAL_MAX];
    uint8_t len; /* significant octets */
    uint8_t reason;
    int64_t at;
};

static int ent_from(const struct lca_crl_entry *in, int delta, struct ent *e, size_t i,
                    struct lca_err *err)
{
    const uint8_t *s = in->serial;
    size_t n = in->serial_len;

    while (s != NULL && n > 0 && s[0] == 0) {
        s++;
        n--;
    }
    if (s == NULL || n == 0 || n > SERIAL_MAX) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_crl_request",
                           "entry %zu: serial must be 1..20 significant octets, not zero", i);
    }
    if (!reason_valid((int)in->reason) || (in->reason == LCA_CRL_REMOVE_FROM_CRL && !delta)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_crl_request",
                           "entry %zu: bad reason %d (removeFromCRL only in delta CRLs)", i,
                           (int)in->reason);
    }
    if (!time_ok(in->revoked_at)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_crl_request",
                           "entry %zu: revocation time out of range", i);
    }
    memset(e->s, 0, SERIAL_MAX - n);
    memcpy(e->s + SERIAL_MAX - n, s, n);
    e->len = (uint8_t)n;
    e->reason = (uint8_t)in->reason;
    e->at = in->revoked_at;
    return LCA_OK;
}

static int ent_cmp(const void *a, const void *b)
{
    return memcmp(((const struct ent *)a)->s, ((const struct ent *)b)->s, SERIAL_MAX);
}

/* Copies the unexpired entries, sorts them by serial, refuses duplicates. */
static int collect(const struct lca_crl_req *req, struct ent **out, size_t *out_n,
                   struct lca_err *err)
{
    struct ent *v = NULL;
    size_t k = 0;
    int sorted = 1;
    int rc = LCA_FAIL;

    if (req->n_entries > 0) {
        v = req->n_entries <= SIZE_MAX / sizeof(*v) ? malloc(req->n_entries * sizeof(*v)) : NULL;
        if (v == NULL) {
            return lca_err_set(err, LCA_ERR_FATAL, "oom", "no memory for %zu CRL entries",
                               req->n_entries);
        }
    }
    for (size_t i = 0; i < req->n_entries; i++) {
        if (req->entries[i].not_after < req->this_update) {
            continue; /* expired: §3.3 lets it leave the CRL */
        }
        if (ent_from(&req->entries[i], req->delta_base >= 0, &v[k], i, err) != LCA_OK) {
            goto out;
        }
        sorted = sorted && (k == 0 || ent_cmp(&v[k - 1], &v[k]) < 0);
        k++;
    }
    if (req->max_entries > 0 && k > req->max_entries) {
        lca_err_set(err, LCA_ERR_BAD_INPUT, "crl_too_large",
                    "%zu unexpired entries exceed max_entries %zu", k, req->max_entries);
        goto out;
    }
    if (!sorted) {
        qsort(v, k, sizeof(*v), ent_cmp);
    }
    for (size_t i = 1; i < k; i++) {
        if (ent_cmp(&v[i - 1], &v[i]) == 0) {
            lca_err_set(err, LCA_ERR_BAD_INPUT, "duplicate_serial",
                        "a serial is revoked twice in one CRL");
            goto out;
        }
    }
    *out = v;
    *out_n = k;
    v = NULL;
    rc = LCA_OK;
out:
    free(v);
    return rc;
}

/* Encoded size of one entry's content (inside its SEQUENCE): always below 128. */
static size_t ent_content_len(const struct ent *e)
{
    size_t serial = 2 + e->len + ((e->s[SERIAL_MAX - e->len] & 0x80) ? 1u : 0u);
    size_t tm = e->at >= T_2050 ? 17u : 15u;

    return serial + tm + (e->reason != LCA_CRL_UNSPECIFIED ? 14u : 0u);
}

/*   SEQUENCE { userCertificate INTEGER, revocationDate Time,
 *              crlEntryExtensions SEQUENCE { SEQUENCE { extnID 2.5.29.21,
 *                                             extnValue OCTET STRING { ENUMERATED reason } } } } */
static uint8_t *ent_write(uint8_t *p, const struct ent *e)
{
    static const uint8_t reason_ext[] = {0x30, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55,
                                         0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01};
    const uint8_t *s = e->s + SERIAL_MAX - e->len;
    int pad = (s[0] & 0x80) != 0;

    *p++ = 0x30;
    *p++ = (uint8_t)ent_content_len(e);
    *p++ = 0x02;
    *p++ = (uint8_t)(e->len + pad);
    if (pad) {
        *p++ = 0;
    }
    memcpy(p, s, e->len);
    p += e->len;
    p += der_time(e->at, p);
    if (e->reason != LCA_CRL_UNSPECIFIED) {
        memcpy(p, reason_ext, sizeof(reason_ext));
        p += sizeof(reason_ext);
        *p++ = e->reason;
    }
    return p;
}

/* ---------------------------------------------------------------- TBSCertList parts */

/* AKI keyIdentifier (§5.2.1): the issuer's SKI, else SHA-1 of its subjectPublicKey bits. */
static void put_aki(struct dbuf *b, X509 *issuer)
{
    static const uint8_t oid[] = {0x06, 0x03, 0x55, 0x1d, 0x23};
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(issuer);
    uint8_t h[SHA_DIGEST_LENGTH];
    size_t s = b->len, v;

    db_put(b, oid, sizeof(oid));
    v = b->len;
    if (ski != NULL) {
        db_put(b, ASN1_STRING_get0_data(ski), (size_t)ASN1_STRING_length(ski));
    } else {
        const ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(issuer);
        SHA1(ASN1_STRING_get0_data(bits), (size_t)ASN1_STRING_length(bits), h);
        db_put(b, h, sizeof(h));
    }
    db_wrap(b, v, 0x80); /* keyIdentifier [0] IMPLICIT */
    db_wrap(b, v, 0x30); /* AuthorityKeyIdentifier */
    db_wrap(b, v, 0x04); /* extnValue */
    db_wrap(b, s, 0x30); /* Extension */
}

/* Extension { oid, [critical TRUE], OCTET STRING { INTEGER n } }: cRLNumber, deltaCRLIndicator. */
static void put_int_ext(struct dbuf *b, uint8_t oid_last, int critical, uint64_t n)
{
    const uint8_t oid[] = {0x06, 0x03, 0x55, 0x1d, oid_last};
    static const uint8_t crit[] = {0x01, 0x01, 0xff};
    uint8_t i[11];
    size_t s = b->len, v;

    db_put(b, oid, sizeof(oid));
    if (critical) {
        db_put(b, crit, sizeof(crit));
    }
    v = b->len;
    db_put(b, i, der_uint(i, n));
    db_wrap(b, v, 0x04);
    db_wrap(b, s, 0x30);
}

/* issuingDistributionPoint (§5.2.5), critical:
 *   SEQUENCE { distributionPoint [0] { fullName [0] { uniformResourceIdentifier [6] url } } } */
static void put_idp(struct dbuf *b, const char *url)
{
    static const uint8_t oid_crit[] = {0x06, 0x03, 0x55, 0x1d, 0x1c, 0x01, 0x01, 0xff};
    size_t s = b->len, v;

    db_put(b, oid_crit, sizeof(oid_crit));
    v = b->len;
    db_put(b, url, strlen(url));
    db_wrap(b, v, 0x86); /* GeneralName uniformResourceIdentifier [6] IA5String */
    db_wrap(b, v, 0xa0); /* fullName [0] GeneralNames */
    db_wrap(b, v, 0xa0); /* distributionPoint [0] DistributionPointName (CHOICE: explicit) */
    db_wrap(b, v, 0x30); /* IssuingDistributionPoint */
    db_wrap(b, v, 0x04); /* extnValue */
    db_wrap(b, s, 0x30); /* Extension */
}

/* freshestCRL (§5.2.6, non-critical), the CRLDistributionPoints syntax of §4.2.1.13:
 *   SEQUENCE OF DistributionPoint { distributionPoint [0] { fullName [0] { [6] url } } } */
static void put_freshest(struct dbuf *b, const char *url)
{
    static const uint8_t oid[] = {0x06, 0x03, 0x55, 0x1d, 0x2e};
    size_t s = b->len, v;

    db_put(b, oid, sizeof(oid));
    v = b->len;
    db_put(b, url, strlen(url));
    db_wrap(b, v, 0x86); /* uniformResourceIdentifier [6] */
    db_wrap(b, v, 0xa0); /* fullName [0] */
    db_wrap(b, v, 0xa0); /* distributionPoint [0] */
    db_wrap(b, v, 0x30); /* DistributionPoint */
    db_wrap(b, v, 0x30); /* CRLDistributionPoints (FreshestCRL) */
    db_wrap(b, v, 0x04); /* extnValue */
    db_wrap(b, s, 0x30); /* Extension */
}

/* crlExtensions [0] EXPLICIT Extensions. */
static void put_exts(struct dbuf *b, X509 *issuer, const struct lca_crl_req *req,
                     const struct lca_crl_opts *opts)
{
    size_t s = b->len;

    put_aki(b, issuer);
    put_int_ext(b, 0x14, 0, req->crl_number); /* cRLNumber 2.5.29.20, non-critical */
    if (req->delta_base >= 0) {
        put_int_ext(b, 0x1b, 1, (uint64_t)req->delta_base); /* deltaCRLIndicator 2.5.29.27 */
    }
    if (req->idp_url != NULL) {
        put_idp(b, req->idp_url);
    }
    if (opts != NULL && opts->freshest_url != NULL) {
        put_freshest(b, opts->freshest_url);
    }
    db_wrap(b, s, 0x30);
    db_wrap(b, s, 0xa0);
}

/* version, signature, issuer, thisUpdate, nextUpdate. */
static void put_head(struct dbuf *b, X509 *issuer, const struct sigalg *sa,
                     const struct lca_crl_req *req)
{
    static const uint8_t v2[] = {0x02, 0x01, 0x01};
    uint8_t t[17];
    unsigned char *name = NULL;
    int nlen = i2d_X509_NAME(X509_get_subject_name(issuer), &name);

    db_put(b, v2, sizeof(v2));
    db_put(b, sa->algid, sa->algid_len);
    if (nlen <= 0) {
        b->oom = 1;
    } else {
        db_put(b, name, (size_t)nlen);
    }
    OPENSSL_free(name);
    db_put(b, t, der_time(req->this_update, t));
    db_put(b, t, der_time(req->next_update, t));
}

/* ---------------------------------------------------------------- assembly and signature */

struct parts {
    struct dbuf head, exts;
    struct ent *ents;
    size_t n_ents;
    size_t revoked_len; /* content length of revokedCertificates */
};

/* Writes the TBSCertList at p (which has room for exactly its TLV); returns its end. */
static uint8_t *write_tbs(uint8_t *p, const struct parts *pt, size_t tbs_content)
{
    p = der_hdr(p, 0x30, tbs_content);
    memcpy(p, pt->head.p, pt->head.len);
    p += pt->head.len;
    if (pt->n_ents > 0) {
        p = der_hdr(p, 0x30, pt->revoked_len);
        for (size_t i = 0; i < pt->n_ents; i++) {
            p = ent_write(p, &pt->ents[i]);
        }
    }
    memcpy(p, pt->exts.p, pt->exts.len);
    return p + pt->exts.len;
}

static int sign_tbs(EVP_PKEY *key, const struct sigalg *sa, const uint8_t *tbs, size_t tbs_len,
                    uint8_t *sig, size_t *sig_len, struct lca_err *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = LCA_FAIL;

    if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, sa->md, NULL, key) != 1 ||
        EVP_DigestSign(ctx, sig, sig_len, tbs, tbs_len) != 1) {
        lca_err_ossl(err, LCA_ERR_FATAL, "crl_sign", "signing the CRL failed");
        goto out;
    }
    rc = LCA_OK;
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

/*   CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue BIT STRING }
 * The outer header's size depends on the signature length (ECDSA varies), so the TBS is written
 * after a slot sized for the largest header and the result is moved down if the header is shorter. */
static int assemble(EVP_PKEY *key, const struct sigalg *sa, const struct parts *pt, uint8_t **der,
                    size_t *der_len, struct lca_err *err)
{
    size_t revoked_tlv = pt->n_ents > 0 ? der_tlv(pt->revoked_len) : 0;
    size_t tbs_tlv = der_tlv(pt->head.len + revoked_tlv + pt->exts.len);
    size_t sig_max = (size_t)EVP_PKEY_get_size(key);
    size_t upper = tbs_tlv + sa->algid_len + der_tlv(1 + sig_max);
    size_t slot = 1 + der_lenlen(upper);
    size_t sig_len = sig_max, content, hdr;
    uint8_t *buf = malloc(slot + upper);
    uint8_t *sig = malloc(sig_max);
    uint8_t *p;
    int rc = LCA_FAIL;

    if (buf == NULL || sig == NULL) {
        lca_err_set(err, LCA_ERR_FATAL, "oom", "no memory for a %zu-octet CRL", upper);
        goto out;
    }
    write_tbs(buf + slot, pt, pt->head.len + revoked_tlv + pt->exts.len);
    if (sign_tbs(key, sa, buf + slot, tbs_tlv, sig, &sig_len, err) != LCA_OK) {
        goto out;
    }
    p = buf + slot + tbs_tlv;
    memcpy(p, sa->algid, sa->algid_len);
    p = der_hdr(p + sa->algid_len, 0x03, 1 + sig_len);
    *p++ = 0; /* no unused bits */
    memcpy(p, sig, sig_len);
    content = tbs_tlv + sa->algid_len + der_tlv(1 + sig_len);
    hdr = 1 + der_lenlen(content);
    der_hdr(buf + slot - hdr, 0x30, content);
    if (hdr < slot) {
        memmove(buf, buf + slot - hdr, hdr + content);
    }
    *der = buf;
    *der_len = hdr + content;
    buf = NULL;
    rc = LCA_OK;
out:
    free(buf);
    free(sig);
    return rc;
}

static int check_key(X509 *issuer, EVP_PKEY *key, struct sigalg *sa, struct lca_err *err)
{
    if (issuer == NULL || key == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_key", "issuer certificate or key missing");
    }
    if (sigalg_for(key, sa, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (X509_check_private_key(issuer, key) != 1) {
        ERR_clear_error();
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "key_mismatch",
                           "the CRL key does not match the issuer certificate");
    }
    return LCA_OK;
}

int lca_crl_build(X509 *issuer_cert, EVP_PKEY *issuer_key, const struct lca_crl_req *req,
                  uint8_t **der, size_t *der_len, struct lca_err *err)
{
    return lca_crl_build_opts(issuer_cert, issuer_key, req, NULL, der, der_len, err);
}

int lca_crl_build_opts(X509 *issuer_cert, EVP_PKEY *issuer_key, const struct lca_crl_req *req,
                       const struct lca_crl_opts *opts, uint8_t **der, size_t *der_len,
                       struct lca_err *err)
{
    struct parts pt = {0};
    struct sigalg sa = {0};
    int rc = LCA_FAIL;

    if (opts != NULL && opts->freshest_url != NULL &&
        (!url_ok(opts->freshest_url) || req->delta_base >= 0)) {
        return req_fail(err, "freshest_url must be a URL, in a complete CRL (RFC 5280 5.2.6)");
    }
    if (check_req(req, err) != LCA_OK || check_key(issuer_cert, issuer_key, &sa, err) != LCA_OK ||
        collect(req, &pt.ents, &pt.n_ents, err) != LCA_OK) {
        goto out;
    }
    for (size_t i = 0; i < pt.n_ents; i++) {
        pt.revoked_len += 2 + ent_content_len(&pt.ents[i]);
    }
    put_head(&pt.head, issuer_cert, &sa, req);
    put_exts(&pt.exts, issuer_cert, req, opts);
    if (pt.head.oom || pt.exts.oom) {
        lca_err_set(err, LCA_ERR_FATAL, "oom", "no memory for the CRL header");
        goto out;
    }
    rc = assemble(issuer_key, &sa, &pt, der, der_len, err);
out:
    free(pt.ents);
    free(pt.head.p);
    free(pt.exts.p);
    return rc;
}

/* ---------------------------------------------------------------- PEM */

int lca_crl_der_to_pem(const uint8_t *der, size_t len, char **pem, size_t *pem_len,
                       struct lca_err *err)
{
    static const char head[] = "-----BEGIN X509 CRL-----\n";
    static const char tail[] = "-----END X509 CRL-----\n";
    size_t lines, cap, k;
    char *out;

    if (der == NULL || len == 0 || len > SIZE_MAX / 2) {
        return req_fail(err, "empty or oversized DER CRL");
    }
    lines = (len + 47) / 48;
    cap = sizeof(head) - 1 + 4 * ((len + 2) / 3) + lines + sizeof(tail);
    out = malloc(cap);
    if (out == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "no memory for a PEM CRL");
    }
    memcpy(out, head, sizeof(head) - 1);
    k = sizeof(head) - 1;
    for (size_t off = 0; off < len; off += 48) {
        size_t n = len - off < 48 ? len - off : 48;
        k += (size_t)EVP_EncodeBlock((unsigned char *)out + k, der + off, (int)n);
        out[k++] = '\n';
    }
    memcpy(out + k, tail, sizeof(tail)); /* with the NUL */
    *pem = out;
    *pem_len = k + sizeof(tail) - 1;
    return LCA_OK;
}

/* ---------------------------------------------------------------- scopes: shards and deltas */

unsigned lca_crl_shard(const uint8_t *serial, size_t len, unsigned n_shards)
{
    if (n_shards <= 1 || serial == NULL || len == 0) {
        return 0;
    }
    return (unsigned)serial[len - 1] & (n_shards - 1);
}

int lca_crl_shards_valid(int64_t n)
{
    return n >= 1 && n <= LCA_CRL_MAX_SHARDS && (n & (n - 1)) == 0;
}

int lca_crl_path(const char *issuer_id, int shard, int delta, char *out, size_t len)
{
    int n;

    if (issuer_id == NULL || issuer_id[0] == '\0' || strchr(issuer_id, '/') != NULL ||
        strstr(issuer_id, "..") != NULL) {
        return LCA_FAIL;
    }
    n = shard < 0 ? snprintf(out, len, "%s%s.crl", issuer_id, delta ? ".delta" : "")
                  : snprintf(out, len, "%s/%d%s.crl", issuer_id, shard, delta ? ".delta" : "");
    return n > 0 && (size_t)n < len ? LCA_OK : LCA_FAIL;
}

int lca_crl_url(const char *base_url, const char *issuer_id, int shard, int delta, char *out,
                size_t len)
{
    char path[128];
    size_t bl;
    int n;

    if (base_url == NULL || base_url[0] == '\0' ||
        lca_crl_path(issuer_id, shard, delta, path, sizeof(path)) != LCA_OK) {
        return LCA_FAIL;
    }
    bl = strlen(base_url);
    while (bl > 0 && base_url[bl - 1] == '/') {
        bl--;
    }
    n = snprintf(out, len, "%.*s/%s", (int)bl, base_url, path);
    return n > 0 && (size_t)n < len && url_ok(out) ? LCA_OK : LCA_FAIL;
}
