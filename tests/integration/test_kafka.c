/*
 * Integration tests of workers/kafka (the librdkafka adapter), run twice: against the real
 * Apache Kafka broker the test runner starts (LCA_TEST_KAFKA_BOOTSTRAP; the test FAILS when it
 * is unset) and against librdkafka's mock cluster (lca_kafka_mock_start), which `ledgerca dev`
 * embeds. Every run uses fresh topic and group names, so reruns against one broker are
 * independent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/Basic.h>

#include <sys/wait.h>
#include <unistd.h>

#include "codec.h"
#include "command.h"
#include "json.h"
#include "kafka.h"
#include "kafkatest.h"
#include "val.h"

#define NPART 4
#define NMSG 200
#define CAP 4096

static const char *g_bs;          /* bootstrap of the cluster under test */
static struct lca_kmock *g_mock;  /* set while the mock suite runs */
static char g_mock_bs[256];
static int g_real_missing;

static const char *const fast_group[] = {
    "session.timeout.ms", "6000", "heartbeat.interval.ms", "500", NULL,
};

static struct lca_kmsg g_msgs[CAP];

/* Prints err when a call that should succeed fails, so a failing run says why. */
static int said(int rc, const struct lca_err *err)
{
    if (rc != LCA_OK) {
        fprintf(stderr, "\n    error %s (%s): %s\n", err->code, lca_err_class_name(err->cls),
                err->msg);
    }
    return rc;
}
#define OK(call) said((call), &err)

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void need_cluster(void)
{
    if (g_bs == NULL) {
        CU_FAIL_FATAL("LCA_TEST_KAFKA_BOOTSTRAP is not set: start a broker with "
                      "tests/infra/kafka.sh (tests/run does it)");
    }
}

/* Creates a fresh topic on the cluster under test (the mock has no CreateTopics). */
static void make_topic(char *name, size_t len, const char *prefix, int partitions)
{
    struct lca_err err;
    const char *one[1];

    lca_kafkatest_unique(name, len, prefix);
    one[0] = name;
    if (g_mock != NULL) {
        CU_ASSERT_FATAL(OK(lca_kafka_mock_create_topic(g_mock, name, partitions, &err)) == LCA_OK);
    }
    CU_ASSERT_FATAL(OK(lca_kafka_create_topics(g_bs, one, 1, partitions, 30000, &err)) == LCA_OK);
}

static void produce_n(struct lca_kproducer *p, const char *topic, int n, const char *prefix)
{
    struct lca_err err;
    char key[32], val[64];
    int i;

    for (i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(val, sizeof(val), "%s%d", prefix, i);
        CU_ASSERT_FATAL(OK(lca_kproducer_send(p, topic, key, strlen(key), val, strlen(val), NULL, 0,
                                           &err)) == LCA_OK);
    }
}

/* ---- cases ---- */

