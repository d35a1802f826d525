#include "opts.h"

#include <stdlib.h>
#include <string.h>

void lca_opts_usage(FILE *f, const struct lca_opt *opts, const char *usage_line)
{
    const struct lca_opt *o;

    fprintf(f, "usage: %s\n\noptions:\n", usage_line);
    for (o = opts; o->flag != NULL; o++) {
        fprintf(f, "  %-22s %s%s%s%s\n", o->flag, o->help, o->env != NULL ? " [$" : "",
                o->env != NULL ? o->env : "", o->env != NULL ? "]" : "");
    }
    fprintf(f, "  %-22s %s\n", "--help", "show this help");
}

static struct lca_opt *find(struct lca_opt *opts, const char *name, size_t len)
{
    struct lca_opt *o;

    for (o = opts; o->flag != NULL; o++) {
        if (strlen(o->flag) == len && strncmp(o->flag, name, len) == 0) {
            return o;
        }
    }
    return NULL;
}

int lca_opts_parse(int argc, char **argv, struct lca_opt *opts, const char *usage_line)
{
    struct lca_opt *o;
    int i;

    for (o = opts; o->flag != NULL; o++) {
        const char *e = o->env != NULL ? getenv(o->env) : NULL;
        if (e != NULL && e[0] != '\0') {
            o->value = e;
        }
    }
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *eq = strchr(a, '=');
        size_t len = eq != NULL ? (size_t)(eq - a) : strlen(a);
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            lca_opts_usage(stdout, opts, usage_line);
            return 1;
        }
        if ((o = find(opts, a, len)) == NULL) {
            fprintf(stderr, "ledgerca: unknown option '%s'\n", a);
            lca_opts_usage(stderr, opts, usage_line);
            return 2;
        }
        if (o->is_bool) {
            o->value = eq != NULL ? eq + 1 : "1";
        } else if (eq != NULL) {
            o->value = eq + 1;
        } else if (i + 1 < argc) {
            o->value = argv[++i];
        } else {
            fprintf(stderr, "ledgerca: option %s needs a value\n", o->flag);
            return 2;
        }
    }
    return 0;
}
