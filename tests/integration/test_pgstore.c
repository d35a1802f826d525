/*
 * Integration tests of the PostgreSQL event log (workers/pgstore, workers/migrate, sql/),
 * against the real server of LCA_TEST_PG_URI. Each test uses a fresh database.
 *
 * Covered: migrations are idempotent; batches append in order with a correct hash chain
 * (recomputed here); duplicates append nothing and return the recorded reply; UPDATE, DELETE
 * and TRUNCATE are refused (privileges for the app role, triggers even for the owner); a batch
 * failing midway leaves nothing; the sequence-gap race, free-running and with a transaction
 * held open after taking its positions; throughput at batch sizes 1 and 100 (printed).
 */
#include <CUnit/Basic.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "migrate.h"
#include "pgstore.h"
#include "pgtest.h"

/* ---- helpers ------------------------------------------------------------------------------- */

static struct lca_pgtest *fresh_db(void)
{
    struct lca_pgtest *t = lca_pgtest_new();
    struct lca_err err;
    size_t n = 0;

    CU_ASSERT_FATAL(t != NULL);
    lca_err_clear(&err);
    CU_ASSERT_EQUAL_FATAL(lca_migrate_apply(lca_pgtest_uri(t), lca_migrate_builtin, NULL, NULL,
                                            &n, &err), LCA_OK);
    return t;
}

static struct lca_pgstore *open_store(const char *uri)
{
    struct lca_pgstore *s = NULL;
    struct lca_err err;

    lca_err_clear(&err);
    if (lca_pgstore_open(uri, "dc1", &s, &err) != LCA_OK) {
        fprintf(stderr, "open: %s\n", err.msg);
    }
    CU_ASSERT_FATAL(s != NULL);
    return s;
}

static void make_id(uint8_t id[16], uint32_t space, uint32_t n)
{
    memset(id, 0, 16);
    memcpy(id, &space, sizeof(space));
    memcpy(id + 10, &n, sizeof(n));
    id[6] = 0x40; /* version 4 shape */
    id[8] = (uint8_t)(0x80 | (id[8] & 0x3f));
}

