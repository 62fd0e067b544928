#!/bin/sh
# Auth methods end to end over real TLS (issue #8): AppRole, TLS client certificates (mTLS
# listener, certificates, CRL and an expired certificate made here with openssl) and Kubernetes
# (JWTs signed here with RS256, and a TokenReview endpoint served by a small Python script).
. "$(dirname "$0")/lib.sh"

need openssl jq curl python3

D=$(tmpdir)
P="$D/pki"
mkdir -p "$P"

# -- server TLS material from a throwaway dev run, then an mTLS config with the devkey seal
start_dev "$D" || exit 1
kill -TERM "$PID"
wait "$PID" 2>/dev/null
mkdir -p "$D/tls" && cp "$D/data/tls/"* "$D/tls/"
CA="$D/tls/ca.crt"

# -- client PKI: two CAs, leaves issued with `openssl ca` (start/end dates, revocation, CRL)
mkca() { # name subject
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -keyout "$P/$1.key" -out "$P/$1.crt" -subj "/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    mkdir -p "$P/$1.db/new"
    : >"$P/$1.db/index.txt"
    echo 1000 >"$P/$1.db/serial"
    cat >"$P/$1.cnf" <<EOF
[ ca ]
default_ca = ca_default
[ ca_default ]
database = $P/$1.db/index.txt
new_certs_dir = $P/$1.db/new
serial = $P/$1.db/serial
certificate = $P/$1.crt
private_key = $P/$1.key
default_md = sha256
default_crl_days = 1
policy = policy_any
unique_subject = no
copy_extensions = none
[ policy_any ]
commonName = supplied
[ leaf ]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:\$ENV::SAN
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
}
mkleaf() { # ca name cn [startdate enddate]
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$P/$2.key" -out "$P/$2.csr" -subj "/CN=$3" 2>/dev/null
    if [ $# -ge 5 ]; then
        dates="-startdate $4 -enddate $5"
    else
        dates="-days 2"
    fi
    # shellcheck disable=SC2086
    SAN="$3" openssl ca -batch -notext -config "$P/$1.cnf" -extensions leaf $dates \
        -in "$P/$2.csr" -out "$P/$2.crt" 2>/dev/null
}
mkca ca1 "Tresor Client CA 1"
mkca ca2 "Tresor Client CA 2"
mkleaf ca1 app app.example.com
mkleaf ca1 dbcert db.example.com
mkleaf ca1 revoked app.example.com
mkleaf ca1 expired app.example.com 20200101000000Z 20200201000000Z
mkleaf ca2 foreign app.example.com
cat "$P/ca1.crt" "$P/ca2.crt" >"$P/clients.pem"
check "client certificates made" test -s "$P/app.crt" -a -s "$P/expired.crt" -a -s "$P/foreign.crt"

cat >"$D/tresor.yaml" <<YAML
listener:
  address: "127.0.0.1:0"
  tls_cert_file: $D/tls/server.crt
  tls_key_file: $D/tls/server.key
  tls_client_ca_file: $P/clients.pem
  login_rate_per_s: 1000
  login_burst: 1000
storage:
  path: $D/store
seal:
  type: devkey
  allow_insecure: true
  devkey: { key_file: $D/dev.key }
counter:
  type: file
audit:
  path: $D/audit.log
YAML
LOG="$D/server.log"
"$TRESORD" -config "$D/tresor.yaml" >"$LOG" 2>&1 &
PID=$!
T_PIDS="$T_PIDS $PID"
PORT=$(wait_port "$LOG") || { cat "$LOG"; exit 1; }
ADDR="https://127.0.0.1:$PORT"

j() { jq -r "$1"; }
INIT=$(hcurl -X POST -d '{"secret_shares":1,"secret_threshold":1}' "$ADDR/v1/sys/init")
ROOT=$(printf '%s\n' "$INIT" | j .root_token)
expect_contains "init returns a root token" "$ROOT" "hvs."
i=0
while [ "$(hcurl "$ADDR/v1/sys/seal-status" | j .sealed)" != false ] && [ $i -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
done
R="X-Vault-Token: $ROOT"

# put JSON (from stdin or $2) to a path with the root token; print the status
rput() { curl -sS --max-time 10 --cacert "$CA" -o /dev/null -w '%{http_code}' -H "$R" -X POST -d "$2" "$ADDR/v1/$1"; }
rget() { hcurl -H "$R" "$ADDR/v1/$1"; }

expect_eq "mount kv-v2 at secret/" "$(rput sys/mounts/secret '{"type":"kv","options":{"version":"2"}}')" 204
expect_eq "write a secret" "$(rput secret/data/app/db '{"data":{"password":"CANARY-db-771"}}')" 200
rput secret/data/other/x '{"data":{"v":"no"}}' >/dev/null
expect_eq "policy app-read" \
    "$(rput sys/policies/acl/app-read '{"policy":"path \"secret/data/app/*\" { capabilities = [\"read\"] }"}')" 204

# ============================== sys/auth ===========================================================
expect_eq "enable approle" "$(rput sys/auth/approle '{"type":"approle"}')" 204
expect_eq "enable approle twice conflicts (409, as Vault)" "$(rput sys/auth/approle '{"type":"approle"}')" 409
expect_eq "unknown type refused" "$(rput sys/auth/x '{"type":"ldap"}')" 400
expect_eq "second token mount refused" "$(rput sys/auth/token '{"type":"token"}')" 400
A=$(rget sys/auth)
expect_eq "sys/auth lists token/" "$(printf '%s\n' "$A" | j '.data."token/".type')" token
expect_eq "sys/auth lists approle/ at the top level" "$(printf '%s\n' "$A" | j '."approle/".type')" approle
expect_contains "approle accessor" "$(printf '%s\n' "$A" | j '."approle/".accessor')" "auth_approle_"
expect_eq "sys/auth/approle reads the mount" "$(rget sys/auth/approle | j .type)" approle

# ============================== AppRole ============================================================
expect_eq "create role web" \
    "$(rput auth/approle/role/web '{"token_policies":"app-read","token_ttl":"1h","token_max_ttl":"4h","secret_id_ttl":"10m"}')" 204
ROLE=$(rget auth/approle/role/web)
expect_eq "role reads policies" "$(printf '%s\n' "$ROLE" | j '.data.token_policies[0]')" app-read
expect_eq "role reads durations as seconds" "$(printf '%s\n' "$ROLE" | j .data.token_ttl)" 3600
expect_eq "role binds secret IDs by default" "$(printf '%s\n' "$ROLE" | j .data.bind_secret_id)" true
expect_eq "LIST roles" "$(hcurl -H "$R" -X LIST "$ADDR/v1/auth/approle/role" | j '.data.keys[0]')" web
expect_eq "list via ?list=true" "$(rget 'auth/approle/role?list=true' | j '.data.keys | length')" 1
expect_eq "root policy refused on roles" \
    "$(rput auth/approle/role/evil '{"token_policies":"root"}')" 400
expect_eq "no-constraint role refused" "$(rput auth/approle/role/open '{"bind_secret_id":false}')" 400
RID=$(rget auth/approle/role/web/role-id | j .data.role_id)
check "role_id is set" test -n "$RID" -a "$RID" != null
SID_JSON=$(hcurl -H "$R" -X POST "$ADDR/v1/auth/approle/role/web/secret-id")
SID=$(printf '%s\n' "$SID_JSON" | j .data.secret_id)
SACC=$(printf '%s\n' "$SID_JSON" | j .data.secret_id_accessor)
expect_eq "secret-id carries the role's ttl" "$(printf '%s\n' "$SID_JSON" | j .data.secret_id_ttl)" 600
check "secret_id and accessor returned" test -n "$SID" -a "$SACC" != null

login_body() { printf '{"role_id":"%s","secret_id":"%s"}' "$1" "$2"; }
L=$(hcurl -X POST -d "$(login_body "$RID" "$SID")" "$ADDR/v1/auth/approle/login")
TOK=$(printf '%s\n' "$L" | j .auth.client_token)
expect_contains "approle login issues a token" "$TOK" "hvs."
expect_eq "login metadata names the role" "$(printf '%s\n' "$L" | j .auth.metadata.role_name)" web
expect_contains "login policies" "$(printf '%s\n' "$L" | j '.auth.policies | join(",")')" "app-read"
expect_eq "login lease is the role's token_ttl" "$(printf '%s\n' "$L" | j .auth.lease_duration)" 3600
expect_eq "token reads the allowed secret" \
    "$(hcurl -H "X-Vault-Token: $TOK" "$ADDR/v1/secret/data/app/db" | j .data.data.password)" CANARY-db-771
expect_eq "token denied elsewhere" \
    "$(status_of -H "X-Vault-Token: $TOK" "$ADDR/v1/secret/data/other/x")" 403
expect_eq "token path is the login path" \
    "$(hcurl -H "X-Vault-Token: $TOK" "$ADDR/v1/auth/token/lookup-self" | j .data.path)" auth/approle/login
expect_eq "approle token cannot enable auth methods" \
    "$(status_of -H "X-Vault-Token: $TOK" -X POST -d '{"type":"approle"}' "$ADDR/v1/sys/auth/x")" 403
LK=$(hcurl -H "$R" -X POST -d "{\"secret_id\":\"$SID\"}" "$ADDR/v1/auth/approle/role/web/secret-id/lookup")
expect_eq "secret-id lookup gives the accessor" "$(printf '%s\n' "$LK" | j .data.secret_id_accessor)" "$SACC"
expect_eq "accessor lookup" "$(hcurl -H "$R" -X POST -d "{\"secret_id_accessor\":\"$SACC\"}" \
    "$ADDR/v1/auth/approle/role/web/secret-id-accessor/lookup" | j .data.secret_id_ttl)" 600
expect_eq "LIST secret-id shows accessors" \
    "$(hcurl -H "$R" -X LIST "$ADDR/v1/auth/approle/role/web/secret-id" | j '.data.keys[0]')" "$SACC"
check "secret ID never stored in clear" sh -c "! grep -qF '$SID' '$D/store/data.mdb'"
check "role ID never stored in clear" sh -c "! grep -qF '$RID' '$D/store/data.mdb'"

# -- failures are indistinguishable
B1=$(hcurl -X POST -d "$(login_body "no-such-role-id" "$SID")" "$ADDR/v1/auth/approle/login")
B2=$(hcurl -X POST -d "$(login_body "$RID" "wrong-secret")" "$ADDR/v1/auth/approle/login")
S1=$(status_of -X POST -d "$(login_body "no-such-role-id" "$SID")" "$ADDR/v1/auth/approle/login")
S2=$(status_of -X POST -d "$(login_body "$RID" "wrong-secret")" "$ADDR/v1/auth/approle/login")
expect_eq "unknown role is 400" "$S1" 400
expect_eq "unknown role and wrong secret: same status" "$S1" "$S2"
expect_eq "unknown role and wrong secret: same body" "$B1" "$B2"
expect_eq "the body is Vault's" "$B1" '{"errors":["invalid role or secret ID"]}'
expect_eq "missing role_id" "$(hcurl -X POST -d '{}' "$ADDR/v1/auth/approle/login" | j '.errors[0]')" "missing role_id"
expect_eq "missing secret_id (known role)" \
    "$(hcurl -X POST -d "{\"role_id\":\"$RID\"}" "$ADDR/v1/auth/approle/login" | j '.errors[0]')" "missing secret_id"
expect_eq "missing secret_id (unknown role): same answer" \
    "$(hcurl -X POST -d '{"role_id":"nope"}' "$ADDR/v1/auth/approle/login" | j '.errors[0]')" "missing secret_id"
expect_eq "login with GET is 405" "$(status_of "$ADDR/v1/auth/approle/login")" 405

# -- num_uses and ttl
ONE=$(hcurl -H "$R" -X POST -d '{"num_uses":1}' "$ADDR/v1/auth/approle/role/web/secret-id" | j .data.secret_id)
expect_eq "num_uses=1: first login works" \
    "$(status_of -X POST -d "$(login_body "$RID" "$ONE")" "$ADDR/v1/auth/approle/login")" 200
expect_eq "num_uses=1: second login fails" \
    "$(status_of -X POST -d "$(login_body "$RID" "$ONE")" "$ADDR/v1/auth/approle/login")" 400
TWO=$(hcurl -H "$R" -X POST -d '{"num_uses":2}' "$ADDR/v1/auth/approle/role/web/secret-id" | j .data.secret_id)
hcurl -X POST -d "$(login_body "$RID" "$TWO")" "$ADDR/v1/auth/approle/login" >/dev/null
expect_eq "num_uses counts down" "$(hcurl -H "$R" -X POST -d "{\"secret_id\":\"$TWO\"}" \
    "$ADDR/v1/auth/approle/role/web/secret-id/lookup" | j .data.secret_id_num_uses)" 1
expect_eq "role lim (2 uses per secret ID)" \
    "$(rput auth/approle/role/lim '{"token_policies":"app-read","secret_id_num_uses":2}')" 204
expect_eq "more uses than the role allows refused" \
    "$(status_of -H "$R" -X POST -d '{"num_uses":5}' "$ADDR/v1/auth/approle/role/lim/secret-id")" 400
expect_eq "a longer ttl than the role allows refused" \
    "$(status_of -H "$R" -X POST -d '{"ttl":"1h"}' "$ADDR/v1/auth/approle/role/web/secret-id")" 400
SHORT=$(hcurl -H "$R" -X POST -d '{"ttl":"1s"}' "$ADDR/v1/auth/approle/role/web/secret-id" | j .data.secret_id)
sleep 2
expect_eq "secret_id ttl 1s: expired after 2s" \
    "$(hcurl -X POST -d "$(login_body "$RID" "$SHORT")" "$ADDR/v1/auth/approle/login")" \
    '{"errors":["invalid role or secret ID"]}'

# -- concurrent logins cannot overspend a one-use secret ID
RACE=$(hcurl -H "$R" -X POST -d '{"num_uses":1}' "$ADDR/v1/auth/approle/role/web/secret-id" | j .data.secret_id)
pids=""
for k in 1 2 3 4 5 6; do
    status_of -X POST -d "$(login_body "$RID" "$RACE")" "$ADDR/v1/auth/approle/login" >"$D/race.$k" &
    pids="$pids $!"
done
# shellcheck disable=SC2086
wait $pids
expect_eq "six parallel logins, one use: exactly one succeeds" "$(grep -l 200 "$D"/race.* | wc -l)" 1

# -- destroy, custom role ID, CIDR bindings, delete
expect_eq "destroy secret-id" \
    "$(status_of -H "$R" -X POST -d "{\"secret_id\":\"$SID\"}" "$ADDR/v1/auth/approle/role/web/secret-id/destroy")" 204
expect_eq "destroyed secret-id no longer logs in" \
    "$(status_of -X POST -d "$(login_body "$RID" "$SID")" "$ADDR/v1/auth/approle/login")" 400
expect_eq "set a custom role-id" "$(rput auth/approle/role/web/role-id '{"role_id":"web-custom-id"}')" 204
NEWS=$(hcurl -H "$R" -X POST "$ADDR/v1/auth/approle/role/web/secret-id" | j .data.secret_id)
expect_eq "custom role-id logs in" \
    "$(status_of -X POST -d "$(login_body web-custom-id "$NEWS")" "$ADDR/v1/auth/approle/login")" 200
expect_eq "old role-id no longer does" \
    "$(status_of -X POST -d "$(login_body "$RID" "$NEWS")" "$ADDR/v1/auth/approle/login")" 400
rput auth/approle/role/other '{"token_policies":"app-read"}' >/dev/null
expect_eq "a role-id in use elsewhere is refused" "$(rput auth/approle/role/other/role-id '{"role_id":"web-custom-id"}')" 400
expect_eq "accessor destroy" "$(status_of -H "$R" -X POST -d "{\"secret_id_accessor\":\"$SACC\"}" \
    "$ADDR/v1/auth/approle/role/web/secret-id-accessor/destroy")" 204
rput auth/approle/role/far '{"token_policies":"app-read","secret_id_bound_cidrs":"10.0.0.0/8"}' >/dev/null
rput auth/approle/role/near '{"token_policies":"app-read","secret_id_bound_cidrs":["127.0.0.0/8"]}' >/dev/null
FR=$(rget auth/approle/role/far/role-id | j .data.role_id)
NR=$(rget auth/approle/role/near/role-id | j .data.role_id)
FS=$(hcurl -H "$R" -X POST "$ADDR/v1/auth/approle/role/far/secret-id" | j .data.secret_id)
NS=$(hcurl -H "$R" -X POST "$ADDR/v1/auth/approle/role/near/secret-id" | j .data.secret_id)
expect_eq "secret_id_bound_cidrs: outside is refused like a bad secret" \
    "$(hcurl -X POST -d "$(login_body "$FR" "$FS")" "$ADDR/v1/auth/approle/login")" \
    '{"errors":["invalid role or secret ID"]}'
expect_eq "secret_id_bound_cidrs: inside logs in" \
    "$(status_of -X POST -d "$(login_body "$NR" "$NS")" "$ADDR/v1/auth/approle/login")" 200
expect_eq "secret ID cidr_list outside the role's secret_id_bound_cidrs refused (as Vault)" \
    "$(status_of -H "$R" -X POST -d '{"cidr_list":"192.168.0.0/16"}' "$ADDR/v1/auth/approle/role/near/secret-id")" 400
CS=$(hcurl -H "$R" -X POST -d '{"cidr_list":"10.0.0.0/8"}' "$ADDR/v1/auth/approle/role/web/secret-id" | j .data.secret_id)
expect_eq "secret ID cidr_list enforced" \
    "$(status_of -X POST -d "$(login_body web-custom-id "$CS")" "$ADDR/v1/auth/approle/login")" 400
rput auth/approle/role/cidronly '{"token_policies":"app-read","bind_secret_id":false,"token_bound_cidrs":"127.0.0.1/32"}' >/dev/null
CO=$(rget auth/approle/role/cidronly/role-id | j .data.role_id)
expect_eq "bind_secret_id=false with CIDRs logs in by role_id" \
    "$(status_of -X POST -d "{\"role_id\":\"$CO\"}" "$ADDR/v1/auth/approle/login")" 200
expect_eq "delete role" "$(status_of -H "$R" -X DELETE "$ADDR/v1/auth/approle/role/near")" 204
expect_eq "deleted role's secret ID is dead" \
    "$(status_of -X POST -d "$(login_body "$NR" "$NS")" "$ADDR/v1/auth/approle/login")" 400
rput auth/approle/role/near '{"token_policies":"app-read","secret_id_bound_cidrs":["127.0.0.0/8"]}' >/dev/null
NR2=$(rget auth/approle/role/near/role-id | j .data.role_id)
expect_eq "re-created role does not revive old secret IDs" \
    "$(status_of -X POST -d "$(login_body "$NR2" "$NS")" "$ADDR/v1/auth/approle/login")" 400

# -- role names are case-insensitive, as Vault's since 0.9.1 (stored lower-cased; roles stored
# before with capitals stay reachable by their exact name: tests/unit/test_auth_legacy.c)
expect_eq "create role CaseRole" "$(rput auth/approle/role/CaseRole '{"token_policies":"app-read"}')" 204
expect_eq "read it as caserole" "$(rget auth/approle/role/caserole | j '.data.token_policies[0]')" app-read
expect_eq "read it as CASEROLE" "$(status_of -H "$R" "$ADDR/v1/auth/approle/role/CASEROLE")" 200
expect_eq "LIST shows it lower-cased (as Vault)" \
    "$(hcurl -H "$R" -X LIST "$ADDR/v1/auth/approle/role" | j '[.data.keys[] | select(ascii_downcase == "caserole")] | join(",")')" caserole
expect_eq "an update in another case changes the same role" \
    "$(rput auth/approle/role/CASErole '{"token_policies":"app-read,child-maker"}')" 204
expect_eq "... (one role, its new policies)" \
    "$(rget auth/approle/role/caserole | j '.data.token_policies | join(",")')" app-read,child-maker
CRID=$(rget auth/approle/role/CaseRole/role-id | j .data.role_id)
CSID=$(hcurl -H "$R" -X POST "$ADDR/v1/auth/approle/role/CASEROLE/secret-id" | j .data.secret_id)
expect_eq "login metadata names the role lower-cased (as Vault)" \
    "$(hcurl -X POST -d "$(login_body "$CRID" "$CSID")" "$ADDR/v1/auth/approle/login" | j .auth.metadata.role_name)" caserole
expect_eq "delete in another case" "$(status_of -H "$R" -X DELETE "$ADDR/v1/auth/approle/role/CaseROLE")" 204
expect_eq "... deletes the role" "$(status_of -H "$R" "$ADDR/v1/auth/approle/role/caserole")" 404
expect_eq "... and its secret IDs" \
    "$(status_of -X POST -d "$(login_body "$CRID" "$CSID")" "$ADDR/v1/auth/approle/login")" 400

# -- token_bound_cidrs bind the token on every use (Vault: AppRole issues it, every use from
# elsewhere is 403); the server listens on 127.0.0.1 only, so 10.0.0.0/8 is "elsewhere"
expect_eq "policy child-maker (auth/token/create)" \
    "$(rput sys/policies/acl/child-maker '{"policy":"path \"auth/token/create\" { capabilities = [\"update\"] }"}')" 204
