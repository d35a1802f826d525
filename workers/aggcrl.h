/*
 * aggcrl — the aggregator's CRL side: one unified CRL per issuer, signed by that issuer, and
 * the CRL files (README "Multi-cluster").
 *
 * The unified CRL of issuer I lists the union of every cluster's revocations of I's
 * certificates (agg_revocations, sql/010_federation.sql), a serial once (earliest revocation
 * time), expired certificates dropped (RFC 5280 section 3.3). It is signed with I's own key,
 * unwrapped under the KEK from `ca_keys` of the aggregator's database (the primary cluster's:
 * issuers shared by several clusters live there), and carries its own strictly increasing CRL
 * number (agg_unified_crls) taken from a range of its own: LCA_AGGCRL_NUMBER_BASE + 1, + 2, ...,
 * so it never repeats a number of a cluster's own CRL of I (those count from 1), and a relying
 * party that orders I's CRLs by number (RFC 5280 section 5.2.3) prefers the unified one, a
 * superset of every cluster's. With url_base set, it also carries a critical
 * issuingDistributionPoint naming "<url_base>/v1/pki/issuer/<id>/unified-crl/der" (section
 * 5.2.5), a scope of its own; but then section 6.3.3 (b)(2) lets it cover only certificates
 * whose cRLDistributionPoints name that URL (OpenSSL: "different CRL scope"), so it is off by
 * default. Issuers whose key is not in this database get no unified CRL (logged once, looked up
 * again every 2 s): their clusters' own CRLs are still served.
 *
 * Files under crl_dir, each written atomically (temporary file, fsync, rename):
 *   unified/<issuer_id>.crl and .pem      the unified CRL
 *   clusters/<cluster>/<issuer_id>.crl    each cluster's own latest CRL (from CrlPublished)
 * Thread: the aggregator's thread (the PGconn is the store's).
 */
#ifndef LCA_AGGCRL_H
#define LCA_AGGCRL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "pgstore.h"

struct lca_aggcrl;

/* Unified CRL numbers are LCA_AGGCRL_NUMBER_BASE + 1, + 2, ... (2^40: a cluster's own numbers,
 * one per CRL it publishes, never get there). */
#define LCA_AGGCRL_NUMBER_BASE ((uint64_t)1 << 40)

/* kek (32 bytes) is copied and wiped by _free. crl_dir may be NULL (no files). url_base: NULL or
 * "" for no issuingDistributionPoint, else see above.
 * next_update_s: validity of a unified CRL. *out set only on success. */
int lca_aggcrl_new(struct lca_pgstore *store, const uint8_t kek[32], const char *crl_dir,
                   const char *url_base, int64_t next_update_s, struct lca_aggcrl **out,
                   struct lca_err *err) LCA_MUST_USE;
void lca_aggcrl_free(struct lca_aggcrl *a);

/* Builds and stores (own transaction) the unified CRL of every issuer whose revocations changed
 * since its last one, that has none yet, or whose CRL is past half its validity; writes its
 * files. now: Unix seconds. *built (may be NULL) gets how many were built. */
int lca_aggcrl_rebuild(struct lca_aggcrl *a, int64_t now, size_t *built,
                       struct lca_err *err) LCA_MUST_USE;

/* Writes clusters/<cluster>/<issuer_id>.crl (no-op without crl_dir). */
int lca_aggcrl_write_cluster(struct lca_aggcrl *a, const char *cluster, const char *issuer_id,
                             const uint8_t *der, size_t len, struct lca_err *err) LCA_MUST_USE;

/* Rewrites every file from the tables (start-up: repairs a crash between commit and write). */
int lca_aggcrl_sync_files(struct lca_aggcrl *a, struct lca_err *err) LCA_MUST_USE;

#endif
