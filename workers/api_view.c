/* api_view — the read models of `ledgerca api`, cached in memory (see api_view.h). */
#include "api_view.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "event.h"
#include "json.h"
#include "log.h"
#include "pgstore.h"
#include "role.h"
#include "state.h"

struct lca_api_view {
    struct lca_pgstore *store; /* the refresh thread's connection */
    struct lca_state *st;      /* folded up to the current snapshot's position */
    int64_t config_index, tidy_at_us;
    pthread_mutex_t mu;
    pthread_cond_t changed;
    struct lca_api_snap *cur;
    int64_t head;
    int stale;
    int stop;
    int poll_ms;
    pthread_t thread;
    int started;
};

/* ---- snapshots ---- */

static void snap_free(struct lca_api_snap *s)
{
    size_t i, k;

    if (s == NULL) {
        return;
    }
    for (i = 0; i < s->n_iss; i++) {
        free(s->iss[i].doc);
        free(s->iss[i].pem);
        free(s->iss[i].chain_pem);
        free(s->iss[i].crl);
        free(s->iss[i].ucrl);
        for (k = 0; k < s->iss[i].n_crls; k++) {
            free(s->iss[i].crls[k].der);
        }
        free(s->iss[i].crls);
    }
    for (i = 0; i < s->n_crl_paths; i++) {
        free(s->crl_paths[i]);
    }
    free(s->crl_paths);
    for (i = 0; i < s->n_roles; i++) {
        free(s->role_names[i]);
        free(s->role_docs[i]);
    }
    free(s->iss);
    free(s->role_names);
    free(s->role_docs);
    free(s->roots_doc);
    free(s->config_doc);
    free(s);
}

const struct lca_api_snap *lca_api_view_get(struct lca_api_view *v)
{
    struct lca_api_snap *s;

    pthread_mutex_lock(&v->mu);
    s = v->cur;
    s->refs++;
    pthread_mutex_unlock(&v->mu);
    return s;
}

void lca_api_view_put(struct lca_api_view *v, const struct lca_api_snap *cs)
{
    struct lca_api_snap *s = (struct lca_api_snap *)cs;
    int last;

    if (s == NULL) {
        return;
    }
    pthread_mutex_lock(&v->mu);
    last = --s->refs == 0;
    pthread_mutex_unlock(&v->mu);
    if (last) {
        snap_free(s);
    }
}

/* Publishes s (the view's reference becomes s's first one) and wakes the waiters. */
static void publish(struct lca_api_view *v, struct lca_api_snap *s)
{
    struct lca_api_snap *old;
    int last = 0;

    s->refs = 1;
    pthread_mutex_lock(&v->mu);
    old = v->cur;
    v->cur = s;
    if (old != NULL) {
        last = --old->refs == 0;
    }
    pthread_cond_broadcast(&v->changed);
    pthread_mutex_unlock(&v->mu);
    if (last) {
        snap_free(old);
    }
}

/* Waits until the current snapshot's roots index (roots = 1) or position (roots = 0) exceeds
 * `after`, or timeout_ms passes; returns the snapshot then current (a reference). */
static struct lca_api_snap *wait_for(struct lca_api_view *v, int roots, int64_t after,
                                     int timeout_ms)
{
    struct timespec until;
    struct lca_api_snap *s;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&v->mu);
    while ((roots ? v->cur->roots_index : v->cur->position) <= after && !v->stop) {
        if (pthread_cond_timedwait(&v->changed, &v->mu, &until) != 0) {
            break;
        }
    }
    s = v->cur;
    s->refs++;
    pthread_mutex_unlock(&v->mu);
    return s;
}

const struct lca_api_snap *lca_api_view_wait_roots(struct lca_api_view *v, int64_t index,
                                                   int timeout_ms)
{
    return wait_for(v, 1, index, timeout_ms);
}

