/**
 * Strata's tar reader against tars made by other implementations: tar-stream (PAX records it
 * writes on request) and GNU tar 1.3x run in a temp dir (long names, base-256 ids, every sparse
 * format), plus malformed input, which must always end in InvalidArchiveError.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { readTar } from '../../../../src/archive/tar/reader';
import type { TarEntry } from '../../../../src/archive/tar/entry';
import { InvalidArchiveError } from '../../../../src/errors';
import { byteString, chunked, fields, packWithTarStream, readWithOurReader, tarWithOurWriter, type ReadBack } from '../../../helpers/tar-build';

const HAVE_GNU_TAR = /GNU tar/.test(spawnSync('tar', ['--version']).stdout?.toString() ?? '');
const gnuTarSkip = HAVE_GNU_TAR ? false : 'GNU tar (/usr/bin/tar) is not installed';

/** tar runs GNU tar in `cwd` and returns the archive it wrote. */
function gnuTar(cwd: string, args: string[], names: string[]): Buffer {
  const out = path.join(cwd, '..', `out-${Math.random().toString(36).slice(2)}.tar`);
  const r = spawnSync('tar', ['-cf', out, ...args, '--', ...names], { cwd, env: { LC_ALL: 'C', PATH: process.env.PATH } });
  assert.equal(r.status, 0, `tar failed: ${r.stderr.toString()}`);
  return readFileSync(out);
}

/** expandSparse rebuilds a sparse file's full contents from its map and stored regions. */
function expandSparse(entry: TarEntry, stored: Buffer): Buffer {
  assert.ok(entry.sparse, `${entry.name} is read as sparse`);
  const out = Buffer.alloc(entry.sparse.realSize);
  let pos = 0;
  for (const r of entry.sparse.regions) {
    stored.copy(out, r.offset, pos, pos + r.length);
    pos += r.length;
  }
  assert.equal(pos, stored.length, 'the regions account for every stored byte');
  return out;
}

async function expectInvalid(input: Buffer | AsyncIterable<Buffer>, consumeData = true): Promise<void> {
  await assert.rejects(async () => {
    const src = Buffer.isBuffer(input) ? chunked(input, 1000) : input;
    for await (const { data } of readTar(src)) {
      if (consumeData) for await (const _ of data()) void _;
    }
  }, InvalidArchiveError);
}

function typeflagsOf(tar: Buffer): string[] {
  // Walk raw headers: each header's size field tells how many data blocks follow.
  const flags: string[] = [];
  for (let off = 0; off + 512 <= tar.length; ) {
    const block = tar.subarray(off, off + 512);
    if (block.every((b) => b === 0)) break;
    flags.push(String.fromCharCode(block[156]!));
    const sizeField = block.subarray(124, 136);
    const size = sizeField[0]! & 0x80 ? Number(sizeField.readBigUInt64BE(4)) : parseInt(sizeField.toString('latin1').replace(/\0.*$/, '').trim() || '0', 8);
    let extBlocks = 0;
    if (block[156] === 'S'.charCodeAt(0) && block[482] !== 0) {
      // old GNU sparse: extension blocks follow the header
      let more = true;
      while (more) {
        extBlocks++;
        more = tar[off + 512 * extBlocks + 504] !== 0;
      }
    }
    off += 512 * (1 + extBlocks) + Math.ceil(size / 512) * 512;
  }
  return flags;
}

