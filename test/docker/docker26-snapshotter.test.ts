/**
 * Docker 26 on the containerd image store with `"storage-driver": "strata"`, against
 * containerd's own overlayfs snapshotter on the same containerd and the same dockerd build.
 *
 * One isolated containerd 1.7 knows both snapshotters: its built-in overlayfs and the proxy
 * plugin `strata`, which dials a `strata snapshotter` process. Two dockerd 26 run on it, each
 * in its own containerd namespace, one per snapshotter, and every step is done on both: load
 * of the offline corpus (whiteouts, opaque dirs, hardlinks, xattrs, symlinks, devices), run,
 * exec, cp in and out, diff, commit, save, a BuildKit build, system df, ps -s, a dockerd
 * restart, and at the end rm/rmi of everything, after which containerd's GC must have emptied
 * the Strata store. Times of paths made while the suite runs compare as "fresh" (oracle.ts).
 *
 * Containers that change, commit and build use the fidelity image minus its 0/0 device (which
 * breaks containerd's walking differ on both snapshotters: a judged difference of its own).
 *
 * The last describe is the GraphDriver route on the same Docker 26 build (TestDaemon with
 * DOCKER26_BINARIES), Strata against overlay2. Two known differences there are `todo` tests:
 * Strata's committed layer tars carry Docker 20's headers, and it drops empty xattr values.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestContainerd } from '../helpers/containerd';
import { buildBusyboxLayer, buildFidelityImage, buildWhiteoutLayers, kindsNodes, materializeTree, sha256File, tarDirectory, treeLayer, writeImageArchive, type ImageSpec } from '../helpers/corpus';
import { DOCKER26_BINARIES, exec, mountsUnder, type TestDaemon } from '../helpers/dockerd';
import { Docker26 } from '../helpers/dockerd26';
import { eventually } from '../helpers/eventually';
import { compareMutation, differences, onBoth as onBothGraph, rawTarHeaders, startPair, stopPair, viewTar, viewTree, withTempDir, type Mutation, type Pair as GraphPair, type TreeView } from '../helpers/oracle';
import { SnapshotClient, SnapshotterProcess } from '../helpers/snapshotter-process';
import { needDocker26 } from '../helpers/tiers';

type Snap = 'overlayfs' | 'strata';
const SNAPS: readonly Snap[] = ['overlayfs', 'strata'];
type Pair<T> = Record<Snap, T>;

const LONG = { timeoutMs: 600_000 };
const FIDELITY = 'corpus/fidelity:1';
const BUSYBOX = 'corpus/busybox:1';
// The fidelity image without its 0/0 character device (see the judged difference below), and
// without the replace layer: what containers change, commit and build on.
const CHANGEABLE = 'corpus/changeable:1';

/** buildChangeableImage builds busybox, the kinds layer minus devs/zero-zero, and the whiteout layers. */
async function buildChangeableImage(workDir: string): Promise<ImageSpec> {
  await mkdir(workDir, { recursive: true });
  const kinds = kindsNodes().filter((n) => n.path !== 'devs/zero-zero');
  return { tag: CHANGEABLE, layers: [await buildBusyboxLayer(workDir), await treeLayer(workDir, 'kinds', kinds), ...(await buildWhiteoutLayers(workDir))] };
}

async function onBoth<T>(p: Pair<Docker26>, step: (d: Docker26, snap: Snap) => Promise<T>): Promise<Pair<T>> {
  const [overlayfs, strata] = await Promise.all(
    SNAPS.map((s) =>
      step(p[s], s).catch((err: unknown) => {
        throw Object.assign(new Error(`[${s}] ${(err as Error).message}`), { cause: err });
      }),
    ),
  );
  return { overlayfs: overlayfs!, strata: strata! };
}

/** assertSameViews asserts that two views agree, listing where they do not. */
function assertSameViews(v: Pair<TreeView>, what: string): void {
  const diff = differences(v.overlayfs, v.strata);
  assert.deepEqual(diff, [], `${what} differs (first: overlayfs, second: strata):\n${diff.join('\n')}`);
}

async function fullId(d: Docker26, container: string): Promise<string> {
  return (await d.docker(['inspect', '-f', '{{.Id}}', container])).stdout.trim();
}

/** mergedDir is where dockerd 26 mounts a container's root filesystem itself (GraphDriver.Data is null there). */
async function mergedDir(d: Docker26, container: string): Promise<string> {
  const dir = path.join(d.dataRoot, 'rootfs', d.snapshotter, await fullId(d, container));
  assert.ok(mountsUnder(d.dataRoot).includes(dir), `${dir} is mounted`);
  return dir;
}

async function dockerDiff(d: Docker26, container: string): Promise<string[]> {
  return (await d.docker(['diff', container])).stdout.split('\n').filter(Boolean).sort();
}

