/*
 * api_crl — `ledgerca api` serves every CRL a certificate points at, at the URL the certificate
 * carries (issue 4: shard CRLs and delta CRLs over HTTP, not only as projector files).
 *
 * The engine names a scope's CRLs after the CRL base URL (engine/crl.h lca_crl_url; the same
 * relative paths as the projector's --crl-dir):
 *   <base>/<issuer_id>.crl          the unsharded complete CRL
 *   <base>/<issuer_id>.delta.crl    its delta CRL (freshestCRL, RFC 5280 §4.2.1.15 / §5.2.6)
 *   <base>/<issuer_id>/<k>.crl      shard k's complete CRL (each certificate's CRL distribution
 *                                   point, §4.2.1.13; the CRL's issuingDistributionPoint, §5.2.5)
 *   <base>/<issuer_id>/<k>.delta.crl  shard k's delta CRL
 * and `.pem` in place of `.crl` gives the PEM form (as the --crl-dir files). The API answers
 * these under the path of every configured base URL (the configuration's CrlBaseURL and each
 * sharded issuer's crl_base_url, struct lca_api_snap crl_paths), so a base URL whose host is the
 * API works as it is, and always under /v1/pki/crls (a base URL of http://<api>/v1/pki/crls).
 * DER is application/pkix-crl, PEM application/x-pem-file; the bytes are the rm_crls row the
 * projector wrote from the log's CrlPublished event. Unknown issuer, a shard the issuer does
 * not have, or a scope without a CRL yet: 404 with Vault's {"errors": [...]} naming it.
 * Threads: any (the snapshot is immutable).
 */
#ifndef LCA_API_CRL_H
#define LCA_API_CRL_H

#include "api_view.h"
#include "http.h"

/* The fixed prefix the CRL files are always served under. */
#define LCA_API_CRL_PREFIX "/v1/pki/crls"

/*
 * Parses `rel`, a path relative to a CRL base URL ("<id>.crl", "<id>/<k>.delta.pem", ...):
 * the issuer id (at most 39 bytes, no '/' or '.'), shard (-1: unsharded; k canonical decimal,
 * < 100000), delta (1: a delta CRL), pem (1: ".pem"). 1 when rel has that shape, else 0 and
 * the outputs are unspecified.
 */
int lca_api_crl_parse(const char *rel, char id[40], int *shard, int *delta, int *pem);

/*
 * Answers a GET of `path` when it names a CRL under LCA_API_CRL_PREFIX or under one of s's
 * crl_paths: fills r and returns 1. Returns 0 (r untouched) when path is none of them, so the
 * caller routes it on. A path under LCA_API_CRL_PREFIX that does not parse is answered 404.
 */
int lca_api_crl_route(const struct lca_api_snap *s, const char *path, struct lca_http_resp *r);

#endif
