#include "seal.h"

#include <limits.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#define SEAL_LABEL "ledgerca seal v1"
#define SEAL_LABEL_LEN (sizeof(SEAL_LABEL) - 1)
#define SEAL_AEAD_KEY 32
#define SEAL_NONCE 12

/* Key and nonce of one box; wiped after use. */
struct seal_keys {
    uint8_t okm[SEAL_AEAD_KEY + SEAL_NONCE];
};

int lca_seal_x25519_pub(const uint8_t priv[32], uint8_t pub[32], struct lca_err *err)
{
    EVP_PKEY *k = NULL;
    size_t len = LCA_SEAL_KEY_LEN;

    if (priv == NULL || pub == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_seal_input", "missing X25519 key");
    }
    k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, LCA_SEAL_KEY_LEN);
    if (k == NULL || EVP_PKEY_get_raw_public_key(k, pub, &len) != 1 || len != LCA_SEAL_KEY_LEN) {
        EVP_PKEY_free(k);
        return lca_err_ossl(err, LCA_ERR_FATAL, "x25519", "cannot compute X25519 public key");
    }
    EVP_PKEY_free(k);
    return LCA_OK;
}

/* shared = X25519(priv, peer_pub). Returns 1, or 0 on failure or an all-zero result. */
static int x25519(const uint8_t priv[32], const uint8_t peer_pub[32], uint8_t shared[32])
{
    static const uint8_t zero[32];
    EVP_PKEY *mine = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
    EVP_PKEY *peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer_pub, 32);
    EVP_PKEY_CTX *ctx = NULL;
    size_t len = 32;
    int ok = 0;

    if (mine == NULL || peer == NULL || (ctx = EVP_PKEY_CTX_new(mine, NULL)) == NULL ||
        EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer(ctx, peer) != 1 ||
        EVP_PKEY_derive(ctx, shared, &len) != 1 || len != 32) {
        goto out;
    }
    /* OpenSSL already refuses a zero result; check again rather than rely on it. */
    ok = CRYPTO_memcmp(shared, zero, 32) != 0;
out:
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(peer);
    EVP_PKEY_free(mine);
    ERR_clear_error();
    if (!ok) {
        OPENSSL_cleanse(shared, 32);
    }
    return ok;
}

/* okm = HKDF-SHA256(shared, eph_pub || recipient_pub, label || info, 44). Returns 1 or 0. */
static int derive(const uint8_t shared[32], const uint8_t eph_pub[32],
                  const uint8_t recipient_pub[32], const uint8_t *info, size_t info_len,
                  struct seal_keys *keys)
{
    uint8_t salt[64];
    uint8_t fullinfo[SEAL_LABEL_LEN + LCA_SEAL_MAX_INFO];
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM p[5];
    int ok;

    memcpy(salt, eph_pub, 32);
    memcpy(salt + 32, recipient_pub, 32);
    memcpy(fullinfo, SEAL_LABEL, SEAL_LABEL_LEN);
    if (info_len > 0) {
        memcpy(fullinfo + SEAL_LABEL_LEN, info, info_len);
    }
    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)shared, 32);
    p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof(salt));
    p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, fullinfo,
                                             SEAL_LABEL_LEN + info_len);
    p[4] = OSSL_PARAM_construct_end();
    ok = kctx != NULL && EVP_KDF_derive(kctx, keys->okm, sizeof(keys->okm), p) == 1;
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return ok;
}

/* AES-256-GCM, empty AAD. enc 1: encrypt, write tag; enc 0: decrypt, check tag. 1 or 0. */
static int gcm(int enc, const struct seal_keys *keys, const uint8_t *in, size_t inlen,
               uint8_t *out, uint8_t tag[16])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0;
    int ok = 0;

    if (c == NULL || inlen > INT_MAX ||
        EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, keys->okm, keys->okm + SEAL_AEAD_KEY,
                          enc) != 1 ||
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

