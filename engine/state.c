/*
 * state — see state.h. evolve() dispatches on the event type through a table built from
 * events/types.def; each handler reads the payload fields decide() wrote.
 */
#include "state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "catalog.h"
#include "cert.h"
#include "chain.h"
#include "crl.h"

#define LCA_STATE_MAX_SHARDS 256 /* LCA_CRL_MAX_SHARDS (engine/crl.h) */

struct role_slot {
    char *name;
    struct lca_role *role;
};

struct lca_state {
    int64_t position;
    int32_t ca_version; /* number of events in the "ca" stream */
    struct lca_val *config;
    char trust_domain[256];
    char cluster_id[64];
    char active_root[LCA_ID_LEN + 1];
    char default_issuer[LCA_ID_LEN + 1];
    struct lca_issuer *issuers;
    size_t n_issuers, cap_issuers;
    char **issuer_ids; /* issuer_ids[i]: issuers[i].id at a stable address (the certificate
                          records point at it; issuers are never removed) */
    struct role_slot *roles;
    size_t n_roles, cap_roles;
    /* certificates: records stored densely in issue order, found through an open-addressing
     * index of 32-bit record numbers (load <= 1/2): 64 + 8 to 16 bytes per certificate instead of
     * a table of whole records kept at most half full (and doubled, old and new side by
     * side, at every growth) */
    struct lca_certrec *certs;
    size_t n_certs, cap_certs;
    char (*gen_keys)[65]; /* key ids of intermediate.generate, in log order */
    size_t n_gen, cap_gen;
    uint64_t revocations; /* CertificateRevoked events folded */
    uint32_t *cert_index; /* 0 = empty slot, else (tag << index_bits) | (record number + 1) */
    size_t cap_index;     /* a power of two (2^index_bits), or 0 */
    unsigned index_bits;
};

/* ---- certificate table ---- */

static uint64_t serial_hash(const uint8_t *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    size_t i;

    for (i = 0; i < n; i++) {
        h = (h ^ s[i]) * 1099511628211ULL;
    }
    return h;
}

/*
 * An index entry holds the record number + 1 in its low index_bits bits (it is below
 * cap_index: the index is at most half full) and, in the bits above, a tag of the serial's
 * hash (bits the slot number does not use): a probe compares tags before it reads a record,
 * whose array is too large for the caches (one miss per probe, a tenth of the replay).
 * Tags take no memory of their own; at 2^32 slots they have no bits left and every
 * probe reads its record, as before.
 */
static uint32_t cert_tag(const struct lca_state *st, uint64_t h)
{
    return st->index_bits >= 32 ? 0 : (uint32_t)(h >> 32) >> st->index_bits;
}

static size_t entry_rec(const struct lca_state *st, uint32_t e)
{
    return (size_t)(e & (uint32_t)(st->cap_index - 1)) - 1;
}

/* The index slot of serial s: the one holding it, or the empty one where it would go; *tag
 * is the tag an entry for s carries. */
static uint32_t *cert_slot(const struct lca_state *st, const uint8_t *s, size_t n,
                           uint32_t *tag)
{
    uint64_t h = serial_hash(s, n);
    size_t mask = st->cap_index - 1, i = (size_t)h & mask;
    const struct lca_certrec *r;
    uint32_t e;

    *tag = cert_tag(st, h);
    while ((e = st->cert_index[i]) != 0) {
        if (st->index_bits >= 32 || e >> st->index_bits == *tag) {
            r = &st->certs[entry_rec(st, e)];
            if (r->serial_len == n && memcmp(r->serial, s, n) == 0) {
                break;
            }
        }
        i = (i + 1) & mask;
    }
    return &st->cert_index[i];
}

/* The entry for record number k (0-based) with tag `tag`. */
static uint32_t cert_entry(const struct lca_state *st, size_t k, uint32_t tag)
{
    return (st->index_bits >= 32 ? 0 : tag << st->index_bits) | (uint32_t)(k + 1);
}

/* Rebuilds the index for records 0..n_certs with room for `want` certificates. */
static int cert_reindex(struct lca_state *st, size_t want, struct lca_err *err)
{
    size_t ncap = 1024, i;
    unsigned bits = 10;
    uint32_t *idx, tag;

    while (ncap / 2 < want) {
        ncap *= 2;
        bits++;
    }
    if (want > UINT32_MAX - 1 || (idx = calloc(ncap, sizeof(*idx))) == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory growing cert table");
    }
    free(st->cert_index);
    st->cert_index = idx;
    st->cap_index = ncap;
    st->index_bits = bits;
    for (i = 0; i < st->n_certs; i++) {
        uint32_t *slot = cert_slot(st, st->certs[i].serial, st->certs[i].serial_len, &tag);
        *slot = cert_entry(st, i, tag);
    }
    return LCA_OK;
}

/* Room for one more certificate record (and its index slot). */
static int cert_grow(struct lca_state *st, struct lca_err *err)
{
    size_t ncap;
    struct lca_certrec *recs;

    if (st->n_certs + 1 > st->cap_certs) {
        ncap = st->cap_certs < 1024 ? 1024 : st->cap_certs + st->cap_certs / 2;
        if ((recs = realloc(st->certs, ncap * sizeof(*recs))) == NULL) {
            return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory growing cert table");
        }
        st->certs = recs;
        st->cap_certs = ncap;
    }
    if (st->n_certs + 1 > st->cap_index / 2) {
        return cert_reindex(st, st->n_certs + 1, err);
    }
    return LCA_OK;
}

