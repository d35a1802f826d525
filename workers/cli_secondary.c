/*
 * `ledgerca secondary init` — Consul's secondary-datacenter start-up (seeds 000/001) as three
 * commands over Kafka, each recorded in one of the two logs:
 *   1. intermediate.generate      -> the secondary (ledgerca.commands.admin<suffix>):
 *                                    a new key (wrapped into the secondary's ca_keys) and a CSR
 *   2. sign-intermediate           -> the primary (ledgerca.commands.admin<primary suffix>):
 *                                    the primary's root signs the CSR
 *   3. intermediate.set-signed     -> the secondary: the certificate and its chain become the
 *                                    secondary's default leaf-signing issuer
 * The secondary's signer runs with --secondary-of (which still accepts these two commands).
 * Prints one JSON object: the three command ids, the new issuer id, key id and certificate.
 * Exit: 0 all three ok; 1 a step was rejected or failed (the step is named on stderr);
 * 2 usage; 3 no reply within the timeout. The token travels only inside the envelopes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "cli.h"
#include "json.h"
#include "kafka.h"
#include "opts.h"
#include "uuid.h"
#include "val.h"

#define SEC_EXIT_FAIL 1
#define SEC_EXIT_USAGE 2
#define SEC_EXIT_TIMEOUT 3

struct sec {
    const char *bootstrap, *token, *cluster, *primary, *cn, *ttl, *key_type, *issuer_name;
    char suffix[80], primary_suffix[80];
    int key_bits;
    int timeout_ms;
    struct lca_kconsumer *replies;
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fail(const char *step, const struct lca_err *err)
{
    fprintf(stderr, "ledgerca secondary init: %s: %s: %s\n", step, err->code, err->msg);
    return err->cls == LCA_ERR_RETRIABLE ? SEC_EXIT_TIMEOUT : SEC_EXIT_FAIL;
}

static int send_envelope(const struct sec *s, const char *topic, const char *id,
                         const struct lca_val *env, struct lca_err *err)
{
    struct lca_kheader ct = {"content-type", "application/json", 16};
    struct lca_kproducer *p = NULL;
    char *json = NULL;
    size_t len = 0;
    int rc = LCA_FAIL;

    if (lca_json_encode(env, &json, &len, err) == LCA_OK &&
        lca_kproducer_new(s->bootstrap, NULL, &p, err) == LCA_OK &&
        lca_kproducer_send(p, topic, id, strlen(id), json, len, &ct, 1, err) == LCA_OK &&
        lca_kproducer_flush(p, s->timeout_ms, err) == LCA_OK) {
        rc = LCA_OK;
    }
    lca_kproducer_free(p);
    if (json != NULL) {
        OPENSSL_cleanse(json, len); /* it holds the token */
    }
    free(json);
    return rc;
}

/* Waits for the reply keyed id on the replies tail (opened before any command was sent). */
static int await(const struct sec *s, const char *id, struct lca_val **reply,
                 struct lca_err *err)
{
    int64_t deadline = now_ms() + s->timeout_ms;
    struct lca_kmsg msgs[64];
    size_t n = 0, i;

    while (*reply == NULL && now_ms() < deadline) {
        if (lca_kconsumer_poll_batch(s->replies, 64, 200, msgs, &n, err) != LCA_OK) {
            return LCA_FAIL;
        }
        for (i = 0; i < n && *reply == NULL; i++) {
            if (msgs[i].key_len == strlen(id) && memcmp(msgs[i].key, id, msgs[i].key_len) == 0 &&
                msgs[i].value != NULL &&
                lca_json_decode((const char *)msgs[i].value, msgs[i].len, NULL, reply, err) !=
                    LCA_OK) {
                *reply = NULL;
            }
        }
        lca_kconsumer_release(msgs, n);
    }
    return *reply != NULL ? LCA_OK
                          : lca_err_set(err, LCA_ERR_RETRIABLE, "timeout",
                                        "no reply for %s within the timeout", id);
}

/* One command: envelope, send, reply. payload is consumed. *result borrows from *reply. */
static int step(const struct sec *s, const char *suffix, const char *type,
                struct lca_val *payload, char id[37], struct lca_val **reply, int *exit_code)
{
    struct lca_val *env = lca_val_new_map();
    struct lca_err err;
    char topic[192];
    const char *status;

