// Drives a real tresord with node-vault (a stock Vault client) through the admin flow:
// init -> unseal -> KV v2 write/read/list/delete -> policy -> token -> allowed/denied ->
// seal -> sealed errors -> unseal. Prints TAP-ish lines; exits non-zero on failure.
'use strict';
const vaultLib = require('node-vault');

const endpoint = process.env.VAULT_ADDR;
let n = 0;
let failed = 0;
function ok(cond, desc) {
  n += 1;
  if (cond) console.log(`ok ${n} - ${desc}`);
  else { failed += 1; console.log(`not ok ${n} - ${desc}`); }
}
async function expectError(p, status, desc) {
  try { await p; ok(false, `${desc} (no error)`); }
  catch (e) { ok(e.response && e.response.statusCode === status, `${desc} (${e.response ? e.response.statusCode : e.message})`); }
}

async function main() {
  const v = vaultLib({ apiVersion: 'v1', endpoint });
  const status0 = await v.status();
  ok(status0.sealed === true && status0.initialized === false, 'status before init');
  const init = await v.init({ secret_shares: 2, secret_threshold: 2 });
  ok(Array.isArray(init.keys) && init.keys.length === 2, 'init returns keys');
  await expectError(v.init({ secret_shares: 1, secret_threshold: 1 }), 400, 'second init refused');
  let st = await v.unseal({ key: init.keys[0] });
  ok(st.sealed === true && st.progress === 1, 'unseal progress');
  st = await v.unseal({ key: init.keys[1] });
  ok(st.sealed === false, 'unsealed');
  v.token = init.root_token;
  const health = await v.health();
  ok(health.initialized === true && health.sealed === false, 'health');
  await v.mount({ mount_point: 'secret', type: 'kv', options: { version: '2' } });
  const mounts = await v.mounts();
  ok(Object.prototype.hasOwnProperty.call(mounts, 'secret/'), 'mounts lists secret/ at top level');
  await v.write('secret/data/app/db', { data: { password: 's3cret' } });
  const r = await v.read('secret/data/app/db');
  ok(r.data.data.password === 's3cret' && r.data.metadata.version === 1, 'kv v2 read');
  const l = await v.list('secret/metadata/app');
  ok(l.data.keys.length === 1 && l.data.keys[0] === 'db', 'list with the LIST verb');
  await expectError(v.read('secret/data/nope'), 404, 'missing secret is 404');
  await v.addPolicy({ name: 'reader', rules: 'path "secret/data/app/*" { capabilities = ["read"] }' });
  const pols = await v.policies();
  ok(pols.policies.includes('reader'), 'policies listed');
  const tok = await v.tokenCreate({ policies: ['reader'], ttl: '1h' });
  ok(typeof tok.auth.client_token === 'string', 'token create');
  const child = vaultLib({ apiVersion: 'v1', endpoint, token: tok.auth.client_token });
  const self = await child.tokenLookupSelf();
  ok(self.data.policies.includes('reader') && typeof self.data.ttl === 'number', 'lookup-self');
  const cr = await child.read('secret/data/app/db');
  ok(cr.data.data.password === 's3cret', 'allowed read with the child token');
  await expectError(child.write('secret/data/app/db', { data: { x: 1 } }), 403, 'denied write');
  // node-vault keeps request options shared between clients: use a fresh root client
  const r2 = vaultLib({ apiVersion: 'v1', endpoint, token: init.root_token });
  await r2.delete('secret/data/app/db');
  await expectError(r2.read('secret/data/app/db'), 404, 'deleted version is 404');
  await r2.seal();
  await expectError(r2.read('secret/data/app/db'), 503, 'sealed is 503');
  await r2.unseal({ key: init.keys[0] });
  await r2.unseal({ key: init.keys[1] });
  const md = await r2.read('secret/metadata/app/db');
  ok(md.data.current_version === 1, 'metadata after unseal');
  console.log(`${n - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.log(`not ok - unexpected error: ${e.message} ${e.response ? JSON.stringify(e.response.body) : ''}`);
  process.exit(1);
});