rput auth/approle/role/tfar '{"token_policies":"app-read,child-maker","token_bound_cidrs":["10.0.0.0/8"]}' >/dev/null
rput auth/approle/role/tnear '{"token_policies":"app-read,child-maker","token_bound_cidrs":"127.0.0.1/32"}' >/dev/null
TFR=$(rget auth/approle/role/tfar/role-id | j .data.role_id)
TNR=$(rget auth/approle/role/tnear/role-id | j .data.role_id)
TFS=$(hcurl -H "$R" -X POST "$ADDR/v1/auth/approle/role/tfar/secret-id" | j .data.secret_id)
TNS=$(hcurl -H "$R" -X POST "$ADDR/v1/auth/approle/role/tnear/secret-id" | j .data.secret_id)
FAR=$(hcurl -X POST -d "$(login_body "$TFR" "$TFS")" "$ADDR/v1/auth/approle/login" | j .auth.client_token)
expect_contains "token_bound_cidrs elsewhere: the login still succeeds (as Vault's AppRole)" "$FAR" "hvs."
expect_eq "token_bound_cidrs elsewhere: a read with the token is 403" \
    "$(status_of -H "X-Vault-Token: $FAR" "$ADDR/v1/secret/data/app/db")" 403
expect_eq "token_bound_cidrs elsewhere: refused every time (not cached as good)" \
    "$(hcurl -H "X-Vault-Token: $FAR" "$ADDR/v1/secret/data/app/db")" '{"errors":["permission denied"]}'
