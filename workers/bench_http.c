/*
 * bench_http — `ledgerca bench http`: the HTTP API measured with wrk (issue 5, "Performance").
 *
 * Set-up, in this process: a throwaway database (workers/bench_db.h) with its own signer
 * consumer group whose start offsets are the current end of the command topics, then a signer,
 * a projector and `ledgerca api` on 127.0.0.1 (any free port) as threads — dev mode's shape,
 * against the real broker and PostgreSQL the runner gives. A role "bench" (P-256 keys, any
 * name) is written through Kafka; measuring starts once the read models hold a root and a CRL.
 *
 * Measurements (JSON lines: bench, value, unit, ceiling, ratio), wrk -t2 -cC -dSs each:
 *   http.health_rps    GET /v1/sys/health: the HTTP stack's own rate on this machine.
 *   http.roots_rps     GET /v1/connect/ca/roots     } ceiling: http.health_rps of the same run;
 *   http.crl_rps       GET /v1/pki/crl (DER)        } the issue's target is >= 20,000 req/s
 *   http.ca_chain_rps  GET /v1/pki/ca_chain         }
 *   http.issue_rps     POST /v1/pki/issue/bench (a P-256 key generated and sealed by the
 *                      signer, opened by the API) with C connections; ceiling: the same issue
 *                      commands sent straight to Kafka by C threads, each waiting for its reply
 *                      (the facade without HTTP) for the same duration. Target ratio >= 0.8.
 * A phase fails (exit 1) when wrk reports a non-2xx response or a socket error, or a direct
 * command is not answered ok: a rate of errors is not a rate.
 */
#include "bench_http.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "api.h"
#include "api_facade.h"
#include "bench_db.h"
#include "bench_sys.h"
#include "kafka.h"
#include "log.h"
#include "opts.h"
#include "projector.h"
#include "seal.h"
#include "signer.h"
#include "val.h"

extern char **environ;

#define READY_TIMEOUT_S 60
#define REPLY_TIMEOUT_MS 30000
#define WRK_OUT_MAX 16384
#define MAX_CONNS 512

