import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../src/errors';
import { IdMapping } from '../../src/idmap';

describe('IdMapping', () => {
  it('is the identity without ranges', () => {
    const m = new IdMapping();
    assert.equal(m.isIdentity, true);
    assert.deepEqual(m.rootPair(), { uid: 0, gid: 0 });
    for (const id of [0, 1, 65534, 3_000_000]) {
      assert.equal(m.toHostUid(id), id);
      assert.equal(m.toContainerGid(id), id);
    }
  });

  // dockerd's userns-remap default: container 0..65535 → host 100000..165535.
  const remap = new IdMapping([{ containerId: 0, hostId: 100000, size: 65536 }], [{ containerId: 0, hostId: 200000, size: 65536 }]);

  it('maps container ids to host ids and back, uids and gids separately', () => {
    assert.equal(remap.isIdentity, false);
    assert.deepEqual(remap.rootPair(), { uid: 100000, gid: 200000 });
    assert.equal(remap.toHostUid(0), 100000);
    assert.equal(remap.toHostUid(1000), 101000);
    assert.equal(remap.toHostUid(65535), 165535);
    assert.equal(remap.toHostGid(5), 200005);
    assert.equal(remap.toContainerUid(101000), 1000);
    assert.equal(remap.toContainerGid(265535), 65535);
  });

  it('refuses ids outside the ranges with InvalidArgumentError', () => {
    assert.throws(() => remap.toHostUid(65536), InvalidArgumentError);
    assert.throws(() => remap.toHostGid(-1), InvalidArgumentError);
    assert.throws(() => remap.toContainerUid(99999), InvalidArgumentError);
    assert.throws(() => remap.toContainerUid(0), InvalidArgumentError);
    assert.throws(() => remap.toContainerGid(165536 + 100000), InvalidArgumentError);
  });

  it('uses every range of a split mapping', () => {
    const split = new IdMapping(
      [
        { containerId: 0, hostId: 1000, size: 1 },
        { containerId: 1, hostId: 100000, size: 1000 },
      ],
      [],
    );
    assert.equal(split.toHostUid(0), 1000);
    assert.equal(split.toHostUid(1), 100000);
    assert.equal(split.toHostUid(999), 100998);
    assert.throws(() => split.toHostUid(1001), InvalidArgumentError);
    assert.equal(split.toContainerUid(100500), 501);
    // With no gid ranges, gids are the identity even though uids are mapped.
    assert.equal(split.toHostGid(42), 42);
    assert.equal(split.isIdentity, false);
  });
});
