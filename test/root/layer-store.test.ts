/**
 * The LayerStore on real overlay mounts (KernelMounter + probeHost): layout, get/put
 * refcounting from the kernel's mount table, read-only committed parents, max depth with the
 * page-size relative mount, applyDiff preconditions and failure cleanup, cleanup and reopen.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { ChangeKind } from '../../src/archive/changes';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError, UnsafeArchiveError } from '../../src/errors';
import * as naive from '../../src/graphdriver/naive-diff';
import { statusLines } from '../../src/graphdriver/status';
import { MAX_DEPTH } from '../../src/store/layer-store';
import { lgetxattr } from '../../src/sys/libc';
import { openKernelStore } from '../helpers/store-fixture';
import { eventually } from '../helpers/eventually';
import { chunked, packWithTarStream, readWithOurReader, type StreamEntry } from '../helpers/tar-build';
import { needRoot } from '../helpers/tiers';
import { makeTmpDir, mountPointsUnder, mountTable } from '../helpers/tmp-dir';

const HEX = (n: number) => n.toString(16).padStart(64, '0');

async function home(t: TestContext, idleUnmountMs = 0) {
  const h = path.join(makeTmpDir(t, 'strata-store-'), 'home');
  const k = await openKernelStore(h, undefined, idleUnmountMs);
  return { home: h, ...k };
}

/** mountIdAt is the kernel's id of the mount at `p` (it changes when the layer is mounted anew). */
function mountIdAt(p: string): string | undefined {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .find((line) => line.split(' ')[4] === p)
    ?.split(' ')[0];
}

function mountAt(p: string) {
  return mountTable().filter((m) => m.mountPoint === p);
}

async function tarOf(entries: StreamEntry[]): Promise<AsyncIterable<Buffer>> {
  return chunked(await packWithTarStream(entries), 4096);
}

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(Buffer.from(c as Buffer));
  return Buffer.concat(parts);
}

const file = (name: string, content: string, mode = 0o644): StreamEntry => ({ header: { name, type: 'file', mode }, content });