const struct lca_certrec *lca_state_cert(const struct lca_state *st, const uint8_t *serial,
                                         size_t len)
{
    uint32_t *slot, tag;

    if (st->cap_index == 0 || len == 0 || len > 20) {
        return NULL;
    }
    slot = cert_slot(st, serial, len, &tag);
    return *slot != 0 ? &st->certs[entry_rec(st, *slot)] : NULL;
}

size_t lca_state_cert_count(const struct lca_state *st)
{
    return st->n_certs;
}

void lca_state_cert_foreach(const struct lca_state *st,
                            int (*fn)(const struct lca_certrec *rec, void *ctx), void *ctx)
{
    size_t i;

    for (i = 0; i < st->n_certs; i++) {
        if (fn(&st->certs[i], ctx) != 0) {
            return;
        }
    }
}

/* ---- serials ---- */

/* Hex digit values plus one (0: not a digit), ':' and '-' marked 17 (skipped): a table
 * instead of three ranges, as the replay parses a serial per event. */
static const unsigned char hex_tab[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,
    ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14,
    ['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15,
    ['F'] = 16, [':'] = 17, ['-'] = 17,
};

int lca_state_serial_parse(const char *s, uint8_t out[20], size_t *len)
{
    uint8_t buf[20];
    size_t n = 0;
    int hi = -1;
    unsigned v;

    if (s == NULL) {
        return LCA_FAIL;
    }
    for (; *s != '\0'; s++) {
        if ((v = hex_tab[(unsigned char)*s]) == 17) {
            continue;
        }
        if (v == 0) {
            return LCA_FAIL;
        }
        if (hi < 0) {
            hi = (int)v - 1;
            continue;
        }
        if (n == sizeof(buf)) {
            return LCA_FAIL;
        }
        buf[n++] = (uint8_t)(hi << 4 | (int)(v - 1));
        hi = -1;
    }
    if (hi >= 0 || n == 0) {
        return LCA_FAIL;
    }
    memcpy(out, buf, n);
    *len = n;
    return LCA_OK;
}

void lca_state_serial_format(const uint8_t *serial, size_t len, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, o = 0;

    if (outlen == 0) {
        return;
    }
    /* each byte takes "xx" plus a ':' before all but the first; stop before overflowing */
    for (i = 0; i < len && o + (i > 0 ? 3 : 2) < outlen; i++) {
        if (i > 0) {
            out[o++] = ':';
        }
        out[o++] = hex[serial[i] >> 4];
        out[o++] = hex[serial[i] & 15];
    }
    out[o] = '\0';
}

/* ---- lifecycle ---- */

struct lca_state *lca_state_new(void)
{
    return calloc(1, sizeof(struct lca_state));
}

static void issuer_cleanup(struct lca_issuer *iss)
{
    size_t i;

    X509_free(iss->cert);
    free(iss->der);
    free(iss->pem);
    for (i = 0; i < iss->n_manual; i++) {
        free(iss->manual_chain[i]);
    }
    free(iss->manual_chain);
    free(iss->shards);
}

void lca_state_free(struct lca_state *st)
{
    size_t i;

    if (st == NULL) {
        return;
    }
    for (i = 0; i < st->n_issuers; i++) {
        issuer_cleanup(&st->issuers[i]);
        free(st->issuer_ids[i]);
    }
    free(st->issuers);
    free(st->issuer_ids);
    for (i = 0; i < st->n_roles; i++) {
        free(st->roles[i].name);
        lca_role_free(st->roles[i].role);
    }
    free(st->roles);
    free(st->certs);
    free(st->gen_keys);
    free(st->cert_index);
    lca_val_free(st->config);
    free(st);
}

/* ---- getters ---- */

int64_t lca_state_position(const struct lca_state *st)
{
    return st->position;
}

const struct lca_val *lca_state_config(const struct lca_state *st)
{
    return st->config;
}

const char *lca_state_trust_domain(const struct lca_state *st)
{
    return st->trust_domain;
}

const char *lca_state_cluster_id(const struct lca_state *st)
{
    return st->cluster_id;
}

int lca_state_bootstrapped(const struct lca_state *st)
{
    return st->active_root[0] != '\0';
}

size_t lca_state_issuer_count(const struct lca_state *st)
{
    return st->n_issuers;
}

const struct lca_issuer *lca_state_issuer_at(const struct lca_state *st, size_t i)
{
    return i < st->n_issuers ? &st->issuers[i] : NULL;
}

static struct lca_issuer *issuer_by_id(const struct lca_state *st, const char *id)
{
    size_t i;

    for (i = 0; id != NULL && id[0] != '\0' && i < st->n_issuers; i++) {
        if (strcmp(st->issuers[i].id, id) == 0) {
            return &st->issuers[i];
        }
    }
    return NULL;
}

const struct lca_issuer *lca_state_issuer_ref(const struct lca_state *st, const char *ref)
{
    size_t i;

    if (ref == NULL || ref[0] == '\0' || strcmp(ref, "default") == 0) {
        return issuer_by_id(st, st->default_issuer);
    }
    for (i = 0; i < st->n_issuers; i++) {
        if (strcmp(st->issuers[i].name, ref) == 0) {
            return &st->issuers[i];
        }
    }
    return issuer_by_id(st, ref);
}

const struct lca_issuer *lca_state_active_root(const struct lca_state *st)
{
    return issuer_by_id(st, st->active_root);
}

const struct lca_issuer *lca_state_default_issuer(const struct lca_state *st)
{
    return issuer_by_id(st, st->default_issuer);
}

size_t lca_state_issuer_index(const struct lca_state *st, const struct lca_issuer *iss)
{
    if (iss < st->issuers || iss >= st->issuers + st->n_issuers) {
        return (size_t)-1;
    }
    return (size_t)(iss - st->issuers);
}

const struct lca_role *lca_state_role(const struct lca_state *st, const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < st->n_roles; i++) {
        if (strcmp(st->roles[i].name, name) == 0) {
            return st->roles[i].role;
        }
    }
    return NULL;
}

