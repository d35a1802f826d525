/*
 * bench_e2e — see bench_e2e.h. Layout: options and the run record; clocks and output;
 * PostgreSQL (database, start offsets, sizes); requests (CSRs, command JSON); the signer
 * child; replies; the three measured phases; the in-process ceiling; the driver.
 * One file of one concept, over STYLE.md's ~800 lines: splitting it would widen the exported
 * surface beyond lca_bench_e2e_run for no reader's benefit.
 */
#include "bench_e2e.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "command.h"
#include "decide.h"
#include "event.h"
#include "json.h"
#include "kafka.h"
#include "migrate.h"
#include "pgstore.h"
#include "tokens.h"
#include "opts.h"
#include "osslenv.h"
#include "state.h"
#include "val.h"

extern char **environ;

#define ROLE_NAME "bench"
#define ROLE_ID ((size_t)0xffffffffffffu) /* command id suffix of the role.write */
#define MARKER_ROUND 32                   /* markers per round when finding topic ends */
#define MAX_PARTS 64
#define READY_TIMEOUT_S 60.0
#define DRAIN_TIMEOUT_S 15.0
#define CEILING_CPU_S 2.0
#define CEILING_WALL_S 3.5
#define POLL_MAX 512
#define LATENCY_TARGET_MS 50.0
#define RSS_TARGET_MB 64.0
#define PROJECTOR_TIMEOUT_S 120.0

struct e2e_opts {
    const char *pg_uri;    /* superuser URI of the server */
    const char *bootstrap; /* Kafka bootstrap servers */
    size_t count;          /* commands of the throughput phase */
    size_t n_csrs;         /* distinct CSRs */
    double latency_s;      /* duration of the fixed-load phase */
    double wait_s;         /* longest wait for the throughput phase's replies */
};

struct e2e {
    struct e2e_opts o;
    char tag[17];           /* random hex naming this run's database, group, ids */
    char token[LCA_TOKEN_LEN + 1]; /* an Operator token for the commands */
    char dbname[40];
    char *db_uri;           /* conninfo of the bench database (malloc'd) */
    char dir[64], kek_path[96], cluster[32], group[48], prefix[32];
    uint8_t id_base[10];    /* first 10 bytes of every command id of this run */
    char **csr;             /* PEM, n_csrs of them */
    char **cmd;             /* JSON of throughput commands 0..count */
    size_t *cmd_len;
    struct lca_kproducer *prod;
    struct lca_kconsumer *tail; /* ledgerca.replies from its end, created before producing */
    pid_t signer, projector;    /* the child processes (0: not running) */
    int db_created, signer_dead, projector_dead;
    size_t cap;             /* entries of t_sent / t_reply */
    double *t_sent, *t_reply; /* monotonic seconds; 0: not sent / no reply yet */
    size_t n_replied, n_ok;
    char first_bad[160];    /* the first non-ok reply's error, for the report */
    struct lca_kmsg msgs[POLL_MAX]; /* one poll's replies */
};

/* ------------------------------------------------------------------ clocks and output */

