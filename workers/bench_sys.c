/* The system under test on threads, and commands to it (bench_sys.h). */
#include "bench_sys.h"

#include <string.h>

#include "bench_db.h"
#include "log.h"
#include "uuid.h"

static void *signer_main(void *arg)
{
    struct lca_bench_sys *s = arg;
    struct lca_err err;

    lca_err_clear(&err);
    if (lca_signer_run(&s->so, &err) != LCA_OK) {
        lca_log_err("signer stopped", &err);
        s->failed = 1;
    }
    return NULL;
}

static void *projector_main(void *arg)
{
    struct lca_bench_sys *s = arg;
    struct lca_err err;

    lca_err_clear(&err);
    if (lca_projector_run(&s->po, &err) != LCA_OK) {
        lca_log_err("projector stopped", &err);
        s->failed = 1;
    }
    return NULL;
}

static void *api_main(void *arg)
{
    struct lca_bench_sys *s = arg;
    struct lca_err err;

    lca_err_clear(&err);
    if (lca_api_run(&s->ao, &err) != LCA_OK) {
        lca_log_err("api stopped", &err);
        s->failed = 1;
    }
    return NULL;
}

void lca_bench_sys_init(struct lca_bench_sys *s, const char *bootstrap,
                        const struct lca_bench_db *db, const char *cluster, const char *group,
                        volatile sig_atomic_t *stop)
{
    s->so.bootstrap = bootstrap;
    s->so.pg_uri = db->uri;
    s->so.cluster = cluster;
    s->so.kek_file = db->kek_path;
    s->so.group = group;
    s->so.stop = stop;
    s->po.pg_uri = db->uri;
    s->po.cluster = cluster;
    s->po.stop = stop;
}

int lca_bench_sys_start(struct lca_bench_sys *s, struct lca_err *err)
{
    void *(*mains[3])(void *) = {signer_main, projector_main, api_main};
    int i, n = s->with_api ? 3 : 2;

    for (i = 0; i < n; i++) {
        if (pthread_create(&s->t[i], NULL, mains[i], s) != 0) {
            return lca_err_set(err, LCA_ERR_FATAL, "thread", "cannot start a thread");
        }
        s->started[i] = 1;
    }
    return LCA_OK;
}

void lca_bench_sys_join(struct lca_bench_sys *s)
{
    int i;

    for (i = 0; i < 3; i++) {
        if (s->started[i]) {
            pthread_join(s->t[i], NULL);
            s->started[i] = 0;
        }
    }
}

struct lca_val *lca_bench_envelope(const char *token, const char *type, struct lca_val *payload)
{
    struct lca_val *env = lca_val_new_map();
    char id[LCA_UUID_LEN + 1];

    if (env == NULL || payload == NULL || lca_uuid_v4(id) != LCA_OK) {
        lca_val_free(env);
        lca_val_free(payload);
        return NULL;
    }
    lca_val_map_set_str(env, "command_id", id);
    lca_val_map_set_str(env, "type", type);
    lca_val_map_set_str(env, "correlation_id", id);
    lca_val_map_set_str(env, "token", token);
    lca_val_map_set(env, "payload", payload);
    return env;
}

int lca_bench_call(struct lca_api_facade *f, struct lca_val *env, int timeout_ms,
                   struct lca_val **result, struct lca_err *err)
{
    struct lca_val *reply = NULL;
    const struct lca_val *e;
    const char *st, *m;
    int rc;

    if (env == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "cannot build a command");
    }
    rc = lca_api_facade_call(f, env, timeout_ms, &reply, err);
    lca_val_free(env);
    if (rc == LCA_OK && ((st = lca_val_map_get_str(reply, "status")) == NULL ||
                         strcmp(st, "ok") != 0)) {
        e = lca_val_map_get(reply, "error");
        m = e != NULL ? lca_val_map_get_str(e, "message") : NULL;
        rc = lca_err_set(err, LCA_ERR_FATAL, "reply", "command not ok: %s",
                         m != NULL ? m : "(no message)");
    }
    if (rc == LCA_OK && result != NULL) {
        *result = lca_val_clone(lca_val_map_get(reply, "result"));
    }
    lca_val_free(reply);
    return rc;
}
