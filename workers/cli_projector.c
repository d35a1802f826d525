/* ledgerca projector — the projection worker (workers/projector.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "opts.h"
#include "projector.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int flag_on(const char *v)
{
    return v != NULL && strcmp(v, "0") != 0 && strcmp(v, "false") != 0;
}

int lca_cli_projector(int argc, char **argv)
{
    struct lca_opt opts[] = {
        {"--pg-uri", "LEDGERCA_PG_URI", 0, "PostgreSQL URI of this cluster's log", NULL},
        {"--cluster", "LEDGERCA_CLUSTER", 0, "cluster id (default dc1)", "dc1"},
        {"--crl-dir", "LEDGERCA_CRL_DIR", 0, "write <issuer_id>.crl and .pem files here", NULL},
        {"--rebuild", NULL, 1, "empty the read models and replay the log from position 0", NULL},
        {"--once", NULL, 1, "catch up with the log and exit (tests, cron)", NULL},
        {"--max-batch", "LEDGERCA_PROJECTOR_BATCH", 0, "events per transaction (default 1000)",
         "1000"},
        {NULL, NULL, 0, NULL, NULL},
    };
    struct lca_projector_opts o;
    struct lca_err err;
    struct sigaction sa;
    int rc = lca_opts_parse(argc, argv, opts, "ledgerca projector [options]");

    if (rc != 0) {
        return rc == 1 ? 0 : 2;
    }
    if (opts[0].value == NULL) {
        fprintf(stderr, "ledgerca projector: --pg-uri (or LEDGERCA_PG_URI) is required\n");
        return 2;
    }
    memset(&o, 0, sizeof(o));
    o.pg_uri = opts[0].value;
    o.cluster = opts[1].value;
    o.crl_dir = opts[2].value;
    o.rebuild = flag_on(opts[3].value);
    o.once = flag_on(opts[4].value);
    o.max_batch = (size_t)strtoul(opts[5].value, NULL, 10);
    o.stop = &g_stop;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    lca_log_init("projector");
    lca_err_clear(&err);
    if (lca_projector_run(&o, &err) != LCA_OK) {
        lca_log_err("projector stopped", &err);
        return 1;
    }
    return 0;
}
