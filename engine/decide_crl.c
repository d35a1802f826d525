/*
 * decide_crl — CRL publication at scale (issue 4): complete and delta CRLs (RFC 5280 §5.2.4,
 * §5.2.6), CRLs sharded by serial with an issuingDistributionPoint per shard (§5.2.5) matching
 * each certificate's CRL distribution point (§4.2.1.13), the max-entries guard, and the
 * schedule that says when a crl.rotate is due.
 *
 * A scope is an unsharded issuer or one shard of a sharded issuer (engine/crl.h). Per scope:
 *   - a revocation publishes a delta CRL against the scope's last complete CRL when the
 *     configuration has CrlEnableDelta (Vault's enable_delta) and a complete CRL exists, and a
 *     complete CRL otherwise; only the revoked certificate's scope is rebuilt;
 *   - crl.rotate (and the signer's schedule) publishes a complete CRL per scope, followed by an
 *     empty delta against it when deltas are on (so `<scope>.delta.crl` names the new base);
 *   - delta_rebuild_interval (CrlDeltaRebuildInterval, default 0): a scope's delta is rebuilt
 *     at most once per interval. A revocation sooner than that after the scope's last CRL
 *     publishes nothing and stays pending (struct lca_crl_scope revoked_seq > last_seq); the
 *     schedule (lca_decide_crl_due) then asks for crl.rotate {"delta": true}, which publishes a
 *     delta for every pending scope. Both compare event times of the log (the revocation's
 *     revoked_at, the scope's last thisUpdate) or the `now` the schedule is given;
 *   - the guard: when the scope holds more unexpired revocations than CrlMaxEntries (Vault's
 *     max_crl_entries, default 100,000, -1 unlimited), no CRL is built; a CrlBuildFailed event
 *     {issuer_id, shard, code "crl_too_large", entries, max_entries} records it and the reply
 *     carries a warning. The revocation itself is committed (CertificateRevoked) and visible in
 *     the revoked read model; the scope's previous CRL stays published until an operator raises
 *     the limit (config.update) and runs crl.rotate. Never losing the revocation and never
 *     publishing a CRL that silently omits it are the two things a CA must not trade.
 * Pure, like the rest of decide: time and keys come from the env.
 */
#include "decide_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "crl.h"

struct crl_collect {
    const char *issuer_id;
    int shard;          /* -1: every serial of the issuer */
    unsigned n_shards;
    int delta;          /* only revocations with revoke_seq > after_seq */
    uint64_t after_seq;
    int64_t now;
    struct lca_crl_entry *entries;
    size_t n, cap;
    size_t live;        /* unexpired revocations of the scope: the complete CRL's size */
    int oom;
};

static int collect_revoked(const struct lca_certrec *rec, void *ctx)
{
    struct crl_collect *c = ctx;
    struct lca_crl_entry *n;

    if (rec->revoked_at == 0 || strcmp(rec->issuer_id, c->issuer_id) != 0 ||
        (c->shard >= 0 &&
         lca_crl_shard(rec->serial, rec->serial_len, c->n_shards) != (unsigned)c->shard)) {
        return 0;
    }
    c->live += rec->not_after >= c->now;
    if (c->delta && rec->revoke_seq <= c->after_seq) {
        return 0;
    }
    if (c->n == c->cap) {
        c->cap = c->cap == 0 ? 64 : c->cap * 2;
        if ((n = realloc(c->entries, c->cap * sizeof(*n))) == NULL) {
            c->oom = 1;
            return 1;
        }
        c->entries = n;
    }
    c->entries[c->n].serial = rec->serial;
    c->entries[c->n].serial_len = rec->serial_len;
    c->entries[c->n].revoked_at = rec->revoked_at;
    c->entries[c->n].reason = (enum lca_crl_reason)rec->reason;
    c->entries[c->n].not_after = rec->not_after;
    c->n++;
    return 0;
}

/* What one CrlPublished is for. */
struct scope_args {
    int shard;            /* -1: unsharded */
    unsigned n_shards;
    int delta;            /* 1: a delta CRL against `base` */
    uint64_t number;      /* the cRLNumber to use */
    uint64_t base;        /* delta: the base's cRLNumber */
    uint64_t after_seq;   /* delta: entries revoked after this sequence number */
    const char *base_url; /* NULL: no URLs (IDP needs one for shards) */
};

