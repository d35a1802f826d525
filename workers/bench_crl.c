/* bench_crl — see bench_crl.h. */
#include "bench_crl.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "api_facade.h"
#include "bench_db.h"
#include "bench_sys.h"
#include "cert.h"
#include "crl.h"
#include "kafka.h"
#include "log.h"
#include "opts.h"
#include "projector.h"
#include "seal.h"
#include "signer.h"
#include "state.h"
#include "val.h"

#define REPLY_TIMEOUT_MS 30000
#define VISIBLE_TIMEOUT_S 30.0

static double mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void line(const char *name, double value, const char *unit, double ceiling, double ratio)
{
    printf("{\"bench\": \"%s\", \"value\": %.4f, \"unit\": \"%s\", \"ceiling\": %.4f, "
           "\"ratio\": %.3f}\n",
           name, value, unit, ceiling, ratio);
    fflush(stdout);
}

/* ------------------------------------------------------------------ crl.build_1m */

static int build_big(size_t n)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    struct lca_cert_req cr;
    struct lca_crl_req req;
    struct lca_crl_entry *e = calloc(n, sizeof(*e));
    uint8_t *serials = malloc(n * 16), *der = NULL, one[16] = {1}, sig[80], md[32];
    X509 *ca = NULL;
    struct lca_err err;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int64_t now = (int64_t)time(NULL);
    size_t i, der_len = 0, sl = sizeof(sig);
    double t0, build, floor_s;
    int rc = 1;

    lca_err_clear(&err);
    memset(&cr, 0, sizeof(cr));
    cr.common_name = "ledgerca bench CRL issuer";
    cr.serial = one;
    cr.serial_len = sizeof(one);
    cr.not_before = now - 60;
    cr.not_after = now + 86400;
    cr.path_len = -1;
    if (key == NULL || e == NULL || serials == NULL || c == NULL ||
        RAND_bytes(serials, (int)(n * 16)) != 1 ||
        lca_cert_self_sign(key, &cr, &ca, &err) != LCA_OK) {
        fprintf(stderr, "bench crl: set-up failed: %s\n", err.msg);
        goto out;
    }
    for (i = 0; i < n; i++) {
        serials[i * 16] |= 0x01; /* never all zero */
        e[i] = (struct lca_crl_entry){serials + i * 16, 16, now - (int64_t)(i % 86400),
                                      (enum lca_crl_reason)(i % 6), now + 86400};
    }
    memset(&req, 0, sizeof(req));
    req.this_update = now;
    req.next_update = now + 3600;
    req.crl_number = 7;
    req.delta_base = -1;
    req.entries = e;
    req.n_entries = n;
    t0 = mono();
    if (lca_crl_build(ca, key, &req, &der, &der_len, &err) != LCA_OK) {
        fprintf(stderr, "bench crl: build: %s\n", err.msg);
        goto out;
    }
    build = mono() - t0;
    t0 = mono(); /* the floor: hash every byte once, sign once */
    if (EVP_Digest(der, der_len, md, NULL, EVP_sha256(), NULL) != 1 ||
        EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(c, sig, &sl, md, sizeof(md)) != 1) {
        goto out;
    }
    floor_s = mono() - t0;
    line("crl.build_1m", build * 1e6 / (double)n, "s", floor_s * 1e6 / (double)n,
         floor_s / build);
    fprintf(stderr, "bench crl: %zu entries, %zu octets, built and signed in %.3f s "
                    "(SHA-256 + one signature: %.3f s)\n",
            n, der_len, build, floor_s);
    rc = 0;
out:
    free(der);
    free(e);
    free(serials);
    X509_free(ca);
    EVP_MD_CTX_free(c);
    EVP_PKEY_free(key);
    return rc;
}

/* ------------------------------------------------------------------ revoke -> visible */

struct bc {
    const char *pg_uri, *bootstrap;
    struct lca_bench_db db;
    char tag[17], group[64], cluster[32], crl_dir[128], issuer[LCA_ID_LEN + 1];
    struct lca_bench_sys sys;
    volatile sig_atomic_t stop;
    struct lca_api_facade *facade;
};

/* Sends env (freed); *result (caller frees) the reply's result map on an "ok" reply. */
static int call(struct bc *b, struct lca_val *env, struct lca_val **result, struct lca_err *err)
{
    return lca_bench_call(b->facade, env, REPLY_TIMEOUT_MS, result, err);
}

static struct lca_val *envelope(const struct bc *b, const char *type, struct lca_val *payload)
{
    return lca_bench_envelope(b->db.token, type, payload);
}