/* Shared secret + key schedule for one box; 1 or 0. Wipes the shared secret. */
static int schedule(const uint8_t priv[32], const uint8_t peer[32], const uint8_t eph_pub[32],
                    const uint8_t recipient_pub[32], const uint8_t *info, size_t info_len,
                    struct seal_keys *keys)
{
    uint8_t shared[32];
    int ok = x25519(priv, peer, shared) &&
             derive(shared, eph_pub, recipient_pub, info, info_len, keys);

    OPENSSL_cleanse(shared, sizeof(shared));
    ERR_clear_error();
    return ok;
}

int lca_seal(const uint8_t recipient_pub[32], const uint8_t eph_priv[32], const uint8_t *info,
             size_t info_len, const uint8_t *pt, size_t pt_len, uint8_t **out, size_t *out_len,
             struct lca_err *err)
{
    struct seal_keys keys;
    uint8_t *box = NULL;
    int rc = LCA_FAIL;

    if (recipient_pub == NULL || eph_priv == NULL || pt == NULL || pt_len == 0 ||
        pt_len > LCA_SEAL_MAX_PT || info_len > LCA_SEAL_MAX_INFO ||
        (info == NULL && info_len > 0)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_seal_input",
                           "seal needs keys, 1..%u plaintext bytes and at most %d info bytes",
                           LCA_SEAL_MAX_PT, LCA_SEAL_MAX_INFO);
    }
    box = OPENSSL_malloc(pt_len + LCA_SEAL_OVERHEAD);
    if (box == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "cannot allocate sealed box");
    }
    if (lca_seal_x25519_pub(eph_priv, box, err) != LCA_OK) {
        goto out;
    }
    if (!schedule(eph_priv, recipient_pub, box, recipient_pub, info, info_len, &keys)) {
        lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_seal_input",
                    "X25519 with the recipient key failed (small-order or invalid key)");
        goto out;
    }
    if (!gcm(1, &keys, pt, pt_len, box + LCA_SEAL_KEY_LEN, box + LCA_SEAL_KEY_LEN + pt_len)) {
        lca_err_ossl(err, LCA_ERR_FATAL, "seal_failed", "AES-256-GCM encryption failed");
        goto out;
    }
    *out = box;
    *out_len = pt_len + LCA_SEAL_OVERHEAD;
    box = NULL;
    rc = LCA_OK;
out:
    OPENSSL_cleanse(&keys, sizeof(keys));
    OPENSSL_free(box);
    return rc;
}

int lca_seal_open(const uint8_t recipient_priv[32], const uint8_t *info, size_t info_len,
                  const uint8_t *sealed, size_t len, uint8_t **pt, size_t *pt_len,
                  struct lca_err *err)
{
    struct seal_keys keys;
    uint8_t my_pub[LCA_SEAL_KEY_LEN];
    uint8_t tag[LCA_SEAL_TAG_LEN];
    uint8_t *buf = NULL;
    size_t n = 0;
    int ok = 0;

    if (recipient_priv != NULL && sealed != NULL && len > LCA_SEAL_OVERHEAD &&
        len - LCA_SEAL_OVERHEAD <= LCA_SEAL_MAX_PT && info_len <= LCA_SEAL_MAX_INFO &&
        (info != NULL || info_len == 0) &&
        lca_seal_x25519_pub(recipient_priv, my_pub, err) == LCA_OK) {
        n = len - LCA_SEAL_OVERHEAD;
        memcpy(tag, sealed + LCA_SEAL_KEY_LEN + n, sizeof(tag));
        buf = OPENSSL_malloc(n);
        if (buf == NULL) {
            return lca_err_set(err, LCA_ERR_FATAL, "oom", "cannot allocate unseal buffer");
        }
        ok = schedule(recipient_priv, sealed, sealed, my_pub, info, info_len, &keys) &&
             gcm(0, &keys, sealed + LCA_SEAL_KEY_LEN, n, buf, tag);
        OPENSSL_cleanse(&keys, sizeof(keys));
    }
    ERR_clear_error();
    if (!ok) {
        OPENSSL_clear_free(buf, n);
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "unseal_failed",
                           "sealed box does not open with this key and context");
    }
    *pt = buf;
    *pt_len = n;
    return LCA_OK;
}
