// TypeScript declarations of metad-client (metad.js, worker.js, watch.js).
// The message types (types/metad/v1/*) and the wrappers of every RPC
// (types/client.d.ts) are generated from the protos when the package is
// built (scripts/prepack.js); this file declares the rest by hand.
//
// Requests take the permissive input shapes (`StartRunRequest`: every field
// optional, int64 as number | string | Long); responses are the `__Output`
// shapes metad.js returns (every field present, int64 as number, enums as
// their names, unset messages null).

import type { Readable } from 'node:stream';
import type * as grpc from '@grpc/grpc-js';
import type { MetadMethods, Namespaces } from './types/client';
import type { Run__Output } from './types/metad/v1/Run';
import type { File__Output } from './types/metad/v1/File';
import type { Task__Output } from './types/metad/v1/Task';
import type { FinishRunResponse__Output } from './types/metad/v1/FinishRunResponse';
import type { Timestamp } from './types/google/protobuf/Timestamp';

export type { MetadMethods, Namespaces } from './types/client';
export * from './types/messages';

/** Options of connect(). */
export interface ConnectOptions {
  /** Bearer token sent as `authorization: Bearer ...`. */
  token?: string | null;
  /** File holding the token (read once, whitespace trimmed; an empty file throws). */
  tokenFile?: string | null;
  /** false (default), true (system roots), or files/Buffers (cert + key: mutual TLS). */
  tls?: boolean | TlsOptions;
  /** Deadline of every call, all attempts together (30000); 0 for none. */
  timeoutMs?: number;
  /** Tries of a retryable call in all (5; 1: no retries). */
  maxAttempts?: number;
  /** Wait between attempts, doubling with jitter (50, 2000). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Extra grpc-js channel options. */
  channelOptions?: grpc.ChannelOptions;
  /** grpc-js client interceptors, run inside the retries (each attempt). */
  interceptors?: grpc.Interceptor[];
  /** Where metad/v1/*.proto live (default: the copy in the package). */
  protoDir?: string;
}

export interface TlsOptions {
  ca?: string | Buffer | null;
  cert?: string | Buffer | null;
  key?: string | Buffer | null;
  serverName?: string;
}

/** Options of one unary call. */
export interface CallOptions {
  timeoutMs?: number;
  deadline?: Date;
  metadata?: grpc.Metadata | Record<string, string | Buffer>;
}

/** Options of a server stream (WatchFiles, WatchRuns). */
export interface StreamCallOptions extends CallOptions {
  /** Reconnect after UNAVAILABLE from the last event id (true). */
  resume?: boolean;
  /** Failed calls in a row before UNAVAILABLE surfaces (Infinity). */
  maxReconnects?: number;
}

/** Emitted by a WatchStream before it calls again. */
export interface ReconnectInfo {
  error: grpc.ServiceError;
  afterEventId: number;
  attempt: number;
}

/**
 * A server stream that resumes by itself after UNAVAILABLE from the last
 * event id; other ends (OUT_OF_RANGE: history pruned) are its 'error'.
 */
