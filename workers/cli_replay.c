/*
 * `ledgerca replay --to POSITION|TIME --out DIR [--pg-uri URI]` — the CA's state as of a log
 * position or an RFC 3339 time (workers/audit.h, lca_audit_replay, lists the files).
 * TIME is "YYYY-MM-DDTHH:MM:SSZ" or with a numeric offset ("+01:00"); a bare integer is a
 * position. Exit codes: 0 written, 1 failure, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cli.h"
#include "opts.h"
#include "pgstore.h"

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    return 365 * y + y / 4 - y / 100 + y / 400 + (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1 -
           719468;
}

/* RFC 3339 date-time (section 5.6) to Unix seconds; fractions are dropped. */
static int parse_rfc3339(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec, n = 0, oh = 0, om = 0;
    const char *z;
    int64_t t;

    if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
        mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
        return -1;
    }
    z = s + n;
    if (*z == '.') {
        while (*++z >= '0' && *z <= '9') {
        }
    }
    if ((*z == 'Z' || *z == 'z') && z[1] == '\0') {
        oh = om = 0;
    } else if ((*z == '+' || *z == '-') && sscanf(z + 1, "%2d:%2d", &oh, &om) == 2 &&
               strlen(z) == 6) {
        oh = *z == '-' ? -oh : oh;
        om = *z == '-' ? -om : om;
    } else {
        return -1;
    }
    t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    *out = t - (int64_t)oh * 3600 - (int64_t)om * 60;
    return 0;
}

static int parse_target(const char *s, int64_t *pos, int64_t *t)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);

    *pos = 0;
    *t = 0;
    if (end != s && *end == '\0') {
        *pos = v;
        return v > 0 ? 0 : -1;
    }
    return parse_rfc3339(s, t);
}

int lca_cli_replay(int argc, char **argv)
{
    struct lca_opt opts[] = {
        {"--to", NULL, 0, "a log position, or an RFC 3339 time (2026-03-01T00:00:00Z)", NULL},
        {"--out", NULL, 0, "output directory (created; must be empty)", NULL},
        {"--pg-uri", "LEDGERCA_PG_URI", 0, "PostgreSQL URI of the log", NULL},
        {NULL, NULL, 0, NULL, NULL},
    };
    struct lca_pgstore *store = NULL;
    struct lca_err err;
    int64_t pos = 0, t = 0, got = 0;
    int rc = lca_opts_parse(argc, argv, opts, "ledgerca replay --to POSITION|TIME --out DIR");

    if (rc != 0) {
        return rc == 1 ? 0 : 2;
    }
    if (opts[0].value == NULL || opts[1].value == NULL || opts[2].value == NULL ||
        parse_target(opts[0].value, &pos, &t) != 0) {
        fprintf(stderr, "ledgerca replay: --to POSITION|TIME, --out DIR and --pg-uri (or "
                        "LEDGERCA_PG_URI) are required\n");
        return 2;
    }
    lca_err_clear(&err);
    if (lca_pgstore_open(opts[2].value, "replay", &store, &err) != LCA_OK ||
        lca_audit_replay(store, pos, t, opts[1].value, &got, &err) != LCA_OK) {
        fprintf(stderr, "ledgerca replay: %s (%s, %s)\n", err.msg, err.code,
                lca_err_class_name(err.cls));
        lca_pgstore_free(store);
        return 1;
    }
    lca_pgstore_free(store);
    printf("replayed to position %lld into %s\n", (long long)got, opts[1].value);
    return 0;
}
