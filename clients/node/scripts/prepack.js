#!/usr/bin/env node
'use strict';
// Builds what the npm package carries beyond the committed sources (npm runs
// it as `prepack`; postpack.js removes it again):
//   proto/      the repository's proto/metad/v1/*.proto and the google/rpc
//               protos errorDetails() decodes (from Debian's
//               golang-github-gogo-googleapis-dev, or $METAD_GOOGLEAPIS_DIR),
//               so an installed package needs neither the repository nor
//               Debian's package;
//   types/      TypeScript declarations of every message (proto-loader-gen-types,
//               compiled to .d.ts) and types/client.d.ts, the promise-based
//               wrappers of every RPC (flat and per service), which
//               index.d.ts builds on.
//   LICENSE     the repository's (Apache-2.0).
// Copied, not committed: the repository's proto/ stays the one source.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const protobuf = require('protobufjs');
const { namespaceOf } = require('../metad');

const HERE = path.join(__dirname, '..');
const REPO_PROTO = path.join(HERE, '..', '..', 'proto');
const GOOGLEAPIS = process.env.METAD_GOOGLEAPIS_DIR || '/usr/share/gocode/src/github.com/gogo/googleapis';
const OUT_PROTO = path.join(HERE, 'proto');
const OUT_TYPES = path.join(HERE, 'types');
const GOOGLE_RPC = ['status.proto', 'error_details.proto'];

function copyProtos() {
  fs.rmSync(OUT_PROTO, { recursive: true, force: true });
  const src = path.join(REPO_PROTO, 'metad', 'v1');
  const dst = path.join(OUT_PROTO, 'metad', 'v1');
  fs.mkdirSync(dst, { recursive: true });
  const files = fs.readdirSync(src).filter((f) => f.endsWith('.proto')).sort();
  for (const f of files) fs.copyFileSync(path.join(src, f), path.join(dst, f));
  const rpc = path.join(OUT_PROTO, 'google', 'rpc');
  fs.mkdirSync(rpc, { recursive: true });
  for (const f of GOOGLE_RPC) {
    const from = path.join(GOOGLEAPIS, 'google', 'rpc', f);
    if (!fs.existsSync(from)) {
      throw new Error(`${from} missing: install golang-github-gogo-googleapis-dev or set METAD_GOOGLEAPIS_DIR`);
    }
    fs.copyFileSync(from, path.join(rpc, f));
  }
  return files.map((f) => `metad/v1/${f}`);
}

function bin(name) {
  return path.join(HERE, 'node_modules', '.bin', name);
}

// Message and enum types: the same mapping metad.js loads with (longs as
// numbers, enums as names, defaults, oneofs), as .ts, then compiled to .d.ts.
function generateMessageTypes(files) {
  const tmp = fs.mkdtempSync(path.join(HERE, '.gen-'));
  try {
    execFileSync(bin('proto-loader-gen-types'), ['--longs=Number', '--enums=String', '--defaults', '--oneofs',
      '--grpcLib=@grpc/grpc-js', '-I', OUT_PROTO, '-O', tmp, ...files], { stdio: 'inherit' });
    const sources = [];
    const walk = (dir) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.ts')) sources.push(p);
      }
    };
    walk(tmp);
    fs.rmSync(OUT_TYPES, { recursive: true, force: true });
    execFileSync(bin('tsc'), ['--declaration', '--emitDeclarationOnly', '--skipLibCheck', '--target', 'es2020',
      '--module', 'commonjs', '--moduleResolution', 'node', '--rootDir', tmp, '--outDir', OUT_TYPES, ...sources],
    { stdio: 'inherit' });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

// '.metad.v1.StartRunRequest' -> the generated module and type names.
function typeRef(fullName, imports) {
  const parts = fullName.replace(/^\./, '').split('.');
  const name = parts.pop();
  const alias = `${parts.join('_')}_${name}`;
  imports.set(alias, `import type { ${name} as ${alias}, ${name}__Output as ${alias}__Output } from './${parts.join('/')}/${name}';`);
  return alias;
}

function lowerFirst(s) {
  return s[0].toLowerCase() + s.slice(1);
}

