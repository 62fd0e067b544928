#!/bin/sh
# The CLI's `transit` commands and `login -method=approle|kubernetes|cert` end to end, against a
# config-file server whose listener asks for client certificates (tls_client_ca_file), so one
# server serves token, AppRole, Kubernetes (local pem_keys JWT checks, JWTs signed here with
# openssl) and certificate logins. Engines and roles are set up with curl and the root token;
# everything under test goes through `tresor` with a private HOME (token helper file).
. "$(dirname "$0")/lib.sh"

need openssl jq curl cmp od

D=$(tmpdir)
T_DIRS="$T_DIRS $D"
P="$D/pki"
mkdir -p "$P"

# -- server TLS from a throwaway dev run; a client CA and one client certificate
start_dev "$D" || exit 1
kill -TERM "$PID"
wait "$PID" 2>/dev/null
mkdir -p "$D/tls" && cp "$D/data/tls/"* "$D/tls/"
CA="$D/tls/ca.crt"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$P/ca.key" -out "$P/ca.crt" -subj "/CN=CLI Test Client CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/app.key" \
    -out "$P/app.csr" -subj "/CN=app.example.com" 2>/dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' \
    >"$P/leaf.ext"
openssl x509 -req -in "$P/app.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -set_serial 11 -days 1 \
    -extfile "$P/leaf.ext" -out "$P/app.crt" 2>/dev/null
check "client certificate made" test -s "$P/app.crt"

