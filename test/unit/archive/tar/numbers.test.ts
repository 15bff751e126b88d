import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fitsOctal, parseNumeric } from '../../../../src/archive/tar/numbers';
import { InvalidArchiveError } from '../../../../src/errors';

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

  it('fitsOctal tells whether a value fits a field with its terminator', () => {
    assert.equal(fitsOctal(2_097_151, 8), true);
    assert.equal(fitsOctal(2_097_152, 8), false);
    assert.equal(fitsOctal(-1, 8), false);
  });
});
