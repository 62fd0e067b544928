#!/bin/sh
# Hidden prompts of the tresor CLI in a real pseudo-terminal (script(1) from util-linux): a
# secret typed at a prompt must not be echoed, and must still arrive. Covered: `kv put PATH KEY`
# (value prompted), `transit encrypt NAME` (data prompted), `login -method=approle` (secret_id
# prompted) and `operator unseal` (share prompted). A control run of `read` without the CLI
# shows that the harness does see echoed input, so a silent terminal is a real result.
#
# Each run: script reads the keystrokes from a FIFO; they are typed only once the prompt is on
# the screen and the CLI has switched the terminal's echo off (stty on the CLI's terminal), as
# a person would type them: input sent earlier would be echoed by the line discipline before
# the CLI could hide it, and flushed by its TCSAFLUSH.
. "$(dirname "$0")/lib.sh"

need script stty timeout curl jq

D=$(tmpdir)
T_DIRS="$T_DIRS $D"
start_dev "$D" || exit 1
ROOT=$(dev_root)
UNSEAL=$(sed -n 's/.*Unseal\/recovery key: *\([0-9a-f]*\).*/\1/p' "$LOG" | head -1)
R="X-Vault-Token: $ROOT"
j() { jq -r "$1"; }

unset TRESOR_TOKEN VAULT_TOKEN TRESOR_FORMAT VAULT_FORMAT TRESOR_CLIENT_CERT TRESOR_CLIENT_KEY
HOME="$D/home"
mkdir -p "$HOME"
export HOME
export TRESOR_ADDR="$ADDR" TRESOR_CACERT="$CA"
printf '%s\n' "$ROOT" >"$D/root"

# is_quiet PTS: the terminal's echo flag is off
is_quiet() {
    stty -F "$1" -a 2>/dev/null | tr ';' ' ' | tr ' ' '\n' | grep -qx -- -echo
}

# tty_run NAME PROMPT INPUT ECHO_OFF CMD: run the shell command CMD in a pseudo-terminal; when
# PROMPT is on the screen (and, if ECHO_OFF is 1, the terminal's echo is off), type INPUT and
# Enter. Sets TTY_RC (CMD's exit status) and TTY_LOG (all the terminal showed).
tty_run() {
    f="$D/$1"
    TTY_LOG="$f.log"
    mkfifo "$f.in"
    # shellcheck disable=SC2016 # $$ is the inner shell's pid, CMD replaces it (exec)
    timeout 25 script -q -f -e -E always -c "echo \$\$ >'$f.pid'; exec $5" "$TTY_LOG" \
        <"$f.in" >"$f.screen" 2>&1 &
    sp=$!
    exec 3>"$f.in"
    end=$(($(date +%s) + 10))
    ready=0
    while [ "$(date +%s)" -le $end ]; do
        if [ -s "$f.pid" ] && grep -aqF "$2" "$TTY_LOG" 2>/dev/null; then
            pts=$(readlink "/proc/$(cat "$f.pid")/fd/0" 2>/dev/null)
            if [ "$4" = 0 ] || { [ -n "$pts" ] && is_quiet "$pts"; }; then
                ready=1
                break
            fi
        fi
        sleep 0.05
    done
    if [ $ready = 0 ]; then
        echo "# no prompt '$2' (with echo off) within 10 s; typing anyway; the terminal showed:"
        sed 's/^/#   /' "$TTY_LOG" | cat -v
        echo
    fi
    # a subshell, so a command that is already gone (SIGPIPE) cannot kill the test
    (printf '%s\n' "$3" >&3) 2>/dev/null
    wait "$sp"
    TTY_RC=$?
    exec 3>&-
}

# no_echo DESC SECRET: the secret never appeared on the terminal
no_echo() {
    if grep -aqF "$2" "$TTY_LOG"; then not_ok "$1"; else ok "$1"; fi
}

# -- control: without the CLI, typed input is echoed and the harness sees it
tty_run control 'prompt:' "CONTROL-echo-$$" 0 "sh -c 'printf \"prompt: \"; read x; echo \"got \$x\"'"
expect_eq "control: the command ran" "$TTY_RC" 0
expect_contains "control: echoed input shows on the terminal" "$(cat "$TTY_LOG")" "prompt: CONTROL-echo-$$"

