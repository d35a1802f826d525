/*
 * audit — see audit.h. This file holds the verifier (checks b and c, and the walk); the log
 * reader and hash chain are in audit_log.c, checkpoints in audit_checkpoint.c, replay in
 * audit_replay.c (audit_int.h is what they share).
 */
#include "audit_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "catalog.h"
#include "certsig.h"
#include "crl.h"
#include "event.h"
#include "pgstore.h"
#include "state.h"

/* ---- (b) certificates ----------------------------------------------------------------------- */

struct verifier {
    const struct lca_audit_opts *o;
    struct lca_audit_report *rep;
    struct lca_audit_chain chain;
    struct lca_state *st;
    struct lca_audit_cplist cps;
    struct lca_audit_sigpool *pool; /* NULL: signatures checked on the walk's thread */
};

static struct lca_audit_counts counts_of(const struct lca_audit_report *r)
{
    struct lca_audit_counts c = {r->events, r->certificates, r->unverifiable,
                                 r->crls,   r->crl_refusals, r->checkpoints};
    return c;
}

/* Its issuer must be in the log; the signature is checked here or queued to the pool. */
static int check_cert_issued(struct verifier *v, int64_t pos, const struct lca_val *p,
                             struct lca_err *err)
{
    const char *sn = lca_val_map_get_str(p, "serial_number");
    const char *iid = lca_val_map_get_str(p, "issuer_id");
    const struct lca_issuer *iss = iid != NULL ? lca_state_issuer_ref(v->st, iid) : NULL;
    struct lca_audit_certjob j;
    char problem[512];

    memset(&j, 0, sizeof(j));
    if (iss == NULL || strcmp(iss->id, iid) != 0) {
        return lca_audit_log_finding(v->rep, pos, err,
                                     "CertificateIssued names issuer '%.40s' "
                                     "which the log does not hold",
                                     iid != NULL ? iid : "");
    }
    if ((j.der = (uint8_t *)lca_val_map_get_bin(p, "certificate", &j.len)) == NULL) {
        return LCA_OK; /* no_store role: nothing to verify */
    }
    if (sn == NULL || lca_state_serial_parse(sn, j.serial, &j.serial_len) != LCA_OK) {
        return lca_audit_log_finding(v->rep, pos, err,
                                     "CertificateIssued without a valid serial_number");
    }
    j.position = pos;
    j.key = X509_get0_pubkey(iss->cert);
    snprintf(j.sn, sizeof(j.sn), "%s", sn);
    snprintf(j.issuer_id, sizeof(j.issuer_id), "%s", iss->id);
    snprintf(j.key_id, sizeof(j.key_id), "%s", iss->key_id);
    j.at = counts_of(v->rep);
    if (v->pool != NULL && j.key != NULL) {
        return lca_audit_sigpool_submit(v->pool, &j, err);
    }
    if (lca_audit_sigpool_check(&j, problem, sizeof(problem)) != 0) {
        return lca_audit_log_finding(v->rep, pos, err, "%s", problem);
    }
    v->rep->certificates++;
    return LCA_OK;
}

/* After IssuerCreated was applied: its certificate verifies under its parent or itself. */
static int check_issuer_created(const struct lca_state *st, struct lca_audit_report *rep,
                                int64_t pos, const struct lca_val *p, struct lca_err *err)
{
    const struct lca_issuer *iss = lca_state_issuer_ref(st, lca_val_map_get_str(p, "issuer_id"));
    const struct lca_issuer *parent = iss;

    if (iss == NULL) {
        return lca_audit_log_finding(rep, pos, err, "IssuerCreated did not create its issuer");
    }
    if (iss->parent_id[0] != '\0') {
        parent = lca_state_issuer_ref(st, iss->parent_id);
        if (parent == NULL || strcmp(parent->id, iss->parent_id) != 0) {
            return lca_audit_log_finding(rep, pos, err,
                                         "issuer %s names parent %s which the log does not hold",
                                         iss->id, iss->parent_id);
        }
    } else if (iss->kind == LCA_ISSUER_EXTERNAL) {
        rep->unverifiable++; /* signed outside this log */
        return LCA_OK;
    }
    if (X509_verify(iss->cert, X509_get0_pubkey(parent->cert)) != 1) {
        ERR_clear_error();
        return lca_audit_log_finding(rep, pos, err, "issuer certificate %s is not signed by %s %s",
                                     iss->id, parent == iss ? "itself" : "its parent", parent->id);
    }
    rep->certificates++;
    return LCA_OK;
}

