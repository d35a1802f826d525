#include "duration.h"

#include <stdint.h>
#include <string.h>

#define LCA_DURATION_MAX ((int64_t)1000 * 366 * 86400)

static int parse_digits(const char *s, size_t n, int64_t *out)
{
    int64_t v = 0;
    if (n == 0) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (INT64_MAX - (s[i] - '0')) / 10) {
            return 0;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

/* Nanoseconds per Go duration unit at s; *len gets the unit length; 0 if none. */
static int64_t go_unit(const char *s, size_t *len)
{
    static const struct {
        const char *u;
        int64_t ns;
    } units[] = {{"ns", 1},          {"us", 1000},          {"\xc2\xb5s", 1000},
                 {"\xce\xbcs", 1000}, {"ms", 1000000},       {"s", 1000000000},
                 {"m", 60000000000}, {"h", 3600000000000}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        size_t n = strlen(units[i].u);
        if (strncmp(s, units[i].u, n) == 0) {
            *len = n;
            return units[i].ns;
        }
    }
    return 0;
}

/* One Go duration term "<int>[.<frac>]<unit>" at *s, added to *ns; advances *s. */
static int go_term(const char **s, int64_t *ns)
{
    const char *p = *s, *ip = p;
    while (*p >= '0' && *p <= '9') {
        p++;
    }
    int64_t whole = 0, frac = 0, scale = 1;
    size_t ulen = 0;
    if (p > ip && !parse_digits(ip, (size_t)(p - ip), &whole)) {
        return 0;
    }
    int digits = p > ip;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, digits = 1) {
            if (scale < 1000000000000000000) { /* later digits are below 1 ns */
                frac = frac * 10 + (*p - '0');
                scale *= 10;
            }
        }
    }
    int64_t unit = go_unit(p, &ulen);
    if (!digits || unit == 0 || whole > (INT64_MAX - *ns) / unit) {
        return 0;
    }
    int64_t add = whole * unit + (int64_t)((double)frac * ((double)unit / (double)scale));
    if (add > INT64_MAX - *ns) {
        return 0;
    }
    *ns += add;
    *s = p + ulen;
    return 1;
}

/* Plain seconds "3600", days "7d", or a Go duration ("72h", "1h30m", "1.5h", "90s").
 * Negative durations are refused. */
static int parse_go(const char *s, int64_t *secs)
{
    size_t n = strlen(s);
    int64_t v = 0;
    if (n == 0) {
        *secs = 0;
        return 1;
    }
    if (parse_digits(s, n, &v)) {
        *secs = v;
        return 1;
    }
    if (s[n - 1] == 'd' && parse_digits(s, n - 1, &v)) {
        *secs = v <= INT64_MAX / 86400 ? v * 86400 : 0;
        return v <= INT64_MAX / 86400;
    }
    if (*s == '+') {
        s++;
    }
    int64_t ns = 0;
    if (strcmp(s, "0") == 0) {
        *secs = 0;
        return 1;
    }
    do {
        if (!go_term(&s, &ns)) {
            return 0;
        }
    } while (*s != '\0');
    *secs = ns / 1000000000;
    return 1;
}

int lca_duration_parse_uint(const char *s, size_t n, int64_t *out)
{
    return parse_digits(s, n, out) ? LCA_OK : LCA_FAIL;
}

int lca_duration_parse(const char *s, int64_t *out, struct lca_err *err)
{
    int64_t v = 0;

    if (s == NULL || s[0] == '\0' || !parse_go(s, &v)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_duration",
                           "invalid duration '%.64s' (seconds, or e.g. \"72h\", \"1h30m\", \"7d\")",
                           s != NULL ? s : "");
    }
    if (v > LCA_DURATION_MAX) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_duration", "duration '%.64s' is too long",
                           s);
    }
    *out = v;
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
