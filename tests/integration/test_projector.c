/*
 * Integration tests of the projector (workers/projector, sql/005) against the real PostgreSQL
 * of LCA_TEST_PG_URI (fails, never skips, when it is unset). Events are produced by decide with
 * the deterministic env and appended with lca_pgstore_commit_batch, as a signer does.
 *
 * Covered: rows after catching up in small batches (roots document equal to the pure
 * projection of the whole log, certificates with their DER, revocation, CRLs and CRL files);
 * incremental runs equal `--rebuild` byte for byte (dump of every rm_* table); a failure
 * injected mid-batch moves neither rows nor cursor; a cursor ahead of the log is fatal; the
 * CLI runs `--once`; the stop flag ends a running projector with LCA_OK.
 */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <postgresql/libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "cert.h"
#include "cli.h"
#include "codec.h"
#include "command.h"
#include "decide.h"
#include "fakeenv.h"
#include "json.h"
#include "migrate.h"
#include "pgstore.h"
#include "pgtest.h"
#include "projector.h"
#include "roots.h"
#include "signer.h"
#include "state.h"

/* ---- a CA appending to a real log ---- */

struct calog {
    struct lca_pgtest *t;
    struct lca_pgstore *store;
    struct lca_fakeenv *fe;
    struct lca_state *st;
    uint32_t n_cmd;
};

static void calog_init(struct calog *c, uint64_t seed)
{
    struct lca_err err;
    size_t n = 0;

    memset(c, 0, sizeof(*c));
    lca_err_clear(&err);
    c->t = lca_pgtest_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(c->t);
    CU_ASSERT_EQUAL_FATAL(lca_migrate_apply(lca_pgtest_uri(c->t), lca_migrate_builtin, NULL, NULL,
                                            &n, &err),
                          LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_pgstore_open(lca_pgtest_uri(c->t), "dc1", &c->store, &err), LCA_OK);
    c->fe = lca_fakeenv_new(seed);
    c->st = lca_state_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(c->fe);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c->st);
}

static void calog_cleanup(struct calog *c)
{
    lca_state_free(c->st);
    lca_fakeenv_free(c->fe);
    lca_pgstore_free(c->store);
    lca_pgtest_free(c->t);
}

static const char *uri(const struct calog *c)
{
    return lca_pgtest_uri(c->t);
}

/* Appends a decision's events in one transaction (streams and versions as a signer does). */
static void append(struct calog *c, const struct lca_decision *d)
{
    struct lca_pgbatch *b = lca_pgbatch_new();
    struct lca_err err;
    uint8_t id[16] = {0}, *bytes = NULL;
    char stream[96];
    int32_t version;
    int64_t first = 0, last = 0;
    size_t i, len = 0;

    lca_err_clear(&err);
    c->n_cmd++;
    memcpy(id, &c->n_cmd, sizeof(c->n_cmd));
    id[6] = 0x40;
    id[8] = 0x80;
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL_FATAL(lca_pgbatch_add_command(b, id, (const uint8_t *)"{}", 2, NULL, &err),
                          LCA_OK);
    for (i = 0; i < d->n_events; i++) {
        CU_ASSERT_EQUAL_FATAL(lca_state_stream(c->st, d->events[i], "cmd", stream, sizeof(stream),
                                               &version),
                              LCA_OK);
        CU_ASSERT_EQUAL_FATAL(lca_event_canonical(d->events[i], &bytes, &len, &err), LCA_OK);
        CU_ASSERT_EQUAL_FATAL(lca_pgbatch_add_event(b, stream, version,
                                                    lca_catalog_evt_name(d->events[i]->type),
                                                    bytes, len, &err),
                              LCA_OK);
        free(bytes);
        CU_ASSERT_EQUAL_FATAL(lca_state_evolve(c->st, 0, d->events[i], &err), LCA_OK);
    }
    if (lca_pgstore_commit_batch(c->store, b, &err) != LCA_OK) {
        fprintf(stderr, "commit: %s\n", err.msg);
        CU_FAIL_FATAL("commit");
    }
    CU_ASSERT_EQUAL(lca_pgbatch_result(b, 0, &first, &last, NULL, NULL), LCA_PGBATCH_NEW);
    lca_state_advance(c->st, last);
    lca_pgbatch_free(b);
}

