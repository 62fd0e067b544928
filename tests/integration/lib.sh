# Shared helpers for integration tests (POSIX sh). Source it; it expects $TRESORD and $TRESOR.
# Servers listen on 127.0.0.1 port 0 (the kernel picks a free port); the port is read back from
# the server's log line "listening on ... (port N, ...)".

T_N=0
T_FAIL=0
T_PIDS=""
T_DIRS=""
T_MOUNTS=""

ok() {
    T_N=$((T_N + 1))
    echo "ok $T_N - $1"
}

not_ok() {
    T_N=$((T_N + 1))
    T_FAIL=$((T_FAIL + 1))
    echo "not ok $T_N - $1"
}

# check DESC CMD...: run CMD, pass when it exits 0
check() {
    desc=$1
    shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# expect_eq DESC GOT WANT
expect_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (got '$2', want '$3')"; fi
}

# expect_contains DESC HAYSTACK NEEDLE
expect_contains() {
    case "$2" in
    *"$3"*) ok "$1" ;;
    *) not_ok "$1 ('$3' not in '$(printf '%s' "$2" | head -c 300)')" ;;
    esac
}

# Every temporary directory lives under one base removed at exit (tmpdir runs in $(...), a
# subshell, so it cannot record anything in a variable of ours).
T_BASE=$(mktemp -d /tmp/tresor-it-XXXXXX)
tmpdir() {
    mktemp -d "$T_BASE/d-XXXXXX"
}

cleanup() {
    for p in $T_PIDS; do kill -9 "$p" 2>/dev/null; done
    if [ -n "$T_MOUNTS" ]; then
        # A killed server holding files on a mount keeps it busy until it is gone: reap it first.
        for p in $T_PIDS; do wait "$p" 2>/dev/null; done
        for m in $T_MOUNTS; do umount "$m" 2>/dev/null; done
        T_MOUNTS=""
    fi
    rm -rf "$T_BASE"
    for d in $T_DIRS; do rm -rf "$d"; done
}
trap cleanup EXIT INT TERM

# tmpfs_mount DIR SIZE: a tmpfs of SIZE (e.g. 6m) on DIR (created), unmounted by cleanup. It needs
# root with mount permission; without it the script stops here with exit 1 (no small disk, no test).
tmpfs_mount() {
    mkdir -p "$1"
    if ! mount -t tmpfs -o size="$2" tmpfs "$1" 2>/dev/null; then
        echo "cannot mount a tmpfs here (needs root with mount permission)"
        exit 1
    fi
    T_MOUNTS="$T_MOUNTS $1"
}

