#!/bin/sh
# Seal, unseal and storage recovery all at once, end to end (api_core.c's one-step-at-a-time
# store lifecycle; tests/unit/test_core_race.c holds each interleaving in place): a real
# config-file tresord (shamir seal, file counter, audit file, 4 workers) over TLS, a storm of
# operator seals, several custodians unsealing at once, recovery quorums and KV v2 writers and
# readers on keep-alive connections. Then: the server is still up; it never logged a second
# store on the data directory (tresor.lock held), a failed open, a fatal error or a freshness
# verdict; no read ever lost or changed an acknowledged write; after one more unseal every
# acknowledged write is there with its value; it stops cleanly and, restarted and unsealed,
# opens the store cleanly (no rollback or tamper, the audit anchor holds) with every write still
# there. TR_RACE_SECS (default 15) sets the storm's length.
. "$(dirname "$0")/lib.sh"
j() { jq -r "$1"; }
need jq curl python3
SECS=${TR_RACE_SECS:-15}

PY="$T_BASE/race.py"
cat >"$PY" <<'PY'
"""Clients for test_seal_race.sh (stdlib only: http.client + ssl).
  storm PORT CA TOKEN KEY DIR SECS: for SECS seconds, 4 KV v2 writers (each its own keys, one
      key at a time until acknowledged), 2 readers of acknowledged keys, one operator sealing
      every 20-150 ms, 3 custodians unsealing all the time and one recovery quorum every
      0.5-1.5 s. Acknowledged writes go to DIR/acked ("key value" lines). Prints one "FAIL ..."
      line per finding (a read that lost or changed an acknowledged value, a seal-status with a
      fatal or freshness verdict) and ends with "RESULT n".
  verify PORT CA TOKEN DIR: read every key of DIR/acked back; "RESULT n" (n: missing or wrong)."""
import http.client
import json
import random
import ssl
import sys
import threading
import time

BAD = ("fatal_error", "rollback_detected", "tamper_detected")


class Client:
    def __init__(self, port, ca, token):
        self.port, self.token = port, token
        self.ctx = ssl.create_default_context(cafile=ca)
        self.conn = None

    def call(self, method, path, body=None, token=True):
        hdr = {"Content-Type": "application/json"}
        if token:
            hdr["X-Vault-Token"] = self.token
        data = json.dumps(body) if body is not None else None
        for _ in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPSConnection("127.0.0.1", self.port,
                                                            context=self.ctx, timeout=30)
                self.conn.request(method, path, body=data, headers=hdr)
                r = self.conn.getresponse()
                raw = r.read()
                try:
                    doc = json.loads(raw) if raw else None
                except ValueError:
                    doc = None
                return r.status, doc
            except (OSError, http.client.HTTPException):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
        return 0, None


