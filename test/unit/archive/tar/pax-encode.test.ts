import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatPaxTime } from '../../../../src/archive/tar/pax-encode';

describe('formatPaxTime', () => {
  // What Go's formatPAXTime writes for each (Unix seconds, nanoseconds).
  const table: Array<[number, number, string]> = [
    [1_577_934_245, 0, '1577934245'],
    [1_577_934_245, 600_000_000, '1577934245.6'],
    [1_577_934_245, 123_456_789, '1577934245.123456789'],
    [0, 1, '0.000000001'],
    [-5, 0, '-5'],
    // Before 1970 the fraction counts down from the whole second above: the reader's "-0.999999999" is -1 s + 1 ns.
    [-1, 1, '-0.999999999'],
    [-2, 500_000_000, '-1.5'],
  ];
  for (const [sec, nsec, text] of table) {
    it(`writes ${sec} s ${nsec} ns as ${text}`, () => assert.equal(formatPaxTime({ sec, nsec }), text));
  }
});
