/*
 * fuzz_codec — libFuzzer target for the msgpack decoder (STYLE.md rule 12) and the event
 * envelope decoder.
 *
 * Properties checked beyond "no crash, no leak": whatever decodes re-encodes canonically,
 * the canonical bytes decode to an equal tree, and re-encoding those gives the same bytes
 * (canonical encoding is a fixed point).
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
    return 0;
}
