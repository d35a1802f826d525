/*
 * event — a domain event and its canonical bytes (what the hash chain covers).
 *
 * The stored form of an event is the canonical msgpack (codec.h) of the map
 *   {"payload": <map>, "type": "<EventName from types.def>", "v": 1}
 * so the same event always gives the same bytes (DESIGN.md invariant 2). "v" is the
 * envelope version: a reader refuses versions it does not know instead of guessing.
 * Thread-safety: none; an event belongs to one thread at a time.
 */
#ifndef LCA_EVENT_H
#define LCA_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "codec.h"
#include "err.h"
#include "val.h"

#define LCA_EVENT_VERSION 1

struct lca_event {
    enum lca_evt_type type;  /* never LCA_EVT_NONE in a valid event */
    struct lca_val *payload; /* a map, owned by the event */
};

/* New event owning payload (in every case: on failure payload is freed). NULL on allocation
 * failure or when payload is NULL (a failed constructor upstream). */
struct lca_event *lca_event_new(enum lca_evt_type type, struct lca_val *payload);

/* Frees e and its payload. NULL-safe. */
void lca_event_free(struct lca_event *e);

/* Canonical bytes of e (see above). On success *out is malloc'd (*len bytes), the caller
 * frees it. Errors: LCA_ERR_BAD_INPUT "bad_event" when e is NULL, its type unknown or its
 * payload not a map; encoder errors as in lca_codec_encode (a broken payload is
 * LCA_ERR_FATAL "broken_value"). */
int lca_event_canonical(const struct lca_event *e, uint8_t **out, size_t *len,
                        struct lca_err *err) LCA_MUST_USE;

/* Inverse of lca_event_canonical, with lca_codec_default_limits. Accepts exactly the keys
 * payload, type and v (non-canonical but equivalent msgpack is accepted too). On success
 * *out is a new event the caller frees with lca_event_free. Errors (LCA_ERR_BAD_INPUT):
 * codec errors; "bad_event" (not a map, a key missing or extra, wrong kinds);
 * "unsupported_version" (v is not 1); "unknown_type" (type not in types.def). */
int lca_event_decode(const uint8_t *buf, size_t len, struct lca_event **out,
                     struct lca_err *err) LCA_MUST_USE;

/* Payload fields a flat event holds at most (CertificateIssued has 7). */
#define LCA_EVENT_FLAT_MAX 16

/* An event read without a value tree (lca_event_decode_flat). Pointers borrow the input. */
struct lca_event_flat {
    enum lca_evt_type type;
    size_t n;                              /* payload fields */
    const struct lca_codec_item *payload;  /* the n fields, in wire order (into items) */
    struct lca_codec_item items[LCA_EVENT_FLAT_MAX + 4]; /* the envelope's and payload's */
};

/* lca_event_decode for the common case, allocating nothing: 1 with *out filled when buf is
 * an event lca_event_decode accepts whose payload is a map of at most LCA_EVENT_FLAT_MAX
 * scalars (codec.h, the flat view); the payload as lca_event_decode would give it, field for
 * field. 0 for anything else, valid or not: the caller then uses lca_event_decode. *out
 * borrows buf. Thread-safe. */
int lca_event_decode_flat(const uint8_t *buf, size_t len, struct lca_event_flat *out) LCA_MUST_USE;

#endif
