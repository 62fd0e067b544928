/*
 * cmd_transit - `tresor transit ...`: the transit engine (docs/api.md "Transit"): keys (create,
 * read, list, rotate, config, delete) and operations (encrypt, decrypt, rewrap, sign, verify).
 * Every command takes -mount (default "transit") and addresses <mount>/keys/NAME, ...
 *
 * Plaintext and signing input (DATA) never have to be on the command line: - reads all of stdin
 * byte for byte, @FILE a file, and a missing DATA is prompted for without echo when stdin is a
 * terminal. The CLI base64-encodes DATA itself (the API wants base64), and decrypt decodes the
 * answer and prints the raw bytes. Every buffer that held plaintext (the input, its base64 form,
 * the JSON body, the decrypt answer and its decoding) is wiped before it is freed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "commands.h"
#include "input.h"

#define TRANSIT_PATH_MAX 1024

#define TRANSIT_MOUNT_FLAG(dest)                                                                   \
    {                                                                                              \
        "mount", CLI_FLAG_STR, (dest), NULL, "MOUNT", "the transit mount (default transit)"        \
    }

/* ---- paths and arguments -------------------------------------------------------------------- */

/* "<mount>/<op>[/<name>][/<suffix>]" into buf, after checking the mount and NAME (a key name
 * is one path segment: a '/' would address another endpoint). Returns CLI_CONTINUE or an exit
 * code (printed). */
static int api_path(struct cli_ctx *ctx, const char *mount, const char *op, const char *name,
                    const char *suffix, char *buf, size_t len)
{
    size_t b = 0, e;

    mount = mount ? mount : "transit";
    e = strlen(mount);
    while (mount[b] == '/')
        b++;
    while (e > b && mount[e - 1] == '/')
        e--;
    if (e == b)
        return cli_usage_error(ctx, "empty -mount");
    if (name && (!*name || strchr(name, '/')))
        return cli_usage_error(ctx, "NAME must be a key name (not empty, no '/')");
    if (snprintf(buf, len, "%.*s/%s%s%s%s%s", (int)(e - b), mount + b, op, name ? "/" : "",
                 name ? name : "", suffix ? "/" : "", suffix ? suffix : "") >= (int)len)
        return cli_usage_error(ctx, "the mount or NAME is too long");
    return CLI_CONTINUE;
}

/* Parse flags, then check that there are between min and max positional arguments. */
static int parse_args(struct cli_ctx *ctx, const struct cli_flag *flags, size_t n, int *argc,
                      char **argv, int min, int max)
{
    int rc;

    if ((rc = cli_cmd_parse(ctx, flags, n, argc, argv)) != CLI_CONTINUE)
        return rc;
    if (*argc < min)
        return cli_usage_error(ctx, "%s", min == 1 ? "missing NAME" : "missing arguments");
    if (*argc > max)
        return cli_usage_error(ctx, "too many arguments");
    return CLI_CONTINUE;
}

/*
 * DATA as given: - (all of stdin, byte for byte), @FILE, a literal (\@ and \- escape a leading
 * @ or a lone -), or NULL: prompted without echo when stdin is a terminal.
 * Out: *out (cli_secret_free(*out, *out_len)). Returns CLI_EXIT_OK or CLI_EXIT_LOCAL (printed).
 */
