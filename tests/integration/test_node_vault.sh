#!/bin/sh
# A real Vault client library (node-vault, from npm) against tresord over TLS.
. "$(dirname "$0")/lib.sh"
NODE_DIR="$(cd "$(dirname "$0")/../node" && pwd)"
if [ ! -d "$NODE_DIR/node_modules/node-vault" ]; then
    echo "node-vault missing: run 'make deps' (it runs npm ci in tests/node)"
    exit 1
fi
D=$(tmpdir)
start_prod "$D" || exit 1
VAULT_ADDR="$ADDR" NODE_EXTRA_CA_CERTS="$CA" node "$NODE_DIR/vault_flow.js"
rc=$?
stop_prod
exit $rc
