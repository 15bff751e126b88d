#!/usr/bin/env node
// Runs test tiers from the compiled output (npm test builds first), one file at a time: the root
// and docker tiers share the kernel's mount table and must not overlap.
//
//   node test/run.js [--node LINE] [TIER...]     e.g. node test/run.js --node 22 unit root protocol
//
// The tests run under the current LTS node that test/setup-node.sh installs
// (/opt/strata-test/node/lts), whatever node started this script, so `sudo npm test` on a machine
// whose system node is 20 still tests the supported line. --node (or STRATA_TEST_NODE) picks
// another: a major line (24), a version (24.22.3), `system` for the node running this script, or
// the path of a node binary.
//
// NOTE: the runner finds the *.test.js files itself and passes them as a list. `node --test DIR`
// works on Node 20 only: Node 22+ reads a directory as a module path (MODULE_NOT_FOUND), and
// Node 21+ takes glob patterns instead (style.md, "Node versions").
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync, readdirSync } = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const TIERS = ['unit', 'root', 'protocol', 'docker'];
const MIN_MAJOR = 22;
const PREFIX = process.env.STRATA_TEST_NODE_PREFIX || '/opt/strata-test/node';
const DIST_TEST = path.join(__dirname, '..', 'dist', 'test');
const SETUP_HINT = 'run `sudo bash test/setup.sh` (or just test/setup-node.sh) to install the tested Node.js lines';

function fail(message) {
  console.error(`test/run.js: ${message}`);
  process.exit(2);
}

/** versionOf asks a node binary for its version, e.g. "26.12.1"; undefined if it does not run. */
function versionOf(node) {
  const r = spawnSync(node, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().replace(/^v/, '') : undefined;
}

const majorOf = (version) => Number(version.split('.')[0]);

/** installed lists the versions in PREFIX (newest first) whose bin/node exists. */
function installed() {
  const versions = existsSync(PREFIX) ? readdirSync(PREFIX).filter((v) => /^\d+\.\d+\.\d+$/.test(v)) : [];
  const key = (v) => v.split('.').map(Number);
  return versions
    .filter((v) => existsSync(path.join(PREFIX, v, 'bin', 'node')))
    .sort((a, b) => { const [x, y] = [key(a), key(b)]; return y[0] - x[0] || y[1] - x[1] || y[2] - x[2]; });
}

/** chooseNode resolves a --node value (or none) to the binary the tests run under. */
function chooseNode(spec) {
  if (spec === undefined) {
    const lts = path.join(PREFIX, 'lts', 'bin', 'node');
    if (existsSync(lts)) return lts;
    if (majorOf(process.versions.node) >= MIN_MAJOR) return process.execPath;
    fail(`this node is v${process.versions.node}, older than every supported line (>= ${MIN_MAJOR}), and no LTS node is installed in ${PREFIX}: ${SETUP_HINT}`);
  }
  if (spec === 'system') return process.execPath;
  if (spec.includes('/')) return path.resolve(spec);
  if (!/^\d+(\.\d+\.\d+)?$/.test(spec)) fail(`--node ${spec}: give a major line (24), a version (24.22.3), "system" or a path`);
  const matches = (v) => v === spec || String(majorOf(v)) === spec;
  const found = installed().find(matches);
  if (found) return path.join(PREFIX, found, 'bin', 'node');
  if (matches(process.versions.node)) return process.execPath;
  fail(`node ${spec} is not installed in ${PREFIX} (installed: ${installed().join(', ') || 'none'}): ${SETUP_HINT}`);
}

/** testFiles lists a tier's compiled *.test.js files, sorted, at any depth. */
function testFiles(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) return testFiles(p);
      return e.isFile() && e.name.endsWith('.test.js') ? [p] : [];
    });
}

const { values, positionals } = (() => {
  try {
    return parseArgs({ options: { node: { type: 'string' } }, allowPositionals: true });
  } catch (err) {
    return fail(`${err.message}\nusage: node test/run.js [--node LINE|VERSION|system|PATH] [TIER...]  (tiers: ${TIERS.join(', ')})`);
  }
})();
const node = chooseNode(values.node ?? (process.env.STRATA_TEST_NODE || undefined));
const version = versionOf(node) ?? fail(`${node} does not run`);
if (majorOf(version) < MIN_MAJOR) console.error(`test/run.js: NOTE: node v${version} is not a supported line (>= ${MIN_MAJOR})`);

const tiers = positionals.length ? positionals : TIERS;
const files = tiers.flatMap((t) => {
  const dir = path.join(DIST_TEST, t);
  if (!existsSync(dir)) {
    if (positionals.length) fail(`no tier ${t} in ${DIST_TEST} (tiers: ${TIERS.join(', ')}; run npm run build first?)`);
    return [];
  }
  return testFiles(dir);
});
if (files.length === 0) fail(`no *.test.js files under ${DIST_TEST} for ${tiers.join(', ')}: run npm run build first`);

console.error(`# tiers ${tiers.join(', ')}: ${files.length} files on node v${version} (${node})`);
// The suites spawn Strata and its CLI with process.execPath; `node` on the PATH is the same one.
const env = { ...process.env, PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH ?? ''}` };
const result = spawnSync(node, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
