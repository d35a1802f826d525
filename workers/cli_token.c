/* ledgerca token create — a token for one of seed 003's personas, printed once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "opts.h"
#include "pgstore.h"
#include "tokens.h"

int lca_cli_token(int argc, char **argv)
{
    struct lca_opt opts[] = {
        {"--persona", NULL, 0, "operator, agent, advanced or requester", NULL},
        {"--roles", NULL, 0, "comma-separated roles the token may issue with (default: all)", NULL},
        {"--description", NULL, 0, "free text stored with the token", ""},
        {"--pg-uri", "LEDGERCA_PG_URI", 0, "PostgreSQL URI of the cluster", NULL},
        {"--cluster", "LEDGERCA_CLUSTER", 0, "cluster id (default dc1)", "dc1"},
        {NULL, NULL, 0, NULL, NULL},
    };
    const char *roles[LCA_TOKEN_MAX_ROLES];
    char buf[LCA_TOKEN_MAX_ROLES * 130], *save = NULL, *tok, token[LCA_TOKEN_LEN + 1];
    struct lca_pgstore *store = NULL;
    enum lca_persona p;
    struct lca_err err;
    size_t n = 0;
    int rc;

    if (argc < 2 || strcmp(argv[1], "create") != 0) {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            lca_opts_usage(stdout, opts, "ledgerca token create --persona P [--roles a,b]");
            return 0;
        }
        lca_opts_usage(stderr, opts, "ledgerca token create --persona P [--roles a,b]");
        return 2;
    }
    rc = lca_opts_parse(argc - 1, argv + 1, opts, "ledgerca token create --persona P [--roles a,b]");
    if (rc != 0) {
        return rc == 1 ? 0 : 2;
    }
    lca_err_clear(&err);
    if (opts[3].value == NULL || lca_authz_persona_parse(opts[0].value, &p, &err) != LCA_OK) {
        fprintf(stderr, "ledgerca token: %s\n",
                opts[3].value == NULL ? "--pg-uri (or LEDGERCA_PG_URI) is required" : err.msg);
        return 2;
    }
    snprintf(buf, sizeof(buf), "%s", opts[1].value != NULL ? opts[1].value : "");
    for (tok = strtok_r(buf, ",", &save); tok != NULL && n < LCA_TOKEN_MAX_ROLES;
         tok = strtok_r(NULL, ",", &save)) {
        roles[n++] = tok;
    }
    if (lca_pgstore_open(opts[3].value, opts[4].value, &store, &err) != LCA_OK ||
        lca_tokens_create(store, p, roles, n, opts[2].value, token, &err) != LCA_OK) {
        fprintf(stderr, "ledgerca token: %s\n", err.msg);
        lca_pgstore_free(store);
        return 1;
    }
    printf("%s\n", token);
    memset(token, 0, sizeof(token));
    lca_pgstore_free(store);
    return 0;
}
