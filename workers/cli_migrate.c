/*
 * `ledgerca migrate` — applies the embedded sql/ migrations to the database of
 * --pg-uri or LEDGERCA_PG_URI. Exit codes: 0 applied or up to date, 1 failure, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "migrate.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ledgerca migrate [--pg-uri URI] [--list]\n"
            "\n"
            "Applies the SQL migrations built into this binary that the database does not have\n"
            "yet, in order, each in its own transaction, recording them in schema_migrations.\n"
            "Running it again is a no-op; concurrent runs are serialized.\n"
            "\n"
            "  --pg-uri URI  PostgreSQL connection URI (default: $LEDGERCA_PG_URI)\n"
            "  --list        print the built-in migrations and exit\n"
            "  --help        this text\n"
            "\n"
            "exit status: 0 success, 1 failure (message on stderr), 2 usage error\n");
}

static void on_applied(void *ctx, int version, const char *name)
{
    (void)ctx;
    printf("applied %03d %s\n", version, name);
}

static int run(const char *uri)
{
    struct lca_err err;
    size_t n = 0, total = 0;

    lca_err_clear(&err);
    if (lca_migrate_apply(uri, lca_migrate_builtin, on_applied, NULL, &n, &err) != LCA_OK) {
        fprintf(stderr, "ledgerca migrate: %s (%s, %s)\n", err.msg, err.code,
                lca_err_class_name(err.cls));
        return 1;
    }
    while (lca_migrate_builtin[total].name != NULL) {
        total++;
    }
    printf("%zu migration(s) applied, schema at %zu/%zu\n", n, total, total);
    return 0;
}

int lca_cli_migrate(int argc, char **argv)
{
    const char *uri = getenv("LEDGERCA_PG_URI");
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--list") == 0) {
            for (i = 0; lca_migrate_builtin[i].name != NULL; i++) {
                printf("%s\n", lca_migrate_builtin[i].name);
            }
            return 0;
        } else if (strcmp(argv[i], "--pg-uri") == 0 && i + 1 < argc) {
            uri = argv[++i];
        } else if (strncmp(argv[i], "--pg-uri=", 9) == 0) {
            uri = argv[i] + 9;
        } else {
            fprintf(stderr, "ledgerca migrate: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (uri == NULL || uri[0] == '\0') {
        fprintf(stderr, "ledgerca migrate: no database: pass --pg-uri or set LEDGERCA_PG_URI\n");
        return 2;
    }
    return run(uri);
}
