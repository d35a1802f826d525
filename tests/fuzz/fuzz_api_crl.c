/*
 * fuzz_api_crl — libFuzzer target for the CRL path parser of `ledgerca api` (workers/api_crl.h,
 * STYLE.md rule 12: request paths are untrusted bytes).
 *
 * Properties: a path accepted as a CRL path names an issuer id without '/' or '.', a shard in
 * range, and — for the DER form — is exactly the relative path lca_crl_path writes for that
 * scope (one URL per scope, so no two paths alias one CRL).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_crl.h"
#include "crl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char rel[256], id[40], again[128];
    int shard = -2, delta = -1, pem = -1;

    if (size >= sizeof(rel)) {
        return 0;
    }
    memcpy(rel, data, size);
    rel[size] = '\0';
    if (!lca_api_crl_parse(rel, id, &shard, &delta, &pem)) {
        return 0;
    }
    if (strchr(id, '/') != NULL || strchr(id, '.') != NULL || id[0] == '\0' || shard < -1 ||
        shard > 99999 || (delta != 0 && delta != 1) || (pem != 0 && pem != 1)) {
        abort();
    }
    if (!pem && (lca_crl_path(id, shard, delta, again, sizeof(again)) != LCA_OK ||
                 strcmp(again, rel) != 0)) {
        abort();
    }
    return 0;
}
