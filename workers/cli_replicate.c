/* ledgerca replicate — a secondary cluster's replicator of the primary's CA-wide events
 * (workers/replicate.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "opts.h"
#include "replicate.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

int lca_cli_replicate(int argc, char **argv)
{
    struct lca_opt opts[] = {
        {"--pg-uri", "LEDGERCA_PG_URI", 0, "PostgreSQL URI of this (secondary) cluster's log", NULL},
        {"--cluster", "LEDGERCA_CLUSTER", 0, "this secondary's cluster id, e.g. dc2", NULL},
        {"--primary-pg-uri", "LEDGERCA_PRIMARY_PG_URI", 0,
         "PostgreSQL URI of the primary's log (read only: events, ca_keys)", NULL},
        {"--primary", "LEDGERCA_PRIMARY", 0, "the primary's cluster id (default dc1)", "dc1"},
        {"--kek-file", "LEDGERCA_KEK_FILE", 0,
         "key-encryption key: when given, every copied CA key is checked to open under it", NULL},
        {"--max-events", "LEDGERCA_REPLICATE_MAX_EVENTS", 0,
         "primary events read per transaction (default 1000)", "1000"},
        {"--poll-ms", "LEDGERCA_REPLICATE_POLL_MS", 0, "wait when caught up (default 500)", "500"},
        {"--once", NULL, 1, "catch up with the primary's head, then exit", NULL},
        {NULL, NULL, 0, NULL, NULL},
    };
    struct lca_replicate_opts o;
    struct lca_err err;
    struct sigaction sa;
    int rc = lca_opts_parse(argc, argv, opts, "ledgerca replicate [options]");

    if (rc != 0) {
        return rc == 1 ? 0 : 2;
    }
    if (opts[0].value == NULL || opts[1].value == NULL || opts[2].value == NULL) {
        fprintf(stderr, "ledgerca replicate: --pg-uri, --cluster and --primary-pg-uri (or "
                        "LEDGERCA_PG_URI, LEDGERCA_CLUSTER, LEDGERCA_PRIMARY_PG_URI) are required\n");
        return 2;
    }
    memset(&o, 0, sizeof(o));
    o.pg_uri = opts[0].value;
    o.cluster = opts[1].value;
    o.primary_pg_uri = opts[2].value;
    o.primary = opts[3].value;
    o.kek_file = opts[4].value;
    o.max_events = (size_t)strtoul(opts[5].value, NULL, 10);
    o.poll_ms = (int)strtol(opts[6].value, NULL, 10);
    o.once = opts[7].value != NULL && strcmp(opts[7].value, "0") != 0;
    o.stop = &g_stop;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    lca_log_init("replicate");
    lca_err_clear(&err);
    if (lca_replicate_run(&o, &err) != LCA_OK) {
        lca_log_err("replicator stopped", &err);
        return 1;
    }
    return 0;
}
