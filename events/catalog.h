/*
 * catalog — the command and event types, generated from events/types.def (STYLE.md rule 11).
 *
 * Each command has a wire name ("issue", "role.write") and a Kafka topic; each event has a
 * name ("CertificateIssued") stored in the log forever. Enum values follow the order of
 * types.def (which is never reordered), starting at 1; 0 means "none / unknown". Lookups by
 * name are exact and case-sensitive. All functions are pure and thread-safe.
 */
#ifndef LCA_CATALOG_H
#define LCA_CATALOG_H

enum lca_cmd_type {
    LCA_CMD_NONE = 0,
#define LCA_COMMAND(e, name, topic) LCA_CMD_##e,
#include "types.def"
    LCA_CMD_COUNT_ /* one past the last command; not a type */
};

enum lca_evt_type {
    LCA_EVT_NONE = 0,
#define LCA_EVENT(e, name) LCA_EVT_##e,
#include "types.def"
    LCA_EVT_COUNT_ /* one past the last event; not a type */
};

/* The Kafka topic a command is published on (issue #3 wire contract). */
enum lca_topic {
    LCA_TOPIC_ISSUE,
    LCA_TOPIC_REVOKE,
    LCA_TOPIC_ADMIN,
};

/* Wire name of a command, e.g. "sign-verbatim"; NULL for NONE or out-of-range values. */
const char *lca_catalog_cmd_name(enum lca_cmd_type t);
/* Command with that wire name; LCA_CMD_NONE when name is NULL or unknown. */
enum lca_cmd_type lca_catalog_cmd_from_name(const char *name);
/* Event name, e.g. "CertificateIssued"; NULL for NONE or out-of-range values. */
const char *lca_catalog_evt_name(enum lca_evt_type t);
/* Event with that name; LCA_EVT_NONE when name is NULL or unknown. */
enum lca_evt_type lca_catalog_evt_from_name(const char *name);
/* Topic of a command; LCA_TOPIC_ADMIN for NONE or out-of-range values (the most guarded). */
enum lca_topic lca_catalog_cmd_topic(enum lca_cmd_type t);
/* "ledgerca.commands.issue", "ledgerca.commands.revoke" or "ledgerca.commands.admin";
 * NULL for an out-of-range value. */
const char *lca_catalog_topic_name(enum lca_topic topic);

#endif
