#!/bin/sh
# A second real Vault client library: hvac (Debian's python3-hvac, the stock Python client)
# against tresord over TLS, verifying the server with the test CA.
. "$(dirname "$0")/lib.sh"
HVAC_DIR="$(cd "$(dirname "$0")/../hvac" && pwd)"
# Debian's interpreter: python3-hvac installs into its dist-packages (a python3 earlier on PATH,
# e.g. from pyenv, would not see it).
PY=${TR_HVAC_PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import hvac' 2>/dev/null; then
    echo "hvac missing: run 'make deps' (it installs python3-hvac)"
    exit 1
fi
D=$(tmpdir)
start_prod "$D" || exit 1
VAULT_ADDR="$ADDR" TR_CA="$CA" "$PY" "$HVAC_DIR/flow.py"
rc=$?
stop_prod || rc=1

# The less common calls hvac wraps, on a second fresh server: each answer is compared with what
# Vault sends (field types included), so hvac's exception classes and return values match.
D2=$(tmpdir)
start_prod "$D2" || exit 1
VAULT_ADDR="$ADDR" TR_CA="$CA" PYTHONPATH="$HVAC_DIR" "$PY" - <<'PYEOF' || rc=1
import sys

from hvac import exceptions as hx

from tap import client, eq, ok, raises, setup
import tap


def sys_calls(c):
    h = c.sys.read_health_status(method="GET", standby_ok=True)
    ok(isinstance(h, dict) and h["standby"] is False and isinstance(h["server_time_utc"], int),
       "GET health with standbyok: 200 and the body")
    eq("HEAD health with standbyok", c.sys.read_health_status(standby_ok=True).status_code, 200)
    c.sys.enable_secrets_engine("kv", path="kv1", description="v1 store")
    m = c.sys.list_mounted_secrets_engines()["data"]["kv1/"]
    ok(m["type"] == "kv" and m["description"] == "v1 store"
       and isinstance(m["config"]["default_lease_ttl"], int), "mounted kv1/ listed with its config")
    t = c.sys.read_mount_configuration("kv1")["data"]
    ok(t["default_lease_ttl"] == 2764800 and t["max_lease_ttl"] == 2764800
       and t["force_no_cache"] is False, "read_mount_configuration: effective TTLs as ints")
    c.sys.tune_mount_configuration("kv1", default_lease_ttl="1h")
    eq("tune_mount_configuration, then read_mount_configuration",
       c.sys.read_mount_configuration("kv1")["data"]["default_lease_ttl"], 3600)
    raises(hx.InvalidRequest, "tune_mount_configuration: a max below the default is 400",
           c.sys.tune_mount_configuration, "kv1", max_lease_ttl="30m")
    c.sys.create_or_update_policy("p1", 'path "kv1/*" { capabilities = ["read", "list"] }')
    eq("legacy read_policy", c.sys.read_policy("p1")["data"]["name"], "p1")
    acl = c.adapter.get("/v1/sys/policies/acl/p1")["data"]
    ok(acl["name"] == "p1" and "kv1/*" in acl["policy"], "sys/policies/acl read gives 'policy'")
    ok("p1" in c.adapter.list("/v1/sys/policies/acl")["data"]["keys"], "sys/policies/acl LIST")
    caps = c.sys.get_capabilities(["kv1/x", "sys/mounts"])
    eq("capabilities-self of root", caps["data"], {"kv1/x": ["root"], "sys/mounts": ["root"]})
    c.sys.delete_policy("p1")
    raises(hx.InvalidPath, "deleted policy is 404", c.sys.read_policy, "p1")
    c.sys.create_or_update_policy("p1", 'path "kv1/*" { capabilities = ["read", "list"] }')


def kv1_calls(c):
    kv = c.secrets.kv.v1
    kv.create_or_update_secret("app/a", {"v": "1"}, mount_point="kv1")
    kv.create_or_update_secret("app/sub/b", {"v": "2"}, mount_point="kv1")
    eq("kv1 list with a nested folder",
       sorted(kv.list_secrets("app", mount_point="kv1")["data"]["keys"]), ["a", "sub/"])
    # Vault reports a stored "ttl", else a stored "lease" (node-vault's examples write one)
    kv.create_or_update_secret("app/lease", {"v": "x", "lease": "90s"}, mount_point="kv1")
    eq("kv1 read: lease_duration from 'lease'",
       kv.read_secret("app/lease", mount_point="kv1")["lease_duration"], 90)
    kv.create_or_update_secret("app/lease", {"ttl": "1m", "lease": "90s"}, mount_point="kv1")
    eq("kv1 read: 'ttl' wins over 'lease'",
       kv.read_secret("app/lease", mount_point="kv1")["lease_duration"], 60)


def kv2_calls(c):
    c.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    kv = c.secrets.kv.v2
    kv.create_or_update_secret("a/b/c", {"x": {"y": 1}, "z": "w"})
    kv.create_or_update_secret("a/b/c", {"x": "2"})
    eq("read_secret_version(version=1)", kv.read_secret_version("a/b/c", version=1)["data"]
       ["data"], {"x": {"y": 1}, "z": "w"})
    sk = c.adapter.get("/v1/secret/subkeys/a/b/c", params={"version": 1})["data"]
    eq("subkeys of version 1", sk["subkeys"], {"x": {"y": None}, "z": None})
    eq("nested list", kv.list_secrets("a")["data"]["keys"], ["b/"])
    kv.update_metadata("a/b/c", max_versions=5, cas_required=False, delete_version_after="1h")
    md = kv.read_secret_metadata("a/b/c")["data"]
    ok(md["max_versions"] == 5 and md["delete_version_after"] == "1h0m0s"
       and md["current_version"] == 2, "update_metadata read back (%s)" % md["delete_version_after"])
    w = kv.create_or_update_secret("a/b/c", {"x": "3"})["data"]
    ok(w["version"] == 3 and w["deletion_time"] != "", "a new version gets a deletion time")
    kv.delete_latest_version_of_secret("a/b/c")
    kv.undelete_secret_versions("a/b/c", versions=[3])
    # Vault sets an undeleted version's deletion time again from delete_version_after, so
    # undelete cannot take a version out of the key's retention rule
    v3 = kv.read_secret_metadata("a/b/c")["data"]["versions"]["3"]
    ok(v3["deletion_time"] != "" and v3["destroyed"] is False,
       "undelete keeps delete_version_after (%r)" % v3["deletion_time"])
    eq("undeleted version readable", kv.read_secret_version("a/b/c")["data"]["data"], {"x": "3"})
    # a negative mount delete_version_after disables the feature for every key, 0 clears it
    kv.configure(max_versions=10, delete_version_after="-1s")
    eq("config: negative delete_version_after reads back as -1s",
       kv.read_configuration()["data"]["delete_version_after"], "-1s")
    w = kv.create_or_update_secret("a/b/c", {"x": "4"})["data"]
    eq("disabled: a new version has no deletion time despite the key's 1h", w["deletion_time"], "")
    kv.configure(max_versions=10, delete_version_after="0s")
    eq("config: 0s clears it", kv.read_configuration()["data"]["delete_version_after"], "0s")
    kv.destroy_secret_versions("a/b/c", versions=[1])
    raises(hx.InvalidPath, "destroyed version is 404", kv.read_secret_version, "a/b/c", version=1)
    # Vault writes nothing for a metadata write without any setting
    c.adapter.post("/v1/secret/metadata/a/empty", json={})
    raises(hx.InvalidPath, "metadata write without settings creates no key",
           kv.read_secret_metadata, "a/empty")


def token_calls(c):
    tk = c.auth.token
    a = tk.create(policies=["p1"], ttl="1h", num_uses=0, renewable=True, display_name="My App!",
                  meta={"team": "a", "n": 7, "on": True})["auth"]
    # the Go client reads auth.metadata as map[string]string: Vault decodes meta values to strings
    eq("meta values come back as strings", a["metadata"], {"team": "a", "n": "7", "on": "1"})
    look = tk.lookup(a["client_token"])["data"]
    eq("display_name sanitised as Vault does", look["display_name"], "token-My-App")
    ok(isinstance(look["ttl"], int) and isinstance(look["creation_time"], int)
       and isinstance(look["expire_time"], str) and look["renewable"] is True
       and look["meta"] == {"team": "a", "n": "7", "on": "1"}, "lookup field types")
    eq("lookup without a token looks up the caller (as Vault)",
       c.adapter.post("/v1/auth/token/lookup", json={})["data"]["policies"], ["root"])
    la = tk.lookup_accessor(a["accessor"])["data"]
    ok(la["id"] == "" and la["accessor"] == a["accessor"], "lookup_accessor hides the id")
    r = tk.renew(a["client_token"], increment="2h")["auth"]
    ok(r["client_token"] == a["client_token"] and r["lease_duration"] == 7200, "renew by token")
    r = tk.renew_accessor(a["accessor"], increment="30m")["auth"]
    ok(r["client_token"] == "" and r["lease_duration"] == 1800, "renew_accessor hides the token")
    raises(hx.InvalidRequest, "nested meta is refused (400)", tk.create, meta={"o": {"x": "y"}})
    # "lease" is Vault's deprecated ttl: ignoring it would hand out a 768h token for a 5m one
    lt = c.adapter.post("/v1/auth/token/create", json={"lease": "5m", "policies": ["p1"]})
    eq("deprecated 'lease' sets the TTL", lt["auth"]["lease_duration"], 300)
    raises(hx.InvalidRequest, "a custom token id is refused, not silently replaced",
           tk.create, id="my-own-token")
    raises(hx.InvalidRequest, "type=batch is refused, not answered with a service token",
           tk.create, type="batch")
    raises(hx.InvalidRequest, "an unknown token type is 400", tk.create, type="bogus")
    eq("type=service is a service token", tk.create(type="service", ttl="1m")["auth"]
       ["token_type"], "service")
    limited = tk.create(policies=["p1"], num_uses=3)["auth"]
    eq("num_uses in the create answer", limited["num_uses"], 3)
    eq("lookup_self spends a use", client(limited["client_token"]).auth.token.lookup_self()
       ["data"]["num_uses"], 2)
    tk.revoke_accessor(a["accessor"])
    again = tk.revoke_accessor(a["accessor"])
    # Vault: 200 with a warning for an accessor it does not know (hvac returns the body)
    eq("revoke_accessor of a revoked token: 200 with Vault's warning",
       isinstance(again, dict) and again["warnings"], ["No token found with this accessor"])
    e = raises(hx.InvalidRequest, "lookup_accessor of a revoked token is 400",
               tk.lookup_accessor, a["accessor"])
    eq("... invalid accessor", e and e.errors, ["invalid accessor"])
    raises(hx.InvalidRequest, "renew_accessor of a revoked token is 400",
           tk.renew_accessor, a["accessor"])
    e = raises(hx.InvalidRequest, "renew of a revoked token is 400", tk.renew, a["client_token"])
    eq("... token not found", e and e.errors, ["token not found"])
    e = raises(hx.Forbidden, "lookup of a revoked token stays 403", tk.lookup, a["client_token"])
    eq("... bad token", e and e.errors, ["bad token"])
    tk.revoke(a["client_token"])
    ok(True, "revoke of a revoked token succeeds")
    s = client(tk.create(policies=["p1"], ttl="10m")["auth"]["client_token"])
    eq("renew_self", s.auth.token.renew_self(increment=60)["auth"]["lease_duration"], 60)
    s.auth.token.revoke_self()
    raises(hx.Forbidden, "revoked self token is refused", s.auth.token.lookup_self)


# each part runs even when an earlier one stopped on an unexpected error
c = setup()
for part in (sys_calls, kv1_calls, kv2_calls, token_calls):
    try:
        part(c)
    except Exception:  # noqa: BLE001 - any unexpected error is a failure with its traceback
        import traceback
        traceback.print_exc(file=sys.stdout)
        ok(False, "unexpected error in %s (see traceback)" % part.__name__)
sys.exit(tap.summary())
PYEOF
stop_prod || rc=1
exit $rc