def storm(port, ca, token, key, d, secs):
    stop = threading.Event()
    lock = threading.Lock()
    acked = []
    fails = []
    counts = {"seal": 0, "unseal": 0, "recover": 0}  # unseal: answers that said serving

    def fail(msg):
        with lock:
            fails.append(msg)

    def check_reason(doc):
        reason = (doc or {}).get("sealed_reason", "")
        if reason in BAD:
            fail("seal-status sealed_reason %s" % reason)

    def writer(n):
        c = Client(port, ca, token)
        i = 0
        while not stop.is_set():
            k, v = "w%d-%d" % (n, i), "v%d-%d" % (n, i)
            st, _ = c.call("PUT", "/v1/secret/data/" + k, {"data": {"v": v}})
            if st == 200:
                with lock:
                    acked.append((k, v))
                i += 1
            else:
                time.sleep(0.005)  # sealed (503) or sealed on the way: the same key again

    def reader():
        c = Client(port, ca, token)
        while not stop.is_set():
            with lock:
                pick = random.choice(acked) if acked else None
            if not pick:
                time.sleep(0.01)
                continue
            st, doc = c.call("GET", "/v1/secret/data/" + pick[0])
            if st == 200:
                got = (((doc or {}).get("data") or {}).get("data") or {}).get("v")
                if got != pick[1]:
                    fail("read %s: %r, acknowledged %r" % (pick[0], got, pick[1]))
            elif st == 404:
                fail("read %s: 404, acknowledged %r" % pick)

    def sealer():
        c = Client(port, ca, token)
        while not stop.is_set():
            st, _ = c.call("PUT", "/v1/sys/seal")
            if st == 204:
                with lock:
                    counts["seal"] += 1
            _, doc = c.call("GET", "/v1/sys/seal-status", token=False)
            check_reason(doc)
            time.sleep(random.uniform(0.02, 0.15))

    def unsealer():
        c = Client(port, ca, token)
        while not stop.is_set():
            st, doc = c.call("PUT", "/v1/sys/unseal", {"key": key}, token=False)
            if st == 200:
                check_reason(doc)
                if doc and doc.get("sealed") is False:
                    with lock:
                        counts["unseal"] += 1
            time.sleep(random.uniform(0, 0.005))

    def recoverer():
        c = Client(port, ca, token)
        while not stop.wait(random.uniform(0.5, 1.5)):
            st, _ = c.call("PUT", "/v1/sys/storage/recover", {"key": key}, token=False)
            if st == 200:
                with lock:
                    counts["recover"] += 1

    ts = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    ts += [threading.Thread(target=reader) for _ in range(2)]
    ts += [threading.Thread(target=sealer), threading.Thread(target=recoverer)]
    ts += [threading.Thread(target=unsealer) for _ in range(3)]
    for t in ts:
        t.start()
    time.sleep(secs)
    stop.set()
    for t in ts:
        t.join()
    with open(d + "/acked", "w") as f:
        for k, v in acked:
            f.write("%s %s\n" % (k, v))
    print("storm: %d acknowledged writes, %d seals, %d unseals answered serving, %d recoveries"
          % (len(acked), counts["seal"], counts["unseal"], counts["recover"]))
    for m in fails[:10]:
        print("FAIL " + m)
    print("RESULT %d" % len(fails))


def verify(port, ca, token, d):
    c = Client(port, ca, token)
    bad = 0
    n = 0
    with open(d + "/acked") as f:
        for line in f:
            k, v = line.split()
            n += 1
            st, doc = c.call("GET", "/v1/secret/data/" + k)
            got = (((doc or {}).get("data") or {}).get("data") or {}).get("v")
            if st != 200 or got != v:
                bad += 1
                if bad <= 10:
                    print("FAIL %s: %d %r, acknowledged %r" % (k, st, got, v))
    print("verified %d acknowledged writes" % n)
    print("RESULT %d" % bad)


if sys.argv[1] == "storm":
    storm(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], float(sys.argv[7]))
