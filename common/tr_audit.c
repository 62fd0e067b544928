#include "tr_audit.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

static void set_err(char *err, size_t errlen, const char *why)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", why);
}

/* The SHA-256 implementation, fetched from the default provider once: EVP_sha256() makes every
 * EVP_Digest look it up again (a name lookup under a lock, then reference counting), which cost
 * about as much as hashing a whole audit line. Kept for the process's life (the provider's
 * method store holds it too). NULL if the fetch failed: EVP_sha256() is used instead. */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int tr_audit_sha256_hex(const void *p, size_t len, char out[TR_AUDIT_HASH_HEX + 1])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;

    memset(out, 0, TR_AUDIT_HASH_HEX + 1);
    if (!p && len)
        return TR_E_INVAL;
    pthread_once(&sha256_once, sha256_fetch);
    /* EVP_Digest reads nothing when len is 0, but wants a valid pointer. */
    if (EVP_Digest(len ? p : "", len, md, &md_len, sha256_md ? sha256_md : EVP_sha256(), NULL) !=
            1 ||
        md_len * 2 != TR_AUDIT_HASH_HEX)
        return TR_E_INTERNAL;
    for (unsigned int i = 0; i < md_len; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 0x0f];
    }
    return TR_OK;
}

int tr_audit_entry_hash(json_t *entry, char out[TR_AUDIT_HASH_HEX + 1])
{
    json_t *body = NULL;
    char *text = NULL;
    int rc = TR_E_INVAL;

    memset(out, 0, TR_AUDIT_HASH_HEX + 1);
    if (!json_is_object(entry))
        goto out;
    rc = TR_E_NOMEM;
    /* Shallow: the members are shared, only the copy loses "hash". */
    if (!(body = json_copy(entry)))
        goto out;
    (void)json_object_del(body, "hash"); /* absent is fine */
    if (!(text = json_dumps(body, TR_AUDIT_DUMP_FLAGS)))
        goto out;
    rc = tr_audit_sha256_hex(text, strlen(text), out);
out:
    free(text);
    json_decref(body);
    return rc;
}

