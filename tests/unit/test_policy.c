/*
 * test_policy - ACL policy parsing (HCL and JSON), names, and Vault's matching rules, with the
 * real parser throughout. Random inputs come from a seed printed at start (TR_TEST_SEED).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../api/policy.h"

#define ERRLEN API_POLICY_ERR_MIN

/* ---- Helpers ----------------------------------------------------------------------------- */

static struct api_policy *parse_ok(const char *name, const char *text)
{
    struct api_policy *pol = NULL;
    char err[ERRLEN] = "";
    int rc = api_policy_parse(name, text, strlen(text), &pol, err, sizeof(err));

    if (rc != TR_OK)
        fail_msg("parse failed (%s): %s\n--- text:\n%s", tr_err_name(rc), err, text);
    assert_non_null(pol);
    return pol;
}

/* Compiles the ACL of a token carrying the given HCL/JSON policies (NULL-terminated). */
static struct api_acl *acl_of(const char *const *texts)
{
    struct api_policy *pols[8] = {NULL};
    struct api_acl *acl = NULL;
    size_t n = 0;

    for (; texts[n]; n++) {
        char name[16];
        snprintf(name, sizeof(name), "p%zu", n);
        pols[n] = parse_ok(name, texts[n]);
    }
    assert_int_equal(api_acl_new(pols, n, &acl), TR_OK);
    for (size_t i = 0; i < n; i++)
        api_policy_free(pols[i]); /* the ACL must not depend on them */
    return acl;
}

static void expect_rules_equal(const struct api_policy *a, const struct api_policy *b)
{
    const char *pa, *pb;
    unsigned ca, cb;

    assert_int_equal(api_policy_rule_count(a), api_policy_rule_count(b));
    for (size_t i = 0; i < api_policy_rule_count(a); i++) {
        assert_int_equal(api_policy_rule_get(a, i, &pa, &ca), TR_OK);
        assert_int_equal(api_policy_rule_get(b, i, &pb, &cb), TR_OK);
        assert_string_equal(pa, pb);
        assert_int_equal(ca, cb);
    }
}

static unsigned rule_caps(const struct api_policy *pol, const char *pattern)
{
    const char *p;
    unsigned caps;

    for (size_t i = 0; i < api_policy_rule_count(pol); i++) {
        assert_int_equal(api_policy_rule_get(pol, i, &p, &caps), TR_OK);
        if (strcmp(p, pattern) == 0)
            return caps;
    }
    fail_msg("no rule for %s", pattern);
    return 0;
}

/* xorshift64*: deterministic from the printed seed; libc's generator is banned here. */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static size_t rng_below(size_t n)
{
    return n ? (size_t)(rng_next() % n) : 0;
}

/* ---- Parsing ----------------------------------------------------------------------------- */

static void test_policy_parse_hcl_syntax(void **state)
{
    (void)state;
    const char *text =
        "# hash comment\n"
        "// slash comment\n"
        "/* block\n comment */\n"
        "name = \"ignored\"\n"
        "path \"secret/data/app/*\" {\n"
        "  capabilities = [\"create\", \"read\", \"update\", \"patch\", \"delete\",]\n"
        "}\n"
        "path \"/secret/metadata/app/*\" { capabilities = [\"list\", \"read\"] }\n"
        "path \"sys/mounts\" { capabilities = [\"read\"], comment = \"x\" }\n"
        "path = { \"kv/caf\\u00e9/\\x41\" = { capabilities = [\"sudo\"] } }\n"
        "path \"secret/+/teamb\" {\n  capabilities = []\n}\n";
    struct api_policy *pol = parse_ok("Syntax", text);
    size_t len = 0;

    assert_string_equal(api_policy_name(pol), "syntax");
    assert_string_equal(api_policy_text(pol, &len), text);
    assert_int_equal(len, strlen(text));
    assert_int_equal(api_policy_rule_count(pol), 5);
    assert_int_equal(rule_caps(pol, "secret/data/app/*"), API_CAP_CREATE | API_CAP_READ |
                                                              API_CAP_UPDATE | API_CAP_PATCH |
                                                              API_CAP_DELETE);
    assert_int_equal(rule_caps(pol, "secret/metadata/app/*"), API_CAP_LIST | API_CAP_READ);
    assert_int_equal(rule_caps(pol, "sys/mounts"), API_CAP_READ);
    assert_int_equal(rule_caps(pol, "kv/caf\xc3\xa9/A"), API_CAP_SUDO);
    assert_int_equal(rule_caps(pol, "secret/+/teamb"), 0);
    assert_false(api_policy_is_root(pol));
    api_policy_free(pol);
}

static void test_policy_parse_legacy_policy(void **state)
{
    (void)state;
    struct api_policy *pol = parse_ok("legacy", "path \"a\" { policy = \"read\" }\n"
                                                "path \"b\" { policy = \"write\" }\n"
                                                "path \"c\" { policy = \"sudo\" }\n"
                                                "path \"d\" { policy = \"deny\" }\n"
                                                "path \"e\" { policy = \"read\"\n"
                                                "  capabilities = [\"update\"] }\n"
                                                /* separate blocks merge, as Vault's ACL */
                                                "path \"f\" { policy = \"write\" }\n"
                                                "path \"f\" { policy = \"read\" }\n"
                                                /* an escaped '$' is no interpolation */
                                                "path \"g/\\x24{x}\" { policy = \"read\" }\n");
    unsigned write = API_CAP_CREATE | API_CAP_READ | API_CAP_UPDATE | API_CAP_DELETE | API_CAP_LIST;

    assert_int_equal(rule_caps(pol, "a"), API_CAP_READ | API_CAP_LIST);
    assert_int_equal(rule_caps(pol, "b"), write);
    assert_int_equal(rule_caps(pol, "c"), write | API_CAP_SUDO);
    assert_int_equal(rule_caps(pol, "d"), API_CAP_DENY);
    assert_int_equal(rule_caps(pol, "e"), API_CAP_READ | API_CAP_LIST | API_CAP_UPDATE);
    assert_int_equal(rule_caps(pol, "f"), write);
    assert_int_equal(rule_caps(pol, "g/${x}"), API_CAP_READ | API_CAP_LIST);
    api_policy_free(pol);
}

static void test_policy_parse_deny_and_merge(void **state)
{
    (void)state;
    struct api_policy *pol = parse_ok("m", "path \"a\" { capabilities = [\"read\", \"deny\"] }\n"
                                           "path \"b\" { capabilities = [\"read\"] }\n"
                                           "path \"b\" { capabilities = [\"list\"] }\n"
                                           "path \"c\" { capabilities = [\"read\"] }\n"
                                           "path \"/c\" { capabilities = [\"deny\"] }\n"
                                           "path \"d\" { capabilities = [\"subscribe\", "
                                           "\"recover\"] }\n");

    assert_int_equal(api_policy_rule_count(pol), 4);
    assert_int_equal(rule_caps(pol, "a"), API_CAP_DENY);
    assert_int_equal(rule_caps(pol, "b"), API_CAP_READ | API_CAP_LIST);
    assert_int_equal(rule_caps(pol, "c"), API_CAP_DENY);
    assert_int_equal(rule_caps(pol, "d"), API_CAP_SUBSCRIBE | API_CAP_RECOVER);
    assert_int_equal(api_policy_rule_get(pol, 4, NULL, NULL), TR_E_NOTFOUND);
    api_policy_free(pol);
}

