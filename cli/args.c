#include "args.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/tr_json.h"
#include "http.h"
#include "input.h"

int cli_args_split(const char *arg, size_t *out_klen, const char **out_val)
{
    const char *eq = strchr(arg, '=');

    if (!eq || eq == arg)
        return TR_E_INVAL;
    *out_klen = (size_t)(eq - arg);
    *out_val = eq + 1;
    return TR_OK;
}

/* Add key -> val; a repeated key turns into (or extends) an array, as in the vault CLI. */
static int obj_add(json_t *obj, const char *key, json_t *val)
{
    json_t *old = json_object_get(obj, key), *arr;

    if (!val)
        return TR_E_INVAL;
    if (!old)
        return json_object_set_new(obj, key, val) == 0 ? TR_OK : TR_E_NOMEM;
    if (json_is_array(old))
        return json_array_append_new(old, val) == 0 ? TR_OK : TR_E_NOMEM;
    if (!(arr = json_array()) || json_array_append(arr, old) != 0 ||
        json_array_append_new(arr, val) != 0) {
        json_decref(arr);
        return TR_E_NOMEM;
    }
    return json_object_set_new(obj, key, arr) == 0 ? TR_OK : TR_E_NOMEM;
}

/* Merge a JSON object from text (stdin or a file) into obj. */
static int merge_json_text(json_t *obj, const char *buf, size_t len, char *err, size_t errlen)
{
    json_t *in = NULL;
    char why[160];
    const char *k;
    json_t *v;
    int rc;

    if ((rc = tr_json_parse(buf, len, NULL, &in, why, sizeof(why))) != TR_OK) {
        snprintf(err, errlen, "%s", why);
        return rc;
    }
    rc = TR_OK;
    if (!json_is_object(in)) {
        snprintf(err, errlen, "JSON input must be an object");
        rc = TR_E_INVAL;
    }
    json_object_foreach(in, k, v)
    {
        /* A deep copy: `in` is wiped below, and shared strings would be wiped with it. */
        if (rc == TR_OK)
            rc = json_object_set_new(obj, k, json_deep_copy(v)) == 0 ? TR_OK : TR_E_NOMEM;
    }
    cli_json_wipe(in);
    json_decref(in);
    return rc;
}

static int merge_json_source(json_t *obj, const char *path, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    int rc;

    if ((rc = cli_input_file(path, &buf, &len)) != TR_OK) {
        snprintf(err, errlen, "cannot read %s: %s", strcmp(path, "-") ? path : "stdin",
                 tr_strerror(rc));
        return rc;
    }
    rc = merge_json_text(obj, buf, len, err, errlen);
    cli_secret_free(buf, len);
    return rc;
}

/* The value of one KEY=... argument, or of a bare KEY (val NULL: prompt). */
static int value_read(const char *key, const char *val, char **out, size_t *out_len, char *err,
                      size_t errlen)
{
    char prompt[160];
    int rc;

    if (!val) {
        if (!cli_input_is_tty()) {
            snprintf(err, errlen,
                     "no value for \"%.64s\" and stdin is not a terminal (use %.64s=- to read "
                     "it from stdin or %.64s=@FILE)",
                     key, key, key);
            return TR_E_INVAL;
        }
        snprintf(prompt, sizeof(prompt), "%.64s (will be hidden): ", key);
        rc = cli_input_prompt(prompt, out, out_len);
    } else if (strcmp(val, "-") == 0) {
        rc = cli_input_stdin(out, out_len);
    } else if (val[0] == '@') {
        rc = cli_input_file(val + 1, out, out_len);
    } else {
        if (val[0] == '\\' && (val[1] == '@' || strcmp(val + 1, "-") == 0))
            val++;
        rc = cli_secret_strdup(val, strlen(val), out);
        *out_len = strlen(val);
    }
    if (rc != TR_OK)
        snprintf(err, errlen, "cannot read the value of \"%.64s\": %s", key,
                 rc == TR_E_STATE ? "stdin was already used" : tr_strerror(rc));
    return rc;
}

static int add_pair(json_t *obj, const char *arg, char *err, size_t errlen)
{
    char key[256];
    const char *val = NULL;
    size_t klen = strlen(arg), len = 0;
    char *buf = NULL;
    int rc;

    if (cli_args_split(arg, &klen, &val) != TR_OK && strchr(arg, '=')) {
        snprintf(err, errlen, "argument \"%.64s\" has an empty key", arg);
        return TR_E_INVAL;
    }
    if (klen == 0) {
        snprintf(err, errlen, "empty argument where KEY=VALUE was expected");
        return TR_E_INVAL;
    }
    if (klen >= sizeof(key)) {
        snprintf(err, errlen, "a key is longer than %zu bytes", sizeof(key) - 1);
        return TR_E_INVAL;
    }
    memcpy(key, arg, klen);
    key[klen] = '\0';
    if ((rc = value_read(key, val, &buf, &len, err, errlen)) != TR_OK)
        return rc;
    if ((rc = obj_add(obj, key, json_stringn(buf, len))) == TR_E_INVAL)
        snprintf(err, errlen, "the value of \"%.64s\" is not valid UTF-8 text", key);
    cli_secret_free(buf, len);
    return rc;
}

int cli_args_kv(int argc, char **argv, json_t **out, char *err, size_t errlen)
{
    json_t *obj = json_object();
    int rc = TR_E_NOMEM;

    *out = NULL;
    if (!obj)
        goto out;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-") == 0)
            rc = merge_json_source(obj, "-", err, errlen);
        else if (a[0] == '@')
            rc = merge_json_source(obj, a + 1, err, errlen);
        else
            rc = add_pair(obj, a, err, errlen);
        if (rc != TR_OK)
            goto out;
    }
    *out = obj;
    obj = NULL;
    rc = TR_OK;
out:
    cli_json_wipe(obj);
    json_decref(obj);
    return rc;
}

int cli_args_versions(const char *s, json_t **out)
{
    json_t *arr = json_array();
    int rc = TR_E_INVAL;

    *out = NULL;
    if (!arr)
        return TR_E_NOMEM;
    while (*s) {
        char num[24];
        int64_t v;
        size_t n;
        while (*s == ' ' || *s == ',')
            s++;
        n = strcspn(s, ", ");
        if (n == 0)
            break;
        if (n >= sizeof(num))
            goto out;
        memcpy(num, s, n);
        num[n] = '\0';
        if (!tr_parse_int64(num, &v) || v < 1 || num[0] == '+')
            goto out;
        if (json_array_append_new(arr, json_string(num)) != 0) {
            rc = TR_E_NOMEM;
            goto out;
        }
        s += n;
    }
    if (json_array_size(arr) == 0)
        goto out;
    *out = arr;
    arr = NULL;
    rc = TR_OK;
out:
    json_decref(arr);
    return rc;
}
