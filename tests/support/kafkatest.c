#include "kafkatest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *lca_kafkatest_bootstrap(void)
{
    const char *bs = getenv("LCA_TEST_KAFKA_BOOTSTRAP");

    if (bs == NULL || bs[0] == '\0') {
        fprintf(stderr, "LCA_TEST_KAFKA_BOOTSTRAP is not set: this integration test needs the real "
                        "Kafka broker that tests/run starts (tests/infra/kafka.sh start DIR prints "
                        "its address)\n");
        return NULL;
    }
    return bs;
}

void lca_kafkatest_unique(char *buf, size_t len, const char *prefix)
{
    static unsigned counter;
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, len, "%s-%ld-%lld%03ld-%u", prefix, (long)getpid(), (long long)ts.tv_sec,
             ts.tv_nsec / 1000000, counter++);
}

void lca_kafkatest_store_init(struct lca_kafkatest_store *s)
{
    memset(s, 0, sizeof(*s));
}

void lca_kafkatest_store_put(struct lca_kafkatest_store *s, const char *topic, int32_t partition,
                             int64_t next_offset, int fail)
{
    size_t i;

    for (i = 0; i < s->n; i++) {
        if (s->e[i].partition == partition && strcmp(s->e[i].topic, topic) == 0) {
            break;
        }
    }
    if (i == LCA_KAFKATEST_MAX_TP) {
        return;
    }
    if (i == s->n) {
        s->n++;
    }
    snprintf(s->e[i].topic, sizeof(s->e[i].topic), "%s", topic);
    s->e[i].partition = partition;
    s->e[i].offset = next_offset;
    s->e[i].fail = fail;
}

static int load(void *ctx, const char *topic, int32_t partition, int64_t *next)
{
    struct lca_kafkatest_store *s = ctx;
    size_t i;

    for (i = 0; i < s->n; i++) {
        if (s->e[i].partition == partition && strcmp(s->e[i].topic, topic) == 0) {
            if (s->e[i].fail) {
                return LCA_FAIL;
            }
            *next = s->e[i].offset;
            return LCA_OK;
        }
    }
    *next = LCA_KOFFSET_NONE;
    return LCA_OK;
}

static void on_assign(void *ctx, const struct lca_ktp *parts, size_t n)
{
    struct lca_kafkatest_store *s = ctx;
    size_t i;

    s->assign_calls++;
    s->assigned_now += n;
    for (i = 0; i < n; i++) {
        if (parts[i].partition >= 0 && parts[i].partition < LCA_KAFKATEST_MAX_TP) {
            s->owned[parts[i].partition] = 1;
            s->started_at[parts[i].partition] = parts[i].offset;
        }
    }
}

static void on_revoke(void *ctx, const struct lca_ktp *parts, size_t n, int lost)
{
    struct lca_kafkatest_store *s = ctx;
    size_t i;

    s->revoke_calls++;
    s->lost_calls += lost != 0;
    s->last_revoke_n = n;
    s->assigned_now -= n <= s->assigned_now ? n : s->assigned_now;
    for (i = 0; i < n; i++) {
        if (parts[i].partition >= 0 && parts[i].partition < LCA_KAFKATEST_MAX_TP) {
            s->owned[parts[i].partition] = 0;
        }
    }
}

static void on_error(void *ctx, const struct lca_err *err)
{
    struct lca_kafkatest_store *s = ctx;

    (void)err;
    s->errors++;
}

struct lca_kconsumer_hooks lca_kafkatest_hooks(struct lca_kafkatest_store *s,
                                               const char *const *conf)
{
    struct lca_kconsumer_hooks h;

    memset(&h, 0, sizeof(h));
    h.ctx = s;
    h.load_offsets = load;
    h.on_assign = on_assign;
    h.on_revoke = on_revoke;
    h.on_error = on_error;
    h.conf = conf;
    return h;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int lca_kafkatest_collect(struct lca_kconsumer *c, size_t want, size_t cap, int timeout_ms,
                          struct lca_kmsg *out, size_t *n, struct lca_err *err)
{
    int64_t deadline = mono_ms() + timeout_ms;
    size_t got = 0, k = 0;

    while (got < want && mono_ms() < deadline) {
        if (lca_kconsumer_poll_batch(c, cap - got, 200, out + got, &k, err) != LCA_OK) {
            lca_kconsumer_release(out, got);
            *n = 0;
            return LCA_FAIL;
        }
        got += k;
    }
    *n = got;
    return LCA_OK;
}

int lca_kafkatest_pump(struct lca_kconsumer *c, int ms, struct lca_err *err)
{
    int64_t deadline = mono_ms() + ms;
    struct lca_kmsg m[16];
    size_t k = 0;

    while (mono_ms() < deadline) {
        if (lca_kconsumer_poll_batch(c, 16, 50, m, &k, err) != LCA_OK) {
            return LCA_FAIL;
        }
        lca_kconsumer_release(m, k);
    }
    return LCA_OK;
}