else:
    verify(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
PY

# result OUTPUT: the N of its "RESULT N" line (99 when there is none: the client broke)
result() {
    r=$(printf '%s\n' "$1" | sed -n 's/^RESULT \([0-9]*\)$/\1/p' | tail -1)
    echo "${r:-99}"
}

# unseal_now: unseal until serving (a few tries); echoes the last seal-status "sealed"
unseal_now() {
    n=0
    s=$(hcurl -X PUT -d "{\"key\":\"$KEY\"}" "$ADDR/v1/sys/unseal" | j .sealed)
    while [ "$s" != false ] && [ $n -lt 5 ]; do
        sleep 0.2
        s=$(hcurl -X PUT -d "{\"key\":\"$KEY\"}" "$ADDR/v1/sys/unseal" | j .sealed)
        n=$((n + 1))
    done
    echo "$s"
}

D=$(tmpdir)
start_dev "$D" || exit 1
kill -TERM "$PID"
wait "$PID" 2>/dev/null
mkdir -p "$D/tls" && cp "$D/data/tls/"* "$D/tls/"
CA="$D/tls/ca.crt"
cat >"$D/tresor.yaml" <<YAML
listener:
  address: "127.0.0.1:0"
  tls_cert_file: $D/tls/server.crt
  tls_key_file: $D/tls/server.key
  workers: 4
  unseal_rate_per_s: 1000000
  unseal_burst: 1000000
storage:
  path: $D/store
seal:
  type: shamir
counter:
  type: file
audit:
  path: $D/audit.log
YAML
restart_prod "$D" || exit 1
INIT=$(hcurl -X PUT -d '{"secret_shares":1,"secret_threshold":1}' "$ADDR/v1/sys/init")
KEY=$(echo "$INIT" | j '.keys[0]')
ROOT=$(echo "$INIT" | j .root_token)
R="X-Vault-Token: $ROOT"
expect_eq "unsealed after init" "$(unseal_now)" false
expect_eq "kv v2 mounted" "$(status_of -H "$R" -X POST -d '{"type":"kv","options":{"version":"2"}}' "$ADDR/v1/sys/mounts/secret")" 204

OUT=$(timeout $((SECS * 3 + 60)) python3 "$PY" storm "$PORT" "$CA" "$ROOT" "$KEY" "$D" "$SECS" 2>&1)
printf '%s\n' "$OUT" | sed 's/^/# /'
expect_eq "storm: no acknowledged write lost or changed, no fatal or freshness verdict" "$(result "$OUT")" 0
check "storm: the server is still up" kill -0 "$PID"
N=$(printf '%s\n' "$OUT" | sed -n 's/^storm: [0-9]* acknowledged writes, \([0-9]*\) seals, \([0-9]*\) unseals.*/\1 \2/p')
check "storm: sealed by the operator and unsealed again, many times ($N)" \
    sh -c "set -- $N; [ \"\${1:-0}\" -ge 5 ] && [ \"\${2:-0}\" -ge 5 ]"
check "storm: every write went somewhere" test -s "$D/acked"
check "log: the data directory was never opened twice (tresor.lock)" sh -c "! grep -q 'held by another Tresor store' '$LOG'"
check "log: no failed store open" sh -c "! grep -q 'storage did not open' '$LOG'"
check "log: no fatal error, rollback or tamper verdict" \
    sh -c "! grep -qiE 'fatal|rollback detected|tamper' '$LOG'"
check "log: no sanitizer report" sh -c "! grep -qE 'Sanitizer|runtime error' '$LOG'"

expect_eq "unseals after the storm" "$(unseal_now)" false
OUT=$(python3 "$PY" verify "$PORT" "$CA" "$ROOT" "$D" 2>&1)
printf '%s\n' "$OUT" | grep -v '^RESULT' | sed 's/^/# /'
expect_eq "every acknowledged write is there with its value" "$(result "$OUT")" 0

stop_prod
expect_eq "stops cleanly (exit 0)" "$?" 0
check "log: no sanitizer report at shutdown" sh -c "! grep -qE 'Sanitizer|runtime error' '$LOG'"
FIRST=$LOG
restart_prod "$D" || exit 1
expect_eq "restarted: unseals (the store opens cleanly)" "$(unseal_now)" false
SS=$(hcurl "$ADDR/v1/sys/seal-status")
expect_eq "restarted: no sealed_reason" "$(echo "$SS" | j '.sealed_reason // "none"')" none
OUT=$(python3 "$PY" verify "$PORT" "$CA" "$ROOT" "$D" 2>&1)
printf '%s\n' "$OUT" | grep -v '^RESULT' | sed 's/^/# /'
expect_eq "restarted: every acknowledged write is still there" "$(result "$OUT")" 0
check "restarted log: store opened once, no lock, open or verdict errors" \
    sh -c "[ \$(grep -c 'open: counter' '$LOG') -eq 1 ] && ! grep -qE 'held by another|storage did not open|fatal|rollback detected|tamper' '$LOG'"
stop_prod
expect_eq "stops cleanly again (exit 0)" "$?" 0
check "no sanitizer report in either run" sh -c "! grep -qE 'Sanitizer|runtime error' '$FIRST' '$LOG'"
finish
