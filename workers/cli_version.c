#include <stdio.h>

#include "cli.h"

int lca_cli_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("ledgerca %s\n", LCA_VERSION_STRING);
    return 0;
}
