'use strict';
// Node client of metad: promise-based wrappers of every RPC of
// proto/metad/v1, loaded at run time with @grpc/proto-loader (no codegen).
//
//   const metad = require('./metad');
//   const client = metad.connect('127.0.0.1:50051', { tokenFile: '/etc/metad/token' });
//   const { run } = await client.startRun({ task: 'load_sales', batchId: '2024-03' });
//   client.close();
//
// Messages are plain objects with camelCase field names (batchId,
// requestId); enums are their names ('RUN_STATUS_SUCCESS'); int64 fields are
// JavaScript numbers (metad ids stay far below 2^53); every field of a
// response is present, with its default when unset (messages: null).
// Timestamps are { seconds, nanos }: see toDate().
//
// Every call has a deadline (timeoutMs, 30 s by default) and a failed call
// rejects with the grpc-js ServiceError (err.code is a metad.status value,
// err.details the daemon's message). A call is retried, with exponential
// backoff and jitter, only when it failed with UNAVAILABLE or ABORTED and its
// method's `option idempotency_level` (proto/metad/v1, read from the loaded
// descriptors) says a repeat is safe: NO_SIDE_EFFECTS (reads); IDEMPOTENT
// with a request_id field (RegisterFile(s), ClaimFiles, RegisterTask,
// StartRun, AddDependency: a request without requestId gets a random one,
// the same for all its attempts, so a retried StartRun returns the run the
// first attempt started and a retried ClaimFiles the files the first attempt
// claimed); IDEMPOTENT otherwise (CompleteFile, FinishRun, Heartbeat, ...:
// the daemon answers a repeat as the first call, replayed=true). A method
// without the option (ResetFile, RerunTasks, DeleteTask, ...) is sent once.
//
// Workers: metad.startWorkerRun(client, task, batchId, opts) (worker.js)
// runs a task the safe way: heartbeats, a request_id per claim, and
// FinishRun naming every file received.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');
const { WatchStream } = require('./watch');

const DEFAULTS = Object.freeze({
  timeoutMs: 30000,
  maxAttempts: 5,
  initialBackoffMs: 50,
  maxBackoffMs: 2000,
});

// Namespaces of the services (client.files.registerFile). A service the
// proto files gain later gets its name without "Service", lowerCamelCase.
const NAMESPACES = Object.freeze({
  FileService: 'files',
  TaskService: 'tasks',
  TaskLogService: 'runs',
  DependencyService: 'deps',
  WatchService: 'watch',
});

/** The services of the loaded package: [[name, constructor], ...]. */
function servicesOf(pkg) {
  return Object.entries(pkg).filter(([, v]) => typeof v === 'function' && v.service);
}

function namespaceOf(service) {
  return NAMESPACES[service] || lowerFirst(service.replace(/Service$/, ''));
}

const RETRYABLE = new Set([grpc.status.UNAVAILABLE, grpc.status.ABORTED]);

// How a call may be retried, from the method's `option idempotency_level`
// in proto/metad/v1 (proto-loader keeps method options in the definition):
//   NO_SIDE_EFFECTS                -> 'read'
//   IDEMPOTENT, request_id field   -> 'creating' (a request_id is filled in
//                                     when empty, the same for every attempt)
//   IDEMPOTENT                     -> 'idempotent' (the daemon answers a
//                                     repeat as the first call)
//   unset                          -> 'once'
function kindOfDefinition(def) {
  const level = def.options && def.options.idempotency_level;
  if (level === 'NO_SIDE_EFFECTS') return 'read';
  if (level !== 'IDEMPOTENT') return 'once';
  const fields = (def.requestType && def.requestType.type && def.requestType.type.field) || [];
  return fields.some((f) => f.name === 'requestId') ? 'creating' : 'idempotent';
}

/**
 * 'read', 'creating', 'idempotent' or 'once' for a full method name
 * ('/metad.v1.X/Y') of the loaded protos; 'once' for any other.
 */
