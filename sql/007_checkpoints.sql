-- 007_checkpoints: signed checkpoints of the event log (issue 4), Certificate Transparency's signed
-- tree heads (RFC 6962 section 3.5) for a hash chain.
--
-- A hash chain proves that nothing inside the log changed, but not that nothing was cut from its
-- end: a log truncated at position K is a valid chain 1..K. So `ledgerca audit checkpoint`
-- (beside the projector, every N events or T seconds) signs (cluster, position, head hash, time)
-- with a dedicated Ed25519 log key (wrapped under the KEK in ca_keys as "log-checkpoint-key"),
-- appends the result here and publishes it to the Kafka topic ledgerca.checkpoints, where copies
-- outlive anything done to this database. `ledgerca audit verify --checkpoints` then checks every
-- signature and that the log still holds each checkpointed position with the same hash.
--
-- body is the signed canonical msgpack map {"cluster","hash","position","time","v":1}; the other
-- columns repeat its fields for queries and are checked against it. Insert-only, like events.

CREATE TABLE checkpoints (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cluster    text        NOT NULL,
    position   bigint      NOT NULL CHECK (position >= 0),  -- log position signed (0: empty log)
    hash       bytea       NOT NULL CHECK (length(hash) = 32), -- chain hash at that position
    time_s     bigint      NOT NULL,                        -- signing time, Unix seconds
    body       bytea       NOT NULL,                        -- the signed bytes
    public_key bytea       NOT NULL CHECK (length(public_key) = 32), -- Ed25519 (RFC 8032)
    signature  bytea       NOT NULL CHECK (length(signature) = 64),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX checkpoints_cluster_idx ON checkpoints (cluster, id);

CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION lca_refuse_mutation();
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION lca_refuse_mutation();
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION lca_refuse_mutation();
ALTER TABLE checkpoints ENABLE ALWAYS TRIGGER checkpoints_no_update;
ALTER TABLE checkpoints ENABLE ALWAYS TRIGGER checkpoints_no_delete;
ALTER TABLE checkpoints ENABLE ALWAYS TRIGGER checkpoints_no_truncate;
REVOKE UPDATE, DELETE, TRUNCATE ON checkpoints FROM PUBLIC;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ledgerca_app') THEN
        GRANT SELECT, INSERT ON checkpoints TO ledgerca_app;
        REVOKE UPDATE, DELETE, TRUNCATE ON checkpoints FROM ledgerca_app;
    END IF;
END
$$;
