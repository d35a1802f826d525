/*
 * fuzz_codec — libFuzzer target for the msgpack decoder (STYLE.md rule 12) and the event
 * envelope decoder.
 *
 * Properties checked beyond "no crash, no leak": whatever decodes re-encodes canonically,
 * the canonical bytes decode to an equal tree, and re-encoding those gives the same bytes
 * (canonical encoding is a fixed point). The flat views (lca_codec_decode_flat,
 * lca_event_decode_flat) take only what the tree decoders accept, with the same values.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "event.h"

static void check_fixed_point(const struct lca_val *v)
{
    uint8_t *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;
    struct lca_val *again = NULL;
    struct lca_err err;

    if (lca_codec_encode(v, &a, &la, &err) != LCA_OK) {
        abort(); /* a decoded tree is within limits, so it must encode */
    }
    if (lca_codec_decode(a, la, NULL, &again, &err) != LCA_OK || !lca_val_equal(v, again)) {
        abort();
    }
    if (lca_codec_encode(again, &b, &lb, &err) != LCA_OK || la != lb || memcmp(a, b, la) != 0) {
        abort();
    }
    free(a);
    free(b);
    lca_val_free(again);
}

/* Items [0, n) hold exactly the entries of map m, in wire order. */
static int flat_equal(const struct lca_codec_item *it, size_t n, const struct lca_val *m)
{
    size_t i = 0, k = 0, bl = 0;

    for (; i < n; k++) {
        const char *key = lca_val_map_key_at(m, k);
        const struct lca_val *v = lca_val_map_val_at(m, k);
        const uint8_t *b = NULL;
        int ok = key != NULL && strlen(key) == it[i].klen &&
                 memcmp(key, it[i].key, it[i].klen) == 0 && lca_val_kind(v) == it[i].kind;
        switch (ok ? it[i].kind : LCA_VAL_NIL) {
        case LCA_VAL_BOOL:
            ok = lca_val_bool(v) == (int)it[i].i;
            break;
        case LCA_VAL_INT:
            ok = lca_val_int(v) == it[i].i;
            break;
        case LCA_VAL_STR:
            ok = lca_val_len(v) == it[i].n && memcmp(lca_val_str(v), it[i].p, it[i].n) == 0;
            break;
        case LCA_VAL_BIN:
            b = lca_val_bin(v, &bl);
            ok = bl == it[i].n && (bl == 0 || memcmp(b, it[i].p, bl) == 0);
            break;
        case LCA_VAL_MAP:
            ok = lca_val_len(v) == it[i].n && flat_equal(it + i + 1, it[i].n, v);
            break;
        default:
            break;
        }
        if (!ok) {
            return 0;
        }
        i += 1 + (it[i].kind == LCA_VAL_MAP ? it[i].n : 0);
    }
    return k == lca_val_len(m);
}

static void check_flat(const uint8_t *data, size_t size)
{
    struct lca_codec_item items[24];
    struct lca_event_flat ef;
    struct lca_val *v = NULL;
    struct lca_event *e = NULL;
    struct lca_err err;
    size_t n = 0;

    if (lca_codec_decode_flat(data, size, NULL, items, 24, &n) &&
        (lca_codec_decode(data, size, NULL, &v, &err) != LCA_OK || !flat_equal(items, n, v))) {
        abort();
    }
    if (lca_event_decode_flat(data, size, &ef) &&
        (lca_event_decode(data, size, &e, &err) != LCA_OK || e->type != ef.type ||
         lca_val_len(e->payload) != ef.n || !flat_equal(ef.payload, ef.n, e->payload))) {
        abort();
    }
    lca_val_free(v);
    lca_event_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lca_val *v = NULL;
    struct lca_event *e = NULL;
    struct lca_err err;

    if (lca_codec_decode(data, size, NULL, &v, &err) == LCA_OK) {
        check_fixed_point(v);
        lca_val_free(v);
    } else if (err.cls != LCA_ERR_BAD_INPUT && err.cls != LCA_ERR_FATAL) {
        abort();
    }
    if (lca_event_decode(data, size, &e, &err) == LCA_OK) {
        uint8_t *out = NULL;
        size_t len = 0;

        if (lca_event_canonical(e, &out, &len, &err) != LCA_OK) {
            abort();
        }
        free(out);
        lca_event_free(e);
    }
    check_flat(data, size);
    return 0;
}
