#!/usr/bin/python3
"""Drive a real tresord with hvac (the stock Python Vault client, Debian's python3-hvac) over TLS.

init -> unseal -> health -> KV v2 (cas, versions, patch, list, metadata, delete/undelete/destroy,
config) -> KV v1 -> policies -> tokens (create, lookup, renew, revoke, allowed/denied exactly as
the policy says) -> transit -> seal -> 503 -> unseal. Every check compares values the server
returned. Prints TAP-style lines and a closing "N passed, N failed"; exits non-zero on failure.

Environment: VAULT_ADDR (https://127.0.0.1:PORT) and TR_CA (the test CA, the only trust anchor).
"""
import base64
import sys
import traceback

import requests
from hvac import exceptions as hx

from tap import ADDR, client, eq, ok, raises
import tap


def b64(s):
    return base64.b64encode(s.encode()).decode()


def status_flow(c):
    st = c.sys.read_seal_status()
    ok(st["sealed"] is True and st["initialized"] is False and st["t"] == 0, "seal-status before init")
    eq("is_initialized before init", c.sys.is_initialized(), False)
    h = c.sys.read_health_status(method="GET")
    eq("GET health before init is 501", h.status_code, 501)
    eq("health body says uninitialised", h.json()["initialized"], False)
    eq("HEAD health before init is 501", c.sys.read_health_status().status_code, 501)
    init = c.sys.initialize(secret_shares=3, secret_threshold=2)
    ok(len(init["keys"]) == 3 and len(init["keys_base64"]) == 3, "init returns 3 shares")
    ok(init["root_token"].startswith("hvs."), "init returns an hvs. root token")
    e = raises(hx.InvalidRequest, "second init is 400", c.sys.initialize, 1, 1)
    eq("second init message", e and e.errors, ["Vault is already initialized"])
    eq("is_initialized after init", c.sys.is_initialized(), True)
    eq("is_sealed after init", c.sys.is_sealed(), True)
    st = c.sys.submit_unseal_key(init["keys"][0])
    ok(st["sealed"] is True and st["progress"] == 1 and st["t"] == 2 and st["n"] == 3,
       "unseal progress 1/2 (%s)" % {k: st.get(k) for k in ("sealed", "progress", "t", "n")})
    ok(len(st["nonce"]) > 0, "unseal attempt has a nonce")
    st = c.sys.submit_unseal_key(init["keys"][0])
    eq("a repeated share does not count", st["progress"], 1)
    st = c.sys.submit_unseal_key(reset=True)
    eq("reset clears progress", st["progress"], 0)
    # keys_base64 is accepted as well as hex
    st = c.sys.submit_unseal_keys([init["keys_base64"][2], init["keys"][1]])
    ok(st["sealed"] is False and st["progress"] == 0, "unsealed with a base64 and a hex share")
    eq("is_sealed after unseal", c.sys.is_sealed(), False)
    h = c.sys.read_health_status(method="GET")
    ok(isinstance(h, dict) and h["initialized"] is True and h["sealed"] is False
       and h["standby"] is False, "GET health unsealed is 200 with the body")
    eq("HEAD health unsealed is 200", c.sys.read_health_status().status_code, 200)
    return init


