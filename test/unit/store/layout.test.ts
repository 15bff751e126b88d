import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Layout, isLayerName, layerOfLinkTarget, mountPointsBelow } from '../../../src/store/layout';

describe('layout rules shared by the store and fsck', () => {
  const layout = new Layout('/var/lib/docker/strata');

  it('l/ links point at ../<id>/diff, and only such a target names a layer', () => {
    assert.equal(layout.linkTarget('abc'), '../abc/diff');
    assert.equal(layerOfLinkTarget('../abc/diff'), 'abc');
    for (const t of ['../abc/diff/', '../a/b/diff', '..//diff', 'abc/diff', '/abc/diff', '../abc/work']) assert.equal(layerOfLinkTarget(t), undefined, t);
  });

  it('layer dirs are the entries of the home other than l/ and hidden ones', () => {
    assert.equal(isLayerName('0123-init'), true);
    assert.equal(isLayerName('l'), false);
    assert.equal(isLayerName('.strata'), false);
    assert.equal(isLayerName('.probe-1'), false);
  });

  it('a merged dir names its layer; other mount points name none', () => {
    assert.equal(layout.layerOfMountPoint('/var/lib/docker/strata/abc/merged'), 'abc');
    assert.equal(layout.layerOfMountPoint('/var/lib/docker/strata/abc/diff'), undefined);
    assert.equal(layout.layerOfMountPoint('/var/lib/docker/strata/.strata/staging/rm-1/merged/x'), undefined);
  });

  it('mount points strictly below a dir come deepest first', () => {
    const mounts = ['/h/a', '/h/a/merged', '/h/a/merged/proc', '/h/ab/merged', '/other'];
    assert.deepEqual(mountPointsBelow('/h/a', mounts), ['/h/a/merged/proc', '/h/a/merged']);
    assert.deepEqual(mountPointsBelow('/h', new Set(mounts)).slice(-1), ['/h/a']);
  });
});