/* ---- (c) CRLs ---------------------------------------------------------------------------------
 */

struct serial_set {
    const char *issuer_id;
    int64_t this_update;
    int shard; /* -1: every serial of the issuer; else only its shard's */
    unsigned n_shards;
    int delta; /* only revocations after after_seq (a delta CRL, RFC 5280 5.2.4) */
    uint64_t after_seq;
    struct {
        uint8_t b[20];
        size_t n;
    } *v;
    size_t n, cap;
    int oom;
};

static void set_add(struct serial_set *s, const uint8_t *p, size_t n)
{
    if (s->n == s->cap) {
        size_t cap = s->cap == 0 ? 32 : 2 * s->cap;
        void *nv = realloc(s->v, cap * sizeof(*s->v));
        if (nv == NULL) {
            s->oom = 1;
            return;
        }
        s->v = nv;
        s->cap = cap;
    }
    p = lca_audit_log_strip0(p, &n);
    if (n > 20) {
        n = 20; /* longer than RFC 5280 4.1.2.2 allows: compared truncated, still a mismatch */
    }
    memcpy(s->v[s->n].b, p, n);
    s->v[s->n++].n = n;
}

static int revoked_of(const struct lca_certrec *rec, void *ctx)
{
    struct serial_set *s = ctx;

    if (rec->revoked_at != 0 && rec->not_after >= s->this_update &&
        strcmp(rec->issuer_id, s->issuer_id) == 0 &&
        (s->shard < 0 ||
         lca_crl_shard(rec->serial, rec->serial_len, s->n_shards) == (unsigned)s->shard) &&
        (!s->delta || rec->revoke_seq > s->after_seq)) {
        set_add(s, rec->serial, rec->serial_len);
    }
    return s->oom;
}

static int serial_cmp(const void *a, const void *b)
{
    const struct {
        uint8_t b[20];
        size_t n;
    } *x = a, *y = b;

    if (x->n != y->n) {
        return x->n < y->n ? -1 : 1;
    }
    return memcmp(x->b, y->b, x->n);
}

static int64_t asn1_unix(const ASN1_TIME *t)
{
    struct tm tm;
    int64_t y, m, days;

    memset(&tm, 0, sizeof(tm));
    if (ASN1_TIME_to_tm(t, &tm) != 1) {
        return 0;
    }
    y = (int64_t)tm.tm_year + 1900;
    m = (int64_t)tm.tm_mon + 1;
    y -= m <= 2;
    days = 365 * y + y / 4 - y / 100 + y / 400 + (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 +
           tm.tm_mday - 1 - 719468; /* days from civil (proleptic Gregorian), 1970-01-01 = 0 */
    return days * 86400 + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
}

/* First serial in exactly one of the two sorted sets; 0 when equal. */
static int set_diff(const struct serial_set *crl, const struct serial_set *log, char *out,
                    size_t outlen)
{
    size_t i = 0, j = 0;
    int c;

    while (i < crl->n || j < log->n) {
        c = i == crl->n ? 1 : j == log->n ? -1 : serial_cmp(&crl->v[i], &log->v[j]);
        if (c == 0) {
            i++;
            j++;
            continue;
        }
        if (c < 0) {
            lca_state_serial_format(crl->v[i].b, crl->v[i].n, out, outlen);
            return -1; /* listed, but not revoked in the log */
        }
        lca_state_serial_format(log->v[j].b, log->v[j].n, out, outlen);
        return 1; /* revoked in the log, missing from the CRL */
    }
    return 0;
}

static int crl_sets(const struct lca_state *st, X509_CRL *crl, const char *issuer_id,
                    struct serial_set *in_crl, struct serial_set *in_log)
{
    STACK_OF(X509_REVOKED) *rv = X509_CRL_get_REVOKED(crl);
    int i;

    in_log->issuer_id = issuer_id; /* scope fields set by the caller */
    in_log->this_update = asn1_unix(X509_CRL_get0_lastUpdate(crl));
    lca_state_cert_foreach(st, revoked_of, in_log);
    for (i = 0; i < sk_X509_REVOKED_num(rv); i++) {
        const ASN1_INTEGER *s = X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(rv, i));
        set_add(in_crl, ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
    }
    if (in_crl->oom || in_log->oom) {
        return LCA_FAIL;
    }
    if (in_crl->n > 0) {
        qsort(in_crl->v, in_crl->n, sizeof(*in_crl->v), serial_cmp);
    }
    if (in_log->n > 0) {
        qsort(in_log->v, in_log->n, sizeof(*in_log->v), serial_cmp);
    }
    return LCA_OK;
}

static int crl_number_is(X509_CRL *crl, int64_t want)
{
    ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    uint64_t v = 0;
    int ok = n != NULL && ASN1_INTEGER_get_uint64(&v, n) == 1 && want >= 0 && v == (uint64_t)want;

    ASN1_INTEGER_free(n);
    return ok;
}

/* The scope a CrlPublished claims (RFC 5280 5.2.4, 5.2.5), as the log's state knows it. */
struct crl_scope_check {
    int shard;                         /* -1: unsharded */
    int64_t delta_base;                /* -1: complete CRL */
    const struct lca_crl_scope *scope; /* the state's record of that scope */
    char label[24];                    /* " shard k" or "" for messages */
};

static int64_t crl_int_ext(X509_CRL *crl, int nid, int *crit)
{
    ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, nid, crit, NULL);
    int64_t v = -1;

    if (n != NULL && ASN1_INTEGER_get_int64(&v, n) != 1) {
        v = -2;
    }
    ASN1_INTEGER_free(n);
    return v;
}

