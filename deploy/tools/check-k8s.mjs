// Offline checks of rendered Kubernetes manifests, used by mk/deploy-check.sh.
//
//   node check-k8s.mjs [options] FILE       (run from the tools dir, so node_modules resolves)
//     --name NAME            label for messages
//     --expect LIST          comma list of: server, auth, noauth, sidecar, tpm-plugin,
//                            tpm-hostpath, namespace-restricted
//     --config-doc FILE      docs/configuration.md: its YAML block defines the allowed config keys
//     --tresord BIN          also feed every tresor.yaml to the real config loader
//   node check-k8s.mjs --values-doc values.yaml values.schema.json
//
// Per object: YAML parses (duplicate keys are errors); the object validates against the
// Kubernetes OpenAPI schema compiled in the npm package kubernetes-models (types, enums,
// required fields, formats); and no field is unknown to that schema (strict mode, as the API
// server's field validation). Then the Tresor-specific assertions listed in docs/kubernetes.md.
// Exit status 1 with one line per problem.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import YAML from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
const nm = path.join(here, "node_modules");
const problems = [];
let name = "manifests";
const fail = (msg) => problems.push(`${name}: ${msg}`);

// ---------------------------------------------------------------------------------------------
// Strict field check: the .d.ts files of kubernetes-models list every property of every type.

const dtsCache = new Map();

// A small parser for the type expressions in those files: identifiers, string literals,
// Array<T>, inline object types { "a"?: T; [key: string]: T; }, unions and T["kind"].
function tokenize(text) {
  const toks = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|[A-Za-z_$][\w$]*|-?\d+(?:\.\d+)?|[{}<>\[\]:;|?,()=&])/gy;
  let m;
  while ((m = re.exec(text))) toks.push(m[1]);
  return toks;
}

function parseTypeExpr(toks, pos) {
  const alts = [];
  for (;;) {
    const [t, p] = parsePrimary(toks, pos);
    alts.push(t);
    pos = p;
    if (toks[pos] === "|") pos++;
    else break;
  }
  if (alts.length === 1) return [alts[0], pos];
  return [{ kind: "leaf" }, pos];
}

function parseMembers(toks, pos) {
  const props = new Map();
  let index = null;
  while (toks[pos] !== "}") {
    if (toks[pos] === "[") {
      // [key: string]: T;
      pos += 6;
      const [t, p] = parseTypeExpr(toks, pos);
      index = t;
      pos = p;
    } else {
      const key = JSON.parse(toks[pos++]);
      if (toks[pos] === "?") pos++;
      pos++; // ':'
      const [t, p] = parseTypeExpr(toks, pos);
      props.set(key, t);
      pos = p;
    }
    if (toks[pos] === ";") pos++;
  }
  return [props.size || !index ? { kind: "obj", props } : { kind: "map", of: index }, pos + 1];
}

function parsePrimary(toks, pos) {
  const t = toks[pos];
  if (t === "Array" && toks[pos + 1] === "<") {
    const [of, p] = parseTypeExpr(toks, pos + 2);
    return [{ kind: "array", of }, p + 1];
  }
  if (t === "{") return parseMembers(toks, pos + 1);
  if (t.startsWith('"') || /^-?\d/.test(t)) return [{ kind: "leaf" }, pos + 1];
  if (toks[pos + 1] === "[") return [{ kind: "leaf" }, pos + 4]; // IFoo["kind"]
  return [{ kind: "ref", name: t }, pos + 1];
}