static int data_read(struct cli_ctx *ctx, const char *arg, char **out, size_t *out_len)
{
    int rc;

    *out = NULL;
    *out_len = 0;
    if (!arg) {
        if (!cli_input_is_tty())
            return cli_fail(ctx, CLI_EXIT_LOCAL,
                            "no DATA given and stdin is not a terminal (use - to read it from "
                            "stdin, or @FILE)");
        if ((rc = cli_input_prompt("Data (will be hidden): ", out, out_len)) == TR_OK &&
            *out_len == 0) {
            cli_secret_free(*out, *out_len);
            *out = NULL;
            return cli_fail(ctx, CLI_EXIT_LOCAL, "empty DATA");
        }
    } else if (strcmp(arg, "-") == 0) {
        rc = cli_input_stdin(out, out_len);
    } else if (arg[0] == '@') {
        rc = cli_input_file(arg + 1, out, out_len);
    } else {
        if (arg[0] == '\\' && (arg[1] == '@' || strcmp(arg + 1, "-") == 0))
            arg++;
        if ((rc = cli_secret_strdup(arg, strlen(arg), out)) == TR_OK)
            *out_len = strlen(arg);
    }
    if (rc != TR_OK)
        return cli_fail(ctx, CLI_EXIT_LOCAL, "cannot read DATA: %s",
                        rc == TR_E_STATE ? "stdin was already used" : tr_strerror(rc));
    return CLI_EXIT_OK;
}

/* Base64 of in (len bytes) into a new wiped-on-free buffer. Errors: TR_E_TOO_LARGE, TR_E_NOMEM. */
static int b64_encode(const char *in, size_t len, char **out, size_t *out_len)
{
    size_t n;
    char *p;

    *out = NULL;
    if (len > CLI_INPUT_MAX)
        return TR_E_TOO_LARGE;
    n = 4 * ((len + 2) / 3);
    if (!(p = malloc(n + 1)))
        return TR_E_NOMEM;
    EVP_EncodeBlock((unsigned char *)p, (const unsigned char *)in, (int)len);
    p[n] = '\0';
    *out = p;
    *out_len = n;
    return TR_OK;
}

/* Decode standard padded base64 into a new wiped-on-free buffer (exactly *out_len + 1 bytes).
 * Errors: TR_E_INVAL (not base64), TR_E_TOO_LARGE, TR_E_NOMEM. */
static int b64_decode(const char *in, size_t len, char **out, size_t *out_len)
{
    size_t pad = 0, n = len / 4 * 3;
    unsigned char *p = NULL;
    int rc = TR_E_INVAL;

    *out = NULL;
    if (len % 4 != 0 || len > CLI_HTTP_BODY_MAX || memchr(in, '\0', len))
        return TR_E_INVAL;
    if (len > 0 && in[len - 1] == '=')
        pad++;
    if (len > 1 && in[len - 2] == '=')
        pad++;
    if (!(p = malloc(n + 1)))
        return TR_E_NOMEM;
    /* EVP_DecodeBlock counts the padding as zero bytes: a valid input decodes to exactly n. */
    if (len && EVP_DecodeBlock(p, (const unsigned char *)in, (int)len) != (int)n)
        goto out;
    if ((rc = cli_secret_strdup((const char *)p, n - pad, out)) == TR_OK)
        *out_len = n - pad;
out:
    OPENSSL_cleanse(p, n + 1);
    free(p);
    return rc;
}

/* {"<key>": base64(DATA)} for DATA read as data_read does. *out owned (wipe, then decref). */
static int data_body(struct cli_ctx *ctx, const char *arg, const char *key, json_t **out)
{
    char *raw = NULL, *b64 = NULL;
    size_t raw_len = 0, b64_len = 0;
    int rc;

    *out = NULL;
    if ((rc = data_read(ctx, arg, &raw, &raw_len)) != CLI_EXIT_OK)
        return rc;
    if ((rc = b64_encode(raw, raw_len, &b64, &b64_len)) != TR_OK) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "cannot encode DATA: %s", tr_strerror(rc));
        goto out;
    }
    if (!(*out = json_object()) || json_object_set_new(*out, key, json_stringn(b64, b64_len))) {
        json_decref(*out);
        *out = NULL;
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
        goto out;
    }
    rc = CLI_EXIT_OK;
out:
    cli_secret_free(raw, raw_len);
    cli_secret_free(b64, b64_len);
    return rc;
}

