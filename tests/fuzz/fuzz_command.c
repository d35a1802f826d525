/*
 * fuzz_command — libFuzzer target for the command envelope parser (STYLE.md rule 12).
 *
 * The first byte picks the content type (none/sniff, msgpack, JSON, junk); the rest is the
 * message. Property: a parsed command re-encodes, and the encoding parses back to the same
 * envelope.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"

static const char *const content_types[] = {NULL, "application/msgpack", "application/json",
                                            "text/plain"};

static void check_round_trip(const struct lca_command *c)
{
    uint8_t *out = NULL;
    size_t len = 0;
    struct lca_command *back = NULL;
    struct lca_err err;

    if (lca_command_encode(c, &out, &len, &err) != LCA_OK ||
        lca_command_parse(out, len, "application/msgpack", &back, &err) != LCA_OK) {
        abort();
    }
    if (strcmp(c->command_id, back->command_id) != 0 || c->type != back->type ||
        strcmp(c->correlation_id, back->correlation_id) != 0 ||
        strcmp(c->reply_to, back->reply_to) != 0 || (c->token == NULL) != (back->token == NULL) ||
        (c->token != NULL && strcmp(c->token, back->token) != 0) ||
        !lca_val_equal(c->payload, back->payload)) {
        abort();
    }
    free(out);
    lca_command_free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lca_command *c = NULL;
    struct lca_err err;
    const char *ct;

    if (size == 0) {
        return 0;
    }
    ct = content_types[data[0] % 4];
    if (lca_command_parse(data + 1, size - 1, ct, &c, &err) != LCA_OK) {
        if (err.cls != LCA_ERR_BAD_INPUT && err.cls != LCA_ERR_FATAL) {
            abort();
        }
        return 0;
    }
    if (c->type == LCA_CMD_NONE || c->payload == NULL) {
        abort();
    }
    check_round_trip(c);
    lca_command_free(c);
    return 0;
}
