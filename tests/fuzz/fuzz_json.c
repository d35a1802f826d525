/*
 * fuzz_json — libFuzzer target for the JSON decoder (STYLE.md rule 12).
 *
 * Properties: whatever decodes re-encodes as JSON (strings from jansson are valid UTF-8),
 * that JSON decodes to an equal tree, and the tree also encodes as canonical msgpack.
 */
#include <stdint.h>
#include <stdlib.h>

#include "codec.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lca_val *v = NULL, *again = NULL;
    char *text = NULL;
    uint8_t *mp = NULL;
    size_t len = 0;
    struct lca_err err;

    if (lca_json_decode((const char *)data, size, NULL, &v, &err) != LCA_OK) {
        if (err.cls != LCA_ERR_BAD_INPUT && err.cls != LCA_ERR_FATAL) {
            abort();
        }
        return 0;
    }
    if (lca_json_encode(v, &text, &len, &err) != LCA_OK) {
        abort();
    }
    if (lca_json_decode(text, len, NULL, &again, &err) != LCA_OK || !lca_val_equal(v, again)) {
        abort();
    }
    if (lca_codec_encode(v, &mp, &len, &err) != LCA_OK) {
        abort();
    }
    free(mp);
    free(text);
    lca_val_free(again);
    lca_val_free(v);
    return 0;
}
