/*
 * codec — canonical msgpack encoder and bounded decoder (contract in codec.h).
 *
 * Decoding is two passes over the input. The prescan (below) walks the msgpack grammar
 * without allocating, with an explicit stack of at most LCA_CODEC_DEPTH_CAP frames, and
 * rejects anything outside the limits or outside our value model. Only then does msgpack-c
 * unpack the bytes: msgpack-c sizes its arrays from the declared counts, so a 5-byte input
 * that declares 2^32 elements would otherwise make it allocate gigabytes. After the
 * prescan, every declared count is bounded by the bytes present.
 */
#include "codec.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

const struct lca_limits lca_codec_default_limits = {
    .max_bytes = 1u << 20,
    .max_depth = 16,
    .max_items = 100000,
    .max_str = 1u << 20,
};

/* ---- prescan ---------------------------------------------------------------------------- */

/* What a msgpack lead byte introduces. For scalars `width` is the payload size to skip; for
 * str/bin/arr/map it is the size of the big-endian length field. */
enum head_kind {
    HK_SCALAR,
    HK_UINT64,
    HK_STR,
    HK_BIN,
    HK_ARR,
    HK_MAP,
    HK_FLOAT,
    HK_EXT,
    HK_RESERVED,
};

struct head_def {
    unsigned char kind;
    unsigned char width;
};

/* Lead bytes 0xc0..0xdf (msgpack spec, "Formats"); the fix* ranges are handled in code. */
static const struct head_def head_tab[32] = {
    {HK_SCALAR, 0}, {HK_RESERVED, 0}, {HK_SCALAR, 0}, {HK_SCALAR, 0}, /* nil c1 false true */
    {HK_BIN, 1},    {HK_BIN, 2},      {HK_BIN, 4},                    /* bin8/16/32 */
    {HK_EXT, 0},    {HK_EXT, 0},      {HK_EXT, 0},                    /* ext8/16/32 */
    {HK_FLOAT, 0},  {HK_FLOAT, 0},                                    /* float32/64 */
    {HK_SCALAR, 1}, {HK_SCALAR, 2},   {HK_SCALAR, 4}, {HK_UINT64, 8}, /* uint8..64 */
    {HK_SCALAR, 1}, {HK_SCALAR, 2},   {HK_SCALAR, 4}, {HK_SCALAR, 8}, /* int8..64 */
    {HK_EXT, 0},    {HK_EXT, 0},      {HK_EXT, 0},    {HK_EXT, 0},
    {HK_EXT, 0},                                                      /* fixext1..16 */
    {HK_STR, 1},    {HK_STR, 2},      {HK_STR, 4},                    /* str8/16/32 */
    {HK_ARR, 2},    {HK_ARR, 4},                                      /* array16/32 */
    {HK_MAP, 2},    {HK_MAP, 4},                                      /* map16/32 */
};

struct scan {
    const uint8_t *p;
    size_t len, pos;
    struct lca_err *err;
};

struct head {
    enum head_kind kind;
    uint64_t n; /* str/bin length, arr elements or map entries */
};

static int scan_truncated(struct scan *s)
{
    return lca_err_set(s->err, LCA_ERR_BAD_INPUT, "truncated",
                       "msgpack input ends inside a value at offset %zu (of %zu bytes)", s->pos,
                       s->len);
}

/* Reads a big-endian unsigned of `width` bytes (0..8). */
static int scan_be(struct scan *s, unsigned width, uint64_t *v)
{
    unsigned k;

    if (s->len - s->pos < width) {
        return scan_truncated(s);
    }
    *v = 0;
    for (k = 0; k < width; k++) {
        *v = (*v << 8) | s->p[s->pos++];
    }
    return LCA_OK;
}

static int scan_fixed(uint8_t b, struct head *h)
{
    if (b <= 0x7f || b >= 0xe0) {
        h->kind = HK_SCALAR; /* positive / negative fixint */
    } else if (b <= 0x8f) {
        h->kind = HK_MAP;
        h->n = b & 0x0fu;
    } else if (b <= 0x9f) {
        h->kind = HK_ARR;
        h->n = b & 0x0fu;
    } else {
        h->kind = HK_STR;
        h->n = b & 0x1fu;
    }
    return LCA_OK;
}

