/*
 * Integration tests of the aggregator's batched writes (workers/aggrows, workers/pgexec) against
 * the real server of LCA_TEST_PG_URI, each on a fresh migrated database.
 *
 * Covered, for one batch written with one statement per table: a revocation whose certificate
 * is an earlier row of the same batch gets its not_after; a revocation of a serial never seen
 * gets 0; a revocation twice in one batch is one row and counts once; an issuer and a serial
 * seen twice keep their first row; one batch spanning several clusters moves each cluster's
 * cursor; a later batch re-revoking a stored serial counts nothing; a cluster CRL with a lower
 * number never replaces a higher one; stored offsets never move back; a failing statement
 * rolls back the whole batch (earlier statements of the pipeline included) and names itself;
 * batches of 1,500 certificates and their revocations (the in-batch serial table grows).
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggrows.h"
#include "migrate.h"
#include "pgexec.h"
#include "pgstore.h"
#include "pgtest.h"

#define ISSUER "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
#define S1 "01:00:00:00:00:00:00:01"
#define S2 "01:00:00:00:00:00:00:02"
#define S3 "01:00:00:00:00:00:00:03"
#define S9 "01:00:00:00:00:00:00:09"

struct fix {
    struct lca_pgtest *t;
    struct lca_pgstore *store;
    struct lca_aggrows *rows;
};

static void fix_open(struct fix *f)
{
    struct lca_err err;
    size_t n = 0;

    memset(f, 0, sizeof(*f));
    lca_err_clear(&err);
    f->t = lca_pgtest_new();
    CU_ASSERT_FATAL(f->t != NULL);
    CU_ASSERT_EQUAL_FATAL(lca_migrate_apply(lca_pgtest_uri(f->t), lca_migrate_builtin, NULL, NULL,
                                            &n, &err), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_pgstore_open(lca_pgtest_uri(f->t), "aggregator", &f->store, &err),
                          LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_aggrows_new(&f->rows, &err), LCA_OK);
}

static void fix_close(struct fix *f)
{
    lca_aggrows_free(f->rows);
    lca_pgstore_free(f->store);
    lca_pgtest_free(f->t);
}

static int64_t val(const struct fix *f, const char *sql)
{
    int64_t v = -1;

    CU_ASSERT_EQUAL(lca_pgtest_int(lca_pgtest_uri(f->t), sql, &v), 0);
    return v;
}

static void issuer(struct fix *f, const char *cluster)
{
    struct lca_fedlog_change c;

    memset(&c, 0, sizeof(c));
    c.kind = LCA_FEDLOG_ISSUER;
    c.issuer.id = ISSUER;
    c.issuer.key_id = cluster; /* tells which row won */
    c.issuer.der = (const uint8_t *)"\x30\x00";
    c.issuer.der_len = 2;
    lca_aggrows_add_change(f->rows, cluster, &c);
}

static void cert(struct fix *f, const char *cluster, const char *serial, int64_t not_after)
{
    struct lca_fedlog_change c;

    memset(&c, 0, sizeof(c));
    c.kind = LCA_FEDLOG_ISSUED;
    snprintf(c.view.cert.serial, sizeof(c.view.cert.serial), "%s", serial);
    c.view.cert.issuer_id = ISSUER;
    c.view.cert.not_after = not_after;
    c.view.position = not_after;
    lca_aggrows_add_change(f->rows, cluster, &c);
}

static void revoke(struct fix *f, const char *cluster, const char *serial, int64_t at)
{
    struct lca_fedlog_change c;

    memset(&c, 0, sizeof(c));
    c.kind = LCA_FEDLOG_REVOKED;
    snprintf(c.view.rev.serial, sizeof(c.view.rev.serial), "%s", serial);
    c.view.rev.revoked_at = at;
    c.revoked_issuer_id = ISSUER;
    c.reason = 1;
    lca_aggrows_add_change(f->rows, cluster, &c);
}

static void cursor(struct fix *f, const char *cluster, int64_t pos)
{
    struct lca_fedlog_cursor cur;

    memset(&cur, 0, sizeof(cur));
    cur.position = pos;
    cur.hash[0] = (uint8_t)pos;
    lca_aggrows_add_cursor(f->rows, cluster, &cur);
}

static int exec(struct fix *f, const char *sql)
{
    struct lca_err err;

    lca_err_clear(&err);
    return lca_pgexec_run(f->store, sql, sql, 0, NULL, NULL, NULL, NULL, &err);
}