expect_eq "token_bound_cidrs elsewhere: lookup-self is 403 too" \
    "$(status_of -H "X-Vault-Token: $FAR" "$ADDR/v1/auth/token/lookup-self")" 403
expect_eq "token_bound_cidrs elsewhere: the token cannot make children" \
    "$(status_of -H "X-Vault-Token: $FAR" -X POST -d '{}' "$ADDR/v1/auth/token/create")" 403
expect_eq "the token's lookup (by root) shows bound_cidrs" \
    "$(hcurl -H "$R" -X POST -d "{\"token\":\"$FAR\"}" "$ADDR/v1/auth/token/lookup" | j '.data.bound_cidrs | join(",")')" 10.0.0.0/8
NEAR=$(hcurl -X POST -d "$(login_body "$TNR" "$TNS")" "$ADDR/v1/auth/approle/login" | j .auth.client_token)
for k in 1 2; do
    expect_eq "token_bound_cidrs 127.0.0.1/32: read $k works" \
        "$(hcurl -H "X-Vault-Token: $NEAR" "$ADDR/v1/secret/data/app/db" | j .data.data.password)" CANARY-db-771
done
NCHILD=$(hcurl -H "X-Vault-Token: $NEAR" -X POST -d '{"policies":["app-read"]}' "$ADDR/v1/auth/token/create" | j .auth.client_token)
expect_contains "a bound token makes a child" "$NCHILD" "hvs."
expect_eq "the child inherits the parent's bound_cidrs" \
    "$(hcurl -H "X-Vault-Token: $NCHILD" "$ADDR/v1/auth/token/lookup-self" | j '.data.bound_cidrs | join(",")')" 127.0.0.1/32
expect_eq "the child works from inside" \
    "$(status_of -H "X-Vault-Token: $NCHILD" "$ADDR/v1/secret/data/app/db")" 200
