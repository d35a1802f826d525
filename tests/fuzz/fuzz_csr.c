/* libFuzzer target for the CSR parser (untrusted bytes from `sign` commands). */
#include <stddef.h>
#include <stdint.h>

#include "csr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lca_csr *csr = NULL;
    struct lca_err err;
    size_t len = 0, i;

    lca_err_clear(&err);
    if (lca_csr_parse(data, size, &csr, &err) == LCA_OK) {
        (void)lca_csr_common_name(csr);
        for (i = 0; i < lca_csr_dns_count(csr); i++) {
            (void)lca_csr_dns_at(csr, i);
        }
        (void)lca_csr_spki(csr, &len);
        lca_csr_free(csr);
    }
    return 0;
}
