/* lca_err_ossl: declared in events/err.h, defined here because engine/ is the OpenSSL layer. */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "err.h"

int lca_err_ossl(struct lca_err *err, enum lca_err_class cls, const char *code, const char *what)
{
    char detail[256] = "";
    unsigned long e = ERR_peek_last_error();

    if (e != 0) {
        ERR_error_string_n(e, detail, sizeof(detail));
    }
    ERR_clear_error();
    if (detail[0] != '\0') {
        return lca_err_set(err, cls, code, "%s: %s", what, detail);
    }
    return lca_err_set(err, cls, code, "%s", what);
}
