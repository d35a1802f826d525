/* api_facade — produce a command, wait for its reply (see api_facade.h). */
#include "api_facade.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog.h"
#include "codec.h"
#include "json.h"
#include "kafka.h"
#include "log.h"

#define FACADE_BATCH 64

struct waiter {
    char corr[130];
    struct lca_val *reply; /* set by the reply thread */
    struct waiter *next;
};

struct lca_api_facade {
    struct lca_kproducer *prod;
    struct lca_kconsumer *tail;
    pthread_mutex_t mu;      /* waiters, stop */
    pthread_cond_t arrived;
    pthread_mutex_t prod_mu; /* the producer */
    struct waiter *waiters;
    int stop;
    pthread_t thread;
    int started;
    char suffix[65];         /* appended to every command topic */
};

static struct lca_val *decode_reply(const struct lca_kmsg *m)
{
    struct lca_err err;
    struct lca_val *v = NULL;
    int json = m->has_content_type ? strcmp(m->content_type, "application/json") == 0
                                   : m->len > 0 && m->value[0] == '{';

    if (m->value == NULL) {
        return NULL;
    }
    if (json ? lca_json_decode((const char *)m->value, m->len, NULL, &v, &err)
             : lca_codec_decode(m->value, m->len, NULL, &v, &err)) {
        return NULL;
    }
    return v;
}

/* Hands the reply in m to its waiter, if any (called with f->mu held). */
static void deliver(struct lca_api_facade *f, const struct lca_kmsg *m)
{
    struct waiter *w;

    for (w = f->waiters; w != NULL; w = w->next) {
        if (w->reply == NULL && m->key_len == strlen(w->corr) &&
            memcmp(m->key, w->corr, m->key_len) == 0) {
            w->reply = decode_reply(m);
            if (w->reply != NULL) {
                pthread_cond_broadcast(&f->arrived);
            }
            return;
        }
    }
}

static void *reply_loop(void *arg)
{
    struct lca_api_facade *f = arg;
    struct lca_kmsg msgs[FACADE_BATCH];
    struct lca_err err;
    size_t n, i;

    for (;;) {
        pthread_mutex_lock(&f->mu);
        if (f->stop) {
            pthread_mutex_unlock(&f->mu);
            break;
        }
        pthread_mutex_unlock(&f->mu);
        n = 0;
        if (lca_kconsumer_poll_batch(f->tail, FACADE_BATCH, 100, msgs, &n, &err) != LCA_OK) {
            lca_log_err("reply consumer", &err);
            struct timespec ts = {0, 200000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        pthread_mutex_lock(&f->mu);
        for (i = 0; i < n; i++) {
            if (msgs[i].key != NULL) {
                deliver(f, &msgs[i]);
            }
        }
        pthread_mutex_unlock(&f->mu);
        lca_kconsumer_release(msgs, n);
    }
    return NULL;
}

int lca_api_facade_new(const char *bootstrap, struct lca_api_facade **out, struct lca_err *err)
{
    static const char *const pconf[] = {"linger.ms", "1", NULL};
    static const char *const cconf[] = {"fetch.wait.max.ms", "10", NULL};
    struct lca_kconsumer_hooks hooks;
    struct lca_api_facade *f = calloc(1, sizeof(*f));

    if (f == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "no_memory", "oom");
    }
    pthread_mutex_init(&f->mu, NULL);
    pthread_mutex_init(&f->prod_mu, NULL);
    pthread_cond_init(&f->arrived, NULL);
    memset(&hooks, 0, sizeof(hooks));
    hooks.conf = cconf; /* replies are waited for: do not let the broker hold a fetch 500 ms */
    if (lca_kconsumer_new_tail(bootstrap, LCA_KAFKA_TOPIC_REPLIES, 30000, &hooks, &f->tail, err) !=
            LCA_OK ||
        lca_kproducer_new(bootstrap, pconf, &f->prod, err) != LCA_OK) {
        lca_api_facade_free(f);
        return LCA_FAIL;
    }
    if (pthread_create(&f->thread, NULL, reply_loop, f) != 0) {
        lca_api_facade_free(f);
        return lca_err_set(err, LCA_ERR_FATAL, "thread", "cannot start the reply thread");
    }
    f->started = 1;
    *out = f;
    return LCA_OK;
}

int lca_api_facade_set_topic_suffix(struct lca_api_facade *f, const char *suffix,
                                    struct lca_err *err)
{
    if (suffix != NULL && strlen(suffix) >= sizeof(f->suffix)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_topic_suffix",
                           "the topic suffix may hold at most 64 bytes");
    }
    snprintf(f->suffix, sizeof(f->suffix), "%s", suffix != NULL ? suffix : "");
    return LCA_OK;
}