RTOK=$(hcurl -H "$R" -X POST -d '{"policies":["app-read"]}' "$ADDR/v1/auth/token/create" | j .auth.client_token)
expect_eq "a root-made token has no bound_cidrs" \
    "$(hcurl -H "X-Vault-Token: $RTOK" "$ADDR/v1/auth/token/lookup-self" | j .data.bound_cidrs)" null
expect_eq "a secret ID may not widen the role's token_bound_cidrs" \
    "$(status_of -H "$R" -X POST -d '{"token_bound_cidrs":["10.0.0.0/8"]}' "$ADDR/v1/auth/approle/role/tnear/secret-id")" 400
expect_eq "a secret ID may repeat them" \
    "$(status_of -H "$R" -X POST -d '{"token_bound_cidrs":["127.0.0.1"]}' "$ADDR/v1/auth/approle/role/tnear/secret-id")" 200
SFS=$(hcurl -H "$R" -X POST -d '{"token_bound_cidrs":"10.1.0.0/16"}' "$ADDR/v1/auth/approle/role/web/secret-id" | j .data.secret_id)
SFT=$(hcurl -X POST -d "$(login_body web-custom-id "$SFS")" "$ADDR/v1/auth/approle/login" | j .auth.client_token)
expect_eq "a secret ID's token_bound_cidrs bind its token" \
    "$(status_of -H "X-Vault-Token: $SFT" "$ADDR/v1/secret/data/app/db")" 403
SNS=$(hcurl -H "$R" -X POST -d '{"token_bound_cidrs":"127.0.0.0/8"}' "$ADDR/v1/auth/approle/role/web/secret-id" | j .data.secret_id)
SNT=$(hcurl -X POST -d "$(login_body web-custom-id "$SNS")" "$ADDR/v1/auth/approle/login" | j .auth.client_token)
expect_eq "... and work from inside" "$(status_of -H "X-Vault-Token: $SNT" "$ADDR/v1/secret/data/app/db")" 200

# ============================== TLS certificates ==================================================
expect_eq "enable cert" "$(rput sys/auth/cert '{"type":"cert"}')" 204
expect_eq "cert role needs a certificate" "$(rput auth/cert/certs/web '{"token_policies":"app-read"}')" 400
expect_eq "cert role rejects junk PEM" "$(rput auth/cert/certs/web '{"certificate":"junk"}')" 400
expect_eq "cert role web (CA 1, CN app.example.com)" "$(jq -n --rawfile c "$P/ca1.crt" \
    '{certificate:$c, allowed_common_names:"app.example.com", token_policies:"app-read", display_name:"web"}' |
    rput auth/cert/certs/web "$(cat)")" 204
expect_eq "cert role reads back" "$(rget auth/cert/certs/web | j '.data.allowed_common_names[0]')" app.example.com
expect_eq "LIST certs" "$(hcurl -H "$R" -X LIST "$ADDR/v1/auth/cert/certs" | j '.data.keys[0]')" web

clogin() { # cert-name [body]
    body=${2:-'{}'}
    curl -sS --max-time 10 --cacert "$CA" --cert "$P/$1.crt" --key "$P/$1.key" -X POST \
        -d "$body" "$ADDR/v1/auth/cert/login" 2>/dev/null
}
CL=$(clogin app)
CTOK=$(printf '%s\n' "$CL" | j .auth.client_token)
expect_contains "valid client certificate logs in" "$CTOK" "hvs."
FP=$(openssl x509 -in "$P/app.crt" -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1)
expect_eq "token metadata binds the whole certificate" "$(printf '%s\n' "$CL" | j .auth.metadata.cert_sha256)" "$FP"
expect_eq "metadata names the cert role" "$(printf '%s\n' "$CL" | j .auth.metadata.cert_name)" web
expect_eq "metadata common name" "$(printf '%s\n' "$CL" | j .auth.metadata.common_name)" app.example.com
check "metadata SPKI hash" test "$(printf '%s\n' "$CL" | j '.auth.metadata.spki_sha256 | length')" = 64
expect_eq "cert token reads the allowed secret" \
    "$(hcurl -H "X-Vault-Token: $CTOK" "$ADDR/v1/secret/data/app/db" | j .data.data.password)" CANARY-db-771
expect_eq "no client certificate" \
    "$(hcurl -X POST -d '{}' "$ADDR/v1/auth/cert/login")" '{"errors":["client certificate must be supplied"]}'
INV='{"errors":["invalid certificate or no client certificate supplied"]}'
expect_eq "CN constraint enforced (db.example.com)" "$(clogin dbcert)" "$INV"
expect_eq "other CA refused" "$(clogin foreign)" "$INV"
expect_eq "name restricts the role tried" "$(clogin app '{"name":"nope"}')" "$INV"
expect_eq "name selects the role" "$(clogin app '{"name":"web"}' | j .auth.metadata.cert_name)" web
EXP=$(clogin expired)
case "$EXP" in *client_token*) not_ok "expired certificate refused" ;; *) ok "expired certificate refused" ;; esac
expect_contains "revoked cert logs in before the CRL" "$(clogin revoked | j .auth.client_token)" "hvs."
SAN=unused openssl ca -config "$P/ca1.cnf" -revoke "$P/revoked.crt" 2>/dev/null
SAN=unused openssl ca -config "$P/ca1.cnf" -gencrl -out "$P/ca1.crl" 2>/dev/null
expect_eq "upload CRL" "$(jq -n --rawfile c "$P/ca1.crl" '{crl:$c}' | rput auth/cert/crls/ca1 "$(cat)")" 204
RSER=$(openssl x509 -in "$P/revoked.crt" -noout -serial | cut -d= -f2)
RSER_DEC=$(python3 -c "print(int('$RSER', 16))")
expect_eq "CRL read lists the serial" "$(rget auth/cert/crls/ca1 | j ".data.serials | has(\"$RSER_DEC\")")" true
expect_eq "revoked certificate refused" "$(clogin revoked)" "$INV"
expect_contains "valid certificate still logs in with the CRL" "$(clogin app | j .auth.client_token)" "hvs."
expect_eq "junk CRL refused" "$(rput auth/cert/crls/bad '{"crl":"junk"}')" 400
jq -n --rawfile c "$P/ca2.crt" '{certificate:$c, allowed_common_names:"*.example.com", token_policies:"app-read"}' |
    rput auth/cert/certs/partner "$(cat)" >/dev/null
expect_eq "another role trusts CA 2" "$(clogin foreign | j .auth.metadata.cert_name)" partner

# ============================== Kubernetes: local JWT verification ===============================
expect_eq "enable kubernetes" "$(rput sys/auth/kubernetes '{"type":"kubernetes"}')" 204
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$P/sa.key" 2>/dev/null
openssl pkey -in "$P/sa.key" -pubout -out "$P/sa.pub" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$P/evil.key" 2>/dev/null
ISS="https://kubernetes.default.svc.cluster.local"
expect_eq "kubernetes config with pem_keys" "$(jq -n --rawfile k "$P/sa.pub" --arg i "$ISS" \
    '{pem_keys:[$k], issuer:$i}' | rput auth/kubernetes/config "$(cat)")" 204
expect_eq "junk pem_keys refused" "$(rput auth/kubernetes/config '{"pem_keys":["junk"]}')" 400
expect_eq "kubernetes role" "$(rput auth/kubernetes/role/app \
    '{"bound_service_account_names":"app","bound_service_account_namespaces":"dev-*","audience":"vault","token_policies":"app-read","token_ttl":600}')" 204
