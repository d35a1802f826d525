/*
 * bench_audit — `ledgerca bench audit`: how fast the log is proven and replayed (issue 4).
 * See bench_audit.h for the measurements. The synthetic log is valid, not merely well-formed:
 * a real bootstrap decided by the engine (root, intermediate, their CRLs), then CertificateIssued
 * events of the intermediate (the first `certs` with a real P-256 certificate signed by it, the
 * rest without one, as a no_store role records them) and a CertificateRevoked for every 100th
 * certificate, each event folded by lca_state_evolve while it is made (so it applies), its
 * canonical bytes hash-chained with lca_pgstore_chain_hash, and the rows sent with one COPY.
 */
#include "bench_audit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "audit.h"
#include "bench_db.h"
#include "catalog.h"
#include "cert.h"
#include "decide.h"
#include "event.h"
#include "log.h"
#include "opts.h"
#include "osslenv.h"
#include "pgstore.h"
#include "state.h"

#define SAMPLE_MAX 20000       /* payloads kept for the SHA-256 ceiling */
#define COPY_CHUNK (1 << 20)

struct synth {
    PGconn *conn;
    struct lca_osslenv *oe;
    struct lca_state *st;
    struct lca_cert_signer *signer;
    const struct lca_issuer *iss;
    uint8_t *spki;
    size_t spki_len;
    uint8_t prev[32];
    int64_t pos;
    char *buf; /* COPY rows not yet sent */
    size_t len, cap;
    uint64_t bytes;     /* payload bytes of the whole log */
    uint8_t **sample;   /* the first SAMPLE_MAX payloads */
    size_t *sample_len, n_sample;
    char recorded_at[40];
    char (*serials)[64];
    size_t n_serials;
};