size_t lca_state_role_count(const struct lca_state *st)
{
    return st->n_roles;
}

const struct lca_role *lca_state_role_at(const struct lca_state *st, size_t i)
{
    return i < st->n_roles ? st->roles[i].role : NULL;
}

/* ---- evolve ---- */

static int bad(struct lca_err *err, const char *what)
{
    return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_event", "event does not fit the state: %s",
                       what);
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = src != NULL ? strlen(src) : 0;

    if (n >= cap) {
        n = cap - 1;
    }
    memcpy(dst, src != NULL ? src : "", n);
    dst[n] = '\0';
}

static int ev_config(struct lca_state *st, int64_t pos, const struct lca_val *p,
                     struct lca_err *err)
{
    const struct lca_val *cfg = lca_val_map_get(p, "config");
    struct lca_val *copy;

    (void)pos;
    if (lca_val_kind(cfg) != LCA_VAL_MAP || (copy = lca_val_clone(cfg)) == NULL) {
        return bad(err, "ConfigUpdated without config");
    }
    lca_val_free(st->config);
    st->config = copy;
    copy_str(st->trust_domain, sizeof(st->trust_domain), lca_val_map_get_str(cfg, "TrustDomain"));
    copy_str(st->cluster_id, sizeof(st->cluster_id), lca_val_map_get_str(cfg, "ClusterID"));
    return LCA_OK;
}

static enum lca_issuer_kind kind_parse(const char *s)
{
    static const char *const names[] = {"", "root", "intermediate", "cross-signed", "reissued",
                                        "external"};
    size_t i;

    for (i = 1; s != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i]) == 0) {
            return (enum lca_issuer_kind)i;
        }
    }
    return (enum lca_issuer_kind)0;
}

static int issuer_push(struct lca_state *st, struct lca_issuer **out, struct lca_err *err)
{
    struct lca_issuer *n;

    if (st->n_issuers == st->cap_issuers) {
        size_t cap = st->cap_issuers == 0 ? 8 : st->cap_issuers * 2;
        char **ids = realloc(st->issuer_ids, cap * sizeof(*ids));
        if (ids == NULL) {
            return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
        }
        st->issuer_ids = ids;
        n = realloc(st->issuers, cap * sizeof(*n));
        if (n == NULL) {
            return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
        }
        st->issuers = n;
        st->cap_issuers = cap;
    }
    st->issuer_ids[st->n_issuers] = NULL; /* set with the id, before n_issuers counts it */
    *out = &st->issuers[st->n_issuers];
    memset(*out, 0, sizeof(**out));
    return LCA_OK;
}

static int ev_issuer_created(struct lca_state *st, int64_t pos, const struct lca_val *p,
                             struct lca_err *err)
{
    struct lca_issuer *iss = NULL;
    size_t der_len = 0;
    const uint8_t *der = lca_val_map_get_bin(p, "certificate", &der_len);
    const char *id = lca_val_map_get_str(p, "issuer_id");
    X509 *cert = NULL;
    enum lca_notafter na = LCA_NOTAFTER_ERR;
    size_t pem_len = 0;

