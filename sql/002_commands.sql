-- 002_commands: exactly-once bookkeeping (DESIGN.md invariant 1), written in the SAME
-- transaction as the events a batch appends (workers/pgstore.c, lca_pgstore_commit_batch).
--
-- commands: one row per command id ever decided, with the reply that was sent. A redelivered
--   command finds its row and re-sends that reply instead of being decided again. Rows are
--   inserted while holding the log_head lock, so the existence check and the insert cannot race.
-- outbox: messages (replies, notifications) to publish to Kafka after the commit; a relay
--   publishes and marks them. Not append-only: published rows may be pruned.
-- consumer_offsets: the next Kafka offset to consume per group/topic/partition, stored with the
--   events it produced. On partition assignment a consumer seeks to these offsets (librdkafka's
--   rebalance-callback pattern), so a crash between the PostgreSQL commit and a Kafka offset
--   commit cannot make a command be decided twice.

CREATE TABLE commands (
    command_id     uuid        PRIMARY KEY,
    reply          bytea       NOT NULL,                 -- the recorded reply, re-sent on redelivery
    first_position bigint,                               -- first event appended (NULL: none)
    last_position  bigint,                               -- last event appended (NULL: none)
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK ((first_position IS NULL) = (last_position IS NULL)),
    CHECK (first_position IS NULL OR first_position <= last_position)
);

CREATE TRIGGER commands_no_update BEFORE UPDATE ON commands
    FOR EACH ROW EXECUTE FUNCTION lca_refuse_mutation();
CREATE TRIGGER commands_no_delete BEFORE DELETE ON commands
    FOR EACH ROW EXECUTE FUNCTION lca_refuse_mutation();
CREATE TRIGGER commands_no_truncate BEFORE TRUNCATE ON commands
    FOR EACH STATEMENT EXECUTE FUNCTION lca_refuse_mutation();
ALTER TABLE commands ENABLE ALWAYS TRIGGER commands_no_update;
ALTER TABLE commands ENABLE ALWAYS TRIGGER commands_no_delete;
ALTER TABLE commands ENABLE ALWAYS TRIGGER commands_no_truncate;
REVOKE UPDATE, DELETE, TRUNCATE ON commands FROM PUBLIC;

CREATE TABLE outbox (
    id           bigserial   PRIMARY KEY,
    command_id   uuid        NOT NULL,   -- the command whose batch produced the message
    topic        text        NOT NULL,
    key          bytea,                  -- Kafka message key (NULL: none)
    payload      bytea       NOT NULL,
    headers      bytea,                  -- Kafka headers, encoded by the producer side (NULL: none)
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at timestamptz             -- set by the relay once Kafka acknowledged it
);
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE consumer_offsets (
    group_id    text        NOT NULL,
    topic       text        NOT NULL,
    partition   int         NOT NULL CHECK (partition >= 0),
    next_offset bigint      NOT NULL CHECK (next_offset >= 0), -- the offset to consume next
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (group_id, topic, partition)
);
