/**
 * containerd 1.7 with Strata as both its proxy snapshotter and its first differ
 * (`[proxy_plugins.strata-diff] type = "diff"`, diff service order strata-diff, walking), next to
 * containerd's own overlayfs snapshotter with the walking differ, on the same containerd:
 * - an import unpacks through Strata's Apply, and its containers see the tree overlayfs gives;
 * - a container's diff through Strata has exactly the walking differ's diff id for the same
 *   container on overlayfs (with a source date epoch, which makes the walking differ's output
 *   deterministic), and the same entries without one (whiteout times are the diff's start);
 * - mounts that are not Strata's are passed on to the walking differ;
 * - a layer with an entry that climbs out is refused with InvalidArgument, nothing written;
 * - Strata killed in the middle of a diff leaves no blob in the content store, and the retry works.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, mkdtemp, open, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { readTar } from '../../src/archive/tar/reader';
import { TestContainerd } from '../helpers/containerd';
import { eventually } from '../helpers/eventually';
import { GrpcClient, type Message } from '../helpers/grpc-client';
import { busyboxLayer, randomFilesLayer, smallFileLayer, tarDirectory, writeImageArchive } from '../helpers/image-archive';
import { SnapshotClient, SnapshotterProcess } from '../helpers/snapshotter-process';
import { packWithTarStream } from '../helpers/tar-build';
import { treeDigest } from '../helpers/tree-digest';
import { CTR17, RUNC, needContainerd } from '../helpers/tiers';

const REF = (tag: string) => `docker.io/library/${tag}`;
const SNAPSHOTTERS = ['strata', 'overlayfs'] as const;
type Snapshotter = (typeof SNAPSHOTTERS)[number];

/** What the containers change: new, changed, deleted and replaced files and dirs of every kind. */
const CHANGES = [
  'set -e',
  'cd /data',
  'echo new > n && ln n n2 && chown 12:34 n',
  'echo changed >> c && touch -d @1500000000 c',
  'rm a && rm -rf gone',
  'rm -rf opq && mkdir -p opq/sub && echo o1-again > opq/o1 && echo o3 > opq/sub/o3',
  'mkdir -p d1/d2 && echo deep > d1/d2/f && ln -s ../n d1/sym && chmod 0750 d1',
  'mkfifo fifo && mknod dev c 1 3',
  'echo more >> linked1',
  // copied up but unchanged: the walking differ leaves these out
  'chmod 644 same && chown 0:0 keep',
].join('\n');

/** layerTree writes the lower data layer: files, a dir to delete, one to make opaque, hardlinks. */
async function dataLayer(dir: string): Promise<string> {
  const tree = path.join(dir, 'data-tree');
  const files: Record<string, string> = { 'data/a': 'A\n', 'data/c': 'C\n', 'data/same': 'same\n', 'data/keep/x': 'x\n', 'data/gone/p': 'p\n', 'data/gone/q/r': 'r\n', 'data/opq/o1': 'o1\n', 'data/opq/sub/o2': 'o2\n', 'data/linked1': 'L\n' };
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(tree, file)), { recursive: true });
    await writeFile(path.join(tree, file), content);
  }
  await link(path.join(tree, 'data/linked1'), path.join(tree, 'data/linked2'));
  await symlink('a', path.join(tree, 'data/to-a'));
  return tarDirectory(tree, path.join(dir, 'data.tar'));
}

/**
 * entries lists a layer tar's entries with everything a tree gets from them; with `freshSince`,
 * times from then on read "fresh" (the two containers ran a moment apart).
 */
async function entries(tar: Buffer, freshSince?: bigint): Promise<string[]> {
  const out: string[] = [];
  for await (const { entry, data } of readTar((async function* () { yield tar; })())) {
    const hash = createHash('sha256');
    for await (const chunk of data()) hash.update(chunk);
    const time = freshSince !== undefined && entry.mtimeNs >= freshSince ? 'fresh' : String(entry.mtimeNs);
    out.push([entry.name, entry.type, entry.mode.toString(8), `${entry.uid}:${entry.gid}`, entry.size, time, entry.linkname, `${entry.devmajor},${entry.devminor}`, [...entry.xattrs.keys()].join(','), hash.digest('hex').slice(0, 12)].join(' '));
  }
  return out;
}

