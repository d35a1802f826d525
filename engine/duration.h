/*
 * duration — durations as Vault and Consul write them: Go durations ("72h", "8760h",
 * "1h30m", "1.5h", "90s"), days ("7d", which Vault accepts), or plain integer seconds. Pure.
 */
#ifndef LCA_DURATION_H
#define LCA_DURATION_H

#include <stdint.h>

#include "err.h"
#include "val.h"

/* Parses n decimal digits (no sign) into *out; LCA_FAIL on anything else or overflow. */
int lca_duration_parse_uint(const char *s, size_t n, int64_t *out) LCA_MUST_USE;

/* Parses s into seconds (≥ 0, ≤ 1000 years). BAD_INPUT "bad_duration" otherwise. */
int lca_duration_parse(const char *s, int64_t *out, struct lca_err *err) LCA_MUST_USE;
/* From a value: int seconds or a duration string. Absent (NULL / nil) gives dflt. */
int lca_duration_from_val(const struct lca_val *v, int64_t dflt, int64_t *out,
                          struct lca_err *err) LCA_MUST_USE;

#endif
