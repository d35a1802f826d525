-- 008_outbox_reply_once: a reply is stored once. The signer's reply outbox rows leave
-- `payload` NULL: the message is the command's recorded reply (commands.reply, same
-- command_id), which the relay reads through a join (workers/outbox.c). This halves the
-- bytes a certificate costs in PostgreSQL (the reply, ~3 KB with the chain, was written
-- twice), and marking such a row published rewrites ~100 bytes instead of the reply.
-- Other outbox messages still carry their own payload.
ALTER TABLE outbox ALTER COLUMN payload DROP NOT NULL;
COMMENT ON COLUMN outbox.payload IS
    'the message; NULL: the reply recorded in commands.reply for this command_id';