int lca_api_view_wait_position(struct lca_api_view *v, int64_t position, int timeout_ms)
{
    struct lca_api_snap *s = wait_for(v, 0, position - 1, timeout_ms);
    int reached = s->position >= position;

    lca_api_view_put(v, s);
    return reached;
}

int64_t lca_api_view_head(struct lca_api_view *v)
{
    int64_t h;

    pthread_mutex_lock(&v->mu);
    h = v->head;
    pthread_mutex_unlock(&v->mu);
    return h;
}

int lca_api_view_stale(struct lca_api_view *v)
{
    int s;

    pthread_mutex_lock(&v->mu);
    s = v->stale;
    pthread_mutex_unlock(&v->mu);
    return s;
}

const struct lca_api_issuer *lca_api_view_issuer(const struct lca_api_snap *s, const char *ref)
{
    size_t i;

    if (ref == NULL || ref[0] == '\0') {
        return NULL;
    }
    if (strcmp(ref, "default") == 0) {
        ref = s->default_id;
    }
    for (i = 0; i < s->n_iss; i++) {
        if (strcasecmp(s->iss[i].id, ref) == 0 ||
            (s->iss[i].name[0] != '\0' && strcmp(s->iss[i].name, ref) == 0)) {
            return &s->iss[i];
        }
    }
    return NULL;
}

const struct lca_api_crl *lca_api_view_crl(const struct lca_api_issuer *is, const char *scope)
{
    size_t i;

    for (i = 0; is != NULL && i < is->n_crls; i++) {
        if (strcmp(is->crls[i].scope, scope) == 0) {
            return &is->crls[i];
        }
    }
    return NULL;
}

/* ---- loading: the state fold ---- */

static int fold_one(void *ctx, const struct lca_pgevent *pe, struct lca_err *err)
{
    struct lca_api_view *v = ctx;
    struct lca_event *ev = NULL;
    int rc;

    if (lca_event_decode(pe->payload, pe->payload_len, &ev, err) != LCA_OK) {
        return LCA_FAIL;
    }
    rc = lca_state_evolve(v->st, pe->position, ev, err);
    lca_event_free(ev);
    if (strcmp(pe->type, "ConfigUpdated") == 0) {
        v->config_index = pe->position;
    } else if (strcmp(pe->type, "Tidied") == 0) {
        v->tidy_at_us = pe->recorded_at_us;
    }
    return rc;
}

