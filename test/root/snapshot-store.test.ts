/**
 * The snapshot store on real directories, with the mounts it describes performed by the kernel
 * as containerd would perform them: data written through an active snapshot's mount is what its
 * children see; views are read-only; usage is measured; every refused request (the error kinds
 * containerd acts on) leaves catalog and directories as they were; leftovers of a crash are
 * swept when the store opens and by cleanup; the catalog survives a reopen.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { Mount } from '../../src/core/snapshots';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../src/errors';
import { SnapshotLayout } from '../../src/store/snapshot-layout';
import { SnapshotStore } from '../../src/store/snapshot-store';
import { run } from '../../src/sys/exec';
import { KernelMounter } from '../../src/sys/mounter';
import { probeHost } from '../../src/sys/probe';
import { treeRemover } from '../../src/sys/remove-tree';
import { mountInNewDir } from '../helpers/mount-all';
import { memoryLogger } from '../helpers/store-fixture';
import { needRoot } from '../helpers/tiers';
import { makeTmpDir } from '../helpers/tmp-dir';

async function openStore(root: string): Promise<SnapshotStore> {
  fs.mkdirSync(root, { recursive: true });
  const features = await probeHost(root, new KernelMounter(run));
  return SnapshotStore.open({ layout: new SnapshotLayout(root), log: memoryLogger().log, mountOptions: features.snapshotMountOptions, removeTree: treeRemover(run) });
}

async function fixture(t: TestContext) {
  const dir = makeTmpDir(t, 'strata-snap-');
  const root = path.join(dir, 'root');
  const store = await openStore(root);
  t.after(() => store.close());
  const mountAt = (mounts: Mount[]): string => mountInNewDir(dir, mounts);
  return { dir, root, store, mountAt };
}

/** state is everything a refused request must leave as it was: the catalog's view and the directories. */
async function state(store: SnapshotStore, root: string) {
  return { infos: await store.list(), dirs: fs.readdirSync(path.join(root, 'snapshots')).sort(), staging: fs.readdirSync(path.join(root, 'staging')) };
}

