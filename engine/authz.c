#include "authz.h"

#include <string.h>
#include <strings.h>

#include "catalog.h"

static const char *const names[] = {"unauthed", "requester", "advanced", "agent", "operator"};

int lca_authz_persona_parse(const char *s, enum lca_persona *out, struct lca_err *err)
{
    size_t i;

    for (i = 1; s != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = (enum lca_persona)i;
            return LCA_OK;
        }
    }
    return lca_err_set(err, LCA_ERR_BAD_INPUT, "bad_persona",
                       "unknown persona '%.40s' (operator, agent, advanced, requester)",
                       s != NULL ? s : "");
}

const char *lca_authz_persona_name(enum lca_persona p)
{
    return (unsigned)p < sizeof(names) / sizeof(names[0]) ? names[p] : "unauthed";
}

/* The least persona a command needs (seed 003's table). */
static enum lca_persona needed(const struct lca_command *cmd)
{
    switch (cmd->type) {
    case LCA_CMD_ISSUE:
    case LCA_CMD_SIGN:
        return lca_val_map_get(cmd->payload, "issuer_ref") != NULL ? LCA_PERSONA_ADVANCED
                                                                   : LCA_PERSONA_REQUESTER;
    case LCA_CMD_SIGN_VERBATIM:
    case LCA_CMD_REVOKE:
    case LCA_CMD_TIDY:
    case LCA_CMD_CRL_ROTATE:
    case LCA_CMD_ROLE_WRITE:
    case LCA_CMD_ROLE_DELETE:
        return LCA_PERSONA_AGENT;
    default:
        return LCA_PERSONA_OPERATOR;
    }
}

int lca_authz_check(enum lca_persona p, const char *const *roles, size_t n_roles,
                    const struct lca_command *cmd, struct lca_err *err)
{
    const char *role = lca_val_map_get_str(cmd->payload, "role");
    size_t i;

    if (p < needed(cmd)) {
        return lca_err_set(err, LCA_ERR_BAD_INPUT, "permission_denied",
                           "permission denied: %s needs the %s persona or higher (token: %s)",
                           lca_catalog_cmd_name(cmd->type), names[needed(cmd)], names[p]);
    }
    if (n_roles == 0 || (cmd->type != LCA_CMD_ISSUE && cmd->type != LCA_CMD_SIGN)) {
        return LCA_OK;
    }
    for (i = 0; role != NULL && i < n_roles; i++) {
        if (strcmp(roles[i], role) == 0) {
            return LCA_OK;
        }
    }
    return lca_err_set(err, LCA_ERR_BAD_INPUT, "permission_denied",
                       "permission denied: this token may not use role '%.80s'",
                       role != NULL ? role : "");
}