static double mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int put(struct synth *s, const char *p, size_t n)
{
    if (s->len + n > s->cap) {
        size_t cap = (s->len + n) * 2;
        char *nb = realloc(s->buf, cap);
        if (nb == NULL) {
            return LCA_FAIL;
        }
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    return LCA_OK;
}

/* bytea in COPY text format: \\x then hex (the backslash doubled for COPY). */
static int put_hex(struct synth *s, const uint8_t *p, size_t n)
{
    static const char d[] = "0123456789abcdef";
    size_t i;

    if (put(s, "\\\\x", 3) != LCA_OK) {
        return LCA_FAIL;
    }
    if (s->len + 2 * n > s->cap) {
        char *nb = realloc(s->buf, (s->len + 2 * n) * 2);
        if (nb == NULL) {
            return LCA_FAIL;
        }
        s->buf = nb;
        s->cap = (s->len + 2 * n) * 2;
    }
    for (i = 0; i < n; i++) {
        s->buf[s->len++] = d[p[i] >> 4];
        s->buf[s->len++] = d[p[i] & 15];
    }
    return LCA_OK;
}

static int flush(struct synth *s, struct lca_err *err)
{
    if (s->len > 0 && PQputCopyData(s->conn, s->buf, (int)s->len) != 1) {
        return lca_err_set(err, LCA_ERR_RETRIABLE, "copy", "COPY: %s", PQerrorMessage(s->conn));
    }
    s->len = 0;
    return LCA_OK;
}

static void keep_sample(struct synth *s, const uint8_t *p, size_t n)
{
    uint8_t *c;

    if (s->n_sample < SAMPLE_MAX && (c = malloc(n)) != NULL) {
        memcpy(c, p, n);
        s->sample[s->n_sample] = c;
        s->sample_len[s->n_sample++] = n;
    }
}

/* Folds ev (taken) at the next position and queues its row. */
static int append(struct synth *s, struct lca_event *ev, struct lca_err *err)
{
    char stream[96], line[320];
    int32_t ver = 0;
    uint8_t *bytes = NULL, h[32];
    size_t n = 0;
    int rc = LCA_FAIL;

    if (ev == NULL || lca_state_stream(s->st, ev, "bench", stream, sizeof(stream), &ver) != LCA_OK ||
        lca_event_canonical(ev, &bytes, &n, err) != LCA_OK ||
        lca_state_evolve(s->st, s->pos + 1, ev, err) != LCA_OK ||
        lca_pgstore_chain_hash(s->prev, bytes, n, h, err) != LCA_OK) {
        goto out;
    }
    s->pos++;
    snprintf(line, sizeof(line), "%lld\t%s\t%d\t%s\t", (long long)s->pos, stream, (int)ver,
             lca_catalog_evt_name(ev->type));
    if (put(s, line, strlen(line)) != LCA_OK || put_hex(s, bytes, n) != LCA_OK) {
        goto oom;
    }
    snprintf(line, sizeof(line), "\tdc1\t00000000-0000-4000-8000-%012llx\t%s\t",
             (unsigned long long)(s->pos / 1000 + 2), s->recorded_at);
    if (put(s, line, strlen(line)) != LCA_OK || put_hex(s, s->prev, 32) != LCA_OK ||
        put(s, "\t", 1) != LCA_OK || put_hex(s, h, 32) != LCA_OK || put(s, "\n", 1) != LCA_OK) {
        goto oom;
    }
    memcpy(s->prev, h, 32);
    s->bytes += n;
    keep_sample(s, bytes, n);
    rc = s->len >= COPY_CHUNK ? flush(s, err) : LCA_OK;
    goto out;
oom:
    rc = lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
out:
    free(bytes);
    lca_event_free(ev);
    return rc;
}

static int bootstrap(struct synth *s, struct lca_err *err)
{
    struct lca_decision *d = NULL;
    EVP_PKEY *key = NULL, *leaf = NULL;
    unsigned char *spki = NULL;
    size_t i;
    int n, rc = LCA_FAIL;

    if (lca_decide_bootstrap(s->st, NULL, "dc1", lca_osslenv_env(s->oe), &d, err) != LCA_OK) {
        return LCA_FAIL;
    }
    for (i = 0; i < d->n_events; i++) {
        struct lca_event *ev = d->events[i];
        d->events[i] = NULL;
        if (append(s, ev, err) != LCA_OK) {
            goto out;
        }
    }
    s->iss = lca_state_default_issuer(s->st);
    leaf = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (s->iss == NULL || leaf == NULL || (n = i2d_PUBKEY(leaf, &spki)) <= 0 ||
        lca_osslenv_env(s->oe)->key_get(lca_osslenv_env(s->oe)->ctx, s->iss->key_id, &key,
                                        err) != LCA_OK ||
        lca_cert_signer_new(s->iss->cert, key, &s->signer, err) != LCA_OK) {
        (void)(err->cls == LCA_ERR_NONE &&
               lca_err_set(err, LCA_ERR_FATAL, "setup", "bench audit: CA setup failed"));
        goto out;
    }
    s->spki = spki;
    s->spki_len = (size_t)n;
    spki = NULL;
    rc = LCA_OK;
out:
    OPENSSL_free(spki);
    EVP_PKEY_free(leaf);
    lca_decision_free(d);
    return rc;
}

static struct lca_event *issued(struct synth *s, size_t i, int with_der, int64_t now,
                                struct lca_err *err)
{
    struct lca_val *p = lca_val_new_map();
    struct lca_cert_req r;
    uint8_t serial[17], *der = NULL;
    size_t der_len = 0;
    char cn[48];

    serial[0] = 0x01;
    if (p == NULL || RAND_bytes(serial + 1, 16) != 1) {
        lca_val_free(p);
        return NULL;
    }
    lca_state_serial_format(serial, sizeof(serial), s->serials[i % s->n_serials], 64);
    snprintf(cn, sizeof(cn), "h%zu.bench.internal", i);
    lca_val_map_set_str(p, "serial_number", s->serials[i % s->n_serials]);
    lca_val_map_set_str(p, "issuer_id", s->iss->id);
    lca_val_map_set_int(p, "not_after", now + 30 * 86400);
    lca_val_map_set_str(p, "kind", "leaf");
    if (with_der) {
        const char *dns[1] = {cn};
        memset(&r, 0, sizeof(r));
        r.common_name = cn;
        r.dns_names = dns;
        r.n_dns = 1;
        r.serial = serial;
        r.serial_len = sizeof(serial);
        r.not_before = now - 60;
        r.not_after = now + 30 * 86400;
        r.path_len = -1;
        if (lca_cert_sign_der(s->signer, &r, s->spki, s->spki_len, &der, &der_len, err) !=
            LCA_OK) {
            lca_val_free(p);
            return NULL;
        }
        lca_val_map_set_bin(p, "certificate", der, der_len);
        free(der);
    }
    lca_val_map_set_str(p, "role", "bench");
    lca_val_map_set_str(p, "common_name", cn);
    return lca_event_new(LCA_EVT_CERT_ISSUED, p);
}

static struct lca_event *revoked(struct synth *s, size_t i, int64_t now)
{
    struct lca_val *p = lca_val_new_map();

    lca_val_map_set_str(p, "serial_number", s->serials[i % s->n_serials]);
    lca_val_map_set_str(p, "issuer_id", s->iss->id);
    lca_val_map_set_int(p, "revoked_at", now);
    lca_val_map_set_int(p, "reason", 4);
    return lca_event_new(LCA_EVT_CERT_REVOKED, p);
}

static int copy_begin(struct synth *s, struct lca_err *err)
{
    PGresult *r = PQexec(s->conn, "COPY events (position, stream, stream_version, type, payload, "
                                  "cluster, command_id, recorded_at, prev_hash, hash) FROM STDIN");
    int ok = PQresultStatus(r) == PGRES_COPY_IN;

    PQclear(r);
    return ok ? LCA_OK : lca_err_set(err, LCA_ERR_RETRIABLE, "copy", "COPY: %s",
                                     PQerrorMessage(s->conn));
}

static int copy_end(struct synth *s, struct lca_err *err)
{
    PGresult *r;
    char sql[200], hex[65];
    int i, ok;

    if (flush(s, err) != LCA_OK || PQputCopyEnd(s->conn, NULL) != 1) {
        return LCA_FAIL;
    }
    r = PQgetResult(s->conn);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    while ((r = PQgetResult(s->conn)) != NULL) {
        PQclear(r);
    }
    if (!ok) {
        return lca_err_set(err, LCA_ERR_RETRIABLE, "copy", "COPY: %s", PQerrorMessage(s->conn));
    }
    for (i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", s->prev[i]);
    }
    snprintf(sql, sizeof(sql), "UPDATE log_head SET position = %lld, hash = '\\x%s'",
             (long long)s->pos, hex);
    r = PQexec(s->conn, sql);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok ? LCA_OK : lca_err_set(err, LCA_ERR_RETRIABLE, "log_head", "%s",
                                     PQerrorMessage(s->conn));
}

/* Writes a valid log of about n events (certs of them with a certificate) into uri. */
static int synth_log(struct synth *s, const char *uri, size_t n, size_t certs,
                     struct lca_err *err)
{
    int64_t now = (int64_t)time(NULL);
    size_t i, k = 0;
    struct tm tm;
    time_t t = (time_t)now;

    gmtime_r(&t, &tm);
    strftime(s->recorded_at, sizeof(s->recorded_at), "%Y-%m-%d %H:%M:%S+00", &tm);
    s->n_serials = 256; /* a ring: revocations name one of the last 256 certificates */
    if ((s->serials = calloc(s->n_serials, 64)) == NULL ||
        (s->sample = calloc(SAMPLE_MAX, sizeof(*s->sample))) == NULL ||
        (s->sample_len = calloc(SAMPLE_MAX, sizeof(size_t))) == NULL ||
        (s->oe = lca_osslenv_new()) == NULL || (s->st = lca_state_new()) == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
    }
    s->conn = PQconnectdb(uri);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        return lca_err_set(err, LCA_ERR_RETRIABLE, "pg", "%s", PQerrorMessage(s->conn));
    }
    if (copy_begin(s, err) != LCA_OK || bootstrap(s, err) != LCA_OK) {
        return LCA_FAIL;
    }
    while ((size_t)s->pos < n) {
        /* every 100th certificate is revoked 50 certificates later */
        if (k >= 100 && k % 100 == 50 && append(s, revoked(s, k - 50, now), err) != LCA_OK) {
            return LCA_FAIL;
        }
        if (append(s, issued(s, k, k < certs, now, err), err) != LCA_OK) {
            return err->cls != LCA_ERR_NONE
                       ? LCA_FAIL
                       : lca_err_set(err, LCA_ERR_FATAL, "synth", "cannot make an event");
        }
        k++;
    }
    (void)i;
    return copy_end(s, err);
}