describe('SnapshotStore on the kernel', { skip: needRoot() }, () => {
  it('builds a chain through mounts: a committed parent is what its children and views see', async (t) => {
    const { store, mountAt } = await fixture(t);
    const base = mountAt(await store.prepare('ns/1/extract base', '', { 'containerd.io/snapshot.ref': 'sha256:aa' }));
    fs.writeFileSync(path.join(base, 'a'), 'A');
    fs.mkdirSync(path.join(base, 'dir'));
    fs.writeFileSync(path.join(base, 'dir', 'b'), 'B');
    await store.commit('ns/2/sha256:aa', 'ns/1/extract base', {});

    const childMounts = await store.prepare('ns/3/c', 'ns/2/sha256:aa', {});
    assert.equal(childMounts[0]!.type, 'overlay');
    const child = mountAt(childMounts);
    assert.equal(fs.readFileSync(path.join(child, 'dir', 'b'), 'utf8'), 'B');
    fs.rmSync(path.join(child, 'a'));
    fs.writeFileSync(path.join(child, 'dir', 'c'), 'C');
    await store.commit('ns/4/sha256:bb', 'ns/3/c', {});

    const view = mountAt(await store.view('ns/5/v', 'ns/4/sha256:bb', {}));
    assert.deepEqual(fs.readdirSync(view).sort(), ['dir']);
    assert.deepEqual(fs.readdirSync(path.join(view, 'dir')).sort(), ['b', 'c']);
    assert.throws(() => fs.writeFileSync(path.join(view, 'x'), 'x'), { code: 'EROFS' });
    const single = mountAt(await store.view('ns/6/v1', 'ns/2/sha256:aa', {}));
    assert.deepEqual(fs.readdirSync(single).sort(), ['a', 'dir']);
    assert.throws(() => fs.writeFileSync(path.join(single, 'x'), 'x'), { code: 'EROFS' });

    assert.deepEqual(
      (await store.list()).map((i) => [i.name, i.parent, i.kind]),
      [
        ['ns/2/sha256:aa', '', 'committed'],
        ['ns/4/sha256:bb', 'ns/2/sha256:aa', 'committed'],
        ['ns/5/v', 'ns/4/sha256:bb', 'view'],
        ['ns/6/v1', 'ns/2/sha256:aa', 'view'],
      ],
    );
    // A commit replaces the labels, as containerd's does.
    assert.deepEqual((await store.stat('ns/2/sha256:aa')).labels, {});
  });

  it('measures an active snapshot now and keeps what a committed one measured', async (t) => {
    const { store, mountAt } = await fixture(t);
    const m = mountAt(await store.prepare('k', '', {}));
    const empty = await store.usage('k');
    assert.equal(empty.inodes, 1);
    fs.writeFileSync(path.join(m, 'f'), Buffer.alloc(64 * 1024, 1));
    fs.linkSync(path.join(m, 'f'), path.join(m, 'hardlink'));
    const written = await store.usage('k');
    assert.equal(written.inodes, 2, 'a hardlinked file counts once');
    assert.ok(written.size >= empty.size + 64 * 1024, JSON.stringify(written));
    await store.commit('c', 'k', {});
    fs.writeFileSync(path.join(m, 'later'), Buffer.alloc(64 * 1024, 1));
    assert.deepEqual(await store.usage('c'), written);
    await store.view('v', 'c', {});
    assert.deepEqual(await store.usage('v'), { size: 0, inodes: 0 });
  });

  it('refuses what containerd refuses, with its error kinds, and changes nothing', async (t) => {
    const { store, root } = await fixture(t);
    await store.prepare('active', '', {});
    await store.prepare('base-x', '', {});
    await store.commit('base', 'base-x', {});
    await store.view('view', 'base', {});
    await store.prepare('child', 'base', {});
    const before = await state(store, root);
    const refusals: Array<[string, () => Promise<unknown>, new (...a: never[]) => Error]> = [
      ['prepare of an existing key', () => store.prepare('active', '', {}), AlreadyExistsError],
      ['view of an existing key', () => store.view('base', '', {}), AlreadyExistsError],
      ['prepare on an unknown parent', () => store.prepare('new', 'nope', {}), NotFoundError],
      ['prepare on an active parent', () => store.prepare('new', 'active', {}), InvalidArgumentError],
      ['view of a view', () => store.view('new', 'view', {}), InvalidArgumentError],
      ['a key with a NUL', () => store.prepare('a\u0000b', '', {}), InvalidArgumentError],
      ['a key with a newline', () => store.stat('a\nb'), InvalidArgumentError],
      ['an empty key', () => store.prepare('', '', {}), InvalidArgumentError],
      ['an oversized label', () => store.prepare('new', '', { big: 'x'.repeat(5000) }), InvalidArgumentError],
      ['commit of a view', () => store.commit('new', 'view', {}), FailedPreconditionError],
      ['commit of a committed snapshot', () => store.commit('new', 'base', {}), FailedPreconditionError],
      ['commit of an unknown key', () => store.commit('new', 'nope', {}), NotFoundError],
      ['commit to a name that exists', () => store.commit('base', 'active', {}), AlreadyExistsError],
      ['commit with an oversized label', () => store.commit('new', 'active', { big: 'x'.repeat(5000) }), InvalidArgumentError],
      ['remove of a parent', () => store.remove('base'), FailedPreconditionError],
      ['remove of an unknown key', () => store.remove('nope'), NotFoundError],
      ['stat of an unknown key', () => store.stat('nope'), NotFoundError],
      ['usage of an unknown key', () => store.usage('nope'), NotFoundError],
      ['mounts of an unknown key', () => store.mounts('nope'), NotFoundError],
      ['mounts of a committed snapshot', () => store.mounts('base'), FailedPreconditionError],
      ['update of an unknown snapshot', () => store.update({ name: 'nope', labels: {} }, []), NotFoundError],
      ['update of the parent field', () => store.update({ name: 'base', labels: {} }, ['parent']), InvalidArgumentError],
      ['update of the kind field', () => store.update({ name: 'base', labels: { a: '1' } }, ['labels.a', 'kind']), InvalidArgumentError],
    ];
    for (const [what, call, kind] of refusals) {
      await assert.rejects(call(), kind, what);
      assert.deepEqual(await state(store, root), before, `${what} changed the store`);
    }
    await assert.rejects(store.remove('base'), /remove/, "containerd's tests look for 'remove' in the message");
  });

  it('updates labels as containerd does: all of them, one by field path, or deletes an absent one', async (t) => {
    const { store } = await fixture(t);
    await store.prepare('k', '', { a: '1', b: '2' });
    const at = (await store.stat('k')).updatedUs;
    assert.deepEqual((await store.update({ name: 'k', labels: { c: '3' } }, [])).labels, { c: '3' });
    assert.deepEqual((await store.update({ name: 'k', labels: { d: '4', e: '5' } }, ['labels.d'])).labels, { c: '3', d: '4' });
    assert.deepEqual((await store.update({ name: 'k', labels: {} }, ['labels.c'])).labels, { d: '4' });
    assert.deepEqual((await store.update({ name: 'k', labels: { x: '', y: '9' } }, ['labels'])).labels, { y: '9' });
    const updated = await store.stat('k');
    assert.equal(updated.kind, 'active');
    assert.ok(updated.updatedUs >= at && updated.createdUs <= updated.updatedUs);
  });

  it('removes at once and frees the space in the background; a removed parent frees its children first', async (t) => {
    const { store, root } = await fixture(t);
    await store.prepare('p-x', '', {});
    await store.commit('p', 'p-x', {});
    await store.prepare('c', 'p', {});
    await store.remove('c');
    await store.remove('p');
    await assert.rejects(store.stat('p'), NotFoundError);
    await store.settled();
    assert.deepEqual(fs.readdirSync(path.join(root, 'snapshots')), []);
    assert.deepEqual(fs.readdirSync(path.join(root, 'staging')), []);
  });

  it('keeps the catalog across a reopen and sweeps what a crash left: dirs without a row, staging leftovers', async (t) => {
    const { store, root } = await fixture(t);
    await store.prepare('kept-x', '', { 'containerd.io/snapshot/cri.layer-digest': 'sha256:11' });
    await store.commit('kept', 'kept-x', { 'containerd.io/snapshot.ref': 'sha256:kept' });
    await store.prepare('active', 'kept', {});
    const before = await store.list();
    await store.close();
    // What a kill -9 can leave: a snapshot dir renamed in before its transaction committed, a
    // staging dir of a create in progress, a removed snapshot's trash.
    fs.mkdirSync(path.join(root, 'snapshots', '999', 'fs'), { recursive: true });
    fs.mkdirSync(path.join(root, 'staging', 'new-0123456789ab', 'fs'), { recursive: true });
    fs.mkdirSync(path.join(root, 'staging', 'rm-0123456789ab', 'fs'), { recursive: true });
    const reopened = await openStore(root);
    t.after(() => reopened.close());
    assert.deepEqual(await reopened.list(), before);
    assert.deepEqual(fs.readdirSync(path.join(root, 'snapshots')).sort(), ['1', '2']);
    assert.deepEqual(fs.readdirSync(path.join(root, 'staging')), []);
    // Ids are never handed out twice, so a swept id stays unused too.
    await reopened.prepare('next', 'kept', {});
    assert.ok(fs.existsSync(path.join(root, 'snapshots', '3', 'work')));
    // Cleanup sweeps the same way while running.
    fs.mkdirSync(path.join(root, 'snapshots', 'stray'));
    await reopened.cleanup();
    await reopened.settled();
    assert.deepEqual(fs.readdirSync(path.join(root, 'snapshots')).sort(), ['1', '2', '3']);
  });

  it('never takes a snapshot created while Cleanup lists the directories for a leftover', async (t) => {
    const { store, root } = await fixture(t);
    // containerd runs Cleanup after its GC, while commits and runs go on: a Prepare lands between
    // Cleanup's listing (on the thread pool) and its look at the catalog.
    for (let i = 0; i < 40; i++) {
      const cleaning = store.cleanup();
      await store.prepare(`during-${i}`, '', {});
      await cleaning;
    }
    await store.settled();
    const ids = (await store.list()).length;
    assert.equal(ids, 40);
    assert.equal(fs.readdirSync(path.join(root, 'snapshots')).length, 40, 'every snapshot kept its directory');
  });

  it("gives a child's root its parent's owner", async (t) => {
    const { store, root } = await fixture(t);
    await store.prepare('p-x', '', {});
    fs.chownSync(path.join(root, 'snapshots', '1', 'fs'), 100000, 100000);
    await store.commit('p', 'p-x', {});
    await store.prepare('c', 'p', {});
    const st = fs.statSync(path.join(root, 'snapshots', '2', 'fs'));
    assert.deepEqual([st.uid, st.gid], [100000, 100000]);
  });
});
