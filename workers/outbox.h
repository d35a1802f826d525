/*
 * outbox — the relay side of the transactional outbox (DESIGN.md invariant 1).
 *
 * A signer records each reply in the `outbox` table in the same transaction as the command's
 * events, then produces it to Kafka and marks it published. A row whose payload is NULL
 * carries its command's recorded reply (commands.reply: the reply is stored once). A signer that crashed after the
 * commit but before the reply was acknowledged finds the row still unpublished at its next
 * start (or next relay pass) and sends it then: no reply is lost; a reply may be sent twice,
 * which clients tolerate because replies carry the command id and correlation id.
 * Thread: the thread that owns the pgstore.
 */
#ifndef LCA_OUTBOX_H
#define LCA_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "pgstore.h"

struct lca_outbox_msg {
    int64_t id;
    const char *topic;
    const uint8_t *key;
    size_t key_len;
    const uint8_t *payload;
    size_t len;
};

typedef int lca_outbox_cb(void *ctx, const struct lca_outbox_msg *m, struct lca_err *err);

/* Calls cb for up to `limit` unpublished messages, oldest first; *count (may be NULL) gets
 * how many. Pointers in m are valid during the callback only. */
int lca_outbox_pending(struct lca_pgstore *store, size_t limit, lca_outbox_cb *cb, void *ctx,
                       size_t *count, struct lca_err *err) LCA_MUST_USE;

/* Marks messages published (by outbox id). */
int lca_outbox_mark(struct lca_pgstore *store, const int64_t *ids, size_t n,
                    struct lca_err *err) LCA_MUST_USE;

/* Marks every unpublished message of the given commands (16-byte ids) published: for a
 * sender that kept the command ids, not the outbox ids, of the replies Kafka acknowledged. */
int lca_outbox_mark_commands(struct lca_pgstore *store, const uint8_t (*command_ids)[16],
                             size_t n, struct lca_err *err) LCA_MUST_USE;

#endif
