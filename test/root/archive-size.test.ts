/**
 * applyTar returns the layer's size as overlay2 reports it (directory.Size of the result:
 * apparent sizes, each inode once, symlinks by target length, whiteouts as 0). It counts while
 * extracting; after an entry replaced something it walks the tree instead. Both must agree
 * with a walk of what is on disk.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { applyTar } from '../../src/archive/apply';
import { directorySize } from '../../src/archive/size';
import { IdMapping } from '../../src/idmap';
import { chunked, packWithTarStream } from '../helpers/tar-build';
import { needRoot } from '../helpers/tiers';
import { makeTmpDir } from '../helpers/tmp-dir';

async function sizes(t: { after(fn: () => void): void }, tar: Buffer): Promise<{ returned: number; walked: number }> {
  const root = path.join(makeTmpDir(t, 'strata-size-'), 'layer');
  fs.mkdirSync(root);
  const returned = await applyTar(chunked(tar, 777), root, { idMap: new IdMapping() });
  return { returned, walked: directorySize(root) };
}

describe('applyTar: the size it returns', { skip: needRoot() }, () => {
  it('counts files, symlinks and hardlinked inodes once, while extracting', async (t) => {
    const tar = await packWithTarStream([
      { header: { name: 'etc', type: 'directory', mode: 0o755 } },
      { header: { name: 'etc/a', type: 'file', mode: 0o644 }, content: Buffer.alloc(12_345, 1) },
      { header: { name: 'etc/empty', type: 'file', mode: 0o644 }, content: '' },
      { header: { name: 'etc/a-link', type: 'link', linkname: 'etc/a' } },
      { header: { name: 'etc/rel', type: 'symlink', linkname: '../usr/lib/something' } },
      { header: { name: 'etc/rel-link', type: 'link', linkname: 'etc/rel' } },
      { header: { name: 'etc/.wh.gone', type: 'file', mode: 0o600 }, content: '' },
      { header: { name: 'dev/null', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 } },
      { header: { name: 'deep/implied/file', type: 'file', mode: 0o600 }, content: 'xyz' },
    ]);
    const { returned, walked } = await sizes(t, tar);
    assert.equal(returned, 12_345 + '../usr/lib/something'.length + 3);
    assert.equal(returned, walked);
  });

  it('walks the tree when an entry replaced an earlier one (a hardlinked file removed by name)', async (t) => {
    const tar = await packWithTarStream([
      { header: { name: 'a', type: 'file', mode: 0o644 }, content: Buffer.alloc(1000, 2) },
      { header: { name: 'b', type: 'link', linkname: 'a' } },
      // Replacing 'a' leaves its inode alive through 'b': a running count would subtract it.
      { header: { name: 'a', type: 'file', mode: 0o644 }, content: Buffer.alloc(10, 3) },
      { header: { name: 'dir', type: 'directory', mode: 0o755 } },
      { header: { name: 'dir/f', type: 'file', mode: 0o644 }, content: Buffer.alloc(500, 4) },
      { header: { name: 'dir', type: 'file', mode: 0o644 }, content: Buffer.alloc(7, 5) },
    ]);
    const { returned, walked } = await sizes(t, tar);
    assert.equal(returned, 1000 + 10 + 7);
    assert.equal(returned, walked);
  });
});

describe('directorySize', { skip: needRoot() }, () => {
  it('reads names as raw bytes, follows no symlink, and counts a hardlinked inode once', (t) => {
    const root = makeTmpDir(t, 'strata-dirsize-');
    const bytes = (...parts: Array<string | number[]>) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
    // 0xff 0xfe is not UTF-8: a decoded name would not find the file again.
    fs.mkdirSync(bytes(root, '/', [0xff, 0xfe]));
    fs.writeFileSync(bytes(root, '/', [0xff, 0xfe], '/', [0xe9, 0x2e, 0x74]), Buffer.alloc(100));
    fs.linkSync(bytes(root, '/', [0xff, 0xfe], '/', [0xe9, 0x2e, 0x74]), path.join(root, 'hard'));
    fs.mkdirSync(path.join(root, 'outside'));
    fs.writeFileSync(path.join(root, 'outside', 'big'), Buffer.alloc(5000));
    fs.symlinkSync('outside', path.join(root, 'dirlink'));
    assert.equal(directorySize(root), 100 + 5000 + 'outside'.length);
  });
});
