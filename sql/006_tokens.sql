-- Access tokens (seed 003's personas). Only the SHA-256 of a token is stored: the token itself
-- is shown once, by `ledgerca token create`. Tokens are 256-bit random values, so a fast hash
-- is enough (no dictionary to guard against).
CREATE TABLE tokens (
    token_hash  bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    persona     text        NOT NULL CHECK (persona IN ('operator', 'agent', 'advanced', 'requester')),
    roles       text[]      NOT NULL DEFAULT '{}',   -- empty: every role
    description text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ledgerca_app') THEN
        GRANT SELECT, INSERT ON tokens TO ledgerca_app;
    END IF;
END
$$;
