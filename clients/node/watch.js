'use strict';
// WatchStream: a WatchFiles/WatchRuns stream that resumes by itself.
//
// metad ends watch streams with UNAVAILABLE when it shuts down or its
// database fails; the events are read from the event tables by cursor, so a
// new call with after_event_id = the id of the last event received goes on
// without gaps or repeats, on any replica (proto/metad/v1/watch.proto). This
// stream does that: it remembers the cursor (the last event id, or before
// the first event the `metad-after-event-id` header, the resolved start),
// and after UNAVAILABLE (or a CANCELLED it did not ask for: a stream opened
// while metad was stopping) calls again from it, with backoff. Every other end
// surfaces: OUT_OF_RANGE ("history pruned": the cursor is older than what
// retention kept; resume with -1 or 0 and rebuild from Get/List),
// DEADLINE_EXCEEDED, PERMISSION_DENIED, ... as the stream's 'error'.
// cancel() ends it quietly ('end', or the end of a `for await`).

const { Readable } = require('node:stream');
const grpc = require('@grpc/grpc-js');

const START_HEADER = 'metad-after-event-id';

class WatchStream extends Readable {
  /**
   * open(request, deadline) starts one call (a grpc-js readable stream).
   * opts: afterEventId (the request's), deadline (all calls together),
   * initialBackoffMs, maxBackoffMs, maxReconnects (failed calls in a row
   * before the error surfaces; Infinity by default), resume (false: no
   * reconnection at all).
   */
  constructor(open, request, opts) {
    super({ objectMode: true, highWaterMark: 64 });
    this._openCall = open;
    this._request = request;
    this._opts = opts;
    /** Where a new call would start: the last event id received, or the resolved start. */
    this.afterEventId = Number(request.afterEventId || 0);
    /** Calls made after the first (successful or not). */
    this.reconnects = 0;
    this._eventSeen = false;
    this._failures = 0; // failed calls since the last progress
    this._backoff = opts.initialBackoffMs;
    this._call = null;
    this._timer = null;
    this._cancelled = false;
    this._start();
  }

  /** Stops the stream (and any pending reconnection); it ends without an error. */
  cancel() {
    if (this._cancelled || this.destroyed) return;
    this._cancelled = true;
    if (this._timer) clearTimeout(this._timer);
    this._timer = null;
    if (this._call) this._call.cancel();
    else this.push(null);
  }

  _read() {
    if (this._call) this._call.resume();
  }

  _destroy(err, callback) {
    this._cancelled = true;
    if (this._timer) clearTimeout(this._timer);
    if (this._call) this._call.cancel();
    callback(err);
  }

  _start() {
    const call = this._openCall({ ...this._request, afterEventId: this.afterEventId }, this._opts.deadline);
    this._call = call;
    let error = null;
    call.on('metadata', (md) => {
      const [start] = md.get(START_HEADER);
      if (start === undefined) return;
      this._progress(); // the daemon serves the stream
      if (!this._eventSeen) this.afterEventId = Number(start);
    });
    call.on('data', (e) => {
      this._progress();
      this._eventSeen = true;
      if (e && e.event) this.afterEventId = Number(e.event.id);
      if (!this.push(e)) call.pause();
    });
    // grpc-js emits 'error' when the status arrives, then 'end' once the
    // events before it are read: decide at 'end', so none is lost or reordered.
    call.on('error', (err) => { error = err; });
    call.on('end', () => this._ended(call, error));
  }

  _progress() {
    this._failures = 0;
    this._backoff = this._opts.initialBackoffMs;
  }

  _ended(call, err) {
    if (call !== this._call || this.destroyed) return;
    this._call = null;
    if (this._cancelled) {
      this.push(null);
      return;
    }
    if (!err) {
      this.push(null); // the server ended the stream (metad's never do by themselves)
      return;
    }
    const o = this._opts;
    this._failures += 1;
    const deadline = o.deadline ? o.deadline.getTime() : Infinity;
    const wait = this._backoff / 2 + Math.random() * (this._backoff / 2);
    // CANCELLED here was not ours (cancel() is handled above): gRPC gives it
    // to a stream that opened while metad was stopping. Resumable too.
    const resumable = err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.CANCELLED;
    if (!resumable || o.resume === false
        || this._failures > o.maxReconnects || Date.now() + wait >= deadline) {
      this.destroy(err);
      return;
    }
    this._backoff = Math.min(this._backoff * 2, o.maxBackoffMs);
    this.emit('reconnect', { error: err, afterEventId: this.afterEventId, attempt: this._failures });
    this._timer = setTimeout(() => {
      this._timer = null;
      if (this._cancelled) {
        this.push(null);
        return;
      }
      this.reconnects += 1;
      this._start();
    }, wait);
  }
}

module.exports = { WatchStream, START_HEADER };
