/*
 * roots — the trust bundle read model in Consul's /v1/connect/ca/roots shape (seed 000). Pure.
 *
 *   {"ActiveRootID": "<colon hex>", "TrustDomain": "<uuid>.consul", "Roots": [
 *     {"ID", "Name", "SerialNumber", "SigningKeyID", "ExternalTrustDomain", "NotBefore",
 *      "NotAfter", "RootCert", "IntermediateCerts", "Active", "PrivateKeyType",
 *      "PrivateKeyBits", "CreateIndex", "ModifyIndex"}, ...]}
 *
 * The document is a function of the state alone (no clock, no I/O), so the bytes produced
 * after folding the log from position 0 equal those produced by a projector that folded it
 * incrementally (DESIGN.md invariant 3). Keys are in Consul's order; lca_json_encode keeps it.
 *
 * Which issuers are roots: kind LCA_ISSUER_ROOT and not retired by tidy, in creation (log)
 * order. Cross-signed and reissued twins are not roots of their own: a cross-signed twin of a
 * root appears in that root's IntermediateCerts instead.
 *
 * Field by field:
 *   ID, ActiveRootID  the root's SubjectKeyIdentifier, lowercase colon hex (RFC 5280 4.2.1.2;
 *                     the engine writes method 1, a 20-byte SHA-1, the length Consul shows).
 *   Name              issuer_name, or the subject CN when the issuer has no name.
 *   SerialNumber      Consul prints big.Int.Uint64() (the low 64 bits). Our value model has
 *                     int64 only, so this is the low 63 bits (bit 63 cleared): equal to Consul's
 *                     whenever bit 63 is 0, and always decodable by a uint64 or int64 client.
 *                     The full serial is in the certificate.
 *   SigningKeyID      SKI of the leaf-signing key of that hierarchy: the default issuer for the
 *                     active root; for another root the last intermediate it signed (the root
 *                     itself when there is none).
 *   ExternalTrustDomain  the configuration's ClusterID.
 *   NotBefore/After   RFC 3339 UTC from the root certificate.
 *   IntermediateCerts PEMs: the cross-signed twins of this root (signed by the previous root,
 *                     in log order), then its leaf-signing intermediate; null when empty.
 *   PrivateKeyType/Bits  from the root certificate's public key ("ec", "rsa", "ed25519").
 *   CreateIndex/ModifyIndex  the issuer's log positions.
 */
#ifndef LCA_ROOTS_H
#define LCA_ROOTS_H

#include <stdint.h>

#include "err.h"
#include "event.h"
#include "state.h"
#include "val.h"

/* Builds the roots document from st. *out (a map, caller frees with lca_val_free) is set only
 * on success. An unbootstrapped state gives ActiveRootID "", TrustDomain "" and Roots [].
 * Errors: BAD_INPUT "no_ski" when a root or its intermediate has no SubjectKeyIdentifier;
 * FATAL "no_memory". */
int lca_roots_build(const struct lca_state *st, struct lca_val **out,
                    struct lca_err *err) LCA_MUST_USE;

/* 1 when applying ev may change the roots document or an issuer view (configuration and
 * issuer events, tidy), 0 otherwise (certificates, CRLs, roles, rejections). */
int lca_roots_affected(const struct lca_event *ev);

/* Formats Unix seconds as RFC 3339 UTC ("2018-06-06T17:35:25Z"); out holds >= 32 bytes.
 * Out-of-range times give "". */
void lca_roots_rfc3339(int64_t t, char *out, size_t outlen);

#endif