cat >"$D/tresor.yaml" <<YAML
listener:
  address: "127.0.0.1:0"
  tls_cert_file: $D/tls/server.crt
  tls_key_file: $D/tls/server.key
  tls_client_ca_file: $P/ca.crt
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
YAML
LOG="$D/server.log"
"$TRESORD" -config "$D/tresor.yaml" >"$LOG" 2>&1 &
PID=$!
T_PIDS="$T_PIDS $PID"
PORT=$(wait_port "$LOG") || { cat "$LOG"; exit 1; }
ADDR="https://127.0.0.1:$PORT"
j() { jq -r "$1"; }
ROOT=$(hcurl -X POST -d '{"secret_shares":1,"secret_threshold":1}' "$ADDR/v1/sys/init" | j .root_token)
i=0
while [ "$(hcurl "$ADDR/v1/sys/seal-status" | j .sealed)" != false ] && [ $i -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
done
expect_contains "server initialised" "$ROOT" "hvs."
R="X-Vault-Token: $ROOT"
rput() { curl -sS --max-time 10 --cacert "$CA" -o /dev/null -w '%{http_code}' -H "$R" -X POST -d "$2" "$ADDR/v1/$1"; }
rget() { hcurl -H "$R" "$ADDR/v1/$1"; }

# -- a private client environment: no token or settings of the caller leak in
unset TRESOR_TOKEN VAULT_TOKEN TRESOR_FORMAT VAULT_FORMAT TRESOR_CLIENT_CERT TRESOR_CLIENT_KEY \
    VAULT_CLIENT_CERT VAULT_CLIENT_KEY VAULT_ADDR VAULT_CACERT TRESOR_CAPATH VAULT_CAPATH
HOME="$D/home"
mkdir -p "$HOME"
export HOME TRESOR_ADDR="$ADDR" TRESOR_CACERT="$CA"
printf '%s\n' "$ROOT" >"$D/root"
O="$D/out"
E="$D/err"
# t ARGS...: tresor with the root token (-token-file after the command words); sets RC
t() {
    "$TRESOR" "$@" -token-file="$D/root" >"$O" 2>"$E" </dev/null
    RC=$?
}
# tin FILE ARGS...: as t, stdin from FILE
tin() {
    f=$1
    shift
    "$TRESOR" "$@" -token-file="$D/root" >"$O" 2>"$E" <"$f"
    RC=$?
}
# rc_is DESC WANT: the last command's exit code
rc_is() {
    if [ "$RC" = "$2" ]; then ok "$1"; else
        not_ok "$1 (exit $RC, want $2)"
        sed 's/^/#   stderr: /' "$E" | head -5
    fi
}

# ============================== transit ============================================================
expect_eq "enable transit (curl)" "$(rput sys/mounts/transit '{"type":"transit"}')" 204
t transit create k
rc_is "transit create" 0
expect_contains "create shows the key type" "$(cat "$O")" "aes256-gcm96"
t transit create -type=ed25519 sig
rc_is "transit create -type=ed25519" 0
t transit create -type=ecdsa-p256 ec
t transit create -derived dk
expect_eq "transit create -derived" "$(rget transit/keys/dk | j .data.derived)" true
t transit list
expect_eq "transit list" "$(tr '\n' ' ' <"$O")" "Keys ---- dk ec k sig "
t transit read -field=type sig
expect_eq "transit read -field=type" "$(cat "$O")" ed25519
t transit read nope
rc_is "transit read of a missing key: exit 3" 3

PT="CANARY-cli-transit-$$"
printf '%s' "$PT" >"$D/pt.txt"
tin "$D/pt.txt" transit encrypt -field=ciphertext k -
rc_is "transit encrypt - (stdin)" 0
CT=$(cat "$O")
expect_contains "encrypt prints the ciphertext" "$CT" "vault:v1:"
t transit decrypt k "$CT"
expect_eq "decrypt prints the original bytes" "$(cat "$O")" "$PT"
printf '%s\n' "$CT" >"$D/ct.txt"
tin "$D/ct.txt" transit decrypt k -
rc_is "decrypt - (ciphertext from stdin)" 0
check "decrypt -: the original bytes, nothing added" cmp -s "$O" "$D/pt.txt"
t transit encrypt k "@$D/pt.txt"
expect_contains "encrypt table shows ciphertext and key_version" "$(cat "$O")" "key_version    1"
t transit encrypt -format=json k "@$D/pt.txt"
expect_contains "encrypt -format=json is the raw answer" "$(j .data.ciphertext <"$O")" "vault:v1:"
t transit decrypt -field=plaintext k "$CT"
expect_eq "decrypt -field=plaintext is the server's base64" "$(base64 -d <"$O")" "$PT"

# binary data: NUL bytes, high bytes, a trailing newline, 48 KiB
{
    head -c 49152 /dev/urandom
    printf '\000\001\377\n'
} >"$D/bin.dat"
t transit encrypt -field=ciphertext k "@$D/bin.dat"
BCT=$(cat "$O")
t transit decrypt k "$BCT"
check "binary file: decrypt gives back the exact bytes" cmp -s "$O" "$D/bin.dat"
tin "$D/bin.dat" transit encrypt -field=ciphertext k -
t transit decrypt k "$(cat "$O")"
check "binary on stdin: decrypt gives back the exact bytes" cmp -s "$O" "$D/bin.dat"
: >"$D/empty"
t transit encrypt k
rc_is "encrypt without DATA and no terminal: exit 1" 1
expect_contains "it says how to give DATA" "$(cat "$E")" "stdin is not a terminal"
tin "$D/empty" transit encrypt k -
rc_is "empty plaintext: the server refuses it (exit 2)" 2
t transit encrypt k "@$D/no-such-file"
rc_is "encrypt @missing-file: exit 1" 1

CTX=$(printf 'tenant-1' | base64)
t transit encrypt -field=ciphertext -context="$CTX" dk "@$D/pt.txt"
DCT=$(cat "$O")
t transit decrypt -context="$CTX" dk "$DCT"
expect_eq "derived key: decrypt with the context" "$(cat "$O")" "$PT"
t transit decrypt -context="$(printf 'tenant-2' | base64)" dk "$DCT"
rc_is "derived key: another context fails (exit 2)" 2

t transit rotate k
rc_is "transit rotate" 0
t transit read -field=latest_version k
expect_eq "rotate made version 2" "$(cat "$O")" 2
t transit rewrap -field=ciphertext k "$CT"
RCT=$(cat "$O")
expect_contains "rewrap moves the ciphertext to v2" "$RCT" "vault:v2:"
t transit decrypt k "$RCT"
expect_eq "the rewrapped ciphertext decrypts to the original" "$(cat "$O")" "$PT"
t transit encrypt -key-version=1 -field=ciphertext k "@$D/pt.txt"
expect_contains "encrypt -key-version=1" "$(cat "$O")" "vault:v1:"
t transit config -min-decryption-version=2 k
rc_is "transit config -min-decryption-version=2" 0
t transit decrypt k "$CT"
rc_is "a v1 ciphertext no longer decrypts (exit 2)" 2
t transit config k
rc_is "config with nothing to change: exit 1" 1
t transit delete k
rc_is "delete without deletion_allowed: exit 2" 2
t transit config -deletion-allowed=true k
expect_eq "config -deletion-allowed=true" "$(rget transit/keys/k | j .data.deletion_allowed)" true
t transit delete k
rc_is "transit delete" 0
t transit read k
rc_is "the deleted key is gone (exit 3)" 3

printf 'sign me %s' "$$" >"$D/msg"
t transit sign -field=signature sig "@$D/msg"
SIG=$(cat "$O")
expect_contains "transit sign (ed25519)" "$SIG" "vault:v1:"
t transit verify -signature="$SIG" sig "@$D/msg"
rc_is "verify a good signature: exit 0" 0
expect_contains "verify prints valid true" "$(cat "$O")" "true"
tin "$D/msg" transit verify -signature="$SIG" sig -
rc_is "verify with the data on stdin: exit 0" 0
t transit verify -signature="$SIG" sig "other data"
rc_is "verify other data: exit 2" 2
t transit verify -field=valid -signature="$SIG" sig "other data"
expect_eq "verify -field=valid says false" "$(cat "$O")" false
t transit verify -signature=vault:v1:junk sig "@$D/msg"
rc_is "verify a malformed signature: exit 2" 2
t transit verify sig "@$D/msg"
rc_is "verify without -signature: exit 1" 1
t transit sign -hash-algorithm=sha2-384 -marshaling-algorithm=jws -field=signature ec "@$D/msg"
ESIG=$(cat "$O")
t transit verify -hash-algorithm=sha2-384 -marshaling-algorithm=jws -signature="$ESIG" ec "@$D/msg"
rc_is "ecdsa-p256 jws + sha2-384: sign then verify, exit 0" 0
t transit verify -hash-algorithm=sha2-256 -marshaling-algorithm=jws -signature="$ESIG" ec "@$D/msg"
rc_is "ecdsa-p256: another hash algorithm does not verify (exit 2)" 2
t transit sign -marshaling-algorithm=pem ec "@$D/msg"
rc_is "a bad -marshaling-algorithm: exit 1" 1

expect_eq "enable transit at tr2 (curl)" "$(rput sys/mounts/tr2 '{"type":"transit"}')" 204
t transit create -mount=tr2 other
t transit list -mount=/tr2/
expect_eq "-mount addresses another transit mount" "$(tail -1 "$O")" other
t transit create "a/b"
rc_is "a key name with / is refused locally" 1
"$TRESOR" transit encrypt -h >"$O" 2>&1
RC=$?
rc_is "transit encrypt -h" 0
expect_contains "help lists -context" "$(cat "$O")" "-context=B64"
for s in "$PT" "$(printf 'tenant-1')"; do
    if grep -qF "$s" "$LOG"; then tleak=1; fi
done
check "no plaintext in the server log" test -z "${tleak:-}"

# ============================== login -method=approle ==============================================
expect_eq "enable approle (curl)" "$(rput sys/auth/approle '{"type":"approle"}')" 204
expect_eq "policy app-read" \
    "$(rput sys/policies/acl/app-read '{"policy":"path \"secret/*\" { capabilities = [\"read\"] }"}')" 204
