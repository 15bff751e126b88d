/**
 * The header bytes Go's archive/tar writes for Docker's Diff headers (Format PAX, whole-second
 * mtime), rule by rule, as read from Go's writer (writeUSTARHeader, writePAXHeader,
 * writeRawFile, templateV7Plus, allowedFormats). The docker-tier oracle checks the same bytes
 * against a real overlay2; these pin each rule where a failure names it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BLOCK } from '../../../../src/archive/tar/entry';
import { encodeHeader } from '../../../../src/archive/tar/header-encode';
import { parsePax } from '../../../../src/archive/tar/pax-parse';
import { fields } from '../../../helpers/tar-build';

function text(block: Buffer, off: number, len: number): string {
  return block.toString('latin1', off, off + len);
}

/** blocks splits encodeHeader's output into (PAX header, PAX body, main header) or just main. */
function parts(out: Buffer): { pax?: Buffer; body?: Buffer; main: Buffer } {
  if (out.length === BLOCK) return { main: out };
  const pax = out.subarray(0, BLOCK);
  const size = parseInt(text(pax, 124, 11), 8);
  return { pax, body: out.subarray(BLOCK, BLOCK + size), main: out.subarray(out.length - BLOCK) };
}

describe('encodeHeader writes what Go writes for Docker', () => {
  it('fills devmajor and devminor with octal zeros for every type', () => {
    const { main } = parts(encodeHeader(fields({ name: 'etc/passwd', type: 'file', mode: 0o100644, size: 3 })));
    assert.equal(text(main, 329, 8), '0000000\0');
    assert.equal(text(main, 337, 8), '0000000\0');
  });

  it('sorts PAX records by key, SCHILY.xattr (upper case) before the lower-case keys', () => {
    const xattrs = new Map([['user.b', Buffer.from('2')], ['security.capability', Buffer.from([1, 0, 0, 2])]]);
    const out = encodeHeader(fields({ name: 'x', type: 'file', uid: 3_000_000, uname: 'u'.repeat(40), xattrs }));
    const keys = parsePax(parts(out).body!).map(([k]) => k);
    assert.deepEqual(keys, ['SCHILY.xattr.security.capability', 'SCHILY.xattr.user.b', 'uid', 'uname']);
  });

  it("names the PAX header <dir>/PaxHeaders.0/<base>, with zero mode, ids and mtime and no owner names", () => {
    const { pax } = parts(encodeHeader(fields({ name: 'usr/bin/ping', type: 'file', xattrs: new Map([['security.capability', Buffer.from('c')]]) })));
    assert.equal(text(pax!, 0, 25), 'usr/bin/PaxHeaders.0/ping');
    assert.equal(text(pax!, 156, 1), 'x');
    assert.equal(text(pax!, 100, 8), '0000000\0');
    assert.equal(text(pax!, 136, 12), '00000000000\0');
    assert.equal(text(pax!, 265, 32), '\0'.repeat(32));
    assert.equal(text(pax!, 329, 8), '\0'.repeat(8));
    const dir = parts(encodeHeader(fields({ name: 'srv/data/', type: 'dir', xattrs: new Map([['user.a', Buffer.from('1')]]) }))).pax!;
    assert.equal(text(dir, 0, 21), 'srv/data/PaxHeaders.0');
    assert.equal(dir[21], 0);
  });

  it('records a long splittable name as a PAX path when PAX is needed anyway, with no USTAR prefix', () => {
    const name = `${'a'.repeat(80)}/${'b'.repeat(80)}`;
    assert.equal(encodeHeader(fields({ name, type: 'file' })).length, BLOCK, 'alone it fits USTAR with a prefix');
    const { body, main } = parts(encodeHeader(fields({ name, type: 'file', xattrs: new Map([['user.x', Buffer.from('1')]]) })));
    assert.deepEqual(parsePax(body!).find(([k]) => k === 'path')?.[1], Buffer.from(name));
    assert.equal(text(main, 0, 100), name.slice(0, 100));
    assert.equal(text(main, 345, 155), '\0'.repeat(155));
  });

  it('keeps only the ASCII bytes of names in the main block of a PAX entry', () => {
    const name = Buffer.from('names/café-\xff', 'latin1').toString('latin1');
    const { main } = parts(encodeHeader(fields({ name, type: 'file', uname: 'jürgen' })));
    assert.equal(text(main, 0, 12), 'names/caf-\0\0');
    assert.equal(text(main, 265, 6), 'jrgen\0');
  });

  it('ends a truncated name at its trailing slashes, as Go guards buggy readers', () => {
    const name = `${'d'.repeat(98)}//${'e'.repeat(10)}`;
    const { main } = parts(encodeHeader(fields({ name: Buffer.from(name).toString('latin1') + '\xe9', type: 'file' })));
    assert.equal(main[98], 0, 'the first trailing slash of the cut becomes NUL');
    assert.equal(text(main, 99, 1), '/');
  });

  it('writes a time before 1970 as a PAX mtime record and 0 in the header', () => {
    const out = encodeHeader(fields({ name: 'old', type: 'symlink', linkname: 'x', mtimeSec: -315619200 }));
    const { body, main } = parts(out);
    assert.deepEqual(parsePax(body!), [['mtime', Buffer.from('-315619200')]]);
    assert.equal(text(main, 136, 12), '00000000000\0');
  });
});
