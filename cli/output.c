#include "output.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <yaml.h>

bool cli_format_parse(const char *s, enum cli_format *out)
{
    static const struct {
        const char *name;
        enum cli_format f;
    } names[] = {
        {"table", CLI_FMT_TABLE},
        {"json", CLI_FMT_JSON},
        {"yaml", CLI_FMT_YAML},
        {"env", CLI_FMT_ENV},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].f;
            return true;
        }
    }
    return false;
}

void cli_print_safe(FILE *fp, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
            fprintf(fp, "\\x%02x", c);
        else
            fputc(c, fp);
    }
}

/* Free text that may have held a secret value: wipe it first. */
static void text_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

char *cli_value_text(const json_t *v)
{
    if (!v || json_is_null(v))
        return strdup("n/a");
    if (json_is_string(v))
        return strndup(json_string_value(v), json_string_length(v));
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

void cli_fmt_duration(int64_t secs, char *buf, size_t len)
{
    int64_t h = secs / 3600, m = (secs % 3600) / 60, s = secs % 60;
    size_t off = 0;

    if (secs <= 0) {
        snprintf(buf, len, "∞");
        return;
    }
    buf[0] = '\0';
    if (h)
        off += (size_t)snprintf(buf + off, len - off, "%lldh", (long long)h);
    if (m && off < len)
        off += (size_t)snprintf(buf + off, len - off, "%lldm", (long long)m);
    if (s && off < len)
        snprintf(buf + off, len - off, "%llds", (long long)s);
}

void cli_output_json(FILE *fp, const json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);

    if (s) {
        fputs(s, fp);
        fputc('\n', fp);
        text_free(s);
    }
}

/* ---- table ------------------------------------------------------------------------------- */

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of obj in display order (owned array, borrowed strings); NULL when empty or OOM. */
static const char **object_keys(const json_t *obj, bool sorted, size_t *out_n)
{
    size_t n = json_object_size(obj), i = 0;
    const char **keys;
    const char *k;
    json_t *v;

    *out_n = 0;
    if (n == 0 || !(keys = calloc(n, sizeof(*keys))))
        return NULL;
    json_object_foreach((json_t *)obj, k, v)
    {
        keys[i++] = k;
    }
    if (sorted)
        qsort(keys, n, sizeof(*keys), key_cmp);
    *out_n = n;
    return keys;
}

static void print_row(FILE *fp, const char *key, size_t width, const char *val)
{
    cli_print_safe(fp, key, strlen(key));
    fprintf(fp, "%*s", (int)(width - strlen(key) + 4), "");
    cli_print_safe(fp, val, strlen(val));
    fputc('\n', fp);
}

static void print_kv(FILE *fp, const json_t *obj, bool sorted)
{
    size_t n, width = 3;
    const char **keys = object_keys(obj, sorted, &n);

    for (size_t i = 0; i < n; i++)
        if (strlen(keys[i]) > width)
            width = strlen(keys[i]);
    print_row(fp, "Key", width, "Value");
    print_row(fp, "---", width, "-----");
    for (size_t i = 0; i < n; i++) {
        char *t = cli_value_text(json_object_get(obj, keys[i]));
        print_row(fp, keys[i], width, t ? t : "?");
        text_free(t);
    }
    free(keys);
}

static void print_list(FILE *fp, const json_t *arr)
{
    size_t i;
    json_t *v;

    fputs("Keys\n----\n", fp);
    json_array_foreach(arr, i, v)
    {
        char *t = cli_value_text(v);
        if (t) {
            cli_print_safe(fp, t, strlen(t));
            fputc('\n', fp);
        }
        text_free(t);
    }
}

/* "default_lease_ttl" -> "Default lease ttl": column headings from member names. */
static void column_label(const char *name, char *buf, size_t len)
{
    size_t i;

    for (i = 0; name[i] && i + 1 < len; i++)
        buf[i] = name[i] == '_' ? ' ' : name[i];
    buf[i] = '\0';
    if (buf[0])
        buf[0] = (char)toupper((unsigned char)buf[0]);
}

