/*
 * bench_e2e — `ledgerca bench e2e`: the signing path measured end to end (issue 3,
 * "Performance"), over a real Kafka broker and a real PostgreSQL, on the machine at hand.
 *
 * Set-up: a fresh database (CREATE DATABASE with a unique name) with the embedded migrations,
 * a 0600 key-encryption key file, and a signer started as a child process of this one
 * (`/proc/self/exe signer`, its own consumer group and cluster id) so that its peak RSS can be
 * read from /proc/<pid>/status (VmHWM). Before the signer starts, the group's start offsets
 * are stored in the new database at the current end of each command topic (found by
 * producing a marker to every partition and tailing it), so commands left on the topics by
 * earlier runs are never decided. The signer is ready once it has answered a role.write.
 *
 * Measurements (JSON lines on stdout, as `ledgerca bench engine` prints them):
 *   e2e.throughput       --count `sign` commands (P-256 CSRs, --csrs distinct ones, JSON with
 *                        a content-type header, unique command and correlation ids) produced
 *                        as fast as the idempotent producer takes them; certs/s from the first
 *                        produce to the last reply consumed from ledgerca.replies (a reply
 *                        exists only after its certificate is committed to the event log).
 *                        ceiling: the same process's in-process rate for the same work on one
 *                        thread (command parse + decide + canonical event encoding + evolve +
 *                        reply encoding, against a state bootstrapped with workers/osslenv.h),
 *                        per CPU second.
 *   e2e.latency_p50/p99  per-command latency (produce call -> reply consumed, matched by
 *                        correlation id) at a fixed offered load of half the measured
 *                        throughput for --latency-seconds; ceiling: the 50 ms target.
 *   e2e.signer_peak_rss  the signer's VmHWM in MB, read before SIGTERM; ceiling: 64 MB.
 *   e2e.projector_peak_rss  VmHWM in MB of a `ledgerca projector` child started over the same
 *                        database once the signer is ready (so it tails the log during both
 *                        phases), read once its cursor (rm_position) reached the head of the
 *                        log after the signer stopped (at most 120 s); ceiling: 64 MB.
 *   e2e.bytes_per_cert   pg_total_relation_size of events + commands + outbox over the
 *                        number of CertificateIssued events; no ceiling (null).
 * stderr carries the progress and what explains the numbers: the in-process rate, phase
 * durations, the p99 of each second of the latency phase, bytes per table and the average
 * event and reply sizes. On a machine too slow to answer --count commands in --wait-seconds
 * (45), the throughput is the rate of the replies received by then, and the rest is drained
 * (30 s).
 * No timed assertions: exit 0 when everything was measured, 1 when a step failed (a signer
 * that dies, a rejected or missing reply, event count not matching the replies), 2 on usage.
 * The database, the KEK file, the signer and the projector are removed/stopped on every path.
 *
 * Configuration: --pg-uri (superuser URI; env LCA_TEST_PG_URI), --bootstrap (env
 * LCA_TEST_KAFKA_BOOTSTRAP), --count (20000), --csrs (2000), --latency-seconds (5),
 * --wait-seconds (45: longer for a large --count on a slow machine, e.g. to see the signer's
 * RSS behind a backlog of 100,000 commands).
 * Thread: the calling thread only; the process must be the `ledgerca` executable.
 */
#ifndef LCA_BENCH_E2E_H
#define LCA_BENCH_E2E_H

/* Runs the benchmark. argv[0] is "e2e", argv[1..argc) the options above.
 * Returns the process exit code (0 measured, 1 failure, 2 usage). */
int lca_bench_e2e_run(int argc, char **argv);

#endif