describe('readTar with tar-stream archives', () => {
  it('parses a PAX sub-second mtime and atime to the nanosecond', async () => {
    const tar = await packWithTarStream([
      { header: { name: 'ns', type: 'file', mode: 0o644, mtime: new Date(1_577_934_245_000), pax: { mtime: '1577934245.123456789', atime: '1577934246.5' } }, content: 'x' },
      { header: { name: 'plain', type: 'file', mode: 0o644, mtime: new Date(1_577_934_245_000) }, content: 'y' },
    ]);
    const [ns, plain] = await readWithOurReader(tar);
    assert.equal(ns!.entry.name, 'ns');
    assert.equal(ns!.entry.mtimeNs, 1_577_934_245_123_456_789n);
    assert.equal(ns!.entry.atimeNs, 1_577_934_246_500_000_000n);
    assert.equal(plain!.entry.mtimeNs, 1_577_934_245_000_000_000n);
    assert.equal(plain!.entry.atimeNs, undefined);
  });

  it('takes uid/gid and xattrs from PAX records', async () => {
    const tar = await packWithTarStream([
      { header: { name: 'big', type: 'file', mode: 0o644, pax: { uid: '3000000', gid: '4000000000', 'SCHILY.xattr.user.a': 'b' } }, content: 'data' },
    ]);
    const [big] = await readWithOurReader(tar);
    assert.equal(big!.entry.uid, 3_000_000);
    assert.equal(big!.entry.gid, 4_000_000_000);
    assert.deepEqual(big!.entry.xattrs.get('user.a'), Buffer.from('b'));
    assert.deepEqual(big!.data, Buffer.from('data'));
  });

  it('reads every tar-stream entry type', async () => {
    const tar = await packWithTarStream([
      { header: { name: 'd', type: 'directory', mode: 0o755 } },
      { header: { name: 'd/f', type: 'file', mode: 0o600 }, content: 'abc' },
      { header: { name: 'd/h', type: 'link', linkname: 'd/f' } },
      { header: { name: 'd/s', type: 'symlink', linkname: '/etc/passwd' } },
      { header: { name: 'd/c', type: 'character-device', devmajor: 1, devminor: 5 } },
      { header: { name: 'd/b', type: 'block-device', devmajor: 7, devminor: 2 } },
      { header: { name: 'd/p', type: 'fifo' } },
    ]);
    const back = await readWithOurReader(tar);
    assert.deepEqual(
      back.map((b) => [b.entry.name, b.entry.type, b.entry.linkname]),
      [
        ['d', 'dir', ''],
        ['d/f', 'file', ''],
        ['d/h', 'hardlink', 'd/f'],
        ['d/s', 'symlink', '/etc/passwd'],
        ['d/c', 'char', ''],
        ['d/b', 'block', ''],
        ['d/p', 'fifo', ''],
      ],
    );
    assert.deepEqual([back[4]!.entry.devmajor, back[4]!.entry.devminor], [1, 5]);
    assert.deepEqual(back[1]!.data, Buffer.from('abc'));
  });
});

