/*
 * json — JSON <-> value tree, for operators who send commands with kcat and for HTTP replies.
 *
 * jansson does the parsing and printing; it is linked PRIVATE to lca_events and no json_t
 * crosses this header (STYLE.md rule 1).
 *
 * Decoding treats the input as hostile (STYLE.md rule 12). Before jansson sees the bytes, a
 * scan without allocation rejects input longer than max_bytes and nesting deeper than
 * max_depth (capped at LCA_CODEC_DEPTH_CAP); then jansson parses with duplicate keys
 * rejected; then the conversion counts values (keys included) against max_items and
 * checks each string and key against max_str. Mapping:
 *   object -> map (document order kept), array -> arr, string -> str, integer -> int,
 *   true/false -> bool, null -> nil; a real is accepted only when it is integral and fits
 *   int64 (1e3 -> 1000), anything else is rejected. "\u0000" is rejected (keys and strings
 *   are C strings downstream). Input must be UTF-8 (jansson checks).
 * Errors (class LCA_ERR_BAD_INPUT unless said otherwise), by code:
 *   "too_large", "too_deep", "too_many_items"  limits, as in codec.h;
 *   "duplicate_key"   an object repeats a key;
 *   "truncated"       the input ends inside a value;
 *   "trailing_bytes"  something other than whitespace after the value;
 *   "unsupported"     a non-integral number (1.5);
 *   "int_range"       a number outside the int64 range;
 *   "bad_json"        any other syntax or encoding error (jansson's message and position);
 *   "no_memory"       (LCA_ERR_FATAL) allocation failure.
 *
 * Secrets: jansson copies strings (a command's token, say) into its own heap blocks and
 * frees them without wiping. A process that decodes secrets from JSON should call
 * lca_json_install_wiping_alloc() once at startup, before anything else uses jansson.
 */
#ifndef LCA_JSON_H
#define LCA_JSON_H

#include <stddef.h>

#include "codec.h"
#include "err.h"
#include "val.h"

/* Decodes the single JSON text filling buf[0..len) (need not be NUL-terminated; any JSON
 * value is accepted at the top level). lim NULL means lca_codec_default_limits. On success
 * *out is a new tree the caller frees with lca_val_free. buf is borrowed. */
int lca_json_decode(const char *buf, size_t len, const struct lca_limits *lim,
                    struct lca_val **out, struct lca_err *err) LCA_MUST_USE;

/* Encodes v as compact JSON: maps in insertion order, bin as a standard base64 string
 * (RFC 4648 section 4, padded), ints as JSON integers. On success *out is a malloc'd
 * NUL-terminated string of *len bytes (NUL excluded) that the caller frees with free().
 * Errors: a broken tree or NULL v is LCA_ERR_FATAL "broken_value"; a str or key that is not
 * valid UTF-8 is LCA_ERR_BAD_INPUT "bad_utf8"; nesting beyond LCA_CODEC_DEPTH_CAP is
 * LCA_ERR_BAD_INPUT "too_deep"; allocation failure is LCA_ERR_FATAL "no_memory". */
int lca_json_encode(const struct lca_val *v, char **out, size_t *len,
                    struct lca_err *err) LCA_MUST_USE;

/* Makes jansson wipe every block it frees (process-wide json_set_alloc_funcs). Call once,
 * from main, before any other use of jansson in the process: blocks allocated before the
 * switch would be handed to the wrong free. Not thread-safe; idempotent. */
void lca_json_install_wiping_alloc(void);

#endif