/* Optional members: a string when s is set, an integer when n_set. */
static void body_str(json_t *b, const char *key, const char *s)
{
    if (s)
        json_object_set_new(b, key, json_string(s));
}

static void body_int(json_t *b, const char *key, bool n_set, int64_t n)
{
    if (n_set)
        json_object_set_new(b, key, json_integer((json_int_t)n));
}

/* Send rq; on success show the answer's data (the server's warnings on stderr). */
static int call_show(struct cli_ctx *ctx, const char *what, const struct cli_req *rq)
{
    struct cli_resp resp = {0};
    int rc;

    if ((rc = cli_api(ctx, what, rq, &resp)) != CLI_EXIT_OK)
        goto out;
    if (!resp.json)
        cli_success(ctx, "Success! Data written to: %s", rq->path);
    else
        rc = cli_show_response(ctx, resp.json);
out:
    cli_resp_free(&resp);
    return rc;
}

/* ---- keys ----------------------------------------------------------------------------------- */

static int tr_create(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *mount = NULL, *type = NULL, *period = NULL;
    bool derived = false;
    const struct cli_flag flags[] = {
        TRANSIT_MOUNT_FLAG(&mount),
        {"type", CLI_FLAG_STR, &type, NULL, "TYPE",
         "aes256-gcm96 (default), aes128-gcm96, chacha20-poly1305, xchacha20-poly1305, "
         "ed25519, ecdsa-p256, hmac"},
        {"derived", CLI_FLAG_BOOL, &derived, NULL, NULL, "derive keys from a -context per call"},
        {"auto-rotate-period", CLI_FLAG_DUR, &period, NULL, "DUR", "rotate when older (>= 1h)"},
    };
    char path[TRANSIT_PATH_MAX];
    struct cli_req rq = {.method = CLI_POST, .path = path};
    json_t *body = NULL;
    int rc;

    if ((rc = parse_args(ctx, flags, 4, &argc, argv, 1, 1)) != CLI_CONTINUE)
        return rc;
    if ((rc = api_path(ctx, mount, "keys", argv[0], NULL, path, sizeof(path))) != CLI_CONTINUE)
        return rc;
    if (!(body = json_object()))
        return cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
    body_str(body, "type", type);
    if (derived)
        json_object_set_new(body, "derived", json_true());
    body_str(body, "auto_rotate_period", period);
    rq.body = body;
    rc = call_show(ctx, "creating the key", &rq);
    json_decref(body);
    return rc;
}

/* read, rotate and delete: one NAME, no options. */
static int key_simple(struct cli_ctx *ctx, int argc, char **argv, enum cli_method m,
                      const char *suffix, const char *what)
{
    const char *mount = NULL;
    const struct cli_flag flags[] = {TRANSIT_MOUNT_FLAG(&mount)};
    char path[TRANSIT_PATH_MAX];
    struct cli_req rq = {.method = m, .path = path};
    struct cli_resp resp = {0};
    int rc;

    if ((rc = parse_args(ctx, flags, 1, &argc, argv, 1, 1)) != CLI_CONTINUE)
        return rc;
    if ((rc = api_path(ctx, mount, "keys", argv[0], suffix, path, sizeof(path))) != CLI_CONTINUE)
        return rc;
    if (m != CLI_DELETE)
        return call_show(ctx, what, &rq);
    if ((rc = cli_api(ctx, what, &rq, &resp)) == CLI_EXIT_OK)
        cli_success(ctx, "Success! Deleted key %s", argv[0]);
    cli_resp_free(&resp);
    return rc;
}

static int tr_read(struct cli_ctx *ctx, int argc, char **argv)
{
    return key_simple(ctx, argc, argv, CLI_GET, NULL, "reading the key");
}

static int tr_rotate(struct cli_ctx *ctx, int argc, char **argv)
{
    return key_simple(ctx, argc, argv, CLI_POST, "rotate", "rotating the key");
}