expect_eq "role web" "$(rput auth/approle/role/web '{"token_policies":"app-read","token_ttl":"1h"}')" 204
RID=$(rget auth/approle/role/web/role-id | j .data.role_id)
SID=$(hcurl -H "$R" -X POST "$ADDR/v1/auth/approle/role/web/secret-id" | j .data.secret_id)
printf '%s\n' "$SID" >"$D/sid"
# login ARGS...: `tresor login` with no token configured at all; stdin from $LIN (default none)
LIN=/dev/null
login() {
    "$TRESOR" login "$@" >"$O" 2>"$E" <"$LIN"
    RC=$?
}
LIN="$D/sid"
login -method=approle role_id="$RID" secret_id=-
LIN=/dev/null
rc_is "login -method=approle with secret_id=- (stdin)" 0
TOK=$(sed -n 's/^token[[:space:]]\{1,\}//p' "$O")
expect_contains "the table shows the new token" "$TOK" "hvs."
expect_contains "and its accessor" "$(cat "$O")" "token_accessor"
expect_contains "and its policies" "$(cat "$O")" "app-read"
expect_contains "and says where it is stored" "$(cat "$O")" "$HOME/.tresor-token"
expect_eq "the token helper file holds the new token" "$(cat "$HOME/.tresor-token")" "$TOK"
expect_eq "the token helper file is 0600" "$(stat -c %a "$HOME/.tresor-token")" 600
if grep -qF "$SID" "$O" "$E"; then not_ok "the secret ID is not printed"; else ok "the secret ID is not printed"; fi
"$TRESOR" token lookup >"$O" 2>"$E" </dev/null
RC=$?
rc_is "token lookup with the stored token" 0
expect_contains "the stored token came from the approle login" "$(cat "$O")" "auth/approle/login"

