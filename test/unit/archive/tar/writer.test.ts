/**
 * Round trips: entries written with Strata's TarWriter are read back with Strata's reader and
 * with independent implementations (the tar-stream package, and GNU tar for raw byte names).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { HeaderFields } from '../../../../src/archive/tar/entry';
import { TarWriter } from '../../../../src/archive/tar/writer';
import { byteString, extractWithTarStream, fields, readWithOurReader, tarWithOurWriter, type OurEntry } from '../../../helpers/tar-build';

const utf8 = (s: string) => byteString(Buffer.from(s, 'utf8'));

// A v2 file capability (20 bytes) with bytes >= 0x80 and NULs, plus '=' / '\n' / ' ' to stress PAX.
const CAPABILITY = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x24, 0x00, 0x80, 0x3d, 0x0a, 0x20, 0x00, 0xff, 0xfe, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
const LATIN1_NAME = Buffer.from([0x6c, 0x61, 0x74, 0x69, 0x6e, 0x2d, 0xe9, 0x74, 0xe9]); // "latin-été" in ISO-8859-1
const BIG = randomBytes(70_001);

function file(name: string, data: Buffer, extra: Partial<HeaderFields> = {}): OurEntry {
  return { fields: fields({ name, type: 'file', size: data.length, ...extra }), data };
}

const LONG_SPLIT = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(90)}`; // 212 bytes, fits prefix+name
const LONG_PAX = `${'p'.repeat(150)}/${'q'.repeat(150)}/${'r'.repeat(60)}`; // 362 bytes, needs PAX
const LONG_LINK = `../${'t'.repeat(200)}`;

const ENTRIES: OurEntry[] = [
  { fields: fields({ name: 'dir/', type: 'dir', mode: 0o40755, mtimeSec: 1_500_000_000 }) },
  file('dir/hello.txt', Buffer.from('hello, world\n'), { mode: 0o100640, uid: 1000, gid: 1001, uname: 'alice', gname: 'staff' }),
  file('dir/empty', Buffer.alloc(0), { mode: 0o100600 }),
  file('dir/big.bin', BIG),
  file(LONG_SPLIT, Buffer.from('split name\n')),
  file(LONG_PAX, Buffer.from('pax name\n')),
  file(utf8('dir/ünïcödé-日本語.txt'), Buffer.from('utf8 name\n')),
  file(byteString(LATIN1_NAME), Buffer.from('latin1 name\n')),
  file('dir/bigids', Buffer.from('ids\n'), { uid: 3_000_000, gid: 4_000_000_000 }),
  file('dir/ping', Buffer.from('\x7fELF'), {
    mode: 0o104755,
    xattrs: new Map([
      ['security.capability', CAPABILITY],
      ['user.note', Buffer.from('plain text')],
    ]),
  }),
  { fields: fields({ name: 'dir/link-to-hello', type: 'hardlink', linkname: 'dir/hello.txt', mode: 0o100640 }) },
  { fields: fields({ name: 'dir/sym', type: 'symlink', linkname: 'hello.txt', mode: 0o120777 }) },
  { fields: fields({ name: 'dir/longsym', type: 'symlink', linkname: LONG_LINK, mode: 0o120777 }) },
  { fields: fields({ name: 'dev/null', type: 'char', mode: 0o20666, devmajor: 1, devminor: 3 }) },
  { fields: fields({ name: 'dev/sda', type: 'block', mode: 0o60660, devmajor: 8, devminor: 0 }) },
  { fields: fields({ name: 'dev/fifo', type: 'fifo', mode: 0o10644 }) },
];

describe('TarWriter', () => {
  const tar = tarWithOurWriter(ENTRIES);

  it('produces whole blocks ending in two zero blocks', () => {
    assert.equal(tar.length % 512, 0);
    assert.ok(tar.subarray(tar.length - 1024).every((b) => b === 0));
  });

  for (const chunkSize of [1 << 20, 4096, 512, 7]) {
    it(`round-trips every entry through Strata's reader (input chunks of ${chunkSize} bytes)`, async () => {
      const back = await readWithOurReader(tar, chunkSize);
      assert.equal(back.length, ENTRIES.length);
      for (const [i, { entry, data }] of back.entries()) {
        const f = ENTRIES[i]!.fields;
        assert.equal(entry.name, f.name, `name of entry ${i}`);
        assert.equal(entry.type, f.type, `type of ${f.name}`);
        assert.equal(entry.mode, f.mode, `mode of ${f.name}`);
        assert.equal(entry.uid, f.uid, `uid of ${f.name}`);
        assert.equal(entry.gid, f.gid, `gid of ${f.name}`);
        assert.equal(entry.size, f.size, `size of ${f.name}`);
        assert.equal(entry.mtimeNs, BigInt(f.mtimeSec) * 1_000_000_000n);
        assert.equal(entry.linkname, f.linkname ?? '');
        assert.deepEqual(data, ENTRIES[i]!.data ?? Buffer.alloc(0), `data of ${f.name}`);
        if (f.type === 'char' || f.type === 'block') {
          assert.equal(entry.devmajor, f.devmajor);
          assert.equal(entry.devminor, f.devminor);
        }
        assert.deepEqual([...entry.xattrs.keys()].sort(), [...(f.xattrs?.keys() ?? [])].sort());
      }
    });
  }

  it('keeps a binary security.capability value byte-identical', async () => {
    const back = await readWithOurReader(tar);
    const ping = back.find((b) => b.entry.name === 'dir/ping')!;
    assert.deepEqual(ping.entry.xattrs.get('security.capability'), CAPABILITY);
    assert.deepEqual(ping.entry.xattrs.get('user.note'), Buffer.from('plain text'));
    assert.equal(ping.entry.mode & 0o7777, 0o4755);
  });

  it('is read the same by tar-stream (an independent implementation)', async () => {
    const back = await extractWithTarStream(tar);
    assert.equal(back.length, ENTRIES.length);
    const typeNames: Record<string, string> = { file: 'file', dir: 'directory', hardlink: 'link', symlink: 'symlink', char: 'character-device', block: 'block-device', fifo: 'fifo' };
    for (const [i, { header, data }] of back.entries()) {
      const f = ENTRIES[i]!.fields;
      if (Buffer.from(f.name, 'latin1').toString('utf8').includes('\ufffd')) {
        // tar-stream decodes PAX paths as UTF-8; the raw bytes are checked with GNU tar below.
        assert.equal(header.pax?.path?.length, LATIN1_NAME.length);
      } else {
        assert.equal(header.name, Buffer.from(f.name, 'latin1').toString('utf8'), `name of entry ${i}`);
      }
      assert.equal(header.type, typeNames[f.type]);
      assert.equal(header.mode, f.mode, `mode of ${f.name}`);
      const uid = header.pax?.uid !== undefined ? Number(header.pax.uid) : header.uid;
      const gid = header.pax?.gid !== undefined ? Number(header.pax.gid) : header.gid;
      assert.equal(uid, f.uid, `uid of ${f.name}`);
      assert.equal(gid, f.gid, `gid of ${f.name}`);
      assert.equal(header.size, f.size);
      assert.equal(header.mtime?.getTime(), f.mtimeSec * 1000);
      assert.deepEqual(data, ENTRIES[i]!.data ?? Buffer.alloc(0), `data of ${f.name}`);
      if (f.linkname) assert.equal(header.linkname, f.linkname);
      if (f.type === 'char' || f.type === 'block') assert.deepEqual([header.devmajor, header.devminor], [f.devmajor, f.devminor]);
      if (f.uname) assert.equal(header.uname, f.uname);
    }
    const ping = back.find((b) => b.header.name === 'dir/ping')!;
    assert.equal(ping.header.pax?.['SCHILY.xattr.user.note'], 'plain text');
    assert.ok(ping.header.pax?.['SCHILY.xattr.security.capability'] !== undefined);
  });

  it('keeps non-UTF-8 name bytes, as GNU tar extracts them', (t) => {
    const gnuTar = spawnSync('tar', ['--version']);
    if (gnuTar.status !== 0) return t.skip('GNU tar is not installed');
    const dir = mkdtempSync('/tmp/strata-writer-');
    try {
      const only = tarWithOurWriter([file(byteString(LATIN1_NAME), Buffer.from('x')), file(utf8('日本.txt'), Buffer.from('y')), file(LONG_PAX, Buffer.from('z'))]);
      writeFileSync(path.join(dir, 'in.tar'), only);
      const out = path.join(dir, 'out');
      spawnSync('mkdir', [out]);
      const r = spawnSync('tar', ['-xf', path.join(dir, 'in.tar'), '-C', out, '--no-same-owner', '--no-same-permissions'], { env: { LC_ALL: 'C' } });
      assert.equal(r.status, 0, r.stderr.toString());
      const names = readdirSync(out, { encoding: 'buffer' }).map((b) => b.toString('hex')).sort();
      assert.deepEqual(names, [LATIN1_NAME, Buffer.from('日本.txt'), Buffer.from('p'.repeat(150))].map((b) => b.toString('hex')).sort());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('take() hands out queued output once and tracks pending bytes', () => {
    const w = new TarWriter();
    assert.equal(w.pendingBytes, 0);
    w.header(fields({ name: 'a', type: 'file', size: 3 }));
    w.data(Buffer.from('abc'));
    w.endData(3);
    assert.equal(w.pendingBytes, 1024);
    const first = w.take();
    assert.equal(first.length, 1024);
    assert.equal(w.pendingBytes, 0);
    w.finish();
    assert.deepEqual(w.take(), Buffer.alloc(1024));
  });
});
