#!/bin/sh
# Integration tests for `tresor agent` and `tresor run` against real servers.
#
# Env: TRESORD, TRESOR (tests/run.sh sets both). Part 1 uses a `tresord -dev` (token_file auth,
# templates, config errors, the refresh loop, `tresor run`); part 2 a config-file server with an
# audit log, where AppRole and Kubernetes logins are checked, and the audit log proves that the
# agent revoked exactly the token its login obtained. Methods the server does not offer yet are
# reported as "ok N - # SKIP ...". Output: ok / not ok lines, then `finish`.
# shellcheck disable=SC1091,SC2016 # lib.sh is sourced by path; '$X' is for the child shell
set -u

here=$(cd "$(dirname "$0")/../.." && pwd)
TRESORD=${TRESORD:-$here/bin/tresord}
TRESOR=${TRESOR:-$here/bin/tresor}
. "$here/tests/integration/lib.sh"

unset TRESOR_ADDR TRESOR_TOKEN TRESOR_CACERT TRESOR_CAPATH TRESOR_CLIENT_CERT TRESOR_CLIENT_KEY \
    TRESOR_TLS_SERVER_NAME TRESOR_SKIP_VERIFY TRESOR_FORMAT TRESOR_CLIENT_TIMEOUT \
    VAULT_ADDR VAULT_TOKEN VAULT_CACERT VAULT_CAPATH VAULT_CLIENT_CERT VAULT_CLIENT_KEY \
    VAULT_TLS_SERVER_NAME VAULT_SKIP_VERIFY VAULT_FORMAT VAULT_CLIENT_TIMEOUT

need curl jq openssl

W=$(tmpdir)
HOME=$W/home
export HOME
mkdir -p "$HOME" "$W/out"

skip() {
    T_N=$((T_N + 1))
    echo "ok $T_N - # SKIP $1"
}

# trun CMD...: run with stdin from /dev/null; sets rc, and keeps stdout/stderr in $W/o, $W/e.
trun() {
    "$@" </dev/null >"$W/o" 2>"$W/e"
    rc=$?
}
# expect_rc WANT DESC: the last trun's exit code (stderr shown on failure).
expect_rc() {
    if [ "$rc" -eq "$1" ]; then
        ok "$2"
    else
        not_ok "$2 (exit $rc, want $1)"
        sed 's/^/#   stderr: /' "$W/e" | head -10
    fi
}
# expect_err WANT PATTERN DESC: exit code and a fixed string on stderr.
expect_err() {
    if [ "$rc" -eq "$1" ] && grep -qF -- "$2" "$W/e"; then
        ok "$3"
    else
        not_ok "$3 (exit $rc, want $1 and '$2' on stderr)"
        sed 's/^/#   stderr: /' "$W/e" | head -10
    fi
}
# wait_for SECS CMD...: poll CMD every 0.1 s until it succeeds or SECS pass.
wait_for() {
    _n=$(($1 * 10))
    shift
    while [ "$_n" -gt 0 ]; do
        if "$@"; then return 0; fi
        sleep 0.1
        _n=$((_n - 1))
    done
    return 1
}
mode_of() { stat -c %a "$1" 2>/dev/null; }
lines_of() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }
count_is() { [ "$(lines_of "$1")" = "$2" ]; }
# no_leak DESC FILE...: none of the canary values appears in the files.
no_leak() {
    _d=$1
    shift
    if grep -qE 'CANARY-[a-z0-9-]+' "$@" 2>/dev/null; then not_ok "$_d"; else ok "$_d"; fi
}

