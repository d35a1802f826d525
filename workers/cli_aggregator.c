/* ledgerca aggregator — unified CRLs and cross-cluster revocation (workers/aggregator.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregator.h"
#include "cli.h"
#include "log.h"
#include "opts.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

int lca_cli_aggregator(int argc, char **argv)
{
    struct lca_opt opts[] = {
        {"--bootstrap", "LEDGERCA_KAFKA_BOOTSTRAP", 0, "Kafka bootstrap servers", NULL},
        {"--pg-uri", "LEDGERCA_PG_URI", 0,
         "the PRIMARY cluster's database: its ca_keys hold the issuers' wrapped keys", NULL},
        {"--kek-file", "LEDGERCA_KEK_FILE", 0, "key-encryption key of those keys", NULL},
        {"--clusters", "LEDGERCA_CLUSTERS", 0,
         "comma-separated cluster ids (default: every ledgerca.events.* topic)", NULL},
        {"--crl-dir", "LEDGERCA_CRL_DIR", 0,
         "write unified/<issuer>.crl|.pem and clusters/<cluster>/<issuer>.crl|.pem here", NULL},
        {"--crl-interval", "LEDGERCA_CRL_INTERVAL_MS", 0,
         "milliseconds between unified CRL builds (default 500)", "500"},
        {"--idp-url-base", "LEDGERCA_UNIFIED_IDP_URL_BASE", 0,
         "give unified CRLs an issuingDistributionPoint <base>/v1/pki/issuer/<id>/unified-crl/der "
         "(only for leaves whose CRL DP names it; default none)",
         NULL},
        {"--group", "LEDGERCA_AGGREGATOR_GROUP", 0, "consumer group (default ledgerca-aggregator)",
         NULL},
        {"--max-batch", "LEDGERCA_AGGREGATOR_BATCH", 0, "messages per transaction (default 1000)",
         "1000"},
        {"--once", NULL, 1, "exit after 3 s without messages or open forwards (tests)", NULL},
        {NULL, NULL, 0, NULL, NULL},
    };
    struct lca_aggregator_opts o;
    struct lca_err err;
    struct sigaction sa;
    int rc = lca_opts_parse(argc, argv, opts, "ledgerca aggregator [options]");

    if (rc != 0) {
        return rc == 1 ? 0 : 2;
    }
    if (opts[0].value == NULL || opts[1].value == NULL || opts[2].value == NULL) {
        fprintf(stderr, "ledgerca aggregator: --bootstrap, --pg-uri and --kek-file are required\n");
        return 2;
    }
    memset(&o, 0, sizeof(o));
    o.bootstrap = opts[0].value;
    o.pg_uri = opts[1].value;
    o.kek_file = opts[2].value;
    o.clusters = opts[3].value;
    o.crl_dir = opts[4].value;
    o.crl_interval_ms = atoi(opts[5].value);
    o.url_base = opts[6].value;
    o.group = opts[7].value;
    o.max_batch = (size_t)strtoul(opts[8].value, NULL, 10);
    o.once = opts[9].value != NULL && strcmp(opts[9].value, "0") != 0;
    o.stop = &g_stop;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    lca_log_init("aggregator");
    lca_err_clear(&err);
    if (lca_aggregator_run(&o, &err) != LCA_OK) {
        lca_log_err("aggregator stopped", &err);
        return 1;
    }
    return 0;
}
