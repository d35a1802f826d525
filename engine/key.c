#include "key.h"

#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#define KEY_MAX_PEM 65536       /* PEM inputs beyond this are refused (RSA 8192 is ~6.5 KiB) */
#define KEY_MAX_BLOB 65536      /* same limit for wrapped blobs */
#define KEY_RSA_MIN 2048
#define KEY_RSA_MAX 8192
#define WRAP_HDR (1 + LCA_KEY_WRAP_NONCE_LEN)

static const char SPEC_HELP[] =
    "accepted: ec (256, 384), rsa (2048, 3072, 4096), ed25519 (bits 0)";

int lca_key_spec_parse(const char *type, int bits, struct lca_keyspec *out, struct lca_err *err)
{
    struct lca_keyspec s = {0, 0};

    if (type != NULL && strcmp(type, "ec") == 0) {
        s.type = LCA_KEY_EC;
        s.bits = bits == 0 ? 256 : bits;
        if (s.bits != 256 && s.bits != 384) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_key_spec",
                               "ec key of %d bits not allowed; %s", bits, SPEC_HELP);
        }
    } else if (type != NULL && strcmp(type, "rsa") == 0) {
        s.type = LCA_KEY_RSA;
        s.bits = bits == 0 ? 2048 : bits;
        if (s.bits != 2048 && s.bits != 3072 && s.bits != 4096) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_key_spec",
                               "rsa key of %d bits not allowed; %s", bits, SPEC_HELP);
        }
    } else if (type != NULL && strcmp(type, "ed25519") == 0) {
        s.type = LCA_KEY_ED25519;
        if (bits != 0) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_key_spec",
                               "ed25519 takes no key_bits (got %d); %s", bits, SPEC_HELP);
        }
    } else {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_key_spec", "key type '%.32s' not allowed; %s",
                           type != NULL ? type : "(none)", SPEC_HELP);
    }
    *out = s;
    return LCA_OK;
}

/* Re-validates a spec that did not necessarily come from lca_key_spec_parse. */
static int spec_valid(const struct lca_keyspec *spec)
{
    switch (spec->type) {
    case LCA_KEY_EC:
        return spec->bits == 256 || spec->bits == 384;
    case LCA_KEY_RSA:
        return spec->bits == 2048 || spec->bits == 3072 || spec->bits == 4096;
    case LCA_KEY_ED25519:
        return spec->bits == 0;
    }
    return 0;
}

int lca_key_generate(const struct lca_keyspec *spec, EVP_PKEY **out, struct lca_err *err)
{
    EVP_PKEY *k = NULL;

    if (spec == NULL || !spec_valid(spec)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_key_spec", "invalid key spec; %s",
                           SPEC_HELP);
    }
    switch (spec->type) {
    case LCA_KEY_EC:
        k = EVP_EC_gen(spec->bits == 384 ? "P-384" : "P-256");
        break;
    case LCA_KEY_RSA:
        k = EVP_RSA_gen((unsigned int)spec->bits);
        break;
    case LCA_KEY_ED25519:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    }
    if (k == NULL) {
        return lca_err_ossl(err, LCA_ERR_FATAL, "keygen", "key generation failed");
    }
    *out = k;
    return LCA_OK;
}

/* EC curve of key as a NID, or NID_undef (explicit parameters, unknown curve). */
static int ec_curve_nid(EVP_PKEY *key)
{
    char name[64];
    size_t len = 0;
    int nid;

    if (EVP_PKEY_get_group_name(key, name, sizeof(name), &len) != 1) {
        return NID_undef;
    }
    nid = OBJ_sn2nid(name);
    if (nid == NID_undef) {
        nid = EC_curve_nist2nid(name);
    }
    return nid;
}

