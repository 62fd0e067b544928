// Offline checks of rendered Kubernetes manifests, used by mk/deploy-check.sh.
//
//   node check-k8s.mjs [options] FILE       (run from the tools dir, so node_modules resolves)
//     --name NAME            label for messages
//     --expect LIST          comma list of: server, auth, noauth, sidecar, tpm-plugin,
//                            tpm-hostpath, namespace-restricted, metrics
//     --config-doc FILE      docs/configuration.md: its YAML block defines the allowed config keys
//     --tresord BIN          also feed every tresor.yaml to the real config loader
//     --tresor BIN           also feed every agent.yaml to the real `tresor agent` loader
//                            (default: tresor next to --tresord, else ../bin/tresor when built)
//   node check-k8s.mjs --values-doc values.yaml values.schema.json
//   node check-k8s.mjs --agent-config agent.yaml [--tresor BIN]
//
// Per object: YAML parses (duplicate keys are errors); the object validates against the
// Kubernetes OpenAPI schema compiled in the npm package kubernetes-models (types, enums,
// required fields, formats); and no field is unknown to that schema (strict mode, as the API
// server's field validation). Then the Tresor-specific assertions listed in docs/kubernetes.md,
// including the `tresor agent` sidecar's config against the agent's own schema (cli/agent_config.c).
// Exit status 1 with one line per problem.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import YAML, { LineCounter, Scalar, isAlias, isMap, isScalar, isSeq } from "yaml";

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
// `tresor agent` config (the sidecar's agent.yaml), mirroring cli/agent_config.c and
// cli/agent_tmpl.c: the same keys, types, defaults and limits, and messages in the agent's own
// form ("agent.yaml:LINE: ..."). The file is parsed with the YAML failsafe schema, so every scalar
// is a string, as libyaml gives it to the agent (perms: 0440 unquoted is the text "0440").

const AGENT_SCHEMA = {
  // root keys (agent_config.c root_map)
  root: ["address", "ca_cert", "auth", "refresh_interval", "readiness_file", "templates"],
  // auth: exactly one of these (auth_block)
  auth: ["token_file", "approle", "kubernetes"],
  "auth.approle": ["role_id_file", "secret_id_file", "mount"], // role_id_file required
  "auth.kubernetes": ["role", "token_file", "mount"], // role required
  // templates[] (tmpl_one): destination required; exactly one of contents, source, secret+field
  template: ["destination", "perms", "contents", "source", "secret", "field", "command", "signal", "pid_file"],
};
const AGENT_TEMPLATES_MAX = 256;
const AGENT_COMMAND_ARGS = 64;
const AGENT_TMPL_MAX = 1024 * 1024;
const AGENT_TMPL_ARG_MAX = 1024;
const AGENT_DEFAULT_PERMS = 0o400;
const AGENT_K8S_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token";
const AGENT_SIGNALS = ["HUP", "INT", "QUIT", "TERM", "USR1", "USR2"];
const SECRET_FORM_HINT = ' (the only action is {{ secret "PATH" "FIELD" }})';

// tr_parse_duration: whole seconds, or a sequence of NUMBER UNIT with units ms h m s d.
function parseDuration(s) {
  if (/^\s*[+-]?\d+$/.test(s)) {
    const v = Number(s);
    return v >= 0 ? v : null;
  }
  if (!/^(\s*\+?\d+(ms|h|m|s|d))+$/.test(s)) return null;
  const mult = { ms: 1, h: 3600000, m: 60000, s: 1000, d: 86400000 };
  let ms = 0;
  for (const m of s.matchAll(/\s*\+?(\d+)(ms|h|m|s|d)/g)) ms += Number(m[1]) * mult[m[2]];
  return Math.floor(ms / 1000);
}

