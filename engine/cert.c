/*
 * cert — X.509 v3 building. See cert.h for the profile and the contract.
 *
 * The TBSCertificate is written with a small DER writer (below) from prebuilt pieces; the
 * requester's SubjectPublicKeyInfo is copied verbatim. Signing hashes the TBS with a
 * pre-fetched EVP_MD and calls EVP_PKEY_sign on a context initialised once per signer
 * (Ed25519, which signs the message itself, uses EVP_DigestSign). No X509 object is built on
 * the fast path (lca_cert_sign_der).
 */
#include "cert.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stdio.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#define SPKI_MAX 4096   /* an RSA-8192 SPKI is ~1.1 KB */
#define NAME_MAX_LEN 64 /* ub-common-name, ub-organization-name (RFC 5280 appendix A) */
#define SAN_MAX 1024    /* entries per certificate */

/* ---------------------------------------------------------------- DER writer */

/* A growable output buffer. Writes after an allocation failure are no-ops; oom is checked once
 * at the end. Constructed values are opened with der_open (tag + 1-byte length placeholder)
 * and closed with der_close, which fixes the length, moving the content if the length needs
 * the long form (X.690 8.1.3). */
struct der {
    uint8_t *p;
    size_t len;
    size_t cap;
    int oom;
};

static int der_reserve(struct der *d, size_t n)
{
    size_t cap;
    uint8_t *np;

    if (d->oom) {
        return 0;
    }
    if (d->len + n <= d->cap) {
        return 1;
    }
    cap = d->cap != 0 ? d->cap : 1024;
    while (cap < d->len + n) {
        cap *= 2;
    }
    np = realloc(d->p, cap);
    if (np == NULL) {
        d->oom = 1;
        return 0;
    }
    d->p = np;
    d->cap = cap;
    return 1;
}

static void der_put(struct der *d, const void *src, size_t n)
{
    if (n != 0 && der_reserve(d, n)) {
        memcpy(d->p + d->len, src, n);
        d->len += n;
    }
}

static void der_byte(struct der *d, uint8_t b)
{
    der_put(d, &b, 1);
}

/* Writes tag and a placeholder length; returns the placeholder's offset for der_close. */
static size_t der_open(struct der *d, uint8_t tag)
{
    size_t mark = d->len + 1;

    der_byte(d, tag);
    der_byte(d, 0);
    return mark;
}

static void der_close(struct der *d, size_t mark)
{
    size_t clen, n, i;

    if (d->oom) {
        return;
    }
    clen = d->len - mark - 1;
    if (clen < 0x80) {
        d->p[mark] = (uint8_t)clen;
        return;
    }
    n = clen > 0xffffff ? 4 : clen > 0xffff ? 3 : clen > 0xff ? 2 : 1;
    if (!der_reserve(d, n)) {
        return;
    }
    memmove(d->p + mark + 1 + n, d->p + mark + 1, clen);
    d->p[mark] = (uint8_t)(0x80 | n);
    for (i = 0; i < n; i++) {
        d->p[mark + 1 + i] = (uint8_t)(clen >> (8 * (n - 1 - i)));
    }
    d->len += n;
}

static void der_tlv(struct der *d, uint8_t tag, const void *v, size_t n)
{
    size_t m = der_open(d, tag);

    der_put(d, v, n);
    der_close(d, m);
}

static void der_free(struct der *d)
{
    free(d->p);
    memset(d, 0, sizeof(*d));
}

/* ---------------------------------------------------------------- constants */

/* Object identifiers, encoded as complete TLVs. */
static const uint8_t OID_CN[] = {0x06, 0x03, 0x55, 0x04, 0x03};
static const uint8_t OID_O[] = {0x06, 0x03, 0x55, 0x04, 0x0a};
static const uint8_t OID_BC[] = {0x06, 0x03, 0x55, 0x1d, 0x13};
static const uint8_t OID_KU[] = {0x06, 0x03, 0x55, 0x1d, 0x0f};
static const uint8_t OID_EKU[] = {0x06, 0x03, 0x55, 0x1d, 0x25};
static const uint8_t OID_SKI[] = {0x06, 0x03, 0x55, 0x1d, 0x0e};
static const uint8_t OID_AKI[] = {0x06, 0x03, 0x55, 0x1d, 0x23};
static const uint8_t OID_SAN[] = {0x06, 0x03, 0x55, 0x1d, 0x11};
static const uint8_t OID_NC[] = {0x06, 0x03, 0x55, 0x1d, 0x1e};
static const uint8_t OID_CRLDP[] = {0x06, 0x03, 0x55, 0x1d, 0x1f};
static const uint8_t OID_FRESHEST[] = {0x06, 0x03, 0x55, 0x1d, 0x2e}; /* 2.5.29.46 */
static const uint8_t OID_AIA[] = {0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01};
static const uint8_t OID_AD_OCSP[] = {0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01};
static const uint8_t OID_AD_CAISSUERS[] = {0x06, 0x08, 0x2b, 0x06, 0x01,
                                           0x05, 0x05, 0x07, 0x30, 0x02};
/* rsaEncryption 1.2.840.113549.1.1.1, value only (to recognise RSA SPKIs). */
static const uint8_t OIDV_RSA[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};

/* signatureAlgorithm AlgorithmIdentifier per issuer key (RFC 5758 3.2, RFC 8410 3,
 * RFC 4055 5: sha256WithRSAEncryption with NULL parameters). */
static const uint8_t ALG_ECDSA_SHA256[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                           0xce, 0x3d, 0x04, 0x03, 0x02};
static const uint8_t ALG_ECDSA_SHA384[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                           0xce, 0x3d, 0x04, 0x03, 0x03};
static const uint8_t ALG_ED25519[] = {0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70};
static const uint8_t ALG_RSA_SHA256[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                         0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00};

/* extKeyUsage KeyPurposeIds (RFC 5280 4.2.1.12), in LCA_EKU_* bit order. */
static const uint8_t EKU_OIDS[7][10] = {
    {0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01}, /* serverAuth */
    {0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02}, /* clientAuth */
    {0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03}, /* codeSigning */
    {0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x04}, /* emailProtection */
    {0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08}, /* timeStamping */
    {0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x09}, /* OCSPSigning */
    {0x06, 0x04, 0x55, 0x1d, 0x25, 0x00},                         /* anyExtendedKeyUsage */
};