login -method=approle role_id="$RID" secret_id=wrong-secret
rc_is "a wrong secret ID: exit 2" 2
expect_contains "the refusal says so" "$(cat "$E")" "login at auth/approle/login refused"
expect_eq "a failed login leaves the stored token alone" "$(cat "$HOME/.tresor-token")" "$TOK"
SID2=$(hcurl -H "$R" -X POST "$ADDR/v1/auth/approle/role/web/secret-id" | j .data.secret_id)
printf '  %s  \n\n' "$SID2" >"$D/sid2"
login -method=approle -no-store -field=token role_id="$RID" secret_id="@$D/sid2"
rc_is "secret_id=@FILE (trimmed), -no-store, -field=token" 0
case "$(cat "$O")" in
hvs.*[!A-Za-z0-9_.-]* | "") not_ok "-field=token prints only the token" ;;
hvs.*) ok "-field=token prints only the token" ;;
*) not_ok "-field=token prints only the token" ;;
esac
check "-no-store leaves the stored token alone" test "$(cat "$HOME/.tresor-token")" = "$TOK"
login -method=approle role_id="$RID"
rc_is "no secret_id and no terminal: exit 1" 1
expect_contains "it says how to give it" "$(cat "$E")" "secret_id=-"
login -method=approle secret_id=x
rc_is "no role_id: exit 1" 1
login -method=approle role_id="$RID" secret_id=x color=blue
rc_is "an unknown key: exit 1" 1
login -method=ldap
rc_is "an unknown method: exit 1" 1
login -method=approle -path=nowhere role_id="$RID" secret_id=x
rc_is "-path naming no mount: exit 2 (403: no mount makes it a login path, as Vault)" 2
SID3=$(hcurl -H "$R" -X POST "$ADDR/v1/auth/approle/role/web/secret-id" | j .data.secret_id)
printf '%s' "$SID3" >"$D/sid3"
LIN="$D/sid3"
TRESOR_TOKEN=hvs.not-a-real-token login -method=approle -format=json role_id="$RID" secret_id=-
LIN=/dev/null
rc_is "login works with a bogus TRESOR_TOKEN set (it is not used)" 0
expect_contains "and warns that TRESOR_TOKEN shadows the stored token" "$(cat "$E")" "takes precedence"
JTOK=$(j .auth.client_token <"$O")
expect_eq "-format=json: the stored token is auth.client_token" "$(cat "$HOME/.tresor-token")" "$JTOK"

# ============================== login -method=kubernetes (at -path=kube) ===========================
expect_eq "enable kubernetes at kube (curl)" "$(rput sys/auth/kube '{"type":"kubernetes"}')" 204
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$P/sa.key" 2>/dev/null
openssl pkey -in "$P/sa.key" -pubout -out "$P/sa.pub" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$P/evil.key" 2>/dev/null
ISS="https://kubernetes.default.svc.cluster.local"
expect_eq "kubernetes config with pem_keys" "$(jq -n --rawfile k "$P/sa.pub" --arg i "$ISS" \
    '{pem_keys:[$k], issuer:$i}' | rput auth/kube/config "$(cat)")" 204
