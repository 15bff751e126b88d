import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BLOCK, padding, typeOf } from '../../../../src/archive/tar/entry';
import { decodeHeader, isZeroBlock } from '../../../../src/archive/tar/header-decode';
import { encodeHeader } from '../../../../src/archive/tar/header-encode';
import { InvalidArchiveError } from '../../../../src/errors';
import { fields } from '../../../helpers/tar-build';

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