/* ---------------------------------------------------------------- signer */

enum sig_alg { SIG_P256, SIG_P384, SIG_ED25519, SIG_RSA };

struct lca_cert_signer {
    X509 *cert;            /* issuer certificate (NULL for the transient self-sign signer) */
    EVP_PKEY *key;         /* issuer private key */
    enum sig_alg alg;      /* issuer key type */
    EVP_MD *md;            /* signature digest; NULL for Ed25519 */
    EVP_MD *sha1;          /* SKI digest (RFC 5280 4.2.1.2 method 1) */
    EVP_MD_CTX *mdctx;     /* reused for digests */
    EVP_MD_CTX *edctx;     /* Ed25519 DigestSign context; NULL for other keys */
    EVP_PKEY_CTX *pctx;    /* sign-initialised once; NULL for Ed25519 */
    const uint8_t *sigalg; /* AlgorithmIdentifier DER (static) */
    size_t sigalg_len;
    uint8_t *issuer; /* issuer Name DER */
    size_t issuer_len;
    uint8_t aki[20]; /* keyIdentifier (the issuer's SKI) */
    size_t sig_max;  /* upper bound of a signature's length */
    struct der tbs;  /* scratch buffer reused for each TBSCertificate */
};

static int key_sig_alg(EVP_PKEY *key, enum sig_alg *out)
{
    char group[64] = "";

    if (EVP_PKEY_is_a(key, "EC")) {
        if (!EVP_PKEY_get_group_name(key, group, sizeof(group), NULL)) {
            return 0;
        }
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
            *out = SIG_P256;
            return 1;
        }
        if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
            *out = SIG_P384;
            return 1;
        }
        return 0;
    }
    if (EVP_PKEY_is_a(key, "ED25519")) {
        *out = SIG_ED25519;
        return 1;
    }
    if (EVP_PKEY_is_a(key, "RSA") && EVP_PKEY_get_bits(key) >= 2048) {
        *out = SIG_RSA;
        return 1;
    }
    return 0;
}

/* Fetches algorithms and prepares the reusable signing context for key. */
static int signer_setup(struct lca_cert_signer *s, EVP_PKEY *key, struct lca_err *err)
{
    static const char *const md_names[] = {"SHA256", "SHA384", NULL, "SHA256"};
    static const uint8_t *const algs[] = {ALG_ECDSA_SHA256, ALG_ECDSA_SHA384, ALG_ED25519,
                                          ALG_RSA_SHA256};
    static const size_t alg_lens[] = {sizeof(ALG_ECDSA_SHA256), sizeof(ALG_ECDSA_SHA384),
                                      sizeof(ALG_ED25519), sizeof(ALG_RSA_SHA256)};

    if (!key_sig_alg(key, &s->alg)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_key",
                           "issuer key must be EC P-256/P-384, Ed25519 or RSA >= 2048");
    }
    if (!EVP_PKEY_up_ref(key)) {
        return lca_err_ossl(err, LCA_ERR_FATAL, "ossl", "EVP_PKEY_up_ref");
    }
    s->key = key;
    s->sigalg = algs[s->alg];
    s->sigalg_len = alg_lens[s->alg];
    s->sig_max = (size_t)EVP_PKEY_get_size(key);
    s->sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    s->mdctx = EVP_MD_CTX_new();
    if (s->sha1 == NULL || s->mdctx == NULL) {
        return lca_err_ossl(err, LCA_ERR_FATAL, "ossl", "fetching SHA-1");
    }
    if (s->alg == SIG_ED25519) {
        s->edctx = EVP_MD_CTX_new();
        return s->edctx != NULL ? LCA_OK : lca_err_set(err, LCA_ERR_FATAL, "oom", "EVP_MD_CTX");
    }
    s->md = EVP_MD_fetch(NULL, md_names[s->alg], NULL);
    s->pctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    if (s->md == NULL || s->pctx == NULL || EVP_PKEY_sign_init(s->pctx) <= 0 ||
        EVP_PKEY_CTX_set_signature_md(s->pctx, s->md) <= 0) {
        return lca_err_ossl(err, LCA_ERR_FATAL, "ossl", "preparing the signing context");
    }
    if (s->alg == SIG_RSA && EVP_PKEY_CTX_set_rsa_padding(s->pctx, RSA_PKCS1_PADDING) <= 0) {
        return lca_err_ossl(err, LCA_ERR_FATAL, "ossl", "setting PKCS#1 v1.5 padding");
    }
    return LCA_OK;
}

void lca_cert_signer_free(struct lca_cert_signer *s)
{
    if (s == NULL) {
        return;
    }
    X509_free(s->cert);
    EVP_PKEY_free(s->key);
    EVP_MD_free(s->md);
    EVP_MD_free(s->sha1);
    EVP_MD_CTX_free(s->mdctx);
    EVP_MD_CTX_free(s->edctx);
    EVP_PKEY_CTX_free(s->pctx);
    free(s->issuer);
    der_free(&s->tbs);
    free(s);
}

static int sha1_of(struct lca_cert_signer *s, const uint8_t *p, size_t n, uint8_t out[20])
{
    unsigned int olen = 0;

    return EVP_DigestInit_ex2(s->mdctx, s->sha1, NULL) && EVP_DigestUpdate(s->mdctx, p, n) &&
           EVP_DigestFinal_ex(s->mdctx, out, &olen) && olen == 20;
}

/* AKI keyIdentifier = the issuer's SKI when present, else computed like ours (4.2.1.1). */
static int signer_set_aki(struct lca_cert_signer *s, X509 *cert, struct lca_err *err)
{
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(cert);
    ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(cert);

    if (ski != NULL && ASN1_STRING_length(ski) == 20) {
        memcpy(s->aki, ASN1_STRING_get0_data(ski), 20);
        return LCA_OK;
    }
    if (bits == NULL ||
        !sha1_of(s, ASN1_STRING_get0_data(bits), (size_t)ASN1_STRING_length(bits), s->aki)) {
        return lca_err_ossl(err, LCA_ERR_BAD_INPUT, "bad_cert", "issuer key identifier");
    }
    return LCA_OK;
}