static void test_ensure_topics_idempotent(void)
{
    const char *contract[] = {LCA_KAFKA_TOPIC_ISSUE, LCA_KAFKA_TOPIC_REVOKE, LCA_KAFKA_TOPIC_ADMIN,
                              LCA_KAFKA_TOPIC_REPLIES, LCA_KAFKA_TOPIC_DEAD_LETTER};
    struct lca_err err;
    char topic[160];
    const char *one[1] = {topic};
    size_t i;
    int np = 0;

    need_cluster();
    CU_ASSERT_EQUAL_FATAL(OK(lca_kafka_ensure_topics(g_bs, &err)), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(OK(lca_kafka_ensure_topics(g_bs, &err)), LCA_OK);
    for (i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL(OK(lca_kafka_topic_partitions(g_bs, contract[i], 10000, &np, &err)), LCA_OK);
        CU_ASSERT_EQUAL(np, LCA_KAFKA_PARTITIONS);
    }
    make_topic(topic, sizeof(topic), "lca-t-ensure", 3);
    /* again, asking for another partition count: the existing topic is left alone */
    CU_ASSERT_EQUAL(OK(lca_kafka_create_topics(g_bs, one, 1, 5, 30000, &err)), LCA_OK);
    CU_ASSERT_EQUAL(OK(lca_kafka_topic_partitions(g_bs, topic, 10000, &np, &err)), LCA_OK);
    CU_ASSERT_EQUAL(np, 3);
    /* negatives */
    CU_ASSERT_EQUAL(lca_kafka_create_topics(g_bs, one, 1, 0, 30000, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    if (g_mock == NULL) { /* the mock creates any topic a metadata request names */
        lca_kafkatest_unique(topic, sizeof(topic), "lca-t-absent");
        CU_ASSERT_EQUAL(lca_kafka_topic_partitions(g_bs, topic, 10000, &np, &err), LCA_FAIL);
        CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
        const char *bad[] = {"bad topic name!"};

        CU_ASSERT_EQUAL(lca_kafka_create_topics(g_bs, bad, 1, 1, 30000, &err), LCA_FAIL);
        CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    }
}

/* Produces NMSG messages, checks a batch consumer sees them all with their headers. Returns
 * per-partition counts in cnt[]. */
static void produce_and_consume_all(const char *topic, const char *group, int64_t cnt[NPART])
{
    struct lca_kafkatest_store st;
    struct lca_kconsumer_hooks h;
    struct lca_kproducer *p = NULL;
    struct lca_kconsumer *c = NULL;
    struct lca_kheader hdr[1];
    struct lca_err err;
    char key[32], val[64], big[200];
    size_t n = 0, i;
    int k;

    memset(big, 'x', sizeof(big));
    CU_ASSERT_FATAL(OK(lca_kproducer_new(g_bs, NULL, &p, &err)) == LCA_OK);
    for (k = 0; k < NMSG; k++) {
        snprintf(key, sizeof(key), "k%d", k);
        snprintf(val, sizeof(val), "v%d", k);
        hdr[0].name = "content-type";
        hdr[0].value = k % 10 == 7 ? (const void *)big : "application/json";
        hdr[0].len = k % 10 == 7 ? sizeof(big) : strlen("application/json");
        CU_ASSERT_FATAL(OK(lca_kproducer_send(p, topic, key, strlen(key), val, strlen(val), hdr,
                                           k % 2 == 0 || k % 10 == 7 ? 1 : 0, &err)) == LCA_OK);
    }
    CU_ASSERT_EQUAL_FATAL(OK(lca_kproducer_flush(p, 30000, &err)), LCA_OK);
    lca_kproducer_free(p);

    lca_kafkatest_store_init(&st);
    h = lca_kafkatest_hooks(&st, fast_group);
    CU_ASSERT_FATAL(OK(lca_kconsumer_new(g_bs, group, &topic, 1, &h, &c, &err)) == LCA_OK);
    CU_ASSERT_EQUAL_FATAL(OK(lca_kafkatest_collect(c, NMSG, CAP, 40000, g_msgs, &n, &err)), LCA_OK);
    CU_ASSERT_EQUAL(n, NMSG);
    CU_ASSERT_EQUAL(st.assigned_now, NPART);
    memset(cnt, 0, sizeof(int64_t) * NPART);
    for (i = 0; i < n; i++) {
        int idx = atoi((const char *)g_msgs[i].value + 1);

        CU_ASSERT_FATAL(g_msgs[i].partition >= 0 && g_msgs[i].partition < NPART);
        CU_ASSERT_EQUAL(g_msgs[i].offset, cnt[g_msgs[i].partition]); /* in order, no gap */
        cnt[g_msgs[i].partition]++;
        snprintf(key, sizeof(key), "k%d", idx);
        CU_ASSERT(g_msgs[i].key_len == strlen(key) && memcmp(g_msgs[i].key, key, strlen(key)) == 0);
        CU_ASSERT_STRING_EQUAL(g_msgs[i].topic, topic);
        CU_ASSERT(g_msgs[i].timestamp_ms > 0);
        if (idx % 10 == 7) { /* oversized header: present but unusable */
            CU_ASSERT(g_msgs[i].has_content_type && g_msgs[i].content_type[0] == '\0');
        } else if (idx % 2 == 0) {
            CU_ASSERT(g_msgs[i].has_content_type);
            CU_ASSERT_STRING_EQUAL(g_msgs[i].content_type, "application/json");
        } else {
            CU_ASSERT(!g_msgs[i].has_content_type && g_msgs[i].content_type[0] == '\0');
        }
    }
    lca_kconsumer_release(g_msgs, n);
    lca_kconsumer_free(c); /* never committed: the group has no offsets yet */
}

/* A restarted member starts exactly where load_offsets says (PostgreSQL is authoritative, even
 * against a different Kafka commit); a partition with nothing stored or a failing lookup falls
 * back to Kafka's committed offset. */
static void test_seek_to_stored_offsets(void)
{
    struct lca_kafkatest_store st;
    struct lca_kconsumer_hooks h;
    struct lca_kconsumer *c = NULL;
    struct lca_ktp commit[NPART];
    struct lca_err err;
    char topic[160], group[160];
    const char *tp;
    int64_t cnt[NPART], start[NPART], next[NPART], total = 0;
    size_t n = 0, i;
    int p;

    need_cluster();
    make_topic(topic, sizeof(topic), "lca-t-seek", NPART);
    lca_kafkatest_unique(group, sizeof(group), "lca-g-seek");
    tp = topic;
    produce_and_consume_all(topic, group, cnt);
    for (p = 0; p < NPART; p++) {
        CU_ASSERT_FATAL(cnt[p] >= 25);
    }
    /* Kafka's (secondary) record: p0, p1 fully consumed; p2 at 15; p3 at 20. */
    start[0] = 10, start[1] = 12, start[2] = 15, start[3] = 20;
    lca_kafkatest_store_init(&st);
    h = lca_kafkatest_hooks(&st, fast_group);
    CU_ASSERT_FATAL(OK(lca_kconsumer_new(g_bs, group, &tp, 1, &h, &c, &err)) == LCA_OK);
    CU_ASSERT_FATAL(OK(lca_kafkatest_pump(c, 1, &err)) == LCA_OK);
    for (p = 0; p < NPART; p++) {
        commit[p].topic = topic;
        commit[p].partition = p;
        commit[p].offset = p < 2 ? cnt[p] : start[p];
    }
    while (st.assigned_now < NPART) {
        CU_ASSERT_FATAL(OK(lca_kafkatest_pump(c, 200, &err)) == LCA_OK);
    }
    CU_ASSERT_EQUAL(OK(lca_kconsumer_commit(c, commit, NPART, &err)), LCA_OK);
    CU_ASSERT_EQUAL(OK(lca_kconsumer_close(c, &err)), LCA_OK);
    CU_ASSERT(st.revoke_calls >= 1);
    lca_kconsumer_free(c);

    /* Restart with the "PostgreSQL" store: p0 = 10, p1 = 12, p2 lookup fails, p3 nothing. */
    lca_kafkatest_store_init(&st);
    lca_kafkatest_store_put(&st, topic, 0, 10, 0);
    lca_kafkatest_store_put(&st, topic, 1, 12, 0);
    lca_kafkatest_store_put(&st, topic, 2, 0, 1);
    h = lca_kafkatest_hooks(&st, fast_group);
    CU_ASSERT_FATAL(OK(lca_kconsumer_new(g_bs, group, &tp, 1, &h, &c, &err)) == LCA_OK);
    for (p = 0; p < NPART; p++) {
        total += cnt[p] - start[p];
        next[p] = start[p];
    }
    CU_ASSERT_EQUAL_FATAL(OK(lca_kafkatest_collect(c, (size_t)total + 1, CAP, 15000, g_msgs, &n, &err)), LCA_OK);
    CU_ASSERT_EQUAL(n, (size_t)total); /* nothing before the start points, nothing skipped */
    for (i = 0; i < n; i++) {
        p = g_msgs[i].partition;
        CU_ASSERT_EQUAL(g_msgs[i].offset, next[p]);
        next[p] = g_msgs[i].offset + 1;
    }
    for (p = 0; p < NPART; p++) {
        CU_ASSERT_EQUAL(next[p], cnt[p]);
    }
    CU_ASSERT_EQUAL(st.started_at[0], 10);
    CU_ASSERT_EQUAL(st.started_at[1], 12);
    CU_ASSERT_EQUAL(st.started_at[2], LCA_KOFFSET_NONE);
    CU_ASSERT(st.errors >= 1); /* the failed lookup was reported */
    lca_kconsumer_release(g_msgs, n);
    lca_kconsumer_free(c);
}

static int owned_count(const struct lca_kafkatest_store *s)
{
    int p, k = 0;

    for (p = 0; p < NPART; p++) {
        k += s->owned[p];
    }
    return k;
}

/* Two members of one group split the partitions; cooperative-sticky revokes only what moves. */
static void test_rebalance_split(void)
{
    struct lca_kafkatest_store sa, sb;
    struct lca_kconsumer_hooks ha, hb;
    struct lca_kconsumer *a = NULL, *b = NULL;
    struct lca_err err;
    char topic[160], group[160];
    const char *tp = topic;
    int rounds, p;

    need_cluster();
    make_topic(topic, sizeof(topic), "lca-t-rebal", NPART);
    lca_kafkatest_unique(group, sizeof(group), "lca-g-rebal");
    lca_kafkatest_store_init(&sa);
    lca_kafkatest_store_init(&sb);
    ha = lca_kafkatest_hooks(&sa, fast_group);
    hb = lca_kafkatest_hooks(&sb, fast_group);
    CU_ASSERT_FATAL(OK(lca_kconsumer_new(g_bs, group, &tp, 1, &ha, &a, &err)) == LCA_OK);
    for (rounds = 0; rounds < 150 && owned_count(&sa) < NPART; rounds++) {
        CU_ASSERT_FATAL(OK(lca_kafkatest_pump(a, 200, &err)) == LCA_OK);
    }
    CU_ASSERT_EQUAL_FATAL(owned_count(&sa), NPART);
    CU_ASSERT_EQUAL(sa.revoke_calls, 0);

    CU_ASSERT_FATAL(OK(lca_kconsumer_new(g_bs, group, &tp, 1, &hb, &b, &err)) == LCA_OK);
    for (rounds = 0; rounds < 300 && !(owned_count(&sa) == 2 && owned_count(&sb) == 2); rounds++) {
        CU_ASSERT_FATAL(OK(lca_kafkatest_pump(a, 100, &err)) == LCA_OK);
        CU_ASSERT_FATAL(OK(lca_kafkatest_pump(b, 100, &err)) == LCA_OK);
    }
    CU_ASSERT_EQUAL_FATAL(owned_count(&sa), 2);
    CU_ASSERT_EQUAL_FATAL(owned_count(&sb), 2);
    for (p = 0; p < NPART; p++) {
        CU_ASSERT_EQUAL(sa.owned[p] + sb.owned[p], 1); /* disjoint and complete */
    }
    CU_ASSERT_EQUAL(sa.revoke_calls, 1);
    CU_ASSERT_EQUAL(sa.last_revoke_n, 2); /* incremental: A kept its other two partitions */
    CU_ASSERT_EQUAL(sa.lost_calls, 0);

    /* B leaves gracefully: its on_revoke runs, A gets everything back. */
    CU_ASSERT_EQUAL(OK(lca_kconsumer_close(b, &err)), LCA_OK);
    CU_ASSERT_EQUAL(sb.revoke_calls, 1);
    CU_ASSERT_EQUAL(owned_count(&sb), 0);
    for (rounds = 0; rounds < 150 && owned_count(&sa) < NPART; rounds++) {
        CU_ASSERT_FATAL(OK(lca_kafkatest_pump(a, 200, &err)) == LCA_OK);
    }
    CU_ASSERT_EQUAL(owned_count(&sa), NPART);
    lca_kconsumer_free(b);
    lca_kconsumer_free(a);
}

/* A message to a topic that does not exist fails its delivery (auto-creation is off). The mock
 * cluster of librdkafka 2.0 ignores allow.auto.create.topics (its Metadata API predates the
 * flag) and creates the topic: asserted too, so a change of that behaviour is noticed. */
static void test_unknown_topic_delivery_error(void)
{
    const char *conf[] = {"message.timeout.ms", "15000", NULL};
    struct lca_kproducer *p = NULL;
    struct lca_err err;
    char topic[160];
    int np = 0;

    need_cluster();
    lca_kafkatest_unique(topic, sizeof(topic), "lca-t-missing");
    CU_ASSERT_FATAL(OK(lca_kproducer_new(g_bs, conf, &p, &err)) == LCA_OK);
    CU_ASSERT_FATAL(OK(lca_kproducer_send(p, topic, "k", 1, "v", 1, NULL, 0, &err)) == LCA_OK);
    if (g_mock != NULL) {
        CU_ASSERT_EQUAL(OK(lca_kproducer_flush(p, 30000, &err)), LCA_OK);
        CU_ASSERT_EQUAL(OK(lca_kafka_topic_partitions(g_bs, topic, 10000, &np, &err)), LCA_OK);
        lca_kproducer_free(p);
        return;
    }
    CU_ASSERT_EQUAL(lca_kproducer_flush(p, 30000, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    CU_ASSERT(strncmp(err.code, "kafka_unknown_topic", 19) == 0);
    CU_ASSERT(strstr(err.msg, topic) != NULL);
    /* the counters were reset: a flush with nothing queued succeeds */
    CU_ASSERT_EQUAL(OK(lca_kproducer_flush(p, 1000, &err)), LCA_OK);
    lca_kproducer_free(p);
    CU_ASSERT_EQUAL(lca_kafka_topic_partitions(g_bs, topic, 10000, &np, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
}

/* Counted sends: the counter rises per queued message and returns to 0 once all are
 * delivered (served by poll); a message that cannot be delivered stays counted and its
 * failure is reported by the next flush. */
static void test_counted_delivery(void)
{
    const char *conf[] = {"message.timeout.ms", "15000", "linger.ms", "0", NULL};
    struct lca_kproducer *p = NULL;
    struct lca_err err;
    char topic[160], missing[160];
    size_t outstanding = 0, lost = 0;
    struct timespec ms = {0, 1000000};
    double t0;
    int i;

    need_cluster();
    make_topic(topic, sizeof(topic), "lca-t-counted", 2);
    CU_ASSERT_FATAL(OK(lca_kproducer_new(g_bs, conf, &p, &err)) == LCA_OK);
    for (i = 0; i < 20; i++) {
        CU_ASSERT_FATAL(OK(lca_kproducer_send_counted(p, topic, "k", 1, "v", 1, NULL, 0,
                                                      &outstanding, &err)) == LCA_OK);
    }
    CU_ASSERT(outstanding > 0 && outstanding <= 20);
    for (t0 = now_s(); outstanding > 0 && now_s() - t0 < 30; nanosleep(&ms, NULL)) {
        lca_kproducer_poll(p); /* no flush: the delivery reports alone bring it to 0 */
    }
    CU_ASSERT_EQUAL(outstanding, 0);
    CU_ASSERT_EQUAL(OK(lca_kproducer_flush(p, 1000, &err)), LCA_OK);
    if (g_mock == NULL) { /* the mock creates topics on produce */
        lca_kafkatest_unique(missing, sizeof(missing), "lca-t-counted-missing");
        CU_ASSERT_FATAL(OK(lca_kproducer_send_counted(p, missing, "k", 1, "v", 1, NULL, 0,
                                                      &lost, &err)) == LCA_OK);
        CU_ASSERT_EQUAL(lca_kproducer_flush(p, 30000, &err), LCA_FAIL);
        CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
        CU_ASSERT_EQUAL(lost, 1); /* not delivered: still counted */
    }
    lca_kproducer_free(p);
}

/* A tail reader sees only what is produced after it was created. */
static void test_tail_reads_only_new(void)
{
    struct lca_kproducer *p = NULL;
    struct lca_kconsumer *c = NULL;
    struct lca_err err;
    char topic[160];
    size_t n = 0, i;

    need_cluster();
    make_topic(topic, sizeof(topic), "lca-t-tail", NPART);
    CU_ASSERT_FATAL(OK(lca_kproducer_new(g_bs, NULL, &p, &err)) == LCA_OK);
    produce_n(p, topic, 20, "old");
    CU_ASSERT_EQUAL_FATAL(OK(lca_kproducer_flush(p, 30000, &err)), LCA_OK);
    CU_ASSERT_FATAL(OK(lca_kconsumer_new_tail(g_bs, topic, 10000, NULL, &c, &err)) == LCA_OK);
    produce_n(p, topic, 5, "new");
    CU_ASSERT_EQUAL_FATAL(OK(lca_kproducer_flush(p, 30000, &err)), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(OK(lca_kafkatest_collect(c, 6, CAP, 3000, g_msgs, &n, &err)), LCA_OK);
    CU_ASSERT_EQUAL(n, 5);
    for (i = 0; i < n; i++) {
        CU_ASSERT(g_msgs[i].len >= 3 && memcmp(g_msgs[i].value, "new", 3) == 0);
    }
    lca_kconsumer_release(g_msgs, n);
    lca_kconsumer_free(c);
    lca_kproducer_free(p);
    if (g_mock == NULL) { /* the mock creates any topic a metadata request names */
        lca_kafkatest_unique(topic, sizeof(topic), "lca-t-absent");
        CU_ASSERT_EQUAL(lca_kconsumer_new_tail(g_bs, topic, 5000, NULL, &c, &err), LCA_FAIL);
        CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    }
}

/* Another process (kcat) reaches the cluster on loopback: metadata, and a message it produces
 * with a content-type header arrives through our consumer. */
static void test_kcat_round_trip(void)
{
    struct lca_kconsumer *c = NULL;
    struct lca_err err;
    char topic[160], cmd[768], line[512];
    int saw_topic = 0;
    size_t n = 0;
    FILE *f;

    need_cluster();
    make_topic(topic, sizeof(topic), "lca-t-kcat", 1);
    snprintf(cmd, sizeof(cmd), "kcat -L -b '%s' -t '%s' 2>&1", g_bs, topic);
    f = popen(cmd, "r");
    CU_ASSERT_FATAL(f != NULL);
    while (fgets(line, sizeof(line), f) != NULL) {
        saw_topic |= strstr(line, topic) != NULL && strstr(line, "1 partitions") != NULL;
    }
    CU_ASSERT_EQUAL(pclose(f), 0);
    CU_ASSERT(saw_topic);
    CU_ASSERT_FATAL(OK(lca_kconsumer_new_tail(g_bs, topic, 10000, NULL, &c, &err)) == LCA_OK);
    snprintf(cmd, sizeof(cmd),
             "printf '{\"type\":\"tidy\"}' | kcat -P -b '%s' -t '%s' -k c-1 "
             "-H content-type=application/json",
             g_bs, topic);
    CU_ASSERT_EQUAL(system(cmd), 0);
    CU_ASSERT_EQUAL_FATAL(OK(lca_kafkatest_collect(c, 1, CAP, 15000, g_msgs, &n, &err)), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT(g_msgs[0].key_len == 3 && memcmp(g_msgs[0].key, "c-1", 3) == 0);
    CU_ASSERT(g_msgs[0].len == 15 && memcmp(g_msgs[0].value, "{\"type\":\"tidy\"}", 15) == 0);
    CU_ASSERT_STRING_EQUAL(g_msgs[0].content_type, "application/json");
    lca_kconsumer_release(g_msgs, n);
    lca_kconsumer_free(c);
}

/* 20,000 messages of 256 bytes through produce/flush and a batch consumer; prints the rates. */
static void test_throughput(void)
{
    enum { N = 20000 };
    struct lca_kproducer *p = NULL;
    struct lca_kconsumer *c = NULL;
    struct lca_kheader hdr = {"content-type", "application/msgpack", 19};
    struct lca_kafkatest_store st;
    struct lca_kconsumer_hooks h;
    struct lca_err err;
    char topic[160], group[160], val[256], key[32];
    const char *tp = topic;
    size_t got = 0, k = 0, batches = 0;
    double t0, t1, t2;
    int i;

    need_cluster();
    make_topic(topic, sizeof(topic), "lca-t-rate", NPART);
    lca_kafkatest_unique(group, sizeof(group), "lca-g-rate");
    memset(val, 'm', sizeof(val));
    CU_ASSERT_FATAL(OK(lca_kproducer_new(g_bs, NULL, &p, &err)) == LCA_OK);
    t0 = now_s();
    for (i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "cmd-%d", i);
        CU_ASSERT_FATAL(OK(lca_kproducer_send(p, topic, key, strlen(key), val, sizeof(val), &hdr, 1,
                                           &err)) == LCA_OK);
    }
    CU_ASSERT_EQUAL_FATAL(OK(lca_kproducer_flush(p, 60000, &err)), LCA_OK);
    t1 = now_s();
    lca_kproducer_free(p);
    lca_kafkatest_store_init(&st);
    h = lca_kafkatest_hooks(&st, fast_group);
    CU_ASSERT_FATAL(OK(lca_kconsumer_new(g_bs, group, &tp, 1, &h, &c, &err)) == LCA_OK);
    while (got < N && st.assigned_now < NPART) { /* exclude the group join from the rate */
        CU_ASSERT_FATAL(OK(lca_kafkatest_pump(c, 1, &err)) == LCA_OK);
    }
    t2 = now_s();
    while (got < N && now_s() - t2 < 60) {
        CU_ASSERT_FATAL(OK(lca_kconsumer_poll_batch(c, 1000, 500, g_msgs, &k, &err)) == LCA_OK);
        got += k;
        batches += k > 0;
        lca_kconsumer_release(g_msgs, k);
    }
    CU_ASSERT_EQUAL(got, N);
    printf("\n  [%s] produce+flush %d x 256 B: %.0f msg/s; consume: %.0f msg/s "
           "(%zu batches, mean %.0f)\n",
           g_mock != NULL ? "mock" : "real", N, N / (t1 - t0), (double)got / (now_s() - t2),
           batches, batches > 0 ? (double)got / (double)batches : 0.0);
    lca_kconsumer_free(c);
}

/* Starts `ledgerca submit ARGS` against the cluster under test; its stdout is the pipe. */
static FILE *submit_start(const char *args)
{
    const char *bin = getenv("LCA_BINARY_DIR");
    char cmd[1024];

    CU_ASSERT_FATAL(bin != NULL);
    snprintf(cmd, sizeof(cmd),
             "LEDGERCA_KAFKA_BOOTSTRAP='%s' LEDGERCA_TOKEN=t0k-secret '%s/workers/ledgerca' submit %s",
             g_bs, bin, args);
    return popen(cmd, "r");
}

/* Reads the rest of f into buf and returns the exit status of the submit process. */
static int submit_finish(FILE *f, char *buf, size_t len)
{
    size_t n = fread(buf, 1, len - 1, f);
    int st = pclose(f);

    buf[n] = '\0';
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Acts as the signer: reads the command submit sent on `cmd_tail`, checks the envelope,
 * answers with a decoy (another key) and then the reply, encoded as JSON or msgpack. */
static void answer(struct lca_kconsumer *cmd_tail, enum lca_cmd_type want, const char *status,
                   int msgpack)
{
    struct lca_kheader ct = {"content-type", msgpack ? "application/msgpack" : "application/json",
                             msgpack ? 19u : 16u};
    struct lca_command *cmd = NULL;
    struct lca_kproducer *p = NULL;
    struct lca_val *reply = NULL;
    struct lca_err err;
    uint8_t *bytes = NULL;
    char *json = NULL;
    size_t n = 0, blen = 0;

    CU_ASSERT_EQUAL_FATAL(OK(lca_kafkatest_collect(cmd_tail, 1, CAP, 20000, g_msgs, &n, &err)), LCA_OK);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_STRING_EQUAL(g_msgs[0].content_type, "application/json");
    CU_ASSERT_FATAL(OK(lca_command_parse(g_msgs[0].value, g_msgs[0].len, g_msgs[0].content_type, &cmd, &err)) == LCA_OK);
    CU_ASSERT_EQUAL(cmd->type, want);
    CU_ASSERT_STRING_EQUAL(cmd->correlation_id, cmd->command_id);
    CU_ASSERT_STRING_EQUAL(cmd->reply_to, LCA_KAFKA_TOPIC_REPLIES);
    CU_ASSERT(cmd->token != NULL && strcmp(cmd->token, "t0k-secret") == 0);
    CU_ASSERT(g_msgs[0].key_len == strlen(cmd->correlation_id) &&
              memcmp(g_msgs[0].key, cmd->correlation_id, g_msgs[0].key_len) == 0);
    lca_kconsumer_release(g_msgs, n);

    reply = lca_val_new_map();
    lca_val_map_set_str(reply, "command_id", cmd->command_id);
    lca_val_map_set_str(reply, "correlation_id", cmd->correlation_id);
    lca_val_map_set_str(reply, "status", status);
    CU_ASSERT_FATAL(OK(lca_kproducer_new(g_bs, NULL, &p, &err)) == LCA_OK);
    CU_ASSERT_FATAL(OK(lca_kproducer_send(p, LCA_KAFKA_TOPIC_REPLIES, "decoy", 5,
                                          "{\"status\":\"decoy\"}", 18, NULL, 0, &err)) == LCA_OK);
    if (msgpack) {
        CU_ASSERT_FATAL(OK(lca_codec_encode(reply, &bytes, &blen, &err)) == LCA_OK);
    } else {
        CU_ASSERT_FATAL(OK(lca_json_encode(reply, &json, &blen, &err)) == LCA_OK);
    }
    CU_ASSERT_FATAL(OK(lca_kproducer_send(p, LCA_KAFKA_TOPIC_REPLIES, cmd->correlation_id,
                                          strlen(cmd->correlation_id),
                                          msgpack ? (const void *)bytes : json, blen, &ct, 1,
                                          &err)) == LCA_OK);
    CU_ASSERT_EQUAL(OK(lca_kproducer_flush(p, 20000, &err)), LCA_OK);
    lca_kproducer_free(p);
    free(bytes);
    free(json);
    lca_val_free(reply);
    lca_command_free(cmd);
}

/* `ledgerca submit`, another process, against this cluster: ok -> 0, rejected (msgpack
 * reply) -> 1, no reply -> 3, bad usage -> 2; only the reply keyed by its id is printed. */
static void test_submit_cli(void)
{
    struct lca_kconsumer *tail = NULL;
    struct lca_err err;
    static char out[65536];
    FILE *f;

    need_cluster();
    CU_ASSERT_EQUAL_FATAL(OK(lca_kafka_ensure_topics(g_bs, &err)), LCA_OK);
    CU_ASSERT_FATAL(OK(lca_kconsumer_new_tail(g_bs, LCA_KAFKA_TOPIC_REVOKE, 10000, NULL, &tail, &err)) == LCA_OK);
    f = submit_start("--type revoke --payload '{\"serial_number\":\"01:02\"}' --timeout 30s");
    CU_ASSERT_FATAL(f != NULL);
    answer(tail, LCA_CMD_REVOKE, "ok", 0);
    CU_ASSERT_EQUAL(submit_finish(f, out, sizeof(out)), 0);
    CU_ASSERT(strstr(out, "\"status\": \"ok\"") != NULL);
    CU_ASSERT(strstr(out, "decoy") == NULL);
    lca_kconsumer_free(tail);

    CU_ASSERT_FATAL(OK(lca_kconsumer_new_tail(g_bs, LCA_KAFKA_TOPIC_ISSUE, 10000, NULL, &tail, &err)) == LCA_OK);
    f = submit_start("--type sign --payload '{\"csr\":\"x\"}' --timeout 30s");
    CU_ASSERT_FATAL(f != NULL);
    answer(tail, LCA_CMD_SIGN, "rejected", 1);
    CU_ASSERT_EQUAL(submit_finish(f, out, sizeof(out)), 1);
    CU_ASSERT(strstr(out, "\"status\": \"rejected\"") != NULL);
    lca_kconsumer_free(tail);

    f = submit_start("--type tidy --timeout 1s 2>/dev/null");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_EQUAL(submit_finish(f, out, sizeof(out)), 3);
    f = submit_start("--payload '{}' 2>/dev/null");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_EQUAL(submit_finish(f, out, sizeof(out)), 2);
    f = submit_start("--type no-such-type 2>/dev/null");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_EQUAL(submit_finish(f, out, sizeof(out)), 2);
}

/* Argument and state errors, no broker round trip needed. */
static void test_bad_arguments(void)
{
    const char *topics[] = {"t"};
    const char *badconf[] = {"no.such.property", "1", NULL};
    const char *oddconf[] = {"linger.ms", NULL};
    struct lca_kconsumer_hooks h;
    struct lca_kconsumer *c = NULL;
    struct lca_kproducer *p = NULL;
    struct lca_kheader nameless = {NULL, "x", 1};
    struct lca_kmsg m[3];
    struct lca_ktp offs[3];
    struct lca_err err;
    size_t n;

    need_cluster();
    memset(&h, 0, sizeof(h));
    CU_ASSERT_EQUAL(lca_kconsumer_new(g_bs, NULL, topics, 1, NULL, &c, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    CU_ASSERT_EQUAL(lca_kconsumer_new(g_bs, "g", topics, 0, NULL, &c, &err), LCA_FAIL);
    h.conf = badconf;
    CU_ASSERT_EQUAL(lca_kconsumer_new(g_bs, "g", topics, 1, &h, &c, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    CU_ASSERT(strstr(err.msg, "no.such.property") != NULL);
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT_EQUAL(lca_kproducer_new("", NULL, &p, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(lca_kproducer_new(g_bs, oddconf, &p, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    CU_ASSERT_FATAL(OK(lca_kproducer_new(g_bs, NULL, &p, &err)) == LCA_OK);
    CU_ASSERT_EQUAL(lca_kproducer_send(p, "t", NULL, 0, "v", 1, &nameless, 1, &err), LCA_FAIL);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    lca_kproducer_free(p);
    lca_kproducer_free(NULL);
    lca_kconsumer_free(NULL);
    lca_kafka_mock_free(NULL);
    CU_ASSERT_EQUAL(lca_kafka_mock_start(0, g_mock_bs, sizeof(g_mock_bs), NULL, &err), LCA_FAIL);

    /* next offsets: highest + 1 per partition, bounded by cap */
    memset(m, 0, sizeof(m));
    m[0].topic = "a", m[0].partition = 0, m[0].offset = 7;
    m[1].topic = "a", m[1].partition = 1, m[1].offset = 3;
    m[2].topic = "a", m[2].partition = 0, m[2].offset = 9;
    n = lca_kafka_next_offsets(m, 3, offs, 3);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT(offs[0].partition == 0 && offs[0].offset == 10);
    CU_ASSERT(offs[1].partition == 1 && offs[1].offset == 4);
    CU_ASSERT_EQUAL(lca_kafka_next_offsets(m, 3, offs, 1), 1);
    CU_ASSERT_EQUAL(offs[0].offset, 10);
}

/* Writes text to a fresh temporary file and names it in LEDGERCA_KAFKA_CONFIG_FILE. */
static void operator_file(char *path, size_t len, const char *text)
{
    FILE *f;

    snprintf(path, len, "/tmp/lca-kconf-%ld-%d.properties", (long)getpid(), rand());
    f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs(text, f);
    fclose(f);
    setenv("LEDGERCA_KAFKA_CONFIG_FILE", path, 1);
}

/* Asserts that creating a producer fails with a configuration error that names `want` and
 * does not carry the secret value. */
static void refused(const char *text, const char *want)
{
    struct lca_kproducer *p = NULL;
    struct lca_err err;
    char path[128];

    operator_file(path, sizeof(path), text);
    CU_ASSERT_EQUAL(lca_kproducer_new(g_bs, NULL, &p, &err), LCA_FAIL);
    CU_ASSERT_PTR_NULL(p);
    CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
    CU_ASSERT_STRING_EQUAL(err.code, "kafka_conf");
    CU_ASSERT(strstr(err.msg, want) != NULL);
    CU_ASSERT(strstr(err.msg, "s3cr3t") == NULL);
    if (strstr(err.msg, want) == NULL) {
        fprintf(stderr, "\n    got: %s\n", err.msg);
    }
    unlink(path);
}

/* The operator's librdkafka properties (LEDGERCA_KAFKA_CONFIG_FILE) reach every client, over
 * ledgerca's defaults; bad lines are refused naming the line and property, never the value. */
static void test_operator_config_file(void)
{
    static char big[2000];
    struct lca_kproducer *p = NULL;
    struct lca_kconsumer *c = NULL;
    struct lca_err err;
    char path[128], topic[160];

    need_cluster();
    make_topic(topic, sizeof(topic), "lca-t-opconf", 1);
    memset(big, 'x', sizeof(big));
    /* applied: a message above the operator's message.max.bytes is refused when queued */
    operator_file(path, sizeof(path),
                  "# operator settings\n! also a comment\n\n  client.id = ledgerca-opconf \n"
                  "message.max.bytes=1000\nsasl.password=s3cr3t\n");
    CU_ASSERT_FATAL(OK(lca_kproducer_new(g_bs, NULL, &p, &err)) == LCA_OK);
    CU_ASSERT_EQUAL(OK(lca_kproducer_send(p, topic, "k", 1, "small", 5, NULL, 0, &err)), LCA_OK);
    CU_ASSERT_EQUAL(lca_kproducer_send(p, topic, "k", 1, big, sizeof(big), NULL, 0, &err),
                    LCA_FAIL);
    CU_ASSERT_EQUAL(OK(lca_kproducer_flush(p, 30000, &err)), LCA_OK);
    lca_kproducer_free(p);
    CU_ASSERT_EQUAL(OK(lca_kconsumer_new_tail(g_bs, topic, 10000, NULL, &c, &err)), LCA_OK);
    lca_kconsumer_free(c);
    unlink(path);

    refused("client.id=x\nno.such.property=s3cr3t\n", "line 2: property no.such.property");
    refused("security.protocol=s3cr3t\n", "property security.protocol is unknown or");
    refused("enable.idempotence=false\n", "enable.idempotence is set by ledgerca");
    refused("acks=1\n", "acks is set by ledgerca");
    refused("bootstrap.servers=elsewhere:9092\n", "bootstrap.servers is set by ledgerca");
    refused("=s3cr3t\n", "line 1: expected name=value");
    refused("just-a-name\n", "line 1: expected name=value");
    setenv("LEDGERCA_KAFKA_CONFIG_FILE", "/nonexistent/kafka.properties", 1);
    CU_ASSERT_EQUAL(lca_kproducer_new(g_bs, NULL, &p, &err), LCA_FAIL);
    CU_ASSERT(strstr(err.msg, "/nonexistent/kafka.properties cannot be read") != NULL);
    unsetenv("LEDGERCA_KAFKA_CONFIG_FILE");
    CU_ASSERT_FATAL(OK(lca_kproducer_new(g_bs, NULL, &p, &err)) == LCA_OK);
    lca_kproducer_free(p);
}

/* ---- suites ---- */

static int real_init(void)
{
    g_mock = NULL;
    g_bs = lca_kafkatest_bootstrap();
    g_real_missing = g_bs == NULL;
    return 0; /* the cases fail, visibly, when there is no broker */
}

static int mock_init(void)
{
    struct lca_err err;

    if (lca_kafka_mock_start(1, g_mock_bs, sizeof(g_mock_bs), &g_mock, &err) != LCA_OK) {
        fprintf(stderr, "mock cluster: %s: %s\n", err.code, err.msg);
        return 1;
    }
    g_bs = g_mock_bs;
    return 0;
}

static int mock_cleanup(void)
{
    lca_kafka_mock_free(g_mock);
    g_mock = NULL;
    g_bs = NULL;
    return 0;
}

static void add_cases(CU_pSuite s)
{
    CU_add_test(s, "bad_arguments", test_bad_arguments);
    CU_add_test(s, "operator_config_file", test_operator_config_file);
    CU_add_test(s, "ensure_topics_idempotent", test_ensure_topics_idempotent);
    CU_add_test(s, "seek_to_stored_offsets", test_seek_to_stored_offsets);
    CU_add_test(s, "rebalance_split", test_rebalance_split);
    CU_add_test(s, "unknown_topic_delivery_error", test_unknown_topic_delivery_error);
    CU_add_test(s, "counted_delivery", test_counted_delivery);
    CU_add_test(s, "tail_reads_only_new", test_tail_reads_only_new);
    CU_add_test(s, "kcat_round_trip", test_kcat_round_trip);
    CU_add_test(s, "submit_cli", test_submit_cli);
    CU_add_test(s, "throughput", test_throughput);
}

int main(void)
{
    unsigned failed;

    if (CU_initialize_registry() != CUE_SUCCESS) {
        return 1;
    }
    add_cases(CU_add_suite("kafka_real_broker", real_init, NULL));
    add_cases(CU_add_suite("kafka_mock_cluster", mock_init, mock_cleanup));
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    if (g_real_missing) {
        fprintf(stderr, "FAILED: LCA_TEST_KAFKA_BOOTSTRAP is not set (the real-broker suite "
                        "cannot run)\n");
    }
    return failed != 0 || g_real_missing ? 1 : 0;
}
