#!/usr/bin/env node
'use strict';
// Removes what prepack.js built: a stale proto/ copy must not shadow the
// repository's proto/ when the client runs from the checkout.
const fs = require('node:fs');
const path = require('node:path');

for (const p of ['proto', 'types', 'LICENSE']) fs.rmSync(path.join(__dirname, '..', p), { recursive: true, force: true });
