/* bench_agg — the aggregator's fold + unified CRL path at an offered rate (bench_agg.h). */
#include "bench_agg.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "aggcrl.h"
#include "aggregator.h"
#include "bench_db.h"
#include "crl.h"
#include "kafka.h"
#include "key.h"
#include "osslenv.h"
#include "pgstore.h"
#include "event.h"
#include "fedlog.h"
#include "state.h"

#define CLUSTERS 3
#define ISSUER_ID "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
#define ISSUER_KEY_ID "bench-aggregate-issuer-key"

struct feed {
    uint8_t **msg; /* relay message bytes, interleaved round-robin over the clusters */
    size_t *len;
    int *cl;       /* cluster index of each message */
    size_t n, n_rev;
};

static char g_names[CLUSTERS][40] = {"dc1", "dc2", "dc3"};

struct sink {
    struct lca_fedlog_cursor cur[CLUSTERS];
    struct lca_crl_entry *e;
    uint8_t (*serial)[20];
    size_t n, cap;
    int dirty;
    size_t builds;
    double last_build_ms;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int issuer(EVP_PKEY **key, X509 **cert)
{
    X509_NAME *n;

    *key = EVP_EC_gen("P-256");
    *cert = X509_new();
    if (*key == NULL || *cert == NULL) {
        return 0;
    }
    n = X509_get_subject_name(*cert);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"bench CA", -1, -1,
                               0);
    X509_set_issuer_name(*cert, n);
    X509_set_version(*cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(*cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(*cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(*cert), 86400);
    return X509_set_pubkey(*cert, *key) == 1 && X509_sign(*cert, *key, EVP_sha256()) > 0;
}

/* One relay message of cluster c at position pos; chains cur's hash forward. */
static int message(struct feed *f, int c, int64_t pos, uint8_t prev[32], struct lca_event *ev)
{
    struct lca_fedlog_msg m;
    struct lca_err err;
    uint8_t *payload = NULL, *buf = NULL;
    size_t plen = 0;
    int ok, revoked = ev != NULL && ev->type == LCA_EVT_CERT_REVOKED;

    lca_err_clear(&err);
    ok = lca_event_canonical(ev, &payload, &plen, &err) == LCA_OK &&
         (buf = malloc(plen + 32)) != NULL;
    lca_event_free(ev);
    if (!ok) {
        free(payload);
        return 0;
    }
    memset(&m, 0, sizeof(m));
    m.cluster = g_names[c];
    m.position = pos;
    m.stream = "cert";
    m.stream_version = 1;
    memcpy(buf, prev, 32);
    memcpy(buf + 32, payload, plen);
    memcpy(m.prev_hash, prev, 32);
    SHA256(buf, plen + 32, m.hash);
    memcpy(prev, m.hash, 32);
    free(buf);
    m.command_id = "cccccccc-cccc-4ccc-8ccc-cccccccccccc";
    m.payload = payload;
    m.payload_len = plen;
    m.type = revoked ? "CertificateRevoked" : pos == 1 && c == 0 ? "IssuerCreated"
                                                                 : "CertificateIssued";
    f->cl[f->n] = c;
    ok = lca_fedlog_encode(&m, &f->msg[f->n], &f->len[f->n], &err) == LCA_OK;
    free(payload);
    f->n += (size_t)ok;
    return ok;
}

static struct lca_event *cert_event(int revoked, const char *serial)
{
    struct lca_val *p = lca_val_new_map();

    lca_val_map_set_str(p, "serial_number", serial);
    lca_val_map_set_str(p, "issuer_id", ISSUER_ID);
    if (revoked) {
        lca_val_map_set_int(p, "revoked_at", 1800000000);
        lca_val_map_set_int(p, "reason", 1);
    } else {
        lca_val_map_set_int(p, "not_after", 4000000000);
        lca_val_map_set_str(p, "kind", "leaf");
        lca_val_map_set_str(p, "common_name", "bench.example.com");
    }
    return lca_event_new(revoked ? LCA_EVT_CERT_REVOKED : LCA_EVT_CERT_ISSUED, p);
}

static struct lca_event *issuer_event(X509 *cert)
{
    struct lca_val *p = lca_val_new_map();
    unsigned char *der = NULL;
    int len = i2d_X509(cert, &der);

    lca_val_map_set_str(p, "issuer_id", ISSUER_ID);
    lca_val_map_set_str(p, "key_id", ISSUER_KEY_ID);
    lca_val_map_set_bin(p, "certificate", der, len > 0 ? (size_t)len : 0);
    OPENSSL_free(der);
    return lca_event_new(LCA_EVT_ISSUER_CREATED, p);
}

/* Cluster 0 first creates the issuer; then n_rev revocations: per revocation an issue and a
 * revoke event of one cluster, round-robin. */
static int feed_build(struct feed *f, size_t n_rev, X509 *cert)
{
    uint8_t prev[CLUSTERS][32];
    int64_t pos[CLUSTERS] = {0, 0, 0};
    size_t i;

    memset(prev, 0, sizeof(prev));
    f->msg = calloc(2 * n_rev + 1, sizeof(*f->msg));
    f->len = calloc(2 * n_rev + 1, sizeof(*f->len));
    f->cl = calloc(2 * n_rev + 1, sizeof(*f->cl));
    f->n = 0;
    f->n_rev = n_rev;
    if (f->msg == NULL || f->len == NULL || f->cl == NULL ||
        !message(f, 0, ++pos[0], prev[0], issuer_event(cert))) {
        return 0;
    }
    for (i = 0; i < n_rev; i++) {
        int c = (int)(i % CLUSTERS);
        char serial[64];
        snprintf(serial, sizeof(serial), "7f:%02x:%02x:%02x:%02x:aa:bb:cc:dd", (unsigned)c,
                 (unsigned)(i >> 16) & 255u, (unsigned)(i >> 8) & 255u, (unsigned)i & 255u);
        if (!message(f, c, ++pos[c], prev[c], cert_event(0, serial)) ||
            !message(f, c, ++pos[c], prev[c], cert_event(1, serial))) {
            return 0;
        }
    }
    return f->n == 2 * n_rev + 1;
}

static int fold_one(struct sink *s, const uint8_t *buf, size_t len)
{
    struct lca_fedlog_decoded d;
    struct lca_fedlog_change ch;
    struct lca_event *ev = NULL;
    struct lca_err err;
    int c, ok;

    lca_err_clear(&err);
    if (lca_fedlog_decode(buf, len, &d, &err) != LCA_OK) {
        return 0;
    }
    for (c = 0; c < CLUSTERS && strcmp(g_names[c], d.msg.cluster) != 0; c++) {
    }
    ok = c >= 0 && c < CLUSTERS && lca_fedlog_apply(&s->cur[c], &d.msg, &ch, &ev, &err) == LCA_OK;
    if (ok && ch.kind == LCA_FEDLOG_REVOKED && s->n < s->cap) {
        struct lca_crl_entry *e = &s->e[s->n];
        size_t sl = 0;
        ok = lca_state_serial_parse(ch.view.rev.serial, s->serial[s->n], &sl) == LCA_OK;
        e->serial = s->serial[s->n];
        e->serial_len = sl;
        e->revoked_at = ch.view.rev.revoked_at;
        e->reason = (enum lca_crl_reason)ch.reason;
        e->not_after = INT64_MAX;
        s->n += (size_t)ok;
        s->dirty = 1;
    }
    lca_event_free(ev);
    lca_fedlog_decoded_cleanup(&d);
    return ok;
}

static int build(struct sink *s, X509 *cert, EVP_PKEY *key)
{
    struct lca_crl_req req;
    struct lca_err err;
    uint8_t *der = NULL;
    size_t len = 0;
    double t0 = now_s();
    int ok;

    memset(&req, 0, sizeof(req));
    req.this_update = 1800000000;
    req.next_update = 1800086400;
    req.crl_number = (uint64_t)s->builds + 1;
    req.delta_base = -1;
    req.entries = s->e;
    req.n_entries = s->n;
    lca_err_clear(&err);
    ok = lca_crl_build(cert, key, &req, &der, &len, &err) == LCA_OK;
    free(der);
    s->builds++;
    s->dirty = 0;
    s->last_build_ms = (now_s() - t0) * 1000.0;
    return ok;
}

/* Runs the feed through the sink: paced at rate messages/s (0: unpaced) for at most window
 * seconds of release; returns messages folded when the window closed, *lag the released but
 * unfolded ones then. */
static size_t run(const struct feed *f, struct sink *s, double rate, double window,
                  double interval, X509 *cert, EVP_PKEY *key, size_t *lag, double *elapsed)
{
    double t0 = now_s(), last = t0, t;
    size_t done = 0, avail;

    for (;;) {
        t = now_s() - t0;
        avail = rate > 0 ? (size_t)(t * rate) : f->n;
        avail = avail > f->n ? f->n : avail;
        if (rate > 0 && t >= window) {
            break;
        }
        while (done < avail && fold_one(s, f->msg[done], f->len[done])) {
            done++;
            if ((done & 255) == 0 && now_s() - last >= interval) {
                break;
            }
        }
        if (s->dirty && now_s() - last >= interval) {
            last = now_s();
            (void)build(s, cert, key);
        }
        if (rate <= 0 && done == f->n) {
            (void)build(s, cert, key);
            break;
        }
        if (done == avail && rate > 0) {
            struct timespec ts = {0, 500000};
            nanosleep(&ts, NULL);
        }
    }
    *lag = (rate > 0 ? avail : f->n) - done;
    *elapsed = now_s() - t0;
    return done;
}

/* ---- over real Kafka and PostgreSQL ---- */

struct real {
    struct lca_bench_db db;
    struct lca_aggregator_opts o;
    volatile sig_atomic_t stop;
    char clusters[160], group[96];
    pthread_t th;
    int started, rc;
};

static void *agg_thread(void *arg)
{
    struct real *r = arg;
    struct lca_err err;

    lca_err_clear(&err);
    r->rc = lca_aggregator_run(&r->o, &err);
    if (r->rc != LCA_OK) {
        fprintf(stderr, "bench aggregate: aggregator: %s: %s\n", err.code, err.msg);
    }
    return NULL;
}

/* The issuer's key wrapped under the bench database's KEK into its ca_keys. */
static int put_key(struct real *r, EVP_PKEY *key, struct lca_err *err)
{
    uint8_t kek[32], nonce[12], *blob = NULL;
    size_t len = 0;
    struct lca_pgstore *st = NULL;
    int rc = LCA_FAIL;

    if (lca_osslenv_load_kek(r->db.kek_path, kek, err) == LCA_OK && RAND_bytes(nonce, 12) == 1 &&
        lca_key_wrap(kek, nonce, key, ISSUER_KEY_ID, &blob, &len, err) == LCA_OK &&
        lca_pgstore_open(r->db.uri, "bench", &st, err) == LCA_OK) {
        rc = lca_pgstore_key_put(st, ISSUER_KEY_ID, blob, len, err);
    }
    OPENSSL_cleanse(kek, sizeof(kek));
    free(blob);
    lca_pgstore_free(st);
    return rc;
}

/* Folded messages so far (sum of the cluster cursors) and unified CRL builds. */
static int progress(struct real *r, long long *folded, long long *builds)
{
    PGconn *c = PQconnectdb(r->db.uri);
    PGresult *res = PQexec(c, "SELECT (SELECT coalesce(sum(position), 0) FROM agg_clusters), "
                              "(SELECT coalesce(max(crl_number), 0) FROM agg_unified_crls)");
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK;

    if (ok) {
        *folded = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        *builds = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        *builds -= *builds > 0 ? (long long)LCA_AGGCRL_NUMBER_BASE : 0;
    }
    PQclear(res);
    PQfinish(c);
    return ok;
}

/* Produces the feed at `rate` messages/s for `secs` s (in order per topic). */
static size_t produce(struct lca_kproducer *p, const struct feed *f, double rate, double secs)
{
    static const struct lca_kheader h = {"content-type", "application/msgpack", 19};
    double t0 = now_s(), t;
    size_t sent = 0;
    struct lca_err err;
    char topic[96];

    lca_err_clear(&err);
    while ((t = now_s() - t0) < secs && sent < f->n) {
        size_t want = (size_t)(t * rate) + 1;
        for (; sent < want && sent < f->n; sent++) {
            snprintf(topic, sizeof(topic), "ledgerca.events.%.39s", g_names[f->cl[sent]]);
            if (lca_kproducer_send(p, topic, NULL, 0, f->msg[sent], f->len[sent], &h, 1, &err) !=
                LCA_OK) {
                return sent;
            }
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (lca_kproducer_flush(p, 30000, &err) != LCA_OK) {
        fprintf(stderr, "bench aggregate: flush: %s\n", err.msg);
    }
    return sent;
}

/* The aggregator's group starts ledgerca.revoke-forward at its end: forwards other runs left on
 * a shared broker are not this benchmark's. */
static int seed_forward_offsets(struct real *r, const char *bs, struct lca_err *err)
{
    struct lca_kproducer *p = NULL;
    PGconn *c = NULL;
    int parts = 0, i, rc = LCA_FAIL;

    if (lca_kafka_topic_partitions(bs, LCA_KAFKA_TOPIC_REVOKE_FORWARD, 10000, &parts, err) !=
        LCA_OK) {
        lca_err_clear(err);
        return LCA_OK; /* no such topic yet: nothing to skip */
    }
    if (lca_kproducer_new(bs, NULL, &p, err) != LCA_OK) {
        return LCA_FAIL;
    }
    c = PQconnectdb(r->db.uri);
    for (i = 0, rc = LCA_OK; rc == LCA_OK && i < parts; i++) {
        int64_t hw = 0;
        char sql[512];
        PGresult *res;
        if ((rc = lca_kproducer_high_watermark(p, LCA_KAFKA_TOPIC_REVOKE_FORWARD, i, 10000, &hw,
                                               err)) != LCA_OK) {
            break;
        }
        snprintf(sql, sizeof(sql),
                 "INSERT INTO consumer_offsets (group_id, topic, partition, next_offset) "
                 "VALUES ('%s', '%s', %d, %lld)",
                 r->group, LCA_KAFKA_TOPIC_REVOKE_FORWARD, i, (long long)hw);
        res = PQexec(c, sql);
        rc = PQresultStatus(res) == PGRES_COMMAND_OK
                 ? LCA_OK
                 : lca_err_set(err, LCA_ERR_RETRIABLE, "pg", "seeding offsets failed");
        PQclear(res);
    }
    PQfinish(c);
    lca_kproducer_free(p);
    return rc;
}

static int real_start(struct real *r, const char *pg, const char *bs, EVP_PKEY *key,
                      struct lca_err *err)
{
    const char *topics[CLUSTERS];
    uint8_t rnd[4];
    char tag[48];
    int i;

    RAND_bytes(rnd, 4);
    snprintf(tag, sizeof(tag), "agg_%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
    for (i = 0; i < CLUSTERS; i++) {
        snprintf(g_names[i], sizeof(g_names[i]), "bench%.8s%c", tag + 4, 'a' + i);
        topics[i] = g_names[i];
    }
    snprintf(r->clusters, sizeof(r->clusters), "%s,%s,%s", g_names[0], g_names[1], g_names[2]);
    snprintf(r->group, sizeof(r->group), "ledgerca-bench-%s", tag);
    if (lca_bench_db_create(&r->db, pg, tag, err) != LCA_OK || put_key(r, key, err) != LCA_OK) {
        return LCA_FAIL;
    }
    for (i = 0; i < CLUSTERS; i++) {
        static char names[CLUSTERS][96];
        snprintf(names[i], sizeof(names[i]), "ledgerca.events.%.39s", g_names[i]);
        topics[i] = names[i];
    }
    if (lca_kafka_create_topics(bs, topics, CLUSTERS, 1, 30000, err) != LCA_OK ||
        seed_forward_offsets(r, bs, err) != LCA_OK) {
        return LCA_FAIL;
    }
    r->o.bootstrap = bs;
    r->o.pg_uri = r->db.uri;
    r->o.kek_file = r->db.kek_path;
    r->o.clusters = r->clusters;
    r->o.group = r->group;
    r->o.crl_interval_ms = 500;
    r->o.stop = &r->stop;
    r->started = pthread_create(&r->th, NULL, agg_thread, r) == 0;
    return r->started ? LCA_OK : lca_err_set(err, LCA_ERR_FATAL, "thread", "pthread_create");
}

/* crl.aggregate_rate_pg: the real aggregator (Kafka consumer, PostgreSQL transactions, unified
 * CRL builds) fed at the offered rate; ceiling: the in-process capacity of the same run. */
static void real_run(double rate, double secs, EVP_PKEY *key, X509 *cert, double ceiling)
{
    struct feed feed = {NULL, NULL, NULL, 0, 0}, *f = &feed;
    size_t i;
    const char *pg = getenv("LCA_TEST_PG_URI"), *bs = getenv("LCA_TEST_KAFKA_BOOTSTRAP");
    struct real r;
    struct lca_kproducer *p = NULL;
    struct lca_err err;
    long long folded = 0, builds = 0, at_end = 0;
    double t_end, drain = -1, value;
    size_t sent;

    if (pg == NULL || bs == NULL) {
        fprintf(stderr, "bench aggregate: LCA_TEST_PG_URI/LCA_TEST_KAFKA_BOOTSTRAP not set: "
                        "only the in-process lines\n");
        return;
    }
    memset(&r, 0, sizeof(r));
    lca_err_clear(&err);
    if (real_start(&r, pg, bs, key, &err) != LCA_OK ||
        !feed_build(f, (size_t)(rate * secs) + 1, cert) ||
        lca_kproducer_new(bs, NULL, &p, &err) != LCA_OK) {
        fprintf(stderr, "bench aggregate: %s: %s\n", err.code, err.msg);
        goto out;
    }
    sleep(3); /* the consumer joins its group and is assigned the three topics */
    sent = produce(p, f, 2 * rate, secs);
    (void)progress(&r, &at_end, &builds);
    t_end = now_s();
    while (progress(&r, &folded, &builds) && folded < (long long)sent && now_s() - t_end < 120) {
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    if (folded >= (long long)sent) {
        drain = now_s() - t_end;
    }
    value = (double)at_end / 2.0 / secs;
    printf("{\"bench\": \"crl.aggregate_rate_pg\", \"value\": %.1f, \"unit\": \"revocations/s\", "
           "\"ceiling\": %.1f, \"ratio\": %.3f, \"offered\": %.0f, \"clusters\": %d, "
           "\"produced\": %zu, \"lag_end\": %lld, \"drain_s\": %.2f, \"keeps_up\": %s, "
           "\"unified_crl_builds\": %lld}\n",
           value, ceiling, ceiling > 0 ? value / ceiling : 0.0, rate, CLUSTERS, sent / 2,
           ((long long)sent - at_end) / 2, drain,
           (long long)sent - at_end <= (long long)(rate * 0.1) ? "true" : "false", builds);
out:
    r.stop = 1;
    if (r.started) {
        pthread_join(r.th, NULL);
    }
    lca_kproducer_free(p);
    lca_bench_db_drop(&r.db);
    for (i = 0; i < f->n; i++) {
        free(f->msg[i]);
    }
    free(f->msg);
    free(f->len);
    free(f->cl);
}

static int opt(int argc, char **argv, const char *name, double *v)
{
    int i;

    for (i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            *v = strtod(argv[i + 1], NULL);
        }
    }
    return *v > 0;
}

int lca_bench_agg_run(int argc, char **argv)
{
    double rate = 5000, secs = 4, interval_ms = 500, el = 0, cel = 0;
    struct feed f = {NULL, NULL, NULL, 0, 0};
    struct sink s, c;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    size_t lag = 0, clag = 0, done, i, n_rev;
    int rc = 1, in_process = 0, k;

    if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
        printf("usage: ledgerca bench aggregate [--rate REVOCATIONS_PER_S] [--seconds S] "
               "[--crl-interval MS] [--in-process]\n"
               "With LCA_TEST_PG_URI and LCA_TEST_KAFKA_BOOTSTRAP set (and no --in-process), also\n"
               "crl.aggregate_rate_pg: the real aggregator over Kafka and a throwaway database.\n");
        return 0;
    }
    for (k = 1; k < argc; k++) {
        in_process |= strcmp(argv[k], "--in-process") == 0;
    }
    if (!opt(argc, argv, "--rate", &rate) || !opt(argc, argv, "--seconds", &secs) ||
        !opt(argc, argv, "--crl-interval", &interval_ms)) {
        fprintf(stderr, "ledgerca bench aggregate: options must be positive\n");
        return 2;
    }
    n_rev = (size_t)(rate * secs) + 1;
    memset(&s, 0, sizeof(s));
    memset(&c, 0, sizeof(c));
    s.cap = c.cap = n_rev;
    s.e = calloc(n_rev, sizeof(*s.e));
    s.serial = calloc(n_rev, sizeof(*s.serial));
    c.e = calloc(n_rev, sizeof(*c.e));
    c.serial = calloc(n_rev, sizeof(*c.serial));
    if (s.e == NULL || s.serial == NULL || c.e == NULL || c.serial == NULL || !issuer(&key, &cert) ||
        !feed_build(&f, n_rev, cert)) {
        fprintf(stderr, "ledgerca bench aggregate: set-up failed\n");
        goto out;
    }
    /* offered: 2 messages (issue + revoke) per revocation */
    done = run(&f, &s, 2 * rate, secs, interval_ms / 1000.0, cert, key, &lag, &el);
    (void)run(&f, &c, 0, 0, interval_ms / 1000.0, cert, key, &clag, &cel);
    printf("{\"bench\": \"crl.aggregate_rate\", \"value\": %.1f, \"unit\": \"revocations/s\", "
           "\"ceiling\": %.1f, \"ratio\": %.3f, \"offered\": %.0f, \"clusters\": %d, "
           "\"lag_end\": %zu, \"keeps_up\": %s, \"crl_builds\": %zu, \"crl_entries\": %zu}\n",
           (double)(done / 2) / secs, (double)f.n_rev / cel,
           ((double)(done / 2) / secs) / ((double)f.n_rev / cel), rate, CLUSTERS, lag / 2,
           lag / 2 <= (size_t)(rate * 0.05) ? "true" : "false", s.builds, s.n);
    if (!in_process) {
        real_run(rate, secs, key, cert, (double)f.n_rev / cel);
    }
    printf("{\"bench\": \"crl.aggregate_build_ms\", \"value\": %.1f, \"unit\": \"ms\", "
           "\"ceiling\": %.1f, \"ratio\": %.3f, \"crl_entries\": %zu}\n",
           s.last_build_ms, interval_ms, s.last_build_ms / interval_ms, s.n);
    rc = 0;
out:
    for (i = 0; i < f.n; i++) {
        free(f.msg[i]);
    }
    free(f.msg);
    free(f.len);
    free(f.cl);
    free(s.e);
    free(s.serial);
    free(c.e);
    free(c.serial);
    EVP_PKEY_free(key);
    X509_free(cert);
    return rc;
}
