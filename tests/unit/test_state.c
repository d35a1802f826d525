/*
 * test_state — the flat fold (lca_state_evolve_flat over lca_event_decode_flat), which the
 * replay uses for certificates and revocations, against the tree fold (lca_state_evolve over
 * lca_event_decode): two states bootstrapped alike are fed the same stored bytes, one through
 * the flat path with the tree path as its fallback (as workers/audit_replay.c does), one
 * through the tree path only; they must agree on every verdict and every record, and the flat
 * path must take the usual events itself and leave the odd ones to the tree path.
 */
#include <CUnit/Basic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "curun.h"
#include "decide.h"
#include "event.h"
#include "fakeenv.h"
#include "state.h"

struct pair {
    struct lca_fakeenv *fe;
    struct lca_state *flat, *tree;
    int64_t pos;
    char issuer[LCA_ID_LEN + 1];
};

static void pair_init(struct pair *p)
{
    struct lca_decision *d = NULL;
    struct lca_err err;
    size_t i;

    memset(p, 0, sizeof(*p));
    p->fe = lca_fakeenv_new(7);
    p->flat = lca_state_new();
    p->tree = lca_state_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(p->fe);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p->flat);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p->tree);
    lca_err_clear(&err);
    CU_ASSERT_EQUAL_FATAL(
        lca_decide_bootstrap(p->flat, NULL, "dc1", lca_fakeenv_env(p->fe), &d, &err), LCA_OK);
    for (i = 0; i < d->n_events; i++) {
        p->pos++;
        CU_ASSERT_EQUAL_FATAL(lca_state_evolve(p->flat, p->pos, d->events[i], &err), LCA_OK);
        CU_ASSERT_EQUAL_FATAL(lca_state_evolve(p->tree, p->pos, d->events[i], &err), LCA_OK);
    }
    lca_decision_free(d);
    CU_ASSERT_PTR_NOT_NULL_FATAL(lca_state_default_issuer(p->flat));
    memcpy(p->issuer, lca_state_default_issuer(p->flat)->id, sizeof(p->issuer));
}

static void pair_cleanup(struct pair *p)
{
    lca_state_free(p->flat);
    lca_state_free(p->tree);
    lca_fakeenv_free(p->fe);
}

/* The canonical bytes of an event of `type` with payload m (consumed). */
static uint8_t *stored(enum lca_evt_type type, struct lca_val *m, size_t *len)
{
    struct lca_event *e = lca_event_new(type, m);
    uint8_t *out = NULL;
    struct lca_err err;

    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL_FATAL(lca_event_canonical(e, &out, len, &err), LCA_OK);
    lca_event_free(e);
    return out;
}

/* Tree path: decode and evolve. */
static int fold_tree(struct lca_state *st, int64_t pos, const uint8_t *b, size_t n,
                     struct lca_err *err)
{
    struct lca_event *e = NULL;
    int rc;

    if (lca_event_decode(b, n, &e, err) != LCA_OK) {
        return LCA_FAIL;
    }
    rc = lca_state_evolve(st, pos, e, err);
    lca_event_free(e);
    return rc;
}

/* Folds b into both states at the next position; both must give the same verdict (and error
 * code). Returns whether the flat path took the event itself. */
static int fold_both(struct pair *p, const uint8_t *b, size_t n, int want_ok)
{
    struct lca_event_flat ev;
    struct lca_err ef, et;
    int applied = 0, rf = LCA_OK, rt;

    lca_err_clear(&ef);
    lca_err_clear(&et);
    p->pos++;
    if (lca_event_decode_flat(b, n, &ev)) {
        rf = lca_state_evolve_flat(p->flat, p->pos, &ev, &applied, &ef);
    }
    if (rf == LCA_OK && !applied) {
        rf = fold_tree(p->flat, p->pos, b, n, &ef);
    }
    rt = fold_tree(p->tree, p->pos, b, n, &et);
    CU_ASSERT_EQUAL(rf, rt);
    CU_ASSERT_EQUAL(rt, want_ok ? LCA_OK : LCA_FAIL);
    if (rf != LCA_OK && rt != LCA_OK) {
        CU_ASSERT_STRING_EQUAL(ef.code, et.code);
        CU_ASSERT_STRING_EQUAL(ef.msg, et.msg);
    }
    if (rt != LCA_OK) {
        p->pos--; /* neither state moved */
    }
    CU_ASSERT_EQUAL(lca_state_position(p->flat), lca_state_position(p->tree));
    return applied;
}

struct recs {
    const struct lca_certrec **v;
    size_t n;
};

static int collect(const struct lca_certrec *rec, void *ctx)
{
    struct recs *r = ctx;

    r->v[r->n++] = rec;
    return 0;
}

