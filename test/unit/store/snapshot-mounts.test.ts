import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SnapshotLayout, snapshotIdOfDir } from '../../../src/store/snapshot-layout';
import { planSnapshotMounts } from '../../../src/store/snapshot-mounts';

const layout = new SnapshotLayout('/var/lib/strata/snapshotter');
const features = ['index=off', 'redirect_dir=off', 'metacopy=off'];
const S = '/var/lib/strata/snapshotter/snapshots';

describe('planSnapshotMounts', () => {
  it('binds a snapshot without parents: rw when active, ro as a view', () => {
    assert.deepEqual(planSnapshotMounts(layout, { id: 1, kind: 'active', parentIds: [], featureOptions: features }), [{ type: 'bind', source: `${S}/1/fs`, options: ['rw', 'rbind'] }]);
    assert.deepEqual(planSnapshotMounts(layout, { id: 2, kind: 'view', parentIds: [], featureOptions: features }), [{ type: 'bind', source: `${S}/2/fs`, options: ['ro', 'rbind'] }]);
  });

  it("binds a view of a single parent read-only to the parent's dir", () => {
    assert.deepEqual(planSnapshotMounts(layout, { id: 9, kind: 'view', parentIds: [4], featureOptions: features }), [{ type: 'bind', source: `${S}/4/fs`, options: ['ro', 'rbind'] }]);
  });

  it('mounts an active snapshot as overlay: feature options, workdir, upperdir, then lowerdirs nearest first', () => {
    assert.deepEqual(planSnapshotMounts(layout, { id: 7, kind: 'active', parentIds: [5, 3, 1], featureOptions: features }), [
      {
        type: 'overlay',
        source: 'overlay',
        options: ['index=off', 'redirect_dir=off', 'metacopy=off', `workdir=${S}/7/work`, `upperdir=${S}/7/fs`, `lowerdir=${S}/5/fs:${S}/3/fs:${S}/1/fs`],
      },
    ]);
  });

  it('mounts a view of several parents as overlay with lowerdirs only (read-only by having no upper)', () => {
    assert.deepEqual(planSnapshotMounts(layout, { id: 8, kind: 'view', parentIds: [5, 3], featureOptions: [] }), [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${S}/5/fs:${S}/3/fs`] }]);
  });

  it('keeps every lowerdir under one parent with short names, so 130 of them shorten below a page', () => {
    const parentIds = Array.from({ length: 130 }, (_, i) => 1000 + i);
    const [m] = planSnapshotMounts(layout, { id: 2000, kind: 'active', parentIds, featureOptions: features });
    const lowers = m!.options.at(-1)!.slice('lowerdir='.length).split(':');
    assert.ok(lowers.every((l) => l.startsWith(`${S}/`)));
    // What containerd's mount code passes after a chdir into the common parent: "<id>/fs" each.
    const relative = lowers.map((l) => l.slice(S.length + 1)).join(':');
    assert.ok(relative.length < 1200, `${relative.length} bytes`);
  });
});

describe('snapshotIdOfDir', () => {
  it('takes only the directory names the store gives', () => {
    assert.equal(snapshotIdOfDir('1'), 1);
    assert.equal(snapshotIdOfDir('4711'), 4711);
    for (const name of ['0', '01', '-1', '1.0', 'new-abc', '', '1e3', '99999999999999999']) assert.equal(snapshotIdOfDir(name), undefined, name);
  });
});