expect_eq "kubernetes role app" "$(rput auth/kube/role/app \
    '{"bound_service_account_names":"app","bound_service_account_namespaces":"dev","audience":"vault","token_policies":"app-read","token_ttl":600}')" 204
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
jwt() { # key
    now=$(date +%s)
    h=$(printf '{"alg":"RS256","typ":"JWT","kid":"k"}' | b64url)
    c=$(printf '{"aud":["vault"],"exp":%d,"iat":%d,"nbf":%d,"iss":"%s","kubernetes.io":{"namespace":"dev","serviceaccount":{"name":"app","uid":"uid-1"}},"sub":"system:serviceaccount:dev:app"}' \
        $((now + 600)) "$now" "$now" "$ISS" | b64url)
    s=$(printf '%s.%s' "$h" "$c" | openssl dgst -sha256 -sign "$1" -binary | b64url)
    printf '%s.%s.%s' "$h" "$c" "$s"
}
jwt "$P/sa.key" >"$D/jwt"
jwt "$P/evil.key" >"$D/evil.jwt"
login -method=kubernetes -path=kube role=app jwt="@$D/jwt"
rc_is "login -method=kubernetes -path=kube jwt=@FILE" 0
expect_contains "kubernetes login shows the role in the metadata" "$(cat "$O")" "token_meta_role"
"$TRESOR" token lookup -format=json >"$O" 2>"$E" </dev/null
expect_eq "the stored token came from the kubernetes login" "$(j .data.path <"$O")" auth/kube/login
LIN="$D/jwt"
login -method=kubernetes -path=/kube/ -no-store role=app jwt=-
LIN=/dev/null
rc_is "jwt=- (stdin), -path=/kube/" 0
login -method=kubernetes -path=kube role=app jwt="@$D/evil.jwt"
rc_is "a JWT signed by another key: exit 2" 2
login -method=kubernetes -path=kube jwt="@$D/jwt"
rc_is "kubernetes without role=: exit 1" 1
if [ ! -e /var/run/secrets/kubernetes.io/serviceaccount/token ]; then
    login -method=kubernetes -path=kube role=app
    rc_is "no jwt= and no service-account token file: exit 1" 1
    expect_contains "the error names the default token file" "$(cat "$E")" \
        /var/run/secrets/kubernetes.io/serviceaccount/token
fi
if grep -qF "$(cat "$D/jwt")" "$O" "$E"; then not_ok "the JWT is never printed"; else ok "the JWT is never printed"; fi

# ============================== login -method=cert =================================================
expect_eq "enable cert (curl)" "$(rput sys/auth/cert '{"type":"cert"}')" 204
expect_eq "cert role web" "$(jq -n --rawfile c "$P/ca.crt" \
    '{certificate:$c, allowed_common_names:"app.example.com", token_policies:"app-read"}' |
    rput auth/cert/certs/web "$(cat)")" 204
login -method=cert -client-cert="$P/app.crt" -client-key="$P/app.key"
rc_is "login -method=cert with -client-cert/-client-key" 0
"$TRESOR" token lookup -format=json >"$O" 2>"$E" </dev/null
expect_eq "the stored token came from the cert login" "$(j .data.path <"$O")" auth/cert/login
expect_eq "its metadata names the cert role" "$(j .data.meta.cert_name <"$O")" web
TRESOR_CLIENT_CERT="$P/app.crt" TRESOR_CLIENT_KEY="$P/app.key" login -method=cert -no-store name=web
rc_is "login -method=cert name=web with TRESOR_CLIENT_CERT/KEY" 0
TRESOR_CLIENT_CERT="$P/app.crt" TRESOR_CLIENT_KEY="$P/app.key" login -method=cert name=nope
rc_is "name= of another role: exit 2" 2
login -method=cert
rc_is "-method=cert without a client certificate: exit 1" 1
expect_contains "it says a client certificate is needed" "$(cat "$E")" "client certificate"

# ============================== token login still works =============================================
LIN="$D/root"
login -method=token -
LIN=/dev/null
rc_is "login -method=token - (stdin)" 0
expect_eq "the root token is stored again" "$(cat "$HOME/.tresor-token")" "$ROOT"
login -method=token -path=x
rc_is "-path with -method=token: exit 1" 1

check "server still running" kill -0 "$PID"
finish