static double clock_s(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

/* One JSON line; ceiling <= 0 prints null ceiling and ratio. */
static void print_line(const char *name, double value, const char *unit, double ceiling)
{
    if (ceiling > 0) {
        printf("{\"bench\": \"%s\", \"value\": %.2f, \"unit\": \"%s\", \"ceiling\": %.2f, "
               "\"ratio\": %.3f}\n",
               name, value, unit, ceiling, value / ceiling);
    } else {
        printf("{\"bench\": \"%s\", \"value\": %.2f, \"unit\": \"%s\", \"ceiling\": null, "
               "\"ratio\": null}\n",
               name, value, unit);
    }
    fflush(stdout);
}

static int fail(const char *what, const struct lca_err *err)
{
    fprintf(stderr, "bench e2e: %s: %s: %s\n", what, err->code, err->msg);
    return LCA_FAIL;
}

static int fail_msg(const char *what)
{
    fprintf(stderr, "bench e2e: %s\n", what);
    return LCA_FAIL;
}

static void note(const char *fmt, ...) LCA_PRINTF(1, 2);

static void note(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "bench e2e: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ------------------------------------------------------------------ PostgreSQL */

/* Appends ` key='value'` with libpq's quoting (backslash before ' and \). */
static int conninfo_add(char **buf, size_t *len, size_t *cap, const char *key, const char *val)
{
    size_t need = *len + strlen(key) + 2 * strlen(val) + 5;
    const char *p;

    if (need > *cap) {
        char *nb = realloc(*buf, need * 2);
        if (nb == NULL) {
            return LCA_FAIL;
        }
        *buf = nb;
        *cap = need * 2;
    }
    *len += (size_t)sprintf(*buf + *len, "%s%s='", *len > 0 ? " " : "", key);
    for (p = val; *p != '\0'; p++) {
        if (*p == '\'' || *p == '\\') {
            (*buf)[(*len)++] = '\\';
        }
        (*buf)[(*len)++] = *p;
    }
    (*buf)[(*len)++] = '\'';
    (*buf)[*len] = '\0';
    return LCA_OK;
}

/* The server URI (or conninfo) with its dbname replaced: a key=value conninfo. */
static char *conninfo_with_db(const char *uri, const char *dbname)
{
    PQconninfoOption *opts = PQconninfoParse(uri, NULL), *o;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int ok = opts != NULL;

    for (o = opts; ok && o->keyword != NULL; o++) {
        if (o->val != NULL && o->val[0] != '\0' && strcmp(o->keyword, "dbname") != 0) {
            ok = conninfo_add(&buf, &len, &cap, o->keyword, o->val) == LCA_OK;
        }
    }
    ok = ok && conninfo_add(&buf, &len, &cap, "dbname", dbname) == LCA_OK;
    PQconninfoFree(opts);
    if (!ok) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Runs one statement on a new connection to conninfo; LCA_FAIL with the server's message. */
static int pg_exec(const char *conninfo, const char *sql)
{
    PGconn *c = PQconnectdb(conninfo);
    PGresult *r = NULL;
    int ok = PQstatus(c) == CONNECTION_OK;

    if (ok) {
        r = PQexec(c, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    }
    if (!ok) {
        fprintf(stderr, "bench e2e: PostgreSQL: %s: %s", sql, PQerrorMessage(c));
    }
    PQclear(r);
    PQfinish(c);
    return ok ? LCA_OK : LCA_FAIL;
}

static int db_create(struct e2e *b)
{
    char sql[96];
    struct lca_err err;

    snprintf(b->dbname, sizeof(b->dbname), "lca_bench_%s", b->tag);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", b->dbname);
    if ((b->db_uri = conninfo_with_db(b->o.pg_uri, b->dbname)) == NULL) {
        return fail_msg("--pg-uri is not a valid PostgreSQL URI or conninfo");
    }
    if (pg_exec(b->o.pg_uri, sql) != LCA_OK) {
        return LCA_FAIL;
    }
    b->db_created = 1;
    lca_err_clear(&err);
    if (lca_migrate_apply(b->db_uri, lca_migrate_builtin, NULL, NULL, NULL, &err) != LCA_OK) {
        return fail("migrations", &err);
    }
    {
        struct lca_pgstore *store = NULL;
        int rc = lca_pgstore_open(b->db_uri, "bench", &store, &err) == LCA_OK &&
                         lca_tokens_create(store, LCA_PERSONA_OPERATOR, NULL, 0, "bench e2e",
                                           b->token, &err) == LCA_OK
                     ? LCA_OK
                     : LCA_FAIL;
        lca_pgstore_free(store);
        if (rc != LCA_OK) {
            return fail("token", &err);
        }
    }
    return LCA_OK;
}

static void db_drop(struct e2e *b)
{
    char sql[96];

    if (b->db_created) {
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", b->dbname);
        if (pg_exec(b->o.pg_uri, sql) == LCA_OK) {
            b->db_created = 0;
        }
    }
}

/* Stores the signer group's start offset of topic/partition in consumer_offsets. */
static int db_store_offset(PGconn *c, const char *group, const char *topic, int32_t part,
                           int64_t next)
{
    char ps[16], ns[24];
    const char *params[4] = {group, topic, ps, ns};
    PGresult *r;
    int ok;

    snprintf(ps, sizeof(ps), "%d", (int)part);
    snprintf(ns, sizeof(ns), "%lld", (long long)next);
    r = PQexecParams(c,
                     "INSERT INTO consumer_offsets (group_id, topic, partition, next_offset) "
                     "VALUES ($1, $2, $3::int, $4::bigint)",
                     4, NULL, params, NULL, NULL, 0);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        fprintf(stderr, "bench e2e: storing start offsets: %s", PQerrorMessage(c));
    }
    PQclear(r);
    return ok ? LCA_OK : LCA_FAIL;
}

/* Bytes of events + commands + outbox, and the number of CertificateIssued events; the
 * split per table and the average event / reply sizes go to stderr. */
static int db_sizes(struct e2e *b, double *bytes, double *issued)
{
    PGconn *c = PQconnectdb(b->db_uri);
    PGresult *r = NULL;
    int ok = PQstatus(c) == CONNECTION_OK;

    if (ok) {
        r = PQexec(c, "SELECT pg_total_relation_size('events'), pg_total_relation_size('commands'),"
                      " pg_total_relation_size('outbox'),"
                      " (SELECT count(*) FROM events WHERE type = 'CertificateIssued'),"
                      " (SELECT avg(length(payload))::int FROM events),"
                      " (SELECT avg(length(reply))::int FROM commands)");
        ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    }
    if (ok) {
        *bytes = strtod(PQgetvalue(r, 0, 0), NULL) + strtod(PQgetvalue(r, 0, 1), NULL) +
                 strtod(PQgetvalue(r, 0, 2), NULL);
        *issued = strtod(PQgetvalue(r, 0, 3), NULL);
        note("bytes: events %s, commands %s, outbox %s; average event payload %s B, reply %s B",
             PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 4),
             PQgetvalue(r, 0, 5));
    } else {
        fprintf(stderr, "bench e2e: reading table sizes: %s", PQerrorMessage(c));
    }
    PQclear(r);
    PQfinish(c);
    return ok ? LCA_OK : LCA_FAIL;
}

/* ------------------------------------------------------------------ requests */

/* A P-256 CSR for svc<i>.<tag>.bench.internal (CN and DNS SAN), PEM. */
static char *make_csr(const char *tag, size_t i)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509_REQ *req = X509_REQ_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION *san = NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    char cn[96], sans[112], *pem = NULL, *data;
    long n;

    snprintf(cn, sizeof(cn), "svc%zu.%s.bench.internal", i, tag);
    snprintf(sans, sizeof(sans), "DNS:%s", cn);
    if (k != NULL && req != NULL && exts != NULL && bio != NULL &&
        (san = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, sans)) != NULL &&
        sk_X509_EXTENSION_push(exts, san) > 0 &&
        X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
                                   (const unsigned char *)cn, -1, -1, 0) &&
        X509_REQ_set_pubkey(req, k) && X509_REQ_add_extensions(req, exts) &&
        X509_REQ_sign(req, k, EVP_sha256()) > 0 && PEM_write_bio_X509_REQ(bio, req) &&
        (n = BIO_get_mem_data(bio, &data)) > 0 && (pem = malloc((size_t)n + 1)) != NULL) {
        memcpy(pem, data, (size_t)n);
        pem[n] = '\0';
    }
    if (sk_X509_EXTENSION_num(exts) <= 0) {
        X509_EXTENSION_free(san);
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    BIO_free(bio);
    X509_REQ_free(req);
    EVP_PKEY_free(k);
    return pem;
}

/* Command id i of this run: a version-4-shaped UUID, 10 run bytes then i (48 bits). */
static void command_id(const struct e2e *b, size_t i, char out[37])
{
    uint8_t u[16];
    int k;

    memcpy(u, b->id_base, 10);
    for (k = 0; k < 6; k++) {
        u[15 - k] = (uint8_t)((uint64_t)i >> (8 * k));
    }
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
             u[13], u[14], u[15]);
}

/* The JSON envelope of command i (type, payload given); correlation id = prefix + i. */
static char *envelope(const struct e2e *b, size_t i, const char *type, struct lca_val *payload,
                      size_t *len)
{
    struct lca_val *env = lca_val_new_map();
    struct lca_err err;
    char id[37], corr[64], *out = NULL;

    command_id(b, i, id);
    snprintf(corr, sizeof(corr), "%s%zu", b->prefix, i);
    lca_val_map_set_str(env, "command_id", id);
    lca_val_map_set_str(env, "type", type);
    lca_val_map_set_str(env, "correlation_id", corr);
    lca_val_map_set_str(env, "reply_to", LCA_KAFKA_TOPIC_REPLIES);
    if (b->token[0] != '\0') {
        lca_val_map_set_str(env, "token", b->token);
    }
    lca_val_map_set(env, "payload", payload);
    if (lca_json_encode(env, &out, len, &err) != LCA_OK) {
        out = NULL;
    }
    lca_val_free(env);
    return out;
}