static const char *base_url_of(const struct lca_state *st, const struct lca_issuer *iss)
{
    const char *u = lca_val_map_get_str(lca_state_config(st), "CrlBaseURL");

    if (iss->crl_base_url[0] != '\0') {
        return iss->crl_base_url;
    }
    return u != NULL && u[0] != '\0' ? u : NULL;
}

/* The args for the next CRL of an existing scope. */
static struct scope_args args_for(const struct lca_state *st, const struct lca_issuer *iss,
                                  int shard, int delta)
{
    const struct lca_crl_scope *sc = lca_state_crl_scope(iss, shard);
    struct scope_args a;

    memset(&a, 0, sizeof(a));
    a.shard = shard;
    a.n_shards = iss->crl_shards;
    a.delta = delta && sc != NULL && sc->base_number > 0;
    a.number = (sc != NULL ? sc->number : 0) + 1;
    a.base = sc != NULL ? sc->base_number : 0;
    a.after_seq = sc != NULL ? sc->base_seq : 0;
    a.base_url = base_url_of(st, iss);
    return a;
}

static int too_large(const struct lca_issuer *iss, const struct scope_args *a, size_t live,
                     int64_t max, struct lca_decision *d, struct lca_err *err)
{
    struct lca_val *ev = lca_val_new_map(), *w;
    char msg[256];

    lca_val_map_set_str(ev, "issuer_id", iss->id);
    lca_val_map_set_int(ev, "shard", a->shard);
    lca_val_map_set_str(ev, "code", "crl_too_large");
    lca_val_map_set_int(ev, "entries", (int64_t)live);
    lca_val_map_set_int(ev, "max_entries", max);
    snprintf(msg, sizeof(msg),
             "crl_too_large: the CRL of issuer %s%s%d would list %zu entries, more than "
             "max_crl_entries %lld; the revocation is recorded, the CRL was not rebuilt",
             iss->id, a->shard >= 0 ? " shard " : "", a->shard >= 0 ? a->shard : 0, live,
             (long long)max);
    if ((w = (struct lca_val *)lca_val_map_get(d->result, "warnings")) == NULL) {
        lca_val_map_set(d->result, "warnings", lca_val_new_arr());
        w = (struct lca_val *)lca_val_map_get(d->result, "warnings");
    }
    lca_val_arr_push(w, lca_val_new_str(msg));
    return lca_decide_emit(d, LCA_EVT_CRL_BUILD_FAILED, ev, err);
}

static void fill_req(const struct lca_state *st, const struct scope_args *a,
                     const struct crl_collect *c, struct lca_crl_req *req)
{
    req->next_update = req->this_update + lca_decide_cfg_int(st, "CrlExpiry");
    req->crl_number = a->number;
    req->delta_base = a->delta ? (int64_t)a->base : -1;
    req->entries = c->entries;
    req->n_entries = c->n;
    req->max_entries = 0; /* the guard ran before (too_large) */
}

static int emit_built(const struct lca_issuer *iss, const struct scope_args *a,
                      const struct lca_crl_req *req, uint8_t *der, size_t der_len,
                      struct lca_decision *d, struct lca_err *err)
{
    struct lca_val *ev = lca_val_new_map();

    lca_val_map_set_str(ev, "issuer_id", iss->id);
    lca_val_map_set_int(ev, "crl_number", (int64_t)req->crl_number);
    lca_val_map_set_int(ev, "this_update", req->this_update);
    lca_val_map_set_int(ev, "next_update", req->next_update);
    lca_val_map_set_int(ev, "delta_base", req->delta_base);
    if (a->shard >= 0) { /* absent in unsharded events: old logs fold unchanged */
        lca_val_map_set_int(ev, "shard", a->shard);
        lca_val_map_set_int(ev, "shards", (int64_t)a->n_shards);
    }
    lca_val_map_set_bin(ev, "crl", der, der_len);
    return lca_decide_emit(d, LCA_EVT_CRL_PUBLISHED, ev, err);
}

/* Builds, signs and emits one CrlPublished for the scope (or a CrlBuildFailed). */
static int emit_scope(const struct lca_state *st, const struct lca_issuer *iss,
                      const struct scope_args *a, const struct lca_certrec *extra,
                      struct lca_env *env, struct lca_decision *d, struct lca_err *err)
{
    struct crl_collect c;
    struct lca_crl_req req;
    struct lca_crl_opts opts;
    char idp[1100], fresh[1100];
    uint8_t *der = NULL;
    size_t der_len = 0;
    EVP_PKEY *key = NULL;
    int64_t max = lca_decide_cfg_int(st, "CrlMaxEntries");
    int rc = LCA_FAIL;

