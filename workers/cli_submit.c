/*
 * `ledgerca submit` — send one command over Kafka, wait for its reply, print it.
 *
 *   ledgerca submit [--bootstrap B] [--topic T] [--timeout 30s] [--token TOK]
 *                   (--type TYPE [--payload JSON] | --file CMD.json | -)
 *
 * With --type the envelope is built here: command_id is a fresh UUIDv4 (RAND_bytes),
 * correlation_id = command_id, reply_to = ledgerca.replies. With --file or - (stdin) the
 * file holds a whole envelope (JSON object); missing command_id / correlation_id / reply_to /
 * token are filled in the same way. The command goes out as JSON (content-type
 * application/json) keyed by its correlation id, on the topic of its type (issue, sign,
 * sign-verbatim -> ledgerca.commands.issue; revoke -> .revoke; others -> .admin; --topic
 * overrides). Before producing, the reply topic is tailed from its current end, so the
 * reply cannot be missed; the first message there keyed by the correlation id is the reply.
 * It is printed as indented JSON on stdout (msgpack replies are converted).
 *
 * Environment: LEDGERCA_KAFKA_BOOTSTRAP, LEDGERCA_TOKEN (flags win).
 * Exit: 0 reply status "ok"; 1 reply "rejected"/"error" or a Kafka/input failure;
 *       2 usage; 3 no reply within the timeout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "catalog.h"
#include "cli.h"
#include "codec.h"
#include "json.h"
#include "kafka.h"
#include "uuid.h"
#include "val.h"

#define SUBMIT_MAX_INPUT (1024 * 1024)
#define EXIT_REJECTED 1
#define EXIT_USAGE 2
#define EXIT_TIMEOUT 3

struct submit_opts {
    const char *bootstrap;
    const char *topic;    /* override, may be NULL */
    const char *suffix;   /* --topic-suffix: appended to the type's topic (may be NULL) */
    char topic_buf[192];  /* the type's topic with the suffix */
    const char *type;     /* --type */
    const char *payload;  /* --payload JSON text */
    const char *file;     /* --file path, or "-" for stdin */
    const char *token;
    long timeout_ms;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ledgerca submit [--bootstrap HOST:PORT] [--topic TOPIC] [--timeout 30s]\n"
            "                       [--token TOKEN] (--type TYPE [--payload JSON] | --file CMD.json | -)\n"
            "\n"
            "Sends one command over Kafka and prints its reply (indented JSON) on stdout.\n"
            "  --type TYPE       command type (issue, sign, revoke, rotate, role.write, ...);\n"
            "                    the envelope gets a new UUID command_id, correlation_id =\n"
            "                    command_id and reply_to = ledgerca.replies\n"
            "  --payload JSON    the command's payload object (default {})\n"
            "  --file F, -       read a whole envelope (JSON object) from F or stdin\n"
            "  --topic T         publish on T instead of the type's topic\n"
            "  --topic-suffix S  append S to the type's topic, e.g. .dc2 for cluster dc2's\n"
            "                    signers (env LEDGERCA_TOPIC_SUFFIX)\n"
            "  --timeout D       how long to wait for the reply: 500ms, 30s, 2m (default 30s)\n"
            "  --bootstrap B     Kafka bootstrap servers (env LEDGERCA_KAFKA_BOOTSTRAP)\n"
            "  --token T         authorization token (env LEDGERCA_TOKEN)\n"
            "Exit status: 0 ok, 1 rejected or error, 2 usage, 3 timeout.\n");
}

/* "500ms", "30s", "2m", "30" (seconds) -> milliseconds; -1 if malformed or over an hour. */
static long parse_duration(const char *s)
{
    char *end = NULL;
    long v = strtol(s, &end, 10), mult = 1000;

    if (end == s || v < 0) {
        return -1;
    }
    if (strcmp(end, "ms") == 0) {
        mult = 1;
    } else if (strcmp(end, "m") == 0) {
        mult = 60000;
    } else if (strcmp(end, "s") != 0 && *end != '\0') {
        return -1;
    }
    if (v > 3600000 / mult) {
        return -1;
    }
    return v * mult;
}

