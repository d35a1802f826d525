/* bench_agg — the aggregator's fold + unified CRL path at an offered rate (bench_agg.h). */
#include "bench_agg.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "crl.h"
#include "event.h"
#include "fedlog.h"
#include "state.h"

#define CLUSTERS 3
#define ISSUER_ID "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"

struct feed {
    uint8_t **msg; /* relay message bytes, interleaved round-robin over the clusters */
    size_t *len;
    size_t n, n_rev;
};

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
    static const char *const names[CLUSTERS] = {"dc1", "dc2", "dc3"};
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
    m.cluster = names[c];
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
    m.type = revoked ? "CertificateRevoked" : "CertificateIssued";
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

/* n_rev revocations: per revocation an issue and a revoke event of one cluster. */
static int feed_build(struct feed *f, size_t n_rev)
{
    uint8_t prev[CLUSTERS][32];
    int64_t pos[CLUSTERS] = {0, 0, 0};
    size_t i;

    memset(prev, 0, sizeof(prev));
    f->msg = calloc(2 * n_rev, sizeof(*f->msg));
    f->len = calloc(2 * n_rev, sizeof(*f->len));
    f->n = 0;
    f->n_rev = n_rev;
    for (i = 0; f->msg != NULL && f->len != NULL && i < n_rev; i++) {
        int c = (int)(i % CLUSTERS);
        char serial[64];
        snprintf(serial, sizeof(serial), "7f:%02x:%02x:%02x:%02x:aa:bb:cc:dd", (unsigned)c,
                 (unsigned)(i >> 16) & 255u, (unsigned)(i >> 8) & 255u, (unsigned)i & 255u);
        if (!message(f, c, ++pos[c], prev[c], cert_event(0, serial)) ||
            !message(f, c, ++pos[c], prev[c], cert_event(1, serial))) {
            return 0;
        }
    }
    return f->msg != NULL && f->n == 2 * n_rev;
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
    c = d.msg.cluster[2] - '1';
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
    struct feed f = {NULL, NULL, 0, 0};
    struct sink s, c;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    size_t lag = 0, clag = 0, done, i, n_rev;
    int rc = 1;

    if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
        printf("usage: ledgerca bench aggregate [--rate REVOCATIONS_PER_S] [--seconds S] "
               "[--crl-interval MS]\n");
        return 0;
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
        !feed_build(&f, n_rev)) {
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
    free(s.e);
    free(s.serial);
    free(c.e);
    free(c.serial);
    EVP_PKEY_free(key);
    X509_free(cert);
    return rc;
}
