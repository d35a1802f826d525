-- 010_federation: the relay's cursor and the aggregator's tables (README "Multi-cluster").
--
-- relay_cursor lives in every cluster's database: the last position `ledgerca relay` delivered
-- to Kafka topic ledgerca.events.<cluster>, moved only after Kafka acknowledged the delivery
-- (at-least-once: consumers dedupe by position and check the hash chain).
--
-- The agg_* tables are written by `ledgerca aggregator` in the database it is given (the primary
-- cluster's: the unified CRL is signed by each issuer, whose wrapped key is in its ca_keys). The
-- consumed Kafka offsets go to consumer_offsets (group ledgerca-aggregator) in the SAME
-- transaction as the fold's rows, so a crash mid-way converges after a restart.

CREATE TABLE relay_cursor (
    cluster    text        PRIMARY KEY,
    position   bigint      NOT NULL CHECK (position >= 0), -- last position Kafka acknowledged
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Per cluster: the last folded position and its chain hash (the next event must continue it).
CREATE TABLE agg_clusters (
    cluster    text        PRIMARY KEY,
    position   bigint      NOT NULL CHECK (position >= 0),
    hash       bytea       NOT NULL CHECK (length(hash) = 32),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Issuers seen in any cluster's IssuerCreated events; rev_count counts the revocations of
-- their certificates folded so far, built_rev_count the count the last unified CRL covered.
CREATE TABLE agg_issuers (
    issuer_id       text   PRIMARY KEY,
    key_id          text   NOT NULL,
    certificate     bytea  NOT NULL,
    cluster         text   NOT NULL,          -- the first cluster seen creating it
    rev_count       bigint NOT NULL DEFAULT 0
);

-- Every certificate of every cluster: serial (Vault colon form) -> owning cluster.
CREATE TABLE agg_certs (
    serial    text   PRIMARY KEY,
    cluster   text   NOT NULL,
    issuer_id text   NOT NULL,
    not_after bigint NOT NULL,                 -- Unix seconds
    position  bigint NOT NULL                  -- position in the owning cluster's log
);

-- Every revocation of every cluster; the unified CRL of an issuer is the union over clusters.
CREATE TABLE agg_revocations (
    issuer_id  text   NOT NULL,
    serial     text   NOT NULL,
    cluster    text   NOT NULL,
    revoked_at bigint NOT NULL,                -- Unix seconds
    reason     int    NOT NULL,                -- RFC 5280 5.3.1 CRLReason
    not_after  bigint NOT NULL,                -- 0 when the certificate was not seen
    PRIMARY KEY (issuer_id, serial, cluster)
);

-- Each cluster's own latest CRL per issuer (its CrlPublished events).
CREATE TABLE agg_cluster_crls (
    cluster     text   NOT NULL,
    issuer_id   text   NOT NULL,
    crl_number  bigint NOT NULL,
    der         bytea  NOT NULL,
    this_update bigint NOT NULL,
    next_update bigint NOT NULL,
    PRIMARY KEY (cluster, issuer_id)
);

-- One unified CRL per issuer, with its own CRL numbers (its issuingDistributionPoint is the
-- unified URL, so its scope and numbers are not those of any cluster's CRL).
CREATE TABLE agg_unified_crls (
    issuer_id       text        PRIMARY KEY,
    crl_number      bigint      NOT NULL CHECK (crl_number >= 1),
    der             bytea       NOT NULL,
    this_update     bigint      NOT NULL,
    next_update     bigint      NOT NULL,
    entries         int         NOT NULL,
    built_rev_count bigint      NOT NULL,
    built_at        timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Forwarded revocations (ledgerca.revoke-forward), once per command id. state:
--   pending   owner not known yet: waiting until every events topic is caught up to `horizon`
--   forward   owner known, to be produced to ledgerca.commands.revoke.<owner>
--   reject    no cluster issued it: an unknown_serial reply to be sent
--   forwarded / rejected   done (Kafka acknowledged)
CREATE TABLE agg_forwards (
    command_id  uuid        PRIMARY KEY,
    serial      text        NOT NULL,
    command     bytea       NOT NULL,          -- the command as received (JSON)
    from_cluster text       NOT NULL,
    state       text        NOT NULL CHECK (state IN ('pending', 'forward', 'reject',
                                                      'forwarded', 'rejected')),
    owner       text,
    horizon     text        NOT NULL,          -- "topic=next_offset,..." at arrival
    received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    done_at     timestamptz
);
CREATE INDEX agg_forwards_open_idx ON agg_forwards (state) WHERE state IN ('pending', 'forward', 'reject');

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ledgerca_app') THEN
        GRANT SELECT, INSERT, UPDATE ON relay_cursor, agg_clusters, agg_issuers, agg_certs,
            agg_revocations, agg_cluster_crls, agg_unified_crls, agg_forwards TO ledgerca_app;
    END IF;
END
$$;