/* Reads one lead byte and its length field (or skips a scalar's payload). */
static int scan_head(struct scan *s, struct head *h)
{
    struct head_def def;
    uint64_t v = 0;
    uint8_t b;

    if (s->pos >= s->len) {
        return scan_truncated(s);
    }
    b = s->p[s->pos++];
    h->n = 0;
    if (b < 0xc0 || b >= 0xe0) {
        return scan_fixed(b, h);
    }
    def = head_tab[b - 0xc0];
    h->kind = (enum head_kind)def.kind;
    switch (h->kind) {
    case HK_RESERVED:
        return lca_err_set(s->err, LCA_ERR_BAD_INPUT, "bad_msgpack",
                           "reserved msgpack byte 0xc1 at offset %zu", s->pos - 1);
    case HK_FLOAT:
        return lca_err_set(s->err, LCA_ERR_BAD_INPUT, "unsupported",
                           "msgpack float at offset %zu: floats are not accepted", s->pos - 1);
    case HK_EXT:
        return lca_err_set(s->err, LCA_ERR_BAD_INPUT, "unsupported",
                           "msgpack ext type at offset %zu is not accepted", s->pos - 1);
    default:
        break;
    }
    if (scan_be(s, def.width, &v) != LCA_OK) {
        return LCA_FAIL;
    }
    if (h->kind == HK_UINT64 && v > (uint64_t)INT64_MAX) {
        return lca_err_set(s->err, LCA_ERR_BAD_INPUT, "int_range",
                           "uint64 at offset %zu exceeds the int64 range", s->pos - 9);
    }
    if (h->kind != HK_SCALAR && h->kind != HK_UINT64) {
        h->n = v;
    }
    return LCA_OK;
}

/* Skips a str/bin body after checking its size; keys must be NUL-free strs. */
static int scan_bytes(struct scan *s, const struct head *h, int is_key, size_t max_str)
{
    if (h->n > max_str) {
        return lca_err_set(s->err, LCA_ERR_BAD_INPUT, "too_large",
                           "%s of %llu bytes at offset %zu exceeds the limit of %zu",
                           h->kind == HK_STR ? "str" : "bin", (unsigned long long)h->n, s->pos,
                           max_str);
    }
    if (h->n > s->len - s->pos) {
        return scan_truncated(s);
    }
    if (is_key && memchr(s->p + s->pos, '\0', (size_t)h->n) != NULL) {
        return lca_err_set(s->err, LCA_ERR_BAD_INPUT, "bad_key",
                           "map key at offset %zu contains a NUL byte", s->pos);
    }
    s->pos += (size_t)h->n;
    return LCA_OK;
}

struct frame {
    size_t rem;  /* values still to read in this container (2 per map entry) */
    int is_map;
};

struct walk {
    struct frame st[LCA_CODEC_DEPTH_CAP + 1];
    size_t top, items, max_depth;
};

/* Opens a container: its children must fit in the remaining bytes (one byte at least each),
 * which bounds every allocation msgpack-c makes later. */
static int scan_push(struct scan *s, struct walk *w, const struct head *h)
{
    uint64_t count = h->kind == HK_MAP ? h->n * 2u : h->n;

    if (w->top + 1 > w->max_depth) {
        return lca_err_set(s->err, LCA_ERR_BAD_INPUT, "too_deep",
                           "containers nested deeper than %zu at offset %zu", w->max_depth,
                           s->pos);
    }
    if (count > s->len - s->pos) {
        return lca_err_set(s->err, LCA_ERR_BAD_INPUT, "truncated",
                           "container at offset %zu declares %llu values, input has %zu bytes "
                           "left",
                           s->pos, (unsigned long long)count, s->len - s->pos);
    }
    w->top++;
    w->st[w->top].rem = (size_t)count;
    w->st[w->top].is_map = h->kind == HK_MAP;
    return LCA_OK;
}