def kv2_flow(c):
    c.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    m = c.sys.list_mounted_secrets_engines()
    sec = m["data"].get("secret/", {})
    ok(sec.get("type") == "kv" and (sec.get("options") or {}).get("version") == "2",
       "secret/ mounted as kv v2 (%s)" % {k: sec.get(k) for k in ("type", "options")})
    ok("secret/" in m and "sys/" in m["data"], "mounts also at the top level; sys/ listed")
    # Vault answers 409 for a mount conflict, which hvac 0.11.2 raises as UnexpectedError
    for p in ("secret", "secret/inner", "secret/data/app"):
        e = raises(hx.UnexpectedError, "mounting at %s/ conflicts" % p,
                   c.sys.enable_secrets_engine, "kv", path=p, options={"version": "2"})
        ok(bool(e) and "path is already in use at secret/" in str(e), "conflict names secret/")
    c.sys.enable_secrets_engine("kv", path="outer/inner")
    raises(hx.UnexpectedError, "an enclosing mount conflicts too",
           c.sys.enable_secrets_engine, "kv", path="outer")
    c.sys.disable_secrets_engine("outer/inner")
    c.sys.enable_secrets_engine("kv", path="outer")
    eq("after disabling the inner mount the outer one mounts",
       c.sys.list_mounted_secrets_engines()["data"]["outer/"]["type"], "kv")
    c.sys.disable_secrets_engine("outer")
    raises(hx.UnexpectedError, "an auth method cannot take over auth/token/",
           c.sys.enable_auth_method, "approle", path="token")
    eq("auth/token/ is still the token method",
       c.sys.list_auth_methods()["data"]["token/"]["type"], "token")
    kv = c.secrets.kv.v2

    kv.configure(max_versions=4, cas_required=False, mount_point="secret")
    cfg = kv.read_configuration(mount_point="secret")["data"]
    ok(cfg["max_versions"] == 4 and cfg["cas_required"] is False
       and cfg["delete_version_after"] == "0s", "config read back (%s)" % cfg)

    w = kv.create_or_update_secret("app/db", {"password": "s3cret"}, cas=0)
    ok(w["data"]["version"] == 1 and w["data"]["destroyed"] is False
       and w["data"]["deletion_time"] == "", "create with cas=0 is version 1")
    e = raises(hx.InvalidRequest, "cas=0 on an existing key is 400",
               kv.create_or_update_secret, "app/db", {"password": "x"}, cas=0)
    eq("cas mismatch message", e and e.errors,
       ["check-and-set parameter did not match the current version"])
    w = kv.create_or_update_secret("app/db", {"password": "n3w", "port": 5432}, cas=1)
    eq("update with cas=1 is version 2", w["data"]["version"], 2)

    r = kv.read_secret_version("app/db")
    eq("read latest data", r["data"]["data"], {"password": "n3w", "port": 5432})
    eq("read latest version number", r["data"]["metadata"]["version"], 2)
    r1 = kv.read_secret_version("app/db", version=1)
    eq("read version 1", r1["data"]["data"], {"password": "s3cret"})
    eq("read version 1 metadata", r1["data"]["metadata"]["version"], 1)
    raises(hx.InvalidPath, "absent key is 404", kv.read_secret_version, "app/none")
    raises(hx.InvalidPath, "absent version is 404", kv.read_secret_version, "app/db", version=9)

    p = kv.patch("app/db", {"user": "app"})
    eq("patch (read + cas write) is version 3", p["data"]["version"], 3)
    r = kv.read_secret_version("app/db")
    eq("patched data merged", r["data"]["data"], {"password": "n3w", "port": 5432, "user": "app"})
    raises(hx.InvalidPath, "patch of an absent key is 404", kv.patch, "app/none", {"a": "b"})

    kv.create_or_update_secret("app/sub/x", {"k": "v"})
    eq("list a folder", sorted(kv.list_secrets("app")["data"]["keys"]), ["db", "sub/"])
    eq("list the mount root", kv.list_secrets("")["data"]["keys"], ["app/"])
    raises(hx.InvalidPath, "list of an absent folder is 404", kv.list_secrets, "nope")

    md = kv.read_secret_metadata("app/db")["data"]
    ok(md["current_version"] == 3 and md["oldest_version"] == 0 and md["max_versions"] == 0
       and sorted(md["versions"]) == ["1", "2", "3"] and md["cas_required"] is False,
       "metadata: current 3, versions 1..3 (%s)"
       % {k: md.get(k) for k in ("current_version", "oldest_version", "max_versions")})
    eq("metadata custom_metadata unset", md["custom_metadata"], None)

    kv.update_metadata("app/db", max_versions=2, cas_required=True)
    md = kv.read_secret_metadata("app/db")["data"]
    ok(md["max_versions"] == 2 and md["cas_required"] is True, "update_metadata read back")
    e = raises(hx.InvalidRequest, "cas_required key refuses a write without cas",
               kv.create_or_update_secret, "app/db", {"a": "b"})
    eq("cas required message", e and e.errors, ["check-and-set parameter required for this call"])
    kv.update_metadata("app/db", cas_required=False)
    # hvac 0.11.2's update_metadata has no custom_metadata: send it through the client's adapter
    c.adapter.post("/v1/secret/metadata/app/db",
                   json={"custom_metadata": {"owner": "team-a", "tier": "1"}})
    md = kv.read_secret_metadata("app/db")["data"]
    eq("custom_metadata read back", md["custom_metadata"], {"owner": "team-a", "tier": "1"})
    eq("custom_metadata on version reads",
       kv.read_secret_version("app/db")["data"]["metadata"]["custom_metadata"],
       {"owner": "team-a", "tier": "1"})
    e = raises(hx.InvalidRequest, "custom_metadata over limits is 400", c.adapter.post,
               "/v1/secret/metadata/app/db", json={"custom_metadata": {"k": "v" * 513}})

    # Retention: the larger of key max_versions (2) and mount max_versions (4).
    kv.create_or_update_secret("app/db", {"v": "4"})
    kv.create_or_update_secret("app/db", {"v": "5"})
    md = kv.read_secret_metadata("app/db")["data"]
    eq("retention keeps the newest 4 versions", sorted(md["versions"]), ["2", "3", "4", "5"])
    eq("oldest_version moved up", md["oldest_version"], 2)
    raises(hx.InvalidPath, "a pruned version is 404", kv.read_secret_version, "app/db", version=1)

    kv.delete_latest_version_of_secret("app/db")
    raises(hx.InvalidPath, "deleted latest version is 404", kv.read_secret_version, "app/db")
    md = kv.read_secret_metadata("app/db")["data"]
    ok(md["versions"]["5"]["deletion_time"] != "" and md["versions"]["5"]["destroyed"] is False,
       "metadata shows version 5 deleted")
    resp = c.adapter.get("/v1/secret/data/app/db", raise_exception=False)
    body = resp.json()
    ok(resp.status_code == 404 and body["data"]["data"] is None
       and body["data"]["metadata"]["version"] == 5,
       "deleted version answers 404 with the envelope and its metadata")
    kv.undelete_secret_versions("app/db", versions=[5])
    eq("undeleted version readable", kv.read_secret_version("app/db")["data"]["data"], {"v": "5"})
    kv.delete_secret_versions("app/db", versions=[3, 4])
    raises(hx.InvalidPath, "version 3 deleted by number", kv.read_secret_version, "app/db", version=3)
    eq("version 2 untouched", kv.read_secret_version("app/db", version=2)["data"]["data"],
       {"password": "n3w", "port": 5432})
    kv.destroy_secret_versions("app/db", versions=[2])
    md = kv.read_secret_metadata("app/db")["data"]
    ok(md["versions"]["2"]["destroyed"] is True, "metadata shows version 2 destroyed")
    raises(hx.InvalidPath, "destroyed version is 404", kv.read_secret_version, "app/db", version=2)
    kv.undelete_secret_versions("app/db", versions=[2, 3])
    raises(hx.InvalidPath, "undelete does not revive a destroyed version",
           kv.read_secret_version, "app/db", version=2)
    eq("undelete revives a deleted one", kv.read_secret_version("app/db", version=3)["data"]
       ["data"], {"password": "n3w", "port": 5432, "user": "app"})

    kv.delete_metadata_and_all_versions("app/db")
    raises(hx.InvalidPath, "metadata gone after delete_metadata_and_all_versions",
           kv.read_secret_metadata, "app/db")
    raises(hx.InvalidPath, "data gone too", kv.read_secret_version, "app/db", version=3)
    eq("folder lists the remaining key", kv.list_secrets("app")["data"]["keys"], ["sub/"])
    # the app/db key comes back from scratch at version 1
    w = kv.create_or_update_secret("app/db", {"password": "s3cret"}, cas=0)
    eq("re-created key starts at version 1", w["data"]["version"], 1)


