import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backingFsName, overlayOptionsFor, snapshotOptionsFor } from '../../../src/sys/probe';

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

  it('gives snapshot mounts metacopy=off only where the kernel defaults to metacopy on (BuildKit knows no metacopy option)', () => {
    const params = (metacopy: string) => new Map([['index', 'N'], ['redirect_dir', 'N'], ['metacopy', metacopy]]);
    assert.deepEqual(snapshotOptionsFor(params('N')), ['index=off', 'redirect_dir=off']);
    assert.deepEqual(snapshotOptionsFor(params('Y')), ['index=off', 'redirect_dir=off', 'metacopy=off']);
    assert.deepEqual(snapshotOptionsFor(new Map([['index', 'Y']])), ['index=off']);
    assert.deepEqual(snapshotOptionsFor(new Map()), []);
  });
});