struct hb {
    const char *pg_uri, *bootstrap;
    int seconds, conns;
    struct lca_bench_db db;
    char tag[17], group[64], cluster[32], url[64], script[128];
    struct lca_bench_sys sys; /* signer, projector, API */
    volatile sig_atomic_t stop, api_ready;
    unsigned port;
    struct lca_api_facade *facade;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void print_line(const char *name, double value, double ceiling)
{
    printf("{\"bench\": \"%s\", \"value\": %.1f, \"unit\": \"req/s\", \"ceiling\": %.1f, "
           "\"ratio\": %.3f}\n",
           name, value, ceiling, ceiling > 0 ? value / ceiling : 0.0);
    fflush(stdout);
}

static int fail(const char *what, const struct lca_err *err)
{
    fprintf(stderr, "bench http: %s: %s\n", what, err != NULL ? err->msg : "failed");
    return LCA_FAIL;
}

/* ------------------------------------------------------------------ the system under test */

static int start_threads(struct hb *b)
{
    struct lca_err err;

    lca_bench_sys_init(&b->sys, b->bootstrap, &b->db, b->cluster, b->group, &b->stop);
    b->sys.ao.listen = "127.0.0.1:0";
    b->sys.ao.pg_uri = b->db.uri;
    b->sys.ao.bootstrap = b->bootstrap;
    b->sys.ao.cluster = b->cluster;
    b->sys.ao.signer_group = b->group;
    b->sys.ao.stop = &b->stop;
    b->sys.ao.port_out = &b->port;
    b->sys.ao.ready = &b->api_ready;
    b->sys.with_api = 1;
    lca_err_clear(&err);
    if (lca_bench_sys_start(&b->sys, &err) != LCA_OK) {
        fprintf(stderr, "bench http: %s\n", err.msg);
        return LCA_FAIL;
    }
    return LCA_OK;
}

static void stop_threads(struct hb *b)
{
    b->stop = 1;
    lca_bench_sys_join(&b->sys);
}

/* Sends env (freed) through the facade; LCA_OK only for an "ok" reply. */
static int call_ok(struct hb *b, struct lca_val *env, struct lca_err *err)
{
    return lca_bench_call(b->facade, env, REPLY_TIMEOUT_MS, NULL, err);
}

static struct lca_val *envelope(const struct hb *b, const char *type, struct lca_val *payload)
{
    return lca_bench_envelope(b->db.token, type, payload);
}

static int write_role(struct hb *b, struct lca_err *err)
{
    struct lca_val *p = lca_val_new_map();

    if (p != NULL) {
        lca_val_map_set_str(p, "name", "bench");
        lca_val_map_set_bool(p, "allow_any_name", 1);
        lca_val_map_set_str(p, "key_type", "ec");
        lca_val_map_set_int(p, "key_bits", 256);
        lca_val_map_set_str(p, "ttl", "24h");
    }
    return call_ok(b, envelope(b, "role.write", p), err);
}

/* 1 once rm_roots and rm_crls hold rows (the API's snapshot follows within 50 ms). */
static int read_models_ready(const struct hb *b)
{
    PGconn *c = PQconnectdb(b->db.uri);
    PGresult *r = NULL;
    int ok = 0;

    if (PQstatus(c) == CONNECTION_OK) {
        r = PQexec(c, "SELECT (SELECT count(*) FROM rm_roots) > 0 AND "
                      "(SELECT count(*) FROM rm_crls) > 0");
        ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
             strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    }
    PQclear(r);
    PQfinish(c);
    return ok;
}

static int setup(struct hb *b)
{
    struct lca_err err;
    unsigned char r[8];
    double deadline;
    int i;

    lca_err_clear(&err);
    if (RAND_bytes(r, sizeof(r)) != 1) {
        return fail("random", NULL);
    }
    for (i = 0; i < 8; i++) {
        snprintf(b->tag + 2 * i, 3, "%02x", r[i]);
    }
    snprintf(b->group, sizeof(b->group), "lca-bench-http-%s", b->tag);
    snprintf(b->cluster, sizeof(b->cluster), "benchhttp%d", (int)getpid());
    if (lca_kafka_ensure_topics(b->bootstrap, &err) != LCA_OK) {
        return fail("Kafka (is the broker running?)", &err);
    }
    if (lca_bench_db_create(&b->db, b->pg_uri, b->tag, &err) != LCA_OK ||
        lca_bench_db_seed_offsets(&b->db, b->bootstrap, b->group, &err) != LCA_OK) {
        return fail("database", &err);
    }
    if (start_threads(b) != LCA_OK) {
        return LCA_FAIL;
    }
    if (lca_api_facade_new(b->bootstrap, &b->facade, &err) != LCA_OK ||
        write_role(b, &err) != LCA_OK) {
        return fail("role.write through Kafka", &err);
    }
    deadline = now_s() + READY_TIMEOUT_S;
    while (!(b->api_ready && read_models_ready(b)) && !b->sys.failed && now_s() < deadline) {
        sleep_ms(100);
    }
    if (!b->api_ready || b->sys.failed || !read_models_ready(b)) {
        return fail("the API or the read models did not become ready in 60 s", NULL);
    }
    sleep_ms(200); /* one snapshot refresh of the API */
    snprintf(b->url, sizeof(b->url), "http://127.0.0.1:%u", b->port);
    return LCA_OK;
}

/* ------------------------------------------------------------------ wrk */

/* A wrk script for POST /v1/pki/issue/bench with the token (0600, removed by cleanup). */
static int write_issue_script(struct hb *b)
{
    char body[512];
    int fd, n, ok;

    snprintf(b->script, sizeof(b->script), "%s/issue.lua", b->db.dir);
    n = snprintf(body, sizeof(body),
                 "wrk.method = \"POST\"\n"
                 "wrk.body = '{\"common_name\":\"svc.bench.internal\",\"ttl\":\"1h\"}'\n"
                 "wrk.headers[\"Content-Type\"] = \"application/json\"\n"
                 "wrk.headers[\"X-Vault-Token\"] = \"%s\"\n",
                 b->db.token);
    fd = open(b->script, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ok = fd >= 0 && n > 0 && (size_t)n < sizeof(body) && write(fd, body, (size_t)n) == n;
    if (fd >= 0) {
        close(fd);
    }
    OPENSSL_cleanse(body, sizeof(body));
    return ok ? LCA_OK : fail("cannot write the wrk script", NULL);
}

/* Runs argv, capturing stdout into out (NUL-terminated). Returns the exit status, -1 if it
 * could not run. */
static int run_capture(char *const argv[], char *out, size_t cap)
{
    posix_spawn_file_actions_t fa;
    int fds[2], status = -1;
    size_t len = 0;
    ssize_t n;
    pid_t pid;

    out[0] = '\0';
    if (pipe(fds) != 0) {
        return -1;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
        pid = -1;
    }
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    while (pid > 0 && (n = read(fds[0], out + len, cap - 1 - len)) != 0) {
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 || (len += (size_t)n) >= cap - 1) {
            break;
        }
    }
    out[len] = '\0';
    close(fds[0]);
    if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    return -1;
}

/* The number after `label` in wrk's report, 0 when absent. */
static double wrk_number(const char *report, const char *label)
{
    const char *p = strstr(report, label);

    return p != NULL ? strtod(p + strlen(label), NULL) : 0;
}

/* wrk against path (with the issue script if script != 0); *rps on success. */
static int run_wrk(struct hb *b, const char *path, int script, double *rps)
{
    char url[256], conns[16], dur[16], out[WRK_OUT_MAX], avg[32];
    const char *lat;
    char *argv[16];
    int n = 0, status;

    snprintf(url, sizeof(url), "%s%s", b->url, path);
    snprintf(conns, sizeof(conns), "-c%d", b->conns);
    snprintf(dur, sizeof(dur), "-d%ds", b->seconds);
    argv[n++] = "wrk";
    argv[n++] = "-t2";
    argv[n++] = conns;
    argv[n++] = dur;
    argv[n++] = "--timeout";
    argv[n++] = "30s";
    if (script) {
        argv[n++] = "-s";
        argv[n++] = b->script;
    }
    argv[n++] = url;
    argv[n] = NULL;
    status = run_capture(argv, out, sizeof(out));
    if (status != 0) {
        fprintf(stderr, "bench http: wrk %s: %s\n", path,
                status < 0 ? "cannot run wrk (apt-get install wrk)" : "exited with an error");
        return LCA_FAIL;
    }
    if (strstr(out, "Non-2xx or 3xx responses:") != NULL || strstr(out, "Socket errors:") != NULL) {
        fprintf(stderr, "bench http: %s: wrk saw errors:\n%s", path, out);
        return LCA_FAIL;
    }
    *rps = wrk_number(out, "Requests/sec:");
    lat = strstr(out, "Latency");
    if (lat == NULL || sscanf(lat + 7, "%31s", avg) != 1) {
        snprintf(avg, sizeof(avg), "?");
    }
    fprintf(stderr, "bench http: %s: %.0f req/s, mean latency %s\n", path, *rps, avg);
    return *rps > 0 ? LCA_OK : fail("wrk reported no rate", NULL);
}

/* ------------------------------------------------------------------ issue straight to Kafka */

struct direct {
    struct hb *b;
    double until;
    long ok;
    int failed;
    char msg[160];
};

static void *direct_main(void *arg)
{
    struct direct *d = arg;
    struct lca_err err;
    uint8_t priv[32], pub[32];
    char hex[65];
    int i;

    lca_err_clear(&err);
    while (!d->failed && now_s() < d->until) {
        struct lca_val *p = lca_val_new_map();

        if (p == NULL || RAND_priv_bytes(priv, 32) != 1 ||
            lca_seal_x25519_pub(priv, pub, &err) != LCA_OK) {
            lca_val_free(p);
            d->failed = 1;
            break;
        }
        for (i = 0; i < 32; i++) {
            snprintf(hex + 2 * i, 3, "%02x", pub[i]);
        }
        lca_val_map_set_str(p, "role", "bench");
        lca_val_map_set_str(p, "common_name", "svc.bench.internal");
        lca_val_map_set_str(p, "ttl", "1h");
        lca_val_map_set_str(p, "recipient_public_key", hex);
        if (call_ok(d->b, envelope(d->b, "issue", p), &err) != LCA_OK) {
            snprintf(d->msg, sizeof(d->msg), "%.150s", err.msg);
            d->failed = 1;
            break;
        }
        d->ok++;
    }
    OPENSSL_cleanse(priv, sizeof(priv));
    return NULL;
}

/* C closed-loop threads sending issue commands through the facade for the phase's duration. */
static int direct_issue(struct hb *b, double *rps)
{
    struct direct *d = calloc((size_t)b->conns, sizeof(*d));
    pthread_t *t = calloc((size_t)b->conns, sizeof(*t));
    double t0 = now_s(), t1;
    long total = 0;
    int i, n = 0, rc = LCA_OK;

    for (i = 0; d != NULL && t != NULL && i < b->conns; i++, n++) {
        d[i].b = b;
        d[i].until = t0 + b->seconds;
        if (pthread_create(&t[i], NULL, direct_main, &d[i]) != 0) {
            break;
        }
    }
    for (i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        total += d[i].ok;
        if (d[i].failed && rc == LCA_OK) {
            fprintf(stderr, "bench http: direct issue: %s\n", d[i].msg);
            rc = LCA_FAIL;
        }
    }
    t1 = now_s();
    if (d == NULL || t == NULL || n < b->conns) {
        rc = fail("cannot start the direct-issue threads", NULL);
    }
    free(d);
    free(t);
    *rps = (double)total / (t1 - t0);
    fprintf(stderr, "bench http: direct issue: %ld replies in %.1f s\n", total, t1 - t0);
    return rc;
}

/* ------------------------------------------------------------------ driver */

static int measure(struct hb *b)
{
    static const struct {
        const char *name, *path;
    } reads[] = {
        {"http.roots_rps", "/v1/connect/ca/roots"},
        {"http.crl_rps", "/v1/pki/crl"},
        {"http.ca_chain_rps", "/v1/pki/ca_chain"},
    };
    double health = 0, rps = 0, direct = 0;
    size_t i;

    if (setup(b) != LCA_OK || write_issue_script(b) != LCA_OK ||
        run_wrk(b, "/v1/sys/health", 0, &health) != LCA_OK) {
        return LCA_FAIL;
    }
    print_line("http.health_rps", health, 0);
    for (i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
        if (run_wrk(b, reads[i].path, 0, &rps) != LCA_OK) {
            return LCA_FAIL;
        }
        print_line(reads[i].name, rps, health);
    }
    if (direct_issue(b, &direct) != LCA_OK || run_wrk(b, "/v1/pki/issue/bench", 1, &rps) != LCA_OK) {
        return LCA_FAIL;
    }
    print_line("http.issue_rps", rps, direct);
    return b->sys.failed ? fail("a worker thread stopped", NULL) : LCA_OK;
}

int lca_bench_http_run(int argc, char **argv)
{
    struct lca_opt opts[] = {
        {"--pg-uri", "LCA_TEST_PG_URI", 0, "PostgreSQL superuser URI (a database is created)", NULL},
        {"--bootstrap", "LCA_TEST_KAFKA_BOOTSTRAP", 0, "Kafka bootstrap servers", NULL},
        {"--seconds", NULL, 0, "duration of each wrk phase (default 5)", "5"},
        {"--connections", NULL, 0, "wrk connections = direct-issue threads (default 64)", "64"},
        {NULL, NULL, 0, NULL, NULL},
    };
    struct hb *b;
    int rc = lca_opts_parse(argc, argv, opts, "ledgerca bench http [options]");

    if (rc != 0) {
        return rc == 1 ? 0 : 2;
    }
    if (opts[0].value == NULL || opts[1].value == NULL) {
        fprintf(stderr, "ledgerca bench http: needs a PostgreSQL superuser URI and a Kafka broker: "
                        "--pg-uri/--bootstrap or LCA_TEST_PG_URI/LCA_TEST_KAFKA_BOOTSTRAP "
                        "(tests/infra/bench.sh sets them)\n");
        return 2;
    }
    if ((b = calloc(1, sizeof(*b))) == NULL) {
        return 1;
    }
    b->pg_uri = opts[0].value;
    b->bootstrap = opts[1].value;
    b->seconds = atoi(opts[2].value);
    b->conns = atoi(opts[3].value);
    if (b->seconds < 1 || b->seconds > 600 || b->conns < 2 || b->conns > MAX_CONNS) {
        fprintf(stderr, "ledgerca bench http: --seconds 1..600, --connections 2..%d\n", MAX_CONNS);
        free(b);
        return 2;
    }
    setenv("LEDGERCA_LOG_LEVEL", "warn", 0); /* the workers' info lines would drown the figures */
    lca_log_init("bench");
    rc = measure(b) == LCA_OK ? 0 : 1;
    lca_api_facade_free(b->facade);
    stop_threads(b);
    if (b->script[0] != '\0') {
        unlink(b->script);
    }
    lca_bench_db_drop(&b->db);
    free(b);
    return rc;
}
