#include "osslenv.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "cert.h"
#include "key.h"

#define KEK_LEN 32
#define KEK_READ_MAX 80 /* longest valid file is 66 bytes; read a bit more to detect junk */

struct stored_key {
    char *id;      /* owned, NUL-terminated */
    EVP_PKEY *key; /* one reference owned */
};

struct lca_osslenv {
    struct lca_env env;
    struct stored_key *keys;
    size_t nkeys;
    size_t cap;
    int (*persist)(void *ctx, const char *key_id, EVP_PKEY *key, struct lca_err *err);
    void *persist_ctx;
    int (*load)(void *ctx, const char *key_id, EVP_PKEY **key, struct lca_err *err);
    void *load_ctx;
};

static int ossl_now(void *ctx, int64_t *out, struct lca_err *err)
{
    struct timespec ts;

    (void)ctx;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        return lca_err_set(err, LCA_ERR_FATAL, "clock", "clock_gettime failed: %s",
                           strerror(errno));
    }
    *out = (int64_t)ts.tv_sec;
    return LCA_OK;
}

static int ossl_random(void *ctx, uint8_t *buf, size_t len, struct lca_err *err)
{
    (void)ctx;
    if (len > INT_MAX) {
        return lca_err_set(err, LCA_ERR_FATAL, "random", "random request of %zu bytes", len);
    }
    if (len > 0 && RAND_priv_bytes(buf, (int)len) != 1) {
        return lca_err_ossl(err, LCA_ERR_FATAL, "random", "RAND_priv_bytes failed");
    }
    return LCA_OK;
}

static int ossl_keygen(void *ctx, const struct lca_keyspec *spec, EVP_PKEY **out,
                       struct lca_err *err)
{
    (void)ctx;
    return lca_key_generate(spec, out, err);
}

static struct stored_key *find_key(struct lca_osslenv *oe, const char *id)
{
    size_t i;

    for (i = 0; i < oe->nkeys; i++) {
        if (strcmp(oe->keys[i].id, id) == 0) {
            return &oe->keys[i];
        }
    }
    return NULL;
}

/* Appends (id, key) taking a new reference on key; FATAL on allocation failure. */
static int store_key(struct lca_osslenv *oe, const char *id, EVP_PKEY *key, struct lca_err *err)
{
    struct stored_key *grown;
    size_t cap;
    char *copy;

    if (oe->nkeys == oe->cap) {
        cap = oe->cap == 0 ? 8 : oe->cap * 2;
        grown = realloc(oe->keys, cap * sizeof(*grown));
        if (grown == NULL) {
            return lca_err_set(err, LCA_ERR_FATAL, "oom", "cannot grow key store");
        }
        oe->keys = grown;
        oe->cap = cap;
    }
    copy = strdup(id);
    if (copy == NULL || EVP_PKEY_up_ref(key) != 1) {
        free(copy);
        return lca_err_set(err, LCA_ERR_FATAL, "oom", "cannot store key");
    }
    oe->keys[oe->nkeys].id = copy;
    oe->keys[oe->nkeys].key = key;
    oe->nkeys++;
    return LCA_OK;
}

static int ossl_key_put(void *ctx, const char *id, EVP_PKEY *key, struct lca_err *err)
{
    struct lca_osslenv *oe = ctx;
    struct stored_key *have;

    if (id == NULL || id[0] == '\0' || key == NULL) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_key", "key_put needs a key id and a key");
    }
    have = find_key(oe, id);
    if (have != NULL) {
        if (EVP_PKEY_eq(have->key, key) == 1) {
            return LCA_OK;
        }
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "key_conflict",
                           "a different key is already stored under id %.80s", id);
    }
    if (store_key(oe, id, key, err) != LCA_OK) {
        return LCA_FAIL;
    }
    if (oe->persist != NULL && oe->persist(oe->persist_ctx, id, key, err) != LCA_OK) {
        oe->nkeys--;
        free(oe->keys[oe->nkeys].id);
        EVP_PKEY_free(oe->keys[oe->nkeys].key);
        return LCA_FAIL;
    }
    return LCA_OK;
}

static int ossl_key_get(void *ctx, const char *id, EVP_PKEY **out, struct lca_err *err)
{
    struct lca_osslenv *oe = ctx;
    struct stored_key *have = id != NULL ? find_key(oe, id) : NULL;
    EVP_PKEY *loaded = NULL;

    if (have == NULL && id != NULL && oe->load != NULL) {
        if (oe->load(oe->load_ctx, id, &loaded, err) != LCA_OK) {
            return LCA_FAIL;
        }
        if (store_key(oe, id, loaded, err) != LCA_OK) {
            EVP_PKEY_free(loaded);
            return LCA_FAIL;
        }
        EVP_PKEY_free(loaded); /* the store holds its own reference */
        have = find_key(oe, id);
    }
    if (have == NULL) {
        return lca_err_set(err, LCA_ERR_FATAL, "key_missing", "no key with id %.80s",
                           id != NULL ? id : "(null)");
    }
    *out = have->key;
    return LCA_OK;
}