expect_eq "role needs bindings" "$(rput auth/kubernetes/role/bad '{"audience":"vault"}')" 400

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
claims() { # ns name aud exp-offset [iss]
    now=$(date +%s)
    printf '{"aud":["%s"],"exp":%d,"iat":%d,"nbf":%d,"iss":"%s","kubernetes.io":{"namespace":"%s","serviceaccount":{"name":"%s","uid":"uid-%s"}},"sub":"system:serviceaccount:%s:%s"}' \
        "$3" $((now + $4)) "$now" "$now" "${5:-$ISS}" "$1" "$2" "$2" "$1" "$2"
}
jwt() { # claims key
    h=$(printf '{"alg":"RS256","typ":"JWT","kid":"test"}' | b64url)
    p=$(printf '%s' "$1" | b64url)
    s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$2" -binary | b64url)
    printf '%s.%s.%s' "$h" "$p" "$s"
}
klogin() { # mount role jwt
    curl -sS --max-time 15 --cacert "$CA" -X POST -d "{\"role\":\"$2\",\"jwt\":\"$3\"}" \
        "$ADDR/v1/auth/$1/login"
}
kstatus() {
    curl -sS --max-time 15 --cacert "$CA" -o /dev/null -w '%{http_code}' -X POST \
        -d "{\"role\":\"$2\",\"jwt\":\"$3\"}" "$ADDR/v1/auth/$1/login"
}
GOOD=$(jwt "$(claims dev-team app vault 600)" "$P/sa.key")
KL=$(klogin kubernetes app "$GOOD")
KTOK=$(printf '%s\n' "$KL" | j .auth.client_token)
expect_contains "valid service-account JWT logs in" "$KTOK" "hvs."
expect_eq "metadata namespace" "$(printf '%s\n' "$KL" | j .auth.metadata.service_account_namespace)" dev-team
expect_eq "metadata name" "$(printf '%s\n' "$KL" | j .auth.metadata.service_account_name)" app
expect_eq "k8s token reads the allowed secret" \
    "$(hcurl -H "X-Vault-Token: $KTOK" "$ADDR/v1/secret/data/app/db" | j .data.data.password)" CANARY-db-771
expect_eq "wrong namespace refused" "$(kstatus kubernetes app "$(jwt "$(claims prod app vault 600)" "$P/sa.key")")" 403
rput auth/kubernetes/role/far \
    '{"bound_service_account_names":"app","bound_service_account_namespaces":"dev-*","audience":"vault","token_policies":"app-read","token_bound_cidrs":"10.0.0.0/8"}' >/dev/null
expect_eq "kubernetes: token_bound_cidrs elsewhere refuse the login itself (as Vault)" \
    "$(kstatus kubernetes far "$GOOD")" 403
expect_eq "wrong service account refused" "$(kstatus kubernetes app "$(jwt "$(claims dev-team db vault 600)" "$P/sa.key")")" 403
expect_eq "wrong audience refused" "$(kstatus kubernetes app "$(jwt "$(claims dev-team app other 600)" "$P/sa.key")")" 403
expect_eq "expired JWT refused" "$(kstatus kubernetes app "$(jwt "$(claims dev-team app vault -3600)" "$P/sa.key")")" 403
expect_eq "bad signature refused" "$(kstatus kubernetes app "$(jwt "$(claims dev-team app vault 600)" "$P/evil.key")")" 403
expect_eq "wrong issuer refused" "$(kstatus kubernetes app "$(jwt "$(claims dev-team app vault 600 https://evil)" "$P/sa.key")")" 403
NONE=$(printf '{"alg":"none"}' | b64url).$(claims dev-team app vault 600 | b64url).
expect_eq "alg none refused" "$(kstatus kubernetes app "$NONE")" 403
expect_eq "unknown role" "$(kstatus kubernetes nope "$GOOD")" 400
expect_eq "missing jwt" "$(status_of -X POST -d '{"role":"app"}' "$ADDR/v1/auth/kubernetes/login")" 400
expect_contains "error says why" "$(klogin kubernetes app "$(jwt "$(claims prod app vault 600)" "$P/sa.key")")" "namespace not authorized"

# ============================== auth mounts at several segments ===================================
# Vault takes auth mount paths of several segments (auth/kubernetes/cluster-a/ is common); a
# request goes to the mount whose path prefixes it, and mounts never nest (409 either way)
expect_eq "enable kubernetes at kubernetes/cluster-a: nested in kubernetes/ (409)" \
    "$(hcurl -H "$R" -X POST -d '{"type":"kubernetes"}' "$ADDR/v1/sys/auth/kubernetes/cluster-a" | j '.errors[0]')" \
    "path is already in use at kubernetes/"
expect_eq "enable kubernetes at k8s/cluster-a" "$(rput sys/auth/k8s/cluster-a '{"type":"kubernetes"}')" 204
expect_eq "sys/auth lists k8s/cluster-a/" "$(rget sys/auth | j '.data."k8s/cluster-a/".type')" kubernetes
expect_eq "sys/auth/k8s/cluster-a reads the mount" "$(rget sys/auth/k8s/cluster-a | j .type)" kubernetes
expect_eq "an enclosing path is in use (409, Vault's message)" \
    "$(hcurl -H "$R" -X POST -d '{"type":"approle"}' "$ADDR/v1/sys/auth/k8s" | j '.errors[0]')" \
    "path is already in use at k8s/cluster-a/"
expect_eq "a path inside it is in use" \
    "$(status_of -H "$R" -X POST -d '{"type":"approle"}' "$ADDR/v1/sys/auth/k8s/cluster-a/x")" 409
expect_eq "a path inside token/ is in use" \
    "$(hcurl -H "$R" -X POST -d '{"type":"approle"}' "$ADDR/v1/sys/auth/token/x" | j '.errors[0]')" \
    "path is already in use at token/"
expect_eq "a sibling path is free" "$(rput sys/auth/k8s/cluster-b '{"type":"approle"}')" 204
expect_eq "a segment outside [A-Za-z0-9_-] refused" "$(rput sys/auth/k8s/.x '{"type":"approle"}')" 400
expect_eq "config at auth/k8s/cluster-a/config" "$(jq -n --rawfile k "$P/sa.pub" --arg i "$ISS" \
    '{pem_keys:[$k], issuer:$i}' | rput auth/k8s/cluster-a/config "$(cat)")" 204
expect_eq "role at auth/k8s/cluster-a/role/app" "$(rput auth/k8s/cluster-a/role/app \
    '{"bound_service_account_names":"app","bound_service_account_namespaces":"dev-*","audience":"vault","token_policies":"app-read"}')" 204
expect_eq "tune sys/auth/k8s/cluster-a/tune" \
    "$(rput sys/auth/k8s/cluster-a/tune '{"default_lease_ttl":"20m"}')" 204
expect_eq "the tune reads back" "$(rget sys/auth/k8s/cluster-a/tune | j .default_lease_ttl)" 1200
KAL=$(klogin k8s/cluster-a app "$GOOD")
KATOK=$(printf '%s\n' "$KAL" | j .auth.client_token)
expect_contains "login at auth/k8s/cluster-a/login (no token)" "$KATOK" "hvs."
expect_eq "its lease is the mount's tuned default" "$(printf '%s\n' "$KAL" | j .auth.lease_duration)" 1200
expect_eq "the token's path is the login path" \
    "$(hcurl -H "X-Vault-Token: $KATOK" "$ADDR/v1/auth/token/lookup-self" | j .data.path)" auth/k8s/cluster-a/login
expect_eq "the token reads the allowed secret" "$(status_of -H "X-Vault-Token: $KATOK" "$ADDR/v1/secret/data/app/db")" 200
expect_eq "the other mount's role is not here" "$(kstatus k8s/cluster-a nope "$GOOD")" 400
expect_eq "role administration needs a token" "$(status_of "$ADDR/v1/auth/k8s/cluster-a/role/app")" 403
expect_eq "a role named login is administered, not logged in to" \
    "$(rput auth/k8s/cluster-b/role/login '{"token_policies":"app-read"}') $(status_of "$ADDR/v1/auth/k8s/cluster-b/role/login") $(status_of -H "$R" "$ADDR/v1/auth/k8s/cluster-b/role/login")" \
    "204 403 200"
expect_eq "login on a path no mount holds needs a token (as Vault: 403)" \
    "$(status_of -X POST -d '{}' "$ADDR/v1/auth/k8s/login")" 403
expect_eq "disable k8s/cluster-a" "$(status_of -H "$R" -X DELETE "$ADDR/v1/sys/auth/k8s/cluster-a/")" 204
expect_eq "its token is revoked" "$(status_of -H "X-Vault-Token: $KATOK" "$ADDR/v1/secret/data/app/db")" 403
expect_eq "k8s/ still encloses k8s/cluster-b (409)" "$(rput sys/auth/k8s '{"type":"approle"}')" 409
expect_eq "disable k8s/cluster-b" "$(status_of -H "$R" -X DELETE "$ADDR/v1/sys/auth/k8s/cluster-b")" 204
expect_eq "sys/auth lists neither" "$(rget sys/auth | j '[.data | keys[] | select(startswith("k8s/"))] | length')" 0
expect_eq "now k8s/ is free" "$(rput sys/auth/k8s '{"type":"approle"}') $(status_of -H "$R" -X DELETE "$ADDR/v1/sys/auth/k8s")" "204 204"

