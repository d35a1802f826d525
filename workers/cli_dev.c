/*
 * ledgerca dev — everything on one machine, thrown away at exit (the first README command):
 * PostgreSQL in a temporary data directory (Debian's server binaries), Kafka embedded
 * (librdkafka's mock cluster, reachable by other processes on loopback), the migrations, a
 * bootstrapped root, a signer and a projector, and a demo certificate
 * issued through Kafka like any client would. Prints the addresses, a root token and a kcat
 * example; --env-file FILE also writes them as LEDGERCA_* lines once everything is ready.
 * Stays up until Ctrl-C or SIGTERM, then stops the workers and removes its directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "api.h"
#include "cli.h"
#include "devpg.h"
#include "json.h"
#include "kafka.h"
#include "log.h"
#include "migrate.h"
#include "opts.h"
#include "pgstore.h"
#include "seal.h"
#include "projector.h"
#include "signer.h"
#include "tokens.h"
#include "uuid.h"
#include "val.h"

static volatile sig_atomic_t g_stop;         /* Ctrl-C / SIGTERM */
static volatile sig_atomic_t g_workers_stop; /* tells the worker threads to drain */

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

struct dev {
    char base[256], pg_dir[300], kek_path[300], uri[256], bootstrap[256];
    char token[65], demo_cert[300], demo_key[300], demo_serial[80];
    const char *cluster;
    struct lca_devpg *pg;
    struct lca_kmock *mock;
    struct lca_signer_opts so;
    struct lca_projector_opts po;
    struct lca_api_opts ao;
    char crl_dir[300], http_addr[300];
    unsigned http_port;
    volatile sig_atomic_t api_ready;
    pthread_t signer, projector, api;
    int signer_started, projector_started, api_started;
};

static void *signer_main(void *arg)
{
    struct dev *d = arg;
    struct lca_err err;

    lca_err_clear(&err);
    if (lca_signer_run(&d->so, &err) != LCA_OK) {
        lca_log_err("signer stopped", &err);
        g_stop = 1;
    }
    return NULL;
}

static void *projector_main(void *arg)
{
    struct dev *d = arg;
    struct lca_err err;

    lca_err_clear(&err);
    if (lca_projector_run(&d->po, &err) != LCA_OK) {
        lca_log_err("projector stopped", &err);
        g_stop = 1;
    }
    return NULL;
}

static void *api_main(void *arg)
{
    struct dev *d = arg;
    struct lca_err err;

    lca_err_clear(&err);
    if (lca_api_run(&d->ao, &err) != LCA_OK) {
        lca_log_err("api stopped", &err);
        g_stop = 1;
    }
    return NULL;
}

/* Starts `ledgerca api` on `listen` and waits until it accepts connections. */
static int start_api(struct dev *d, const char *listen, struct lca_err *err)
{
    time_t deadline = time(NULL) + 30;
    const char *colon = strrchr(listen, ':');

    memset(&d->ao, 0, sizeof(d->ao));
    d->ao.listen = listen;
    d->ao.pg_uri = d->uri;
    d->ao.bootstrap = d->bootstrap;
    d->ao.cluster = d->cluster;
    d->ao.stop = &g_workers_stop;
    d->ao.port_out = &d->http_port;
    d->ao.ready = &d->api_ready;
    if (pthread_create(&d->api, NULL, api_main, d) != 0) {
        return lca_err_set(err, LCA_ERR_FATAL, "thread", "cannot start the API thread");
    }
    d->api_started = 1;
    while (!d->api_ready && !g_stop && time(NULL) < deadline) {
        struct timespec ts = {0, 20000000L};

        nanosleep(&ts, NULL);
    }
    if (!d->api_ready) {
        return lca_err_set(err, LCA_ERR_FATAL, "api", "the HTTP API did not start (address %s)",
                           listen);
    }
    snprintf(d->http_addr, sizeof(d->http_addr), "%.*s:%u",
             colon != NULL ? (int)(colon - listen) : (int)strlen(listen), listen, d->http_port);
    return LCA_OK;
}

static int write_secret_hex(const char *path, size_t nbytes, char *hex_out)
{
    uint8_t b[32];
    char hex[65];
    size_t i;
    FILE *f;
    int fd;

    if (nbytes > sizeof(b) || RAND_bytes(b, (int)nbytes) != 1) {
        return -1;
    }
    for (i = 0; i < nbytes; i++) {
        snprintf(hex + 2 * i, 3, "%02x", b[i]);
    }
    OPENSSL_cleanse(b, sizeof(b));
    if (hex_out != NULL) {
        memcpy(hex_out, hex, 2 * nbytes + 1);
    }
    if (path == NULL) {
        return 0;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
        return -1;
    }
    fprintf(f, "%s\n", hex);
    fclose(f);
    OPENSSL_cleanse(hex, sizeof(hex));
    return 0;
}

