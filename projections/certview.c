/* certview — certificate, revocation and CRL rows as folds over events (certview.h). */
#include "certview.h"

#include <stdlib.h>
#include <string.h>

#include "crl.h"

int lca_certview_serial_norm(const char *in, char out[LCA_CERTVIEW_SERIAL_LEN])
{
    uint8_t s[20];
    size_t len = 0;

    if (in == NULL || lca_state_serial_parse(in, s, &len) != LCA_OK || len == 0) {
        return LCA_FAIL;
    }
    lca_state_serial_format(s, len, out, LCA_CERTVIEW_SERIAL_LEN);
    return LCA_OK;
}

static int bad(struct lca_err *err, const char *what)
{
    return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_event", "certview: %s", what);
}

static int issued(const struct lca_val *p, const char *cluster, struct lca_certview_change *c,
                  struct lca_err *err)
{
    const char *cn = lca_val_map_get_str(p, "common_name");

    c->cert.issuer_id = lca_val_map_get_str(p, "issuer_id");
    c->cert.kind = lca_val_map_get_str(p, "kind");
    if (lca_certview_serial_norm(lca_val_map_get_str(p, "serial_number"), c->cert.serial) !=
            LCA_OK ||
        c->cert.issuer_id == NULL || c->cert.kind == NULL) {
        return bad(err, "CertificateIssued without serial_number, issuer_id or kind");
    }
    c->cert.cluster = cluster != NULL ? cluster : "";
    c->cert.common_name = cn != NULL ? cn : "";
    c->cert.not_after = lca_val_map_get_int(p, "not_after", 0);
    c->cert.der = lca_val_map_get_bin(p, "certificate", &c->cert.der_len);
    c->kind = LCA_CERTVIEW_ISSUED;
    return LCA_OK;
}

static int revoked(const struct lca_val *p, struct lca_certview_change *c, struct lca_err *err)
{
    int64_t r = lca_val_map_get_int(p, "reason", 0);

    if (lca_certview_serial_norm(lca_val_map_get_str(p, "serial_number"), c->rev.serial) !=
        LCA_OK) {
        return bad(err, "CertificateRevoked without serial_number");
    }
    c->rev.revoked_at = lca_val_map_get_int(p, "revoked_at", 0);
    c->rev.reason = lca_crl_reason_name((enum lca_crl_reason)r);
    c->kind = LCA_CERTVIEW_REVOKED;
    return LCA_OK;
}

static int crl(const struct lca_val *p, struct lca_certview_change *c, struct lca_err *err)
{
    c->crl.issuer_id = lca_val_map_get_str(p, "issuer_id");
    c->crl.der = lca_val_map_get_bin(p, "crl", &c->crl.der_len);
    if (c->crl.issuer_id == NULL || c->crl.der == NULL) {
        return bad(err, "CrlPublished without issuer_id or crl");
    }
    c->crl.crl_number = lca_val_map_get_int(p, "crl_number", 0);
    c->crl.this_update = lca_val_map_get_int(p, "this_update", 0);
    c->crl.next_update = lca_val_map_get_int(p, "next_update", 0);
    c->crl.shard = (int)lca_val_map_get_int(p, "shard", -1);
    c->crl.delta_base = lca_val_map_get_int(p, "delta_base", -1);
    c->kind = LCA_CERTVIEW_CRL;
    return LCA_OK;
}

int lca_certview_change(const struct lca_event *ev, int64_t position, const char *cluster,
                        struct lca_certview_change *out, struct lca_err *err)
{
    struct lca_certview_change c;
    int rc = LCA_OK;

    if (ev == NULL) {
        return bad(err, "no event");
    }
    memset(&c, 0, sizeof(c));
    c.position = position;
    switch (ev->type) {
    case LCA_EVT_CERT_ISSUED:
        rc = issued(ev->payload, cluster, &c, err);
        break;
    case LCA_EVT_CERT_REVOKED:
        rc = revoked(ev->payload, &c, err);
        break;
    case LCA_EVT_CRL_PUBLISHED:
        rc = crl(ev->payload, &c, err);
        break;
    case LCA_EVT_TIDIED:
        c.tidied = lca_val_map_get(ev->payload, "serials");
        c.kind = lca_val_len(c.tidied) > 0 ? LCA_CERTVIEW_TIDIED : LCA_CERTVIEW_NONE;
        break;
    default:
        break;
    }
    if (rc == LCA_OK) {
        *out = c;
    }
    return rc;
}

/* ---- the revoked set ---- */

struct collect {
    const char *issuer_id;
    const struct lca_certrec **recs;
    size_t n, cap;
    int oom;
};

static int collect_one(const struct lca_certrec *rec, void *ctx)
{
    struct collect *c = ctx;

    if (rec->revoked_at == 0 ||
        (c->issuer_id != NULL && strcmp(c->issuer_id, rec->issuer_id) != 0)) {
        return 0;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap == 0 ? 16 : c->cap * 2;
        const struct lca_certrec **n = realloc(c->recs, cap * sizeof(*n));
        if (n == NULL) {
            c->oom = 1;
            return 1;
        }
        c->recs = n;
        c->cap = cap;
    }
    c->recs[c->n++] = rec;
    return 0;
}

static int by_serial(const void *a, const void *b)
{
    const struct lca_certrec *x = *(const struct lca_certrec *const *)a;
    const struct lca_certrec *y = *(const struct lca_certrec *const *)b;
    size_t n = x->serial_len < y->serial_len ? x->serial_len : y->serial_len;
    int d = memcmp(x->serial, y->serial, n);

    if (d != 0) {
        return d;
    }
    return (x->serial_len > y->serial_len) - (x->serial_len < y->serial_len);
}

static struct lca_val *revoked_entry(const struct lca_certrec *r)
{
    struct lca_val *m = lca_val_new_map();
    char serial[LCA_CERTVIEW_SERIAL_LEN];

    lca_state_serial_format(r->serial, r->serial_len, serial, sizeof(serial));
    lca_val_map_set_str(m, "serial_number", serial);
    lca_val_map_set_str(m, "issuer_id", r->issuer_id);
    lca_val_map_set_int(m, "not_after", r->not_after);
    lca_val_map_set_int(m, "revoked_at", r->revoked_at);
    lca_val_map_set_str(m, "reason", lca_crl_reason_name((enum lca_crl_reason)r->reason));
    return m;
}

int lca_certview_revoked(const struct lca_state *st, const char *issuer_id,
                         struct lca_val **out, struct lca_err *err)
{
    struct collect c = {issuer_id, NULL, 0, 0, 0};
    struct lca_val *arr;
    size_t i;

    lca_state_cert_foreach(st, collect_one, &c);
    if (c.oom || (arr = lca_val_new_arr()) == NULL) {
        free(c.recs);
        return lca_err_set(err, LCA_ERR_FATAL, "no_memory", "certview: out of memory");
    }
    if (c.n > 1) {
        qsort(c.recs, c.n, sizeof(*c.recs), by_serial);
    }
    for (i = 0; i < c.n; i++) {
        lca_val_arr_push(arr, revoked_entry(c.recs[i]));
    }
    free(c.recs);
    if (!lca_val_ok(arr)) {
        lca_val_free(arr);
        return lca_err_set(err, LCA_ERR_FATAL, "no_memory", "certview: out of memory");
    }
    *out = arr;
    return LCA_OK;
}
