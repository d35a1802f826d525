/*
 * names — hostname, wildcard, glob and IP helpers behind the role name policy (engine/role.h).
 *
 * These mirror the matching rules of Vault's PKI engine so a role written for Vault admits the
 * same names here:
 *   - a hostname is RFC 1123 syntax: labels of [A-Za-z0-9-] that neither start nor end with
 *     '-', 1..63 octets each, at most 253 octets in all, one optional trailing dot. ASCII only:
 *     internationalised names must arrive as A-labels (no IDNA mapping is done here);
 *   - a wildcard DNS name (RFC 6125 section 6.4.3) has exactly one '*', in the left-most label,
 *     as the whole label ("*.example.com") or next to label characters ("foo*.example.com",
 *     "*foo.example.com", "f*o.example.com");
 *   - globs are shell-style with '*' only, and '*' also matches dots (Vault's allowed_domains
 *     with allow_glob_domains, allowed_uri_sans).
 * Pure functions, no allocation, thread-safe.
 */
#ifndef LCA_NAMES_H
#define LCA_NAMES_H

#include <stddef.h>

/* The name half of a role (all borrowed). Flags are 0/1. */
struct lca_names_policy {
    int allow_localhost;       /* "localhost", "localdomain" (subdomains: allow_subdomains) */
    int allow_bare_domains;    /* a name equal to an allowed domain */
    int allow_subdomains;      /* any-depth subdomain of an allowed domain, wildcards included */
    int allow_glob_domains;    /* allowed domains containing '*' are globs */
    int allow_any_name;        /* any name, still subject to the two checks below */
    int allow_wildcard;        /* 0: any name containing '*' is refused, even with allow_any_name */
    int enforce_hostnames;     /* the host part must be a valid hostname */
    const char *const *domains; /* allowed_domains; empty strings are skipped */
    size_t n_domains;
};

/* Vault's name check for one DNS name or email address ("user@host": the host part is
 * checked, email plus wildcard is refused). Returns 1 when p admits name, else 0. */
int lca_names_allowed(const struct lca_names_policy *p, const char *name);

/* Shell-style glob with '*' only ('*' matches any run, dots included). Case-sensitive.
 * A pattern without '*' must equal the subject. Returns 1 on match. */
int lca_names_glob(const char *pattern, const char *subject);

/* As lca_names_glob, ignoring ASCII case. */
int lca_names_glob_fold(const char *pattern, const char *subject);

/* 1 when s is a hostname as described above. */
int lca_names_is_hostname(const char *s);

/* 1 when s is a hostname or a wildcard DNS name (the syntax Vault demands of every
 * requested DNS SAN). */
int lca_names_is_dns(const char *s);

/* 1 when s is a textual IPv4 (dotted quad) or IPv6 address. */
int lca_names_is_ip(const char *s);

#endif