static void print_migration(void *ctx, int version, const char *name)
{
    (void)ctx;
    lca_log(LCA_LOG_DEBUG, "migration applied", "version=%d name=%s", version, name);
}

/* The root token: an Operator token, as `vault server -dev` prints one. */
static int root_token(struct dev *d, struct lca_err *err)
{
    struct lca_pgstore *store = NULL;
    int rc;

    if (lca_pgstore_open(d->uri, d->cluster, &store, err) != LCA_OK) {
        return LCA_FAIL;
    }
    rc = lca_tokens_create(store, LCA_PERSONA_OPERATOR, NULL, 0, "dev mode root token",
                           d->token, err);
    lca_pgstore_free(store);
    return rc;
}

static int setup(struct dev *d, struct lca_err *err)
{
    char tmpl[] = "/tmp/ledgerca-dev-XXXXXX";

    if (mkdtemp(tmpl) == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "mkdtemp", "cannot create a temporary directory");
    }
    chmod(tmpl, 0755);
    snprintf(d->base, sizeof(d->base), "%s", tmpl);
    snprintf(d->pg_dir, sizeof(d->pg_dir), "%s/pg", d->base);
    snprintf(d->kek_path, sizeof(d->kek_path), "%s/kek", d->base);
    if (lca_devpg_start(d->pg_dir, d->uri, sizeof(d->uri), &d->pg, err) != LCA_OK ||
        lca_kafka_mock_start(1, d->bootstrap, sizeof(d->bootstrap), &d->mock, err) != LCA_OK ||
        lca_migrate_apply(d->uri, lca_migrate_builtin, print_migration, NULL, NULL, err) !=
            LCA_OK) {
        return LCA_FAIL;
    }
    if (write_secret_hex(d->kek_path, 32, NULL) != 0) {
        return lca_err_set(err, LCA_ERR_FATAL, "secret", "cannot write the KEK file");
    }
    if (root_token(d, err) != LCA_OK) {
        return LCA_FAIL;
    }
    memset(&d->so, 0, sizeof(d->so));
    d->so.bootstrap = d->bootstrap;
    d->so.pg_uri = d->uri;
    d->so.cluster = d->cluster;
    d->so.kek_file = d->kek_path;
    d->so.stop = &g_workers_stop;
    if (pthread_create(&d->signer, NULL, signer_main, d) != 0) {
        return lca_err_set(err, LCA_ERR_FATAL, "thread", "cannot start the signer thread");
    }
    d->signer_started = 1;
    snprintf(d->crl_dir, sizeof(d->crl_dir), "%s/crl", d->base);
    mkdir(d->crl_dir, 0755);
    memset(&d->po, 0, sizeof(d->po));
    d->po.pg_uri = d->uri;
    d->po.cluster = d->cluster;
    d->po.crl_dir = d->crl_dir;
    d->po.stop = &g_workers_stop;
    if (pthread_create(&d->projector, NULL, projector_main, d) != 0) {
        return lca_err_set(err, LCA_ERR_FATAL, "thread", "cannot start the projector thread");
    }
    d->projector_started = 1;
    return LCA_OK;
}

/* Waits for the reply keyed by correlation id `corr` on ledgerca.replies. */
static int await_reply(struct lca_kconsumer *tail, const char *corr, struct lca_val **out,
                       struct lca_err *err)
{
    struct lca_kmsg msgs[64];
    time_t deadline = time(NULL) + 60;
    size_t n, i;

    while (time(NULL) < deadline && !g_stop) {
        if (lca_kconsumer_poll_batch(tail, 64, 200, msgs, &n, err) != LCA_OK) {
            return LCA_FAIL;
        }
        for (i = 0; i < n; i++) {
            if (msgs[i].key != NULL && msgs[i].key_len == strlen(corr) &&
                memcmp(msgs[i].key, corr, msgs[i].key_len) == 0 && *out == NULL) {
                if (lca_json_decode((const char *)msgs[i].value, msgs[i].len, NULL, out, err) !=
                    LCA_OK) {
                    lca_kconsumer_release(msgs, n);
                    return LCA_FAIL;
                }
            }
        }
        lca_kconsumer_release(msgs, n);
        if (*out != NULL) {
            return LCA_OK;
        }
    }
    return lca_err_set(err, LCA_ERR_RETRIABLE, "timeout", "no reply to the demo command in 60 s");
}

static int save_demo(struct dev *d, const struct lca_val *result, const uint8_t priv[32],
                     struct lca_err *err)
{
    const char *cert = lca_val_map_get_str(result, "certificate");
    const char *sealed = lca_val_map_get_str(result, "sealed_private_key");
    const char *serial = lca_val_map_get_str(result, "serial_number");
    uint8_t *blob = NULL, *pt = NULL;
    size_t blen, pt_len = 0;
    int n, rc = LCA_FAIL;
    FILE *f;

