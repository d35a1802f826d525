/*
 * csr — PKCS#10 parsing with a small strict DER reader (see csr.h for the ASN.1 and contract).
 *
 * Why our own reader: d2i_X509_REQ decodes the public key through OpenSSL 3.0's decoder
 * framework (~100 µs, a fifth of it in locks), five times the cost of the P-256 signature we
 * check. We read the structure ourselves, keep the SubjectPublicKeyInfo bytes as they are, and
 * import EC/Ed25519 keys from their raw point with EVP_PKEY_fromdata, which checks that the
 * point is on the curve. RSA keys, rare on the hot path, go through d2i_PUBKEY.
 *
 * The reader accepts DER only: definite lengths, minimal length encodings, single-octet tags,
 * nothing after the outer SEQUENCE. Depth is fixed by the grammar (no recursion).
 */
#include "csr.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define CSR_STR_MAX 1024   /* longest CN / dNSName / URI accepted */
#define CSR_RSA_MAX 8192   /* largest RSA modulus accepted (bits) */
#define CSR_RSA_MIN 2048   /* DESIGN.md invariant 6 */

/* ---------------------------------------------------------------- DER reader */

struct rd {
    const uint8_t *p; /* next unread byte */
    size_t len;       /* bytes left */
};

/* Reads one TLV of any single-octet tag: *tag, its content in *v, the whole TLV in *raw
 * (may be NULL). Advances r. Returns 0 on malformed DER. */
static int rd_any(struct rd *r, uint8_t *tag, struct rd *v, struct rd *raw)
{
    size_t hdr = 2, clen, n, i;

    if (r->len < 2 || (r->p[0] & 0x1f) == 0x1f) {
        return 0;
    }
    clen = r->p[1];
    if (clen & 0x80) {
        n = clen & 0x7f;
        if (n == 0 || n > 3 || r->len < 2 + n || r->p[2] == 0) {
            return 0; /* indefinite, too long, or non-minimal */
        }
        for (clen = 0, i = 0; i < n; i++) {
            clen = (clen << 8) | r->p[2 + i];
        }
        if (clen < 0x80) {
            return 0;
        }
        hdr += n;
    }
    if (clen > r->len - hdr) {
        return 0;
    }
    *tag = r->p[0];
    v->p = r->p + hdr;
    v->len = clen;
    if (raw != NULL) {
        raw->p = r->p;
        raw->len = hdr + clen;
    }
    r->p += hdr + clen;
    r->len -= hdr + clen;
    return 1;
}

static int rd_tlv(struct rd *r, uint8_t want, struct rd *v)
{
    uint8_t tag;
    struct rd save = *r;

    if (!rd_any(r, &tag, v, NULL) || tag != want) {
        *r = save;
        return 0;
    }
    return 1;
}

static int rd_peek(const struct rd *r, uint8_t tag)
{
    return r->len > 0 && r->p[0] == tag;
}

static int rd_is(const struct rd *v, const uint8_t *bytes, size_t n)
{
    return v->len == n && memcmp(v->p, bytes, n) == 0;
}

/* ---------------------------------------------------------------- constants (OID values) */