/* Fills o from argv; returns 0, or EXIT_USAGE after printing why (-1: --help printed). */
static int parse_args(int argc, char **argv, struct submit_opts *o)
{
    int i;

    memset(o, 0, sizeof(*o));
    o->bootstrap = getenv("LEDGERCA_KAFKA_BOOTSTRAP");
    o->token = getenv("LEDGERCA_TOKEN");
    o->suffix = getenv("LEDGERCA_TOPIC_SUFFIX");
    o->timeout_ms = 30000;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = strcmp(a, "--bootstrap") == 0 ? &o->bootstrap
                            : strcmp(a, "--topic") == 0   ? &o->topic
                            : strcmp(a, "--topic-suffix") == 0 ? &o->suffix
                            : strcmp(a, "--type") == 0    ? &o->type
                            : strcmp(a, "--payload") == 0 ? &o->payload
                            : strcmp(a, "--file") == 0    ? &o->file
                            : strcmp(a, "--token") == 0   ? &o->token
                                                          : NULL;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return -1;
        } else if (strcmp(a, "-") == 0) {
            o->file = "-";
        } else if (strcmp(a, "--timeout") == 0 && v != NULL) {
            o->timeout_ms = parse_duration(v);
            i++;
            if (o->timeout_ms <= 0) {
                fprintf(stderr, "ledgerca submit: bad --timeout '%s'\n", v);
                return EXIT_USAGE;
            }
        } else if (slot != NULL && v != NULL) {
            *slot = v;
            i++;
        } else {
            fprintf(stderr, "ledgerca submit: unexpected argument '%s'\n", a);
            return EXIT_USAGE;
        }
    }
    return 0;
}

static int check_opts(const struct submit_opts *o)
{
    if (o->bootstrap == NULL || o->bootstrap[0] == '\0') {
        fprintf(stderr, "ledgerca submit: no Kafka address (--bootstrap or "
                        "LEDGERCA_KAFKA_BOOTSTRAP)\n");
        return EXIT_USAGE;
    }
    if ((o->type != NULL) == (o->file != NULL) || (o->payload != NULL && o->type == NULL)) {
        fprintf(stderr, "ledgerca submit: give either --type [--payload] or --file/-\n");
        return EXIT_USAGE;
    }
    return 0;
}

/* Reads a file (or stdin for "-") of at most SUBMIT_MAX_INPUT bytes into a malloc'd buffer. */
static char *read_input(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *buf = f != NULL ? malloc(SUBMIT_MAX_INPUT + 1) : NULL;
    size_t n = 0;

    if (buf != NULL) {
        n = fread(buf, 1, SUBMIT_MAX_INPUT + 1, f);
        if (n > SUBMIT_MAX_INPUT || ferror(f)) {
            free(buf);
            buf = NULL;
        }
    }
    if (f != NULL && f != stdin) {
        fclose(f);
    }
    *len = n;
    return buf;
}

/* Decodes JSON text into a map (any other top-level value is bad input). */
static int decode_map(const char *text, size_t len, const char *what, struct lca_val **out)
{
    struct lca_err err;
    struct lca_val *v = NULL;

    if (lca_json_decode(text, len, NULL, &v, &err) != LCA_OK) {
        fprintf(stderr, "ledgerca submit: %s: %s: %s\n", what, err.code, err.msg);
        return LCA_FAIL;
    }
    if (lca_val_kind(v) != LCA_VAL_MAP) {
        fprintf(stderr, "ledgerca submit: %s must be a JSON object\n", what);
        lca_val_free(v);
        return LCA_FAIL;
    }
    *out = v;
    return LCA_OK;
}

/* The envelope as given by --type/--payload or read from --file/-, before defaults. */
static int load_envelope(const struct submit_opts *o, struct lca_val **out)
{
    struct lca_val *env = NULL, *payload = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (o->file != NULL) {
        text = read_input(o->file, &len);
        if (text == NULL) {
            fprintf(stderr, "ledgerca submit: cannot read %s (or larger than 1 MiB)\n", o->file);
            return LCA_FAIL;
        }
        rc = decode_map(text, len, o->file, out);
        free(text);
        return rc;
    }
    if (decode_map(o->payload != NULL ? o->payload : "{}",
                   strlen(o->payload != NULL ? o->payload : "{}"), "--payload", &payload) != LCA_OK) {
        return LCA_FAIL;
    }
    env = lca_val_new_map();
    if (env == NULL) {
        lca_val_free(payload);
        return LCA_FAIL;
    }
    lca_val_map_set_str(env, "type", o->type);
    lca_val_map_set(env, "payload", payload);
    *out = env;
    return LCA_OK;
}

