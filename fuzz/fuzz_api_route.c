/*
 * fuzz_api_route - the request pipeline an unauthenticated client reaches on a sealed server
 * (api/api.c: percent-decoding and path canonicalisation, query parsing, LIST resolution, the
 * raw sys endpoints health/seal-status/leader/init/unseal/storage-recover with their JSON
 * bodies), through the public api_handle() with a real core sealed by 2-of-3 Shamir shares that
 * the fuzzer never sees. No store is running: everything past the seal check answers 503.
 * Input: method, flags, path, query and body carved out of the bytes.
 * Invariants: done is called exactly once, with a status in 100..599 (sys/health excepted: its
 * codes come from the query) that is never 500 (bad input gets a client error); a JSON answer
 * parses; a path whose decoded form has a "." or ".." segment or a control byte, or is not
 * UTF-8 (per a reference decoder written here) is refused with 400; any other path that is not
 * a raw sys endpoint is 503, 405 for a method the API does not serve, or 400 only when a query
 * was sent; the core stays sealed.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../api/api.h"
#include "util.h"

#define PATH_MAX_FUZZ 1024 /* below API_PATH_MAX: length errors are not what is tested here */

static struct api *api;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct api_resp *got;
static int calls;

static void done(void *arg, struct api_resp *resp)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    got = resp;
    calls++;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Reference canonicaliser (vault-api.md §1.9): %XX decoded, control bytes refused, "//"
 * collapsed, "." and ".." segments refused, and text jansson would not take as a string (not
 * UTF-8: docs/api.md) refused. out gets the path; false when it is refused. */
static bool ref_canonical(const char *raw, char *out)
{
    size_t w = 0;

    for (size_t i = 0; raw[i]; i++) {
        int c = (unsigned char)raw[i];
        if (c == '%' && hexval(raw[i + 1]) >= 0 && hexval(raw[i + 2]) >= 0) {
            c = hexval(raw[i + 1]) * 16 + hexval(raw[i + 2]);
            i += 2;
        }
        if (c < 0x20 || c == 0x7f)
            return false;
        if (!(c == '/' && w > 0 && out[w - 1] == '/'))
            out[w++] = (char)c;
    }
    out[w] = '\0';
    json_t *utf8 = json_stringn(out, w); /* jansson's own check, not the API's */
    if (!utf8)
        return false;
    json_decref(utf8);
    for (const char *s = out; *s;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            return false;
        s = e ? e + 1 : s + n;
    }
    return true;
}

static bool is_raw_sys(const char *p)
{
    static const char *const raw[] = {"sys/health", "sys/seal-status", "sys/leader",
                                      "sys/unseal", "sys/init",        "sys/storage/recover"};
    size_t n = strlen(p);

    if (n && p[n - 1] == '/')
        n--; /* LIST adds one */
    for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++)
        if (strlen(raw[i]) == n && !strncmp(p, raw[i], n))
            return true;
    return false;
}

static void setup(void)
{
    static struct api_opts o = {.version = "fuzz", .build_date = "2024-01-01T00:00:00Z"};
    static char dir[256];

    fuzz_core_up(ENC_SEAL_SHAMIR, 3, 2, NULL); /* shares dropped: nobody can unseal */
    snprintf(dir, sizeof(dir), "%s/store", fuzz_scratch());
    o.data_dir = dir;
    if (api_new(&o, &api) != TR_OK) {
        fprintf(stderr, "fuzz: api_new failed\n");
        exit(2);
    }
}

static char *cstr(struct fuzz_in *in, size_t max)
{
    const uint8_t *p;
    size_t n = fuzz_lspan(in, max, &p);
    char *s = malloc(n + 1);

    FUZZ_CHECK(s != NULL);
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static struct api_resp *run(const struct api_req *req)
{
    struct timespec dl;
    struct api_resp *r;

    pthread_mutex_lock(&mu);
    calls = 0;
    got = NULL;
    pthread_mutex_unlock(&mu);
    api_handle(api, req, done, NULL);
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 10;
    pthread_mutex_lock(&mu);
    while (calls == 0)
        FUZZ_CHECK(pthread_cond_timedwait(&cv, &mu, &dl) == 0); /* a stalled request */
    r = got;
    pthread_mutex_unlock(&mu);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum api_method methods[] = {API_GET,  API_HEAD,  API_PUT,     API_DELETE,
                                              API_LIST, API_PATCH, API_OPTIONS, API_OTHER};
    static char canon[4 * PATH_MAX_FUZZ + 8];
    struct fuzz_in in = {data, size};
    struct api_req req;
    struct enc_status es;

    if (size > 64u * 1024)
        return 0;
    if (!api)
        setup();
    uint8_t m = fuzz_u8(&in), flags = fuzz_u8(&in);
    char *path = cstr(&in, PATH_MAX_FUZZ), *query = cstr(&in, 512), *uri = NULL;
    FUZZ_CHECK((uri = malloc(strlen(path) + 8)) != NULL);
    snprintf(uri, strlen(path) + 8, "%s%s", (flags & 1) ? "/v2/" : "/v1/", path);
    memset(&req, 0, sizeof(req));
    req.method = methods[m % 8];
    req.uri_path = uri;
    req.query = (flags & 2) ? query : NULL;
    req.token = (flags & 4) ? "hvs.fuzz-token" : NULL;
    req.content_type = "application/json";
    req.remote_ip = "127.0.0.1";
    req.body = in.p;
    req.body_len = in.left;

    struct api_resp *r = run(&req);
    FUZZ_CHECK(r != NULL && calls == 1);
    bool accepted = ref_canonical(path, canon);
    bool health = accepted && !strncmp(canon, "sys/health", 10) && strlen(canon) <= 11;
    if (!health)
        FUZZ_CHECK(r->status >= 100 && r->status <= 599 && r->status != 500);
    if (r->body && r->body_len && !r->body_suppressed) {
        json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
        FUZZ_CHECK(j != NULL);
        json_decref(j);
    }
    if (flags & 1)
        FUZZ_CHECK(r->status == 404);
    else if (!accepted)
        FUZZ_CHECK(r->status == 400);
    else if (!is_raw_sys(canon))
        FUZZ_CHECK(r->status == 503 || r->status == 405 || (r->status == 400 && req.query));
    enc_status_get(&es);
    FUZZ_CHECK(es.state == ENC_SEALED);
    api_resp_free(r);
    free(uri);
    free(path);
    free(query);
    return 0;
}
