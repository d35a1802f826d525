/*
 * `ledgerca audit verify|checkpoint` — workers/audit.h from the command line.
 *
 *   audit verify [--pg-uri URI] [--checkpoints] [--chain-only] [--log-public-key HEX]
 *       exit 0: clean; 1: a problem (its position and description on stdout) or the audit could
 *       not run (stderr); 2: usage. A progress bar goes to stderr when it is a terminal.
 *   audit checkpoint [--pg-uri URI] [--kek-file F] [--cluster C] [--bootstrap B]
 *                    [--every N --interval T]
 *       signs the head once; with --every/--interval keeps running (beside the projector) and
 *       signs whenever N events were appended or T seconds passed with new events, until
 *       SIGTERM/SIGINT. With --bootstrap each new checkpoint is also published as JSON to the
 *       Kafka topic ledgerca.checkpoints (created if missing), keyed by cluster.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "audit.h"
#include "cli.h"
#include "kafka.h"
#include "opts.h"
#include "osslenv.h"
#include "pgstore.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void progress_bar(void *ctx, int64_t pos, int64_t head)
{
    int width = 40, fill = head > 0 ? (int)((pos * width) / head) : width, i;

    (void)ctx;
    fprintf(stderr, "\r[");
    for (i = 0; i < width; i++) {
        fputc(i < fill ? '#' : ' ', stderr);
    }
    fprintf(stderr, "] %lld/%lld%s", (long long)pos, (long long)head, pos >= head ? "\n" : "");
    fflush(stderr);
}

static int parse_hex32(const char *s, uint8_t out[32])
{
    size_t i;
    unsigned v;

    if (s == NULL || strlen(s) != 64) {
        return -1;
    }
    for (i = 0; i < 32; i++) {
        if (sscanf(s + 2 * i, "%2x", &v) != 1) {
            return -1;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

static void print_report(const struct lca_audit_report *r)
{
    printf("events %lld (head %lld), certificates %lld verified (%lld unverifiable), CRLs %lld, "
           "checkpoints %lld\n",
           (long long)r->events, (long long)r->head, (long long)r->certificates,
           (long long)r->unverifiable, (long long)r->crls, (long long)r->checkpoints);
    if (r->crl_refusals > 0) {
        printf("CRL builds refused by max_crl_entries (CrlBuildFailed): %lld\n",
               (long long)r->crl_refusals);
    }
    if (r->clean) {
        printf("log clean\n");
    } else {
        printf("PROBLEM at position %lld: %s\n", (long long)r->bad_position, r->problem);
    }
}

static int cmd_verify(int argc, char **argv)
{
    struct lca_opt opts[] = {
        {"--pg-uri", "LEDGERCA_PG_URI", 0, "PostgreSQL URI of the log", NULL},
        {"--checkpoints", NULL, 1, "also verify the signed checkpoints (detects a cut tail)", NULL},
        {"--chain-only", NULL, 1, "hash chain only (no decoding or signatures)", NULL},
        {"--log-public-key", "LEDGERCA_LOG_PUBLIC_KEY", 0,
         "pin the checkpoint key (64 hex digits, Ed25519)", NULL},
        {NULL, NULL, 0, NULL, NULL},
    };
    struct lca_audit_opts ao;
    struct lca_audit_report rep;
    struct lca_pgstore *store = NULL;
    struct lca_err err;
    uint8_t pin[32];
    int rc = lca_opts_parse(argc, argv, opts, "ledgerca audit verify [options]");

    if (rc != 0) {
        return rc == 1 ? 0 : 2;
    }
    if (opts[0].value == NULL || (opts[3].value != NULL && parse_hex32(opts[3].value, pin) != 0)) {
        fprintf(stderr, "ledgerca audit verify: --pg-uri (or LEDGERCA_PG_URI) is required; "
                        "--log-public-key takes 64 hex digits\n");
        return 2;
    }
    memset(&ao, 0, sizeof(ao));
    ao.checkpoints = opts[1].value != NULL && strcmp(opts[1].value, "0") != 0;
    ao.chain_only = opts[2].value != NULL && strcmp(opts[2].value, "0") != 0;
    ao.log_public_key = opts[3].value != NULL ? pin : NULL;
    ao.progress = isatty(STDERR_FILENO) ? progress_bar : NULL;
    lca_err_clear(&err);
    if (lca_pgstore_open(opts[0].value, "audit", &store, &err) != LCA_OK ||
        lca_audit_verify(store, &ao, &rep, &err) != LCA_OK) {
        fprintf(stderr, "ledgerca audit verify: %s (%s, %s)\n", err.msg, err.code,
                lca_err_class_name(err.cls));
        lca_pgstore_free(store);
        return 1;
    }
    lca_pgstore_free(store);
    print_report(&rep);
    return rep.clean ? 0 : 1;
}

struct cp_ctx {
    struct lca_pgstore *store;
    struct lca_audit_logkey *key;
    struct lca_kproducer *prod;
    const char *cluster;
};

static int publish(struct cp_ctx *c, const struct lca_audit_checkpoint *cp, struct lca_err *err)
{
    char *json = NULL;
    size_t len = 0;
    int rc;

    if (c->prod == NULL) {
        return LCA_OK;
    }
    if (lca_audit_checkpoint_json(cp, &json, &len, err) != LCA_OK) {
        return LCA_FAIL;
    }
    rc = lca_kproducer_send(c->prod, LCA_AUDIT_CHECKPOINT_TOPIC, c->cluster, strlen(c->cluster),
                            json, len, NULL, 0, err) == LCA_OK &&
                 lca_kproducer_flush(c->prod, 10000, err) == LCA_OK
             ? LCA_OK
             : LCA_FAIL;
    free(json);
    return rc;
}

static int sign_once(struct cp_ctx *c, struct lca_audit_checkpoint *cp, struct lca_err *err)
{
    int wrote = 0;
    char h[17];
    int i;

    if (lca_audit_checkpoint(c->store, c->key, c->cluster, (int64_t)time(NULL), cp, &wrote,
                             err) != LCA_OK) {
        return LCA_FAIL;
    }
    for (i = 0; i < 8; i++) {
        snprintf(h + 2 * i, 3, "%02x", cp->hash[i]);
    }
    printf("checkpoint #%lld cluster %s position %lld hash %s... %s\n", (long long)cp->id,
           cp->cluster, (long long)cp->position, h, wrote ? "signed" : "unchanged");
    fflush(stdout);
    return wrote ? publish(c, cp, err) : LCA_OK;
}

/* Loop mode: sign when `every` events were appended, or `interval` s passed with new events. */
static int sign_loop(struct cp_ctx *c, long every, long interval, struct lca_err *err)
{
    struct lca_audit_checkpoint cp;
    time_t last_sign = time(NULL);
    uint8_t h[LCA_PGSTORE_HASH_LEN];
    int64_t head = 0;

    if (sign_once(c, &cp, err) != LCA_OK) {
        return LCA_FAIL;
    }
    while (!g_stop) {
        sleep(1);
        if (lca_pgstore_head(c->store, &head, h, err) != LCA_OK) {
            if (err->cls != LCA_ERR_RETRIABLE) {
                return LCA_FAIL;
            }
            continue;
        }
        if (head > cp.position && ((every > 0 && head - cp.position >= every) ||
                                   (interval > 0 && time(NULL) - last_sign >= interval))) {
            if (sign_once(c, &cp, err) != LCA_OK) {
                return LCA_FAIL;
            }
            last_sign = time(NULL);
        }
    }
    return LCA_OK;
}

