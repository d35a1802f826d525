/* ledgerca signer — the signing worker (workers/signer.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "opts.h"
#include "signer.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

int lca_cli_signer(int argc, char **argv)
{
    struct lca_opt opts[] = {
        {"--bootstrap", "LEDGERCA_KAFKA_BOOTSTRAP", 0, "Kafka bootstrap servers", NULL},
        {"--pg-uri", "LEDGERCA_PG_URI", 0, "PostgreSQL URI of this cluster's log", NULL},
        {"--cluster", "LEDGERCA_CLUSTER", 0, "cluster id (default dc1)", "dc1"},
        {"--kek-file", "LEDGERCA_KEK_FILE", 0, "key-encryption key file (32 bytes or 64 hex)", NULL},
        {"--group", "LEDGERCA_SIGNER_GROUP", 0, "consumer group (default ledgerca-signer-<cluster>)", NULL},
        {"--topic-suffix", "LEDGERCA_TOPIC_SUFFIX", 0,
         "suffix of the command topics, e.g. .dc2 (clusters sharing one Kafka)", NULL},
        {"--max-batch", "LEDGERCA_MAX_BATCH", 0, "commands per transaction (default 500)", "500"},
        {"--no-bootstrap", NULL, 1, "do not create a root when the log has none", NULL},
        {"--secondary-of", "LEDGERCA_SECONDARY_OF", 0,
         "primary cluster id: no own root, CA-wide commands refused (see ledgerca replicate)",
         NULL},
        {"--insecure-no-auth", "LEDGERCA_INSECURE_NO_AUTH", 1,
         "accept commands without checking tokens (isolated tests only)", NULL},
        {"--forward-revocations", "LEDGERCA_FORWARD_REVOCATIONS", 1,
         "hand a revoke of a serial this cluster never issued to the aggregator", NULL},
        {NULL, NULL, 0, NULL, NULL},
    };
    struct lca_signer_opts o;
    struct lca_err err;
    struct sigaction sa;
    int rc = lca_opts_parse(argc, argv, opts, "ledgerca signer [options]");

    if (rc != 0) {
        return rc == 1 ? 0 : 2;
    }
    if (opts[0].value == NULL || opts[1].value == NULL) {
        fprintf(stderr, "ledgerca signer: --bootstrap and --pg-uri (or LEDGERCA_KAFKA_BOOTSTRAP "
                        "and LEDGERCA_PG_URI) are required\n");
        return 2;
    }
    memset(&o, 0, sizeof(o));
    o.bootstrap = opts[0].value;
    o.pg_uri = opts[1].value;
    o.cluster = opts[2].value;
    o.kek_file = opts[3].value;
    o.group = opts[4].value;
    o.topic_suffix = opts[5].value;
    o.max_batch = (size_t)strtoul(opts[6].value, NULL, 10);
    o.no_bootstrap = opts[7].value != NULL && strcmp(opts[7].value, "0") != 0;
    o.secondary_of = opts[8].value != NULL && opts[8].value[0] != '\0' ? opts[8].value : NULL;
    o.no_bootstrap = o.no_bootstrap || o.secondary_of != NULL; /* its root is the primary's */
    o.no_auth = opts[9].value != NULL && strcmp(opts[9].value, "0") != 0;
    o.forward_revocations = opts[10].value != NULL && strcmp(opts[10].value, "0") != 0;
    o.stop = &g_stop;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    lca_log_init("signer");
    lca_err_clear(&err);
    if (lca_signer_run(&o, &err) != LCA_OK) {
        lca_log_err("signer stopped", &err);
        return 1;
    }
    return 0;
}
