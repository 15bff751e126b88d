/** Every way of starting `strata serve` passes the same V8 flags (src/node-args.ts says why). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { SERVE_NODE_ARGS } from '../../src/node-args';

const REPO = path.resolve(__dirname, '..', '..', '..');
const read = (rel: string) => readFileSync(path.join(REPO, rel), 'utf8');

describe('node flags of strata serve', () => {
  const flags = SERVE_NODE_ARGS.join(' ');

  it('are in npm start, the systemd unit and the bin shebang', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts.start, `node ${flags} dist/src/cli.js serve`);
    assert.match(read('plugin/strata.service'), new RegExp(`^ExecStart=/usr/bin/node ${flags} /opt/strata/dist/src/cli.js serve `, 'm'));
    assert.match(read('plugin/strata-snapshotter.service'), new RegExp(`^ExecStart=/usr/bin/node ${flags} /opt/strata/dist/src/cli.js snapshotter `, 'm'));
    assert.equal(read('src/cli.ts').split('\n')[0], `#!/usr/bin/env -S node ${flags}`);
  });

  it('are in the managed plugin\'s entrypoint', () => {
    const config = JSON.parse(read('config.json')) as { Entrypoint: string[] };
    assert.deepEqual(config.Entrypoint.slice(0, 2 + SERVE_NODE_ARGS.length), ['/usr/bin/node', ...SERVE_NODE_ARGS, '/opt/strata/dist/src/cli.js']);
  });
});