/* The URI of an IDP's fullName (one URI) into out; "" when absent or of another form. */
static void idp_uri(X509_CRL *crl, int *crit, char *out, size_t len)
{
    ISSUING_DIST_POINT *idp = X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, crit, NULL);
    GENERAL_NAME *gn;

    out[0] = '\0';
    if (idp != NULL && idp->distpoint != NULL && idp->distpoint->type == 0 &&
        sk_GENERAL_NAME_num(idp->distpoint->name.fullname) == 1 &&
        (gn = sk_GENERAL_NAME_value(idp->distpoint->name.fullname, 0))->type == GEN_URI) {
        snprintf(out, len, "%.*s", ASN1_STRING_length(gn->d.uniformResourceIdentifier),
                 (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier));
    }
    ISSUING_DIST_POINT_free(idp);
}

static int check_crl_scope(struct lca_audit_report *rep, int64_t pos, X509_CRL *crl,
                           const struct lca_issuer *iss, const struct crl_scope_check *sc,
                           struct lca_err *err)
{
    char got[1100], want[1100];
    int crit = 0;
    int64_t ind = crl_int_ext(crl, NID_delta_crl, &crit);

    if (ind != sc->delta_base || (ind >= 0 && crit != 1)) {
        return lca_audit_log_finding(
            rep, pos, err,
            "CRL of issuer %s%s: deltaCRLIndicator %lld, the event says delta_base "
            "%lld (RFC 5280 5.2.4: critical, present only in delta CRLs)",
            iss->id, sc->label, (long long)ind, (long long)sc->delta_base);
    }
    if (sc->delta_base >= 0 && (uint64_t)sc->delta_base != sc->scope->base_number) {
        return lca_audit_log_finding(
            rep, pos, err,
            "delta CRL of issuer %s%s is against CRL %lld, but the last complete "
            "CRL of its scope is %llu",
            iss->id, sc->label, (long long)sc->delta_base,
            (unsigned long long)sc->scope->base_number);
    }
    crit = 0;
    idp_uri(crl, &crit, got, sizeof(got));
    if (sc->shard < 0) {
        return got[0] == '\0' ? LCA_OK
                              : lca_audit_log_finding(rep, pos, err,
                                                      "CRL of unsharded issuer %s has an IDP (%s)",
                                                      iss->id, got);
    }
    if (lca_crl_url(iss->crl_base_url, iss->id, sc->shard, 0, want, sizeof(want)) != LCA_OK ||
        strcmp(got, want) != 0 || crit != 1) {
        return lca_audit_log_finding(
            rep, pos, err,
            "CRL of issuer %s%s: issuingDistributionPoint '%s' is not the shard's "
            "URL '%s', critical (RFC 5280 5.2.5)",
            iss->id, sc->label, got, want);
    }
    return LCA_OK;
}

