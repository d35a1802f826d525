#include "duration.h"

#include <stdio.h>
#include <string.h>

#define LCA_DURATION_MAX ((int64_t)1000 * 366 * 86400)

static int64_t unit_seconds(char u)
{
    switch (u) {
    case 's':
        return 1;
    case 'm':
        return 60;
    case 'h':
        return 3600;
    case 'd':
        return 86400;
    default:
        return 0;
    }
}

int lca_duration_parse(const char *s, int64_t *out, struct lca_err *err)
{
    const char *p = s;
    int64_t total = 0, num;
    int digits, units = 0;

    if (s == NULL || *s == '\0') {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_duration", "empty duration");
    }
    while (*p != '\0') {
        for (num = 0, digits = 0; *p >= '0' && *p <= '9'; p++, digits++) {
            num = num * 10 + (*p - '0');
            if (num > LCA_DURATION_MAX) {
                return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_duration",
                                   "duration '%.64s' is too long", s);
            }
        }
        if (digits == 0) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_duration",
                               "invalid duration '%.64s'", s);
        }
        if (*p == '\0' && units == 0) {
            total = num; /* bare integer: seconds */
            break;
        }
        if (unit_seconds(*p) == 0) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_duration",
                               "invalid duration '%.64s' (units: s, m, h, d)", s);
        }
        total += num * unit_seconds(*p++);
        units++;
        if (total > LCA_DURATION_MAX) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_duration",
                               "duration '%.64s' is too long", s);
        }
    }
    *out = total;
    return LCA_OK;
}

int lca_duration_from_val(const struct lca_val *v, int64_t dflt, int64_t *out,
                          struct lca_err *err)
{
    switch (lca_val_kind(v)) {
    case LCA_VAL_NIL:
        *out = dflt;
        return LCA_OK;
    case LCA_VAL_INT:
        if (lca_val_int(v) < 0 || lca_val_int(v) > LCA_DURATION_MAX) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_duration",
                               "duration %lld out of range", (long long)lca_val_int(v));
        }
        *out = lca_val_int(v);
        return LCA_OK;
    case LCA_VAL_STR:
        return lca_duration_parse(lca_val_str(v), out, err);
    default:
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_duration",
                           "duration must be a number of seconds or a string like \"72h\"");
    }
}

void lca_duration_format(int64_t secs, char *out, size_t outlen)
{
    snprintf(out, outlen, "%lldh%lldm%llds", (long long)(secs / 3600),
             (long long)(secs % 3600 / 60), (long long)(secs % 60));
}