def kv1_flow(c):
    c.sys.enable_secrets_engine("kv", path="kv1", options={"version": "1"})
    m = c.sys.list_mounted_secrets_engines()["data"]
    eq("kv1/ options version 1", (m.get("kv1/", {}).get("options") or {}).get("version"), "1")
    kv = c.secrets.kv.v1
    kv.create_or_update_secret("cfg/app", {"url": "https://db", "n": 3}, mount_point="kv1")
    r = kv.read_secret("cfg/app", mount_point="kv1")
    eq("kv v1 read", r["data"], {"url": "https://db", "n": 3})
    eq("kv v1 lease_duration is 768h", r["lease_duration"], 2764800)
    kv.create_or_update_secret("cfg/app", {"url": "https://db2"}, mount_point="kv1")
    eq("kv v1 write replaces", kv.read_secret("cfg/app", mount_point="kv1")["data"],
       {"url": "https://db2"})
    kv.create_or_update_secret("cfg/other", {"a": "b"}, mount_point="kv1")
    eq("kv v1 list", sorted(kv.list_secrets("cfg", mount_point="kv1")["data"]["keys"]),
       ["app", "other"])
    kv.delete_secret("cfg/other", mount_point="kv1")
    raises(hx.InvalidPath, "kv v1 deleted key is 404", kv.read_secret, "cfg/other",
           mount_point="kv1")
    eq("kv v1 list after delete", kv.list_secrets("cfg", mount_point="kv1")["data"]["keys"],
       ["app"])


