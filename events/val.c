/*
 * val — dynamic value tree (contract in val.h).
 *
 * Representation: one tagged struct per node. Str and bin own a heap buffer that always
 * carries a trailing NUL (so lca_val_str can hand it out directly); arrays and maps own a
 * growable vector. Maps keep insertion order and are searched linearly: command payloads and
 * events have a handful of keys, so a hash table would cost more than it saves.
 *
 * Builder errors: a NULL child (the caller's constructor failed), a NULL key, a growth failure
 * or a push/set onto a node of the wrong kind marks the container broken. The flag is never
 * cleared; lca_val_ok walks the tree to find it.
 */
#include "val.h"

#include <stdlib.h>
#include <string.h>

struct lca_val_entry {
    char *key;           /* NUL-terminated, owned */
    struct lca_val *val; /* owned, never NULL */
};

struct lca_val {
    enum lca_val_kind kind;
    int broken; /* sticky: an allocation or builder failure happened on this node */
    union {
        int b;
        int64_t i;
        struct {
            char *p; /* n bytes + NUL */
            size_t n;
        } bytes;
        struct {
            struct lca_val **items;
            size_t n, cap;
        } arr;
        struct {
            struct lca_val_entry *ents;
            size_t n, cap;
        } map;
    } u;
};

static void val_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0) {
        explicit_bzero(p, n);
    }
}

static struct lca_val *val_alloc(enum lca_val_kind kind)
{
    struct lca_val *v = calloc(1, sizeof(*v));

    if (v != NULL) {
        v->kind = kind;
    }
    return v;
}

struct lca_val *lca_val_new_nil(void)
{
    return val_alloc(LCA_VAL_NIL);
}

struct lca_val *lca_val_new_bool(int b)
{
    struct lca_val *v = val_alloc(LCA_VAL_BOOL);

    if (v != NULL) {
        v->u.b = b != 0;
    }
    return v;
}

struct lca_val *lca_val_new_int(int64_t i)
{
    struct lca_val *v = val_alloc(LCA_VAL_INT);

    if (v != NULL) {
        v->u.i = i;
    }
    return v;
}

/* Str and bin share one shape: n bytes copied plus a NUL. p may be NULL only when n == 0. */
static struct lca_val *val_new_bytes(enum lca_val_kind kind, const void *p, size_t n)
{
    struct lca_val *v;

    if ((p == NULL && n > 0) || n == SIZE_MAX) {
        return NULL;
    }
    v = val_alloc(kind);
    if (v == NULL) {
        return NULL;
    }
    v->u.bytes.p = malloc(n + 1);
    if (v->u.bytes.p == NULL) {
        free(v);
        return NULL;
    }
    if (n > 0) {
        memcpy(v->u.bytes.p, p, n);
    }
    v->u.bytes.p[n] = '\0';
    v->u.bytes.n = n;
    return v;
}

struct lca_val *lca_val_new_str(const char *s)
{
    if (s == NULL) {
        return NULL;
    }
    return val_new_bytes(LCA_VAL_STR, s, strlen(s));
}

struct lca_val *lca_val_new_strn(const char *s, size_t n)
{
    return val_new_bytes(LCA_VAL_STR, s, n);
}

struct lca_val *lca_val_new_bin(const void *p, size_t n)
{
    return val_new_bytes(LCA_VAL_BIN, p, n);
}

struct lca_val *lca_val_new_arr(void)
{
    return val_alloc(LCA_VAL_ARR);
}

struct lca_val *lca_val_new_map(void)
{
    return val_alloc(LCA_VAL_MAP);
}

static void val_free_key(char *key)
{
    if (key != NULL) {
        val_wipe(key, strlen(key));
        free(key);
    }
}

void lca_val_free(struct lca_val *v)
{
    size_t k;

    if (v == NULL) {
        return;
    }
    switch (v->kind) {
    case LCA_VAL_STR:
    case LCA_VAL_BIN:
        val_wipe(v->u.bytes.p, v->u.bytes.n);
        free(v->u.bytes.p);
        break;
    case LCA_VAL_ARR:
        for (k = 0; k < v->u.arr.n; k++) {
            lca_val_free(v->u.arr.items[k]);
        }
        free(v->u.arr.items);
        break;
    case LCA_VAL_MAP:
        for (k = 0; k < v->u.map.n; k++) {
            val_free_key(v->u.map.ents[k].key);
            lca_val_free(v->u.map.ents[k].val);
        }
        free(v->u.map.ents);
        break;
    default:
        break;
    }
    free(v);
}

