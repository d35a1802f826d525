/*
 * api_write — the write routes of `ledgerca api`: each maps a Consul or Vault request onto
 * one command of the wire contract, sent through the facade (workers/api_facade.h), and maps
 * the reply back onto Vault's response shape:
 *   PUT  /v1/connect/ca/configuration          config.update (Consul's body as is)
 *   POST /v1/pki/roles/:name  DELETE same       role.write / role.delete
 *   POST /v1/pki/issue/:role, issuer/:ref/issue/:role   issue (the facade's own X25519 key
 *        receives the sealed key; it is opened here and returned as private_key)
 *   POST /v1/pki/sign/:role, issuer/:ref/sign/:role     sign
 *   POST /v1/pki/sign-verbatim(/:role), issuer/:ref/sign-verbatim(/:role)  sign-verbatim
 *   POST /v1/pki/revoke                        revoke
 *   POST /v1/pki/root/rotate/:type             rotate
 *   POST /v1/pki/intermediate/cross-sign       cross-sign
 *   POST /v1/pki/issuers/generate/root/existing   reissue
 *   POST /v1/pki/issuer/:ref/sign-intermediate sign-intermediate
 *   POST /v1/pki/issuer/:ref                   issuer.update
 *   POST /v1/pki/config/urls, config/crl       config.update (Vault's fields mapped)
 *   GET|POST /v1/pki/crl/rotate                crl.rotate
 *   POST /v1/pki/tidy                          tidy
 * The command is checked with engine/authz.h before it is sent (403 permission_denied
 * without a round trip); a rejected reply is 403 for permission_denied, 400 otherwise; no
 * reply in time is 504. Threads: any.
 */
#ifndef LCA_API_WRITE_H
#define LCA_API_WRITE_H

#include "api_facade.h"
#include "http.h"
#include "tokens.h"

/* What a write did, for the metrics. */
struct lca_api_call {
    const char *op;  /* "issue", "sign", "sign-verbatim", "revoke"; NULL: not measured */
    char role[130];
    char issuer[130];
    int failed;      /* 1 unless the command's reply was ok */
    int leaf;        /* 1 for issue, sign, sign-verbatim (no read-your-writes wait) */
};

/* Handles req when (method, path) is a write route: fills resp and call, returns 1; returns
 * 0 (nothing touched) otherwise. path is the URL path; who the caller's resolved token. */
int lca_api_write(struct lca_api_facade *f, int timeout_ms, const struct lca_token_info *who,
                  const struct lca_http_req *req, struct lca_http_resp *resp,
                  struct lca_api_call *call);

#endif