describe('LayerStore on the kernel', { skip: needRoot() }, () => {
  it('creates layers with overlay2 layout: diff, link, l/<link>, lower, work', async (t) => {
    const { home: h, store } = await home(t);
    await store.create('base', '', { readWrite: false });
    await store.create('child', 'base', { readWrite: true });
    const link = (id: string) => fs.readFileSync(path.join(h, id, 'link'), 'utf8');
    assert.match(link('base'), /^[A-Z2-7]{26}$/);
    assert.equal(fs.readlinkSync(path.join(h, 'l', link('base'))), '../base/diff');
    assert.equal(fs.existsSync(path.join(h, 'base', 'lower')), false, 'a base layer has no lower file');
    assert.equal(fs.existsSync(path.join(h, 'base', 'work')), false);
    assert.equal(fs.readFileSync(path.join(h, 'child', 'lower'), 'utf8'), `l/${link('base')}`);
    assert.ok(fs.statSync(path.join(h, 'child', 'work')).isDirectory());
    assert.ok(fs.existsSync(path.join(h, 'base', 'committed')), 'the parent is marked as having children');
    assert.deepEqual(fs.readdirSync(path.join(h, '.strata', 'staging')), [], 'no staging leftovers');
    assert.equal(await store.exists('child'), true);
    assert.equal(await store.exists('nope'), false);
  });

  it('refuses duplicate ids, missing parents and bad ids', async (t) => {
    const { store } = await home(t);
    await store.create('base', '', { readWrite: false });
    await assert.rejects(store.create('base', '', { readWrite: false }), AlreadyExistsError);
    await assert.rejects(store.create('x', 'missing', { readWrite: false }), NotFoundError);
    await assert.rejects(store.create('a/b', '', { readWrite: false }), InvalidArgumentError);
    await assert.rejects(store.create('y', '../base', { readWrite: false }), InvalidArgumentError);
    assert.equal(await store.exists('y'), false);
  });

  it('applies a diff and returns overlay2\'s size (apparent sizes, hardlinks once)', async (t) => {
    const { home: h, store } = await home(t);
    await store.create('base', '', { readWrite: false });
    // protocol.md §2.5: 11-byte file + hardlink, 3 + 3 + 1 byte files, a 13-byte symlink → 31.
    const size = await store.applyDiff(
      'base',
      '',
      await tarOf([
        file('eleven', 'hello world'),
        { header: { name: 'hard', type: 'link', linkname: 'eleven' } },
        file('a', 'aaa'),
        file('b', 'bbb'),
        file('c', 'c'),
        { header: { name: 'sym', type: 'symlink', linkname: '1234567890abc' } },
        { header: { name: 'dir', type: 'directory', mode: 0o755 } },
      ]),
    );
    assert.equal(size, 31);
    assert.equal(fs.readFileSync(path.join(h, 'base', 'diff', 'eleven'), 'utf8'), 'hello world');
    assert.deepEqual(fs.readdirSync(path.join(h, '.strata', 'staging')), []);
  });

  it('get returns the diff dir of a base layer without mounting, and mounts overlay for a child', async (t) => {
    const { home: h, store } = await home(t);
    await store.create('base', '', { readWrite: false });
    await store.applyDiff('base', '', await tarOf([file('etc/os-release', 'ID=test\n')]));
    await store.create('child', 'base', { readWrite: true });
    assert.equal(await store.get('base'), path.join(h, 'base', 'diff'));
    assert.equal(mountAt(path.join(h, 'base', 'diff')).length, 0);

    const dir = await store.get('child');
    assert.equal(dir, path.join(h, 'child', 'merged'));
    const [m] = mountAt(dir);
    assert.ok(m, 'merged dir is a mount point');
    assert.equal(m.fsType, 'overlay');
    assert.match(m.superOptions, /^rw,/);
    const baseLink = fs.readFileSync(path.join(h, 'base', 'link'), 'utf8');
    assert.match(m.superOptions, new RegExp(`lowerdir=${h}/l/${baseLink}`));
    assert.match(m.superOptions, new RegExp(`upperdir=${h}/child/diff`));
    assert.equal(fs.readFileSync(path.join(dir, 'etc/os-release'), 'utf8'), 'ID=test\n');
    // Writes land in the child's diff, deletions become whiteout devices.
    fs.writeFileSync(path.join(dir, 'new-file'), 'container data');
    fs.rmSync(path.join(dir, 'etc/os-release'));
    assert.equal(fs.readFileSync(path.join(h, 'child', 'diff', 'new-file'), 'utf8'), 'container data');
    const wh = fs.lstatSync(path.join(h, 'child', 'diff', 'etc', 'os-release'));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'a deletion in the mount is a 0/0 whiteout');
    await store.put('child');
    assert.equal(mountAt(dir).length, 0);
  });

  it('nests get/put: same path every time, unmounts only at zero, put without get is harmless', async (t) => {
    const { home: h, store } = await home(t);
    await store.create('base', '', { readWrite: false });
    await store.create('c', 'base', { readWrite: true });
    await store.put('c'); // never mounted
    await store.put('base'); // base layers are never mounted
    const merged = path.join(h, 'c', 'merged');
    const first = await store.get('c');
    const second = await store.get('c');
    const third = await store.get('c');
    assert.deepEqual([first, second, third], [merged, merged, merged]);
    assert.equal(mountAt(merged).length, 1, 'mounted once, not three times');
    assert.equal(store.mountedCount('c'), 3);
    await store.put('c');
    await store.put('c');
    assert.equal(mountAt(merged).length, 1, 'still mounted while a get is outstanding');
    await store.put('c');
    assert.equal(mountAt(merged).length, 0, 'unmounted at zero');
    assert.equal(fs.existsSync(merged), false, 'the mount point is removed');
    await store.put('c');
    assert.equal(store.mountedCount('c'), 0);
    // And it mounts again afterwards.
    assert.equal(await store.get('c'), merged);
    assert.equal(mountAt(merged).length, 1);
    await store.put('c');
  });

  it('runs concurrent gets and puts of one layer to a consistent state', async (t) => {
    const { home: h, store } = await home(t);
    await store.create('base', '', { readWrite: false });
    await store.create('c', 'base', { readWrite: true });
    const merged = path.join(h, 'c', 'merged');
    const dirs = await Promise.all(Array.from({ length: 10 }, () => store.get('c')));
    assert.ok(dirs.every((d) => d === merged));
    assert.equal(mountAt(merged).length, 1);
    await Promise.all(Array.from({ length: 10 }, () => store.put('c')));
    assert.equal(mountAt(merged).length, 0);
  });

  it('get of a missing layer is NotFoundError; get with a bad label is refused', async (t) => {
    const { store } = await home(t);
    await assert.rejects(store.get('missing'), NotFoundError);
    await store.create('base', '', { readWrite: false });
    await store.create('c', 'base', { readWrite: true });
    await assert.rejects(store.get('c', 'bad"label'), InvalidArgumentError);
    assert.equal(store.mountedCount('c'), 0);
  });

  it('remove unmounts, deletes the layer and its link, and is idempotent', async (t) => {
    const { home: h, store } = await home(t);
    await store.create('base', '', { readWrite: false });
    await store.create('c', 'base', { readWrite: true });
    const link = fs.readFileSync(path.join(h, 'c', 'link'), 'utf8');
    await store.get('c');
    await store.get('c');
    await store.remove('c');
    // The layer is gone at once; its mount and tree go in the background, before settled() resolves.
    assert.equal(fs.existsSync(path.join(h, 'c')), false);
    assert.equal(fs.existsSync(path.join(h, 'l', link)), false);
    assert.equal(store.mountedCount('c'), 0);
    await store.remove('c');
    await store.remove('never-existed');
    await store.put('c');
    await store.settled();
    assert.deepEqual(mountPointsUnder(h), []);
    assert.deepEqual(fs.readdirSync(path.join(h, '.strata', 'staging')), []);
  });

  it('keeps a layer mounted for the idle delay after its last put, and a get in between reuses the mount', async (t) => {
    const { home: h, store } = await home(t, 60_000);
    await store.create('base', '', { readWrite: false });
    await store.create('c', 'base', { readWrite: true });
    const merged = await store.get('c');
    fs.writeFileSync(path.join(merged, 'kept'), 'x');
    const mountId = mountIdAt(merged);
    await store.put('c');
    assert.equal(store.mountedCount('c'), 0, 'an idle layer has no outstanding gets');
    assert.equal(mountIdAt(merged), mountId, 'still mounted while idle');
    assert.equal(await store.get('c'), merged);
    assert.equal(mountIdAt(merged), mountId, 'the get reused the idle mount');
    assert.equal(fs.readFileSync(path.join(merged, 'kept'), 'utf8'), 'x');
    await store.put('c');
    await store.close();
    assert.deepEqual(mountPointsUnder(h), [], 'close unmounts idle layers');
    assert.equal(fs.existsSync(merged), false);
  });

  it('unmounts an idle layer when its delay passes', async (t) => {
    const { home: h, store } = await home(t, 50);
    await store.create('base', '', { readWrite: false });
    await store.create('c', 'base', { readWrite: true });
    await store.get('c');
    await store.put('c');
    assert.equal(mountPointsUnder(h).length, 1);
    await eventually(() => assert.deepEqual(mountPointsUnder(h), []));
    // A get after the expiry mounts anew.
    assert.equal(mountAt(await store.get('c')).length, 1);
    await store.put('c');
    await store.cleanup();
    assert.deepEqual(mountPointsUnder(h), []);
  });

  it('unmounts an idle layer before it becomes a lower (docker\'s init layer) or a parent', async (t) => {
    const { home: h, store } = await home(t, 60_000);
    await store.create('base', '', { readWrite: false });
    await store.create('ctr-init', 'base', { readWrite: true });
    const initDir = await store.get('ctr-init');
    fs.writeFileSync(path.join(initDir, 'hosts'), 'init data');
    await store.put('ctr-init');
    await store.create('ctr', 'ctr-init', { readWrite: true });
    const ctrDir = await store.get('ctr');
    assert.equal(mountAt(initDir).length, 0, 'a layer with a child is no longer mounted writable');
    assert.equal(fs.readFileSync(path.join(ctrDir, 'hosts'), 'utf8'), 'init data');

    // An idle layer that gained its child before the put: unmounted when the child mounts.
    await store.create('other', 'base', { readWrite: true });
    await store.create('above', 'other', { readWrite: true });
    const otherDir = await store.get('other');
    await store.put('other');
    assert.equal(mountAt(otherDir).length, 1);
    const aboveDir = await store.get('above');
    assert.equal(mountAt(otherDir).length, 0, 'the lower was unmounted first');
    assert.equal(mountAt(aboveDir).length, 1);
    await store.put('above');
    await store.put('ctr');
    await store.remove('ctr');
    await store.remove('above');
    await store.settled();
    await store.close();
    assert.deepEqual(mountPointsUnder(h), []);
  });

  it('removes a mounted layer at once and unmounts and deletes it in the background', async (t) => {
    const { home: h, store } = await home(t, 60_000);
    await store.create('base', '', { readWrite: false });
    await store.create('busy', 'base', { readWrite: true });
    await store.create('idle', 'base', { readWrite: true });
    fs.writeFileSync(path.join(await store.get('busy'), 'f'), 'x');
    await store.get('idle');
    await store.put('idle');
    await Promise.all([store.remove('busy'), store.remove('idle')]);
    assert.equal(fs.existsSync(path.join(h, 'busy')), false);
    assert.equal(fs.existsSync(path.join(h, 'idle')), false);
    await store.settled();
    assert.deepEqual(mountPointsUnder(h), []);
    assert.deepEqual(fs.readdirSync(path.join(h, '.strata', 'staging')), []);
    // The ids are free again.
    await store.create('busy', 'base', { readWrite: true });
    assert.deepEqual(fs.readdirSync(path.join(h, 'busy', 'diff')), []);
  });

  it('mounts a committed parent read-only with its own diff as the top lower', async (t) => {
    const { home: h, store } = await home(t);
    await store.create('base', '', { readWrite: false });
    await store.create('mid', 'base', { readWrite: false });
    await store.applyDiff('mid', 'base', await tarOf([file('m', 'mid')]));
    await store.create('top', 'mid', { readWrite: true });
    const dir = await store.get('mid');
    const [m] = mountAt(dir);
    assert.ok(m);
    // Without an upper dir the kernel makes the overlay superblock read-only.
    assert.match(m.superOptions, /^ro,/);
    assert.match(m.superOptions, new RegExp(`lowerdir=${h}/mid/diff:${h}/l/`));
    assert.doesNotMatch(m.superOptions, /upperdir=/);
    assert.equal(fs.readFileSync(path.join(dir, 'm'), 'utf8'), 'mid');
    assert.throws(() => fs.writeFileSync(path.join(dir, 'x'), 'x'), { code: 'EROFS' });
    await store.put('mid');
    // The child still mounts read-write on top of it.
    const topDir = await store.get('top');
    assert.match(mountAt(topDir)[0]!.superOptions, /^rw,/);
    assert.equal(fs.readFileSync(path.join(topDir, 'm'), 'utf8'), 'mid');
    await store.put('top');
  });

  it(`mounts a ${MAX_DEPTH}-deep chain with relative lower paths, and refuses the next layer`, async (t) => {
    const { home: h, store } = await home(t);
    const ids = Array.from({ length: MAX_DEPTH + 1 }, (_, i) => HEX(i));
    await store.create(ids[0]!, '', { readWrite: false });
    await store.applyDiff(ids[0]!, '', await tarOf([file('bottom', 'from the base')]));
    for (let i = 1; i < ids.length; i++) await store.create(ids[i]!, ids[i - 1]!, { readWrite: true });
    const last = ids[MAX_DEPTH]!;
    assert.equal(fs.readFileSync(path.join(h, last, 'lower'), 'utf8').split(':').length, MAX_DEPTH);

    const dir = await store.get(last);
    const [m] = mountAt(dir);
    assert.ok(m, 'the deepest layer mounts');
    assert.match(m.superOptions, /lowerdir=l\/[A-Z2-7]{26}:l\//, 'lower paths are relative l/<link>');
    assert.equal(fs.readFileSync(path.join(dir, 'bottom'), 'utf8'), 'from the base');
    await store.put(last);
    assert.equal(mountAt(dir).length, 0);

    await assert.rejects(store.create('one-too-many', last, { readWrite: true }), (err: unknown) => err instanceof InvalidArgumentError && /max depth exceeded/.test(err.message));
    assert.equal(await store.exists('one-too-many'), false);
    assert.deepEqual(fs.readdirSync(path.join(h, '.strata', 'staging')), []);
  });

  it('refuses applyDiff with a wrong parent, to a missing, mounted or non-empty layer', async (t) => {
    const { store } = await home(t);
    await store.create('base', '', { readWrite: false });
    await store.create('other', '', { readWrite: false });
    await store.create('c', 'base', { readWrite: true });
    const tar = async () => tarOf([file('f', 'x')]);
    await assert.rejects(store.applyDiff('c', 'other', await tar()), InvalidArgumentError);
    await assert.rejects(store.applyDiff('c', '', await tar()), InvalidArgumentError);
    await assert.rejects(store.applyDiff('base', 'other', await tar()), InvalidArgumentError);
    await assert.rejects(store.applyDiff('missing', '', await tar()), NotFoundError);
    await store.get('c');
    await assert.rejects(store.applyDiff('c', 'base', await tar()), FailedPreconditionError);
    await store.put('c');
    await store.applyDiff('base', '', await tar());
    await assert.rejects(store.applyDiff('base', '', await tar()), FailedPreconditionError);
  });

  it('a failed applyDiff leaves the diff dir empty and no staging leftovers', async (t) => {
    const { home: h, store } = await home(t);
    await store.create('base', '', { readWrite: false });
    const hostile = await tarOf([file('ok-1', 'written first'), { header: { name: 'lnk', type: 'symlink', linkname: '/etc' } }, file('lnk/pwned', 'x')]);
    await assert.rejects(store.applyDiff('base', '', hostile), UnsafeArchiveError);
    assert.deepEqual(fs.readdirSync(path.join(h, 'base', 'diff')), []);
    assert.deepEqual(fs.readdirSync(path.join(h, '.strata', 'staging')), []);
    // A truncated tar, too.
    const whole = await packWithTarStream([file('big', 'y'.repeat(10_000))]);
    await assert.rejects(store.applyDiff('base', '', chunked(whole.subarray(0, 3000))), { code: 'STRATA_ERR_TAR_INVALID' });
    assert.deepEqual(fs.readdirSync(path.join(h, 'base', 'diff')), []);
    assert.deepEqual(fs.readdirSync(path.join(h, '.strata', 'staging')), []);
    // The layer still takes a good diff afterwards.
    assert.equal(await store.applyDiff('base', '', await tarOf([file('good', 'ok')])), 2);
  });

  it('metadata lists the directories docker inspect shows', async (t) => {
    const { home: h, store } = await home(t);
    await store.create('base', '', { readWrite: false });
    await store.create('mid', 'base', { readWrite: false });
    await store.create('top', 'mid', { readWrite: true });
    assert.deepEqual(await store.metadata('base'), { WorkDir: `${h}/base/work`, MergedDir: `${h}/base/merged`, UpperDir: `${h}/base/diff` });
    assert.deepEqual(await store.metadata('top'), {
      WorkDir: `${h}/top/work`,
      MergedDir: `${h}/top/merged`,
      UpperDir: `${h}/top/diff`,
      LowerDir: `${h}/mid/diff:${h}/base/diff`,
    });
    await assert.rejects(store.metadata('missing'), NotFoundError);
  });

  it('status reports the backing filesystem, d_type, native diff and the layer count', async (t) => {
    const { store, features } = await home(t);
    await store.create('a', '', { readWrite: false });
    await store.create('b', 'a', { readWrite: false });
    const status = new Map(await statusLines(store));
    assert.equal(status.get('Backing Filesystem'), fs.statfsSync('/tmp').type === 0xef53 ? 'extfs' : features.backingFs);
    assert.notEqual(status.get('Backing Filesystem'), '<unknown>');
    assert.equal(status.get('Supports d_type'), 'true');
    assert.equal(status.get('Native Overlay Diff'), String(features.nativeDiff));
    if (fs.existsSync('/sys/module/overlay/parameters/redirect_dir')) assert.equal(features.nativeDiff, true);
    assert.equal(status.get('Layers'), '2');
    assert.ok(features.extraMountOptions.includes('index=off'));
  });

  it('cleanup unmounts every layer mount under the home', async (t) => {
    const { home: h, store } = await home(t);
    await store.create('base', '', { readWrite: false });
    await store.create('a', 'base', { readWrite: true });
    await store.create('b', 'base', { readWrite: true });
    await store.get('a');
    await store.get('a');
    await store.get('b');
    assert.equal(mountTable().filter((m) => m.mountPoint.startsWith(`${h}/`)).length, 2);
    await store.cleanup();
    assert.equal(mountTable().filter((m) => m.mountPoint.startsWith(`${h}/`)).length, 0);
    assert.equal(store.mountedCount('a'), 0);
    // Gets work again after a cleanup.
    const dir = await store.get('a');
    assert.equal(mountAt(dir).length, 1);
    await store.put('a');
    assert.equal(mountAt(dir).length, 0);
  });

  it('a reopened store adopts existing mounts: the next put unmounts, a get does not mount twice', async (t) => {
    const { home: h, store } = await home(t);
    await store.create('base', '', { readWrite: false });
    await store.create('c', 'base', { readWrite: true });
    await store.create('d', 'base', { readWrite: true });
    const cDir = await store.get('c');
    const dDir = await store.get('d');
    // A restarted Strata: a new store on the same home (e.g. after a crash), which had also
    // left a removed layer in staging with its mount not yet undone.
    fs.mkdirSync(path.join(h, '.strata', 'staging', 'new-leftover'));
    const leftover = path.join(h, '.strata', 'staging', 'rm-leftover');
    fs.mkdirSync(path.join(leftover, 'merged'), { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', path.join(leftover, 'merged')]);
    const { store: again } = await openKernelStore(h);
    assert.deepEqual(fs.readdirSync(path.join(h, '.strata', 'staging')), [], 'staging leftovers are removed at open');
    assert.deepEqual(mountPointsUnder(path.join(h, '.strata')), [], 'and unmounted first');
    assert.equal(again.mountedCount('c'), 1);
    assert.equal(again.mountedCount('d'), 1);
    await again.put('c');
    assert.equal(mountAt(cDir).length, 0, 'the adopted mount is released by one put');
    assert.equal(await again.get('d'), dDir);
    assert.equal(mountAt(dDir).length, 1, 'not mounted a second time');
    await again.put('d');
    assert.equal(mountAt(dDir).length, 1);
    await again.put('d');
    assert.equal(mountAt(dDir).length, 0);
  });

  it('diff, changes and diffSize of a container layer against its parent and in full', async (t) => {
    const { store } = await home(t);
    await store.create('img', '', { readWrite: false });
    await store.applyDiff('img', '', await tarOf([file('etc/passwd', 'root\n'), file('etc/hosts', 'h\n'), file('usr/bin/tool', 'TOOL')]));
    await store.create('ctr', 'img', { readWrite: true });
    const dir = await store.get('ctr');
    fs.writeFileSync(path.join(dir, 'etc/hosts'), 'changed hosts\n');
    fs.rmSync(path.join(dir, 'etc/passwd'));
    fs.mkdirSync(path.join(dir, 'data'));
    fs.writeFileSync(path.join(dir, 'data/new'), '12345');
    fs.rmSync(path.join(dir, 'usr'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'usr'));
    fs.writeFileSync(path.join(dir, 'usr/fresh'), 'f');

    const list = (await naive.changes(store, 'ctr', 'img')).map((c) => `${c.kind === ChangeKind.Add ? 'A' : c.kind === ChangeKind.Delete ? 'D' : 'C'} ${c.path}`);
    assert.deepEqual(list, ['A /data', 'A /data/new', 'C /etc', 'C /etc/hosts', 'D /etc/passwd', 'C /usr', 'D /usr/bin', 'A /usr/fresh']);

    const tar = await readWithOurReader(await collect(await naive.diff(store, 'ctr', 'img')));
    const names = tar.map((e) => e.entry.name);
    assert.deepEqual(names, ['data/', 'data/new', 'etc/', 'etc/hosts', 'etc/.wh.passwd', 'usr/', 'usr/.wh..wh..opq', 'usr/fresh']);
    assert.deepEqual(lgetxattr(path.join(store.home, 'ctr', 'diff', 'usr'), 'trusted.overlay.opaque'), Buffer.from('y'));

    // Against no parent: the whole visible tree (naive export), no whiteouts.
    const full = await readWithOurReader(await collect(await naive.diff(store, 'ctr', '')));
    assert.deepEqual(
      full.map((e) => e.entry.name),
      ['data/', 'data/new', 'etc/', 'etc/hosts', 'usr/', 'usr/fresh'],
    );
    assert.equal(full.find((e) => e.entry.name === 'etc/hosts')!.data.toString(), 'changed hosts\n');

    assert.equal(await naive.diffSize(store, 'ctr', 'img'), 5 + 14 + 1);
    assert.equal(await naive.diffSize(store, 'ctr', ''), 5 + 14 + 1);
    assert.equal(await naive.diffSize(store, 'img', ''), 5 + 2 + 4);
    await store.put('ctr');
  });
});