READER = """
path "secret/data/app/*" { capabilities = ["read"] }
path "secret/metadata/app/*" { capabilities = ["list", "read"] }
path "secret/metadata/app" { capabilities = ["list"] }
path "secret/data/app/rw" { capabilities = ["create", "update", "read"] }
path "secret/data/app/sub/*" { capabilities = ["deny"] }
path "kv1/cfg/+" { capabilities = ["read"] }
path "auth/token/create" { capabilities = ["update"] }
"""


def policy_flow(c):
    c.sys.create_or_update_policy("reader", READER)
    eq("read_policy returns the rules text", c.sys.read_policy("reader")["rules"], READER)
    c.sys.create_or_update_policy(
        "transit-user", {"path": {"transit/encrypt/orders": {"capabilities": ["update"]},
                                  "transit/decrypt/orders": {"capabilities": ["update"]}}})
    rules = c.sys.read_policy("transit-user")["data"]["rules"]
    ok('"transit/encrypt/orders"' in rules, "JSON policy stored verbatim")
    pols = c.sys.list_policies()
    ok({"default", "root", "reader", "transit-user"} <= set(pols["policies"])
       and pols["policies"] == pols["data"]["keys"], "list_policies (%s)" % pols["policies"])
    raises(hx.InvalidRequest, "writing the root policy is refused",
           c.sys.create_or_update_policy, "root", READER)
    raises(hx.InvalidRequest, "an unparsable policy is refused",
           c.sys.create_or_update_policy, "bad", 'path "x" { capabilities = [read] ')
    c.sys.create_or_update_policy("tmp", READER)
    c.sys.delete_policy("tmp")
    raises(hx.InvalidPath, "a deleted policy is 404", c.sys.read_policy, "tmp")