static int tr_delete(struct cli_ctx *ctx, int argc, char **argv)
{
    return key_simple(ctx, argc, argv, CLI_DELETE, NULL, "deleting the key");
}

static int tr_list(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *mount = NULL;
    const struct cli_flag flags[] = {TRANSIT_MOUNT_FLAG(&mount)};
    char path[TRANSIT_PATH_MAX];
    struct cli_req rq = {.method = CLI_LIST, .path = path};
    struct cli_resp resp = {0};
    json_t *keys;
    int rc;

    if ((rc = parse_args(ctx, flags, 1, &argc, argv, 0, 0)) != CLI_CONTINUE)
        return rc;
    if ((rc = api_path(ctx, mount, "keys", NULL, NULL, path, sizeof(path))) != CLI_CONTINUE)
        return rc;
    if ((rc = cli_api_send(ctx, &rq, &resp)) != CLI_EXIT_OK)
        goto out;
    keys = cli_data_obj(&resp) ? json_object_get(cli_data_obj(&resp), "keys") : NULL;
    if (resp.status == 404 && !json_is_array(keys)) {
        rc = cli_fail(ctx, CLI_EXIT_NOTFOUND, "no keys found at %s", path);
    } else if (resp.status != 200 || !json_is_array(keys)) {
        rc = cli_api_fail(ctx, "listing keys", &rq, &resp);
    } else if (ctx->cfg.out.format == CLI_FMT_ENV) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "-format=env cannot show a list");
    } else {
        struct cli_section sec = {.obj = keys, .primary = true};
        rc = cli_show(ctx, resp.json, &sec, 1);
    }
out:
    cli_resp_free(&resp);
    return rc;
}

static int tr_config(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *mount = NULL, *period = NULL;
    int64_t min_dec = 0, min_enc = 0;
    bool dec_set = false, enc_set = false, del = false, del_set = false;
    const struct cli_flag flags[] = {
        TRANSIT_MOUNT_FLAG(&mount),
        {"min-decryption-version", CLI_FLAG_INT, &min_dec, &dec_set, "N",
         "oldest version that may decrypt or verify"},
        {"min-encryption-version", CLI_FLAG_INT, &min_enc, &enc_set, "N",
         "oldest version new output may use (0: the latest)"},
        {"deletion-allowed", CLI_FLAG_BOOL, &del, &del_set, NULL,
         "-deletion-allowed=true lets `transit delete` remove the key"},
        {"auto-rotate-period", CLI_FLAG_DUR, &period, NULL, "DUR", "0 or >= 1h"},
    };
    char path[TRANSIT_PATH_MAX];
    struct cli_req rq = {.method = CLI_POST, .path = path};
    json_t *body = NULL;
    int rc;

    if ((rc = parse_args(ctx, flags, 5, &argc, argv, 1, 1)) != CLI_CONTINUE)
        return rc;
    if (!dec_set && !enc_set && !del_set && !period)
        return cli_usage_error(ctx, "nothing to change: give at least one option");
    if ((rc = api_path(ctx, mount, "keys", argv[0], "config", path, sizeof(path))) != CLI_CONTINUE)
        return rc;
    if (!(body = json_object()))
        return cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
    body_int(body, "min_decryption_version", dec_set, min_dec);
    body_int(body, "min_encryption_version", enc_set, min_enc);
    if (del_set)
        json_object_set_new(body, "deletion_allowed", json_boolean(del));
    body_str(body, "auto_rotate_period", period);
    rq.body = body;
    rc = call_show(ctx, "configuring the key", &rq);
    json_decref(body);
    return rc;
}

/* ---- encrypt / decrypt / rewrap ------------------------------------------------------------- */

