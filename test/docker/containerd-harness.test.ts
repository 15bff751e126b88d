/**
 * The containerd-route harness itself, on containerd's built-in overlayfs snapshotter (no
 * Strata): an isolated containerd 1.7 that imports an offline busybox image and runs it with
 * ctr, survives a restart, and starts with the CRI plugin and a proxy snapshotter configured;
 * dockerd 26 on that containerd's image store (load, run, BuildKit build, docker info); and
 * dockerd 26 on the GraphDriver route (TestDaemon with DOCKER26_BINARIES). Everything is
 * stopped by pid, and nothing may stay mounted under the harness's temp dirs.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestContainerd } from '../helpers/containerd';
import { DOCKER26_BINARIES, mountsUnder, TestDaemon } from '../helpers/dockerd';
import { Docker26 } from '../helpers/dockerd26';
import { busyboxLayer, writeImageArchive } from '../helpers/image-archive';
import { needDocker26 } from '../helpers/tiers';

const TAG = 'busybox:strata';
// How containerd names the docker-save tag on import.
const REF = `docker.io/library/${TAG}`;

describe('containerd route harness', { skip: needDocker26() }, () => {
  const work = { dir: '', archive: '' };

  before(async () => {
    work.dir = await mkdtemp(path.join(os.tmpdir(), 'strata-ctrd-harness-'));
    const layer = await busyboxLayer(path.join(work.dir, 'busybox.tar'));
    work.archive = await writeImageArchive(path.join(work.dir, 'image.tar'), TAG, [layer]);
  });

  after(async () => {
    if (work.dir) await rm(work.dir, { recursive: true, force: true });
  });

  it('containerd 1.7 on overlayfs imports the offline image, runs it with ctr and keeps it across a restart', async () => {
    const c = await TestContainerd.start();
    try {
      const plugins = (await c.ctr(['plugins', 'ls'])).stdout;
      assert.match(plugins, /io\.containerd\.snapshotter\.v1\s+overlayfs\s+\S+\s+ok/);
      assert.doesNotMatch(plugins, /\scri\s/, 'the CRI plugin is disabled');
      assert.match((await c.ctr(['version'])).stdout, /Version:\s+1\.7\.24/);

      await c.ctr(['images', 'import', '--snapshotter', 'overlayfs', work.archive]);
      assert.match((await c.ctr(['images', 'ls', '-q'])).stdout, new RegExp(`^${REF.replace(/[.]/g, '\\.')}$`, 'm'));
      const committed = (await c.ctr(['snapshots', '--snapshotter', 'overlayfs', 'ls'])).stdout;
      assert.match(committed, /sha256:[0-9a-f]{64}\s+Committed/);

      const run = await c.ctrRun(REF, 'hello', ['/bin/sh', '-c', 'echo hi; grep -c " / overlay \\| / bind " /proc/mounts || true']);
      assert.match(run.stdout, /^hi\n/);
      // --rm removed the container's snapshot: only the image's is left, and no shim of ours.
      const after = (await c.ctr(['snapshots', '--snapshotter', 'overlayfs', 'ls'])).stdout.trim().split('\n').slice(1);
      assert.equal(after.length, 1, after.join('\n'));
      assert.deepEqual((await c.ctr(['containers', 'ls', '-q'])).stdout.trim(), '');

      const pid = c.pid;
      await c.restart();
      assert.notEqual(c.pid, pid);
      assert.match((await c.ctr(['images', 'ls', '-q'])).stdout, /busybox:strata/);
      assert.match((await c.ctrRun(REF, 'again', ['/bin/echo', 'again'])).stdout, /^again\n/);
      assert.deepEqual(c.shimPids(), []);
    } finally {
      assert.deepEqual(await c.stop(), []);
    }
    assert.deepEqual(mountsUnder(c.base), []);
  });

  it('containerd starts with the CRI plugin enabled and a proxy snapshotter configured (nothing listening yet)', async () => {
    const sockDir = await mkdtemp(path.join(os.tmpdir(), 'strata-proxy-'));
    const c = await TestContainerd.start({
      proxyPlugins: { strata: { address: path.join(sockDir, 'snapshotter.sock'), root: path.join(sockDir, 'root') } },
      cri: { snapshotter: 'strata', sandboxImage: REF },
    });
    try {
      const plugins = (await c.ctr(['plugins', 'ls'])).stdout;
      // containerd dials proxy plugins lazily: the plugin loads although nothing listens yet.
      assert.match(plugins, /io\.containerd\.snapshotter\.v1\s+strata\s+\S+\s+ok/);
      assert.match(plugins, /io\.containerd\.grpc\.v1\s+cri\s+\S+\s+ok/);
      assert.match(c.configToml(), /\[proxy_plugins\."strata"\.exports\]\n\s+root = /);
    } finally {
      await c.stop();
      await rm(sockDir, { recursive: true, force: true });
    }
  });

  it('dockerd 26 on the containerd image store (overlayfs) loads, runs and builds the image', async () => {
    const c = await TestContainerd.start();
    let d: Docker26 | undefined;
    try {
      d = await Docker26.start({ containerd: c, snapshotter: 'overlayfs' });
      const info = await d.info();
      assert.equal(info.Driver, 'overlayfs');
      assert.deepEqual(info.DriverStatus, [['driver-type', 'io.containerd.snapshotter.v1']]);
      assert.equal(info.ServerVersion, '26.1.5+dfsg1');

      await d.docker(['load', '-i', work.archive]);
      const run = await d.docker(['run', '--rm', '--network', 'none', TAG, 'sh', '-c', 'echo hi']);
      assert.equal(run.stdout, 'hi\n');
      // The image lives in containerd, in dockerd's namespace, on the overlayfs snapshotter.
      assert.match((await c.ctr(['images', 'ls', '-q'], { namespace: d.namespace })).stdout, /busybox:strata/);
      assert.match((await c.ctr(['snapshots', '--snapshotter', 'overlayfs', 'ls'], { namespace: d.namespace })).stdout, /Committed/);

      // BuildKit through the buildx plugin from the prefix (the default builder on Docker 26).
      const ctx = path.join(work.dir, 'ctx');
      await mkdir(ctx, { recursive: true });
      await writeFile(path.join(ctx, 'Dockerfile'), `FROM ${TAG}\nRUN echo built > /built\n`);
      assert.match((await d.docker(['buildx', 'version'])).stdout, /buildx 0\.13/);
      const build = await d.docker(['build', '--network', 'none', '-t', 'built:1', ctx]);
      assert.doesNotMatch(build.stderr, /legacy builder is deprecated/);
      assert.equal((await d.docker(['run', '--rm', '--network', 'none', 'built:1', 'cat', '/built'])).stdout, 'built\n');

      const keep = d;
      await d.restartDockerd();
      assert.match((await keep.docker(['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout, /busybox:strata/);
    } finally {
      if (d) assert.deepEqual(await d.stop(), []);
      assert.deepEqual(await c.stop(), []);
    }
  });

  it('dockerd 26 on the GraphDriver route: TestDaemon with DOCKER26_BINARIES (overlay2)', async () => {
    const d = await TestDaemon.start({ driver: 'overlay2', binaries: DOCKER26_BINARIES });
    try {
      const info = JSON.parse((await d.docker(['info', '--format', '{{json .}}'])).stdout) as { Driver: string; ServerVersion: string; DriverStatus: Array<[string, string]> };
      assert.equal(info.ServerVersion, '26.1.5+dfsg1');
      assert.equal(info.Driver, 'overlay2');
      await d.docker(['load', '-i', work.archive]);
      assert.equal((await d.docker(['run', '--rm', '--network', 'none', TAG, 'sh', '-c', 'echo hi'])).stdout, 'hi\n');
    } finally {
      await d.stop();
    }
  });
});