# ============================== Kubernetes: TokenReview ===========================================
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$P/api.key" -out "$P/api.crt" -subj "/CN=kube-apiserver" \
    -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
cat >"$D/tokenreview.py" <<'PY'
import http.server, json, os, ssl, sys
cert, key, portfile, reviewer = sys.argv[1:5]
USERS = {  # presented token -> (username, uid, audiences the token is valid for)
    "tok-app": ("system:serviceaccount:dev-team:app", "uid-1", ["vault"]),
    "tok-other-ns": ("system:serviceaccount:prod:app", "uid-2", ["vault"]),
    "tok-other-name": ("system:serviceaccount:dev-team:db", "uid-3", ["vault"]),
    "tok-wrong-aud": ("system:serviceaccount:dev-team:app", "uid-4", ["other"]),
    "tok-node": ("system:node:worker-1", "uid-5", ["vault"]),
}
class H(http.server.BaseHTTPRequestHandler):
    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        if self.path != "/apis/authentication.k8s.io/v1/tokenreviews":
            return self.reply(404, {"kind": "Status", "code": 404})
        if self.headers.get("Authorization") != "Bearer " + reviewer:
            return self.reply(401, {"kind": "Status", "code": 401, "message": "Unauthorized"})
        n = int(self.headers.get("Content-Length") or 0)
        spec = json.loads(self.rfile.read(n)).get("spec", {})
        want = spec.get("audiences") or []
        u = USERS.get(spec.get("token", ""))
        st = {"authenticated": False, "user": {}}
        if u:
            auds = [a for a in want if a in u[2]] if want else u[2]
            if auds:
                st = {"authenticated": True, "audiences": auds,
                      "user": {"username": u[0], "uid": u[1], "groups": ["system:serviceaccounts"]}}
            else:
                st["error"] = "token audiences do not match"
        self.reply(201, {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": st})
    def log_message(self, *args):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
PY
REVIEWER="reviewer-CANARY-8812"
python3 "$D/tokenreview.py" "$P/api.crt" "$P/api.key" "$D/api.port" "$REVIEWER" >"$D/api.log" 2>&1 &
APID=$!
T_PIDS="$T_PIDS $APID"
i=0
while [ ! -s "$D/api.port" ] && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
APORT=$(cat "$D/api.port" 2>/dev/null)
check "TokenReview endpoint started" test -n "$APORT"

expect_eq "enable a second kubernetes mount" "$(rput sys/auth/k8s-review '{"type":"kubernetes"}')" 204
expect_eq "http:// host refused" "$(rput auth/k8s-review/config '{"kubernetes_host":"http://127.0.0.1:1"}')" 400
expect_eq "TokenReview config" "$(jq -n --rawfile ca "$P/api.crt" --arg h "https://127.0.0.1:$APORT" \
    --arg r "$REVIEWER" '{kubernetes_host:$h, kubernetes_ca_cert:$ca, token_reviewer_jwt:$r}' |
    rput auth/k8s-review/config "$(cat)")" 204
KC=$(rget auth/k8s-review/config)
expect_eq "config read says a reviewer JWT is set" "$(printf '%s\n' "$KC" | j .data.token_reviewer_jwt_set)" true
case "$KC" in *"$REVIEWER"*) not_ok "config read hides the reviewer JWT" ;; *) ok "config read hides the reviewer JWT" ;; esac
rput auth/k8s-review/role/app \
    '{"bound_service_account_names":["app"],"bound_service_account_namespaces":["dev-team"],"audience":"vault","token_policies":["app-read"]}' >/dev/null
RL=$(klogin k8s-review app tok-app)
RTOK=$(printf '%s\n' "$RL" | j .auth.client_token)
expect_contains "TokenReview login works" "$RTOK" "hvs."
expect_eq "TokenReview uid in metadata" "$(printf '%s\n' "$RL" | j .auth.metadata.service_account_uid)" uid-1
expect_eq "TokenReview token reads the secret" \
    "$(hcurl -H "X-Vault-Token: $RTOK" "$ADDR/v1/secret/data/app/db" | j .data.data.password)" CANARY-db-771
expect_eq "TokenReview: unauthenticated token refused" "$(kstatus k8s-review app tok-unknown)" 403
expect_eq "TokenReview: wrong namespace refused" "$(kstatus k8s-review app tok-other-ns)" 403
expect_eq "TokenReview: wrong name refused" "$(kstatus k8s-review app tok-other-name)" 403
expect_eq "TokenReview: wrong audience refused" "$(kstatus k8s-review app tok-wrong-aud)" 403
expect_eq "TokenReview: a non-service-account user refused" "$(kstatus k8s-review app tok-node)" 403
rput auth/k8s-review/config '{"token_reviewer_jwt":"wrong-reviewer"}' >/dev/null
expect_eq "TokenReview: a rejected reviewer JWT is 502" "$(kstatus k8s-review app tok-app)" 502
jq -n --rawfile ca "$P/ca1.crt" --arg r "$REVIEWER" '{kubernetes_ca_cert:$ca, token_reviewer_jwt:$r}' |
    rput auth/k8s-review/config "$(cat)" >/dev/null
expect_eq "TokenReview: an API server outside the CA is not trusted" "$(kstatus k8s-review app tok-app)" 502
jq -n --rawfile ca "$P/api.crt" '{kubernetes_ca_cert:$ca}' | rput auth/k8s-review/config "$(cat)" >/dev/null
expect_contains "TokenReview: works again" "$(klogin k8s-review app tok-app | j .auth.client_token)" "hvs."
# the same CA, but a certificate for another address: the name check must refuse it
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/api2.key" \
    -out "$P/api2.csr" -subj "/CN=elsewhere" 2>/dev/null
printf 'subjectAltName=IP:10.9.9.9,DNS:elsewhere.example\n' >"$P/api2.ext"
openssl x509 -req -in "$P/api2.csr" -CA "$P/api.crt" -CAkey "$P/api.key" -set_serial 7 -days 1 \
    -extfile "$P/api2.ext" -out "$P/api2.crt" 2>/dev/null
python3 "$D/tokenreview.py" "$P/api2.crt" "$P/api2.key" "$D/api2.port" "$REVIEWER" >/dev/null 2>&1 &
APID2=$!
T_PIDS="$T_PIDS $APID2"
i=0
while [ ! -s "$D/api2.port" ] && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
rput sys/auth/k8s-wrongname '{"type":"kubernetes"}' >/dev/null
jq -n --rawfile ca "$P/api.crt" --arg h "https://127.0.0.1:$(cat "$D/api2.port")" --arg r "$REVIEWER" \
    '{kubernetes_host:$h, kubernetes_ca_cert:$ca, token_reviewer_jwt:$r}' |
    rput auth/k8s-wrongname/config "$(cat)" >/dev/null
rput auth/k8s-wrongname/role/app '{"bound_service_account_names":"app","bound_service_account_namespaces":"*"}' >/dev/null
expect_eq "TokenReview: a certificate for another host name is refused" "$(kstatus k8s-wrongname app tok-app)" 502
kill "$APID2" 2>/dev/null
wait "$APID2" 2>/dev/null
kill "$APID" 2>/dev/null
wait "$APID" 2>/dev/null
expect_eq "TokenReview: API server down is 502" "$(kstatus k8s-review app tok-app)" 502

