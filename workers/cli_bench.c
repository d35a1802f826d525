/*
 * `ledgerca bench NAME` — benchmarks that print one JSON line per measurement:
 *   {"bench": NAME, "value": X, "unit": U, "ceiling": C, "ratio": R}
 * They never assert timings (CTest label `bench`); regressions are read from the ratios.
 *
 * bench engine:
 *   engine.sign_csr_p256   parse + verify a P-256 CSR (lca_csr_parse), then issue a leaf
 *                          from it (lca_cert_sign_der); certs per CPU second on one thread
 *                          (~2 s of CPU, at most 3.5 s of wall time), over
 *                          1,000 distinct pre-generated requests (no caching effects).
 *   engine.issue_spki_p256 issue a leaf for a supplied SubjectPublicKeyInfo; certs/s.
 *   ceiling: the same process's rate of the raw crypto the operation cannot avoid, with keys
 *   already loaded and contexts reused (the cheapest way OpenSSL 3.0 offers): one P-256
 *   sign + one P-256 verify over SHA-256 of 64 bytes for sign_csr, one sign for issue_spki.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "bench_agg.h"
#include "bench_audit.h"
#include "bench_crl.h"
#include "bench_e2e.h"
#include "bench_http.h"
#include "cert.h"
#include "cli.h"
#include "csr.h"

#define BENCH_REQUESTS 1000
#define BENCH_CPU_SECONDS 2.0 /* per measured operation */
#define BENCH_WALL_SECONDS 3.5 /* cap when the machine is busy */
#define CEILING_CPU_SECONDS 0.5
#define CEILING_WALL_SECONDS 1.0

struct request {
    uint8_t *der; /* the CSR, DER */
    size_t der_len;
    uint8_t *spki; /* its SubjectPublicKeyInfo, DER */
    size_t spki_len;
};

struct fixture {
    EVP_PKEY *ca_key;
    X509 *ca;
    struct lca_cert_signer *signer;
    struct request req[BENCH_REQUESTS];
};

/* Rates are computed over this thread's CPU time, so that other processes sharing the
 * cores do not distort value or ceiling; wall time only bounds how long a loop runs. */
static double clock_s(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct timer {
    double cpu0;
    double wall0;
};

static void timer_start(struct timer *t)
{
    t->cpu0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
    t->wall0 = clock_s(CLOCK_MONOTONIC);
}

/* CPU seconds elapsed; *done set once cpu_limit or wall_limit is reached. The clocks are
 * system calls (~1 µs): loops call this every 16th iteration only. */
static double timer_cpu(const struct timer *t, double cpu_limit, double wall_limit, int *done)
{
    double cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - t->cpu0;

    *done = cpu >= cpu_limit || clock_s(CLOCK_MONOTONIC) - t->wall0 >= wall_limit;
    return cpu;
}

#define CHECK_EVERY 16

static void print_result(const char *name, double value, double ceiling)
{
    printf("{\"bench\": \"%s\", \"value\": %.1f, \"unit\": \"certs/s\", \"ceiling\": %.1f, "
           "\"ratio\": %.3f}\n",
           name, value, ceiling, ceiling > 0 ? value / ceiling : 0.0);
    fflush(stdout);
}

/* ------------------------------------------------------------------ fixtures */

/* A Consul-style leaf request: CN + DNS SAN + SPIFFE URI, signed with SHA-256. */
static int make_request(struct request *r, size_t i)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509_REQ *req = X509_REQ_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION *san;
    char cn[64], sans[160];
    unsigned char *der = NULL, *spki = NULL;
    int n = -1, m = -1;

    snprintf(cn, sizeof(cn), "svc%zu.service.consul", i);
    snprintf(sans, sizeof(sans), "DNS:%s,URI:spiffe://td.consul/ns/default/dc/dc1/svc/svc%zu", cn,
             i);
    san = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, sans);
    if (k != NULL && req != NULL && exts != NULL && san != NULL &&
        sk_X509_EXTENSION_push(exts, san) > 0 &&
        X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
                                   (const unsigned char *)cn, -1, -1, 0) &&
        X509_REQ_set_pubkey(req, k) && X509_REQ_add_extensions(req, exts) &&
        X509_REQ_sign(req, k, EVP_sha256()) > 0) {
        san = NULL;
        n = i2d_X509_REQ(req, &der);
        m = i2d_PUBKEY(k, &spki);
    }
    X509_EXTENSION_free(san);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    EVP_PKEY_free(k);
    r->der = der;
    r->der_len = n > 0 ? (size_t)n : 0;
    r->spki = spki;
    r->spki_len = m > 0 ? (size_t)m : 0;
    return n > 0 && m > 0;
}

