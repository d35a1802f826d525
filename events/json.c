/*
 * json — jansson-backed JSON decoder/encoder for value trees (contract in json.h).
 */
#include "json.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int json_no_memory(struct lca_err *err)
{
    return lca_err_set(err, LCA_ERR_FATAL, "no_memory", "out of memory in the JSON codec");
}

/* ---- decode ------------------------------------------------------------------------------ */

/* Nesting depth of [ and { outside strings, checked before jansson (whose own limit is 2048)
 * sees the input. Malformed text is left for jansson to reject. */
static int json_prescan_depth(const char *buf, size_t len, size_t max_depth,
                              struct lca_err *err)
{
    size_t k, depth = 0;
    int in_str = 0;

    for (k = 0; k < len; k++) {
        char c = buf[k];

        if (in_str) {
            if (c == '\\') {
                k++;
            } else if (c == '"') {
                in_str = 0;
            }
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) {
                return lca_err_set(err, LCA_ERR_BAD_INPUT, "too_deep",
                                   "JSON nested deeper than %zu at offset %zu", max_depth, k);
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return LCA_OK;
}

static int json_parse_error(const json_error_t *je, struct lca_err *err)
{
    const char *code = "bad_json";

    switch (json_error_code(je)) {
    case json_error_out_of_memory:
        return json_no_memory(err);
    case json_error_duplicate_key:
        code = "duplicate_key";
        break;
    case json_error_premature_end_of_input:
        code = "truncated";
        break;
    case json_error_end_of_input_expected:
        code = "trailing_bytes";
        break;
    case json_error_numeric_overflow:
        code = "int_range";
        break;
    default:
        break;
    }
    return lca_err_set(err, LCA_ERR_BAD_INPUT, code, "JSON line %d column %d: %s", je->line,
                       je->column, je->text);
}

struct jdec {
    const struct lca_limits *lim;
    size_t items;
    struct lca_err *err;
};

static int jdec_count(struct jdec *d)
{
    if (++d->items > d->lim->max_items) {
        return lca_err_set(d->err, LCA_ERR_BAD_INPUT, "too_many_items",
                           "more than %zu values in the JSON input", d->lim->max_items);
    }
    return LCA_OK;
}

static int jdec_str_len(struct jdec *d, size_t n, const char *what)
{
    if (n > d->lim->max_str) {
        return lca_err_set(d->err, LCA_ERR_BAD_INPUT, "too_large",
                           "JSON %s of %zu bytes exceeds the limit of %zu", what, n,
                           d->lim->max_str);
    }
    return LCA_OK;
}

static struct lca_val *jdec_val(struct jdec *d, const json_t *j);

static struct lca_val *jdec_object(struct jdec *d, const json_t *j)
{
    struct lca_val *m = lca_val_new_map();
    const char *key;
    json_t *child;

    if (m == NULL) {
        json_no_memory(d->err);
        return NULL;
    }
    json_object_foreach((json_t *)j, key, child) {
        size_t klen = strlen(key);
        struct lca_val *v;

        if (jdec_count(d) != LCA_OK || jdec_str_len(d, klen, "key") != LCA_OK ||
            (v = jdec_val(d, child)) == NULL) {
            lca_val_free(m);
            return NULL;
        }
        lca_val_map_append(m, key, klen, v); /* jansson rejected duplicates already */
    }
    return m;
}

static struct lca_val *jdec_array(struct jdec *d, const json_t *j)
{
    struct lca_val *a = lca_val_new_arr();
    size_t k;

    if (a == NULL) {
        json_no_memory(d->err);
        return NULL;
    }
    for (k = 0; k < json_array_size(j); k++) {
        struct lca_val *v = jdec_val(d, json_array_get(j, k));

        if (v == NULL) {
            lca_val_free(a);
            return NULL;
        }
        lca_val_arr_push(a, v);
    }
    return a;
}

/* A JSON real becomes an int when it is integral and inside [-2^63, 2^63). */
static struct lca_val *jdec_real(struct jdec *d, double r)
{
    struct lca_val *v;

    if (!(r >= -9223372036854775808.0 && r < 9223372036854775808.0)) {
        lca_err_set(d->err, LCA_ERR_BAD_INPUT, "int_range",
                    "JSON number %g is outside the int64 range", r);
        return NULL;
    }
    if ((double)(int64_t)r != r) {
        lca_err_set(d->err, LCA_ERR_BAD_INPUT, "unsupported",
                    "JSON number %g is not an integer", r);
        return NULL;
    }
    v = lca_val_new_int((int64_t)r);
    if (v == NULL) {
        json_no_memory(d->err);
    }
    return v;
}

static struct lca_val *jdec_scalar(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_STRING:
        return lca_val_new_strn(json_string_value(j), json_string_length(j));
    case JSON_INTEGER:
        return lca_val_new_int((int64_t)json_integer_value(j));
    case JSON_TRUE:
        return lca_val_new_bool(1);
    case JSON_FALSE:
        return lca_val_new_bool(0);
    default:
        return lca_val_new_nil();
    }
}

static struct lca_val *jdec_val(struct jdec *d, const json_t *j)
{
    struct lca_val *v;

