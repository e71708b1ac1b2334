// A TypeScript consumer of the package: `tsc --noEmit --strict` must accept
// it (test/install.sh). It is type-checked, never run.
import * as metad from 'metad-client';
import { WorkerRun, withWorkerRun } from 'metad-client/worker';

async function main(): Promise<void> {
  const client: metad.Client = metad.connect('127.0.0.1:50051', { tokenFile: '/etc/metad/token', timeoutMs: 5000 });
  const started: metad.StartRunResponse__Output = await client.startRun({ task: 'load_sales', batchId: '2024-03' });
  const run: metad.Run__Output | null = started.run;
  const id: number = run ? run.id : 0;
  const status: metad.RunStatus__Output = run ? run.status : 'RUN_STATUS_UNSPECIFIED';
  const files = await client.files.listFiles({ source: 's3://sales', pageSize: 10 }, { timeoutMs: 1000 });
  for (const f of files.files) console.log(f.id + 1, f.fileName.toUpperCase(), metad.toDate(f.createTime));
  await client.deps.addDependency({ parentTask: 'load_sales', childTask: 'calculate_profit' });
  await client.admin.pruneHistory({ olderThan: { seconds: 86400 * 30 }, dryRun: true });

  const stream: metad.WatchStream<metad.WatchedRunEvent__Output> = client.watchRuns({ afterEventId: -1, batchId: '2024-03' });
  stream.on('reconnect', (info) => console.log(info.afterEventId, info.error.code));
  for await (const e of stream) {
    const eventId: number = e.event ? e.event.id : 0;
    // @ts-expect-error: the events are typed (not any)
    const wrongly: string = e.event;
    console.log(eventId, wrongly, stream.afterEventId);
    if (e.event && e.event.toStatus === 'RUN_STATUS_SUCCESS') stream.cancel();
  }

  const w: WorkerRun = await metad.startWorkerRun(client, 'load_sales', '2024-03', { leaseSeconds: 60 });
  for (const f of await w.claimFiles(100, 's3://sales')) await w.completeFile(f, 'SUCCESS');
  const done = await w.finish('SUCCESS');
  console.log(done.filesFinished, id, status);
  const n: number = await withWorkerRun(client, 'calculate_profit', '2024-03', {}, async (r) => r.received().length);
  console.log(n, metad.kindOf('/metad.v1.TaskLogService/StartRun'));

  try {
    await client.getRun({ runId: 1 });
  } catch (err) {
    const d = metad.errorDetails(err);
    if (d && d.errorInfo) console.log(d.errorInfo.reason);
    if (err instanceof metad.RunLost && err.code === metad.status.FAILED_PRECONDITION) console.log(err.runId);
  }
  client.close();
}

// Mistakes the declarations must catch.
async function wrong(client: metad.Client): Promise<void> {
  // @ts-expect-error: batchId is a string
  await client.startRun({ task: 'x', batchId: 7 });
  // @ts-expect-error: no such RPC
  await client.startRuns({});
  // @ts-expect-error: responses are not Runs
  const r: metad.Run__Output = await client.getBatch({ batchId: 'b' });
  console.log(r);
}

void main;
void wrong;