/* Cell text for row key k, column c (column 0 is the key itself). Owned. */
static char *cell_text(const json_t *row, const char *k, size_t c, const char *const *cols)
{
    return c == 0 ? strdup(k) : cli_value_text(json_object_get(row, cols[c]));
}

static void print_columns(FILE *fp, const json_t *obj, const char *const *cols, bool sorted)
{
    size_t ncol = 0, nrow, width[16] = {0};
    const char **keys = object_keys(obj, sorted, &nrow);
    char label[64];

    while (ncol < 16 && cols[ncol])
        ncol++;
    for (size_t c = 0; c < ncol; c++) {
        column_label(cols[c], label, sizeof(label));
        width[c] = strlen(label);
        for (size_t r = 0; r < nrow; r++) {
            char *t = cell_text(json_object_get(obj, keys[r]), keys[r], c, cols);
            if (t && strlen(t) > width[c])
                width[c] = strlen(t);
            free(t);
        }
    }
    for (size_t pass = 0; pass < 2; pass++) {
        for (size_t c = 0; c < ncol; c++) {
            column_label(cols[c], label, sizeof(label));
            if (pass)
                memset(label, '-', strlen(label));
            fprintf(fp, "%-*s%s", c + 1 < ncol ? (int)width[c] : 0, label,
                    c + 1 < ncol ? "    " : "\n");
        }
    }
    for (size_t r = 0; r < nrow; r++) {
        for (size_t c = 0; c < ncol; c++) {
            char *t = cell_text(json_object_get(obj, keys[r]), keys[r], c, cols);
            const char *s = t ? t : "?";
            cli_print_safe(fp, s, strlen(s));
            if (c + 1 < ncol)
                fprintf(fp, "%*s", (int)(width[c] - strlen(s) + 4), "");
            free(t);
        }
        fputc('\n', fp);
    }
    free(keys);
}

static void print_section(FILE *fp, const struct cli_section *s)
{
    if (s->title) {
        /* Centred in a fixed width so consecutive headings line up. */
        size_t len = strlen(s->title), room = len + 6 < 26 ? 26 - len - 2 : 4;
        for (size_t i = 0; i < room / 2; i++)
            fputc('=', fp);
        fprintf(fp, " %s ", s->title);
        for (size_t i = 0; i < room - room / 2; i++)
            fputc('=', fp);
        fputc('\n', fp);
    }
    if (json_is_string(s->obj)) {
        size_t len = json_string_length(s->obj);
        cli_print_safe(fp, json_string_value(s->obj), len);
        if (len == 0 || json_string_value(s->obj)[len - 1] != '\n')
            fputc('\n', fp);
    } else if (json_is_array(s->obj)) {
        print_list(fp, s->obj);
    } else if (json_is_object(s->obj) && s->columns) {
        print_columns(fp, s->obj, s->columns, s->sorted);
    } else if (json_is_object(s->obj)) {
        print_kv(fp, s->obj, s->sorted);
    }
}

/* ---- env ------------------------------------------------------------------------------------ */

static void env_name(FILE *fp, const char *k)
{
    if (isdigit((unsigned char)k[0]))
        fputc('_', fp);
    for (; *k; k++)
        fputc(isalnum((unsigned char)*k) ? toupper((unsigned char)*k) : '_', fp);
}

/* Single quotes protect everything in POSIX sh but a single quote, written as '\''. */
static void env_value(FILE *fp, const char *v)
{
    fputc('\'', fp);
    for (; *v; v++) {
        if (*v == '\'')
            fputs("'\\''", fp);
        else
            fputc(*v, fp);
    }
    fputc('\'', fp);
}

