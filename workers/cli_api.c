/* ledgerca api — the Consul and Vault PKI HTTP APIs (workers/api.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cli.h"
#include "json.h"
#include "log.h"
#include "opts.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

int lca_cli_api(int argc, char **argv)
{
    struct lca_opt opts[] = {
        {"--listen", "LEDGERCA_HTTP_ADDR", 0, "host:port to listen on (port 0: any free port)",
         "127.0.0.1:8200"},
        {"--pg-uri", "LEDGERCA_PG_URI", 0, "PostgreSQL URI of this cluster (read models, tokens)",
         NULL},
        {"--bootstrap", "LEDGERCA_KAFKA_BOOTSTRAP", 0, "Kafka bootstrap servers", NULL},
        {"--cluster", "LEDGERCA_CLUSTER", 0, "cluster id (default dc1)", "dc1"},
        {"--timeout", "LEDGERCA_HTTP_TIMEOUT_MS", 0, "ms a write waits for its reply (30000)",
         "30000"},
        {"--conn-timeout", NULL, 0, "seconds before an idle connection is closed (30)", "30"},
        {"--signer-group", "LEDGERCA_SIGNER_GROUP", 0,
         "the signers' consumer group, for the lag metric (default ledgerca-signer-<cluster>)",
         NULL},
        {"--topic-suffix", "LEDGERCA_TOPIC_SUFFIX", 0,
         "suffix of the signers' command topics, e.g. .dc2 (clusters sharing one Kafka)", NULL},
        {NULL, NULL, 0, NULL, NULL},
    };
    struct lca_api_opts o;
    struct lca_err err;
    struct sigaction sa;
    int rc = lca_opts_parse(argc, argv, opts, "ledgerca api [options]");

    if (rc != 0) {
        return rc == 1 ? 0 : 2;
    }
    if (opts[1].value == NULL || opts[2].value == NULL) {
        fprintf(stderr, "ledgerca api: --pg-uri and --bootstrap (or LEDGERCA_PG_URI and "
                        "LEDGERCA_KAFKA_BOOTSTRAP) are required\n");
        return 2;
    }
    lca_log_init("api");
    lca_json_install_wiping_alloc(); /* request bodies and replies may carry secrets */
    memset(&o, 0, sizeof(o));
    o.listen = opts[0].value;
    o.pg_uri = opts[1].value;
    o.bootstrap = opts[2].value;
    o.cluster = opts[3].value;
    o.timeout_ms = atoi(opts[4].value);
    o.conn_timeout_s = (unsigned)atoi(opts[5].value);
    o.signer_group = opts[6].value;
    o.topic_suffix = opts[7].value;
    o.stop = &g_stop;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (lca_api_run(&o, &err) != LCA_OK) {
        lca_log_err("api failed", &err);
        return 1;
    }
    return 0;
}