    memset(&c, 0, sizeof(c));
    memset(&req, 0, sizeof(req));
    memset(&opts, 0, sizeof(opts));
    c.issuer_id = iss->id;
    c.shard = a->shard;
    c.n_shards = a->n_shards;
    c.delta = a->delta;
    c.after_seq = a->after_seq;
    if (lca_decide_now(env, &req.this_update, err) != LCA_OK ||
        env->key_get(env->ctx, iss->key_id, &key, err) != LCA_OK) {
        return LCA_FAIL;
    }
    c.now = req.this_update;
    lca_state_cert_foreach(st, collect_revoked, &c);
    if (extra != NULL) {
        collect_revoked(extra, &c);
    }
    if (c.oom) {
        lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory collecting revocations");
        goto out;
    }
    if (max > 0 && c.live > (size_t)max) {
        rc = too_large(iss, a, c.live, max, d, err);
        goto out;
    }
    fill_req(st, a, &c, &req);
    if (a->shard >= 0 && (a->base_url == NULL || lca_crl_url(a->base_url, iss->id, a->shard, 0,
                                                             idp, sizeof(idp)) != LCA_OK)) {
        lca_err_set(err, LCA_ERR_FATAL, "crl_url", "sharded issuer %s without a CRL base URL",
                    iss->id);
        goto out;
    }
    req.idp_url = a->shard >= 0 ? idp : NULL; /* a delta has its base's scope (§5.2.4) */
    if (!a->delta && lca_decide_cfg_int(st, "CrlEnableDelta") && a->base_url != NULL &&
        lca_crl_url(a->base_url, iss->id, a->shard, 1, fresh, sizeof(fresh)) == LCA_OK) {
        opts.freshest_url = fresh;
    }
    if (lca_crl_build_opts(iss->cert, key, &req, &opts, &der, &der_len, err) != LCA_OK) {
        goto out;
    }
    rc = emit_built(iss, a, &req, der, der_len, d, err);
out:
    free(der);
    free(c.entries);
    return rc;
}

int lca_decide_leaf_crl_emit(const struct lca_state *st, const struct lca_issuer *iss,
                             const struct lca_certrec *extra, struct lca_env *env,
                             struct lca_decision *d, struct lca_err *err)
{
    struct scope_args a = args_for(st, iss, -1, 0);

    return emit_scope(st, iss, &a, extra, env, d, err);
}

/* Vault's delta_rebuild_interval (CrlDeltaRebuildInterval): a scope's delta CRL is rebuilt at
 * most once per interval. 1 when a delta at `at` (the revocation's time, from its event) would
 * come sooner than the interval after the scope's last CRL (its thisUpdate, from the log); the
 * revocation then stays pending until the schedule's delta. 0 (the default) never defers. */
static int delta_deferred(const struct lca_state *st, const struct lca_crl_scope *sc, int64_t at)
{
    int64_t interval = lca_decide_cfg_int(st, "CrlDeltaRebuildInterval");

    return interval > 0 && sc != NULL && sc->number > 0 && at - sc->this_update < interval;
}

int lca_decide_crl_on_revoke(const struct lca_state *st, const struct lca_certrec *rec,
                             struct lca_env *env, struct lca_decision *d, struct lca_err *err)
{
    const struct lca_issuer *iss = lca_state_issuer_ref(st, rec->issuer_id);
    struct scope_args a;
    int shard;

    if (iss == NULL || !lca_decide_cfg_int(st, "CrlAutoRebuild")) {
        return LCA_OK;
    }
    shard = iss->crl_shards > 1 ? (int)lca_crl_shard(rec->serial, rec->serial_len, iss->crl_shards)
                                : -1;
    a = args_for(st, iss, shard, (int)lca_decide_cfg_int(st, "CrlEnableDelta"));
    if (a.delta && delta_deferred(st, lca_state_crl_scope(iss, shard), rec->revoked_at)) {
        return LCA_OK; /* pending: the schedule publishes the delta (lca_decide_crl_due) */
    }
    return emit_scope(st, iss, &a, rec, env, d, err);
}