def token_flow(c, root_token):
    t = c.auth.token.create(policies=["reader"], ttl="1h", meta={"app": "hvac"})
    a = t["auth"]
    ok(a["client_token"].startswith("hvs.") and a["client_token"] != root_token, "token create")
    eq("token policies", sorted(a["policies"]), ["default", "reader"])
    ok(a["lease_duration"] == 3600 and a["renewable"] is True, "token ttl 1h, renewable")
    eq("token metadata", a["metadata"], {"app": "hvac"})
    child = client(a["client_token"])
    eq("is_authenticated with the child token", child.is_authenticated(), True)
    s = child.auth.token.lookup_self()["data"]
    ok(s["id"] == a["client_token"] and s["accessor"] == a["accessor"]
       and sorted(s["policies"]) == ["default", "reader"] and 3500 <= s["ttl"] <= 3600
       and s["display_name"] == "token-token" and s["meta"] == {"app": "hvac"},
       "lookup_self (%s)" % {k: s.get(k) for k in ("policies", "ttl", "display_name", "meta")})
    r = child.auth.token.renew_self(increment="2h")["auth"]
    # Vault also echoes the token in auth.client_token here; Tresor answers "" (reported), so
    # only the renewal itself is checked.
    ok(r["accessor"] == a["accessor"] and r["lease_duration"] == 7200 and r["renewable"] is True,
       "renew_self to 2h (%s)" % r.get("lease_duration"))
    ok(7100 <= child.auth.token.lookup_self()["data"]["ttl"] <= 7200, "ttl after renew")
    looked = c.auth.token.lookup(a["client_token"])["data"]
    eq("root lookup of the child", looked["accessor"], a["accessor"])

    # allowed and denied exactly as the policy says
    kv = child.secrets.kv.v2
    eq("allowed: read secret/data/app/db", kv.read_secret_version("app/db")["data"]["data"],
       {"password": "s3cret"})
    eq("allowed: list secret/metadata/app", kv.list_secrets("app")["data"]["keys"], ["db", "sub/"])
    eq("allowed: read metadata app/db", kv.read_secret_metadata("app/db")["data"]
       ["current_version"], 1)
    w = kv.create_or_update_secret("app/rw", {"x": "1"})
    eq("allowed: create app/rw", w["data"]["version"], 1)
    eq("allowed: update app/rw", kv.create_or_update_secret("app/rw", {"x": "2"})["data"]
       ["version"], 2)
    e = raises(hx.Forbidden, "denied: update secret/data/app/db (read only)",
               kv.create_or_update_secret, "app/db", {"password": "pwn"})
    eq("403 body parsed by hvac", e and e.errors, ["permission denied"])
    raises(hx.Forbidden, "denied: create a new key under app/ (read only)",
           kv.create_or_update_secret, "app/new", {"a": "b"})
    raises(hx.Forbidden, "denied: explicit deny on app/sub/* beats the app/* read",
           kv.read_secret_version, "app/sub/x")
    raises(hx.Forbidden, "denied: read outside app/", kv.read_secret_version, "other")
    raises(hx.Forbidden, "denied: delete (no delete capability)",
           kv.delete_latest_version_of_secret, "app/db")
    raises(hx.Forbidden, "denied: destroy", kv.destroy_secret_versions, "app/db", [1])
    raises(hx.Forbidden, "denied: config", kv.read_configuration)
    raises(hx.Forbidden, "denied: sys/mounts", child.sys.list_mounted_secrets_engines)
    raises(hx.Forbidden, "denied: policy write", child.sys.create_or_update_policy, "x", READER)
    raises(hx.Forbidden, "denied: seal", child.sys.seal)
    eq("allowed: kv1/cfg/+ read", child.secrets.kv.v1.read_secret("cfg/app", mount_point="kv1")
       ["data"], {"url": "https://db2"})
    raises(hx.Forbidden, "denied: + matches one segment only",
           child.secrets.kv.v1.read_secret, "cfg/a/b", mount_point="kv1")
    raises(hx.InvalidRequest, "child cannot grant policies it lacks",
           child.auth.token.create, policies=["transit-user"])
    # a grandchild, revoked with its parent
    g = child.auth.token.create(policies=["reader"], ttl="10m")["auth"]["client_token"]
    eq("grandchild works", client(g).secrets.kv.v2.read_secret_version("app/db")["data"]["data"],
       {"password": "s3cret"})

    child.auth.token.revoke_self()
    raises(hx.Forbidden, "revoked token is refused", child.auth.token.lookup_self)
    raises(hx.Forbidden, "its child token is revoked too", client(g).auth.token.lookup_self)
    raises(hx.Forbidden, "a made-up token is refused", client("hvs.bogus").auth.token.lookup_self)