static void test_policy_parse_json_equivalence(void **state)
{
    (void)state;
    static const char *const pairs[][2] = {
        {"path \"secret/data/app/*\" {\n"
         "  capabilities = [\"create\", \"read\", \"update\", \"patch\", \"delete\"]\n}\n"
         "path \"secret/metadata/app/*\" { capabilities = [\"list\", \"read\"] }\n"
         "path \"sys/mounts\" { capabilities = [\"read\"] }\n",
         "{\"path\":{\"secret/data/app/*\":{\"capabilities\":[\"create\",\"read\",\"update\","
         "\"patch\",\"delete\"]},\n\"secret/metadata/app/*\":{\"capabilities\":[\"list\","
         "\"read\"]},\"sys/mounts\":{\"capabilities\":[\"read\"]}}}"},
        /* node-vault's example */
        {"path \"secret/*\" { policy = \"write\" }",
         "{\"path\":{\"secret/*\":{\"policy\":\"write\"}}}"},
        /* HCL tools emit path as a list of objects */
        {"path \"a\" { capabilities = [\"deny\"] }\npath \"b/+/c\" { capabilities = [\"sudo\"] }",
         "  {\"name\": \"x\", \"path\": [{\"a\": {\"capabilities\": [\"deny\"]}},\n"
         "   {\"b/+/c\": {\"capabilities\": [\"sudo\"], \"comment\": \"c\"}}]}"},
        {"# nothing", "{}"},
    };

    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        struct api_policy *h = parse_ok("h", pairs[i][0]);
        struct api_policy *j = parse_ok("j", pairs[i][1]);
        expect_rules_equal(h, j);
        api_policy_free(h);
        api_policy_free(j);
    }
}

struct err_case {
    const char *text;
    size_t len; /* 0: strlen(text) */
    int rc;
    const char *msg; /* substring of the error message */
};

static const struct err_case err_cases[] = {
    {"\n\npath \"a\" { capabilities = [\"read\", \"reed\"] }", 0, TR_E_INVAL,
     "policy line 3: path \"a\": unknown capability \"reed\""},
    {"path \"secret/*\" {\n  capabilities = [\n    \"read\",\n    \"reed\"\n  ]\n}", 0, TR_E_INVAL,
     "policy line 4: path \"secret/*\": unknown capability \"reed\""},
    {"path \"a\" { capabilities = [\"root\"] }", 0, TR_E_INVAL, "unknown capability \"root\""},
    {"path \"a\" { capabilities = [\"READ\"] }", 0, TR_E_INVAL, "unknown capability \"READ\""},
    {"\nfoo \"x\" {}", 0, TR_E_INVAL, "policy line 2: unknown top-level key \"foo\""},
    {"path \"a\" {\n  capabilitis = [] }", 0, TR_E_INVAL,
     "policy line 2: path \"a\": unknown key \"capabilitis\""},
    {"path \"a\" {\n capabilities=[\"read\"]\n allowed_parameters = { \"x\" = [] }\n}", 0,
     TR_E_INVAL,
     "policy line 3: path \"a\": this server does not support the key "
     "\"allowed_parameters\""},
    {"path \"a\" { denied_parameters = { \"*\" = [] } }", 0, TR_E_INVAL, "\"denied_parameters\""},
    {"path \"a\" { required_parameters = [\"x\"] }", 0, TR_E_INVAL, "\"required_parameters\""},
    {"path \"a\" { min_wrapping_ttl = 300 }", 0, TR_E_INVAL, "\"min_wrapping_ttl\""},
    {"path \"a\" { max_wrapping_ttl = -1.5e3 }", 0, TR_E_INVAL, "\"max_wrapping_ttl\""},
    {"path \"a\" { policy = \"admin\" }", 0, TR_E_INVAL, "invalid policy \"admin\""},
    {"path \"a\" { policy = [\"read\"] }", 0, TR_E_INVAL, "\"policy\" must be a string"},
    {"path \"abc {\n}", 0, TR_E_INVAL, "policy line 1: unterminated string"},
    {"path \"abc", 0, TR_E_INVAL, "unterminated string"},
    {"path \"abc\\", 0, TR_E_INVAL, "unterminated string"},
    {"path \"a\" {\n capabilities = [\"read\"]\n", 0, TR_E_INVAL,
     "missing '}' for the block opened on line 1"},
    {"path \"a\" {\n capabilities = [\"read\"\n}", 0, TR_E_INVAL,
     "policy line 3: expected ',' or ']' in list, found '}'"},
    {"path \"a\" { capabilities = [\"read\"", 0, TR_E_INVAL, "missing ']'"},
    {"path \"a\" { capabilities = [\"read\"] } @@@", 0, TR_E_INVAL, "unexpected character '@'"},
    {"\x01\x02\x03", 0, TR_E_INVAL, "unexpected byte 0x01"},
    {"path\0 \"a\" {}", 12, TR_E_INVAL, "NUL byte"},
    {"# \xff\xfe\n", 0, TR_E_INVAL, "policy line 1: invalid UTF-8"},
    {"path \"\xed\xa0\x80\" {}", 0, TR_E_INVAL, "invalid UTF-8"},
    {"/* never closed\n\n", 0, TR_E_INVAL, "policy line 1: unterminated /* comment"},
    {"a = <<EOF\nx\nEOF\n", 0, TR_E_INVAL, "heredoc"},
    {"path \"secret/+*\" {}", 0, TR_E_INVAL, "'+*' is forbidden"},
    {"path \"secret/*/x\" {}", 0, TR_E_INVAL, "'*' is only allowed as the last character"},
    {"path \"identity/{{identity.entity.id}}\" {}", 0, TR_E_INVAL, "templated"},
    {"path \"\" {}", 0, TR_E_INVAL, "empty path"},
    {"path \"/\" {}", 0, TR_E_INVAL, "empty path"},
    {"path \"a\\tb\" {}", 0, TR_E_INVAL, "control character in path"},
    {"path \"a\" { capabilities = \"read\" }", 0, TR_E_INVAL, "must be a list"},
    {"path \"a\" { capabilities = [1] }", 0, TR_E_INVAL, "capabilities must be strings"},
    {"path \"a\" { capabilities = [[\"read\"]] }", 0, TR_E_INVAL, "capabilities must be strings"},
    {"path \"a\" { comment = 1 }", 0, TR_E_INVAL, "\"comment\" must be a string"},
    {"path \"a\" = \"b\"", 0, TR_E_INVAL, "expected '{'"},
    {"path \"a\" \"b\" { capabilities = [] }", 0, TR_E_INVAL, "path \"a\": unknown key \"b\""},
    {"path = \"x\"", 0, TR_E_INVAL, "\"path\" must hold blocks"},
    {"path = [\"x\"]", 0, TR_E_INVAL, "\"path\" must hold blocks"},
    {"name = 1", 0, TR_E_INVAL, "\"name\" must be a string"},
    {"path \"a\" { capabilities = read }", 0, TR_E_INVAL,
     "expected a value, found identifier \"read\""},
    {"a =", 0, TR_E_INVAL, "expected a value, found end of input"},
    {"}", 0, TR_E_INVAL, "expected a key, found '}'"},
    {"path", 0, TR_E_INVAL, "expected '=' or '{', found end of input"},
    {"[\"a\"]", 0, TR_E_INVAL, "expected a key, found '['"},
    {"path \"a\\q\" {}", 0, TR_E_INVAL, "invalid escape"},
    {"path \"a\\u0000\" {}", 0, TR_E_INVAL, "invalid escape"},
    {"path \"a\\ud800\" {}", 0, TR_E_INVAL, "invalid escape"},
    {"path \"a\\xff\" {}", 0, TR_E_INVAL, "invalid escape"},
    {"path \"a\\u12\" {}", 0, TR_E_INVAL, "invalid escape"},
    {"path \"a\\U00110000\" {}", 0, TR_E_INVAL, "invalid escape"},
    {"path \"a\x01\" {}", 0, TR_E_INVAL, "control character in string"},
    {"a b c d e f g h i {}", 0, TR_E_INVAL, "expected '=' or '{'"},
    {"", 0, TR_E_INVAL, "policy: policy text is empty"},
    {" \n\t\r\n", 0, TR_E_INVAL, "policy text is empty"},
    {"{\"path\": {\"a\": {\"capabilities\": [\"reed\"]}}}", 0, TR_E_INVAL,
     "policy: path \"a\": unknown capability \"reed\""},
    {"{\"path\": ", 0, TR_E_INVAL, "policy: failed to parse JSON"},
    {"{\"paths\": {}}", 0, TR_E_INVAL, "unknown top-level key \"paths\""},
    {"{\"path\": {\"a\": {}}, \"path\": {}}", 0, TR_E_INVAL, "duplicate key"},
    {"{\"path\": {\"a\": [{\"capabilities\": [\"read\"]}]}}", 0, TR_E_INVAL,
     "expected a block of rules"},
    {"{\"path\": {\"a\": {\"capabilities\": null}}}", 0, TR_E_INVAL, "must be a list"},
    {"{\"path\": {\"a\\u0000\": {}}}", 0, TR_E_INVAL, "policy: "},
    /* Vault's HCL keeps only the last `policy` of a block (read here), a union would grant
     * write: refused instead of guessing */
    {"path \"s/*\" {\n  policy = \"write\"\n  policy = \"read\"\n}", 0, TR_E_INVAL,
     "policy line 3: path \"s/*\": \"policy\" is given more than once"},
    {"path \"s\" { policy = \"deny\", capabilities = [], policy = \"deny\" }", 0, TR_E_INVAL,
     "more than once"},
    /* Vault's HCL scanner reads quotes inside "${...}" as part of the string: to Vault this is
     * one read rule on a nonsense path, to a plain scanner a sudo grant on "*" */
    {"path \"x/${\" { comment = \"{\" }\n"
     "path \"*\" { capabilities = [\"sudo\", \"read\", \"update\"] }\n"
     "# }}\" { capabilities = [\"read\"] }\n",
     0, TR_E_INVAL, "policy line 1: \"${\" (HCL interpolation) is not supported"},
    {"path \"a\" { comment = \"$${x}\" }", 0, TR_E_INVAL, "interpolation"},
};

