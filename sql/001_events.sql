-- 001_events: the event log, its single sequencer row, and append-only enforcement.
--
-- The log is the CA's source of truth (DESIGN.md invariant 2). Three guarantees live here:
--
-- 1. Gapless positions, never observed out of order. `events.position` is NOT a sequence or
--    serial column. A serial column hands out numbers at INSERT time but transactions commit in
--    any order, so a reader tailing `WHERE position > last` can see N+1 committed while N is still
--    in flight, advance `last` past N and lose N forever (the sequence-gap problem). Instead every
--    appending transaction first takes the row lock on the single `log_head` row
--    (`SELECT position, hash FROM log_head WHERE id = 1 FOR UPDATE`), numbers its events
--    head+1, head+2, ..., inserts them, moves `log_head` forward and commits. The row lock is held
--    until COMMIT/ROLLBACK, so appends are serialized per log: the transaction that takes position
--    N+1 cannot even read the head until the one holding N has ended, and PostgreSQL releases a
--    transaction's row locks only after its commit is visible to new snapshots. Hence commits
--    happen in position order, every snapshot sees a prefix 1..K of the log, and a reader can
--    never observe N+1 before N. A rolled-back append leaves the head untouched, so its positions
--    are reused: no holes either. Batching many commands per transaction (workers/pgstore.c) is
--    what makes a single sequencer fast; it also keeps the hash chain linear.
--
-- 2. Tamper evidence. `hash` = SHA-256(prev_hash || payload), where payload is the event's
--    canonical msgpack bytes as produced by events/ and prev_hash is the previous event's hash
--    (32 zero bytes before position 1). `log_head.hash` is the hash of the last event.
--    `ledgerca audit verify` recomputes the chain and names the first position that breaks it.
--
-- 3. Append-only, enforced by the database: row triggers refuse UPDATE and DELETE, a statement
--    trigger refuses TRUNCATE, all with SQLSTATE LC001. The triggers are ENABLE ALWAYS so they
--    also fire under session_replication_role = replica; only an explicit ALTER TABLE ... DISABLE
--    TRIGGER by the owner can bypass them, and the hash chain exposes what such a bypass changed.
--    Privileges are revoked as a second layer (see 004_roles.sql for the application role).

CREATE TABLE log_head (
    id        int    PRIMARY KEY CHECK (id = 1),     -- exactly one row: the sequencer
    position  bigint NOT NULL CHECK (position >= 0), -- position of the last appended event, 0 = empty
    hash      bytea  NOT NULL CHECK (length(hash) = 32) -- hash of that event (zeros when empty)
);
INSERT INTO log_head (id, position, hash) VALUES (1, 0, '\x0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE events (
    position       bigint      PRIMARY KEY CHECK (position >= 1), -- gapless global order, 1..
    stream         text        NOT NULL,                          -- aggregate id, e.g. issuer/<id>
    stream_version int         NOT NULL CHECK (stream_version >= 1), -- optimistic concurrency
    type           text        NOT NULL,                          -- event type name (events/types.def)
    payload        bytea       NOT NULL,                          -- canonical msgpack, never re-encoded
    cluster        text        NOT NULL,                          -- cluster id of the appending log
    command_id     uuid        NOT NULL,                          -- the command that caused it
    recorded_at    timestamptz NOT NULL,                          -- database clock, taken under the lock
    prev_hash      bytea       NOT NULL CHECK (length(prev_hash) = 32),
    hash           bytea       NOT NULL CHECK (length(hash) = 32), -- SHA-256(prev_hash || payload)
    UNIQUE (stream, stream_version)
);
CREATE INDEX events_command_id_idx ON events (command_id);
CREATE INDEX events_recorded_at_idx ON events (recorded_at);

-- Shared by every append-only table: refuse the operation, naming it and the table.
CREATE FUNCTION lca_refuse_mutation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledgerca: % on % is refused: the table is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'LC001';
END;
$$;

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION lca_refuse_mutation();
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION lca_refuse_mutation();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION lca_refuse_mutation();
ALTER TABLE events ENABLE ALWAYS TRIGGER events_no_update;
ALTER TABLE events ENABLE ALWAYS TRIGGER events_no_delete;
ALTER TABLE events ENABLE ALWAYS TRIGGER events_no_truncate;

-- The head may only move forward, one event at a time per appended event, and never vanish.
CREATE FUNCTION lca_log_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.position < OLD.position THEN
        RAISE EXCEPTION 'ledgerca: log_head may not move backwards (% -> %)', OLD.position, NEW.position
            USING ERRCODE = 'LC001';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER log_head_forward BEFORE UPDATE ON log_head
    FOR EACH ROW EXECUTE FUNCTION lca_log_head_forward();
CREATE TRIGGER log_head_no_delete BEFORE DELETE ON log_head
    FOR EACH ROW EXECUTE FUNCTION lca_refuse_mutation();
CREATE TRIGGER log_head_no_truncate BEFORE TRUNCATE ON log_head
    FOR EACH STATEMENT EXECUTE FUNCTION lca_refuse_mutation();
ALTER TABLE log_head ENABLE ALWAYS TRIGGER log_head_forward;
ALTER TABLE log_head ENABLE ALWAYS TRIGGER log_head_no_delete;
ALTER TABLE log_head ENABLE ALWAYS TRIGGER log_head_no_truncate;

REVOKE UPDATE, DELETE, TRUNCATE ON events FROM PUBLIC;
REVOKE DELETE, TRUNCATE ON log_head FROM PUBLIC;