int lca_cert_signer_new(X509 *issuer_cert, EVP_PKEY *issuer_key, struct lca_cert_signer **out,
                        struct lca_err *err)
{
    struct lca_cert_signer *s = NULL;
    unsigned char *name = NULL;
    int n, rc = LCA_FAIL;

    if (issuer_cert == NULL || issuer_key == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_request", "issuer cert and key required");
    }
    if (X509_check_private_key(issuer_cert, issuer_key) != 1) {
        ERR_clear_error();
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "key_mismatch",
                           "issuer key does not match the issuer certificate");
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "allocating a signer");
    }
    if (signer_setup(s, issuer_key, err) != LCA_OK ||
        signer_set_aki(s, issuer_cert, err) != LCA_OK) {
        goto out;
    }
    n = i2d_X509_NAME(X509_get_subject_name(issuer_cert), &name);
    if (n <= 0 || !X509_up_ref(issuer_cert)) {
        lca_err_ossl(err, LCA_ERR_FATAL, "ossl", "encoding the issuer name");
        goto out;
    }
    s->cert = issuer_cert;
    s->issuer = name;
    s->issuer_len = (size_t)n;
    name = NULL;
    *out = s;
    s = NULL;
    rc = LCA_OK;
out:
    OPENSSL_free(name);
    lca_cert_signer_free(s);
    return rc;
}

/* ---------------------------------------------------------------- field writers */

/* ---- the signer cache ---- */

#define SIGNER_CACHE_SLOTS 8

struct lca_cert_signer_cache {
    struct {
        X509 *cert;     /* identity only: the signer holds the reference */
        EVP_PKEY *key;
        struct lca_cert_signer *s;
    } slot[SIGNER_CACHE_SLOTS];
    size_t next; /* the slot replaced next (round robin) */
};

struct lca_cert_signer_cache *lca_cert_signer_cache_new(void)
{
    return calloc(1, sizeof(struct lca_cert_signer_cache));
}

void lca_cert_signer_cache_free(struct lca_cert_signer_cache *c)
{
    size_t i;

    if (c == NULL) {
        return;
    }
    for (i = 0; i < SIGNER_CACHE_SLOTS; i++) {
        lca_cert_signer_free(c->slot[i].s);
    }
    free(c);
}

int lca_cert_signer_cached(struct lca_cert_signer_cache *c, X509 *issuer_cert,
                           EVP_PKEY *issuer_key, struct lca_cert_signer **out,
                           struct lca_err *err)
{
    struct lca_cert_signer *s = NULL;
    size_t i;

    for (i = 0; i < SIGNER_CACHE_SLOTS; i++) {
        if (c->slot[i].s != NULL && c->slot[i].cert == issuer_cert &&
            c->slot[i].key == issuer_key) {
            *out = c->slot[i].s;
            return LCA_OK;
        }
    }
    if (lca_cert_signer_new(issuer_cert, issuer_key, &s, err) != LCA_OK) {
        return LCA_FAIL;
    }
    i = c->next;
    c->next = (c->next + 1) % SIGNER_CACHE_SLOTS;
    lca_cert_signer_free(c->slot[i].s);
    c->slot[i].cert = issuer_cert;
    c->slot[i].key = issuer_key;
    c->slot[i].s = s;
    *out = s;
    return LCA_OK;
}

/* The INTEGER the builder encodes for serial bytes: top bit cleared (positive), leading zero
 * octets dropped (DER minimal). Returns the magnitude in mag (<= 20 bytes), 0 if invalid. */
static size_t serial_magnitude(const uint8_t *serial, size_t len, uint8_t mag[20])
{
    size_t i = 0;

    if (serial == NULL || len == 0 || len > 20) {
        return 0;
    }
    memcpy(mag, serial, len);
    mag[0] &= 0x7f;
    while (i < len && mag[i] == 0) {
        i++;
    }
    if (i == len) {
        return 0;
    }
    memmove(mag, mag + i, len - i);
    return len - i;
}

static int put_serial(struct der *d, const uint8_t *serial, size_t len)
{
    uint8_t mag[20];
    size_t n = serial_magnitude(serial, len, mag), m;

    if (n == 0) {
        return 0;
    }
    m = der_open(d, 0x02);
    if (mag[0] & 0x80) {
        der_byte(d, 0x00); /* keep the INTEGER positive */
    }
    der_put(d, mag, n);
    der_close(d, m);
    return 1;
}

/* Writes v (0..99) as two ASCII digits. */
static void two_digits(char *b, int v)
{
    b[0] = (char)('0' + v / 10);
    b[1] = (char)('0' + v % 10);
}

/* Time ::= UTCTime (YYMMDDHHMMSSZ) for 1950..2049, else GeneralizedTime (RFC 5280 4.1.2.5). */
static int put_time(struct der *d, int64_t t)
{
    struct tm tm;
    time_t tt = (time_t)t;
    char buf[16];
    int year, utc, o;

    if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL) {
        return 0;
    }
    year = tm.tm_year + 1900;
    if (year < 0 || year > 9999) {
        return 0;
    }
    utc = year >= 1950 && year < 2050;
    o = utc ? 0 : 2;
    if (!utc) {
        two_digits(buf, year / 100);
    }
    two_digits(buf + o, year % 100);
    two_digits(buf + o + 2, tm.tm_mon + 1);
    two_digits(buf + o + 4, tm.tm_mday);
    two_digits(buf + o + 6, tm.tm_hour);
    two_digits(buf + o + 8, tm.tm_min);
    two_digits(buf + o + 10, tm.tm_sec > 59 ? 59 : tm.tm_sec);
    buf[o + 12] = 'Z';
    der_tlv(d, utc ? 0x17 : 0x18, buf, (size_t)o + 13);
    return 1;
}

/* One RDN: SET { SEQUENCE { type OID, UTF8String value } } */
static void put_rdn(struct der *d, const uint8_t *oid, size_t oidlen, const char *v)
{
    size_t set = der_open(d, 0x31), seq = der_open(d, 0x30);

    der_put(d, oid, oidlen);
    der_tlv(d, 0x0c, v, strlen(v));
    der_close(d, seq);
    der_close(d, set);
}

/* Name ::= SEQUENCE OF RDN: O then CN (most significant first); empty when neither. */
static void put_name(struct der *d, const char *org, const char *cn)
{
    size_t m = der_open(d, 0x30);

    if (org != NULL) {
        put_rdn(d, OID_O, sizeof(OID_O), org);
    }
    if (cn != NULL) {
        put_rdn(d, OID_CN, sizeof(OID_CN), cn);
    }
    der_close(d, m);
}

/* Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }.
 * ext_open writes up to the OCTET STRING's content; ext_close closes both. */
struct ext_mark {
    size_t seq;
    size_t oct;
};

static struct ext_mark ext_open(struct der *d, const uint8_t *oid, size_t oidlen, int critical)
{
    struct ext_mark m;

    m.seq = der_open(d, 0x30);
    der_put(d, oid, oidlen);
    if (critical) {
        der_put(d, "\x01\x01\xff", 3);
    }
    m.oct = der_open(d, 0x04);
    return m;
}

static void ext_close(struct der *d, struct ext_mark m)
{
    der_close(d, m.oct);
    der_close(d, m.seq);
}

/* ---------------------------------------------------------------- extensions */

/* basicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPT }
 * Critical in CAs (4.2.1.9); leaves carry an empty (CA:FALSE) critical one too. */
static void put_basic_constraints(struct der *d, int is_ca, int path_len)
{
    struct ext_mark e = ext_open(d, OID_BC, sizeof(OID_BC), 1);
    size_t seq = der_open(d, 0x30);
    uint8_t pl[2];

    if (is_ca) {
        der_put(d, "\x01\x01\xff", 3);
        if (path_len >= 0) {
            pl[0] = (uint8_t)(path_len >> 8);
            pl[1] = (uint8_t)path_len;
            /* minimal positive INTEGER: one octet below 128, else two */
            if (path_len < 0x80) {
                der_tlv(d, 0x02, pl + 1, 1);
            } else {
                der_tlv(d, 0x02, pl, 2);
            }
        }
    }
    der_close(d, seq);
    ext_close(d, e);
}

/* KeyUsage ::= BIT STRING, named bits 0 digitalSignature .. 6 cRLSign, DER: trailing zero bits
 * dropped and counted in the unused-bits octet (X.690 11.2.2). Critical (4.2.1.3). */
static void put_key_usage(struct der *d, unsigned ku)
{
    static const unsigned bitpos[7] = {0, 2, 4, 5, 6, 1, 3}; /* LCA_KU_* bit i -> named bit */
    struct ext_mark e = ext_open(d, OID_KU, sizeof(OID_KU), 1);
    unsigned i, bits = 0, last = 0;
    uint8_t v[2];

    for (i = 0; i < 7; i++) {
        if (ku & (1u << i)) {
            bits |= 0x80u >> bitpos[i];
            last = bitpos[i] > last ? bitpos[i] : last;
        }
    }
    v[0] = (uint8_t)(7 - last);
    v[1] = (uint8_t)bits;
    der_tlv(d, 0x03, v, 2);
    ext_close(d, e);
}

static void put_eku(struct der *d, unsigned eku)
{
    struct ext_mark e = ext_open(d, OID_EKU, sizeof(OID_EKU), 0);
    size_t seq = der_open(d, 0x30);
    unsigned i;

    for (i = 0; i < 7; i++) {
        if (eku & (1u << i)) {
            der_put(d, EKU_OIDS[i], (size_t)EKU_OIDS[i][1] + 2);
        }
    }
    der_close(d, seq);
    ext_close(d, e);
}

/* SubjectKeyIdentifier ::= OCTET STRING (4.2.1.2). */
static void put_ski(struct der *d, const uint8_t ski[20])
{
    struct ext_mark e = ext_open(d, OID_SKI, sizeof(OID_SKI), 0);

    der_tlv(d, 0x04, ski, 20);
    ext_close(d, e);
}

/* AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING } only:
 * no authorityCertIssuer/SerialNumber, so cross-signing keeps chains valid (4.2.1.1). */
static void put_aki(struct der *d, const uint8_t aki[20])
{
    struct ext_mark e = ext_open(d, OID_AKI, sizeof(OID_AKI), 0);
    size_t seq = der_open(d, 0x30);

    der_tlv(d, 0x80, aki, 20);
    der_close(d, seq);
    ext_close(d, e);
}

/* Checks a dNSName / URI: 1..1024 printable ASCII characters (IA5String, 4.2.1.6). */
static int ia5_ok(const char *s)
{
    size_t i, n = s != NULL ? strlen(s) : 0;

    if (n == 0 || n > 1024) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) {
            return 0;
        }
    }
    return 1;
}

/* GeneralName iPAddress [7]: 4 or 16 octets, from text. */
static int put_ip(struct der *d, const char *text)
{
    uint8_t a[16];

    if (text == NULL) {
        return 0;
    }
    if (inet_pton(AF_INET, text, a) == 1) {
        der_tlv(d, 0x87, a, 4);
        return 1;
    }
    if (inet_pton(AF_INET6, text, a) == 1) {
        der_tlv(d, 0x87, a, 16);
        return 1;
    }
    return 0;
}

/* SubjectAltName ::= GeneralNames: dNSName [2], iPAddress [7], URI [6] (4.2.1.6);
 * critical when the subject is empty. Returns 0 on an invalid entry. */
static int put_san(struct der *d, const struct lca_cert_req *r, int critical)
{
    struct ext_mark e = ext_open(d, OID_SAN, sizeof(OID_SAN), critical);
    size_t seq = der_open(d, 0x30), i;

    for (i = 0; i < r->n_dns; i++) {
        if (!ia5_ok(r->dns_names[i])) {
            return 0;
        }
        der_tlv(d, 0x82, r->dns_names[i], strlen(r->dns_names[i]));
    }
    for (i = 0; i < r->n_ip; i++) {
        if (!put_ip(d, r->ip_addrs[i])) {
            return 0;
        }
    }
    for (i = 0; i < r->n_uri; i++) {
        if (!ia5_ok(r->uris[i])) {
            return 0;
        }
        der_tlv(d, 0x86, r->uris[i], strlen(r->uris[i]));
    }
    der_close(d, seq);
    ext_close(d, e);
    return 1;
}

/* NameConstraints ::= SEQUENCE { permittedSubtrees [0] GeneralSubtrees }, GeneralSubtree ::=
 * SEQUENCE { base GeneralName } (minimum 0 and no maximum: both absent), critical (4.2.1.10). */
