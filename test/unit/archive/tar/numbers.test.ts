import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
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

  it('reads any octal field as its text does: cut at the first NUL, blanks trimmed, octal digits or an error', () => {
    // The reading as a string, which the byte-by-byte parser must agree with on every input.
    const asText = (field: Buffer): number | 'invalid' => {
      const nul = field.indexOf(0);
      const text = field.toString('latin1', 0, nul === -1 ? field.length : nul).trim();
      if (text === '') return 0;
      return /^[0-7]+$/.test(text) ? parseInt(text, 8) : 'invalid';
    };
    const byte = fc.constantFrom(0x00, 0x20, 0x09, 0x0a, 0x0d, 0xa0, 0x85, 0x2b, 0x2d, 0x38, 0x61, 0x30, 0x31, 0x33, 0x37);
    const field = fc.oneof(fc.constant(8), fc.constant(12)).chain((n) => fc.array(byte, { minLength: n, maxLength: n }));
    fc.assert(fc.property(field, (bytes) => {
      // A first byte with the high bit set makes a base-256 field, read above.
      fc.pre(bytes[0]! < 0x80);
      const buf = Buffer.from([0x37, ...bytes, 0x37]);
      const expected = asText(buf.subarray(1, 1 + bytes.length));
      let got: number | 'invalid';
      try {
        got = parseNumeric(buf, 1, bytes.length);
      } catch (err) {
        assert.ok(err instanceof InvalidArchiveError);
        got = 'invalid';
      }
      assert.equal(got, expected);
    }), { numRuns: 5000 });
  });

  it('fitsOctal tells whether a value fits a field with its terminator', () => {
    assert.equal(fitsOctal(2_097_151, 8), true);
    assert.equal(fitsOctal(2_097_152, 8), false);
    assert.equal(fitsOctal(-1, 8), false);
  });
});
