/*
 * replicate — see replicate.h for the protocol. The primary is read through workers/pgstore.h
 * (lca_pgstore_read, lca_pgstore_key_get); the secondary is written through one pgbatch per
 * round, whose consumer offset row is the replication cursor.
 */
#include "replicate.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "event.h"
#include "json.h"
#include "key.h"
#include "log.h"
#include "osslenv.h"
#include "pgstore.h"
#include "val.h"

#define CURSOR_TOPIC "events"

static const char *const ca_wide[] = {"ConfigUpdated", "IssuerCreated", "RootActivated",
                                      "IssuerUpdated", "RoleWritten",   "RoleDeleted"};

int lca_replicate_is_ca_wide(const char *type)
{
    size_t i;

    for (i = 0; type != NULL && i < sizeof(ca_wide) / sizeof(ca_wide[0]); i++) {
        if (strcmp(type, ca_wide[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* One primary event as read. */
struct pev {
    int64_t position;
    char type[40];
    uint8_t command_id[16];
    uint8_t *payload;
    size_t len;
};

struct rep {
    const struct lca_replicate_opts *o;
    const char *primary;
    char group[160];
    uint8_t kek[32];
    int have_kek;
    struct lca_pgstore *prim, *sec;
    struct lca_pgbatch *batch;
    struct pev *evs;
    size_t n, cap;
    int64_t next;       /* next primary position to read (the cursor) */
    long batches;       /* committed rounds */
    char crash_at[32];  /* LEDGERCA_TEST_CRASH=<point>:<round> (tests only) */
    long crash_round;
    uint64_t n_replicated, n_skipped, n_keys;
};

/* ---- test crash points (the kill-anywhere test) ---- */

static void crash_point(const struct rep *r, const char *point)
{
    if (r->crash_at[0] != '\0' && strcmp(r->crash_at, point) == 0 &&
        r->batches + 1 == r->crash_round) {
        lca_log(LCA_LOG_WARN, "test crash point reached", "point=%s round=%ld", point,
                r->batches + 1);
        raise(SIGKILL);
    }
}

static void crash_init(struct rep *r)
{
    const char *c = getenv("LEDGERCA_TEST_CRASH");
    const char *colon = c != NULL ? strchr(c, ':') : NULL;

    if (colon != NULL && (size_t)(colon - c) < sizeof(r->crash_at)) {
        memcpy(r->crash_at, c, (size_t)(colon - c));
        r->crash_at[colon - c] = '\0';
        r->crash_round = strtol(colon + 1, NULL, 10);
    }
}

/* ---- reading the primary ---- */

static void evs_clear(struct rep *r)
{
    size_t i;

    for (i = 0; i < r->n; i++) {
        free(r->evs[i].payload);
    }
    r->n = 0;
}

static int collect(void *ctx, const struct lca_pgevent *pe, struct lca_err *err)
{
    struct rep *r = ctx;
    struct pev *e;

    if (strcmp(pe->cluster, r->primary) != 0) {
        return lca_err_set(err, LCA_ERR_FATAL, "wrong_primary",
                           "the log at --primary-pg-uri holds events of cluster '%.64s' "
                           "(position %lld), not of the primary '%.64s'",
                           pe->cluster, (long long)pe->position, r->primary);
    }
    if (r->n == r->cap) {
        size_t cap = r->cap == 0 ? 256 : r->cap * 2;
        struct pev *n = realloc(r->evs, cap * sizeof(*n));
        if (n == NULL) {
            return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
        }
        r->evs = n;
        r->cap = cap;
    }
    e = &r->evs[r->n];
    memset(e, 0, sizeof(*e));
    e->position = pe->position;
    snprintf(e->type, sizeof(e->type), "%s", pe->type);
    memcpy(e->command_id, pe->command_id, 16);
    if ((e->payload = malloc(pe->payload_len > 0 ? pe->payload_len : 1)) == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
    }
    memcpy(e->payload, pe->payload, pe->payload_len);
    e->len = pe->payload_len;
    r->n++;
    return LCA_OK;
}

/* Reads the next events, dropping a trailing command whose events may continue past the page
 * (its events are read whole by the next round); a command larger than the page widens it. */
static int read_primary(struct rep *r, struct lca_err *err)
{
    size_t max = r->o->max_events > 0 ? r->o->max_events : 1000, got, keep;

    for (;;) {
        evs_clear(r);
        got = 0;
        if (lca_pgstore_read(r->prim, r->next - 1, max, collect, r, &got, err) != LCA_OK) {
            return LCA_FAIL;
        }
        if (got < max) {
            return LCA_OK;
        }
        for (keep = r->n; keep > 0 && memcmp(r->evs[keep - 1].command_id,
                                             r->evs[r->n - 1].command_id, 16) == 0;
             keep--) {
        }
        if (keep > 0) {
            break;
        }
        max *= 4;
    }
    while (r->n > keep) {
        free(r->evs[--r->n].payload);
    }
    return LCA_OK;
}

/* ---- the secondary's side ---- */

static void cursor_seen(void *ctx, int32_t partition, int64_t next_offset)
{
    if (partition == 0) {
        *(int64_t *)ctx = next_offset;
    }
}

static int load_cursor(struct rep *r, struct lca_err *err)
{
    int64_t next = 1;

    if (lca_pgstore_offsets(r->sec, r->group, CURSOR_TOPIC, cursor_seen, &next, err) != LCA_OK) {
        return LCA_FAIL;
    }
    r->next = next > 0 ? next : 1;
    return LCA_OK;
}

/* One integer from a query on the secondary (NULL result: 0). */
static int sec_int(struct rep *r, const char *sql, int64_t *out, struct lca_err *err)
{
    PGconn *c = lca_pgstore_conn(r->sec, err);
    PGresult *res;

    if (c == NULL) {
        return LCA_FAIL;
    }
    res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        lca_pgstore_pg_err(c, res, "replicate query", err);
        PQclear(res);
        return LCA_FAIL;
    }
    *out = PQgetisnull(res, 0, 0) ? 0 : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return LCA_OK;
}

/* A log that bootstrapped its own root cannot take the primary's. */
static int check_fresh(struct rep *r, struct lca_err *err)
{
    int64_t n = 0;

    if (r->next > 1) {
        return LCA_OK;
    }
    if (sec_int(r, "SELECT count(*) FROM events WHERE type = 'RootActivated'", &n, err) !=
        LCA_OK) {
        return LCA_FAIL;
    }
    if (n > 0) {
        return lca_err_set(err, LCA_ERR_FATAL, "secondary_has_root",
                           "the secondary log already has a root of its own and was never "
                           "replicated into: start its signer with --secondary-of on a fresh "
                           "log (migrate an empty database)");
    }
    return LCA_OK;
}

/* ---- keys ---- */

static int copy_key(struct rep *r, const struct lca_val *p, struct lca_err *err)
{
    const char *key_id = lca_val_map_get_str(p, "key_id");
    const char *kind = lca_val_map_get_str(p, "kind");
    uint8_t *blob = NULL;
    EVP_PKEY *k = NULL;
    size_t len = 0;
    int rc = LCA_FAIL;

    if (key_id == NULL || key_id[0] == '\0') {
        return LCA_OK;
    }
    if (lca_pgstore_key_get(r->prim, key_id, &blob, &len, err) != LCA_OK) {
        if (err->cls == LCA_ERR_BAD_INPUT && kind != NULL && strcmp(kind, "external") == 0) {
            lca_err_clear(err); /* an external issuer's key may live elsewhere */
            return LCA_OK;
        }
        if (err->cls == LCA_ERR_BAD_INPUT) {
            return lca_err_set(err, LCA_ERR_FATAL, "key_missing",
                               "issuer %.40s: key %.64s is not in the primary's ca_keys",
                               lca_val_map_get_str(p, "issuer_id"), key_id);
        }
        return LCA_FAIL;
    }
    if (r->have_kek && lca_key_unwrap(r->kek, blob, len, key_id, &k, err) != LCA_OK) {
        lca_err_set(err, LCA_ERR_FATAL, "kek_mismatch",
                    "key %.64s does not open under --kek-file: the secondary needs the "
                    "primary's KEK", key_id);
        goto out;
    }
    if (lca_pgstore_key_put(r->sec, key_id, blob, len, err) != LCA_OK) {
        goto out;
    }
    r->n_keys++;
    rc = LCA_OK;
out:
    EVP_PKEY_free(k);
    if (blob != NULL) {
        OPENSSL_cleanse(blob, len);
    }
    free(blob);
    return rc;
}

/* ---- one round ---- */

static int add_command(struct rep *r, const struct pev *e, struct lca_err *err)
{
    struct lca_val *v = lca_val_new_map();
    char *reply = NULL;
    size_t len = 0;
    int rc;

    lca_val_map_set_str(v, "status", "replicated");
    lca_val_map_set_str(v, "from_cluster", r->primary);
    lca_val_map_set_int(v, "from_position", e->position);
    rc = lca_json_encode(v, &reply, &len, err);
    lca_val_free(v);
    if (rc == LCA_OK) {
        rc = lca_pgbatch_add_command(r->batch, e->command_id, (const uint8_t *)reply, len, NULL,
                                     err);
    }
    free(reply);
    return rc;
}

static int add_event(struct rep *r, const struct pev *e, int32_t version, struct lca_err *err)
{
    struct lca_event *ev = NULL;
    int rc;

    if (lca_event_decode(e->payload, e->len, &ev, err) != LCA_OK) {
        err->cls = LCA_ERR_FATAL;
        return LCA_FAIL; /* the primary's log is corrupt: audit verify it */
    }
    rc = strcmp(e->type, "IssuerCreated") == 0 ? copy_key(r, ev->payload, err) : LCA_OK;
    lca_event_free(ev);
    if (rc != LCA_OK) {
        return LCA_FAIL;
    }
    return lca_pgbatch_add_event(r->batch, "ca", version, e->type, e->payload, e->len, err);
}

/* Fills the batch from the events read; *n_rep receives the number of replicated events. */
static int fill(struct rep *r, size_t *n_rep, struct lca_err *err)
{
    const uint8_t *cur = NULL;
    int64_t ca = 0;
    size_t i;

    *n_rep = 0;
    lca_pgbatch_reset(r->batch);
    if (sec_int(r, "SELECT max(stream_version) FROM events WHERE stream = 'ca'", &ca, err) !=
        LCA_OK) {
        return LCA_FAIL;
    }
    for (i = 0; i < r->n; i++) {
        const struct pev *e = &r->evs[i];
        if (!lca_replicate_is_ca_wide(e->type)) {
            continue;
        }
        if ((cur == NULL || memcmp(cur, e->command_id, 16) != 0) &&
            add_command(r, e, err) != LCA_OK) {
            return LCA_FAIL;
        }
        cur = e->command_id;
        if (add_event(r, e, (int32_t)(ca + 1 + (int64_t)*n_rep), err) != LCA_OK) {
            return LCA_FAIL;
        }
        (*n_rep)++;
    }
    return r->n == 0 ? LCA_OK
                     : lca_pgbatch_add_offset(r->batch, r->group, CURSOR_TOPIC, 0,
                                              r->evs[r->n - 1].position + 1, err);
}

static void report_duplicates(struct rep *r)
{
    size_t i;

    for (i = 0; i < lca_pgbatch_count(r->batch); i++) {
        if (lca_pgbatch_result(r->batch, i, NULL, NULL, NULL, NULL) == LCA_PGBATCH_DUPLICATE) {
            lca_log(LCA_LOG_WARN, "command already in the secondary log (another replicator?)",
                    "index=%zu", i);
        }
    }
}

/* Reads, appends and moves the cursor once; *consumed = primary events consumed. */
static int round_once(struct rep *r, size_t *consumed, struct lca_err *err)
{
    size_t n_rep = 0;
    int64_t first = 0, last = 0;

    *consumed = 0;
    if (read_primary(r, err) != LCA_OK || r->n == 0) {
        return r->n == 0 && err->cls == LCA_ERR_NONE ? LCA_OK : LCA_FAIL;
    }
    if (fill(r, &n_rep, err) != LCA_OK) {
        return LCA_FAIL;
    }
    crash_point(r, "before_commit");
    if (lca_pgstore_commit_batch(r->sec, r->batch, err) != LCA_OK) {
        return LCA_FAIL;
    }
    crash_point(r, "after_commit");
    report_duplicates(r);
    if (lca_pgbatch_count(r->batch) > 0) {
        (void)lca_pgbatch_result(r->batch, 0, &first, NULL, NULL, NULL);
        (void)lca_pgbatch_result(r->batch, lca_pgbatch_count(r->batch) - 1, NULL, &last, NULL,
                                 NULL);
    }
    r->batches++;
    r->n_replicated += n_rep;
    r->n_skipped += r->n - n_rep;
    lca_log(LCA_LOG_INFO, "replicated",
            "primary_from=%lld primary_to=%lld read=%zu appended=%zu commands=%zu "
            "first=%lld last=%lld",
            (long long)r->next, (long long)r->evs[r->n - 1].position, r->n, n_rep,
            lca_pgbatch_count(r->batch), (long long)first, (long long)last);
    r->next = r->evs[r->n - 1].position + 1;
    *consumed = r->n;
    return LCA_OK;
}

/* ---- start-up and the loop ---- */

static int open_all(struct rep *r, struct lca_err *err)
{
    const struct lca_replicate_opts *o = r->o;

    if (o->pg_uri == NULL || o->primary_pg_uri == NULL || o->cluster == NULL ||
        o->cluster[0] == '\0') {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "usage",
                           "--pg-uri, --primary-pg-uri and --cluster are required");
    }
    if (strcmp(o->cluster, r->primary) == 0) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "usage",
                           "the secondary's --cluster equals --primary (%.64s)", r->primary);
    }
    snprintf(r->group, sizeof(r->group), "replicate-%s", r->primary);
    if (o->kek_file != NULL && o->kek_file[0] != '\0') {
        if (lca_osslenv_load_kek(o->kek_file, r->kek, err) != LCA_OK) {
            return LCA_FAIL;
        }
        r->have_kek = 1;
    }
    if (lca_pgstore_open(o->pg_uri, o->cluster, &r->sec, err) != LCA_OK ||
        lca_pgstore_open(o->primary_pg_uri, r->primary, &r->prim, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if ((r->batch = lca_pgbatch_new()) == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
    }
    return LCA_OK;
}

static void close_all(struct rep *r)
{
    evs_clear(r);
    free(r->evs);
    lca_pgbatch_free(r->batch);
    lca_pgstore_free(r->prim);
    lca_pgstore_free(r->sec);
    OPENSSL_cleanse(r->kek, sizeof(r->kek));
}

/* Start-up checks that need both databases; retried like a round while they are down. */
static int start(struct rep *r, struct lca_err *err)
{
    int64_t head = 0;
    uint8_t hash[LCA_PGSTORE_HASH_LEN];

    if (lca_pgstore_head(r->prim, &head, hash, err) != LCA_OK || load_cursor(r, err) != LCA_OK ||
        check_fresh(r, err) != LCA_OK) {
        return LCA_FAIL;
    }
    lca_log(LCA_LOG_INFO, "replicator ready", "cluster=%s primary=%s group=%s cursor=%lld "
            "primary_head=%lld keys_checked=%s", r->o->cluster, r->primary, r->group,
            (long long)(r->next - 1), (long long)head, r->have_kek ? "yes" : "no");
    return LCA_OK;
}

static void idle(const struct rep *r, int ms)
{
    int waited = 0;

    while (waited < ms && !*r->o->stop) {
        usleep(10000);
        waited += 10;
    }
}

/* One step of the loop: LCA_OK (with *caught_up), or LCA_FAIL for a fatal error. */
static int step(struct rep *r, int *started, int *delay, int *caught_up, struct lca_err *err)
{
    size_t consumed = 0;

    lca_err_clear(err);
    *caught_up = 0;
    if ((*started || (start(r, err) == LCA_OK && (*started = 1))) &&
        round_once(r, &consumed, err) == LCA_OK) {
        *delay = 1;
        *caught_up = consumed == 0;
        return LCA_OK;
    }
    if (err->cls != LCA_ERR_RETRIABLE) {
        return LCA_FAIL;
    }
    lca_log_err("replication round failed; retrying", err);
    idle(r, *delay * 1000);
    *delay = *delay < 8 ? *delay * 2 : *delay;
    return LCA_OK;
}

int lca_replicate_run(const struct lca_replicate_opts *o, struct lca_err *err)
{
    struct rep *r = calloc(1, sizeof(*r));
    int rc = LCA_FAIL, started = 0, delay = 1, caught_up = 0;

    if (r == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
    }
    r->o = o;
    r->primary = o->primary != NULL && o->primary[0] != '\0' ? o->primary : "dc1";
    crash_init(r);
    if (open_all(r, err) != LCA_OK) {
        goto out;
    }
    while (!*o->stop) {
        if (step(r, &started, &delay, &caught_up, err) != LCA_OK) {
            goto out;
        }
        if (caught_up && o->once) {
            break;
        }
        if (caught_up) {
            idle(r, o->poll_ms > 0 ? o->poll_ms : 500);
        }
    }
    lca_log(LCA_LOG_INFO, o->once && caught_up ? "replicator caught up" : "replicator stopped",
            "cursor=%lld replicated=%llu skipped_local=%llu keys_copied=%llu",
            (long long)(r->next - 1), (unsigned long long)r->n_replicated,
            (unsigned long long)r->n_skipped, (unsigned long long)r->n_keys);
    rc = LCA_OK;
out:
    close_all(r);
    free(r);
    return rc;
}
