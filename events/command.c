/*
 * command — envelope parsing and encoding (contract in command.h).
 */
#include "command.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec.h"
#include "json.h"

enum cmd_format { FMT_MSGPACK, FMT_JSON };

/* Compares the media type (before any ';' parameters, spaces trimmed) with want. */
static int media_type_is(const char *ct, const char *want)
{
    size_t n = strcspn(ct, ";"), wl = strlen(want);

    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t')) {
        n--;
    }
    while (n > 0 && (*ct == ' ' || *ct == '\t')) {
        ct++;
        n--;
    }
    return n == wl && strncasecmp(ct, want, wl) == 0;
}

static int pick_format(const uint8_t *buf, size_t len, const char *ct, enum cmd_format *fmt,
                       struct lca_err *err)
{
    size_t k = 0;

    if (ct != NULL && ct[0] != '\0') {
        if (media_type_is(ct, "application/msgpack")) {
            *fmt = FMT_MSGPACK;
        } else if (media_type_is(ct, "application/json")) {
            *fmt = FMT_JSON;
        } else {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_content_type",
                               "content type is neither application/msgpack nor "
                               "application/json");
        }
        return LCA_OK;
    }
    while (k < len && (buf[k] == ' ' || buf[k] == '\t' || buf[k] == '\r' || buf[k] == '\n')) {
        k++;
    }
    *fmt = k < len && buf[k] == '{' ? FMT_JSON : FMT_MSGPACK;
    return LCA_OK;
}

/* A str field without NUL bytes, or NULL (absent). Wrong kind or NUL is an error. */
static int get_text(const struct lca_val *root, const char *key, const char **s, size_t *n,
                    struct lca_err *err)
{
    const struct lca_val *v = lca_val_map_get(root, key);

    *s = NULL;
    *n = 0;
    if (v == NULL) {
        return LCA_OK;
    }
    if (lca_val_kind(v) != LCA_VAL_STR || memchr(lca_val_str(v), '\0', lca_val_len(v))) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_field", "%s must be a string", key);
    }
    *s = lca_val_str(v);
    *n = lca_val_len(v);
    return LCA_OK;
}

static int is_uuid(const char *s, size_t n)
{
    size_t k;

    if (n != 36) {
        return 0;
    }
    for (k = 0; k < 36; k++) {
        int dash = k == 8 || k == 13 || k == 18 || k == 23;
        char c = s[k];
        int hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');

        if (dash ? c != '-' : !hex) {
            return 0;
        }
    }
    return 1;
}

static int parse_command_id(const struct lca_val *root, struct lca_command *c,
                            struct lca_err *err)
{
    const char *s;
    size_t n, k;

    if (get_text(root, "command_id", &s, &n, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (s == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "missing_field", "command_id is missing");
    }
    if (!is_uuid(s, n)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_command_id",
                           "command_id must be a UUID (8-4-4-4-12 hex digits)");
    }
    for (k = 0; k < 36; k++) {
        c->command_id[k] = (s[k] >= 'A' && s[k] <= 'F') ? (char)(s[k] - 'A' + 'a') : s[k];
    }
    c->command_id[36] = '\0';
    return LCA_OK;
}

static int printable(const char *s, size_t n)
{
    size_t k;

    for (k = 0; k < n; k++) {
        if (s[k] < 0x20 || s[k] > 0x7e) {
            return 0;
        }
    }
    return 1;
}

static int parse_type(const struct lca_val *root, struct lca_command *c, struct lca_err *err)
{
    const char *s;
    size_t n;

    if (get_text(root, "type", &s, &n, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (s == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "missing_field", "type is missing");
    }
    c->type = lca_catalog_cmd_from_name(s);
    if (c->type == LCA_CMD_NONE) {
        if (n <= 64 && printable(s, n)) {
            return lca_err_set(err, LCA_ERR_BAD_INPUT, "unknown_type",
                               "unknown command type \"%s\"", s);
        }
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "unknown_type",
                           "unknown command type (%zu bytes, not shown)", n);
    }
    return LCA_OK;
}

/* Kafka topic names: 1..249 characters of [A-Za-z0-9._-], and not "." or "..". */
static int is_topic_name(const char *s, size_t n)
{
    size_t k;

    if (n == 0 || n > 249 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
        return 0;
    }
    for (k = 0; k < n; k++) {
        char ch = s[k];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-')) {
            return 0;
        }
    }
    return 1;
}

