/*
 * uuid — fresh random command ids for the clients in this folder (submit, the HTTP API, dev
 * mode, secondary init, the benchmarks). The engine makes its own ids from the injected RNG.
 */
#ifndef LCA_UUID_H
#define LCA_UUID_H

#include "err.h"

#define LCA_UUID_LEN 36 /* without the terminating NUL */

/* Writes a random (version 4) UUID, RFC 9562 section 5.4, lowercase, NUL-terminated.
 * Returns LCA_FAIL only when the system's random source fails. */
int lca_uuid_v4(char out[LCA_UUID_LEN + 1]) LCA_MUST_USE;

#endif
