import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SnapshotInfo } from '../../../src/core/snapshots';
import { InvalidArgumentError } from '../../../src/errors';
import { matches, parseFilter, parseFilters } from '../../../src/snapshots/filters';

const info = (over: Partial<SnapshotInfo>): SnapshotInfo => ({ name: 'default/3/sha256:aa', parent: '', kind: 'committed', createdUs: 0, updatedUs: 0, labels: {}, ...over });
const committedWithRef = info({ name: 'default/5/sha256:bb', parent: 'default/3/sha256:aa', labels: { 'containerd.io/snapshot.ref': 'sha256:bb', 'containerd.io/snapshot/cri.layer-digest': 'sha256:11' } });
const active = info({ name: 'default/7/extract-1 sha256:cc', parent: 'default/5/sha256:bb', kind: 'active' });
const select = (filters: string[], infos: SnapshotInfo[]) => infos.filter((i) => matches(parseFilters(filters), i)).map((i) => i.name);

describe('containerd filters', () => {
  it('parses selectors as containerd does', () => {
    assert.deepEqual(parseFilter(''), []);
    assert.deepEqual(parseFilter('kind==active'), [{ fieldpath: ['kind'], operator: '==', value: 'active' }]);
    assert.deepEqual(parseFilter('labels."containerd.io/snapshot.ref"==sha256:bb,parent=="default/3/sha256:aa"'), [
      { fieldpath: ['labels', 'containerd.io/snapshot.ref'], operator: '==', value: 'sha256:bb' },
      { fieldpath: ['parent'], operator: '==', value: 'default/3/sha256:aa' },
    ]);
    assert.deepEqual(parseFilter('labels.a.b'), [{ fieldpath: ['labels', 'a', 'b'], operator: 'present', value: '' }]);
    assert.deepEqual(parseFilter('name~=/^default\\/[0-9]+/'), [{ fieldpath: ['name'], operator: '~=', value: '^default/[0-9]+' }]);
    assert.deepEqual(parseFilter('name == x'), [{ fieldpath: ['name'], operator: '==', value: 'x' }]);
    assert.deepEqual(parseFilter('name=="a\\"b\\x41\\u00e9\\101"'), [{ fieldpath: ['name'], operator: '==', value: 'a"bAéA' }]);
  });

  it('refuses what containerd refuses, as InvalidArgument', () => {
    for (const bad of ['==x', 'kind==', 'kind=x', 'kind>=x', 'kind==active,', 'kind==a b', 'kind==active ,name==x', 'name=="open', 'name==/re/', 'labels.|x|', 'name=="\\q"', 'a\u0000b']) {
      assert.throws(() => parseFilter(bad), InvalidArgumentError, bad);
    }
  });

  it('selects by kind, name, parent and labels; several filters are alternatives', () => {
    const all = [info({}), committedWithRef, active];
    assert.deepEqual(select([], all), all.map((i) => i.name));
    assert.deepEqual(select(['kind==active'], all), [active.name]);
    assert.deepEqual(select(['kind!=active'], all), [all[0]!.name, committedWithRef.name]);
    assert.deepEqual(select(['labels."containerd.io/snapshot.ref"==sha256:bb,parent=="default/3/sha256:aa"'], all), [committedWithRef.name]);
    assert.deepEqual(select(['labels."containerd.io/snapshot.ref"==sha256:bb,parent=="default/9/x"'], all), []);
    assert.deepEqual(select(['labels."containerd.io/snapshot/cri.layer-digest"'], all), [committedWithRef.name]);
    assert.deepEqual(select(['kind==active', 'name==default/3/sha256:aa'], all), [all[0]!.name, active.name]);
    assert.deepEqual(select(['name~=extract-'], all), [active.name]);
    // An absent label is not equal to anything, and "!=" of an absent label compares with "".
    assert.deepEqual(select(['labels.x==""'], all), []);
    assert.deepEqual(select(['labels.x!=y'], all), all.map((i) => i.name));
  });

  it('treats a regular expression that does not compile as matching nothing', () => {
    assert.deepEqual(select(['name~=|(|'], [info({})]), []);
  });
});