    lca_err_clear(&err);
    snprintf(topic, sizeof(topic), "%s%s", LCA_KAFKA_TOPIC_ADMIN, suffix);
    if (lca_uuid_v4(id) != LCA_OK) {
        lca_val_free(env);
        lca_val_free(payload);
        *exit_code = fail(type, &err);
        return LCA_FAIL;
    }
    lca_val_map_set_str(env, "command_id", id);
    lca_val_map_set_str(env, "correlation_id", id);
    lca_val_map_set_str(env, "reply_to", LCA_KAFKA_TOPIC_REPLIES);
    lca_val_map_set_str(env, "type", type);
    if (s->token != NULL) {
        lca_val_map_set_str(env, "token", s->token);
    }
    lca_val_map_set(env, "payload", payload);
    *reply = NULL;
    if (send_envelope(s, topic, id, env, &err) != LCA_OK || await(s, id, reply, &err) != LCA_OK) {
        lca_val_free(env);
        *exit_code = fail(type, &err);
        return LCA_FAIL;
    }
    lca_val_free(env);
    status = lca_val_map_get_str(*reply, "status");
    fprintf(stderr, "ledgerca secondary init: %s on %s: %s\n", type, topic,
            status != NULL ? status : "?");
    if (status == NULL || strcmp(status, "ok") != 0) {
        const struct lca_val *e = lca_val_map_get(*reply, "error");
        fprintf(stderr, "ledgerca secondary init: %s refused: %s: %s\n", type,
                lca_val_map_get_str(e, "code"), lca_val_map_get_str(e, "message"));
        *exit_code = SEC_EXIT_FAIL;
        return LCA_FAIL;
    }
    return LCA_OK;
}

static const struct lca_val *result(const struct lca_val *reply)
{
    return lca_val_map_get(reply, "result");
}

static int print_summary(char ids[3][37], const struct lca_val *gen,
                         const struct lca_val *set)
{
    struct lca_val *o = lca_val_new_map();
    struct lca_err err;
    char *json = NULL;
    size_t len = 0;

    lca_val_map_set_str(o, "generate_command_id", ids[0]);
    lca_val_map_set_str(o, "sign_command_id", ids[1]);
    lca_val_map_set_str(o, "set_signed_command_id", ids[2]);
    lca_val_map_set_str(o, "key_id", lca_val_map_get_str(result(gen), "key_id"));
    lca_val_map_set_str(o, "issuer_id", lca_val_map_get_str(result(set), "issuer_id"));
    lca_val_map_set_str(o, "root_id", lca_val_map_get_str(result(set), "root_id"));
    lca_val_map_set_str(o, "certificate", lca_val_map_get_str(result(set), "certificate"));
    if (lca_json_encode(o, &json, &len, &err) != LCA_OK) {
        lca_val_free(o);
        return fail("summary", &err);
    }
    printf("%s\n", json);
    free(json);
    lca_val_free(o);
    return 0;
}

static int round_trips(struct sec *s)
{
    struct lca_val *gen = NULL, *sig = NULL, *set = NULL, *p;
    const struct lca_val *chain;
    char ids[3][37];
    int rc = SEC_EXIT_FAIL;

    p = lca_val_new_map();
    lca_val_map_set_str(p, "common_name", s->cn);
    if (s->key_type != NULL) {
        lca_val_map_set_str(p, "key_type", s->key_type);
        lca_val_map_set_int(p, "key_bits", s->key_bits);
    }
    if (step(s, s->suffix, "intermediate.generate", p, ids[0], &gen, &rc) != LCA_OK) {
        goto out;
    }
    p = lca_val_new_map();
    lca_val_map_set_str(p, "csr", lca_val_map_get_str(result(gen), "csr"));
    lca_val_map_set_str(p, "common_name", s->cn);
    lca_val_map_set_str(p, "ttl", s->ttl);
    if (step(s, s->primary_suffix, "sign-intermediate", p, ids[1], &sig, &rc) != LCA_OK) {
        goto out;
    }
    p = lca_val_new_map();
    lca_val_map_set_str(p, "certificate", lca_val_map_get_str(result(sig), "certificate"));
    chain = lca_val_map_get(result(sig), "ca_chain");
    lca_val_map_set(p, "ca_chain", chain != NULL ? lca_val_clone(chain) : lca_val_new_arr());
    if (s->issuer_name != NULL) {
        lca_val_map_set_str(p, "issuer_name", s->issuer_name);
    }
    if (step(s, s->suffix, "intermediate.set-signed", p, ids[2], &set, &rc) != LCA_OK) {
        goto out;
    }
    rc = print_summary(ids, gen, set);
out:
    lca_val_free(gen);
    lca_val_free(sig);
    lca_val_free(set);
    return rc;
}