function parseDts(file) {
  if (dtsCache.has(file)) return dtsCache.get(file);
  let text;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    dtsCache.set(file, null);
    return null;
  }
  text = text.replace(/\/\*[\s\S]*?\*\//g, "");
  const imports = new Map();
  for (const m of text.matchAll(/import \{([^}]*)\} from "([^"]+)";/g))
    for (const n of m[1].split(",").map((s) => s.trim()).filter(Boolean))
      imports.set(n.replace(/^type /, ""), m[2]);
  const aliases = new Map(); // exported name -> local name
  for (const m of text.matchAll(/export type \{([^}]*)\};/g))
    for (const part of m[1].split(",")) {
      const [local, , exported] = part.trim().split(/\s+/);
      if (exported) aliases.set(exported, local);
    }
  const typeAliases = new Map();
  for (const m of text.matchAll(/export type (\w+) = ([^;]+);/g)) typeAliases.set(m[1], parseTypeExpr(tokenize(m[2]), 0)[0]);
  const interfaces = new Map();
  for (const m of text.matchAll(/export interface (\w+)(?: extends [^{]+)? \{\n([\s\S]*?)\n\}/g))
    interfaces.set(m[1], parseMembers([...tokenize(m[2]), "}"], 0)[0]);
  const info = { file, imports, aliases, typeAliases, interfaces };
  dtsCache.set(file, info);
  return info;
}

function resolveModule(fromFile, spec) {
  if (spec.startsWith(".")) return path.resolve(path.dirname(fromFile), spec.replace(/\.js$/, ".d.ts"));
  return path.join(nm, spec.replace(/\.js$/, "") + ".d.ts");
}

// Follow a named type to its object/map/array/leaf description.
function deref(info, t, depth = 0) {
  if (!t || t.kind !== "ref" || depth > 20) return t?.kind === "ref" ? { kind: "leaf" } : t;
  const n = t.name;
  if (["string", "number", "boolean", "any", "object", "unknown", "null"].includes(n)) return { kind: "leaf" };
  if (info.interfaces.has(n)) return { ...info.interfaces.get(n), info };
  if (info.typeAliases.has(n)) return deref(info, info.typeAliases.get(n), depth + 1);
  if (info.imports.has(n)) {
    const target = parseDts(resolveModule(info.file, info.imports.get(n)));
    if (!target) return { kind: "leaf" };
    return deref(target, { kind: "ref", name: target.aliases.get(n) || n }, depth + 1);
  }
  return { kind: "leaf" };
}

function strictWalk(value, info, type, where, errors) {
  type = deref(info, type);
  if (type.info) info = type.info;
  if (value === null || value === undefined) return;
  if (type.kind === "array") {
    if (Array.isArray(value)) value.forEach((v, i) => strictWalk(v, info, type.of, `${where}[${i}]`, errors));
  } else if (type.kind === "map") {
    if (typeof value === "object" && !Array.isArray(value))
      for (const [k, v] of Object.entries(value)) strictWalk(v, info, type.of, `${where}.${k}`, errors);
  } else if (type.kind === "obj") {
    if (typeof value !== "object" || Array.isArray(value)) return; // the schema reports type errors
    for (const [k, v] of Object.entries(value)) {
      if (!type.props.has(k)) errors.push(`unknown field ${where}.${k}`);
      else strictWalk(v, info, type.props.get(k), `${where}.${k}`, errors);
    }
  }
}

function modelDir(apiVersion) {
  return apiVersion.includes("/") ? apiVersion : apiVersion; // "v1" or "group/version"
}

async function validateObject(obj, where) {
  const dir = modelDir(obj.apiVersion);
  const dts = path.join(nm, "kubernetes-models", dir, `${obj.kind}.d.ts`);
  if (!fs.existsSync(dts)) {
    fail(`${where}: no schema for ${obj.apiVersion} ${obj.kind} (unknown kind or API version)`);
    return;
  }
  const mod = await import(`kubernetes-models/${dir}/${obj.kind}`);
  const Model = mod[obj.kind];
  try {
    new Model(obj).validate();
  } catch (e) {
    for (const line of String(e.message).split(/,\s*(?=data)/)) fail(`${where}: schema: ${line}`);
  }
  const errors = [];
  strictWalk(obj, parseDts(dts), { kind: "ref", name: `I${obj.kind}` }, obj.kind, errors);
  for (const e of errors) fail(`${where}: ${e}`);
}

// ---------------------------------------------------------------------------------------------
// Tresor config (tresor.yaml) against docs/configuration.md.

const CONFIG_ENUMS = {
  "listener.tls_profile": ["modern", "intermediate"],
  "seal.type": ["tpm2", "shamir", "devkey", "gramine"],
  "counter.type": ["tpm2", "file"],
  "log.level": ["error", "warn", "info", "debug"],
  "log.format": ["text", "json"],
};
const CONFIG_REQUIRED = ["listener.address", "listener.tls_cert_file", "listener.tls_key_file", "storage.path", "seal.type"];