# ============================== renewal follows the login's role ==================================
# Vault's auth methods re-read the role a token logged in through on every renewal
# (pathLoginRenew): a deleted role ends its renewals (500, Vault's text), the role's current
# token_ttl, token_max_ttl and token_period apply, and so does the login mount's max as tuned now.
# The token's own explicit_max_ttl is the role's token_explicit_max_ttl (0 when unset).
rd() { status_of -H "X-Vault-Token: $1" "$ADDR/v1/secret/data/app/db"; }
rnw() { # token [body [curl args...]]: renew-self, the answer
    _t=$1 _b=${2:-'{}'}
    if [ $# -ge 2 ]; then shift 2; else shift; fi
    hcurl "$@" -H "X-Vault-Token: $_t" -X POST -d "$_b" "$ADDR/v1/auth/token/renew-self"
}
lease() { j '.auth.lease_duration'; }
errs() { jq -c .errors; }
arlogin() { # mount role: the token of a fresh login
    _rid=$(rget "auth/$1/role/$2/role-id" | j .data.role_id)
    _sid=$(hcurl -H "$R" -X POST "$ADDR/v1/auth/$1/role/$2/secret-id" | j .data.secret_id)
    hcurl -X POST -d "$(login_body "$_rid" "$_sid")" "$ADDR/v1/auth/$1/login" | j .auth.client_token
}
expect_eq "enable approle at renew/ar, max 120s" "$(rput sys/auth/renew/ar '{"type":"approle"}') \
$(rput sys/auth/renew/ar/tune '{"max_lease_ttl":"120s"}')" "204 204"
rput auth/renew/ar/role/gone '{"token_policies":"app-read","token_ttl":"60s"}' >/dev/null
GT=$(arlogin renew/ar gone)
GLK=$(hcurl -H "X-Vault-Token: $GT" "$ADDR/v1/auth/token/lookup-self")
expect_eq "approle token: explicit_max_ttl is the role's (unset: 0, as Vault), ttl the role's" \
    "$(printf '%s\n' "$GLK" | jq -c '[.data.explicit_max_ttl, .data.creation_ttl, .data.period]')" '[0,60,0]'
expect_eq "renewal within the mount max (120s)" "$(rnw "$GT" '{"increment":"90s"}' | lease)" 90
expect_eq "delete role gone" "$(status_of -H "$R" -X DELETE "$ADDR/v1/auth/renew/ar/role/gone")" 204
expect_eq "approle: renew-self after the role is deleted: Vault's 500" \
    "$(rnw "$GT" '{}' -w ' %{http_code}')" \
    '{"errors":["failed to renew entry: role \"gone\" does not exist during renewal"]} 500'
GACC=$(printf '%s\n' "$GLK" | j .data.accessor)
expect_eq "... renew-accessor by root too" "$(hcurl -H "$R" -X POST -d "{\"accessor\":\"$GACC\"}" \
    "$ADDR/v1/auth/token/renew-accessor" | errs)" '["failed to renew entry: role \"gone\" does not exist during renewal"]'
expect_eq "... the token still works until it expires (lookup-self, a read)" \
    "$(status_of -H "X-Vault-Token: $GT" "$ADDR/v1/auth/token/lookup-self") $(rd "$GT")" "200 200"
rput auth/renew/ar/role/shrink '{"token_policies":"app-read","token_ttl":"60s","token_max_ttl":"24h"}' >/dev/null
ST=$(arlogin renew/ar shrink)
rput auth/renew/ar/role/shrink '{"token_ttl":"10s","token_max_ttl":"30s"}' >/dev/null
SR=$(rnw "$ST" '{"increment":"3600s"}')
check "approle: token_max_ttl lowered to 30s caps the renewal ($(printf '%s\n' "$SR" | lease))" \
    test "$(printf '%s\n' "$SR" | lease)" -le 30 -a "$(printf '%s\n' "$SR" | lease)" -ge 20
expect_contains "... with Vault's warning" "$(printf '%s\n' "$SR" | j '.warnings[0]')" \
    'exceeded the effective max_ttl of'
expect_eq "... the role's token_ttl now (10s) when no increment is asked" "$(rnw "$ST" | lease)" 10
# the token is 2s old (it lives 10s more) when its role's max drops to 1s
SC=$(hcurl -H "X-Vault-Token: $ST" "$ADDR/v1/auth/token/lookup-self" | j .data.creation_time)
while [ "$(date +%s)" -lt $((SC + 2)) ]; do sleep 0.2; done
rput auth/renew/ar/role/shrink '{"token_ttl":"1s","token_max_ttl":"1s"}' >/dev/null
expect_eq "... lowered below the token's age (1s): Vault's past-the-max 500" \
    "$(rnw "$ST" '{}' | errs)" '["past the max TTL, cannot renew"]'
rput auth/renew/ar/role/up '{"token_policies":"app-read","token_ttl":"60s"}' >/dev/null
UT=$(arlogin renew/ar up)
expect_eq "raise the mount max to 1h after the login" "$(rput sys/auth/renew/ar/tune '{"max_lease_ttl":"1h"}')" 204
expect_eq "approle: the raised mount max applies to the next renewal" \
    "$(rnw "$UT" '{"increment":"1800s"}' | jq -c '[.auth.lease_duration, .warnings]')" '[1800,null]'
expect_eq "approle role with token_period 60s" \
    "$(rput auth/renew/ar/role/per '{"token_policies":"app-read","token_period":"60s"}')" 204
expect_eq "... reads back" "$(rget auth/renew/ar/role/per | j .data.token_period)" 60
PT=$(arlogin renew/ar per)
expect_eq "... its login token is periodic" "$(hcurl -H "X-Vault-Token: $PT" \
    "$ADDR/v1/auth/token/lookup-self" | jq -c '[.data.period, .data.creation_ttl]')" '[60,60]'
rput auth/renew/ar/role/per '{"token_period":"300s"}' >/dev/null
expect_eq "approle: the role's new period (300s) is what a renewal grants" \
    "$(rnw "$PT" '{"increment":"10s"}' | lease)" 300
expect_eq "disable renew/ar (its tokens go with it)" \
    "$(status_of -H "$R" -X DELETE "$ADDR/v1/sys/auth/renew/ar") $(rd "$PT")" "204 403"

# -- kubernetes (the pem_keys mount above)
rput auth/kubernetes/role/rn '{"bound_service_account_names":"app","bound_service_account_namespaces":"dev-*","audience":"vault","token_policies":"app-read","token_ttl":60}' >/dev/null
KRT=$(klogin kubernetes rn "$GOOD" | j .auth.client_token)
expect_contains "kubernetes login through role rn" "$KRT" "hvs."
expect_eq "kubernetes: renewal takes the role's token_ttl" "$(rnw "$KRT" | lease)" 60
rput auth/kubernetes/role/rn '{"token_ttl":20,"token_max_ttl":30}' >/dev/null
check "kubernetes: token_max_ttl lowered to 30s caps the renewal" \
    test "$(rnw "$KRT" '{"increment":"1h"}' | lease)" -le 30
expect_eq "delete kubernetes role rn" "$(status_of -H "$R" -X DELETE "$ADDR/v1/auth/kubernetes/role/rn")" 204
expect_eq "kubernetes: renew-self after the role is deleted: Vault's 500" \
    "$(rnw "$KRT" '{}' -w ' %{http_code}')" \
    '{"errors":["failed to renew entry: role rn does not exist during renewal"]} 500'
expect_eq "... lookup-self still works" \
    "$(status_of -H "X-Vault-Token: $KRT" "$ADDR/v1/auth/token/lookup-self")" 200

# -- TLS certificates: the renewal presents the certificate again (Vault's default binding)
jq -n --rawfile c "$P/ca1.crt" '{certificate:$c, allowed_common_names:"app.example.com", token_policies:"app-read", token_ttl:60}' |
    rput auth/cert/certs/rnw "$(cat)" >/dev/null
CRT=$(clogin app '{"name":"rnw"}' | j .auth.client_token)
expect_contains "cert login through role rnw" "$CRT" "hvs."
crn() { # cert token [body]: renew-self presenting the client certificate
    _cb=${3:-'{}'}
    rnw "$2" "$_cb" --cert "$P/$1.crt" --key "$P/$1.key"
}
expect_eq "cert: renew-self without the client certificate: 400" \
    "$(rnw "$CRT" '{}' -w ' %{http_code}')" '{"errors":["client certificate must be supplied"]} 400'
expect_eq "cert: renew-self presenting it: the role's token_ttl" "$(crn app "$CRT" | lease)" 60
expect_eq "cert: a certificate the role refuses (CN db.example.com)" "$(crn dbcert "$CRT")" "$INV"
mkleaf ca1 app2 app.example.com
expect_eq "cert: another certificate of the same name: not the login's identity (500)" \
    "$(crn app2 "$CRT" | errs)" \
    '["failed to renew entry: client identity during renewal not matching client identity used during login"]'
jq -n --rawfile c "$P/ca1.crt" '{certificate:$c, allowed_common_names:"app.example.com", token_policies:"app-read", token_ttl:20, token_max_ttl:30}' |
    rput auth/cert/certs/rnw "$(cat)" >/dev/null
