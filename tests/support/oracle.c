/*
 * oracle — run openssl, certtool, zlint and pkilint on our output (see oracle.h).
 */
#include "oracle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ORACLE_OUT_MAX 16384

/* zlint lint sources that apply to a private CA (the CA/Browser Forum, Mozilla, Apple and
 * ETSI policies govern publicly trusted web PKI: e.g. they require AIA in every leaf and a
 * 398-day limit, which a service-mesh CA does not follow). */
#define ZLINT_SOURCES "RFC5280,RFC5480,RFC5891,RFC8813,Community"

#define TMP_FILES 32

struct tmpdir {
    char path[64];
    char files[TMP_FILES][128];
    int nfiles;
};

static int fail(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    if (why != NULL && whylen > 0) {
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int tmp_open(struct tmpdir *t)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->path, sizeof(t->path), "/tmp/lca-oracle-XXXXXX");
    return mkdtemp(t->path) != NULL ? 0 : -1;
}

/* Writes text (may be NULL: then nothing is written and NULL returned) to dir/name. */
static const char *tmp_write(struct tmpdir *t, const char *name, const char *text)
{
    char *path;
    FILE *f;

    if (text == NULL || text[0] == '\0' || t->nfiles >= TMP_FILES) {
        return NULL;
    }
    path = t->files[t->nfiles];
    snprintf(path, sizeof(t->files[0]), "%s/%s", t->path, name);
    f = fopen(path, "w");
    if (f == NULL) {
        return NULL;
    }
    fputs(text, f);
    fclose(f);
    t->nfiles++;
    return path;
}

static void tmp_close(struct tmpdir *t)
{
    int i;

    for (i = 0; i < t->nfiles; i++) {
        unlink(t->files[i]);
    }
    rmdir(t->path);
}

/* Finds an executable on PATH (or the given absolute fallback); 0 if found. */
static int find_tool(const char *name, const char *fallback, char *out, size_t outlen)
{
    const char *path = getenv("PATH");
    char dir[512];
    const char *p, *e;
    size_t n;

    for (p = path; p != NULL && *p != '\0'; p = *e != '\0' ? e + 1 : e) {
        e = strchr(p, ':');
        if (e == NULL) {
            e = p + strlen(p);
        }
        n = (size_t)(e - p) < sizeof(dir) - 1 ? (size_t)(e - p) : sizeof(dir) - 1;
        memcpy(dir, p, n);
        dir[n] = '\0';
        snprintf(out, outlen, "%s/%s", dir, name);
        if (access(out, X_OK) == 0) {
            return 0;
        }
    }
    if (fallback != NULL && access(fallback, X_OK) == 0) {
        snprintf(out, outlen, "%s", fallback);
        return 0;
    }
    return -1;
}