void lca_api_facade_free(struct lca_api_facade *f)
{
    if (f == NULL) {
        return;
    }
    if (f->started) {
        pthread_mutex_lock(&f->mu);
        f->stop = 1;
        pthread_mutex_unlock(&f->mu);
        pthread_join(f->thread, NULL);
    }
    lca_kconsumer_free(f->tail);
    lca_kproducer_free(f->prod);
    pthread_cond_destroy(&f->arrived);
    pthread_mutex_destroy(&f->prod_mu);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static void unlink_waiter(struct lca_api_facade *f, struct waiter *w)
{
    struct waiter **pp;

    for (pp = &f->waiters; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            return;
        }
    }
}

static int produce(struct lca_api_facade *f, const struct lca_val *env, const char *corr,
                   struct lca_err *err)
{
    struct lca_kheader ct = {"content-type", "application/json", 16};
    enum lca_cmd_type t = lca_catalog_cmd_from_name(lca_val_map_get_str(env, "type"));
    char *json = NULL, topic[160];
    size_t len = 0;
    int rc;

    if (t == LCA_CMD_NONE) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "unknown_type", "unknown command type");
    }
    if (lca_json_encode(env, &json, &len, err) != LCA_OK) {
        return LCA_FAIL;
    }
    snprintf(topic, sizeof(topic), "%s%s", lca_catalog_topic_name(lca_catalog_cmd_topic(t)),
             f->suffix);
    pthread_mutex_lock(&f->prod_mu);
    rc = lca_kproducer_send(f->prod, topic, corr,
                            strlen(corr), json, len, &ct, 1, err);
    pthread_mutex_unlock(&f->prod_mu);
    OPENSSL_cleanse(json, len); /* it holds the caller's token */
    free(json);
    return rc;
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int lca_api_facade_call(struct lca_api_facade *f, const struct lca_val *env, int timeout_ms,
                        struct lca_val **reply, struct lca_err *err)
{
    const char *corr = lca_val_map_get_str(env, "correlation_id");
    struct waiter w;
    struct timespec until;
    int rc = LCA_OK;

    if (corr == NULL || strlen(corr) >= sizeof(w.corr)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_command", "no correlation_id");
    }
    memset(&w, 0, sizeof(w));
    strcpy(w.corr, corr);
    pthread_mutex_lock(&f->mu);
    w.next = f->waiters;
    f->waiters = &w;
    pthread_mutex_unlock(&f->mu);
    if (produce(f, env, corr, err) != LCA_OK) {
        rc = LCA_FAIL;
    }
    deadline_in(&until, timeout_ms);
    pthread_mutex_lock(&f->mu);
    while (rc == LCA_OK && w.reply == NULL) {
        if (pthread_cond_timedwait(&f->arrived, &f->mu, &until) != 0) {
            rc = lca_err_set(err, LCA_ERR_RETRIABLE, "timeout",
                             "no reply from the signer within %d ms", timeout_ms);
        }
    }
    unlink_waiter(f, &w);
    pthread_mutex_unlock(&f->mu);
    if (rc == LCA_OK) {
        *reply = w.reply;
    } else {
        lca_val_free(w.reply);
    }
    return rc;
}

int lca_api_facade_high_watermark(struct lca_api_facade *f, const char *topic, int partition,
                                  int timeout_ms, int64_t *out, struct lca_err *err)
{
    /* librdkafka handles are thread-safe; no need for prod_mu (it orders sends only) */
    return lca_kproducer_high_watermark(f->prod, topic, (int32_t)partition, timeout_ms, out, err);
}