static void synth_free(struct synth *s)
{
    size_t i;

    for (i = 0; i < s->n_sample; i++) {
        free(s->sample[i]);
    }
    free(s->sample);
    free(s->sample_len);
    free(s->serials);
    free(s->buf);
    OPENSSL_free(s->spki);
    lca_cert_signer_free(s->signer);
    lca_state_free(s->st);
    lca_osslenv_free(s->oe);
    PQfinish(s->conn);
    memset(s, 0, sizeof(*s));
}

/* ------------------------------------------------------------------ ceilings */

/* Events/s the raw SHA-256 chain allows on one thread: SHA-256(prev || payload) over the
 * sample, reused context and pre-fetched algorithm (EVP_sha256() would fetch it on every
 * init, which halved this figure), scaled to the log's mean payload size. audit verify
 * --chain-only reads on 2 threads, so its ratio to this can pass 1. */
static double sha_ceiling(const struct synth *s, uint64_t bytes, int64_t events)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL); /* fetched once, as the audit does */
    uint8_t prev[32] = {0};
    uint64_t done = 0;
    double t0 = mono(), dt;
    size_t i = 0;
    unsigned len;

    while (c != NULL && md != NULL && s->n_sample > 0 && (dt = mono() - t0) < 0.5) {
        size_t j;
        for (j = 0; j < 256; j++, i = (i + 1) % s->n_sample) {
            EVP_DigestInit_ex(c, md, NULL);
            EVP_DigestUpdate(c, prev, 32);
            EVP_DigestUpdate(c, s->sample[i], s->sample_len[i]);
            EVP_DigestFinal_ex(c, prev, &len);
            done += 32 + s->sample_len[i];
        }
    }
    dt = mono() - t0;
    EVP_MD_CTX_free(c);
    EVP_MD_free(md);
    if (events <= 0 || dt <= 0) {
        return 0;
    }
    return ((double)done / dt) / ((double)(bytes + 32 * (uint64_t)events) / (double)events);
}