static struct lca_decision *run(struct calog *c, enum lca_cmd_type type, const char *json)
{
    struct lca_command *cmd = calloc(1, sizeof(*cmd));
    struct lca_decision *d = NULL;
    struct lca_err err;

    lca_err_clear(&err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cmd);
    snprintf(cmd->command_id, sizeof(cmd->command_id), "6f1d7c2e-4c1a-4b5e-9a7b-%012u",
             c->n_cmd + 1);
    cmd->type = type;
    strcpy(cmd->correlation_id, cmd->command_id);
    strcpy(cmd->reply_to, "ledgerca.replies");
    CU_ASSERT_EQUAL_FATAL(lca_json_decode(json, strlen(json), &lca_codec_default_limits,
                                          &cmd->payload, &err),
                          LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_decide(c->st, cmd, lca_fakeenv_env(c->fe), &d, &err), LCA_OK);
    CU_ASSERT_FALSE(d->rejected);
    append(c, d);
    lca_command_free(cmd);
    return d;
}

static void run_ok(struct calog *c, enum lca_cmd_type type, const char *json)
{
    lca_decision_free(run(c, type, json));
}

static void bootstrap(struct calog *c)
{
    struct lca_decision *d = NULL;
    struct lca_err err;

    lca_err_clear(&err);
    CU_ASSERT_EQUAL_FATAL(lca_decide_bootstrap(c->st, NULL, "dc1", lca_fakeenv_env(c->fe), &d,
                                               &err),
                          LCA_OK);
    append(c, d);
    lca_decision_free(d);
}

#define ROLE_WEB                                                                               \
    "{\"name\":\"web\",\"allowed_domains\":[\"example.com\"],\"allow_subdomains\":true,"       \
    "\"key_type\":\"ec\",\"key_bits\":256,\"ttl\":\"24h\",\"max_ttl\":\"72h\"}"

static void issue(struct calog *c, const char *cn, char serial[64])
{
    char json[512];
    struct lca_decision *d;

    snprintf(json, sizeof(json),
             "{\"role\":\"web\",\"common_name\":\"%s\",\"recipient_public_key\":"
             "\"8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a\"}",
             cn);
    d = run(c, LCA_CMD_ISSUE, json);
    snprintf(serial, 64, "%s", lca_val_map_get_str(d->result, "serial_number"));
    lca_decision_free(d);
}

static void revoke_cert(struct calog *c, const char *serial)
{
    char json[256];

    snprintf(json, sizeof(json), "{\"serial_number\":\"%s\",\"reason\":\"key_compromise\"}",
             serial);
    run_ok(c, LCA_CMD_REVOKE, json);
}

/* ---- the projector and the tables ---- */

static int project(struct calog *c, int rebuild, size_t max_batch, const char *crl_dir,
                   lca_projector_hook *hook, void *hook_ctx, struct lca_err *err)
{
    struct lca_projector_opts o;

    memset(&o, 0, sizeof(o));
    o.pg_uri = uri(c);
    o.cluster = "dc1";
    o.crl_dir = crl_dir;
    o.rebuild = rebuild;
    o.once = 1;
    o.max_batch = max_batch;
    o.hook = hook;
    o.hook_ctx = hook_ctx;
    lca_err_clear(err);
    return lca_projector_run(&o, err);
}