static int run_init(int argc, char **argv)
{
    struct lca_opt opts[] = {
        {"--bootstrap", "LEDGERCA_KAFKA_BOOTSTRAP", 0, "Kafka bootstrap servers", NULL},
        {"--token", "LEDGERCA_TOKEN", 0, "Operator token (valid on both clusters)", NULL},
        {"--cluster", "LEDGERCA_CLUSTER", 0, "this secondary's cluster id, e.g. dc2", NULL},
        {"--primary", "LEDGERCA_PRIMARY", 0, "the primary's cluster id (default dc1)", "dc1"},
        {"--topic-suffix", "LEDGERCA_TOPIC_SUFFIX", 0, "this cluster's suffix (default .<cluster>)", NULL},
        {"--primary-topic-suffix", NULL, 0, "the primary's suffix (default .<primary>)", NULL},
        {"--common-name", NULL, 0, "CN of the intermediate (default ledgerca <cluster> Signing CA)", NULL},
        {"--ttl", NULL, 0, "validity asked of the primary (default 8760h)", "8760h"},
        {"--key-type", NULL, 0, "ec, rsa or ed25519 (default: the CA configuration's)", NULL},
        {"--key-bits", NULL, 0, "key size for --key-type", "0"},
        {"--issuer-name", NULL, 0, "issuer_name of the imported issuer", NULL},
        {"--timeout", NULL, 0, "seconds to wait for each reply (default 60)", "60"},
        {NULL, NULL, 0, NULL, NULL},
    };
    struct sec s;
    struct lca_err err;
    char cn[128];
    int rc = lca_opts_parse(argc, argv, opts, "ledgerca secondary init --cluster dc2 [options]");

    if (rc != 0) {
        return rc == 1 ? 0 : SEC_EXIT_USAGE;
    }
    if (opts[0].value == NULL || opts[2].value == NULL || strcmp(opts[2].value, opts[3].value) == 0) {
        fprintf(stderr, "ledgerca secondary init: --bootstrap and --cluster (not the primary) are required\n");
        return SEC_EXIT_USAGE;
    }
    memset(&s, 0, sizeof(s));
    s.bootstrap = opts[0].value;
    s.token = opts[1].value;
    s.cluster = opts[2].value;
    s.primary = opts[3].value;
    snprintf(s.suffix, sizeof(s.suffix), "%s", opts[4].value != NULL ? opts[4].value : "");
    snprintf(s.primary_suffix, sizeof(s.primary_suffix), "%s",
             opts[5].value != NULL ? opts[5].value : "");
    if (opts[4].value == NULL) {
        snprintf(s.suffix, sizeof(s.suffix), ".%.70s", s.cluster);
    }
    if (opts[5].value == NULL) {
        snprintf(s.primary_suffix, sizeof(s.primary_suffix), ".%.70s", s.primary);
    }
    snprintf(cn, sizeof(cn), "ledgerca %.40s Signing CA", s.cluster);
    s.cn = opts[6].value != NULL ? opts[6].value : cn;
    s.ttl = opts[7].value;
    s.key_type = opts[8].value;
    s.key_bits = (int)strtol(opts[9].value, NULL, 10);
    s.issuer_name = opts[10].value;
    s.timeout_ms = (int)strtol(opts[11].value, NULL, 10) * 1000;
    s.timeout_ms = s.timeout_ms > 0 ? s.timeout_ms : 60000;
    lca_json_install_wiping_alloc(); /* envelopes carry the token */
    lca_err_clear(&err);
    if (lca_kconsumer_new_tail(s.bootstrap, LCA_KAFKA_TOPIC_REPLIES, s.timeout_ms, NULL,
                               &s.replies, &err) != LCA_OK) {
        return fail("reply topic", &err);
    }
    rc = round_trips(&s);
    lca_kconsumer_free(s.replies);
    return rc;
}

int lca_cli_secondary(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "init") == 0) {
        return run_init(argc - 1, argv + 1);
    }
    fprintf(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr,
            "usage: ledgerca secondary init --cluster dc2 [--primary dc1] [options]\n"
            "  intermediate.generate on the secondary, sign-intermediate on the primary,\n"
            "  intermediate.set-signed on the secondary (Consul's secondary datacenter);\n"
            "  `ledgerca secondary init --help` lists the options\n");
    return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : SEC_EXIT_USAGE;
}