struct vthread {
    EVP_PKEY *key;
    const uint8_t *sig;
    size_t sig_len;
    double seconds;
    long n;
};

static void *verify_loop(void *arg)
{
    struct vthread *v = arg;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    uint8_t msg[300] = {0};
    double t0 = mono();

    while (c != NULL && mono() - t0 < v->seconds) {
        int j;
        for (j = 0; j < 32; j++) {
            if (EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL, v->key) != 1 ||
                EVP_DigestVerify(c, v->sig, v->sig_len, msg, sizeof(msg)) != 1) {
                EVP_MD_CTX_free(c);
                return NULL;
            }
            v->n++;
        }
    }
    v->seconds = mono() - t0;
    EVP_MD_CTX_free(c);
    return NULL;
}

/* P-256 ECDSA-SHA256 verifications per second on `threads` threads (a 300-byte TBS, the size
 * of a leaf's, through EVP_DigestVerify as X509_verify uses it). */
static double verify_ceiling(int threads)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    uint8_t msg[300] = {0}, sig[80];
    size_t sl = sizeof(sig);
    struct vthread v[8];
    pthread_t t[8];
    double rate = 0;
    int i;

    if (k == NULL || c == NULL || EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, k) != 1 ||
        EVP_DigestSign(c, sig, &sl, msg, sizeof(msg)) != 1) {
        EVP_MD_CTX_free(c);
        EVP_PKEY_free(k);
        return 0;
    }
    for (i = 0; i < threads; i++) {
        v[i] = (struct vthread){k, sig, sl, 1.0, 0};
        pthread_create(&t[i], NULL, verify_loop, &v[i]);
    }
    for (i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        rate += (double)v[i].n / v[i].seconds;
    }
    EVP_MD_CTX_free(c);
    EVP_PKEY_free(k);
    return rate;
}

