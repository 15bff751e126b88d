import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../../src/errors';
import { LINK_ID_LENGTH, MAX_ID_LENGTH, checkLayerId, checkMountLabel, isLinkId, newLinkId } from '../../../src/store/ids';

const HEX64 = 'a3f1c0de'.repeat(8);

describe('checkLayerId', () => {
  const accepted: Array<[string, string]> = [
    ['64-hex cache id', HEX64],
    ['container init layer', `${HEX64}-init`],
    ['graphtest/builder style name', 'empty'],
    ['graphtest Base/Snap names', 'Base'],
    ['BuildKit-like base36 key', 'x2k9q0m1v7t5r3p8n6b4c2z0y'],
    ['dots and underscores inside', 'layer_1.v2'],
    ['at the length limit', 'a'.repeat(MAX_ID_LENGTH)],
  ];
  for (const [what, id] of accepted) {
    it(`accepts ${what}`, () => {
      assert.equal(checkLayerId(id), id);
    });
  }

  const rejected: Array<[string, string]> = [
    ['the empty string', ''],
    ['a slash', '/'],
    ['a parent reference', '..'],
    ['a current-dir reference', '.'],
    ['a path', 'a/b'],
    ['an absolute path', `/${HEX64}`],
    ['an embedded ..', 'a..b'],
    ['a comma (splits mount options)', 'a,b'],
    ['a colon (splits lowerdir)', 'a:b'],
    ['a NUL byte', 'a\0b'],
    ['a newline', 'a\nb'],
    ['a tab', 'a\tb'],
    ['a space', 'a b'],
    ['a quote', 'a"b'],
    ['a backslash', 'a\\b'],
    ['non-ASCII letters', 'layé'],
    ['a leading dot', '.strata'],
    ['a leading dash (option injection)', '-o'],
    ['the reserved links dir name', 'l'],
    ['one character over the limit', 'a'.repeat(MAX_ID_LENGTH + 1)],
    ['a 10 KB id', 'a'.repeat(10 * 1024)],
  ];
  for (const [what, id] of rejected) {
    it(`rejects ${what}`, () => {
      assert.throws(() => checkLayerId(id), InvalidArgumentError);
    });
  }

  it('uses the given noun for parents, and the error has the ARG code', () => {
    assert.throws(
      () => checkLayerId('a/b', 'parent id'),
      (err: unknown) => err instanceof InvalidArgumentError && err.code === 'STRATA_ERR_ARG_INVALID' && /parent id/.test(err.message),
    );
  });
});

describe('checkMountLabel', () => {
  const accepted = [
    'system_u:object_r:container_file_t:s0:c1,c2',
    'system_u:object_r:container_file_t:s0:c0.c1023',
    'system_u:object_r:container_file_t:s0',
    'system_u:object_r:container_file_t:s0-s0:c0.c1023',
    'system_u:object_r:svirt_sandbox_file_t',
  ];
  for (const label of accepted) {
    it(`accepts ${label}`, () => {
      assert.equal(checkMountLabel(label), label);
    });
  }

  const rejected: Array<[string, string]> = [
    ['a double quote (would end context="…")', 'system_u:object_r:container_file_t:s0:c1"c2'],
    ['a quote-and-option injection', 'system_u:object_r:t:s0",upperdir="/etc'],
    ['a single quote', "system_u:object_r:container_file_t:s0'"],
    ['a comma outside the categories', 'system_u:object_r:container_file_t,s0'],
    ['a comma after the sensitivity', 'system_u:object_r:container_file_t:s0,c1'],
    ['a trailing comma', 'system_u:object_r:container_file_t:s0:c1,'],
    ['an extra mount option', 'system_u:object_r:container_file_t:s0:c1,lowerdir=/'],
    ['a slash', 'system_u:object_r:container/file_t:s0'],
    ['a newline', 'system_u:object_r:container_file_t:s0\n'],
    ['a NUL byte', 'system_u:object_r:container_file_t:s0\0'],
    ['too few fields', 'object_r:container_file_t'],
    ['a label longer than 512 bytes', `system_u:object_r:${'t'.repeat(600)}:s0`],
  ];
  for (const [what, label] of rejected) {
    it(`rejects ${what}`, () => {
      assert.throws(() => checkMountLabel(label), InvalidArgumentError);
    });
  }
});

describe('newLinkId', () => {
  it('returns 26 characters of the base32 alphabet that isLinkId accepts', () => {
    for (let i = 0; i < 200; i++) {
      const id = newLinkId();
      assert.equal(id.length, LINK_ID_LENGTH);
      assert.match(id, /^[A-Z2-7]{26}$/);
      assert.ok(isLinkId(id));
    }
  });

  it('returns different ids on each call', () => {
    const ids = new Set(Array.from({ length: 500 }, () => newLinkId()));
    assert.equal(ids.size, 500);
  });

  it('uses the whole alphabet (not a biased subset)', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) for (const ch of newLinkId()) seen.add(ch);
    assert.equal(seen.size, 32);
  });

  it('isLinkId rejects other shapes', () => {
    for (const s of ['', 'ABC', 'a'.repeat(26), `${'A'.repeat(25)}1`, `${'A'.repeat(25)}=`, 'A'.repeat(27), `../${'A'.repeat(23)}`]) {
      assert.equal(isLinkId(s), false, s);
    }
  });
});
