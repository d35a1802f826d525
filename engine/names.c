/*
 * names — see names.h. The matching order in lca_names_allowed follows Vault's PKI
 * ValidateNames so that the same role admits the same names: email split, wildcard checks,
 * hostname syntax, allow_any_name, localhost, then allowed_domains (bare, subdomain, glob).
 */
#include "names.h"

#include <arpa/inet.h>
#include <string.h>

#define NAMES_MAX_LABEL 63
#define NAMES_MAX_NAME 253

static char fold_char(char c, int fold)
{
    if (fold && c >= 'A' && c <= 'Z') {
        return (char)(c - 'A' + 'a');
    }
    return c;
}

static int eq_n(const char *a, const char *b, size_t n, int fold)
{
    for (size_t i = 0; i < n; i++) {
        if (fold_char(a[i], fold) != fold_char(b[i], fold)) {
            return 0;
        }
    }
    return 1;
}

static int eq_str(const char *a, const char *b, int fold)
{
    size_t n = strlen(a);
    return n == strlen(b) && eq_n(a, b, n, fold);
}

/* First occurrence of needle[0..n) in hay, or NULL. */
static const char *find_n(const char *hay, const char *needle, size_t n, int fold)
{
    size_t hl = strlen(hay);
    for (size_t i = 0; i + n <= hl; i++) {
        if (eq_n(hay + i, needle, n, fold)) {
            return hay + i;
        }
    }
    return NULL;
}

static int ends_with(const char *s, const char *suffix, int fold)
{
    size_t sl = strlen(s), xl = strlen(suffix);
    return sl >= xl && eq_n(s + sl - xl, suffix, xl, fold);
}

/* Leftmost-first matching of the '*'-separated parts; the last part must end the subject
 * unless the pattern ends in '*'. Equivalent to full glob matching for '*'-only patterns. */
static int glob_impl(const char *pat, const char *subj, int fold)
{
    size_t plen = strlen(pat);
    if (plen == 0) {
        return *subj == '\0';
    }
    if (strchr(pat, '*') == NULL) {
        return eq_str(pat, subj, fold);
    }
    int leading = pat[0] == '*', trailing = pat[plen - 1] == '*';
    const char *p = pat, *s = subj;
    for (int first = 1;; first = 0) {
        const char *star = strchr(p, '*');
        if (star == NULL) {
            return trailing || ends_with(s, p, fold);
        }
        size_t n = (size_t)(star - p);
        const char *at = find_n(s, p, n, fold);
        if ((first && !leading && at != s) || at == NULL) {
            return 0;
        }
        s = at + n;
        p = star + 1;
    }
}

int lca_names_glob(const char *pattern, const char *subject)
{
    return pattern != NULL && subject != NULL && glob_impl(pattern, subject, 0);
}

int lca_names_glob_fold(const char *pattern, const char *subject)
{
    return pattern != NULL && subject != NULL && glob_impl(pattern, subject, 1);
}

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 1123 label: [A-Za-z0-9] or [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]; empty allowed only
 * when allow_empty (the two sides of a partial wildcard label). */
static int label_ok(const char *l, size_t n, int allow_empty)
{
    if (n == 0) {
        return allow_empty;
    }
    if (n > NAMES_MAX_LABEL || !is_alnum(l[0]) || !is_alnum(l[n - 1])) {
        return 0;
    }
    for (size_t i = 1; i + 1 < n; i++) {
        if (!is_alnum(l[i]) && l[i] != '-') {
            return 0;
        }
    }
    return 1;
}

int lca_names_is_hostname(const char *s)
{
    if (s == NULL) {
        return 0;
    }
    size_t n = strlen(s);
    if (n > 0 && s[n - 1] == '.') {
        n--;
    }
    if (n == 0 || n > NAMES_MAX_NAME) {
        return 0;
    }
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (!label_ok(s + start, i - start, 0)) {
                return 0;
            }
            start = i + 1;
        }
    }
    return 1;
}

/* A left-most wildcard label: exactly one '*' with a (possibly empty) label on each side. */
static int wild_label_ok(const char *l, size_t n)
{
    const char *star = memchr(l, '*', n);
    if (star == NULL || n > NAMES_MAX_LABEL) {
        return 0;
    }
    size_t k = (size_t)(star - l);
    if (memchr(star + 1, '*', n - k - 1) != NULL) {
        return 0;
    }
    return label_ok(l, k, 1) && label_ok(star + 1, n - k - 1, 1);
}