static int parse_routing(const struct lca_val *root, struct lca_command *c, struct lca_err *err)
{
    const char *s;
    size_t n;

    if (get_text(root, "correlation_id", &s, &n, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (s != NULL && (n == 0 || n >= sizeof(c->correlation_id))) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_field",
                           "correlation_id must be 1..%zu bytes", sizeof(c->correlation_id) - 1);
    }
    memcpy(c->correlation_id, s != NULL ? s : c->command_id, s != NULL ? n + 1 : 37);
    if (get_text(root, "reply_to", &s, &n, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (s != NULL && !is_topic_name(s, n)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_field",
                           "reply_to must be a Kafka topic name (1..249 of [A-Za-z0-9._-])");
    }
    snprintf(c->reply_to, sizeof(c->reply_to), "%s", s != NULL ? s : LCA_COMMAND_DEFAULT_REPLY_TO);
    return LCA_OK;
}

static int parse_token(const struct lca_val *root, struct lca_command *c, struct lca_err *err)
{
    const char *s;
    size_t n;

    if (lca_val_kind(lca_val_map_get(root, "token")) == LCA_VAL_NIL) {
        return LCA_OK; /* absent or nil */
    }
    if (get_text(root, "token", &s, &n, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (n == 0 || n > LCA_COMMAND_MAX_TOKEN) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_field", "token must be 1..%d bytes",
                           LCA_COMMAND_MAX_TOKEN);
    }
    c->token = strdup(s);
    if (c->token == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "no_memory", "out of memory copying the token");
    }
    return LCA_OK;
}

/* Moves the payload out of root (no copy); absent or nil gives an empty map. */
static int parse_payload(struct lca_val *root, struct lca_command *c, struct lca_err *err)
{
    struct lca_val *p = lca_val_map_take(root, "payload");

    if (lca_val_kind(p) == LCA_VAL_NIL) {
        lca_val_free(p);
        p = lca_val_new_map();
        if (p == NULL) {
            return lca_err_set(err, LCA_ERR_FATAL, "no_memory", "out of memory");
        }
    }
    if (lca_val_kind(p) != LCA_VAL_MAP) {
        lca_val_free(p);
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_field", "payload must be a map");
    }
    c->payload = p;
    return LCA_OK;
}

static int decode_root(const uint8_t *buf, size_t len, const char *ct, struct lca_val **root,
                       struct lca_err *err)
{
    enum cmd_format fmt;

    if (pick_format(buf, len, ct, &fmt, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (fmt == FMT_JSON) {
        return lca_json_decode((const char *)buf, len, NULL, root, err);
    }
    return lca_codec_decode(buf, len, NULL, root, err);
}

int lca_command_parse(const uint8_t *buf, size_t len, const char *content_type,
                      struct lca_command **out, struct lca_err *err)
{
    struct lca_val *root = NULL;
    struct lca_command *c = NULL;
    int rc = LCA_FAIL;

    if (decode_root(buf, len, content_type, &root, err) != LCA_OK) {
        goto out;
    }
    if (lca_val_kind(root) != LCA_VAL_MAP) {
        lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_command", "a command must be a map");
        goto out;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        lca_err_set(err, LCA_ERR_FATAL, "no_memory", "out of memory");
        goto out;
    }
    if (parse_command_id(root, c, err) != LCA_OK || parse_type(root, c, err) != LCA_OK ||
        parse_routing(root, c, err) != LCA_OK || parse_token(root, c, err) != LCA_OK ||
        parse_payload(root, c, err) != LCA_OK) {
        goto out;
    }
    *out = c;
    c = NULL;
    rc = LCA_OK;
out:
    lca_command_free(c);
    lca_val_free(root); /* wipes the token's bytes in the tree */
    return rc;
}

void lca_command_free(struct lca_command *c)
{
    if (c == NULL) {
        return;
    }
    if (c->token != NULL) {
        explicit_bzero(c->token, strlen(c->token));
        free(c->token);
    }
    lca_val_free(c->payload);
    explicit_bzero(c, sizeof(*c));
    free(c);
}

/* A fixed-size text field of a caller-built command, or dflt when it is empty. */
static struct lca_val *text_field(const char *field, size_t size, const char *dflt)
{
    size_t n = strnlen(field, size);

    return n > 0 ? lca_val_new_strn(field, n) : lca_val_new_str(dflt);
}

/* Builds the envelope map; the payload is cloned because the map owns its children. */
static struct lca_val *envelope_of(const struct lca_command *c)
{
    struct lca_val *m = lca_val_new_map();

    lca_val_map_set(m, "command_id", lca_val_new_strn(c->command_id, 36));
    lca_val_map_set_str(m, "type", lca_catalog_cmd_name(c->type));
    lca_val_map_set(m, "correlation_id",
                    text_field(c->correlation_id, sizeof(c->correlation_id), c->command_id));
    lca_val_map_set(m, "reply_to",
                    text_field(c->reply_to, sizeof(c->reply_to), LCA_COMMAND_DEFAULT_REPLY_TO));
    if (c->token != NULL) {
        lca_val_map_set_str(m, "token", c->token);
    }
    lca_val_map_set(m, "payload",
                    c->payload != NULL ? lca_val_clone(c->payload) : lca_val_new_map());
    return m;
}

int lca_command_encode(const struct lca_command *c, uint8_t **out, size_t *len,
                       struct lca_err *err)
{
    struct lca_val *m;
    int rc;

    if (c == NULL || lca_catalog_cmd_name(c->type) == NULL ||
        !is_uuid(c->command_id, strnlen(c->command_id, sizeof(c->command_id))) ||
        (c->payload != NULL && lca_val_kind(c->payload) != LCA_VAL_MAP)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_command",
                           "command needs a known type, a UUID command_id and a map payload");
    }
    m = envelope_of(c);
    rc = lca_codec_encode(m, out, len, err);
    lca_val_free(m);
    return rc;
}