static int print_env(FILE *fp, const struct cli_section *secs, size_t n)
{
    bool any_primary = false;
    const char *k;
    json_t *v;

    for (size_t i = 0; i < n; i++)
        any_primary |= secs[i].primary;
    for (size_t i = 0; i < n; i++) {
        if (any_primary && !secs[i].primary)
            continue;
        if (!json_is_object(secs[i].obj)) {
            fprintf(stderr, "tresor: -format=env needs key/value data; use table, json or yaml\n");
            return TR_E_INVAL;
        }
        json_object_foreach((json_t *)secs[i].obj, k, v)
        {
            char *t = json_is_null(v) ? strdup("") : cli_value_text(v);
            env_name(fp, k);
            fputc('=', fp);
            env_value(fp, t ? t : "");
            fputc('\n', fp);
            text_free(t);
        }
    }
    return TR_OK;
}

/* ---- field ---------------------------------------------------------------------------------- */

static const json_t *field_find(const char *name, const json_t *raw, const struct cli_section *secs,
                                size_t n)
{
    const json_t *v;

    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++)
            if (secs[i].primary == (pass == 0) && json_is_object(secs[i].obj) &&
                (v = json_object_get(secs[i].obj, name)))
                return v;
    if (!json_is_object(raw))
        return NULL;
    if ((v = json_object_get(raw, "data")) && json_is_object(v) && (v = json_object_get(v, name)))
        return v;
    if ((v = json_object_get(raw, "auth")) && json_is_object(v) && (v = json_object_get(v, name)))
        return v;
    return json_object_get(raw, name);
}

static int print_field(const char *name, const json_t *raw, const struct cli_section *secs,
                       size_t n)
{
    const json_t *v = field_find(name, raw, secs, n);
    char *t;

    if (!v) {
        fprintf(stderr, "tresor: field \"%s\" not present in the output\n", name);
        return TR_E_NOTFOUND;
    }
    if (json_is_string(v)) {
        fwrite(json_string_value(v), 1, json_string_length(v), stdout);
        return TR_OK;
    }
    if (!(t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)))
        return TR_E_NOMEM;
    fputs(t, stdout);
    text_free(t);
    return TR_OK;
}

/* ---- yaml ----------------------------------------------------------------------------------- */

static int yaml_write(void *data, unsigned char *buf, size_t size)
{
    return fwrite(buf, 1, size, data) == size;
}

/* A string that a YAML reader would take for a number, bool or null must be quoted. */
static bool yaml_ambiguous(const char *s, size_t len)
{
    static const char *const words[] = {"true", "false", "yes", "no",   "on",   "off",  "null",
                                        "True", "False", "Yes", "No",   "On",   "Off",  "Null",
                                        "TRUE", "FALSE", "YES", "NO",   "ON",   "OFF",  "NULL",
                                        "~",    "y",     "n",   "Y",    "N",    ".inf", "-.inf",
                                        ".nan", ".NaN",  "<<",  ".Inf", "-.Inf"};
    char *end = NULL;

    if (len == 0)
        return true;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcmp(s, words[i]) == 0)
            return true;
    (void)strtod(s, &end);
    if (end && *end == '\0')
        return true;
    return isdigit((unsigned char)s[0]) || s[0] == '+' || s[0] == '-' || s[0] == '.';
}

static int yaml_scalar(yaml_emitter_t *em, const char *s, size_t len, bool is_string)
{
    yaml_event_t ev;
    yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;

    if (is_string && (memchr(s, '\n', len) != NULL))
        style = YAML_LITERAL_SCALAR_STYLE;
    else if (is_string && yaml_ambiguous(s, len))
        style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    if (!yaml_scalar_event_initialize(&ev, NULL, (yaml_char_t *)YAML_STR_TAG,
                                      (yaml_char_t *)(uintptr_t)s, (int)len, 1, 1, style))
        return TR_E_NOMEM;
    return yaml_emitter_emit(em, &ev) ? TR_OK : TR_E_IO;
}

static int yaml_node(yaml_emitter_t *em, const json_t *v, int depth);