function kindOf(fullMethod, protoDir) {
  for (const [, Stub] of servicesOf(loadPackage(protoDir))) {
    for (const def of Object.values(Stub.service)) {
      if (def.path === fullMethod) return kindOfDefinition(def);
    }
  }
  return 'once';
}

/** A random idempotency key (32 hex digits). */
function newRequestId() {
  return crypto.randomBytes(16).toString('hex');
}

let cachedPackage = null;
let cachedProtoDir = null;

// The protos an installed package carries (copied in by scripts/prepack.js,
// which the package does not ship). A checkout of the repository uses the
// repository's proto/, even while `npm pack` has a copy here.
const BUNDLED_PROTO_DIR = path.join(__dirname, 'proto');
const IN_CHECKOUT = fs.existsSync(path.join(__dirname, 'scripts', 'prepack.js'));

function defaultProtoDir() {
  if (process.env.METAD_PROTO_DIR) return process.env.METAD_PROTO_DIR;
  return IN_CHECKOUT ? path.join(__dirname, '..', '..', 'proto') : BUNDLED_PROTO_DIR;
}

/**
 * Loads metad/v1/*.proto from protoDir: $METAD_PROTO_DIR, else the copy in
 * the package, else the repository's proto/.
 */
function loadPackage(protoDir = defaultProtoDir()) {
  if (cachedPackage && cachedProtoDir === protoDir) return cachedPackage;
  const files = fs.readdirSync(path.join(protoDir, 'metad', 'v1'))
    .filter((f) => f.endsWith('.proto'))
    .sort()
    .map((f) => `metad/v1/${f}`);
  const definition = protoLoader.loadSync(files, {
    includeDirs: [protoDir],
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  cachedPackage = grpc.loadPackageDefinition(definition).metad.v1;
  cachedProtoDir = protoDir;
  return cachedPackage;
}

function lowerFirst(s) {
  return s[0].toLowerCase() + s.slice(1);
}

function readMaybeFile(value) {
  if (value == null) return null;
  return Buffer.isBuffer(value) ? value : fs.readFileSync(value);
}

function channelCredentials(tls) {
  if (!tls) return { creds: grpc.credentials.createInsecure(), options: {} };
  const t = tls === true ? {} : tls;
  const creds = grpc.credentials.createSsl(readMaybeFile(t.ca), readMaybeFile(t.key), readMaybeFile(t.cert));
  const options = {};
  if (t.serverName) {
    options['grpc.ssl_target_name_override'] = t.serverName;
    options['grpc.default_authority'] = t.serverName;
  }
  return { creds, options };
}

function readToken(opts) {
  if (opts.token) return opts.token;
  if (!opts.tokenFile) return null;
  const token = fs.readFileSync(opts.tokenFile, 'utf8').trim();
  if (!token) throw new Error(`metad: token file ${opts.tokenFile} is empty`);
  return token;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Connects to metad (lazily: the first call, or ready(), opens the
 * connection).
 *
 * opts:
 *   token, tokenFile   bearer token sent as "authorization: Bearer ..." (the
 *                      file is read once, surrounding whitespace ignored)
 *   tls                false (default), true (system roots), or
 *                      { ca, cert, key, serverName } where ca/cert/key are
 *                      file paths or Buffers (cert+key: mutual TLS)
 *   timeoutMs          deadline of every call, all attempts together (30000);
 *                      0 for none
 *   maxAttempts        tries of a retryable call in all (5; 1: no retries)
 *   initialBackoffMs, maxBackoffMs   wait between attempts (50, 2000)
 *   channelOptions     extra grpc-js channel options
 *   interceptors       grpc-js client interceptors, run inside the retries
 *                      (each attempt goes through them)
 *   protoDir           where metad/v1/*.proto live
 */
function connect(address, opts = {}) {
  return new Client(address, opts);
}

class Client {
  constructor(address, opts = {}) {
    this.address = address;
    this.opts = { ...DEFAULTS, ...opts };
    const pkg = loadPackage(opts.protoDir);
    const { creds, options } = channelCredentials(opts.tls);
    const channelOptions = { ...options, ...(opts.channelOptions || {}) };
    this.channel = new grpc.Channel(address, creds, channelOptions);
    this.token = readToken(opts);
    this.stubs = {};
    for (const [service, Stub] of servicesOf(pkg)) {
      const ns = namespaceOf(service);
      const stub = new Stub(address, creds, {
        ...channelOptions, channelOverride: this.channel, interceptors: opts.interceptors || [],
      });
      this.stubs[ns] = stub;
      this[ns] = {};
      for (const [method, def] of Object.entries(Stub.service)) {
        let fn;
        if (!def.requestStream && !def.responseStream) {
          fn = (request, callOpts) => this.call(stub, method, def, request, callOpts);
        } else if (!def.requestStream) {
          fn = (request, callOpts) => this.openStream(stub, method, request, callOpts);
        } else {
          continue; // metad has no client-streaming RPC
        }
        // client.runs.startRun(...) and client.startRun(...): RPC names are
        // unique across metad's services.
        this[ns][lowerFirst(method)] = fn;
        this[lowerFirst(method)] = fn;
      }
    }
  }

  /**
   * Calls one RPC. callOpts: { timeoutMs, deadline (Date), metadata
   * (grpc.Metadata or a plain object) }.
   */
  async call(stub, method, def, request = {}, callOpts = {}) {
    const o = this.opts;
    const kind = kindOfDefinition(def);
    let deadline = callOpts.deadline;
    if (!deadline) {
      const timeoutMs = callOpts.timeoutMs ?? o.timeoutMs;
      if (timeoutMs > 0) deadline = new Date(Date.now() + timeoutMs);
    }
    if (kind === 'creating' && !request.requestId) {
      // A copy: reusing the caller's object for another call must not replay.
      request = { ...request, requestId: newRequestId() };
    }
    const metadata = this.metadataFor(callOpts.metadata);
    let backoff = o.initialBackoffMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await new Promise((resolve, reject) => {
          stub[method](request, metadata, deadline ? { deadline } : {}, (err, response) =>
            (err ? reject(err) : resolve(response)));
        });
      } catch (err) {
        if (kind === 'once' || attempt >= o.maxAttempts || !RETRYABLE.has(err.code)) throw err;
        const wait = backoff / 2 + Math.random() * (backoff / 2);
        if (deadline && deadline.getTime() - Date.now() < wait) throw err;
        await sleep(wait);
        backoff = Math.min(backoff * 2, o.maxBackoffMs);
      }
    }
  }

  /**
   * Opens a server stream (WatchFiles, WatchRuns): a WatchStream (watch.js),
   * an object-mode Readable of the events ('data', 'error', 'end'; also
   * `for await`; cancel() to stop) that resumes by itself from the last
   * event id after UNAVAILABLE. callOpts: { timeoutMs, deadline (none by
   * default: streams are meant to stay open; one for all reconnections),
   * metadata, resume (true), maxReconnects (Infinity: failed calls in a row
   * before UNAVAILABLE surfaces) }.
   */
  openStream(stub, method, request = {}, callOpts = {}) {
    let { deadline } = callOpts;
    if (!deadline && callOpts.timeoutMs > 0) deadline = new Date(Date.now() + callOpts.timeoutMs);
    const metadata = this.metadataFor(callOpts.metadata);
    const open = (req, dl) => stub[method](req, metadata, dl ? { deadline: dl } : {});
    return new WatchStream(open, request, {
      deadline,
      resume: callOpts.resume !== false,
      maxReconnects: callOpts.maxReconnects ?? Infinity,
      initialBackoffMs: this.opts.initialBackoffMs,
      maxBackoffMs: this.opts.maxBackoffMs,
    });
  }

  metadataFor(extra) {
    let md;
    if (extra instanceof grpc.Metadata) {
      md = extra.clone();
    } else {
      md = new grpc.Metadata();
      for (const [k, v] of Object.entries(extra || {})) md.set(k, v);
    }
    if (this.token) md.set('authorization', `Bearer ${this.token}`);
    return md;
  }

  /** Resolves once the connection is ready (rejects after timeoutMs). */
  ready(timeoutMs = 10000) {
    const deadline = new Date(Date.now() + timeoutMs);
    return new Promise((resolve, reject) => {
      this.stubs.files.waitForReady(deadline, (err) => (err ? reject(err) : resolve()));
    });
  }

  close() {
    for (const stub of Object.values(this.stubs)) stub.close();
    this.channel.close();
  }
}

// google/rpc/status.proto and error_details.proto: $METAD_GOOGLEAPIS_DIR,
// else the copy in the package, else Debian's
// golang-github-gogo-googleapis-dev (a checkout of the repository).
function googleapisDir() {
  if (process.env.METAD_GOOGLEAPIS_DIR) return process.env.METAD_GOOGLEAPIS_DIR;
  return IN_CHECKOUT ? '/usr/share/gocode/src/github.com/gogo/googleapis' : BUNDLED_PROTO_DIR;
}
let rpcRoot = null;

function loadRpcRoot() {
  if (rpcRoot) return rpcRoot;
  const root = new protobuf.Root();
  const dir = googleapisDir();
  // google/protobuf/*.proto come bundled with protobufjs.
  root.resolvePath = (origin, target) => (target.startsWith('google/rpc/') ? path.join(dir, target) : target);
  root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto'], { keepCase: true });
  rpcRoot = root.resolveAll();
  return rpcRoot;
}

/**
 * The google.rpc.Status metad sends with a refusal (grpc-status-details-bin
 * trailer), decoded: { code, message, details: [{ '@type': 'google.rpc.ErrorInfo',
 * reason, domain, metadata }, { '@type': 'google.rpc.PreconditionFailure',
 * violations: [{ type, subject, description }] }, ...], errorInfo,
 * violations, fieldViolations, resourceInfo }. null when the error has none.
 */
function errorDetails(err) {
  const values = err && err.metadata ? err.metadata.get('grpc-status-details-bin') : [];
  if (!values || values.length === 0) return null;
  const root = loadRpcRoot();
  const Status = root.lookupType('google.rpc.Status');
  const status = Status.decode(values[0]);
  const out = {
    code: status.code, message: status.message, details: [], errorInfo: null, violations: [], fieldViolations: [], resourceInfo: null,
  };
  for (const any of status.details) {
    const typeName = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
    let type;
    try {
      type = root.lookupType(typeName);
    } catch (e) {
      out.details.push({ '@type': typeName });
      continue;
    }
    const detail = { '@type': typeName, ...type.toObject(type.decode(any.value), { defaults: true }) };
    out.details.push(detail);
    if (typeName === 'google.rpc.ErrorInfo') out.errorInfo = detail;
    else if (typeName === 'google.rpc.PreconditionFailure') out.violations.push(...detail.violations);
    else if (typeName === 'google.rpc.BadRequest') out.fieldViolations.push(...detail.field_violations);
    else if (typeName === 'google.rpc.ResourceInfo') out.resourceInfo = detail;
  }
  return out;
}

/** A google.protobuf.Timestamp ({ seconds, nanos }) as a Date; null stays null. */
function toDate(ts) {
  if (!ts) return null;
  return new Date(Number(ts.seconds) * 1000 + Math.floor((ts.nanos || 0) / 1e6));
}

/** Every RPC as 'Service/Method', from the proto files. */
// Makes task `name` exist with `settings` ({description, maxAttempts,
// defaultLeaseSeconds, concurrencyLimit, concurrencyKeyLabel,
// expectedDurationMs}; description always compared, a 0 or missing number
// means "whatever is stored", but for the concurrency settings only a
// missing one does) without clobbering a concurrent change:
// registers it when missing; otherwise updateTask with only the differing
// fields in the mask and the etag it read. On ABORTED (ETAG_MISMATCH: the
// task changed in between) it reads, compares and updates again, `attempts`
// times in all. Resolves to the task as stored; rejects with the last
// ABORTED, or any other error as is.
async function ensureTask(client, name, settings = {}, attempts = 5) {
  const want = {
    description: settings.description || '',
    maxAttempts: settings.maxAttempts || 0,
    defaultLeaseSeconds: settings.defaultLeaseSeconds || 0,
  };
  // expectedDurationMs: Task.expected_duration in milliseconds (0 or absent:
  // whatever is stored).
  const ms = settings.expectedDurationMs || 0;
  const expected = ms > 0
    ? { seconds: Math.floor(ms / 1000), nanos: Math.round((ms % 1000) * 1e6) }
    : null;
  let last;
  for (let i = 0; i < Math.max(attempts, 1); i++) {
    let task;
    try {
      task = await client.getTask({ name });
    } catch (err) {
      if (err.code !== grpc.status.NOT_FOUND) throw err;
      const resp = await client.registerTask({ name, ...want, expectedDuration: expected });
      if (!resp.created) continue; // registered by someone else meanwhile: compare again
      task = resp.task; // RegisterTask does not take the concurrency settings
    }
    const next = { name };
    const paths = [];
    if (task.description !== want.description) {
      next.description = want.description;
      paths.push('description');
    }
    for (const [field, path] of [['maxAttempts', 'max_attempts'],
      ['defaultLeaseSeconds', 'default_lease_seconds']]) {
      if (want[field] !== 0 && task[field] !== want[field]) {
        next[field] = want[field];
        paths.push(path);
      }
    }
    // concurrencyLimit (0 removes it) and concurrencyKeyLabel ('' makes it
    // global): undefined keeps what is stored.
    for (const [field, path] of [['concurrencyLimit', 'concurrency_limit'],
      ['concurrencyKeyLabel', 'concurrency_key_label']]) {
      if (settings[field] !== undefined && task[field] !== settings[field]) {
        next[field] = settings[field];
        paths.push(path);
      }
    }
    const stored = task.expectedDuration;
    if (expected && (!stored || Number(stored.seconds) !== expected.seconds
        || (stored.nanos || 0) !== expected.nanos)) {
      next.expectedDuration = expected;
      paths.push('expected_duration');
    }
    if (paths.length === 0) return task;
    try {
      return await client.updateTask({ task: next, updateMask: { paths }, etag: task.etag });
    } catch (err) {
      if (err.code !== grpc.status.ABORTED) throw err;
      last = err; // changed since the read: read and decide again
    }
  }
  throw last;
}

function listMethods(protoDir) {
  const out = [];
  for (const [service, Stub] of servicesOf(loadPackage(protoDir))) {
    for (const method of Object.keys(Stub.service)) out.push(`${service}/${method}`);
  }
  return out;
}

// A label or attribute selector (listRuns' labelSelector, listFiles'
// attributeSelector, the watch requests'): selector({ env: 'prod', sha: null })
// is 'env=prod,sha' (sha: present). ',', '=', '\\' and spaces at either end
// are escaped with '\\'. A string is returned as written.
function selector(terms) {
  if (!terms) return '';
  if (typeof terms === 'string') return terms;
  const escape = (s) => String(s).replace(/[,=\\]|^ | $/g, (c) => `\\${c}`);
  return Object.entries(terms)
    .map(([k, v]) => (v === null || v === undefined ? escape(k) : `${escape(k)}=${escape(v)}`))
    .join(',');
}

module.exports = {
  connect,
  selector,
  // The worker helper (worker.js), loaded on first use: worker.js itself
  // requires this module.
  get WorkerRun() { return require('./worker').WorkerRun; },
  get RunLost() { return require('./worker').RunLost; },
  get startWorkerRun() { return require('./worker').startWorkerRun; },
  get withWorkerRun() { return require('./worker').withWorkerRun; },
  Client,
  WatchStream,
  kindOf,
  ensureTask,
  newRequestId,
  loadPackage,
  listMethods,
  errorDetails,
  namespaceOf,
  toDate,
  status: grpc.status,
  Metadata: grpc.Metadata,
  DEFAULTS,
};
