-- 004_app_role: the privileges of the application role `ledgerca_app` (NOLOGIN; grant it to the
-- login role the workers use). Workers may read everything and insert into the log, but cannot
-- UPDATE, DELETE or TRUNCATE the append-only tables even if the triggers were disabled.
--
-- Roles are cluster-wide: the role is created only if it does not exist yet and only when the
-- migrating user may create roles; otherwise the grants are skipped with a NOTICE and the
-- operator grants them (the triggers of 001-003 protect the tables either way).

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ledgerca_app') THEN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user
                       AND (rolsuper OR rolcreaterole)) THEN
            RAISE NOTICE 'ledgerca: role ledgerca_app missing and % may not create it; grants skipped',
                current_user;
            RETURN;
        END IF;
        CREATE ROLE ledgerca_app NOLOGIN;
    END IF;
    GRANT SELECT, INSERT ON events, commands, ca_keys TO ledgerca_app;
    REVOKE UPDATE, DELETE, TRUNCATE ON events, commands, ca_keys FROM ledgerca_app;
    GRANT SELECT, UPDATE ON log_head TO ledgerca_app;
    REVOKE DELETE, TRUNCATE ON log_head FROM ledgerca_app;
    GRANT SELECT, INSERT, UPDATE, DELETE ON outbox, consumer_offsets TO ledgerca_app;
    GRANT USAGE ON SEQUENCE outbox_id_seq TO ledgerca_app;
    GRANT SELECT ON schema_migrations TO ledgerca_app;
END;
$$;
