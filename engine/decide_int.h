/*
 * decide_int — helpers shared by the decide_*.c files (not part of the engine's API).
 * decide.c holds the dispatch table and these helpers; decide_ca.c the CA lifecycle
 * commands (bootstrap, config.update, rotate, cross-sign, reissue, issuer.update,
 * sign-intermediate); decide_leaf.c the leaf and housekeeping commands.
 */
#ifndef LCA_DECIDE_INT_H
#define LCA_DECIDE_INT_H

#include <stdint.h>

#include "cert.h"
#include "decide.h"

#define LCA_SERIAL_LEN 17 /* 0x01 || 16 CSPRNG bytes: 128 random bits, positive INTEGER */

/* Command handler: fills d (events + result) or records a rejection in it. */
typedef int (*lca_decide_fn)(const struct lca_state *st, const struct lca_command *cmd,
                             struct lca_env *env, struct lca_decision *d, struct lca_err *err);

/* Appends an event (takes ownership of payload, even on failure). */
int lca_decide_emit(struct lca_decision *d, enum lca_evt_type type, struct lca_val *payload,
                    struct lca_err *err) LCA_MUST_USE;
/* Turns d into a rejection: drops its events and result, records CommandRejected.
 * Returns LCA_OK (a rejection is an outcome) unless memory runs out. */
int lca_decide_reject(struct lca_decision *d, const struct lca_command *cmd, const char *code,
                      const char *fmt, ...) LCA_PRINTF(4, 5);
/* Rejects with the code and message of a BAD_INPUT error; passes others through as LCA_FAIL. */
int lca_decide_reject_err(struct lca_decision *d, const struct lca_command *cmd,
                          struct lca_err *err);

int lca_decide_now(struct lca_env *env, int64_t *now, struct lca_err *err) LCA_MUST_USE;
int lca_decide_uuid(struct lca_env *env, char out[37], struct lca_err *err) LCA_MUST_USE;
int lca_decide_serial(struct lca_env *env, uint8_t out[LCA_SERIAL_LEN],
                      struct lca_err *err) LCA_MUST_USE;
/* A signer for an issuer, its key fetched from the env's key store; borrowed from
 * env->signers when the env has a cache, so a decision holds one at a time (a second call may
 * drop the first from the cache). Hand it back with lca_decide_signer_done. */
int lca_decide_signer(const struct lca_issuer *iss, struct lca_env *env,
                      struct lca_cert_signer **out, struct lca_err *err) LCA_MUST_USE;
/* Frees s unless it belongs to env's cache. NULL-safe. */
void lca_decide_signer_done(const struct lca_env *env, struct lca_cert_signer *s);
/* Stores a CA key under its key id (written to out). */
int lca_decide_key_put(struct lca_env *env, EVP_PKEY *key, char key_id[65],
                       struct lca_err *err) LCA_MUST_USE;

/* Configuration accessors with the defaults of decide.h. */
int64_t lca_decide_cfg_int(const struct lca_state *st, const char *key);
/* The URLs of the configuration (Vault config/urls), valid while the state is unchanged.
 * storage must hold 3 * 8 pointers. */
void lca_decide_cfg_urls(const struct lca_state *st, struct lca_urls *urls,
                         const char **storage);

/* A list field as Vault accepts it (array of strings or one comma-separated string),
 * normalized to a new array of non-empty strings; NULL when v is of another kind. */
struct lca_val *lca_decide_list(const struct lca_val *v);
/* Borrows up to max string pointers from an array of strings; returns the count. */
size_t lca_decide_strs(const struct lca_val *arr, const char **out, size_t max);

/* Result helpers: the issuer's ca_chain as an array of PEM strings, and its PEM. */
struct lca_val *lca_decide_chain_pems(const struct lca_state *st, const struct lca_issuer *iss);
void lca_decide_result_cert(struct lca_decision *d, const struct lca_state *st,
                            const struct lca_issuer *iss, const uint8_t *der, size_t der_len,
                            const uint8_t *serial, size_t serial_len, int64_t not_after);

/* Per-command handlers. */
int lca_decide_ca_config(const struct lca_state *, const struct lca_command *, struct lca_env *,
                         struct lca_decision *, struct lca_err *);
int lca_decide_ca_rotate(const struct lca_state *, const struct lca_command *, struct lca_env *,
                         struct lca_decision *, struct lca_err *);
int lca_decide_ca_cross_sign(const struct lca_state *, const struct lca_command *,
                             struct lca_env *, struct lca_decision *, struct lca_err *);
int lca_decide_ca_reissue(const struct lca_state *, const struct lca_command *, struct lca_env *,
                          struct lca_decision *, struct lca_err *);