struct lca_osslenv *lca_osslenv_new(void)
{
    struct lca_osslenv *oe = calloc(1, sizeof(*oe));

    if (oe == NULL) {
        return NULL;
    }
    oe->env.ctx = oe;
    oe->env.now = ossl_now;
    oe->env.random = ossl_random;
    oe->env.keygen = ossl_keygen;
    oe->env.key_put = ossl_key_put;
    oe->env.key_get = ossl_key_get;
    if ((oe->env.signers = lca_cert_signer_cache_new()) == NULL) {
        free(oe);
        return NULL;
    }
    return oe;
}

void lca_osslenv_free(struct lca_osslenv *oe)
{
    size_t i;

    if (oe == NULL) {
        return;
    }
    lca_cert_signer_cache_free(oe->env.signers); /* its signers hold key references */
    for (i = 0; i < oe->nkeys; i++) {
        free(oe->keys[i].id);
        EVP_PKEY_free(oe->keys[i].key); /* OpenSSL wipes key material on free */
    }
    free(oe->keys);
    OPENSSL_cleanse(oe, sizeof(*oe));
    free(oe);
}

struct lca_env *lca_osslenv_env(struct lca_osslenv *oe)
{
    return oe != NULL ? &oe->env : NULL;
}

void lca_osslenv_set_persist(struct lca_osslenv *oe,
                             int (*persist)(void *ctx, const char *key_id, EVP_PKEY *key,
                                            struct lca_err *err),
                             void *ctx)
{
    if (oe == NULL) {
        return;
    }
    oe->persist = persist;
    oe->persist_ctx = persist != NULL ? ctx : NULL;
}

void lca_osslenv_set_loader(struct lca_osslenv *oe,
                            int (*load)(void *ctx, const char *key_id, EVP_PKEY **key,
                                        struct lca_err *err),
                            void *ctx)
{
    oe->load = load;
    oe->load_ctx = load != NULL ? ctx : NULL;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Decodes 64 hex digits into out; 1 on success, 0 on a non-hex character. */
static int unhex(const uint8_t *in, uint8_t out[KEK_LEN])
{
    size_t i;
    int hi;
    int lo;

    for (i = 0; i < KEK_LEN; i++) {
        hi = hexval(in[2 * i]);
        lo = hexval(in[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return 0;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 1;
}

/* Interprets the file contents buf[0..n): raw 32 bytes, or hex with an optional newline. */
static int parse_kek(const uint8_t *buf, size_t n, uint8_t out[KEK_LEN])
{
    if (n == KEK_LEN) {
        memcpy(out, buf, KEK_LEN);
        return 1;
    }
    if (n == 2 * KEK_LEN || (n == 2 * KEK_LEN + 1 && buf[64] == '\n') ||
        (n == 2 * KEK_LEN + 2 && buf[64] == '\r' && buf[65] == '\n')) {
        return unhex(buf, out);
    }
    return 0;
}

/* Opens path and checks it is a regular file that only its owner can read or write. */
static int open_kek(const char *path, struct lca_err *err)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "kek_read", "cannot open KEK file %s: %s",
                           path, strerror(errno));
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "kek_read", "KEK file %s is not a regular file",
                           path);
    }
    if ((st.st_mode & 077) != 0) {
        close(fd);
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "kek_mode",
                           "KEK file %s has mode %03o: group/others must have no access "
                           "(chmod 600 or 400)",
                           path, (unsigned int)(st.st_mode & 0777));
    }
    return fd;
}

/* Reads at most cap bytes from fd into buf; returns the count or -1. */
static ssize_t read_all(int fd, uint8_t *buf, size_t cap)
{
    size_t n = 0;
    ssize_t r;

    while (n < cap) {
        r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return -1;
        }
        if (r == 0) {
            break;
        }
        n += (size_t)r;
    }
    return (ssize_t)n;
}

int lca_osslenv_load_kek(const char *path, uint8_t kek[32], struct lca_err *err)
{
    uint8_t buf[KEK_READ_MAX];
    uint8_t out[KEK_LEN];
    ssize_t n;
    int fd;
    int rc = LCA_FAIL;

    if (path == NULL || path[0] == '\0') {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "kek_read",
                           "no KEK file given (set LEDGERCA_KEK_FILE)");
    }
    fd = open_kek(path, err);
    if (fd < 0) {
        return LCA_FAIL;
    }
    n = read_all(fd, buf, sizeof(buf));
    close(fd);
    if (n < 0) {
        lca_err_set(err, LCA_ERR_BAD_INPUT, "kek_read", "cannot read KEK file %s: %s", path,
                    strerror(errno));
    } else if (!parse_kek(buf, (size_t)n, out)) {
        lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_kek",
                    "KEK file %s must hold 32 raw bytes or 64 hex digits (+ newline); "
                    "it has %s%zd bytes%s",
                    path, n == KEK_READ_MAX ? "at least " : "", n,
                    n >= 64 && n <= 66 ? ", with a character that is not a hex digit" : "");
    } else {
        memcpy(kek, out, KEK_LEN);
        rc = LCA_OK;
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    OPENSSL_cleanse(out, sizeof(out));
    return rc;
}
