/*
 * ledgerca tls — offline CA ceremony and recovery tools (seeds 000/001 "recovering from
 * expired certificates", seed 003 "be careful with root CAs"), with the flags and file names
 * of `consul tls ca create` and `consul tls cert create`, plus sign-intermediate and
 * cross-sign for an offline root. Keys are written 0600 and never printed.
 *
 *   ledgerca tls ca create   [-common-name CN] [-days 1825] [-domain consul] [-cluster-id ID]
 *                            [-key-type ec|rsa|ed25519] [-key-bits N] [-name-constraint]
 *                            [-additional-name-constraint D]...
 *   ledgerca tls cert create (-server|-client|-cli) [-ca F] [-key F] [-dc dc1] [-domain consul]
 *                            [-days 365] [-node N] [-additional-dnsname D]...
 *                            [-additional-ipaddress IP]... [-additional-uri U]... [-key-type T]
 *   ledgerca tls ca sign-intermediate -csr F [-ca F] [-key F] [-days 365] [-out F]
 *                            [-permitted-dns-domain D]... [-path-len N]
 *   ledgerca tls ca cross-sign -cert F [-ca F] [-key F] [-days N] [-out F]
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "cert.h"
#include "cli.h"
#include "csr.h"
#include "key.h"

#define MAX_MULTI 32

struct tls_opts {
    const char *common_name, *domain, *cluster_id, *ca, *key, *dc, *node, *csr, *cert, *out;
    const char *key_type;
    int days, key_bits, server, client, cli, name_constraint, path_len;
    const char *dns[MAX_MULTI], *ips[MAX_MULTI], *uris[MAX_MULTI], *constraints[MAX_MULTI];
    size_t n_dns, n_ips, n_uris, n_constraints;
};

static int fail(const char *fmt, ...) LCA_PRINTF(1, 2);

static int fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "==> ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return 1;
}

static int push(const char **arr, size_t *n, const char *v)
{
    if (*n == MAX_MULTI) {
        return -1;
    }
    arr[(*n)++] = v;
    return 0;
}

/* Flags as Go's flag package takes them: -name value, --name value, -name=value. */
static int parse_flags(int argc, char **argv, struct tls_opts *o)
{
    static const struct {
        const char *name;
        size_t off;
    } strs[] = {
#define S(n, f) {n, offsetof(struct tls_opts, f)}
        S("common-name", common_name), S("domain", domain), S("cluster-id", cluster_id),
        S("ca", ca), S("key", key), S("dc", dc), S("node", node), S("csr", csr),
        S("cert", cert), S("out", out), S("key-type", key_type),
#undef S
    };
    int i;
    size_t j;

    for (i = 0; i < argc; i++) {
        char *a = argv[i], *val = NULL, name[64];
        const char *eq;
        while (*a == '-') {
            a++;
        }
        if (a == argv[i]) {
            return fail("unexpected argument '%s'", argv[i]);
        }
        eq = strchr(a, '=');
        snprintf(name, sizeof(name), "%.*s", eq != NULL ? (int)(eq - a) : (int)strlen(a), a);
        if (strcmp(name, "server") == 0 || strcmp(name, "client") == 0 ||
            strcmp(name, "cli") == 0 || strcmp(name, "name-constraint") == 0) {
            int *flag = name[0] == 's' ? &o->server
                        : strcmp(name, "client") == 0 ? &o->client
                        : strcmp(name, "cli") == 0    ? &o->cli
                                                      : &o->name_constraint;
            *flag = eq == NULL || strcmp(eq + 1, "true") == 0;
            continue;
        }
        if (eq != NULL) {
            val = (char *)eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            return fail("flag needs an argument: -%s", name);
        }
        for (j = 0; j < sizeof(strs) / sizeof(strs[0]); j++) {
            if (strcmp(name, strs[j].name) == 0) {
                *(const char **)((char *)o + strs[j].off) = val;
                break;
            }
        }
        if (j < sizeof(strs) / sizeof(strs[0])) {
            continue;
        }
        if (strcmp(name, "days") == 0 || strcmp(name, "key-bits") == 0 ||
            strcmp(name, "path-len") == 0) {
            char *end;
            long v = strtol(val, &end, 10);
            if (*end != '\0' || v < 0 || v > 36500) {
                return fail("invalid number for -%s", name);
            }
            *(name[0] == 'd' ? &o->days : name[0] == 'k' ? &o->key_bits : &o->path_len) = (int)v;
        } else if (strcmp(name, "additional-dnsname") == 0 ? push(o->dns, &o->n_dns, val) == 0
                   : strcmp(name, "additional-ipaddress") == 0 ? push(o->ips, &o->n_ips, val) == 0
                   : strcmp(name, "additional-uri") == 0       ? push(o->uris, &o->n_uris, val) == 0
                   : (strcmp(name, "additional-name-constraint") == 0 ||
                      strcmp(name, "permitted-dns-domain") == 0)
                       ? push(o->constraints, &o->n_constraints, val) == 0
                       : 0) {
            continue;
        } else {
            return fail("flag provided but not defined: -%s", name);
        }
    }
    return 0;
}

