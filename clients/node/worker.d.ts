// require('metad-client/worker'): the worker helper alone (also exported by
// the package's main module).
export { WorkerRun, RunLost, startWorkerRun, withWorkerRun } from './index';
export declare function reasonOf(err: unknown): string;
export declare function errorMessage(err: unknown): string;
export declare const MAX_ERROR_MESSAGE_BYTES: number;