static char *sign_command(const struct e2e *b, size_t i, size_t *len)
{
    struct lca_val *p = lca_val_new_map();

    lca_val_map_set_str(p, "role", ROLE_NAME);
    lca_val_map_set_str(p, "csr", b->csr[i % b->o.n_csrs]);
    return envelope(b, i, "sign", p, len);
}

static char *role_command(const struct e2e *b, size_t *len)
{
    struct lca_val *p = lca_val_new_map();
    char domain[64];

    snprintf(domain, sizeof(domain), "%s.bench.internal", b->tag);
    lca_val_map_set_str(p, "name", ROLE_NAME);
    lca_val_map_set_str(p, "allowed_domains", domain);
    lca_val_map_set_bool(p, "allow_subdomains", 1);
    lca_val_map_set_str(p, "key_type", "ec");
    lca_val_map_set_int(p, "key_bits", 256);
    lca_val_map_set_str(p, "ttl", "72h");
    return envelope(b, ROLE_ID, "role.write", p, len);
}

/* CSRs and the throughput commands, built before anything is timed. */
static int make_requests(struct e2e *b)
{
    size_t i;

    b->csr = calloc(b->o.n_csrs, sizeof(char *));
    b->cmd = calloc(b->o.count, sizeof(char *));
    b->cmd_len = calloc(b->o.count, sizeof(size_t));
    if (b->csr == NULL || b->cmd == NULL || b->cmd_len == NULL) {
        return fail_msg("out of memory");
    }
    for (i = 0; i < b->o.n_csrs; i++) {
        if ((b->csr[i] = make_csr(b->tag, i)) == NULL) {
            return fail_msg("generating a CSR failed");
        }
    }
    for (i = 0; i < b->o.count; i++) {
        if ((b->cmd[i] = sign_command(b, i, &b->cmd_len[i])) == NULL) {
            return fail_msg("encoding a command failed");
        }
    }
    return LCA_OK;
}

/* ------------------------------------------------------------------ the KEK and the signer */

static int write_kek(struct e2e *b)
{
    uint8_t k[32];
    char hex[66];
    int fd, i, ok;

    snprintf(b->dir, sizeof(b->dir), "/tmp/lca-bench-e2e-XXXXXX");
    if (mkdtemp(b->dir) == NULL) {
        b->dir[0] = '\0';
        return fail_msg("cannot create a temporary directory");
    }
    snprintf(b->kek_path, sizeof(b->kek_path), "%s/kek", b->dir);
    if (RAND_bytes(k, sizeof(k)) != 1) {
        return fail_msg("no random bytes for the KEK");
    }
    for (i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", k[i]);
    }
    hex[64] = '\n';
    fd = open(b->kek_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ok = fd >= 0 && write(fd, hex, 65) == 65;
    if (fd >= 0) {
        close(fd);
    }
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(hex, sizeof(hex));
    return ok ? LCA_OK : fail_msg("cannot write the KEK file");
}

/* environ with LEDGERCA_PG_URI replaced (the URI stays off the process list). */
static char **child_env(const char *pg_entry)
{
    size_t n = 0, i, j = 0;
    char **envp;

    while (environ[n] != NULL) {
        n++;
    }
    if ((envp = calloc(n + 2, sizeof(char *))) == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        if (strncmp(environ[i], "LEDGERCA_PG_URI=", 16) != 0) {
            envp[j++] = environ[i];
        }
    }
    envp[j] = (char *)pg_entry;
    return envp;
}

/* Starts `ledgerca argv[1] ...` with LEDGERCA_PG_URI set to the bench database. */
static int child_start(struct e2e *b, char *const *argv, pid_t *pid)
{
    size_t elen = strlen(b->db_uri) + 20;
    char *entry = malloc(elen), **envp = NULL;
    posix_spawn_file_actions_t fa;
    int rc = EINVAL;

    if (entry != NULL) {
        snprintf(entry, elen, "LEDGERCA_PG_URI=%s", b->db_uri);
        envp = child_env(entry);
    }
    /* the signer's stdout joins its stderr: stdout carries only this bench's JSON lines */
    if (envp != NULL && posix_spawn_file_actions_init(&fa) == 0) {
        if (posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO) == 0) {
            rc = posix_spawn(pid, "/proc/self/exe", &fa, NULL, argv, envp);
        }
        posix_spawn_file_actions_destroy(&fa);
    }
    free(envp);
    free(entry);
    if (rc != 0) {
        *pid = 0;
        return fail_msg("cannot start a child process");
    }
    return LCA_OK;
}

static int signer_start(struct e2e *b)
{
    char *argv[] = {"ledgerca", "signer", "--bootstrap", (char *)b->o.bootstrap,
                    "--cluster", b->cluster, "--kek-file", b->kek_path,
                    "--group", b->group, NULL};

    return child_start(b, argv, &b->signer);
}

/* The projector over the same log, from the start: its peak RSS is measured too. */
static int projector_start(struct e2e *b)
{
    char *argv[] = {"ledgerca", "projector", "--cluster", b->cluster, NULL};

    return child_start(b, argv, &b->projector);
}

/* 1 if the child *pid has exited (it is then reaped and *dead set). */
static int child_exited(pid_t pid, int *dead, const char *name)
{
    int status;

    if (pid > 0 && !*dead && waitpid(pid, &status, WNOHANG) == pid) {
        *dead = 1;
        if (WIFSIGNALED(status)) {
            note("the %s was killed by signal %d", name, WTERMSIG(status));
        } else {
            note("the %s exited (status %d)", name, WEXITSTATUS(status));
        }
    }
    return *dead;
}

/* 1 if the signer process has exited (it is then reaped). */
static int signer_exited(struct e2e *b)
{
    return child_exited(b->signer, &b->signer_dead, "signer");
}

/* VmHWM of a child in MB, -1 if unreadable. */
static double hwm_mb(pid_t pid)
{
    char path[64], line[256];
    double kb = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if ((f = fopen(path, "r")) == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kb = strtod(line + 6, NULL);
        }
    }
    fclose(f);
    return kb < 0 ? -1 : kb / 1024.0;
}