    if (cert == NULL || sealed == NULL || serial == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "demo", "the demo reply lacks its certificate");
    }
    blen = strlen(sealed);
    if ((blob = malloc(blen)) == NULL ||
        (n = EVP_DecodeBlock(blob, (const unsigned char *)sealed, (int)blen)) < 0) {
        goto out;
    }
    n -= (blen > 0 && sealed[blen - 1] == '=') + (blen > 1 && sealed[blen - 2] == '=');
    if (lca_seal_open(priv, (const uint8_t *)serial, strlen(serial), blob, (size_t)n, &pt,
                      &pt_len, err) != LCA_OK) {
        goto out;
    }
    snprintf(d->demo_cert, sizeof(d->demo_cert), "%s/demo.pem", d->base);
    snprintf(d->demo_key, sizeof(d->demo_key), "%s/demo-key.pem", d->base);
    snprintf(d->demo_serial, sizeof(d->demo_serial), "%s", serial);
    if ((f = fopen(d->demo_cert, "w")) != NULL) {
        fputs(cert, f);
        fclose(f);
    }
    umask(077);
    if ((f = fopen(d->demo_key, "w")) != NULL) {
        fwrite(pt, 1, pt_len, f);
        fclose(f);
    }
    rc = LCA_OK;
out:
    if (pt != NULL) {
        OPENSSL_cleanse(pt, pt_len);
    }
    free(pt);
    free(blob);
    return rc != LCA_OK && err->cls == LCA_ERR_NONE
               ? lca_err_set(err, LCA_ERR_FATAL, "demo", "cannot open the demo key")
               : rc;
}

/* Issues the demo certificate through Kafka, as a client would. */
static int demo(struct dev *d, struct lca_err *err)
{
    struct lca_kconsumer *tail = NULL;
    struct lca_kproducer *prod = NULL;
    struct lca_val *reply = NULL;
    struct lca_kheader h = {"content-type", "application/json", 16};
    uint8_t priv[32], pub[32];
    char pubhex[65], cmd[640], id[37];
    size_t i;
    int rc = LCA_FAIL;

    if (RAND_bytes(priv, 32) != 1 || lca_uuid_v4(id) != LCA_OK ||
        lca_seal_x25519_pub(priv, pub, err) != LCA_OK) {
        goto out;
    }
    for (i = 0; i < 32; i++) {
        snprintf(pubhex + 2 * i, 3, "%02x", pub[i]);
    }
    snprintf(cmd, sizeof(cmd),
             "{\"command_id\":\"%s\",\"type\":\"issue\",\"correlation_id\":\"%s\","
             "\"token\":\"%s\",\"payload\":{\"service\":\"demo\",\"recipient_public_key\":"
             "\"%s\"}}",
             id, id, d->token, pubhex);
    if (lca_kconsumer_new_tail(d->bootstrap, LCA_KAFKA_TOPIC_REPLIES, 30000, NULL, &tail, err) !=
            LCA_OK ||
        lca_kproducer_new(d->bootstrap, NULL, &prod, err) != LCA_OK ||
        lca_kproducer_send(prod, LCA_KAFKA_TOPIC_ISSUE, id, strlen(id), cmd, strlen(cmd), &h, 1,
                           err) != LCA_OK ||
        lca_kproducer_flush(prod, 30000, err) != LCA_OK ||
        await_reply(tail, id, &reply, err) != LCA_OK) {
        goto out;
    }
    if (strcmp(lca_val_map_get_str(reply, "status") != NULL ? lca_val_map_get_str(reply, "status")
                                                           : "",
               "ok") != 0) {
        lca_err_set(err, LCA_ERR_FATAL, "demo", "the demo command was not accepted");
        goto out;
    }
    rc = save_demo(d, lca_val_map_get(reply, "result"), priv, err);
out:
    OPENSSL_cleanse(priv, sizeof(priv));
    lca_val_free(reply);
    lca_kproducer_free(prod);
    lca_kconsumer_free(tail);
    return rc;
}

