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

/* The encoder writes JSON straight from the value tree (jansson built a json_t of every node
 * and escaped character by character: a sixth of the signer's CPU went to its replies). The
 * output is what jansson's JSON_COMPACT printed: insertion order, no spaces, UTF-8 as is,
 * `"` `\` and control characters escaped (\b \f \n \r \t, else \u00XX), `/` not escaped.
 * Buffers that are outgrown or abandoned are wiped: a reply may carry sealed key material. */
struct jenc {
    char *p;
    size_t len, cap;
    struct lca_err *err;
};

static int jenc_grow(struct jenc *e, size_t need)
{
    size_t cap = e->cap == 0 ? 4096 : e->cap;
    char *n;

    if (need > SIZE_MAX / 2 - e->len) {
        return json_no_memory(e->err);
    }
    while (cap < e->len + need + 1) {
        cap *= 2;
    }
    if ((n = malloc(cap)) == NULL) {
        return json_no_memory(e->err);
    }
    if (e->p != NULL) {
        memcpy(n, e->p, e->len);
        explicit_bzero(e->p, e->cap);
        free(e->p);
    }
    e->p = n;
    e->cap = cap;
    return LCA_OK;
}

/* Room for `need` more bytes (and the final NUL). */
static inline int jenc_room(struct jenc *e, size_t need)
{
    return e->len + need < e->cap ? LCA_OK : jenc_grow(e, need);
}

static int jenc_raw(struct jenc *e, const char *s, size_t n)
{
    if (jenc_room(e, n) != LCA_OK) {
        return LCA_FAIL;
    }
    memcpy(e->p + e->len, s, n);
    e->len += n;
    return LCA_OK;
}

/* Length of the valid UTF-8 sequence at s[0..n) (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), 0 if it is not one. s[0] >= 0x80. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t k, len;
    uint32_t cp;

    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2, cp = s[0] & 0x1fu;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3, cp = s[0] & 0x0fu;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4, cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    for (k = 1; k < len; k++) {
        if ((s[k] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[k] & 0x3fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return len;
}

/* A JSON string of s[0..n): escaped, UTF-8 checked (`what` names it in the error). */
static int jenc_string(struct jenc *e, const char *str, size_t n, const char *what)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, run, q;

    /* the worst case, every byte a \u00XX, reserved once */
    if (n > (SIZE_MAX - 8) / 6) {
        return json_no_memory(e->err);
    }
    if (jenc_room(e, 6 * n + 2) != LCA_OK) {
        return LCA_FAIL;
    }
    e->p[e->len++] = '"';
    while (i < n) {
        for (run = i; run < n && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' &&
                      s[run] != '\\';
             run++) {
        }
        memcpy(e->p + e->len, s + i, run - i);
        e->len += run - i;
        i = run;
        if (i == n) {
            break;
        }
        if (s[i] >= 0x80) {
            if ((q = utf8_seq(s + i, n - i)) == 0) {
                return lca_err_set(e->err, LCA_ERR_BAD_INPUT, "bad_utf8", "%s is not valid UTF-8",
                                   what);
            }
            memcpy(e->p + e->len, s + i, q);
            e->len += q;
            i += q;
            continue;
        }
        e->p[e->len++] = '\\';
        switch (s[i]) {
        case '"': e->p[e->len++] = '"'; break;
        case '\\': e->p[e->len++] = '\\'; break;
        case '\b': e->p[e->len++] = 'b'; break;
        case '\f': e->p[e->len++] = 'f'; break;
        case '\n': e->p[e->len++] = 'n'; break;
        case '\r': e->p[e->len++] = 'r'; break;
        case '\t': e->p[e->len++] = 't'; break;
        default:
            memcpy(e->p + e->len, "u00", 3);
            e->p[e->len + 3] = hex[s[i] >> 4];
            e->p[e->len + 4] = hex[s[i] & 15];
            e->len += 5;
        }
        i++;
    }
    e->p[e->len++] = '"';
    return LCA_OK;
}

