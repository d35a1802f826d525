/*
 * state — the CA's state as a fold over the event log: evolve(state, event) -> state.
 *
 * The state is what decide() needs to judge a command: the CA configuration (Consul's
 * provider config), the issuers (roots, intermediates, cross-signed and reissued twins, each
 * with its certificate and the id of its key in the key store — never the key itself), the
 * active root, the default (leaf-signing) issuer, the roles, and every certificate's serial
 * with its issuer, expiry and revocation. It holds no private key and reads nothing: the only
 * way it changes is lca_state_evolve(), so replaying the log from position 0 rebuilds it
 * exactly (DESIGN.md invariant 3).
 *
 * Ownership: a state owns everything it points to. Getters return borrowed pointers valid
 * until the next lca_state_evolve() or lca_state_free(). Not thread-safe.
 */
#ifndef LCA_STATE_H
#define LCA_STATE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "err.h"
#include "event.h"
#include "role.h"
#include "val.h"

#define LCA_ID_LEN 36 /* issuer ids are UUIDs */

/* Vault issuer `usage` bits. */
enum {
    LCA_USAGE_READ_ONLY = 1,
    LCA_USAGE_ISSUING = 2,
    LCA_USAGE_CRL_SIGNING = 4,
    LCA_USAGE_OCSP_SIGNING = 8,
};

/* How an issuer certificate came to be (seed 002's primitives). */
enum lca_issuer_kind {
    LCA_ISSUER_ROOT = 1,     /* self-signed, generated or imported */
    LCA_ISSUER_INTERMEDIATE, /* signed by another issuer of this CA */
    LCA_ISSUER_CROSS_SIGNED, /* same subject and key as `twin_of`, signed by `parent_id` */
    LCA_ISSUER_REISSUED,     /* same key as `twin_of`, new certificate and serial */
    LCA_ISSUER_EXTERNAL,     /* an intermediate signed outside this log (secondary cluster) */
};

/* One CRL scope (engine/crl.h): an unsharded issuer's CRLs, or one shard's. Complete and delta
 * CRLs of a scope share one cRLNumber sequence (RFC 5280 §5.2.3). */
struct lca_crl_scope {
    uint64_t number;      /* cRLNumber of the last CRL (complete or delta) published, 0: none */
    uint64_t base_number; /* cRLNumber of the last complete CRL (the base of deltas), 0: none */
    uint64_t base_seq;    /* lca_state_revocations() when that complete CRL was folded: a delta
                             lists the scope's revocations with revoke_seq > base_seq (§5.2.4) */
    int64_t this_update;  /* of the last CRL */
    int64_t next_update;  /* of the last complete CRL (the scheduler rotates before it) */
    uint64_t last_seq;    /* lca_state_revocations() when the scope's last CRL was folded
                             (or the max-entries guard refused one: CrlBuildFailed) */
    uint64_t revoked_seq; /* revoke_seq of the scope's latest revocation (0: none). While
                             revoked_seq > last_seq a revocation is pending: no CRL of the
                             scope lists it yet (delta_rebuild_interval, the guard) */
};

struct lca_issuer {
    char id[LCA_ID_LEN + 1];          /* Vault issuer_id (UUID) */
    char name[129];                   /* Vault issuer_name, unique when non-empty */
    char key_id[65];                  /* key store id: hex SHA-256 of the SPKI */
    char parent_id[LCA_ID_LEN + 1];   /* issuer that signed it ("" for roots, external) */
    char twin_of[LCA_ID_LEN + 1];     /* for cross-signed/reissued: the original issuer */
    char root_id[LCA_ID_LEN + 1];     /* the hierarchy (root issuer id) it belongs to */
    enum lca_issuer_kind kind;
    X509 *cert;                       /* owned */
    uint8_t *der;                     /* owned, the certificate's DER */
    size_t der_len;
    int64_t not_before, not_after;    /* from the certificate */
    unsigned usage;                   /* LCA_USAGE_* */
    enum lca_notafter leaf_not_after; /* Vault leaf_not_after_behavior */
    char **manual_chain;              /* issuer ids, NULL when automatic */
    size_t n_manual;
    uint64_t crl_number;              /* number of the last CRL published (0: none yet) */
    int64_t last_crl_at;              /* thisUpdate of that CRL */
    int retired;                      /* removed from the roots list by tidy */
    int64_t create_index, modify_index; /* log positions (Consul CreateIndex/ModifyIndex) */
    char *pem;                        /* owned, the certificate in PEM */
    size_t chain[16];                 /* ca_chain as issuer indices (self first): manual_chain
                                         when set, else built by engine/chain.h; recomputed
                                         whenever an issuer is created, updated or retired */
    size_t chain_len;
    struct lca_crl_scope crl;         /* the unsharded scope (crl.number == crl_number) */
    uint32_t crl_shards;              /* 0: unsharded; else the shard count (engine/crl.h) */
    struct lca_crl_scope *shards;     /* owned, crl_shards scopes; NULL when unsharded */
    char crl_base_url[512];           /* set with crl_shards: shard k is published at
                                         <crl_base_url>/<id>/<k>.crl ("" unsharded) */
};

/* One certificate issued by this CA (leaves and signed intermediates). 64 bytes: a state holds
 * one per certificate ever issued and not tidied. */
struct lca_certrec {
    int64_t not_after;
    int64_t revoked_at;    /* 0: not revoked */
    int64_t position;      /* log position of CertificateIssued */
    uint64_t revoke_seq;   /* when revoked: lca_state_revocations() just after its revocation */
    const char *issuer_id; /* its issuer's id, one copy per issuer held by the state: valid
                              while the state lives (a copy of the record must not outlive it) */
    uint8_t serial[20];
    uint8_t serial_len;
    uint8_t reason;        /* enum lca_crl_reason when revoked */
    uint8_t is_ca;
};

