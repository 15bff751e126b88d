/**
 * A property of the writer and the reader together: any entries Strata's TarWriter writes,
 * read back with its reader in chunks of any size, give the same entries (names as bytes,
 * numbers beyond USTAR's fields, pre-1970 times, binary xattrs), whether they
 * take USTAR, a split name or a PAX header.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { EntryType, HeaderFields } from '../../../../src/archive/tar/entry';
import { readWithOurReader, tarWithOurWriter, type OurEntry } from '../../../helpers/tar-build';

/** a byte string (latin1) without NUL, which no tar name can hold */
const byteName = (maxLength: number) =>
  fc.uint8Array({ minLength: 1, maxLength }).map((b) => Buffer.from(b.map((x) => (x === 0 ? 0x2f : x))).toString('latin1'));
const ascii = (maxLength: number) => fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_.'), minLength: 1, maxLength });

const entry: fc.Arbitrary<OurEntry> = fc
  .record({
    name: fc.oneof(ascii(99), ascii(250), byteName(300)),
    type: fc.constantFrom<EntryType>('file', 'dir', 'symlink', 'hardlink', 'char', 'block', 'fifo'),
    mode: fc.integer({ min: 0, max: 0o7777777 }),
    uid: fc.oneof(fc.integer({ min: 0, max: 2 ** 21 - 1 }), fc.integer({ min: 0, max: 2 ** 40 })),
    gid: fc.oneof(fc.integer({ min: 0, max: 2 ** 21 - 1 }), fc.integer({ min: 0, max: 2 ** 40 })),
    mtime: fc.integer({ min: -(2 ** 31), max: 2 ** 34 }),
    linkname: fc.oneof(ascii(99), byteName(300)),
    uname: fc.option(ascii(40), { nil: undefined }),
    gname: fc.option(ascii(40), { nil: undefined }),
    devmajor: fc.integer({ min: 0, max: 2 ** 21 - 1 }),
    devminor: fc.integer({ min: 0, max: 2 ** 21 - 1 }),
    xattrs: fc.array(fc.tuple(ascii(30), fc.uint8Array({ minLength: 1, maxLength: 40 })), { maxLength: 3 }),
    data: fc.uint8Array({ maxLength: 1500 }),
  })
  .map((e) => {
    const links = e.type === 'symlink' || e.type === 'hardlink';
    const devices = e.type === 'char' || e.type === 'block';
    const data = e.type === 'file' ? Buffer.from(e.data) : Buffer.alloc(0);
    const f: HeaderFields = {
      name: e.name,
      type: e.type,
      mode: e.mode,
      uid: e.uid,
      gid: e.gid,
      size: data.length,
      mtimeSec: e.mtime,
      linkname: links ? e.linkname : undefined,
      uname: e.uname,
      gname: e.gname,
      devmajor: devices ? e.devmajor : undefined,
      devminor: devices ? e.devminor : undefined,
      xattrs: new Map(e.xattrs.map(([k, v]) => [`user.${k}`, Buffer.from(v)])),
    };
    return { fields: f, data };
  });

/** what the reader must give back for an entry the writer wrote */
function expected({ fields: f, data }: OurEntry) {
  return {
    name: f.name,
    type: f.type,
    mode: f.mode,
    uid: f.uid,
    gid: f.gid,
    size: f.size,
    mtimeNs: BigInt(f.mtimeSec) * 1_000_000_000n,
    atimeNs: undefined,
    linkname: f.linkname ?? '',
    uname: f.uname ?? '',
    gname: f.gname ?? '',
    devmajor: f.devmajor ?? 0,
    devminor: f.devminor ?? 0,
    xattrs: [...(f.xattrs ?? [])].sort(),
    data: data ?? Buffer.alloc(0),
  };
}

describe('TarWriter then readTar', () => {
  it('gives back every entry as it was written', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 5000 }), async (entries, chunk) => {
        const back = await readWithOurReader(tarWithOurWriter(entries), chunk);
        assert.deepEqual(
          back.map(({ entry: e, data }) => ({ ...expected({ fields: { ...e, mtimeSec: 0 }, data }), mtimeNs: e.mtimeNs, atimeNs: e.atimeNs, xattrs: [...e.xattrs].sort() })),
          entries.map(expected),
        );
      }),
      { numRuns: 300 },
    );
  });
});