/* A complete CRL of the scope, then (deltas on) an empty delta against it. */
static int rotate_scope(const struct lca_state *st, const struct lca_issuer *iss, int shard,
                        struct lca_env *env, struct lca_decision *d, size_t *n,
                        struct lca_err *err)
{
    struct scope_args a = args_for(st, iss, shard, 0);
    size_t before = d->n_events;

    if (emit_scope(st, iss, &a, NULL, env, d, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (d->events[before]->type != LCA_EVT_CRL_PUBLISHED) {
        return LCA_OK; /* the guard refused it */
    }
    (*n)++;
    if (!lca_decide_cfg_int(st, "CrlEnableDelta")) {
        return LCA_OK;
    }
    a.base = a.number++;
    a.delta = 1;
    a.after_seq = lca_state_revocations(st); /* nothing is revoked after the new base */
    if (emit_scope(st, iss, &a, NULL, env, d, err) != LCA_OK) {
        return LCA_FAIL;
    }
    (*n)++;
    return LCA_OK;
}

int lca_decide_crl_rotate_issuer(const struct lca_state *st, const struct lca_issuer *iss,
                                 struct lca_env *env, struct lca_decision *d, size_t *n,
                                 struct lca_err *err)
{
    uint32_t k;

    if (iss->crl_shards <= 1) {
        return rotate_scope(st, iss, -1, env, d, n, err);
    }
    for (k = 0; k < iss->crl_shards; k++) {
        if (rotate_scope(st, iss, (int)k, env, d, n, err) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    return LCA_OK;
}

/* 1 when the scope holds a revocation no CRL lists yet and has a base for a delta. */
static int scope_pending(const struct lca_crl_scope *sc)
{
    return sc != NULL && sc->base_number > 0 && sc->revoked_seq > sc->last_seq;
}

/* crl.rotate {"delta": true} (Vault's crl/rotate-delta; the schedule's delta rebuild): a delta
 * CRL for every scope of iss with pending revocations, nothing for the others. */
static int rotate_deltas(const struct lca_state *st, const struct lca_issuer *iss,
                         struct lca_env *env, struct lca_decision *d, size_t *n,
                         struct lca_err *err)
{
    int k, last = iss->crl_shards > 1 ? (int)iss->crl_shards - 1 : -1;
    struct scope_args a;
    size_t before;

    for (k = iss->crl_shards > 1 ? 0 : -1; k <= last; k++) {
        if (!scope_pending(lca_state_crl_scope(iss, k))) {
            continue;
        }
        a = args_for(st, iss, k, 1);
        before = d->n_events;
        if (emit_scope(st, iss, &a, NULL, env, d, err) != LCA_OK) {
            return LCA_FAIL;
        }
        *n += d->events[before]->type == LCA_EVT_CRL_PUBLISHED;
    }
    return LCA_OK;
}

int lca_decide_leaf_crl_rotate(const struct lca_state *st, const struct lca_command *cmd,
                               struct lca_env *env, struct lca_decision *d, struct lca_err *err)
{
    const char *ref = lca_val_map_get_str(cmd->payload, "issuer_ref");
    const struct lca_issuer *only = ref != NULL ? lca_state_issuer_ref(st, ref) : NULL;
    const struct lca_val *dv = lca_val_map_get(cmd->payload, "delta");
    int delta = lca_val_kind(dv) == LCA_VAL_BOOL ? lca_val_bool(dv)
                : lca_val_kind(dv) == LCA_VAL_STR ? strcmp(lca_val_str(dv), "true") == 0
                                                  : 0;
    size_t i, n = 0;

    if (ref != NULL && only == NULL) {
        return lca_decide_reject(d, cmd, "not_found", "no issuer '%.80s'", ref);
    }
    if (delta && !lca_decide_cfg_int(st, "CrlEnableDelta")) {
        return lca_decide_reject(d, cmd, "delta_disabled",
                                 "delta CRLs are disabled (config/crl enable_delta)");
    }
    for (i = 0; i < lca_state_issuer_count(st); i++) {
        const struct lca_issuer *iss = lca_state_issuer_at(st, i);
        if (iss->retired || !(iss->usage & LCA_USAGE_CRL_SIGNING) ||
            (only != NULL && only != iss)) {
            continue;
        }
        if ((delta ? rotate_deltas(st, iss, env, d, &n, err)
                   : lca_decide_crl_rotate_issuer(st, iss, env, d, &n, err)) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    lca_val_map_set_bool(d->result, "success", 1);
    lca_val_map_set_int(d->result, "crls_published", (int64_t)n);
    return LCA_OK;
}

/* ---- sharding an issuer (issuer.update crl_shards) ---- */

struct cert_count {
    const char *issuer_id;
    size_t n;
};

static int count_cert(const struct lca_certrec *rec, void *ctx)
{
    struct cert_count *c = ctx;

    c->n += strcmp(rec->issuer_id, c->issuer_id) == 0;
    return c->n > 0; /* one is enough */
}

static int has_certs(const struct lca_state *st, const struct lca_issuer *iss)
{
    struct cert_count c = {iss->id, 0};

    lca_state_cert_foreach(st, count_cert, &c);
    return c.n > 0;
}

int lca_decide_crl_shard_update(const struct lca_state *st, const struct lca_command *cmd,
                                const struct lca_issuer *iss, struct lca_val *ev, int *rejected,
                                struct lca_decision *d)
{
    const struct lca_val *v = lca_val_map_get(cmd->payload, "crl_shards");
    const char *url = lca_val_map_get_str(cmd->payload, "crl_base_url");
    int64_t n = lca_val_kind(v) == LCA_VAL_STR ? strtoll(lca_val_str(v), NULL, 10) : lca_val_int(v);
    char probe[1100];

    *rejected = 0;
    if (v == NULL || n == (iss->crl_shards > 1 ? (int64_t)iss->crl_shards : 1)) {
        return LCA_OK;
    }
    url = url != NULL ? url : lca_val_map_get_str(lca_state_config(st), "CrlBaseURL");
    *rejected = 1;
    if (!lca_crl_shards_valid(n)) {
        return lca_decide_reject(d, cmd, "bad_field",
                                 "crl_shards must be a power of two from 1 to %d",
                                 LCA_CRL_MAX_SHARDS);
    }
    if (iss->crl_shards > 1 || has_certs(st, iss)) {
        return lca_decide_reject(d, cmd, "crl_shards_fixed",
                                 "crl_shards can be set only before the issuer signs a "
                                 "certificate: issued certificates name their shard's CRL");
    }
    if (url == NULL || lca_crl_url(url, iss->id, (int)n - 1, 1, probe, sizeof(probe)) != LCA_OK ||
        strlen(url) >= sizeof(iss->crl_base_url)) {
        return lca_decide_reject(d, cmd, "crl_base_url_required",
                                 "a sharded issuer needs crl_base_url (or the configuration's "
                                 "CrlBaseURL): each shard's URL is <base>/<issuer_id>/<k>.crl");
    }
    *rejected = 0;
    lca_val_map_set_int(ev, "crl_shards", n);
    lca_val_map_set_str(ev, "crl_base_url", url);
    return LCA_OK;
}

int lca_decide_crl_first_shards(const struct lca_state *st, const struct lca_issuer *iss,
                                const struct lca_val *ev, struct lca_env *env,
                                struct lca_decision *d, struct lca_err *err)
{
    int64_t n = lca_val_map_get_int(ev, "crl_shards", 0);
    struct scope_args a;
    int64_t k;

    if (n <= 1) {
        return LCA_OK;
    }
    for (k = 0; k < n; k++) { /* every shard publishes an empty complete CRL at once */
        memset(&a, 0, sizeof(a));
        a.shard = (int)k;
        a.n_shards = (unsigned)n;
        a.number = 1;
        a.base_url = lca_val_map_get_str(ev, "crl_base_url");
        if (emit_scope(st, iss, &a, NULL, env, d, err) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    return LCA_OK;
}

/* ---- certificates' CRL distribution point ---- */

void lca_decide_crl_cdp(const struct lca_state *st, const struct lca_issuer *iss,
                        const uint8_t *serial, size_t serial_len, struct lca_urls *urls,
                        char *buf, size_t buflen, const char **slot)
{
    const char *base = base_url_of(st, iss);
    int k = iss->crl_shards > 1 ? (int)lca_crl_shard(serial, serial_len, iss->crl_shards) : -1;
    size_t half = buflen / 2;

    if (k >= 0 && lca_crl_url(iss->crl_base_url, iss->id, k, 0, buf, half) == LCA_OK) {
        slot[0] = buf; /* the shard's URL replaces the configured CRL URLs (§4.2.1.13) */
        urls->crl_distribution_points = slot;
        urls->n_crl = 1;
    }
    if (lca_decide_cfg_int(st, "CrlEnableDelta") && base != NULL &&
        lca_crl_url(base, iss->id, k, 1, buf + half, buflen - half) == LCA_OK) {
        slot[1] = buf + half; /* where this scope's delta CRLs are (§4.2.1.15, §5.2.6) */
        urls->freshest_crl = slot + 1;
        urls->n_freshest = 1;
    }
}

/* ---- the schedule ---- */

static int scope_due(const struct lca_crl_scope *sc, int64_t now, int64_t grace, int64_t *when)
{
    if (sc->number == 0 || now >= sc->next_update - grace) {
        *when = sc->next_update;
        return 1;
    }
    return 0;
}

/* A scope whose pending revocations are due in a delta at `now` (CrlAutoRebuild and
 * CrlEnableDelta on): the interval since its last CRL has passed. *seq: the latest pending
 * revocation, which names the delta rebuild (the same for every signer at that log position). */
static int delta_due(const struct lca_crl_scope *sc, int64_t now, int64_t interval,
                     uint64_t *seq)
{
    if (!scope_pending(sc) || now - sc->this_update < interval) {
        return 0;
    }
    *seq = sc->revoked_seq > *seq ? sc->revoked_seq : *seq;
    return 1;
}

static void uuid_from(const char *kind, const char *issuer_id, int64_t period, char out[37])
{
    uint8_t h[SHA256_DIGEST_LENGTH];
    char in[128];
    int n = snprintf(in, sizeof(in), "ledgerca/%s/%s/%lld", kind, issuer_id, (long long)period);

    SHA256((const unsigned char *)in, n > 0 ? (size_t)n : 0, h);
    h[6] = (uint8_t)((h[6] & 0x0f) | 0x80); /* version 8: custom (RFC 9562 §5.8) */
    h[8] = (uint8_t)((h[8] & 0x3f) | 0x80); /* variant 10 */
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", h[0], h[1],
             h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13], h[14],
             h[15]);
}

/* The complete CRL of one of iss's scopes is due (see lca_decide_crl_due): *when its period. */
static int complete_due(const struct lca_issuer *iss, int64_t now, int64_t grace, int64_t *when)
{
    uint32_t k;

    if (iss->crl_shards > 1) {
        for (k = 0; k < iss->crl_shards; k++) {
            if (scope_due(&iss->shards[k], now, grace, when)) {
                return 1;
            }
        }
        return 0;
    }
    return scope_due(&iss->crl, now, grace, when);
}

/* A delta of one of iss's scopes is due; *seq the latest pending revocation among them. */
static int deltas_due(const struct lca_issuer *iss, int64_t now, int64_t interval, uint64_t *seq)
{
    uint32_t k;
    int due = 0;

    if (iss->crl_shards > 1) {
        for (k = 0; k < iss->crl_shards; k++) {
            due |= delta_due(&iss->shards[k], now, interval, seq);
        }
        return due;
    }
    return delta_due(&iss->crl, now, interval, seq);
}

int lca_decide_crl_due(const struct lca_state *st, int64_t now, char issuer_id[LCA_ID_LEN + 1],
                       char command_id[37], int *delta)
{
    int64_t grace = lca_decide_cfg_int(st, "CrlRebuildGrace");
    int64_t half = lca_decide_cfg_int(st, "CrlExpiry") / 2, when = 0;
    int64_t interval = lca_decide_cfg_int(st, "CrlDeltaRebuildInterval");
    int deltas =
        lca_decide_cfg_int(st, "CrlEnableDelta") && lca_decide_cfg_int(st, "CrlAutoRebuild");
    uint64_t seq = 0;
    size_t i;

    grace = grace < half ? grace : half;
    for (i = 0; i < lca_state_issuer_count(st); i++) {
        const struct lca_issuer *iss = lca_state_issuer_at(st, i);
        if (iss->retired || !(iss->usage & LCA_USAGE_CRL_SIGNING) ||
            now >= iss->not_after) {
            continue;
        }
        if (complete_due(iss, now, grace, &when)) {
            snprintf(issuer_id, LCA_ID_LEN + 1, "%s", iss->id);
            uuid_from("crl.rotate", iss->id, when, command_id);
            *delta = 0;
            return 1;
        }
        if (deltas && deltas_due(iss, now, interval, &seq)) {
            snprintf(issuer_id, LCA_ID_LEN + 1, "%s", iss->id);
            uuid_from("crl.delta", iss->id, (int64_t)seq, command_id);
            *delta = 1;
            return 1;
        }
    }
    return 0;
}