static int cp_open(struct cp_ctx *c, const char *uri, const char *kek_file, const char *bootstrap,
                   struct lca_err *err)
{
    static const char *const topics[] = {LCA_AUDIT_CHECKPOINT_TOPIC};
    uint8_t kek[32];
    int rc;

    if (lca_osslenv_load_kek(kek_file, kek, err) != LCA_OK) {
        return LCA_FAIL;
    }
    rc = lca_pgstore_open(uri, c->cluster, &c->store, err) == LCA_OK &&
                 lca_audit_logkey_load(c->store, kek, &c->key, err) == LCA_OK
             ? LCA_OK
             : LCA_FAIL;
    OPENSSL_cleanse(kek, sizeof(kek));
    if (rc == LCA_OK && bootstrap != NULL &&
        (lca_kafka_create_topics(bootstrap, topics, 1, 1, 30000, err) != LCA_OK ||
         lca_kproducer_new(bootstrap, NULL, &c->prod, err) != LCA_OK)) {
        rc = LCA_FAIL;
    }
    return rc;
}

static int cmd_checkpoint(int argc, char **argv)
{
    struct lca_opt opts[] = {
        {"--pg-uri", "LEDGERCA_PG_URI", 0, "PostgreSQL URI of the log", NULL},
        {"--kek-file", "LEDGERCA_KEK_FILE", 0, "key-encryption key file (wraps the log key)", NULL},
        {"--cluster", "LEDGERCA_CLUSTER", 0, "cluster id (default dc1)", "dc1"},
        {"--bootstrap", "LEDGERCA_KAFKA_BOOTSTRAP", 0, "Kafka: also publish to " LCA_AUDIT_CHECKPOINT_TOPIC, NULL},
        {"--every", NULL, 0, "loop: sign after N new events", NULL},
        {"--interval", NULL, 0, "loop: sign after T seconds with new events", NULL},
        {NULL, NULL, 0, NULL, NULL},
    };
    struct cp_ctx c;
    struct lca_audit_checkpoint cp;
    struct lca_err err;
    struct sigaction sa;
    long every, interval;
    int rc = lca_opts_parse(argc, argv, opts, "ledgerca audit checkpoint [options]");

    if (rc != 0) {
        return rc == 1 ? 0 : 2;
    }
    if (opts[0].value == NULL || opts[1].value == NULL) {
        fprintf(stderr, "ledgerca audit checkpoint: --pg-uri and --kek-file are required\n");
        return 2;
    }
    every = opts[4].value != NULL ? strtol(opts[4].value, NULL, 10) : 0;
    interval = opts[5].value != NULL ? strtol(opts[5].value, NULL, 10) : 0;
    memset(&c, 0, sizeof(c));
    c.cluster = opts[2].value;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    lca_err_clear(&err);
    rc = cp_open(&c, opts[0].value, opts[1].value, opts[3].value, &err);
    if (rc == LCA_OK) {
        rc = every > 0 || interval > 0 ? sign_loop(&c, every, interval, &err)
                                       : sign_once(&c, &cp, &err);
    }
    if (rc != LCA_OK) {
        fprintf(stderr, "ledgerca audit checkpoint: %s (%s, %s)\n", err.msg, err.code,
                lca_err_class_name(err.cls));
    }
    lca_kproducer_free(c.prod);
    lca_audit_logkey_free(c.key);
    lca_pgstore_free(c.store);
    return rc == LCA_OK ? 0 : 1;
}

int lca_cli_audit(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "verify") == 0) {
        return cmd_verify(argc - 1, argv + 1);
    }
    if (argc >= 2 && strcmp(argv[1], "checkpoint") == 0) {
        return cmd_checkpoint(argc - 1, argv + 1);
    }
    fprintf(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr,
            "usage: ledgerca audit verify [--pg-uri URI] [--checkpoints] [--chain-only]\n"
            "       ledgerca audit checkpoint [--pg-uri URI] [--kek-file F] [--bootstrap B]\n"
            "                                 [--every N] [--interval T]\n");
    return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
}
