import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePax, parsePaxTime } from '../../../../src/archive/tar/pax-parse';
import { InvalidArchiveError } from '../../../../src/errors';

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