// agent_tmpl_parse: literal text plus {{ secret "PATH" "FIELD" }}; returns null or the reason.
function agentTemplateError(text) {
  const b = Buffer.from(text, "utf8");
  const len = b.length;
  if (len > AGENT_TMPL_MAX) return `the template is larger than ${AGENT_TMPL_MAX} bytes`;
  const at = (i, why) => {
    let line = 1;
    let col = 1;
    for (let k = 0; k < i && k < len; k++) {
      if (b[k] === 0x0a) {
        line++;
        col = 1;
      } else col++;
    }
    return `line ${line}, column ${col}: ${why}`;
  };
  const blanks = (p) => {
    while (p < len && (b[p] === 0x20 || b[p] === 0x09)) p++;
    return p;
  };
  const str = (p, name) => {
    if (p >= len || b[p] !== 0x22) return [null, at(p, `expected the quoted ${name} argument${SECRET_FORM_HINT}`)];
    const start = ++p;
    while (p < len && b[p] !== 0x22) {
      if (b[p] < 0x20 || b[p] === 0x7f || b[p] === 0x5c) return [null, at(p, `${name} must not contain escapes, control characters or line breaks`)];
      p++;
    }
    if (p >= len) return [null, at(start - 1, "unterminated string")];
    if (p === start) return [null, at(start - 1, `${name} must not be empty`)];
    if (p - start > AGENT_TMPL_ARG_MAX) return [null, at(start - 1, `${name} is too long`)];
    return [p + 1, null];
  };
  let pos = 0;
  for (;;) {
    const hit = b.indexOf("{{", pos);
    if (hit < 0) return null;
    const open = hit;
    pos = hit + 2;
    if (pos < len && b[pos] === 0x2d) return at(pos, "trim markers ({{- and -}}) are not supported");
    pos = blanks(pos);
    const ws = pos;
    while (pos < len && !(b[pos] <= 0x20 || b[pos] === 0x7f || b[pos] === 0x22 || b[pos] === 0x7d)) pos++;
    if (pos === ws) return at(pos >= len ? open : pos, (pos >= len ? "unterminated {{ (missing }})" : "expected a function name") + SECRET_FORM_HINT);
    const word = b.subarray(ws, pos).toString("utf8");
    if (word !== "secret") return at(ws, `unknown function '${word.slice(0, 32)}'${SECRET_FORM_HINT}`);
    let p = blanks(pos);
    if (p === pos && p < len && b[p] === 0x22) return at(p, "expected a blank after 'secret'");
    let err;
    [pos, err] = str(p, "PATH");
    if (err) return err;
    p = blanks(pos);
    if (p === pos && p < len && b[p] === 0x22) return at(p, "expected a blank after the PATH argument");
    [pos, err] = str(p, "FIELD");
    if (err) return err;
    pos = blanks(pos);
    if (len - pos >= 2 && b[pos] === 0x7d && b[pos + 1] === 0x7d) {
      pos += 2;
      continue;
    }
    if (len - pos >= 3 && b.subarray(pos, pos + 3).toString() === "-}}") return at(pos, "trim markers ({{- and -}}) are not supported");
    if (pos >= len) return at(open, "unterminated {{ (missing }})");
    return at(pos, `expected }} after the FIELD argument${SECRET_FORM_HINT}`);
  }
}