# ==================================== part 1: dev server ==========================================
start_dev "$W" || {
    not_ok "dev server starts"
    finish
    exit 1
}
ROOT=$(sed -n 's/.*Root Token: \(hvs\.[A-Za-z0-9]*\).*/\1/p' "$LOG" | head -1)
expect_contains "dev server prints a root token" "$ROOT" "hvs."
printf '%s\n' "$ROOT" >"$W/root.token"
chmod 600 "$W/root.token"
# rput PATH JSON: POST with the root token; prints the status
rput() {
    curl -sS --max-time 10 --cacert "$CA" -o /dev/null -w '%{http_code}' -H "X-Vault-Token: $ROOT" \
        -X POST -d "$2" "$ADDR/v1/$1"
}
expect_eq "write secret/db" "$(rput secret/data/db '{"data":{"user":"app","password":"CANARY-db-1","port":5432}}')" 200
expect_eq "write secret/api" "$(rput secret/data/api '{"data":{"key":"CANARY-api-1"}}')" 200
expect_eq "mount a KV v1 engine at kv1/" "$(rput sys/mounts/kv1 '{"type":"kv"}')" 204
expect_eq "write kv1/app" "$(rput kv1/app '{"password":"CANARY-v1-1"}')" 204

# -- -once with a token file ----------------------------------------------------------------------
cat >"$W/once.yaml" <<EOF
address: $ADDR
ca_cert: $CA
auth:
  token_file: $W/root.token
readiness_file: $W/ready-once
templates:
  - destination: $W/out/db.env
    contents: |
      DB_USER={{ secret "secret/data/db" "user" }}
      DB_PASSWORD={{secret "secret/data/db" "password"}}
      DB_PORT={{ secret "secret/db" "port" }}
  - destination: $W/out/api-key
    secret: secret/data/api
    field: key
    perms: "0440"
  - destination: $W/out/v1
    contents: 'v1={{ secret "kv1/app" "password" }}'
EOF
trun "$TRESOR" agent -config "$W/once.yaml" -once
expect_rc 0 "agent -once renders every template (exit 0)"
expect_eq "template with literal text and three fields" "$(cat "$W/out/db.env")" \
    "$(printf 'DB_USER=app\nDB_PASSWORD=CANARY-db-1\nDB_PORT=5432')"
expect_eq "default mode 0400" "$(mode_of "$W/out/db.env")" 400
expect_eq "secret+field template: the bare value" "$(cat "$W/out/api-key")" "CANARY-api-1"
expect_eq "perms \"0440\" applied" "$(mode_of "$W/out/api-key")" 440
expect_eq "KV v1 secret (preflight detects the version)" "$(cat "$W/out/v1")" "v1=CANARY-v1-1"
check "readiness file written after the first full render" test -f "$W/ready-once"
expect_eq "no temporary files left behind" "$(find "$W/out" -mindepth 1 | wc -l | tr -d ' ')" 3
no_leak "agent -once prints no secret value" "$W/o" "$W/e"
expect_eq "a token given in token_file is not revoked" \
    "$(status_of -H "X-Vault-Token: $ROOT" "$ADDR/v1/auth/token/lookup-self")" 200
ino=$(stat -c %i "$W/out/db.env")
trun "$TRESOR" agent -config "$W/once.yaml" -once
expect_rc 0 "second -once run succeeds"
expect_eq "unchanged content: the file is not rewritten" "$(stat -c %i "$W/out/db.env")" "$ino"
chmod 600 "$W/out/db.env"
trun "$TRESOR" agent -config "$W/once.yaml" -once
expect_eq "a changed mode is put back" "$(mode_of "$W/out/db.env")" 400

# -- failures of -once ----------------------------------------------------------------------------
# tmpl NAME BODY: a one-template config using the root token file
tmpl() {
    cat >"$W/$1.yaml" <<EOF
address: $ADDR
ca_cert: $CA
auth: { token_file: $W/root.token }
readiness_file: $W/ready-$1
templates:
  - destination: $W/out/$1
    contents: '$2'
EOF
}
tmpl missing '{{ secret "secret/data/nope" "x" }}'
trun "$TRESOR" agent -config "$W/missing.yaml" -once
expect_err 3 "no secret at secret/data/nope" "missing secret: exit 3 naming the path"
check "no file and no readiness file after a failed render" \
    test ! -e "$W/out/missing" -a ! -e "$W/ready-missing"