static int check_crl_content(const struct lca_state *st, struct lca_audit_report *rep, int64_t pos,
                             X509_CRL *crl, const struct lca_issuer *iss,
                             const struct crl_scope_check *sc, struct lca_err *err)
{
    struct serial_set a, b;
    char sn[64];
    int d, rc;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    b.shard = sc->shard;
    b.n_shards = iss->crl_shards;
    b.delta = sc->delta_base >= 0;
    b.after_seq = sc->scope->base_seq;
    if (crl_sets(st, crl, iss->id, &a, &b) != LCA_OK) {
        rc = lca_err_set(err, LCA_ERR_FATAL, "oom", "audit: out of memory");
    } else if ((d = set_diff(&a, &b, sn, sizeof(sn))) != 0) {
        rc = lca_audit_log_finding(
            rep, pos, err,
            d < 0 ? "%s of issuer %s%s lists serial %s which the log does not hold "
                    "revoked%s"
                  : "%s of issuer %s%s omits serial %s which the log holds revoked%s",
            b.delta ? "delta CRL" : "CRL", iss->id, sc->label, sn,
            b.delta ? " after its base" : "");
    } else {
        rc = LCA_OK;
    }
    free(a.v);
    free(b.v);
    return rc;
}

static int check_crl(const struct lca_state *st, struct lca_audit_report *rep, int64_t pos,
                     const struct lca_val *p, struct lca_err *err)
{
    const char *iid = lca_val_map_get_str(p, "issuer_id");
    const struct lca_issuer *iss = iid != NULL ? lca_state_issuer_ref(st, iid) : NULL;
    size_t len = 0;
    const uint8_t *der = lca_val_map_get_bin(p, "crl", &len), *q = der;
    X509_CRL *crl = NULL;
    struct crl_scope_check sc;
    int rc;

    if (iss == NULL || strcmp(iss->id, iid) != 0 || der == NULL) {
        return lca_audit_log_finding(rep, pos, err, "CrlPublished without a known issuer or a CRL");
    }
    memset(&sc, 0, sizeof(sc));
    sc.shard = (int)lca_val_map_get_int(p, "shard", -1);
    sc.delta_base = lca_val_map_get_int(p, "delta_base", -1);
    if (sc.shard >= 0) {
        snprintf(sc.label, sizeof(sc.label), " shard %d", sc.shard);
    }
    if ((sc.scope = lca_state_crl_scope(iss, sc.shard)) == NULL) {
        return lca_audit_log_finding(rep, pos, err,
                                     "CrlPublished for shard %d of issuer %s, which has %u",
                                     sc.shard, iss->id, (unsigned)iss->crl_shards);
    }
    if ((crl = d2i_X509_CRL(NULL, &q, (long)len)) == NULL || q != der + len) {
        X509_CRL_free(crl);
        ERR_clear_error();
        return lca_audit_log_finding(rep, pos, err, "CRL of issuer %s does not parse as DER",
                                     iss->id);
    }
    if (X509_CRL_verify(crl, X509_get0_pubkey(iss->cert)) != 1) {
        rc = lca_audit_log_finding(rep, pos, err, "CRL is not signed by its issuer %s", iss->id);
    } else if (!crl_number_is(crl, lca_val_map_get_int(p, "crl_number", -1))) {
        rc = lca_audit_log_finding(
            rep, pos, err, "CRL of issuer %s does not carry the event's cRLNumber", iss->id);
    } else if ((rc = check_crl_scope(rep, pos, crl, iss, &sc, err)) == LCA_OK) {
        rc = check_crl_content(st, rep, pos, crl, iss, &sc, err);
    }
    X509_CRL_free(crl);
    ERR_clear_error();
    if (rc == LCA_OK) {
        rep->crls++;
    }
    return rc;
}

/* ---- the verifier --------------------------------------------------------------------------- */

static int check_type_column(struct lca_audit_report *rep, const struct lca_pgevent *pe,
                             const struct lca_event *ev, struct lca_err *err)
{
    const char *name = lca_catalog_evt_name(ev->type);

    if (name == NULL || strcmp(name, pe->type) != 0) {
        return lca_audit_log_finding(rep, pe->position, err,
                                     "type column '%.40s' differs from the payload's "
                                     "type '%s'",
                                     pe->type, name != NULL ? name : "?");
    }
    return LCA_OK;
}