// Validate agent.yaml text. Returns { errors: [...], cfg } where cfg is a plain object with the
// defaults filled in (perms as a number, auth method, token file), or cfg null on errors.
function parseAgentConfig(text, file = "agent.yaml") {
  const errors = [];
  const lc = new LineCounter();
  const doc = YAML.parseDocument(text, { schema: "failsafe", uniqueKeys: false, lineCounter: lc });
  if (doc.errors.length) {
    const e = doc.errors[0];
    return { errors: [`${file}:${e.linePos?.[0]?.line ?? 1}: YAML syntax error: ${e.message.split("\n")[0].replace(/ at line \d+, column \d+:$/, "")}`], cfg: null };
  }
  const lineOf = (n) => (n?.range ? lc.linePos(n.range[0]).line : 1);
  const err = (n, msg) => {
    errors.push(`${file}:${lineOf(n)}: ${msg}`);
    return null;
  };
  const res = (n) => (isAlias(n) ? n.resolve(doc) : n);
  // ymap: a mapping whose keys are all in names, each at most once -> { key: node }
  const ymap = (n, where, names) => {
    n = res(n);
    if (!isMap(n)) return err(n, `'${where || "(root)"}' must be a mapping`);
    const out = {};
    for (const p of n.items) {
      const k = res(p.key);
      if (!isScalar(k)) return err(k, "keys must be plain strings");
      const key = String(k.value);
      const full = where ? `${where}.${key.slice(0, 64)}` : key.slice(0, 64);
      if (!names.includes(key)) return err(k, `unknown key '${full}'`);
      if (key in out) return err(k, `duplicate key '${full}'`);
      out[key] = res(p.value) ?? new Scalar("");
    }
    return out;
  };
  const ystr = (n, key) => {
    if (!isScalar(n)) return err(n, `'${key}' must be a string`);
    const s = n.value === null || n.value === undefined ? "" : String(n.value);
    if (!s) return err(n, `'${key}' must not be empty`);
    if (s.includes("\0")) return err(n, `'${key}' must not contain NUL bytes`);
    return s;
  };
  const cfg = { auth: null, refreshSecs: 300, templates: [] };
  const root = doc.contents;
  if (!root) return { errors: [`${file}:1: the config file is empty`], cfg: null };
  const r = ymap(root, "", AGENT_SCHEMA.root);
  if (!r) return { errors, cfg: null };
  if (r.address) cfg.address = ystr(r.address, "address");
  if (r.ca_cert) cfg.ca_cert = ystr(r.ca_cert, "ca_cert");
  if (r.auth) {
    const a = ymap(r.auth, "auth", AGENT_SCHEMA.auth);
    if (a) {
      const n = ["token_file", "approle", "kubernetes"].filter((k) => a[k]).length;
      if (n !== 1) err(r.auth, "'auth' needs exactly one of token_file, approle or kubernetes");
      else if (a.token_file) cfg.auth = { method: "token_file", token_file: ystr(a.token_file, "auth.token_file") };
      else if (a.approle) {
        const ap = ymap(a.approle, "auth.approle", AGENT_SCHEMA["auth.approle"]);
        if (ap && !ap.role_id_file) err(a.approle, "missing required key 'auth.approle.role_id_file'");
        else if (ap)
          cfg.auth = {
            method: "approle",
            role_id_file: ystr(ap.role_id_file, "auth.approle.role_id_file"),
            secret_id_file: ap.secret_id_file ? ystr(ap.secret_id_file, "auth.approle.secret_id_file") : undefined,
            mount: ap.mount ? ystr(ap.mount, "auth.approle.mount") : "approle",
          };
      } else {
        const k = ymap(a.kubernetes, "auth.kubernetes", AGENT_SCHEMA["auth.kubernetes"]);
        if (k && !k.role) err(a.kubernetes, "missing required key 'auth.kubernetes.role'");
        else if (k)
          cfg.auth = {
            method: "kubernetes",
            role: ystr(k.role, "auth.kubernetes.role"),
            token_file: k.token_file ? ystr(k.token_file, "auth.kubernetes.token_file") : AGENT_K8S_TOKEN_FILE,
            mount: k.mount ? ystr(k.mount, "auth.kubernetes.mount") : "kubernetes",
          };
      }
    }
  }
  if (r.readiness_file) cfg.readiness_file = ystr(r.readiness_file, "readiness_file");
  if (r.refresh_interval) {
    const d = isScalar(r.refresh_interval) ? parseDuration(String(r.refresh_interval.value ?? "")) : null;
    if (d === null || d < 1 || d > 7 * 86400) err(r.refresh_interval, "'refresh_interval' must be a duration from 1s to 168h (60s, 5m)");
    else cfg.refreshSecs = d;
  }
  if (!r.templates) err(root, "missing required key 'templates'");
  else if (!isSeq(r.templates)) err(r.templates, "'templates' must be a list");
  else if (r.templates.items.length === 0 || r.templates.items.length > AGENT_TEMPLATES_MAX)
    err(r.templates, `'templates' must have 1 to ${AGENT_TEMPLATES_MAX} items`);
  else
    r.templates.items.forEach((item, i) => {
      const w = `templates[${i}]`;
      const t = ymap(item, w, AGENT_SCHEMA.template);
      if (!t) return;
      const out = { perms: AGENT_DEFAULT_PERMS };
      if (!t.destination) return err(item, `missing required key '${w}.destination'`);
      out.destination = ystr(t.destination, `${w}.destination`);
      if (t.perms) {
        const s = isScalar(t.perms) ? String(t.perms.value ?? "") : "";
        const bad = `'${w}.perms' must be an octal mode such as "0400"`;
        if (!/^[0-7]{1,4}$/.test(s) || parseInt(s, 8) > 0o777) err(t.perms, bad);
        else {
          const m = parseInt(s, 8);
          const o = m.toString(8).padStart(4, "0");
          if (m & 0o007) err(t.perms, `'${w}.perms' must not give any access to other users (${o})`);
          else if (!(m & 0o400)) err(t.perms, `'${w}.perms' must let the owner read the file (${o})`);
          else out.perms = m;
        }
      }
      const forms = !!t.contents + !!t.source + !!t.secret;
      if (forms !== 1 || !t.secret !== !t.field) return err(item, `'${w}' needs exactly one of contents, source, or secret with field`);
      if (t.secret) {
        out.secret = ystr(t.secret, `${w}.secret`);
        out.field = ystr(t.field, `${w}.field`);
        if ((out.secret && Buffer.byteLength(out.secret) > AGENT_TMPL_ARG_MAX) || (out.field && Buffer.byteLength(out.field) > AGENT_TMPL_ARG_MAX))
          err(t.secret, `'${w}.secret' or its field is too long`);
      } else if (t.source) {
        out.source = ystr(t.source, `${w}.source`); // read by the agent at start: checked as a mount
      } else if (!isScalar(t.contents)) err(t.contents, `'${w}.contents' must be a string`);
      else {
        out.contents = String(t.contents.value ?? "");
        const why = agentTemplateError(out.contents);
        if (why) err(t.contents, `bad template in '${w}.contents': ${why}`);
      }
      if (t.command) {
        const c = t.command;
        if (!isSeq(c)) err(c, `'${w}.command' must be a list of strings (["/bin/sh", "-c", "..."])`);
        else if (c.items.length === 0 || c.items.length > AGENT_COMMAND_ARGS) err(c, `'${w}.command' must have 1 to ${AGENT_COMMAND_ARGS} items`);
        else out.command = c.items.map((x) => ystr(res(x), `${w}.command`));
      }
      if (!t.signal !== !t.pid_file) return err(item, `'${w}': signal and pid_file go together`);
      if (t.signal) {
        const s = isScalar(t.signal) ? String(t.signal.value ?? "").replace(/^SIG/, "") : "";
        if (!AGENT_SIGNALS.includes(s)) err(t.signal, `'${w}.signal' must be one of ${AGENT_SIGNALS.join(", ")}`);
        out.signal = s;
        out.pid_file = ystr(t.pid_file, `${w}.pid_file`);
      }
      cfg.templates.push(out);
    });
  const seen = new Map();
  cfg.templates.forEach((t, i) => {
    if (seen.has(t.destination)) err(r.templates, `templates[${seen.get(t.destination)}] and templates[${i}] have the same destination`);
    else seen.set(t.destination, i);
  });
  return { errors, cfg: errors.length ? null : cfg };
}

