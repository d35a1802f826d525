/*
 * bench_http — `ledgerca bench http`: read endpoints and issue/:role measured with wrk against
 * a signer, projector and API running in this process over a real broker and PostgreSQL.
 * See the top of bench_http.c for the measurements.
 */
#ifndef LCA_BENCH_HTTP_H
#define LCA_BENCH_HTTP_H

/* argv[0] is "http". Returns the process exit code (0 ok, 1 failure, 2 usage). */
int lca_bench_http_run(int argc, char **argv);

#endif
