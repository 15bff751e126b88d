/**
 * containerd 1.7 with Strata as its proxy snapshotter, driven by ctr as a user would: an
 * offline image with whiteouts and an opaque dir is imported and its containers see the same
 * tree as on containerd's own overlayfs; snapshot ls/info/usage; containerd and Strata
 * restarted under a running container; Strata killed in the middle of an unpack (no half
 * snapshot, catalog and directories agree, the retried import works); a 130-layer image runs;
 * and removing everything leaves neither snapshots nor directories behind once containerd's
 * garbage collector has run.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestContainerd } from '../helpers/containerd';
import { mountsUnder } from '../helpers/dockerd';
import { eventually } from '../helpers/eventually';
import { busyboxLayer, randomFilesLayer, smallFileLayer, tarDirectory, writeImageArchive } from '../helpers/image-archive';
import { SnapshotClient, SnapshotterProcess, catalogIds, snapshotDirIds } from '../helpers/snapshotter-process';
import { needContainerd } from '../helpers/tiers';

const REF = (tag: string) => `docker.io/library/${tag}`;
/** what a container of the layered image prints about its tree */
const LOOK = 'cat /data/a /data/c; ls -a /data | tr "\\n" " "; echo; ls -a /data/keep | tr "\\n" " "; echo; stat -c "%a %u:%g" /data/c';

/** layerFromTree writes a layer tar of the files given (path → content); a name `.wh.x` is a whiteout in the tar. */
async function layerFromTree(dir: string, name: string, files: Record<string, string>): Promise<string> {
  const tree = path.join(dir, `${name}-tree`);
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(tree, file)), { recursive: true });
    await writeFile(path.join(tree, file), content);
  }
  return tarDirectory(tree, path.join(dir, `${name}.tar`));
}