static int put_name_constraints(struct der *d, const char *const *dom, size_t n)
{
    struct ext_mark e = ext_open(d, OID_NC, sizeof(OID_NC), 1);
    size_t seq = der_open(d, 0x30), perm = der_open(d, 0xa0), i, sub;

    for (i = 0; i < n; i++) {
        if (!ia5_ok(dom[i])) {
            return 0;
        }
        sub = der_open(d, 0x30);
        der_tlv(d, 0x82, dom[i], strlen(dom[i]));
        der_close(d, sub);
    }
    der_close(d, perm);
    der_close(d, seq);
    ext_close(d, e);
    return 1;
}

/* CRLDistributionPoints ::= SEQUENCE OF DistributionPoint, one per URL:
 * SEQUENCE { distributionPoint [0] { fullName [0] { uniformResourceIdentifier [6] } } }
 * (4.2.1.13); FreshestCRL (4.2.1.15) has the same syntax under its own OID. */
static int put_crl_dp(struct der *d, const uint8_t *oid, size_t oid_len, const char *const *urls,
                      size_t n)
{
    struct ext_mark e = ext_open(d, oid, oid_len, 0);
    size_t seq = der_open(d, 0x30), i, dp, dpn, full;

    for (i = 0; i < n; i++) {
        if (!ia5_ok(urls[i])) {
            return 0;
        }
        dp = der_open(d, 0x30);
        dpn = der_open(d, 0xa0);
        full = der_open(d, 0xa0);
        der_tlv(d, 0x86, urls[i], strlen(urls[i]));
        der_close(d, full);
        der_close(d, dpn);
        der_close(d, dp);
    }
    der_close(d, seq);
    ext_close(d, e);
    return 1;
}

/* AccessDescription ::= SEQUENCE { accessMethod OID, accessLocation GeneralName URI }. */
static int put_access(struct der *d, const uint8_t *method, const char *const *u, size_t n)
{
    size_t i, ad;

    for (i = 0; i < n; i++) {
        if (!ia5_ok(u[i])) {
            return 0;
        }
        ad = der_open(d, 0x30);
        der_put(d, method, (size_t)method[1] + 2);
        der_tlv(d, 0x86, u[i], strlen(u[i]));
        der_close(d, ad);
    }
    return 1;
}

/* AuthorityInfoAccessSyntax ::= SEQUENCE OF AccessDescription: OCSP then caIssuers (4.2.2.1). */
static int put_aia(struct der *d, const struct lca_urls *u)
{
    struct ext_mark e = ext_open(d, OID_AIA, sizeof(OID_AIA), 0);
    size_t seq = der_open(d, 0x30);

    if (!put_access(d, OID_AD_OCSP, u->ocsp_servers, u->n_ocsp) ||
        !put_access(d, OID_AD_CAISSUERS, u->issuing_certificates, u->n_issuing)) {
        return 0;
    }
    der_close(d, seq);
    ext_close(d, e);
    return 1;
}

/* CRL DP and AIA from urls (each only when it has entries). */
static int put_urls(struct der *d, const struct lca_urls *u)
{
    if (u == NULL) {
        return 1;
    }
    if (u->n_crl > 0 &&
        !put_crl_dp(d, OID_CRLDP, sizeof(OID_CRLDP), u->crl_distribution_points, u->n_crl)) {
        return 0;
    }
    if (u->n_freshest > 0 &&
        !put_crl_dp(d, OID_FRESHEST, sizeof(OID_FRESHEST), u->freshest_crl, u->n_freshest)) {
        return 0;
    }
    if (u->n_ocsp + u->n_issuing > 0 && !put_aia(d, u)) {
        return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- SPKI */

/* Reads one DER TLV header at p[0..end): returns the content offset and sets *clen, or 0. */
static size_t tlv_hdr(const uint8_t *p, size_t len, uint8_t tag, size_t *clen)
{
    size_t n, i, l = 0;

    if (len < 2 || p[0] != tag) {
        return 0;
    }
    if (p[1] < 0x80) {
        *clen = p[1];
        return 2 + *clen <= len ? 2 : 0;
    }
    n = p[1] & 0x7f;
    if (n == 0 || n > 2 || len < 2 + n || p[2] == 0) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        l = (l << 8) | p[2 + i];
    }
    if (l < 0x80 || 2 + n + l > len) {
        return 0;
    }
    *clen = l;
    return 2 + n;
}

/* What the builder needs from a SubjectPublicKeyInfo: whether it is RSA (default keyUsage)
 * and its key identifier.
 *   SubjectPublicKeyInfo ::= SEQUENCE { algorithm SEQUENCE { OID, params ANY OPTIONAL },
 *                                       subjectPublicKey BIT STRING }
 * Only the outer structure is checked; the key itself was checked by whoever produced the
 * bytes (lca_csr_parse, or OpenSSL's encoder for server-generated keys). */
struct spki_info {
    int is_rsa;
    uint8_t ski[20];
};

static int spki_inspect(struct lca_cert_signer *s, const uint8_t *p, size_t len,
                        struct spki_info *si)
{
    size_t off, clen, aoff, alen, ooff, olen, boff, blen;

    if (p == NULL || len > SPKI_MAX || (off = tlv_hdr(p, len, 0x30, &clen)) == 0 ||
        off + clen != len) {
        return 0;
    }
    p += off;
    if ((aoff = tlv_hdr(p, clen, 0x30, &alen)) == 0 ||
        (ooff = tlv_hdr(p + aoff, alen, 0x06, &olen)) == 0) {
        return 0;
    }
    si->is_rsa = olen == sizeof(OIDV_RSA) && memcmp(p + aoff + ooff, OIDV_RSA, olen) == 0;
    p += aoff + alen;
    clen -= aoff + alen;
    if ((boff = tlv_hdr(p, clen, 0x03, &blen)) == 0 || boff + blen != clen || blen < 2 ||
        p[boff] != 0) {
        return 0;
    }
    return sha1_of(s, p + boff + 1, blen - 1, si->ski);
}

/* ---------------------------------------------------------------- TBSCertificate */

static int req_check(const struct lca_cert_req *r, struct lca_err *err)
{
    if ((r->common_name != NULL && (r->common_name[0] == '\0' ||
                                    strlen(r->common_name) > NAME_MAX_LEN)) ||
        (r->organization != NULL && (r->organization[0] == '\0' ||
                                     strlen(r->organization) > NAME_MAX_LEN))) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_request",
                           "common_name/organization must be 1..64 characters");
    }
    if (r->common_name == NULL && r->organization == NULL && r->n_dns + r->n_ip + r->n_uri == 0) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_request",
                           "a certificate with an empty subject needs a subjectAltName");
    }
    if (r->n_dns + r->n_ip + r->n_uri > SAN_MAX || r->not_after < r->not_before ||
        r->path_len > 0x7fff) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_request",
                           "too many SANs, not_after before not_before, or path_len too large");
    }
    return LCA_OK;
}

