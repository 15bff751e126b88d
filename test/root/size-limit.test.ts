/**
 * Size-limited layers on real loop devices: the layer's diff and work live on an ext4 of its
 * own, a write past the limit fails with ENOSPC while the home keeps its space, the limit comes
 * back after everything was unmounted (a reboot), and Remove frees the loop device and the image.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { FailedPreconditionError, InvalidArgumentError } from '../../src/errors';
import { runFsck } from '../../src/fsck/fsck';
import * as naive from '../../src/graphdriver/naive-diff';
import { Layout } from '../../src/store/layout';
import { run } from '../../src/sys/exec';
import { LoopFilesystems, listLoopDevices } from '../../src/sys/loop-fs';
import { readMountInfo } from '../../src/sys/mountinfo';
import { KernelMounter } from '../../src/sys/mounter';
import { openKernelStore } from '../helpers/store-fixture';
import { eventually } from '../helpers/eventually';
import { fillFile } from '../helpers/mount-all';
import { needRoot } from '../helpers/tiers';
import { loopDevicesUnder, makeTmpDir, mountPointsUnder, unmountAllUnder } from '../helpers/tmp-dir';

const HEX = (n: number) => n.toString(16).padStart(64, '0');
const MiB = 1024 * 1024;
const LIMIT = { bytes: 64 * MiB, option: '--storage-opt size' };

async function home(t: TestContext) {
  const h = path.join(makeTmpDir(t, 'strata-limit-'), 'home');
  return { home: h, ...(await openKernelStore(h)) };
}

describe('size-limited layers', { skip: needRoot() }, () => {
  it('hold the container to its limit, on a filesystem of their own', async (t) => {
    const { home: h, store } = await home(t);
    await store.create(HEX(1), '', { readWrite: false });
    await store.create(HEX(2), HEX(1), { readWrite: true, sizeLimit: LIMIT });
    const merged = await store.get(HEX(2));
    // df shows the limit less ext4's own overhead (its journal and inode tables: 10 % at 64 MiB).
    const st = fs.statfsSync(merged);
    assert.ok(st.blocks * st.bsize <= LIMIT.bytes && st.blocks * st.bsize > LIMIT.bytes * 0.85, `the mount shows ${st.blocks * st.bsize} bytes`);
    const homeFreeBefore = fs.statfsSync(h).bavail;
    const { bytes, code } = fillFile(path.join(merged, 'big'));
    assert.equal(code, 'ENOSPC');
    // ENOSPC comes when the filesystem is full, not before: within a chunk and the file's extent blocks.
    assert.ok(bytes <= LIMIT.bytes && bytes >= st.bavail * st.bsize - 2 * MiB, `wrote ${bytes} bytes of ${st.bavail * st.bsize} free`);
    assert.equal(fs.statSync(path.join(h, HEX(2), 'diff', 'big')).size, bytes, 'the file is in the layer\'s diff dir');
    assert.ok(homeFreeBefore - fs.statfsSync(h).bavail < (LIMIT.bytes * 1.1) / fs.statfsSync(h).bsize);
    assert.equal(await naive.diffSize(store, HEX(2), HEX(1)), bytes);
    await store.put(HEX(2));
  });

  it('come back with their data and limit after everything was unmounted, and free the loop device on remove', async (t) => {
    const { home: h, store } = await home(t);
    await store.create(HEX(1), '', { readWrite: false });
    await store.create(HEX(2), HEX(1), { readWrite: true, sizeLimit: LIMIT });
    fs.writeFileSync(path.join(await store.get(HEX(2)), 'kept'), 'data');
    await store.put(HEX(2));
    assert.equal(loopDevicesUnder(h).length, 1);
    // A reboot: Strata gone, every mount gone, every loop device gone.
    await store.close();
    unmountAllUnder(h);
    // The kernel clears a self-clearing loop device after the unmount, not always before umount returns.
    await eventually(() => assert.deepEqual(loopDevicesUnder(h), []));
    const { store: again } = await openKernelStore(h);
    const changes = await naive.changes(again, HEX(2), HEX(1));
    assert.deepEqual(changes.map((c) => c.path), ['/kept'], 'Changes attaches the filesystem by itself');
    const merged = await again.get(HEX(2));
    assert.equal(fs.readFileSync(path.join(merged, 'kept'), 'utf8'), 'data');
    assert.ok(fs.statfsSync(merged).blocks * fs.statfsSync(merged).bsize <= LIMIT.bytes);
    await again.put(HEX(2));
    await again.remove(HEX(2));
    await again.settled();
    await eventually(() => assert.deepEqual(loopDevicesUnder(h), []));
    assert.deepEqual(mountPointsUnder(h).filter((m) => m !== h), []);
    assert.equal(fs.existsSync(path.join(h, HEX(2))), false);
    assert.deepEqual(fs.readdirSync(path.join(h, '.strata', 'staging')), []);
  });

  it('refuse a limit above the free space and a diff applied to a limited layer, creating nothing', async (t) => {
    const { home: h, store } = await home(t);
    await store.create(HEX(1), '', { readWrite: false });
    await assert.rejects(store.create(HEX(2), HEX(1), { readWrite: true, sizeLimit: { bytes: 2 ** 52, option: '--storage-opt size' } }), InvalidArgumentError);
    assert.equal(fs.existsSync(path.join(h, HEX(2))), false);
    await store.create(HEX(3), HEX(1), { readWrite: true, sizeLimit: LIMIT });
    await assert.rejects(store.applyDiff(HEX(3), HEX(1), (async function* () {})()), FailedPreconditionError);
    await eventually(() => assert.deepEqual(loopDevicesUnder(path.join(h, '.strata')), []));
  });

  it('fsck: a mounted limit is in use; a stray loop device and a stray image file are findings that --repair clears', async (t) => {
    const { home: h, store } = await home(t);
    await store.create(HEX(1), '', { readWrite: false });
    await store.create(HEX(2), HEX(1), { readWrite: true, sizeLimit: LIMIT });
    await store.create(HEX(3), HEX(1), { readWrite: true });
    await store.close();
    const layout = new Layout(h);
    fs.copyFileSync(layout.limitImage(HEX(2)), layout.limitImage(HEX(3)));
    const device = execFileSync('losetup', ['-f', '--show', layout.limitImage(HEX(3))], { encoding: 'utf8' }).trim();
    fs.rmSync(layout.ownerFile()); // Strata is gone: fsck may repair
    const mounter = new KernelMounter(run);
    const deps = { mounter, loopFs: new LoopFilesystems(run, mounter), loopDevices: listLoopDevices, readMounts: readMountInfo };
    const opts = { home: h, repair: false, removeUnreferenced: false, json: false };
    const found = await runFsck(opts, deps);
    assert.deepEqual(found.findings.map((f) => `${f.kind}:${f.path}`).sort(), [`leaked-image:${layout.limitImage(HEX(3))}`, `leaked-loop-device:${device}`]);
    assert.ok(found.mountsInUse.includes(layout.limitDir(HEX(2))));
    const repaired = await runFsck({ ...opts, repair: true }, deps);
    assert.equal(repaired.problems, 0);
    await eventually(() => assert.deepEqual(loopDevicesUnder(path.join(h, HEX(3))), []));
    assert.equal(fs.existsSync(layout.limitImage(HEX(3))), false);
    assert.equal(loopDevicesUnder(path.join(h, HEX(2))).length, 1, 'the mounted limit keeps its device');
  });
});