static int64_t count(const char *uri, const char *sql)
{
    int64_t v = -1;

    CU_ASSERT_EQUAL(lca_pgtest_int(uri, sql, &v), 0);
    return v;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Adds a command with `nev` events on its own stream "s/<space>/<n>" (versions 1..nev). */
static int add_cmd(struct lca_pgbatch *b, uint32_t space, uint32_t n, int nev, size_t plen)
{
    uint8_t id[16], payload[1024];
    char stream[64], reply[64];
    struct lca_err err;
    int k;

    make_id(id, space, n);
    snprintf(stream, sizeof(stream), "s/%u/%u", space, n);
    snprintf(reply, sizeof(reply), "reply %u/%u", space, n);
    if (lca_pgbatch_add_command(b, id, (const uint8_t *)reply, strlen(reply), NULL, &err) !=
        LCA_OK) {
        return LCA_FAIL;
    }
    for (k = 0; k < nev; k++) {
        memset(payload, 0, sizeof(payload));
        snprintf((char *)payload, sizeof(payload), "event %u/%u/%d", space, n, k);
        if (lca_pgbatch_add_event(b, stream, k + 1, k == 0 ? "CertificateIssued" : "Other",
                                  payload, plen, &err) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    return LCA_OK;
}

/* Reader state that checks order, contiguity and the chain while reading. */
struct chain {
    int64_t last;
    uint8_t hash[32];
    int gaps, bad_hash, bad_prev;
    int64_t first_gap_at;
};

static int chain_cb(void *ctx, const struct lca_pgevent *ev, struct lca_err *err)
{
    struct chain *c = ctx;
    uint8_t buf[32 + 1024], h[32];

    (void)err;
    if (ev->position != c->last + 1) {
        if (c->gaps++ == 0) {
            c->first_gap_at = c->last;
        }
    }
    if (memcmp(ev->prev_hash, c->hash, 32) != 0) {
        c->bad_prev++;
    }
    if (ev->payload_len <= 1024) {
        memcpy(buf, c->hash, 32);
        memcpy(buf + 32, ev->payload, ev->payload_len);
        SHA256(buf, 32 + ev->payload_len, h);
        if (memcmp(h, ev->hash, 32) != 0) {
            c->bad_hash++;
        }
    }
    memcpy(c->hash, ev->hash, 32);
    c->last = ev->position;
    return LCA_OK;
}

/* ---- migrations -------------------------------------------------------------------------------- */

static void test_migrate_twice(void)
{
    struct lca_pgtest *t = lca_pgtest_new();
    struct lca_err err;
    size_t n1 = 99, n2 = 99, total = 0;

    CU_ASSERT_FATAL(t != NULL);
    while (lca_migrate_builtin[total].name != NULL) {
        total++;
    }
    CU_ASSERT(total >= 4);
    CU_ASSERT_EQUAL(lca_migrate_apply(lca_pgtest_uri(t), lca_migrate_builtin, NULL, NULL, &n1,
                                      &err), LCA_OK);
    CU_ASSERT_EQUAL(n1, total);
    CU_ASSERT_EQUAL(lca_migrate_apply(lca_pgtest_uri(t), lca_migrate_builtin, NULL, NULL, &n2,
                                      &err), LCA_OK);
    CU_ASSERT_EQUAL(n2, 0);
    CU_ASSERT_EQUAL(count(lca_pgtest_uri(t), "SELECT count(*) FROM schema_migrations"),
                    (int64_t)total);
    CU_ASSERT_EQUAL(count(lca_pgtest_uri(t), "SELECT position FROM log_head"), 0);
    CU_ASSERT_EQUAL(lca_migrate_version("001_events.sql"), 1);
    CU_ASSERT_EQUAL(lca_migrate_version("events.sql"), -1);
    CU_ASSERT_EQUAL(lca_migrate_version("000_x.sql"), -1);
    lca_pgtest_free(t);
}

static void test_migrate_bad(void)
{
    static const struct lca_migration bad_order[] = {
        {"002_b.sql", "SELECT 1"}, {"001_a.sql", "SELECT 1"}, {NULL, NULL}};
    static const struct lca_migration broken[] = {
        {"001_ok.sql", "CREATE TABLE t1 (x int)"},
        {"002_broken.sql", "CREATE TABLE t2 (x int); SELECT * FROM nowhere"},
        {NULL, NULL}};
    struct lca_pgtest *t = lca_pgtest_new();
    struct lca_err err;
    size_t n = 0;

    CU_ASSERT_FATAL(t != NULL);
    lca_err_clear(&err);
    CU_ASSERT_EQUAL(lca_migrate_apply(lca_pgtest_uri(t), bad_order, NULL, NULL, &n, &err),
                    LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    CU_ASSERT_EQUAL(lca_migrate_apply(lca_pgtest_uri(t), broken, NULL, NULL, &n, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_FATAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "002_broken.sql"));
    /* 001 committed, 002 rolled back entirely (t2 absent, not recorded). */
    CU_ASSERT_EQUAL(count(lca_pgtest_uri(t), "SELECT count(*) FROM schema_migrations"), 1);
    CU_ASSERT_EQUAL(count(lca_pgtest_uri(t),
                          "SELECT count(*) FROM pg_tables WHERE tablename = 't2'"), 0);
    lca_pgtest_free(t);
}

/* ---- append and read --------------------------------------------------------------------------- */

static void test_append_read_chain(void)
{
    struct lca_pgtest *t = fresh_db();
    struct lca_pgstore *s = open_store(lca_pgtest_uri(t));
    struct lca_pgbatch *b = lca_pgbatch_new();
    struct chain c;
    struct lca_err err;
    int64_t first, last, head, expect = 0;
    uint8_t head_hash[32];
    size_t got = 0, i;
    uint32_t bn, n;

    CU_ASSERT_FATAL(b != NULL);
    for (bn = 0; bn < 3; bn++) {
        lca_pgbatch_reset(b);
        for (n = 0; n < 5; n++) {
            CU_ASSERT_EQUAL_FATAL(add_cmd(b, 1, bn * 10 + n, (int)(n % 3), 200), LCA_OK);
        }
        CU_ASSERT_EQUAL_FATAL(lca_pgbatch_add_offset(b, "signers", "cmds", 0, bn + 1, &err),
                              LCA_OK);
        CU_ASSERT_EQUAL_FATAL(lca_pgstore_commit_batch(s, b, &err), LCA_OK);
        for (i = 0; i < 5; i++) {
            CU_ASSERT_EQUAL(lca_pgbatch_result(b, i, &first, &last, NULL, NULL), LCA_PGBATCH_NEW);
            if (i % 3 != 0) {
                CU_ASSERT_EQUAL(first, expect + 1);
                CU_ASSERT_EQUAL(last, expect + (int64_t)(i % 3));
                expect = last;
            } else {
                CU_ASSERT_EQUAL(first, 0);
            }
        }
    }
    memset(&c, 0, sizeof(c));
    CU_ASSERT_EQUAL(lca_pgstore_read(s, 0, 0, chain_cb, &c, &got, &err), LCA_OK);
    CU_ASSERT_EQUAL((int64_t)got, expect);
    CU_ASSERT_EQUAL(c.last, expect);
    CU_ASSERT_EQUAL(c.gaps + c.bad_hash + c.bad_prev, 0);
    CU_ASSERT_EQUAL(lca_pgstore_head(s, &head, head_hash, &err), LCA_OK);
    CU_ASSERT_EQUAL(head, expect);
    CU_ASSERT_EQUAL(memcmp(head_hash, c.hash, 32), 0);
    /* Partial read from the middle, with a limit. */
    memset(&c, 0, sizeof(c));
    c.last = 3;
    CU_ASSERT_EQUAL(lca_pgstore_read(s, 3, 2, chain_cb, &c, &got, &err), LCA_OK);
    CU_ASSERT_EQUAL(got, 2);
    CU_ASSERT_EQUAL(c.last, 5);
    CU_ASSERT_EQUAL(c.gaps, 0);
    CU_ASSERT_EQUAL(count(lca_pgtest_uri(t), "SELECT count(*) FROM commands"), 15);
    CU_ASSERT_EQUAL(count(lca_pgtest_uri(t),
                          "SELECT next_offset FROM consumer_offsets WHERE group_id = 'signers'"),
                    3);
    CU_ASSERT_EQUAL(count(lca_pgtest_uri(t), "SELECT count(DISTINCT cluster) FROM events"), 1);
    lca_pgbatch_free(b);
    lca_pgstore_free(s);
    lca_pgtest_free(t);
}

static int stop_cb(void *ctx, const struct lca_pgevent *ev, struct lca_err *err)
{
    (void)ctx;
    (void)ev;
    return lca_err_set(err, LCA_ERR_BAD_INPUT, "stop", "callback stopped");
}

static void test_read_callback_error(void)
{
    struct lca_pgtest *t = fresh_db();
    struct lca_pgstore *s = open_store(lca_pgtest_uri(t));
    struct lca_pgbatch *b = lca_pgbatch_new();
    struct lca_err err;
    size_t got = 77;

    CU_ASSERT_EQUAL_FATAL(add_cmd(b, 2, 1, 2, 10), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_pgstore_commit_batch(s, b, &err), LCA_OK);
    CU_ASSERT_EQUAL(lca_pgstore_read(s, 0, 0, stop_cb, NULL, &got, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "stop");
    CU_ASSERT_EQUAL(got, 77);
    lca_pgbatch_free(b);
    lca_pgstore_free(s);
    lca_pgtest_free(t);
}

/* ---- exactly once ------------------------------------------------------------------------------- */

static void test_duplicates(void)
{
    struct lca_pgtest *t = fresh_db();
    struct lca_pgstore *s = open_store(lca_pgtest_uri(t));
    struct lca_pgbatch *b = lca_pgbatch_new();
    struct lca_err err;
    uint8_t ida[16], idb[16], *rep = NULL;
    const uint8_t *r;
    size_t rl = 0, ia, ib, ia2;
    int64_t first, last;

    make_id(ida, 3, 1);
    make_id(idb, 3, 2);
    CU_ASSERT_EQUAL_FATAL(lca_pgbatch_add_command(b, ida, (const uint8_t *)"ok-A", 4, NULL, &err),
                          LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_pgbatch_add_event(b, "a", 1, "Issued", (const uint8_t *)"A1", 2,
                                                &err), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_pgbatch_add_outbox(b, "ledgerca.replies", NULL, 0,
                                                 (const uint8_t *)"ok-A", 4, NULL, 0, &err),
                          LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_pgstore_commit_batch(s, b, &err), LCA_OK);

    /* Redelivery of A (with a different would-be reply) next to a new command B, and A again
     * within the same batch. */
    lca_pgbatch_reset(b);
    CU_ASSERT_EQUAL_FATAL(lca_pgbatch_add_command(b, ida, (const uint8_t *)"second", 6, &ia,
                                                  &err), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_pgbatch_add_event(b, "a", 2, "Issued", (const uint8_t *)"A2", 2,
                                                &err), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_pgbatch_add_outbox(b, "ledgerca.replies", NULL, 0,
                                                 (const uint8_t *)"second", 6, NULL, 0, &err),
                          LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_pgbatch_add_command(b, idb, (const uint8_t *)"ok-B", 4, &ib, &err),
                          LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_pgbatch_add_event(b, "b", 1, "Issued", (const uint8_t *)"B1", 2,
                                                &err), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_pgbatch_add_command(b, idb, (const uint8_t *)"again", 5, &ia2,
                                                  &err), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_pgbatch_add_event(b, "b", 2, "Issued", (const uint8_t *)"B2", 2,
                                                &err), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_pgstore_commit_batch(s, b, &err), LCA_OK);

    CU_ASSERT_EQUAL(lca_pgbatch_result(b, ia, &first, &last, &r, &rl), LCA_PGBATCH_DUPLICATE);
    CU_ASSERT_EQUAL(first, 1);
    CU_ASSERT_EQUAL(last, 1);
    CU_ASSERT(rl == 4 && memcmp(r, "ok-A", 4) == 0);
    CU_ASSERT_EQUAL(lca_pgbatch_result(b, ib, &first, &last, &r, &rl), LCA_PGBATCH_NEW);
    CU_ASSERT_EQUAL(first, 2);
    CU_ASSERT(rl == 4 && memcmp(r, "ok-B", 4) == 0);
    CU_ASSERT_EQUAL(lca_pgbatch_result(b, ia2, &first, &last, &r, &rl), LCA_PGBATCH_DUPLICATE);
    CU_ASSERT_EQUAL(first, 2);
    CU_ASSERT(rl == 4 && memcmp(r, "ok-B", 4) == 0);
    CU_ASSERT_EQUAL(lca_pgbatch_result(b, 99, NULL, NULL, NULL, NULL), LCA_PGBATCH_PENDING);

    CU_ASSERT_EQUAL(count(lca_pgtest_uri(t), "SELECT count(*) FROM events"), 2);
    CU_ASSERT_EQUAL(count(lca_pgtest_uri(t), "SELECT count(*) FROM outbox"), 1);
    CU_ASSERT_EQUAL(lca_pgstore_get_reply(s, ida, &rep, &rl, &err), LCA_OK);
    CU_ASSERT(rep != NULL && rl == 4 && memcmp(rep, "ok-A", 4) == 0);
    free(rep);
    rep = NULL;
    make_id(ida, 3, 999);
    CU_ASSERT_EQUAL(lca_pgstore_get_reply(s, ida, &rep, &rl, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "not_found");
    CU_ASSERT_PTR_NULL(rep);
    lca_pgbatch_free(b);
    lca_pgstore_free(s);
    lca_pgtest_free(t);
}

/* ---- failures leave nothing ----------------------------------------------------------------------- */

static int fail_hook(void *ctx, enum lca_pgstore_stage stage, struct lca_err *err)
{
    const enum lca_pgstore_stage *when = ctx;

    if (stage == *when) {
        return lca_err_set(err, LCA_ERR_RETRIABLE, "injected", "injected failure");
    }
    return LCA_OK;
}

static void assert_empty_after_fail(const char *uri, struct lca_pgstore *s)
{
    int64_t head = -1;
    uint8_t h[32];
    struct lca_err err;

    CU_ASSERT_EQUAL(lca_pgstore_head(s, &head, h, &err), LCA_OK);
    CU_ASSERT_EQUAL(head, 1);
    CU_ASSERT_EQUAL(count(uri, "SELECT count(*) FROM events"), 1);
    CU_ASSERT_EQUAL(count(uri, "SELECT count(*) FROM commands"), 1);
    CU_ASSERT_EQUAL(count(uri, "SELECT count(*) FROM outbox"), 0);
    CU_ASSERT_EQUAL(count(uri, "SELECT count(*) FROM consumer_offsets"), 0);
}

static void test_failed_batch_leaves_nothing(void)
{
    struct lca_pgtest *t = fresh_db();
    const char *uri = lca_pgtest_uri(t);
    struct lca_pgstore *s = open_store(uri);
    struct lca_pgbatch *b = lca_pgbatch_new();
    enum lca_pgstore_stage when = LCA_PGSTORE_STAGE_BEFORE_COMMIT;
    struct lca_err err;
    int64_t first;
    uint8_t id[16];

    CU_ASSERT_EQUAL_FATAL(add_cmd(b, 4, 0, 1, 16), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_pgstore_commit_batch(s, b, &err), LCA_OK);
    /* A batch of 3 commands with outbox and offsets, failing after everything was written. */
    lca_pgbatch_reset(b);
    CU_ASSERT_EQUAL_FATAL(add_cmd(b, 4, 1, 2, 16), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_pgbatch_add_outbox(b, "r", (const uint8_t *)"k", 1,
                                                 (const uint8_t *)"p", 1, NULL, 0, &err), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(add_cmd(b, 4, 2, 2, 16), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_pgbatch_add_offset(b, "g", "t", 0, 10, &err), LCA_OK);
    lca_pgstore_set_hook(s, fail_hook, &when);
    CU_ASSERT_EQUAL(lca_pgstore_commit_batch(s, b, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "injected");
    CU_ASSERT_EQUAL(lca_pgbatch_result(b, 0, NULL, NULL, NULL, NULL), LCA_PGBATCH_PENDING);
    assert_empty_after_fail(uri, s);
    when = LCA_PGSTORE_STAGE_LOCKED;
    CU_ASSERT_EQUAL(lca_pgstore_commit_batch(s, b, &err), LCA_FAIL);
    assert_empty_after_fail(uri, s);

    /* A stream version conflict in the last command fails the whole batch as retriable. */
    lca_pgstore_set_hook(s, NULL, NULL);
    make_id(id, 4, 3);
    CU_ASSERT_EQUAL_FATAL(lca_pgbatch_add_command(b, id, (const uint8_t *)"x", 1, NULL, &err),
                          LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_pgbatch_add_event(b, "s/4/0", 1, "T", (const uint8_t *)"x", 1,
                                                &err), LCA_OK);
    CU_ASSERT_EQUAL(lca_pgstore_commit_batch(s, b, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_RETRIABLE);
    CU_ASSERT_STRING_EQUAL(err.code, "stream_conflict");
    assert_empty_after_fail(uri, s);

    /* Without the conflicting command the same batch now commits at positions 2.. (no hole). */
    lca_pgbatch_reset(b);
    CU_ASSERT_EQUAL_FATAL(add_cmd(b, 4, 1, 2, 16), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_pgstore_commit_batch(s, b, &err), LCA_OK);
    CU_ASSERT_EQUAL(lca_pgbatch_result(b, 0, &first, NULL, NULL, NULL), LCA_PGBATCH_NEW);
    CU_ASSERT_EQUAL(first, 2);

    /* Argument checks. */
    lca_pgbatch_reset(b);
    CU_ASSERT_EQUAL(lca_pgbatch_add_event(b, "s", 1, "T", (const uint8_t *)"x", 1, &err),
                    LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    CU_ASSERT_EQUAL_FATAL(lca_pgbatch_add_command(b, id, (const uint8_t *)"x", 1, NULL, &err),
                          LCA_OK);
    CU_ASSERT_EQUAL(lca_pgbatch_add_event(b, "s", 0, "T", (const uint8_t *)"x", 1, &err),
                    LCA_FAIL);
    CU_ASSERT_EQUAL(lca_pgbatch_add_event(b, "", 1, "T", (const uint8_t *)"x", 1, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(lca_pgbatch_add_offset(b, "g", "t", -1, 0, &err), LCA_FAIL);
    lca_pgbatch_free(b);
    lca_pgstore_free(s);
    lca_pgtest_free(t);
}

static void test_errors_classified(void)
{
    struct lca_pgtest *t = lca_pgtest_new();
    struct lca_pgstore *s = NULL;
    struct lca_err err;

    CU_ASSERT_FATAL(t != NULL);
    /* No schema yet: opening fails as fatal, and the message says what to do. */
    CU_ASSERT_EQUAL(lca_pgstore_open(lca_pgtest_uri(t), "dc1", &s, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_FATAL);
    CU_ASSERT_STRING_EQUAL(err.code, "schema_missing");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "ledgerca migrate"));
    CU_ASSERT_PTR_NULL(s);
    /* Unreachable server: retriable. */
    CU_ASSERT_EQUAL(lca_pgstore_open("host=/nonexistent-dir port=1", "dc1", &s, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_RETRIABLE);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_EQUAL(lca_pgstore_open(lca_pgtest_uri(t), "", &s, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    lca_pgtest_free(t);
}

/* ---- append-only ---------------------------------------------------------------------------------- */

static void expect_refused(const char *uri, const char *sql, const char *state)
{
    char st[6], msg[512];

    CU_ASSERT_EQUAL(lca_pgtest_exec(uri, sql, st, msg, sizeof(msg)), -1);
    if (strcmp(st, state) != 0) {
        fprintf(stderr, "\n%s: expected SQLSTATE %s, got %s: %s", sql, state, st, msg);
    }
    CU_ASSERT_STRING_EQUAL(st, state);
}

static void test_append_only(void)
{
    struct lca_pgtest *t = fresh_db();
    const char *owner = lca_pgtest_uri(t), *app = lca_pgtest_role_uri(t, "ledgerca_app");
    struct lca_pgstore *s;
    struct lca_pgbatch *b = lca_pgbatch_new();
    struct lca_err err;
    static const char *const mutations[] = {
        "UPDATE events SET payload = 'x' WHERE position = 1",
        "DELETE FROM events WHERE position = 2",
        "TRUNCATE events",
        "TRUNCATE events CASCADE",
        "SET session_replication_role = replica; DELETE FROM events",
        "UPDATE commands SET reply = 'forged'",
        "DELETE FROM commands",
        "UPDATE ca_keys SET wrapped = 'x'",
        "DELETE FROM ca_keys",
        "TRUNCATE ca_keys",
        "DELETE FROM log_head",
        "UPDATE log_head SET position = 0",
    };
    size_t i;

    CU_ASSERT_FATAL(app != NULL);
    /* The application role can append (through the store) ... */
    s = open_store(app);
    CU_ASSERT_EQUAL_FATAL(add_cmd(b, 5, 1, 3, 32), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_pgstore_commit_batch(s, b, &err), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_pgstore_key_put(s, "root-1", (const uint8_t *)"wrapped", 7, &err),
                          LCA_OK);
    /* ... but is denied any change by privileges (42501) ... */
    for (i = 0; i < sizeof(mutations) / sizeof(mutations[0]) - 1; i++) {
        expect_refused(app, mutations[i], "42501");
    }
    /* ... and the owner (here a superuser) is refused by the triggers (LC001). */
    for (i = 0; i < sizeof(mutations) / sizeof(mutations[0]); i++) {
        expect_refused(owner, mutations[i], "LC001");
    }
    CU_ASSERT_EQUAL(count(owner, "SELECT count(*) FROM events"), 3);
    CU_ASSERT_EQUAL(count(owner, "SELECT position FROM log_head"), 3);
    CU_ASSERT_EQUAL(count(owner, "SELECT count(*) FROM ca_keys"), 1);
    lca_pgbatch_free(b);
    lca_pgstore_free(s);
    lca_pgtest_free(t);
}

/* ---- keys and offsets -------------------------------------------------------------------------------- */

static void offset_cb(void *ctx, int32_t partition, int64_t next)
{
    int64_t *o = ctx;

    if (partition >= 0 && partition < 4) {
        o[partition] = next;
    }
}

static void test_keys_and_offsets(void)
{
    struct lca_pgtest *t = fresh_db();
    struct lca_pgstore *s = open_store(lca_pgtest_uri(t));
    struct lca_pgbatch *b = lca_pgbatch_new();
    struct lca_err err;
    uint8_t *w = NULL;
    size_t wl = 0;
    int64_t offs[4] = {-1, -1, -1, -1};

    CU_ASSERT_EQUAL(lca_pgstore_key_put(s, "k1", (const uint8_t *)"AAAA", 4, &err), LCA_OK);
    CU_ASSERT_EQUAL(lca_pgstore_key_put(s, "k1", (const uint8_t *)"AAAA", 4, &err), LCA_OK);
    CU_ASSERT_EQUAL(lca_pgstore_key_put(s, "k1", (const uint8_t *)"BBBB", 4, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "key_exists");
    CU_ASSERT_EQUAL(lca_pgstore_key_get(s, "k1", &w, &wl, &err), LCA_OK);
    CU_ASSERT(w != NULL && wl == 4 && memcmp(w, "AAAA", 4) == 0);
    free(w);
    w = NULL;
    CU_ASSERT_EQUAL(lca_pgstore_key_get(s, "k2", &w, &wl, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "not_found");

    /* Offsets alone (no command) are a valid batch; they never move backwards. */
    CU_ASSERT_EQUAL(lca_pgbatch_add_offset(b, "g", "t", 0, 5, &err), LCA_OK);
    CU_ASSERT_EQUAL(lca_pgbatch_add_offset(b, "g", "t", 0, 7, &err), LCA_OK);
    CU_ASSERT_EQUAL(lca_pgbatch_add_offset(b, "g", "t", 2, 3, &err), LCA_OK);
    CU_ASSERT_EQUAL(lca_pgbatch_add_offset(b, "other", "t", 1, 9, &err), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_pgstore_commit_batch(s, b, &err), LCA_OK);
    lca_pgbatch_reset(b);
    CU_ASSERT_EQUAL(lca_pgbatch_add_offset(b, "g", "t", 0, 6, &err), LCA_OK);
    CU_ASSERT_EQUAL(lca_pgbatch_add_offset(b, "g", "t", 2, 4, &err), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_pgstore_commit_batch(s, b, &err), LCA_OK);
    CU_ASSERT_EQUAL(lca_pgstore_offsets(s, "g", "t", offset_cb, offs, &err), LCA_OK);
    CU_ASSERT_EQUAL(offs[0], 7);
    CU_ASSERT_EQUAL(offs[1], -1);
    CU_ASSERT_EQUAL(offs[2], 4);
    CU_ASSERT_EQUAL(count(lca_pgtest_uri(t), "SELECT count(*) FROM events"), 0);
    lca_pgbatch_free(b);
    lca_pgstore_free(s);
    lca_pgtest_free(t);
}

/* ---- the gap race -------------------------------------------------------------------------------- */

#define WRITERS 4
#define PER_WRITER 500

struct writer {
    const char *uri;
    uint32_t space;
    int n, failures;
    struct lca_err err;
    lca_pgstore_hook *hook;
    void *hook_ctx;
    double done_at;
    int64_t first;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct lca_pgstore *s = NULL;
    struct lca_pgbatch *b = lca_pgbatch_new();
    int i;

    if (b == NULL || lca_pgstore_open(w->uri, "dc1", &s, &w->err) != LCA_OK) {
        w->failures++;
        lca_pgbatch_free(b);
        return NULL;
    }
    lca_pgstore_set_hook(s, w->hook, w->hook_ctx);
    for (i = 0; i < w->n; i++) {
        lca_pgbatch_reset(b);
        if (add_cmd(b, w->space, (uint32_t)i, 1, 64) != LCA_OK ||
            lca_pgstore_commit_batch(s, b, &w->err) != LCA_OK) {
            w->failures++;
            break;
        }
        if (i == 0) {
            (void)lca_pgbatch_result(b, 0, &w->first, NULL, NULL, NULL);
        }
    }
    w->done_at = now_s();
    lca_pgbatch_free(b);
    lca_pgstore_free(s);
    return NULL;
}

struct reader {
    const char *uri;
    int64_t until;
    atomic_int stop;
    struct chain c;
    int polls, failures;
    struct lca_err err;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    struct lca_pgstore *s = NULL;

    if (lca_pgstore_open(r->uri, "dc1", &s, &r->err) != LCA_OK) {
        r->failures++;
        return NULL;
    }
    while (r->c.last < r->until && !atomic_load(&r->stop)) {
        if (lca_pgstore_read(s, r->c.last, 0, chain_cb, &r->c, NULL, &r->err) != LCA_OK) {
            r->failures++;
            break;
        }
        r->polls++;
    }
    lca_pgstore_free(s);
    return NULL;
}

static void test_gap_race(void)
{
    struct lca_pgtest *t = fresh_db();
    struct writer w[WRITERS];
    struct reader r;
    pthread_t wt[WRITERS], rt;
    double t0;
    int i;

    memset(&r, 0, sizeof(r));
    r.uri = lca_pgtest_uri(t);
    r.until = WRITERS * PER_WRITER;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&rt, NULL, reader_main, &r), 0);
    t0 = now_s();
    for (i = 0; i < WRITERS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].uri = lca_pgtest_uri(t);
        w[i].space = 100 + (uint32_t)i;
        w[i].n = PER_WRITER;
        CU_ASSERT_EQUAL_FATAL(pthread_create(&wt[i], NULL, writer_main, &w[i]), 0);
    }
    for (i = 0; i < WRITERS; i++) {
        pthread_join(wt[i], NULL);
        CU_ASSERT_EQUAL(w[i].failures, 0);
        if (w[i].failures != 0) {
            fprintf(stderr, "\nwriter %d: %s\n", i, w[i].err.msg);
            atomic_store(&r.stop, 1);
        }
    }
    pthread_join(rt, NULL);
    fprintf(stderr, "\n  gap race: %d appends by %d writers in %.2fs, reader polled %d times\n",
            WRITERS * PER_WRITER, WRITERS, now_s() - t0, r.polls);
    CU_ASSERT_EQUAL(r.failures, 0);
    CU_ASSERT_EQUAL(r.c.last, WRITERS * PER_WRITER);
    CU_ASSERT_EQUAL(r.c.gaps, 0);
    CU_ASSERT_EQUAL(r.c.bad_prev + r.c.bad_hash, 0);
    CU_ASSERT(r.polls > 1); /* it really tailed concurrently */
    CU_ASSERT_EQUAL(count(lca_pgtest_uri(t), "SELECT count(DISTINCT command_id) FROM events"),
                    WRITERS * PER_WRITER);
    lca_pgtest_free(t);
}

/* Writer A takes its position, signals, and keeps its transaction open for HOLD_S seconds. */
#define HOLD_S 1.0

struct hold {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int taken;
};

static int hold_hook(void *ctx, enum lca_pgstore_stage stage, struct lca_err *err)
{
    struct hold *h = ctx;
    struct timespec ts = {1, 0};

    (void)err;
    if (stage != LCA_PGSTORE_STAGE_BEFORE_COMMIT) {
        return LCA_OK;
    }
    pthread_mutex_lock(&h->mu);
    h->taken = 1;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    nanosleep(&ts, NULL); /* the transaction stays open: positions taken, not committed */
    return LCA_OK;
}

static void test_gap_race_held_transaction(void)
{
    struct lca_pgtest *t = fresh_db();
    struct hold h = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    struct writer a, bw;
    struct reader r;
    pthread_t at, bt, rt;
    int64_t seen_during_hold;

    memset(&a, 0, sizeof(a));
    memset(&bw, 0, sizeof(bw));
    memset(&r, 0, sizeof(r));
    r.uri = a.uri = bw.uri = lca_pgtest_uri(t);
    r.until = 2;
    a.space = 200;
    a.n = 1;
    a.hook = hold_hook;
    a.hook_ctx = &h;
    bw.space = 201;
    bw.n = 1;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&rt, NULL, reader_main, &r), 0);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&at, NULL, writer_main, &a), 0);
    pthread_mutex_lock(&h.mu);
    while (!h.taken) {
        pthread_cond_wait(&h.cv, &h.mu);
    }
    pthread_mutex_unlock(&h.mu);
    /* A holds position 1 uncommitted; B now tries to append. */
    CU_ASSERT_EQUAL_FATAL(pthread_create(&bt, NULL, writer_main, &bw), 0);
    {
        struct timespec ts = {0, 500000000};
        nanosleep(&ts, NULL);
    }
    seen_during_hold = count(lca_pgtest_uri(t), "SELECT count(*) FROM events");
    pthread_join(at, NULL);
    pthread_join(bt, NULL);
    pthread_join(rt, NULL);
    CU_ASSERT_EQUAL(a.failures + bw.failures + r.failures, 0);
    CU_ASSERT_EQUAL(seen_during_hold, 0); /* B could not commit while A held its position */
    CU_ASSERT_EQUAL(a.first, 1);
    CU_ASSERT_EQUAL(bw.first, 2);
    CU_ASSERT(bw.done_at >= a.done_at); /* B committed after A */
    CU_ASSERT_EQUAL(r.c.last, 2);
    CU_ASSERT_EQUAL(r.c.gaps, 0); /* the reader never saw 2 before 1 */
    CU_ASSERT(r.polls > 10);      /* and it was polling during the hold */
    lca_pgtest_free(t);
}

/* ---- throughput (printed, never asserted) ---------------------------------------------------------- */

static void measure(const char *uri, int batch, int total, uint32_t space)
{
    struct lca_pgstore *s = open_store(uri);
    struct lca_pgbatch *b = lca_pgbatch_new();
    struct lca_err err;
    double t0 = now_s(), dt;
    int i, k, ok = 1;

    for (i = 0; ok && i < total; i += batch) {
        lca_pgbatch_reset(b);
        for (k = 0; ok && k < batch; k++) {
            ok = add_cmd(b, space, (uint32_t)(i + k), 1, 700) == LCA_OK;
        }
        ok = ok && lca_pgstore_commit_batch(s, b, &err) == LCA_OK;
    }
    dt = now_s() - t0;
    CU_ASSERT(ok);
    fprintf(stderr, "\n  pgstore.append batch=%d: %d events in %.3fs = %.0f events/s", batch,
            total, dt, (double)total / dt);
    lca_pgbatch_free(b);
    lca_pgstore_free(s);
}

static void test_throughput(void)
{
    struct lca_pgtest *t = fresh_db();

    measure(lca_pgtest_uri(t), 1, 2000, 300);
    measure(lca_pgtest_uri(t), 100, 20000, 301);
    fprintf(stderr, "\n");
    CU_ASSERT_EQUAL(count(lca_pgtest_uri(t), "SELECT position FROM log_head"), 22000);
    lca_pgtest_free(t);
}

int main(void)
{
    CU_pSuite suite;
    unsigned int failed;

    if (!lca_pgtest_available()) {
        return 1;
    }
    if (CU_initialize_registry() != CUE_SUCCESS) {
        return 1;
    }
    suite = CU_add_suite("pgstore", NULL, NULL);
    CU_add_test(suite, "migrate twice is idempotent", test_migrate_twice);
    CU_add_test(suite, "migrate: bad order, failing migration", test_migrate_bad);
    CU_add_test(suite, "append batches, read back, hash chain", test_append_read_chain);
    CU_add_test(suite, "read stops on callback error", test_read_callback_error);
    CU_add_test(suite, "duplicate command ids", test_duplicates);
    CU_add_test(suite, "failed batch leaves nothing", test_failed_batch_leaves_nothing);
    CU_add_test(suite, "errors classified", test_errors_classified);
    CU_add_test(suite, "append-only enforced by the database", test_append_only);
    CU_add_test(suite, "keys and offsets", test_keys_and_offsets);
    CU_add_test(suite, "gap race: 4 writers, tailing reader", test_gap_race);
    CU_add_test(suite, "gap race: held transaction", test_gap_race_held_transaction);
    CU_add_test(suite, "throughput batch 1 and 100", test_throughput);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed == 0 ? 0 : 1;
}
