/*
 * codec — msgpack <-> value tree, canonical on the way out, bounded on the way in.
 *
 * Encoding is CANONICAL because the event hash chain covers these bytes (DESIGN.md
 * invariant 2): the same tree always gives the same bytes, whatever order its maps were
 * built in. The rules:
 *   - map keys sorted bytewise (memcmp order; on a common prefix the shorter key first);
 *   - ints in the shortest msgpack form (positive fixint, uint8..uint64 for values >= 0;
 *     negative fixint, int8..int64 below 0);
 *   - str as the shortest of fixstr/str8/str16/str32, bin as bin8/bin16/bin32, arr and map
 *     headers in their shortest form; nil, true, false as themselves. No floats, no ext.
 *
 * Decoding treats the input as hostile (STYLE.md rule 12). A prescan walks the bytes without
 * allocating and enforces the limits (total size, nesting depth, item count, per str/bin
 * size, declared lengths against the bytes actually present) before msgpack-c unpacks
 * anything. Every decode error has class LCA_ERR_BAD_INPUT and one of these codes:
 *   "too_large"       input longer than max_bytes, or one str/bin longer than max_str;
 *   "too_deep"        containers nested deeper than max_depth;
 *   "too_many_items"  more than max_items values (map keys count as values);
 *   "truncated"       input ends inside a value, or a declared length exceeds the input;
 *   "trailing_bytes"  bytes after the first complete value;
 *   "bad_msgpack"     the reserved byte 0xc1;
 *   "unsupported"     a float or an ext value (not part of the ledgerca value model);
 *   "int_range"       a uint64 above INT64_MAX;
 *   "bad_key"         a map key that is not a str, or contains a NUL byte;
 *   "duplicate_key"   the same key twice in one map.
 * Strings are accepted as raw bytes (no UTF-8 check): the commands module checks the fields
 * it interprets.
 */
#ifndef LCA_CODEC_H
#define LCA_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "val.h"

/* Hard limits for decoders (msgpack here, JSON in json.h). */
struct lca_limits {
    size_t max_bytes; /* whole input */
    size_t max_depth; /* nested containers; a top-level map is depth 1. Capped at
                         LCA_CODEC_DEPTH_CAP whatever the caller asks. */
    size_t max_items; /* values in the whole input, map keys included */
    size_t max_str;   /* bytes in one str or bin */
};

/* The deepest nesting any decoder or the encoder accepts. */
#define LCA_CODEC_DEPTH_CAP 32

/* 1 MiB input, depth 16, 100 000 items, 1 MiB per str/bin. */
extern const struct lca_limits lca_codec_default_limits;

/* Encodes v canonically (see above). On success *out is a malloc'd buffer of *len bytes
 * that the caller frees. Errors: a broken tree (lca_val_ok(v) == 0, including v == NULL) and
 * allocation failure are LCA_ERR_FATAL ("broken_value", "no_memory"); nesting deeper than
 * LCA_CODEC_DEPTH_CAP or a str/bin/arr/map longer than 2^32-1 is LCA_ERR_BAD_INPUT
 * ("too_deep", "too_large"). Intermediate buffers are wiped, as values may hold tokens. */
int lca_codec_encode(const struct lca_val *v, uint8_t **out, size_t *len,
                     struct lca_err *err) LCA_MUST_USE;

/* Decodes exactly one msgpack value filling buf[0..len). lim NULL means
 * lca_codec_default_limits. On success *out is a new tree the caller frees with
 * lca_val_free; maps keep the wire order. Errors: LCA_ERR_BAD_INPUT with the codes listed
 * above; LCA_ERR_FATAL "no_memory". buf is borrowed. */
int lca_codec_decode(const uint8_t *buf, size_t len, const struct lca_limits *lim,
                     struct lca_val **out, struct lca_err *err) LCA_MUST_USE;

/*
 * The flat view: a decode without a value tree, for the hot path of replay (workers/
 * audit_replay.c) where a tree per event cost half the time in malloc and free. It accepts
 * one shape only: a map whose values are scalars (nil, bool, int, str, bin) or maps of
 * scalars. Each entry becomes one item, in wire order; a map-valued entry is an item of kind
 * LCA_VAL_MAP whose `n` children follow it. Keys and bytes point into the input.
 */
struct lca_codec_item {
    const char *key; /* the map key, klen bytes (no NUL inside, not NUL-terminated) */
    size_t klen;
    enum lca_val_kind kind; /* NIL, BOOL, INT, STR, BIN or MAP (depth 1 only) */
    int64_t i;              /* BOOL: 0/1; INT: the value */
    const uint8_t *p;       /* STR, BIN: the bytes (borrowed) */
    size_t n;               /* STR, BIN: byte count; MAP: children (the next n items) */
};

/* Decodes buf into at most max items (*n_out set) and returns 1 when buf has the flat shape
 * AND lca_codec_decode(buf, len, lim) would accept it (same limits, canonical or not, no
 * duplicate key in any map), so a caller may read the items instead of a tree. Returns 0
 * otherwise -- another shape, more than max items, or an input lca_codec_decode refuses --
 * without saying which: the caller then decodes with lca_codec_decode, which gives the
 * verdict. lim NULL means lca_codec_default_limits. Allocates nothing; thread-safe. */
int lca_codec_decode_flat(const uint8_t *buf, size_t len, const struct lca_limits *lim,
                          struct lca_codec_item *items, size_t max, size_t *n_out) LCA_MUST_USE;

#endif