static void test_policy_parse_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
        const struct err_case *c = &err_cases[i];
        struct api_policy *pol = (struct api_policy *)&pol; /* must be overwritten with NULL */
        char err[ERRLEN];
        size_t len = c->len ? c->len : strlen(c->text);
        int rc;

        memset(err, 'x', sizeof(err));
        rc = api_policy_parse("t", c->text, len, &pol, err, sizeof(err));
        if (rc != c->rc || !memchr(err, '\0', sizeof(err)) || !strstr(err, c->msg))
            fail_msg("case %zu: rc %s, err '%.*s', want %s '%s'", i, tr_err_name(rc),
                     (int)sizeof(err) - 1, err, tr_err_name(c->rc), c->msg);
        assert_null(pol);
    }
}

static void test_policy_parse_limits(void **state)
{
    (void)state;
    size_t big = API_POLICY_TEXT_MAX + 1;
    char *buf = malloc(big + 64);
    struct api_policy *pol = NULL;
    char err[ERRLEN];
    size_t n;

    assert_non_null(buf);
    /* huge: one byte over the cap is refused before any parsing */
    memset(buf, '#', big);
    assert_int_equal(api_policy_parse("t", buf, big, &pol, err, sizeof(err)), TR_E_TOO_LARGE);
    assert_null(pol);
    /* exactly at the cap, a comment-only policy is fine */
    assert_int_equal(api_policy_parse("t", buf, big - 1, &pol, err, sizeof(err)), TR_OK);
    assert_int_equal(api_policy_rule_count(pol), 0);
    api_policy_free(pol);
    pol = NULL;
    /* deep nesting, HCL: stops at the depth cap without recursing further */
    n = (size_t)snprintf(buf, 8, "a = ");
    memset(buf + n, '[', big - 1 - n);
    assert_int_equal(api_policy_parse("t", buf, big - 1, &pol, err, sizeof(err)), TR_E_TOO_LARGE);
    assert_non_null(strstr(err, "nesting deeper than"));
    n = (size_t)snprintf(buf, 8, "a ");
    for (size_t i = 0; i < 200; i++)
        n += (size_t)snprintf(buf + n, 8, "{ a ");
    assert_int_equal(api_policy_parse("t", buf, n, &pol, err, sizeof(err)), TR_E_TOO_LARGE);
    /* deep nesting, JSON */
    for (n = 0; n < 5000;)
        n += (size_t)snprintf(buf + n, 8, "{\"a\":");
    assert_int_equal(api_policy_parse("t", buf, n, &pol, err, sizeof(err)), TR_E_TOO_LARGE);
    assert_non_null(strstr(err, "policy: "));
    /* too many values */
    n = (size_t)snprintf(buf, 8, "a = [");
    for (size_t i = 0; i < API_POLICY_NODES_MAX + 10; i++)
        n += (size_t)snprintf(buf + n, 8, "1,");
    buf[n++] = ']';
    assert_int_equal(api_policy_parse("t", buf, n, &pol, err, sizeof(err)), TR_E_TOO_LARGE);
    assert_non_null(strstr(err, "too many values"));
    /* a pattern over the cap */
    n = (size_t)snprintf(buf, 8, "path \"");
    memset(buf + n, 'a', API_POLICY_PATTERN_MAX + 1);
    n += API_POLICY_PATTERN_MAX + 1;
    n += (size_t)snprintf(buf + n, 16, "\" {}");
    assert_int_equal(api_policy_parse("t", buf, n, &pol, err, sizeof(err)), TR_E_TOO_LARGE);
    assert_null(pol);
    free(buf);
}

static void test_policy_parse_many_rules(void **state)
{
    (void)state;
    size_t cap = 1000 * 64, n = 0;
    char *buf = malloc(cap);
    struct api_policy *pol = NULL;
    struct api_acl *acl = NULL;
    char err[ERRLEN];

    assert_non_null(buf);
    for (size_t i = 0; i < 1000; i++)
        n +=
            (size_t)snprintf(buf + n, cap - n, "path \"s/%zu\" { capabilities = [\"read\"] }\n", i);
    assert_int_equal(api_policy_parse("t", buf, n, &pol, err, sizeof(err)), TR_OK);
    assert_int_equal(api_policy_rule_count(pol), 1000);
    assert_int_equal(api_acl_new(&pol, 1, &acl), TR_OK);
    assert_true(api_acl_allows_op(acl, "s/999", API_ACL_OP_READ, false));
    assert_true(api_acl_allows_op(acl, "s/0", API_ACL_OP_READ, false));
    assert_false(api_acl_allows_op(acl, "s/1000", API_ACL_OP_READ, false));
    api_acl_free(acl);
    api_policy_free(pol);
    free(buf);
}