tmpl nofield '{{ secret "secret/data/db" "nope" }}'
trun "$TRESOR" agent -config "$W/nofield.yaml" -once
expect_err 3 'has no field "nope"' "missing field: exit 3 naming the field"
tmpl badfn 'x={{ env "HOME" }}'
trun "$TRESOR" agent -config "$W/badfn.yaml" -once
expect_err 1 "unknown function 'env'" "bad template: exit 1, unknown function named"
expect_contains "bad template: YAML line and template position" "$(cat "$W/e")" \
    "badfn.yaml:7: bad template in 'templates[0].contents': line 1, column 6"
tmpl unterminated 'a {{ secret "secret/data/db" "user"'
trun "$TRESOR" agent -config "$W/unterminated.yaml" -once
expect_err 1 "unterminated {{" "unterminated action is refused"
tmpl trim '{{- secret "secret/data/db" "user" }}'
trun "$TRESOR" agent -config "$W/trim.yaml" -once
expect_err 1 "trim markers" "trim markers are refused"
tmpl extra '{{ secret "secret/data/db" "user" | upper }}'
trun "$TRESOR" agent -config "$W/extra.yaml" -once
expect_err 1 "expected }} after the FIELD argument" "pipes are refused"

printf 'address: %s\ntemplates:\n  - destination: /x\n    secret: a\n    field: b\n    mode: "0400"\n' \
    "$ADDR" >"$W/unknown.yaml"
trun "$TRESOR" agent -config "$W/unknown.yaml" -once
expect_err 1 "unknown.yaml:6: unknown key 'templates[0].mode'" "unknown config key: error with line"
printf 'auth:\n  approle:\n    role_id_file: /x\n    role: y\ntemplates: []\n' >"$W/unknown2.yaml"
trun "$TRESOR" agent -config "$W/unknown2.yaml"
expect_err 1 "unknown2.yaml:4: unknown key 'auth.approle.role'" "unknown nested key: error with line"
printf 'templates:\n  - destination: /x\n    perms: "0644"\n    secret: a\n    field: b\n' >"$W/perms.yaml"
trun "$TRESOR" agent -config "$W/perms.yaml" -once
expect_err 1 "must not give any access to other users" "world-readable perms refused"
printf 'refresh_interval: soon\ntemplates:\n  - destination: /x\n    secret: a\n    field: b\n' \
    >"$W/dur.yaml"
trun "$TRESOR" agent -config "$W/dur.yaml" -once
expect_err 1 "dur.yaml:1: 'refresh_interval' must be a duration" "bad refresh_interval refused"
trun "$TRESOR" agent -once
expect_err 1 "-config FILE is required" "agent without -config: usage error"

# -- the refresh loop with a token file -----------------------------------------------------------
# A stand-in for an application that reloads on SIGHUP.
sh -c 'trap "echo hup >>$1/marker-hup" HUP; echo $$ >"$1/app.pid"; while :; do sleep 0.1; done' \
    sh "$W" &
HPID=$!
T_PIDS="$T_PIDS $HPID"
wait_for 5 test -s "$W/app.pid"
cat >"$W/loop.yaml" <<EOF
address: $ADDR
ca_cert: $CA
auth:
  token_file: $W/root.token
refresh_interval: 1s
readiness_file: $W/ready-loop
templates:
  - destination: $W/out/loop.env
    contents: "PW={{ secret \"secret/data/db\" \"password\" }}\n"
    command: ["/bin/sh", "-c", "echo changed >>$W/marker-loop"]
  - destination: $W/out/loop.pw
    secret: secret/data/db
    field: password
    signal: HUP
    pid_file: $W/app.pid
EOF
"$TRESOR" agent -config "$W/loop.yaml" </dev/null >"$W/loop.out" 2>"$W/loop.err" &
APID=$!
T_PIDS="$T_PIDS $APID"
check "loop: readiness file appears" wait_for 10 test -f "$W/ready-loop"
expect_eq "loop: first render" "$(cat "$W/out/loop.env")" "PW=CANARY-db-1"
expect_eq "loop: the command ran once for the first write" "$(lines_of "$W/marker-loop")" 1
rput secret/data/db '{"data":{"user":"app","password":"CANARY-db-2","port":5432}}' >/dev/null
check "loop: the file follows a changed secret" \
    wait_for 10 grep -q CANARY-db-2 "$W/out/loop.env"