/* Reads the next value of the innermost open container. */
static int scan_one(struct scan *s, struct walk *w, const struct lca_limits *lim)
{
    struct frame *f = &w->st[w->top];
    int is_key = f->is_map && f->rem % 2 == 0;
    struct head h = {0};

    f->rem--;
    if (++w->items > lim->max_items) {
        return lca_err_set(s->err, LCA_ERR_BAD_INPUT, "too_many_items",
                           "more than %zu values in the input", lim->max_items);
    }
    if (scan_head(s, &h) != LCA_OK) {
        return LCA_FAIL;
    }
    if (is_key && h.kind != HK_STR) {
        return lca_err_set(s->err, LCA_ERR_BAD_INPUT, "bad_key",
                           "map key before offset %zu is not a str", s->pos);
    }
    if (h.kind == HK_STR || h.kind == HK_BIN) {
        return scan_bytes(s, &h, is_key, lim->max_str);
    }
    if (h.kind == HK_ARR || h.kind == HK_MAP) {
        return scan_push(s, w, &h);
    }
    return LCA_OK;
}

static int prescan(const uint8_t *buf, size_t len, const struct lca_limits *lim,
                   struct lca_err *err)
{
    struct scan s = {buf, len, 0, err};
    struct walk w;

    w.top = 0;
    w.items = 0;
    w.max_depth = lim->max_depth < LCA_CODEC_DEPTH_CAP ? lim->max_depth : LCA_CODEC_DEPTH_CAP;
    w.st[0].rem = 1;
    w.st[0].is_map = 0;
    for (;;) {
        while (w.st[w.top].rem == 0 && w.top > 0) {
            w.top--;
        }
        if (w.st[w.top].rem == 0) {
            break;
        }
        if (scan_one(&s, &w, lim) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    if (s.pos != len) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "trailing_bytes",
                           "%zu bytes after the msgpack value (ends at offset %zu)",
                           len - s.pos, s.pos);
    }
    return LCA_OK;
}

/* ---- the flat view (codec.h): the prescan's walker, reading the scalars it steps over ----- */

/* The value of the scalar whose lead byte is p[0] (scan_head has checked its length). */
static void flat_scalar(const uint8_t *p, struct lca_codec_item *it)
{
    uint64_t u = 0;
    unsigned w = 0, k;
    uint8_t b = p[0];

    it->kind = LCA_VAL_INT;
    if (b <= 0x7f || b >= 0xe0) {
        it->i = (int64_t)(int8_t)b; /* fixint: 0x00..0x7f and -32..-1 */
        return;
    }
    if (b == 0xc0) {
        it->kind = LCA_VAL_NIL;
        return;
    }
    if (b == 0xc2 || b == 0xc3) {
        it->kind = LCA_VAL_BOOL;
        it->i = b == 0xc3;
        return;
    }
    w = head_tab[b - 0xc0].width;
    for (k = 0; k < w; k++) {
        u = (u << 8) | p[1 + k];
    }
    if (b <= 0xcf) { /* uint8..64 (scan_head refused a uint64 above INT64_MAX) */
        it->i = (int64_t)u;
    } else if (w == 8) { /* int8..64: sign-extend from w bytes */
        it->i = (int64_t)u;
    } else {
        uint64_t sign = UINT64_C(1) << (8 * w - 1);
        it->i = (int64_t)(u ^ sign) - (int64_t)sign; /* 8..32 bits: fits either way */
    }
}

/* Reads one map entry into *it. depth 1 allows a map value (its children are read by the
 * caller). 1 on success, 0 when the entry is outside the flat shape or invalid. */
static int flat_entry(struct scan *s, const struct lca_limits *lim, int depth,
                      struct lca_codec_item *it)
{
    struct head h = {0};
    size_t at;