    if (der == NULL || id == NULL || strlen(id) != LCA_ID_LEN || issuer_by_id(st, id) != NULL ||
        kind_parse(lca_val_map_get_str(p, "kind")) == 0) {
        return bad(err, "IssuerCreated payload");
    }
    if (lca_cert_from_der(der, der_len, &cert, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (lca_role_notafter_parse(lca_val_map_get_str(p, "leaf_not_after_behavior"), &na, err) !=
            LCA_OK ||
        issuer_push(st, &iss, err) != LCA_OK || (iss->der = malloc(der_len)) == NULL) {
        X509_free(cert);
        return err->cls != LCA_ERR_NONE ? LCA_FAIL : bad(err, "oom");
    }
    memcpy(iss->der, der, der_len);
    iss->der_len = der_len;
    if (lca_cert_der_to_pem(der, der_len, &iss->pem, &pem_len, err) != LCA_OK) {
        free(iss->der);
        X509_free(cert);
        return LCA_FAIL;
    }
    if ((st->issuer_ids[st->n_issuers] = strdup(id)) == NULL) {
        free(iss->der);
        free(iss->pem);
        X509_free(cert);
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
    }
    iss->cert = cert;
    copy_str(iss->id, sizeof(iss->id), id);
    copy_str(iss->name, sizeof(iss->name), lca_val_map_get_str(p, "issuer_name"));
    copy_str(iss->key_id, sizeof(iss->key_id), lca_val_map_get_str(p, "key_id"));
    copy_str(iss->parent_id, sizeof(iss->parent_id), lca_val_map_get_str(p, "parent_id"));
    copy_str(iss->twin_of, sizeof(iss->twin_of), lca_val_map_get_str(p, "twin_of"));
    copy_str(iss->root_id, sizeof(iss->root_id), lca_val_map_get_str(p, "root_id"));
    iss->kind = kind_parse(lca_val_map_get_str(p, "kind"));
    iss->not_before = lca_cert_not_before(cert);
    iss->not_after = lca_cert_not_after(cert);
    iss->usage = (unsigned)lca_val_map_get_int(p, "usage", LCA_USAGE_ISSUING | LCA_USAGE_CRL_SIGNING);
    iss->leaf_not_after = na;
    iss->create_index = iss->modify_index = pos;
    st->n_issuers++;
    return LCA_OK;
}

static int ev_root_activated(struct lca_state *st, int64_t pos, const struct lca_val *p,
                             struct lca_err *err)
{
    struct lca_issuer *root = issuer_by_id(st, lca_val_map_get_str(p, "root_id"));
    struct lca_issuer *def = issuer_by_id(st, lca_val_map_get_str(p, "default_issuer_id"));
    struct lca_issuer *old = issuer_by_id(st, st->active_root);

    if (root == NULL || def == NULL) {
        return bad(err, "RootActivated names an unknown issuer");
    }
    if (old != NULL) {
        old->modify_index = pos;
    }
    root->modify_index = pos;
    copy_str(st->active_root, sizeof(st->active_root), root->id);
    copy_str(st->default_issuer, sizeof(st->default_issuer), def->id);
    return LCA_OK;
}

static int set_manual_chain(struct lca_issuer *iss, const struct lca_val *arr, struct lca_err *err)
{
    size_t i, n = lca_val_len(arr);
    char **chain = n > 0 ? calloc(n, sizeof(char *)) : NULL;

    if (n > 0 && chain == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
    }
    for (i = 0; i < n; i++) {
        const char *s = lca_val_str(lca_val_arr_at(arr, i));
        if (s == NULL || (chain[i] = strdup(s)) == NULL) {
            while (i > 0) {
                free(chain[--i]);
            }
            free(chain);
            return bad(err, "manual_chain");
        }
    }
    for (i = 0; i < iss->n_manual; i++) {
        free(iss->manual_chain[i]);
    }
    free(iss->manual_chain);
    iss->manual_chain = chain;
    iss->n_manual = n;
    return LCA_OK;
}

/* Sets an issuer's shard count (decide allows it only before the issuer signs anything). */
static int set_shards(struct lca_issuer *iss, int64_t n, struct lca_err *err)
{
    struct lca_crl_scope *v = NULL;

    if (n < 0 || n > LCA_STATE_MAX_SHARDS || (n > 1 && (v = calloc((size_t)n, sizeof(*v))) == NULL)) {
        return n < 0 || n > LCA_STATE_MAX_SHARDS ? bad(err, "IssuerUpdated crl_shards")
                                                 : lca_err_set(err, LCA_ERR_FATAL, "oom", "oom");
    }
    free(iss->shards);
    iss->shards = v;
    iss->crl_shards = n > 1 ? (uint32_t)n : 0;
    return LCA_OK;
}

static int ev_issuer_updated(struct lca_state *st, int64_t pos, const struct lca_val *p,
                             struct lca_err *err)
{
    struct lca_issuer *iss = issuer_by_id(st, lca_val_map_get_str(p, "issuer_id"));
    const struct lca_val *v;

    if (iss == NULL) {
        return bad(err, "IssuerUpdated names an unknown issuer");
    }
    if ((v = lca_val_map_get(p, "issuer_name")) != NULL) {
        copy_str(iss->name, sizeof(iss->name), lca_val_str(v));
    }
    if ((v = lca_val_map_get(p, "usage")) != NULL) {
        iss->usage = (unsigned)lca_val_int(v);
    }
    if ((v = lca_val_map_get(p, "leaf_not_after_behavior")) != NULL &&
        lca_role_notafter_parse(lca_val_str(v), &iss->leaf_not_after, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if ((v = lca_val_map_get(p, "manual_chain")) != NULL && set_manual_chain(iss, v, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if ((v = lca_val_map_get(p, "crl_shards")) != NULL) {
        if (set_shards(iss, lca_val_int(v), err) != LCA_OK) {
            return LCA_FAIL;
        }
        copy_str(iss->crl_base_url, sizeof(iss->crl_base_url),
                 lca_val_map_get_str(p, "crl_base_url"));
    }
    iss->modify_index = pos;
    return LCA_OK;
}

/* The fold of a CertificateIssued whose fields were read (from a tree or a flat view):
 * serial, issuer (known to the state), not_after, kind "intermediate" or not. */
static int cert_issued_apply(struct lca_state *st, int64_t pos, const uint8_t *serial,
                             size_t serial_len, const struct lca_issuer *iss, int64_t not_after,
                             int is_ca, struct lca_err *err)
{
    struct lca_certrec rec;
    uint32_t *slot, tag;

    if (cert_grow(st, err) != LCA_OK) {
        return LCA_FAIL;
    }
    memset(&rec, 0, sizeof(rec));
    memcpy(rec.serial, serial, serial_len);
    rec.serial_len = (uint8_t)serial_len; /* <= 20: lca_state_serial_parse */
    rec.issuer_id = st->issuer_ids[iss - st->issuers];
    rec.not_after = not_after;
    rec.position = pos;
    rec.is_ca = is_ca != 0;
    slot = cert_slot(st, rec.serial, rec.serial_len, &tag);
    if (*slot != 0) {
        return bad(err, "duplicate serial");
    }
    st->certs[st->n_certs] = rec;
    *slot = cert_entry(st, st->n_certs++, tag);
    return LCA_OK;
}

static int ev_cert_issued(struct lca_state *st, int64_t pos, const struct lca_val *p,
                          struct lca_err *err)
{
    uint8_t serial[20];
    size_t len = 0;
    const struct lca_issuer *iss = issuer_by_id(st, lca_val_map_get_str(p, "issuer_id"));
    const char *kind = lca_val_map_get_str(p, "kind");

    if (lca_state_serial_parse(lca_val_map_get_str(p, "serial_number"), serial, &len) !=
            LCA_OK ||
        iss == NULL) {
        return bad(err, "CertificateIssued payload");
    }
    return cert_issued_apply(st, pos, serial, len, iss, lca_val_map_get_int(p, "not_after", 0),
                             kind != NULL && strcmp(kind, "intermediate") == 0, err);
}

/* Marks rec's CRL scope as holding a revocation no CRL lists yet (struct lca_crl_scope). */
static void scope_revoked(struct lca_state *st, const struct lca_certrec *rec)
{
    struct lca_issuer *iss = issuer_by_id(st, rec->issuer_id);

    if (iss == NULL) {
        return; /* a certificate of an issuer this log does not hold: no CRL of ours lists it */
    }
    if (iss->crl_shards > 1 && iss->shards != NULL) {
        iss->shards[lca_crl_shard(rec->serial, rec->serial_len, iss->crl_shards)].revoked_seq =
            rec->revoke_seq;
    } else {
        iss->crl.revoked_seq = rec->revoke_seq;
    }
}

/* The fold of a CertificateRevoked of a known certificate. */
static void cert_revoked_apply(struct lca_state *st, struct lca_certrec *rec, int64_t revoked_at,
                               int64_t reason)
{
    rec->revoked_at = revoked_at;
    rec->reason = (uint8_t)reason;
    rec->revoke_seq = ++st->revocations;
    scope_revoked(st, rec);
}

static int ev_cert_revoked(struct lca_state *st, int64_t pos, const struct lca_val *p,
                           struct lca_err *err)
{
    uint8_t serial[20];
    size_t len = 0;
    const struct lca_certrec *rec;

    (void)pos;
    if (lca_state_serial_parse(lca_val_map_get_str(p, "serial_number"), serial, &len) != LCA_OK ||
        (rec = lca_state_cert(st, serial, len)) == NULL) {
        return bad(err, "CertificateRevoked for an unknown serial");
    }
    cert_revoked_apply(st, (struct lca_certrec *)rec, lca_val_map_get_int(p, "revoked_at", 0),
                       lca_val_map_get_int(p, "reason", 0));
    return LCA_OK;
}

static int ev_role_written(struct lca_state *st, int64_t pos, const struct lca_val *p,
                           struct lca_err *err)
{
    const char *name = lca_val_map_get_str(p, "name");
    struct lca_role *role = NULL;
    size_t i;

    (void)pos;
    if (name == NULL || lca_role_parse(name, lca_val_map_get(p, "role"), &role, err) != LCA_OK) {
        return name == NULL ? bad(err, "RoleWritten without name") : LCA_FAIL;
    }
    for (i = 0; i < st->n_roles; i++) {
        if (strcmp(st->roles[i].name, name) == 0) {
            lca_role_free(st->roles[i].role);
            st->roles[i].role = role;
            return LCA_OK;
        }
    }
    if (st->n_roles == st->cap_roles) {
        size_t cap = st->cap_roles == 0 ? 8 : st->cap_roles * 2;
        struct role_slot *n = realloc(st->roles, cap * sizeof(*n));
        if (n == NULL) {
            lca_role_free(role);
            return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
        }
        st->roles = n;
        st->cap_roles = cap;
    }
    if ((st->roles[st->n_roles].name = strdup(name)) == NULL) {
        lca_role_free(role);
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
    }
    st->roles[st->n_roles++].role = role;
    return LCA_OK;
}

static int ev_role_deleted(struct lca_state *st, int64_t pos, const struct lca_val *p,
                           struct lca_err *err)
{
    const char *name = lca_val_map_get_str(p, "name");
    size_t i;

    (void)pos;
    (void)err;
    for (i = 0; name != NULL && i < st->n_roles; i++) {
        if (strcmp(st->roles[i].name, name) == 0) {
            free(st->roles[i].name);
            lca_role_free(st->roles[i].role);
            st->roles[i] = st->roles[--st->n_roles];
            return LCA_OK;
        }
    }
    return LCA_OK; /* deleting an absent role is a no-op, as in Vault */
}

static int ev_crl_published(struct lca_state *st, int64_t pos, const struct lca_val *p,
                            struct lca_err *err)
{
    struct lca_issuer *iss = issuer_by_id(st, lca_val_map_get_str(p, "issuer_id"));
    int64_t shard = lca_val_map_get_int(p, "shard", -1);
    struct lca_crl_scope *sc;

    (void)pos;
    if (iss == NULL) {
        return bad(err, "CrlPublished names an unknown issuer");
    }
    if (shard >= (int64_t)iss->crl_shards || shard < -1 || (shard >= 0 && iss->shards == NULL)) {
        return bad(err, "CrlPublished names a shard the issuer does not have");
    }
    sc = shard < 0 ? &iss->crl : &iss->shards[shard];
    sc->number = (uint64_t)lca_val_map_get_int(p, "crl_number", 0);
    sc->this_update = lca_val_map_get_int(p, "this_update", 0);
    sc->last_seq = st->revocations;
    if (lca_val_map_get_int(p, "delta_base", -1) < 0) { /* a complete CRL: the new base */
        sc->base_number = sc->number;
        sc->base_seq = st->revocations;
        sc->next_update = lca_val_map_get_int(p, "next_update", 0);
    }
    if (shard < 0) {
        iss->crl_number = sc->number;
        iss->last_crl_at = sc->this_update;
    }
    return LCA_OK;
}

static int ev_crl_build_failed(struct lca_state *st, int64_t pos, const struct lca_val *p,
                               struct lca_err *err)
{
    struct lca_issuer *iss = issuer_by_id(st, lca_val_map_get_str(p, "issuer_id"));
    int64_t shard = lca_val_map_get_int(p, "shard", -1);

    (void)pos;
    if (iss == NULL) {
        return bad(err, "CrlBuildFailed names an unknown issuer");
    }
    /* the guard refused this scope's CRL: nothing is owed to the schedule until crl.rotate */
    if (shard < 0) {
        iss->crl.last_seq = st->revocations;
    } else if (shard < (int64_t)iss->crl_shards && iss->shards != NULL) {
        iss->shards[shard].last_seq = st->revocations;
    }
    return LCA_OK;
}

uint64_t lca_state_revocations(const struct lca_state *st)
{
    return st->revocations;
}

const struct lca_crl_scope *lca_state_crl_scope(const struct lca_issuer *iss, int shard)
{
    if (shard < 0) {
        return &iss->crl;
    }
    return (uint32_t)shard < iss->crl_shards && iss->shards != NULL ? &iss->shards[shard] : NULL;
}

static int ev_tidied(struct lca_state *st, int64_t pos, const struct lca_val *p,
                     struct lca_err *err)
{
    const struct lca_val *serials = lca_val_map_get(p, "serials");
    const struct lca_val *retired = lca_val_map_get(p, "retired_issuers");
    size_t i, kept;
    uint8_t s[20];
    size_t len;

    (void)pos;
    for (i = 0; i < lca_val_len(retired); i++) {
        struct lca_issuer *iss = issuer_by_id(st, lca_val_str(lca_val_arr_at(retired, i)));
        if (iss == NULL) {
            return bad(err, "Tidied retires an unknown issuer");
        }
        iss->retired = 1;
    }
    if (lca_val_len(serials) == 0) {
        return LCA_OK;
    }
    for (i = 0; i < lca_val_len(serials); i++) {
        struct lca_certrec *rec;
        if (lca_state_serial_parse(lca_val_str(lca_val_arr_at(serials, i)), s, &len) != LCA_OK ||
            (rec = (struct lca_certrec *)lca_state_cert(st, s, len)) == NULL) {
            return bad(err, "Tidied removes an unknown serial");
        }
        rec->issuer_id = NULL; /* marked; dropped by the rehash below */
    }
    for (i = 0, kept = 0; i < st->n_certs; i++) {
        if (st->certs[i].issuer_id != NULL) {
            st->certs[kept++] = st->certs[i]; /* issue order kept */
        }
    }
    st->n_certs = kept;
    return cert_reindex(st, kept, err);
}

/* intermediate.generate: the key (in the key store) awaits its certificate from the primary. */
static int ev_int_generated(struct lca_state *st, int64_t pos, const struct lca_val *p,
                            struct lca_err *err)
{
    const char *kid = lca_val_map_get_str(p, "key_id");

    (void)pos;
    if (kid == NULL || strlen(kid) != 64 || lca_state_generated_key(st, kid)) {
        return bad(err, "IntermediateGenerated payload");
    }
    if (st->n_gen == st->cap_gen) {
        size_t cap = st->cap_gen == 0 ? 4 : st->cap_gen * 2;
        char (*n)[65] = realloc(st->gen_keys, cap * sizeof(*n));
        if (n == NULL) {
            return lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
        }
        st->gen_keys = n;
        st->cap_gen = cap;
    }
    memcpy(st->gen_keys[st->n_gen++], kid, 65);
    return LCA_OK;
}

int lca_state_generated_key(const struct lca_state *st, const char *key_id)
{
    size_t i;

    for (i = 0; key_id != NULL && i < st->n_gen; i++) {
        if (strcmp(st->gen_keys[i], key_id) == 0) {
            return 1;
        }
    }
    return 0;
}

static int ev_rejected(struct lca_state *st, int64_t pos, const struct lca_val *p,
                       struct lca_err *err)
{
    (void)st;
    (void)pos;
    (void)p;
    (void)err;
    return LCA_OK;
}

/* Recomputes every issuer's ca_chain (issuers are few; this runs only when one changes). */
static int chains_rebuild(struct lca_state *st, struct lca_err *err)
{
    struct lca_chain_in *in = NULL;
    size_t *map = NULL, i, j, n = 0, idx[LCA_CHAIN_MAX], len;
    int rc = LCA_FAIL;

    if (st->n_issuers == 0) {
        return LCA_OK;
    }
    in = calloc(st->n_issuers, sizeof(*in));
    map = calloc(st->n_issuers, sizeof(*map));
    if (in == NULL || map == NULL) {
        lca_err_set(err, LCA_ERR_FATAL, "oom", "out of memory");
        goto out;
    }
    for (i = 0; i < st->n_issuers; i++) {
        if (!st->issuers[i].retired) {
            in[n].cert = st->issuers[i].cert;
            in[n].issuer_id = st->issuers[i].id;
            map[n++] = i;
        }
    }
    for (j = 0; j < n; j++) {
        struct lca_issuer *iss = &st->issuers[map[j]];
        if (iss->n_manual > 0) {
            continue; /* manual chains are resolved below */
        }
        if (lca_chain_build(in, n, j, idx, &len, err) != LCA_OK) {
            goto out;
        }
        for (i = 0; i < len; i++) {
            iss->chain[i] = map[idx[i]];
        }
        iss->chain_len = len;
    }
    for (i = 0; i < st->n_issuers; i++) {
        struct lca_issuer *iss = &st->issuers[i];
        iss->chain_len = iss->n_manual > 0 ? 0 : iss->chain_len;
        for (j = 0; j < iss->n_manual && j < LCA_CHAIN_MAX; j++) {
            struct lca_issuer *m = issuer_by_id(st, iss->manual_chain[j]);
            if (m != NULL) {
                iss->chain[iss->chain_len++] = (size_t)(m - st->issuers);
            }
        }
    }
    rc = LCA_OK;
out:
    free(in);
    free(map);
    return rc;
}

typedef int (*evolve_fn)(struct lca_state *, int64_t, const struct lca_val *, struct lca_err *);

static evolve_fn handler(enum lca_evt_type t)
{
    switch (t) {
    case LCA_EVT_CONFIG_UPDATED:
        return ev_config;
    case LCA_EVT_ISSUER_CREATED:
        return ev_issuer_created;
    case LCA_EVT_ROOT_ACTIVATED:
        return ev_root_activated;
    case LCA_EVT_ISSUER_UPDATED:
        return ev_issuer_updated;
    case LCA_EVT_CERT_ISSUED:
        return ev_cert_issued;
    case LCA_EVT_CERT_REVOKED:
        return ev_cert_revoked;
    case LCA_EVT_ROLE_WRITTEN:
        return ev_role_written;
    case LCA_EVT_ROLE_DELETED:
        return ev_role_deleted;
    case LCA_EVT_CRL_PUBLISHED:
        return ev_crl_published;
    case LCA_EVT_TIDIED:
        return ev_tidied;
    case LCA_EVT_COMMAND_REJECTED:
    case LCA_EVT_REVOCATION_FORWARDED: /* the owning cluster records the revocation */
        return ev_rejected;
    case LCA_EVT_INTERMEDIATE_GENERATED:
        return ev_int_generated;
    case LCA_EVT_CRL_BUILD_FAILED:
        return ev_crl_build_failed;
    default:
        return NULL;
    }
}

int lca_state_evolve(struct lca_state *st, int64_t position, const struct lca_event *ev,
                     struct lca_err *err)
{
    evolve_fn fn = handler(ev->type);

    if (fn == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_event", "unknown event type %d",
                           (int)ev->type);
    }
    if (position != 0 && position <= st->position) {
        return lca_err_set(err, LCA_ERR_FATAL, "out_of_order",
                           "event at position %lld after position %lld", (long long)position,
                           (long long)st->position);
    }
    if (fn(st, position, ev->payload, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if ((ev->type == LCA_EVT_ISSUER_CREATED || ev->type == LCA_EVT_ISSUER_UPDATED ||
         ev->type == LCA_EVT_TIDIED) &&
        chains_rebuild(st, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (position != 0) {
        st->position = position;
    }
    if (ev->type != LCA_EVT_CERT_ISSUED && ev->type != LCA_EVT_CERT_REVOKED &&
        ev->type != LCA_EVT_CRL_PUBLISHED && ev->type != LCA_EVT_COMMAND_REJECTED &&
        ev->type != LCA_EVT_REVOCATION_FORWARDED && ev->type != LCA_EVT_CRL_BUILD_FAILED) {
        st->ca_version++;
    }
    return LCA_OK;
}

/* ---- the flat fold (state.h): what the handlers above read, from a flat view ---- */

/* The field `key` of a flat payload, or NULL (keys are distinct: lca_codec_decode_flat). */
static const struct lca_codec_item *flat_get(const struct lca_event_flat *ev, const char *key)
{
    size_t i, n = strlen(key);

    for (i = 0; i < ev->n; i++) {
        if (ev->payload[i].klen == n && memcmp(ev->payload[i].key, key, n) == 0) {
            return &ev->payload[i];
        }
    }
    return NULL;
}

/* lca_val_map_get_str(key) copied into buf (cap bytes): 1 with buf set (or "" with *absent
 * = 1 when the field is missing or no str, as get_str's NULL), 0 when the str does not fit
 * or holds a NUL (the tree path then decides). */
static int flat_str(const struct lca_event_flat *ev, const char *key, char *buf, size_t cap,
                    int *absent)
{
    const struct lca_codec_item *it = flat_get(ev, key);

    buf[0] = '\0';
    *absent = it == NULL || it->kind != LCA_VAL_STR;
    if (*absent) {
        return 1;
    }
    if (it->n >= cap || memchr(it->p, '\0', it->n) != NULL) {
        return 0;
    }
    memcpy(buf, it->p, it->n);
    buf[it->n] = '\0';
    return 1;
}

/* lca_val_map_get_int(key, 0): 1 with *v set; 0 for a str (get_int would parse it). */
static int flat_int(const struct lca_event_flat *ev, const char *key, int64_t *v)
{
    const struct lca_codec_item *it = flat_get(ev, key);

    *v = it != NULL && it->kind == LCA_VAL_INT ? it->i : 0;
    return it == NULL || it->kind != LCA_VAL_STR;
}

/* ev_cert_issued from a flat view: 1 applied (rc set), 0 not handled. */
static int flat_cert_issued(struct lca_state *st, int64_t pos, const struct lca_event_flat *ev,
                            int *rc, struct lca_err *err)
{
    char sn[64], iid[LCA_ID_LEN + 1], kind[16];
    int no_sn, no_iid, no_kind;
    uint8_t serial[20];
    size_t len = 0;
    int64_t not_after;
    const struct lca_issuer *iss = NULL;

    if (!flat_str(ev, "serial_number", sn, sizeof(sn), &no_sn) || no_sn ||
        !flat_str(ev, "issuer_id", iid, sizeof(iid), &no_iid) || no_iid ||
        !flat_str(ev, "kind", kind, sizeof(kind), &no_kind) ||
        !flat_int(ev, "not_after", &not_after) ||
        lca_state_serial_parse(sn, serial, &len) != LCA_OK ||
        (iss = issuer_by_id(st, iid)) == NULL) {
        return 0;
    }
    if (lca_state_cert(st, serial, len) != NULL) {
        return 0; /* a duplicate: the tree path names it */
    }
    *rc = cert_issued_apply(st, pos, serial, len, iss, not_after,
                            strcmp(kind, "intermediate") == 0, err); /* "" when absent */
    return 1;
}

/* ev_cert_revoked from a flat view: 1 applied, 0 not handled. */
static int flat_cert_revoked(struct lca_state *st, const struct lca_event_flat *ev)
{
    char sn[64];
    int no_sn;
    uint8_t serial[20];
    size_t len = 0;
    int64_t at, reason;
    const struct lca_certrec *rec;

    if (!flat_str(ev, "serial_number", sn, sizeof(sn), &no_sn) || no_sn ||
        !flat_int(ev, "revoked_at", &at) || !flat_int(ev, "reason", &reason) ||
        lca_state_serial_parse(sn, serial, &len) != LCA_OK ||
        (rec = lca_state_cert(st, serial, len)) == NULL) {
        return 0;
    }
    cert_revoked_apply(st, (struct lca_certrec *)rec, at, reason);
    return 1;
}

int lca_state_evolve_flat(struct lca_state *st, int64_t position,
                          const struct lca_event_flat *ev, int *applied, struct lca_err *err)
{
    int rc = LCA_OK;

    *applied = 0;
    if (position != 0 && position <= st->position) {
        return LCA_OK; /* lca_state_evolve names it */
    }
    if (ev->type == LCA_EVT_CERT_ISSUED) {
        *applied = flat_cert_issued(st, position, ev, &rc, err);
    } else if (ev->type == LCA_EVT_CERT_REVOKED) {
        *applied = flat_cert_revoked(st, ev);
    }
    if (*applied && rc == LCA_OK && position != 0) {
        st->position = position; /* neither type is in the "ca" stream (ca_version) */
    }
    return rc;
}

void lca_state_reserve(struct lca_state *st, size_t certs)
{
    struct lca_err err;

    if (certs > st->cap_index / 2 && certs < UINT32_MAX / 4) {
        (void)cert_reindex(st, certs, &err); /* a hint: failing leaves the index as it was */
    }
}

void lca_state_advance(struct lca_state *st, int64_t position)
{
    if (position > st->position) {
        st->position = position;
    }
}

int lca_state_stream(const struct lca_state *st, const struct lca_event *ev,
                     const char *command_id, char *stream, size_t len, int32_t *version)
{
    const char *serial = lca_val_map_get_str(ev->payload, "serial_number");
    const char *issuer = lca_val_map_get_str(ev->payload, "issuer_id");

    switch (ev->type) {
    case LCA_EVT_CERT_ISSUED:
    case LCA_EVT_CERT_REVOKED:
        if (serial == NULL) {
            return bad(NULL, "certificate event without serial");
        }
        snprintf(stream, len, "cert:%s", serial);
        *version = ev->type == LCA_EVT_CERT_ISSUED ? 1 : 2;
        return LCA_OK;
    case LCA_EVT_CRL_PUBLISHED:
        if (lca_val_map_get_int(ev->payload, "shard", -1) >= 0) {
            snprintf(stream, len, "crl:%s/%lld", issuer != NULL ? issuer : "",
                     (long long)lca_val_map_get_int(ev->payload, "shard", -1));
        } else {
            snprintf(stream, len, "crl:%s", issuer != NULL ? issuer : "");
        }
        *version = (int32_t)lca_val_map_get_int(ev->payload, "crl_number", 0);
        return *version > 0 ? LCA_OK : bad(NULL, "CRL event without number");
    case LCA_EVT_CRL_BUILD_FAILED:
        snprintf(stream, len, "crlfail:%s:%s/%lld", command_id != NULL ? command_id : "",
                 issuer != NULL ? issuer : "",
                 (long long)lca_val_map_get_int(ev->payload, "shard", -1));
        *version = 1;
        return LCA_OK;
    case LCA_EVT_COMMAND_REJECTED:
    case LCA_EVT_REVOCATION_FORWARDED:
        snprintf(stream, len, "cmd:%s", command_id != NULL ? command_id : "");
        *version = 1;
        return LCA_OK;
    default:
        snprintf(stream, len, "ca");
        *version = st->ca_version + 1;
        return LCA_OK;
    }
}
