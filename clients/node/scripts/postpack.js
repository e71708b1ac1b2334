#!/usr/bin/env node
'use strict';
// Removes what prepack.js built (the checkout's client never reads it: it
// uses the repository's proto/), so no stale copy lingers.
const fs = require('node:fs');
const path = require('node:path');

for (const p of ['proto', 'types', 'LICENSE']) fs.rmSync(path.join(__dirname, '..', p), { recursive: true, force: true });
