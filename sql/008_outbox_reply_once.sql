-- 008_outbox_reply_once: a reply is stored once. The signer's reply outbox rows leave
-- `payload` NULL: the message is the command's recorded reply (commands.reply, same
-- command_id), which the relay reads through a join (workers/outbox.c). This halves the
-- bytes a certificate costs in PostgreSQL (the reply, ~3 KB with the chain, was written
-- twice), and marking such a row published rewrites ~100 bytes instead of the reply.
-- Other outbox messages still carry their own payload.
ALTER TABLE outbox ALTER COLUMN payload DROP NOT NULL;
COMMENT ON COLUMN outbox.payload IS
    'the message; NULL: the reply recorded in commands.reply for this command_id';

-- The recorded reply (~3 KB: certificate and chain in PEM) is above the TOAST threshold, so
-- every commands row is compressed on insert; lz4 costs the database a fraction of pglz's CPU
-- for about the same size. Servers built without lz4 keep the default.
DO $$
BEGIN
    ALTER TABLE commands ALTER COLUMN reply SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 not available: commands.reply keeps the default compression';
END
$$;