static void test_policy_parse_bad_args(void **state)
{
    (void)state;
    struct api_policy *pol = NULL;
    char err[ERRLEN];

    assert_int_equal(api_policy_parse("t", "path \"a\" {}", 11, NULL, err, sizeof(err)),
                     TR_E_INVAL);
    assert_int_equal(api_policy_parse(NULL, "path \"a\" {}", 11, &pol, err, sizeof(err)),
                     TR_E_INVAL);
    assert_int_equal(api_policy_parse("t", NULL, 3, &pol, err, sizeof(err)), TR_E_INVAL);
    assert_int_equal(api_policy_parse("t", NULL, 0, &pol, NULL, 0), TR_E_INVAL);
    assert_int_equal(api_policy_parse("bad name", "path \"a\" {}", 11, &pol, err, sizeof(err)),
                     TR_E_INVAL);
    assert_non_null(strstr(err, "invalid policy name"));
    assert_int_equal(api_policy_parse(" Root ", "path \"a\" {}", 11, &pol, err, sizeof(err)),
                     TR_E_INVAL);
    assert_string_equal(err, "cannot update \"root\" policy");
    /* a tiny err buffer is still NUL-terminated */
    assert_int_equal(api_policy_parse("t", "@", 1, &pol, err, 5), TR_E_INVAL);
    assert_int_equal(strlen(err), 4);
    assert_null(pol);
    /* text need not be NUL-terminated: only len bytes are read */
    assert_int_equal(api_policy_parse("t", "path \"a\" {}GARBAGE", 11, &pol, err, sizeof(err)),
                     TR_OK);
    assert_string_equal(api_policy_text(pol, NULL), "path \"a\" {}");
    api_policy_free(pol);
    api_policy_free(NULL);
    api_acl_free(NULL);
}

/* ---- Names ------------------------------------------------------------------------------- */

struct name_case {
    const char *in;
    int rc;
    const char *out;
};

static void test_policy_name_normalize(void **state)
{
    (void)state;
    char long_name[API_POLICY_NAME_MAX + 2];
    const struct name_case cases[] = {
        {"root", TR_OK, "root"},
        {" root", TR_OK, "root"},
        {"ROOT", TR_OK, "root"},
        {"Root ", TR_OK, "root"},
        {"\t Default\n", TR_OK, "default"},
        {"My-Policy_1.2", TR_OK, "my-policy_1.2"},
        {"team/app", TR_OK, "team/app"},
        {"", TR_E_INVAL, NULL},
        {"   ", TR_E_INVAL, NULL},
        {"a b", TR_E_INVAL, NULL},
        {"a\"b", TR_E_INVAL, NULL},
        {"caf\xc3\xa9", TR_E_INVAL, NULL},
        {"/a", TR_E_INVAL, NULL},
        {"a/", TR_E_INVAL, NULL},
        {"a//b", TR_E_INVAL, NULL},
        {"a/../b", TR_E_INVAL, NULL},
        {"..", TR_E_INVAL, NULL},
        {".", TR_E_INVAL, NULL},
        {"a/./b", TR_E_INVAL, NULL},
        {"..a", TR_OK, "..a"},
    };
    char out[API_POLICY_NAME_MAX + 1];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(out, sizeof(out), "unchanged");
        int rc = api_policy_name_normalize(cases[i].in, out, sizeof(out));
        if (rc != cases[i].rc)
            fail_msg("case %zu '%s': %s", i, cases[i].in, tr_err_name(rc));
        assert_string_equal(out, cases[i].out ? cases[i].out : "unchanged");
    }
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    assert_int_equal(api_policy_name_normalize(long_name, out, sizeof(out)), TR_E_TOO_LARGE);
    long_name[API_POLICY_NAME_MAX] = '\0';
    assert_int_equal(api_policy_name_normalize(long_name, out, sizeof(out)), TR_OK);
    assert_int_equal(api_policy_name_normalize("abc", out, 3), TR_E_TOO_LARGE);
    assert_int_equal(api_policy_name_normalize(NULL, out, sizeof(out)), TR_E_INVAL);
}

static void test_policy_name_reserved(void **state)
{
    (void)state;
    static const char *const roots[] = {"root", " root", "ROOT", "Root ", "\troOt\n"};
    char out[API_POLICY_NAME_MAX + 1], err[ERRLEN];

    for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
        assert_true(api_policy_name_is_root(roots[i]));
        assert_int_equal(api_policy_name_check_write(roots[i], out, sizeof(out), err, sizeof(err)),
                         TR_E_INVAL);
        assert_string_equal(err, "cannot update \"root\" policy");
        assert_int_equal(api_policy_name_check_delete(roots[i], out, sizeof(out), err, sizeof(err)),
                         TR_E_INVAL);
        assert_string_equal(err, "cannot delete \"root\" policy");
    }
    assert_false(api_policy_name_is_root("rooted"));
    assert_false(api_policy_name_is_root(NULL));
    assert_true(api_policy_name_is_default(" DEFAULT"));
    assert_int_equal(api_policy_name_check_write(" Default ", out, sizeof(out), err, sizeof(err)),
                     TR_OK);
    assert_string_equal(out, "default");
    assert_int_equal(api_policy_name_check_delete("DEFAULT", out, sizeof(out), err, sizeof(err)),
                     TR_E_INVAL);
    assert_string_equal(err, "cannot delete default policy");
    assert_int_equal(
        api_policy_name_check_write("Response-Wrapping", out, sizeof(out), err, sizeof(err)),
        TR_E_INVAL);
    assert_int_equal(api_policy_name_check_delete(" Ops ", out, sizeof(out), err, sizeof(err)),
                     TR_OK);
    assert_string_equal(out, "ops");
    assert_int_equal(api_policy_name_check_write("", out, sizeof(out), err, sizeof(err)),
                     TR_E_INVAL);
    assert_non_null(strstr(err, "invalid policy name"));
}

/* ---- Capabilities ------------------------------------------------------------------------ */

