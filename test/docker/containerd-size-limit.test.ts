/**
 * Size limits on the containerd route, with containerd 1.7 and Strata as its proxy snapshotter:
 * `--default-size-limit` holds a container started by ctr to the limit (`df /` shows it, a
 * write past it fails with ENOSPC) while the image's unpacks stay unlimited; containerd passes
 * its own label `containerd.io/snapshot/max-size` (from `ctr run --snapshotter-label`, or on a
 * Prepare through its API) through to Strata, which honours it, and refuses a bad value; nothing (loop device, image file) is left once the snapshots go.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statfsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestContainerd } from '../helpers/containerd';
import { Docker26 } from '../helpers/dockerd26';
import { eventually } from '../helpers/eventually';
import { busyboxLayer, writeImageArchive } from '../helpers/image-archive';
import { GrpcClient } from '../helpers/grpc-client';
import { SnapshotClient, SnapshotterProcess } from '../helpers/snapshotter-process';
import { needContainerd, needDocker26 } from '../helpers/tiers';
import { loopDevicesUnder, unmountAllUnder } from '../helpers/tmp-dir';

const MiB = 1024 * 1024;
const IMAGE = 'docker.io/library/limited:strata';
const MAX_SIZE = 'containerd.io/snapshot/max-size';

function imageFiles(root: string): string[] {
  return readdirSync(path.join(root, 'snapshots')).filter((id) => existsSync(path.join(root, 'snapshots', id, 'limit.img')));
}

/** Setup is a Strata snapshotter with a 32M default limit under a containerd 1.7, and a busybox image archive. */
interface Setup {
  dir: string;
  archive: string;
  strata: SnapshotterProcess;
  ctrd: TestContainerd;
}

async function startSetup(prefix: string): Promise<Setup> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  const archive = await writeImageArchive(path.join(dir, 'image.tar'), 'limited:strata', [await busyboxLayer(path.join(dir, 'busybox.tar'))]);
  const strata = new SnapshotterProcess(dir, { args: ['--default-size-limit', '32M'] });
  await strata.start();
  const ctrd = await TestContainerd.start({ proxyPlugins: { strata: { address: strata.socket, root: strata.root } } });
  return { dir, archive, strata, ctrd };
}

async function stopSetup(s: Partial<Setup>): Promise<void> {
  await s.ctrd?.stop();
  await s.strata?.kill('SIGTERM');
  if (s.dir) {
    unmountAllUnder(s.dir);
    await rm(s.dir, { recursive: true, force: true });
  }
}

