/* fedlog — relay message codec and the aggregator's fold (fedlog.h). Pure. */
#include "fedlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "codec.h"
#include "crl.h"

int lca_fedlog_cluster_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;

    return n >= 1 && n <= 64 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

int lca_fedlog_topic(const char *cluster, char *out, size_t len)
{
    int n;

    if (!lca_fedlog_cluster_ok(cluster)) {
        return LCA_FAIL;
    }
    n = snprintf(out, len, "ledgerca.events.%s", cluster);
    return n > 0 && (size_t)n < len ? LCA_OK : LCA_FAIL;
}

int lca_fedlog_encode(const struct lca_fedlog_msg *m, uint8_t **out, size_t *len,
                      struct lca_err *err)
{
    struct lca_val *v;
    int rc;

    if (m == NULL || !lca_fedlog_cluster_ok(m->cluster) || m->position < 1 ||
        m->stream == NULL || m->type == NULL || m->command_id == NULL ||
        (m->payload == NULL && m->payload_len > 0)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_message", "fedlog: incomplete message");
    }
    v = lca_val_new_map();
    lca_val_map_set_int(v, "v", LCA_FEDLOG_VERSION);
    lca_val_map_set_str(v, "cluster", m->cluster);
    lca_val_map_set_int(v, "position", m->position);
    lca_val_map_set_str(v, "stream", m->stream);
    lca_val_map_set_int(v, "stream_version", m->stream_version);
    lca_val_map_set_str(v, "type", m->type);
    lca_val_map_set_str(v, "command_id", m->command_id);
    lca_val_map_set_int(v, "recorded_at", m->recorded_at_us);
    lca_val_map_set_bin(v, "prev_hash", m->prev_hash, LCA_FEDLOG_HASH_LEN);
    lca_val_map_set_bin(v, "hash", m->hash, LCA_FEDLOG_HASH_LEN);
    lca_val_map_set_bin(v, "payload", m->payload != NULL ? m->payload : (const uint8_t *)"",
                        m->payload_len);
    rc = lca_codec_encode(v, out, len, err);
    lca_val_free(v);
    return rc;
}

static int bad(struct lca_err *err, const char *what)
{
    return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_message", "fedlog: %s", what);
}

static int get_hash(const struct lca_val *v, const char *key, uint8_t out[LCA_FEDLOG_HASH_LEN])
{
    size_t n = 0;
    const uint8_t *p = lca_val_map_get_bin(v, key, &n);

    if (p == NULL || n != LCA_FEDLOG_HASH_LEN) {
        return LCA_FAIL;
    }
    memcpy(out, p, n);
    return LCA_OK;
}

static int get_int(const struct lca_val *v, const char *key, int64_t *out)
{
    const struct lca_val *x = lca_val_map_get(v, key);

    if (x == NULL || lca_val_kind(x) != LCA_VAL_INT) {
        return LCA_FAIL;
    }
    *out = lca_val_int(x);
    return LCA_OK;
}

static int fill(const struct lca_val *v, struct lca_fedlog_msg *m, struct lca_err *err)
{
    int64_t ver = 0, sv = 0;

    if (lca_val_kind(v) != LCA_VAL_MAP || lca_val_len(v) != 11) {
        return bad(err, "not a map of the 11 message fields");
    }
    if (get_int(v, "v", &ver) != LCA_OK || ver != LCA_FEDLOG_VERSION) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "unsupported_version",
                           "fedlog: message version is not %d", LCA_FEDLOG_VERSION);
    }
    m->cluster = lca_val_map_get_str(v, "cluster");
    m->stream = lca_val_map_get_str(v, "stream");
    m->type = lca_val_map_get_str(v, "type");
    m->command_id = lca_val_map_get_str(v, "command_id");
    m->payload = lca_val_map_get_bin(v, "payload", &m->payload_len);
    if (!lca_fedlog_cluster_ok(m->cluster) || m->stream == NULL || m->type == NULL ||
        m->command_id == NULL || m->payload == NULL ||
        get_int(v, "position", &m->position) != LCA_OK || m->position < 1 ||
        get_int(v, "stream_version", &sv) != LCA_OK || sv < 1 || sv > INT32_MAX ||
        get_int(v, "recorded_at", &m->recorded_at_us) != LCA_OK ||
        get_hash(v, "prev_hash", m->prev_hash) != LCA_OK ||
        get_hash(v, "hash", m->hash) != LCA_OK) {
        return bad(err, "a field is missing or of the wrong kind");
    }
    m->stream_version = (int32_t)sv;
    return LCA_OK;
}

int lca_fedlog_decode(const uint8_t *buf, size_t len, struct lca_fedlog_decoded *out,
                      struct lca_err *err)
{
    static const struct lca_limits lim = {LCA_FEDLOG_MAX_BYTES, 2, 64, LCA_FEDLOG_MAX_BYTES};
    struct lca_val *v = NULL;

    if (buf == NULL || len == 0) {
        return bad(err, "empty message");
    }
    if (lca_codec_decode(buf, len, &lim, &v, err) != LCA_OK) {
        return LCA_FAIL;
    }
    memset(&out->msg, 0, sizeof(out->msg));
    if (fill(v, &out->msg, err) != LCA_OK) {
        lca_val_free(v);
        return LCA_FAIL;
    }
    out->tree = v;
    return LCA_OK;
}

