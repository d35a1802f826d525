/*
 * event — canonical event envelope (contract in event.h).
 */
#include "event.h"

#include <stdlib.h>
#include <string.h>

#include "codec.h"

struct lca_event *lca_event_new(enum lca_evt_type type, struct lca_val *payload)
{
    struct lca_event *e;

    if (payload == NULL) {
        return NULL;
    }
    e = malloc(sizeof(*e));
    if (e == NULL) {
        lca_val_free(payload);
        return NULL;
    }
    e->type = type;
    e->payload = payload;
    return e;
}

void lca_event_free(struct lca_event *e)
{
    if (e == NULL) {
        return;
    }
    lca_val_free(e->payload);
    free(e);
}

int lca_event_canonical(const struct lca_event *e, uint8_t **out, size_t *len,
                        struct lca_err *err)
{
    struct lca_val *m;
    int rc;

    if (e == NULL || lca_catalog_evt_name(e->type) == NULL || e->type == LCA_EVT_NONE ||
        lca_val_kind(e->payload) != LCA_VAL_MAP) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_event",
                           "an event needs a known type and a map payload");
    }
    /* The envelope map owns its children, so it gets a copy of the payload. */
    m = lca_val_new_map();
    lca_val_map_set_str(m, "type", lca_catalog_evt_name(e->type));
    lca_val_map_set_int(m, "v", LCA_EVENT_VERSION);
    lca_val_map_set(m, "payload", lca_val_clone(e->payload));
    rc = lca_codec_encode(m, out, len, err);
    lca_val_free(m);
    return rc;
}

/* Checks the decoded envelope's shape and finds its type. */
static int check_envelope(const struct lca_val *root, enum lca_evt_type *type,
                          struct lca_err *err)
{
    const struct lca_val *v = lca_val_map_get(root, "v");
    const char *name = lca_val_map_get_str(root, "type");

    if (lca_val_kind(root) != LCA_VAL_MAP || lca_val_len(root) != 3 || name == NULL ||
        lca_val_kind(v) != LCA_VAL_INT ||
        lca_val_kind(lca_val_map_get(root, "payload")) != LCA_VAL_MAP) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_event",
                           "an event is a map of exactly payload (map), type (str), v (int)");
    }
    if (lca_val_int(v) != LCA_EVENT_VERSION) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "unsupported_version",
                           "event envelope version %lld is not supported",
                           (long long)lca_val_int(v));
    }
    *type = lca_catalog_evt_from_name(name);
    if (*type == LCA_EVT_NONE) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "unknown_type", "unknown event type (%zu bytes)",
                           lca_val_len(lca_val_map_get(root, "type")));
    }
    return LCA_OK;
}

int lca_event_decode(const uint8_t *buf, size_t len, struct lca_event **out,
                     struct lca_err *err)
{
    struct lca_val *root = NULL;
    struct lca_event *e;
    enum lca_evt_type type = LCA_EVT_NONE;
    int rc = LCA_FAIL;

    if (lca_codec_decode(buf, len, NULL, &root, err) != LCA_OK ||
        check_envelope(root, &type, err) != LCA_OK) {
        goto out;
    }
    e = lca_event_new(type, lca_val_map_take(root, "payload"));
    if (e == NULL) {
        lca_err_set(err, LCA_ERR_FATAL, "no_memory", "out of memory");
        goto out;
    }
    *out = e;
    rc = LCA_OK;
out:
    lca_val_free(root);
    return rc;
}

/* 1 when item it is the klen-byte key `key`. */
static int flat_is(const struct lca_codec_item *it, const char *key, size_t klen)
{
    return it->klen == klen && memcmp(it->key, key, klen) == 0;
}

int lca_event_decode_flat(const uint8_t *buf, size_t len, struct lca_event_flat *out)
{
    const struct lca_codec_item *payload = NULL, *type = NULL, *v = NULL;
    size_t n = 0, i;
    char name[64];

    if (!lca_codec_decode_flat(buf, len, NULL, out->items, sizeof(out->items) /
                               sizeof(out->items[0]), &n)) {
        return 0;
    }
    /* check_envelope: exactly payload (map), type (str), v (int 1); keys are distinct */
    for (i = 0; i < n; i += 1 + (out->items[i].kind == LCA_VAL_MAP ? out->items[i].n : 0)) {
        const struct lca_codec_item *it = &out->items[i];
        if (flat_is(it, "payload", 7) && it->kind == LCA_VAL_MAP) {
            payload = it;
        } else if (flat_is(it, "type", 4) && it->kind == LCA_VAL_STR) {
            type = it;
        } else if (flat_is(it, "v", 1) && it->kind == LCA_VAL_INT) {
            v = it;
        } else {
            return 0;
        }
    }
    if (payload == NULL || type == NULL || v == NULL || v->i != LCA_EVENT_VERSION ||
        type->n >= sizeof(name) || memchr(type->p, '\0', type->n) != NULL ||
        payload->n > LCA_EVENT_FLAT_MAX) {
        return 0;
    }
    memcpy(name, type->p, type->n);
    name[type->n] = '\0';
    if ((out->type = lca_catalog_evt_from_name(name)) == LCA_EVT_NONE) {
        return 0;
    }
    out->payload = payload + 1;
    out->n = payload->n;
    return 1;
}