struct lca_state;

struct lca_state *lca_state_new(void);
void lca_state_free(struct lca_state *st);

/* Applies one event at log position `position` (> the last applied one; 0 for in-memory
 * application before commit, which keeps positions unset). BAD_INPUT when the event does
 * not fit the state (unknown issuer, malformed payload): the log is then corrupt or a
 * decide() bug produced it; callers treat it as fatal. */
int lca_state_evolve(struct lca_state *st, int64_t position, const struct lca_event *ev,
                     struct lca_err *err) LCA_MUST_USE;

/* lca_state_evolve for an event read without a tree (events/event.h, lca_event_decode_flat),
 * for the replay's hot path: CertificateIssued and CertificateRevoked whose fields have their
 * usual kinds are folded exactly as lca_state_evolve folds their decoded form (*applied = 1).
 * For anything else -- another type, a field the tree path would read differently, an event
 * lca_state_evolve would refuse -- nothing changes and *applied = 0: the caller decodes the
 * event with lca_event_decode and calls lca_state_evolve, which gives the verdict. LCA_FAIL
 * only for running out of memory while applying. */
int lca_state_evolve_flat(struct lca_state *st, int64_t position,
                          const struct lca_event_flat *ev, int *applied,
                          struct lca_err *err) LCA_MUST_USE;

/* Sizes the certificate index for `certs` certificates up front (a hint: a replay knows how
 * many events it will fold), so it is not rebuilt while it grows. Never fails visibly. */
void lca_state_reserve(struct lca_state *st, size_t certs);

int64_t lca_state_position(const struct lca_state *st);

/* The event's stream and the version it takes there (optimistic concurrency between signers
 * that decide from their own copy of the state; the event store refuses a version taken
 * twice): "ca" for configuration, issuer and role changes (version = number of such events + 1),
 * "cert:<serial>" for a certificate's issuance (1) and revocation (2), "crl:<issuer_id>" for a
 * CRL (its number; "crl:<issuer_id>/<k>" for shard k), "cmd:<command_id>" for rejections (1),
 * "crlfail:<command_id>:<issuer_id>/<k>" for a CrlBuildFailed (1). stream must hold 96 bytes. */
int lca_state_stream(const struct lca_state *st, const struct lca_event *ev,
                     const char *command_id, char *stream, size_t len,
                     int32_t *version) LCA_MUST_USE;

/* Raises the recorded position to `position` if it is higher (after events applied in memory
 * with position 0 were committed at known positions). */
void lca_state_advance(struct lca_state *st, int64_t position);

/* Configuration (normalized config.update payload; never NULL once bootstrapped). */
const struct lca_val *lca_state_config(const struct lca_state *st);
const char *lca_state_trust_domain(const struct lca_state *st); /* "" before bootstrap */
const char *lca_state_cluster_id(const struct lca_state *st);
int lca_state_bootstrapped(const struct lca_state *st);

/* Issuers. */
size_t lca_state_issuer_count(const struct lca_state *st);
const struct lca_issuer *lca_state_issuer_at(const struct lca_state *st, size_t i);
/* By id, by name, or "default" (the leaf-signing issuer) — Vault's issuer_ref. NULL if none. */
const struct lca_issuer *lca_state_issuer_ref(const struct lca_state *st, const char *ref);
const struct lca_issuer *lca_state_active_root(const struct lca_state *st);
const struct lca_issuer *lca_state_default_issuer(const struct lca_state *st);
/* Index of an issuer in issuer_at order, or (size_t)-1. */
size_t lca_state_issuer_index(const struct lca_state *st, const struct lca_issuer *iss);

/* 1 if an IntermediateGenerated event recorded this key id (Consul's secondary: the key
 * waits in the key store for the certificate the primary signs; intermediate.set-signed
 * imports it). */
int lca_state_generated_key(const struct lca_state *st, const char *key_id);

/* Roles. */
const struct lca_role *lca_state_role(const struct lca_state *st, const char *name);
size_t lca_state_role_count(const struct lca_state *st);
const struct lca_role *lca_state_role_at(const struct lca_state *st, size_t i);

/* Certificates by serial (big-endian bytes). */
const struct lca_certrec *lca_state_cert(const struct lca_state *st, const uint8_t *serial,
                                         size_t len);
size_t lca_state_cert_count(const struct lca_state *st);
/* Number of CertificateRevoked events folded (the revocation sequence of struct lca_certrec). */
uint64_t lca_state_revocations(const struct lca_state *st);
/* The CRL scope of an issuer: shard < 0 the unsharded one, else shard k (NULL when the issuer
 * has no such shard). */
const struct lca_crl_scope *lca_state_crl_scope(const struct lca_issuer *iss, int shard);
/* Iterates every certificate record, in issue order; stops early when fn returns non-zero.
 * Record pointers (here and from lca_state_cert) stay valid until the next evolve. */
void lca_state_cert_foreach(const struct lca_state *st,
                            int (*fn)(const struct lca_certrec *rec, void *ctx), void *ctx);

/* Parses Vault's serial forms ("1a:2b:..", "1a-2b-..", "1a2b..") into bytes. */
int lca_state_serial_parse(const char *s, uint8_t out[20], size_t *len) LCA_MUST_USE;
/* Formats bytes as Vault's lowercase colon form. out must hold 3*len bytes. */
void lca_state_serial_format(const uint8_t *serial, size_t len, char *out, size_t outlen);

#endif
