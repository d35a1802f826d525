#include "curun.h"

#include <CUnit/Basic.h>

int lca_cu_main(const char *suite, CU_InitializeFunc init, CU_CleanupFunc clean,
                const struct lca_cu_test *tests, size_t n)
{
    unsigned failures;
    CU_pSuite s;
    size_t i;

    if (CU_initialize_registry() != CUE_SUCCESS) {
        return 2;
    }
    s = CU_add_suite(suite, init, clean);
    for (i = 0; s != NULL && i < n; i++) {
        if (CU_add_test(s, tests[i].name, tests[i].fn) == NULL) {
            s = NULL;
        }
    }
    if (s == NULL) {
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failures == 0 ? 0 : 1;
}
