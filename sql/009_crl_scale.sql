-- 009_crl_scale: CRLs at scale (issue 4) — one rm_crls row per CRL scope and kind.
--
-- An issuer publishes, besides its complete CRL, a delta CRL (RFC 5280 section 5.2.4) when
-- enable_delta is on, and a sharded issuer (issuer.update crl_shards) one complete CRL (and
-- delta) per shard, each with its own issuingDistributionPoint (section 5.2.5). So rm_crls is
-- keyed by (issuer_id, scope), where scope is the CRL's path under the issuer in the projector's
-- --crl-dir (engine/crl.h lca_crl_path):
--   ''        <issuer_id>.crl            the unsharded complete CRL (every row before 009)
--   'delta'   <issuer_id>.delta.crl      the unsharded delta CRL
--   'k'       <issuer_id>/k.crl          shard k's complete CRL
--   'k.delta' <issuer_id>/k.delta.crl    shard k's delta CRL
-- shard (-1: unsharded) and delta_base (-1: complete CRL; else the base's cRLNumber) repeat the
-- CrlPublished fields. Readers that want "the issuer's CRL" select scope = ''.

ALTER TABLE rm_crls ADD COLUMN scope text NOT NULL DEFAULT '';
ALTER TABLE rm_crls ADD COLUMN shard integer NOT NULL DEFAULT -1;
ALTER TABLE rm_crls ADD COLUMN delta_base bigint NOT NULL DEFAULT -1;
ALTER TABLE rm_crls DROP CONSTRAINT rm_crls_pkey;
ALTER TABLE rm_crls ADD PRIMARY KEY (issuer_id, scope);