    if (scan_head(s, &h) != LCA_OK || h.kind != HK_STR ||
        scan_bytes(s, &h, 1, lim->max_str) != LCA_OK) {
        return 0;
    }
    it->key = (const char *)s->p + s->pos - (size_t)h.n;
    it->klen = (size_t)h.n;
    at = s->pos;
    if (scan_head(s, &h) != LCA_OK || h.kind == HK_ARR || (h.kind == HK_MAP && depth > 1)) {
        return 0;
    }
    it->p = NULL;
    it->n = (size_t)h.n;
    it->i = 0;
    if (h.kind == HK_MAP) {
        it->kind = LCA_VAL_MAP;
        return depth < (int)lim->max_depth;
    }
    if (h.kind == HK_STR || h.kind == HK_BIN) {
        if (scan_bytes(s, &h, 0, lim->max_str) != LCA_OK) {
            return 0;
        }
        it->kind = h.kind == HK_STR ? LCA_VAL_STR : LCA_VAL_BIN;
        it->p = s->p + s->pos - (size_t)h.n;
        return 1;
    }
    flat_scalar(s->p + at, it);
    return 1;
}

/* The item after v[i] and, for a map, its children. */
static size_t flat_next(const struct lca_codec_item *v, size_t i)
{
    return i + 1 + (v[i].kind == LCA_VAL_MAP ? v[i].n : 0);
}

/* 1 when the sibling items in v[0..end) (children of a map skipped) have distinct keys
 * (check_dup_keys' verdict; a map here has a handful of keys). */
static int flat_keys_distinct(const struct lca_codec_item *v, size_t end)
{
    size_t a, b;

    for (a = 0; a < end; a = flat_next(v, a)) {
        for (b = flat_next(v, a); b < end; b = flat_next(v, b)) {
            if (v[a].klen == v[b].klen && memcmp(v[a].key, v[b].key, v[a].klen) == 0) {
                return 0;
            }
        }
    }
    return 1;
}

int lca_codec_decode_flat(const uint8_t *buf, size_t len, const struct lca_limits *lim,
                          struct lca_codec_item *items, size_t max, size_t *n_out)
{
    struct lca_err e;
    struct scan s = {buf, len, 0, &e};
    struct head h = {0};
    size_t n = 0, top, k, c;

    if (lim == NULL) {
        lim = &lca_codec_default_limits;
    }
    if (buf == NULL || len > lim->max_bytes || lim->max_depth < 1 ||
        scan_head(&s, &h) != LCA_OK || h.kind != HK_MAP || h.n > max) {
        return 0;
    }
    top = (size_t)h.n;
    for (k = 0; k < top; k++) {
        struct lca_codec_item *it = &items[n];
        if (n == max || flat_entry(&s, lim, 1, it) != 1) {
            return 0;
        }
        n++;
        if (it->kind != LCA_VAL_MAP) {
            continue;
        }
        if (it->n > max - n) {
            return 0;
        }
        for (c = 0; c < it->n; c++, n++) {
            if (flat_entry(&s, lim, 2, &items[n]) != 1) {
                return 0;
            }
        }
        if (!flat_keys_distinct(it + 1, it->n)) {
            return 0;
        }
    }
    /* item count: 1 + 2 per entry at most, far below any sane max_items */
    if (s.pos != len || 1 + 2 * n > lim->max_items || !flat_keys_distinct(items, n)) {
        return 0;
    }
    *n_out = n;
    return 1;
}

/* ---- msgpack_object -> lca_val ---------------------------------------------------------- */

static int no_memory(struct lca_err *err)
{
    return lca_err_set(err, LCA_ERR_FATAL, "no_memory", "out of memory in the msgpack codec");
}

static int key_cmp(const void *a, const void *b)
{
    const msgpack_object_str *x = *(const msgpack_object_str *const *)a;
    const msgpack_object_str *y = *(const msgpack_object_str *const *)b;
    uint32_t n = x->size < y->size ? x->size : y->size;
    int c = n > 0 ? memcmp(x->ptr, y->ptr, n) : 0;

    if (c != 0) {
        return c;
    }
    return x->size < y->size ? -1 : x->size > y->size;
}