/* Grows a vector of elem-sized slots so that one more fits. 0 on success. */
static int val_grow(void **vec, size_t *cap, size_t n, size_t elem)
{
    size_t ncap;
    void *nv;

    if (n < *cap) {
        return 0;
    }
    ncap = *cap == 0 ? 4 : *cap * 2;
    if (ncap < *cap || ncap > SIZE_MAX / elem) {
        return -1;
    }
    nv = realloc(*vec, ncap * elem);
    if (nv == NULL) {
        return -1;
    }
    *vec = nv;
    *cap = ncap;
    return 0;
}

void lca_val_arr_push(struct lca_val *arr, struct lca_val *child)
{
    void *items;

    if (arr == NULL) {
        lca_val_free(child);
        return;
    }
    if (child == NULL || arr->kind != LCA_VAL_ARR) {
        arr->broken = 1;
        lca_val_free(child);
        return;
    }
    items = arr->u.arr.items;
    if (val_grow(&items, &arr->u.arr.cap, arr->u.arr.n, sizeof(struct lca_val *)) != 0) {
        arr->broken = 1;
        lca_val_free(child);
        return;
    }
    arr->u.arr.items = items;
    arr->u.arr.items[arr->u.arr.n++] = child;
}

const struct lca_val *lca_val_arr_at(const struct lca_val *arr, size_t i)
{
    if (arr == NULL || arr->kind != LCA_VAL_ARR || i >= arr->u.arr.n) {
        return NULL;
    }
    return arr->u.arr.items[i];
}

/* Index of key in map, or SIZE_MAX. */
static size_t map_find(const struct lca_val *map, const char *key)
{
    size_t k;

    for (k = 0; k < map->u.map.n; k++) {
        if (strcmp(map->u.map.ents[k].key, key) == 0) {
            return k;
        }
    }
    return SIZE_MAX;
}

/* Appends a new entry with a copy of klen key bytes; takes ownership of child on success
 * only. 0 on success. */
static int map_append(struct lca_val *map, const char *key, size_t klen, struct lca_val *child)
{
    void *ents = map->u.map.ents;
    char *kcopy;

    if (klen == SIZE_MAX || memchr(key, '\0', klen) != NULL) {
        return -1;
    }
    kcopy = malloc(klen + 1);
    if (kcopy == NULL) {
        return -1;
    }
    memcpy(kcopy, key, klen);
    kcopy[klen] = '\0';
    if (val_grow(&ents, &map->u.map.cap, map->u.map.n, sizeof(struct lca_val_entry)) != 0) {
        free(kcopy);
        return -1;
    }
    map->u.map.ents = ents;
    map->u.map.ents[map->u.map.n].key = kcopy;
    map->u.map.ents[map->u.map.n].val = child;
    map->u.map.n++;
    return 0;
}

void lca_val_map_append(struct lca_val *map, const char *key, size_t klen,
                        struct lca_val *child)
{
    if (map == NULL) {
        lca_val_free(child);
        return;
    }
    if (child == NULL || key == NULL || map->kind != LCA_VAL_MAP ||
        map_append(map, key, klen, child) != 0) {
        map->broken = 1;
        lca_val_free(child);
    }
}

void lca_val_map_set(struct lca_val *map, const char *key, struct lca_val *child)
{
    size_t at;

    if (map == NULL) {
        lca_val_free(child);
        return;
    }
    if (child == NULL || key == NULL || map->kind != LCA_VAL_MAP) {
        map->broken = 1;
        lca_val_free(child);
        return;
    }
    at = map_find(map, key);
    if (at != SIZE_MAX) {
        lca_val_free(map->u.map.ents[at].val);
        map->u.map.ents[at].val = child;
        return;
    }
    if (map_append(map, key, strlen(key), child) != 0) {
        map->broken = 1;
        lca_val_free(child);
    }
}

void lca_val_map_set_str(struct lca_val *map, const char *key, const char *s)
{
    lca_val_map_set(map, key, lca_val_new_str(s));
}

void lca_val_map_set_int(struct lca_val *map, const char *key, int64_t i)
{
    lca_val_map_set(map, key, lca_val_new_int(i));
}

void lca_val_map_set_bool(struct lca_val *map, const char *key, int b)
{
    lca_val_map_set(map, key, lca_val_new_bool(b));
}

void lca_val_map_set_bin(struct lca_val *map, const char *key, const void *p, size_t n)
{
    lca_val_map_set(map, key, lca_val_new_bin(p, n));
}

struct lca_val *lca_val_map_take(struct lca_val *map, const char *key)
{
    struct lca_val *child;
    size_t at;

