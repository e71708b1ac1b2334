'use strict';
// A worker as a user of the installed package writes it (test/install.sh
// runs it from a folder outside the repository): a task, a file, a run that
// claims and finishes it, the run's events through a watch, and a refusal's
// details (decoded with the google/rpc protos the package carries).
const metad = require('metad-client');

async function main(address) {
  const client = metad.connect(address);
  const suffix = `${process.pid}_${Date.now()}`;
  const task = `install_${suffix}`;
  const batchId = `b_${suffix}`;
  const source = `s3://install-${suffix}`;
  try {
    await client.registerTask({ name: task });
    await client.registerFile({ file: { source, fileName: 'sales.csv', sizeBytes: 10 } });
    // -1: from the first event kept (the batch is new, so: this run's).
    const watch = client.watchRuns({ afterEventId: -1, batchId });
    const claimed = await metad.withWorkerRun(client, task, batchId, { leaseSeconds: 30 }, async (run) => {
      const files = await run.claimFiles(10, source);
      return files.map((f) => f.fileName);
    });
    const kinds = [];
    for await (const e of watch) {
      kinds.push(e.event.kind);
      if (e.event.toStatus === 'RUN_STATUS_SUCCESS') watch.cancel();
    }
    let reason = '';
    try {
      await client.startRun({ task: `no_such_${suffix}`, batchId });
    } catch (err) {
      const d = metad.errorDetails(err);
      reason = `${err.code}:${d && d.errorInfo ? d.errorInfo.reason : ''}`;
    }
    return { claimed, kinds, reason };
  } finally {
    client.close();
  }
}

main(process.argv[2]).then((out) => console.log(JSON.stringify(out)), (err) => {
  console.error(err);
  process.exit(1);
});