def transit_flow(c):
    c.sys.enable_secrets_engine("transit")
    tr = c.secrets.transit
    tr.create_key("orders")
    k = tr.read_key("orders")["data"]
    ok(k["type"] == "aes256-gcm96" and k["latest_version"] == 1
       and k["supports_encryption"] is True, "transit key info")
    ct = tr.encrypt_data("orders", plaintext=b64("card 4111"))["data"]["ciphertext"]
    ok(ct.startswith("vault:v1:"), "encrypt gives vault:v1:")
    eq("decrypt round trip",
       base64.b64decode(tr.decrypt_data("orders", ciphertext=ct)["data"]["plaintext"]).decode(),
       "card 4111")
    tr.rotate_key("orders")
    ct2 = tr.encrypt_data("orders", plaintext=b64("x"))["data"]["ciphertext"]
    ok(ct2.startswith("vault:v2:"), "encrypt after rotate uses v2")
    eq("v1 ciphertext still decrypts",
       base64.b64decode(tr.decrypt_data("orders", ciphertext=ct)["data"]["plaintext"]).decode(),
       "card 4111")
    tampered = ct[:-4] + ("AAAA" if not ct.endswith("AAAA") else "BBBB")
    raises(hx.InvalidRequest, "tampered ciphertext is 400", tr.decrypt_data, "orders", tampered)
    tok = c.auth.token.create(policies=["transit-user"], ttl="5m")["auth"]["client_token"]
    u = client(tok).secrets.transit
    ct3 = u.encrypt_data("orders", plaintext=b64("limited"))["data"]["ciphertext"]
    eq("policy-limited token encrypts and decrypts",
       base64.b64decode(u.decrypt_data("orders", ciphertext=ct3)["data"]["plaintext"]).decode(),
       "limited")
    raises(hx.Forbidden, "policy-limited token cannot rotate", u.rotate_key, "orders")
    raises(hx.Forbidden, "policy-limited token cannot use another key",
           u.encrypt_data, "other", plaintext=b64("x"))
    return ct


def seal_flow(c, init, ct):
    keep = c.auth.token.create(policies=["reader"], ttl="1h")["auth"]["client_token"]
    c.sys.seal()
    eq("is_sealed after seal", c.sys.is_sealed(), True)
    e = raises(hx.VaultDown, "KV read while sealed is 503 (VaultDown)",
               c.secrets.kv.v2.read_secret_version, "app/db")
    eq("sealed message", e and e.errors, ["Vault is sealed"])
    raises(hx.VaultDown, "token lookup while sealed is 503", c.auth.token.lookup_self)
    h = c.sys.read_health_status(method="GET")
    ok(h.status_code == 503 and h.json()["sealed"] is True, "health while sealed is 503")
    h = c.sys.read_health_status(method="GET", sealed_code=299)
    eq("health sealedcode=299 honoured", getattr(h, "status_code", 200), 299)
    st = c.sys.submit_unseal_key(init["keys"][2])
    ok(st["sealed"] is True and st["progress"] == 1, "unseal share 1 after seal")
    st = c.sys.submit_unseal_key(init["keys"][0])
    eq("unsealed again", st["sealed"], False)
    eq("KV read after unseal", c.secrets.kv.v2.read_secret_version("app/db")["data"]["data"],
       {"password": "s3cret"})
    eq("token from before the seal still works",
       client(keep).secrets.kv.v2.read_secret_version("app/db")["data"]["data"],
       {"password": "s3cret"})
    eq("transit key survives the seal", base64.b64decode(
        c.secrets.transit.decrypt_data("orders", ciphertext=ct)["data"]["plaintext"]).decode(),
        "card 4111")


def main():
    c = client()
    try:
        requests.get(ADDR + "/v1/sys/health", timeout=10, verify=True)
        ok(False, "system trust store must not accept the test CA")
    except requests.exceptions.SSLError:
        ok(True, "TLS verification is on (system trust store rejects the server)")
    init = status_flow(c)
    c.token = init["root_token"]
    eq("lookup_self with the root token", c.auth.token.lookup_self()["data"]["policies"], ["root"])
    kv2_flow(c)
    kv1_flow(c)
    policy_flow(c)
    token_flow(c, init["root_token"])
    ct = transit_flow(c)
    seal_flow(c, init, ct)
    # revoke_self on a fresh token proves the root client still works after everything
    t = client(c.auth.token.create(ttl="5m")["auth"]["client_token"])
    t.auth.token.revoke_self()
    eq("is_authenticated after revoke_self", t.is_authenticated(), False)


if __name__ == "__main__":
    try:
        main()
    except Exception:  # noqa: BLE001 - any unexpected error is a failure with its traceback
        traceback.print_exc(file=sys.stdout)
        ok(False, "unexpected error (see traceback)")
    sys.exit(tap.summary())
