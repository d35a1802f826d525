/*
 * certview — the certificate, revocation and CRL read models as folds over events. Pure.
 *
 * The state keeps every certificate's serial, issuer, expiry and revocation but not its bytes
 * (a CA log holds millions); the read model rm_certs does, from CertificateIssued (which
 * carries the DER unless the role has no_store). So these rows are derived per event:
 * lca_certview_change() maps one event at one log position to the row change it implies.
 * Applying the changes of events 1..P in order gives the same rows however the events are
 * batched (each change depends only on its event, its position and its cluster), which is
 * what lets `projector --rebuild` reproduce the incremental tables exactly.
 *
 * Serial numbers are normalised to Vault's lowercase colon form (lca_state_serial_format).
 * Borrowed pointers in a change point into the event's payload: valid while the event lives.
 */
#ifndef LCA_CERTVIEW_H
#define LCA_CERTVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "event.h"
#include "state.h"
#include "val.h"

#define LCA_CERTVIEW_SERIAL_LEN 64 /* colon hex of a 20-byte serial + NUL fits */

enum lca_certview_kind {
    LCA_CERTVIEW_NONE = 0, /* the event changes no row of these models */
    LCA_CERTVIEW_ISSUED,   /* insert rm_certs row `cert` */
    LCA_CERTVIEW_REVOKED,  /* set revoked_at/reason of rm_certs row `rev.serial` */
    LCA_CERTVIEW_TIDIED,   /* delete the rm_certs rows of `tidied` (arr of serial strings) */
    LCA_CERTVIEW_CRL,      /* upsert rm_crls row `crl` (the latest CRL of its issuer, scope
                              and kind; sql/009_crl_scale.sql) */
};

struct lca_certview_change {
    enum lca_certview_kind kind;
    int64_t position; /* log position of the event */
    struct {
        char serial[LCA_CERTVIEW_SERIAL_LEN];
        const char *issuer_id; /* borrowed */
        const char *cluster;   /* borrowed: the cluster that appended the event */
        const char *kind;      /* "leaf" | "intermediate" (borrowed) */
        const char *common_name; /* borrowed, "" when absent */
        int64_t not_after;     /* Unix seconds */
        const uint8_t *der;    /* borrowed; NULL when not stored (no_store) */
        size_t der_len;
    } cert;
    struct {
        char serial[LCA_CERTVIEW_SERIAL_LEN];
        int64_t revoked_at;    /* Unix seconds */
        const char *reason;    /* RFC 5280 5.3.1 reason name, snake_case (static string) */
    } rev;
    struct {
        const char *issuer_id; /* borrowed */
        int64_t crl_number, this_update, next_update;
        int shard;             /* -1: unsharded; else the shard (engine/crl.h) */
        int64_t delta_base;    /* -1: complete CRL; else a delta CRL against that number */
        const uint8_t *der;    /* borrowed */
        size_t der_len;
    } crl;
    const struct lca_val *tidied; /* borrowed arr of serial strings */
};

/* Fills *out with the row change ev (at `position`, appended by `cluster`) implies.
 * Errors: BAD_INPUT "bad_event" when a certificate/CRL event lacks a field it must have. */
int lca_certview_change(const struct lca_event *ev, int64_t position, const char *cluster,
                        struct lca_certview_change *out, struct lca_err *err) LCA_MUST_USE;

/* Normalises a serial (any of Vault's forms) to the colon form. LCA_FAIL when unparsable. */
int lca_certview_serial_norm(const char *in, char out[LCA_CERTVIEW_SERIAL_LEN]) LCA_MUST_USE;

/* The revoked set of issuer_id (NULL: every issuer) as an arr of maps
 *   {"serial_number", "issuer_id", "not_after", "revoked_at", "reason"}
 * sorted by serial (byte order), times in Unix seconds, reason by name. *out set only on
 * success (caller frees). Errors: FATAL "no_memory". */
int lca_certview_revoked(const struct lca_state *st, const char *issuer_id,
                         struct lca_val **out, struct lca_err *err) LCA_MUST_USE;

#endif