/* version [0] EXPLICIT v3, serialNumber, signature, issuer, validity. */
static int put_tbs_head(struct der *d, const struct lca_cert_signer *s, const uint8_t *serial,
                        size_t serial_len, int64_t nb, int64_t na, struct lca_err *err)
{
    size_t v;

    der_put(d, "\xa0\x03\x02\x01\x02", 5);
    if (!put_serial(d, serial, serial_len)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_request",
                           "serial must be 1..20 bytes and not zero");
    }
    der_put(d, s->sigalg, s->sigalg_len);
    der_put(d, s->issuer, s->issuer_len);
    v = der_open(d, 0x30);
    if (!put_time(d, nb) || !put_time(d, na)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_request",
                           "validity outside years 0000..9999");
    }
    der_close(d, v);
    return LCA_OK;
}

/* The extensions of a certificate built from a request, in the order cert.h lists. */
static int put_req_extensions(struct der *d, const struct lca_cert_signer *s,
                              const struct lca_cert_req *r, const struct spki_info *si)
{
    unsigned ku = r->key_usage, eku = r->ext_key_usage;
    int empty_subject = r->common_name == NULL && r->organization == NULL;

    if (ku == 0) {
        ku = r->is_ca ? LCA_KU_CERT_SIGN | LCA_KU_CRL_SIGN | LCA_KU_DIGITAL_SIGNATURE
                      : LCA_KU_DIGITAL_SIGNATURE | (si->is_rsa ? LCA_KU_KEY_ENCIPHERMENT : 0u);
    }
    if (eku == 0 && !r->is_ca) {
        eku = LCA_EKU_SERVER_AUTH | LCA_EKU_CLIENT_AUTH;
    }
    put_basic_constraints(d, r->is_ca, r->path_len);
    put_key_usage(d, ku);
    if (eku != 0) {
        put_eku(d, eku);
    }
    put_ski(d, si->ski);
    put_aki(d, s->aki);
    if (r->n_dns + r->n_ip + r->n_uri > 0 && !put_san(d, r, empty_subject)) {
        return 0;
    }
    if (r->n_permitted > 0 &&
        !put_name_constraints(d, r->permitted_dns_domains, r->n_permitted)) {
        return 0;
    }
    return put_urls(d, r->urls);
}

static int build_tbs(struct lca_cert_signer *s, const struct lca_cert_req *r,
                     const uint8_t *spki, size_t spki_len, const struct spki_info *si,
                     struct lca_err *err)
{
    struct der *d = &s->tbs;
    size_t tbs, ext3, exts;

    d->len = 0;
    d->oom = 0;
    tbs = der_open(d, 0x30);
    if (put_tbs_head(d, s, r->serial, r->serial_len, r->not_before, r->not_after, err) !=
        LCA_OK) {
        return LCA_FAIL;
    }
    put_name(d, r->organization, r->common_name);
    der_put(d, spki, spki_len);
    ext3 = der_open(d, 0xa3);
    exts = der_open(d, 0x30);
    if (!put_req_extensions(d, s, r, si)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_request",
                           "invalid SAN, name constraint or URL (IA5 text / IP literal)");
    }
    der_close(d, exts);
    der_close(d, ext3);
    der_close(d, tbs);
    if (d->oom) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "building the certificate");
    }
    return LCA_OK;
}

/* ---------------------------------------------------------------- signing */

static int sign_bytes(struct lca_cert_signer *s, const uint8_t *m, size_t n, uint8_t *sig,
                      size_t *siglen)
{
    uint8_t dgst[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;

    if (s->alg == SIG_ED25519) {
        return EVP_MD_CTX_reset(s->edctx) &&
               EVP_DigestSignInit_ex(s->edctx, NULL, NULL, NULL, NULL, s->key, NULL) > 0 &&
               EVP_DigestSign(s->edctx, sig, siglen, m, n) > 0;
    }
    return EVP_DigestInit_ex2(s->mdctx, s->md, NULL) && EVP_DigestUpdate(s->mdctx, m, n) &&
           EVP_DigestFinal_ex(s->mdctx, dgst, &dlen) &&
           EVP_PKEY_sign(s->pctx, sig, siglen, dgst, dlen) > 0;
}

/* Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING },
 * signing s->tbs. The result is one malloc'd buffer, sized exactly. */
static int finish(struct lca_cert_signer *s, uint8_t **der, size_t *der_len, struct lca_err *err)
{
    struct der out = {0};
    size_t seq, bits, siglen = s->sig_max;
    uint8_t *sig;

    if (!der_reserve(&out, s->tbs.len + s->sigalg_len + s->sig_max + 16)) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "allocating the certificate");
    }
    seq = der_open(&out, 0x30);
    der_put(&out, s->tbs.p, s->tbs.len);
    der_put(&out, s->sigalg, s->sigalg_len);
    bits = der_open(&out, 0x03);
    der_byte(&out, 0x00); /* no unused bits */
    sig = out.p + out.len;
    if (!sign_bytes(s, s->tbs.p, s->tbs.len, sig, &siglen)) {
        der_free(&out);
        return lca_err_ossl(err, LCA_ERR_FATAL, "sign_failed", "signing the certificate");
    }
    out.len += siglen;
    der_close(&out, bits);
    der_close(&out, seq);
    if (out.oom) {
        der_free(&out);
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "allocating the certificate");
    }
    *der = out.p;
    *der_len = out.len;
    return LCA_OK;
}

int lca_cert_sign_der(struct lca_cert_signer *s, const struct lca_cert_req *req,
                      const uint8_t *spki, size_t spki_len, uint8_t **der, size_t *der_len,
                      struct lca_err *err)
{
    struct spki_info si;