// The real loader. `tresor agent` has no check-only flag, but it loads and validates the whole
// config (keys, types, templates, modes) before anything else, and only then checks the address.
// Run with -address=http://... (the flag wins over the file), it stops right there: plain http
// is refused locally, so no connection is ever attempted. The answer is therefore either the
// config error ("FILE:LINE: ...") or the address refusal, which means the config was accepted.
// Templates with `source` read a file that only exists in the pod: those configs are not run.
function runRealAgent(text, where, tresor, cfg) {
  if (cfg && cfg.templates.some((t) => t.source)) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tresor-agentcheck-"));
  try {
    const file = path.join(dir, "agent.yaml");
    fs.writeFileSync(file, text);
    const r = spawnSync(path.resolve(tresor), ["agent", "-config", file, "-once", "-address=http://127.0.0.1:9"], {
      cwd: dir,
      timeout: 10000,
      encoding: "utf8",
      env: { PATH: process.env.PATH || "/usr/bin:/bin", HOME: dir, LC_ALL: "C" },
    });
    const err = (r.stderr || "").trim().split(dir + "/").join("");
    if (r.status === 1 && /must start with https:\/\//.test(err)) return; // accepted
    if (r.status === 1 && /agent\.yaml:\d+: /.test(err)) fail(`${where}: tresor agent rejects the config: ${err.split("\n").slice(-1)[0].replace(/^tresor agent: /, "")}`);
    else fail(`${where}: unexpected answer from ${tresor} agent (exit ${r.status}${r.signal ? ", " + r.signal : ""}): ${err.split("\n").slice(-1)[0] || r.error || ""}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Tresor assertions.

const LIVENESS = "/v1/sys/health?standbyok=true&sealedcode=200&uninitcode=200";
const READINESS = "/v1/sys/health";
const PSS_VOLUMES = ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"];

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
    // token-less metrics and Prometheus pod discovery come together, or not at all
    const open = cfg.listener?.telemetry?.unauthenticated_metrics_access === true;
    const ann = s.spec.template?.metadata?.annotations || {};
    if (open !== expect.has("metrics")) fail(`${w}: listener.telemetry.unauthenticated_metrics_access is ${open}`);
    if (expect.has("metrics")) {
      const want = { "prometheus.io/scrape": "true", "prometheus.io/scheme": "https", "prometheus.io/path": "/v1/sys/metrics", "prometheus.io/port": "8200" };
      for (const [k, v] of Object.entries(want)) if (ann[k] !== v) fail(`${w}: pod annotation ${k} is ${JSON.stringify(ann[k])}, not "${v}"`);
    } else if (Object.keys(ann).some((k) => k.startsWith("prometheus.io/"))) fail(`${w}: prometheus.io annotations without token-less metrics`);
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

// The value of a flag in an argv (-name V, -name=V, --name V, --name=V); undefined when absent.
function flagValue(args, name) {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === `-${name}` || a === `--${name}`) return args[i + 1];
    if (a.startsWith(`-${name}=`) || a.startsWith(`--${name}=`)) return a.slice(a.indexOf("=") + 1);
  }
  return undefined;
}
const hasFlag = (args, name) => args.some((a) => a === `-${name}` || a === `--${name}` || a.startsWith(`-${name}=`) || a.startsWith(`--${name}=`));

function checkSidecar(objs, tresor) {
  const deps = objs.filter((o) => o.kind === "Deployment");
  let found = 0;
  for (const d of deps) {
    const ps = podSpecOf(d);
    const w = `Deployment ${d.metadata.name}`;
    const sc = (ps.initContainers || []).find((c) => c.restartPolicy === "Always" && [...(c.command || []), ...(c.args || [])].includes("agent"));
    if (!sc) continue;
    found++;
    const psc = ps.securityContext || {};
    if (ps.automountServiceAccountToken !== false) fail(`${w}: automountServiceAccountToken must be false (the agent gets a projected token)`);
    const mem = (ps.volumes || []).filter((v) => v.emptyDir?.medium === "Memory").map((v) => v.name);
    const agentMounts = sc.volumeMounts || [];
    // A path's mount in the agent container (the longest mountPath that contains it).
    const mountOf = (p) =>
      agentMounts.filter((m) => p && (p === m.mountPath || p.startsWith(m.mountPath.replace(/\/$/, "") + "/"))).sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
    const inMount = (p) => !!mountOf(p) && mountOf(p).mountPath !== p;
    // agent command line: `tresor agent -config FILE`, running for good (no -once)
    const args = [...(sc.command || []), ...(sc.args || [])];
    const cfgPath = flagValue(args, "config");
    if (hasFlag(args, "once")) fail(`${w}: the agent sidecar runs with -once: it would exit after one pass and be restarted in a loop`);
    const cm = mountOf(cfgPath);
    const cmVol = cm && volumeOf(ps, cm.name);
    const cmObj = cmVol?.configMap && objs.find((o) => o.kind === "ConfigMap" && o.metadata.name === cmVol.configMap.name);
    const text = cm && cmObj?.data?.[path.posix.relative(cm.mountPath, cfgPath)];
    if (!text) {
      fail(`${w}: the agent config ${cfgPath} does not come from a ConfigMap in this output`);
      continue;
    }
    // agent.yaml against the agent's schema, then the real agent when it is built
    const cw = `ConfigMap ${cmObj.metadata.name} (agent config)`;
    const { errors, cfg } = parseAgentConfig(text, path.posix.basename(cfgPath));
    for (const e of errors) fail(`${cw}: ${e}`);
    if (tresor) runRealAgent(text, cw, tresor, cfg);
    if (!cfg) continue;
    // the in-memory volume shared with the app
    const env = Object.fromEntries((sc.env || []).map((e) => [e.name, e.value]));
    const dests = cfg.templates.map((t) => t.destination);
    const shared = mountOf(dests[0]);
    if (!shared || !mem.includes(shared.name)) fail(`${w}: the agent does not write into an emptyDir with medium: Memory`);
    const apps = ps.containers.filter((c) => shared && (c.volumeMounts || []).some((m) => m.name === shared.name));
    if (shared && !apps.length) fail(`${w}: no app container mounts the agent's in-memory volume`);
    for (const a of apps) {
      const m = a.volumeMounts.find((x) => x.name === shared.name);
      if (!m.readOnly) fail(`${w} container ${a.name}: the secrets volume should be read-only for the app`);
    }
    for (const a of ps.containers)
      if ((a.volumeMounts || []).some((x) => x.mountPath.startsWith("/var/run/secrets/kubernetes.io"))) fail(`${w} container ${a.name}: the app must not get a ServiceAccount token`);
    // connection: an https address and a mounted CA (from the file, else the container's env)
    const addr = cfg.address ?? env.TRESOR_ADDR ?? env.VAULT_ADDR;
    if (!/^https:\/\//.test(addr || "")) fail(`${w}: agent address must be https:// (is ${addr ?? "unset: the agent would use https://127.0.0.1:8200"})`);
    const ca = cfg.ca_cert ?? env.TRESOR_CACERT ?? env.VAULT_CACERT;
    if (!inMount(ca)) fail(`${w}: agent ca_cert ${ca} is not in a mounted volume`);
    // auth: the pod's own ServiceAccount token, projected into the agent only
    if (!cfg.auth) fail(`${w}: the agent config has no auth block (a sidecar must log in itself)`);
    else if (cfg.auth.method === "kubernetes") {
      const tm = mountOf(cfg.auth.token_file);
      const tv = tm && volumeOf(ps, tm.name);
      const rel = tm && path.posix.relative(tm.mountPath, cfg.auth.token_file);
      const sat = tv?.projected?.sources?.find((s) => s.serviceAccountToken)?.serviceAccountToken;
      if (!tm) fail(`${w}: agent auth.kubernetes.token_file ${cfg.auth.token_file} is not in a mounted volume`);
      else if (!sat || sat.path !== rel) fail(`${w}: agent auth.kubernetes.token_file ${cfg.auth.token_file} is not a projected serviceAccountToken (path ${rel})`);
    } else {
      for (const f of [cfg.auth.token_file, cfg.auth.role_id_file, cfg.auth.secret_id_file].filter(Boolean))
        if (!inMount(f)) fail(`${w}: agent auth file ${f} is not in a mounted volume`);
    }
    // templates: written into the in-memory volume, readable by the app, nothing else needed
    const uid = (c) => c.securityContext?.runAsUser ?? psc.runAsUser;
    const gid = (c) => c.securityContext?.runAsGroup ?? psc.runAsGroup;
    const fileGid = psc.fsGroup ?? gid(sc); // emptyDir with fsGroup: setgid directory of that group
    cfg.templates.forEach((t, i) => {
      const tw = `${w}: agent templates[${i}] (${t.destination})`;
      const m = mountOf(t.destination);
      if (!m || m.name !== shared?.name) fail(`${tw}: not in the in-memory volume`);
      else if (path.posix.dirname(t.destination) !== m.mountPath.replace(/\/$/, ""))
        fail(`${tw}: its directory is not the mount point ${m.mountPath} (the agent creates no directories)`);
      else if (m.readOnly) fail(`${tw}: the volume is read-only in the agent`);
      if (t.source && !inMount(t.source)) fail(`${tw}: template source ${t.source} is not in a mounted volume`);
      for (const a of apps) {
        const groups = [gid(a), psc.fsGroup, ...(psc.supplementalGroups || [])];
        const readable = uid(a) === uid(sc) ? t.perms & 0o400 : groups.includes(fileGid) && t.perms & 0o040;
        if (!readable) fail(`${tw}: mode ${t.perms.toString(8).padStart(4, "0")} does not let container ${a.name} (uid ${uid(a)}) read it`);
      }
      if (t.signal) {
        if (ps.shareProcessNamespace !== true) fail(`${tw}: signal ${t.signal} needs shareProcessNamespace: true (the agent cannot see the app's processes)`);
        if (!apps.every((a) => uid(a) === uid(sc))) fail(`${tw}: signal ${t.signal} needs the app to run with the agent's uid (kill permission)`);
        if (!inMount(t.pid_file)) fail(`${tw}: pid_file ${t.pid_file} is not in a mounted volume`);
      }
    });
    // readiness: the agent's readiness_file in a writable volume, and a startupProbe waiting for it
    // (or, without one, for a rendered file), so the app starts only once its files exist.
    if (cfg.readiness_file) {
      const rm = mountOf(cfg.readiness_file);
      const rv = rm && volumeOf(ps, rm.name);
      if (!rm || !rv?.emptyDir || rm.readOnly || path.posix.dirname(cfg.readiness_file) !== rm.mountPath.replace(/\/$/, ""))
        fail(`${w}: agent readiness_file ${cfg.readiness_file} is not directly in a writable emptyDir mount of the agent (the root filesystem is read-only)`);
    }
    const probeFile = (pr) => {
      const c = pr?.exec?.command || [];
      return /(^|\/)test$/.test(c[0] || "") && ["-f", "-e", "-s"].includes(c[1]) && c.length === 3 ? c[2] : null;
    };
    const sp = probeFile(sc.startupProbe);
    const wanted = cfg.readiness_file ? [cfg.readiness_file] : dests;
    if (!sc.startupProbe) fail(`${w}: the agent has no startupProbe: the app would start before its files exist`);
    else if (!wanted.includes(sp))
      fail(`${w}: the agent's startupProbe must be \`test -f ${wanted[0]}\` (${cfg.readiness_file ? "the readiness_file" : "a rendered file"}), is ${JSON.stringify(sc.startupProbe.exec?.command ?? sc.startupProbe)}`);
    if (sc.readinessProbe?.exec && !wanted.includes(probeFile(sc.readinessProbe)))
      fail(`${w}: the agent's readinessProbe does not test ${wanted[0]}`);
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

// The tresor CLI for checking agent configs: --tresor, else next to --tresord, else bin/tresor of
// the repository whose .tools/ holds this script (mk/deploy-check.sh copies it there).
function findTresor(tresord) {
  const exe = (f) => {
    try {
      fs.accessSync(f, fs.constants.X_OK);
      return fs.statSync(f).isFile();
    } catch {
      return false;
    }
  };
  for (const c of [tresord && path.join(path.dirname(tresord), "tresor"), path.join(here, "..", "bin", "tresor")])
    if (c && exe(c)) return c;
  return null;
}

async function main() {
  const argv = process.argv.slice(2);
  if (argv[0] === "--values-doc") {
    checkValuesDoc(argv[1], argv[2]);
  } else if (argv[0] === "--agent-config") {
    // one agent.yaml on its own: the schema, then the real agent (--tresor BIN or bin/tresor)
    const file = argv[1];
    name = path.basename(file);
    const text = fs.readFileSync(file, "utf8");
    const { errors, cfg } = parseAgentConfig(text, path.basename(file));
    for (const e of errors) fail(`schema: ${e}`);
    const tresor = argv[2] === "--tresor" ? argv[3] : findTresor(null);
    if (tresor) runRealAgent(text, "tresor", tresor, cfg);
    if (!problems.length) console.log(`${name}: valid agent config${tresor ? ` (schema and ${tresor})` : " (schema)"}`);
  } else {
    const expect = new Set();
    let docFile = null;
    let tresord = null;
    let tresor = null;
    const files = [];
    for (let i = 0; i < argv.length; i++) {
      if (argv[i] === "--name") name = argv[++i];
      else if (argv[i] === "--expect") argv[++i].split(",").filter(Boolean).forEach((e) => expect.add(e));
      else if (argv[i] === "--config-doc") docFile = argv[++i];
      else if (argv[i] === "--tresord") tresord = argv[++i];
      else if (argv[i] === "--tresor") tresor = argv[++i];
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
    if (expect.has("sidecar")) checkSidecar(objs, tresor ?? findTresor(tresord));
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