static void test_policy_cap_parse_and_names(void **state)
{
    (void)state;
    const char *names[12];
    unsigned bit = 0;

    assert_int_equal(api_policy_cap_parse("patch", &bit), TR_OK);
    assert_int_equal(bit, API_CAP_PATCH);
    assert_int_equal(api_policy_cap_parse("deny", &bit), TR_OK);
    assert_int_equal(bit, API_CAP_DENY);
    assert_int_equal(api_policy_cap_parse("root", &bit), TR_E_INVAL);
    assert_int_equal(api_policy_cap_parse("Read", &bit), TR_E_INVAL);

    assert_int_equal(api_policy_cap_names(API_CAP_UPDATE | API_CAP_READ | API_CAP_LIST, names, 12),
                     3);
    assert_string_equal(names[0], "list");
    assert_string_equal(names[1], "read");
    assert_string_equal(names[2], "update");
    assert_int_equal(api_policy_cap_names(API_CAP_DENY, names, 12), 1);
    assert_string_equal(names[0], "deny");
    assert_int_equal(api_policy_cap_names(0, names, 12), 1);
    assert_string_equal(names[0], "deny");
    assert_int_equal(api_policy_cap_names(API_CAP_GRANTS | API_CAP_ROOT, names, 12), 1);
    assert_string_equal(names[0], "root");
    assert_int_equal(api_policy_cap_names(API_CAP_GRANTS, names, 2), 9);
    assert_string_equal(names[0], "create");
    assert_string_equal(names[1], "delete");

    assert_int_equal(api_acl_op_caps(API_ACL_OP_READ), API_CAP_READ);
    assert_int_equal(api_acl_op_caps(API_ACL_OP_LIST), API_CAP_LIST);
    assert_int_equal(api_acl_op_caps(API_ACL_OP_CREATE), API_CAP_CREATE);
    assert_int_equal(api_acl_op_caps(API_ACL_OP_UPDATE), API_CAP_UPDATE);
    assert_int_equal(api_acl_op_caps(API_ACL_OP_PATCH), API_CAP_PATCH);
    assert_int_equal(api_acl_op_caps(API_ACL_OP_DELETE), API_CAP_DELETE);
}

/* ---- ACL evaluation ---------------------------------------------------------------------- */

struct acl_case {
    const char *what;
    const char *pols[4]; /* NULL-terminated */
    const char *path;
    enum api_acl_op op;
    bool sudo;
    bool want;
};

#define RULE(p, caps) "path \"" p "\" { capabilities = [" caps "] }\n"
#define R             "\"read\""
#define U             "\"update\""
#define L             "\"list\""
#define D             "\"deny\""
#define OPR           API_ACL_OP_READ
#define OPL           API_ACL_OP_LIST
#define OPU           API_ACL_OP_UPDATE