/* Runs cmd (stderr folded into stdout); returns the exit status, output in out. */
static int run(const char *cmd, char *out, size_t outlen)
{
    char full[4096];
    FILE *p;
    size_t n = 0, r;
    int st;

    snprintf(full, sizeof(full), "%s 2>&1", cmd);
    p = popen(full, "r");
    if (p == NULL) {
        snprintf(out, outlen, "popen failed");
        return -1;
    }
    while (n + 1 < outlen && (r = fread(out + n, 1, outlen - 1 - n, p)) > 0) {
        n += r;
    }
    out[n] = '\0';
    while (fgetc(p) != EOF) {
        /* drain */
    }
    st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int verify_openssl(const char *leaf, const char *chain, const char *roots,
                          const char *crl, char *why, size_t whylen)
{
    char tool[512], cmd[4096], out[ORACLE_OUT_MAX];
    int rc;

    if (find_tool("openssl", NULL, tool, sizeof(tool)) != 0) {
        return fail(why, whylen, "oracle tool missing: openssl");
    }
    snprintf(cmd, sizeof(cmd), "%s verify -x509_strict -CAfile %s%s%s%s%s %s", tool, roots,
             chain != NULL ? " -untrusted " : "", chain != NULL ? chain : "",
             crl != NULL ? " -crl_check -CRLfile " : "", crl != NULL ? crl : "", leaf);
    rc = run(cmd, out, sizeof(out));
    if (rc != 0 || strstr(out, ": OK") == NULL) {
        return fail(why, whylen, "openssl verify rejected (%d): %s", rc, out);
    }
    return 0;
}

static int verify_certtool(const char *leafchain, const char *roots, const char *crl,
                           char *why, size_t whylen)
{
    char tool[512], cmd[4096], out[ORACLE_OUT_MAX];
    int rc;

    if (find_tool("certtool", NULL, tool, sizeof(tool)) != 0) {
        return fail(why, whylen, "oracle tool missing: certtool (gnutls-bin)");
    }
    snprintf(cmd, sizeof(cmd), "%s --verify --load-ca-certificate %s --infile %s%s%s", tool,
             roots, leafchain, crl != NULL ? " --load-crl " : "", crl != NULL ? crl : "");
    rc = run(cmd, out, sizeof(out));
    if (rc != 0 || strstr(out, "Chain verification output: Verified") == NULL) {
        return fail(why, whylen, "certtool --verify rejected (%d): %s", rc, out);
    }
    return 0;
}

/* Writes each PEM certificate of pem to its own file (prefix0.pem, prefix1.pem, ...) and
 * appends " <flag> -a <file>" per certificate to args. Returns the count, -1 on failure. */
static int split_pem(struct tmpdir *t, const char *prefix, const char *pem, const char *flag,
                     char *args, size_t argslen)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----", end[] = "-----END CERTIFICATE-----";
    const char *p = pem, *e;
    char name[32], *one;
    const char *path;
    int n = 0;
    size_t used;

    while (p != NULL && (p = strstr(p, begin)) != NULL && (e = strstr(p, end)) != NULL) {
        e += sizeof(end) - 1;
        if ((one = malloc((size_t)(e - p) + 2)) == NULL) {
            return -1;
        }
        memcpy(one, p, (size_t)(e - p));
        memcpy(one + (e - p), "\n", 2);
        snprintf(name, sizeof(name), "%s%d.pem", prefix, n);
        path = tmp_write(t, name, one);
        free(one);
        used = strlen(args);
        if (path == NULL || used + strlen(path) + 16 >= argslen) {
            return -1;
        }
        snprintf(args + used, argslen - used, " %s-a %s", flag, path);
        n++;
        p = e;
    }
    return n;
}

/* 1 when a certificate in PEM file f has an Ed25519 key or signature (NSS 3.87 verifies no
 * Ed25519), 0 when none has, -1 when openssl cannot read it. */
static int has_ed25519(const char *openssl, const char *f)
{
    char cmd[1024], out[ORACLE_OUT_MAX * 4];

    snprintf(cmd, sizeof(cmd), "%s storeutl -noout -text -certs %s", openssl, f);
    if (run(cmd, out, sizeof(out)) != 0) {
        return -1;
    }
    return strstr(out, "ED25519") != NULL || strstr(out, "Ed25519") != NULL;
}

/* NSS's usage for the certificate in file leaf: any CA for a CA, else server or client TLS
 * from its extended key usage (server when it has none). */
static int nss_usage(const char *openssl, const char *leaf, int *usage)
{
    char cmd[1024], out[ORACLE_OUT_MAX];

    snprintf(cmd, sizeof(cmd), "%s x509 -noout -ext basicConstraints,extendedKeyUsage -in %s",
             openssl, leaf);
    if (run(cmd, out, sizeof(out)) != 0) {
        return -1;
    }
    if (strstr(out, "CA:TRUE") != NULL) {
        *usage = 11;
    } else if (strstr(out, "Extended Key Usage") == NULL ||
               strstr(out, "TLS Web Server Authentication") != NULL) {
        *usage = 1;
    } else if (strstr(out, "TLS Web Client Authentication") != NULL) {
        *usage = 0;
    } else if (strstr(out, "E-mail Protection") != NULL) {
        *usage = 4;
    } else if (strstr(out, "Code Signing") != NULL) {
        *usage = 6;
    } else {
        *usage = 1;
    }
    return 0;
}