check "loop: the command ran after the change" wait_for 5 count_is "$W/marker-loop" 2
check "loop: the signal reached the application after each write" \
    wait_for 5 count_is "$W/marker-hup" 2
sleep 2.5
expect_eq "loop: unchanged passes run no command" "$(lines_of "$W/marker-loop")" 2
expect_eq "loop: mode stays 0400" "$(mode_of "$W/out/loop.env")" 400
kill -TERM "$APID"
wait "$APID"
expect_eq "loop: SIGTERM exits 0" "$?" 0
kill "$HPID"
wait "$HPID" 2>/dev/null
check "loop: readiness file removed on shutdown" test ! -e "$W/ready-loop"
expect_eq "loop: the token_file token is still valid" \
    "$(status_of -H "X-Vault-Token: $ROOT" "$ADDR/v1/auth/token/lookup-self")" 200
no_leak "loop: no secret value in the agent's output" "$W/loop.out" "$W/loop.err"

# -- tresor run ------------------------------------------------------------------------------------
export TRESOR_ADDR="$ADDR" TRESOR_CACERT="$CA" TRESOR_TOKEN="$ROOT"
X=tresor://secret/db#password
export X
trun "$TRESOR" run -- sh -c 'test "$X" = CANARY-db-2'
expect_rc 0 "run: the child sees the resolved value"
expect_eq "run: nothing printed" "$(cat "$W/o" "$W/e")" ""
trun "$TRESOR" run -- sh -c 'test "$X" = tresor://secret/db#password'
expect_rc 1 "run: the reference itself never reaches the child"
trun env X=tresor://kv1/app#password "$TRESOR" run -- sh -c 'test "$X" = CANARY-v1-1'
expect_rc 0 "run: a KV v1 reference"
trun env Y=tresor://secret/nope#password "$TRESOR" run -- sh -c 'echo started'
expect_err 3 '$Y' "run: missing secret exits 3 naming the variable"
expect_eq "run: the command did not start" "$(cat "$W/o")" ""
no_leak "run: the other (resolved) value is not printed" "$W/o" "$W/e"
trun env Y=tresor://secret/db#nope "$TRESOR" run -- true
expect_err 3 'no field "nope"' "run: missing field exits 3"
trun env TRESOR_TOKEN=not-a-token "$TRESOR" run -- true
expect_err 2 '$X' "run: a server error (403) exits 2"
trun env Y=tresor://nohash "$TRESOR" run -- true
expect_err 1 "malformed reference" "run: malformed reference exits 1"
printf '# comment\n\nexport A=tresor://secret/api#key\nB="two words"\nC=plain\n' >"$W/app.env"
trun "$TRESOR" run -env-file "$W/app.env" -- sh -c 'test "$A" = CANARY-api-1 -a "$B" = "two words" -a "$C" = plain'
expect_rc 0 "run -env-file: references and plain values"
printf 'not a pair\n' >"$W/bad.env"
trun "$TRESOR" run -env-file "$W/bad.env" -- true
expect_err 1 "bad.env:1: expected NAME=VALUE" "run -env-file: a bad line is named"
trun "$TRESOR" run -- sh -c 'exit 7'
expect_rc 7 "run: the command's exit status is ours (exec)"
trun "$TRESOR" run -- /nonexistent/cmd
expect_rc 127 "run: command not found exits 127"
trun "$TRESOR" run
expect_err 1 "missing CMD" "run without CMD: usage error"
unset TRESOR_ADDR TRESOR_CACERT TRESOR_TOKEN X

# ================================ part 2: logins, with an audit log ==============================
P=$(tmpdir)
start_prod "$P" devkey || {
    not_ok "config-file server starts"
    finish
    exit 1
}
INIT=$(hcurl -X POST -d '{"secret_shares":1,"secret_threshold":1}' "$ADDR/v1/sys/init")
ROOT=$(printf '%s\n' "$INIT" | jq -r .root_token)
wait_for 5 sh -c "curl -s --cacert '$CA' '$ADDR/v1/sys/seal-status' | grep -q '\"sealed\":false'"
expect_eq "audit server: mount secret/ (KV v2)" \
    "$(rput sys/mounts/secret '{"type":"kv","options":{"version":"2"}}')" 204