// One interface per service (the wrappers of client.<namespace>) and
// MetadMethods (every wrapper, flat), from the same protos.
function generateClientTypes(files) {
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => (fs.existsSync(path.join(OUT_PROTO, target)) ? path.join(OUT_PROTO, target) : target);
  root.loadSync(files);
  root.resolveAll();
  const pkg = root.lookup('metad.v1');
  const imports = new Map();
  const services = Object.values(pkg.nested).filter((n) => n instanceof protobuf.Service)
    .sort((a, b) => a.name.localeCompare(b.name));
  const blocks = [];
  const flat = [];
  for (const svc of services) {
    const lines = [];
    for (const m of Object.values(svc.methods)) {
      if (m.requestStream) continue; // metad has no client-streaming RPC
      const req = typeRef(m.resolvedRequestType.fullName, imports);
      const res = typeRef(m.resolvedResponseType.fullName, imports);
      const ret = m.responseStream ? `WatchStream<${res}__Output>` : `Promise<${res}__Output>`;
      const opts = m.responseStream ? 'StreamCallOptions' : 'CallOptions';
      const doc = `  /** ${svc.name}.${m.name} (${m.responseStream ? 'server stream' : 'unary'}). */`;
      lines.push(doc, `  ${lowerFirst(m.name)}(request?: ${req}, callOpts?: ${opts}): ${ret};`);
    }
    blocks.push(`export interface ${svc.name}Methods {\n${lines.join('\n')}\n}`);
    flat.push(`${svc.name}Methods`);
  }
  const text = [
    '// Generated by scripts/prepack.js from proto/metad/v1: do not edit.',
    "import type { CallOptions, StreamCallOptions, WatchStream } from '../index';",
    ...[...imports.values()].sort(),
    '',
    ...blocks,
    '',
    `export interface MetadMethods extends ${flat.join(', ')} {}`,
    '/** The wrappers per service: client.files, client.runs, ... */',
    'export interface Namespaces {',
    ...services.map((s) => `  ${namespaceOf(s.name)}: ${s.name}Methods;`),
    '}',
    `export type ServiceName = ${services.map((s) => `'${s.name}'`).join(' | ')};`,
    '',
  ].join('\n');
  fs.writeFileSync(path.join(OUT_TYPES, 'client.d.ts'), text);
}

// types/messages.d.ts: every message and enum type of metad.v1 (and the
// google.protobuf ones its messages use, not descriptor.proto's) by its
// name, for index.d.ts to re-export.
function generateMessageIndex() {
  const lines = ['// Generated by scripts/prepack.js from proto/metad/v1: do not edit.'];
  const v1 = fs.readdirSync(path.join(OUT_TYPES, 'metad', 'v1')).filter((f) => f.endsWith('.d.ts'));
  const used = new Set();
  for (const f of v1) {
    const text = fs.readFileSync(path.join(OUT_TYPES, 'metad', 'v1', f), 'utf8');
    for (const m of text.matchAll(/from '\.\.\/\.\.\/google\/protobuf\/(\w+)'/g)) used.add(`${m[1]}.d.ts`);
  }
  const wanted = { 'metad/v1': v1, 'google/protobuf': [...used] };
  for (const dir of Object.keys(wanted)) {
    for (const f of wanted[dir].sort()) {
      if (/Service\.d\.ts$/.test(f)) continue;
      const name = f.slice(0, -'.d.ts'.length);
      const text = fs.readFileSync(path.join(OUT_TYPES, dir, f), 'utf8');
      const names = [name, `${name}__Output`].filter((n) => new RegExp(`export (declare )?(interface|type|const) ${n}\\b`).test(text));
      if (names.length) lines.push(`export type { ${names.join(', ')} } from './${dir}/${name}';`);
    }
  }
  fs.writeFileSync(path.join(OUT_TYPES, 'messages.d.ts'), `${lines.join('\n')}\n`);
}

function main() {
  fs.copyFileSync(path.join(HERE, '..', '..', 'LICENSE'), path.join(HERE, 'LICENSE'));
  const files = copyProtos();
  generateMessageTypes(files);
  generateClientTypes(files);
  generateMessageIndex();
}

if (require.main === module) main();

module.exports = { main };