static int write_file(const char *path, const char *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    ssize_t w;

    if (fd < 0) {
        if (errno == EEXIST) {
            return fail("File '%s' already exists", path);
        }
        return fail("cannot create '%s'", path);
    }
    w = write(fd, data, len);
    if (w < 0 || (size_t)w != len || fsync(fd) != 0) {
        close(fd);
        unlink(path);
        return fail("cannot write '%s'", path);
    }
    close(fd);
    printf("==> Saved %s\n", path);
    return 0;
}

static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL) {
        return fail("cannot read '%s'", path);
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > (1 << 20) ||
        fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)n + 1)) == NULL) {
        fclose(f);
        return fail("cannot read '%s' (too large?)", path);
    }
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        return fail("cannot read '%s'", path);
    }
    fclose(f);
    buf[n] = '\0';
    *out = buf;
    *len = (size_t)n;
    return 0;
}

static int random_serial(uint8_t serial[17])
{
    serial[0] = 0x01; /* positive, full length; 128 random bits follow */
    return RAND_bytes(serial + 1, 16) == 1 ? 0 : fail("%s", "RNG failure");
}

static int report(struct lca_err *err)
{
    return fail("%s", err->msg);
}

/* Writes cert PEM (0644) and key PEM (0600). */
static int save_pair(const char *cert_path, X509 *cert, const char *key_path, EVP_PKEY *key)
{
    char *pem = NULL, *kpem = NULL;
    size_t len = 0, klen = 0;
    struct lca_err err;
    int rc = 1;

    lca_err_clear(&err);
    if (lca_cert_to_pem(cert, &pem, &len, &err) != LCA_OK ||
        (key != NULL && lca_key_private_to_pem(key, &kpem, &klen, &err) != LCA_OK)) {
        rc = report(&err);
        goto out;
    }
    if (write_file(cert_path, pem, len, 0644) != 0) {
        goto out;
    }
    if (key != NULL && write_file(key_path, kpem, klen, 0600) != 0) {
        unlink(cert_path);
        goto out;
    }
    rc = 0;
out:
    free(pem);
    lca_key_pem_free(kpem, klen);
    return rc;
}

static int gen_key(const struct tls_opts *o, EVP_PKEY **out)
{
    struct lca_keyspec spec;
    struct lca_err err;

    lca_err_clear(&err);
    if (lca_key_spec_parse(o->key_type != NULL ? o->key_type : "ec", o->key_bits, &spec, &err) !=
            LCA_OK ||
        lca_key_generate(&spec, out, &err) != LCA_OK) {
        return report(&err);
    }
    return 0;
}