void lca_fedlog_decoded_cleanup(struct lca_fedlog_decoded *d)
{
    if (d != NULL) {
        lca_val_free(d->tree);
        d->tree = NULL;
    }
}

/* ---- the fold ---- */

static int chain_hash(const uint8_t prev[LCA_FEDLOG_HASH_LEN], const uint8_t *p, size_t n,
                      uint8_t out[LCA_FEDLOG_HASH_LEN], struct lca_err *err)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned int olen = 0;
    int ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(c, prev, LCA_FEDLOG_HASH_LEN) == 1 &&
             EVP_DigestUpdate(c, p, n) == 1 && EVP_DigestFinal_ex(c, out, &olen) == 1;

    EVP_MD_CTX_free(c);
    return ok ? LCA_OK : lca_err_set(err, LCA_ERR_FATAL, "sha256", "fedlog: SHA-256 failed");
}

/* The cursor checks of the file comment. *dup = 1 for an already folded message. */
static int check_chain(const struct lca_fedlog_cursor *cur, const struct lca_fedlog_msg *m,
                       int *dup, struct lca_err *err)
{
    uint8_t h[LCA_FEDLOG_HASH_LEN];

    *dup = 0;
    if (m->position <= cur->position) {
        if (m->position == cur->position &&
            CRYPTO_memcmp(m->hash, cur->hash, LCA_FEDLOG_HASH_LEN) != 0) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "fork",
                               "fedlog: %s position %lld has another hash than the one folded",
                               m->cluster, (long long)m->position);
        }
        *dup = 1;
        return LCA_OK;
    }
    if (m->position != cur->position + 1) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "gap",
                           "fedlog: %s position %lld follows %lld", m->cluster,
                           (long long)m->position, (long long)cur->position);
    }
    if (CRYPTO_memcmp(m->prev_hash, cur->hash, LCA_FEDLOG_HASH_LEN) != 0) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "broken_chain",
                           "fedlog: %s position %lld: prev_hash is not the hash of %lld",
                           m->cluster, (long long)m->position, (long long)cur->position);
    }
    if (chain_hash(m->prev_hash, m->payload, m->payload_len, h, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (CRYPTO_memcmp(h, m->hash, LCA_FEDLOG_HASH_LEN) != 0) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_hash",
                           "fedlog: %s position %lld: hash is not SHA-256(prev_hash || payload)",
                           m->cluster, (long long)m->position);
    }
    return LCA_OK;
}

static int classify(const struct lca_event *ev, struct lca_fedlog_change *out,
                    struct lca_err *err)
{
    enum lca_crl_reason r = LCA_CRL_UNSPECIFIED;

    switch (out->view.kind) {
    case LCA_CERTVIEW_ISSUED:
        out->kind = LCA_FEDLOG_ISSUED;
        return LCA_OK;
    case LCA_CERTVIEW_CRL:
        out->kind = LCA_FEDLOG_CRL;
        return LCA_OK;
    case LCA_CERTVIEW_REVOKED:
        out->kind = LCA_FEDLOG_REVOKED;
        out->revoked_issuer_id = lca_val_map_get_str(ev->payload, "issuer_id");
        if (out->revoked_issuer_id == NULL ||
            lca_crl_reason_parse(out->view.rev.reason, &r, err) != LCA_OK) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_event",
                               "fedlog: CertificateRevoked without issuer_id or reason");
        }
        out->reason = (int)r;
        return LCA_OK;
    default:
        break;
    }
    if (ev->type == LCA_EVT_ISSUER_CREATED) {
        out->issuer.id = lca_val_map_get_str(ev->payload, "issuer_id");
        out->issuer.key_id = lca_val_map_get_str(ev->payload, "key_id");
        out->issuer.der = lca_val_map_get_bin(ev->payload, "certificate", &out->issuer.der_len);
        if (out->issuer.id == NULL || out->issuer.key_id == NULL || out->issuer.der == NULL) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_event",
                               "fedlog: IssuerCreated without issuer_id, key_id or certificate");
        }
        out->kind = LCA_FEDLOG_ISSUER;
    }
    return LCA_OK;
}

int lca_fedlog_apply(struct lca_fedlog_cursor *cur, const struct lca_fedlog_msg *m,
                     struct lca_fedlog_change *out, struct lca_event **ev,
                     struct lca_err *err)
{
    struct lca_event *e = NULL;
    int dup = 0;

    memset(out, 0, sizeof(*out));
    if (cur == NULL || m == NULL || ev == NULL || !lca_fedlog_cluster_ok(m->cluster)) {
        return bad(err, "bad arguments");
    }
    if (check_chain(cur, m, &dup, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (dup) {
        out->duplicate = 1;
        return LCA_OK;
    }
    if (lca_event_decode(m->payload, m->payload_len, &e, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (strcmp(lca_catalog_evt_name(e->type), m->type) != 0) {
        lca_event_free(e);
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_message",
                           "fedlog: type column does not match the payload's type");
    }
    if (lca_certview_change(e, m->position, m->cluster, &out->view, err) != LCA_OK ||
        classify(e, out, err) != LCA_OK) {
        lca_event_free(e);
        memset(out, 0, sizeof(*out));
        return LCA_FAIL;
    }
    cur->position = m->position;
    memcpy(cur->hash, m->hash, LCA_FEDLOG_HASH_LEN);
    *ev = e;
    return LCA_OK;
}