/* Fills command_id, correlation_id, reply_to and token where the envelope lacks them. */
static int complete_envelope(const struct submit_opts *o, struct lca_val *env)
{
    char uuid[37];

    if (lca_val_map_get(env, "command_id") == NULL) {
        if (lca_uuid_v4(uuid) != LCA_OK) {
            fprintf(stderr, "ledgerca submit: no random bytes for a command id\n");
            return LCA_FAIL;
        }
        lca_val_map_set_str(env, "command_id", uuid);
    }
    if (lca_val_map_get(env, "correlation_id") == NULL &&
        lca_val_map_get_str(env, "command_id") != NULL) {
        lca_val_map_set_str(env, "correlation_id", lca_val_map_get_str(env, "command_id"));
    }
    if (lca_val_map_get(env, "reply_to") == NULL) {
        lca_val_map_set_str(env, "reply_to", LCA_KAFKA_TOPIC_REPLIES);
    }
    if (lca_val_map_get(env, "token") == NULL && o->token != NULL && o->token[0] != '\0') {
        lca_val_map_set_str(env, "token", o->token);
    }
    if (lca_val_map_get_str(env, "correlation_id") == NULL ||
        lca_val_map_get_str(env, "reply_to") == NULL || !lca_val_ok(env)) {
        fprintf(stderr, "ledgerca submit: correlation_id and reply_to must be strings\n");
        return LCA_FAIL;
    }
    return LCA_OK;
}