static int ca_create(struct tls_opts *o)
{
    struct lca_cert_req req;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    uint8_t serial[17];
    char cn[128], cert_path[512], key_path[512], uri[300];
    const char *uris[1];
    int rc = 1;
    struct lca_err err;

    lca_err_clear(&err);
    if (random_serial(serial) != 0 || gen_key(o, &key) != 0) {
        goto out;
    }
    snprintf(cn, sizeof(cn), "Consul Agent CA %u", (unsigned)(serial[1] << 8 | serial[2]));
    snprintf(cert_path, sizeof(cert_path), "%s-agent-ca.pem", o->domain);
    snprintf(key_path, sizeof(key_path), "%s-agent-ca-key.pem", o->domain);
    memset(&req, 0, sizeof(req));
    req.common_name = o->common_name != NULL ? o->common_name : cn;
    if (o->cluster_id != NULL) {
        snprintf(uri, sizeof(uri), "spiffe://%s.%s", o->cluster_id, o->domain);
        uris[0] = uri;
        req.uris = uris;
        req.n_uri = 1;
    }
    if (o->name_constraint) { /* Consul: permit the domain, localhost and the extras */
        push(o->constraints, &o->n_constraints, o->domain);
        push(o->constraints, &o->n_constraints, "localhost");
    }
    req.permitted_dns_domains = o->constraints;
    req.n_permitted = o->n_constraints;
    req.not_before = (int64_t)time(NULL) - 60;
    req.not_after = (int64_t)time(NULL) + (int64_t)o->days * 86400;
    req.serial = serial;
    req.serial_len = sizeof(serial);
    req.is_ca = 1;
    req.path_len = -1;
    if (lca_cert_self_sign(key, &req, &cert, &err) != LCA_OK) {
        rc = report(&err);
        goto out;
    }
    rc = save_pair(cert_path, cert, key_path, key);
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

/* Loads the CA certificate and key named by -ca/-key (Consul's #DOMAIN# defaults). */
static int load_ca(const struct tls_opts *o, X509 **cert, EVP_PKEY **key)
{
    char cpath[512], kpath[512], *buf = NULL;
    size_t len = 0;
    struct lca_err err;
    int rc = 1;

    lca_err_clear(&err);
    snprintf(cpath, sizeof(cpath), "%s", o->ca != NULL ? o->ca : "");
    snprintf(kpath, sizeof(kpath), "%s", o->key != NULL ? o->key : "");
    if (o->ca == NULL) {
        snprintf(cpath, sizeof(cpath), "%s-agent-ca.pem", o->domain);
    }
    if (o->key == NULL) {
        snprintf(kpath, sizeof(kpath), "%s-agent-ca-key.pem", o->domain);
    }
    if (read_file(cpath, &buf, &len) != 0) {
        return 1;
    }
    if (lca_cert_from_pem(buf, len, cert, &err) != LCA_OK) {
        free(buf);
        return report(&err);
    }
    free(buf);
    if (read_file(kpath, &buf, &len) != 0) {
        goto out;
    }
    if (lca_key_private_from_pem(buf, len, key, &err) != LCA_OK) {
        rc = report(&err);
        goto out;
    }
    printf("==> Using %s and %s\n", cpath, kpath);
    rc = 0;
out:
    if (buf != NULL) {
        OPENSSL_cleanse(buf, len);
        free(buf);
    }
    if (rc != 0) {
        X509_free(*cert);
        *cert = NULL;
    }
    return rc;
}

static int signer_from(const struct tls_opts *o, struct lca_cert_signer **s)
{
    X509 *ca = NULL;
    EVP_PKEY *key = NULL;
    struct lca_err err;
    int rc = 0;

    lca_err_clear(&err);
    if (load_ca(o, &ca, &key) != 0) {
        return 1;
    }
    if (lca_cert_signer_new(ca, key, s, &err) != LCA_OK) {
        rc = report(&err);
    }
    X509_free(ca);
    EVP_PKEY_free(key);
    return rc;
}

static int cert_create(struct tls_opts *o)
{
    const char *kind = o->server ? "server" : o->client ? "client" : "cli";
    struct lca_cert_signer *s = NULL;
    struct lca_cert_req req;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    uint8_t serial[17], *spki = NULL;
    size_t spki_len = 0;
    char name[300], cert_path[512], key_path[512];
    struct lca_err err;
    int rc = 1, n;

    lca_err_clear(&err);
    if (o->server + o->client + o->cli != 1) {
        return fail("%s", "Please provide either -server, -client, or -cli");
    }
    if (o->server) {
        snprintf(name, sizeof(name), "%s%s%s.%s.%s", o->node != NULL ? o->node : "",
                 o->node != NULL ? "." : "", "server", o->dc, o->domain);
    } else {
        snprintf(name, sizeof(name), "%s.%s.%s", o->client ? "client" : "cli.client", o->dc,
                 o->domain);
    }
    for (n = 0; n < 10000; n++) { /* the first free index, as Consul does */
        snprintf(cert_path, sizeof(cert_path), "%s-%s-%s-%d.pem", o->dc, kind, o->domain, n);
        if (access(cert_path, F_OK) != 0) {
            break;
        }
    }
    snprintf(key_path, sizeof(key_path), "%s-%s-%s-%d-key.pem", o->dc, kind, o->domain, n);
    if (push(o->dns, &o->n_dns, name) != 0 || push(o->dns, &o->n_dns, "localhost") != 0 ||
        (!o->cli && push(o->ips, &o->n_ips, "127.0.0.1") != 0)) {
        return fail("%s", "too many names");
    }
    if (signer_from(o, &s) != 0 || random_serial(serial) != 0 || gen_key(o, &key) != 0 ||
        lca_key_spki_der(key, &spki, &spki_len, &err) != LCA_OK) {
        rc = err.cls != LCA_ERR_NONE ? report(&err) : 1;
        goto out;
    }
    memset(&req, 0, sizeof(req));
    req.common_name = name;
    req.dns_names = o->dns;
    req.n_dns = o->n_dns;
    req.ip_addrs = o->ips;
    req.n_ip = o->n_ips;
    req.uris = o->uris;
    req.n_uri = o->n_uris;
    req.not_before = (int64_t)time(NULL) - 60;
    req.not_after = (int64_t)time(NULL) + (int64_t)o->days * 86400;
    req.serial = serial;
    req.serial_len = sizeof(serial);
    req.path_len = -1;
    req.ext_key_usage = o->cli ? LCA_EKU_CLIENT_AUTH : LCA_EKU_SERVER_AUTH | LCA_EKU_CLIENT_AUTH;
    if (lca_cert_sign(s, &req, spki, spki_len, &cert, &err) != LCA_OK) {
        rc = report(&err);
        goto out;
    }
    rc = save_pair(cert_path, cert, key_path, key);
out:
    free(spki);
    X509_free(cert);
    EVP_PKEY_free(key);
    lca_cert_signer_free(s);
    return rc;
}

static int sign_intermediate(struct tls_opts *o)
{
    struct lca_cert_signer *s = NULL;
    struct lca_csr *csr = NULL;
    struct lca_cert_req req;
    X509 *cert = NULL;
    uint8_t serial[17];
    const uint8_t *spki;
    size_t spki_len = 0, len = 0;
    char *buf = NULL, out[512];
    struct lca_err err;
    int rc = 1;

    lca_err_clear(&err);
    if (o->csr == NULL) {
        return fail("%s", "-csr is required");
    }
    if (read_file(o->csr, &buf, &len) != 0) {
        return 1;
    }
    if (lca_csr_parse((const uint8_t *)buf, len, &csr, &err) != LCA_OK) {
        rc = report(&err);
        goto out;
    }
    if (signer_from(o, &s) != 0 || random_serial(serial) != 0) {
        goto out;
    }
    memset(&req, 0, sizeof(req));
    req.common_name = lca_csr_common_name(csr);
    req.not_before = (int64_t)time(NULL) - 60;
    req.not_after = (int64_t)time(NULL) + (int64_t)o->days * 86400;
    req.serial = serial;
    req.serial_len = sizeof(serial);
    req.is_ca = 1;
    req.path_len = o->path_len;
    req.permitted_dns_domains = o->constraints;
    req.n_permitted = o->n_constraints;
    spki = lca_csr_spki(csr, &spki_len);
    if (lca_cert_sign(s, &req, spki, spki_len, &cert, &err) != LCA_OK) {
        rc = report(&err);
        goto out;
    }
    snprintf(out, sizeof(out), "%s", o->out != NULL ? o->out : "intermediate.pem");
    rc = save_pair(out, cert, NULL, NULL);
out:
    free(buf);
    X509_free(cert);
    lca_csr_free(csr);
    lca_cert_signer_free(s);
    return rc;
}

static int cross_sign(struct tls_opts *o)
{
    struct lca_cert_signer *s = NULL;
    X509 *target = NULL, *cert = NULL;
    uint8_t serial[17];
    char *buf = NULL, out[512];
    size_t len = 0;
    int64_t now = (int64_t)time(NULL), na;
    struct lca_err err;
    int rc = 1;

    lca_err_clear(&err);
    if (o->cert == NULL) {
        return fail("%s", "-cert (the certificate to cross-sign) is required");
    }
    if (read_file(o->cert, &buf, &len) != 0) {
        return 1;
    }
    if (lca_cert_from_pem(buf, len, &target, &err) != LCA_OK) {
        rc = report(&err);
        goto out;
    }
    if (signer_from(o, &s) != 0 || random_serial(serial) != 0) {
        goto out;
    }
    na = o->days > 0 ? now + (int64_t)o->days * 86400 : lca_cert_not_after(target);
    if (lca_cert_resign(s, target, serial, sizeof(serial), now - 60, na, NULL, &cert, &err) !=
        LCA_OK) {
        rc = report(&err);
        goto out;
    }
    snprintf(out, sizeof(out), "%s", o->out != NULL ? o->out : "cross-signed.pem");
    rc = save_pair(out, cert, NULL, NULL);
out:
    free(buf);
    X509_free(target);
    X509_free(cert);
    lca_cert_signer_free(s);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ledgerca tls ca create [-common-name CN] [-days 1825] [-domain consul]\n"
            "                              [-cluster-id ID] [-key-type ec|rsa|ed25519] [-key-bits N]\n"
            "                              [-name-constraint] [-additional-name-constraint D]...\n"
            "       ledgerca tls cert create -server|-client|-cli [-ca FILE] [-key FILE] [-dc dc1]\n"
            "                              [-domain consul] [-days 365] [-node NAME]\n"
            "                              [-additional-dnsname D]... [-additional-ipaddress IP]...\n"
            "                              [-additional-uri URI]... [-key-type T] [-key-bits N]\n"
            "       ledgerca tls ca sign-intermediate -csr FILE [-ca FILE] [-key FILE] [-days 365]\n"
            "                              [-permitted-dns-domain D]... [-path-len N] [-out FILE]\n"
            "       ledgerca tls ca cross-sign -cert FILE [-ca FILE] [-key FILE] [-days N] [-out FILE]\n"
            "\nFiles are never overwritten; private keys are written with mode 0600.\n");
}

