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

# The less common commands node-vault wraps, on a second fresh server, compared with what Vault
# answers (status codes: node-vault resolves only 200 and 204).
D2=$(tmpdir)
start_prod "$D2" || exit 1
VAULT_ADDR="$ADDR" NODE_EXTRA_CA_CERTS="$CA" NODE_DIR="$NODE_DIR" node - <<'JSEOF' || rc=1
'use strict';
const vaultLib = require(`${process.env.NODE_DIR}/node_modules/node-vault`);

const endpoint = process.env.VAULT_ADDR;
let n = 0;
let failed = 0;
function ok(cond, desc) {
  n += 1;
  if (cond) console.log(`ok ${n} - ${desc}`);
  else { failed += 1; console.log(`not ok ${n} - ${desc}`); }
}
function eq(desc, got, want) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  ok(g === w, g === w ? desc : `${desc} (got ${g}, want ${w})`);
}
async function status(p) {
  try { await p; return 200; } catch (e) { return e.response ? e.response.statusCode : e.message; }
}
async function failure(p) {
  try { await p; return null; } catch (e) { return e.response || { statusCode: e.message }; }
}
// node-vault shares request options between clients made in one process: a fresh one per role
const as = (token) => vaultLib({ apiVersion: 'v1', endpoint, token });

async function main() {
  const init = await as().init({ secret_shares: 1, secret_threshold: 1 });
  await as().unseal({ key: init.keys[0] });
  const R = init.root_token;
  const h = await as().health({ standbyok: true });
  ok(h.standby === false && Number.isInteger(h.server_time_utc), 'health with standbyok');

  // KV v1 as node-vault's examples use it: a "lease" field sets the read's lease_duration
  await as(R).mount({ mount_point: 'kv', type: 'kv' });
  await as(R).write('kv/hello', { value: 'world', lease: '1s' });
  const r1 = await as(R).read('kv/hello');
  eq('kv v1 read: data', r1.data, { lease: '1s', value: 'world' });
  eq('kv v1 read: lease_duration from "lease"', r1.lease_duration, 1);
  await as(R).write('kv/dir/sub/x', { a: 'b' });
  eq('kv v1 list of a nested folder', (await as(R).list('kv/dir')).data.keys, ['sub/']);
  await as(R).delete('kv/hello');
  eq('kv v1 deleted key is 404', await status(as(R).read('kv/hello')), 404);

  // KV v2: versions, PATCH, subkeys, destroy, metadata
  await as(R).mount({ mount_point: 'secret', type: 'kv-v2' });
  await as(R).write('secret/data/app', { data: { a: 1, b: { c: 2 } } });
  await as(R).update('secret/data/app', { data: { a: null, d: 'e' } });
  eq('PATCH merged', (await as(R).read('secret/data/app')).data.data, { b: { c: 2 }, d: 'e' });
  eq('read ?version=1', (await as(R).read('secret/data/app?version=1')).data.data, { a: 1, b: { c: 2 } });
  eq('subkeys', (await as(R).read('secret/subkeys/app')).data.subkeys, { b: { c: null }, d: null });
  await as(R).destroySecretVersions({ mount_point: 'secret', path: 'app', versions: [1] });
  const md = (await as(R).read('secret/metadata/app')).data;
  ok(md.versions['1'].destroyed === true && md.current_version === 2, 'destroySecretVersions');
  await as(R).write('secret/metadata/app', { custom_metadata: { k: 'v', x: 'y' } });
  await as(R).update('secret/metadata/app', { custom_metadata: { k: null } });
  eq('metadata PATCH removes a custom_metadata key',
    (await as(R).read('secret/metadata/app')).data.custom_metadata, { x: 'y' });
  // PATCH of a deleted latest version: 404 with that version's metadata, as Vault
  await as(R).delete('secret/data/app');
  const pf = await failure(as(R).update('secret/data/app', { data: { q: 1 } }));
  const pd = pf && pf.body && pf.body.data;
  ok(pf && pf.statusCode === 404 && pd && pd.version === 2 && pd.deletion_time !== ''
    && pd.destroyed === false && pd.custom_metadata.x === 'y',
  `PATCH of a deleted version: 404 with its metadata (${pf && JSON.stringify(pf.body)})`);

  // policies (legacy API, "rules")
  await as(R).addPolicy({ name: 'reader', rules: 'path "secret/data/*" { capabilities = ["read"] }' });
  ok((await as(R).getPolicy({ name: 'reader' })).rules.includes('secret/data/*'), 'getPolicy rules');
  await as(R).removePolicy({ name: 'reader' });
  eq('removed policy is 404', await status(as(R).getPolicy({ name: 'reader' })), 404);

  // tokens
  const t = (await as(R).tokenCreate({ policies: ['default'], ttl: '1h', meta: { n: 1, s: 'x' } })).auth;
  eq('meta values come back as strings', t.metadata, { n: '1', s: 'x' });
  const la = (await as(R).tokenLookupAccessor({ accessor: t.accessor })).data;
  ok(la.id === '' && la.accessor === t.accessor && typeof la.ttl === 'number', 'tokenLookupAccessor');
  const rn = (await as(R).tokenRenew({ token: t.client_token, increment: '2h' })).auth;
  ok(rn.client_token === t.client_token && rn.lease_duration === 7200, 'tokenRenew');
  await as(R).tokenRevokeAccessor({ accessor: t.accessor });
  const again = await as(R).tokenRevokeAccessor({ accessor: t.accessor });
  eq('tokenRevokeAccessor again: 200 with the warning', again && again.warnings,
    ['No token found with this accessor']);
  eq('tokenLookupAccessor of a revoked token: 400', await status(as(R).tokenLookupAccessor({ accessor: t.accessor })), 400);
  eq('tokenRenew of a revoked token: 400', await status(as(R).tokenRenew({ token: t.client_token })), 400);
  eq('tokenLookup of a revoked token: 403', await status(as(R).tokenLookup({ token: t.client_token })), 403);
  eq('tokenRevoke of a revoked token succeeds', await status(as(R).tokenRevoke({ token: t.client_token })), 200);
  const s = (await as(R).tokenCreate({ policies: ['default'], ttl: '10m' })).auth.client_token;
  eq('tokenRenewSelf', (await as(s).tokenRenewSelf({ increment: 60 })).auth.lease_duration, 60);
  await as(s).tokenRevokeSelf();
  eq('revoked self token: 403', await status(as(s).tokenLookupSelf()), 403);
}

main().catch((e) => {
  console.log(`not ok - unexpected error: ${e.message} ${e.response ? JSON.stringify(e.response.body) : ''}`);
  failed += 1;
}).finally(() => {
  console.log(`${n - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
});
JSEOF
stop_prod
exit $rc