describe('containerd 1.7 on the Strata snapshotter', { skip: needContainerd() }, () => {
  const w = { dir: '', layered: '', big: '', deep: '' };
  let strata: SnapshotterProcess;
  let ctrd: TestContainerd;
  let client: SnapshotClient;
  const strataCtr = (args: string[], opts: { allowFail?: boolean; timeoutMs?: number } = {}) => ctrd.ctr(args, opts);
  const snapshots = async () => (await strataCtr(['snapshots', '--snapshotter', 'strata', 'ls'])).stdout.trim().split('\n').slice(1).map((l) => l.trimEnd()).filter(Boolean);

  before(async () => {
    w.dir = await mkdtemp(path.join(os.tmpdir(), 'strata-ctrd-snap-'));
    const base = await busyboxLayer(path.join(w.dir, 'busybox.tar'));
    const data = await layerFromTree(w.dir, 'data', { 'data/a': 'A\n', 'data/b': 'B\n', 'data/c': 'C\n', 'data/keep/x': 'x\n' });
    const change = await layerFromTree(w.dir, 'change', { 'data/.wh.b': '', 'data/c': 'C2\n', 'data/keep/.wh..wh..opq': '', 'data/keep/y': 'y\n' });
    w.layered = await writeImageArchive(path.join(w.dir, 'layered.tar'), 'layered:strata', [base, data, change]);
    const files = await randomFilesLayer(path.join(w.dir, 'files.tar'), 'files', { dirs: 40, filesPerDir: 500, fileSize: 512 });
    w.big = await writeImageArchive(path.join(w.dir, 'big.tar'), 'big:strata', [base, files]);
    const deepLayers = [base];
    for (let i = 0; i < 130; i++) deepLayers.push(await smallFileLayer(path.join(w.dir, `deep${i}.tar`), `deep/${i}`, `${i}\n`));
    w.deep = await writeImageArchive(path.join(w.dir, 'deep.tar'), 'deep:strata', deepLayers);

    strata = new SnapshotterProcess(w.dir);
    await strata.start();
    client = new SnapshotClient(strata.socket);
    ctrd = await TestContainerd.start({ proxyPlugins: { strata: { address: strata.socket, root: strata.root } } });
  });

  after(async () => {
    client?.close();
    await ctrd?.stop();
    await strata?.kill('SIGTERM');
    if (w.dir) await rm(w.dir, { recursive: true, force: true });
  });

  it('is listed by containerd as a working snapshotter', async () => {
    assert.match((await strataCtr(['plugins', 'ls'])).stdout, /io\.containerd\.snapshotter\.v1\s+strata\s+\S+\s+ok/);
  });

  it('imports an image whose containers see the same tree as on overlayfs, and keeps their changes in the snapshot', async () => {
    await strataCtr(['images', 'import', '--snapshotter', 'strata', w.layered]);
    await strataCtr(['images', 'import', '--snapshotter', 'overlayfs', w.layered]);
    const committed = await snapshots();
    assert.equal(committed.filter((l) => /\sCommitted$/.test(l)).length, 3, committed.join('\n'));

    const onStrata = await ctrd.ctrRun(REF('layered:strata'), 'look-strata', ['/bin/sh', '-c', LOOK], { snapshotter: 'strata' });
    const onOverlay = await ctrd.ctrRun(REF('layered:strata'), 'look-overlay', ['/bin/sh', '-c', LOOK], { snapshotter: 'overlayfs' });
    assert.equal(onStrata.stdout, 'A\nC2\n. .. a c keep \n. .. y \n644 0:0\n');
    assert.equal(onStrata.stdout, onOverlay.stdout);

    // A container that creates, changes and deletes files, then stops: its snapshot stays until the container goes.
    const script = 'echo new > /data/n && echo changed >> /data/c && rm /data/a && mkdir -p /data/keep/z';
    await strataCtr(['run', '--snapshotter', 'strata', '--runc-binary', '/usr/sbin/runc', REF('layered:strata'), 'writer', '/bin/sh', '-c', script]);
    const info = JSON.parse((await strataCtr(['snapshots', '--snapshotter', 'strata', 'info', 'writer'])).stdout) as { Kind: string; Parent: string };
    assert.equal(info.Kind, 'Active');
    assert.match(info.Parent, /^sha256:[0-9a-f]{64}$/);
    const usage = (await strataCtr(['snapshots', '--snapshotter', 'strata', 'usage', 'writer'])).stdout;
    assert.match(usage, /writer\s+\d+(\.\d+)?\s*\S*\s+[1-9]\d*/, usage);
    const replay = await ctrd.ctrRun(REF('layered:strata'), 'reader', ['/bin/sh', '-c', LOOK], { snapshotter: 'strata' });
    assert.equal(replay.stdout, onStrata.stdout, 'a new container starts from the image, not from another container');
  });

  it('keeps running containers and their snapshots through restarts of containerd and of Strata', async () => {
    await strataCtr(['run', '-d', '--snapshotter', 'strata', '--runc-binary', '/usr/sbin/runc', REF('layered:strata'), 'sleeper', '/bin/sh', '-c', 'echo kept > /data/n; exec sleep 600']);
    const exec = (id: string) => strataCtr(['task', 'exec', '--exec-id', id, 'sleeper', 'cat', '/data/n', '/data/c']);
    await eventually(async () => assert.equal((await exec('e0')).stdout, 'kept\nC2\n'), 10_000);

    await ctrd.restart();
    assert.match((await strataCtr(['task', 'ls'])).stdout, /sleeper\s+\d+\s+RUNNING/);
    assert.equal((await exec('e1')).stdout, 'kept\nC2\n');

    const before = await snapshots();
    await strata.kill('SIGKILL');
    const down = await strataCtr(['snapshots', '--snapshotter', 'strata', 'ls'], { allowFail: true });
    assert.notEqual(down.code, 0, 'listing fails while Strata is down');
    assert.equal((await exec('e2')).stdout, 'kept\nC2\n', 'the container runs on while Strata is down');
    await strata.start();
    await eventually(async () => assert.deepEqual(await snapshots(), before), 15_000);
    assert.equal((await exec('e3')).stdout, 'kept\nC2\n');

    await strataCtr(['task', 'kill', '-s', 'SIGKILL', 'sleeper']);
    await eventually(async () => assert.match((await strataCtr(['task', 'ls'])).stdout, /sleeper\s+\d+\s+STOPPED/), 10_000);
    await strataCtr(['task', 'rm', 'sleeper']);
    await strataCtr(['containers', 'rm', 'sleeper']);
    assert.ok(!(await snapshots()).some((l) => l.startsWith('sleeper ')), 'the container snapshot went with the container');
  });

  it('leaves no half snapshot when killed in the middle of an unpack, and the retried import succeeds', async () => {
    const committedBefore = (await snapshots()).filter((l) => /\sCommitted$/.test(l)).length;
    const logBefore = (await readFile(strata.logFile, 'utf8')).length;
    const importing = strataCtr(['images', 'import', '--snapshotter', 'strata', w.big], { allowFail: true, timeoutMs: 120_000 });
    // The image's second layer is the 20k-file one: kill once its extract snapshot is prepared.
    await eventually(async () => {
      const log = (await readFile(strata.logFile, 'utf8')).slice(logBefore);
      assert.match(log, /"op":"Prepare","key":"[^"]*extract-[^"]*","parent":"[^"]+"/);
    }, 60_000);
    await strata.kill('SIGKILL');
    const failed = await importing;
    assert.notEqual(failed.code, 0, `the import must fail when its snapshotter dies: ${failed.stdout}`);

    await strata.start();
    assert.deepEqual(snapshotDirIds(strata.root), catalogIds(strata.root), 'every snapshot dir has its catalog row and every row its dir');
    // containerd dials a restarted plugin again after its backoff (1-3 s).
    await eventually(async () => {
      const committed = (await snapshots()).filter((l) => /\sCommitted$/.test(l));
      assert.equal(committed.length, committedBefore, `no layer of the interrupted import is committed:\n${committed.join('\n')}`);
    }, 15_000);

    const retried = await strataCtr(['images', 'import', '--snapshotter', 'strata', w.big], { timeoutMs: 120_000 });
    assert.equal(retried.code, 0);
    const count = await ctrd.ctrRun(REF('big:strata'), 'count', ['/bin/sh', '-c', 'find /files -type f | wc -l'], { snapshotter: 'strata' });
    assert.equal(count.stdout.trim(), '20000');
  });

  it('runs a container on a 130-layer image (lowerdirs longer than a page of mount data)', async () => {
    await strataCtr(['images', 'import', '--snapshotter', 'strata', w.deep], { timeoutMs: 300_000 });
    const { mounts } = (await client.call('Prepare', { key: 'probe-deep', parent: await topChainOf('deep:strata') })) as { mounts: Array<{ options: string[] }> };
    const options = mounts[0]!.options.join(',');
    assert.ok(options.length > 4096, `the mount data is ${options.length} bytes: long enough to need containerd's shortening`);
    await client.call('Remove', { key: 'probe-deep' });
    const run = await ctrd.ctrRun(REF('deep:strata'), 'deep', ['/bin/sh', '-c', 'cat /deep/0 /deep/129; ls /deep | wc -l'], { snapshotter: 'strata', timeoutMs: 60_000 });
    assert.equal(run.stdout, '0\n129\n130\n');
  });

  it('is emptied by containerd once images and containers are gone, and nothing stays mounted', async () => {
    for (const id of (await strataCtr(['containers', 'ls', '-q'])).stdout.trim().split('\n').filter(Boolean)) await strataCtr(['containers', 'rm', id]);
    for (const ref of (await strataCtr(['images', 'ls', '-q'])).stdout.trim().split('\n').filter(Boolean)) await strataCtr(['images', 'rm', '--sync', ref]);
    await eventually(async () => assert.deepEqual(await client.list(), []), 30_000);
    await eventually(async () => assert.deepEqual(snapshotDirIds(strata.root), []), 30_000);
    assert.deepEqual(mountsUnder(strata.root), []);
    // Removed snapshots' trees go in the background, one after another.
    await eventually(async () => assert.deepEqual(await readdir(path.join(strata.root, 'staging')), []), 30_000);
  });

  /** topChainOf returns the backend key of an image's top committed snapshot, from Strata's own list. */
  async function topChainOf(tag: string): Promise<string> {
    const infos = (await client.list()) as Array<{ name: string; parent: string; kind: string }>;
    const committed = infos.filter((i) => i.kind === 'COMMITTED');
    // The top of the deepest chain: a committed snapshot that is nobody's parent and has 130 ancestors.
    const parents = new Set(committed.map((i) => i.parent));
    const byName = new Map(committed.map((i) => [i.name, i]));
    const depth = (i: { parent: string }): number => (i.parent ? 1 + depth(byName.get(i.parent)!) : 0);
    const top = committed.filter((i) => !parents.has(i.name)).sort((a, b) => depth(b) - depth(a))[0];
    assert.ok(top && depth(top) === 130, `expected a chain of 131 committed snapshots for ${tag}`);
    return top.name;
  }
});
