/*
 * oracle — independent verifiers for tests that make certificates and CRLs.
 *
 * Our own code is never the judge of our own output: these helpers write the PEM to a private
 * temporary directory (mkdtemp, removed afterwards) and run external tools:
 *   lca_oracle_verify    `openssl verify -x509_strict` AND GnuTLS `certtool --verify` AND,
 *                        without a CRL, NSS `vfychain -pp` (libpkix; roots as explicit
 *                        anchors; usage: any CA for a CA, else TLS server/client from the
 *                        EKU) — all must accept. NSS 3.87 cannot verify Ed25519, so chains
 *                        with an Ed25519 key or signature are judged by the other two;
 *   lca_oracle_lint      zlint (RFC 5280/5480/5891/8813 and community lints; see oracle.c
 *                        for why CA/Browser Forum lints are excluded): fails on error/fatal,
 *                        prints warn/notice findings to stderr;
 *   lca_oracle_lint_crl  pkilint's `lint_crl`: fails on ERROR/FATAL findings.
 * A missing tool is a failure whose message names the tool (never a silent skip).
 *
 * Each returns 0 when the oracle(s) accept, -1 otherwise with a NUL-terminated reason in
 * why[0..whylen) (tool output, truncated). Test code only: runs processes and uses files.
 * Not thread-safe (uses popen); call from the test's main thread.
 */
#ifndef LCA_ORACLE_H
#define LCA_ORACLE_H

#include <stddef.h>

/* leaf_pem: the certificate to verify (one PEM). untrusted_chain_pem: intermediates (NULL or
 * ""). trusted_roots_pem: one or more trust anchors. crl_pem: NULL, or CRLs (PEM) to check
 * revocation against: openssl runs with -crl_check (the leaf's issuer needs a CRL) and
 * certtool with --load-crl. Verification is at the current time. */
int lca_oracle_verify(const char *leaf_pem, const char *untrusted_chain_pem,
                      const char *trusted_roots_pem, const char *crl_pem, char *why,
                      size_t whylen);

/* zlint on one PEM certificate. */
int lca_oracle_lint(const char *cert_pem, char *why, size_t whylen);

/* pkilint `lint_crl` on one PEM CRL. */
int lca_oracle_lint_crl(const char *crl_pem, char *why, size_t whylen);

#endif
