import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OPAQUE_MARKER, OPAQUE_XATTR, WHITEOUT_PREFIX, classifyTarName, isOpaqueValue, isWhiteoutDevice } from '../../../src/archive/whiteout';

describe('whiteout names and values', () => {
  it('uses the AUFS names and the overlay xattr of protocol.md §2.6', () => {
    assert.equal(WHITEOUT_PREFIX, '.wh.');
    assert.equal(OPAQUE_MARKER, '.wh..wh..opq');
    assert.equal(OPAQUE_XATTR, 'trusted.overlay.opaque');
  });

  const table: Array<[string, ReturnType<typeof classifyTarName>]> = [
    ['.wh..wh..opq', { kind: 'opaque' }],
    ['.wh.gone', { kind: 'whiteout', name: 'gone' }],
    ['.wh..hidden', { kind: 'whiteout', name: '.hidden' }],
    // AUFS metadata is not special-cased: it is a whiteout of ".wh.plnk" (protocol.md §2.6).
    ['.wh..wh.plnk', { kind: 'whiteout', name: '.wh.plnk' }],
    ['.wh.', { kind: 'whiteout', name: '' }],
    ['file', undefined],
    ['x.wh.y', undefined],
    ['.wh', undefined],
    ['.WH.upper', undefined],
    ['.wh..wh..opq2', { kind: 'whiteout', name: '.wh..opq2' }],
  ];
  for (const [base, expected] of table) {
    it(`classifies ${JSON.stringify(base)}`, () => {
      assert.deepEqual(classifyTarName(base), expected);
    });
  }

  it('a whiteout device is a character device 0/0 only', () => {
    assert.equal(isWhiteoutDevice({ mode: 0o020000, rdev: 0 }), true);
    assert.equal(isWhiteoutDevice({ mode: 0o020644, rdev: 0 }), true);
    assert.equal(isWhiteoutDevice({ mode: 0o020000n, rdev: 0n }), true);
    assert.equal(isWhiteoutDevice({ mode: 0o020666, rdev: (1 << 8) | 3 }), false, '/dev/null is c 1/3');
    assert.equal(isWhiteoutDevice({ mode: 0o060000, rdev: 0 }), false, 'block device 0/0');
    assert.equal(isWhiteoutDevice({ mode: 0o100000, rdev: 0 }), false, 'regular file');
    assert.equal(isWhiteoutDevice({ mode: 0o010000, rdev: 0 }), false, 'fifo');
    assert.equal(isWhiteoutDevice({ mode: 0o140000, rdev: 0 }), false, 'socket');
  });

  it('opaque only when the xattr value is exactly "y"', () => {
    assert.equal(isOpaqueValue(Buffer.from('y')), true);
    assert.equal(isOpaqueValue(undefined), false);
    assert.equal(isOpaqueValue(Buffer.alloc(0)), false);
    assert.equal(isOpaqueValue(Buffer.from('n')), false);
    assert.equal(isOpaqueValue(Buffer.from('Y')), false);
    assert.equal(isOpaqueValue(Buffer.from('y\0')), false);
  });
});