/* The topic for the envelope's type (or the override); NULL for an unknown type. */
static const char *command_topic(struct submit_opts *o, const struct lca_val *env)
{
    enum lca_cmd_type t = lca_catalog_cmd_from_name(lca_val_map_get_str(env, "type"));

    if (o->topic != NULL) {
        return o->topic;
    }
    if (t == LCA_CMD_NONE) {
        fprintf(stderr, "ledgerca submit: unknown or missing command type '%s'\n",
                lca_val_map_get_str(env, "type") != NULL ? lca_val_map_get_str(env, "type") : "");
        return NULL;
    }
    snprintf(o->topic_buf, sizeof(o->topic_buf), "%s%s",
             lca_catalog_topic_name(lca_catalog_cmd_topic(t)), o->suffix != NULL ? o->suffix : "");
    return o->topic_buf;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A transient Kafka failure that outlasted --timeout is reported as a timeout (exit 3), so a
 * caller can retry; anything else is a failure (exit 1). */
static int kafka_failed(const char *what, const struct lca_err *err)
{
    fprintf(stderr, "ledgerca submit: %s: %s (%s): %s\n", what, err->code,
            lca_err_class_name(err->cls), err->msg);
    return err->cls == LCA_ERR_RETRIABLE ? EXIT_TIMEOUT : EXIT_REJECTED;
}

/* Produces the JSON envelope, keyed by its correlation id, and waits for the delivery. */
static int send_command(const char *bootstrap, const char *topic, const char *corr,
                        const char *json, size_t len, int timeout_ms)
{
    struct lca_kheader ct = {"content-type", "application/json", 16};
    struct lca_kproducer *p = NULL;
    struct lca_err err;
    int rc = EXIT_REJECTED;

    if (lca_kproducer_new(bootstrap, NULL, &p, &err) != LCA_OK) {
        return kafka_failed("producer", &err);
    }
    if (lca_kproducer_send(p, topic, corr, strlen(corr), json, len, &ct, 1, &err) != LCA_OK ||
        lca_kproducer_flush(p, timeout_ms, &err) != LCA_OK) {
        rc = kafka_failed(topic, &err);
    } else {
        rc = 0;
    }
    lca_kproducer_free(p);
    return rc;
}

/* Decodes a reply (msgpack or JSON by its content type / first byte) into a tree. */
static int decode_reply(const struct lca_kmsg *m, struct lca_val **out)
{
    struct lca_err err;
    int json = m->has_content_type ? strcmp(m->content_type, "application/json") == 0
                                   : m->len > 0 && m->value[0] == '{';

    if (m->value == NULL) {
        return LCA_FAIL;
    }
    if (json) {
        return lca_json_decode((const char *)m->value, m->len, NULL, out, &err);
    }
    return lca_codec_decode(m->value, m->len, NULL, out, &err);
}

/* Polls the tail consumer until a message keyed corr arrives or the deadline passes.
 * Returns 0 with *reply set, EXIT_TIMEOUT, or EXIT_REJECTED on a Kafka failure. */
static int wait_reply(struct lca_kconsumer *c, const char *corr, int64_t deadline,
                      struct lca_val **reply)
{
    struct lca_kmsg msgs[64];
    struct lca_err err;
    size_t n = 0, i;
    int found = 0;

    while (!found && mono_ms() < deadline) {
        int64_t left = deadline - mono_ms();

        if (lca_kconsumer_poll_batch(c, 64, left > 500 ? 500 : (int)left, msgs, &n, &err) !=
            LCA_OK) {
            return kafka_failed("reply", &err);
        }
        for (i = 0; i < n && !found; i++) {
            if (msgs[i].key_len == strlen(corr) && memcmp(msgs[i].key, corr, msgs[i].key_len) == 0) {
                found = decode_reply(&msgs[i], reply) == LCA_OK;
                if (!found) {
                    fprintf(stderr, "ledgerca submit: undecodable reply at %s[%d]@%lld\n",
                            msgs[i].topic, (int)msgs[i].partition, (long long)msgs[i].offset);
                }
            }
        }
        lca_kconsumer_release(msgs, n);
    }
    if (!found) {
        fprintf(stderr, "ledgerca submit: no reply for %s within the timeout\n", corr);
        return EXIT_TIMEOUT;
    }
    return 0;
}

/* Prints the reply indented; returns the exit status its "status" field means. */
static int print_reply(const struct lca_val *reply)
{
    struct lca_err err;
    char *compact = NULL;
    size_t len = 0;
    json_t *j = NULL;
    const char *status = lca_val_map_get_str(reply, "status");

    if (lca_json_encode(reply, &compact, &len, &err) != LCA_OK) {
        return kafka_failed("reply encoding", &err);
    }
    j = json_loadb(compact, len, 0, NULL);
    if (j != NULL && json_dumpf(j, stdout, JSON_INDENT(2)) == 0) {
        fputc('\n', stdout);
    } else {
        printf("%s\n", compact);
    }
    json_decref(j);
    free(compact);
    return status != NULL && strcmp(status, "ok") == 0 ? 0 : EXIT_REJECTED;
}

/* Tails the reply topic, sends the command, waits for and prints the reply. */
static int round_trip(const struct submit_opts *o, const struct lca_val *env, const char *topic)
{
    int64_t deadline = mono_ms() + o->timeout_ms;
    const char *corr = lca_val_map_get_str(env, "correlation_id");
    struct lca_kconsumer *c = NULL;
    struct lca_val *reply = NULL;
    struct lca_err err;
    char *json = NULL;
    size_t len = 0;
    int rc;

    if (lca_json_encode(env, &json, &len, &err) != LCA_OK) {
        fprintf(stderr, "ledgerca submit: envelope: %s: %s\n", err.code, err.msg);
        return EXIT_REJECTED;
    }
    if (lca_kconsumer_new_tail(o->bootstrap, lca_val_map_get_str(env, "reply_to"),
                               (int)o->timeout_ms, NULL, &c, &err) != LCA_OK) {
        rc = kafka_failed("reply topic", &err);
    } else if ((rc = send_command(o->bootstrap, topic, corr, json, len, (int)o->timeout_ms)) == 0) {
        fprintf(stderr, "ledgerca submit: sent %s to %s, waiting for the reply\n", corr, topic);
        rc = wait_reply(c, corr, deadline, &reply);
        if (rc == 0) {
            rc = print_reply(reply);
        }
    }
    lca_val_free(reply);
    lca_kconsumer_free(c);
    OPENSSL_cleanse(json, len); /* it holds the token */
    free(json);
    return rc;
}

int lca_cli_submit(int argc, char **argv)
{
    struct submit_opts o;
    struct lca_val *env = NULL;
    const char *topic;
    int rc = parse_args(argc, argv, &o);

    if (rc != 0) {
        return rc < 0 ? 0 : rc;
    }
    if ((rc = check_opts(&o)) != 0) {
        usage(stderr);
        return rc;
    }
    lca_json_install_wiping_alloc(); /* envelopes carry the token */
    if (load_envelope(&o, &env) != LCA_OK || complete_envelope(&o, env) != LCA_OK ||
        (topic = command_topic(&o, env)) == NULL) {
        lca_val_free(env);
        return EXIT_USAGE;
    }
    rc = round_trip(&o, env, topic);
    lca_val_free(env);
    return rc;
}
