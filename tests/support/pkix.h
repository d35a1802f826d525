/*
 * pkix — test-only certificate factory: roots, intermediates, leaves and cross-signed or reissued
 * twins, built with plain OpenSSL X509_* calls (independent of engine/cert.c, so tests of chain
 * and CRL code do not depend on the production builder).
 *
 * Profile (RFC 5280): v3, SHA-256 (SHA-384 for P-384, none for Ed25519), subject "CN=<cn>",
 * subjectKeyIdentifier = SHA-1 of the key bits (§4.2.1.2), authorityKeyIdentifier keyIdentifier
 * = the issuer's SKI (§4.2.1.1; omitted on self-signed certificates), CA: basicConstraints
 * critical CA:TRUE and keyUsage critical keyCertSign|cRLSign; leaf: basicConstraints critical
 * CA:FALSE, keyUsage critical digitalSignature, SAN dNSName <cn>, EKU serverAuth.
 * Tests only: aborts on OpenSSL failure instead of reporting it.
 */
#ifndef LCA_TEST_PKIX_H
#define LCA_TEST_PKIX_H

#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

enum lca_pkix_alg { LCA_PKIX_P256, LCA_PKIX_P384, LCA_PKIX_RSA2048, LCA_PKIX_ED25519 };

/* A fresh key; caller frees with EVP_PKEY_free. */
EVP_PKEY *lca_pkix_key(enum lca_pkix_alg alg);

struct lca_pkix_spec {
    const char *cn;       /* subject commonName */
    EVP_PKEY *key;        /* subject key (public part used), borrowed */
    X509 *issuer;         /* NULL: self-signed with key */
    EVP_PKEY *issuer_key; /* signing key; ignored when issuer is NULL */
    int is_ca;
    uint64_t serial;      /* > 0 */
    int64_t not_before, not_after; /* Unix seconds */
};

/* Builds and signs a certificate; caller frees with X509_free. */
X509 *lca_pkix_cert(const struct lca_pkix_spec *spec);

/* Writes the certificates as concatenated PEM to path (created or truncated); 0 on success. */
int lca_pkix_write_pem(const char *path, X509 *const *certs, size_t n);

/* Writes bytes to path; 0 on success. */
int lca_pkix_write_file(const char *path, const void *data, size_t len);

/* Runs a shell command, returns its exit status (-1 if it could not run); its combined output is
 * copied into out (NUL-terminated, truncated to cap) when out is not NULL. */
int lca_pkix_run(const char *cmd, char *out, size_t cap);

/* A fresh private temporary directory (mkdtemp under $TMPDIR or /tmp), path into dir[cap];
 * lca_pkix_rmdir removes it and its files. 0 on success. */
int lca_pkix_tmpdir(char *dir, size_t cap);
void lca_pkix_rmdir(const char *dir);

#endif