export declare class WatchStream<T> extends Readable {
  /** Where a new call would start: the last event id received, or the resolved start. */
  readonly afterEventId: number;
  /** Calls made after the first. */
  readonly reconnects: number;
  /** Stops the stream; it ends without an error. */
  cancel(): void;
  /** `for await (const event of stream)`: events of type T (Readable's iterator, typed). */
  [Symbol.asyncIterator](): Omit<ReturnType<Readable[typeof Symbol.asyncIterator]>, 'next' | 'return' | 'throw'> & {
    next(...args: [] | [unknown]): Promise<IteratorResult<T, undefined>>;
    return(value?: unknown): Promise<IteratorResult<T, undefined>>;
    throw(e?: unknown): Promise<IteratorResult<T, undefined>>;
  };
  on(event: 'data', listener: (event: T) => void): this;
  on(event: 'reconnect', listener: (info: ReconnectInfo) => void): this;
  on(event: 'error', listener: (err: grpc.ServiceError) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

/** 'read', 'creating', 'idempotent' or 'once': how a call may be retried. */
export type MethodKind = 'read' | 'creating' | 'idempotent' | 'once';

export declare class Client {
  constructor(address: string, opts?: ConnectOptions);
  readonly address: string;
  /** Resolves once the connection is ready (rejects after timeoutMs, 10000). */
  ready(timeoutMs?: number): Promise<void>;
  close(): void;
}
export interface Client extends MetadMethods, Namespaces {}

/** Connects to metad (lazily: the first call, or ready(), opens the connection). */
export declare function connect(address: string, opts?: ConnectOptions): Client;

/** The decoded google.rpc.Status of a refusal (grpc-status-details-bin). */
export interface ErrorDetails {
  code: number;
  message: string;
  details: Array<{ '@type': string; [field: string]: unknown }>;
  errorInfo: { '@type': string; reason: string; domain: string; metadata: Record<string, string> } | null;
  violations: Array<{ type: string; subject: string; description: string }>;
  fieldViolations: Array<{ field: string; description: string }>;
  resourceInfo: { '@type': string; resource_type: string; resource_name: string; owner: string; description: string } | null;
}

export declare function errorDetails(err: unknown): ErrorDetails | null;
/** Settings ensureTask wants: description always compared; 0 or absent numbers mean "whatever is stored". */
export interface TaskSettings {
  description?: string;
  maxAttempts?: number;
  defaultLeaseSeconds?: number;
  /** Task.concurrency_limit (0 removes it); absent keeps what is stored. Set with updateTask. */
  concurrencyLimit?: number;
  /** Task.concurrency_key_label ('' makes the limit global); absent keeps what is stored. */
  concurrencyKeyLabel?: string;
  /** Task.expected_duration in milliseconds: due this long after the batch's first run. */
  expectedDurationMs?: number;
}
/**
 * Registers the task if missing, else updateTask of only the differing
 * settings with the etag read; re-reads on ABORTED (ETAG_MISMATCH), up to
 * `attempts` (5) times. Resolves to the task as stored.
 */
export declare function ensureTask(client: Client, name: string, settings?: TaskSettings, attempts?: number): Promise<Task__Output>;
export declare function kindOf(fullMethod: string, protoDir?: string): MethodKind;
export declare function newRequestId(): string;
/**
 * A label or attribute selector (labelSelector / attributeSelector): each
 * key with a value must hold exactly it, a key with null must be present.
 * A string is returned as written.
 */
export declare function selector(terms: string | Record<string, string | null> | null | undefined): string;
export declare function listMethods(protoDir?: string): string[];
export declare function namespaceOf(service: string): string;
export declare function toDate(ts: Timestamp | null | undefined): Date | null;
export declare function loadPackage(protoDir?: string): grpc.GrpcObject;
export declare const status: typeof grpc.status;
export declare const Metadata: typeof grpc.Metadata;
export declare const DEFAULTS: Readonly<Required<Pick<ConnectOptions, 'timeoutMs' | 'maxAttempts' | 'initialBackoffMs' | 'maxBackoffMs'>>>;

// -- worker.js -------------------------------------------------------------

export interface WorkerRunOptions {
  /** Default host:pid. */
  workerId?: string;
  /** 0: the task's default lease. */
  leaseSeconds?: number;
  /** StartRun's key, chosen once (default a fresh one). */
  requestId?: string;
  /** 0: a third of the granted lease; negative: no heartbeats. */
  heartbeatMs?: number;
  /** Labels stored with the run (StartRunRequest.labels). */
  labels?: Record<string, string>;
}

export type RunOutcome = 'SUCCESS' | 'ERROR' | 'RUN_STATUS_SUCCESS' | 'RUN_STATUS_ERROR';
export type FileOutcome = 'SUCCESS' | 'ERROR' | 'FILE_STATUS_SUCCESS' | 'FILE_STATUS_ERROR';

/** The run is over on the daemon's side; code/details/metadata are the refusal's. */
export declare class RunLost extends Error {
  readonly runId: number;
  readonly cause: grpc.ServiceError | undefined;
  readonly code: number;
  readonly details: string;
  readonly metadata: grpc.Metadata | undefined;
}

/** One run of a task, the safe way (heartbeats, a request id per claim, FinishRun naming every file received). */
export declare class WorkerRun {
  constructor(client: Client, task: string, batchId: string, opts?: WorkerRunOptions);
  readonly client: Client;
  readonly task: string;
  readonly batchId: string;
  readonly workerId: string;
  readonly requestId: string;
  /** The latest Run message (null before start()). */
  readonly run: Run__Output | null;
  /** The lease as granted, in seconds (null before start()). */
  readonly leaseSeconds: number | null;
  readonly id: number;
  readonly lost: boolean;
  readonly finished: boolean;
  /** Throws RunLost if the run is known to be lost. */
  check(): void;
  /** Every file id received, sorted: what finish() names. */
  received(): number[];
  start(): Promise<Run__Output>;
  claimFiles(limit?: number, source?: string): Promise<File__Output[]>;
  completeFile(file: File__Output | number, fileStatus?: FileOutcome, message?: string): Promise<File__Output>;
  failFile(file: File__Output | number, message: string): Promise<File__Output>;
  heartbeat(callOpts?: CallOptions): Promise<Run__Output>;
  finish(runStatus?: RunOutcome, message?: string): Promise<FinishRunResponse__Output>;
  stopHeartbeats(): Promise<void>;
}

export declare function startWorkerRun(client: Client, task: string, batchId: string,
  opts?: WorkerRunOptions): Promise<WorkerRun>;
export declare function withWorkerRun<T>(client: Client, task: string, batchId: string,
  opts: WorkerRunOptions | undefined, body: (run: WorkerRun) => Promise<T> | T): Promise<T>;
