/* pkix — test certificate factory. Contract in pkix.h. */
#include "pkix.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static void die(const char *what)
{
    fprintf(stderr, "pkix: %s failed\n", what);
    ERR_print_errors_fp(stderr);
    abort();
}

EVP_PKEY *lca_pkix_key(enum lca_pkix_alg alg)
{
    EVP_PKEY *k = NULL;

    switch (alg) {
    case LCA_PKIX_P256:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;
    case LCA_PKIX_P384:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        break;
    case LCA_PKIX_RSA2048:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
        break;
    case LCA_PKIX_ED25519:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    }
    if (k == NULL) {
        die("keygen");
    }
    return k;
}

static void add_ext(X509 *c, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);

    if (e == NULL || !X509_add_ext(c, e, -1)) {
        die("extension");
    }
    X509_EXTENSION_free(e);
}

static const EVP_MD *md_for(EVP_PKEY *k)
{
    if (EVP_PKEY_is_a(k, "ED25519")) {
        return NULL;
    }
    if (EVP_PKEY_is_a(k, "EC") && EVP_PKEY_get_bits(k) == 384) {
        return EVP_sha384();
    }
    return EVP_sha256();
}

static void set_names(X509 *c, const struct lca_pkix_spec *s)
{
    X509_NAME *n = X509_NAME_new();

    if (n == NULL ||
        !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)s->cn, -1, -1, 0) ||
        !X509_set_subject_name(c, n)) {
        die("subject");
    }
    if (!X509_set_issuer_name(c, s->issuer != NULL ? X509_get_subject_name(s->issuer) : n)) {
        die("issuer");
    }
    X509_NAME_free(n);
}

static void set_exts(X509 *c, const struct lca_pkix_spec *s)
{
    X509V3_CTX ctx;
    char san[300];

    X509V3_set_ctx(&ctx, s->issuer != NULL ? s->issuer : c, c, NULL, NULL, 0);
    add_ext(c, &ctx, NID_subject_key_identifier, "hash");
    if (s->issuer != NULL) {
        add_ext(c, &ctx, NID_authority_key_identifier, "keyid:always");
    }
    if (s->is_ca) {
        add_ext(c, &ctx, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(c, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
        return;
    }
    add_ext(c, &ctx, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(c, &ctx, NID_key_usage, "critical,digitalSignature");
    add_ext(c, &ctx, NID_ext_key_usage, "serverAuth");
    snprintf(san, sizeof(san), "DNS:%s", s->cn);
    add_ext(c, &ctx, NID_subject_alt_name, san);
}

X509 *lca_pkix_cert(const struct lca_pkix_spec *s)
{
    X509 *c = X509_new();
    EVP_PKEY *signer = s->issuer != NULL ? s->issuer_key : s->key;

    if (c == NULL || !X509_set_version(c, X509_VERSION_3) ||
        !ASN1_INTEGER_set_uint64(X509_get_serialNumber(c), s->serial) ||
        ASN1_TIME_set(X509_getm_notBefore(c), (time_t)s->not_before) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(c), (time_t)s->not_after) == NULL ||
        !X509_set_pubkey(c, s->key)) {
        die("certificate fields");
    }
    set_names(c, s);
    set_exts(c, s);
    if (X509_sign(c, signer, md_for(signer)) <= 0) {
        die("sign");
    }
    return c;
}

int lca_pkix_write_pem(const char *path, X509 *const *certs, size_t n)
{
    FILE *f = fopen(path, "w");
    int ok = f != NULL;

    for (size_t i = 0; ok && i < n; i++) {
        ok = PEM_write_X509(f, certs[i]) == 1;
    }
    if (f != NULL && fclose(f) != 0) {
        ok = 0;
    }
    return ok ? 0 : -1;
}

int lca_pkix_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok = f != NULL && fwrite(data, 1, len, f) == len;

    if (f != NULL && fclose(f) != 0) {
        ok = 0;
    }
    return ok ? 0 : -1;
}

int lca_pkix_run(const char *cmd, char *out, size_t cap)
{
    char full[4096];
    char tmp[512];
    size_t k = 0;
    FILE *p;
    int st;

    snprintf(full, sizeof(full), "(%s) 2>&1", cmd);
    p = popen(full, "r");
    if (p == NULL) {
        return -1;
    }
    while (fgets(tmp, sizeof(tmp), p) != NULL) {
        size_t n = strlen(tmp);
        if (out != NULL && k + n < cap) {
            memcpy(out + k, tmp, n);
            k += n;
        }
    }
    if (out != NULL && cap > 0) {
        out[k] = '\0';
    }
    st = pclose(p);
    return st == -1 ? -1 : (WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

int lca_pkix_tmpdir(char *dir, size_t cap)
{
    const char *base = getenv("TMPDIR");

    if ((size_t)snprintf(dir, cap, "%s/lca_test_XXXXXX", base != NULL ? base : "/tmp") >= cap) {
        return -1;
    }
    return mkdtemp(dir) != NULL ? 0 : -1;
}

void lca_pkix_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];

    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
    rmdir(dir);
}
