#include "flags.h"

#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "../common/tr_json.h"

bool cli_parse_bool(const char *s, bool *out)
{
    return s && tr_parse_bool(s, out);
}

static const struct cli_flag *flag_find(const struct cli_flagset *sets, size_t nsets,
                                        const char *name, size_t len)
{
    for (size_t s = 0; s < nsets; s++)
        for (size_t i = 0; i < sets[s].n; i++)
            if (strlen(sets[s].v[i].name) == len && strncmp(sets[s].v[i].name, name, len) == 0)
                return &sets[s].v[i];
    return NULL;
}

static bool flag_takes_value(const struct cli_flag *f)
{
    return f->type != CLI_FLAG_BOOL && f->type != CLI_FLAG_OPTSTR;
}

static int flag_list_add(const struct cli_flag *f, const char *val)
{
    json_t **arr = f->dest;

    if (!*arr && !(*arr = json_array()))
        return TR_E_NOMEM;
    return json_array_append_new(*arr, json_string(val)) == 0 ? TR_OK : TR_E_INVAL;
}

/* Store one flag's value; val is NULL when the flag was given bare. */
static int flag_store(const struct cli_flag *f, const char *val, char *err, size_t errlen)
{
    int64_t n, secs;
    int rc = TR_OK;

    switch (f->type) {
    case CLI_FLAG_BOOL:
        if (!val)
            *(bool *)f->dest = true;
        else if (!cli_parse_bool(val, f->dest))
            rc = TR_E_INVAL;
        break;
    case CLI_FLAG_OPTSTR:
        *(const char **)f->dest = val ? val : "";
        break;
    case CLI_FLAG_STR:
        *(const char **)f->dest = val;
        break;
    case CLI_FLAG_INT:
        if (!tr_parse_int64(val, &n))
            rc = TR_E_INVAL;
        else
            *(int64_t *)f->dest = n;
        break;
    case CLI_FLAG_DUR:
        if (!tr_parse_duration(val, &secs))
            rc = TR_E_INVAL;
        else
            *(const char **)f->dest = val;
        break;
    case CLI_FLAG_LIST:
        if ((rc = flag_list_add(f, val)) == TR_E_INVAL)
            snprintf(err, errlen, "value of -%s is not valid UTF-8", f->name);
        return rc;
    }
    if (rc != TR_OK)
        snprintf(err, errlen, "invalid value for -%s (expected %s)", f->name,
                 f->type == CLI_FLAG_BOOL  ? "true or false"
                 : f->type == CLI_FLAG_INT ? "a whole number"
                                           : "a duration such as 30s, 15m or 1h");
    else if (f->set)
        *f->set = true;
    return rc;
}

static bool is_help(const char *a)
{
    return !strcmp(a, "-h") || !strcmp(a, "-help") || !strcmp(a, "--help");
}

int cli_flags_parse(const struct cli_flagset *sets, size_t nsets, int *argc, char **argv,
                    bool *out_help, char *err, size_t errlen)
{
    int n = *argc, npos = 0, rc;
    bool flags_done = false;

    *out_help = false;
    for (int i = 0; i < n; i++) {
        const char *a = argv[i];
        if (flags_done || a[0] != '-' || a[1] == '\0') {
            argv[npos++] = argv[i];
            continue;
        }
        if (!strcmp(a, "--")) {
            flags_done = true;
            continue;
        }
        if (is_help(a)) {
            *out_help = true;
            return TR_OK;
        }
        const char *name = a + (a[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct cli_flag *f = flag_find(sets, nsets, name, nlen);
        if (!f) {
            snprintf(err, errlen, "unknown flag -%.*s", (int)nlen, name);
            return TR_E_INVAL;
        }
        const char *val = eq ? eq + 1 : NULL;
        if (!val && flag_takes_value(f)) {
            if (i + 1 >= n) {
                snprintf(err, errlen, "flag -%s needs a value", f->name);
                return TR_E_INVAL;
            }
            val = argv[++i];
        }
        if ((rc = flag_store(f, val, err, errlen)) != TR_OK)
            return rc;
    }
    *argc = npos;
    return TR_OK;
}

void cli_flags_usage(FILE *fp, const struct cli_flag *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char left[64];
        const char *mv = v[i].metavar;
        if (v[i].type == CLI_FLAG_BOOL)
            snprintf(left, sizeof(left), "-%s", v[i].name);
        else if (v[i].type == CLI_FLAG_OPTSTR)
            snprintf(left, sizeof(left), "-%s[=%s]", v[i].name, mv ? mv : "VALUE");
        else
            snprintf(left, sizeof(left), "-%s=%s", v[i].name, mv ? mv : "VALUE");
        fprintf(fp, "  %-28s %s\n", left, v[i].help);
    }
}
