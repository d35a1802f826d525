-- 003_ca_keys: CA private keys at rest, wrapped (AES-256-GCM) under the operator's
-- key-encryption key (DESIGN.md invariant 4). The database never sees a plaintext key.
-- Insert-only: a key id, once written, keeps its wrapped bytes forever (a rotation writes a new
-- key id), so a compromised database role cannot swap a key under a signer.

CREATE TABLE ca_keys (
    key_id     text        PRIMARY KEY,
    wrapped    bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TRIGGER ca_keys_no_update BEFORE UPDATE ON ca_keys
    FOR EACH ROW EXECUTE FUNCTION lca_refuse_mutation();
CREATE TRIGGER ca_keys_no_delete BEFORE DELETE ON ca_keys
    FOR EACH ROW EXECUTE FUNCTION lca_refuse_mutation();
CREATE TRIGGER ca_keys_no_truncate BEFORE TRUNCATE ON ca_keys
    FOR EACH STATEMENT EXECUTE FUNCTION lca_refuse_mutation();
ALTER TABLE ca_keys ENABLE ALWAYS TRIGGER ca_keys_no_update;
ALTER TABLE ca_keys ENABLE ALWAYS TRIGGER ca_keys_no_delete;
ALTER TABLE ca_keys ENABLE ALWAYS TRIGGER ca_keys_no_truncate;
REVOKE UPDATE, DELETE, TRUNCATE ON ca_keys FROM PUBLIC;