/* RFC 4648 section 4 base64 with padding, as a JSON string. */
static int jenc_bin(struct jenc *e, const uint8_t *p, size_t n)
{
    static const char alpha[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t k, groups = n / 3 + (n % 3 != 0);
    char *o;

    if (groups > (SIZE_MAX - 8) / 4) {
        return json_no_memory(e->err);
    }
    if (jenc_room(e, groups * 4 + 2) != LCA_OK) {
        return LCA_FAIL;
    }
    o = e->p + e->len;
    *o++ = '"';
    for (k = 0; k < n; k += 3) {
        uint32_t w = (uint32_t)p[k] << 16;
        size_t rest = n - k;

        w |= rest > 1 ? (uint32_t)p[k + 1] << 8 : 0;
        w |= rest > 2 ? (uint32_t)p[k + 2] : 0;
        *o++ = alpha[(w >> 18) & 63];
        *o++ = alpha[(w >> 12) & 63];
        *o++ = rest > 1 ? alpha[(w >> 6) & 63] : '=';
        *o++ = rest > 2 ? alpha[w & 63] : '=';
    }
    *o++ = '"';
    e->len = (size_t)(o - e->p);
    return LCA_OK;
}

static int jenc_val(struct jenc *e, const struct lca_val *v, size_t depth)
{
    char num[24];
    size_t k, n;
    const uint8_t *b;

    switch (lca_val_kind(v)) {
    case LCA_VAL_NIL:
        return jenc_raw(e, "null", 4);
    case LCA_VAL_BOOL:
        return lca_val_bool(v) ? jenc_raw(e, "true", 4) : jenc_raw(e, "false", 5);
    case LCA_VAL_INT:
        n = (size_t)snprintf(num, sizeof(num), "%lld", (long long)lca_val_int(v));
        return jenc_raw(e, num, n);
    case LCA_VAL_STR:
        return jenc_string(e, lca_val_str(v), lca_val_len(v), "a string value");
    case LCA_VAL_BIN:
        n = 0;
        b = lca_val_bin(v, &n);
        return jenc_bin(e, b, n);
    case LCA_VAL_ARR:
    case LCA_VAL_MAP:
        break;
    }
    if (depth + 1 > LCA_CODEC_DEPTH_CAP) {
        return lca_err_set(e->err, LCA_ERR_BAD_INPUT, "too_deep", "value nested deeper than %d",
                           LCA_CODEC_DEPTH_CAP);
    }
    if (jenc_raw(e, lca_val_kind(v) == LCA_VAL_ARR ? "[" : "{", 1) != LCA_OK) {
        return LCA_FAIL;
    }
    for (k = 0; k < lca_val_len(v); k++) {
        if (k > 0 && jenc_raw(e, ",", 1) != LCA_OK) {
            return LCA_FAIL;
        }
        if (lca_val_kind(v) == LCA_VAL_MAP) {
            const char *key = lca_val_map_key_at(v, k);

            if (jenc_string(e, key, strlen(key), "a map key") != LCA_OK ||
                jenc_raw(e, ":", 1) != LCA_OK ||
                jenc_val(e, lca_val_map_val_at(v, k), depth + 1) != LCA_OK) {
                return LCA_FAIL;
            }
        } else if (jenc_val(e, lca_val_arr_at(v, k), depth + 1) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    return jenc_raw(e, lca_val_kind(v) == LCA_VAL_ARR ? "]" : "}", 1);
}

int lca_json_encode(const struct lca_val *v, char **out, size_t *len, struct lca_err *err)
{
    struct lca_err local;
    struct jenc e = {NULL, 0, 0, err != NULL ? err : &local};

    if (!lca_val_ok(v)) {
        return lca_err_set(err, LCA_ERR_FATAL, "broken_value",
                           "refusing to encode a value tree that failed to build");
    }
    if (jenc_val(&e, v, 0) != LCA_OK || jenc_room(&e, 1) != LCA_OK) {
        if (e.p != NULL) {
            explicit_bzero(e.p, e.cap);
            free(e.p);
        }
        return LCA_FAIL;
    }
    e.p[e.len] = '\0';
    *out = e.p;
    *len = e.len;
    return LCA_OK;
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