    if (s == NULL || req == NULL || der == NULL || der_len == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_request", "missing argument");
    }
    if (req_check(req, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (!spki_inspect(s, spki, spki_len, &si)) {
        ERR_clear_error();
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_spki",
                           "subject public key is not a DER SubjectPublicKeyInfo");
    }
    if (build_tbs(s, req, spki, spki_len, &si, err) != LCA_OK) {
        return LCA_FAIL;
    }
    return finish(s, der, der_len, err);
}

/* Decodes freshly built DER into an X509 for the callers that want one. */
static int der_to_x509(uint8_t *der, size_t len, X509 **out, struct lca_err *err)
{
    int rc = lca_cert_from_der(der, len, out, err);

    free(der);
    if (rc != LCA_OK && err != NULL) {
        err->cls = LCA_ERR_FATAL; /* our own output must decode */
    }
    return rc;
}

int lca_cert_sign(struct lca_cert_signer *s, const struct lca_cert_req *req, const uint8_t *spki,
                  size_t spki_len, X509 **out, struct lca_err *err)
{
    uint8_t *der = NULL;
    size_t len = 0;

    if (out == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_request", "missing argument");
    }
    if (lca_cert_sign_der(s, req, spki, spki_len, &der, &len, err) != LCA_OK) {
        return LCA_FAIL;
    }
    return der_to_x509(der, len, out, err);
}

/* ---------------------------------------------------------------- self-sign */

/* Prepares s to sign as the self-signed subject of r with key: issuer name = subject,
 * AKI = own SKI. *spki (OPENSSL_free) receives the key's SubjectPublicKeyInfo DER. */
static int self_signer_setup(struct lca_cert_signer *s, EVP_PKEY *key,
                             const struct lca_cert_req *r, unsigned char **spki, size_t *spki_len,
                             struct spki_info *si, struct lca_err *err)
{
    struct der name = {0};
    int n;

    if (signer_setup(s, key, err) != LCA_OK) {
        return LCA_FAIL;
    }
    n = i2d_PUBKEY(key, spki);
    if (n <= 0 || !spki_inspect(s, *spki, (size_t)n, si)) {
        return lca_err_ossl(err, LCA_ERR_BAD_INPUT, "bad_key", "encoding the public key");
    }
    *spki_len = (size_t)n;
    put_name(&name, r->organization, r->common_name);
    if (name.oom) {
        der_free(&name);
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "building the name");
    }
    s->issuer = name.p; /* the signer owns it now */
    s->issuer_len = name.len;
    memcpy(s->aki, si->ski, 20);
    return LCA_OK;
}

int lca_cert_self_sign(EVP_PKEY *key, const struct lca_cert_req *req, X509 **out,
                       struct lca_err *err)
{
    struct lca_cert_signer *s = NULL;
    struct lca_cert_req r;
    struct spki_info si;
    unsigned char *spki = NULL;
    uint8_t *der = NULL;
    size_t len = 0, spki_len = 0;
    int rc = LCA_FAIL;

    if (key == NULL || req == NULL || out == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_request", "missing argument");
    }
    r = *req;
    r.is_ca = 1;
    if (req_check(&r, err) != LCA_OK) {
        return LCA_FAIL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "allocating a signer");
    }
    if (self_signer_setup(s, key, &r, &spki, &spki_len, &si, err) == LCA_OK &&
        build_tbs(s, &r, spki, spki_len, &si, err) == LCA_OK &&
        finish(s, &der, &len, err) == LCA_OK) {
        rc = der_to_x509(der, len, out, err);
    }
    OPENSSL_free(spki);
    lca_cert_signer_free(s);
    return rc;
}

/* ---------------------------------------------------------------- resign */

/* Copies tmpl's extensions except AKI (replaced by the signer's) and, when urls is given, the
 * AIA and CRL DP ones (replaced by urls). */
static int put_template_extensions(struct der *d, const struct lca_cert_signer *s, X509 *tmpl,
                                   const struct lca_urls *urls)
{
    int i, nid, n;
    unsigned char *buf = NULL;

    for (i = 0; i < X509_get_ext_count(tmpl); i++) {
        X509_EXTENSION *ext = X509_get_ext(tmpl, i);

        nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
        if (nid == NID_authority_key_identifier ||
            (urls != NULL && (nid == NID_info_access || nid == NID_crl_distribution_points ||
                              nid == NID_freshest_crl))) {
            continue;
        }
        n = i2d_X509_EXTENSION(ext, &buf);
        if (n <= 0) {
            return 0;
        }
        der_put(d, buf, (size_t)n);
        OPENSSL_free(buf);
        buf = NULL;
    }
    put_aki(d, s->aki);
    return put_urls(d, urls);
}

/* Subject and SPKI of tmpl, DER. */
static int put_template_subject(struct der *d, X509 *tmpl)
{
    unsigned char *name = NULL, *spki = NULL;
    int nn = i2d_X509_NAME(X509_get_subject_name(tmpl), &name);
    int ns = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(tmpl), &spki);
    int ok = nn > 0 && ns > 0;

    if (ok) {
        der_put(d, name, (size_t)nn);
        der_put(d, spki, (size_t)ns);
    }
    OPENSSL_free(name);
    OPENSSL_free(spki);
    return ok;
}

int lca_cert_resign(struct lca_cert_signer *s, X509 *tmpl, const uint8_t *serial,
                    size_t serial_len, int64_t not_before, int64_t not_after,
                    const struct lca_urls *urls, X509 **out, struct lca_err *err)
{
    struct der *d;
    size_t tbs, ext3, exts, len = 0;
    uint8_t *der = NULL;

    if (s == NULL || tmpl == NULL || out == NULL || not_after < not_before) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_request",
                           "missing argument or not_after before not_before");
    }
    d = &s->tbs;
    d->len = 0;
    d->oom = 0;
    tbs = der_open(d, 0x30);
    if (put_tbs_head(d, s, serial, serial_len, not_before, not_after, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (!put_template_subject(d, tmpl)) {
        return lca_err_ossl(err, LCA_ERR_BAD_INPUT, "bad_cert", "template subject/key");
    }
    ext3 = der_open(d, 0xa3);
    exts = der_open(d, 0x30);
    if (!put_template_extensions(d, s, tmpl, urls)) {
        return lca_err_ossl(err, LCA_ERR_BAD_INPUT, "bad_request", "template extensions/URLs");
    }
    der_close(d, exts);
    der_close(d, ext3);
    der_close(d, tbs);
    if (d->oom) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "building the certificate");
    }
    if (finish(s, &der, &len, err) != LCA_OK) {
        return LCA_FAIL;
    }
    return der_to_x509(der, len, out, err);
}