static void fixture_free(struct fixture *f)
{
    size_t i;

    for (i = 0; i < BENCH_REQUESTS; i++) {
        OPENSSL_free(f->req[i].der);
        OPENSSL_free(f->req[i].spki);
    }
    lca_cert_signer_free(f->signer);
    X509_free(f->ca);
    EVP_PKEY_free(f->ca_key);
    free(f);
}

static struct fixture *fixture_new(void)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct lca_cert_req r;
    struct lca_err err;
    uint8_t serial[16] = {1};
    size_t i;

    if (f == NULL || (f->ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL) {
        goto fail;
    }
    memset(&r, 0, sizeof(r));
    r.common_name = "ledgerca bench root";
    r.serial = serial;
    r.serial_len = sizeof(serial);
    r.not_before = (int64_t)time(NULL);
    r.not_after = r.not_before + 86400;
    r.path_len = -1;
    if (lca_cert_self_sign(f->ca_key, &r, &f->ca, &err) != LCA_OK ||
        lca_cert_signer_new(f->ca, f->ca_key, &f->signer, &err) != LCA_OK) {
        fprintf(stderr, "bench: CA setup: %s\n", err.msg);
        goto fail;
    }
    for (i = 0; i < BENCH_REQUESTS; i++) {
        if (!make_request(&f->req[i], i)) {
            goto fail;
        }
    }
    return f;
fail:
    if (f != NULL) {
        fixture_free(f);
    }
    return NULL;
}

/* ------------------------------------------------------------------ ceiling */

/* CPU seconds per raw P-256 sign and verify of SHA-256(64 bytes), contexts initialised once. */
static int raw_p256(EVP_PKEY *key, double *t_sign, double *t_verify)
{
    uint8_t msg[64] = {0}, dgst[32], sig[80];
    EVP_PKEY_CTX *sc = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    EVP_PKEY_CTX *vc = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
    size_t siglen = 0, n;
    struct timer t;
    int ok = sc != NULL && vc != NULL && md != NULL && EVP_PKEY_sign_init(sc) > 0 &&
             EVP_PKEY_verify_init(vc) > 0, done = 0;
    double cpu = 0;

    for (n = 0, timer_start(&t); ok && !done; n++) {
        msg[0] = (uint8_t)n;
        siglen = sizeof(sig);
        ok = EVP_Digest(msg, sizeof(msg), dgst, NULL, md, NULL) &&
             EVP_PKEY_sign(sc, sig, &siglen, dgst, 32) > 0;
        if (n % CHECK_EVERY == CHECK_EVERY - 1) {
            cpu = timer_cpu(&t, CEILING_CPU_SECONDS, CEILING_WALL_SECONDS, &done);
        }
    }
    *t_sign = cpu / (double)n;
    for (n = 0, done = 0, timer_start(&t); ok && !done; n++) {
        ok = EVP_Digest(msg, sizeof(msg), dgst, NULL, md, NULL) &&
             EVP_PKEY_verify(vc, sig, siglen, dgst, 32) == 1;
        if (n % CHECK_EVERY == CHECK_EVERY - 1) {
            cpu = timer_cpu(&t, CEILING_CPU_SECONDS, CEILING_WALL_SECONDS, &done);
        }
    }
    *t_verify = cpu / (double)n;
    EVP_PKEY_CTX_free(sc);
    EVP_PKEY_CTX_free(vc);
    EVP_MD_free(md);
    return ok;
}

/* ------------------------------------------------------------------ measured operations */

static void leaf_req(struct lca_cert_req *r, uint8_t serial[16], int64_t now)
{
    memset(r, 0, sizeof(*r));
    r->serial = serial;
    r->serial_len = 16;
    r->not_before = now - 60;
    r->not_after = now + 72 * 3600;
    r->path_len = -1;
}

/* One `sign` of request i: parse + verify the CSR, issue a leaf with its names. */
static int sign_csr_once(struct fixture *f, size_t i, int64_t now)
{
    struct lca_cert_req r;
    struct lca_csr *c = NULL;
    struct lca_err err;
    uint8_t serial[16], *der = NULL;
    const char *dns[1], *uri[1];
    const uint8_t *spki;
    size_t len, slen;
    int rc;

    if (lca_csr_parse(f->req[i].der, f->req[i].der_len, &c, &err) != LCA_OK ||
        RAND_bytes(serial, sizeof(serial)) != 1) {
        lca_csr_free(c);
        return 0;
    }
    leaf_req(&r, serial, now);
    r.common_name = lca_csr_common_name(c);
    dns[0] = lca_csr_dns_at(c, 0);
    uri[0] = lca_csr_uri_at(c, 0);
    r.dns_names = dns;
    r.n_dns = lca_csr_dns_count(c) > 0 ? 1 : 0;
    r.uris = uri;
    r.n_uri = lca_csr_uri_count(c) > 0 ? 1 : 0;
    spki = lca_csr_spki(c, &slen);
    rc = lca_cert_sign_der(f->signer, &r, spki, slen, &der, &len, &err);
    free(der);
    lca_csr_free(c);
    return rc == LCA_OK;
}