async function diffIds(d: Docker26, image: string): Promise<string[]> {
  return JSON.parse((await d.docker(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', image])).stdout) as string[];
}

/** savedBlobs runs `docker save` (an OCI layout on Docker 25+) and returns the image's layer blobs, base first. */
async function savedBlobs(d: Docker26, image: string, dir: string): Promise<string[]> {
  const archive = path.join(dir, 'image.tar');
  await d.docker(['save', '-o', archive, image], LONG);
  await exec('tar', ['-xf', archive, '-C', dir]);
  const [manifest] = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as Array<{ Layers: string[] }>;
  return manifest!.Layers.map((l) => path.join(dir, l));
}

/** layerTar returns a saved layer blob as a plain tar: itself, or its gunzipped copy next to it (docker commit stores gzip). */
async function layerTar(blob: string): Promise<string> {
  const head = (await readFile(blob)).subarray(0, 2);
  if (head[0] !== 0x1f || head[1] !== 0x8b) return blob;
  await exec('sh', ['-c', 'gzip -dc < "$0" > "$0.tar"', blob]);
  return `${blob}.tar`;
}

/** chainIds returns the chain id of each layer prefix (what containerd names committed snapshots by). */
function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const id of diffIds) out.push(out.length ? `sha256:${createHash('sha256').update(`${out.at(-1)} ${id}`).digest('hex')}` : id);
  return out;
}

/** tarViews makes a tar on each daemon with `make` and returns entry views, raw headers and lengths. */
async function tarViews(p: Pair<Docker26>, since: bigint, make: (d: Docker26, dir: string) => Promise<string>): Promise<Pair<{ entries: TreeView; headers: TreeView; bytes: number }>> {
  return onBoth(p, (d) =>
    withTempDir('strata-d26-tar-', async (dir) => {
      const tar = await make(d, dir);
      return { entries: await viewTar(tar, since), headers: await rawTarHeaders(tar), bytes: (await stat(tar)).size };
    }),
  );
}

/** compareTars asserts that both daemons make the same tar (entries, header bytes minus mtime, length) and returns Strata's entries. */
async function compareTars(p: Pair<Docker26>, since: bigint, make: (d: Docker26, dir: string) => Promise<string>, what: string): Promise<TreeView> {
  const v = await tarViews(p, since, make);
  assertSameViews({ overlayfs: v.overlayfs.entries, strata: v.strata.entries }, what);
  const raw = differences(v.overlayfs.headers, v.strata.headers, 10);
  assert.deepEqual(raw, [], `${what}: header bytes differ:\n${raw.join('\n')}`);
  assert.equal(v.strata.bytes, v.overlayfs.bytes, `${what}: the same length`);
  return v.strata.entries;
}

/** entryNames lists the names in a viewTar view. */
function entryNames(view: TreeView): Set<string> {
  return new Set([...view.keys()].map((k) => k.slice(7)));
}

// Inside a container of the fidelity image: create, change and delete every kind of thing.
const MUTATION = [
  'set -e',
  'mkdir -p /mutations/new-dir/sub && echo new > /mutations/new-dir/sub/file',
  'echo appended >> /files/small',
  ': > /files/one-block',
  'rm /files/medium',
  'rm -r /dirs/nested',
  'rm -r /whiteout/opaque && mkdir /whiteout/opaque && echo x > /whiteout/opaque/new',
  'chmod 4711 /modes/all',
  'chown 70000:80000 /owners/user',
  'chown -h 4321:8765 /links/relative',
  "touch -d '2001-02-03 04:05:06' /files/empty",
  'mkfifo /mutations/fifo',
  'mknod /mutations/char c 4 5 && mknod /mutations/block b 8 1',
  'ln /hard/orig /mutations/hard-to-lower',
  'ln -s /nowhere /mutations/dangling',
  'mv /files/large /mutations/moved-file',
  'mv /dirs/private /mutations/moved-dir',
  'rm /links/dangling',
  'rm /whiteout/readded && echo reborn > /whiteout/gone-file',
  'rm /replace/dir-on-dir/kept',
  'echo done',
].join('\n');

// The same kinds of change, with every time pinned, so that the committed layer tar is the same bytes on both.
const PINNED = [
  'set -e',
  'mkdir -p /pinned/sub && echo new > /pinned/sub/file && ln -s sub/file /pinned/link && ln /pinned/sub/file /pinned/hard',
  'echo appended >> /files/small',
  'chmod 0600 /modes/all',
  'chown 1000:1000 /owners/nobody',
  'rm /files/medium',
  'rm -r /dirs/nested',
  "touch -h -d '2001-02-03 04:05:06' /pinned/sub/file /pinned/link /pinned/sub /pinned /files/small /files /dirs /",
  'echo done',
].join('\n');

const DIFFER_ORDER = '[plugins."io.containerd.service.v1.diff-service"]\n  default = ["strata-diff", "walking"]';

describe('Docker 26 on the containerd image store: Strata against overlayfs', { skip: needDocker26() }, () => {
  let work = '';
  let since = 0n;
  let sp: SnapshotterProcess | undefined;
  let ctrd: TestContainerd | undefined;
  let client: SnapshotClient | undefined;
  const pair: Partial<Pair<Docker26>> = {};
  let p: Pair<Docker26>;
  const images: { fidelity?: ImageSpec; busybox?: ImageSpec; changeable?: ImageSpec } = {};

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'strata-d26snap-'));
    images.fidelity = await buildFidelityImage(path.join(work, 'fidelity'), FIDELITY);
    images.busybox = { tag: BUSYBOX, layers: [images.fidelity.layers[0]!] };
    images.changeable = await buildChangeableImage(path.join(work, 'changeable'));
    const spDir = path.join(work, 'snapshotter');
    const socket = path.join(spDir, 'snapshotter.sock');
    // Strata is containerd's snapshotter `strata` and its first differ; overlayfs's diffs are passed on to `walking`.
    ctrd = await TestContainerd.start({
      proxyPlugins: { strata: { address: socket, root: path.join(spDir, 'root') }, 'strata-diff': { address: socket, type: 'diff' } },
      extraToml: DIFFER_ORDER,
    });
    sp = new SnapshotterProcess(spDir, { containerdAddress: ctrd.address });
    await mkdir(sp.dir, { recursive: true });
    await sp.start();
    client = new SnapshotClient(sp.socket);
    const started = await Promise.allSettled(SNAPS.map((snapshotter) => Docker26.start({ containerd: ctrd!, snapshotter })));
    for (const [i, r] of started.entries()) if (r.status === 'fulfilled') pair[SNAPS[i]!] = r.value;
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    p = pair as Pair<Docker26>;
    // A second of margin: the kernel stamps files with a clock that may lag Date.now() a little.
    since = BigInt(Date.now() - 1000) * 1_000_000n;
  });

  after(async () => {
    client?.close();
    const leftovers: string[] = [];
    for (const s of SNAPS) if (pair[s]) leftovers.push(...(await pair[s].stop({ allowLeftoverMounts: true })));
    if (ctrd) leftovers.push(...(await ctrd.stop({ allowLeftoverMounts: true })));
    await sp?.kill('SIGTERM');
    if (sp) leftovers.push(...mountsUnder(sp.dir));
    if (work && process.env.STRATA_TEST_KEEP !== '1') await rm(work, { recursive: true, force: true });
    assert.deepEqual(leftovers, [], 'nothing was left mounted');
  });

  it('docker info shows Storage Driver: strata and driver-type io.containerd.snapshotter.v1', async () => {
    const info = await onBoth(p, (d) => d.info());
    assert.equal(info.strata.Driver, 'strata');
    assert.equal(info.overlayfs.Driver, 'overlayfs');
    assert.deepEqual(info.strata.DriverStatus, [['driver-type', 'io.containerd.snapshotter.v1']]);
    assert.deepEqual(info.strata.DriverStatus, info.overlayfs.DriverStatus);
    assert.equal(info.strata.ServerVersion, '26.1.5+dfsg1');
    const text = (await p.strata.docker(['info'])).stdout;
    assert.match(text, /^ Storage Driver: strata$/m);
    assert.match(text, /^ {2}driver-type: io\.containerd\.snapshotter\.v1$/m);
    const plugins = (await ctrd!.ctr(['plugins', 'ls'])).stdout;
    assert.match(plugins, /io\.containerd\.snapshotter\.v1\s+strata\s+\S+\s+ok/);
  });

  it('docker load of the offline corpus: same image ids and diff ids, and a container sees the same root filesystem', async () => {
    const archive = await writeImageArchive(path.join(work, 'corpus.tar'), [images.fidelity!, images.busybox!, images.changeable!]);
    await onBoth(p, (d) => d.docker(['load', '-i', archive], LONG));
    const listed = await onBoth(p, async (d) => (await d.docker(['images', '--format', '{{.ID}} {{.Repository}}:{{.Tag}}'])).stdout.split('\n').filter(Boolean).sort());
    assert.deepEqual(listed.strata, listed.overlayfs);
    assert.equal(listed.strata.length, 3);
    const ids = await onBoth(p, (d) => diffIds(d, FIDELITY));
    assert.deepEqual(ids.strata, ids.overlayfs);
    assert.deepEqual(ids.strata, await Promise.all(images.fidelity!.layers.map(async (l) => `sha256:${await sha256File(l)}`)));
    // Each image's chain is committed snapshots in Strata, one per chain id, in dockerd's namespace.
    const committed = (await client!.list()).filter((i) => i.kind === 'COMMITTED' && String(i.name).startsWith(`${p.strata.namespace}/`)).map((i) => String(i.name).replace(/^[^/]+\/\d+\//, ''));
    const chains = new Set<string>();
    for (const tag of [FIDELITY, BUSYBOX, CHANGEABLE]) for (const c of chainIds(await diffIds(p.strata, tag))) chains.add(c);
    assert.deepEqual(committed.sort(), [...chains].sort());

    await onBoth(p, (d) => d.docker(['run', '-d', '--network', 'none', '--name', 'view', FIDELITY, 'sleep', '3600']));
    const trees = await onBoth(p, async (d) => viewTree(await mergedDir(d, 'view'), since));
    assertSameViews(trees, 'the root filesystem of a fresh container');
    // The corpus reached the container: whiteouts and opaque dirs applied, xattrs, devices, hardlinks kept.
    const facts = (rel: string) => JSON.parse(trees.strata.get(rel) ?? 'null') as Record<string, unknown> & { xattrs: Record<string, string> };
    assert.equal(facts('whiteout/gone-dir'), null);
    assert.equal(facts('whiteout/opaque/hidden-by-opaque'), null);
    assert.ok(facts('whiteout/opaque/added-later'));
    assert.ok(facts('xattrs/capability').xattrs['security.capability']);
    assert.equal(facts('xattrs/user').xattrs['user.binary'], '00ff1080');
    assert.deepEqual([facts('devs/big-numbers').type, facts('devs/big-numbers').major, facts('devs/big-numbers').minor], ['char', 300, 70000]);
    assert.equal(facts('hard/second').linkGroup, 'files/hard-elsewhere');
    assert.equal(facts('links/relative').link, '../files/small');
    await onBoth(p, (d) => d.docker(['rm', '-f', 'view']));
  });

  it('docker run, exec and cp in and out: the same tree, docker diff, ps -s size, cp tar and export', async () => {
    await onBoth(p, (d) => d.docker(['run', '-d', '--network', 'none', '--name', 'mut', CHANGEABLE, 'sleep', '3600']));
    const ran = await onBoth(p, (d) => d.docker(['exec', 'mut', 'sh', '-c', MUTATION]));
    assert.match(ran.strata.stdout, /done\n$/);
    // A run of its own that creates, changes and deletes, and whose output comes back.
    const once = await onBoth(p, (d) => d.docker(['run', '--rm', '--network', 'none', CHANGEABLE, 'sh', '-c', 'echo a > /tmp/a && cat /tmp/a && rm /tmp/a /files/small && ls /files']));
    assert.equal(once.strata.stdout, once.overlayfs.stdout);

    // docker cp in: a file, and a tar with a dir, a symlink and a hardlink (times pinned).
    const src = path.join(work, 'cp-in');
    await materializeTree(src, [
      { kind: 'file', path: 'dir/file', data: 'copied in\n', mode: 0o640, uid: 1000, gid: 1000 },
      { kind: 'symlink', path: 'dir/link', target: 'file' },
      { kind: 'hardlink', path: 'dir/hard', target: 'dir/file' },
      { kind: 'file', path: 'single', data: 'one file\n' },
    ]);
    const cpTar = await tarDirectory(path.join(src), path.join(work, 'cp-in.tar'));
    await onBoth(p, async (d) => {
      await d.docker(['cp', path.join(src, 'single'), 'mut:/mutations/single']);
      await d.docker(['cp', '-', 'mut:/mutations/'], { input: await readFile(cpTar) });
      await d.docker(['cp', path.join(src, 'single'), 'mut:/files/small']);
    });
    // xattrs from the host, through the mounted root (busybox has no setfattr).
    await onBoth(p, async (d) => {
      const merged = await mergedDir(d, 'mut');
      await exec('setfattr', ['-n', 'user.added', '-v', 'from the host', path.join(merged, 'modes/setgid')]);
      await exec('setfattr', ['-x', 'user.mime_type', path.join(merged, 'xattrs/user')]);
    });

    const trees = await onBoth(p, async (d) => viewTree(await mergedDir(d, 'mut'), since));
    assertSameViews(trees, 'the mutated container root filesystem');
    assert.equal(JSON.parse(trees.strata.get('mutations/dir/hard')!).linkGroup, 'mutations/dir/file');
    const diffs = await onBoth(p, (d) => dockerDiff(d, 'mut'));
    assert.deepEqual(diffs.strata, diffs.overlayfs, 'docker diff');
    for (const line of ['D /files/medium', 'A /mutations/fifo', 'C /files/small', 'D /dirs/nested', 'A /mutations/dir/hard']) assert.ok(diffs.strata.includes(line), `docker diff has ${line}`);

    const sizes = await onBoth(p, async (d) => (await d.docker(['ps', '-s', '--filter', 'name=^mut$', '--format', '{{.Size}}'])).stdout.trim());
    assert.match(sizes.strata, /^\S+B \(virtual \S+B\)$/);
    assert.equal(sizes.strata, sizes.overlayfs, 'docker ps -s');
    const sizeRw = await onBoth(p, async (d) => (await d.docker(['container', 'inspect', '--size', '-f', '{{.SizeRw}} {{.SizeRootFs}}', 'mut'])).stdout.trim());
    assert.equal(sizeRw.strata, sizeRw.overlayfs, 'SizeRw and SizeRootFs');

    const out = await compareTars(p, since, async (d, dir) => {
      const file = path.join(dir, 'cp.tar');
      await exec('sh', ['-c', '"$0" -H "unix://$1" cp mut:/mutations - > "$2"', DOCKER26_BINARIES.docker, d.dockerSocket, file], { env: { ...process.env, DOCKER_CONFIG: d.dockerConfig } });
      return file;
    }, 'docker cp out');
    for (const name of ['mutations/', 'mutations/dir/hard', 'mutations/char', 'mutations/moved-file']) assert.ok(entryNames(out).has(name), `docker cp out has ${name}`);
    const host = path.join(work, 'cp-out');
    await mkdir(host, { recursive: true });
    await onBoth(p, (d) => d.docker(['cp', 'mut:/mutations/dir', path.join(host, d.snapshotter)]));
    assert.equal(await readFile(path.join(host, 'strata', 'file'), 'utf8'), 'copied in\n');
    assertSameViews({ overlayfs: viewTree(path.join(host, 'overlayfs'), since), strata: viewTree(path.join(host, 'strata'), since) }, 'docker cp out to a host dir');

    await compareTars(p, since, async (d, dir) => {
      await d.docker(['export', '-o', path.join(dir, 'export.tar'), 'mut'], LONG);
      return path.join(dir, 'export.tar');
    }, 'docker export');
  });

  it('docker commit: the same committed layer tar, and the same diff ids when times are pinned', async () => {
    await onBoth(p, (d) => d.docker(['commit', 'mut', 'committed:mut']));
    const layer = await compareTars(p, since, async (d, dir) => layerTar((await savedBlobs(d, 'committed:mut', dir)).at(-1)!), 'committed layer tar');
    for (const name of ['files/.wh.medium', 'dirs/.wh.nested', 'whiteout/opaque/new', 'mutations/hard-to-lower', 'mutations/char', 'mutations/dir/hard']) {
      assert.ok(entryNames(layer).has(name), `the committed layer holds ${name}`);
    }
    // containerd's walking differ records a dir removed and made again as whiteouts of its old children, not as opaque.
    assert.ok(entryNames(layer).has('whiteout/opaque/.wh.added-later'), [...entryNames(layer)].join('\n'));
    // The committed image runs, on top of the init layer's chain.
    const ran = await onBoth(p, (d) => d.docker(['run', '--rm', '--network', 'none', 'committed:mut', 'cat', '/mutations/single', '/whiteout/opaque/new']));
    assert.equal(ran.strata.stdout, 'one file\nx\n');

    await onBoth(p, (d) => d.docker(['run', '-d', '--network', 'none', '--name', 'pinned', CHANGEABLE, 'sleep', '3600']));
    assert.match((await onBoth(p, (d) => d.docker(['exec', 'pinned', 'sh', '-c', PINNED]))).strata.stdout, /done\n$/);
    await onBoth(p, (d) => d.docker(['commit', 'pinned', 'committed:pinned']));
    const ids = await onBoth(p, (d) => diffIds(d, 'committed:pinned'));
    assert.equal(ids.strata.length, images.changeable!.layers.length + 1);
    if (ids.strata.at(-1) !== ids.overlayfs.at(-1)) {
      // Show why: the tars must differ somewhere other than fresh times.
      await compareTars(p, 0n, async (d, dir) => layerTar((await savedBlobs(d, 'committed:pinned', dir)).at(-1)!), 'pinned committed layer tar (all times compared)');
    }
    assert.deepEqual(ids.strata, ids.overlayfs, 'committed diff ids');
    // Strata's differ wrote both commits on the strata side, and applied them to the new snapshots.
    await eventually(async () => {
      const lines = (await readFile(sp!.logFile, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { op?: string; msg?: string; readFrom?: string });
      assert.ok(lines.filter((l) => l.op === 'Diff' && l.msg === 'request').length >= 2, 'the commits were diffed by Strata');
      const applies = lines.filter((l) => l.op === 'Apply' && l.msg === 'request');
      assert.ok(applies.filter((l) => l.readFrom === 'recent diff').length >= 2, "and applied by Strata from the tars its diffs kept");
      assert.ok(applies.some((l) => l.readFrom === 'content file'), "the loads' layers were read from containerd's content directory");
    });
    const imageIds = await onBoth(p, async (d) => (await d.docker(['image', 'inspect', '-f', '{{.Id}}', 'committed:pinned'])).stdout.trim());
    // The image config holds the commit's creation time, so only the layers can match.
    assert.ok(imageIds.strata.startsWith('sha256:'));
  });

  it('docker save: the same layer blobs as overlayfs, and the loaded ones for a loaded image', async () => {
    const blobs = await onBoth(p, (d) => withTempDir('strata-d26-save-', async (dir) => Promise.all((await savedBlobs(d, FIDELITY, dir)).map(async (b) => `${path.basename(b)} ${await sha256File(b)}`))));
    assert.deepEqual(blobs.strata, blobs.overlayfs, `docker save ${FIDELITY}`);
    assert.deepEqual(blobs.strata.map((b) => b.split(' ')[1]), await Promise.all(images.fidelity!.layers.map(sha256File)));
    // A committed layer is the same tar gzipped by another encoder (Strata's differ, or Go's in the walking differ): the same bytes once uncompressed.
    const committed = await onBoth(p, (d) => withTempDir('strata-d26-save-', async (dir) => Promise.all((await savedBlobs(d, 'committed:pinned', dir)).map(async (b) => sha256File(await layerTar(b))))));
    assert.deepEqual(committed.strata, committed.overlayfs, 'docker save committed:pinned, uncompressed');
  });

  it('docker build with BuildKit (RUN, COPY, multi-stage) gives the same trees', async () => {
    const ctx = path.join(work, 'build-ctx');
    await materializeTree(path.join(ctx, 'payload'), [
      { kind: 'file', path: 'a/file', data: 'from the context\n', mode: 0o600 },
      { kind: 'file', path: 'a/exec', data: '#!/bin/sh\necho hi\n', mode: 0o755 },
      { kind: 'symlink', path: 'a/link', target: 'file' },
      { kind: 'dir', path: 'empty' },
    ]);
    await writeFile(path.join(ctx, 'Dockerfile'), [
      `FROM ${CHANGEABLE} AS stage`,
      'RUN set -e; echo built > /built; rm -r /whiteout/opaque /files/medium; chmod 600 /files/small; ln -s /built /built-link; mknod /dev-in-stage c 1 3',
      'COPY payload/ /copied/',
      'RUN cat /copied/a/file > /copied/again && rm /copied/a/exec',
      `FROM ${BUSYBOX}`,
      'COPY --from=stage /built /from-stage/',
      'COPY --from=stage /copied/ /from-stage/copied/',
      'COPY --from=stage /hard/ /from-stage/hard/',
      'RUN echo final > /final && rm /bin/ls',
      '',
    ].join('\n'));
    const built = await onBoth(p, async (d) => {
      await d.docker(['build', '--network', 'none', '--target', 'stage', '-t', 'built:stage', ctx], LONG);
      return d.docker(['build', '--network', 'none', '-t', 'built:final', ctx], LONG);
    });
    assert.doesNotMatch(built.strata.stderr, /legacy builder|ERROR/);
    for (const image of ['built:stage', 'built:final']) {
      const layers = await onBoth(p, async (d) => (await diffIds(d, image)).length);
      assert.equal(layers.strata, layers.overlayfs, `${image}: as many layers`);
      const c = `run-${image.replace(/\W/g, '-')}`;
      await onBoth(p, (d) => d.docker(['run', '-d', '--network', 'none', '--name', c, image, 'sleep', '3600']));
      const trees = await onBoth(p, async (d) => viewTree(await mergedDir(d, c), since));
      assertSameViews(trees, `a container of ${image}`);
      await onBoth(p, (d) => d.docker(['rm', '-f', c]));
    }
    const final = await p.strata.docker(['run', '--rm', '--network', 'none', 'built:final', 'sh', '-c', 'cat /final /from-stage/built /from-stage/copied/again; ls /bin/ls 2>&1 || true']);
    assert.match(final.stdout, /^final\nbuilt\nfrom the context\n.*No such file/s);
  });

  it('docker system df and docker ps -s work, and agree with overlayfs', async () => {
    await onBoth(p, (d) => d.docker(['create', '--name', 'idle', CHANGEABLE, 'true']));
    const df = await onBoth(p, async (d) => (await d.docker(['system', 'df', '--format', '{{json .}}'])).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, string>));
    assert.deepEqual(df.strata.map((r) => [r.Type, r.TotalCount, r.Active]), df.overlayfs.map((r) => [r.Type, r.TotalCount, r.Active]));
    const du = await onBoth(p, async (d) => (await d.docker(['buildx', 'du', '--verbose'])).stdout);
    assert.deepEqual(df.strata, df.overlayfs, `docker system df; buildx du --verbose\n--- overlayfs\n${du.overlayfs}\n--- strata\n${du.strata}`);
    const verbose = await onBoth(p, (d) => d.docker(['system', 'df', '-v']));
    assert.match(verbose.strata.stdout, /Images space usage:/);
    const ps = await onBoth(p, async (d) => (await d.docker(['ps', '-a', '-s', '--format', '{{.Names}} {{.Size}}'])).stdout.split('\n').filter(Boolean).sort());
    assert.deepEqual(ps.strata, ps.overlayfs, 'docker ps -a -s');
    assert.ok(ps.strata.some((l) => l.startsWith('idle ')));
  });

  it('a dockerd restart keeps the images and a stopped container, which starts again with its changes', async () => {
    const first = await onBoth(p, (d) => d.docker(['run', '--name', 'keep', '--network', 'none', CHANGEABLE, 'sh', '-c', 'echo run >> /runs; cat /runs']));
    assert.equal(first.strata.stdout, 'run\n');
    // Built and committed images hold their creation time, so ids differ between the daemons; names must not.
    const listImages = async (d: Docker26) => (await d.docker(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'])).stdout.split('\n').filter(Boolean).sort();
    const before = await onBoth(p, listImages);
    await onBoth(p, (d) => d.restartDockerd());
    assert.equal(p.strata.snapshotter, 'strata');
    const afterRestart = await onBoth(p, listImages);
    assert.deepEqual(afterRestart.strata, before.strata);
    assert.deepEqual(afterRestart.overlayfs, before.overlayfs);
    const names = (l: string[]) => l.map((x) => x.split(' ')[0]);
    assert.deepEqual(names(afterRestart.strata), names(afterRestart.overlayfs));
    assert.match((await p.strata.docker(['inspect', '-f', '{{.State.Status}}', 'keep'])).stdout, /^exited\n$/);
    const again = await onBoth(p, (d) => d.docker(['start', '-a', 'keep']));
    assert.equal(again.strata.stdout, 'run\nrun\n');
    assert.equal(again.overlayfs.stdout, again.strata.stdout);
    assert.deepEqual((await onBoth(p, (d) => dockerDiff(d, 'keep'))).strata, ['A /runs']);
    assert.equal((await p.strata.info()).Driver, 'strata');
  });

  /*
   * The fidelity image's devs/zero-zero (a 0/0 character device in its second layer) is an
   * overlay whiteout: readdir of a mounted view lists it and lstat says ENOENT. containerd's
   * walking differ (docker commit on overlayfs) stops there. Strata's differ reads the
   * container's upper dir, where nothing changed, and commits an empty layer, whose image runs:
   * a judged difference in Strata's favour. BuildKit instead
   * diffs through the upper dir when it knows every mount option (workdir=, index=off,
   * userxattr, redirect_dir= in BuildKit 0.13); Strata's snapshot mounts therefore carry
   * metacopy=off only where the kernel turns metacopy on by default, and the build succeeds on
   * both, as it does on overlayfs.
   */
  it('judged difference: a 0/0 device in an image breaks the walking differ, not Strata\'s; BuildKit builds on it on both', async () => {
    await onBoth(p, (d) => d.docker(['create', '--name', 'zero', FIDELITY, 'true']));
    const commit = await onBoth(p, (d) => d.docker(['commit', 'zero', 'zero:commit'], { allowFail: true }));
    assert.match(commit.overlayfs.stderr, /lstat \S+\/devs\/zero-zero: no such file or directory/, commit.overlayfs.stderr);
    assert.equal(commit.strata.code, 0, commit.strata.stderr);
    // Nothing changed: dockerd records the empty diff in the history only, so the layers are the fidelity image's, and it runs.
    assert.deepEqual(await diffIds(p.strata, 'zero:commit'), await diffIds(p.strata, FIDELITY));
    await p.strata.docker(['run', '--rm', '--network', 'none', 'zero:commit', 'true']);
    await p.strata.docker(['rmi', 'zero:commit']);
    const ctx = path.join(work, 'zero-ctx');
    await mkdir(ctx, { recursive: true });
    await writeFile(path.join(ctx, 'Dockerfile'), `FROM ${FIDELITY}\nRUN echo x > /x\n`);
    const built = await onBoth(p, (d) => d.docker(['build', '--network', 'none', '-t', 'zero:build', ctx], { ...LONG, allowFail: true }));
    for (const s of SNAPS) assert.equal(built[s].code, 0, `${s}: ${built[s].stderr}`);
    // What BuildKit reads: the options of an active snapshot's overlay mount.
    const active = (await client!.list()).find((i) => i.kind === 'ACTIVE' && String(i.name).startsWith(`${p.strata.namespace}/`));
    assert.ok(active, 'the created container has an active snapshot');
    const mounts = (await client!.call('Mounts', { snapshotter: 'strata', key: active.name })).mounts as Array<{ type: string; options: string[] }>;
    assert.equal(mounts[0]!.type, 'overlay');
    const metacopyDefault = readFileSync('/sys/module/overlay/parameters/metacopy', 'utf8').trim();
    assert.equal(mounts[0]!.options.includes('metacopy=off'), metacopyDefault === 'Y', mounts[0]!.options.join(','));
    await onBoth(p, (d) => d.docker(['rm', '-f', 'zero']));
    await onBoth(p, (d) => d.docker(['rmi', 'zero:build']));
  });

  it('rm and rmi of everything leaves nothing mounted and, after containerd GC, nothing in Strata', async () => {
    await onBoth(p, async (d) => {
      const all = (await d.docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (all.length) await d.docker(['rm', '-f', ...all]);
      const imgs = (await d.docker(['images', '-q'])).stdout.split('\n').filter(Boolean);
      if (imgs.length) await d.docker(['rmi', '-f', ...new Set(imgs)]);
      await d.docker(['builder', 'prune', '-af']);
    });
    assert.deepEqual(await onBoth(p, async (d) => (await d.docker(['images', '-aq'])).stdout), { overlayfs: '', strata: '' });
    // dockerd 26 keeps its data-root itself a mount point (a private bind) while it runs.
    for (const s of SNAPS) assert.deepEqual(mountsUnder(p[s].base).filter((m) => m !== p[s].dataRoot), [], `nothing mounted under ${s}'s dockerd dir`);
    assert.deepEqual(mountsUnder(ctrd!.base), []);
    assert.deepEqual(mountsUnder(sp!.dir), []);

    // GC is asynchronous: poll.
    const snapDir = path.join(sp!.root, 'snapshots');
    let left: { list: unknown[]; dirs: string[] } = { list: [], dirs: [] };
    const deadline = Date.now() + 60_000;
    for (;;) {
      left = { list: (await client!.list()).map((i) => `${String(i.kind)} ${String(i.name)}`), dirs: await readdir(snapDir) };
      if ((!left.list.length && !left.dirs.length) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.deepEqual(left.list, [], 'no snapshot is left in Strata');
    assert.deepEqual(left.dirs, [], `no snapshot dir is left under ${snapDir}`);
    // The same holds for overlayfs in its dockerd's namespace.
    const overlayLeft = (await ctrd!.ctr(['snapshots', '--snapshotter', 'overlayfs', 'ls'], { namespace: p.overlayfs.namespace })).stdout.trim().split('\n').slice(1);
    assert.deepEqual(overlayLeft, []);
  });
});

// ---------- the GraphDriver route on Docker 26 ----------

const GRAPH_MUTATION: Mutation = {
  script: [
    'set -e',
    'mkdir -p /mutations/sub && echo new > /mutations/sub/file',
    'echo appended >> /files/small',
    'rm /files/medium',
    'rm -r /whiteout/opaque && mkdir /whiteout/opaque && echo x > /whiteout/opaque/new',
    'chmod 4711 /modes/all',
    'mknod /mutations/char c 4 5',
    'ln /hard/orig /mutations/hard-to-lower',
    'echo done',
  ].join('\n'),
  committed: ['whiteout/opaque/.wh..wh..opq', 'files/.wh.medium', 'mutations/hard-to-lower', 'mutations/char'],
};

describe('Docker 26 on the GraphDriver route: Strata against overlay2', { skip: needDocker26() }, () => {
  let pair: GraphPair<TestDaemon> | undefined;
  let work = '';
  let since = 0n;
  const GRAPH_IMAGE = 'corpus/graph:1';

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'strata-d26graph-'));
    const fidelity = await buildFidelityImage(path.join(work, 'fidelity'), FIDELITY);
    // The kinds layer without its empty xattr value (see the todo test below).
    const graphDir = path.join(work, 'graph');
    await mkdir(graphDir, { recursive: true });
    const kinds = kindsNodes().map((n) => (n.path === 'xattrs/user' ? { ...n, xattrs: Object.fromEntries(Object.entries(n.xattrs ?? {}).filter(([k]) => k !== 'user.empty')) } : n));
    const graph: ImageSpec = { tag: GRAPH_IMAGE, layers: [fidelity.layers[0]!, await treeLayer(graphDir, 'kinds', kinds), ...(await buildWhiteoutLayers(graphDir))] };
    const archive = await writeImageArchive(path.join(work, 'corpus.tar'), [fidelity, graph]);
    since = BigInt(Date.now() - 1000) * 1_000_000n;
    pair = await startPair({ binaries: DOCKER26_BINARIES });
    await onBothGraph(pair, (d) => d.docker(['load', '-i', archive], LONG));
  });

  after(async () => {
    await stopPair(pair);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('runs a container: the same tree and docker diff as overlay2, and docker commit works', async () => {
    const info = await onBothGraph(pair!, async (d) => JSON.parse((await d.docker(['info', '--format', '{{json .}}'])).stdout) as { Driver: string; ServerVersion: string });
    assert.equal(info.strata.ServerVersion, '26.1.5+dfsg1');
    assert.equal(info.overlay2.Driver, 'overlay2');
    // TestDaemon names its plugin socket uniquely: strata-<random>
    assert.match(info.strata.Driver, /^strata-/);
    const c = 'graph-mutated';
    await onBothGraph(pair!, (d) => d.docker(['run', '-d', '--network', 'none', '--name', c, GRAPH_IMAGE, 'sleep', '3600']));
    assert.match((await onBothGraph(pair!, (d) => d.docker(['exec', c, 'sh', '-c', GRAPH_MUTATION.script]))).strata.stdout, /done\n$/);
    const trees = await onBothGraph(pair!, async (d) => viewTree(await graphMerged(d, c), since));
    assert.deepEqual(differences(trees.overlay2, trees.strata), [], 'container root filesystems');
    const diffs = await onBothGraph(pair!, async (d) => (await d.docker(['diff', c])).stdout.split('\n').filter(Boolean).sort());
    assert.deepEqual(diffs.strata, diffs.overlay2, 'docker diff');
    assert.ok(diffs.strata.includes('D /files/medium'));
    await onBothGraph(pair!, (d) => d.docker(['commit', c, 'graph:committed']));
    const ran = await onBothGraph(pair!, (d) => d.docker(['run', '--rm', '--network', 'none', 'graph:committed', 'sh', '-c', 'cat /mutations/sub/file /whiteout/opaque/new; ls /files']));
    assert.equal(ran.strata.stdout, ran.overlay2.stdout);
    assert.match(ran.strata.stdout, /^new\nx\n/);
    assert.doesNotMatch(ran.strata.stdout, /medium/);
    await onBothGraph(pair!, (d) => d.docker(['rm', '-f', c]));
  });

  /*
   * Docker 26 writes tar headers without the file-type bits in the mode field and without
   * uname/gname (FileInfoHeaderNoLookups); Docker 20 wrote both, and Strata's Diff writes what
   * Docker 20 wrote. So a layer committed on Strata has other bytes, and another diff id, than
   * the same layer committed on Docker 26's overlay2.
   */
  it('the committed layer tar is the bytes Docker 26 overlay2 writes', { todo: 'Strata writes Docker 20 headers: mode with type bits (040755), uname/gname root' }, async () => {
    await compareMutation(pair!, GRAPH_IMAGE, 'graph-compared', GRAPH_MUTATION, since);
  });

  /*
   * Docker 26's archive code reads xattrs from PAX records as they are, so overlay2 keeps an
   * xattr whose value is empty (SCHILY.xattr.user.empty=); Go's Header.Xattrs, which Docker 20
   * read, skips empty records, and Strata's tar reader does the same as Docker 20.
   */
  it('an empty xattr value from a layer tar (user.empty) survives as on overlay2', { todo: 'Strata drops empty SCHILY.xattr records (as Docker 20 did); Docker 26 overlay2 keeps them' }, async () => {
    await onBothGraph(pair!, (d) => d.docker(['run', '-d', '--network', 'none', '--name', 'empty-xattr', FIDELITY, 'sleep', '3600']));
    try {
      const views = await onBothGraph(pair!, async (d) => viewTree(path.join(await graphMerged(d, 'empty-xattr'), 'xattrs'), since).get('user'));
      assert.match(views.overlay2 ?? '', /"user\.empty":""/, 'overlay2 on Docker 26 keeps it');
      assert.equal(views.strata, views.overlay2);
    } finally {
      await onBothGraph(pair!, (d) => d.docker(['rm', '-f', 'empty-xattr']));
    }
  });
});

async function graphMerged(d: TestDaemon, container: string): Promise<string> {
  return JSON.parse((await d.docker(['container', 'inspect', '-f', '{{json .GraphDriver.Data.MergedDir}}', container])).stdout) as string;
}