/* ------------------------------------------------------------------ measurements */

static void line(const char *name, double value, const char *unit, double ceiling, double ratio,
                 long long events)
{
    printf("{\"bench\": \"%s\", \"value\": %.3f, \"unit\": \"%s\", \"ceiling\": %.3f, "
           "\"ratio\": %.3f, \"events\": %lld}\n",
           name, value, unit, ceiling, ratio, events);
    fflush(stdout);
}

static int verify_timed(struct lca_pgstore *store, int chain_only, struct lca_audit_report *rep,
                        double *sec, struct lca_err *err)
{
    struct lca_audit_opts o;
    double t0 = mono();

    memset(&o, 0, sizeof(o));
    memset(rep, 0, sizeof(*rep));
    o.chain_only = chain_only;
    if (lca_audit_verify(store, &o, rep, err) != LCA_OK) {
        return LCA_FAIL;
    }
    *sec = mono() - t0;
    if (!rep->clean) {
        return lca_err_set(err, LCA_ERR_FATAL, "dirty", "the synthetic log did not verify: %s",
                           rep->problem);
    }
    return LCA_OK;
}

/* chain_verify and replay over an n-event log. */
static int big_log(const char *server, const char *tag, size_t n, struct lca_err *err)
{
    struct lca_bench_db db;
    struct synth s;
    struct lca_pgstore *store = NULL;
    struct lca_audit_report rep;
    char dir[200], t[64];
    double t0, gen, chain, replay, ceil;
    int64_t pos = 0;
    int rc = LCA_FAIL;

    memset(&db, 0, sizeof(db));
    memset(&s, 0, sizeof(s));
    snprintf(t, sizeof(t), "%sa", tag);
    t0 = mono();
    if (lca_bench_db_create(&db, server, t, err) != LCA_OK ||
        synth_log(&s, db.uri, n, 0, err) != LCA_OK ||
        lca_pgstore_open(db.uri, "dc1", &store, err) != LCA_OK) {
        goto out;
    }
    gen = mono() - t0;
    fprintf(stderr, "bench audit: %lld-event log made and copied in %.1f s (%.0f MB payload)\n",
            (long long)s.pos, gen, (double)s.bytes / 1e6);
    if (verify_timed(store, 1, &rep, &chain, err) != LCA_OK) {
        goto out;
    }
    ceil = sha_ceiling(&s, s.bytes, s.pos);
    line("audit.chain_verify", (double)rep.events / chain, "events/s", ceil,
         ceil > 0 ? (double)rep.events / chain / ceil : 0, (long long)rep.events);
    snprintf(dir, sizeof(dir), "%s/replay", db.dir);
    t0 = mono();
    if (lca_audit_replay(store, s.pos, 0, dir, &pos, err) != LCA_OK) {
        goto out;
    }
    replay = mono() - t0;
    /* value: seconds for this log scaled to 1,000,000 events (linear: one pass); ceiling: the
     * same scaling of the chain-only pass, i.e. only reading the log */
    line("audit.replay_1m", replay * 1e6 / (double)s.pos, "s", chain * 1e6 / (double)s.pos,
         chain / replay, (long long)s.pos);
    fprintf(stderr, "bench audit: replay of %lld events took %.2f s (chain pass %.2f s)\n",
            (long long)s.pos, replay, chain);
    rc = LCA_OK;
out:
    if (db.dir[0] != '\0') {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s/replay'", db.dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "bench audit: could not remove %s/replay\n", db.dir);
        }
    }
    lca_pgstore_free(store);
    synth_free(&s);
    if (getenv("LCA_BENCH_KEEP") != NULL) { /* to look at the synthetic log afterwards */
        fprintf(stderr, "bench audit: kept database %s\n", db.uri);
    } else {
        lca_bench_db_drop(&db);
    }
    return rc;
}

