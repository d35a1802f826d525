/*
 * opts — the command-line and environment configuration shared by the worker commands.
 * Every option has a flag (--pg-uri URI or --pg-uri=URI) and an environment variable
 * (LEDGERCA_PG_URI); the flag wins. Names are the ones `ledgerca dev --env-file` writes.
 */
#ifndef LCA_OPTS_H
#define LCA_OPTS_H

#include <stdio.h>

struct lca_opt {
    const char *flag;  /* "--pg-uri" */
    const char *env;   /* "LEDGERCA_PG_URI", or NULL */
    int is_bool;       /* 1: a switch without a value */
    const char *help;  /* one line */
    const char *value; /* result: borrowed from argv/environ, or the default set beforehand */
};

/* Parses argv[1..argc) into opts (terminated by an entry with flag NULL). Environment values
 * are read first. Returns 0 on success, 1 when --help was given (usage printed to stdout),
 * 2 on a usage error (message printed to stderr). */
int lca_opts_parse(int argc, char **argv, struct lca_opt *opts, const char *usage_line);

/* Prints the option table. */
void lca_opts_usage(FILE *f, const struct lca_opt *opts, const char *usage_line);

#endif