describe('containerd 1.7 with Strata as its differ', { skip: needContainerd() }, () => {
  const w = { dir: '', image: '', big: '', base: '' };
  let strata: SnapshotterProcess;
  let ctrd: TestContainerd;
  let snapshots: SnapshotClient;
  let diffs: GrpcClient;
  let content: GrpcClient;

  const startStrata = async (hiddenDir?: string) => {
    strata = new SnapshotterProcess(w.dir, { containerdAddress: ctrd.address, hiddenDir });
    await strata.start();
  };
  const appliesReadFrom = async () => (await strataLog()).filter((l) => l.op === 'Apply' && l.msg === 'request').map((l) => l.readFrom);
  /** lastApplyReadFrom waits for the line of Apply number `n` (Strata writes its lines in bursts, a few milliseconds late) and says where it read. */
  const nthApplyReadFrom = (n: number) =>
    eventually(async () => {
      const seen = await appliesReadFrom();
      assert.ok(seen.length >= n, `${seen.length} Apply lines so far`);
      return seen[n - 1];
    });
  const strataLog = async () => (await readFile(strata.logFile, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

  /** blob reads a whole blob from containerd's content store. */
  const blob = (digest: string) =>
    new Promise<Buffer>((resolve, reject) => {
      const parts: Buffer[] = [];
      const stream = content.stream('Read', { digest });
      stream.on('data', (m: { data: Buffer }) => parts.push(m.data));
      stream.on('error', reject);
      stream.on('end', () => resolve(Buffer.concat(parts)));
    });

  /** diffOf asks containerd's diff service for a snapshot's diff against a view of its parent, as `ctr snapshots diff` and dockerd do. */
  const diffOf = async (snapshotter: Snapshotter, key: string, epoch?: number) => {
    const parent = ((await snapshots.call('Stat', { snapshotter, key })).info as { parent: string }).parent;
    const viewKey = `${key}-parent-view-${randomBytes(3).toString('hex')}`;
    const lower = (await snapshots.call('View', { snapshotter, key: viewKey, parent })).mounts;
    try {
      const upper = (await snapshots.call('Mounts', { snapshotter, key })).mounts;
      const request: Message = { left: lower, right: upper, media_type: 'application/vnd.oci.image.layer.v1.tar+gzip' };
      if (epoch !== undefined) request.source_date_epoch = { seconds: String(epoch), nanos: 0 };
      const { diff } = (await diffs.call('Diff', request, 120_000)) as { diff: { digest: string; size: string } };
      const info = (await content.call('Info', { digest: diff.digest })).info as { labels: Record<string, string> };
      const tar = gunzipSync(await blob(diff.digest));
      return { digest: diff.digest, size: diff.size, diffId: info.labels['containerd.io/uncompressed']!, tar };
    } finally {
      await snapshots.call('Remove', { snapshotter, key: viewKey });
    }
  };

  before(async () => {
    w.dir = await mkdtemp(path.join(os.tmpdir(), 'strata-ctrd-diff-'));
    const base = (w.base = await busyboxLayer(path.join(w.dir, 'busybox.tar')));
    w.image = await writeImageArchive(path.join(w.dir, 'image.tar'), 'differ:strata', [base, await dataLayer(w.dir)]);
    const files = await randomFilesLayer(path.join(w.dir, 'files.tar'), 'files', { dirs: 8, filesPerDir: 25, fileSize: 1 << 20 });
    w.big = await writeImageArchive(path.join(w.dir, 'big.tar'), 'bigdiff:strata', [base, files]);
    const socket = path.join(w.dir, 'snapshotter.sock');
    ctrd = await TestContainerd.start({
      proxyPlugins: { strata: { address: socket }, 'strata-diff': { address: socket, type: 'diff' } },
      extraToml: '[plugins."io.containerd.service.v1.diff-service"]\n  default = ["strata-diff", "walking"]',
    });
    await startStrata();
    // The test's views live in a lease, as ctr's do: containerd's garbage collector removes any other.
    const leases = new GrpcClient(ctrd.address, 'leases', ctrd.namespace);
    await leases.call('Create', { id: 'differ-test', labels: {} });
    leases.close();
    snapshots = new SnapshotClient(ctrd.address, ctrd.namespace, 'differ-test');
    diffs = new GrpcClient(ctrd.address, 'diff', ctrd.namespace, 'differ-test');
    content = new GrpcClient(ctrd.address, 'content', ctrd.namespace, 'differ-test');
    for (const s of SNAPSHOTTERS) await ctrd.ctr(['images', 'import', '--snapshotter', s, w.image]);
  });

  after(async () => {
    for (const c of [snapshots, diffs, content]) c?.close();
    await ctrd?.stop();
    await strata?.kill('SIGTERM');
    if (w.dir) await rm(w.dir, { recursive: true, force: true });
  });

  it('unpacks an import through its Apply, into the tree overlayfs and the walking applier give', async () => {
    await eventually(async () => {
      assert.deepEqual(await appliesReadFrom(), ['content file', 'content file'], "both layers of the image were applied by Strata, read from containerd's content directory");
    });
    const look = 'cd /data && find . | sort | xargs stat -c "%n %A %u:%g %s %Y %h"; cat c opq/o1';
    const seen = await Promise.all(SNAPSHOTTERS.map((s) => ctrd.ctrRun(REF('differ:strata'), `look-${s}`, ['/bin/sh', '-c', look], { snapshotter: s })));
    assert.equal(seen[0]!.stdout, seen[1]!.stdout);
    assert.match(seen[0]!.stdout, /^\.\/linked2 -rw-r--r-- 0:0 2 \d+ 2$/m, 'the hardlinked pair stays one inode');
  });

  it("writes a container's diff with the walking differ's diff id for the same container", async () => {
    // A second of margin: the kernel's clock for file times may lag Date.now() a little.
    const started = BigInt(Date.now() - 1000) * 1_000_000n;
    for (const s of SNAPSHOTTERS) {
      await ctrd.ctr(['run', '--snapshotter', s, '--runc-binary', RUNC, REF('differ:strata'), `changed-${s}`, '/bin/sh', '-c', CHANGES]);
    }
    const epoch = 1_000_000_000;
    const [ours, walking] = [await diffOf('strata', 'changed-strata', epoch), await diffOf('overlayfs', 'changed-overlayfs', epoch)];
    assert.deepEqual(await entries(ours.tar), await entries(walking.tar));
    assert.equal(ours.diffId, walking.diffId);
    assert.equal(ours.diffId, `sha256:${createHash('sha256').update(ours.tar).digest('hex')}`);
    assert.equal(ours.digest, `sha256:${createHash('sha256').update(await blob(ours.digest)).digest('hex')}`);
    // The same diff again makes a blob that exists already: containerd refuses the second commit, and that counts as written.
    const again = await diffOf('strata', 'changed-strata', epoch);
    assert.deepEqual([again.digest, again.diffId], [ours.digest, ours.diffId]);

    // Without an epoch, whiteouts get the moment each diff started, new files the moment each container made them.
    const [now, walkingNow] = [await diffOf('strata', 'changed-strata'), await diffOf('overlayfs', 'changed-overlayfs')];
    const listed = await entries(now.tar, started);
    assert.deepEqual(listed, await entries(walkingNow.tar, started));
    for (const name of ['data/.wh.a', 'data/.wh.gone', 'data/opq/sub/.wh.o2', 'data/n2', 'data/dev', 'data/fifo']) {
      assert.ok(listed.some((l) => l.startsWith(`${name} `)), `${name} in the diff:\n${listed.join('\n')}`);
    }
    assert.ok(!listed.some((l) => /^data\/(same|keep\/) /.test(l)), 'copied-up but unchanged files are left out');

    // As a user would, with ctr (what nerdctl commit does too): the same diff id.
    // ctr writes the blob it made to stdout.
    const ctrBlob = execFileSync(CTR17, ['--address', ctrd.address, '--namespace', ctrd.namespace, 'snapshots', '--snapshotter', 'strata', 'diff', '--keep', 'changed-strata'], { maxBuffer: 64 << 20 });
    const ctrInfo = (await content.call('Info', { digest: `sha256:${createHash('sha256').update(ctrBlob).digest('hex')}` })).info as { labels: Record<string, string> };
    const ctrTar = gunzipSync(ctrBlob);
    assert.deepEqual(await entries(ctrTar, started), listed);
    assert.equal(ctrInfo.labels['containerd.io/uncompressed'], `sha256:${createHash('sha256').update(ctrTar).digest('hex')}`);

    await eventually(async () => {
      const served = (await strataLog()).filter((l) => l.op === 'Diff');
      assert.equal(served.filter((l) => l.msg === 'request').length, 4, 'Strata wrote the diffs of its own snapshots');
      assert.equal(served.filter((l) => l.msg === 'request passed on').length, 2, "and passed overlayfs's on to the walking differ");
    });
  });

  it('applies the layer its diff just wrote from the tar it kept, once, in its namespace, and from the blob when that tar does not match', async () => {
    const made = await diffOf('strata', 'changed-strata', 1_000_000_000);
    const layer = { media_type: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: made.digest, size: made.size };
    const parent = ((await snapshots.call('Stat', { snapshotter: 'strata', key: 'changed-strata' })).info as { parent: string }).parent;
    const targets: string[] = [];
    const applyInto = async (key: string) => {
      targets.push(key);
      const mounts = (await snapshots.call('Prepare', { snapshotter: 'strata', key, parent })).mounts as Array<{ options: string[] }>;
      const before = (await appliesReadFrom()).length;
      const { applied } = (await diffs.call('Apply', { diff: layer, mounts }, 60_000)) as { applied: { digest: string } };
      const readFrom = await nthApplyReadFrom(before + 1);
      const upper = mounts[0]!.options.find((o) => o.startsWith('upperdir='))!.slice('upperdir='.length);
      return { digest: applied.digest, readFrom, tree: treeDigest(upper) };
    };

    const fromKept = await applyInto('applied-kept');
    assert.equal(fromKept.readFrom, 'recent diff');
    assert.equal(fromKept.digest, made.diffId);
    const fromBlob = await applyInto('applied-blob');
    assert.deepEqual(fromBlob, { ...fromKept, readFrom: 'content file' }, 'a kept tar serves one Apply; the next reads the blob and gives the same tree');

    // A kept tar whose bytes changed is not trusted: its files go, and the blob is applied.
    await diffOf('strata', 'changed-strata', 1_000_000_000);
    const keptDir = path.join(strata.root, 'recent-layers');
    for (const name of await readdir(keptDir)) {
      const handle = await open(path.join(keptDir, name), 'r+');
      await handle.write(Buffer.from('changed'), 0, 7, 700);
      await handle.close();
    }
    assert.deepEqual(await applyInto('applied-after-change'), { ...fromKept, readFrom: 'content file' });

    // Another namespace, whose content store lacks the blob, gets containerd's answer, not the kept tar.
    await diffOf('strata', 'changed-strata', 1_000_000_000);
    const other = { ns: 'differ-other', lease: 'differ-other-lease' };
    const otherLeases = new GrpcClient(ctrd.address, 'leases', other.ns);
    await otherLeases.call('Create', { id: other.lease, labels: {} });
    otherLeases.close();
    const otherSnapshots = new SnapshotClient(ctrd.address, other.ns, other.lease);
    const otherDiffs = new GrpcClient(ctrd.address, 'diff', other.ns, other.lease);
    try {
      const mounts = (await otherSnapshots.call('Prepare', { snapshotter: 'strata', key: 'other-target', parent: '' })).mounts as Array<{ source: string }>;
      const err = await otherDiffs.failure('Apply', { diff: layer, mounts });
      assert.equal(err.code, 5, err.details);
      assert.deepEqual(await readdir(mounts[0]!.source), [], 'nothing applied');
      await otherSnapshots.call('Remove', { snapshotter: 'strata', key: 'other-target' });
    } finally {
      otherSnapshots.close();
      otherDiffs.close();
    }
    for (const key of targets) await snapshots.call('Remove', { snapshotter: 'strata', key });
  });

  it('refuses a layer whose entry climbs out of the snapshot: InvalidArgument naming it, nothing written', async () => {
    const tar = await packWithTarStream([
      { header: { name: 'ok', type: 'file' }, content: 'fine\n' },
      { header: { name: '../../escaped', type: 'file' }, content: 'out\n' },
    ]);
    const digest = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
    await ctrd.ctr(['content', 'ingest', '--expected-digest', digest, '--expected-size', String(tar.length), 'hostile-layer'], { input: tar });
    const mounts = (await snapshots.call('Prepare', { snapshotter: 'strata', key: 'hostile-target', parent: '' })).mounts as Array<{ source: string }>;
    const err = await diffs.failure('Apply', { diff: { media_type: 'application/vnd.oci.image.layer.v1.tar', digest, size: String(tar.length) }, mounts });
    assert.equal(err.code, 3, err.details);
    assert.match(err.details, /\.\.\/\.\.\/escaped/);
    assert.deepEqual(await readdir(mounts[0]!.source), [], 'the snapshot stays empty');
    for (const dir of [path.dirname(mounts[0]!.source), path.dirname(path.dirname(mounts[0]!.source))]) {
      assert.ok(!(await readdir(dir)).includes('escaped'), `nothing written in ${dir}`);
    }
    await snapshots.call('Remove', { snapshotter: 'strata', key: 'hostile-target' });
  });

  it("reads layers through containerd's Read when containerd's content directory is out of its sight", async () => {
    await strata.kill('SIGTERM');
    await startStrata(path.join(ctrd.root, 'io.containerd.content.v1.content'));
    try {
      const layer = await smallFileLayer(path.join(w.dir, 'unseen.tar'), 'unseen/file', 'read through Read\n');
      const before = (await appliesReadFrom()).length;
      await ctrd.ctr(['images', 'import', '--snapshotter', 'strata', await writeImageArchive(path.join(w.dir, 'unseen-image.tar'), 'unseen:strata', [w.base, layer])]);
      assert.equal(await nthApplyReadFrom(before + 1), 'content service');
      const seen = await ctrd.ctrRun(REF('unseen:strata'), 'unseen-reader', ['cat', '/unseen/file'], { snapshotter: 'strata' });
      assert.equal(seen.stdout, 'read through Read\n');
    } finally {
      await strata.kill('SIGTERM');
      await startStrata();
    }
  });

  it('leaves no blob behind when killed in the middle of a diff, and the retried diff works', async () => {
    await ctrd.ctr(['images', 'import', '--snapshotter', 'strata', w.big]);
    await ctrd.ctr(['run', '--snapshotter', 'strata', '--runc-binary', RUNC, REF('bigdiff:strata'), 'big-writer', '/bin/sh', '-c', 'cp -a /files /copy']);
    const blobs = async () => new Set((await ctrd.ctr(['content', 'ls', '-q'])).stdout.split('\n').filter(Boolean));
    const blobsBefore = await blobs();
    const interrupted = diffOf('strata', 'big-writer').then(
      () => 'finished',
      (err: { code?: number }) => `failed with code ${err.code}`,
    );
    // Killed once the content store has an ingest of ours in progress: the blob is being written.
    await eventually(async () => assert.match((await ctrd.ctr(['content', 'active'])).stdout, /^strata-diff-/m), 30_000);
    await strata.kill('SIGKILL');
    assert.match(await interrupted, /failed with code 14/);
    assert.deepEqual([...(await blobs())].filter((b) => !blobsBefore.has(b)), [], 'no new blob in the content store');

    const keptDir = path.join(strata.root, 'recent-layers');
    assert.equal((await readdir(keptDir)).length, 1, "the killed diff's part of a tar is on disk");
    await startStrata();
    assert.deepEqual(await readdir(keptDir), [], 'and gone once Strata starts again');
    // containerd redials with a backoff: calls fail with Unavailable for a second or so.
    let retried: Awaited<ReturnType<typeof diffOf>> | undefined;
    await eventually(async () => {
      retried = await diffOf('strata', 'big-writer');
    }, 30_000);
    assert.match(retried!.diffId, /^sha256:[0-9a-f]{64}$/);
    assert.ok(retried!.tar.length > 200 * (1 << 20), 'the whole 200 MB copy is in the diff');
  });
});
