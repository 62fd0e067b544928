#!/bin/sh
# mk/deploy-check.sh must pass on an unmodified copy of deploy/ and fail on broken ones.
# Each broken copy changes one thing; the run is limited to the section that covers it
# (DEPLOY_CHECK_ONLY) to keep the test fast. Prints ok/not ok lines and "N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
T_N=0
T_FAIL=0
tmp=$(mktemp -d /tmp/tresor-deploy-test-XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

ok() {
    T_N=$((T_N + 1))
    echo "ok $T_N - $1"
}
not_ok() {
    T_N=$((T_N + 1))
    T_FAIL=$((T_FAIL + 1))
    echo "not ok $T_N - $1"
}

fresh() { # fresh NAME: a pristine copy of deploy/ at $tmp/NAME/deploy
    rm -rf "${tmp:?}/$1"
    mkdir -p "$tmp/$1"
    cp -R "$repo/deploy" "$tmp/$1/deploy"
    echo "$tmp/$1"
}

run_check() { # run_check DIR [SECTIONS]: exit status of deploy-check on DIR; output in DIR.log
    DEPLOY_CHECK_ONLY=${2:-} sh "$repo/mk/deploy-check.sh" "$1" >"$1.log" 2>&1
}

# expect_fail DESC SECTION DIR PATTERN: deploy-check fails and its output mentions PATTERN
expect_fail() {
    if run_check "$3" "$2"; then
        not_ok "$1 (deploy-check passed)"
        tail -20 "$3.log"
    elif grep -q -- "$4" "$3.log"; then
        ok "$1"
    else
        not_ok "$1 (failed, but without '$4')"
        grep -E '^(FAIL|    )' "$3.log" | head -20
    fi
}

mutate() { # mutate FILE SED-EXPR: apply and make sure something changed
    cp "$1" "$1.orig"
    sed -i "$2" "$1"
    if cmp -s "$1" "$1.orig"; then
        echo "test bug: '$2' did not change $1" >&2
        return 1
    fi
    rm -f "$1.orig"
}

# 1. The unmodified copy passes every section.
d=$(fresh pristine)
if run_check "$d" "helm kustomize docker systemd gramine"; then
    ok "unmodified deploy/ passes deploy-check ($(grep -c '^ok - ' "$d.log") checks)"
else
    not_ok "unmodified deploy/ passes deploy-check"
    grep -E '^(FAIL|    )' "$d.log" | head -40
fi

# 2. Helm: runAsNonRoot removed from the server's pod and container security contexts.
d=$(fresh no-nonroot)
mutate "$d/deploy/kubernetes/helm/tresor/templates/statefulset.yaml" '/runAsNonRoot: true/d' &&
    mutate "$d/deploy/kubernetes/helm/tresor/templates/_helpers.tpl" '/runAsNonRoot: true/d' &&
    expect_fail "helm: a pod without runAsNonRoot is refused" helm "$d" "runAsNonRoot is not true"

# 3. Kustomize: a manifest that is not valid YAML.
d=$(fresh bad-yaml)
mutate "$d/deploy/kubernetes/kustomize/base/services.yaml" 's/^  clusterIP: None$/  clusterIP: None\n    ports: [/' &&
    expect_fail "kustomize: invalid YAML is refused" kustomize "$d" "FAIL: kustomize"

# 4. Kustomize: a field of the wrong type (replicas as a string).
d=$(fresh bad-type)
mutate "$d/deploy/kubernetes/kustomize/base/statefulset.yaml" 's/^  replicas: 1$/  replicas: "one"/' &&
    expect_fail "kustomize: a field of the wrong type is refused" kustomize "$d" "replicas must be integer"

# 5. Kustomize: a misspelt field (strict schema check).
d=$(fresh unknown-field)
mutate "$d/deploy/kubernetes/kustomize/base/statefulset.yaml" 's/readOnlyRootFilesystem: true/readOnlyRootFileSystem: true/' &&
    expect_fail "kustomize: an unknown field is refused" kustomize "$d" "unknown field"

# 6. Helm: the readiness probe pointing at the liveness URL (a sealed pod would look ready).
d=$(fresh bad-probe)
mutate "$d/deploy/kubernetes/helm/tresor/templates/statefulset.yaml" 's|path: /v1/sys/health$|path: /v1/sys/health?sealedcode=200|' &&
    expect_fail "helm: a readiness probe that passes while sealed is refused" helm "$d" "readinessProbe must be"

# 7. Helm: requests != limits (not Guaranteed QoS).
d=$(fresh burstable)
mutate "$d/deploy/kubernetes/helm/tresor/templates/statefulset.yaml" '0,/memory: {{ .Values.resources.memory | quote }}/s//memory: "64Mi"/' &&
    expect_fail "helm: a Burstable server pod is refused" helm "$d" "not Guaranteed QoS"

# 8. Kustomize: the native sidecar turned into a plain init container.
d=$(fresh no-sidecar)
mutate "$d/deploy/kubernetes/kustomize/example-app/deployment.yaml" '/restartPolicy: Always/d' &&
    expect_fail "kustomize: the example app without a native sidecar is refused" kustomize "$d" "native sidecar"

# 9. Kustomize: the auth-delegator binding dropped from the TPM overlay's component.
d=$(fresh no-delegator)
mutate "$d/deploy/kubernetes/kustomize/components/kubernetes-auth/clusterrolebinding.yaml" 's/name: system:auth-delegator/name: view/' &&
    expect_fail "kustomize: kubernetes auth without system:auth-delegator is refused" kustomize "$d" "system:auth-delegator"

# 10. Config: a tresor.yaml key that docs/configuration.md does not know.
d=$(fresh bad-config)
mutate "$d/deploy/kubernetes/kustomize/base/tresor.yaml" 's/^  scrub_interval_s: 3600$/  scrub_interval: 3600/' &&
    expect_fail "kustomize: an unknown tresor.yaml key is refused" kustomize "$d" "not in docs/configuration.md"

# 11. Dockerfile: the runtime stage running as root.
d=$(fresh docker-root)
mutate "$d/deploy/Dockerfile" 's/^USER 10001:10001$/USER root/' &&
    expect_fail "docker: USER root is refused" docker "$d" "not a numeric non-root uid"

# 12. Dockerfile: ADD of a URL.
d=$(fresh docker-add)
mutate "$d/deploy/Dockerfile" 's|^COPY --from=build /out/tresord /out/tresor /usr/local/bin/$|&\nADD https://example.invalid/tool /usr/local/bin/tool|' &&
    expect_fail "docker: ADD of a URL is refused" docker "$d" "ADD of a URL"

# 13. systemd: NoNewPrivileges removed.
d=$(fresh unit)
mutate "$d/deploy/systemd/tresord.service" '/^NoNewPrivileges=yes$/d' &&
    expect_fail "systemd: a unit without NoNewPrivileges is refused" systemd "$d" "missing: NoNewPrivileges=yes"

# 14. Gramine: the data directory no longer encrypted.
d=$(fresh gramine)
mutate "$d/deploy/gramine/tresord.manifest.template" 's/{ type = "encrypted", path = "\/var\/lib\/tresor"/{ path = "\/var\/lib\/tresor"/' &&
    expect_fail "gramine: a plain data mount is refused" gramine "$d" "not an encrypted mount"

# 15. Kustomize: the agent config in the format guessed before `tresor agent` existed (a Go-template
#     action). The schema check must refuse it, and so must the real agent when bin/tresor is built
#     (mk/deploy-check.sh feeds every agent.yaml to `tresor agent`, which loads it and stops at a
#     plain-http address before any connection).
d=$(fresh agent-gotemplate)
mutate "$d/deploy/kubernetes/kustomize/example-app/agent.yaml" \
    's|{{ secret "secret/data/example-app/db" "username" }}|{{ with secret "secret/data/example-app/db" }}{{ .Data.data.username }}{{ end }}|' &&
    expect_fail "kustomize: a Go-template agent template is refused" kustomize "$d" \
        "bad template in 'templates\[0\].contents': line 1, column 16: unknown function 'with'"
if [ -x "$repo/bin/tresor" ]; then
    if grep -q "tresor agent rejects the config: agent.yaml:[0-9]*: bad template" "$d.log"; then
        ok "kustomize: bin/tresor itself rejects that agent config"
    else
        not_ok "kustomize: bin/tresor itself rejects that agent config"
        grep -E '^(FAIL|    )' "$d.log" | head -20
    fi
fi

# 16. Kustomize: an agent key the agent does not have (the guessed `exit_after_auth`).
d=$(fresh agent-unknown-key)
mutate "$d/deploy/kubernetes/kustomize/example-app/agent.yaml" 's|^refresh_interval: 60s$|&\nexit_after_auth: true|' &&
    expect_fail "kustomize: an unknown agent config key is refused" kustomize "$d" "unknown key 'exit_after_auth'"

# 17. Kustomize: a rendered file the app cannot read (0400: owner = the agent's uid only).
d=$(fresh agent-perms)
mutate "$d/deploy/kubernetes/kustomize/example-app/agent.yaml" '0,/perms: "0440"/s//perms: "0400"/' &&
    expect_fail "kustomize: a secret file the app cannot read is refused" kustomize "$d" "mode 0400 does not let container app"

# 18. Helm: the sidecar's startupProbe no longer waits for the agent's readiness file.
d=$(fresh agent-probe)
mutate "$d/deploy/kubernetes/helm/tresor/templates/example-app.yaml" '0,\|"/run/tresor/ready"\]|s||"/etc/hostname"]|' &&
    expect_fail "helm: an agent startupProbe that does not wait for the readiness file is refused" helm "$d" "startupProbe must be"

# 19. Helm: a values template in the old Go-template style: the values schema lets any text
#     through, the agent schema check of the rendered ConfigMap does not.
d=$(fresh agent-values)
mutate "$d/deploy/kubernetes/helm/tresor/values.yaml" \
    's|{{ secret "secret/data/example-app/db" "username" }}|{{ .Data.data.username }}|' &&
    expect_fail "helm: a Go-template example-app template is refused" helm "$d" "unknown function '.Data.data.username'"

# 20. Helm: `source` (a template file) is not an example-app value: the chart mounts no such file.
d=$(fresh agent-source)
mutate "$d/deploy/kubernetes/helm/tresor/values.yaml" 's|^      secret: secret/data/example-app/db$|      source: /etc/tresor-agent/db.tmpl|' &&
    expect_fail "helm: an example-app template with source is refused by values.schema.json" helm "$d" \
        "Additional property source is not allowed"

# 21. The manifests' config boots the real server, and the probe URLs of the rendered chart
#     answer as docs/kubernetes.md says: liveness 200 in every state, readiness 200 only unsealed.
probe_semantics() {
    tresord=${TRESORD:-$repo/bin/tresord}
    helm="$repo/.tools/node_modules/.bin/helm"
    for c in "$tresord" "$helm"; do [ -x "$c" ] || { echo "missing $c"; return 1; }; done
    w="$tmp/probe"
    mkdir -p "$w"
    "$helm" template tresor "$repo/deploy/kubernetes/helm/tresor" --kube-version 1.30.0 >"$w/r.yaml" || return 1
    live=$(sed -n '/livenessProbe:/,/path:/s/^ *path: //p' "$w/r.yaml")
    ready=$(sed -n '/readinessProbe:/,/path:/s/^ *path: //p' "$w/r.yaml")
    if [ -z "$live" ] || [ -z "$ready" ]; then
        echo "probe paths not found"
        return 1
    fi
    openssl req -x509 -new -noenc -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$w/tls.key" \
        -out "$w/tls.crt" -days 1 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 2>/dev/null || return 1
    sed -e 's|"0.0.0.0:8200"|"127.0.0.1:0"|' -e "s|/etc/tresor/tls/|$w/|" -e "s|/var/lib/tresor|$w/data|" \
        -e "s|/var/log/tresor/|$w/|" "$repo/deploy/kubernetes/kustomize/base/tresor.yaml" >"$w/tresor.yaml"
    "$tresord" -config "$w/tresor.yaml" >"$w/log" 2>&1 &
    pid=$!
    port=""
    i=0
    while [ -z "$port" ] && [ $i -lt 100 ]; do
        port=$(sed -n 's/.*listening on .*(port \([0-9]*\),.*/\1/p' "$w/log" | head -1)
        sleep 0.1
        i=$((i + 1))
    done
    [ -n "$port" ] || { cat "$w/log"; kill "$pid" 2>/dev/null; return 1; }
    base="https://127.0.0.1:$port"
    code() { curl -s -o /dev/null -w '%{http_code}' --cacert "$w/tls.crt" "$base$1"; }
    states() { echo "$1: liveness $(code "$live") readiness $(code "$ready")"; }
    got=$(states uninitialised)
    init=$(curl -s --cacert "$w/tls.crt" -X PUT -d '{"secret_shares":1,"secret_threshold":1}' "$base/v1/sys/init")
    key=$(echo "$init" | jq -r '.keys_base64[0] // .keys[0]')
    tok=$(echo "$init" | jq -r .root_token)
    got="$got; $(states sealed)"
    curl -s -o /dev/null --cacert "$w/tls.crt" -X PUT -d "{\"key\":\"$key\"}" "$base/v1/sys/unseal"
    got="$got; $(states unsealed)"
    curl -s -o /dev/null --cacert "$w/tls.crt" -X PUT -H "X-Vault-Token: $tok" "$base/v1/sys/seal"
    got="$got; $(states resealed)"
    kill -TERM "$pid"
    wait "$pid"
    rc=$?
    want="uninitialised: liveness 200 readiness 501; sealed: liveness 200 readiness 503; unsealed: liveness 200 readiness 200; resealed: liveness 200 readiness 503"
    echo "$got"
    [ "$got" = "$want" ] && [ "$rc" -eq 0 ]
}
if probe_semantics >"$tmp/probe.log" 2>&1; then
    ok "probes: the manifests' config boots tresord; liveness 200 in every state, readiness 200 only unsealed; SIGTERM exits 0"
else
    not_ok "probes: the manifests' config boots tresord and the probe URLs answer as documented"
    cat "$tmp/probe.log"
fi

echo "$((T_N - T_FAIL)) passed, $T_FAIL failed"
[ "$T_FAIL" -eq 0 ]
