/*
 * bench_crl — `ledgerca bench crl [--entries N] [--revocations R] [--pg-uri URI]
 * [--bootstrap B] [--build-only]`: CRLs at scale (issue 4). JSON lines (bench, value, unit,
 * ceiling, ratio):
 *   crl.build_1m                 seconds to build and sign one CRL of N entries (default
 *                                1,000,000; random 128-bit serials, reasons, one P-256 issuer)
 *                                with engine/crl.h; ceiling: the irreducible work of the same
 *                                run — SHA-256 over the CRL's bytes plus one P-256 signature;
 *                                ratio = ceiling / value. Target <= 2 s.
 *   crl.revoke_to_visible_p99    seconds from producing a revoke command to Kafka until the
 *                                published delta CRL file (<crl-dir>/<issuer>.delta.crl,
 *                                written by the projector) lists the serial, p99 over R
 *                                revocations (default 100) one at a time, with a signer and a
 *                                projector running in this process against the real broker
 *                                and PostgreSQL (enable_delta on); ceiling: p99 of the same
 *                                commands' reply latency (the signer's commit, without the
 *                                projector and the file); ratio = ceiling / value. Target <= 1 s.
 * The second needs a PostgreSQL superuser URI and a broker (LCA_TEST_PG_URI /
 * LCA_TEST_KAFKA_BOOTSTRAP); --build-only skips it. Never asserts a figure.
 */
#ifndef LCA_BENCH_CRL_H
#define LCA_BENCH_CRL_H

/* argv[0] is "crl". Returns the process exit status (0 ok, 1 failure, 2 usage). */
int lca_bench_crl_run(int argc, char **argv);

#endif
