import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseIdDatabase, readHostOwnerNames } from '../../../src/archive/owner-names';

describe('owner names for exported tars', () => {
  it('parses passwd and group lines; the first entry of an id wins; junk is skipped', () => {
    const db = parseIdDatabase(['root:x:0:0:root:/root:/bin/bash', '# comment', 'toor:x:0:0::/:/bin/sh', 'broken', 'nobody:x:65534:65534::/:', 'bad:x:notanumber:1', ''].join('\n'));
    assert.deepEqual([...db], [
      [0, 'root'],
      [65534, 'nobody'],
    ]);
  });

  it('answers an empty name for ids without an entry, and for missing files', () => {
    const etc = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-etc-'));
    try {
      fs.writeFileSync(path.join(etc, 'passwd'), 'daemon:x:1:1::/:\n');
      const names = readHostOwnerNames(etc);
      assert.equal(names.user(1), 'daemon');
      assert.equal(names.user(2), '');
      assert.equal(names.group(1), '', 'no group file');
    } finally {
      fs.rmSync(etc, { recursive: true, force: true });
    }
  });
});
