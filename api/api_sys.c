#include "api_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../common/tr_json.h"

/* What sys/health and sys/seal-status report. Filled from the trusted core once it exists;
 * until then the server is uninitialised. */
struct sys_state {
    const char *seal_type;
    bool initialized;
    bool sealed;
    int t, n, progress;
    const char *nonce;
};

static void sys_state_get(const struct api *api, struct sys_state *st)
{
    (void)api;
    memset(st, 0, sizeof(*st));
    st->seal_type = "shamir";
    st->sealed = true;
    st->nonce = "";
}

/* Any integer code is honoured (the Go client sends 299); junk is a 400 with no detail. */
static bool health_code(const json_t *q, const char *name, int def, int *out)
{
    const char *s = tr_json_get_str(q, name);
    int64_t v;

    *out = def;
    if (!s)
        return true;
    if (!tr_parse_int64(s, &v) || v < 100 || v > 999)
        return false;
    *out = (int)v;
    return true;
}

void api_sys_health(struct api_call *c)
{
    struct sys_state st;
    int uninit, sealed, active, standby;
    bool b;

    if (c->method != API_GET && c->method != API_HEAD) {
        api_reply_error(c, 405, NULL);
        return;
    }
    const char *sok = tr_json_get_str(c->query, "standbyok");
    const char *pok = tr_json_get_str(c->query, "perfstandbyok");
    if (!health_code(c->query, "uninitcode", 501, &uninit) ||
        !health_code(c->query, "sealedcode", 503, &sealed) ||
        !health_code(c->query, "activecode", 200, &active) ||
        !health_code(c->query, "standbycode", 429, &standby) || (sok && !tr_parse_bool(sok, &b)) ||
        (pok && !tr_parse_bool(pok, &b))) {
        api_reply_error(c, 400, NULL);
        return;
    }
    sys_state_get(c->api, &st);
    int code = !st.initialized ? uninit : st.sealed ? sealed : active;
    json_t *o =
        json_pack("{s:b, s:b, s:b, s:b, s:s, s:s, s:I, s:s}", "initialized", st.initialized,
                  "sealed", st.sealed, "standby", st.sealed, "performance_standby", 0,
                  "replication_performance_mode", "disabled", "replication_dr_mode", "disabled",
                  "server_time_utc", (json_int_t)time(NULL), "version", c->api->opts.version);
    api_reply_json(c, code, o);
}

void api_sys_seal_status(struct api_call *c)
{
    struct sys_state st;

    if (c->method != API_GET) {
        api_reply_error(c, 405, NULL);
        return;
    }
    sys_state_get(c->api, &st);
    json_t *o = json_pack("{s:s, s:b, s:b, s:i, s:i, s:i, s:s, s:s, s:s, s:b, s:b, s:s}", "type",
                          st.seal_type, "initialized", st.initialized, "sealed", st.sealed, "t",
                          st.t, "n", st.n, "progress", st.progress, "nonce", st.nonce, "version",
                          c->api->opts.version, "build_date", c->api->opts.build_date, "migration",
                          0, "recovery_seal", 0, "storage_type", "lmdb");
    api_reply_json(c, 200, o);
}

void api_sys_leader(struct api_call *c)
{
    if (c->method != API_GET) {
        api_reply_error(c, 405, NULL);
        return;
    }
    json_t *o = json_pack("{s:b, s:b, s:s, s:s, s:s, s:b, s:i}", "ha_enabled", 0, "is_self", 0,
                          "active_time", "0001-01-01T00:00:00Z", "leader_address", "",
                          "leader_cluster_address", "", "performance_standby", 0,
                          "performance_standby_last_remote_wal", 0);
    api_reply_json(c, 200, o);
}