# -- kv put with the value prompted
S1="CANARY-tty-kv-$$-Q7"
# (then stty -a shows the terminal as the CLI left it)
cat >"$D/kvput.sh" <<KV
"$TRESOR" kv put -token-file="$D/root" secret/tty password
rc=\$?
stty -a
exit \$rc
KV
tty_run kvput 'password (will be hidden)' "$S1" 1 "sh '$D/kvput.sh'"
expect_eq "kv put at a terminal: exit 0" "$TTY_RC" 0
expect_contains "kv put prompted for the value" "$(cat "$TTY_LOG")" "password (will be hidden): "
no_echo "kv put: the typed value is not echoed" "$S1"
expect_eq "kv put: the typed value was stored" \
    "$(hcurl -H "$R" "$ADDR/v1/secret/data/tty" | j .data.data.password)" "$S1"
if sed -n '/^speed /,$p' "$TTY_LOG" | tr ';' ' ' | tr ' ' '\n' | grep -qx echo; then
    ok "kv put: the terminal's echo is back on afterwards"
else
    not_ok "kv put: the terminal's echo is back on afterwards"
fi

# -- transit encrypt with the data prompted
status_of -H "$R" -X POST -d '{"type":"transit"}' "$ADDR/v1/sys/mounts/transit" >/dev/null
status_of -H "$R" -X POST "$ADDR/v1/transit/keys/tty" >/dev/null
S2="CANARY-tty-transit-$$-Z3"
tty_run encrypt 'Data (will be hidden)' "$S2" 1 "$TRESOR transit encrypt -token-file='$D/root' -field=ciphertext tty"
expect_eq "transit encrypt at a terminal: exit 0" "$TTY_RC" 0
no_echo "transit encrypt: the typed plaintext is not echoed" "$S2"
CT=$(grep -o 'vault:v1:[A-Za-z0-9+/=]*' "$TTY_LOG" | head -1)
expect_contains "transit encrypt printed a ciphertext" "$CT" "vault:v1:"
expect_eq "the ciphertext decrypts to what was typed" \
    "$(hcurl -H "$R" -X POST -d "{\"ciphertext\":\"$CT\"}" "$ADDR/v1/transit/decrypt/tty" |
        j .data.plaintext | base64 -d)" "$S2"

# -- approle login with the secret ID prompted
status_of -H "$R" -X POST -d '{"type":"approle"}' "$ADDR/v1/sys/auth/approle" >/dev/null
status_of -H "$R" -X POST -d '{"token_policies":"default"}' "$ADDR/v1/auth/approle/role/tty" >/dev/null
RID=$(hcurl -H "$R" "$ADDR/v1/auth/approle/role/tty/role-id" | j .data.role_id)
SID=$(hcurl -H "$R" -X POST "$ADDR/v1/auth/approle/role/tty/secret-id" | j .data.secret_id)
tty_run login 'secret_id (will be hidden)' "$SID" 1 "$TRESOR login -method=approle role_id=$RID"
expect_eq "approle login at a terminal: exit 0" "$TTY_RC" 0
no_echo "approle login: the typed secret ID is not echoed" "$SID"
check "approle login stored a token" test -s "$HOME/.tresor-token"
expect_eq "the stored token is the approle login's" \
    "$(hcurl -H "X-Vault-Token: $(cat "$HOME/.tresor-token")" "$ADDR/v1/auth/token/lookup-self" | j .data.path)" \
    auth/approle/login

# -- operator unseal with the share prompted (last: it seals the server first)
expect_eq "seal the server" "$(status_of -H "$R" -X PUT "$ADDR/v1/sys/seal")" 204
expect_eq "sealed" "$(hcurl "$ADDR/v1/sys/seal-status" | j .sealed)" true
tty_run unseal '(will be hidden)' "$UNSEAL" 1 "$TRESOR operator unseal"
expect_eq "operator unseal at a terminal: exit 0" "$TTY_RC" 0
no_echo "operator unseal: the typed share is not echoed" "$UNSEAL"
i=0
while [ "$(hcurl "$ADDR/v1/sys/seal-status" | j .sealed)" != false ] && [ $i -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
done
expect_eq "the typed share unsealed the server" "$(hcurl "$ADDR/v1/sys/seal-status" | j .sealed)" false

finish