    if (jdec_count(d) != LCA_OK) {
        return NULL;
    }
    if (json_is_object(j)) {
        return jdec_object(d, j);
    }
    if (json_is_array(j)) {
        return jdec_array(d, j);
    }
    if (json_is_real(j)) {
        v = jdec_real(d, json_real_value(j));
    } else if (json_is_string(j) &&
               jdec_str_len(d, json_string_length(j), "string") != LCA_OK) {
        return NULL;
    } else {
        v = jdec_scalar(j);
    }
    if (v == NULL && !json_is_real(j)) {
        json_no_memory(d->err);
    }
    return v;
}

int lca_json_decode(const char *buf, size_t len, const struct lca_limits *lim,
                    struct lca_val **out, struct lca_err *err)
{
    struct lca_err local;
    struct jdec d = {lim != NULL ? lim : &lca_codec_default_limits, 0, err != NULL ? err : &local};
    size_t max_depth = d.lim->max_depth < LCA_CODEC_DEPTH_CAP ? d.lim->max_depth
                                                              : LCA_CODEC_DEPTH_CAP;
    json_error_t je;
    json_t *root;
    struct lca_val *v;

    if (buf == NULL && len > 0) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_json", "no input buffer");
    }
    if (len > d.lim->max_bytes) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "too_large",
                           "JSON input of %zu bytes exceeds the limit of %zu", len,
                           d.lim->max_bytes);
    }
    if (json_prescan_depth(buf, len, max_depth, err) != LCA_OK) {
        return LCA_FAIL;
    }
    root = json_loadb(buf != NULL ? buf : "", len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (root == NULL) {
        return json_parse_error(&je, err);
    }
    v = jdec_val(&d, root);
    json_decref(root);
    if (v != NULL && !lca_val_ok(v)) { /* a push or append ran out of memory */
        lca_val_free(v);
        return json_no_memory(err);
    }
    if (v == NULL) {
        return LCA_FAIL;
    }
    *out = v;
    return LCA_OK;
}

/* ---- encode ------------------------------------------------------------------------------ */