/* Rejects a map with a repeated key: sort pointers to the keys, compare neighbours. */
static int check_dup_keys(const msgpack_object_map *m, struct lca_err *err)
{
    const msgpack_object_str **keys;
    uint32_t k;
    int rc = LCA_OK;

    if (m->size < 2) {
        return LCA_OK;
    }
    if (m->size <= 16) { /* an event's maps: compare the pairs, no allocation and no sort */
        uint32_t j;
        for (k = 1; k < m->size; k++) {
            const msgpack_object_str *a = &m->ptr[k].key.via.str;
            for (j = 0; j < k; j++) {
                const msgpack_object_str *b = &m->ptr[j].key.via.str;
                if (key_cmp(&a, &b) == 0) {
                    return lca_err_set(err, LCA_ERR_BAD_INPUT, "duplicate_key",
                                       "map key of %u bytes appears twice", (unsigned)a->size);
                }
            }
        }
        return LCA_OK;
    }
    keys = malloc(m->size * sizeof(*keys));
    if (keys == NULL) {
        return no_memory(err);
    }
    for (k = 0; k < m->size; k++) {
        keys[k] = &m->ptr[k].key.via.str;
    }
    qsort(keys, m->size, sizeof(*keys), key_cmp);
    for (k = 1; k < m->size && rc == LCA_OK; k++) {
        if (key_cmp(&keys[k - 1], &keys[k]) == 0) {
            rc = lca_err_set(err, LCA_ERR_BAD_INPUT, "duplicate_key",
                             "map key of %u bytes appears twice", (unsigned)keys[k]->size);
        }
    }
    free(keys);
    return rc;
}

static struct lca_val *from_object(const msgpack_object *o, struct lca_err *err);

static struct lca_val *from_array(const msgpack_object_array *a, struct lca_err *err)
{
    struct lca_val *v = lca_val_new_arr();
    uint32_t k;

    for (k = 0; v != NULL && k < a->size; k++) {
        struct lca_val *child = from_object(&a->ptr[k], err);

        if (child == NULL) {
            lca_val_free(v);
            return NULL;
        }
        lca_val_arr_push(v, child);
    }
    if (v == NULL) {
        no_memory(err);
    }
    return v;
}

static struct lca_val *from_map(const msgpack_object_map *m, struct lca_err *err)
{
    struct lca_val *v;
    uint32_t k;

    if (check_dup_keys(m, err) != LCA_OK) {
        return NULL;
    }
    v = lca_val_new_map();
    for (k = 0; v != NULL && k < m->size; k++) {
        const msgpack_object_str *key = &m->ptr[k].key.via.str;
        struct lca_val *child = from_object(&m->ptr[k].val, err);

        if (child == NULL) {
            lca_val_free(v);
            return NULL;
        }
        /* msgpack-c leaves ptr NULL for some empty strs */
        lca_val_map_append(v, key->size > 0 ? key->ptr : "", key->size, child);
    }
    if (v == NULL) {
        no_memory(err);
    }
    return v;
}

static struct lca_val *from_scalar(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return lca_val_new_nil();
    case MSGPACK_OBJECT_BOOLEAN:
        return lca_val_new_bool(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return lca_val_new_int((int64_t)o->via.u64); /* <= INT64_MAX, checked by prescan */
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return lca_val_new_int(o->via.i64);
    case MSGPACK_OBJECT_STR:
        return lca_val_new_strn(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_BIN:
        return lca_val_new_bin(o->via.bin.ptr, o->via.bin.size);
    default:
        return NULL;
    }
}

static struct lca_val *from_object(const msgpack_object *o, struct lca_err *err)
{
    struct lca_val *v;

    if (o->type == MSGPACK_OBJECT_ARRAY) {
        return from_array(&o->via.array, err);
    }
    if (o->type == MSGPACK_OBJECT_MAP) {
        return from_map(&o->via.map, err);
    }
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 > (uint64_t)INT64_MAX) {
        lca_err_set(err, LCA_ERR_BAD_INPUT, "int_range", "uint64 exceeds the int64 range");
        return NULL;
    }
    v = from_scalar(o);
    if (v == NULL) {
        if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64 ||
            o->type == MSGPACK_OBJECT_EXT) {
            lca_err_set(err, LCA_ERR_BAD_INPUT, "unsupported", "float or ext value");
        } else {
            no_memory(err);
        }
    }
    return v;
}

int lca_codec_decode(const uint8_t *buf, size_t len, const struct lca_limits *lim,
                     struct lca_val **out, struct lca_err *err)
{
    msgpack_zone zone;
    msgpack_object obj;
    msgpack_unpack_return ret;
    struct lca_val *v = NULL;
    size_t off = 0;