/* Both states hold the same records, in the same order, field for field. */
static void expect_same_states(const struct pair *p)
{
    size_t n = lca_state_cert_count(p->tree), i;
    struct recs a = {calloc(n + 1, sizeof(*a.v)), 0}, b = {calloc(n + 1, sizeof(*b.v)), 0};

    CU_ASSERT_EQUAL_FATAL(lca_state_cert_count(p->flat), n);
    CU_ASSERT_EQUAL(lca_state_revocations(p->flat), lca_state_revocations(p->tree));
    lca_state_cert_foreach(p->flat, collect, &a);
    lca_state_cert_foreach(p->tree, collect, &b);
    for (i = 0; i < n; i++) {
        const struct lca_certrec *x = a.v[i], *y = b.v[i];
        CU_ASSERT_EQUAL(x->serial_len, y->serial_len);
        CU_ASSERT_EQUAL(memcmp(x->serial, y->serial, sizeof(x->serial)), 0);
        CU_ASSERT_STRING_EQUAL(x->issuer_id, y->issuer_id);
        CU_ASSERT_EQUAL(x->not_after, y->not_after);
        CU_ASSERT_EQUAL(x->revoked_at, y->revoked_at);
        CU_ASSERT_EQUAL(x->reason, y->reason);
        CU_ASSERT_EQUAL(x->is_ca, y->is_ca);
        CU_ASSERT_EQUAL(x->position, y->position);
        CU_ASSERT_EQUAL(x->revoke_seq, y->revoke_seq);
    }
    free(a.v);
    free(b.v);
}

/* A CertificateIssued payload as decide writes one. */
static struct lca_val *issued(const struct pair *p, const char *serial, const char *kind)
{
    struct lca_val *m = lca_val_new_map();

    lca_val_map_set_str(m, "serial_number", serial);
    lca_val_map_set_str(m, "issuer_id", p->issuer);
    lca_val_map_set_int(m, "not_after", 1900000000);
    if (kind != NULL) {
        lca_val_map_set_str(m, "kind", kind);
    }
    lca_val_map_set_str(m, "role", "web");
    lca_val_map_set_str(m, "common_name", "a.example.internal");
    lca_val_map_set_bin(m, "certificate", "\x30\x03\x02\x01\x01", 5);
    return m;
}

static struct lca_val *revoked(const char *serial)
{
    struct lca_val *m = lca_val_new_map();

    lca_val_map_set_str(m, "serial_number", serial);
    lca_val_map_set_int(m, "revoked_at", 1800000000);
    lca_val_map_set_int(m, "reason", 4);
    return m;
}

/* Folds payload m (consumed) of `type` into both; returns whether the flat path took it. */
static int feed(struct pair *p, enum lca_evt_type type, struct lca_val *m, int want_ok)
{
    size_t n = 0;
    uint8_t *b = stored(type, m, &n);
    int applied = fold_both(p, b, n, want_ok);

    free(b);
    return applied;
}

static void test_usual_events_fold_flat(void)
{
    struct pair p;

    pair_init(&p);
    CU_ASSERT_TRUE(feed(&p, LCA_EVT_CERT_ISSUED, issued(&p, "01:02:03:04", "leaf"), 1));
    CU_ASSERT_TRUE(feed(&p, LCA_EVT_CERT_ISSUED, issued(&p, "0a0b0c0d", "intermediate"), 1));
    CU_ASSERT_TRUE(feed(&p, LCA_EVT_CERT_ISSUED, issued(&p, "AA-BB-CC", NULL), 1));
    CU_ASSERT_TRUE(feed(&p, LCA_EVT_CERT_REVOKED, revoked("01:02:03:04"), 1));
    CU_ASSERT_TRUE(feed(&p, LCA_EVT_CERT_REVOKED, revoked("aa:bb:cc"), 1));
    expect_same_states(&p);
    CU_ASSERT_EQUAL(lca_state_cert_count(p.flat), 3);
    CU_ASSERT_EQUAL(lca_state_cert(p.flat, (const uint8_t *)"\x0a\x0b\x0c\x0d", 4)->is_ca, 1);
    CU_ASSERT_EQUAL(lca_state_cert(p.flat, (const uint8_t *)"\x01\x02\x03\x04", 4)->reason, 4);
    pair_cleanup(&p);
}

