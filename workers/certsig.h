/*
 * certsig — checking a certificate's signature and serial straight from its DER, for the audit
 * of a log with millions of certificates (issue 4, `audit.full_verify`).
 *
 * d2i_X509 + X509_verify cost about four signature verifications per certificate on OpenSSL 3.0
 * (the decoder framework builds the subject public key, extensions and names the audit does not
 * need). This module walks the DER instead (RFC 5280 section 4.1):
 *   Certificate ::= SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm AlgorithmIdentifier,
 *                              signatureValue BIT STRING }
 *   TBSCertificate ::= SEQUENCE { version [0] EXPLICIT INTEGER, serialNumber INTEGER,
 *                                 signature AlgorithmIdentifier, ... }
 * checks that every length is consistent (definite DER lengths, nothing trailing), that both
 * AlgorithmIdentifiers are the byte-exact one ledgerca's builder writes for the issuer's key
 * (ecdsa-with-SHA256 for P-256, ecdsa-with-SHA384 for P-384, sha256WithRSAEncryption for RSA,
 * Ed25519; section 4.1.1.2 requires the two to be equal), compares the serial, and verifies the
 * signature over the TBS bytes with EVP_DigestVerify. Any other algorithm is LCA_CERTSIG_OTHER:
 * the caller then takes the full d2i_X509 path.
 * Reentrant: one call per thread at a time may share `issuer_key` (read only).
 */
#ifndef LCA_CERTSIG_H
#define LCA_CERTSIG_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

enum lca_certsig_result {
    LCA_CERTSIG_OK = 0,        /* the signature verifies and the serial matches */
    LCA_CERTSIG_BAD_DER = 1,   /* not a well-formed Certificate */
    LCA_CERTSIG_SERIAL = 2,    /* another serial than `serial` */
    LCA_CERTSIG_BAD_SIG = 3,   /* the signature does not verify under issuer_key */
    LCA_CERTSIG_OTHER = 4,     /* an algorithm this fast path does not handle */
};

/* der/len: the certificate; issuer_key: borrowed; serial: big-endian magnitude (leading zero
 * octets ignored). */
enum lca_certsig_result lca_certsig_verify(const uint8_t *der, size_t len, EVP_PKEY *issuer_key,
                                           const uint8_t *serial, size_t serial_len);

#endif