static char *val_json(const struct lca_val *val)
{
    struct lca_err err;
    char *out = NULL;
    size_t len = 0;

    if (val == NULL || lca_json_encode(val, &out, &len, &err) != LCA_OK) {
        return NULL;
    }
    return out;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The path of an http(s) URL ("" for none or "/"), without trailing slashes, malloc'd. */
static char *url_path(const char *url)
{
    const char *p = strstr(url, "://");
    size_t n;

    p = p != NULL ? strchr(p + 3, '/') : NULL;
    p = p != NULL ? p : "";
    n = strcspn(p, "?#");
    while (n > 0 && p[n - 1] == '/') {
        n--;
    }
    return strndup(p, n);
}

/* Adds the path of url to s->crl_paths unless it is there already. */
static int add_crl_path(struct lca_api_snap *s, const char *url)
{
    char *p, **grown;
    size_t i;

    if (url == NULL || url[0] == '\0') {
        return LCA_OK;
    }
    if ((p = url_path(url)) == NULL) {
        return LCA_FAIL;
    }
    for (i = 0; i < s->n_crl_paths; i++) {
        if (strcmp(s->crl_paths[i], p) == 0) {
            free(p);
            return LCA_OK;
        }
    }
    if ((grown = realloc(s->crl_paths, (s->n_crl_paths + 1) * sizeof(*grown))) == NULL) {
        free(p);
        return LCA_FAIL;
    }
    s->crl_paths = grown;
    s->crl_paths[s->n_crl_paths++] = p;
    return LCA_OK;
}

/* Each snapshot issuer's shard count and the CRL base URLs' paths, from the folded state. */
static int fill_crl_bases(const struct lca_api_view *v, struct lca_api_snap *s)
{
    size_t i;

    if (add_crl_path(s, lca_val_map_get_str(lca_state_config(v->st), "CrlBaseURL")) != LCA_OK) {
        return LCA_FAIL;
    }
    for (i = 0; i < s->n_iss; i++) {
        const struct lca_issuer *iss = lca_state_issuer_ref(v->st, s->iss[i].id);

        if (iss != NULL) {
            s->iss[i].crl_shards = iss->crl_shards > 1 ? iss->crl_shards : 0;
            if (add_crl_path(s, iss->crl_base_url) != LCA_OK) {
                return LCA_FAIL;
            }
        }
    }
    return LCA_OK;
}

/* Roles, configuration and default issuer of the folded state into s. */
static int fill_from_state(const struct lca_api_view *v, struct lca_api_snap *s)
{
    size_t n = lca_state_role_count(v->st), i;
    const struct lca_issuer *def = lca_state_default_issuer(v->st);

    s->role_names = calloc(n + 1, sizeof(char *));
    s->role_docs = calloc(n + 1, sizeof(char *));
    if (s->role_names == NULL || s->role_docs == NULL) {
        return LCA_FAIL;
    }
    for (i = 0; i < n; i++) {
        s->role_names[i] = strdup(lca_role_name(lca_state_role_at(v->st, i)));
        s->n_roles++;
        if (s->role_names[i] == NULL) {
            return LCA_FAIL;
        }
    }
    qsort(s->role_names, s->n_roles, sizeof(char *), cmp_str);
    for (i = 0; i < n; i++) {
        struct lca_val *rv = lca_role_to_val(lca_state_role(v->st, s->role_names[i]));

        s->role_docs[i] = val_json(rv);
        lca_val_free(rv);
        if (s->role_docs[i] == NULL) {
            return LCA_FAIL;
        }
    }
    if (fill_crl_bases(v, s) != LCA_OK) {
        return LCA_FAIL;
    }
    s->config_doc = val_json(lca_state_config(v->st));
    s->config_index = v->config_index;
    s->tidy_at_us = v->tidy_at_us;
    if (def != NULL) {
        snprintf(s->default_id, sizeof(s->default_id), "%s", def->id);
    }
    return LCA_OK;
}

/* ---- loading: the rm_* tables ---- */

static char *dup_col(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}

static PGresult *query(PGconn *c, const char *sql, int binary, struct lca_err *err)
{
    PGresult *r = PQexecParams(c, sql, 0, NULL, NULL, NULL, NULL, binary);

    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
        lca_pgstore_pg_err(c, r, "read models", err);
        PQclear(r);
        return NULL;
    }
    return r;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Lowercase hex (PostgreSQL's encode) to a malloc'd buffer; NULL on bad input. */
static unsigned char *hex_decode(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2, i;
    unsigned char *out = malloc(n + 1);

    for (i = 0; out != NULL && i < n; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        out[i] = (unsigned char)(hi * 16 + lo);
    }
    *len = out != NULL ? n : 0;
    return out;
}

static int load_issuers(PGconn *c, struct lca_api_snap *s, struct lca_err *err)
{
    PGresult *r = query(c,
                        "SELECT i.issuer_id, i.issuer_name, i.doc, i.pem, i.chain_pem, "
                        "encode(c.der, 'hex') FROM rm_issuers i LEFT JOIN rm_crls c "
                        "ON c.issuer_id = i.issuer_id AND c.scope = '' "
                        "ORDER BY i.position, i.issuer_id",
                        0, err);
    int i, n;

    if (r == NULL) {
        return LCA_FAIL;
    }
    n = PQntuples(r);
    s->iss = calloc((size_t)n + 1, sizeof(*s->iss));
    for (i = 0; s->iss != NULL && i < n; i++) {
        struct lca_api_issuer *is = &s->iss[i];
        const char *hex = PQgetisnull(r, i, 5) ? NULL : PQgetvalue(r, i, 5);

        snprintf(is->id, sizeof(is->id), "%s", PQgetvalue(r, i, 0));
        snprintf(is->name, sizeof(is->name), "%s", PQgetvalue(r, i, 1));
        is->doc = dup_col(r, i, 2);
        is->pem = dup_col(r, i, 3);
        is->chain_pem = dup_col(r, i, 4);
        s->n_iss++;
        if (hex != NULL) {
            is->crl = hex_decode(hex, &is->crl_len);
        }
    }
    PQclear(r);
    return s->iss != NULL ? LCA_OK : lca_err_set(err, LCA_ERR_FATAL, "no_memory", "oom");
}

/* Every rm_crls row, attached to its issuer (rows ordered by issuer, then scope). */
static int load_crls(PGconn *c, struct lca_api_snap *s, struct lca_err *err)
{
    PGresult *r = query(c, "SELECT issuer_id, scope, encode(der, 'hex') FROM rm_crls "
                           "ORDER BY issuer_id, scope", 0, err);
    int i, n, rc = LCA_OK;
    size_t k;

    if (r == NULL) {
        return LCA_FAIL;
    }
    n = PQntuples(r);
    for (i = 0; rc == LCA_OK && i < n; i++) {
        struct lca_api_issuer *is = NULL;
        struct lca_api_crl *grown, *one;

        for (k = 0; k < s->n_iss && is == NULL; k++) {
            is = strcmp(s->iss[k].id, PQgetvalue(r, i, 0)) == 0 ? &s->iss[k] : NULL;
        }
        if (is == NULL) {
            continue; /* a CRL of an issuer rm_issuers does not hold (yet) */
        }
        if ((grown = realloc(is->crls, (is->n_crls + 1) * sizeof(*grown))) == NULL) {
            rc = lca_err_set(err, LCA_ERR_FATAL, "no_memory", "oom");
            break;
        }
        is->crls = grown;
        one = &is->crls[is->n_crls];
        snprintf(one->scope, sizeof(one->scope), "%s", PQgetvalue(r, i, 1));
        if ((one->der = hex_decode(PQgetvalue(r, i, 2), &one->len)) == NULL) {
            rc = lca_err_set(err, LCA_ERR_FATAL, "no_memory", "oom");
            break;
        }
        is->n_crls++;
    }
    PQclear(r);
    return rc;
}

/* The aggregator's table exists (sql/010_federation.sql applied). -1 on failure. */
static int has_unified(PGconn *c, struct lca_err *err)
{
    PGresult *r = query(c, "SELECT to_regclass('agg_unified_crls') IS NOT NULL", 0, err);
    int yes;

    if (r == NULL) {
        return -1;
    }
    yes = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return yes;
}

/* Unified CRLs, when the aggregator runs on this database (README "Multi-cluster"). */
static int load_unified(PGconn *c, struct lca_api_snap *s, struct lca_err *err)
{
    PGresult *r;
    int i, yes = has_unified(c, err);
    size_t k;

    if (yes <= 0) {
        return yes < 0 ? LCA_FAIL : LCA_OK;
    }
    if ((r = query(c, "SELECT issuer_id, encode(der, 'hex'), crl_number FROM agg_unified_crls",
                   0, err)) == NULL) {
        return LCA_FAIL;
    }
    for (i = 0; i < PQntuples(r); i++) {
        s->unified_version += strtoll(PQgetvalue(r, i, 2), NULL, 10);
        for (k = 0; k < s->n_iss; k++) {
            if (strcmp(s->iss[k].id, PQgetvalue(r, i, 0)) == 0 && s->iss[k].ucrl == NULL) {
                s->iss[k].ucrl = hex_decode(PQgetvalue(r, i, 1), &s->iss[k].ucrl_len);
            }
        }
    }
    PQclear(r);
    return LCA_OK;
}

static int64_t unified_version(PGconn *c, struct lca_err *err)
{
    PGresult *r;
    int64_t v;

    if (has_unified(c, err) != 1 ||
        (r = query(c, "SELECT coalesce(sum(crl_number), 0) FROM agg_unified_crls", 0, err)) ==
            NULL) {
        return 0;
    }
    v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

static int load_roots(PGconn *c, struct lca_api_snap *s, struct lca_err *err)
{
    PGresult *r = query(c,
                        "SELECT (SELECT position FROM rm_position WHERE id = 1), doc, position "
                        "FROM (SELECT 1) one LEFT JOIN rm_roots ON rm_roots.id = 1",
                        0, err);

    if (r == NULL) {
        return LCA_FAIL;
    }
    if (PQntuples(r) != 1 || PQgetisnull(r, 0, 0)) {
        PQclear(r);
        return lca_err_set(err, LCA_ERR_FATAL, "no_read_models",
                           "rm_position is empty: run `ledgerca migrate`");
    }
    s->position = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    s->roots_doc = dup_col(r, 0, 1);
    s->roots_index = PQgetisnull(r, 0, 2) ? 0 : strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    PQclear(r);
    return LCA_OK;
}

/* Runs sql (a statement without result rows). */
static int exec(PGconn *c, const char *sql, struct lca_err *err)
{
    PGresult *r = query(c, sql, 0, err);

    PQclear(r);
    return r != NULL ? LCA_OK : LCA_FAIL;
}

/* Folds the log into v->st up to position (rebuilding from 0 after a failure). */
static int fold_to(struct lca_api_view *v, int64_t position, struct lca_err *err)
{
    int64_t at = lca_state_position(v->st);

    if (at > position) { /* the read models were rebuilt behind us */
        lca_state_free(v->st);
        v->st = lca_state_new();
        v->config_index = v->tidy_at_us = 0;
        at = 0;
        if (v->st == NULL) {
            return lca_err_set(err, LCA_ERR_FATAL, "no_memory", "oom");
        }
    }
    if (at == position) {
        return LCA_OK;
    }
    if (lca_pgstore_read(v->store, at, (size_t)(position - at), fold_one, v, NULL, err) !=
        LCA_OK) {
        lca_state_free(v->st);
        v->st = lca_state_new(); /* refolded from 0 next time */
        v->config_index = v->tidy_at_us = 0;
        return LCA_FAIL;
    }
    return LCA_OK;
}

/* A new snapshot of the read models and the state at the same cursor. */
static int load_snapshot(struct lca_api_view *v, struct lca_api_snap **out, struct lca_err *err)
{
    struct lca_api_snap *s = calloc(1, sizeof(*s));
    PGconn *c = lca_pgstore_conn(v->store, err);
    int rc = LCA_FAIL;

    if (s == NULL || c == NULL) {
        free(s);
        return c == NULL ? LCA_FAIL : lca_err_set(err, LCA_ERR_FATAL, "no_memory", "oom");
    }
    if (exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err) == LCA_OK) {
        rc = load_roots(c, s, err) == LCA_OK && load_issuers(c, s, err) == LCA_OK &&
                     load_crls(c, s, err) == LCA_OK && load_unified(c, s, err) == LCA_OK
                 ? LCA_OK
                 : LCA_FAIL;
        if (exec(c, rc == LCA_OK ? "COMMIT" : "ROLLBACK", rc == LCA_OK ? err : NULL) != LCA_OK) {
            rc = LCA_FAIL;
        }
    }
    if (rc == LCA_OK && (fold_to(v, s->position, err) != LCA_OK ||
                         fill_from_state(v, s) != LCA_OK)) {
        rc = err->cls != LCA_ERR_NONE ? LCA_FAIL
                                      : lca_err_set(err, LCA_ERR_FATAL, "no_memory", "oom");
    }
    if (rc != LCA_OK) {
        snap_free(s);
        return LCA_FAIL;
    }
    *out = s;
    return LCA_OK;
}

/* Reads the cursor and the head; reloads when the cursor moved. */
static int refresh(struct lca_api_view *v, int force, struct lca_err *err)
{
    PGconn *c = lca_pgstore_conn(v->store, err);
    PGresult *r;
    struct lca_api_snap *s = NULL;
    int64_t pos, head, uv;

    if (c == NULL) {
        return LCA_FAIL;
    }
    r = query(c, "SELECT (SELECT position FROM rm_position WHERE id = 1), "
                 "(SELECT position FROM log_head WHERE id = 1)", 0, err);
    if (r == NULL) {
        return LCA_FAIL;
    }
    pos = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    head = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    uv = unified_version(c, err);
    lca_err_clear(err);
    pthread_mutex_lock(&v->mu);
    v->head = head;
    force = force || v->cur == NULL || v->cur->position != pos || v->cur->unified_version != uv;
    pthread_mutex_unlock(&v->mu);
    if (force) {
        if (load_snapshot(v, &s, err) != LCA_OK) {
            return LCA_FAIL;
        }
        publish(v, s);
    }
    return LCA_OK;
}

static void *refresh_loop(void *arg)
{
    struct lca_api_view *v = arg;
    struct lca_err err;
    int was_stale = 0;

    for (;;) {
        struct timespec ts = {v->poll_ms / 1000, (long)(v->poll_ms % 1000) * 1000000L};
        int failed;

        lca_err_clear(&err);
        failed = refresh(v, 0, &err) != LCA_OK;
        pthread_mutex_lock(&v->mu);
        v->stale = failed;
        if (v->stop) {
            pthread_mutex_unlock(&v->mu);
            break;
        }
        pthread_mutex_unlock(&v->mu);
        if (failed && !was_stale) {
            lca_log_err("read-model refresh failed", &err);
        }
        was_stale = failed;
        nanosleep(&ts, NULL);
    }
    return NULL;
}

int lca_api_view_new(const char *pg_uri, const char *cluster, int poll_ms,
                     struct lca_api_view **out, struct lca_err *err)
{
    struct lca_api_view *v = calloc(1, sizeof(*v));

    if (v == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "no_memory", "oom");
    }
    pthread_mutex_init(&v->mu, NULL);
    pthread_cond_init(&v->changed, NULL);
    v->poll_ms = poll_ms > 0 ? poll_ms : 50;
    if ((v->st = lca_state_new()) == NULL) {
        lca_api_view_free(v);
        return lca_err_set(err, LCA_ERR_FATAL, "no_memory", "oom");
    }
    if (lca_pgstore_open(pg_uri, cluster != NULL ? cluster : "dc1", &v->store, err) != LCA_OK ||
        refresh(v, 1, err) != LCA_OK) {
        lca_api_view_free(v);
        return LCA_FAIL;
    }
    if (pthread_create(&v->thread, NULL, refresh_loop, v) != 0) {
        lca_api_view_free(v);
        return lca_err_set(err, LCA_ERR_FATAL, "thread", "cannot start the refresh thread");
    }
    v->started = 1;
    *out = v;
    return LCA_OK;
}

void lca_api_view_free(struct lca_api_view *v)
{
    if (v == NULL) {
        return;
    }
    if (v->started) {
        pthread_mutex_lock(&v->mu);
        v->stop = 1;
        pthread_cond_broadcast(&v->changed);
        pthread_mutex_unlock(&v->mu);
        pthread_join(v->thread, NULL);
    }
    if (v->cur != NULL && --v->cur->refs == 0) {
        snap_free(v->cur);
    }
    lca_state_free(v->st);
    lca_pgstore_free(v->store);
    pthread_cond_destroy(&v->changed);
    pthread_mutex_destroy(&v->mu);
    free(v);
}