int lca_names_is_dns(const char *s)
{
    if (s == NULL) {
        return 0;
    }
    if (strchr(s, '*') == NULL) {
        return lca_names_is_hostname(s);
    }
    const char *dot = strchr(s, '.');
    return dot != NULL && wild_label_ok(s, (size_t)(dot - s)) && lca_names_is_hostname(dot + 1);
}

int lca_names_is_ip(const char *s)
{
    unsigned char buf[16];
    if (s == NULL) {
        return 0;
    }
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* reduced ends with "." + d (case-sensitive, as Vault's strings.HasSuffix). */
static int dot_suffix(const char *reduced, const char *d)
{
    size_t rl = strlen(reduced), dl = strlen(d);
    return rl > dl && reduced[rl - dl - 1] == '.' && memcmp(reduced + rl - dl, d, dl) == 0;
}

/* The parts of a requested name, as Vault splits them. */
struct split_name {
    const char *name;    /* as requested */
    const char *reduced; /* host part without email local part and wildcard label */
    const char *domain;  /* host part of an email address (== name otherwise) */
    const char *wild;    /* wildcard label, wild_len bytes (is_wild only) */
    size_t wild_len;
    int is_email, is_wild;
};

/* Splits name; 0 when it is malformed as an email or wildcard, or p refuses wildcards. */
static int split(const struct lca_names_policy *p, const char *name, struct split_name *out)
{
    memset(out, 0, sizeof(*out));
    out->name = out->reduced = out->domain = name;
    const char *at = strchr(name, '@');
    if (at != NULL) {
        if (strchr(at + 1, '@') != NULL) {
            return 0;
        }
        out->reduced = out->domain = at + 1;
        out->is_email = 1;
    }
    if (strchr(out->reduced, '*') == NULL) {
        return 1;
    }
    out->is_wild = 1;
    const char *star = strchr(out->reduced, '*');
    if (!p->allow_wildcard || strchr(star + 1, '*') != NULL) {
        return 0;
    }
    const char *dot = strchr(out->reduced, '.');
    out->wild = out->reduced;
    out->wild_len = dot != NULL ? (size_t)(dot - out->reduced) : strlen(out->reduced);
    out->reduced = dot != NULL ? dot + 1 : out->reduced + out->wild_len;
    return strchr(out->reduced, '*') == NULL && !out->is_email;
}

static int localhost_ok(const struct lca_names_policy *p, const struct split_name *n)
{
    static const char *const hosts[] = {"localhost", "localdomain"};
    for (size_t i = 0; i < 2; i++) {
        int exact = strcmp(n->reduced, hosts[i]) == 0;
        if (exact || (n->is_email && strcmp(n->domain, hosts[i]) == 0)) {
            return 1;
        }
        if (p->allow_subdomains && (dot_suffix(n->reduced, hosts[i]) || (n->is_wild && exact))) {
            return 1;
        }
    }
    return 0;
}

static int domain_ok(const struct lca_names_policy *p, const struct split_name *n, const char *d)
{
    if (p->allow_bare_domains &&
        (eq_str(n->name, d, 1) || (n->is_email && eq_str(n->domain, d, 1)))) {
        return 1;
    }
    if (p->allow_subdomains &&
        (dot_suffix(n->reduced, d) || (n->is_wild && eq_str(n->reduced, d, 1)))) {
        return 1;
    }
    return p->allow_glob_domains && strchr(d, '*') != NULL && glob_impl(d, n->name, 1);
}

int lca_names_allowed(const struct lca_names_policy *p, const char *name)
{
    struct split_name n;
    if (p == NULL || name == NULL || !split(p, name, &n)) {
        return 0;
    }
    if (p->enforce_hostnames && *n.reduced != '\0') {
        if (!lca_names_is_hostname(n.reduced) ||
            (n.is_wild && !wild_label_ok(n.wild, n.wild_len))) {
            return 0;
        }
    }
    if (p->allow_any_name) {
        return 1;
    }
    if (p->allow_localhost && localhost_ok(p, &n)) {
        return 1;
    }
    for (size_t i = 0; i < p->n_domains; i++) {
        const char *d = p->domains[i];
        if (d != NULL && *d != '\0' && domain_ok(p, &n, d)) {
            return 1;
        }
    }
    return 0;
}
