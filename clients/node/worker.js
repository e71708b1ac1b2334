'use strict';
// WorkerRun: one run of a task, the safe way (as the Python client's
// WorkerRun): StartRun with one request_id, heartbeats every third of the
// lease, a request_id per ClaimFiles (so the client's retries after a lost
// answer get the same files), and FinishRun naming every file the worker
// received, so a held file whose claim answer never arrived goes back to
// NEW (files_released) instead of being recorded as processed.
//
//   const run = await metad.startWorkerRun(client, 'load_sales', '2024-03', { leaseSeconds: 60 });
//   try {
//     for (const file of await run.claimFiles(100, 's3://sales')) { ... }
//     await run.finish('SUCCESS');
//   } finally {
//     run.stopHeartbeats();
//   }
//
// or, finishing SUCCESS when body resolves and ERROR (with its message) when
// it throws: await metad.withWorkerRun(client, task, batchId, opts, async (run) => { ... }).

const os = require('node:os');
const metad = require('./metad');

const { status } = metad;
const MAX_ERROR_MESSAGE_BYTES = 4096;
const TRANSIENT = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.ABORTED,
  status.RESOURCE_EXHAUSTED, status.CANCELLED]);
const RUN_OVER = new Set(['RUN_ENDED', 'RUN_CANCELLED', 'LEASE_EXPIRED']);

/**
 * The run is over on the daemon's side (its lease lapsed, it was cancelled,
 * or it ended otherwise): nothing more may be done in it. code, details and
 * metadata are those of the refusal that revealed it (normally
 * FAILED_PRECONDITION), so code handling grpc errors handles this too.
 */
class RunLost extends Error {
  constructor(runId, cause) {
    super(`run ${runId} lost: ${cause ? cause.details || cause.message : 'lease lost'}`);
    this.name = 'RunLost';
    this.runId = runId;
    this.cause = cause;
    this.code = cause && Number.isInteger(cause.code) ? cause.code : status.FAILED_PRECONDITION;
    this.details = this.message;
    this.metadata = cause && cause.metadata;
  }
}

/** The ErrorInfo reason metad sent with err ('RUN_ENDED', ...), or ''. */
function reasonOf(err) {
  try {
    const details = metad.errorDetails(err);
    return (details && details.errorInfo && details.errorInfo.reason) || '';
  } catch {
    return '';
  }
}

// err says the run is over (not just that one request was wrong).
function endsRun(err) {
  if (!err || err.code !== status.FAILED_PRECONDITION) return false;
  const reason = reasonOf(err);
  return reason === '' || RUN_OVER.has(reason);
}

function isTransient(err) {
  return Boolean(err) && TRANSIENT.has(err.code);
}

/** "Type: message" of an error, cut to what FinishRun accepts. */
function errorMessage(err) {
  const text = err instanceof Error ? (err.message ? `${err.name}: ${err.message}` : err.name) : String(err);
  return cutMessage(text);
}

function cutMessage(text) {
  const buf = Buffer.from(text || '', 'utf8');
  if (buf.length <= MAX_ERROR_MESSAGE_BYTES) return text || '';
  // Drop a rune cut in two (its trailing bytes, 10xxxxxx, and its lead).
  let end = MAX_ERROR_MESSAGE_BYTES;
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}

function enumName(prefix, value) {
  return typeof value === 'string' && !value.startsWith(prefix) ? prefix + value.toUpperCase() : value;
}

function defaultWorkerId() {
  return `${os.hostname()}:${process.pid}`;
}

class WorkerRun {
  /**
   * opts: workerId (host:pid), leaseSeconds (0: the task's default),
   * requestId (StartRun's key, chosen once; default a fresh one),
   * heartbeatMs (0: a third of the granted lease; negative: none),
   * labels (an object of strings stored with the run; listRuns and
   * watchRuns select by them, see metad.selector).
   */
  constructor(client, task, batchId, opts = {}) {
    this.client = client;
    this.task = task;
    this.batchId = batchId;
    this.workerId = opts.workerId || defaultWorkerId();
    this.requestId = opts.requestId || metad.newRequestId();
    this.leaseRequest = opts.leaseSeconds || 0;
    this.heartbeatMs = opts.heartbeatMs || 0;
    this.labels = { ...(opts.labels || {}) };
    this.run = null; // the latest Run message
    this.leaseSeconds = null; // as granted
    this._received = new Set();
    this._pending = null; // a claim whose answer was lost: { requestId, limit, source }
    this._lost = null;
    this._finished = false;
    this._stopped = false;
    this._timer = null;
    this._beating = null; // the heartbeat in flight
  }

  get id() {
    return this.run ? this.run.id : 0;
  }

  /** True once the run is known to be lost. */
  get lost() {
    return this._lost !== null;
  }

  /** True once finish() succeeded. */
  get finished() {
    return this._finished;
  }

  /** Throws RunLost if the run is known to be lost. */
  check() {
    if (this._lost) throw this._lost;
  }

  /** Every file id received (claimed, or named to completeFile), sorted: what finish() names. */
  received() {
    return [...this._received].sort((a, b) => a - b);
  }

  /** StartRun, then the heartbeats; resolves to the Run. */
  async start() {
    if (this.run) throw new Error(`run ${this.run.id} already started`);
    const { run } = await this.client.startRun({
      task: this.task, batchId: this.batchId, workerId: this.workerId,
      leaseSeconds: this.leaseRequest, requestId: this.requestId,
      labels: this.labels,
    });
    this.run = run;
    const granted = (metad.toDate(run.leaseExpireTime) - metad.toDate(run.startTime)) / 1000;
    this.leaseSeconds = granted > 0 ? granted : (this.leaseRequest || 60);
    if (this.heartbeatMs >= 0) {
      const interval = this.heartbeatMs || (this.leaseSeconds * 1000) / 3;
      this._schedule(interval, interval);
    }
    return run;
  }