function kindOf(v) {
  if (Array.isArray(v)) return "list";
  if (v === null) return "null";
  if (typeof v === "object") return "map";
  if (typeof v === "bigint") return "int";
  if (typeof v === "number") return "float"; // parsed with intAsBigInt: integers are bigint
  return typeof v; // string, boolean
}

function docConfigKeys(docFile) {
  const md = fs.readFileSync(docFile, "utf8");
  const m = md.match(/```yaml\n([\s\S]*?)```/);
  if (!m) throw new Error(`${docFile}: no yaml block`);
  const doc = YAML.parse(m[1], { intAsBigInt: true, version: "1.1" });
  const keys = new Map();
  (function walk(o, prefix) {
    for (const [k, v] of Object.entries(o)) {
      const p = prefix ? `${prefix}.${k}` : k;
      keys.set(p, kindOf(v));
      if (kindOf(v) === "map") walk(v, p);
    }
  })(doc, "");
  return keys;
}

function checkTresorConfig(text, where, docKeys, tresord) {
  let cfg;
  try {
    cfg = YAML.parse(text, { uniqueKeys: true, version: "1.1", intAsBigInt: true });
  } catch (e) {
    fail(`${where}: tresor.yaml is not valid YAML: ${e.message.split("\n")[0]}`);
    return null;
  }
  if (kindOf(cfg) !== "map") {
    fail(`${where}: tresor.yaml is not a mapping`);
    return null;
  }
  (function walk(o, prefix) {
    for (const [k, v] of Object.entries(o)) {
      const p = prefix ? `${prefix}.${k}` : k;
      const want = docKeys.get(p);
      const got = kindOf(v);
      if (!want) {
        fail(`${where}: tresor.yaml key '${p}' is not in docs/configuration.md`);
        continue;
      }
      const ok =
        want === got ||
        (want === "int" && got === "string" && /^0x[0-9a-f]+$/i.test(v)) ||
        (want === "list" && got === "list" && v.every((x) => typeof x === "bigint"));
      if (!ok) fail(`${where}: tresor.yaml key '${p}' is ${got}, docs/configuration.md has ${want} (value ${String(v)})`);
      if (got === "map") walk(v, p);
      if (CONFIG_ENUMS[p] && !CONFIG_ENUMS[p].includes(v)) fail(`${where}: tresor.yaml ${p}: '${v}' is not one of ${CONFIG_ENUMS[p].join("|")}`);
    }
  })(cfg, "");
  for (const r of CONFIG_REQUIRED)
    if (r.split(".").reduce((o, k) => (o && typeof o === "object" ? o[k] : undefined), cfg) === undefined)
      fail(`${where}: tresor.yaml lacks the required key '${r}'`);
  for (const t of ["seal", "counter"])
    if (cfg[t]?.type === "tpm2" && !cfg[t]?.tpm2?.tcti) fail(`${where}: ${t}.type tpm2 without ${t}.tpm2.tcti`);
  if (tresord) runRealLoader(text, where, tresord);
  return cfg;
}

