'use strict';
// Labels and search (issue 15): startWorkerRun's labels, listRuns and
// listFiles with selectors, and metad.selector's escaping.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const metad = require('../metad');
const { useDaemon } = require('./support/daemon');

const need = useDaemon('node_labels', { before, after });
const suffix = `${process.pid}_${Date.now() % 1000000}`;
const name = (base) => `${base}_${suffix}`;

test('selector escapes and passes strings through', () => {
  assert.equal(metad.selector(null), '');
  assert.equal(metad.selector('env=prod,sha'), 'env=prod,sha');
  assert.equal(metad.selector({ env: 'prod', sha: null }), 'env=prod,sha');
  assert.equal(metad.selector({ 'a,b': 'x=y', sp: ' v ' }), 'a\\,b=x\\=y,sp=\\ v\\ ');
});

test('run labels are stored and selected; files by attributes', async (t) => {
  const address = need(t);
  if (!address) return;
  const c = metad.connect(address);
  t.after(() => c.close());
  const task = name('labelled');
  await c.registerTask({ name: task });
  const run = await metad.startWorkerRun(c, task, 'b1', { labels: { env: 'prod', sha: suffix } });
  assert.deepEqual({ ...run.run.labels }, { env: 'prod', sha: suffix });
  await run.finish('SUCCESS');
  const { runs } = await c.listRuns({ labelSelector: metad.selector({ sha: suffix }) });
  assert.deepEqual(runs.map((r) => Number(r.id)), [Number(run.id)]);

  const source = name('s3://labels');
  const { results } = await c.registerFiles({ files: [
    { source, fileName: 'a.csv', attributes: { region: 'eu' } },
    { source, fileName: 'b.csv', attributes: { region: 'us' } }] });
  const { files } = await c.listFiles({ source, attributeSelector: metad.selector({ region: 'eu' }) });
  assert.deepEqual(files.map((f) => Number(f.id)), [Number(results[0].file.id)]);
});