static int tr_encrypt(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *mount = NULL, *context = NULL;
    int64_t version = 0;
    bool version_set = false;
    const struct cli_flag flags[] = {
        TRANSIT_MOUNT_FLAG(&mount),
        {"context", CLI_FLAG_STR, &context, NULL, "B64", "key derivation context (derived keys)"},
        {"key-version", CLI_FLAG_INT, &version, &version_set, "N",
         "encrypt with version N (default: the latest)"},
    };
    char path[TRANSIT_PATH_MAX];
    struct cli_req rq = {.method = CLI_POST, .path = path};
    json_t *body = NULL;
    int rc;

    if ((rc = parse_args(ctx, flags, 3, &argc, argv, 1, 2)) != CLI_CONTINUE)
        return rc;
    if ((rc = api_path(ctx, mount, "encrypt", argv[0], NULL, path, sizeof(path))) != CLI_CONTINUE)
        return rc;
    if ((rc = data_body(ctx, argc > 1 ? argv[1] : NULL, "plaintext", &body)) != CLI_EXIT_OK)
        return rc;
    body_str(body, "context", context);
    body_int(body, "key_version", version_set, version);
    rq.body = body;
    rc = call_show(ctx, "encrypting", &rq);
    cli_json_wipe(body);
    json_decref(body);
    return rc;
}

static int write_all(const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return TR_E_IO;
        p += n;
        len -= (size_t)n;
    }
    return TR_OK;
}

/* A terminal gets control bytes (but \n and \t) as \xNN, so a plaintext cannot drive it; the
 * staging buffer is on the stack and wiped. */
static int write_escaped(const char *p, size_t len)
{
    char chunk[512];
    size_t n = 0;
    int rc = TR_OK;

    for (size_t i = 0; i < len && rc == TR_OK; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
            n += (size_t)snprintf(chunk + n, sizeof(chunk) - n, "\\x%02x", c);
        else
            chunk[n++] = (char)c;
        if (n + 5 > sizeof(chunk)) {
            rc = write_all(chunk, n);
            n = 0;
        }
    }
    if (rc == TR_OK)
        rc = write_all(chunk, n);
    if (rc == TR_OK && (len == 0 || p[len - 1] != '\n'))
        rc = write_all("\n", 1);
    OPENSSL_cleanse(chunk, sizeof(chunk));
    return rc;
}

/* The plaintext of a decrypt answer, decoded and written straight to fd 1 (no stdio copy). */
static int print_plaintext(struct cli_ctx *ctx, const struct cli_resp *r)
{
    json_t *pt = cli_data_obj(r) ? json_object_get(cli_data_obj(r), "plaintext") : NULL;
    char *raw = NULL;
    size_t len = 0;
    int rc;

    if (!json_is_string(pt))
        return cli_fail(ctx, CLI_EXIT_SERVER, "the decrypt answer has no plaintext");
    if (b64_decode(json_string_value(pt), json_string_length(pt), &raw, &len) != TR_OK)
        return cli_fail(ctx, CLI_EXIT_SERVER, "the decrypt answer's plaintext is not base64");
    fflush(stdout);
    rc = isatty(STDOUT_FILENO) ? write_escaped(raw, len) : write_all(raw, len);
    cli_secret_free(raw, len);
    return rc == TR_OK ? CLI_EXIT_OK : cli_fail(ctx, CLI_EXIT_LOCAL, "cannot write to stdout");
}

