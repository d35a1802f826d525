-- 005_read_models: the read models the projector maintains (workers/projector.c).
--
-- These tables are NOT the log: they are derived from it and can be rebuilt from position 0 at
-- any time (`ledgerca projector --rebuild`), so UPDATE, DELETE and TRUNCATE are allowed here.
-- The projector changes them and rm_position in ONE transaction per batch of events, so the
-- rows always reflect exactly the events 1..rm_position.position (DESIGN.md invariant 3).
-- Documents are stored as `json` (not jsonb) so the exact bytes, key order included, are
-- what the projection produced (Consul's and Vault's field order).

-- The projector's cursor: the last log position applied to every rm_* table.
CREATE TABLE rm_position (
    id       int    PRIMARY KEY CHECK (id = 1),
    position bigint NOT NULL CHECK (position >= 0)
);
INSERT INTO rm_position (id, position) VALUES (1, 0);

-- Consul's /v1/connect/ca/roots document (projections/roots.h).
CREATE TABLE rm_roots (
    id       int    PRIMARY KEY CHECK (id = 1),
    doc      json   NOT NULL,
    position bigint NOT NULL -- log position of the last event that changed the document
);

-- Vault's read-issuer view per issuer (projections/issuerview.h).
CREATE TABLE rm_issuers (
    issuer_id   text   PRIMARY KEY,
    issuer_name text   NOT NULL,
    doc         json   NOT NULL,
    pem         text   NOT NULL, -- the issuer certificate
    chain_pem   text   NOT NULL, -- ca_chain concatenated, the issuer first
    position    bigint NOT NULL  -- the issuer's ModifyIndex
);

-- Every certificate issued by this log (projections/certview.h).
CREATE TABLE rm_certs (
    serial      text        PRIMARY KEY,  -- Vault's lowercase colon hex
    issuer_id   text        NOT NULL,
    cluster     text        NOT NULL,     -- the cluster that appended CertificateIssued
    kind        text        NOT NULL,     -- leaf | intermediate
    common_name text        NOT NULL,
    not_after   timestamptz NOT NULL,
    certificate bytea,                    -- DER; NULL when the role has no_store
    revoked_at  timestamptz,              -- NULL: not revoked
    reason      text,                     -- RFC 5280 5.3.1 reason name when revoked
    position    bigint      NOT NULL      -- log position of CertificateIssued
);
CREATE INDEX rm_certs_cluster_idx ON rm_certs (cluster, issuer_id);
CREATE INDEX rm_certs_revoked_idx ON rm_certs (issuer_id) WHERE revoked_at IS NOT NULL;

-- The latest CRL of each issuer (from CrlPublished).
CREATE TABLE rm_crls (
    issuer_id   text        PRIMARY KEY,
    crl_number  bigint      NOT NULL,
    der         bytea       NOT NULL,
    this_update timestamptz NOT NULL,
    next_update timestamptz NOT NULL,
    position    bigint      NOT NULL
);

-- The application role may maintain the read models (see 004_app_role.sql for the pattern).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ledgerca_app') THEN
        RAISE NOTICE 'ledgerca: role ledgerca_app missing; read-model grants skipped';
        RETURN;
    END IF;
    GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE
        ON rm_position, rm_roots, rm_issuers, rm_certs, rm_crls TO ledgerca_app;
END;
$$;