/* Fields in forms the tree fold reads its own way go to the tree fold, with the same result. */
static void test_odd_fields_fall_back(void)
{
    struct pair p;
    struct lca_val *m;

    pair_init(&p);
    m = issued(&p, "11:22", "leaf");
    lca_val_map_set_str(m, "not_after", "1700000000"); /* get_int parses a decimal str */
    CU_ASSERT_FALSE(feed(&p, LCA_EVT_CERT_ISSUED, m, 1));
    m = issued(&p, "11:23", NULL);
    lca_val_map_set(m, "kind", lca_val_new_strn("intermediate\0x", 14)); /* C-string prefix */
    CU_ASSERT_FALSE(feed(&p, LCA_EVT_CERT_ISSUED, m, 1));
    m = issued(&p, "11:24", NULL);
    lca_val_map_set_int(m, "kind", 5); /* not a str: a leaf */
    CU_ASSERT_TRUE(feed(&p, LCA_EVT_CERT_ISSUED, m, 1));
    m = issued(&p, "11:25", "leaf");
    lca_val_map_set_bool(m, "not_after", 1); /* neither int nor str: 0 */
    CU_ASSERT_TRUE(feed(&p, LCA_EVT_CERT_ISSUED, m, 1));
    m = revoked("11:22");
    lca_val_map_set_str(m, "reason", "1");
    CU_ASSERT_FALSE(feed(&p, LCA_EVT_CERT_REVOKED, m, 1));
    m = issued(&p, "11:26", "leaf"); /* a nested value: not flat at all */
    lca_val_map_set(m, "extra", lca_val_new_arr());
    CU_ASSERT_FALSE(feed(&p, LCA_EVT_CERT_ISSUED, m, 1));
    expect_same_states(&p);
    CU_ASSERT_EQUAL(lca_state_cert(p.flat, (const uint8_t *)"\x11\x23", 2)->is_ca, 1);
    CU_ASSERT_EQUAL(lca_state_cert(p.flat, (const uint8_t *)"\x11\x22", 2)->not_after,
                    1700000000);
    CU_ASSERT_EQUAL(lca_state_cert(p.flat, (const uint8_t *)"\x11\x25", 2)->not_after, 0);
    pair_cleanup(&p);
}

/* What the tree fold refuses, the flat path does not take: same verdict, same error. */
static void test_refusals_fall_back(void)
{
    struct pair p;
    struct lca_val *m;

    pair_init(&p);
    CU_ASSERT_TRUE(feed(&p, LCA_EVT_CERT_ISSUED, issued(&p, "01:01", "leaf"), 1));
    CU_ASSERT_FALSE(feed(&p, LCA_EVT_CERT_ISSUED, issued(&p, "01:01", "leaf"), 0)); /* dup */
    CU_ASSERT_FALSE(feed(&p, LCA_EVT_CERT_ISSUED, issued(&p, "0g", "leaf"), 0));    /* hex */
    m = issued(&p, "01:02", "leaf");
    lca_val_map_set_str(m, "issuer_id", "5b9d2c4e-0000-4000-8000-000000000000");
    CU_ASSERT_FALSE(feed(&p, LCA_EVT_CERT_ISSUED, m, 0)); /* unknown issuer */
    m = issued(&p, "01:03", "leaf");
    lca_val_map_del(m, "serial_number");
    CU_ASSERT_FALSE(feed(&p, LCA_EVT_CERT_ISSUED, m, 0));
    CU_ASSERT_FALSE(feed(&p, LCA_EVT_CERT_REVOKED, revoked("09:09"), 0)); /* unknown serial */
    expect_same_states(&p);
    pair_cleanup(&p);
}

/* Events out of order, and types the flat fold does not know, go to the tree fold. */
static void test_order_and_types(void)
{
    struct pair p;
    struct lca_event_flat ev;
    struct lca_err err;
    size_t n = 0;
    int applied = 1;
    uint8_t *b = NULL;
    struct lca_val *m = lca_val_new_map();

    pair_init(&p);
    b = stored(LCA_EVT_CERT_ISSUED, issued(&p, "05:05", "leaf"), &n);
    CU_ASSERT_EQUAL_FATAL(lca_event_decode_flat(b, n, &ev), 1);
    CU_ASSERT_EQUAL(ev.type, LCA_EVT_CERT_ISSUED);
    CU_ASSERT_EQUAL(lca_state_evolve_flat(p.flat, p.pos, &ev, &applied, &err), LCA_OK);
    CU_ASSERT_EQUAL(applied, 0); /* not after the last position */
    CU_ASSERT_EQUAL(lca_state_cert_count(p.flat), 0);
    free(b);
    lca_val_map_set_str(m, "name", "web");
    lca_val_map_set_int(m, "ttl", 60);
    b = stored(LCA_EVT_ROLE_DELETED, m, &n);
    CU_ASSERT_EQUAL_FATAL(lca_event_decode_flat(b, n, &ev), 1);
    applied = 1;
    CU_ASSERT_EQUAL(lca_state_evolve_flat(p.flat, p.pos + 1, &ev, &applied, &err), LCA_OK);
    CU_ASSERT_EQUAL(applied, 0);
    CU_ASSERT_EQUAL(lca_event_decode_flat(b, n - 1, &ev), 0); /* truncated */
    free(b);
    pair_cleanup(&p);
}

int main(void)
{
    static const struct lca_cu_test tests[] = {
        {"usual_events_fold_flat", test_usual_events_fold_flat},
        {"odd_fields_fall_back", test_odd_fields_fall_back},
        {"refusals_fall_back", test_refusals_fall_back},
        {"order_and_types", test_order_and_types},
    };

    return LCA_CU_MAIN("state", NULL, NULL, tests);
}