/* SIGTERM, then up to 20 s for the drain; SIGKILL after that. 0 if it exited by itself. */
static int child_stop(pid_t pid, int *dead, const char *name)
{
    double deadline = now_s() + 20;

    if (pid <= 0 || *dead) {
        return *dead ? -1 : 0;
    }
    kill(pid, SIGTERM);
    while (!child_exited(pid, dead, name) && now_s() < deadline) {
        usleep(20000);
    }
    if (!*dead) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        *dead = 1;
        note("the %s did not stop within 20 s of SIGTERM", name);
        return -1;
    }
    return 0;
}

static int signer_stop(struct e2e *b)
{
    return child_stop(b->signer, &b->signer_dead, "signer");
}

/* ------------------------------------------------------------------ Kafka: topic ends */

/* Offsets of the markers seen on tail (keys starting with prefix "m"): next[p] = offset + 1. */
static int markers_seen(struct e2e *b, struct lca_kconsumer *tail, size_t want,
                        int64_t *next, int nparts, struct lca_err *err)
{
    struct lca_kmsg msgs[64];
    double deadline = now_s() + 15;
    size_t n, i, seen = 0, plen = strlen(b->prefix);

    while (seen < want && now_s() < deadline) {
        if (lca_kconsumer_poll_batch(tail, 64, 200, msgs, &n, err) != LCA_OK) {
            return LCA_FAIL;
        }
        for (i = 0; i < n; i++) {
            if (msgs[i].key_len > plen && memcmp(msgs[i].key, b->prefix, plen) == 0 &&
                msgs[i].key[plen] == 'm' && msgs[i].partition < nparts) {
                seen++;
                if (msgs[i].offset + 1 > next[msgs[i].partition]) {
                    next[msgs[i].partition] = msgs[i].offset + 1;
                }
            }
        }
        lca_kconsumer_release(msgs, n);
    }
    return seen < want ? lca_err_set(err, LCA_ERR_RETRIABLE, "markers",
                                     "markers not seen on the topic in 15 s")
                       : LCA_OK;
}

/* Produces markers on topic until every partition holds one; next[] their offsets + 1. */
static int topic_end(struct e2e *b, const char *topic, int64_t *next, int *nparts,
                     struct lca_err *err)
{
    struct lca_kconsumer *tail = NULL;
    char key[64];
    int p, round, missing = 1, rc = LCA_FAIL;
    size_t i;

    if (lca_kafka_topic_partitions(b->o.bootstrap, topic, 10000, nparts, err) != LCA_OK ||
        lca_kconsumer_new_tail(b->o.bootstrap, topic, 10000, NULL, &tail, err) != LCA_OK) {
        goto out;
    }
    *nparts = *nparts > MAX_PARTS ? MAX_PARTS : *nparts;
    for (p = 0; p < *nparts; p++) {
        next[p] = -1;
    }
    for (round = 0; missing && round < 4; round++) {
        for (i = 0; i < MARKER_ROUND; i++) {
            snprintf(key, sizeof(key), "%sm%d.%zu", b->prefix, round, i);
            if (lca_kproducer_send(b->prod, topic, key, strlen(key), "{}", 2, NULL, 0, err) !=
                LCA_OK) {
                goto out;
            }
        }
        if (lca_kproducer_flush(b->prod, 15000, err) != LCA_OK ||
            markers_seen(b, tail, MARKER_ROUND, next, *nparts, err) != LCA_OK) {
            goto out;
        }
        for (missing = 0, p = 0; p < *nparts; p++) {
            missing |= next[p] < 0;
        }
    }
    rc = missing ? lca_err_set(err, LCA_ERR_RETRIABLE, "markers", "a partition got no marker")
                 : LCA_OK;
out:
    lca_kconsumer_free(tail);
    return rc;
}

/* Stores, for the signer's group, the current end of each command topic as its start. */
static int store_start_offsets(struct e2e *b)
{
    static const char *const topics[] = {LCA_KAFKA_TOPIC_ISSUE, LCA_KAFKA_TOPIC_REVOKE,
                                         LCA_KAFKA_TOPIC_ADMIN};
    int64_t next[MAX_PARTS];
    struct lca_err err;
    PGconn *c = PQconnectdb(b->db_uri);
    int t, p, nparts, rc = LCA_OK;

    lca_err_clear(&err);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "bench e2e: %s", PQerrorMessage(c));
        rc = LCA_FAIL;
    }
    for (t = 0; rc == LCA_OK && t < 3; t++) {
        if (topic_end(b, topics[t], next, &nparts, &err) != LCA_OK) {
            rc = fail(topics[t], &err);
        }
        for (p = 0; rc == LCA_OK && p < nparts; p++) {
            rc = db_store_offset(c, b->group, topics[t], p, next[p]);
        }
    }
    PQfinish(c);
    return rc;
}

/* ------------------------------------------------------------------ replies */

/* 1 if a reply's JSON says "status":"ok" (it precedes the large result). */
static int reply_ok(const unsigned char *v, size_t len)
{
    static const char pat[] = "\"status\":\"ok\"";
    size_t i, n = sizeof(pat) - 1, lim = len < 1024 ? len : 1024;

    for (i = 0; i + n <= lim; i++) {
        if (memcmp(v + i, pat, n) == 0) {
            return 1;
        }
    }
    return 0;
}

static void record_bad(struct e2e *b, const struct lca_kmsg *m)
{
    struct lca_val *r = NULL;
    struct lca_err err;
    const struct lca_val *e;

    if (b->first_bad[0] != '\0') {
        return;
    }
    snprintf(b->first_bad, sizeof(b->first_bad), "undecodable reply");
    if (m->value != NULL && lca_json_decode((const char *)m->value, m->len, NULL, &r, &err) ==
                                LCA_OK) {
        e = lca_val_map_get(r, "error");
        snprintf(b->first_bad, sizeof(b->first_bad), "%s: %s",
                 e != NULL && lca_val_map_get_str(e, "code") ? lca_val_map_get_str(e, "code")
                                                             : "?",
                 e != NULL && lca_val_map_get_str(e, "message") ? lca_val_map_get_str(e, "message")
                                                                : "?");
    }
    lca_val_free(r);
}