    if (map == NULL || key == NULL || map->kind != LCA_VAL_MAP) {
        return NULL;
    }
    at = map_find(map, key);
    if (at == SIZE_MAX) {
        return NULL;
    }
    child = map->u.map.ents[at].val;
    val_free_key(map->u.map.ents[at].key);
    memmove(&map->u.map.ents[at], &map->u.map.ents[at + 1],
            (map->u.map.n - at - 1) * sizeof(struct lca_val_entry));
    map->u.map.n--;
    return child;
}

void lca_val_map_del(struct lca_val *map, const char *key)
{
    lca_val_free(lca_val_map_take(map, key));
}

const struct lca_val *lca_val_map_get(const struct lca_val *map, const char *key)
{
    size_t at;

    if (map == NULL || key == NULL || map->kind != LCA_VAL_MAP) {
        return NULL;
    }
    at = map_find(map, key);
    return at == SIZE_MAX ? NULL : map->u.map.ents[at].val;
}

const char *lca_val_map_key_at(const struct lca_val *map, size_t i)
{
    if (map == NULL || map->kind != LCA_VAL_MAP || i >= map->u.map.n) {
        return NULL;
    }
    return map->u.map.ents[i].key;
}

const struct lca_val *lca_val_map_val_at(const struct lca_val *map, size_t i)
{
    if (map == NULL || map->kind != LCA_VAL_MAP || i >= map->u.map.n) {
        return NULL;
    }
    return map->u.map.ents[i].val;
}

/* Clone of a container: children cloned one by one; NULL if any of them fails. */
static struct lca_val *val_clone_arr(const struct lca_val *v)
{
    struct lca_val *c = lca_val_new_arr();
    size_t k;

    for (k = 0; c != NULL && k < v->u.arr.n; k++) {
        lca_val_arr_push(c, lca_val_clone(v->u.arr.items[k]));
    }
    if (c != NULL && (c->broken || v->broken)) {
        lca_val_free(c);
        c = NULL;
    }
    return c;
}

static struct lca_val *val_clone_map(const struct lca_val *v)
{
    struct lca_val *c = lca_val_new_map();
    size_t k;

    for (k = 0; c != NULL && k < v->u.map.n; k++) {
        lca_val_map_set(c, v->u.map.ents[k].key, lca_val_clone(v->u.map.ents[k].val));
    }
    if (c != NULL && (c->broken || v->broken)) {
        lca_val_free(c);
        c = NULL;
    }
    return c;
}

struct lca_val *lca_val_clone(const struct lca_val *v)
{
    if (v == NULL) {
        return NULL;
    }
    switch (v->kind) {
    case LCA_VAL_NIL:
        return lca_val_new_nil();
    case LCA_VAL_BOOL:
        return lca_val_new_bool(v->u.b);
    case LCA_VAL_INT:
        return lca_val_new_int(v->u.i);
    case LCA_VAL_STR:
    case LCA_VAL_BIN:
        return val_new_bytes(v->kind, v->u.bytes.p, v->u.bytes.n);
    case LCA_VAL_ARR:
        return val_clone_arr(v);
    case LCA_VAL_MAP:
        return val_clone_map(v);
    }
    return NULL;
}

int lca_val_ok(const struct lca_val *v)
{
    size_t k;

    if (v == NULL || v->broken) {
        return 0;
    }
    if (v->kind == LCA_VAL_ARR) {
        for (k = 0; k < v->u.arr.n; k++) {
            if (!lca_val_ok(v->u.arr.items[k])) {
                return 0;
            }
        }
    } else if (v->kind == LCA_VAL_MAP) {
        for (k = 0; k < v->u.map.n; k++) {
            if (!lca_val_ok(v->u.map.ents[k].val)) {
                return 0;
            }
        }
    }
    return 1;
}

static int val_equal_arr(const struct lca_val *a, const struct lca_val *b)
{
    size_t k;

    if (a->u.arr.n != b->u.arr.n) {
        return 0;
    }
    for (k = 0; k < a->u.arr.n; k++) {
        if (!lca_val_equal(a->u.arr.items[k], b->u.arr.items[k])) {
            return 0;
        }
    }
    return 1;
}

/* Keys are unique within a map, so same size + every key of a found equal in b is equality. */
static int val_equal_map(const struct lca_val *a, const struct lca_val *b)
{
    size_t k;

    if (a->u.map.n != b->u.map.n) {
        return 0;
    }
    for (k = 0; k < a->u.map.n; k++) {
        const struct lca_val *other = lca_val_map_get(b, a->u.map.ents[k].key);

        if (other == NULL || !lca_val_equal(a->u.map.ents[k].val, other)) {
            return 0;
        }
    }
    return 1;
}