    if (lim == NULL) {
        lim = &lca_codec_default_limits;
    }
    if (buf == NULL && len > 0) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_msgpack", "no input buffer");
    }
    if (len > lim->max_bytes) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "too_large",
                           "msgpack input of %zu bytes exceeds the limit of %zu", len,
                           lim->max_bytes);
    }
    if (prescan(buf, len, lim, err) != LCA_OK) {
        return LCA_FAIL;
    }
    /* A zone on the stack with a small first chunk: msgpack_unpack_next would allocate a new
     * 8 KB zone per call, whose malloc (a large-bin request) consolidated the heap's fast bins
     * every time; an event's object tree fits in a few hundred bytes. */
    if (!msgpack_zone_init(&zone, 1000)) {
        return no_memory(err);
    }
    ret = msgpack_unpack((const char *)buf, len, &off, &zone, &obj);
    if (ret == MSGPACK_UNPACK_NOMEM_ERROR) {
        no_memory(err);
    } else if (ret != MSGPACK_UNPACK_SUCCESS || off != len) {
        lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_msgpack", "msgpack-c rejected the input (%d)",
                    (int)ret);
    } else {
        v = from_object(&obj, err);
    }
    msgpack_zone_destroy(&zone);
    if (v != NULL && !lca_val_ok(v)) { /* a push or append ran out of memory */
        lca_val_free(v);
        return no_memory(err);
    }
    if (v == NULL) {
        return LCA_FAIL;
    }
    *out = v;
    return LCA_OK;
}

/* ---- lca_val -> canonical msgpack ------------------------------------------------------- */

/* Output buffer for the packer. It never uses realloc: growth copies into a fresh block and
 * wipes the old one, so no stray copy of a token survives in freed memory. */
struct obuf {
    uint8_t *p;
    size_t n, cap;
};

static void obuf_release(struct obuf *b)
{
    if (b->p != NULL) {
        explicit_bzero(b->p, b->cap);
        free(b->p);
    }
    b->p = NULL;
    b->n = b->cap = 0;
}

static int obuf_write(void *data, const char *buf, size_t len)
{
    struct obuf *b = data;
    size_t ncap, used;
    uint8_t *np;

    if (len > SIZE_MAX - b->n) {
        return -1;
    }
    if (b->cap - b->n < len) {
        ncap = b->cap > 0 ? b->cap : 256;
        while (ncap - b->n < len) {
            if (ncap > SIZE_MAX / 2) {
                return -1;
            }
            ncap *= 2;
        }
        np = malloc(ncap);
        if (np == NULL) {
            return -1;
        }
        used = b->n;
        if (used > 0) {
            memcpy(np, b->p, used);
        }
        obuf_release(b);
        b->p = np;
        b->cap = ncap;
        b->n = used;
    }
    if (len > 0) {
        memcpy(b->p + b->n, buf, len);
    }
    b->n += len;
    return 0;
}

struct enc {
    msgpack_packer pk;
    struct lca_err *err;
};

static int enc_too_large(struct enc *e, const char *what, size_t n)
{
    return lca_err_set(e->err, LCA_ERR_BAD_INPUT, "too_large",
                       "%s of %zu elements/bytes cannot be encoded in msgpack", what, n);
}

static int enc_val(struct enc *e, const struct lca_val *v, size_t depth);

struct kv {
    const char *key;
    size_t klen;
    const struct lca_val *val;
};

/* Bytewise order; a key that is a prefix of another sorts first. */
static int kv_cmp(const void *a, const void *b)
{
    const struct kv *x = a;
    const struct kv *y = b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->key, y->key, n);

    if (c != 0) {
        return c;
    }
    return x->klen < y->klen ? -1 : x->klen > y->klen;
}

