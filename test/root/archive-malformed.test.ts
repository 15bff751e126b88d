/**
 * Every malformed tar in malformed-tars.ts, extracted with applyTar into an empty directory:
 * each is refused with InvalidArchiveError naming the entry as the archive spells it and no
 * host path, and the target holds nothing afterwards (nothing of the layer is applied). The
 * hardlink cases used to surface as IoError (HTTP 500) with the staging paths in the message.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { applyTar } from '../../src/archive/apply';
import { InvalidArchiveError } from '../../src/errors';
import { IdMapping } from '../../src/idmap';
import { chunked } from '../helpers/tar-build';
import { needRoot } from '../helpers/tiers';
import { makeTmpDir } from '../helpers/tmp-dir';
import { MALFORMED } from '../unit/archive/tar/malformed-tars';

describe('applyTar refuses malformed archives and leaves nothing behind', { skip: needRoot() }, () => {
  for (const c of MALFORMED) {
    it(c.what, async (t) => {
      const target = path.join(makeTmpDir(t, 'strata-malformed-'), 'target');
      fs.mkdirSync(target);
      await assert.rejects(applyTar(chunked(c.tar, 512), target, { idMap: new IdMapping() }), (err) => {
        assert.ok(err instanceof InvalidArchiveError, `an InvalidArchiveError, got ${String(err)}`);
        assert.equal(err.status, 400);
        assert.ok(err.message.includes(JSON.stringify(c.names)), `the message names ${JSON.stringify(c.names)}: ${err.message}`);
        assert.ok(!err.message.includes('/tmp/') && !err.message.includes(target), `no host path in ${err.message}`);
        return true;
      });
      assert.deepEqual(fs.readdirSync(target), [], 'the target holds nothing');
    });
  }
});
