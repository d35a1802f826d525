/*
 * authz — who may send which command: seed 003's personas and path table, mapped onto the
 * commands (the HTTP facade maps its paths onto the same commands, so one table guards both).
 *
 *   command                                   Operator Agent Advanced Requester Unauthed
 *   issue / sign with a role                   yes      yes   yes      yes       -
 *   issue / sign naming an issuer_ref          yes      yes   yes      -         -
 *   sign-verbatim, revoke, tidy, crl.rotate,
 *   role.write, role.delete                    yes      yes   -        -         -
 *   config.update, issuer.update, rotate,
 *   cross-sign, reissue, sign-intermediate     yes      -     -        -         -
 *
 * A token may also be limited to some roles (Vault policies on pki/issue/<role>); an empty list
 * means every role. Pure: the caller resolves the token to a persona.
 */
#ifndef LCA_AUTHZ_H
#define LCA_AUTHZ_H

#include <stddef.h>

#include "command.h"
#include "err.h"

enum lca_persona {
    LCA_PERSONA_UNAUTHED = 0,
    LCA_PERSONA_REQUESTER,
    LCA_PERSONA_ADVANCED,
    LCA_PERSONA_AGENT,
    LCA_PERSONA_OPERATOR,
};

/* "operator", "agent", "advanced", "requester" (case-insensitive). BAD_INPUT otherwise. */
int lca_authz_persona_parse(const char *s, enum lca_persona *out, struct lca_err *err) LCA_MUST_USE;
const char *lca_authz_persona_name(enum lca_persona p);

/* LCA_OK when `p` (limited to roles[0..n_roles), n_roles 0 = any role) may send `cmd`;
 * otherwise LCA_FAIL with BAD_INPUT "permission_denied" and a reason naming the persona. */
int lca_authz_check(enum lca_persona p, const char *const *roles, size_t n_roles,
                    const struct lca_command *cmd, struct lca_err *err) LCA_MUST_USE;

#endif