static void project_ok(struct calog *c, int rebuild, size_t max_batch, const char *crl_dir)
{
    struct lca_err err;

    if (project(c, rebuild, max_batch, crl_dir, NULL, NULL, &err) != LCA_OK) {
        fprintf(stderr, "projector: %s: %s\n", err.code, err.msg);
        CU_FAIL_FATAL("projector");
    }
}

/* The text of a one-value query (malloc'd), or NULL for SQL NULL. */
static char *query_text(const char *u, const char *sql)
{
    PGconn *conn = PQconnectdb(u);
    PGresult *res = PQexec(conn, sql);
    char *out = NULL;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        fprintf(stderr, "query failed: %s\n", PQerrorMessage(conn));
        CU_FAIL("query");
    } else if (!PQgetisnull(res, 0, 0)) {
        out = strdup(PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    PQfinish(conn);
    return out;
}

/* Every row of every read model, in key order. */
static char *dump(const struct calog *c)
{
    return query_text(
        uri(c),
        "SELECT concat_ws(E'\\n--\\n',"
        " (SELECT string_agg(r::text, E'\\n' ORDER BY id) FROM rm_roots r),"
        " (SELECT string_agg(r::text, E'\\n' ORDER BY issuer_id) FROM rm_issuers r),"
        " (SELECT string_agg(r::text, E'\\n' ORDER BY serial) FROM rm_certs r),"
        " (SELECT string_agg(r::text, E'\\n' ORDER BY issuer_id) FROM rm_crls r),"
        " (SELECT string_agg(r::text, E'\\n') FROM rm_position r))");
}

static int64_t count(const struct calog *c, const char *sql)
{
    int64_t v = -1;

    CU_ASSERT_EQUAL(lca_pgtest_int(uri(c), sql, &v), 0);
    return v;
}

static int64_t head(struct calog *c)
{
    int64_t pos = -1;
    uint8_t hash[LCA_PGSTORE_HASH_LEN];
    struct lca_err err;

    CU_ASSERT_EQUAL(lca_pgstore_head(c->store, &pos, hash, &err), LCA_OK);
    return pos;
}

/* The roots document of the whole log folded from zero, as JSON text. */
static char *roots_from_log(struct calog *c)
{
    struct lca_state *st = NULL;
    struct lca_val *doc = NULL;
    struct lca_err err;
    char *json = NULL;
    size_t len = 0;

    lca_err_clear(&err);
    CU_ASSERT_EQUAL_FATAL(lca_signer_load_state(c->store, &st, &err), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_roots_build(st, &doc, &err), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(lca_json_encode(doc, &json, &len, &err), LCA_OK);
    lca_val_free(doc);
    lca_state_free(st);
    return json;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;

    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];

    while (d != NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    CU_ASSERT_EQUAL(rmdir(dir), 0); /* nothing else (no stray temporary file) was left */
}

/* ---- tests ---- */

static void check_crl_files(struct calog *c, const char *dir)
{
    const struct lca_issuer *def = lca_state_default_issuer(c->st);
    char path[512], sql[256], *hex;
    uint8_t *der;
    size_t len = 0, i;
    char *mine;

    snprintf(path, sizeof(path), "%s/%s.crl", dir, def->id);
    der = read_file(path, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(der);
    snprintf(sql, sizeof(sql), "SELECT encode(der, 'hex') FROM rm_crls WHERE issuer_id = '%s'",
             def->id);
    hex = query_text(uri(c), sql);
    CU_ASSERT_PTR_NOT_NULL_FATAL(hex);
    mine = malloc(2 * len + 1);
    for (i = 0; i < len; i++) {
        sprintf(mine + 2 * i, "%02x", der[i]);
    }
    mine[2 * len] = '\0';
    CU_ASSERT_STRING_EQUAL(mine, hex); /* the file is the latest CRL, byte for byte */
    free(mine);
    free(hex);
    free(der);
    snprintf(path, sizeof(path), "%s/%s.pem", dir, def->id);
    der = read_file(path, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(der);
    der[len] = '\0';
    CU_ASSERT_EQUAL(strncmp((char *)der, "-----BEGIN X509 CRL-----", 24), 0);
    free(der);
}

static void test_project_then_rebuild(void)
{
    struct calog c;
    char s[4][64], sql[256], dir[] = "/tmp/lca-proj-crl-XXXXXX", *a, *b, *doc, *expect;
    int i;

    calog_init(&c, 21);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    bootstrap(&c);
    run_ok(&c, LCA_CMD_ROLE_WRITE, ROLE_WEB);
    for (i = 0; i < 3; i++) {
        char cn[32];
        snprintf(cn, sizeof(cn), "h%d.example.com", i);
        issue(&c, cn, s[i]);
    }
    revoke_cert(&c, s[1]);
    project_ok(&c, 0, 4, dir); /* several batches of 4 */
    CU_ASSERT_EQUAL(count(&c, "SELECT position FROM rm_position"), head(&c));
    CU_ASSERT_EQUAL(count(&c, "SELECT count(*) FROM rm_certs WHERE certificate IS NOT NULL"), 3);
    CU_ASSERT_EQUAL(count(&c, "SELECT count(*) FROM rm_certs WHERE cluster = 'dc1' AND "
                              "kind = 'leaf'"),
                    3);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM rm_certs WHERE serial = '%s' AND reason = 'key_compromise' "
             "AND revoked_at IS NOT NULL",
             s[1]);
    CU_ASSERT_EQUAL(count(&c, sql), 1);
    CU_ASSERT_EQUAL(count(&c, "SELECT count(*) FROM rm_certs WHERE revoked_at IS NOT NULL"), 1);
    CU_ASSERT_EQUAL(count(&c, "SELECT count(*) FROM rm_issuers"), 2);
    CU_ASSERT_EQUAL(count(&c, "SELECT count(*) FROM rm_crls"), 2); /* root's, intermediate's */
    check_crl_files(&c, dir);
    doc = query_text(uri(&c), "SELECT doc::text FROM rm_roots");
    expect = roots_from_log(&c);
    CU_ASSERT_STRING_EQUAL(doc, expect); /* exactly the pure projection of the log */
    free(doc);
    free(expect);
    /* more events, incrementally: rotation, a new leaf, a CRL, tidy after 30 days */
    run_ok(&c, LCA_CMD_ROTATE, "{}");
    issue(&c, "new.example.com", s[3]);
    project_ok(&c, 0, 3, dir);
    CU_ASSERT_EQUAL(count(&c, "SELECT json_array_length(doc->'Roots') FROM rm_roots"), 2);
    CU_ASSERT_EQUAL(count(&c, "SELECT count(*) FROM rm_issuers"), 5);
    run_ok(&c, LCA_CMD_CRL_ROTATE, "{}");
    lca_fakeenv_advance(c.fe, 30 * 86400);
    run_ok(&c, LCA_CMD_TIDY, "{}");
    project_ok(&c, 0, 2, dir);
    CU_ASSERT_EQUAL(count(&c, "SELECT json_array_length(doc->'Roots') FROM rm_roots"), 1);
    CU_ASSERT_EQUAL(count(&c, "SELECT count(*) FROM rm_certs"), 0); /* all expired, tidied */
    CU_ASSERT_EQUAL(count(&c, "SELECT position FROM rm_position"), head(&c));
    doc = query_text(uri(&c), "SELECT doc::text FROM rm_roots");
    expect = roots_from_log(&c);
    CU_ASSERT_STRING_EQUAL(doc, expect);
    free(doc);
    free(expect);
    check_crl_files(&c, dir);
    a = dump(&c);
    /* --rebuild from position 0 in one batch gives the same rows, byte for byte */
    project_ok(&c, 1, 1000, dir);
    b = dump(&c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_STRING_EQUAL(a, b);
    CU_ASSERT(strlen(a) > 1000);
    free(a);
    free(b);
    /* and a rebuild with batches of one event, too */
    a = dump(&c);
    project_ok(&c, 1, 1, NULL);
    b = dump(&c);
    CU_ASSERT_STRING_EQUAL(a, b);
    free(a);
    free(b);
    rm_dir(dir);
    calog_cleanup(&c);
}

struct fail_at {
    int64_t position;
    int calls;
};

static int fail_hook(void *ctx, int64_t position, struct lca_err *err)
{
    struct fail_at *f = ctx;

    f->calls++;
    if (position == f->position) {
        return lca_err_set(err, LCA_ERR_RETRIABLE, "injected", "injected failure at %lld",
                           (long long)position);
    }
    return LCA_OK;
}

static void test_crash_consistency(void)
{
    struct calog c;
    struct fail_at f;
    struct lca_err err;
    char s[3][64], *before, *after;
    int64_t cursor;

    calog_init(&c, 22);
    bootstrap(&c);
    run_ok(&c, LCA_CMD_ROLE_WRITE, ROLE_WEB);
    issue(&c, "a.example.com", s[0]);
    project_ok(&c, 0, 100, NULL);
    cursor = count(&c, "SELECT position FROM rm_position");
    CU_ASSERT_EQUAL(cursor, head(&c));
    before = dump(&c);
    issue(&c, "b.example.com", s[1]);
    issue(&c, "c.example.com", s[2]);
    revoke_cert(&c, s[0]);
    run_ok(&c, LCA_CMD_ROTATE, "{}");
    /* the batch holds every new event; fail after the third one's rows were written */
    f.position = cursor + 3;
    f.calls = 0;
    CU_ASSERT_EQUAL(project(&c, 0, 100, NULL, fail_hook, &f, &err), LCA_FAIL);
    CU_ASSERT_STRING_EQUAL(err.code, "injected");
    CU_ASSERT_EQUAL(f.calls, 3);
    after = dump(&c);
    CU_ASSERT_STRING_EQUAL(before, after); /* neither rows nor cursor moved */
    CU_ASSERT_EQUAL(count(&c, "SELECT position FROM rm_position"), cursor);
    free(after);
    /* with batches of 2, the failure lands in the second batch: the first one stays */
    f.calls = 0;
    CU_ASSERT_EQUAL(project(&c, 0, 2, NULL, fail_hook, &f, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(count(&c, "SELECT position FROM rm_position"), cursor + 2);
    CU_ASSERT_EQUAL(count(&c, "SELECT count(*) FROM rm_certs"), 3); /* b and c, one event each */
    CU_ASSERT_EQUAL(count(&c, "SELECT count(*) FROM rm_certs WHERE revoked_at IS NOT NULL"), 0);
    /* without the fault it catches up, and equals a rebuild */
    project_ok(&c, 0, 100, NULL);
    CU_ASSERT_EQUAL(count(&c, "SELECT position FROM rm_position"), head(&c));
    CU_ASSERT_EQUAL(count(&c, "SELECT count(*) FROM rm_certs"), 3);
    CU_ASSERT_EQUAL(count(&c, "SELECT count(*) FROM rm_certs WHERE revoked_at IS NOT NULL"), 1);
    CU_ASSERT_EQUAL(count(&c, "SELECT json_array_length(doc->'Roots') FROM rm_roots"), 2);
    after = dump(&c);
    project_ok(&c, 1, 100, NULL);
    free(before);
    before = dump(&c);
    CU_ASSERT_STRING_EQUAL(before, after);
    free(before);
    free(after);
    calog_cleanup(&c);
}

static void test_cursor_ahead_and_bad_uri(void)
{
    struct calog c;
    struct lca_err err;
    struct lca_projector_opts o;

    calog_init(&c, 23);
    bootstrap(&c);
    CU_ASSERT_EQUAL(lca_pgtest_exec(uri(&c), "UPDATE rm_position SET position = 999", NULL, NULL,
                                    0),
                    0);
    CU_ASSERT_EQUAL(project(&c, 0, 100, NULL, NULL, NULL, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_FATAL);
    CU_ASSERT_STRING_EQUAL(err.code, "cursor_ahead");
    project_ok(&c, 1, 100, NULL); /* --rebuild repairs it */
    CU_ASSERT_EQUAL(count(&c, "SELECT position FROM rm_position"), head(&c));
    memset(&o, 0, sizeof(o));
    o.once = 1;
    lca_err_clear(&err);
    CU_ASSERT_EQUAL(lca_projector_run(&o, &err), LCA_FAIL); /* no URI */
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    o.pg_uri = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2";
    lca_err_clear(&err);
    CU_ASSERT_EQUAL(lca_projector_run(&o, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_RETRIABLE);
    calog_cleanup(&c);
}

static void test_cli_once(void)
{
    struct calog c;
    char *argv[5], *bad[3];
    char s[64];

    calog_init(&c, 24);
    bootstrap(&c);
    run_ok(&c, LCA_CMD_ROLE_WRITE, ROLE_WEB);
    issue(&c, "cli.example.com", s);
    argv[0] = "projector";
    argv[1] = "--pg-uri";
    argv[2] = (char *)uri(&c);
    argv[3] = "--once";
    argv[4] = NULL;
    CU_ASSERT_EQUAL(lca_cli_projector(4, argv), 0);
    CU_ASSERT_EQUAL(count(&c, "SELECT position FROM rm_position"), head(&c));
    CU_ASSERT_EQUAL(count(&c, "SELECT count(*) FROM rm_certs"), 1);
    bad[0] = "projector";
    bad[1] = "--no-such-flag";
    bad[2] = NULL;
    CU_ASSERT_EQUAL(lca_cli_projector(2, bad), 2);
    calog_cleanup(&c);
}

struct bg {
    struct lca_projector_opts o;
    struct lca_err err;
    int rc;
};

static void *bg_run(void *arg)
{
    struct bg *b = arg;

    b->rc = lca_projector_run(&b->o, &b->err);
    return NULL;
}

static void test_tails_and_stops(void)
{
    struct calog c;
    struct bg b;
    pthread_t th;
    volatile sig_atomic_t stop = 0;
    char s[64];
    int i;

    calog_init(&c, 25);
    bootstrap(&c);
    memset(&b, 0, sizeof(b));
    b.o.pg_uri = uri(&c);
    b.o.poll_ms = 20;
    b.o.stop = &stop;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, bg_run, &b), 0);
    run_ok(&c, LCA_CMD_ROLE_WRITE, ROLE_WEB);
    issue(&c, "tail.example.com", s);
    for (i = 0; i < 200 && count(&c, "SELECT position FROM rm_position") != head(&c); i++) {
        struct timespec ts = {0, 25000000L};
        nanosleep(&ts, NULL);
    }
    CU_ASSERT_EQUAL(count(&c, "SELECT position FROM rm_position"), head(&c));
    CU_ASSERT_EQUAL(count(&c, "SELECT count(*) FROM rm_certs"), 1);
    stop = 1;
    pthread_join(th, NULL);
    CU_ASSERT_EQUAL(b.rc, LCA_OK);
    calog_cleanup(&c);
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
    suite = CU_add_suite("projector", NULL, NULL);
    CU_add_test(suite, "project in batches, then --rebuild is identical",
                test_project_then_rebuild);
    CU_add_test(suite, "a failed batch moves neither rows nor cursor", test_crash_consistency);
    CU_add_test(suite, "cursor ahead of the log; bad options", test_cursor_ahead_and_bad_uri);
    CU_add_test(suite, "ledgerca projector --once", test_cli_once);
    CU_add_test(suite, "tails the log and stops on the flag", test_tails_and_stops);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed == 0 ? 0 : 1;
}