/* decrypt and rewrap: NAME CIPHERTEXT|- (one line from stdin). */
static int ct_call(struct cli_ctx *ctx, int argc, char **argv, bool rewrap)
{
    const char *mount = NULL, *context = NULL;
    int64_t version = 0;
    bool version_set = false;
    const struct cli_flag flags[] = {
        TRANSIT_MOUNT_FLAG(&mount),
        {"context", CLI_FLAG_STR, &context, NULL, "B64", "key derivation context (derived keys)"},
        {"key-version", CLI_FLAG_INT, &version, &version_set, "N",
         "rewrap to version N (default: the latest)"},
    };
    char path[TRANSIT_PATH_MAX], *ct = NULL;
    size_t ct_len = 0;
    struct cli_req rq = {.method = CLI_POST, .path = path};
    struct cli_resp resp = {0};
    json_t *body = NULL;
    int rc;

    if ((rc = parse_args(ctx, flags, rewrap ? 3 : 2, &argc, argv, 2, 2)) != CLI_CONTINUE)
        return rc;
    if ((rc = api_path(ctx, mount, rewrap ? "rewrap" : "decrypt", argv[0], NULL, path,
                       sizeof(path))) != CLI_CONTINUE)
        return rc;
    if ((rc = cli_secret_arg(ctx, argv[1], "ciphertext", &ct, &ct_len)) != CLI_EXIT_OK)
        return rc;
    if (!(body = json_pack("{s:s%}", "ciphertext", ct, ct_len))) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "CIPHERTEXT is not valid text");
        goto out;
    }
    body_str(body, "context", context);
    body_int(body, "key_version", version_set, version);
    rq.body = body;
    if (rewrap) {
        rc = call_show(ctx, "rewrapping", &rq);
        goto out;
    }
    if ((rc = cli_api(ctx, "decrypting", &rq, &resp)) != CLI_EXIT_OK)
        goto out;
    if (ctx->cfg.out.format == CLI_FMT_TABLE && !ctx->cfg.out.field)
        rc = print_plaintext(ctx, &resp);
    else
        rc = cli_show_response(ctx, resp.json);
out:
    cli_resp_free(&resp);
    json_decref(body);
    cli_secret_free(ct, ct_len);
    return rc;
}

static int tr_decrypt(struct cli_ctx *ctx, int argc, char **argv)
{
    return ct_call(ctx, argc, argv, false);
}

static int tr_rewrap(struct cli_ctx *ctx, int argc, char **argv)
{
    return ct_call(ctx, argc, argv, true);
}

/* ---- sign / verify -------------------------------------------------------------------------- */

struct sig_opts {
    const char *mount, *hash, *marshal, *context, *signature;
    int64_t version;
    bool version_set;
};

/* sign and verify: NAME [DATA]; verify exits 0 for a valid signature, 2 for an invalid one. */
static int sig_call(struct cli_ctx *ctx, int argc, char **argv, bool verify)
{
    struct sig_opts o = {0};
    struct cli_flag flags[5] = {
        TRANSIT_MOUNT_FLAG(&o.mount),
        {"hash-algorithm", CLI_FLAG_STR, &o.hash, NULL, "A",
         "sha2-256 (default), sha2-224/384/512, sha3-224/256/384/512 (ed25519 ignores it)"},
        {"marshaling-algorithm", CLI_FLAG_STR, &o.marshal, NULL, "M", "asn1 (default) or jws"},
        {"context", CLI_FLAG_STR, &o.context, NULL, "B64", "key derivation context (derived keys)"},
    };
    char path[TRANSIT_PATH_MAX];
    struct cli_req rq = {.method = CLI_POST, .path = path};
    struct cli_resp resp = {0};
    json_t *body = NULL;
    int rc;

    if (verify)
        flags[4] = (struct cli_flag){
            "signature", CLI_FLAG_STR, &o.signature,
            NULL,        "SIG",        "the signature to check (vault:vN:...); required"};
    else
        flags[4] = (struct cli_flag){"key-version", CLI_FLAG_INT,
                                     &o.version,    &o.version_set,
                                     "N",           "sign with version N (default: the latest)"};
    if ((rc = parse_args(ctx, flags, 5, &argc, argv, 1, 2)) != CLI_CONTINUE)
        return rc;
    if (o.marshal && strcmp(o.marshal, "asn1") != 0 && strcmp(o.marshal, "jws") != 0)
        return cli_usage_error(ctx, "-marshaling-algorithm must be asn1 or jws");
    if (verify && (!o.signature || !*o.signature))
        return cli_usage_error(ctx, "-signature=SIG is required");
    if ((rc = api_path(ctx, o.mount, verify ? "verify" : "sign", argv[0], NULL, path,
                       sizeof(path))) != CLI_CONTINUE)
        return rc;
    if ((rc = data_body(ctx, argc > 1 ? argv[1] : NULL, "input", &body)) != CLI_EXIT_OK)
        return rc;
    body_str(body, "hash_algorithm", o.hash);
    body_str(body, "marshaling_algorithm", o.marshal);
    body_str(body, "context", o.context);
    body_str(body, "signature", o.signature);
    body_int(body, "key_version", o.version_set, o.version);
    rq.body = body;
    if ((rc = cli_api(ctx, verify ? "verifying" : "signing", &rq, &resp)) != CLI_EXIT_OK)
        goto out;
    if ((rc = cli_show_response(ctx, resp.json)) != CLI_EXIT_OK || !verify)
        goto out;
    if (!json_is_boolean(json_object_get(cli_data_obj(&resp), "valid")))
        rc = cli_fail(ctx, CLI_EXIT_SERVER, "the verify answer has no valid field");
    else if (!json_is_true(json_object_get(cli_data_obj(&resp), "valid")))
        rc = CLI_EXIT_SERVER;
out:
    cli_resp_free(&resp);
    cli_json_wipe(body);
    json_decref(body);
    return rc;
}

