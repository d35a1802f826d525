/*
 * duration — Go-style durations as Vault and Consul write them ("72h", "8760h", "1h30m",
 * "90s", "30d" is NOT Go but Vault accepts "d"), or plain integer seconds. Pure.
 */
#ifndef LCA_DURATION_H
#define LCA_DURATION_H

#include <stdint.h>

#include "err.h"
#include "val.h"

/* Parses s into seconds (≥ 0, ≤ 1000 years). BAD_INPUT "bad_duration" otherwise. */
int lca_duration_parse(const char *s, int64_t *out, struct lca_err *err) LCA_MUST_USE;
/* From a value: int seconds or a duration string. Absent (NULL / nil) gives dflt. */
int lca_duration_from_val(const struct lca_val *v, int64_t dflt, int64_t *out,
                          struct lca_err *err) LCA_MUST_USE;
/* Formats seconds as Go does for whole hours/minutes/seconds: "72h0m0s". */
void lca_duration_format(int64_t secs, char *out, size_t outlen);

#endif