rput secret/data/app '{"data":{"password":"CANARY-app-1"}}' >/dev/null
rput sys/policies/acl/agent '{"policy":"path \"secret/data/app\" { capabilities = [\"read\"] }"}' \
    >/dev/null

# revoked_login AUDIT MOUNT: the client_token MAC of the last login at auth/MOUNT/login appears in
# a successful revoke-self request (the audit log MACs tokens, so this matches without them).
# (Not jq -e: jq 1.6 takes its status from the last input line only.)
revoked_login() {
    h=$(jq -r "select(.type==\"response\" and .request.path==\"auth/$2/login\") |
        .response.auth.client_token" "$1" | tail -1)
    [ -n "$h" ] && [ "$h" != null ] &&
        jq -c "select(.type==\"response\" and .request.path==\"auth/token/revoke-self\" and
            .request.client_token==\"$h\" and .response.status==204) | .seq" "$1" | grep -q .
}
# used_login AUDIT MOUNT: that token was used to read the secret
used_login() {
    h=$(jq -r "select(.type==\"response\" and .request.path==\"auth/$2/login\") |
        .response.auth.client_token" "$1" | tail -1)
    [ -n "$h" ] && [ "$h" != null ] &&
        jq -c "select(.type==\"response\" and .request.path==\"secret/data/app\" and
            .request.client_token==\"$h\" and .response.status==200) | .seq" "$1" | grep -q .
}

# -- AppRole ---------------------------------------------------------------------------------------
rput sys/auth/approle '{"type":"approle"}' >/dev/null
approle=$(hcurl -H "X-Vault-Token: $ROOT" "$ADDR/v1/sys/auth" | jq -r '.data["approle/"].type')
if [ "$approle" != approle ]; then
    skip "approle not available"
else
    rput auth/approle/role/agent '{"token_policies":"agent","token_ttl":"1h"}' >/dev/null
    hcurl -H "X-Vault-Token: $ROOT" "$ADDR/v1/auth/approle/role/agent/role-id" |
        jq -r .data.role_id >"$P/role_id"
    hcurl -H "X-Vault-Token: $ROOT" -X POST "$ADDR/v1/auth/approle/role/agent/secret-id" |
        jq -r .data.secret_id >"$P/secret_id"
    cat >"$P/approle.yaml" <<EOF
address: $ADDR
ca_cert: $CA
auth:
  approle: { role_id_file: $P/role_id, secret_id_file: $P/secret_id }
refresh_interval: 1s
readiness_file: $P/ready
templates:
  - destination: $P/app.env
    contents: "APP_PASSWORD={{ secret \"secret/data/app\" \"password\" }}\n"
    command: ["/bin/sh", "-c", "echo x >>$P/marker"]
EOF
    trun "$TRESOR" agent -config "$P/approle.yaml" -once
    expect_rc 0 "approle -once: exit 0"
    expect_eq "approle -once: file rendered" "$(cat "$P/app.env")" "APP_PASSWORD=CANARY-app-1"
    check "approle -once: the login token read the secret" used_login "$P/audit.log" approle
    check "approle -once: the login token was revoked on exit" revoked_login "$P/audit.log" approle
    rm -f "$P/app.env" "$P/marker" "$P/ready"

    "$TRESOR" agent -config "$P/approle.yaml" </dev/null >"$P/agent.out" 2>"$P/agent.err" &
    APID=$!
    T_PIDS="$T_PIDS $APID"
    check "approle daemon: readiness file appears" wait_for 10 test -f "$P/ready"
    expect_eq "approle daemon: first render" "$(cat "$P/app.env")" "APP_PASSWORD=CANARY-app-1"
    rput secret/data/app '{"data":{"password":"CANARY-app-2"}}' >/dev/null
    check "approle daemon: the file follows the change" \
        wait_for 10 grep -q CANARY-app-2 "$P/app.env"
    check "approle daemon: the command ran twice" wait_for 5 count_is "$P/marker" 2
    kill -TERM "$APID"
    wait "$APID"
    expect_eq "approle daemon: SIGTERM exits 0" "$?" 0
    check "approle daemon: its login token was revoked" revoked_login "$P/audit.log" approle
    no_leak "approle daemon: no secret value in the output" "$P/agent.out" "$P/agent.err"
    if grep -qF "$(cat "$P/secret_id")" "$P/agent.err" "$P/agent.out"; then
        not_ok "approle daemon: the secret_id is never printed"
    else
        ok "approle daemon: the secret_id is never printed"
    fi
    printf 'wrong\n' >"$P/bad_secret_id"
    sed "s|$P/secret_id|$P/bad_secret_id|" "$P/approle.yaml" >"$P/approle-bad.yaml"
    trun "$TRESOR" agent -config "$P/approle-bad.yaml" -once
    expect_err 2 "login at auth/approle/login refused" "approle: a refused login exits 2"
fi

# -- Kubernetes (local JWT verification with pem_keys) ------------------------------------------
rput sys/auth/kubernetes '{"type":"kubernetes"}' >/dev/null
k8s=$(hcurl -H "X-Vault-Token: $ROOT" "$ADDR/v1/sys/auth" | jq -r '.data["kubernetes/"].type')
if [ "$k8s" != kubernetes ]; then
    skip "kubernetes auth not available"
else
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$P/sa.key" 2>/dev/null
    openssl pkey -in "$P/sa.key" -pubout -out "$P/sa.pub" 2>/dev/null
    ISS=https://kubernetes.default.svc.cluster.local
    jq -n --rawfile k "$P/sa.pub" --arg i "$ISS" '{pem_keys:[$k], issuer:$i}' >"$P/k8s.json"
    rput auth/kubernetes/config "$(cat "$P/k8s.json")" >/dev/null
    rput auth/kubernetes/role/app '{"bound_service_account_names":"app","bound_service_account_namespaces":"prod","audience":"tresor","token_policies":"agent","token_ttl":600}' >/dev/null
    b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
    now=$(date +%s)
    h=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
    c=$(printf '{"aud":["tresor"],"exp":%d,"iat":%d,"nbf":%d,"iss":"%s","kubernetes.io":{"namespace":"prod","serviceaccount":{"name":"app","uid":"u1"}},"sub":"system:serviceaccount:prod:app"}' \
        $((now + 600)) "$now" "$now" "$ISS" | b64url)
    s=$(printf '%s.%s' "$h" "$c" | openssl dgst -sha256 -sign "$P/sa.key" -binary | b64url)
    printf '%s.%s.%s\n' "$h" "$c" "$s" >"$P/sa.jwt"
    cat >"$P/k8s.yaml" <<EOF
address: $ADDR
ca_cert: $CA
auth:
  kubernetes: { role: app, token_file: $P/sa.jwt }
templates:
  - destination: $P/k8s.env
    secret: secret/data/app
    field: password
EOF
    trun "$TRESOR" agent -config "$P/k8s.yaml" -once
    expect_rc 0 "kubernetes -once: exit 0"
    expect_eq "kubernetes -once: file rendered" "$(cat "$P/k8s.env" 2>/dev/null)" "CANARY-app-2"
    check "kubernetes -once: the login token was revoked on exit" \
        revoked_login "$P/audit.log" kubernetes
    sed 's/role: app/role: nope/' "$P/k8s.yaml" >"$P/k8s-bad.yaml"
    trun "$TRESOR" agent -config "$P/k8s-bad.yaml" -once
    expect_err 2 "login at auth/kubernetes/login refused" "kubernetes: a refused login exits 2"
    if grep -q "no token was sent" "$W/e"; then
        not_ok "kubernetes: no misleading token hint on a refused login"
    else
        ok "kubernetes: no misleading token hint on a refused login"
    fi
fi

finish