static const struct acl_case acl_cases[] = {
    /* exact */
    {"exact", {RULE("secret/foo", R)}, "secret/foo", OPR, false, true},
    {"exact leading slash in rule", {RULE("/secret/foo", R)}, "secret/foo", OPR, false, true},
    {"exact leading slash in path", {RULE("secret/foo", R)}, "//secret/foo", OPR, false, true},
    {"exact not a prefix", {RULE("secret/foo", R)}, "secret/foo/bar", OPR, false, false},
    {"exact not shorter", {RULE("secret/foo", R)}, "secret/fo", OPR, false, false},
    {"exact other cap", {RULE("secret/foo", R)}, "secret/foo", OPU, false, false},
    {"exact trailing slash differs", {RULE("secret/foo", R)}, "secret/foo/", OPR, false, false},
    {"literal + inside segment", {RULE("secret/a+b", R)}, "secret/a+b", OPR, false, true},
    {"literal +x segment", {RULE("secret/+b", R)}, "secret/xb", OPR, false, false},
    {"literal +x segment exact", {RULE("secret/+b", R)}, "secret/+b", OPR, false, true},
    /* glob */
    {"glob deep", {RULE("secret/*", R)}, "secret/a/b/c", OPR, false, true},
    {"glob parent itself", {RULE("secret/*", R)}, "secret/", OPR, false, true},
    {"glob no slash", {RULE("secret/*", R)}, "secret", OPR, false, false},
    {"glob sibling", {RULE("secret/*", R)}, "secretx", OPR, false, false},
    {"glob mid segment", {RULE("secret/fo*", R)}, "secret/foo/bar", OPR, false, true},
    {"glob mid segment miss", {RULE("secret/fo*", R)}, "secret/fa", OPR, false, false},
    {"glob everything", {RULE("*", R)}, "any/path", OPR, false, true},
    /* + segment */
    {"plus", {RULE("secret/+/config", R)}, "secret/app/config", OPR, false, true},
    {"plus two segments", {RULE("secret/+/config", R)}, "secret/a/b/config", OPR, false, false},
    {"plus zero segments", {RULE("secret/+/config", R)}, "secret/config", OPR, false, false},
    {"plus longer path", {RULE("secret/+/config", R)}, "secret/a/config/x", OPR, false, false},
    {"plus first", {RULE("+/kv/x", R)}, "ns1/kv/x", OPR, false, true},
    {"plus alone", {RULE("+", R)}, "anything", OPR, false, true},
    {"plus alone one segment", {RULE("+", R)}, "a/b", OPR, false, false},
    {"plus then glob", {RULE("secret/+/config/*", R)}, "secret/a/config/x/y", OPR, false, true},
    {"plus then glob short", {RULE("secret/+/config/*", R)}, "secret/a/config", OPR, false, false},
    {"plus prefix segment", {RULE("secret/+/co*", R)}, "secret/a/conf/x", OPR, false, true},
    {"plus prefix segment miss", {RULE("secret/+/co*", R)}, "secret/a/x/conf", OPR, false, false},
    {"two plus", {RULE("a/+/b/+", R)}, "a/x/b/y", OPR, false, true},
    /* most specific wins; no union across different patterns (§6.3 rule 4) */
    {"specific: read denied",
     {RULE("secret/*", R) RULE("secret/foo", U)},
     "secret/foo",
     OPR,
     false,
     false},
    {"specific: update ok",
     {RULE("secret/*", R) RULE("secret/foo", U)},
     "secret/foo",
     OPU,
     false,
     true},
    {"specific: other path",
     {RULE("secret/*", R) RULE("secret/foo", U)},
     "secret/bar",
     OPR,
     false,
     true},
    {"specific across policies",
     {RULE("secret/*", R), RULE("secret/foo", U)},
     "secret/foo",
     OPR,
     false,
     false},
    {"longer glob wins",
     {RULE("secret/*", R), RULE("secret/f*", U)},
     "secret/foo",
     OPR,
     false,
     false},
    {"empty caps rule still wins",
     {RULE("secret/*", R), RULE("secret/foo", "")},
     "secret/foo",
     OPR,
     false,
     false},
    /* deny */
    {"deny same pattern across",
     {RULE("secret/foo", R), RULE("secret/foo", D)},
     "secret/foo",
     OPR,
     false,
     false},
    {"deny same glob across",
     {RULE("secret/*", R " ," U), RULE("secret/*", D)},
     "secret/x",
     OPU,
     false,
     false},
    {"deny more specific",
     {RULE("secret/*", R) RULE("secret/foo", D)},
     "secret/foo",
     OPR,
     false,
     false},
    {"deny less specific loses",
     {RULE("secret/*", D) RULE("secret/foo", R)},
     "secret/foo",
     OPR,
     false,
     true},
    {"deny less specific applies",
     {RULE("secret/*", D) RULE("secret/foo", R)},
     "secret/bar",
     OPR,
     false,
     false},
    {"deny in rule with sudo",
     {"path \"s\" { capabilities = [\"sudo\", \"read\", \"deny\"] }"},
     "s",
     OPR,
     false,
     false},
    /* union of the same pattern */
    {"union exact", {RULE("secret/foo", R), RULE("secret/foo", U)}, "secret/foo", OPU, false, true},
    {"union exact 2",
     {RULE("secret/foo", R), RULE("secret/foo", U)},
     "secret/foo",
     OPR,
     false,
     true},
    {"union glob", {RULE("secret/*", R), RULE("secret/*", L)}, "secret/x", OPL, false, true},
    {"union plus", {RULE("a/+/c", R), RULE("/a/+/c", U)}, "a/b/c", OPU, false, true},
    /* default deny */
    {"no rule", {RULE("secret/foo", R)}, "other", OPR, false, false},
    {"comment-only policy", {"# nothing here\n"}, "secret/foo", OPR, false, false},
    /* LIST on parents */
    {"list glob parent", {RULE("secret/metadata/*", L)}, "secret/metadata/", OPL, false, true},
    {"list glob parent no slash",
     {RULE("secret/metadata/*", L)},
     "secret/metadata",
     OPL,
     false,
     true},
    {"list glob child dir",
     {RULE("secret/metadata/*", L)},
     "secret/metadata/app/",
     OPL,
     false,
     true},
    {"list glob no read", {RULE("secret/metadata/*", L)}, "secret/metadata/", OPR, false, false},
    {"list exact without slash",
     {RULE("secret/metadata/app", L)},
     "secret/metadata/app",
     OPL,
     false,
     true},
    {"list exact with slash",
     {RULE("secret/metadata/app/", L)},
     "secret/metadata/app",
     OPL,
     false,
     true},
    {"read exact with slash fallback only for list",
     {RULE("secret/metadata/app", R)},
     "secret/metadata/app/",
     OPR,
     false,
     false},
    {"list plus without slash (1.13.10+)",
     {RULE("+/sys/policies/acl", L)},
     "ns/sys/policies/acl",
     OPL,
     false,
     true},
    {"list plus with slash",
     {RULE("+/sys/policies/acl/", L)},
     "ns/sys/policies/acl/",
     OPL,
     false,
     true},
    {"list trims before non-exact",
     {RULE("secret/*", L) RULE("secret/foo/*", R)},
     "secret/foo/",
     OPL,
     false,
     true},
    /* GHSA-xp3c-3jw3-4vcr: the trimmed match must not override a deny on the listing path */
    {"list deny on the listing path wins over the trimmed match",
     {RULE("secret/*", L) RULE("secret/foo/*", D)},
     "secret/foo/",
     OPL,
     false,
     false},
    {"list deny below parent",
     {RULE("secret/*", L) RULE("secret/foo/*", D)},
     "secret/foo/x/",
     OPL,
     false,
     false},
    {"list of parent not granted by child rule",
     {RULE("secret/metadata/app/*", L)},
     "secret/metadata/",
     OPL,
     false,
     false},
    /* sudo, create/update/patch, legacy */
    {"sudo missing", {RULE("sys/audit", R)}, "sys/audit", OPR, true, false},
    {"sudo present", {RULE("sys/audit", R ", \"sudo\"")}, "sys/audit", OPR, true, true},
    {"sudo of a less specific rule does not count",
     {RULE("sys/*", "\"sudo\""), RULE("sys/audit", R)},
     "sys/audit",
     OPR,
     true,
     false},
    /* as vault/acl.go: a '+' part matches any path part, also the empty one LIST's '/' adds */
    {"list plus matches the empty part", {RULE("secret/+", L)}, "secret", OPL, false, true},
    {"read plus needs a part", {RULE("secret/+", R)}, "secret", OPR, false, false},
    /* same pattern merged across policies first, then the most specific one chosen */
    {"merged glob loses to exact",
     {RULE("secret/*", R) RULE("secret/foo", L), RULE("secret/*", U)},
     "secret/foo",
     OPU,
     false,
     false},
    {"merged glob", {RULE("secret/*", R), RULE("secret/*", U)}, "secret/bar", OPU, false, true},
    {"create only", {RULE("secret/x", "\"create\"")}, "secret/x", API_ACL_OP_CREATE, false, true},
    {"create is not update", {RULE("secret/x", "\"create\"")}, "secret/x", OPU, false, false},
    {"patch", {RULE("secret/data/x", "\"patch\"")}, "secret/data/x", API_ACL_OP_PATCH, false, true},
    {"delete",
     {RULE("secret/data/x", "\"delete\"")},
     "secret/data/x",
     API_ACL_OP_DELETE,
     false,
     true},
    {"legacy write has no patch",
     {"path \"s/*\" { policy = \"write\" }"},
     "s/x",
     API_ACL_OP_PATCH,
     false,
     false},
    {"legacy write lists", {"path \"s/*\" { policy = \"write\" }"}, "s/", OPL, false, true},
    {"legacy sudo", {"path \"s/*\" { policy = \"sudo\" }"}, "s/x", API_ACL_OP_DELETE, true, true},
    {"json policy",
     {"{\"path\":{\"secret/*\":{\"policy\":\"read\"}}}"},
     "secret/x",
     OPL,
     false,
     true},
    /* precedence tie-breaks (vault/acl.go) */
    {"later glob beats earlier plus",
     {RULE("foo/a*", R) RULE("foo/+", U)},
     "foo/abc",
     OPR,
     false,
     true},
    {"later plus beats earlier plus",
     {RULE("foo/bar/+/baz", R) RULE("foo/+/bar/baz", U)},
     "foo/bar/bar/baz",
     OPR,
     false,
     true},
    {"non-glob beats glob",
     {RULE("foo/+/bar", R) RULE("foo/+/ba*", U)},
     "foo/x/bar",
     OPR,
     false,
     true},
    {"plus beats glob at same place",
     {RULE("foo/+", R) RULE("foo/*", U)},
     "foo/x",
     OPR,
     false,
     true},
    {"glob when plus cannot match",
     {RULE("foo/+", R) RULE("foo/*", U)},
     "foo/x/y",
     OPU,
     false,
     true},
    {"fewer plus wins",
     {RULE("foo/+/bar/+", U) RULE("foo/+/bar/baz", R)},
     "foo/x/bar/baz",
     OPR,
     false,
     true},
    {"fewer plus beats longer",
     {RULE("a/+/+/zzzzz*", U) RULE("a/+/c/z*", R)},
     "a/q/c/zzzzz",
     OPR,
     false,
     true},
    {"glob matches only the last segment by prefix",
     {RULE("secret/+/co/x*", R)},
     "secret/a/conf/xy",
     OPR,
     false,
     false},
    {"longer wins",
     {RULE("foo/+/bar/ba*", R) RULE("foo/+/bar/b*", U)},
     "foo/x/bar/baz",
     OPR,
     false,
     true},
    {"lexicographically larger wins",
     {RULE("a/+/x/+", R) RULE("a/+/+/y", U)},
     "a/q/x/y",
     OPR,
     false,
     true},
    {"lexicographically smaller loses",
     {RULE("a/+/x/+", R) RULE("a/+/+/y", U)},
     "a/q/x/y",
     OPU,
     false,
     false},
    {"exact beats all",
     {RULE("foo/x", R) RULE("foo/+", U) RULE("foo/*", U)},
     "foo/x",
     OPU,
     false,
     false},
    {"plus beats glob, same position",
     {RULE("secret/data/+/config", R), RULE("secret/data/*", U)},
     "secret/data/app/config",
     OPR,
     false,
     true},
    {"later glob beats plus",
     {RULE("secret/data/app*", R), RULE("secret/data/+/config", U)},
     "secret/data/app/config",
     OPU,
     false,
     false},
};