/* ---------------------------------------------------------------- conversions */

int lca_cert_from_der(const uint8_t *der, size_t len, X509 **out, struct lca_err *err)
{
    const unsigned char *p = der;
    X509 *x;

    if (der == NULL || len == 0 || len > LONG_MAX) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_cert", "empty certificate");
    }
    x = d2i_X509(NULL, &p, (long)len);
    if (x == NULL || p != der + len) {
        X509_free(x);
        return lca_err_ossl(err, LCA_ERR_BAD_INPUT, "bad_cert", "decoding a DER certificate");
    }
    *out = x;
    return LCA_OK;
}

int lca_cert_from_pem(const char *pem, size_t len, X509 **out, struct lca_err *err)
{
    BIO *b;
    X509 *x;

    if (pem == NULL || len == 0 || len > INT_MAX) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_cert", "empty certificate");
    }
    b = BIO_new_mem_buf(pem, (int)len);
    if (b == NULL) {
        return lca_err_ossl(err, LCA_ERR_FATAL, "oom", "BIO_new_mem_buf");
    }
    x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    if (x == NULL) {
        return lca_err_ossl(err, LCA_ERR_BAD_INPUT, "bad_cert", "decoding a PEM certificate");
    }
    *out = x;
    return LCA_OK;
}

int lca_cert_to_der(X509 *c, uint8_t **der, size_t *len, struct lca_err *err)
{
    unsigned char *p = NULL;
    uint8_t *copy;
    int n = c != NULL ? i2d_X509(c, &p) : -1;

    if (n <= 0) {
        return lca_err_ossl(err, LCA_ERR_BAD_INPUT, "bad_cert", "encoding a certificate");
    }
    copy = malloc((size_t)n);
    if (copy == NULL) {
        OPENSSL_free(p);
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "copying a certificate");
    }
    memcpy(copy, p, (size_t)n);
    OPENSSL_free(p);
    *der = copy;
    *len = (size_t)n;
    return LCA_OK;
}

int lca_cert_to_pem(X509 *c, char **pem, size_t *len, struct lca_err *err)
{
    uint8_t *der = NULL;
    size_t dlen = 0;
    int rc;

    if (lca_cert_to_der(c, &der, &dlen, err) != LCA_OK) {
        return LCA_FAIL;
    }
    rc = lca_cert_der_to_pem(der, dlen, pem, len, err);
    free(der);
    return rc;
}

int lca_cert_der_to_pem(const uint8_t *der, size_t len, char **pem, size_t *pem_len,
                        struct lca_err *err)
{
    static const char head[] = "-----BEGIN CERTIFICATE-----\n";
    static const char tail[] = "-----END CERTIFICATE-----\n";
    size_t b64 = 4 * ((len + 2) / 3), lines, cap, i, off, n;
    char *out;

    if (der == NULL || len == 0 || len > (size_t)INT_MAX / 2) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_cert", "empty or oversized DER");
    }
    lines = (b64 + 63) / 64;
    cap = sizeof(head) + b64 + lines + sizeof(tail) + 1;
    out = malloc(cap);
    if (out == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "allocating PEM");
    }
    memcpy(out, head, sizeof(head) - 1);
    off = sizeof(head) - 1;
    for (i = 0; i < len; i += 48) { /* 48 bytes -> one 64-character line */
        n = len - i < 48 ? len - i : 48;
        off += (size_t)EVP_EncodeBlock((unsigned char *)out + off, der + i, (int)n);
        out[off++] = '\n';
    }
    memcpy(out + off, tail, sizeof(tail));
    *pem = out;
    *pem_len = off + sizeof(tail) - 1;
    return LCA_OK;
}

/* ---------------------------------------------------------------- accessors */

static void colon_hex(const uint8_t *p, size_t n, char *out, size_t outlen)
{
    static const char hx[] = "0123456789abcdef";
    size_t i, o = 0;

    if (outlen == 0) {
        return;
    }
    for (i = 0; i < n && o + (i > 0 ? 3 : 2) < outlen; i++) {
        if (i > 0) {
            out[o++] = ':';
        }
        out[o++] = hx[p[i] >> 4];
        out[o++] = hx[p[i] & 15];
    }
    out[o] = '\0';
}

void lca_cert_serial_hex(X509 *c, char *out, size_t outlen)
{
    const ASN1_INTEGER *sn = c != NULL ? X509_get0_serialNumber(c) : NULL;

    if (sn == NULL) {
        if (outlen > 0) {
            out[0] = '\0';
        }
        return;
    }
    colon_hex(ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn), out, outlen);
}

void lca_cert_serial_hex_raw(const uint8_t *serial, size_t len, char *out, size_t outlen)
{
    uint8_t mag[20];
    size_t n = serial_magnitude(serial, len, mag);

    colon_hex(mag, n, out, outlen);
}

static int64_t asn1_time_unix(const ASN1_TIME *t)
{
    struct tm tm;

    if (t == NULL || !ASN1_TIME_to_tm(t, &tm)) {
        return INT64_MIN;
    }
    return (int64_t)timegm(&tm);
}

int64_t lca_cert_not_after(X509 *c)
{
    return c != NULL ? asn1_time_unix(X509_get0_notAfter(c)) : INT64_MIN;
}

int64_t lca_cert_not_before(X509 *c)
{
    return c != NULL ? asn1_time_unix(X509_get0_notBefore(c)) : INT64_MIN;
}

int lca_cert_ski_hex(X509 *c, char *out, size_t outlen)
{
    const ASN1_OCTET_STRING *ski = c != NULL ? X509_get0_subject_key_id(c) : NULL;
    size_t n;

    if (ski == NULL) {
        return LCA_FAIL;
    }
    n = (size_t)ASN1_STRING_length(ski);
    if (n == 0 || outlen < 3 * n) {
        return LCA_FAIL;
    }
    colon_hex(ASN1_STRING_get0_data(ski), n, out, outlen);
    return LCA_OK;
}