/* RFC 4648 section 4 base64 with padding; *out is malloc'd and NUL-terminated. */
static char *b64_encode(const uint8_t *p, size_t n, size_t *olen)
{
    static const char alpha[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t k, o = 0, groups = n / 3 + (n % 3 != 0);
    char *s;

    if (groups > (SIZE_MAX - 1) / 4 || (s = malloc(groups * 4 + 1)) == NULL) {
        return NULL;
    }
    for (k = 0; k < n; k += 3) {
        uint32_t w = (uint32_t)p[k] << 16;
        size_t rest = n - k;

        w |= rest > 1 ? (uint32_t)p[k + 1] << 8 : 0;
        w |= rest > 2 ? (uint32_t)p[k + 2] : 0;
        s[o++] = alpha[(w >> 18) & 63];
        s[o++] = alpha[(w >> 12) & 63];
        s[o++] = rest > 1 ? alpha[(w >> 6) & 63] : '=';
        s[o++] = rest > 2 ? alpha[w & 63] : '=';
    }
    s[o] = '\0';
    *olen = o;
    return s;
}

struct jenc {
    struct lca_err *err;
};

static json_t *jenc_val(struct jenc *e, const struct lca_val *v, size_t depth);

static json_t *jenc_bad_utf8(struct jenc *e, const char *what)
{
    lca_err_set(e->err, LCA_ERR_BAD_INPUT, "bad_utf8", "%s is not valid UTF-8", what);
    return NULL;
}

static json_t *jenc_bin(struct jenc *e, const struct lca_val *v)
{
    size_t n = 0, olen = 0;
    const uint8_t *p = lca_val_bin(v, &n);
    char *s = b64_encode(p, n, &olen);
    json_t *j;

    if (s == NULL) {
        json_no_memory(e->err);
        return NULL;
    }
    j = json_stringn_nocheck(s, olen);
    explicit_bzero(s, olen);
    free(s);
    if (j == NULL) {
        json_no_memory(e->err);
    }
    return j;
}

static json_t *jenc_str(struct jenc *e, const struct lca_val *v)
{
    json_t *j = json_stringn(lca_val_str(v), lca_val_len(v));
    json_t *probe;

    if (j != NULL) {
        return j;
    }
    /* json_stringn fails on invalid UTF-8 or on allocation failure; tell them apart. */
    probe = json_stringn_nocheck(lca_val_str(v), lca_val_len(v));
    if (probe == NULL) {
        json_no_memory(e->err);
        return NULL;
    }
    json_decref(probe);
    return jenc_bad_utf8(e, "a string value");
}

static json_t *jenc_map(struct jenc *e, const struct lca_val *v, size_t depth)
{
    json_t *o = json_object();
    size_t k;

    if (o == NULL) {
        json_no_memory(e->err);
        return NULL;
    }
    for (k = 0; k < lca_val_len(v); k++) {
        json_t *child = jenc_val(e, lca_val_map_val_at(v, k), depth + 1);

        if (child == NULL) {
            json_decref(o);
            return NULL;
        }
        if (json_object_set_new(o, lca_val_map_key_at(v, k), child) != 0) {
            json_decref(o);
            return jenc_bad_utf8(e, "a map key"); /* or out of memory; the key is more likely */
        }
    }
    return o;
}

static json_t *jenc_arr(struct jenc *e, const struct lca_val *v, size_t depth)
{
    json_t *a = json_array();
    size_t k;

    if (a == NULL) {
        json_no_memory(e->err);
        return NULL;
    }
    for (k = 0; k < lca_val_len(v); k++) {
        json_t *child = jenc_val(e, lca_val_arr_at(v, k), depth + 1);

        if (child == NULL || json_array_append_new(a, child) != 0) {
            if (child != NULL) {
                json_no_memory(e->err);
            }
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *jenc_val(struct jenc *e, const struct lca_val *v, size_t depth)
{
    json_t *j = NULL;

    switch (lca_val_kind(v)) {
    case LCA_VAL_NIL:
        j = json_null();
        break;
    case LCA_VAL_BOOL:
        j = json_boolean(lca_val_bool(v));
        break;
    case LCA_VAL_INT:
        j = json_integer((json_int_t)lca_val_int(v));
        break;
    case LCA_VAL_STR:
        return jenc_str(e, v);
    case LCA_VAL_BIN:
        return jenc_bin(e, v);
    case LCA_VAL_ARR:
    case LCA_VAL_MAP:
        if (depth + 1 > LCA_CODEC_DEPTH_CAP) {
            lca_err_set(e->err, LCA_ERR_BAD_INPUT, "too_deep", "value nested deeper than %d",
                        LCA_CODEC_DEPTH_CAP);
            return NULL;
        }
        return lca_val_kind(v) == LCA_VAL_ARR ? jenc_arr(e, v, depth) : jenc_map(e, v, depth);
    }
    if (j == NULL) {
        json_no_memory(e->err);
    }
    return j;
}

/* A growing malloc'd buffer for json_dump_callback. */
struct jbuf {
    char *p;
    size_t len, cap;
    int oom;
};

static int jbuf_append(const char *data, size_t size, void *ctx)
{
    struct jbuf *b = ctx;
    char *n;

    if (b->len + size + 1 > b->cap) {
        size_t cap = b->cap == 0 ? 1024 : b->cap;
        while (cap < b->len + size + 1) {
            cap *= 2;
        }
        if ((n = realloc(b->p, cap)) == NULL) {
            b->oom = 1;
            return -1;
        }
        b->p = n;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, size);
    b->len += size;
    return 0;
}

/* Prints j compactly, in one pass, into a fresh malloc'd, NUL-terminated buffer (malloc'd by
 * us, whatever allocator jansson was given). */
static int jenc_dump(const json_t *j, char **out, size_t *len, struct lca_err *err)
{
    struct jbuf b = {NULL, 0, 0, 0};

    if (json_dump_callback(j, jbuf_append, &b, JSON_COMPACT | JSON_ENCODE_ANY) != 0 ||
        b.oom || jbuf_append("", 0, &b) != 0) {
        free(b.p);
        return json_no_memory(err);
    }
    b.p[b.len] = '\0';
    *out = b.p;
    *len = b.len;
    return LCA_OK;
}

int lca_json_encode(const struct lca_val *v, char **out, size_t *len, struct lca_err *err)
{
    struct lca_err local;
    struct jenc e = {err != NULL ? err : &local};
    json_t *j;
    int rc;

    if (!lca_val_ok(v)) {
        return lca_err_set(err, LCA_ERR_FATAL, "broken_value",
                           "refusing to encode a value tree that failed to build");
    }
    j = jenc_val(&e, v, 0);
    if (j == NULL) {
        return LCA_FAIL;
    }
    rc = jenc_dump(j, out, len, err);
    json_decref(j);
    return rc;
}

/* ---- wiping allocator ------------------------------------------------------------------- */

/* Each block carries its size in a max_align_t-sized header so free can wipe it. */
#define WIPE_HDR sizeof(max_align_t)

static void *wipe_malloc(size_t n)
{
    unsigned char *p;

    if (n > SIZE_MAX - WIPE_HDR || (p = malloc(WIPE_HDR + n)) == NULL) {
        return NULL;
    }
    memcpy(p, &n, sizeof(n));
    return p + WIPE_HDR;
}

static void wipe_free(void *q)
{
    unsigned char *p;
    size_t n;

    if (q == NULL) {
        return;
    }
    p = (unsigned char *)q - WIPE_HDR;
    memcpy(&n, p, sizeof(n));
    explicit_bzero(p, WIPE_HDR + n);
    free(p);
}

void lca_json_install_wiping_alloc(void)
{
    static int installed;

    if (!installed) {
        json_set_alloc_funcs(wipe_malloc, wipe_free);
        installed = 1;
    }
}
