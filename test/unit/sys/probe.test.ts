import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backingFsName, overlayOptionsFor } from '../../../src/sys/probe';

describe('probe (pure parts)', () => {
  it('names backing filesystems as docker info does', () => {
    assert.equal(backingFsName(0xef53), 'extfs');
    assert.equal(backingFsName(0x58465342), 'xfs');
    assert.equal(backingFsName(0x9123683e), 'btrfs');
    assert.equal(backingFsName(0x01021994), 'tmpfs');
    assert.equal(backingFsName(0x12345678), '<unknown>');
    assert.equal(backingFsName(-0x6edc97c2), 'btrfs', 'a negative (signed) statfs type is read as unsigned');
  });

  it('turns off index, redirect_dir and metacopy only where the kernel knows them', () => {
    assert.deepEqual(overlayOptionsFor(new Set(['index', 'redirect_dir', 'metacopy', 'xino_auto'])), ['index=off', 'redirect_dir=off', 'metacopy=off']);
    assert.deepEqual(overlayOptionsFor(new Set(['index'])), ['index=off']);
    assert.deepEqual(overlayOptionsFor(new Set()), []);
  });
});