# wait_port LOGFILE: echo the port once the server logged it (10 s max)
wait_port() {
    i=0
    while [ $i -lt 100 ]; do
        p=$(sed -n 's/.*listening on .*(port \([0-9]*\),.*/\1/p' "$1" | head -1)
        if [ -n "$p" ]; then
            echo "$p"
            return 0
        fi
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# server_up: the server just started as PID logs to LOG: track it and wait for its port (PORT);
# shows the log if it did not come up.
server_up() {
    T_PIDS="$T_PIDS $PID"
    PORT=$(wait_port "$LOG") || {
        echo "server did not start:"
        cat "$LOG"
        return 1
    }
}

# start_dev DIR: start `tresord -dev` with data in DIR/data; sets PORT, PID, LOG, CA, ADDR
start_dev() {
    LOG="$1/server.log"
    (cd "$1" && exec "$TRESORD" -dev -dev-dir "$1/data" -dev-listen 127.0.0.1:0 >"$LOG" 2>&1) &
    PID=$!
    server_up || return 1
    CA="$1/data/tls/ca.crt"
    ADDR="https://127.0.0.1:$PORT"
}

# start_cfg DIR: start `tresord -config DIR/cfg.yaml` (the caller writes it); sets PID, PORT,
# LOG, ADDR (CA stays as it was)
start_cfg() {
    LOG="$1/server.log"
    "$TRESORD" -config "$1/cfg.yaml" >"$LOG" 2>&1 &
    PID=$!
    server_up || return 1
    ADDR="https://127.0.0.1:$PORT"
}

# need CMD...: stop the suite with a hint when a command it uses is missing
need() {
    for _c in "$@"; do
        command -v "$_c" >/dev/null 2>&1 || { echo "missing $_c (mk/deps.sh installs it)"; exit 1; }
    done
}

# dev_root [LOG]: the root token a -dev server printed in LOG (default $LOG)
dev_root() {
    sed -n 's/.*Root Token: \(hvs\.[A-Za-z0-9_.-]*\).*/\1/p' "${1:-$LOG}" | head -1
}

# hcurl ARGS...: curl against the server with its CA; prints the body
hcurl() {
    curl -sS --max-time 10 --cacert "$CA" "$@"
}

# status_of ARGS...: just the HTTP status code
status_of() {
    curl -sS --max-time 10 --cacert "$CA" -o /dev/null -w '%{http_code}' "$@"
}

finish() {
    echo "$((T_N - T_FAIL)) passed, $T_FAIL failed"
    # a failure after the server died: say how it ended and show its last words
    if [ $T_FAIL -gt 0 ] && [ -n "${PID:-}" ] && ! kill -0 "$PID" 2>/dev/null; then
        wait "$PID" 2>/dev/null
        echo "# the last server started (pid $PID) is gone, exit status $?; its log ends:"
        grep -v -e "Root Token" -e "key:" "$LOG" 2>/dev/null | tail -n 30 | sed 's/^/#   /'
    fi
    [ $T_FAIL -eq 0 ]
}

# start_prod DIR [SEAL]: a config-file server (default seal shamir, file counter, audit log in
# DIR/audit.log), TLS material borrowed from a throwaway dev run. Sets PID, PORT, ADDR, CA, LOG.
start_prod() {
    _d=$1
    _seal=${2:-shamir}
    start_dev "$_d" || return 1
    kill -TERM "$PID"
    wait "$PID" 2>/dev/null
    mkdir -p "$_d/tls" && cp "$_d/data/tls/"* "$_d/tls/"
    CA="$_d/tls/ca.crt"
    cat >"$_d/tresor.yaml" <<YAML
listener:
  address: "127.0.0.1:0"
  tls_cert_file: $_d/tls/server.crt
  tls_key_file: $_d/tls/server.key
storage:
  path: $_d/store
seal:
  type: $_seal
  allow_insecure: true
  devkey: { key_file: $_d/store-dev.key }
counter:
  type: file
audit:
  path: $_d/audit.log
YAML
    restart_prod "$_d"
}

# restart_prod DIR: (re)start the config-file server of DIR; each start logs to a new file
restart_prod() {
    T_STARTS=$((${T_STARTS:-0} + 1))
    LOG="$1/prod-$T_STARTS.log"
    "$TRESORD" -config "$1/tresor.yaml" >"$LOG" 2>&1 &
    PID=$!
    T_PIDS="$T_PIDS $PID"
    PORT=$(wait_port "$LOG") || { cat "$LOG"; return 1; }
    ADDR="https://127.0.0.1:$PORT"
}

# stop_prod: SIGTERM and wait; returns the exit status
stop_prod() {
    kill -TERM "$PID"
    wait "$PID"
}

# init_devkey: initialise the auto-unseal (devkey) server at ADDR with one recovery share, mount
# KV v2 at secret/ and write secret/k1 = {"v":"one"}. Sets INIT, R (root token header), RKEY.
init_devkey() {
    INIT=$(hcurl -X PUT -d '{"recovery_shares":1,"recovery_threshold":1}' "$ADDR/v1/sys/init")
    R="X-Vault-Token: $(echo "$INIT" | jq -r .root_token)"
    RKEY=$(echo "$INIT" | jq -r '.recovery_keys[0]')
    hcurl -H "$R" -X POST -d '{"type":"kv","options":{"version":"2"}}' "$ADDR/v1/sys/mounts/secret" >/dev/null
    hcurl -H "$R" -X PUT -d '{"data":{"v":"one"}}' "$ADDR/v1/secret/data/k1" >/dev/null
}

# hup_audit: SIGHUP the server ($PID) and wait, up to 10 s, until its log ($LOG) tells what came of
# the audit rotation it asked for (rotated, or not done and why): no fixed sleep to outrun
hup_audit() {
    _hn=$(grep -c 'audit: rotated the log to\|audit: rotation not done' "$LOG")
    kill -HUP "$PID"
    _hi=0
    while [ "$(grep -c 'audit: rotated the log to\|audit: rotation not done' "$LOG")" -le "$_hn" ] &&
        [ $_hi -lt 100 ]; do
        sleep 0.1
        _hi=$((_hi + 1))
    done
}

# fill_audit_disk FILE ARGS...: fill the (small tmpfs) audit disk with FILE, then repeat the
# request ARGS (status_of's arguments) until it is no longer 200, 50 tries at most; prints the
# last status (the lines already in the page cache may still fit a few requests)
fill_audit_disk() {
    dd if=/dev/zero of="$1" bs=4k 2>/dev/null
    shift
    _fc=200
    _fi=0
    while [ "$_fc" = 200 ] && [ $_fi -lt 50 ]; do
        _fc=$(status_of "$@")
        _fi=$((_fi + 1))
    done
    echo "$_fc"
}
# start_swtpm DIR: a software TPM on free loopback ports with state in DIR. Sets TCTI, SWTPM_PID.
start_swtpm() {
    mkdir -p "$1"
    tries=0
    while [ $tries -lt 10 ]; do
        tries=$((tries + 1))
        p=$(shuf -i 20000-60000 -n 1)
        swtpm socket --tpm2 --server "type=tcp,port=$p,bindaddr=127.0.0.1" \
            --ctrl "type=tcp,port=$((p + 1)),bindaddr=127.0.0.1" \
            --flags not-need-init,startup-clear --tpmstate "dir=$1" >/dev/null 2>&1 &
        SWTPM_PID=$!
        T_PIDS="$T_PIDS $SWTPM_PID"
        TCTI="swtpm:host=127.0.0.1,port=$p"
        i=0
        while [ $i -lt 50 ]; do
            kill -0 "$SWTPM_PID" 2>/dev/null || break
            if TSS2_LOG=all+none tpm2_getrandom -T "$TCTI" 4 >/dev/null 2>&1; then
                return 0
            fi
            sleep 0.1
            i=$((i + 1))
        done
        kill -9 "$SWTPM_PID" 2>/dev/null
    done
    return 1
}