static int issue_spki_once(struct fixture *f, size_t i, int64_t now)
{
    static const char *const uri[1] = {"spiffe://td.consul/ns/default/dc/dc1/svc/web"};
    struct lca_cert_req r;
    struct lca_err err;
    uint8_t serial[16], *der = NULL;
    size_t len;
    int rc;

    if (RAND_bytes(serial, sizeof(serial)) != 1) {
        return 0;
    }
    leaf_req(&r, serial, now);
    r.uris = uri;
    r.n_uri = 1;
    rc = lca_cert_sign_der(f->signer, &r, f->req[i].spki, f->req[i].spki_len, &der, &len, &err);
    free(der);
    return rc == LCA_OK;
}

/* Runs op for BENCH_CPU_SECONDS of CPU; returns operations per CPU second, -1 on failure. */
static double rate(struct fixture *f, int (*op)(struct fixture *, size_t, int64_t))
{
    int64_t now = (int64_t)time(NULL);
    struct timer t;
    double cpu = 0;
    size_t n = 0;
    int done = 0;

    timer_start(&t);
    do {
        if (!op(f, n % BENCH_REQUESTS, now)) {
            return -1;
        }
        n++;
        if (n % CHECK_EVERY == 0) {
            cpu = timer_cpu(&t, BENCH_CPU_SECONDS, BENCH_WALL_SECONDS, &done);
        }
    } while (!done);
    return (double)n / cpu;
}

static int bench_engine(void)
{
    struct fixture *f = fixture_new();
    double ts, tv, csr, spki;
    int rc = 1;

    if (f == NULL) {
        fprintf(stderr, "bench: fixture setup failed\n");
        return 1;
    }
    if (!raw_p256(f->ca_key, &ts, &tv)) {
        fprintf(stderr, "bench: raw P-256 sign/verify failed\n");
    } else if ((csr = rate(f, sign_csr_once)) < 0 || (spki = rate(f, issue_spki_once)) < 0) {
        fprintf(stderr, "bench: an issuance failed\n");
    } else {
        print_result("engine.sign_csr_p256", csr, 1.0 / (ts + tv));
        print_result("engine.issue_spki_p256", spki, 1.0 / ts);
        rc = 0;
    }
    fixture_free(f);
    return rc;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: ledgerca bench NAME\n\n"
                 "benchmarks (JSON lines: bench, value, unit, ceiling, ratio):\n"
                 "  engine   P-256 issuance from CSRs and from SPKIs vs the raw crypto ceiling\n"
                 "  e2e      sign over real Kafka + PostgreSQL: throughput, latency, RSS, bytes/cert\n"
                 "           (ledgerca bench e2e --help)\n"
                 "  http     the HTTP API with wrk: read endpoints, issue/:role vs straight to Kafka\n"
                 "           (ledgerca bench http --help)\n"
                 "  aggregate  the aggregator's fold + unified CRL builds at 5,000 revocations/s\n"
                 "           from 3 clusters vs the same path unpaced (ledgerca bench aggregate --help)\n"
                 "  audit    audit verify (chain, full) and replay over a big synthetic valid log\n"
                 "           (ledgerca bench audit --help)\n"
                 "  crl      a 1,000,000-entry CRL build; revocation -> visible in the CRL file\n"
                 "           (ledgerca bench crl --help)\n");
}

int lca_cli_bench(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "e2e") == 0) {
        return lca_bench_e2e_run(argc - 1, argv + 1);
    }
    if (argc >= 2 && strcmp(argv[1], "aggregate") == 0) {
        return lca_bench_agg_run(argc - 1, argv + 1);
    }
    if (argc >= 2 && strcmp(argv[1], "http") == 0) {
        return lca_bench_http_run(argc - 1, argv + 1);
    }
    if (argc >= 2 && strcmp(argv[1], "audit") == 0) {
        return lca_bench_audit_run(argc - 1, argv + 1);
    }
    if (argc >= 2 && strcmp(argv[1], "crl") == 0) {
        return lca_bench_crl_run(argc - 1, argv + 1);
    }
    if (argc != 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "engine") == 0) {
        return bench_engine();
    }
    fprintf(stderr, "ledgerca bench: unknown benchmark '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
