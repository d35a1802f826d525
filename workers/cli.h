/*
 * cli — the subcommand table of the `ledgerca` executable.
 * Each subcommand is `int fn(int argc, char **argv)` with argv[0] the subcommand name; it
 * returns the process exit code: 0 success, 1 failure of the operation, 2 usage error.
 * Subcommands are listed in cli.def as LCA_CLI("name", function, "one-line summary").
 */
#ifndef LCA_CLI_H
#define LCA_CLI_H

#include <stdio.h>

#define LCA_VERSION_STRING "0.1.0"

struct lca_cli_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

#define LCA_CLI(name, fn, summary) int fn(int argc, char **argv);
#include "cli.def"

#endif