/* Index of a reply keyed prefix + decimal index, or (size_t)-1 for others' messages. */
static size_t reply_index(const struct e2e *b, const struct lca_kmsg *m)
{
    size_t plen = strlen(b->prefix), i, idx = 0;

    if (m->key == NULL || m->key_len <= plen || m->key_len > plen + 15 ||
        memcmp(m->key, b->prefix, plen) != 0) {
        return (size_t)-1;
    }
    for (i = plen; i < m->key_len; i++) {
        if (m->key[i] < '0' || m->key[i] > '9') {
            return (size_t)-1;
        }
        idx = idx * 10 + (size_t)(m->key[i] - '0');
    }
    return idx;
}

/* Polls replies for up to timeout_ms, timestamping each of ours. *role_ok set by the role's. */
static int poll_replies(struct e2e *b, int timeout_ms, int *role_ok)
{
    struct lca_kmsg *msgs = b->msgs;
    struct lca_err err;
    size_t n = 0, i, idx;
    double t;

    if (lca_kconsumer_poll_batch(b->tail, POLL_MAX, timeout_ms, msgs, &n, &err) != LCA_OK) {
        return fail("reply topic", &err);
    }
    t = now_s();
    for (i = 0; i < n; i++) {
        idx = reply_index(b, &msgs[i]);
        if (idx == ROLE_ID && role_ok != NULL) {
            *role_ok = reply_ok(msgs[i].value, msgs[i].len) ? 1 : -1;
        } else if (idx < b->cap && b->t_sent[idx] > 0 && b->t_reply[idx] == 0) {
            b->t_reply[idx] = t;
            b->n_replied++;
            if (reply_ok(msgs[i].value, msgs[i].len)) {
                b->n_ok++;
            } else {
                record_bad(b, &msgs[i]);
            }
        }
    }
    lca_kconsumer_release(msgs, n);
    return LCA_OK;
}