static int yaml_object(yaml_emitter_t *em, const json_t *v, int depth)
{
    yaml_event_t ev;
    const char *k;
    json_t *m;
    int rc;

    if (!yaml_mapping_start_event_initialize(&ev, NULL, (yaml_char_t *)YAML_MAP_TAG, 1,
                                             YAML_BLOCK_MAPPING_STYLE) ||
        !yaml_emitter_emit(em, &ev))
        return TR_E_IO;
    json_object_foreach((json_t *)v, k, m)
    {
        if ((rc = yaml_scalar(em, k, strlen(k), true)) != TR_OK)
            return rc;
        if ((rc = yaml_node(em, m, depth + 1)) != TR_OK)
            return rc;
    }
    if (!yaml_mapping_end_event_initialize(&ev) || !yaml_emitter_emit(em, &ev))
        return TR_E_IO;
    return TR_OK;
}

static int yaml_array(yaml_emitter_t *em, const json_t *v, int depth)
{
    yaml_event_t ev;
    size_t i;
    json_t *m;
    int rc;

    if (!yaml_sequence_start_event_initialize(&ev, NULL, (yaml_char_t *)YAML_SEQ_TAG, 1,
                                              YAML_BLOCK_SEQUENCE_STYLE) ||
        !yaml_emitter_emit(em, &ev))
        return TR_E_IO;
    json_array_foreach(v, i, m)
    {
        if ((rc = yaml_node(em, m, depth + 1)) != TR_OK)
            return rc;
    }
    if (!yaml_sequence_end_event_initialize(&ev) || !yaml_emitter_emit(em, &ev))
        return TR_E_IO;
    return TR_OK;
}

static int yaml_node(yaml_emitter_t *em, const json_t *v, int depth)
{
    char *t;
    int rc;

    if (depth > 64) /* responses were parsed with a depth cap of 32; this is a backstop */
        return TR_E_TOO_LARGE;
    if (json_is_object(v))
        return yaml_object(em, v, depth);
    if (json_is_array(v))
        return yaml_array(em, v, depth);
    if (json_is_string(v))
        return yaml_scalar(em, json_string_value(v), json_string_length(v), true);
    if (json_is_null(v))
        return yaml_scalar(em, "null", 4, false);
    if (!(t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)))
        return TR_E_NOMEM;
    rc = yaml_scalar(em, t, strlen(t), false);
    free(t);
    return rc;
}

int cli_output_yaml(FILE *fp, const json_t *v)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    int rc = TR_E_IO;

    if (!yaml_emitter_initialize(&em))
        return TR_E_NOMEM;
    yaml_emitter_set_output(&em, yaml_write, fp);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1);
    if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) ||
        !yaml_emitter_emit(&em, &ev))
        goto out;
    if (!yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) ||
        !yaml_emitter_emit(&em, &ev))
        goto out;
    if ((rc = yaml_node(&em, v, 0)) != TR_OK)
        goto out;
    rc = TR_E_IO;
    if (!yaml_document_end_event_initialize(&ev, 1) || !yaml_emitter_emit(&em, &ev))
        goto out;
    if (!yaml_stream_end_event_initialize(&ev) || !yaml_emitter_emit(&em, &ev))
        goto out;
    rc = yaml_emitter_flush(&em) ? TR_OK : TR_E_IO;
out:
    yaml_emitter_delete(&em);
    return rc;
}

/* ---- entry ---------------------------------------------------------------------------------- */

int cli_output(const struct cli_output_opts *opts, const json_t *raw,
               const struct cli_section *secs, size_t n)
{
    if (opts->field)
        return print_field(opts->field, raw, secs, n);
    switch (opts->format) {
    case CLI_FMT_JSON:
        if (raw)
            cli_output_json(stdout, raw);
        return TR_OK;
    case CLI_FMT_YAML:
        return raw ? cli_output_yaml(stdout, raw) : TR_OK;
    case CLI_FMT_ENV:
        return print_env(stdout, secs, n);
    case CLI_FMT_TABLE:
        break;
    }
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (!secs[i].obj)
            continue;
        if (!first)
            fputc('\n', stdout);
        print_section(stdout, &secs[i]);
        first = false;
    }
    return TR_OK;
}