/* Fills *spec from key if it is an accepted algorithm and size; message in err otherwise. */
static int classify(EVP_PKEY *key, struct lca_keyspec *spec, struct lca_err *err)
{
    int bits;
    int nid;

    if (key == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "weak_key", "no key");
    }
    bits = EVP_PKEY_get_bits(key);
    if (EVP_PKEY_is_a(key, "RSA")) {
        if (bits < KEY_RSA_MIN || bits > KEY_RSA_MAX) {
            ERR_clear_error();
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "weak_key",
                               "RSA key of %d bits refused: RSA needs %d to %d bits", bits,
                               KEY_RSA_MIN, KEY_RSA_MAX);
        }
        spec->type = LCA_KEY_RSA;
        spec->bits = bits;
        return LCA_OK;
    }
    if (EVP_PKEY_is_a(key, "EC")) {
        nid = ec_curve_nid(key);
        ERR_clear_error();
        if (nid != NID_X9_62_prime256v1 && nid != NID_secp384r1) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "weak_key",
                               "EC key on curve %s (%d bits) refused: only P-256 and P-384",
                               nid != NID_undef ? OBJ_nid2sn(nid) : "(explicit or unknown)",
                               bits);
        }
        spec->type = LCA_KEY_EC;
        spec->bits = nid == NID_secp384r1 ? 384 : 256;
        return LCA_OK;
    }
    if (EVP_PKEY_is_a(key, "ED25519")) {
        spec->type = LCA_KEY_ED25519;
        spec->bits = 0;
        return LCA_OK;
    }
    ERR_clear_error();
    return lca_err_set(err, LCA_ERR_BAD_INPUT, "weak_key",
                       "%s key refused: only RSA 2048-8192, EC P-256/P-384 and Ed25519",
                       EVP_PKEY_get0_type_name(key) != NULL ? EVP_PKEY_get0_type_name(key)
                                                            : "unknown");
}

int lca_key_check(EVP_PKEY *key, struct lca_err *err)
{
    struct lca_keyspec s;

    return classify(key, &s, err);
}

int lca_key_spec_of(EVP_PKEY *key, struct lca_keyspec *out, struct lca_err *err)
{
    struct lca_keyspec s;

    if (classify(key, &s, err) != LCA_OK) {
        return LCA_FAIL;
    }
    *out = s;
    return LCA_OK;
}

int lca_key_id_spki(const uint8_t *spki, size_t len, char out[LCA_KEY_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    size_t i;

    if (spki == NULL || len == 0 ||
        EVP_Digest(spki, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen * 2 != LCA_KEY_ID_LEN) {
        return LCA_FAIL;
    }
    for (i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0x0f];
    }
    out[LCA_KEY_ID_LEN] = '\0';
    return LCA_OK;
}

int lca_key_spki_der(EVP_PKEY *key, uint8_t **out, size_t *len, struct lca_err *err)
{
    unsigned char *der = NULL;
    int n;

    if (key == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_key", "no key");
    }
    n = i2d_PUBKEY(key, &der);
    if (n <= 0) {
        return lca_err_ossl(err, LCA_ERR_FATAL, "encode_key", "cannot encode public key");
    }
    *out = der;
    *len = (size_t)n;
    return LCA_OK;
}

int lca_key_id(EVP_PKEY *key, char out[LCA_KEY_ID_LEN + 1], struct lca_err *err)
{
    uint8_t *der = NULL;
    size_t len = 0;
    int rc;

    if (lca_key_spki_der(key, &der, &len, err) != LCA_OK) {
        return LCA_FAIL;
    }
    rc = lca_key_id_spki(der, len, out);
    OPENSSL_free(der);
    if (rc != LCA_OK) {
        return lca_err_ossl(err, LCA_ERR_FATAL, "key_id", "SHA-256 failed");
    }
    return LCA_OK;
}

int lca_key_public_from_spki(const uint8_t *spki, size_t len, EVP_PKEY **out, struct lca_err *err)
{
    const unsigned char *p = spki;
    EVP_PKEY *k;

    if (spki == NULL || len == 0 || len > KEY_MAX_PEM) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_spki",
                           "SubjectPublicKeyInfo empty or over %d bytes", KEY_MAX_PEM);
    }
    k = d2i_PUBKEY(NULL, &p, (long)len);
    if (k == NULL) {
        return lca_err_ossl(err, LCA_ERR_BAD_INPUT, "bad_spki",
                            "cannot parse SubjectPublicKeyInfo");
    }
    if (p != spki + len) {
        EVP_PKEY_free(k);
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_spki",
                           "%zu trailing bytes after SubjectPublicKeyInfo", len - (size_t)(p - spki));
    }
    *out = k;
    return LCA_OK;
}

