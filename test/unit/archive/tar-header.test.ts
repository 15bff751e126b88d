import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BLOCK,
  decodeHeader,
  encodeHeader,
  fitsOctal,
  isZeroBlock,
  padding,
  parseNumeric,
  parsePax,
  parsePaxTime,
  typeOf,
} from '../../../src/archive/tar-header';
import { InvalidArchiveError } from '../../../src/errors';
import { fields } from '../../helpers/tar-build';

/** The standard tar checksum, computed independently of the code under test. */
function checksum(block: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum;
}

function field(block: Buffer, off: number, len: number): string {
  const raw = block.subarray(off, off + len);
  const nul = raw.indexOf(0);
  return raw.toString('latin1', 0, nul === -1 ? len : nul);
}

describe('parseNumeric', () => {
  it('reads NUL- and space-terminated octal', () => {
    const b = Buffer.alloc(24);
    b.write('0000644\0', 0, 'latin1');
    b.write('000017 \0', 8, 'latin1');
    b.write('     17 ', 16, 'latin1');
    assert.equal(parseNumeric(b, 0, 8), 0o644);
    assert.equal(parseNumeric(b, 8, 8), 0o17);
    assert.equal(parseNumeric(b, 16, 8), 0o17);
  });

  it('reads an empty field as 0', () => {
    assert.equal(parseNumeric(Buffer.alloc(8), 0, 8), 0);
  });

  it('reads GNU base-256 numbers (high bit set)', () => {
    const b = Buffer.alloc(8);
    b[0] = 0x80;
    b.writeUIntBE(3_000_000, 2, 6);
    assert.equal(parseNumeric(b, 0, 8), 3_000_000);
    const size = Buffer.alloc(12);
    size[0] = 0x80;
    size.writeUIntBE(2 ** 40 + 5, 6, 6);
    assert.equal(parseNumeric(size, 0, 12), 2 ** 40 + 5);
  });

  it('refuses negative base-256 numbers and non-octal text', () => {
    assert.throws(() => parseNumeric(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]), 0, 8), InvalidArchiveError);
    assert.throws(() => parseNumeric(Buffer.from('00009\0\0\0', 'latin1'), 0, 8), InvalidArchiveError);
    assert.throws(() => parseNumeric(Buffer.from('abc\0\0\0\0\0', 'latin1'), 0, 8), InvalidArchiveError);
  });
});

describe('parsePaxTime', () => {
  const table: Array<[string, bigint]> = [
    ['1577934245', 1_577_934_245_000_000_000n],
    ['1577934245.6', 1_577_934_245_600_000_000n],
    ['1577934245.123456789', 1_577_934_245_123_456_789n],
    ['1577934245.000000001', 1_577_934_245_000_000_001n],
    // Digits beyond nanoseconds are cut, not rounded.
    ['1577934245.1234567899', 1_577_934_245_123_456_789n],
    ['0.5', 500_000_000n],
    ['-1.5', -1_500_000_000n],
  ];
  for (const [text, ns] of table) {
    it(`parses ${text}`, () => assert.equal(parsePaxTime(text), ns));
  }
  // Go's parsePAXTime takes "1." and a "+" sign; it refuses the rest, and so does Strata.
  for (const [text, ns] of [['1.', 1_000_000_000n], ['+2', 2_000_000_000n]] as const) {
    it(`parses ${text} as Go does`, () => assert.equal(parsePaxTime(text), ns));
  }
  for (const bad of ['', 'abc', '1.2.3', '1e9', '.5', ' 1', '1 ', '1.5x', '0x10', '9223372036854775808', 'NaN', '-']) {
    it(`refuses ${JSON.stringify(bad)}`, () => assert.throws(() => parsePaxTime(bad), InvalidArchiveError));
  }
});

describe('parsePax', () => {
  it('parses records in order, keeps repeated keys and binary values byte-exact', () => {
    const value = Buffer.from([0x01, 0x00, 0x00, 0x02, 0xff, 0x80, 0x0a, 0x3d, 0x20, 0x00]);
    const rec = (key: string, v: Buffer) => {
      const body = Buffer.concat([Buffer.from(` ${key}=`), v, Buffer.from('\n')]);
      let len = body.length + 1;
      while (String(len).length + body.length !== len) len++;
      return Buffer.concat([Buffer.from(String(len)), body]);
    };
    const data = Buffer.concat([
      rec('path', Buffer.from('dir/ünï')),
      rec('GNU.sparse.offset', Buffer.from('0')),
      rec('GNU.sparse.offset', Buffer.from('4096')),
      rec('SCHILY.xattr.security.capability', value),
    ]);
    const out = parsePax(data);
    assert.deepEqual(
      out.map(([k]) => k),
      ['path', 'GNU.sparse.offset', 'GNU.sparse.offset', 'SCHILY.xattr.security.capability'],
    );
    assert.equal(out[0]![1].toString('utf8'), 'dir/ünï');
    assert.equal(out[2]![1].toString(), '4096');
    assert.deepEqual(out[3]![1], value);
  });

  it('refuses a record whose length runs past the data or has no "="', () => {
    assert.throws(() => parsePax(Buffer.from('99 path=x\n')), InvalidArchiveError);
    assert.throws(() => parsePax(Buffer.from('9 pathx\n')), InvalidArchiveError);
    assert.throws(() => parsePax(Buffer.from('0 x=y\n')), InvalidArchiveError);
  });
});