describe('readTar with GNU tar archives', { skip: gnuTarSkip }, () => {
  let work = '';
  let src = '';
  before(() => {
    work = mkdtempSync('/tmp/strata-reader-');
    src = path.join(work, 'src');
    mkdirSync(src);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it("reads GNU long names and long link names ('L' and 'K' headers)", async () => {
    const dir = path.join(src, 'long');
    const longDir = 'd'.repeat(120);
    const longFile = 'f'.repeat(150);
    mkdirSync(path.join(dir, longDir), { recursive: true });
    writeFileSync(path.join(dir, longDir, longFile), 'long\n');
    const linkTarget = `${longDir}/${longFile}`;
    symlinkSync(linkTarget, path.join(dir, 'sym'));
    const tar = gnuTar(dir, ['--format=gnu', '--sort=name'], [longDir, 'sym']);
    const flags = typeflagsOf(tar);
    assert.ok(flags.includes('L'), `GNU long name header used (${flags.join('')})`);
    assert.ok(flags.includes('K'), `GNU long link header used (${flags.join('')})`);
    const back = await readWithOurReader(tar);
    assert.deepEqual(
      back.map((b) => [b.entry.name, b.entry.type]),
      [
        [`${longDir}/`, 'dir'],
        [`${longDir}/${longFile}`, 'file'],
        ['sym', 'symlink'],
      ],
    );
    assert.equal(back[2]!.entry.linkname, linkTarget);
    assert.deepEqual(back[1]!.data, Buffer.from('long\n'));
  });

  it('reads base-256 uid/gid (> 2097151) as GNU tar writes them', async () => {
    const dir = path.join(src, 'ids');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'f'), 'x');
    const tar = gnuTar(dir, ['--format=gnu', '--owner=3000000', '--group=2097152'], ['f']);
    assert.equal(tar[108]! & 0x80, 0x80, 'uid field is base-256');
    const [f] = await readWithOurReader(tar);
    assert.equal(f!.entry.uid, 3_000_000);
    assert.equal(f!.entry.gid, 2_097_152);
  });

  it('keeps non-UTF-8 (latin1) name bytes in gnu and posix formats', async () => {
    const dir = path.join(src, 'latin1');
    mkdirSync(dir);
    const name = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2d, 0xff]);
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), name]), 'l1');
    const utf = 'ünï-日本';
    writeFileSync(path.join(dir, utf), 'u8');
    for (const format of ['gnu', 'posix']) {
      const tar = gnuTar(dir, [`--format=${format}`, '--sort=name'], ['.']);
      const back = await readWithOurReader(tar);
      const names = back.map((b) => b.entry.name);
      assert.ok(names.includes(`./${byteString(name)}`), `${format}: raw bytes kept (${JSON.stringify(names)})`);
      assert.ok(names.includes(`./${byteString(Buffer.from(utf))}`), `${format}: UTF-8 bytes kept`);
    }
  });

  // A file with 7 data regions separated by holes: more than the 4 regions an old GNU header holds.
  const REGIONS = 7;
  const STEP = 64 * 1024;
  function makeSparse(name: string): Buffer {
    const file = path.join(src, name);
    const fd = openSync(file, 'w');
    for (let i = 0; i < REGIONS; i++) writeSync(fd, Buffer.from(`region-${i}-`.repeat(20)), 0, 160, i * STEP + 1000);
    ftruncateSync(fd, REGIONS * STEP + STEP / 2);
    closeSync(fd);
    return readFileSync(file);
  }

  async function checkSparse(tar: Buffer, name: string, original: Buffer): Promise<ReadBack> {
    const back = await readWithOurReader(tar, 3000);
    assert.equal(back.length, 1);
    const [e] = back;
    assert.equal(e!.entry.name, name);
    assert.equal(e!.entry.type, 'file');
    assert.equal(e!.entry.size, original.length, 'size is the real size');
    assert.ok(e!.entry.sparse!.regions.filter((r) => r.length > 0).length >= REGIONS, 'every data region is mapped');
    assert.ok(e!.data.length < original.length / 4, 'only the regions are stored');
    assert.ok(expandSparse(e!.entry, e!.data).equals(original), 'expanded content equals the file');
    return e!;
  }

  it("reads old GNU sparse files ('S' header with extension blocks)", async () => {
    const original = makeSparse('sparse-gnu');
    const tar = gnuTar(src, ['--format=gnu', '--sparse'], ['sparse-gnu']);
    assert.equal(String.fromCharCode(tar[156]!), 'S');
    assert.notEqual(tar[482], 0, 'the header says extension blocks follow');
    const e = await checkSparse(tar, 'sparse-gnu', original);
    assert.equal(e.entry.typeflag, 'S');
    assert.equal(e.entry.sparse!.mapInData, false);
  });

  for (const version of ['1.0', '0.1', '0.0']) {
    it(`reads PAX sparse files, format ${version}`, async () => {
      const name = `sparse-posix-${version}`;
      const original = makeSparse(name);
      const tar = gnuTar(src, ['--format=posix', '--sparse', `--sparse-version=${version}`], [name]);
      const e = await checkSparse(tar, name, original);
      assert.equal(e.entry.sparse!.mapInData, version === '1.0');
    });
  }

  it('reads a sparse file that is a single hole', async () => {
    const file = path.join(src, 'all-hole');
    writeFileSync(file, '');
    const fd = openSync(file, 'r+');
    ftruncateSync(fd, 1024 * 1024);
    closeSync(fd);
    for (const args of [['--format=gnu'], ['--format=posix', '--sparse-version=1.0']]) {
      const tar = gnuTar(src, [...args, '--sparse'], ['all-hole']);
      const [e] = await readWithOurReader(tar);
      assert.equal(e!.entry.size, 1024 * 1024);
      assert.equal(e!.data.length, 0);
      assert.ok(expandSparse(e!.entry, e!.data).equals(Buffer.alloc(1024 * 1024)));
    }
  });
});