static void announce(const struct dev *d, const char *env_file)
{
    FILE *f;

    printf("\nledgerca is running in dev mode (data in %s, removed at exit)\n\n", d->base);
    printf("  Kafka bootstrap:   %s   (embedded)\n", d->bootstrap);
    printf("  PostgreSQL URI:    %s\n", d->uri);
    printf("  Cluster:           %s\n", d->cluster);
    printf("  Root token:        %s   (Operator persona)\n", d->token);
    printf("  Demo certificate:  %s (serial %s)\n", d->demo_cert, d->demo_serial);
    printf("  Demo key:          %s\n", d->demo_key);
    printf("  HTTP API:          http://%s   (Consul /v1/connect/ca/*, Vault /v1/pki/*)\n",
           d->http_addr);
    printf("  Read models:       tables rm_roots, rm_issuers, rm_certs, rm_crls; CRL files in %s\n\n",
           d->crl_dir);
    printf("Send a command and read its reply with kcat:\n\n");
    printf("  echo '{\"command_id\":\"'$(cat /proc/sys/kernel/random/uuid)'\",\"type\":\"role.write\","
           "\"correlation_id\":\"r1\",\"token\":\"%s\",\"payload\":{\"name\":\"web\","
           "\"allowed_domains\":\"example.com\",\"allow_subdomains\":true}}' \\\n"
           "    | kcat -P -b %s -t ledgerca.commands.admin -H content-type=application/json\n",
           d->token, d->bootstrap);
    printf("  kcat -C -b %s -t ledgerca.replies -o beginning -e -f '%%k %%s\\n'\n\n", d->bootstrap);
    printf("Or over HTTP, as Vault's and Consul's clients do:\n\n");
    printf("  curl -s http://%s/v1/connect/ca/roots\n", d->http_addr);
    printf("  curl -s -H 'X-Vault-Token: %s' -d '{\"common_name\":\"www.example.com\"}' \\\n"
           "    http://%s/v1/pki/issue/web\n\n",
           d->token, d->http_addr);
    printf("Ctrl-C stops everything.\n");
    fflush(stdout);
    if (env_file != NULL && (f = fopen(env_file, "w")) != NULL) {
        fprintf(f, "LEDGERCA_KAFKA_BOOTSTRAP=%s\nLEDGERCA_PG_URI=%s\nLEDGERCA_CLUSTER=%s\n"
                   "LEDGERCA_KEK_FILE=%s\nLEDGERCA_ROOT_TOKEN=%s\nLEDGERCA_HTTP_ADDR=%s\n",
                d->bootstrap, d->uri, d->cluster, d->kek_path, d->token, d->http_addr);
        fclose(f);
    }
}

static void teardown(struct dev *d)
{
    g_workers_stop = 1;
    if (d->signer_started) {
        pthread_join(d->signer, NULL);
    }
    if (d->projector_started) {
        pthread_join(d->projector, NULL);
    }
    if (d->api_started) {
        pthread_join(d->api, NULL);
    }
    lca_kafka_mock_free(d->mock);
    lca_devpg_stop(d->pg); /* removes pg/ */
    if (d->base[0] != '\0') {
        char path[400];
        snprintf(path, sizeof(path), "%s/demo-key.pem", d->base);
        unlink(path);
        snprintf(path, sizeof(path), "%s/demo.pem", d->base);
        unlink(path);
        unlink(d->kek_path);
        if (d->crl_dir[0] != '\0') {
            pid_t pid = fork();
            if (pid == 0) {
                execl("/bin/rm", "rm", "-rf", d->crl_dir, (char *)NULL);
                _exit(127);
            }
            if (pid > 0) {
                waitpid(pid, NULL, 0);
            }
        }
        rmdir(d->base);
    }
}

int lca_cli_dev(int argc, char **argv)
{
    struct lca_opt opts[] = {
        {"--env-file", NULL, 0, "write LEDGERCA_* settings to FILE once ready", NULL},
        {"--cluster", "LEDGERCA_CLUSTER", 0, "cluster id (default dc1)", "dc1"},
        {"--http-addr", NULL, 0, "host:port of the HTTP API (port 0: any free port)",
         "127.0.0.1:8200"},
        {NULL, NULL, 0, NULL, NULL},
    };
    struct dev d;
    struct lca_err err;
    struct sigaction sa;
    int rc = lca_opts_parse(argc, argv, opts,
                            "ledgerca dev [--env-file FILE] [--cluster ID] [--http-addr HOST:PORT]");

    if (rc != 0) {
        return rc == 1 ? 0 : 2;
    }
    memset(&d, 0, sizeof(d));
    d.cluster = opts[1].value;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    lca_log_init("dev");
    lca_json_install_wiping_alloc(); /* API request bodies and replies may carry secrets */
    lca_err_clear(&err);
    if (setup(&d, &err) != LCA_OK || demo(&d, &err) != LCA_OK ||
        start_api(&d, opts[2].value, &err) != LCA_OK) {
        lca_log_err("dev mode could not start", &err);
        teardown(&d);
        return 1;
    }
    announce(&d, opts[0].value);
    while (!g_stop) {
        pause();
    }
    lca_log(LCA_LOG_INFO, "stopping", NULL);
    teardown(&d);
    if (opts[0].value != NULL) {
        unlink(opts[0].value);
    }
    return 0;
}
