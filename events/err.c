#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void lca_err_clear(struct lca_err *err)
{
    if (err == NULL) {
        return;
    }
    err->cls = LCA_ERR_NONE;
    err->code[0] = '\0';
    err->msg[0] = '\0';
}

int lca_err_set(struct lca_err *err, enum lca_err_class cls, const char *code,
                const char *fmt, ...)
{
    va_list ap;

    if (err == NULL) {
        return LCA_FAIL;
    }
    err->cls = cls;
    snprintf(err->code, sizeof(err->code), "%s", code != NULL ? code : "error");
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return LCA_FAIL;
}

const char *lca_err_class_name(enum lca_err_class cls)
{
    switch (cls) {
    case LCA_ERR_NONE:
        return "none";
    case LCA_ERR_BAD_INPUT:
        return "bad_input";
    case LCA_ERR_RETRIABLE:
        return "retriable";
    case LCA_ERR_FATAL:
        return "fatal";
    }
    return "unknown";
}