/* NSS vfychain (libpkix, -pp): the leaf, the untrusted chain, the roots as explicit anchors. */
static int verify_nss(struct tmpdir *t, const char *leaf, const char *leafchain,
                      const char *roots, const char *leaf_pem, const char *chain_pem,
                      const char *roots_pem, char *why, size_t whylen)
{
    char tool[512], ossl[512], args[3072] = "", cmd[4096], out[ORACLE_OUT_MAX];
    int rc, usage = 1;

    if (find_tool("vfychain", NULL, tool, sizeof(tool)) != 0) {
        return fail(why, whylen, "oracle tool missing: vfychain (libnss3-tools)");
    }
    if (find_tool("openssl", NULL, ossl, sizeof(ossl)) != 0) {
        return fail(why, whylen, "oracle tool missing: openssl");
    }
    if (split_pem(t, "nss-leaf", leaf_pem, "", args, sizeof(args)) != 1 ||
        (chain_pem != NULL && split_pem(t, "nss-chain", chain_pem, "", args, sizeof(args)) < 0) ||
        split_pem(t, "nss-root", roots_pem, "-t ", args, sizeof(args)) < 1) {
        return fail(why, whylen, "oracle: cannot split the PEM input for vfychain");
    }
    rc = has_ed25519(ossl, leafchain);
    rc = rc == 0 ? has_ed25519(ossl, roots) : rc;
    if (rc == 1) {
        return 0; /* Ed25519: NSS cannot judge it; openssl and certtool have */
    }
    if (rc < 0 || nss_usage(ossl, leaf, &usage) != 0) {
        return fail(why, whylen, "oracle: openssl cannot read the input for vfychain");
    }
    snprintf(cmd, sizeof(cmd), "%s -pp -u %d%s", tool, usage, args);
    rc = run(cmd, out, sizeof(out));
    if (rc != 0 || strstr(out, "Chain is good!") == NULL) {
        return fail(why, whylen, "NSS vfychain rejected (%d): %s", rc, out);
    }
    return 0;
}

int lca_oracle_verify(const char *leaf_pem, const char *untrusted_chain_pem,
                      const char *trusted_roots_pem, const char *crl_pem, char *why,
                      size_t whylen)
{
    struct tmpdir t;
    const char *leaf, *chain, *roots, *crl, *both;
    char *joined;
    size_t n1, n2;
    int rc = -1;

    if (leaf_pem == NULL || trusted_roots_pem == NULL) {
        return fail(why, whylen, "oracle: leaf and roots required");
    }
    if (tmp_open(&t) != 0) {
        return fail(why, whylen, "oracle: mkdtemp failed");
    }
    n1 = strlen(leaf_pem);
    n2 = untrusted_chain_pem != NULL ? strlen(untrusted_chain_pem) : 0;
    joined = malloc(n1 + n2 + 2);
    if (joined != NULL) {
        memcpy(joined, leaf_pem, n1);
        joined[n1] = '\n';
        memcpy(joined + n1 + 1, n2 > 0 ? untrusted_chain_pem : "", n2);
        joined[n1 + 1 + n2] = '\0';
    }
    leaf = tmp_write(&t, "leaf.pem", leaf_pem);
    chain = tmp_write(&t, "chain.pem", untrusted_chain_pem);
    roots = tmp_write(&t, "roots.pem", trusted_roots_pem);
    crl = tmp_write(&t, "crl.pem", crl_pem);
    both = tmp_write(&t, "leafchain.pem", joined);
    if (leaf == NULL || roots == NULL || both == NULL) {
        rc = fail(why, whylen, "oracle: writing temporary files failed");
    } else if (verify_openssl(leaf, chain, roots, crl, why, whylen) == 0 &&
               verify_certtool(both, roots, crl, why, whylen) == 0 &&
               (crl != NULL ||
                verify_nss(&t, leaf, both, roots, leaf_pem, untrusted_chain_pem,
                           trusted_roots_pem, why, whylen) == 0)) {
        rc = 0;
    }
    free(joined);
    tmp_close(&t);
    return rc;
}