int lca_val_equal(const struct lca_val *a, const struct lca_val *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    if (a->kind != b->kind) {
        return 0;
    }
    switch (a->kind) {
    case LCA_VAL_NIL:
        return 1;
    case LCA_VAL_BOOL:
        return a->u.b == b->u.b;
    case LCA_VAL_INT:
        return a->u.i == b->u.i;
    case LCA_VAL_STR:
    case LCA_VAL_BIN:
        return a->u.bytes.n == b->u.bytes.n &&
               (a->u.bytes.n == 0 || memcmp(a->u.bytes.p, b->u.bytes.p, a->u.bytes.n) == 0);
    case LCA_VAL_ARR:
        return val_equal_arr(a, b);
    case LCA_VAL_MAP:
        return val_equal_map(a, b);
    }
    return 0;
}

enum lca_val_kind lca_val_kind(const struct lca_val *v)
{
    return v == NULL ? LCA_VAL_NIL : v->kind;
}

int lca_val_bool(const struct lca_val *v)
{
    return v != NULL && v->kind == LCA_VAL_BOOL ? v->u.b : 0;
}

int64_t lca_val_int(const struct lca_val *v)
{
    return v != NULL && v->kind == LCA_VAL_INT ? v->u.i : 0;
}

const char *lca_val_str(const struct lca_val *v)
{
    return v != NULL && v->kind == LCA_VAL_STR ? v->u.bytes.p : NULL;
}

const uint8_t *lca_val_bin(const struct lca_val *v, size_t *len)
{
    if (v == NULL || v->kind != LCA_VAL_BIN) {
        if (len != NULL) {
            *len = 0;
        }
        return NULL;
    }
    if (len != NULL) {
        *len = v->u.bytes.n;
    }
    return (const uint8_t *)v->u.bytes.p;
}

size_t lca_val_len(const struct lca_val *v)
{
    if (v == NULL) {
        return 0;
    }
    switch (v->kind) {
    case LCA_VAL_STR:
    case LCA_VAL_BIN:
        return v->u.bytes.n;
    case LCA_VAL_ARR:
        return v->u.arr.n;
    case LCA_VAL_MAP:
        return v->u.map.n;
    default:
        return 0;
    }
}

const char *lca_val_map_get_str(const struct lca_val *map, const char *key)
{
    return lca_val_str(lca_val_map_get(map, key));
}

/* Parses an optional '-' then 1..19 decimal digits, exactly the whole string, without
 * overflow. 0 on success. */
static int parse_dec_i64(const char *s, size_t n, int64_t *out)
{
    size_t k = 0;
    int neg = 0;
    uint64_t acc = 0, lim;

    if (n > 0 && s[0] == '-') {
        neg = 1;
        k = 1;
    }
    if (k == n) {
        return -1;
    }
    lim = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    for (; k < n; k++) {
        unsigned d;

        if (s[k] < '0' || s[k] > '9') {
            return -1;
        }
        d = (unsigned)(s[k] - '0');
        if (acc > (lim - d) / 10u) {
            return -1;
        }
        acc = acc * 10u + d;
    }
    if (neg) {
        *out = acc == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)acc;
    } else {
        *out = (int64_t)acc;
    }
    return 0;
}

int64_t lca_val_map_get_int(const struct lca_val *map, const char *key, int64_t dflt)
{
    const struct lca_val *v = lca_val_map_get(map, key);
    int64_t parsed;

    if (v == NULL) {
        return dflt;
    }
    if (v->kind == LCA_VAL_INT) {
        return v->u.i;
    }
    if (v->kind == LCA_VAL_STR && parse_dec_i64(v->u.bytes.p, v->u.bytes.n, &parsed) == 0) {
        return parsed;
    }
    return dflt;
}

int lca_val_map_get_bool(const struct lca_val *map, const char *key, int dflt)
{
    const struct lca_val *v = lca_val_map_get(map, key);

    if (v == NULL) {
        return dflt;
    }
    if (v->kind == LCA_VAL_BOOL) {
        return v->u.b;
    }
    if (v->kind == LCA_VAL_STR) {
        if (v->u.bytes.n == 4 && memcmp(v->u.bytes.p, "true", 4) == 0) {
            return 1;
        }
        if (v->u.bytes.n == 5 && memcmp(v->u.bytes.p, "false", 5) == 0) {
            return 0;
        }
    }
    return dflt;
}

const uint8_t *lca_val_map_get_bin(const struct lca_val *map, const char *key, size_t *len)
{
    return lca_val_bin(lca_val_map_get(map, key), len);
}