/* BEGIN, the rows, COMMIT; *err gets a failure (then ROLLBACK). */
static int write_batch(struct fix *f, struct lca_err *err)
{
    int rc;

    lca_err_clear(err);
    CU_ASSERT_EQUAL_FATAL(exec(f, "BEGIN"), LCA_OK);
    rc = lca_aggrows_write(f->rows, f->store, err);
    CU_ASSERT_EQUAL(exec(f, rc == LCA_OK ? "COMMIT" : "ROLLBACK"), LCA_OK);
    lca_aggrows_reset(f->rows);
    return rc;
}

static void first_batch(struct fix *f)
{
    struct lca_aggrows_counts n;
    struct lca_err err;

    issuer(f, "dc1");
    cert(f, "dc1", S1, 1000);
    revoke(f, "dc1", S1, 10);   /* its certificate is the row before */
    revoke(f, "dc1", S1, 10);   /* the same revocation again, inside the batch */
    issuer(f, "dc2");           /* the issuer again, from another cluster: the first wins */
    cert(f, "dc2", S2, 2000);
    revoke(f, "dc2", S2, 20);
    cert(f, "dc1", S3, 3000);
    cert(f, "dc2", S3, 3999);   /* a serial twice: the first wins */
    revoke(f, "dc3", S9, 30);   /* a certificate never seen */
    cursor(f, "dc1", 4);
    cursor(f, "dc2", 5);
    cursor(f, "dc3", 1);
    lca_aggrows_add_crl(f->rows, "dc1", ISSUER, 7, (const uint8_t *)"\x30\x01\x07", 3, 1, 2);
    lca_aggrows_add_offset(f->rows, "g", "ledgerca.events.dc1", 0, 40);
    lca_aggrows_add_offset(f->rows, "g", "ledgerca.events.dc2", 0, 50);
    lca_aggrows_counts(f->rows, &n);
    CU_ASSERT_EQUAL(n.issuers, 2);
    CU_ASSERT_EQUAL(n.certs, 4);
    CU_ASSERT_EQUAL(n.revocations, 4);
    CU_ASSERT_EQUAL(n.cursors, 3);
    CU_ASSERT_EQUAL(write_batch(f, &err), LCA_OK);
}

static void test_one_batch(void)
{
    struct fix f;

    fix_open(&f);
    first_batch(&f);
    CU_ASSERT_EQUAL(val(&f, "SELECT count(*) FROM agg_revocations"), 3);
    CU_ASSERT_EQUAL(val(&f, "SELECT not_after FROM agg_revocations WHERE serial = '" S1 "'"),
                    1000);
    CU_ASSERT_EQUAL(val(&f, "SELECT not_after FROM agg_revocations WHERE serial = '" S2 "'"),
                    2000);
    CU_ASSERT_EQUAL(val(&f, "SELECT not_after FROM agg_revocations WHERE serial = '" S9 "'"), 0);
    CU_ASSERT_EQUAL(val(&f, "SELECT rev_count FROM agg_issuers"), 3);
    CU_ASSERT_EQUAL(val(&f, "SELECT count(*) FROM agg_issuers WHERE cluster = 'dc1' AND "
                            "key_id = 'dc1'"), 1);
    CU_ASSERT_EQUAL(val(&f, "SELECT count(*) FROM agg_certs"), 3);
    CU_ASSERT_EQUAL(val(&f, "SELECT not_after FROM agg_certs WHERE serial = '" S3 "' AND "
                            "cluster = 'dc1'"), 3000);
    CU_ASSERT_EQUAL(val(&f, "SELECT sum(position) FROM agg_clusters"), 10);
    CU_ASSERT_EQUAL(val(&f, "SELECT get_byte(hash, 0) FROM agg_clusters WHERE cluster = 'dc2'"),
                    5);
    CU_ASSERT_EQUAL(val(&f, "SELECT sum(next_offset) FROM consumer_offsets WHERE group_id = 'g'"),
                    90);
    CU_ASSERT_EQUAL(val(&f, "SELECT crl_number FROM agg_cluster_crls"), 7);
    fix_close(&f);
}

