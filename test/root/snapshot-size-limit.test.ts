/**
 * Size-limited snapshots on real loop devices, with the mounts the store describes performed by
 * the kernel as containerd performs them: containerd's max-size label (or the configured default,
 * which image unpacks do not get) gives an active snapshot a filesystem of its own; a write past
 * it fails with ENOSPC; usage and commit measure it; after everything was unmounted (a reboot)
 * Mounts brings it back with its data; Remove frees the loop device; a bad label creates nothing.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { Mount } from '../../src/core/snapshots';
import { InvalidArgumentError } from '../../src/errors';
import { MAX_SIZE_LABEL } from '../../src/store/snapshot-keys';
import { SnapshotLayout } from '../../src/store/snapshot-layout';
import { SnapshotStore } from '../../src/store/snapshot-store';
import { run } from '../../src/sys/exec';
import { LoopFilesystems } from '../../src/sys/loop-fs';
import { KernelMounter } from '../../src/sys/mounter';
import { probeHost } from '../../src/sys/probe';
import { treeRemover } from '../../src/sys/remove-tree';
import { eventually } from '../helpers/eventually';
import { fillFile, mountInNewDir } from '../helpers/mount-all';
import { memoryLogger } from '../helpers/store-fixture';
import { needRoot } from '../helpers/tiers';
import { loopDevicesUnder, makeTmpDir, unmountAllUnder } from '../helpers/tmp-dir';

const MiB = 1024 * 1024;

async function openStore(root: string, defaultBytes?: number): Promise<SnapshotStore> {
  fs.mkdirSync(root, { recursive: true });
  const mounter = new KernelMounter(run);
  const features = await probeHost(root, mounter);
  return SnapshotStore.open({
    layout: new SnapshotLayout(root),
    log: memoryLogger().log,
    mountOptions: features.snapshotMountOptions,
    removeTree: treeRemover(run),
    sizeLimits: { loopFs: new LoopFilesystems(run, mounter), defaultBytes },
  });
}

async function fixture(t: TestContext, defaultBytes?: number) {
  const dir = makeTmpDir(t, 'strata-snaplimit-');
  const root = path.join(dir, 'root');
  const store = await openStore(root, defaultBytes);
  const mountAt = (mounts: Mount[]): string => mountInNewDir(dir, mounts);
  const unmount = (target: string) => execFileSync('umount', [target]);
  /** base commits an image layer with one file, unpacked as containerd unpacks it */
  const base = async (s: SnapshotStore) => {
    const m = mountAt(await s.prepare('ns/1/extract-1 sha256:aa', '', {}));
    fs.writeFileSync(path.join(m, 'etc-file'), 'image');
    unmount(m);
    await s.commit('ns/2/sha256:aa', 'ns/1/extract-1 sha256:aa', {});
  };
  return { dir, root, store, mountAt, unmount, base };
}

describe('size-limited snapshots', { skip: needRoot() }, () => {
  it('a max-size label holds the container to its limit; usage measures its filesystem', async (t) => {
    const { root, store, mountAt, unmount, base } = await fixture(t);
    t.after(() => store.close());
    await base(store);
    const rootfs = mountAt(await store.prepare('ns/3/ctr', 'ns/2/sha256:aa', { [MAX_SIZE_LABEL]: String(64 * MiB) }));
    assert.equal(fs.readFileSync(path.join(rootfs, 'etc-file'), 'utf8'), 'image');
    const st = fs.statfsSync(rootfs);
    assert.ok(st.blocks * st.bsize <= 64 * MiB && st.blocks * st.bsize > 0.85 * 64 * MiB, `the mount shows ${st.blocks * st.bsize} bytes`);
    const { bytes, code } = fillFile(path.join(rootfs, 'big'));
    assert.equal(code, 'ENOSPC');
    assert.ok(bytes >= st.bavail * st.bsize - 2 * MiB, `wrote ${bytes} of ${st.bavail * st.bsize} free`);
    assert.ok((await store.usage('ns/3/ctr')).size >= bytes);
    assert.equal(loopDevicesUnder(root).length, 1, 'the image layer has no filesystem of its own');
    unmount(rootfs);
  });

  it('the default limits containers but not unpacks; after a reboot Mounts brings the data back; Remove frees the loop device', async (t) => {
    const { root, store, mountAt, unmount, base } = await fixture(t, 32 * MiB);
    await base(store);
    assert.deepEqual(loopDevicesUnder(root), [], 'the unpack got no limit');
    const rootfs = mountAt(await store.prepare('ns/3/ctr', 'ns/2/sha256:aa', {}));
    fs.writeFileSync(path.join(rootfs, 'kept'), 'data');
    assert.ok(fs.statfsSync(rootfs).blocks * fs.statfsSync(rootfs).bsize <= 32 * MiB);
    unmount(rootfs);
    await store.close();
    unmountAllUnder(root);
    assert.deepEqual(loopDevicesUnder(root), []);
    const again = await openStore(root, 32 * MiB);
    t.after(() => again.close());
    const back = mountAt(await again.mounts('ns/3/ctr'));
    assert.equal(fs.readFileSync(path.join(back, 'kept'), 'utf8'), 'data');
    assert.ok(fs.statfsSync(back).blocks * fs.statfsSync(back).bsize <= 32 * MiB);
    unmount(back);
    await again.remove('ns/3/ctr');
    await again.settled();
    await eventually(() => assert.deepEqual(loopDevicesUnder(root), []));
    assert.deepEqual(fs.readdirSync(path.join(root, 'staging')), []);
  });

  it('refuses a max-size label that is not a size, or above the free space, creating nothing', async (t) => {
    const { root, store, base } = await fixture(t);
    t.after(() => store.close());
    await base(store);
    const before = fs.readdirSync(path.join(root, 'snapshots')).sort();
    for (const value of ['lots', '0', '1M', String(2 ** 52)]) {
      await assert.rejects(store.prepare('ns/3/ctr', 'ns/2/sha256:aa', { [MAX_SIZE_LABEL]: value }), InvalidArgumentError, value);
    }
    assert.deepEqual(fs.readdirSync(path.join(root, 'snapshots')).sort(), before);
    assert.deepEqual(fs.readdirSync(path.join(root, 'staging')), []);
    assert.deepEqual(loopDevicesUnder(root), []);
  });
});
