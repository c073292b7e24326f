#!/usr/bin/env node
'use strict';
// Thin launcher: the CLI is bundled by `npm run build` into dist/ringtrain.cjs.
const path = require('node:path');
const fs = require('node:fs');
const bundle = path.resolve(__dirname, '../../../dist/ringtrain.cjs');
if (!fs.existsSync(bundle)) {
  process.stderr.write(`ringtrain: ${bundle} is missing. Run \`npm run setup\` (installs and builds) from the repository root first.\n`);
  process.exit(2);
}
require(bundle);
