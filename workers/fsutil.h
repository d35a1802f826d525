/*
 * fsutil — small file-system helpers shared by the workers that publish files (the projector's
 * and the aggregator's CRL files, replay's output).
 *
 * Thread: any thread; the functions keep no state.
 */
#ifndef LCA_FSUTIL_H
#define LCA_FSUTIL_H

#include <stddef.h>

#include "err.h"

/*
 * Writes buf (len bytes) to `path` atomically: into "<path>.tmp.<pid>" first, fsync'd, then
 * renamed over `path`, so a reader (an HTTP server, a relying party) sees either the old file or
 * the whole new one, never a torn write, and the data is on disk before the name points at it.
 * The temporary file is removed on failure. Errors: class `cls` with code `code` (the caller's
 * vocabulary, e.g. RETRIABLE "crl_file"), the message naming the path and errno.
 */
int lca_fsutil_write_atomic(const char *path, const void *buf, size_t len, enum lca_err_class cls,
                            const char *code, struct lca_err *err) LCA_MUST_USE;

#endif