int lca_cli_tls(int argc, char **argv)
{
    struct tls_opts o;
    const char *what;

    memset(&o, 0, sizeof(o));
    o.domain = "consul";
    o.dc = "dc1";
    o.path_len = 0;
    if (argc < 3 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 3 && !(argc == 2 && strstr(argv[1], "-h") != NULL) ? stderr : stdout);
        return argc < 3 && !(argc == 2 && strstr(argv[1], "-h") != NULL) ? 2 : 0;
    }
    if (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0 ||
        (argc > 3 && (strcmp(argv[3], "--help") == 0 || strcmp(argv[3], "-h") == 0))) {
        usage(stdout);
        return 0;
    }
    what = argv[2];
    if (parse_flags(argc - 3, argv + 3, &o) != 0) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "ca") == 0 && strcmp(what, "create") == 0) {
        o.days = o.days > 0 ? o.days : 1825;
        return ca_create(&o);
    }
    if (strcmp(argv[1], "cert") == 0 && strcmp(what, "create") == 0) {
        o.days = o.days > 0 ? o.days : 365;
        return cert_create(&o);
    }
    if (strcmp(argv[1], "ca") == 0 && strcmp(what, "sign-intermediate") == 0) {
        o.days = o.days > 0 ? o.days : 365;
        return sign_intermediate(&o);
    }
    if (strcmp(argv[1], "ca") == 0 && strcmp(what, "cross-sign") == 0) {
        return cross_sign(&o);
    }
    fprintf(stderr, "ledgerca tls: unknown subcommand '%s %s'\n", argv[1], what);
    usage(stderr);
    return 2;
}