describe('size limits on the containerd route', { skip: needContainerd() }, () => {
  let dir = '';
  let strata: SnapshotterProcess;
  let ctrd: TestContainerd;
  let viaContainerd: SnapshotClient;
  let setup: Partial<Setup> = {};

  before(async () => {
    setup = await startSetup('strata-ctrd-limit-');
    ({ dir, strata, ctrd } = setup as Setup);
    const { archive } = setup as Setup;
    // Snapshots made through containerd's API live in a lease, as ctr's do: containerd's GC removes any other.
    const leases = new GrpcClient(ctrd.address, 'leases', ctrd.namespace);
    await leases.call('Create', { id: 'size-limit-test', labels: {} });
    leases.close();
    viaContainerd = new SnapshotClient(ctrd.address, ctrd.namespace, 'size-limit-test');
    await ctrd.ctr(['images', 'import', '--snapshotter', 'strata', archive]);
  });

  after(async () => {
    viaContainerd?.close();
    await stopSetup(setup);
  });

  it('gives the image unpack no filesystem of its own', () => {
    assert.deepEqual(imageFiles(strata.root), []);
  });

  it('holds a container to the configured default: df shows it, ENOSPC when full', async () => {
    const script = 'df -k / | tail -1; dd if=/dev/zero of=/big bs=1M count=100 2>&1 | head -1; echo "dd exit $?"; ls -l /big';
    const out = await ctrd.ctrRun(IMAGE, 'filler', ['/bin/sh', '-c', script], { snapshotter: 'strata' });
    const [df, dd] = out.stdout.split('\n');
    const size = Number(df!.trim().split(/\s+/)[1]) * 1024;
    const avail = Number(df!.trim().split(/\s+/)[3]) * 1024;
    assert.ok(size <= 32 * MiB && size > 0.8 * 32 * MiB, `df / shows ${size} bytes: ${out.stdout}`);
    assert.match(dd!, /No space left on device/);
    const written = Number(out.stdout.trim().split('\n').at(-1)!.trim().split(/\s+/)[4]);
    // ENOSPC when the filesystem is full, not before: within a 1 MiB chunk and the file's extent blocks.
    assert.ok(written <= 32 * MiB && written >= avail - 2 * MiB, `wrote ${written} of ${avail} free`);
    await eventually(() => {
      assert.deepEqual(loopDevicesUnder(strata.root), [], 'ctr run --rm removed the snapshot and its loop device');
      assert.deepEqual(imageFiles(strata.root), []);
    });
  });

  it('honours ctr run --snapshotter-label containerd.io/snapshot/max-size over the default', async () => {
    const runArgs = ['--snapshotter-label', `${MAX_SIZE}=${64 * MiB}`];
    const out = await ctrd.ctrRun(IMAGE, 'labelled-run', ['/bin/sh', '-c', 'df -k / | tail -1'], { snapshotter: 'strata', runArgs });
    const size = Number(out.stdout.trim().split(/\s+/)[1]) * 1024;
    assert.ok(size <= 64 * MiB && size > 32 * MiB, `df / shows ${size} bytes`);
  });

  it('honours containerd.io/snapshot/max-size on a Prepare through containerd, and refuses a bad value', async () => {
    const images = (await ctrd.ctr(['images', 'ls'])).stdout;
    assert.match(images, /limited:strata/);
    const parent = (await ctrd.ctr(['snapshots', '--snapshotter', 'strata', 'ls'])).stdout.split('\n').slice(1).find((l) => /Committed/.test(l))!.split(/\s+/)[0]!;
    const { mounts } = (await viaContainerd.call('Prepare', { snapshotter: 'strata', key: 'labelled', parent, labels: { [MAX_SIZE]: String(64 * MiB) } })) as { mounts: Array<{ type: string; source: string; options: string[] }> };
    const target = path.join(dir, 'labelled');
    mkdirSync(target);
    const [m] = mounts;
    execFileSync('mount', ['-t', m!.type, '-o', m!.options.join(','), m!.source, target]);
    try {
      const st = statfsSync(target);
      assert.ok(st.blocks * st.bsize <= 64 * MiB && st.blocks * st.bsize > 32 * MiB, `the mount shows ${st.blocks * st.bsize} bytes`);
    } finally {
      execFileSync('umount', [target]);
    }
    await viaContainerd.call('Remove', { snapshotter: 'strata', key: 'labelled' });
    const refused = await viaContainerd.failure('Prepare', { snapshotter: 'strata', key: 'bad', parent, labels: { [MAX_SIZE]: 'lots' } });
    assert.match(refused.details, /invalid label containerd.io\/snapshot\/max-size="lots": not a size/);
    await eventually(() => assert.deepEqual(loopDevicesUnder(strata.root), []));
  });
});

describe('size limits with Docker 26 on the containerd store', { skip: needDocker26() }, () => {
  let strata: SnapshotterProcess;
  let ctrd: TestContainerd;
  let d: Docker26;
  let setup: Partial<Setup> = {};

  before(async () => {
    setup = await startSetup('strata-d26-limit-');
    ({ strata, ctrd } = setup as Setup);
    d = await Docker26.start({ containerd: ctrd, snapshotter: 'strata' });
    await d.docker(['load', '-i', (setup as Setup).archive]);
  });

  after(async () => {
    await d?.stop();
    await stopSetup(setup);
  });

  it('holds a container to the default although dockerd drops --storage-opt; its -init snapshot gets none', async () => {
    const id = (await d.docker(['create', '--network', 'none', '--storage-opt', 'size=128M', 'limited:strata', 'sh', '-c', 'df -k / | tail -1'])).stdout.trim();
    const keys = (await ctrd.ctr(['snapshots', '--snapshotter', 'strata', 'ls'], { namespace: d.namespace })).stdout;
    assert.equal(imageFiles(strata.root).length, 1, `one filesystem: the container's, not its -init snapshot's (${imageFiles(strata.root).length}):\n${keys}`);
    const out = await d.docker(['start', '-a', id]);
    const size = Number(out.stdout.trim().split(/\s+/)[1]) * 1024;
    assert.ok(size <= 32 * MiB && size > 0.8 * 32 * MiB, `df / shows ${size} bytes: the default, not the dropped 128M`);
    await d.docker(['rm', id]);
    await eventually(() => {
      assert.deepEqual(imageFiles(strata.root), []);
      assert.deepEqual(loopDevicesUnder(strata.root), []);
    }, 30_000);
  });
});