describe('encodeHeader / decodeHeader', () => {
  it('writes one valid USTAR block for a short ASCII entry', () => {
    const block = encodeHeader(fields({ name: 'etc/passwd', type: 'file', mode: 0o100644, uid: 1000, gid: 50, size: 1234, mtimeSec: 1_600_000_000, uname: 'me', gname: 'staff' }));
    assert.equal(block.length, BLOCK);
    assert.equal(field(block, 0, 100), 'etc/passwd');
    assert.equal(parseInt(field(block, 100, 8), 8), 0o100644, 'mode keeps the S_IFREG bits as Docker writes them');
    assert.equal(parseInt(field(block, 108, 8), 8), 1000);
    assert.equal(parseInt(field(block, 124, 12), 8), 1234);
    assert.equal(String.fromCharCode(block[156]!), '0');
    assert.equal(block.toString('latin1', 257, 265), 'ustar\x0000');
    assert.equal(parseInt(field(block, 148, 8), 8), checksum(block));
    const raw = decodeHeader(block);
    assert.deepEqual(
      { name: raw.name, mode: raw.mode, uid: raw.uid, gid: raw.gid, size: raw.size, mtime: raw.mtime, typeflag: raw.typeflag, uname: raw.uname, gname: raw.gname },
      { name: 'etc/passwd', mode: 0o100644, uid: 1000, gid: 50, size: 1234, mtime: 1_600_000_000, typeflag: '0', uname: 'me', gname: 'staff' },
    );
  });

  it('splits a 101..255-byte ASCII name into prefix and name without PAX', () => {
    const name = `${'d'.repeat(120)}/${'f'.repeat(90)}`;
    const block = encodeHeader(fields({ name, type: 'file' }));
    assert.equal(block.length, BLOCK);
    assert.equal(field(block, 345, 155), 'd'.repeat(120));
    assert.equal(field(block, 0, 100), 'f'.repeat(90));
    assert.equal(decodeHeader(block).name, name);
  });

  it('uses a PAX header for names that cannot be split, non-ASCII names and large ids', () => {
    for (const f of [
      fields({ name: 'x'.repeat(101), type: 'file' }),
      fields({ name: `${'d/'.repeat(10)}${'f'.repeat(101)}`, type: 'file' }),
      fields({ name: `${'p'.repeat(160)}/f`, type: 'file' }),
      fields({ name: 'caf\xc3\xa9', type: 'file' }),
      fields({ name: 'a', type: 'file', uid: 2_097_152 }),
      fields({ name: 'a', type: 'file', gid: 4_000_000_000 }),
      fields({ name: 'a', type: 'symlink', linkname: 't'.repeat(101) }),
      fields({ name: 'a', type: 'file', xattrs: new Map([['user.x', Buffer.from('1')]]) }),
    ]) {
      const out = encodeHeader(f);
      assert.ok(out.length >= 3 * BLOCK, `${JSON.stringify(f.name).slice(0, 30)} gets a PAX header`);
      assert.equal(String.fromCharCode(out[156]!), 'x');
      assert.equal(parseInt(field(out, 148, 8), 8), checksum(out.subarray(0, BLOCK)));
    }
  });

  it('does not use PAX for ids at the octal limit', () => {
    assert.equal(encodeHeader(fields({ name: 'a', type: 'file', uid: 2_097_151, gid: 2_097_151 })).length, BLOCK);
    assert.equal(fitsOctal(2_097_151, 8), true);
    assert.equal(fitsOctal(2_097_152, 8), false);
    assert.equal(fitsOctal(-1, 8), false);
  });

  it('writes device numbers for device entries only', () => {
    const dev = encodeHeader(fields({ name: 'dev/sda', type: 'block', mode: 0o60660, devmajor: 8, devminor: 1 }));
    assert.equal(String.fromCharCode(dev[156]!), '4');
    assert.equal(decodeHeader(dev).devmajor, 8);
    assert.equal(decodeHeader(dev).devminor, 1);
  });

  it('maps every entry type to its typeflag and back', () => {
    const table = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' } as const;
    for (const [type, flag] of Object.entries(table)) {
      const block = encodeHeader(fields({ name: 'n', type: type as keyof typeof table, linkname: type.endsWith('link') ? 't' : undefined }));
      assert.equal(String.fromCharCode(block[156]!), flag);
      assert.equal(typeOf(flag), type);
    }
    assert.equal(typeOf('\0'), 'file');
    assert.equal(typeOf('7'), 'file');
    assert.equal(typeOf('x'), undefined);
    assert.equal(typeOf('V'), undefined);
  });

  it('decodeHeader refuses a block with a wrong checksum', () => {
    const block = encodeHeader(fields({ name: 'a', type: 'file' }));
    block[0] = 'b'.charCodeAt(0);
    assert.throws(() => decodeHeader(block), InvalidArchiveError);
  });

  it('isZeroBlock and padding', () => {
    assert.equal(isZeroBlock(Buffer.alloc(BLOCK)), true);
    const b = Buffer.alloc(BLOCK);
    b[511] = 1;
    assert.equal(isZeroBlock(b), false);
    assert.deepEqual([0, 1, 511, 512, 513].map(padding), [0, 511, 1, 0, 511]);
  });
});
