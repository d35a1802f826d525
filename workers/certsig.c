/* certsig — see certsig.h. */
#include "certsig.h"

#include <string.h>

#include <openssl/err.h>

/* AlgorithmIdentifier DER as engine/cert.c writes them (RFC 5758 3.2, RFC 4055 5, RFC 8410 3). */
static const uint8_t ALG_ECDSA_SHA256[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                           0xce, 0x3d, 0x04, 0x03, 0x02};
static const uint8_t ALG_ECDSA_SHA384[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                           0xce, 0x3d, 0x04, 0x03, 0x03};
static const uint8_t ALG_RSA_SHA256[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                         0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00};
static const uint8_t ALG_ED25519[] = {0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70};

struct tlv {
    uint8_t tag;
    const uint8_t *p; /* whole TLV */
    const uint8_t *v; /* value */
    size_t len;       /* value length */
    size_t tlv_len;
};

/* One DER TLV at p (n bytes available): definite, minimal lengths up to 4 octets. */
static int tlv_read(const uint8_t *p, size_t n, struct tlv *t)
{
    size_t i, l = 0, h = 2;

    if (n < 2 || (p[0] & 0x1f) == 0x1f) {
        return 0;
    }
    if (p[1] < 0x80) {
        l = p[1];
    } else {
        size_t k = p[1] & 0x7f;
        if (k == 0 || k > 4 || n < 2 + k || p[2] == 0) {
            return 0;
        }
        for (i = 0; i < k; i++) {
            l = l << 8 | p[2 + i];
        }
        if (l < 0x80) {
            return 0; /* not minimal */
        }
        h += k;
    }
    if (l > n - h) {
        return 0;
    }
    t->tag = p[0];
    t->p = p;
    t->v = p + h;
    t->len = l;
    t->tlv_len = h + l;
    return 1;
}

static const uint8_t *algid_for(EVP_PKEY *k, const EVP_MD **md, size_t *len)
{
    switch (EVP_PKEY_get_base_id(k)) {
    case EVP_PKEY_EC:
        *md = EVP_PKEY_get_bits(k) > 256 ? EVP_sha384() : EVP_sha256();
        *len = sizeof(ALG_ECDSA_SHA256);
        return EVP_PKEY_get_bits(k) > 256 ? ALG_ECDSA_SHA384 : ALG_ECDSA_SHA256;
    case EVP_PKEY_RSA:
        *md = EVP_sha256();
        *len = sizeof(ALG_RSA_SHA256);
        return ALG_RSA_SHA256;
    case EVP_PKEY_ED25519:
        *md = NULL;
        *len = sizeof(ALG_ED25519);
        return ALG_ED25519;
    default:
        return NULL;
    }
}

static int serial_is(const struct tlv *s, const uint8_t *want, size_t wl)
{
    const uint8_t *v = s->v;
    size_t l = s->len;

    while (l > 1 && v[0] == 0) {
        v++;
        l--;
    }
    while (wl > 1 && want[0] == 0) {
        want++;
        wl--;
    }
    return l == wl && memcmp(v, want, l) == 0;
}

static int sig_ok(EVP_PKEY *key, const EVP_MD *md, const struct tlv *tbs, const struct tlv *bits)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c != NULL && EVP_DigestVerifyInit(c, NULL, md, NULL, key) == 1 &&
             EVP_DigestVerify(c, bits->v + 1, bits->len - 1, tbs->p, tbs->tlv_len) == 1;

    EVP_MD_CTX_free(c);
    ERR_clear_error();
    return ok;
}

enum lca_certsig_result lca_certsig_verify(const uint8_t *der, size_t len, EVP_PKEY *issuer_key,
                                           const uint8_t *serial, size_t serial_len)
{
    struct tlv cert, tbs, alg, bits, ver, ser, inner;
    const EVP_MD *md = NULL;
    size_t alen = 0;
    const uint8_t *want = issuer_key != NULL ? algid_for(issuer_key, &md, &alen) : NULL;

    if (der == NULL || !tlv_read(der, len, &cert) || cert.tag != 0x30 || cert.tlv_len != len ||
        !tlv_read(cert.v, cert.len, &tbs) || tbs.tag != 0x30 ||
        !tlv_read(tbs.v + tbs.len, cert.len - tbs.tlv_len, &alg) || alg.tag != 0x30 ||
        !tlv_read(alg.p + alg.tlv_len, cert.len - tbs.tlv_len - alg.tlv_len, &bits) ||
        bits.tag != 0x03 || tbs.tlv_len + alg.tlv_len + bits.tlv_len != cert.len ||
        bits.len < 2 || bits.v[0] != 0 || !tlv_read(tbs.v, tbs.len, &ver) || ver.tag != 0xa0 ||
        !tlv_read(ver.v, ver.len, &inner) || inner.tag != 0x02 || inner.tlv_len != ver.len ||
        !tlv_read(ver.p + ver.tlv_len, tbs.len - ver.tlv_len, &ser) || ser.tag != 0x02 ||
        ser.len == 0 || ser.len > 21 || !tlv_read(ser.p + ser.tlv_len,
                                                  tbs.len - ver.tlv_len - ser.tlv_len, &inner)) {
        return LCA_CERTSIG_BAD_DER;
    }
    if (want == NULL || alg.tlv_len != alen || memcmp(alg.p, want, alen) != 0 ||
        inner.tlv_len != alen || memcmp(inner.p, want, alen) != 0) {
        return LCA_CERTSIG_OTHER; /* inner: the TBS signature field (4.1.2.3) */
    }
    if (!serial_is(&ser, serial, serial_len)) {
        return LCA_CERTSIG_SERIAL;
    }
    return sig_ok(issuer_key, md, &tbs, &bits) ? LCA_CERTSIG_OK : LCA_CERTSIG_BAD_SIG;
}