static int tr_sign(struct cli_ctx *ctx, int argc, char **argv)
{
    return sig_call(ctx, argc, argv, false);
}

static int tr_verify(struct cli_ctx *ctx, int argc, char **argv)
{
    return sig_call(ctx, argc, argv, true);
}

#define TRANSIT_DATA_HELP                                                                          \
    "DATA: - reads all of stdin byte for byte, @FILE a file (binary is fine), a literal works\n"   \
    "but is discouraged; without DATA it is prompted for (hidden) when stdin is a terminal.\n"     \
    "The CLI base64-encodes it."

const struct cli_cmd cli_transit_cmds[] = {
    {"create", "NAME", "create a key (POST MOUNT/keys/NAME)", NULL, tr_create, NULL},
    {"read", "NAME", "show a key's settings and versions (no key material)", NULL, tr_read, NULL},
    {"list", "", "list the keys", NULL, tr_list, NULL},
    {"rotate", "NAME", "add a new key version", NULL, tr_rotate, NULL},
    {"config", "NAME", "change a key's version bounds, deletion or rotation settings", NULL,
     tr_config, NULL},
    {"delete", "NAME", "delete a key (needs -deletion-allowed=true first)", NULL, tr_delete, NULL},
    {"encrypt", "NAME [DATA|-|@FILE]", "encrypt DATA; prints the ciphertext (vault:vN:...)",
     TRANSIT_DATA_HELP "\n-field=ciphertext prints only the ciphertext.", tr_encrypt, NULL},
    {"decrypt", "NAME CIPHERTEXT|-", "decrypt; prints the plaintext's raw bytes",
     "- reads the ciphertext (one line) from stdin. The plaintext is decoded and written as is\n"
     "(a terminal gets control bytes as \\xNN); -format=json/yaml and -field=plaintext show\n"
     "the server's base64 instead.",
     tr_decrypt, NULL},
    {"rewrap", "NAME CIPHERTEXT|-", "re-encrypt under the latest (or -key-version) version",
     "The plaintext never leaves the server.", tr_rewrap, NULL},
    {"sign", "NAME [DATA|-|@FILE]", "sign DATA; prints the signature (vault:vN:...)",
     TRANSIT_DATA_HELP, tr_sign, NULL},
    {"verify", "NAME -signature=SIG [DATA|-|@FILE]",
     "check a signature (exit 0 valid, 2 invalid or error)", TRANSIT_DATA_HELP, tr_verify, NULL},
    {0},
};
