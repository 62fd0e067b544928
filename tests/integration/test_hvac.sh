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
exit $rc