  /**
   * Moves up to `limit` NEW files (of `source`, or any) to PROCESSING under
   * this run; resolves to them (maybe none). Each claim has its own
   * request_id, kept by the client's retries; when the call still fails
   * with a transient code, the next claim with the same limit and source
   * reuses it, so the files of the lost claim are not left behind.
   */
  async claimFiles(limit = 100, source = '') {
    this.check();
    let claim = this._pending;
    if (!claim || claim.limit !== limit || claim.source !== source) {
      claim = { requestId: metad.newRequestId(), limit, source };
    }
    let response;
    try {
      response = await this.client.claimFiles({ runId: this.id, source, limit, requestId: claim.requestId });
    } catch (err) {
      if (isTransient(err)) this._pending = claim;
      throw this._note(err);
    }
    this._pending = null;
    for (const f of response.files) this._received.add(f.id);
    return response.files;
  }

  /**
   * Ends one file early: 'SUCCESS', or 'ERROR' with a message (or the
   * FILE_STATUS_ names). `file` is a File or its id. Resolves to the file.
   */
  async completeFile(file, fileStatus = 'SUCCESS', message = '') {
    this.check();
    const fileId = typeof file === 'object' ? file.id : file;
    let response;
    try {
      response = await this.client.completeFile({
        fileId, runId: this.id, status: enumName('FILE_STATUS_', fileStatus), errorMessage: cutMessage(message),
      });
    } catch (err) {
      // It may have taken effect: the worker has the file either way.
      if (isTransient(err)) this._received.add(fileId);
      throw this._note(err);
    }
    this._received.add(fileId);
    return response.file;
  }

  failFile(file, message) {
    return this.completeFile(file, 'ERROR', message);
  }

  /** Extends the lease now; resolves to the Run. Any refusal that is not transient loses the run. */
  async heartbeat(callOpts) {
    this.check();
    let response;
    try {
      response = await this.client.heartbeat({ runId: this.id }, callOpts);
    } catch (err) {
      if (!isTransient(err)) throw this._lose(err);
      throw err;
    }
    if (!this._finished) this.run = response.run;
    return response.run;
  }

  /**
   * Ends the run ('SUCCESS', or 'ERROR' with a message; or the RUN_STATUS_
   * names) and stops the heartbeats. Names every file received: those the
   * run still holds take the outcome, held files never received go back to
   * NEW (files_released). After a transient failure it may be called again:
   * a FinishRun that took effect is answered as the first (replayed).
   */
  async finish(runStatus = 'SUCCESS', message = '') {
    await this.stopHeartbeats();
    this.check();
    let response;
    try {
      response = await this.client.finishRun({
        runId: this.id, status: enumName('RUN_STATUS_', runStatus),
        errorMessage: cutMessage(message), fileIds: this.received(),
      });
    } catch (err) {
      throw this._note(err);
    }
    this.run = response.run;
    this._finished = true;
    return response;
  }

  /** Stops the heartbeats; resolves once a beat in flight is over. */
  stopHeartbeats() {
    this._stopped = true;
    if (this._timer) clearTimeout(this._timer);
    this._timer = null;
    return this._beating || Promise.resolve();
  }

  // -- internals ----------------------------------------------------------

  _note(err) {
    return endsRun(err) ? this._lose(err) : err;
  }

  _lose(err) {
    if (!this._lost) {
      this._lost = new RunLost(this.id, err);
      this._stopped = true;
      if (this._timer) clearTimeout(this._timer);
      this._timer = null;
    }
    return this._lost;
  }

  _schedule(wait, interval, failures = 0) {
    if (this._stopped) return;
    this._timer = setTimeout(() => {
      this._timer = null;
      this._beating = this._beat(interval, failures).finally(() => { this._beating = null; });
    }, wait);
    this._timer.unref();
  }

  async _beat(interval, failures) {
    if (this._stopped) return;
    try {
      await this.heartbeat({ timeoutMs: Math.max(1000, interval) });
      this._schedule(interval, interval);
    } catch (err) {
      if (this._lost || !isTransient(err)) return; // lost: no more beats
      // Sooner than the next beat: the lease must not lapse.
      const next = failures + 1;
      this._schedule(Math.min(interval, 100 * 2 ** next), interval, next);
    }
  }
}

/** Starts a run (StartRun and heartbeats); resolves to its WorkerRun. */
async function startWorkerRun(client, task, batchId, opts = {}) {
  const run = new WorkerRun(client, task, batchId, opts);
  await run.start();
  return run;
}

/**
 * Runs body(run) in a new run: finishes it SUCCESS when body resolves
 * (unless body finished it), ERROR with the error's message when body
 * throws (unless the run is lost: the daemon already ended it), and
 * resolves to body's result.
 */
async function withWorkerRun(client, task, batchId, opts, body) {
  const run = await startWorkerRun(client, task, batchId, opts);
  let result;
  try {
    result = await body(run);
  } catch (err) {
    await run.stopHeartbeats();
    if (!run.finished && !run.lost) {
      try {
        await run.finish('ERROR', errorMessage(err));
      } catch (finishErr) {
        err.finishError = finishErr;
      }
    }
    throw err;
  }
  if (!run.finished) await run.finish('SUCCESS');
  return result;
}

module.exports = {
  WorkerRun, RunLost, startWorkerRun, withWorkerRun, reasonOf, errorMessage, MAX_ERROR_MESSAGE_BYTES,
};
