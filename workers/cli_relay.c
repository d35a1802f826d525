/* ledgerca relay — a cluster's event log to Kafka (workers/relay.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "opts.h"
#include "relay.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

int lca_cli_relay(int argc, char **argv)
{
    struct lca_opt opts[] = {
        {"--pg-uri", "LEDGERCA_PG_URI", 0, "PostgreSQL URI of this cluster's log", NULL},
        {"--cluster", "LEDGERCA_CLUSTER", 0, "cluster id: topic ledgerca.events.<cluster>",
         "dc1"},
        {"--bootstrap", "LEDGERCA_KAFKA_BOOTSTRAP", 0, "Kafka bootstrap servers", NULL},
        {"--max-batch", "LEDGERCA_RELAY_BATCH", 0, "events per flush (default 1000)", "1000"},
        {"--once", NULL, 1, "deliver every committed event, then exit (tests, cron)", NULL},
        {NULL, NULL, 0, NULL, NULL},
    };
    struct lca_relay_opts o;
    struct lca_err err;
    struct sigaction sa;
    int rc = lca_opts_parse(argc, argv, opts, "ledgerca relay [options]");

    if (rc != 0) {
        return rc == 1 ? 0 : 2;
    }
    if (opts[0].value == NULL || opts[2].value == NULL) {
        fprintf(stderr, "ledgerca relay: --pg-uri and --bootstrap (or LEDGERCA_PG_URI and "
                        "LEDGERCA_KAFKA_BOOTSTRAP) are required\n");
        return 2;
    }
    memset(&o, 0, sizeof(o));
    o.pg_uri = opts[0].value;
    o.cluster = opts[1].value;
    o.bootstrap = opts[2].value;
    o.max_batch = (size_t)strtoul(opts[3].value, NULL, 10);
    o.once = opts[4].value != NULL && strcmp(opts[4].value, "0") != 0;
    o.stop = &g_stop;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    lca_log_init("relay");
    lca_err_clear(&err);
    if (lca_relay_run(&o, &err) != LCA_OK) {
        lca_log_err("relay stopped", &err);
        return 1;
    }
    return 0;
}
