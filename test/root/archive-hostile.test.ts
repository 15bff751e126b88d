/**
 * Hostile layer tars, one case per test (GHSA style). Each must be refused with
 * UnsafeArchiveError or InvalidArchiveError, and nothing outside the target directory may
 * change: a sibling directory and a canary file are snapshotted before and after.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { applyTar } from '../../src/archive/apply';
import { InvalidArchiveError, UnsafeArchiveError } from '../../src/errors';
import { IdMapping } from '../../src/idmap';
import { comparable, snapshotTree } from '../helpers/fs-tree';
import { HOSTILE_TARS } from '../helpers/hostile-tars';
import { chunked, fields, packWithTarStream, tarWithOurWriter, type StreamEntry } from '../helpers/tar-build';
import { needRoot } from '../helpers/tiers';
import { makeTmpDir } from '../helpers/tmp-dir';

interface Scene {
  /** the scratch dir holding everything */
  base: string;
  /** the (empty) extraction target: base/layers/target */
  target: string;
  /** a sibling of the target with content, which must not change */
  sibling: string;
  /** a canary file next to the target's parent */
  canary: string;
}

function scene(t: TestContext): Scene {
  const base = makeTmpDir(t, 'strata-hostile-');
  const target = path.join(base, 'layers', 'target');
  const sibling = path.join(base, 'layers', 'sibling');
  fs.mkdirSync(target, { recursive: true });
  fs.mkdirSync(path.join(sibling, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(sibling, 'sub', 'file'), 'sibling content');
  fs.chmodSync(path.join(sibling, 'sub', 'file'), 0o644);
  const canary = path.join(base, 'canary');
  fs.writeFileSync(canary, 'canary content');
  return { base, target, sibling, canary };
}

/** outsideOf snapshots everything in the scene except the target's contents. */
function outsideOf(s: Scene): unknown {
  const whole = snapshotTree(s.base);
  for (const key of [...whole.keys()]) if (key.startsWith('layers/target/')) whole.delete(key);
  whole.delete('layers/target');
  // The scratch root and layers/ dir times are not interesting; everything else must be identical.
  return comparable(whole, { skipRootTimes: true });
}

async function expectRefused(s: Scene, tar: Buffer, kind: typeof UnsafeArchiveError | typeof InvalidArchiveError): Promise<void> {
  const before = outsideOf(s);
  const canary = fs.readFileSync(s.canary, 'utf8');
  await assert.rejects(applyTar(chunked(tar, 512), s.target, { idMap: new IdMapping() }), kind);
  assert.deepEqual(outsideOf(s), before, 'nothing outside the target changed');
  assert.equal(fs.readFileSync(s.canary, 'utf8'), canary);
}

const file = (name: string, content = 'pwned'): StreamEntry => ({ header: { name, type: 'file', mode: 0o644 }, content });
const symlink = (name: string, linkname: string): StreamEntry => ({ header: { name, type: 'symlink', linkname } });

describe('applyTar refuses hostile archives', { skip: needRoot() }, () => {
  for (const hostile of HOSTILE_TARS) {
    it(`refuses ${hostile.what}`, async (t) => {
      const s = scene(t);
      const aim = { sibling: s.sibling, etcName: `strata-pwned-${process.pid}-${Date.now()}` };
      t.after(() => fs.rmSync(`/etc/${aim.etcName}`, { force: true }));
      await expectRefused(s, await hostile.build(aim), hostile.refusal);
      for (const planted of hostile.plants?.(aim) ?? []) assert.equal(fs.existsSync(planted), false, `${planted} was not created`);
      assert.ok(fs.lstatSync(s.target).isDirectory(), 'the root is still a directory');
    });
  }

  it("keeps '..'-laden symlink targets as data: they are legal in layers (the chroot case)", async (t) => {
    const s = scene(t);
    const before = outsideOf(s);
    const tar = await packWithTarStream([symlink('up', '../../../../etc'), symlink('abs', '/etc/shadow'), file('real', 'ok')]);
    await applyTar(chunked(tar), s.target, { idMap: new IdMapping() });
    assert.equal(fs.readlinkSync(path.join(s.target, 'up')), '../../../../etc');
    assert.equal(fs.readFileSync(path.join(s.target, 'real'), 'utf8'), 'ok');
    assert.deepEqual(outsideOf(s), before);
  });

  it('replaces a symlink to an outside file instead of writing, chmod-ing or timing through it', async (t) => {
    const s = scene(t);
    const before = outsideOf(s);
    const outsideFile = path.join(s.sibling, 'sub', 'file');
    const tar = tarWithOurWriter([
      { fields: fields({ name: 'lnk', type: 'symlink', mode: 0o120777, linkname: outsideFile, xattrs: new Map([['user.x', Buffer.from('1')]]) }) },
      { fields: fields({ name: 'hl', type: 'hardlink', mode: 0o100777, linkname: 'lnk', mtimeSec: 1 }) },
      { fields: fields({ name: 'lnk', type: 'file', mode: 0o100666, size: 11 }), data: Buffer.from('overwritten') },
    ]);
    await applyTar(chunked(tar), s.target, { idMap: new IdMapping() });
    assert.equal(fs.readFileSync(path.join(s.target, 'lnk'), 'utf8'), 'overwritten');
    assert.ok(fs.lstatSync(path.join(s.target, 'hl')).isSymbolicLink());
    assert.deepEqual(outsideOf(s), before, 'the outside file kept its content, mode, times and xattrs');
  });

  it("lands an absolute name '/etc/x' inside the target", async (t) => {
    const s = scene(t);
    const before = outsideOf(s);
    const name = `strata-abs-${process.pid}-${Date.now()}`;
    await applyTar(chunked(await packWithTarStream([file(`/etc/${name}`, 'inside'), file(`/../../${name}-2`, 'inside too')])), s.target, { idMap: new IdMapping() });
    assert.equal(fs.readFileSync(path.join(s.target, 'etc', name), 'utf8'), 'inside');
    assert.equal(fs.readFileSync(path.join(s.target, `${name}-2`), 'utf8'), 'inside too');
    assert.equal(fs.existsSync(`/etc/${name}`), false);
    assert.deepEqual(outsideOf(s), before);
  });
});