// The real loader: tresord parses the config first and exits 2 on any config error. The copy
// points every path into a scratch directory and the TCTI at a closed port, so the server
// fails harmlessly right after the config stage (no TLS files), or is stopped by the timeout.
function runRealLoader(text, where, tresord) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tresor-cfgcheck-"));
  try {
    let n = 0;
    const t = text
      .replace(/^(\s*address:\s*).*$/m, `$1"127.0.0.1:0"`)
      .replace(/^(\s*tls_(cert|key|client_ca)_file:\s*).*$/gm, `$1${dir}/missing-$2`)
      .replace(/^(\s*(path|key_file|key_path):\s*).*$/gm, (_, a) => `${a}${dir}/p${n++}`)
      .replace(/(tcti:\s*)("[^"]*"|[^\s,}]+)/g, `$1"swtpm:host=127.0.0.1,port=9"`);
    const file = path.join(dir, "tresor.yaml");
    fs.writeFileSync(file, t);
    const r = spawnSync(tresord, ["-config", file], { cwd: dir, timeout: 10000, encoding: "utf8", env: { ...process.env, TSS2_LOG: "all+none" } });
    if (r.status === 2) fail(`${where}: tresord rejects the config: ${(r.stderr || "").trim().split("\n").slice(-1)[0]}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Tresor assertions.

const LIVENESS = "/v1/sys/health?standbyok=true&sealedcode=200&uninitcode=200";
const READINESS = "/v1/sys/health";
const PSS_VOLUMES = ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"];
const AGENT_KEYS = ["address", "ca_cert", "auth", "templates", "exit_after_auth"];

function podSpecOf(o) {
  if (["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"].includes(o.kind)) return o.spec?.template?.spec;
  if (o.kind === "CronJob") return o.spec?.jobTemplate?.spec?.template?.spec;
  if (o.kind === "Pod") return o.spec;
  return null;
}
const allContainers = (ps) => [...(ps.initContainers || []), ...(ps.containers || [])];
const mountAt = (c, p) => (c.volumeMounts || []).find((m) => m.mountPath === p);
const volumeOf = (ps, n) => (ps.volumes || []).find((v) => v.name === n);

function checkPss(o, ps, where, allowPrivileged) {
  const psc = ps.securityContext || {};
  if (ps.hostNetwork || ps.hostPID || ps.hostIPC) fail(`${where}: host namespaces are not allowed (PSS)`);
  for (const v of ps.volumes || []) {
    const type = Object.keys(v).find((k) => k !== "name");
    if (!PSS_VOLUMES.includes(type) && !(allowPrivileged && type === "hostPath"))
      fail(`${where}: volume ${v.name} of type ${type} violates PSS restricted`);
  }
  for (const c of allContainers(ps)) {
    const sc = c.securityContext || {};
    const w = `${where} container ${c.name}`;
    const priv = allowPrivileged && sc.privileged === true;
    if (!(sc.runAsNonRoot ?? psc.runAsNonRoot)) fail(`${w}: runAsNonRoot is not true`);
    if ((sc.runAsUser ?? psc.runAsUser) === 0) fail(`${w}: runAsUser 0`);
    if (!Number.isInteger(sc.runAsUser ?? psc.runAsUser)) fail(`${w}: no numeric runAsUser`);
    if (!priv && sc.allowPrivilegeEscalation !== false) fail(`${w}: allowPrivilegeEscalation is not false`);
    if (!priv && sc.privileged) fail(`${w}: privileged`);
    if (sc.readOnlyRootFilesystem !== true) fail(`${w}: readOnlyRootFilesystem is not true`);
    if (!(sc.capabilities?.drop || []).includes("ALL")) fail(`${w}: capabilities do not drop ALL`);
    for (const a of sc.capabilities?.add || []) if (a !== "NET_BIND_SERVICE") fail(`${w}: adds capability ${a}`);
    const sp = (sc.seccompProfile ?? psc.seccompProfile)?.type;
    if (!["RuntimeDefault", "Localhost"].includes(sp)) fail(`${w}: seccompProfile is ${sp ?? "unset"}, not RuntimeDefault`);
    for (const p of c.ports || []) if (p.hostPort) fail(`${w}: hostPort`);
  }
}

function checkGuaranteed(ps, where) {
  for (const c of allContainers(ps)) {
    const r = c.resources || {};
    for (const res of ["cpu", "memory"]) {
      const req = r.requests?.[res];
      const lim = r.limits?.[res];
      if (lim === undefined) fail(`${where} container ${c.name}: no ${res} limit (Guaranteed QoS needs requests == limits)`);
      else if (req !== undefined && String(req) !== String(lim))
        fail(`${where} container ${c.name}: ${res} request ${req} != limit ${lim} (not Guaranteed QoS)`);
    }
    for (const [k, v] of Object.entries(r.requests || {}))
      if (r.limits?.[k] === undefined || String(r.limits[k]) !== String(v)) fail(`${where} container ${c.name}: request ${k}=${v} has no equal limit`);
  }
}

function probePath(pr) {
  return pr?.httpGet ? { path: pr.httpGet.path, scheme: pr.httpGet.scheme, port: pr.httpGet.port } : null;
}

function checkServer(objs, expect, docKeys, tresord) {
  const sts = objs.filter((o) => o.kind === "StatefulSet" && podSpecOf(o)?.containers?.some((c) => c.name === "tresord"));
  if (sts.length !== 1) return fail(`expected exactly one StatefulSet with a container "tresord", found ${sts.length}`);
  const s = sts[0];
  const ps = podSpecOf(s);
  const c = ps.containers.find((x) => x.name === "tresord");
  const w = `StatefulSet ${s.metadata.name}`;
  if (s.spec.replicas !== 1) fail(`${w}: replicas must be 1 (one server per data volume)`);
  const psc = ps.securityContext || {};
  if (psc.runAsNonRoot !== true) fail(`${w}: pod securityContext.runAsNonRoot is not true`);
  if ((c.securityContext?.runAsUser ?? psc.runAsUser) !== 10001) fail(`${w}: tresord does not run as uid 10001`);
  if (!Number.isInteger(psc.fsGroup)) fail(`${w}: pod securityContext.fsGroup is not set`);
  if (psc.seccompProfile?.type !== "RuntimeDefault") fail(`${w}: pod seccompProfile is not RuntimeDefault`);
  const https = (c.ports || []).find((p) => p.containerPort === 8200);
  if (!https) fail(`${w}: no containerPort 8200`);
  const portOk = (p) => p === 8200 || (https && p === https.name);
  const lv = probePath(c.livenessProbe);
  const rd = probePath(c.readinessProbe);
  if (!lv || lv.path !== LIVENESS || lv.scheme !== "HTTPS" || !portOk(lv.port))
    fail(`${w}: livenessProbe must be HTTPS GET ${LIVENESS} on 8200, is ${JSON.stringify(lv)}`);
  if (!rd || rd.path !== READINESS || rd.scheme !== "HTTPS" || !portOk(rd.port))
    fail(`${w}: readinessProbe must be HTTPS GET ${READINESS} on 8200, is ${JSON.stringify(rd)}`);
  // data volume: a volumeClaimTemplate mounted at /var/lib/tresor
  const dm = mountAt(c, "/var/lib/tresor");
  const vct = (s.spec.volumeClaimTemplates || []).find((t) => t.metadata?.name === dm?.name);
  if (!dm || !vct) fail(`${w}: /var/lib/tresor is not a volumeClaimTemplate volume`);
  else if (!(vct.spec.accessModes || []).length) fail(`${w}: data claim has no accessModes`);
  else if (expect.has("rwop") && !vct.spec.accessModes.includes("ReadWriteOncePod")) fail(`${w}: data claim is not ReadWriteOncePod`);
  if (!mountAt(c, "/tmp")) fail(`${w}: /tmp is not a volume (read-only root filesystem)`);
  const tlsMount = mountAt(c, "/etc/tresor/tls");
  const tlsVol = tlsMount && volumeOf(ps, tlsMount.name);
  if (!tlsVol?.secret) fail(`${w}: /etc/tresor/tls is not a Secret volume`);
  // config: args -config PATH, PATH inside a ConfigMap volume that has the key
  const args = [...(c.command || []), ...(c.args || [])];
  const i = args.findIndex((a) => a === "-config" || a === "-c" || a === "--config");
  const cfgPath = i >= 0 ? args[i + 1] : "/etc/tresor/tresor.yaml";
  const cm = (c.volumeMounts || []).find((m) => cfgPath.startsWith(m.mountPath + "/"));
  const cmVol = cm && volumeOf(ps, cm.name);
  const cmObj = cmVol?.configMap && objs.find((o) => o.kind === "ConfigMap" && o.metadata.name === cmVol.configMap.name);
  const key = cm && path.posix.relative(cm.mountPath, cfgPath);
  let cfg = null;
  if (!cmObj || !cmObj.data?.[key]) fail(`${w}: config ${cfgPath} does not come from a ConfigMap in this output`);
  else cfg = checkTresorConfig(cmObj.data[key], `ConfigMap ${cmObj.metadata.name}`, docKeys, tresord);
  if (cfg) {
    const under = (p) => (c.volumeMounts || []).find((m) => p && p.startsWith(m.mountPath + "/"));
    if (cfg.storage?.path !== "/var/lib/tresor") fail(`${w}: storage.path is ${cfg.storage?.path}, not the data volume /var/lib/tresor`);
    for (const k of ["tls_cert_file", "tls_key_file"])
      if (under(cfg.listener?.[k])?.mountPath !== "/etc/tresor/tls") fail(`${w}: listener.${k} is not in the TLS Secret mount`);
    if (cfg.listener?.address && !cfg.listener.address.endsWith(":8200")) fail(`${w}: listener.address does not use port 8200`);
    if (cfg.audit?.path) {
      const am = under(cfg.audit.path);
      if (!am || !(s.spec.volumeClaimTemplates || []).some((t) => t.metadata?.name === am.name))
        fail(`${w}: audit.path ${cfg.audit.path} is not on a persistent volume`);
    }
    const tpm = cfg.seal?.type === "tpm2" || cfg.counter?.type === "tpm2";
    for (const t of ["seal", "counter"])
      if (cfg[t]?.type === "tpm2" && cfg[t].tpm2?.tcti !== "device:/dev/tpmrm0") fail(`${w}: ${t}.tpm2.tcti is not device:/dev/tpmrm0`);
    if (expect.has("tpm-plugin") || expect.has("tpm-hostpath")) {
      if (cfg.seal?.type !== "tpm2" || cfg.counter?.type !== "tpm2") fail(`${w}: TPM expected but seal/counter are ${cfg.seal?.type}/${cfg.counter?.type}`);
    } else if (tpm) fail(`${w}: config uses tpm2 but no TPM is given to the pod`);
  }
  // TPM
  const tpmRes = Object.keys(c.resources?.limits || {}).filter((k) => /tpm/i.test(k));
  const hostTpm = (ps.volumes || []).find((v) => v.hostPath?.path === "/dev/tpmrm0");
  if (expect.has("tpm-plugin")) {
    if (!tpmRes.length) fail(`${w}: no TPM device-plugin resource in limits`);
    if (hostTpm) fail(`${w}: device-plugin TPM must not also mount a hostPath`);
  } else if (tpmRes.length) fail(`${w}: unexpected TPM resource ${tpmRes}`);
  if (expect.has("tpm-hostpath")) {
    if (!hostTpm) fail(`${w}: no hostPath /dev/tpmrm0 volume`);
    if (c.securityContext?.privileged !== true) fail(`${w}: hostPath TPM needs a privileged container (device cgroup)`);
  } else if (hostTpm) fail(`${w}: unexpected hostPath /dev/tpmrm0`);
  // services
  const svcs = objs.filter((o) => o.kind === "Service");
  const sel = s.spec.selector.matchLabels;
  const matches = (svc) => svc.spec.selector && Object.entries(svc.spec.selector).every(([k, v]) => sel[k] === v);
  const headless = svcs.find((x) => x.metadata.name === s.spec.serviceName);
  if (!headless || headless.spec.clusterIP !== "None" || !matches(headless)) fail(`${w}: serviceName ${s.spec.serviceName} is not a headless Service selecting the pods`);
  else if (!headless.spec.publishNotReadyAddresses) fail(`${w}: the headless Service must publish not-ready (sealed) pods`);
  const client = svcs.find((x) => x !== headless && matches(x) && (x.spec.ports || []).some((p) => p.port === 8200 || p.targetPort === 8200 || p.targetPort === https?.name));
  if (!client) fail(`${w}: no client Service for port 8200`);
  // kubernetes auth
  const sa = ps.serviceAccountName;
  const ns = s.metadata.namespace;
  const crb = objs.find(
    (o) =>
      o.kind === "ClusterRoleBinding" &&
      o.roleRef?.kind === "ClusterRole" &&
      o.roleRef?.name === "system:auth-delegator" &&
      (o.subjects || []).some((x) => x.kind === "ServiceAccount" && x.name === sa && (!ns || x.namespace === ns)),
  );
  if (!objs.some((o) => o.kind === "ServiceAccount" && o.metadata.name === sa)) fail(`${w}: ServiceAccount ${sa} is not in this output`);
  if (expect.has("auth")) {
    if (!crb) fail(`${w}: no ClusterRoleBinding of ServiceAccount ${sa} to system:auth-delegator`);
    if (ps.automountServiceAccountToken !== true) fail(`${w}: kubernetes auth needs automountServiceAccountToken: true`);
  }
  if (expect.has("noauth")) {
    if (crb) fail(`${w}: auth-delegator binding present although kubernetes auth is off`);
    if (ps.automountServiceAccountToken !== false) fail(`${w}: automountServiceAccountToken must be false without kubernetes auth`);
  }
}

function checkSidecar(objs) {
  const deps = objs.filter((o) => o.kind === "Deployment");
  let found = 0;
  for (const d of deps) {
    const ps = podSpecOf(d);
    const w = `Deployment ${d.metadata.name}`;
    const sc = (ps.initContainers || []).find((c) => c.restartPolicy === "Always" && [...(c.command || []), ...(c.args || [])].includes("agent"));
    if (!sc) continue;
    found++;
    if (ps.automountServiceAccountToken !== false) fail(`${w}: automountServiceAccountToken must be false (the agent gets a projected token)`);
    const mem = (ps.volumes || []).filter((v) => v.emptyDir?.medium === "Memory").map((v) => v.name);
    const shared = (sc.volumeMounts || []).find((m) => mem.includes(m.name));
    if (!shared) fail(`${w}: the agent does not write into an emptyDir with medium: Memory`);
    const apps = ps.containers.filter((c) => (c.volumeMounts || []).some((m) => shared && m.name === shared.name));
    if (!apps.length) fail(`${w}: no app container mounts the agent's in-memory volume`);
    for (const a of apps) {
      const m = a.volumeMounts.find((x) => x.name === shared.name);
      if (!m.readOnly) fail(`${w} container ${a.name}: the secrets volume should be read-only for the app`);
      if ((a.volumeMounts || []).some((x) => x.mountPath.startsWith("/var/run/secrets/kubernetes.io"))) fail(`${w} container ${a.name}: the app must not get a ServiceAccount token`);
    }
    // agent config
    const args = [...(sc.command || []), ...(sc.args || [])];
    const cfgPath = args[args.indexOf("-config") + 1];
    const cm = (sc.volumeMounts || []).find((m) => cfgPath?.startsWith(m.mountPath + "/"));
    const cmVol = cm && volumeOf(ps, cm.name);
    const cmObj = cmVol?.configMap && objs.find((o) => o.kind === "ConfigMap" && o.metadata.name === cmVol.configMap.name);
    const text = cmObj?.data?.[path.posix.relative(cm.mountPath, cfgPath)];
    if (!text) {
      fail(`${w}: the agent config ${cfgPath} does not come from a ConfigMap in this output`);
      continue;
    }
    let ac;
    try {
      ac = YAML.parse(text, { uniqueKeys: true });
    } catch (e) {
      fail(`${w}: agent config is not valid YAML: ${e.message.split("\n")[0]}`);
      continue;
    }
    for (const k of Object.keys(ac)) if (!AGENT_KEYS.includes(k)) fail(`${w}: agent config key '${k}' is not an agent setting`);
    if (!/^https:\/\//.test(ac.address || "")) fail(`${w}: agent address must be https://`);
    const mounted = (p) => (sc.volumeMounts || []).some((m) => p && p.startsWith(m.mountPath + "/"));
    if (!mounted(ac.ca_cert)) fail(`${w}: agent ca_cert ${ac.ca_cert} is not in a mounted volume`);
    const tok = ac.auth?.kubernetes?.token_file || ac.auth?.token_file;
    if (!mounted(tok)) fail(`${w}: agent token file ${tok} is not in a mounted volume`);
    if (ac.auth?.kubernetes && !ac.auth.kubernetes.role) fail(`${w}: agent kubernetes auth without a role`);
    for (const t of ac.templates || []) {
      if (!t.destination?.startsWith(shared?.mountPath + "/")) fail(`${w}: template destination ${t.destination} is not in the in-memory volume`);
      if (!t.source && !t.contents) fail(`${w}: template without source or contents`);
    }
    if (!(ac.templates || []).length) fail(`${w}: agent config has no templates`);
  }
  if (!found) fail("no Deployment with a `tresor agent` native sidecar (initContainer with restartPolicy: Always)");
}

// ---------------------------------------------------------------------------------------------

function checkValuesDoc(valuesFile, schemaFile) {
  name = path.basename(valuesFile);
  const values = YAML.parse(fs.readFileSync(valuesFile, "utf8"), { uniqueKeys: true });
  const schema = JSON.parse(fs.readFileSync(schemaFile, "utf8"));
  (function walk(v, s, p) {
    if (!s) return fail(`value ${p} is not in values.schema.json`);
    if (!s.description) fail(`value ${p} has no description in values.schema.json`);
    if (v && typeof v === "object" && !Array.isArray(v) && s.properties)
      for (const [k, x] of Object.entries(v)) walk(x, s.properties[k], p ? `${p}.${k}` : k);
  })(values, schema, "");
}

async function main() {
  const argv = process.argv.slice(2);
  if (argv[0] === "--values-doc") {
    checkValuesDoc(argv[1], argv[2]);
  } else {
    const expect = new Set();
    let docFile = null;
    let tresord = null;
    const files = [];
    for (let i = 0; i < argv.length; i++) {
      if (argv[i] === "--name") name = argv[++i];
      else if (argv[i] === "--expect") argv[++i].split(",").filter(Boolean).forEach((e) => expect.add(e));
      else if (argv[i] === "--config-doc") docFile = argv[++i];
      else if (argv[i] === "--tresord") tresord = argv[++i];
      else files.push(argv[i]);
    }
    const docKeys = docConfigKeys(docFile);
    const objs = [];
    for (const f of files) {
      const docs = YAML.parseAllDocuments(fs.readFileSync(f, "utf8"), { uniqueKeys: true });
      docs.forEach((d, i) => {
        for (const e of d.errors) fail(`${path.basename(f)} document ${i + 1}: YAML error: ${e.message.split("\n")[0]}`);
        const o = d.errors.length ? null : d.toJS();
        if (o) objs.push(o);
      });
    }
    if (!objs.length) fail("no objects");
    for (const o of objs) {
      if (!o.apiVersion || !o.kind || !o.metadata?.name) {
        fail(`object without apiVersion/kind/metadata.name: ${JSON.stringify(o).slice(0, 120)}`);
        continue;
      }
      const where = `${o.kind} ${o.metadata.name}`;
      await validateObject(o, where);
      const ps = podSpecOf(o);
      if (ps) {
        checkPss(o, ps, where, expect.has("tpm-hostpath"));
        checkGuaranteed(ps, where);
        if (typeof ps.automountServiceAccountToken !== "boolean") fail(`${where}: automountServiceAccountToken is not set explicitly`);
      }
      if (o.kind === "ServiceAccount" && o.automountServiceAccountToken !== false) fail(`${where}: ServiceAccount should set automountServiceAccountToken: false (pods opt in)`);
    }
    if (expect.has("server")) checkServer(objs, expect, docKeys, tresord);
    if (expect.has("sidecar")) checkSidecar(objs);
    if (expect.has("namespace-restricted")) {
      const ns = objs.find((o) => o.kind === "Namespace");
      if (ns?.metadata?.labels?.["pod-security.kubernetes.io/enforce"] !== "restricted") fail("Namespace does not enforce PSS restricted");
    }
    for (const o of objs) if (o.kind === "ConfigMap" && o.data?.["tresor.yaml"] && !expect.has("server")) checkTresorConfig(o.data["tresor.yaml"], `ConfigMap ${o.metadata.name}`, docKeys, tresord);
    if (!problems.length) console.log(`${name}: ${objs.length} objects valid (schema, strict fields, assertions: ${[...expect].join(",") || "generic"})`);
  }
  if (problems.length) {
    for (const p of problems) console.log(`FAIL ${p}`);
    process.exit(1);
  }
}

main().catch((e) => {
  console.log(`FAIL ${name}: ${e.stack || e}`);
  process.exit(1);
});