static void test_acl_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(acl_cases) / sizeof(acl_cases[0]); i++) {
        const struct acl_case *c = &acl_cases[i];
        struct api_acl *acl = acl_of(c->pols);
        bool got = api_acl_allows_op(acl, c->path, c->op, c->sudo);
        if (got != c->want)
            fail_msg("case %zu '%s': %s op %d -> %d, want %d", i, c->what, c->path, (int)c->op, got,
                     c->want);
        api_acl_free(acl);
    }
}

static void test_acl_capabilities(void **state)
{
    (void)state;
    const char *pols[] = {RULE("secret/*", R ", " L) RULE("secret/foo", D) RULE("secret/bar", "")
                              RULE("secret/metadata/app", L),
                          NULL};
    struct api_acl *acl = acl_of(pols);
    const char *names[12];

    assert_int_equal(api_acl_capabilities(acl, "secret/x"), API_CAP_READ | API_CAP_LIST);
    assert_int_equal(api_acl_capabilities(acl, "secret/foo"), API_CAP_DENY);
    assert_int_equal(api_acl_capabilities(acl, "secret/bar"), 0);
    assert_int_equal(api_acl_capabilities(acl, "elsewhere"), 0);
    /* sys/capabilities evaluates as a LIST: the exact rule without '/' answers */
    assert_int_equal(api_acl_capabilities(acl, "secret/metadata/app/"), API_CAP_LIST);
    assert_int_equal(api_policy_cap_names(api_acl_capabilities(acl, "secret/x"), names, 12), 2);
    assert_string_equal(names[0], "list");
    assert_string_equal(names[1], "read");
    assert_int_equal(api_policy_cap_names(api_acl_capabilities(acl, "secret/foo"), names, 12), 1);
    assert_string_equal(names[0], "deny");
    assert_false(api_acl_is_root(acl));
    assert_false(api_acl_allows(acl, "secret/x", 0));
    assert_false(api_acl_allows(acl, "secret/x", API_CAP_DENY));
    assert_true(api_acl_allows(acl, "secret/x", API_CAP_READ | API_CAP_LIST));
    assert_false(api_acl_allows(acl, "secret/x", API_CAP_READ | API_CAP_UPDATE));
    assert_false(api_acl_allows(acl, "secret/foo", API_CAP_READ));
    assert_false(api_acl_allows(NULL, "secret/x", API_CAP_READ));
    assert_false(api_acl_allows(acl, NULL, API_CAP_READ));
    assert_int_equal(api_acl_capabilities(NULL, "x"), 0);
    assert_false(api_acl_allows_op(acl, "secret/x", (enum api_acl_op)99, false));
    api_acl_free(acl);
}

static void test_acl_root(void **state)
{
    (void)state;
    struct api_policy *pols[2] = {NULL, NULL};
    struct api_acl *acl = NULL;
    const char *names[4];

    assert_int_equal(api_policy_new_root(&pols[0]), TR_OK);
    assert_true(api_policy_is_root(pols[0]));
    assert_string_equal(api_policy_name(pols[0]), "root");
    assert_string_equal(api_policy_text(pols[0], NULL), "");
    assert_int_equal(api_acl_new(pols, 1, &acl), TR_OK);
    assert_true(api_acl_is_root(acl));
    assert_true(api_acl_allows_op(acl, "sys/audit", API_ACL_OP_UPDATE, true));
    assert_true(api_acl_allows_op(acl, "anything/at/all", API_ACL_OP_LIST, false));
    assert_true(api_acl_allows(acl, "x", API_CAP_GRANTS));
    assert_int_equal(api_acl_capabilities(acl, "x"), API_CAP_GRANTS | API_CAP_ROOT);
    assert_int_equal(api_policy_cap_names(api_acl_capabilities(acl, "x"), names, 4), 1);
    assert_string_equal(names[0], "root");
    assert_true(api_acl_has_mount_access(acl, "secret/"));
    api_acl_free(acl);
    acl = NULL;
    /* root alongside a deny policy still grants everything */
    pols[1] = parse_ok("d", RULE("*", D));
    assert_int_equal(api_acl_new(pols, 2, &acl), TR_OK);
    assert_true(api_acl_allows_op(acl, "secret/x", API_ACL_OP_READ, false));
    api_acl_free(acl);
    api_policy_free(pols[0]);
    api_policy_free(pols[1]);
}

static void test_acl_default_policy(void **state)
{
    (void)state;
    struct api_policy *pols[3] = {NULL, NULL, NULL};
    struct api_acl *acl = NULL;
    const char *names[4];

    assert_int_equal(api_policy_new_default(&pols[0]), TR_OK);
    assert_string_equal(api_policy_name(pols[0]), "default");
    assert_string_equal(api_policy_text(pols[0], NULL), api_policy_default_text());
    assert_true(api_policy_rule_count(pols[0]) >= 10);
    pols[2] = parse_ok("app", RULE("secret/data/app/*", R));
    /* pols[1] is NULL: a deleted policy still named on the token acts as empty */
    assert_int_equal(api_acl_new(pols, 3, &acl), TR_OK);
    assert_true(api_acl_allows_op(acl, "auth/token/lookup-self", API_ACL_OP_READ, false));
    assert_true(api_acl_allows_op(acl, "auth/token/renew-self", API_ACL_OP_UPDATE, false));
    assert_true(api_acl_allows_op(acl, "auth/token/revoke-self", API_ACL_OP_UPDATE, false));
    assert_true(api_acl_allows_op(acl, "sys/capabilities-self", API_ACL_OP_UPDATE, false));
    assert_true(api_acl_allows_op(acl, "cubbyhole/x", API_ACL_OP_CREATE, false));
    assert_true(api_acl_allows_op(acl, "cubbyhole", API_ACL_OP_LIST, false)); /* '/' added */
    assert_true(api_acl_allows_op(acl, "cubbyhole/", API_ACL_OP_LIST, false));
    assert_true(api_acl_allows_op(acl, "sys/wrapping/unwrap", API_ACL_OP_UPDATE, false));
    assert_true(api_acl_allows_op(acl, "secret/data/app/db", API_ACL_OP_READ, false));
    assert_false(api_acl_allows_op(acl, "auth/token/lookup-self", API_ACL_OP_UPDATE, false));
    assert_false(api_acl_allows_op(acl, "auth/token/create", API_ACL_OP_UPDATE, false));
    assert_false(api_acl_allows_op(acl, "sys/policies/acl/x", API_ACL_OP_UPDATE, false));
    assert_false(api_acl_allows_op(acl, "secret/data/other", API_ACL_OP_READ, false));
    assert_int_equal(
        api_policy_cap_names(api_acl_capabilities(acl, "sys/capabilities-self"), names, 4), 1);
    assert_string_equal(names[0], "update");
    api_acl_free(acl);
    api_policy_free(pols[0]);
    api_policy_free(pols[2]);
    /* no policies at all: default deny */
    assert_int_equal(api_acl_new(NULL, 0, &acl), TR_OK);
    assert_false(api_acl_allows_op(acl, "auth/token/lookup-self", API_ACL_OP_READ, false));
    api_acl_free(acl);
    assert_int_equal(api_acl_new(NULL, 1, &acl), TR_E_INVAL);
    assert_null(acl);
}