static bool is_hex_hash(const json_t *v)
{
    const char *s = json_string_value(v);

    if (!s || json_string_length(v) != TR_AUDIT_HASH_HEX)
        return false;
    for (size_t i = 0; i < TR_AUDIT_HASH_HEX; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool has_fields(json_t *o)
{
    const char *type = json_string_value(json_object_get(o, "type"));
    json_t *seq = json_object_get(o, "seq");

    return json_is_string(json_object_get(o, "time")) && type &&
           (strcmp(type, "request") == 0 || strcmp(type, "response") == 0) &&
           json_is_integer(seq) && json_integer_value(seq) >= 1 &&
           is_hex_hash(json_object_get(o, "prev_hash")) && is_hex_hash(json_object_get(o, "hash"));
}

/* Reject any spelling other than the writer's: otherwise whitespace or escape changes in the
 * last line (which no successor's prev_hash covers) would go unnoticed. */
static bool is_canonical(json_t *o, const char *line, size_t len)
{
    char *text = json_dumps(o, TR_AUDIT_DUMP_FLAGS);
    bool ok = text && strlen(text) == len && memcmp(text, line, len) == 0;

    free(text);
    return ok;
}

int tr_audit_line_check(const char *line, size_t len, struct tr_audit_link *out, char *err,
                        size_t errlen)
{
    json_t *o = NULL;
    json_error_t jerr;
    char want[TR_AUDIT_HASH_HEX + 1];
    int rc = TR_E_TOO_LARGE;

    if (len > TR_AUDIT_LINE_MAX) {
        set_err(err, errlen, "line too long");
        goto out;
    }
    rc = TR_E_INVAL;
    o = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!json_is_object(o)) {
        set_err(err, errlen, "malformed JSON");
        goto out;
    }
    if (!has_fields(o)) {
        set_err(err, errlen, "missing or malformed seq, prev_hash, hash, time or type");
        goto out;
    }
    rc = TR_E_TAMPER;
    if (!is_canonical(o, line, len)) {
        set_err(err, errlen, "line is not in canonical form");
        goto out;
    }
    if ((rc = tr_audit_entry_hash(o, want)) != TR_OK)
        goto out;
    rc = TR_E_TAMPER;
    /* Hashes of public lines: no secret to protect, constant time out of habit (style §5). */
    if (CRYPTO_memcmp(want, json_string_value(json_object_get(o, "hash")), TR_AUDIT_HASH_HEX)) {
        set_err(err, errlen, "hash mismatch");
        goto out;
    }
    out->seq = (uint64_t)json_integer_value(json_object_get(o, "seq"));
    memcpy(out->prev_hash, json_string_value(json_object_get(o, "prev_hash")),
           TR_AUDIT_HASH_HEX + 1);
    rc = tr_audit_sha256_hex(line, len, out->line_hash);
out:
    json_decref(o);
    return rc;
}

/* Bounded line reader: a line longer than TR_AUDIT_LINE_MAX is reported, never buffered. */
enum rd_status { RD_LINE, RD_EOF, RD_TORN, RD_LONG, RD_ERR };

static enum rd_status read_line(FILE *f, char *buf, size_t *out_len)
{
    size_t n = 0;
    int c;

    while ((c = getc_unlocked(f)) != EOF) {
        if (c == '\n') {
            *out_len = n;
            return RD_LINE;
        }
        if (n == TR_AUDIT_LINE_MAX)
            return RD_LONG;
        buf[n++] = (char)c;
    }
    if (ferror(f))
        return RD_ERR;
    return n ? RD_TORN : RD_EOF;
}

/* Link rules between consecutive lines; prev is NULL for line 1. */
static const char *link_problem(const struct tr_audit_link *prev, const struct tr_audit_link *cur)
{
    const char *want_prev = prev ? prev->line_hash : TR_AUDIT_GENESIS;
    uint64_t want_seq = prev ? prev->seq + 1 : 1;

    if (CRYPTO_memcmp(cur->prev_hash, want_prev, TR_AUDIT_HASH_HEX))
        return prev ? "broken link: prev_hash is not the previous line's hash"
                    : "broken link: first line's prev_hash is not the genesis value";
    if (cur->seq != want_seq)
        return "gap in seq";
    return NULL;
}

/* One line: status from the reader, then the line's own check, then its link. */
static int verify_one(enum rd_status st, const char *buf, size_t len, struct tr_audit_link *prev,
                      uint64_t lineno, char *err, size_t errlen)
{
    struct tr_audit_link cur;
    const char *why;
    int rc;

    if (st == RD_TORN) {
        set_err(err, errlen, "truncated last line (no newline)");
        return TR_E_TAMPER;
    }
    if (st == RD_LONG) {
        set_err(err, errlen, "line too long");
        return TR_E_TAMPER;
    }
    if ((rc = tr_audit_line_check(buf, len, &cur, err, errlen)) != TR_OK)
        return (rc == TR_E_NOMEM || rc == TR_E_INTERNAL) ? rc : TR_E_TAMPER;
    if ((why = link_problem(lineno == 1 ? NULL : prev, &cur))) {
        set_err(err, errlen, why);
        return TR_E_TAMPER;
    }
    *prev = cur;
    return TR_OK;
}

int tr_audit_verify_file(const char *path, uint64_t *out_lines, uint64_t *out_bad_line, char *err,
                         size_t errlen)
{
    struct tr_audit_link prev;
    FILE *f = NULL;
    char *buf = NULL;
    uint64_t good = 0;
    size_t len = 0;
    enum rd_status st;
    int rc = TR_E_INVAL;

    memset(&prev, 0, sizeof(prev));
    if (!path)
        goto out;
    rc = TR_E_IO;
    if (!(f = fopen(path, "re"))) {
        if (err && errlen)
            snprintf(err, errlen, "cannot open: %s", strerror(errno));
        goto out;
    }
    rc = TR_E_NOMEM;
    if (!(buf = malloc(TR_AUDIT_LINE_MAX)))
        goto out;
    while ((st = read_line(f, buf, &len)) != RD_EOF) {
        if (st == RD_ERR) {
            rc = TR_E_IO;
            set_err(err, errlen, "read error");
            goto out;
        }
        if ((rc = verify_one(st, buf, len, &prev, good + 1, err, errlen)) != TR_OK)
            goto report;
        good++;
    }
    rc = TR_OK;
report:
    if (rc == TR_OK || rc == TR_E_TAMPER) {
        if (out_lines)
            *out_lines = good;
        if (out_bad_line)
            *out_bad_line = rc == TR_OK ? 0 : good + 1;
    }
out:
    free(buf);
    if (f)
        fclose(f);
    return rc;
}