static const uint8_t OID_CN[] = {0x55, 0x04, 0x03};
static const uint8_t OID_EXT_REQ[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e};
static const uint8_t OID_SAN[] = {0x55, 0x1d, 0x11};
static const uint8_t OID_BC[] = {0x55, 0x1d, 0x13};
static const uint8_t OID_EC_KEY[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
static const uint8_t OID_P256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t OID_P384[] = {0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t OID_RSA_KEY[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
static const uint8_t OID_ED25519[] = {0x2b, 0x65, 0x70};

enum key_kind { KEY_P256, KEY_P384, KEY_RSA, KEY_ED25519 };

/* Accepted signature algorithms: digest name and the key kind family they need. */
struct sig_alg {
    uint8_t oid[9];
    size_t oid_len;
    const char *md; /* NULL: Ed25519 (PureEdDSA) */
    int rsa;        /* 1: RSA PKCS#1 v1.5; 0: ECDSA or Ed25519 */
};

static const struct sig_alg SIG_ALGS[] = {
    {{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}, 8, "SHA256", 0}, /* ecdsa-with-SHA256 */
    {{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03}, 8, "SHA384", 0},
    {{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04}, 8, "SHA512", 0},
    {{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b}, 9, "SHA256", 1}, /* sha256WithRSA */
    {{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c}, 9, "SHA384", 1},
    {{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d}, 9, "SHA512", 1},
    {{0x2b, 0x65, 0x70}, 3, NULL, 0}, /* id-Ed25519 (RFC 8410) */
};

/* ---------------------------------------------------------------- the parsed request */

struct strlist {
    char **v;
    size_t n;
    size_t cap;
};

struct lca_csr {
    uint8_t *der; /* the request, DER (owned); spki points into it */
    size_t der_len;
    struct rd cri;      /* certificationRequestInfo TLV (signed bytes) */
    struct rd spki;     /* SubjectPublicKeyInfo TLV */
    struct rd sig_oid;  /* signatureAlgorithm OID value */
    struct rd sig_params; /* signatureAlgorithm parameters (may be empty) */
    struct rd sig;      /* signature BIT STRING content, after the unused-bits octet */
    enum key_kind kind;
    char *cn;
    struct strlist dns, ip, uri;
    size_t n_san; /* all GeneralNames seen, including ignored kinds */
    int is_ca;
    int have_san;
    EVP_PKEY *pkey;
};

static int bad(struct lca_err *err, const char *code, const char *what)
{
    return lca_err_set(err, LCA_ERR_BAD_INPUT, code, "certificate request: %s", what);
}

static void strlist_free(struct strlist *l)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        free(l->v[i]);
    }
    free(l->v);
}

void lca_csr_free(struct lca_csr *c)
{
    if (c == NULL) {
        return;
    }
    free(c->der);
    free(c->cn);
    strlist_free(&c->dns);
    strlist_free(&c->ip);
    strlist_free(&c->uri);
    EVP_PKEY_free(c->pkey);
    free(c);
}

/* Copies n bytes as a NUL-terminated string; returns NULL on allocation failure. */
static char *dup_bytes(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);

    if (s != NULL) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

/* Appends a copy; 0 on allocation failure. */
static int strlist_add(struct strlist *l, const uint8_t *p, size_t n)
{
    char **nv;
    char *s;

    if (l->n == l->cap) {
        l->cap = l->cap != 0 ? 2 * l->cap : 4;
        nv = realloc(l->v, l->cap * sizeof(*nv));
        if (nv == NULL) {
            return 0;
        }
        l->v = nv;
    }
    s = dup_bytes(p, n);
    if (s == NULL) {
        return 0;
    }
    l->v[l->n++] = s;
    return 1;
}

/* IA5 text we accept in dNSName/URI: 1..CSR_STR_MAX printable ASCII characters. */
static int ia5_ok(const struct rd *v)
{
    size_t i;

    if (v->len == 0 || v->len > CSR_STR_MAX) {
        return 0;
    }
    for (i = 0; i < v->len; i++) {
        if (v->p[i] < 0x21 || v->p[i] > 0x7e) {
            return 0;
        }
    }
    return 1;
}

/* ---------------------------------------------------------------- subject */

/* Name ::= SEQUENCE OF RelativeDistinguishedName (SET OF AttributeTypeAndValue ::=
 * SEQUENCE { type OID, value ANY }). Only commonName is kept: UTF8String, PrintableString or
 * IA5String, no NUL, at most one. */
static int parse_name(struct lca_csr *c, struct rd name, struct lca_err *err)
{
    struct rd set, atv, oid, val;
    uint8_t tag;

    while (name.len > 0) {
        if (!rd_tlv(&name, 0x31, &set) || set.len == 0) {
            return bad(err, "bad_csr", "malformed subject");
        }
        while (set.len > 0) {
            if (!rd_tlv(&set, 0x30, &atv) || !rd_tlv(&atv, 0x06, &oid) ||
                !rd_any(&atv, &tag, &val, NULL) || atv.len != 0) {
                return bad(err, "bad_csr", "malformed subject attribute");
            }
            if (!rd_is(&oid, OID_CN, sizeof(OID_CN))) {
                continue;
            }
            if ((tag != 0x0c && tag != 0x13 && tag != 0x16) || val.len == 0 ||
                val.len > CSR_STR_MAX || memchr(val.p, 0, val.len) != NULL || c->cn != NULL) {
                return bad(err, "bad_csr", "commonName must be one non-empty text string");
            }
            if ((c->cn = dup_bytes(val.p, val.len)) == NULL) {
                return lca_err_set(err, LCA_ERR_FATAL, "oom", "copying the commonName");
            }
        }
    }
    return LCA_OK;
}

/* ---------------------------------------------------------------- extensionRequest */

/* GeneralName iPAddress [7] -> text. */
static int add_ip(struct lca_csr *c, const struct rd *v)
{
    char text[INET6_ADDRSTRLEN];
    int af = v->len == 4 ? AF_INET : v->len == 16 ? AF_INET6 : 0;

    if (af == 0 || inet_ntop(af, v->p, text, sizeof(text)) == NULL) {
        return -1;
    }
    return strlist_add(&c->ip, (const uint8_t *)text, strlen(text));
}

/* SubjectAltName ::= GeneralNames (SEQUENCE OF GeneralName): dNSName [2], URI [6] and
 * iPAddress [7] are kept; other kinds (rfc822Name, otherName, ...) are counted and ignored. */
static int parse_san(struct lca_csr *c, struct rd val, struct lca_err *err)
{
    struct rd gns, v;
    uint8_t tag;
    int ok;

    if (c->have_san || !rd_tlv(&val, 0x30, &gns) || val.len != 0) {
        return bad(err, "bad_csr", "malformed or repeated subjectAltName");
    }
    c->have_san = 1;
    while (gns.len > 0) {
        if (!rd_any(&gns, &tag, &v, NULL) || ++c->n_san > LCA_CSR_MAX_SANS) {
            return bad(err, "bad_csr", "malformed subjectAltName or too many names");
        }
        if (tag == 0x82 || tag == 0x86) {
            if (!ia5_ok(&v)) {
                return bad(err, "bad_csr", "dNSName/URI must be printable ASCII");
            }
            ok = strlist_add(tag == 0x82 ? &c->dns : &c->uri, v.p, v.len);
        } else if (tag == 0x87) {
            ok = add_ip(c, &v);
            if (ok < 0) {
                return bad(err, "bad_csr", "iPAddress must be 4 or 16 octets");
            }
        } else {
            continue;
        }
        if (!ok) {
            return lca_err_set(err, LCA_ERR_FATAL, "oom", "copying subjectAltName");
        }
    }
    return LCA_OK;
}

/* BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPT } */
static int parse_bc(struct lca_csr *c, struct rd val, struct lca_err *err)
{
    struct rd bc, b;

    if (!rd_tlv(&val, 0x30, &bc) || val.len != 0) {
        return bad(err, "bad_csr", "malformed basicConstraints");
    }
    if (rd_peek(&bc, 0x01)) {
        if (!rd_tlv(&bc, 0x01, &b) || b.len != 1) {
            return bad(err, "bad_csr", "malformed basicConstraints");
        }
        c->is_ca = b.p[0] != 0;
    }
    return LCA_OK;
}

/* Extensions ::= SEQUENCE OF SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE,
 * extnValue OCTET STRING } */
static int parse_extensions(struct lca_csr *c, struct rd exts, struct lca_err *err)
{
    struct rd ext, oid, crit, val;

    while (exts.len > 0) {
        if (!rd_tlv(&exts, 0x30, &ext) || !rd_tlv(&ext, 0x06, &oid) ||
            (rd_peek(&ext, 0x01) && !rd_tlv(&ext, 0x01, &crit)) || !rd_tlv(&ext, 0x04, &val) ||
            ext.len != 0) {
            return bad(err, "bad_csr", "malformed extension");
        }
        if (rd_is(&oid, OID_SAN, sizeof(OID_SAN)) && parse_san(c, val, err) != LCA_OK) {
            return LCA_FAIL;
        }
        if (rd_is(&oid, OID_BC, sizeof(OID_BC)) && parse_bc(c, val, err) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    return LCA_OK;
}

/* attributes [0] IMPLICIT SET OF Attribute ::= SEQUENCE { type OID, values SET OF ANY };
 * extensionRequest (PKCS#9, 1.2.840.113549.1.9.14) holds one Extensions value. */
static int parse_attributes(struct lca_csr *c, struct rd attrs, struct lca_err *err)
{
    struct rd attr, oid, vals, exts;

    while (attrs.len > 0) {
        if (!rd_tlv(&attrs, 0x30, &attr) || !rd_tlv(&attr, 0x06, &oid) ||
            !rd_tlv(&attr, 0x31, &vals) || attr.len != 0) {
            return bad(err, "bad_csr", "malformed attribute");
        }
        if (!rd_is(&oid, OID_EXT_REQ, sizeof(OID_EXT_REQ))) {
            continue;
        }
        if (!rd_tlv(&vals, 0x30, &exts) || vals.len != 0) {
            return bad(err, "bad_csr", "malformed extensionRequest");
        }
        if (parse_extensions(c, exts, err) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    return LCA_OK;
}

/* ---------------------------------------------------------------- structure */

/* CertificationRequestInfo ::= SEQUENCE { version INTEGER (0), subject Name,
 *     subjectPKInfo SubjectPublicKeyInfo, attributes [0] IMPLICIT SET OF Attribute } */
static int parse_cri(struct lca_csr *c, struct rd cri, struct lca_err *err)
{
    struct rd ver, name, attrs;
    uint8_t tag;

    if (!rd_tlv(&cri, 0x02, &ver) || ver.len != 1 || ver.p[0] != 0) {
        return bad(err, "bad_csr", "version must be 0 (v1)");
    }
    if (!rd_tlv(&cri, 0x30, &name)) {
        return bad(err, "bad_csr", "missing subject");
    }
    if (parse_name(c, name, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (!rd_any(&cri, &tag, &name, &c->spki) || tag != 0x30) {
        return bad(err, "bad_csr", "missing subjectPublicKeyInfo");
    }
    if (rd_peek(&cri, 0xa0)) { /* some requesters omit an empty attribute set */
        if (!rd_tlv(&cri, 0xa0, &attrs)) {
            return bad(err, "bad_csr", "malformed attributes");
        }
        if (parse_attributes(c, attrs, err) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    if (cri.len != 0) {
        return bad(err, "bad_csr", "trailing data in certificationRequestInfo");
    }
    return LCA_OK;
}

/* CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm
 *     AlgorithmIdentifier, signature BIT STRING } */
static int parse_outer(struct lca_csr *c, struct lca_err *err)
{
    struct rd top = {c->der, c->der_len}, req, alg, bits, cri;
    uint8_t tag;

    if (!rd_tlv(&top, 0x30, &req) || top.len != 0 || !rd_any(&req, &tag, &cri, &c->cri) ||
        tag != 0x30 || !rd_tlv(&req, 0x30, &alg) || !rd_tlv(&alg, 0x06, &c->sig_oid) ||
        !rd_tlv(&req, 0x03, &bits) || req.len != 0 || bits.len < 2 || bits.p[0] != 0) {
        return bad(err, "bad_csr", "not a DER PKCS#10 request");
    }
    c->sig_params = alg;
    c->sig.p = bits.p + 1;
    c->sig.len = bits.len - 1;
    return parse_cri(c, cri, err);
}

/* ---------------------------------------------------------------- keys */

/* Process-wide, immutable algorithm handles, fetched/built once (CRYPTO_THREAD_run_once):
 * the three digests (a per-call fetch takes the method-store lock each time) and P-256/P-384
 * parameter-only keys, duplicated per request (building the EC group from its name costs
 * ~3x more than the duplicate). */
static EVP_MD *g_md[3];
static EVP_PKEY *g_curve[2]; /* [0] P-256, [1] P-384: domain parameters only */
static CRYPTO_ONCE g_once = CRYPTO_ONCE_STATIC_INIT;

static EVP_PKEY *curve_params(const char *name)
{
    OSSL_PARAM params[2];
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *pk = NULL;
    char group[16];

    strcpy(group, name);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_KEY_PARAMETERS, params) <= 0) {
        pk = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return pk;
}

static void init_once(void)
{
    g_md[0] = EVP_MD_fetch(NULL, "SHA256", NULL);
    g_md[1] = EVP_MD_fetch(NULL, "SHA384", NULL);
    g_md[2] = EVP_MD_fetch(NULL, "SHA512", NULL);
    g_curve[0] = curve_params("prime256v1");
    g_curve[1] = curve_params("secp384r1");
}

static int globals_ready(void)
{
    return CRYPTO_THREAD_run_once(&g_once, init_once) && g_md[0] != NULL && g_md[1] != NULL &&
           g_md[2] != NULL && g_curve[0] != NULL && g_curve[1] != NULL;
}

static const EVP_MD *get_md(const char *name)
{
    return g_md[strcmp(name, "SHA256") == 0 ? 0 : strcmp(name, "SHA384") == 0 ? 1 : 2];
}

/* Imports an EC point or Ed25519 key with no decoder: the curve's parameter key duplicated
 * and given the point (EC_POINT_oct2point underneath: the point must be on the curve), or
 * EVP_PKEY_new_raw_public_key. */
static EVP_PKEY *import_raw(enum key_kind kind, const struct rd *point)
{
    EVP_PKEY *pk;

    if (kind == KEY_ED25519) {
        return point->len == 32 ? EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL,
                                                                 point->p, point->len)
                                : NULL;
    }
    pk = EVP_PKEY_dup(g_curve[kind == KEY_P256 ? 0 : 1]);
    if (pk != NULL && !EVP_PKEY_set1_encoded_public_key(pk, point->p, point->len)) {
        EVP_PKEY_free(pk);
        pk = NULL;
    }
    return pk;
}

static int import_rsa(struct lca_csr *c, struct lca_err *err)
{
    const unsigned char *p = c->spki.p;
    int bits;

    c->pkey = d2i_PUBKEY(NULL, &p, (long)c->spki.len);
    if (c->pkey == NULL || p != c->spki.p + c->spki.len || !EVP_PKEY_is_a(c->pkey, "RSA")) {
        ERR_clear_error();
        return bad(err, "bad_csr", "malformed RSA public key");
    }
    bits = EVP_PKEY_get_bits(c->pkey);
    if (bits < CSR_RSA_MIN) {
        return bad(err, "weak_key", "RSA keys must have at least 2048 bits");
    }
    if (bits > CSR_RSA_MAX) {
        return bad(err, "bad_csr", "RSA keys larger than 8192 bits are not accepted");
    }
    return LCA_OK;
}

/* SubjectPublicKeyInfo ::= SEQUENCE { algorithm SEQUENCE { OID, parameters }, BIT STRING }
 * P-256/P-384: id-ecPublicKey with a namedCurve OID; Ed25519: no parameters; RSA. */
static int import_key(struct lca_csr *c, struct lca_err *err)
{
    struct rd s = c->spki, body, alg, oid, param, bits;

    if (!rd_tlv(&s, 0x30, &body) || !rd_tlv(&body, 0x30, &alg) || !rd_tlv(&alg, 0x06, &oid) ||
        !rd_tlv(&body, 0x03, &bits) || body.len != 0 || bits.len < 2 || bits.p[0] != 0) {
        return bad(err, "bad_csr", "malformed subjectPublicKeyInfo");
    }
    bits.p++;
    bits.len--;
    if (rd_is(&oid, OID_RSA_KEY, sizeof(OID_RSA_KEY))) {
        c->kind = KEY_RSA;
        return import_rsa(c, err);
    }
    if (rd_is(&oid, OID_ED25519, sizeof(OID_ED25519)) && alg.len == 0) {
        c->kind = KEY_ED25519;
    } else if (rd_is(&oid, OID_EC_KEY, sizeof(OID_EC_KEY)) && rd_tlv(&alg, 0x06, &param) &&
               alg.len == 0 &&
               (rd_is(&param, OID_P256, sizeof(OID_P256)) ||
                rd_is(&param, OID_P384, sizeof(OID_P384)))) {
        c->kind = rd_is(&param, OID_P256, sizeof(OID_P256)) ? KEY_P256 : KEY_P384;
    } else {
        return bad(err, "weak_key", "key must be EC P-256/P-384, Ed25519 or RSA >= 2048");
    }
    c->pkey = import_raw(c->kind, &bits);
    if (c->pkey == NULL) {
        ERR_clear_error();
        return bad(err, "bad_csr", "invalid public key (not a point on the curve)");
    }
    return LCA_OK;
}

/* ---------------------------------------------------------------- signature */

static const struct sig_alg *find_sig_alg(const struct lca_csr *c)
{
    size_t i;

    for (i = 0; i < sizeof(SIG_ALGS) / sizeof(SIG_ALGS[0]); i++) {
        if (rd_is(&c->sig_oid, SIG_ALGS[i].oid, SIG_ALGS[i].oid_len)) {
            return &SIG_ALGS[i];
        }
    }
    return NULL;
}

/* Verifies a pre-hash signature (ECDSA, RSA PKCS#1 v1.5) over the digest of the CRI. */
static int verify_prehash(struct lca_csr *c, const struct sig_alg *a)
{
    uint8_t dgst[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    const EVP_MD *md = get_md(a->md);
    EVP_PKEY_CTX *pctx = NULL;
    int ok;

    ok = md != NULL && EVP_Digest(c->cri.p, c->cri.len, dgst, &dlen, md, NULL) &&
         (pctx = EVP_PKEY_CTX_new_from_pkey(NULL, c->pkey, NULL)) != NULL &&
         EVP_PKEY_verify_init(pctx) > 0 && EVP_PKEY_CTX_set_signature_md(pctx, md) > 0 &&
         (!a->rsa || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0) &&
         EVP_PKEY_verify(pctx, c->sig.p, c->sig.len, dgst, dlen) == 1;
    EVP_PKEY_CTX_free(pctx);
    return ok;
}

static int verify_ed25519(struct lca_csr *c)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestVerifyInit_ex(ctx, NULL, NULL, NULL, NULL, c->pkey, NULL) > 0 &&
             EVP_DigestVerify(ctx, c->sig.p, c->sig.len, c->cri.p, c->cri.len) == 1;

    EVP_MD_CTX_free(ctx);
    return ok;
}

/* Proof of possession: the request is signed by the key it carries, with an accepted
 * algorithm that matches the key type. */
static int verify_signature(struct lca_csr *c, struct lca_err *err)
{
    const struct sig_alg *a = find_sig_alg(c);
    int is_ed = a != NULL && a->md == NULL;

    if (a == NULL) {
        return bad(err, "weak_signature",
                   "signature must be ECDSA or RSA PKCS#1 v1.5 with SHA-256/384/512, or Ed25519");
    }
    if ((is_ed != (c->kind == KEY_ED25519)) || (a->rsa != (c->kind == KEY_RSA)) ||
        (is_ed && c->sig_params.len != 0)) {
        return bad(err, "bad_csr", "signature algorithm does not match the key");
    }
    if (!(is_ed ? verify_ed25519(c) : verify_prehash(c, a))) {
        ERR_clear_error();
        return bad(err, "bad_csr", "signature does not verify (no proof of possession)");
    }
    return LCA_OK;
}

/* ---------------------------------------------------------------- entry points */

/* PEM "CERTIFICATE REQUEST" -> malloc'd DER in c. */
static int load_pem(struct lca_csr *c, const uint8_t *buf, size_t len, struct lca_err *err)
{
    BIO *b = BIO_new_mem_buf(buf, (int)len); /* len <= LCA_CSR_MAX_BYTES */
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long dlen = 0;
    int ok;

    ok = b != NULL && PEM_read_bio(b, &name, &header, &data, &dlen) &&
         (strcmp(name, "CERTIFICATE REQUEST") == 0 ||
          strcmp(name, "NEW CERTIFICATE REQUEST") == 0) &&
         dlen > 0;
    if (ok && (c->der = malloc((size_t)dlen)) != NULL) {
        memcpy(c->der, data, (size_t)dlen);
        c->der_len = (size_t)dlen;
    }
    BIO_free(b);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    ERR_clear_error();
    if (!ok) {
        return bad(err, "bad_csr", "not a PEM CERTIFICATE REQUEST");
    }
    return c->der != NULL ? LCA_OK : lca_err_set(err, LCA_ERR_FATAL, "oom", "copying");
}

/* PEM (optionally after whitespace) or DER -> malloc'd DER copy in c. */
static int load_der(struct lca_csr *c, const uint8_t *buf, size_t len, struct lca_err *err)
{
    size_t ws = 0;

    while (ws < len && (buf[ws] == ' ' || buf[ws] == '\t' || buf[ws] == '\r' || buf[ws] == '\n')) {
        ws++;
    }
    if (len - ws >= 11 && memcmp(buf + ws, "-----BEGIN ", 11) == 0) {
        return load_pem(c, buf + ws, len - ws, err);
    }
    c->der = malloc(len);
    if (c->der == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "copying");
    }
    memcpy(c->der, buf, len);
    c->der_len = len;
    return LCA_OK;
}

int lca_csr_parse(const uint8_t *buf, size_t len, struct lca_csr **out, struct lca_err *err)
{
    struct lca_csr *c;

    lca_err_clear(err);
    if (buf == NULL || len == 0 || len > LCA_CSR_MAX_BYTES) {
        return bad(err, "bad_csr", "empty or larger than 64 KiB");
    }
    if (!globals_ready()) {
        return lca_err_ossl(err, LCA_ERR_FATAL, "ossl", "fetching digests and curves");
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "allocating a request");
    }
    if (load_der(c, buf, len, err) != LCA_OK || parse_outer(c, err) != LCA_OK ||
        import_key(c, err) != LCA_OK || verify_signature(c, err) != LCA_OK) {
        lca_csr_free(c);
        return LCA_FAIL;
    }
    *out = c;
    return LCA_OK;
}

/* ---------------------------------------------------------------- accessors */

const char *lca_csr_common_name(const struct lca_csr *c)
{
    return c->cn;
}

size_t lca_csr_dns_count(const struct lca_csr *c)
{
    return c->dns.n;
}

const char *lca_csr_dns_at(const struct lca_csr *c, size_t i)
{
    return i < c->dns.n ? c->dns.v[i] : NULL;
}

size_t lca_csr_ip_count(const struct lca_csr *c)
{
    return c->ip.n;
}

const char *lca_csr_ip_at(const struct lca_csr *c, size_t i)
{
    return i < c->ip.n ? c->ip.v[i] : NULL;
}

size_t lca_csr_uri_count(const struct lca_csr *c)
{
    return c->uri.n;
}

const char *lca_csr_uri_at(const struct lca_csr *c, size_t i)
{
    return i < c->uri.n ? c->uri.v[i] : NULL;
}

int lca_csr_is_ca(const struct lca_csr *c)
{
    return c->is_ca;
}

const uint8_t *lca_csr_spki(const struct lca_csr *c, size_t *len)
{
    *len = c->spki.len;
    return c->spki.p;
}

EVP_PKEY *lca_csr_get0_pubkey(struct lca_csr *c)
{
    return c->pkey;
}

/* ---- building a request (intermediate.generate) ---- */

static int csr_ca_extension(X509_REQ *req)
{
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    X509_EXTENSION *ext = NULL;
    int ok = 0;

    if (exts == NULL || bc == NULL) {
        goto out;
    }
    bc->ca = 1;
    ext = X509V3_EXT_i2d(NID_basic_constraints, 1, bc);
    ok = ext != NULL && sk_X509_EXTENSION_push(exts, ext) > 0;
    if (ok) {
        ext = NULL; /* owned by the stack now */
        ok = X509_REQ_add_extensions(req, exts) == 1;
    }
out:
    X509_EXTENSION_free(ext);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    BASIC_CONSTRAINTS_free(bc);
    return ok;
}

int lca_csr_build(EVP_PKEY *key, const char *common_name, uint8_t **der, size_t *len,
                  struct lca_err *err)
{
    X509_REQ *req = NULL;
    X509_NAME *name = NULL;
    unsigned char *buf = NULL;
    uint8_t *copy;
    int n, rc = LCA_FAIL;
    const EVP_MD *md = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();

    if (common_name == NULL || common_name[0] == '\0' || strlen(common_name) > 64) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_field",
                           "common_name must hold 1 to 64 bytes (RFC 5280 ub-common-name)");
    }
    if ((req = X509_REQ_new()) == NULL || X509_REQ_set_version(req, 0) != 1 ||
        (name = X509_REQ_get_subject_name(req)) == NULL ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   (const unsigned char *)common_name, -1, -1, 0) != 1 ||
        X509_REQ_set_pubkey(req, key) != 1 || !csr_ca_extension(req) ||
        X509_REQ_sign(req, key, md) <= 0 || (n = i2d_X509_REQ(req, &buf)) <= 0) {
        lca_err_ossl(err, LCA_ERR_FATAL, "csr_build", "building the CSR");
        goto out;
    }
    if ((copy = malloc((size_t)n)) == NULL) {
        lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
        goto out;
    }
    memcpy(copy, buf, (size_t)n);
    *der = copy;
    *len = (size_t)n;
    rc = LCA_OK;
out:
    OPENSSL_free(buf);
    X509_REQ_free(req);
    return rc;
}