static int check_semantics(struct verifier *v, const struct lca_pgevent *pe, struct lca_err *err)
{
    struct lca_event *ev = NULL;
    struct lca_err why;
    int rc = LCA_FAIL;

    lca_err_clear(&why);
    if (lca_event_decode(pe->payload, pe->payload_len, &ev, &why) != LCA_OK) {
        return lca_audit_log_finding(v->rep, pe->position, err, "payload does not decode: %s",
                                     why.msg);
    }
    if (check_type_column(v->rep, pe, ev, err) != LCA_OK ||
        (ev->type == LCA_EVT_CERT_ISSUED &&
         check_cert_issued(v, pe->position, ev->payload, err) != LCA_OK) ||
        (ev->type == LCA_EVT_CRL_PUBLISHED &&
         check_crl(v->st, v->rep, pe->position, ev->payload, err) != LCA_OK)) {
        goto out;
    }
    v->rep->crl_refusals += ev->type == LCA_EVT_CRL_BUILD_FAILED;
    if (lca_state_evolve(v->st, pe->position, ev, &why) != LCA_OK) {
        rc = lca_audit_log_finding(v->rep, pe->position, err,
                                   "event does not apply to the state: %s", why.msg);
        goto out;
    }
    rc = ev->type == LCA_EVT_ISSUER_CREATED
             ? check_issuer_created(v->st, v->rep, pe->position, ev->payload, err)
             : LCA_OK;
out:
    lca_event_free(ev);
    return rc;
}

static int verify_one(void *ctx, const struct lca_pgevent *pe, struct lca_err *err)
{
    struct verifier *v = ctx;

    if (v->pool != NULL && lca_audit_sigpool_first_bad(v->pool) < pe->position) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "audit_stop", "a signature failed earlier");
    }
    if (lca_audit_log_chain_step(&v->chain, v->rep, pe, err) != LCA_OK ||
        (!v->o->chain_only && check_semantics(v, pe, err) != LCA_OK) ||
        lca_audit_checkpoint_list_match(&v->cps, v->rep, pe, err) != LCA_OK) {
        return LCA_FAIL;
    }
    v->rep->events++;
    if (v->o->progress != NULL && (pe->position % LCA_AUDIT_PROGRESS) == 0) {
        v->o->progress(v->o->progress_ctx, pe->position, v->rep->head);
    }
    return LCA_OK;
}

/* After the walk: log_head must be the last row, and no checkpoint may lie beyond it. */
static int check_end(struct verifier *v, const uint8_t head_hash[LCA_AUDIT_HLEN],
                     struct lca_err *err)
{
    struct lca_audit_report *rep = v->rep;
    char h[2 * LCA_AUDIT_HLEN + 1];

    if (v->chain.last != rep->head) {
        return lca_audit_log_finding(
            rep, v->chain.last + 1, err,
            "positions %lld..%lld are missing: log_head records position %lld but "
            "the log ends at %lld (tail deleted)",
            (long long)(v->chain.last + 1), (long long)rep->head, (long long)rep->head,
            (long long)v->chain.last);
    }
    if (CRYPTO_memcmp(v->chain.prev, head_hash, LCA_AUDIT_HLEN) != 0) {
        lca_audit_log_hex(head_hash, LCA_AUDIT_HLEN, h);
        return lca_audit_log_finding(rep, rep->head, err,
                                     "log_head hash %.16s... is not the hash of its "
                                     "position %lld",
                                     h, (long long)rep->head);
    }
    return lca_audit_checkpoint_list_beyond(&v->cps, rep, v->chain.last, err);
}

/*
 * After the walk with a pool: the first problem by position is the pool's (a certificate at or
 * below the walk's own finding; at the same position the signature check came first) or the
 * walk's. With the pool's, the counters are the walk's when that certificate was queued plus
 * the certificates queued before it (all good: it is the lowest failure).
 */
static int pool_settle(struct verifier *v, int rc, struct lca_err *err)
{
    struct lca_audit_report *r = v->rep;
    struct lca_audit_certjob bad;
    char problem[512];
    int64_t queued = lca_audit_sigpool_drain(v->pool, &bad, problem, sizeof(problem));
    int64_t fb = lca_audit_sigpool_first_bad(v->pool);
    int walk_finding = rc != LCA_OK && strcmp(err->code, LCA_AUDIT_FINDING) == 0;

    if (fb != INT64_MAX && (!walk_finding || fb <= r->bad_position)) {
        r->events = bad.at.events;
        r->certificates = bad.at.certificates + bad.seq;
        r->unverifiable = bad.at.unverifiable;
        r->crls = bad.at.crls;
        r->crl_refusals = bad.at.crl_refusals;
        r->checkpoints = bad.at.checkpoints;
        return lca_audit_log_finding(r, fb, err, "%s", problem);
    }
    if (rc != LCA_OK && strcmp(err->code, "audit_stop") == 0) {
        return lca_err_set(err, LCA_ERR_FATAL, "audit_stop", "audit: stopped without a finding");
    }
    r->certificates += queued; /* every one verified */
    return rc;
}