static int enc_map(struct enc *e, const struct lca_val *v, size_t depth)
{
    size_t n = lca_val_len(v), k;
    struct kv *kvs = NULL;
    int rc = LCA_FAIL;

    if (n > UINT32_MAX) {
        return enc_too_large(e, "map", n);
    }
    if (n > 0 && (kvs = calloc(n, sizeof(*kvs))) == NULL) {
        return no_memory(e->err);
    }
    for (k = 0; k < n; k++) {
        kvs[k].key = lca_val_map_key_at(v, k);
        kvs[k].klen = strlen(kvs[k].key);
        kvs[k].val = lca_val_map_val_at(v, k);
    }
    if (n > 1) {
        qsort(kvs, n, sizeof(*kvs), kv_cmp);
    }
    if (msgpack_pack_map(&e->pk, n) != 0) {
        no_memory(e->err);
        goto out;
    }
    for (k = 0; k < n; k++) {
        if (msgpack_pack_str_with_body(&e->pk, kvs[k].key, kvs[k].klen) != 0) {
            no_memory(e->err);
            goto out;
        }
        if (enc_val(e, kvs[k].val, depth + 1) != LCA_OK) {
            goto out;
        }
    }
    rc = LCA_OK;
out:
    free(kvs);
    return rc;
}

static int enc_arr(struct enc *e, const struct lca_val *v, size_t depth)
{
    size_t n = lca_val_len(v), k;

    if (n > UINT32_MAX) {
        return enc_too_large(e, "array", n);
    }
    if (msgpack_pack_array(&e->pk, n) != 0) {
        return no_memory(e->err);
    }
    for (k = 0; k < n; k++) {
        if (enc_val(e, lca_val_arr_at(v, k), depth + 1) != LCA_OK) {
            return LCA_FAIL;
        }
    }
    return LCA_OK;
}

static int enc_bytes(struct enc *e, const struct lca_val *v)
{
    size_t n = 0;
    const uint8_t *p;
    int rc;

    if (lca_val_kind(v) == LCA_VAL_STR) {
        n = lca_val_len(v);
        if (n > UINT32_MAX) {
            return enc_too_large(e, "str", n);
        }
        rc = msgpack_pack_str_with_body(&e->pk, lca_val_str(v), n);
    } else {
        p = lca_val_bin(v, &n);
        if (n > UINT32_MAX) {
            return enc_too_large(e, "bin", n);
        }
        rc = msgpack_pack_bin_with_body(&e->pk, p, n);
    }
    return rc == 0 ? LCA_OK : no_memory(e->err);
}

static int enc_val(struct enc *e, const struct lca_val *v, size_t depth)
{
    int rc = 0;

    switch (lca_val_kind(v)) {
    case LCA_VAL_NIL:
        rc = msgpack_pack_nil(&e->pk);
        break;
    case LCA_VAL_BOOL:
        rc = lca_val_bool(v) ? msgpack_pack_true(&e->pk) : msgpack_pack_false(&e->pk);
        break;
    case LCA_VAL_INT:
        rc = msgpack_pack_int64(&e->pk, lca_val_int(v));
        break;
    case LCA_VAL_STR:
    case LCA_VAL_BIN:
        return enc_bytes(e, v);
    case LCA_VAL_ARR:
    case LCA_VAL_MAP:
        if (depth + 1 > LCA_CODEC_DEPTH_CAP) {
            return lca_err_set(e->err, LCA_ERR_BAD_INPUT, "too_deep",
                               "value nested deeper than %d", LCA_CODEC_DEPTH_CAP);
        }
        return lca_val_kind(v) == LCA_VAL_ARR ? enc_arr(e, v, depth) : enc_map(e, v, depth);
    }
    return rc == 0 ? LCA_OK : no_memory(e->err);
}

int lca_codec_encode(const struct lca_val *v, uint8_t **out, size_t *len, struct lca_err *err)
{
    struct obuf b = {NULL, 0, 0};
    struct enc e;

    if (!lca_val_ok(v)) {
        return lca_err_set(err, LCA_ERR_FATAL, "broken_value",
                           "refusing to encode a value tree that failed to build");
    }
    e.err = err;
    msgpack_packer_init(&e.pk, &b, obuf_write);
    if (enc_val(&e, v, 0) != LCA_OK) {
        obuf_release(&b);
        return LCA_FAIL;
    }
    *out = b.p;
    *len = b.n;
    return LCA_OK;
}