/* PEM pass-phrase callback that refuses: OpenSSL must never prompt on a terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static int contains(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    size_t i;

    for (i = 0; n <= len && i <= len - n; i++) {
        if (memcmp(hay + i, needle, n) == 0) {
            return 1;
        }
    }
    return 0;
}

/* A read-only memory BIO over pem, or NULL with err filled. */
static BIO *pem_bio(const char *pem, size_t len, struct lca_err *err)
{
    BIO *bio;

    if (pem == NULL || len == 0 || len > KEY_MAX_PEM) {
        lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_key_pem", "PEM empty or over %d bytes",
                    KEY_MAX_PEM);
        return NULL;
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        lca_err_ossl(err, LCA_ERR_FATAL, "oom", "BIO_new_mem_buf failed");
    }
    return bio;
}

int lca_key_private_from_pem(const char *pem, size_t len, EVP_PKEY **out, struct lca_err *err)
{
    BIO *bio = pem_bio(pem, len, err);
    EVP_PKEY *k;

    if (bio == NULL) {
        return LCA_FAIL;
    }
    /* PKCS#8 EncryptedPrivateKeyInfo, or a traditional PEM with RFC 1421 encryption headers. */
    if (contains(pem, len, "-----BEGIN ENCRYPTED PRIVATE KEY-----") ||
        contains(pem, len, "Proc-Type: 4,ENCRYPTED")) {
        BIO_free(bio);
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "encrypted_key",
                           "encrypted private key PEM not supported: decrypt it first "
                           "(openssl pkey -in KEY -out PLAIN)");
    }
    k = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    if (k == NULL) {
        return lca_err_ossl(err, LCA_ERR_BAD_INPUT, "bad_key_pem",
                            "cannot parse private key PEM (PKCS#8 or traditional)");
    }
    *out = k;
    return LCA_OK;
}

int lca_key_public_from_pem(const char *pem, size_t len, EVP_PKEY **out, struct lca_err *err)
{
    BIO *bio = pem_bio(pem, len, err);
    EVP_PKEY *k;

    if (bio == NULL) {
        return LCA_FAIL;
    }
    k = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    if (k == NULL) {
        return lca_err_ossl(err, LCA_ERR_BAD_INPUT, "bad_key_pem",
                            "cannot parse PUBLIC KEY PEM");
    }
    *out = k;
    return LCA_OK;
}

int lca_key_private_to_pem(EVP_PKEY *key, char **out, size_t *len, struct lca_err *err)
{
    BIO *bio = NULL;
    char *data = NULL;
    char *copy = NULL;
    long n;
    int rc = LCA_FAIL;

    if (key == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_key", "no key");
    }
    /* The mem BIO's buffer is wiped by BUF_MEM_free, so no plaintext outlives this call. */
    bio = BIO_new(BIO_s_secmem());
    if (bio == NULL || PEM_write_bio_PKCS8PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1) {
        lca_err_ossl(err, LCA_ERR_FATAL, "encode_key", "cannot encode private key as PKCS#8");
        goto out;
    }
    n = BIO_get_mem_data(bio, &data);
    if (n <= 0 || (copy = OPENSSL_malloc((size_t)n + 1)) == NULL) {
        lca_err_ossl(err, LCA_ERR_FATAL, "oom", "cannot copy private key PEM");
        goto out;
    }
    memcpy(copy, data, (size_t)n);
    copy[n] = '\0';
    *out = copy;
    *len = (size_t)n;
    rc = LCA_OK;
out:
    BIO_free(bio);
    return rc;
}

void lca_key_pem_free(char *pem, size_t len)
{
    if (pem != NULL) {
        OPENSSL_clear_free(pem, len + 1);
    }
}

/* PKCS#8 PrivateKeyInfo DER of key; *der must be freed with OPENSSL_clear_free(*der, *len). */
static int pkcs8_der(EVP_PKEY *key, uint8_t **der, size_t *len, struct lca_err *err)
{
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key);
    unsigned char *buf = NULL;
    int n;

    if (p8 == NULL) {
        return lca_err_ossl(err, LCA_ERR_FATAL, "encode_key", "cannot encode private key");
    }
    n = i2d_PKCS8_PRIV_KEY_INFO(p8, &buf);
    PKCS8_PRIV_KEY_INFO_free(p8); /* its ASN.1 callback wipes the key octets */
    if (n <= 0) {
        return lca_err_ossl(err, LCA_ERR_FATAL, "encode_key", "cannot encode PKCS#8");
    }
    *der = buf;
    *len = (size_t)n;
    return LCA_OK;
}

/*
 * AES-256-GCM in one shot. enc: 1 to encrypt (tag written), 0 to decrypt (tag checked).
 * out has room for inlen bytes. Returns 1 on success, 0 on any failure (including a bad tag).
 */
