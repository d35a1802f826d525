/*
 * catalog — name and topic tables expanded from types.def (contract in catalog.h).
 */
#include "catalog.h"

#include <stddef.h>
#include <string.h>

struct cmd_def {
    const char *name;
    enum lca_topic topic;
};

/* Indexed by enum lca_cmd_type; slot 0 is NONE. */
static const struct cmd_def cmd_tab[] = {
    {NULL, LCA_TOPIC_ADMIN},
#define LCA_COMMAND(e, name, topic) {name, LCA_TOPIC_##topic},
#include "types.def"
};

/* Indexed by enum lca_evt_type; slot 0 is NONE. */
static const char *const evt_tab[] = {
    NULL,
#define LCA_EVENT(e, name) name,
#include "types.def"
};

static const char *const topic_tab[] = {
    [LCA_TOPIC_ISSUE] = "ledgerca.commands.issue",
    [LCA_TOPIC_REVOKE] = "ledgerca.commands.revoke",
    [LCA_TOPIC_ADMIN] = "ledgerca.commands.admin",
};

_Static_assert(sizeof(cmd_tab) / sizeof(cmd_tab[0]) == LCA_CMD_COUNT_, "command table");
_Static_assert(sizeof(evt_tab) / sizeof(evt_tab[0]) == LCA_EVT_COUNT_, "event table");

const char *lca_catalog_cmd_name(enum lca_cmd_type t)
{
    return (unsigned)t < LCA_CMD_COUNT_ ? cmd_tab[t].name : NULL;
}

enum lca_cmd_type lca_catalog_cmd_from_name(const char *name)
{
    unsigned k;

    for (k = 1; name != NULL && k < LCA_CMD_COUNT_; k++) {
        if (strcmp(cmd_tab[k].name, name) == 0) {
            return (enum lca_cmd_type)k;
        }
    }
    return LCA_CMD_NONE;
}

const char *lca_catalog_evt_name(enum lca_evt_type t)
{
    return (unsigned)t < LCA_EVT_COUNT_ ? evt_tab[t] : NULL;
}

enum lca_evt_type lca_catalog_evt_from_name(const char *name)
{
    unsigned k;

    for (k = 1; name != NULL && k < LCA_EVT_COUNT_; k++) {
        if (strcmp(evt_tab[k], name) == 0) {
            return (enum lca_evt_type)k;
        }
    }
    return LCA_EVT_NONE;
}

enum lca_topic lca_catalog_cmd_topic(enum lca_cmd_type t)
{
    return (unsigned)t < LCA_CMD_COUNT_ ? cmd_tab[t].topic : LCA_TOPIC_ADMIN;
}

const char *lca_catalog_topic_name(enum lca_topic topic)
{
    return (unsigned)topic < sizeof(topic_tab) / sizeof(topic_tab[0]) ? topic_tab[topic] : NULL;
}
