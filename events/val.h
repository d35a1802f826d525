/*
 * val — the dynamic value model shared by commands, events and replies.
 *
 * A value is nil, bool, int (int64), str (UTF-8, length-counted), bin (bytes), arr or map
 * (string keys, insertion order kept; the codec sorts keys when it encodes canonically).
 * Commands arrive as msgpack or JSON and decode into a value tree; events are built as value
 * trees by engine/decide and encoded canonically by events/codec for the hash chain.
 *
 * Ownership: a container owns its children. lca_val_map_set / lca_val_arr_push take ownership
 * of `child` in every case (on failure the child is freed). Getters return borrowed pointers
 * that live as long as the container is not modified.
 *
 * Errors: builders do not return a status. An allocation failure marks the container
 * "broken" (sticky); lca_val_ok() reports it and the codecs refuse to encode a broken tree,
 * so a caller checks once, at the end of building. All functions are NULL-safe.
 * Thread-safety: none; a tree belongs to one thread at a time.
 */
#ifndef LCA_VAL_H
#define LCA_VAL_H

#include <stddef.h>
#include <stdint.h>

enum lca_val_kind {
    LCA_VAL_NIL = 0,
    LCA_VAL_BOOL,
    LCA_VAL_INT,
    LCA_VAL_STR,
    LCA_VAL_BIN,
    LCA_VAL_ARR,
    LCA_VAL_MAP,
};

struct lca_val;

/* Constructors: NULL only on allocation failure. new_str copies a NUL-terminated string;
 * new_strn copies n bytes (which may contain NUL); new_bin copies n bytes. */
struct lca_val *lca_val_new_nil(void);
struct lca_val *lca_val_new_bool(int b);
struct lca_val *lca_val_new_int(int64_t i);
struct lca_val *lca_val_new_str(const char *s);
struct lca_val *lca_val_new_strn(const char *s, size_t n);
struct lca_val *lca_val_new_bin(const void *p, size_t n);
struct lca_val *lca_val_new_arr(void);
struct lca_val *lca_val_new_map(void);

/* Frees v and its children. NULL-safe. Bin and str bytes are wiped before free. */
void lca_val_free(struct lca_val *v);

/* Deep copy; NULL on allocation failure or NULL input. */
struct lca_val *lca_val_clone(const struct lca_val *v);

/* 1 when v and every descendant built without allocation failure, else 0 (also for NULL). */
int lca_val_ok(const struct lca_val *v);

/* Structural equality (map order ignored). */
int lca_val_equal(const struct lca_val *a, const struct lca_val *b);

enum lca_val_kind lca_val_kind(const struct lca_val *v); /* LCA_VAL_NIL for NULL */

/* Scalars. Wrong kind gives 0 / NULL. */
int lca_val_bool(const struct lca_val *v);
int64_t lca_val_int(const struct lca_val *v);
const char *lca_val_str(const struct lca_val *v);  /* NUL-terminated copy */
const uint8_t *lca_val_bin(const struct lca_val *v, size_t *len);
/* Number of bytes (str, bin), elements (arr) or entries (map); 0 otherwise. */
size_t lca_val_len(const struct lca_val *v);

/* Arrays. */
void lca_val_arr_push(struct lca_val *arr, struct lca_val *child);
const struct lca_val *lca_val_arr_at(const struct lca_val *arr, size_t i);

/* Maps. set replaces an existing key. */
void lca_val_map_set(struct lca_val *map, const char *key, struct lca_val *child);
void lca_val_map_set_str(struct lca_val *map, const char *key, const char *s);
void lca_val_map_set_int(struct lca_val *map, const char *key, int64_t i);
void lca_val_map_set_bool(struct lca_val *map, const char *key, int b);
void lca_val_map_set_bin(struct lca_val *map, const char *key, const void *p, size_t n);
/* Appends an entry with the klen-byte key without looking for an existing one (O(1)
 * amortised). For decoders, which reject duplicate keys in O(n log n) beforehand, so that a
 * hostile 50 000-key map does not cost n^2 comparisons. Takes ownership of child like set.
 * A key containing a NUL byte cannot be looked up and marks the map broken. */
void lca_val_map_append(struct lca_val *map, const char *key, size_t klen,
                        struct lca_val *child);
/* Removes key if present. */
void lca_val_map_del(struct lca_val *map, const char *key);
/* Removes key and hands its value to the caller (who then owns and frees it); NULL when the
 * key is absent. Lets a parser keep a subtree without a deep copy. */
struct lca_val *lca_val_map_take(struct lca_val *map, const char *key);
const struct lca_val *lca_val_map_get(const struct lca_val *map, const char *key);
const char *lca_val_map_key_at(const struct lca_val *map, size_t i);
const struct lca_val *lca_val_map_val_at(const struct lca_val *map, size_t i);

/* Typed lookups: NULL / the default when the key is absent or of another kind.
 * get_int also accepts a str of decimal digits (JSON clients send "8760h"-less numbers
 * as strings), and get_bool accepts the strings "true"/"false". */
const char *lca_val_map_get_str(const struct lca_val *map, const char *key);
int64_t lca_val_map_get_int(const struct lca_val *map, const char *key, int64_t dflt);
int lca_val_map_get_bool(const struct lca_val *map, const char *key, int dflt);
const uint8_t *lca_val_map_get_bin(const struct lca_val *map, const char *key, size_t *len);

#endif
