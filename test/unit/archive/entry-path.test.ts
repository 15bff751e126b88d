import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_NAME_BYTES, ByteRoot, baseOf, isWithin, joinRel, layerRelative, parentOf, toUtf8 } from '../../../src/archive/entry-path';
import { UnsafeArchiveError } from '../../../src/errors';

describe('layerRelative', () => {
  const cases: Array<[string, string]> = [
    ['etc/passwd', 'etc/passwd'],
    ['./etc/passwd', 'etc/passwd'],
    ['etc/', 'etc'],
    ['etc//passwd', 'etc/passwd'],
    ['a/./b/./c', 'a/b/c'],
    ['a/b/../c', 'a/c'],
    ['a/../b', 'b'],
    ['a/..', ''],
    ['./', ''],
    ['.', ''],
    ['/', ''],
    // Absolute names are relative to the layer root, as Docker's chroot makes them.
    ['/abs', 'abs'],
    ['/etc/passwd', 'etc/passwd'],
    ['/../x', 'x'],
    ['/../../../x/y', 'x/y'],
    ['...', '...'],
    ['..a/b..', '..a/b..'],
    ['.wh..wh..opq', '.wh..wh..opq'],
  ];
  for (const [name, rel] of cases) {
    it(`maps ${JSON.stringify(name)} to ${JSON.stringify(rel)}`, () => {
      assert.equal(layerRelative(name), rel);
    });
  }

  const refused: Array<[string, string]> = [
    ['a parent reference', '../x'],
    ['a bare ..', '..'],
    ['a climb after a descent', 'a/../../x'],
    ['a deep climb', 'a/b/../../../etc/passwd'],
    ['a climb behind ./', './../x'],
    ['a NUL byte', 'a\0b'],
    ['a name longer than PATH_MAX', 'a/'.repeat(MAX_NAME_BYTES / 2) + 'x'],
  ];
  for (const [what, name] of refused) {
    it(`refuses ${what}`, () => {
      assert.throws(() => layerRelative(name), UnsafeArchiveError);
    });
  }

  it('accepts a name of exactly PATH_MAX bytes', () => {
    const name = 'd/'.repeat(MAX_NAME_BYTES / 2 - 1) + 'xy';
    assert.equal(name.length, MAX_NAME_BYTES);
    assert.equal(layerRelative(name), name);
  });

  it('keeps non-UTF-8 bytes of byte-string names untouched', () => {
    const name = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2f, 0xff]).toString('latin1');
    assert.deepEqual(Buffer.from(layerRelative(name), 'latin1'), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2f, 0xff]));
  });

  it('names the entry and the kind of name in the error', () => {
    assert.throws(
      () => layerRelative('../x', 'hardlink target'),
      (err: unknown) => err instanceof UnsafeArchiveError && err.code === 'STRATA_ERR_TAR_UNSAFE_ENTRY' && err.entry === '../x' && /hardlink target/.test(err.message),
    );
  });
});

describe('relative path helpers', () => {
  it('parentOf / baseOf / joinRel', () => {
    assert.equal(parentOf('a/b/c'), 'a/b');
    assert.equal(parentOf('a'), '');
    assert.equal(baseOf('a/b/c'), 'c');
    assert.equal(baseOf('a'), 'a');
    assert.equal(joinRel('', 'a'), 'a');
    assert.equal(joinRel('a/b', 'c'), 'a/b/c');
  });

  it('isWithin compares whole components, not string prefixes', () => {
    assert.equal(isWithin('a/b', 'a'), true);
    assert.equal(isWithin('a', 'a'), true);
    assert.equal(isWithin('ab', 'a'), false);
    assert.equal(isWithin('a', 'a/b'), false);
    assert.equal(isWithin('anything', ''), true);
  });

  it('ByteRoot joins a UTF-8 root with byte-string names into raw bytes', () => {
    const root = new ByteRoot('/tmp/réal');
    assert.deepEqual(root.path(''), Buffer.from('/tmp/réal'));
    const name = Buffer.from([0xe9, 0x2e, 0x74]).toString('latin1');
    assert.deepEqual(root.path(name), Buffer.concat([Buffer.from('/tmp/réal/'), Buffer.from([0xe9, 0x2e, 0x74])]));
  });

  it('toUtf8 decodes byte strings, replacing invalid sequences', () => {
    assert.equal(toUtf8(Buffer.from('/über').toString('latin1')), '/über');
    assert.equal(toUtf8(Buffer.from([0x2f, 0xe9]).toString('latin1')), '/\ufffd');
  });
});
