/*
 * curun — the main() of every CUnit test executable: one suite, a table of tests, verbose
 * output, and an exit status CTest reads (0 all passed, 1 a test or the suite's set-up failed,
 * 2 CUnit itself could not start).
 */
#ifndef LCA_CURUN_H
#define LCA_CURUN_H

#include <stddef.h>

#include <CUnit/CUnit.h>

struct lca_cu_test {
    const char *name;
    void (*fn)(void);
};

/* Registers suite `suite` (init/clean may be NULL) with tests[0..n), runs it, returns the exit
 * status. A test that cannot be registered counts as a failure. */
int lca_cu_main(const char *suite, CU_InitializeFunc init, CU_CleanupFunc clean,
                const struct lca_cu_test *tests, size_t n);

#define LCA_CU_MAIN(suite, init, clean, tests)                                                  \
    lca_cu_main((suite), (init), (clean), (tests), sizeof(tests) / sizeof((tests)[0]))

#endif