describe('readTar refuses malformed input with InvalidArchiveError', () => {
  const content = Buffer.alloc(3000, 0x61);
  const good = tarWithOurWriter([
    { fields: fields({ name: 'x'.repeat(300), type: 'file', size: content.length }), data: content },
    { fields: fields({ name: 'second', type: 'file', size: 5 }), data: Buffer.from('12345') },
  ]);
  // Layout: PAX header (512) + PAX data (512) + header (512) + 3000 data (3072) + header + data + 1024 end.

  it('accepts the intact archive', async () => {
    assert.equal((await readWithOurReader(good)).length, 2);
  });

  const cuts: Array<[string, number]> = [
    ['inside the first header', 100],
    ['inside the PAX records', 700],
    ['right after a header, before its data', 1536],
    ['in the middle of file data', 1536 + 1500],
    ['in the data padding', 1536 + 3010],
    ['inside the second header', 1536 + 3072 + 200],
    ['between entries (no end marker)', 1536 + 3072 + 1024],
    ['inside the end marker', good.length - 1000],
  ];
  for (const [where, at] of cuts) {
    it(`a stream truncated ${where}`, async () => {
      await expectInvalid(good.subarray(0, at));
    });
    it(`a stream truncated ${where}, when the caller skips file data`, async () => {
      await expectInvalid(good.subarray(0, at), false);
    });
  }

  it('a stream with no end-of-archive marker at all', async () => {
    await expectInvalid(tarWithOurWriter([{ fields: fields({ name: 'a', type: 'file', size: 1 }), data: Buffer.from('a') }], { end: false }));
  });

  it('an empty stream', async () => {
    await expectInvalid(Buffer.alloc(0));
  });

  it('garbage', async () => {
    await expectInvalid(Buffer.from('this is not a tar archive\n'.repeat(40)));
    await expectInvalid(Buffer.alloc(2048, 0xff));
  });

  it('a gzip-compressed tar (dockerd decompresses before ApplyDiff)', async () => {
    await expectInvalid(gzipSync(good));
  });

  it('a header with a corrupted checksum', async () => {
    const bad = Buffer.from(good);
    bad[1536 + 3072 + 10] = bad[1536 + 3072 + 10]! ^ 0x01; // inside the second entry's name
    await expectInvalid(bad);
  });

  it('a PAX header that claims more data than is there', async () => {
    const pax = Buffer.from(good);
    // Rewrite the PAX header size to 16 MB+1, above the extension limit.
    pax.write('00100000001\0', 512 * 0 + 124, 'latin1');
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : pax[i]!;
    pax.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    await expectInvalid(pax);
  });

  it('accepts bytes after the end marker (dockerd may pad the stream)', async () => {
    const padded = Buffer.concat([good, Buffer.alloc(10_240)]);
    assert.equal((await readWithOurReader(padded)).length, 2);
  });

  it('accepts a single zero block at the very end of the stream, as Go does', async () => {
    assert.equal((await readWithOurReader(good.subarray(0, good.length - 512))).length, 2);
  });

  it('refuses an entry that follows a single zero block (a damaged archive, as in Go)', async () => {
    const extra = tarWithOurWriter([{ fields: fields({ name: 'hidden', type: 'file', size: 1 }), data: Buffer.from('h') }]);
    await expectInvalid(Buffer.concat([good.subarray(0, good.length - 1024), Buffer.alloc(512), extra]));
  });

  it('skips unread file data of an entry the caller ignores', async () => {
    const names: string[] = [];
    for await (const { entry } of readTar(chunked(good, 333))) names.push(entry.name);
    assert.deepEqual(names, ['x'.repeat(300), 'second']);
  });

  it('buffered hands out the bytes of a file at once when its chunk holds them, and data() then yields nothing', async () => {
    const content = Buffer.from('all in one chunk\n');
    const tar = tarWithOurWriter([{ fields: fields({ name: 'small', type: 'file', size: content.length }), data: content }]);
    for await (const { entry, data, buffered } of readTar(chunked(tar, tar.length))) {
      assert.equal(entry.name, 'small');
      assert.deepEqual(buffered(), content);
      const rest: Buffer[] = [];
      for await (const chunk of data()) rest.push(chunk);
      assert.deepEqual(rest, []);
    }
  });

  it('buffered answers undefined for bytes that span chunks, and data() yields them all', async () => {
    const content = Buffer.alloc(3000, 7);
    const tar = tarWithOurWriter([{ fields: fields({ name: 'spans', type: 'file', size: content.length }), data: content }]);
    for await (const { data, buffered } of readTar(chunked(tar, 1024))) {
      assert.equal(buffered(), undefined);
      const read: Buffer[] = [];
      for await (const chunk of data()) read.push(chunk);
      assert.deepEqual(Buffer.concat(read), content);
    }
  });
});