/* full_verify over a log of `certs` certificates. */
static int cert_log(const char *server, const char *tag, size_t certs, struct lca_err *err)
{
    struct lca_bench_db db;
    struct synth s;
    struct lca_pgstore *store = NULL;
    struct lca_audit_report rep;
    char t[64];
    double sec, ceil2, ceil1;
    int rc = LCA_FAIL;

    memset(&db, 0, sizeof(db));
    memset(&s, 0, sizeof(s));
    snprintf(t, sizeof(t), "%sf", tag);
    if (lca_bench_db_create(&db, server, t, err) != LCA_OK ||
        synth_log(&s, db.uri, certs, certs, err) != LCA_OK ||
        lca_pgstore_open(db.uri, "dc1", &store, err) != LCA_OK ||
        verify_timed(store, 0, &rep, &sec, err) != LCA_OK) {
        goto out;
    }
    ceil2 = verify_ceiling(2);
    ceil1 = verify_ceiling(1);
    line("audit.full_verify", (double)rep.certificates / sec, "certs/s", ceil2,
         ceil2 > 0 ? (double)rep.certificates / sec / ceil2 : 0, (long long)rep.events);
    fprintf(stderr,
            "bench audit: full verify %lld events, %lld certificates, %lld CRLs in %.2f s; "
            "P-256 verify/s: 1 thread %.0f, 2 threads %.0f\n",
            (long long)rep.events, (long long)rep.certificates, (long long)rep.crls, sec, ceil1,
            ceil2);
    rc = LCA_OK;
out:
    lca_pgstore_free(store);
    synth_free(&s);
    if (getenv("LCA_BENCH_KEEP") != NULL) {
        fprintf(stderr, "bench audit: kept database %s\n", db.uri);
    } else {
        lca_bench_db_drop(&db);
    }
    return rc;
}

int lca_bench_audit_run(int argc, char **argv)
{
    struct lca_opt opts[] = {
        {"--pg-uri", "LCA_TEST_PG_URI", 0, "PostgreSQL superuser URI (databases are created)",
         NULL},
        {"--events", NULL, 0, "events of the chain/replay log (default 200000; 1000000 = 1M)",
         "200000"},
        {"--certs", NULL, 0, "certificates of the full-verify log (default 20000)", "20000"},
        {NULL, NULL, 0, NULL, NULL},
    };
    struct lca_err err;
    unsigned char r[6];
    char tag[16];
    long long n, certs;
    int rc = lca_opts_parse(argc, argv, opts, "ledgerca bench audit [options]"), i;

    if (rc != 0) {
        return rc == 1 ? 0 : 2;
    }
    n = atoll(opts[1].value);
    certs = atoll(opts[2].value);
    if (opts[0].value == NULL || n < 100 || n > 50000000 || certs < 10 || certs > 5000000) {
        fprintf(stderr, "ledgerca bench audit: needs --pg-uri (or LCA_TEST_PG_URI), "
                        "--events 100..50000000, --certs 10..5000000\n");
        return 2;
    }
    setenv("LEDGERCA_LOG_LEVEL", "warn", 0);
    lca_log_init("bench");
    lca_err_clear(&err);
    if (RAND_bytes(r, sizeof(r)) != 1) {
        return 1;
    }
    for (i = 0; i < 6; i++) {
        snprintf(tag + 2 * i, 3, "%02x", r[i]);
    }
    if (big_log(opts[0].value, tag, (size_t)n, &err) != LCA_OK ||
        cert_log(opts[0].value, tag, (size_t)certs, &err) != LCA_OK) {
        fprintf(stderr, "bench audit: %s\n", err.msg);
        return 1;
    }
    return 0;
}
