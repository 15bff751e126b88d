#!/usr/bin/env node
// `npm run bench` starts the bench under the LTS node that test/setup-node.sh installs, as
// `npm test` does for the tests (the bench drives Strata through the test helpers, which need
// Node 22 or later: node:sqlite), whatever node npm runs on; otherwise under this node if it is
// recent enough.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const path = require('node:path');

const MIN_MAJOR = 22;
const lts = path.join(process.env.STRATA_TEST_NODE_PREFIX || '/opt/strata-test/node', 'lts', 'bin', 'node');
const node = existsSync(lts) ? lts : Number(process.versions.node.split('.')[0]) >= MIN_MAJOR ? process.execPath : undefined;
if (!node) {
  console.error(`npm run bench: node v${process.versions.node} is older than ${MIN_MAJOR} and no LTS node is installed: run \`sudo bash test/setup.sh\``);
  process.exit(2);
}
const env = { ...process.env, PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH ?? ''}` };
const result = spawnSync(node, [path.join(__dirname, '..', 'dist', 'bench', 'run.js'), ...process.argv.slice(2)], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