/* Scans zlint's JSON ({"lint_name":{"result":"pass"|"warn"|...,"details":...},...}) for
 * results of the given kind; appends "name " for each to list. Returns the count. */
static int zlint_count(const char *json, const char *kind, char *list, size_t listlen)
{
    char needle[64];
    const char *p = json, *name_end, *name;
    int count = 0;
    size_t used;

    snprintf(needle, sizeof(needle), "{\"result\":\"%s\"", kind);
    while ((p = strstr(p, needle)) != NULL) {
        name_end = p - 2; /* ...name":{"result... */
        name = name_end;
        while (name > json && name[-1] != '"') {
            name--;
        }
        used = strlen(list);
        if (name_end >= name && used + (size_t)(name_end - name) + 2 < listlen) {
            snprintf(list + used, listlen - used, "%.*s ", (int)(name_end - name), name);
        }
        count++;
        p += strlen(needle);
    }
    return count;
}

int lca_oracle_lint(const char *cert_pem, char *why, size_t whylen)
{
    struct tmpdir t;
    char tool[512], home_tool[512], cmd[4096], out[4 * ORACLE_OUT_MAX], bad[2048] = "",
                                                                        soft[2048] = "";
    const char *f, *home = getenv("HOME");
    int rc, nbad;

    snprintf(home_tool, sizeof(home_tool), "%s/go/bin/zlint", home != NULL ? home : "/root");
    if (find_tool("zlint", home_tool, tool, sizeof(tool)) != 0) {
        return fail(why, whylen, "oracle tool missing: zlint (~/go/bin/zlint or PATH)");
    }
    if (tmp_open(&t) != 0) {
        return fail(why, whylen, "oracle: mkdtemp failed");
    }
    f = tmp_write(&t, "cert.pem", cert_pem);
    snprintf(cmd, sizeof(cmd), "%s -includeSources %s %s", tool, ZLINT_SOURCES,
             f != NULL ? f : "/nonexistent");
    rc = run(cmd, out, sizeof(out));
    tmp_close(&t);
    if (rc != 0 || strstr(out, "\"result\"") == NULL) {
        return fail(why, whylen, "zlint failed to run (%d): %.400s", rc, out);
    }
    nbad = zlint_count(out, "error", bad, sizeof(bad)) + zlint_count(out, "fatal", bad, sizeof(bad));
    if (zlint_count(out, "warn", soft, sizeof(soft)) + zlint_count(out, "notice", soft, sizeof(soft)) > 0) {
        fprintf(stderr, "zlint warn/notice: %s\n", soft);
    }
    if (nbad > 0) {
        return fail(why, whylen, "zlint error/fatal: %s", bad);
    }
    return 0;
}

int lca_oracle_lint_crl(const char *crl_pem, char *why, size_t whylen)
{
    struct tmpdir t;
    char tool[512], cmd[4096], out[ORACLE_OUT_MAX];
    const char *f;
    int rc;

    if (find_tool("lint_crl", NULL, tool, sizeof(tool)) != 0) {
        return fail(why, whylen, "oracle tool missing: lint_crl (pkilint)");
    }
    if (tmp_open(&t) != 0) {
        return fail(why, whylen, "oracle: mkdtemp failed");
    }
    f = tmp_write(&t, "crl.pem", crl_pem);
    snprintf(cmd, sizeof(cmd), "%s lint -t CRL -p PKIX -s ERROR --document-format PEM %s", tool,
             f != NULL ? f : "/nonexistent");
    rc = run(cmd, out, sizeof(out));
    tmp_close(&t);
    /* lint_crl prints nothing and exits 0 when no finding reaches the threshold. */
    if (rc != 0 || strstr(out, "ERROR") != NULL || strstr(out, "FATAL") != NULL) {
        return fail(why, whylen, "pkilint lint_crl (%d): %.2000s", rc, out);
    }
    return 0;
}