static void test_acl_mount_access(void **state)
{
    (void)state;
    static const struct {
        const char *pol;
        const char *mount;
        bool want;
    } cases[] = {
        {RULE("secret/data/app/*", R), "secret/", true},
        {RULE("secret/data/app/*", R), "secret", true},
        {RULE("secret/data/app/x", R), "secret/", true},
        {RULE("secret/*", L), "secret/", true},
        {RULE("*", R), "secret/", true},
        {RULE("secret/data/app/*", D), "secret/", false},
        {RULE("secret/data/app/*", ""), "secret/", false},
        {RULE("secret/+/app", U), "secret/", true},
        {RULE("+/data/app", U), "secret/", true},
        {RULE("+/data/app", D), "secret/", false},
        {RULE("kv/+/app", U), "secret/", false},
        {RULE("transit/keys/x", R), "secret/", false},
        {RULE("secretive/x", R), "secret/", false},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *pols[] = {cases[i].pol, NULL};
        struct api_acl *acl = acl_of(pols);
        if (api_acl_has_mount_access(acl, cases[i].mount) != cases[i].want)
            fail_msg("case %zu: %s on %s", i, cases[i].pol, cases[i].mount);
        api_acl_free(acl);
    }
}

static void test_acl_path_limits(void **state)
{
    (void)state;
    const char *pols[] = {RULE("*", R ", " L), NULL};
    struct api_acl *acl = acl_of(pols);
    char *path = malloc(API_POLICY_PATTERN_MAX + 2);

    assert_non_null(path);
    memset(path, 'a', API_POLICY_PATTERN_MAX);
    path[API_POLICY_PATTERN_MAX] = '\0';
    assert_true(api_acl_allows_op(acl, path, API_ACL_OP_LIST, false));
    path[API_POLICY_PATTERN_MAX] = 'a';
    path[API_POLICY_PATTERN_MAX + 1] = '\0';
    assert_false(api_acl_allows_op(acl, path, API_ACL_OP_READ, false));
    assert_false(api_acl_has_mount_access(acl, path));
    assert_int_equal(api_acl_capabilities(acl, path), 0);
    assert_true(api_acl_allows_op(acl, "", API_ACL_OP_READ, false));
    free(path);
    api_acl_free(acl);
}

/* ---- Mutation loop ----------------------------------------------------------------------- */

static const char *const mutation_bases[] = {
    "# app policy\n"
    "path \"secret/data/app/*\" {\n"
    "  capabilities = [\"create\", \"read\", \"update\", \"patch\", \"delete\",]\n"
    "}\n"
    "/* block */ path \"secret/metadata/+/x*\" { capabilities = [\"list\"], comment = \"\\u00e9\" "
    "}\n"
    "path \"sys/audit\" { policy = \"sudo\" } // legacy\n"
    "path = { \"a\" = { capabilities = [\"deny\"] } }\n",
    "{\"path\": {\"secret/*\": {\"capabilities\": [\"read\", \"list\"]},\n"
    " \"a/+/b\": {\"policy\": \"write\"}, \"x\": {\"capabilities\": [\"deny\"]}}}",
};

static uint64_t test_seed(void)
{
    const char *env = getenv("TR_TEST_SEED");
    uint64_t seed;

    if (env && *env) {
        char *end = NULL;
        seed = strtoull(env, &end, 0);
        if (end && *end == '\0')
            return seed;
    }
    seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    return seed ? seed : 1;
}

static void mutate(char *buf, size_t *len, size_t cap)
{
    static const char specials[] = "{}[]\"=,#/*\\\n+ \x01\xff\xc3";
    size_t kind = rng_below(5), n = *len;

    if (n == 0)
        return;
    if (kind == 0) { /* bit flips */
        for (size_t i = 1 + rng_below(4); i > 0; i--)
            buf[rng_below(n)] ^= (char)(1u << rng_below(8));
    } else if (kind == 1) { /* truncation */
        *len = rng_below(n);
    } else if (kind == 2) { /* replace with a syntax byte */
        buf[rng_below(n)] = specials[rng_below(sizeof(specials) - 1)];
    } else if (kind == 3 && n < cap) { /* insertion */
        size_t at = rng_below(n + 1);
        memmove(buf + at + 1, buf + at, n - at);
        buf[at] = specials[rng_below(sizeof(specials) - 1)];
        *len = n + 1;
    } else { /* delete a span */
        size_t at = rng_below(n), span = 1 + rng_below(8);
        span = span > n - at ? n - at : span;
        memmove(buf + at, buf + at + span, n - at - span);
        *len = n - span;
    }
}

static void test_policy_parse_mutations(void **state)
{
    (void)state;
    uint64_t seed = test_seed();
    size_t ok = 0, bad = 0;
    char buf[1024], err[ERRLEN];

    printf("test_policy: mutation seed TR_TEST_SEED=%llu\n", (unsigned long long)seed);
    rng_state = seed;
    for (size_t iter = 0; iter < 2000; iter++) {
        const char *base = mutation_bases[iter % 2];
        size_t len = strlen(base);
        struct api_policy *pol = NULL;
        struct api_acl *acl = NULL;
        int rc;

        memcpy(buf, base, len);
        for (size_t m = 1 + rng_below(3); m > 0; m--)
            mutate(buf, &len, sizeof(buf));
        err[0] = '\0';
        rc = api_policy_parse("fuzz", buf, len, &pol, err, sizeof(err));
        if (rc == TR_OK) {
            ok++;
            assert_int_equal(api_acl_new(&pol, 1, &acl), TR_OK);
            (void)api_acl_capabilities(acl, "secret/data/app/x");
            (void)api_acl_allows_op(acl, "secret/metadata/q/xy", API_ACL_OP_LIST, false);
            (void)api_acl_has_mount_access(acl, "secret/");
            api_acl_free(acl);
            api_policy_free(pol);
        } else {
            bad++;
            if ((rc != TR_E_INVAL && rc != TR_E_TOO_LARGE) || err[0] == '\0' || pol)
                fail_msg("seed %llu iter %zu: rc %s err '%s'", (unsigned long long)seed, iter,
                         tr_err_name(rc), err);
        }
    }
    printf("test_policy: mutations: %zu parsed, %zu rejected\n", ok, bad);
    assert_true(bad > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_parse_hcl_syntax),
        cmocka_unit_test(test_policy_parse_legacy_policy),
        cmocka_unit_test(test_policy_parse_deny_and_merge),
        cmocka_unit_test(test_policy_parse_json_equivalence),
        cmocka_unit_test(test_policy_parse_errors),
        cmocka_unit_test(test_policy_parse_limits),
        cmocka_unit_test(test_policy_parse_many_rules),
        cmocka_unit_test(test_policy_parse_bad_args),
        cmocka_unit_test(test_policy_name_normalize),
        cmocka_unit_test(test_policy_name_reserved),
        cmocka_unit_test(test_policy_cap_parse_and_names),
        cmocka_unit_test(test_acl_table),
        cmocka_unit_test(test_acl_capabilities),
        cmocka_unit_test(test_acl_root),
        cmocka_unit_test(test_acl_default_policy),
        cmocka_unit_test(test_acl_mount_access),
        cmocka_unit_test(test_acl_path_limits),
        cmocka_unit_test(test_policy_parse_mutations),
    };

    return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