static int opt_threads(const struct lca_audit_opts *o)
{
    return o->threads <= 0                    ? 2
           : o->threads > LCA_AUDIT_MAX_PARTS ? LCA_AUDIT_MAX_PARTS
                                              : o->threads;
}

/* Readers for a chain-only walk of `head` events: each takes at least split_min of them. */
static int split_parts(const struct lca_audit_opts *o, int64_t head)
{
    int64_t min = o->split_min > 0 ? o->split_min : 65536;
    int n = opt_threads(o);

    while (n > 1 && head / n < min) {
        n--;
    }
    return n;
}

/* The walk on one reader, in order (full mode: signatures to the pool, if any). */
static int walk(struct lca_pgstore *store, struct verifier *v, struct lca_err *err)
{
    int rc = lca_audit_log_read(store, 0, v->rep->head, verify_one, v, err);

    return v->pool != NULL ? pool_settle(v, rc, err) : rc;
}

static int verify_run(struct lca_pgstore *store, struct verifier *v, struct lca_err *err)
{
    uint8_t head_hash[LCA_AUDIT_HLEN];

    if (v->o->checkpoints && lca_audit_checkpoint_list_load(store, v->o->log_public_key, &v->cps,
                                                            v->rep, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (!v->rep->clean) {
        return LCA_OK;
    }
    if (lca_pgstore_head(store, &v->rep->head, head_hash, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (v->o->chain_only && split_parts(v->o, v->rep->head) > 1) {
        int ran = 0;
        if (lca_audit_log_chain_split(store, split_parts(v->o, v->rep->head), v->o, &v->chain,
                                      &v->cps, v->rep, &ran, err) == LCA_OK) {
            return check_end(v, head_hash, err);
        }
        if (ran) {
            return LCA_FAIL;
        }
        lca_err_clear(err); /* e.g. max_connections reached: one reader does it all */
    }
    if (walk(store, v, err) != LCA_OK) {
        return LCA_FAIL;
    }
    return check_end(v, head_hash, err);
}

int lca_audit_verify(struct lca_pgstore *store, const struct lca_audit_opts *o,
                     struct lca_audit_report *rep, struct lca_err *err)
{
    static const struct lca_audit_opts dflt;
    static const uint8_t zero[LCA_AUDIT_HLEN];
    struct lca_audit_report r;
    struct verifier v;
    int rc = LCA_FAIL;

    memset(&r, 0, sizeof(r));
    memset(&v, 0, sizeof(v));
    r.clean = 1;
    v.o = o != NULL ? o : &dflt;
    v.rep = &r;
    if (lca_audit_log_chain_init(&v.chain, 0, zero, err) != LCA_OK ||
        (!v.o->chain_only && (v.st = lca_state_new()) == NULL) ||
        (!v.o->chain_only && opt_threads(v.o) > 1 &&
         lca_audit_sigpool_new(opt_threads(v.o), &v.pool, err) != LCA_OK)) {
        if (err->cls == LCA_ERR_NONE) {
            lca_err_set(err, LCA_ERR_FATAL, "oom", "audit: out of memory");
        }
        goto out;
    }
    rc = verify_run(store, &v, err);
    if (rc != LCA_OK && strcmp(err->code, LCA_AUDIT_FINDING) == 0) {
        lca_err_clear(err);
        rc = LCA_OK;
    }
    if (rc == LCA_OK) {
        if (v.o->progress != NULL) {
            v.o->progress(v.o->progress_ctx, v.chain.last, r.head);
        }
        *rep = r;
    }
out:
    lca_audit_sigpool_free(v.pool);
    lca_audit_log_chain_cleanup(&v.chain);
    lca_state_free(v.st);
    lca_audit_checkpoint_list_free(&v.cps);
    return rc;
}