int lca_decide_ca_issuer_update(const struct lca_state *, const struct lca_command *,
                                struct lca_env *, struct lca_decision *, struct lca_err *);
int lca_decide_ca_sign_intermediate(const struct lca_state *, const struct lca_command *,
                                    struct lca_env *, struct lca_decision *, struct lca_err *);
int lca_decide_ca_bootstrap(const struct lca_state *st, const struct lca_val *config,
                            const char *cluster_id, struct lca_env *env, struct lca_decision *d,
                            struct lca_err *err);
int lca_decide_leaf_issue(const struct lca_state *, const struct lca_command *, struct lca_env *,
                          struct lca_decision *, struct lca_err *);
int lca_decide_leaf_sign(const struct lca_state *, const struct lca_command *, struct lca_env *,
                         struct lca_decision *, struct lca_err *);
int lca_decide_leaf_sign_verbatim(const struct lca_state *, const struct lca_command *,
                                  struct lca_env *, struct lca_decision *, struct lca_err *);
int lca_decide_leaf_revoke(const struct lca_state *, const struct lca_command *,
                           struct lca_env *, struct lca_decision *, struct lca_err *);
int lca_decide_leaf_role_write(const struct lca_state *, const struct lca_command *,
                               struct lca_env *, struct lca_decision *, struct lca_err *);
int lca_decide_leaf_role_delete(const struct lca_state *, const struct lca_command *,
                                struct lca_env *, struct lca_decision *, struct lca_err *);
int lca_decide_leaf_crl_rotate(const struct lca_state *, const struct lca_command *,
                               struct lca_env *, struct lca_decision *, struct lca_err *);
int lca_decide_leaf_tidy(const struct lca_state *, const struct lca_command *, struct lca_env *,
                         struct lca_decision *, struct lca_err *);
/* A secondary cluster's own intermediate (decide_sec.c). */
int lca_decide_sec_generate(const struct lca_state *, const struct lca_command *,
                            struct lca_env *, struct lca_decision *, struct lca_err *);
int lca_decide_sec_set_signed(const struct lca_state *, const struct lca_command *,
                              struct lca_env *, struct lca_decision *, struct lca_err *);
/* decide_crl.c. Builds and emits a complete unsharded CrlPublished for iss, including `extra`
 * (a revocation not yet in st). */
int lca_decide_leaf_crl_emit(const struct lca_state *st, const struct lca_issuer *iss,
                             const struct lca_certrec *extra, struct lca_env *env,
                             struct lca_decision *d, struct lca_err *err) LCA_MUST_USE;
/* The CRL a revocation publishes (rec: the revoked record, not yet in st, with revoke_seq set):
 * the delta or complete CRL of rec's scope, or a CrlBuildFailed. Nothing without
 * CrlAutoRebuild. */
int lca_decide_crl_on_revoke(const struct lca_state *st, const struct lca_certrec *rec,
                             struct lca_env *env, struct lca_decision *d,
                             struct lca_err *err) LCA_MUST_USE;
/* Complete CRLs (and empty deltas, deltas on) of every scope of iss; *n counts CRLs. */
int lca_decide_crl_rotate_issuer(const struct lca_state *st, const struct lca_issuer *iss,
                                 struct lca_env *env, struct lca_decision *d, size_t *n,
                                 struct lca_err *err) LCA_MUST_USE;
/* issuer.update's crl_shards / crl_base_url: adds them to ev, or rejects (*rejected = 1, d a
 * rejection). */
int lca_decide_crl_shard_update(const struct lca_state *st, const struct lca_command *cmd,
                                const struct lca_issuer *iss, struct lca_val *ev, int *rejected,
                                struct lca_decision *d) LCA_MUST_USE;
/* After an IssuerUpdated ev that shards iss: an empty complete CRL per shard. */
int lca_decide_crl_first_shards(const struct lca_state *st, const struct lca_issuer *iss,
                                const struct lca_val *ev, struct lca_env *env,
                                struct lca_decision *d, struct lca_err *err) LCA_MUST_USE;
/* A certificate's CRL URLs: for a sharded issuer its CRL distribution point becomes its
 * shard's URL; with deltas on and a CRL base URL, freshestCRL names its scope's delta CRL. URLs
 * are written to buf (two halves); slot is an array of 2 pointers the urls then borrow. */
void lca_decide_crl_cdp(const struct lca_state *st, const struct lca_issuer *iss,
                        const uint8_t *serial, size_t serial_len, struct lca_urls *urls,
                        char *buf, size_t buflen, const char **slot);

#endif
