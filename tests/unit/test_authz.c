/* test_authz — seed 003's persona table, every persona against every command. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "authz.h"
#include "catalog.h"
#include "codec.h"
#include "command.h"
#include "curun.h"
#include "json.h"

static struct lca_command *mk(enum lca_cmd_type t, const char *payload)
{
    struct lca_command *c = calloc(1, sizeof(*c));
    struct lca_err err;

    c->type = t;
    CU_ASSERT_EQUAL_FATAL(lca_json_decode(payload, strlen(payload), NULL, &c->payload, &err),
                          LCA_OK);
    return c;
}

/* expected[persona] for each command: 1 allowed. Order: unauthed, requester, advanced, agent,
 * operator. */
static const struct {
    enum lca_cmd_type type;
    const char *payload;
    int allowed[5];
} cases[] = {
    {LCA_CMD_ISSUE, "{\"role\":\"web\"}", {0, 1, 1, 1, 1}},
    {LCA_CMD_SIGN, "{\"role\":\"web\"}", {0, 1, 1, 1, 1}},
    {LCA_CMD_ISSUE, "{\"role\":\"web\",\"issuer_ref\":\"x\"}", {0, 0, 1, 1, 1}},
    {LCA_CMD_SIGN, "{\"role\":\"web\",\"issuer_ref\":\"x\"}", {0, 0, 1, 1, 1}},
    {LCA_CMD_SIGN_VERBATIM, "{}", {0, 0, 0, 1, 1}},
    {LCA_CMD_REVOKE, "{}", {0, 0, 0, 1, 1}},
    {LCA_CMD_TIDY, "{}", {0, 0, 0, 1, 1}},
    {LCA_CMD_CRL_ROTATE, "{}", {0, 0, 0, 1, 1}},
    {LCA_CMD_ROLE_WRITE, "{}", {0, 0, 0, 1, 1}},
    {LCA_CMD_ROLE_DELETE, "{}", {0, 0, 0, 1, 1}},
    {LCA_CMD_CONFIG_UPDATE, "{}", {0, 0, 0, 0, 1}},
    {LCA_CMD_ISSUER_UPDATE, "{}", {0, 0, 0, 0, 1}},
    {LCA_CMD_ROTATE, "{}", {0, 0, 0, 0, 1}},
    {LCA_CMD_CROSS_SIGN, "{}", {0, 0, 0, 0, 1}},
    {LCA_CMD_REISSUE, "{}", {0, 0, 0, 0, 1}},
    {LCA_CMD_SIGN_INTERMEDIATE, "{}", {0, 0, 0, 0, 1}},
};

static void test_matrix(void)
{
    size_t i;
    int p;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lca_command *c = mk(cases[i].type, cases[i].payload);
        for (p = 0; p < 5; p++) {
            struct lca_err err;
            int ok;
            lca_err_clear(&err);
            ok = lca_authz_check((enum lca_persona)p, NULL, 0, c, &err) == LCA_OK;
            if (ok != cases[i].allowed[p]) {
                fprintf(stderr, "%s %s as %s: got %d\n", lca_catalog_cmd_name(c->type),
                        cases[i].payload, lca_authz_persona_name((enum lca_persona)p), ok);
            }
            CU_ASSERT_EQUAL(ok, cases[i].allowed[p]);
            if (!ok) {
                CU_ASSERT_STRING_EQUAL(err.code, "permission_denied");
                CU_ASSERT_EQUAL(err.cls, LCA_ERR_BAD_INPUT);
            }
        }
        lca_val_free(c->payload);
        free(c);
    }
}

static void test_roles_limit(void)
{
    const char *roles[] = {"web", "api"};
    struct lca_command *web = mk(LCA_CMD_ISSUE, "{\"role\":\"web\"}");
    struct lca_command *db = mk(LCA_CMD_ISSUE, "{\"role\":\"db\"}");
    struct lca_command *none = mk(LCA_CMD_SIGN, "{}");
    struct lca_err err;

    CU_ASSERT_EQUAL(lca_authz_check(LCA_PERSONA_REQUESTER, roles, 2, web, &err), LCA_OK);
    CU_ASSERT_NOT_EQUAL(lca_authz_check(LCA_PERSONA_REQUESTER, roles, 2, db, &err), LCA_OK);
    CU_ASSERT_NOT_EQUAL(lca_authz_check(LCA_PERSONA_REQUESTER, roles, 2, none, &err), LCA_OK);
    CU_ASSERT_EQUAL(lca_authz_check(LCA_PERSONA_REQUESTER, NULL, 0, db, &err), LCA_OK);
    lca_val_free(web->payload);
    lca_val_free(db->payload);
    lca_val_free(none->payload);
    free(web);
    free(db);
    free(none);
}

static void test_persona_names(void)
{
    enum lca_persona p;
    struct lca_err err;

    CU_ASSERT_EQUAL(lca_authz_persona_parse("Operator", &p, &err), LCA_OK);
    CU_ASSERT_EQUAL(p, LCA_PERSONA_OPERATOR);
    CU_ASSERT_EQUAL(lca_authz_persona_parse("requester", &p, &err), LCA_OK);
    CU_ASSERT_EQUAL(p, LCA_PERSONA_REQUESTER);
    CU_ASSERT_NOT_EQUAL(lca_authz_persona_parse("root", &p, &err), LCA_OK);
    CU_ASSERT_NOT_EQUAL(lca_authz_persona_parse("unauthed", &p, &err), LCA_OK);
    CU_ASSERT_NOT_EQUAL(lca_authz_persona_parse(NULL, &p, &err), LCA_OK);
}

int main(void)
{
    static const struct lca_cu_test tests[] = {
        {"persona x command matrix (seed 003)", test_matrix},
        {"tokens limited to roles", test_roles_limit},
        {"persona names", test_persona_names},
    };

    return LCA_CU_MAIN("authz", NULL, NULL, tests);
}