static int setup(struct bc *b, struct lca_err *err)
{
    struct lca_val *p;
    unsigned char r[8];
    int i;

    if (RAND_bytes(r, sizeof(r)) != 1) {
        return lca_err_set(err, LCA_ERR_FATAL, "rand", "no randomness");
    }
    for (i = 0; i < 8; i++) {
        snprintf(b->tag + 2 * i, 3, "%02x", r[i]);
    }
    snprintf(b->group, sizeof(b->group), "lca-bench-crl-%s", b->tag);
    snprintf(b->cluster, sizeof(b->cluster), "benchcrl%d", (int)getpid());
    if (lca_kafka_ensure_topics(b->bootstrap, err) != LCA_OK ||
        lca_bench_db_create(&b->db, b->pg_uri, b->tag, err) != LCA_OK ||
        lca_bench_db_seed_offsets(&b->db, b->bootstrap, b->group, err) != LCA_OK) {
        return LCA_FAIL;
    }
    snprintf(b->crl_dir, sizeof(b->crl_dir), "%s/crls", b->db.dir);
    if (mkdir(b->crl_dir, 0700) != 0) {
        return lca_err_set(err, LCA_ERR_FATAL, "mkdir", "cannot create %s", b->crl_dir);
    }
    b->sys = (struct lca_bench_sys){0};
    lca_bench_sys_init(&b->sys, b->bootstrap, &b->db, b->cluster, b->group, &b->stop);
    b->sys.po.crl_dir = b->crl_dir;
    b->sys.po.poll_ms = 5;
    if (lca_bench_sys_start(&b->sys, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (lca_api_facade_new(b->bootstrap, &b->facade, err) != LCA_OK) {
        return LCA_FAIL;
    }
    p = lca_val_new_map();
    lca_val_map_set(p, "Config", lca_val_new_map());
    lca_val_map_set_bool((struct lca_val *)lca_val_map_get(p, "Config"), "enable_delta", 1);
    if (call(b, envelope(b, "config.update", p), NULL, err) != LCA_OK) {
        return LCA_FAIL;
    }
    p = lca_val_new_map();
    lca_val_map_set_str(p, "name", "bench");
    lca_val_map_set_bool(p, "allow_any_name", 1);
    lca_val_map_set_str(p, "key_type", "ec");
    lca_val_map_set_int(p, "key_bits", 256);
    lca_val_map_set_str(p, "ttl", "24h");
    return call(b, envelope(b, "role.write", p), NULL, err);
}

static int issue_one(struct bc *b, char serial[64], struct lca_err *err)
{
    struct lca_val *p = lca_val_new_map(), *res = NULL;
    uint8_t priv[32], pub[32];
    char hex[65];
    int i, rc;

    if (p == NULL || RAND_priv_bytes(priv, 32) != 1 ||
        lca_seal_x25519_pub(priv, pub, err) != LCA_OK) {
        lca_val_free(p);
        return LCA_FAIL;
    }
    for (i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", pub[i]);
    }
    lca_val_map_set_str(p, "role", "bench");
    lca_val_map_set_str(p, "common_name", "svc.bench.internal");
    lca_val_map_set_str(p, "recipient_public_key", hex);
    rc = call(b, envelope(b, "issue", p), &res, err);
    if (rc == LCA_OK) {
        snprintf(serial, 64, "%s", lca_val_map_get_str(res, "serial_number") != NULL
                                       ? lca_val_map_get_str(res, "serial_number")
                                       : "");
        snprintf(b->issuer, sizeof(b->issuer), "%s",
                 lca_val_map_get_str(res, "issuer_id") != NULL
                     ? lca_val_map_get_str(res, "issuer_id")
                     : "");
    }
    lca_val_free(res);
    return rc;
}

/* 1 when the file's CRL lists the serial (bytes as the state parses them). */
static int file_lists(const char *path, const uint8_t *ser, size_t len)
{
    FILE *f = fopen(path, "rb");
    X509_CRL *crl;
    STACK_OF(X509_REVOKED) *rv;
    int i, found = 0;

    if (f == NULL) {
        return 0;
    }
    crl = d2i_X509_CRL_fp(f, NULL);
    fclose(f);
    while (len > 1 && ser[0] == 0) {
        ser++;
        len--;
    }
    rv = crl != NULL ? X509_CRL_get_REVOKED(crl) : NULL;
    for (i = 0; rv != NULL && i < sk_X509_REVOKED_num(rv) && !found; i++) {
        const ASN1_INTEGER *s = X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(rv, i));
        found = (size_t)ASN1_STRING_length(s) == len &&
                memcmp(ASN1_STRING_get0_data(s), ser, len) == 0;
    }
    X509_CRL_free(crl);
    return found;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double p99(double *v, size_t n)
{
    size_t k = (size_t)((double)n * 0.99);

    qsort(v, n, sizeof(*v), dbl_cmp);
    return v[k < n ? k : n - 1];
}

static int revoke_visible(struct bc *b, int count, struct lca_err *err)
{
    char (*serials)[64] = calloc((size_t)count, 64), path[300];
    double *vis = calloc((size_t)count, sizeof(double)), *rep = calloc((size_t)count, sizeof(double));
    int i, rc = LCA_FAIL;

    if (serials == NULL || vis == NULL || rep == NULL) {
        lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
        goto out;
    }
    for (i = 0; i < count; i++) {
        if (issue_one(b, serials[i], err) != LCA_OK) {
            goto out;
        }
    }
    snprintf(path, sizeof(path), "%s/%s.delta.crl", b->crl_dir, b->issuer);
    for (i = 0; i < count; i++) {
        struct lca_val *p = lca_val_new_map();
        uint8_t ser[20];
        size_t sl = 0;
        double t0 = mono(), t1;
        if (lca_state_serial_parse(serials[i], ser, &sl) != LCA_OK) {
            lca_err_set(err, LCA_ERR_FATAL, "serial", "bad serial in a reply");
            lca_val_free(p);
            goto out;
        }
        lca_val_map_set_str(p, "serial_number", serials[i]);
        lca_val_map_set_str(p, "reason", "superseded");
        if (call(b, envelope(b, "revoke", p), NULL, err) != LCA_OK) {
            goto out;
        }
        rep[i] = mono() - t0;
        while (!file_lists(path, ser, sl)) {
            struct timespec ts = {0, 1000000};
            if (mono() - t0 > VISIBLE_TIMEOUT_S || b->sys.failed) {
                lca_err_set(err, LCA_ERR_FATAL, "invisible",
                            "revocation %d not in %s after %.0f s", i, path, VISIBLE_TIMEOUT_S);
                goto out;
            }
            nanosleep(&ts, NULL);
        }
        t1 = mono();
        vis[i] = t1 - t0;
    }
    {
        double v = p99(vis, (size_t)count), c = p99(rep, (size_t)count);
        line("crl.revoke_to_visible_p99", v, "s", c, v > 0 ? c / v : 0);
        fprintf(stderr, "bench crl: %d revocations; visible in the delta CRL file: median %.4f s, "
                        "p99 %.4f s; reply p99 %.4f s\n",
                count, vis[count / 2], v, c);
    }
    rc = LCA_OK;
out:
    free(serials);
    free(vis);
    free(rep);
    return rc;
}

static int bench_visible(const char *pg, const char *bs, int count)
{
    struct bc *b = calloc(1, sizeof(*b));
    struct lca_err err;
    int rc = 1;

    lca_err_clear(&err);
    if (b == NULL) {
        return 1;
    }
    b->pg_uri = pg;
    b->bootstrap = bs;
    if (setup(b, &err) != LCA_OK || revoke_visible(b, count, &err) != LCA_OK) {
        fprintf(stderr, "bench crl: %s\n", err.msg);
    } else {
        rc = 0;
    }
    lca_api_facade_free(b->facade);
    b->stop = 1;
    lca_bench_sys_join(&b->sys);
    lca_bench_db_drop(&b->db);
    free(b);
    return rc;
}

int lca_bench_crl_run(int argc, char **argv)
{
    struct lca_opt opts[] = {
        {"--pg-uri", "LCA_TEST_PG_URI", 0, "PostgreSQL superuser URI (a database is created)", NULL},
        {"--bootstrap", "LCA_TEST_KAFKA_BOOTSTRAP", 0, "Kafka bootstrap servers", NULL},
        {"--entries", NULL, 0, "entries of the built CRL (default 1000000)", "1000000"},
        {"--revocations", NULL, 0, "revocations timed to visibility (default 100)", "100"},
        {"--build-only", NULL, 1, "only crl.build_1m (no PostgreSQL or Kafka)", NULL},
        {NULL, NULL, 0, NULL, NULL},
    };
    long long n, r;
    int rc = lca_opts_parse(argc, argv, opts, "ledgerca bench crl [options]");

    if (rc != 0) {
        return rc == 1 ? 0 : 2;
    }
    n = atoll(opts[2].value);
    r = atoll(opts[3].value);
    if (n < 1 || n > 20000000 || r < 1 || r > 100000) {
        fprintf(stderr, "ledgerca bench crl: --entries 1..20000000, --revocations 1..100000\n");
        return 2;
    }
    setenv("LEDGERCA_LOG_LEVEL", "warn", 0);
    lca_log_init("bench");
    if (build_big((size_t)n) != 0) {
        return 1;
    }
    if (opts[4].value != NULL) {
        return 0;
    }
    if (opts[0].value == NULL || opts[1].value == NULL) {
        fprintf(stderr, "ledgerca bench crl: crl.revoke_to_visible_p99 needs --pg-uri and "
                        "--bootstrap (or LCA_TEST_PG_URI / LCA_TEST_KAFKA_BOOTSTRAP)\n");
        return 2;
    }
    return bench_visible(opts[0].value, opts[1].value, (int)r);
}
