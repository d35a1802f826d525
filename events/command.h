/*
 * command — the command envelope (DESIGN.md "Envelope") read from Kafka or HTTP.
 *
 * Wire shape: a msgpack map or JSON object with
 *   command_id      str, required: a UUID (8-4-4-4-12 hex digits, either case); the
 *                   idempotency key, stored in canonical lowercase form;
 *   type            str, required: a command wire name from types.def ("issue", ...);
 *   correlation_id  str, optional, 1..128 bytes, no NUL; defaults to command_id;
 *   reply_to        str, optional: a Kafka topic name (1..249 of [A-Za-z0-9._-], not "."
 *                   or ".."); defaults to "ledgerca.replies";
 *   token           str or nil, optional, 1..4096 bytes, no NUL: authorization secret;
 *   payload         map, optional (absent or nil gives an empty map).
 * Unknown top-level fields are ignored (forward compatibility). The payload is not
 * interpreted here: engine/decide checks it per command type.
 *
 * Errors are LCA_ERR_BAD_INPUT (dead-letter the message) with these codes, or any code of
 * lca_codec_decode / lca_json_decode for undecodable bytes:
 *   "bad_content_type"  a content type other than application/msgpack or application/json;
 *   "bad_command"       the top level is not a map;
 *   "missing_field"     command_id or type is absent;
 *   "bad_field"         a field has the wrong kind, length or characters (message names it);
 *   "bad_command_id"    command_id is not a UUID;
 *   "unknown_type"      type is not a known command (message names it when printable).
 * LCA_ERR_FATAL "no_memory" on allocation failure. Messages never include the token.
 */
#ifndef LCA_COMMAND_H
#define LCA_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "err.h"
#include "val.h"

#define LCA_COMMAND_DEFAULT_REPLY_TO "ledgerca.replies"
#define LCA_COMMAND_MAX_TOKEN 4096

struct lca_command {
    char command_id[37];      /* canonical lowercase UUID, NUL-terminated */
    enum lca_cmd_type type;   /* never LCA_CMD_NONE after parse */
    char correlation_id[129]; /* NUL-terminated; defaults to command_id */
    char reply_to[250];       /* Kafka topic for the reply; defaults to "ledgerca.replies" */
    char *token;              /* malloc'd, may be NULL; wiped and freed by lca_command_free */
    struct lca_val *payload;  /* a map, owned; never NULL after parse */
    char missing_reply_to[250]; /* set by the worker, never by parse: the reply_to topic named
                                   by the message when Kafka does not have it (reply_to then
                                   holds the default topic, and the command is refused) */
    int forwarded;            /* set by the worker, never by parse: 1 when the message carried a
                                 `forwarded-from` header (a revocation another cluster handed
                                 on), so it is never forwarded again */
};

/* Parses one envelope from buf[0..len) (borrowed). content_type selects the format:
 * "application/msgpack" or "application/json" (case-insensitive; parameters after ';' are
 * ignored); NULL or "" means JSON when the first non-whitespace byte is '{', else msgpack.
 * Decoding uses lca_codec_default_limits. On success *out is a new command the caller frees
 * with lca_command_free. */
int lca_command_parse(const uint8_t *buf, size_t len, const char *content_type,
                      struct lca_command **out, struct lca_err *err) LCA_MUST_USE;

/* Frees c, its payload and its token (wiped first). NULL-safe. Also for commands a caller
 * assembled itself with calloc, provided token and payload are heap-owned. */
void lca_command_free(struct lca_command *c);

/* Encodes c as a canonical msgpack envelope (for the submit client); c is borrowed and may
 * live on the stack. token NULL is left out; payload NULL encodes an empty map. On success
 * *out is malloc'd (*len bytes), the caller frees it. Errors: LCA_ERR_BAD_INPUT "bad_command"
 * when type is unknown, command_id is not a UUID or payload is not a map; encoder errors as
 * in lca_codec_encode. */
int lca_command_encode(const struct lca_command *c, uint8_t **out, size_t *len,
                       struct lca_err *err) LCA_MUST_USE;

#endif