static int gcm(int enc, const uint8_t key[32], const uint8_t nonce[12], const uint8_t *aad,
               size_t aadlen, const uint8_t *in, size_t inlen, uint8_t *out, uint8_t tag[16])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0;
    int ok = 0;

    if (c == NULL || inlen > INT_MAX || aadlen > INT_MAX ||
        EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce, enc) != 1 ||
        (aadlen > 0 && EVP_CipherUpdate(c, NULL, &n, aad, (int)aadlen) != 1) ||
        EVP_CipherUpdate(c, out, &n, in, (int)inlen) != 1 ||
        (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) != 1) ||
        EVP_CipherFinal_ex(c, out + n, &n) != 1 ||
        (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)) {
        goto out;
    }
    ok = 1;
out:
    EVP_CIPHER_CTX_free(c);
    return ok;
}

int lca_key_wrap(const uint8_t kek[32], const uint8_t nonce[12], EVP_PKEY *key, const char *aad,
                 uint8_t **blob, size_t *len, struct lca_err *err)
{
    uint8_t *der = NULL;
    uint8_t *b = NULL;
    size_t dlen = 0;
    size_t blen;
    int rc = LCA_FAIL;

    if (kek == NULL || nonce == NULL || key == NULL || aad == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_wrap_input", "missing wrap argument");
    }
    if (pkcs8_der(key, &der, &dlen, err) != LCA_OK) {
        return LCA_FAIL;
    }
    blen = WRAP_HDR + dlen + LCA_KEY_WRAP_TAG_LEN;
    b = OPENSSL_malloc(blen);
    if (b == NULL) {
        lca_err_set(err, LCA_ERR_FATAL, "oom", "cannot allocate wrapped key");
        goto out;
    }
    b[0] = LCA_KEY_WRAP_VERSION;
    memcpy(b + 1, nonce, LCA_KEY_WRAP_NONCE_LEN);
    if (!gcm(1, kek, nonce, (const uint8_t *)aad, strlen(aad), der, dlen, b + WRAP_HDR,
             b + WRAP_HDR + dlen)) {
        lca_err_ossl(err, LCA_ERR_FATAL, "wrap_failed", "AES-256-GCM encryption failed");
        goto out;
    }
    *blob = b;
    *len = blen;
    b = NULL;
    rc = LCA_OK;
out:
    OPENSSL_free(b);
    OPENSSL_clear_free(der, dlen);
    return rc;
}

/* Decodes a PKCS#8 PrivateKeyInfo with no trailing bytes, or NULL. */
static EVP_PKEY *pkcs8_decode(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
    EVP_PKEY *k = NULL;

    if (p8 != NULL && p == der + len) {
        k = EVP_PKCS82PKEY(p8);
    }
    PKCS8_PRIV_KEY_INFO_free(p8);
    return k;
}

int lca_key_unwrap(const uint8_t kek[32], const uint8_t *blob, size_t len, const char *aad,
                   EVP_PKEY **out, struct lca_err *err)
{
    uint8_t tag[LCA_KEY_WRAP_TAG_LEN];
    uint8_t *pt = NULL;
    size_t ptlen = 0;
    EVP_PKEY *k = NULL;

    if (kek != NULL && blob != NULL && aad != NULL && len > WRAP_HDR + LCA_KEY_WRAP_TAG_LEN &&
        len <= KEY_MAX_BLOB && blob[0] == LCA_KEY_WRAP_VERSION) {
        ptlen = len - WRAP_HDR - LCA_KEY_WRAP_TAG_LEN;
        memcpy(tag, blob + WRAP_HDR + ptlen, sizeof(tag));
        pt = OPENSSL_malloc(ptlen);
        if (pt == NULL) {
            return lca_err_set(err, LCA_ERR_FATAL, "oom", "cannot allocate unwrap buffer");
        }
        if (gcm(0, kek, blob + 1, (const uint8_t *)aad, strlen(aad), blob + WRAP_HDR, ptlen,
                pt, tag)) {
            k = pkcs8_decode(pt, ptlen);
        }
        OPENSSL_clear_free(pt, ptlen);
    }
    ERR_clear_error();
    if (k == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "unwrap_failed",
                           "wrapped key does not open under this KEK and key id");
    }
    *out = k;
    return LCA_OK;
}