/* Polls until every command below `upto` has its reply; LCA_FAIL at the deadline. */
static int await_replies(struct e2e *b, size_t upto, size_t base, double timeout_s)
{
    double t0 = now_s();

    while (b->n_replied < upto - base) {
        if (now_s() - t0 > timeout_s || signer_exited(b)) {
            fprintf(stderr, "bench e2e: %zu of %zu replies after %.1f s of waiting\n",
                    b->n_replied, upto - base, now_s() - t0);
            return LCA_FAIL;
        }
        if (poll_replies(b, 100, NULL) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    return LCA_OK;
}

static int send_json(struct e2e *b, const char *topic, size_t i, const char *json, size_t len)
{
    static const struct lca_kheader ct = {"content-type", "application/json", 16};
    struct lca_err err;
    char corr[64];

    snprintf(corr, sizeof(corr), "%s%zu", b->prefix, i);
    if (lca_kproducer_send(b->prod, topic, corr, strlen(corr), json, len, &ct, 1, &err) !=
        LCA_OK) {
        return fail("produce", &err);
    }
    return LCA_OK;
}

/* Sends the role.write and waits for its reply: the signer is then consuming. */
static int await_ready(struct e2e *b)
{
    double t0 = now_s();
    size_t len = 0;
    char *json = role_command(b, &len);
    int role = 0, rc;

    if (json == NULL) {
        return fail_msg("encoding the role.write failed");
    }
    rc = send_json(b, LCA_KAFKA_TOPIC_ADMIN, ROLE_ID, json, len);
    free(json);
    while (rc == LCA_OK && role == 0) {
        if (now_s() - t0 > READY_TIMEOUT_S || signer_exited(b)) {
            return fail_msg("the signer did not answer the role.write in 60 s");
        }
        rc = poll_replies(b, 200, &role);
    }
    if (rc == LCA_OK && role < 0) {
        return fail_msg("the role.write was not accepted");
    }
    if (rc == LCA_OK) {
        note("signer ready after %.1f s", now_s() - t0);
    }
    return rc;
}

/* ------------------------------------------------------------------ measured phases */

/* Latest reply time of commands 0..n, and how many have one. */
static double last_reply(const struct e2e *b, size_t n, size_t *replied)
{
    double t = 0;
    size_t i;

    for (*replied = 0, i = 0; i < n; i++) {
        t = b->t_reply[i] > t ? b->t_reply[i] : t;
        *replied += b->t_reply[i] > 0;
    }
    return t;
}

/* Every throughput command produced at once; certs/s from first produce to last reply.
 * On a machine too slow for --count, the rate of the replies received within
 * --wait-seconds is reported and the rest is drained before the next phase. */
static int phase_throughput(struct e2e *b, double *rate)
{
    double t0 = now_s(), t_last;
    struct lca_err err;
    size_t i, got;

    for (i = 0; i < b->o.count; i++) {
        b->t_sent[i] = now_s();
        if (send_json(b, LCA_KAFKA_TOPIC_ISSUE, i, b->cmd[i], b->cmd_len[i]) != LCA_OK) {
            return LCA_FAIL;
        }
        if (i % 256 == 255 && poll_replies(b, 0, NULL) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    note("%zu commands produced in %.2f s", b->o.count, now_s() - t0);
    if (await_replies(b, b->o.count, 0, b->o.wait_s) != LCA_OK &&
        (b->n_replied == 0 || signer_exited(b))) {
        return LCA_FAIL;
    }
    t_last = last_reply(b, b->o.count, &got);
    *rate = (double)got / (t_last - t0);
    note("throughput: %zu replies (%zu ok) in %.2f s", got, b->n_ok, t_last - t0);
    if (got < b->o.count) {
        note("partial: the rate is over the replies received in %.0f s; draining the rest",
             b->o.wait_s);
        if (await_replies(b, b->o.count, 0, 2 * DRAIN_TIMEOUT_S) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    if (lca_kproducer_flush(b->prod, 10000, &err) != LCA_OK) {
        return fail("producer", &err);
    }
    return b->n_ok == b->o.count ? LCA_OK : fail_msg(b->first_bad);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Sorts v[0..m) (m > 0) and returns its nearest-rank pct-th percentile. */
static double percentile(double *v, size_t m, unsigned pct)
{
    size_t k = (pct * m + 99) / 100; /* ceil(pct/100 * m) */

    qsort(v, m, sizeof(double), cmp_double);
    return v[k > 0 ? k - 1 : 0];
}

/* Latencies (ms) of the replied commands base..base+n sent in [from, to) into v; count. */
static size_t latencies(const struct e2e *b, size_t base, size_t n, double from, double to,
                        double *v)
{
    size_t i, m = 0;

    for (i = base; i < base + n; i++) {
        if (b->t_reply[i] > 0 && b->t_sent[i] >= from && b->t_sent[i] < to) {
            v[m++] = (b->t_reply[i] - b->t_sent[i]) * 1000.0;
        }
    }
    return m;
}

/* p50 and p99 (ms) of commands base..base+n; the p99 of each second of sending to stderr
 * (a spike in one second points at the machine, a steady value at the pipeline). */
static int percentiles(const struct e2e *b, size_t base, size_t n, double *p50, double *p99)
{
    double *v = malloc((n > 0 ? n : 1) * sizeof(double)), t0 = b->t_sent[base], t;
    char line[512];
    size_t m, len = 0;

    if (v == NULL || (m = latencies(b, base, n, 0, 1e300, v)) == 0) {
        free(v);
        return fail_msg("no latency samples");
    }
    *p50 = percentile(v, m, 50);
    *p99 = percentile(v, m, 99);
    line[0] = '\0';
    for (t = t0; t < b->t_sent[base + n - 1] && len + 16 < sizeof(line); t += 1.0) {
        if ((m = latencies(b, base, n, t, t + 1.0, v)) > 0) {
            len += (size_t)snprintf(line + len, sizeof(line) - len, " %.0f", percentile(v, m, 99));
        }
    }
    note("latency p99 per second of sending (ms):%s", line);
    free(v);
    return LCA_OK;
}

/* Sends the commands due by now (command k is due at t0 + k / rate). */
static int send_due(struct e2e *b, size_t base, size_t n, double t0, double rate, size_t *k)
{
    double t = now_s();
    size_t len = 0;
    char *json;

    while (*k < n && t0 + (double)*k / rate <= t) {
        if ((json = sign_command(b, base + *k, &len)) == NULL) {
            return fail_msg("encoding a command failed");
        }
        b->t_sent[base + *k] = now_s();
        if (send_json(b, LCA_KAFKA_TOPIC_ISSUE, base + *k, json, len) != LCA_OK) {
            free(json);
            return LCA_FAIL;
        }
        free(json);
        (*k)++;
    }
    return LCA_OK;
}

/* 1 once the projector's cursor (rm_position) reached the head of the log, 0 if not yet,
 * -1 on a database error. */
static int projector_caught_up(PGconn *c)
{
    PGresult *r = PQexec(c, "SELECT (SELECT position FROM rm_position WHERE id = 1) >="
                            " (SELECT position FROM log_head WHERE id = 1)");
    int rc = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
                 ? strcmp(PQgetvalue(r, 0, 0), "t") == 0
                 : -1;

    PQclear(r);
    return rc;
}

/* Waits (up to PROJECTOR_TIMEOUT_S) until the projector has applied the whole log; `after`
 * names the moment the wait is measured from. */
static int await_projector(struct e2e *b, const char *after)
{
    PGconn *c = PQconnectdb(b->db_uri);
    double deadline = now_s() + PROJECTOR_TIMEOUT_S, t0 = now_s();
    int up = -1;

    while (PQstatus(c) == CONNECTION_OK && (up = projector_caught_up(c)) == 0 &&
           !child_exited(b->projector, &b->projector_dead, "projector") && now_s() < deadline) {
        usleep(20000);
    }
    PQfinish(c);
    if (up != 1) {
        return fail_msg("the projector did not catch up with the log");
    }
    note("projector caught up %.1f s after %s", now_s() - t0, after);
    return LCA_OK;
}

/* Offered load `rate` for latency_s; per-command latency at that load. */
static int phase_latency(struct e2e *b, double rate, double *p50, double *p99)
{
    size_t base = b->o.count, n = (size_t)(rate * b->o.latency_s), k = 0;
    double t0;

    /* the phase starts on a machine no longer busy with the throughput phase's backlog */
    if (await_projector(b, "the throughput phase") != LCA_OK) {
        return LCA_FAIL;
    }

    n = n < 1 ? 1 : n > b->cap - base ? b->cap - base : n;
    b->n_replied = b->n_ok = 0;
    t0 = now_s();
    while (k < n) {
        if (send_due(b, base, n, t0, rate, &k) != LCA_OK || poll_replies(b, 1, NULL) != LCA_OK) {
            return LCA_FAIL;
        }
        if (signer_exited(b)) {
            return fail_msg("the signer died during the latency phase");
        }
    }
    if (await_replies(b, base + n, base, DRAIN_TIMEOUT_S) != LCA_OK) {
        return LCA_FAIL;
    }
    note("latency: %zu commands at %.0f/s offered, %zu ok", n, rate, b->n_ok);
    if (b->n_ok != n) {
        return fail_msg(b->first_bad);
    }
    return percentiles(b, base, n, p50, p99);
}

/* ------------------------------------------------------------------ the in-process ceiling */

static int apply_decision(struct lca_state *st, const struct lca_decision *d, int64_t *pos,
                          struct lca_err *err)
{
    uint8_t *bytes = NULL;
    size_t i, len = 0;

    for (i = 0; i < d->n_events; i++) {
        if (lca_event_canonical(d->events[i], &bytes, &len, err) != LCA_OK ||
            lca_state_evolve(st, ++*pos, d->events[i], err) != LCA_OK) {
            free(bytes);
            return LCA_FAIL;
        }
        free(bytes);
        bytes = NULL;
    }
    return LCA_OK;
}

/* What the signer's CPU does for one command: parse, decide, encode, evolve, reply. */
static int ceiling_one(struct lca_state *st, struct lca_env *env, const char *json, size_t len,
                       int64_t *pos, struct lca_err *err)
{
    struct lca_command *c = NULL;
    struct lca_decision *d = NULL;
    struct lca_val *r = NULL;
    char *reply = NULL;
    size_t rlen = 0;
    int rc = LCA_FAIL;

    if (lca_command_parse((const uint8_t *)json, len, "application/json", &c, err) != LCA_OK ||
        lca_decide(st, c, env, &d, err) != LCA_OK) {
        goto out;
    }
    if (d->rejected) {
        lca_err_set(err, LCA_ERR_BAD_INPUT, d->code, "%s", d->reason);
        goto out;
    }
    r = lca_val_new_map();
    lca_val_map_set_str(r, "command_id", c->command_id);
    lca_val_map_set_str(r, "correlation_id", c->correlation_id);
    lca_val_map_set_str(r, "type", "sign");
    lca_val_map_set_str(r, "status", "ok");
    lca_val_map_set(r, "result", lca_val_clone(d->result));
    if (lca_json_encode(r, &reply, &rlen, err) == LCA_OK &&
        apply_decision(st, d, pos, err) == LCA_OK) {
        rc = LCA_OK;
    }
out:
    free(reply);
    lca_val_free(r);
    lca_decision_free(d);
    lca_command_free(c);
    return rc;
}

/* A bootstrapped state with the bench role, as the signer holds it. */
static int ceiling_state(const struct e2e *b, struct lca_state *st, struct lca_env *env,
                         int64_t *pos, struct lca_err *err)
{
    struct lca_decision *d = NULL;
    struct lca_command *c = NULL;
    size_t len = 0;
    char *json = role_command(b, &len);
    int rc = LCA_FAIL;

    if (json != NULL && lca_decide_bootstrap(st, NULL, "bench", env, &d, err) == LCA_OK &&
        apply_decision(st, d, pos, err) == LCA_OK) {
        lca_decision_free(d);
        d = NULL;
        if (lca_command_parse((const uint8_t *)json, len, NULL, &c, err) == LCA_OK &&
            lca_decide(st, c, env, &d, err) == LCA_OK && !d->rejected &&
            apply_decision(st, d, pos, err) == LCA_OK) {
            rc = LCA_OK;
        }
    }
    lca_decision_free(d);
    lca_command_free(c);
    free(json);
    return rc;
}

/* Commands per CPU second of this thread (CEILING_CPU_S, at most CEILING_WALL_S of wall). */
static int ceiling_rate(const struct e2e *b, double *rate)
{
    struct lca_osslenv *oe = lca_osslenv_new();
    struct lca_state *st = lca_state_new();
    struct lca_err err;
    int64_t pos = 0;
    double cpu0, wall0, cpu = 0;
    size_t n = 0;
    int rc = LCA_FAIL;

    lca_err_clear(&err);
    if (oe == NULL || st == NULL || ceiling_state(b, st, lca_osslenv_env(oe), &pos, &err) != LCA_OK) {
        fail("ceiling set-up", &err);
        goto out;
    }
    cpu0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
    wall0 = now_s();
    do {
        if (ceiling_one(st, lca_osslenv_env(oe), b->cmd[n % b->o.count],
                        b->cmd_len[n % b->o.count], &pos, &err) != LCA_OK) {
            fail("ceiling: a sign command failed in process", &err);
            goto out;
        }
        n++;
        cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    } while (cpu < CEILING_CPU_S && now_s() - wall0 < CEILING_WALL_S);
    *rate = (double)n / cpu;
    rc = LCA_OK;
out:
    lca_state_free(st);
    lca_osslenv_free(oe);
    return rc;
}

/* ------------------------------------------------------------------ the driver */

static int parse_opts(int argc, char **argv, struct e2e_opts *o)
{
    struct lca_opt opts[] = {
        {"--pg-uri", "LCA_TEST_PG_URI", 0, "PostgreSQL superuser URI (a database is created)", NULL},
        {"--bootstrap", "LCA_TEST_KAFKA_BOOTSTRAP", 0, "Kafka bootstrap servers", NULL},
        {"--count", NULL, 0, "sign commands of the throughput phase (default 20000)", "20000"},
        {"--csrs", NULL, 0, "distinct P-256 CSRs (default 2000)", "2000"},
        {"--latency-seconds", NULL, 0, "duration of the half-load phase (default 5)", "5"},
        {"--wait-seconds", NULL, 0,
         "longest wait for the throughput phase's replies (default 45)", "45"},
        {NULL, NULL, 0, NULL, NULL},
    };
    int rc = lca_opts_parse(argc, argv, opts, "ledgerca bench e2e [options]");

    if (rc != 0) {
        return rc;
    }
    o->pg_uri = opts[0].value;
    o->bootstrap = opts[1].value;
    o->count = (size_t)strtoul(opts[2].value, NULL, 10);
    o->n_csrs = (size_t)strtoul(opts[3].value, NULL, 10);
    o->latency_s = strtod(opts[4].value, NULL);
    o->wait_s = strtod(opts[5].value, NULL);
    if (o->pg_uri == NULL || o->bootstrap == NULL) {
        fprintf(stderr, "ledgerca bench e2e: needs a PostgreSQL superuser URI and a Kafka "
                        "broker: --pg-uri/--bootstrap or LCA_TEST_PG_URI/"
                        "LCA_TEST_KAFKA_BOOTSTRAP (tests/infra/bench.sh sets them)\n");
        return 2;
    }
    if (o->count < 1 || o->count > 1000000 || o->n_csrs < 1 || o->n_csrs > 100000 ||
        !(o->latency_s > 0 && o->latency_s <= 60) || !(o->wait_s > 0 && o->wait_s <= 3600)) {
        fprintf(stderr, "ledgerca bench e2e: --count 1..1000000, --csrs 1..100000, "
                        "--latency-seconds (0, 60], --wait-seconds (0, 3600]\n");
        return 2;
    }
    return 0;
}

static int init_run(struct e2e *b)
{
    uint8_t r[8];
    struct lca_err err;
    int i, parts = 0;

    if (RAND_bytes(r, sizeof(r)) != 1 || RAND_bytes(b->id_base, sizeof(b->id_base)) != 1) {
        return fail_msg("no random bytes");
    }
    b->id_base[6] = (uint8_t)((b->id_base[6] & 0x0f) | 0x40);
    b->id_base[8] = (uint8_t)((b->id_base[8] & 0x3f) | 0x80);
    for (i = 0; i < 8; i++) {
        snprintf(b->tag + 2 * i, 3, "%02x", r[i]);
    }
    snprintf(b->cluster, sizeof(b->cluster), "bench%d", (int)getpid());
    snprintf(b->group, sizeof(b->group), "lca-bench-e2e-%s", b->tag);
    snprintf(b->prefix, sizeof(b->prefix), "e2e-%s-", b->tag);
    b->cap = b->o.count + 200000; /* latency phase: half the rate for latency_s */
    b->t_sent = calloc(b->cap, sizeof(double));
    b->t_reply = calloc(b->cap, sizeof(double));
    lca_err_clear(&err);
    if (b->t_sent == NULL || b->t_reply == NULL) {
        return fail_msg("out of memory");
    }
    /* a quick reachability check first: topic creation waits 30 s for a missing broker */
    if (lca_kafka_topic_partitions(b->o.bootstrap, LCA_KAFKA_TOPIC_REPLIES, 10000, &parts, &err) !=
            LCA_OK &&
        err.cls != LCA_ERR_BAD_INPUT) {
        return fail("Kafka (is the broker running?)", &err);
    }
    if (lca_kafka_ensure_topics(b->o.bootstrap, &err) != LCA_OK ||
        lca_kproducer_new(b->o.bootstrap, NULL, &b->prod, &err) != LCA_OK) {
        return fail("Kafka", &err);
    }
    return LCA_OK;
}

/* Database, KEK, start offsets, reply tail, signer; returns once the signer answered. */
static int setup(struct e2e *b)
{
    /* replies are read as the signer fetches commands: 64 KB or 5 ms, whichever comes first
     * (a fetch answered per reply cost this process and the broker a third of a core) */
    static const char *const tail_conf[] = {"fetch.min.bytes", "65536", "fetch.wait.max.ms", "5",
                                            NULL};
    struct lca_kconsumer_hooks hooks;
    struct lca_err err;

    lca_err_clear(&err);
    memset(&hooks, 0, sizeof(hooks));
    hooks.conf = tail_conf;
    if (db_create(b) != LCA_OK || write_kek(b) != LCA_OK || store_start_offsets(b) != LCA_OK) {
        return LCA_FAIL;
    }
    if (lca_kconsumer_new_tail(b->o.bootstrap, LCA_KAFKA_TOPIC_REPLIES, 30000, &hooks, &b->tail,
                               &err) != LCA_OK) {
        return fail("reply topic", &err);
    }
    if (signer_start(b) != LCA_OK || await_ready(b) != LCA_OK) {
        return LCA_FAIL;
    }
    return projector_start(b);
}

/* Waits for the projector to apply the whole log, then reads its VmHWM and stops it. */
static int projector_finish(struct e2e *b, double *rss_mb)
{
    if (await_projector(b, "the signer stopped") != LCA_OK) {
        return LCA_FAIL;
    }
    *rss_mb = hwm_mb(b->projector);
    if (child_stop(b->projector, &b->projector_dead, "projector") != 0 || *rss_mb < 0) {
        return fail_msg("stopping the projector or reading its peak RSS failed");
    }
    return LCA_OK;
}

/* Stops the signer (VmHWM read first), then the projector once caught up, then reads the
 * table sizes. */
static int finish(struct e2e *b, double *rss_mb, double *proj_mb, double *per_cert)
{
    double bytes = 0, issued = 0, expect = (double)(b->o.count + b->n_ok);

    *rss_mb = hwm_mb(b->signer);
    if (signer_stop(b) != 0 || *rss_mb < 0) {
        return fail_msg("stopping the signer or reading its peak RSS failed");
    }
    if (projector_finish(b, proj_mb) != LCA_OK) {
        return LCA_FAIL;
    }
    if (db_sizes(b, &bytes, &issued) != LCA_OK) {
        return fail_msg("reading the table sizes failed");
    }
    note("%.0f CertificateIssued events, %.0f bytes in events + commands + outbox", issued, bytes);
    if (issued != expect) {
        fprintf(stderr, "bench e2e: %.0f certificates in the log, %.0f ok replies\n", issued,
                expect);
        return LCA_FAIL;
    }
    *per_cert = bytes / issued;
    return LCA_OK;
}

static void cleanup(struct e2e *b)
{
    size_t i;

    if (b->signer > 0 && !b->signer_dead) {
        kill(b->signer, SIGKILL);
        waitpid(b->signer, NULL, 0);
    }
    if (b->projector > 0 && !b->projector_dead) {
        kill(b->projector, SIGKILL);
        waitpid(b->projector, NULL, 0);
    }
    lca_kconsumer_free(b->tail);
    lca_kproducer_free(b->prod);
    db_drop(b);
    if (b->kek_path[0] != '\0') {
        unlink(b->kek_path);
    }
    if (b->dir[0] != '\0') {
        rmdir(b->dir);
    }
    for (i = 0; b->csr != NULL && i < b->o.n_csrs; i++) {
        free(b->csr[i]);
    }
    for (i = 0; b->cmd != NULL && i < b->o.count; i++) {
        free(b->cmd[i]);
    }
    free(b->csr);
    free(b->cmd);
    free(b->cmd_len);
    free(b->t_sent);
    free(b->t_reply);
    free(b->db_uri);
}

/* The measured part, after parse: prints the JSON lines as they become known. */
static int measure(struct e2e *b)
{
    double t0 = now_s(), ceiling = 0, thr = 0, p50 = 0, p99 = 0, rss = 0, proj = 0;
    double per_cert = 0;

    /* the signer and its database come first: the requests carry the token created there */
    if (init_run(b) != LCA_OK || setup(b) != LCA_OK || make_requests(b) != LCA_OK ||
        ceiling_rate(b, &ceiling) != LCA_OK) {
        return LCA_FAIL;
    }
    note("in-process ceiling %.0f commands/s per CPU second (set-up %.1f s)", ceiling,
         now_s() - t0);
    if (phase_throughput(b, &thr) != LCA_OK) {
        return LCA_FAIL;
    }
    print_line("e2e.throughput", thr, "certs/s", ceiling);
    if (phase_latency(b, thr / 2, &p50, &p99) != LCA_OK) {
        return LCA_FAIL;
    }
    print_line("e2e.latency_p50", p50, "ms", LATENCY_TARGET_MS);
    print_line("e2e.latency_p99", p99, "ms", LATENCY_TARGET_MS);
    if (finish(b, &rss, &proj, &per_cert) != LCA_OK) {
        return LCA_FAIL;
    }
    print_line("e2e.signer_peak_rss", rss, "MB", RSS_TARGET_MB);
    print_line("e2e.projector_peak_rss", proj, "MB", RSS_TARGET_MB);
    print_line("e2e.bytes_per_cert", per_cert, "B", 0);
    note("total %.1f s", now_s() - t0);
    return LCA_OK;
}

int lca_bench_e2e_run(int argc, char **argv)
{
    struct e2e *b = calloc(1, sizeof(*b));
    int rc;

    if (b == NULL) {
        return 1;
    }
    rc = parse_opts(argc, argv, &b->o);
    if (rc != 0) {
        free(b);
        return rc == 1 ? 0 : 2;
    }
    rc = measure(b) == LCA_OK ? 0 : 1;
    cleanup(b);
    free(b);
    return rc;
}
