/**
 * The Node.js builds are pinned in three places that must agree: the managed plugin carries
 * plugin/make-rootfs.sh's node, the Dockerfile builds it on a base image of the same version,
 * and test/setup-node.sh installs the same build as the LTS line the whole suite runs on.
 * package.json's engines names the oldest line that setup-node.sh tests.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

const REPO = path.resolve(__dirname, '..', '..', '..');
const read = (rel: string) => readFileSync(path.join(REPO, rel), 'utf8');

function match(rel: string, re: RegExp): RegExpExecArray {
  const m = re.exec(read(rel));
  assert.ok(m, `${rel} matches ${re}`);
  return m;
}

describe('pinned Node.js builds', () => {
  const tested = match('test/setup-node.sh', /^versions=\(([^)]*)\)$/m)[1]!.trim().split(/\s+/);

  it('the plugin\'s node, the Dockerfile\'s base image and the tested LTS build are one version', () => {
    const plugin = match('plugin/make-rootfs.sh', /^node_version=(\S+)$/m)[1];
    const image = match('Dockerfile', /^ARG NODE_IMAGE=node:(\S+)-bookworm-slim$/m)[1];
    assert.equal(image, plugin);
    assert.equal(tested[0], plugin, 'setup-node.sh lists the LTS build first (run.js defaults to it)');
  });

  it('the plugin\'s integrity is the one setup-node.sh checks for the same build', () => {
    const [, version, sri] = match('plugin/make-rootfs.sh', /^node_version=(\S+)\nnode_integrity=(\S+)$/m);
    assert.equal(match('test/setup-node.sh', new RegExp(`^  \\[${version!.replace(/\./g, '\\.')}\\]=(\\S+)$`, 'm'))[1], sri);
  });

  it('engines allows every tested line and names the oldest', () => {
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    const oldest = Math.min(...tested.map((v) => Number(v.split('.')[0])));
    assert.equal(engines, `>=${oldest}`);
  });
});
