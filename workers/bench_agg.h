/*
 * bench_agg — `ledgerca bench aggregate`: can the aggregator's fold and unified CRL path keep up
 * with 5,000 revocations/s from 3 clusters? (README "Multi-cluster", benchmarks.)
 *
 * In process, no Kafka or PostgreSQL: three clusters' chains of CertificateIssued and
 * CertificateRevoked events are prepared as relay messages (projections/fedlog.h bytes, hashes
 * chained), then released at the offered rate (--rate revocations/s in total, default 5000,
 * for --seconds, default 4) to one thread that decodes each message, folds it
 * (lca_fedlog_apply: chain and hash checks, change extraction), keeps the union of
 * revocations, and rebuilds the unified CRL of the shared issuer (lca_crl_build, P-256) every
 * --crl-interval ms (default 500) when it changed. JSON lines:
 *   crl.aggregate_rate  revocations/s folded during the offered window; ceiling: the same
 *                       path run unpaced over the same messages in the same process
 *                       (its capacity); also offered, lag_end (revocations released but not
 *                       folded when the window closed: 0 = keeps up), crl_builds, crl_entries.
 *   crl.aggregate_build_ms  the last unified CRL build (all entries) in ms; ceiling: the
 *                       crl-interval (a build longer than the interval could not keep up).
 * Never asserts timings.
 */
#ifndef LCA_BENCH_AGG_H
#define LCA_BENCH_AGG_H

int lca_bench_agg_run(int argc, char **argv);

#endif