check "cert: token_max_ttl lowered to 30s caps the renewal" test "$(crn app "$CRT" '{"increment":"1h"}' | lease)" -le 30
jq -n --rawfile c "$P/ca1.crt" '{certificate:$c, allowed_common_names:"app.example.com", token_policies:"app-read,other", token_ttl:20}' |
    rput auth/cert/certs/rnw "$(cat)" >/dev/null
expect_eq "cert: the role's policies changed: Vault's 500" "$(crn app "$CRT" | errs)" \
    '["failed to renew entry: policies have changed, not renewing"]'
expect_eq "delete cert role rnw" "$(status_of -H "$R" -X DELETE "$ADDR/v1/auth/cert/certs/rnw")" 204
expect_eq "cert: renew-self after the role is deleted: refused" "$(crn app "$CRT")" "$INV"
expect_eq "... lookup-self still works" \
    "$(status_of -H "X-Vault-Token: $CRT" "$ADDR/v1/auth/token/lookup-self")" 200

# ============================== disable, hygiene ==================================================
# Vault revokes every token of a mount it disables, with their children; other tokens live on
NEAR_ACC=$(hcurl -H "X-Vault-Token: $NEAR" "$ADDR/v1/auth/token/lookup-self" | j .data.accessor)
expect_eq "before disable: approle tokens work" "$(rd "$TOK") $(rd "$NEAR") $(rd "$NCHILD")" "200 200 200"
expect_eq "disable approle" "$(status_of -H "$R" -X DELETE "$ADDR/v1/sys/auth/approle")" 204
expect_eq "after disable: the approle tokens are 403" "$(rd "$TOK") $(rd "$NEAR") $(rd "$SNT")" "403 403 403"
expect_eq "after disable: a child of an approle token is 403" "$(rd "$NCHILD")" 403
expect_eq "after disable: lookup-self of an approle token is 403" \
    "$(status_of -H "X-Vault-Token: $NEAR" "$ADDR/v1/auth/token/lookup-self")" 403
# (400 `invalid accessor`, as Vault: the revocation removed the accessor too)
expect_eq "after disable: the approle token is gone (lookup-accessor by root)" \
    "$(status_of -H "$R" -X POST -d "{\"accessor\":\"$NEAR_ACC\"}" "$ADDR/v1/auth/token/lookup-accessor")" 400
expect_eq "after disable: cert, kubernetes and token-made tokens still work" \
    "$(rd "$CTOK") $(rd "$KTOK") $(rd "$RTOK")" "200 200 200"
expect_eq "after disable: the root token still works" "$(status_of -H "$R" "$ADDR/v1/sys/auth")" 200
expect_eq "disabling it again is fine (204, as Vault)" "$(status_of -H "$R" -X DELETE "$ADDR/v1/sys/auth/approle")" 204
expect_eq "login on a disabled mount needs a token now (403, as Vault for a path no mount holds)" \
    "$(status_of -X POST -d "$(login_body web-custom-id "$NEWS")" "$ADDR/v1/auth/approle/login")" 403
rput sys/auth/approle '{"type":"approle"}' >/dev/null
expect_eq "re-enabled mount starts empty" "$(status_of -H "$R" -X LIST "$ADDR/v1/auth/approle/role")" 404
expect_eq "re-enabled at the same path: old tokens stay dead" "$(rd "$TOK") $(rd "$NEAR") $(rd "$NCHILD")" "403 403 403"
expect_eq "sys/auth no longer lists the disabled mount twice" "$(rget sys/auth | j '.data | keys | length')" 6
for s in "$SID" "$ONE" "$NEWS" "$REVIEWER" "$GOOD" "$TOK" "$CTOK" "$KTOK"; do
    if grep -qF "$s" "$LOG"; then leaked=1; fi
done
check "no secret ID, JWT or token in the server log" test -z "${leaked:-}"
for s in "$SID" "$ONE" "$NEWS" "$REVIEWER" "$GOOD" "$TOK" "$CTOK" "$KTOK"; do
    if grep -qF "$s" "$D/audit.log"; then aleaked=1; fi
done
check "audit log has the logins" grep -q 'auth/approle/login' "$D/audit.log"
check "audit log holds only MACs of secret IDs, JWTs and tokens" test -z "${aleaked:-}"
check "server still running" kill -0 "$PID"

kill -TERM "$PID"
wait "$PID"
expect_eq "server exits cleanly" "$?" 0

# ============================== a disable interrupted by a crash ==================================
# TR_FAULT=auth_disable_revoking makes the server exit in the middle of a disable (after the first
# page of tokens); the next start must finish it before serving, and no token may survive.
start_server() { # [env assignments...]
    LOG="$D/server-$1.log"
    shift
    env "$@" "$TRESORD" -config "$D/tresor.yaml" >"$LOG" 2>&1 &
    PID=$!
    T_PIDS="$T_PIDS $PID"
    PORT=$(wait_port "$LOG") || { cat "$LOG"; return 1; }
    ADDR="https://127.0.0.1:$PORT"
    i=0
    while [ "$(hcurl "$ADDR/v1/sys/seal-status" | j .sealed)" != false ] && [ $i -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
}
start_server crash TR_FAULT=auth_disable_revoking || exit 1
expect_eq "enable approle at bulk/" "$(rput sys/auth/bulk '{"type":"approle"}')" 204
rput auth/bulk/role/r '{"token_policies":"app-read,child-maker"}' >/dev/null
BRID=$(rget auth/bulk/role/r/role-id | j .data.role_id)
BSID=$(hcurl -H "$R" -X POST "$ADDR/v1/auth/bulk/role/r/secret-id" | j .data.secret_id)
: >"$D/bulk.tokens"
n=0
while [ $n -lt 300 ]; do
    hcurl -X POST -d "$(login_body "$BRID" "$BSID")" "$ADDR/v1/auth/bulk/login" | j .auth.client_token >>"$D/bulk.tokens"
    n=$((n + 1))
done
expect_eq "300 logins on bulk/" "$(grep -c '^hvs\.' "$D/bulk.tokens")" 300
: >"$D/bulk.children"
for t in $(head -5 "$D/bulk.tokens") $(tail -5 "$D/bulk.tokens"); do
    hcurl -H "X-Vault-Token: $t" -X POST -d '{}' "$ADDR/v1/auth/token/create" | j .auth.client_token >>"$D/bulk.children"
done
expect_eq "10 children of bulk tokens" "$(grep -c '^hvs\.' "$D/bulk.children")" 10
expect_eq "a bulk token works" "$(rd "$(tail -1 "$D/bulk.tokens")")" 200
status_of -H "$R" -X DELETE "$ADDR/v1/sys/auth/bulk" >/dev/null 2>&1
i=0
while kill -0 "$PID" 2>/dev/null && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
kill -9 "$PID" 2>/dev/null # still up: the fault point was never reached (fails below)
wait "$PID"
expect_eq "the server died half way through the disable (TR_FAULT)" "$?" 77
check "it stopped at the fault point" grep -q "TR_FAULT=auth_disable_revoking" "$LOG"

start_server resume || exit 1
check "the next start finished the disable" grep -q "finishing the interrupted disable of auth/bulk/" "$LOG"
LEFT=$(sed -n 's/.*auth method at auth\/bulk\/ disabled (\([0-9]*\) tokens revoked).*/\1/p' "$LOG")
check "the crash had come after some of the 310 tokens, not all ($LEFT left for the restart)" \
    test "${LEFT:-0}" -gt 0 -a "${LEFT:-0}" -lt 310
alive=0
for t in $(cat "$D/bulk.tokens" "$D/bulk.children"); do
    [ "$(rd "$t")" = 403 ] || alive=$((alive + 1))
done
expect_eq "no token of the disabled mount works after the crash (310 tried)" "$alive" 0
expect_eq "sys/auth no longer lists bulk/" "$(rget sys/auth | j '.data."bulk/"')" null
expect_eq "other tokens survived: cert, kubernetes, token-made" "$(rd "$CTOK") $(rd "$KTOK") $(rd "$RTOK")" "200 200 200"
expect_eq "bulk/ can be enabled again" "$(rput sys/auth/bulk '{"type":"approle"}')" 204
expect_eq "... and the old tokens stay dead" "$(rd "$(head -1 "$D/bulk.tokens")") $(rd "$(head -1 "$D/bulk.children")")" "403 403"
kill -TERM "$PID"
wait "$PID"
expect_eq "server exits cleanly after the resume" "$?" 0
finish