static void test_later_batch(void)
{
    struct fix f;
    struct lca_err err;

    fix_open(&f);
    first_batch(&f);
    revoke(&f, "dc1", S1, 11); /* stored by the first batch */
    revoke(&f, "dc1", S3, 12);
    cursor(&f, "dc1", 6);
    lca_aggrows_add_crl(f.rows, "dc1", ISSUER, 6, (const uint8_t *)"\x30\x01\x06", 3, 1, 2);
    lca_aggrows_add_offset(f.rows, "g", "ledgerca.events.dc1", 0, 30); /* behind: ignored */
    lca_aggrows_add_offset(f.rows, "g", "ledgerca.events.dc2", 0, 60);
    CU_ASSERT_EQUAL(write_batch(&f, &err), LCA_OK);
    CU_ASSERT_EQUAL(val(&f, "SELECT count(*) FROM agg_revocations"), 4);
    CU_ASSERT_EQUAL(val(&f, "SELECT revoked_at FROM agg_revocations WHERE serial = '" S1 "'"),
                    10);
    CU_ASSERT_EQUAL(val(&f, "SELECT not_after FROM agg_revocations WHERE serial = '" S3 "'"),
                    3000);
    CU_ASSERT_EQUAL(val(&f, "SELECT rev_count FROM agg_issuers"), 4);
    CU_ASSERT_EQUAL(val(&f, "SELECT crl_number FROM agg_cluster_crls"), 7);
    CU_ASSERT_EQUAL(val(&f, "SELECT position FROM agg_clusters WHERE cluster = 'dc1'"), 6);
    CU_ASSERT_EQUAL(val(&f, "SELECT next_offset FROM consumer_offsets WHERE topic = "
                            "'ledgerca.events.dc1'"), 40);
    CU_ASSERT_EQUAL(val(&f, "SELECT next_offset FROM consumer_offsets WHERE topic = "
                            "'ledgerca.events.dc2'"), 60);
    /* an empty batch sends nothing and succeeds */
    CU_ASSERT_EQUAL(write_batch(&f, &err), LCA_OK);
    fix_close(&f);
}

static void test_failure_rolls_back(void)
{
    struct fix f;
    struct lca_err err;

    fix_open(&f);
    first_batch(&f);
    cert(&f, "dc1", "02:00:00:00:00:00:00:01", 5000);
    revoke(&f, "dc1", "02:00:00:00:00:00:00:01", 40);
    cursor(&f, "dc1", -1); /* violates agg_clusters' CHECK: the 5th statement fails */
    lca_aggrows_add_offset(f.rows, "g", "ledgerca.events.dc1", 0, 99);
    CU_ASSERT_EQUAL(write_batch(&f, &err), LCA_FAIL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "agg_clusters upsert"));
    CU_ASSERT_EQUAL(val(&f, "SELECT count(*) FROM agg_certs"), 3);
    CU_ASSERT_EQUAL(val(&f, "SELECT count(*) FROM agg_revocations"), 3);
    CU_ASSERT_EQUAL(val(&f, "SELECT rev_count FROM agg_issuers"), 3);
    CU_ASSERT_EQUAL(val(&f, "SELECT max(next_offset) FROM consumer_offsets"), 50);
    /* the connection is usable again: the same rows without the bad cursor commit */
    cert(&f, "dc1", "02:00:00:00:00:00:00:01", 5000);
    cursor(&f, "dc1", 7);
    CU_ASSERT_EQUAL(write_batch(&f, &err), LCA_OK);
    CU_ASSERT_EQUAL(val(&f, "SELECT count(*) FROM agg_certs"), 4);
    fix_close(&f);
}

/* More certificates than the batch's serial table starts with: each revocation still gets its
 * own certificate's not_after, and so does the next batch's. */
static void test_large_batch(void)
{
    struct fix f;
    struct lca_err err;
    char serial[64];
    int i, b;

    fix_open(&f);
    for (b = 0; b < 2; b++) {
        for (i = 0; i < 1500; i++) {
            snprintf(serial, sizeof(serial), "03:%02x:%02x:%02x", b, i >> 8, i & 0xff);
            cert(&f, "dc1", serial, 100000 + b * 10000 + i);
            revoke(&f, "dc1", serial, 1);
        }
        CU_ASSERT_EQUAL(write_batch(&f, &err), LCA_OK);
    }
    CU_ASSERT_EQUAL(val(&f, "SELECT count(*) FROM agg_revocations r JOIN agg_certs c USING "
                            "(serial) WHERE r.not_after = c.not_after"), 3000);
    fix_close(&f);
}

int main(void)
{
    CU_pSuite s;
    unsigned fails;

    if (!lca_pgtest_available()) {
        return 1;
    }
    if (CU_initialize_registry() != CUE_SUCCESS) {
        return 1;
    }
    s = CU_add_suite("aggrows", NULL, NULL);
    CU_add_test(s, "one batch: in-batch dependencies, duplicates, several clusters",
                test_one_batch);
    CU_add_test(s, "a later batch: stored revocations, older CRLs and offsets", test_later_batch);
    CU_add_test(s, "a failing statement rolls back the whole batch", test_failure_rolls_back);
    CU_add_test(s, "large batches: every revocation gets its certificate's not_after",
                test_large_batch);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return fails == 0 ? 0 : 1;
}
