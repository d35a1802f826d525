/*
 * bench_audit — `ledgerca bench audit [--pg-uri URI] [--events N] [--certs M]`: the audit and
 * replay of issue 4 over a big synthetic but valid log (workers/bench_audit.c says how it is
 * made) in throwaway databases (workers/bench_db.h). JSON lines (bench, value, unit, ceiling,
 * ratio, events):
 *   audit.chain_verify  events/s of `audit verify --chain-only` over N events (default 200,000);
 *                       ceiling: raw SHA-256(prev || payload) over the same bytes in-process
 *                       (a sample of the payloads, scaled to the log's mean size). Target
 *                       >= 500,000 events/s.
 *   audit.replay_1m     seconds of `replay --to <head>` over the N-event log, scaled linearly to
 *                       1,000,000 events (exact with --events 1000000); ceiling: the chain pass's
 *                       seconds scaled the same way (reading the log is the floor); ratio =
 *                       ceiling / value. Target <= 5 s.
 *   audit.full_verify   certificates/s of a full `audit verify` (decode, fold, every signature,
 *                       every CRL) over a log of M certificates (default 20,000); ceiling: P-256
 *                       signature verifications/s on 2 threads measured in the same run. Target
 *                       ratio >= 0.8.
 * Needs a PostgreSQL superuser URI; never asserts a figure (CTest label bench).
 */
#ifndef LCA_BENCH_AUDIT_H
#define LCA_BENCH_AUDIT_H

/* argv[0] is "audit". Returns the process exit status (0 ok, 1 failure, 2 usage). */
int lca_bench_audit_run(int argc, char **argv);

#endif
