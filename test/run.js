#!/usr/bin/env node
// Runs every test tier from the compiled output (npm test builds first), one file at a time:
// the root and docker tiers share the kernel's mount table and must not overlap.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const path = require('node:path');

const tiers = ['unit', 'root', 'protocol', 'docker'];
const only = process.argv.slice(2);
const dirs = (only.length ? only : tiers)
  .map((t) => path.join(__dirname, '..', 'dist', 'test', t))
  .filter((d) => existsSync(d));
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...dirs], { stdio: 'inherit' });
process.exit(result.status ?? 1);
