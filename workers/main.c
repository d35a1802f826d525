/*
 * ledgerca — one executable, many subcommands (tls, bench; later signer, projector, migrate,
 * submit, dev, api, audit, replay). Each subcommand lives in workers/cli_<name>.c and is
 * registered in the table below.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "json.h"

static const struct lca_cli_cmd commands[] = {
#define LCA_CLI(name, fn, summary) {name, fn, summary},
#include "cli.def"
};

static void usage(FILE *out)
{
    size_t i;

    fprintf(out, "usage: ledgerca <command> [args]\n\ncommands:\n");
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(out, "\n`ledgerca <command> --help` describes each command.\n");
}

int main(int argc, char **argv)
{
    size_t i;

    /* jansson copies command JSON (tokens included) into its own buffers: wipe them on free */
    lca_json_install_wiping_alloc();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("ledgerca %s\n", LCA_VERSION_STRING);
        return 0;
    }
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            return commands[i].fn(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "ledgerca: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
