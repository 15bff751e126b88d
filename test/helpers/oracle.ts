/**
 * The oracle: two isolated dockerds of the same binary, one on the built-in overlay2 and one on
 * Strata, driven identically, and comparisons of what they produce — layer directories,
 * container root filesystems, `docker diff`, layer sizes and layer tars.
 *
 * Times: a path made while the suite runs (a container's new files, a whiteout device, an
 * implied directory, the root of a fresh layer) has a time that differs between the two
 * daemons for no fault of either. Every time at or after `freshSince` therefore compares as
 * "fresh"; every older time (all corpus times are fixed and older) must match to the nanosecond.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs, { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readTar } from '../../src/archive/tar/reader';
import { lgetxattr, llistxattr } from '../../src/sys/libc';
import { exec, TestDaemon, type DaemonOptions } from './dockerd';

export type DriverName = 'overlay2' | 'strata';
export const DRIVERS: readonly DriverName[] = ['overlay2', 'strata'];
export type Pair<T> = Record<DriverName, T>;

/** startInTurn starts daemons one after the other, settling every start. */
async function startInTurn(starts: Array<() => Promise<TestDaemon>>): Promise<Array<PromiseSettledResult<TestDaemon>>> {
  const settled: Array<PromiseSettledResult<TestDaemon>> = [];
  for (const start of starts) settled.push(...(await Promise.allSettled([start()])));
  return settled;
}

/**
 * startPair starts an overlay2 and a Strata daemon with the same options, side by side, or
 * one after the other with `inTurn` (`--userns-remap=default` makes dockerd create its user
 * on first start, which two starts at once would race for).
 */
export async function startPair(opts: Omit<DaemonOptions, 'driver'> = {}, inTurn = false): Promise<Pair<TestDaemon>> {
  const starts = DRIVERS.map((driver) => () => TestDaemon.start({ ...opts, driver }));
  const started = inTurn ? await startInTurn(starts) : await Promise.allSettled(starts.map((start) => start()));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
    throw (failed as PromiseRejectedResult).reason;
  }
  const [overlay2, strata] = started.map((r) => (r as PromiseFulfilledResult<TestDaemon>).value);
  return { overlay2: overlay2!, strata: strata! };
}

/** stopPair stops whichever daemons were started. */
export async function stopPair(pair: Partial<Pair<TestDaemon>> | undefined): Promise<void> {
  await Promise.all(DRIVERS.map((k) => pair?.[k]?.stop()));
}

/** onBoth runs the same step on both daemons, in parallel. */
export async function onBoth<T>(pair: Pair<TestDaemon>, step: (d: TestDaemon, driver: DriverName) => Promise<T>): Promise<Pair<T>> {
  const [overlay2, strata] = await Promise.all(DRIVERS.map((k) => step(pair[k], k)));
  return { overlay2: overlay2!, strata: strata! };
}

// ---------- trees ----------

/** TreeView maps each path (a byte string, '' for the root) to its facts as a JSON string. */
export type TreeView = Map<string, string>;

function timeView(ns: bigint, freshSince: bigint): string {
  return ns >= freshSince ? 'fresh' : String(ns);
}

const TYPES: Array<[(st: fs.BigIntStats) => boolean, string]> = [
  [(st) => st.isFile(), 'file'],
  [(st) => st.isDirectory(), 'dir'],
  [(st) => st.isSymbolicLink(), 'symlink'],
  [(st) => st.isCharacterDevice(), 'char'],
  [(st) => st.isBlockDevice(), 'block'],
  [(st) => st.isFIFO(), 'fifo'],
  [() => true, 'socket'],
];

// The kernel writes these into an upper dir it mounts (Docker mounts a layer without children
// read-write, e.g. for `docker save`); they hold file handles and a random uuid, which differ
// between any two filesystems by nature, so only their presence is compared.
const KERNEL_IDENTITY_XATTRS = new Set(['trusted.overlay.origin', 'trusted.overlay.uuid']);

function xattrsOf(p: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of llistxattr(p).sort()) {
    out[name] = KERNEL_IDENTITY_XATTRS.has(name) ? '(present)' : (lgetxattr(p, name)?.toString('hex') ?? '(vanished)');
  }
  return out;
}

// glibc's dev_t encoding
function devParts(rdev: bigint): { major: number; minor: number } {
  return { major: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)), minor: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)) };
}

interface WalkState {
  freshSince: bigint;
  /** first path seen for each hardlinked inode */
  groups: Map<bigint, string>;
}

function nodeView(p: Buffer, rel: string, st: fs.BigIntStats, state: WalkState): Record<string, unknown> {
  const type = TYPES.find(([is]) => is(st))![1];
  const view: Record<string, unknown> = {
    type,
    perm: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    nlink: Number(st.nlink),
    xattrs: xattrsOf(p),
    mtime: timeView(st.mtimeNs, state.freshSince),
  };
  // A directory's size is the filesystem's business, not the layer's.
  if (type !== 'dir') view.size = Number(st.size);
  if (type === 'file') view.sha256 = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
  if (type === 'symlink') view.link = fs.readlinkSync(p, { encoding: 'buffer' }).toString('latin1');
  if (type === 'char' || type === 'block') Object.assign(view, devParts(st.rdev));
  if (type !== 'dir' && st.nlink > 1n) {
    if (!state.groups.has(st.ino)) state.groups.set(st.ino, rel);
    view.linkGroup = state.groups.get(st.ino);
  }
  return view;
}

/**
 * viewTree describes every path under `dir`, in name order: type, permission bits, owner, link
 * count, every xattr (trusted.overlay.* included), mtime, size, content digest, link target,
 * device numbers and hardlink group (the first path of the inode). A name that readdir lists
 * but lstat cannot find (overlay shows a lower whiteout that way) is recorded as such.
 */
export function viewTree(dir: string, freshSince: bigint, skip: (rel: string) => boolean = () => false): TreeView {
  const out: TreeView = new Map();
  const state: WalkState = { freshSince, groups: new Map() };
  const walk = (p: Buffer, rel: string): void => {
    let st: fs.BigIntStats;
    try {
      st = fs.lstatSync(p, { bigint: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      out.set(rel, '"listed by readdir, absent for lstat"');
      return;
    }
    if (!skip(rel)) out.set(rel, JSON.stringify(nodeView(p, rel, st, state)));
    if (!st.isDirectory()) return;
    const names = fs.readdirSync(p, { encoding: 'buffer' }).sort(Buffer.compare);
    for (const name of names) walk(Buffer.concat([p, Buffer.from('/'), name]), rel === '' ? name.toString('latin1') : `${rel}/${name.toString('latin1')}`);
  };
  walk(Buffer.from(dir), '');
  return out;
}

/** differences lists, readably, where two views disagree (at most `limit` lines). */
export function differences<T>(a: Map<string, T>, b: Map<string, T>, limit = 40): string[] {
  const out: string[] = [];
  for (const key of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const x = a.get(key);
    const y = b.get(key);
    if (JSON.stringify(x) === JSON.stringify(y)) continue;
    const shown = JSON.stringify(Buffer.from(key, 'latin1').toString('utf8'));
    out.push(`${shown}\n    overlay2: ${JSON.stringify(x) ?? '(absent)'}\n    strata:   ${JSON.stringify(y) ?? '(absent)'}`);
    if (out.length >= limit) break;
  }
  return out;
}

// ---------- what docker shows ----------

async function inspectJson(d: TestDaemon, kind: 'image' | 'container', ref: string, format: string): Promise<unknown> {
  return JSON.parse((await d.docker([kind, 'inspect', '-f', format, ref])).stdout);
}

/** imageLayerDirs returns an image's layer diff directories, base layer first. */
export async function imageLayerDirs(d: TestDaemon, image: string): Promise<string[]> {
  const data = (await inspectJson(d, 'image', image, '{{json .GraphDriver.Data}}')) as { UpperDir: string; LowerDir?: string };
  return [data.UpperDir, ...(data.LowerDir ? data.LowerDir.split(':') : [])].reverse();
}

/** mergedDir returns where a running container's root filesystem is mounted on the host. */
export async function mergedDir(d: TestDaemon, container: string): Promise<string> {
  return (await inspectJson(d, 'container', container, '{{json .GraphDriver.Data.MergedDir}}')) as string;
}

/** dockerDiff returns `docker diff` as sorted lines. */
export async function dockerDiff(d: TestDaemon, container: string): Promise<string[]> {
  return (await d.docker(['diff', container])).stdout.split('\n').filter(Boolean).sort();
}

/** sizeRw returns the container layer's size as docker inspect --size reports it (GraphDriver.DiffSize). */
export async function sizeRw(d: TestDaemon, container: string): Promise<number> {
  return Number((await d.docker(['container', 'inspect', '--size', '-f', '{{.SizeRw}}', container])).stdout.trim());
}

/** layerSizes returns the size Docker recorded for each layer of an image (ApplyDiff's answer), base first. */
export async function layerSizes(d: TestDaemon, image: string): Promise<number[]> {
  const diffIds = (await inspectJson(d, 'image', image, '{{json .RootFS.Layers}}')) as string[];
  const layerdb = path.join(path.dirname(d.home), 'image', d.driverName, 'layerdb', 'sha256');
  const sizes: number[] = [];
  let chain = '';
  for (const diffId of diffIds) {
    chain = chain ? `sha256:${createHash('sha256').update(`${chain} ${diffId}`).digest('hex')}` : diffId;
    sizes.push(Number(await readFile(path.join(layerdb, chain.slice(7), 'size'), 'utf8')));
  }
  return sizes;
}

/**
 * saveImage runs `docker save` into `dir` (which the caller removes) and returns the image's
 * layer tars, base first, or docker's error output when the save fails.
 */
export async function saveImage(d: TestDaemon, image: string, dir: string): Promise<{ layers: string[] } | { error: string }> {
  const archive = path.join(dir, 'image.tar');
  const saved = await d.docker(['save', '-o', archive, image], { allowFail: true, timeoutMs: 600_000 });
  if (saved.code !== 0) return { error: saved.stderr.trim() };
  await exec('tar', ['-xf', archive, '-C', dir]);
  await rm(archive);
  const [manifest] = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as Array<{ Layers: string[] }>;
  return { layers: manifest!.Layers.map((l) => path.join(dir, l)) };
}

/** savedLayers is saveImage for a save that must succeed. */
export async function savedLayers(d: TestDaemon, image: string, dir: string): Promise<string[]> {
  const saved = await saveImage(d, image, dir);
  if ('error' in saved) throw new Error(`docker save ${image} failed: ${saved.error}`);
  return saved.layers;
}

/** withTempDir runs `fn` with a fresh directory under /tmp and removes it afterwards. */
export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------- tars ----------

/**
 * viewTar describes a tar's entries in order (key "<index> <name>"): type, typeflag, mode with
 * its type bits, owner ids and names, size, content digest, link name, device numbers, xattrs
 * and mtime (seconds unless nanoseconds are recorded). Read with Strata's own reader because
 * it keeps PAX values as raw bytes (a capability is binary).
 */
export async function viewTar(file: string, freshSince: bigint): Promise<TreeView> {
  const out: TreeView = new Map();
  let i = 0;
  for await (const { entry, data } of readTar(createReadStream(file))) {
    const hash = createHash('sha256');
    for await (const chunk of data()) hash.update(chunk);
    const { name, xattrs, mtimeNs, atimeNs, sparse, ...fields } = entry;
    const view = {
      ...fields,
      sha256: hash.digest('hex'),
      xattrs: Object.fromEntries([...xattrs].map(([k, v]) => [k, v.toString('hex')])),
      mtime: timeView(mtimeNs, freshSince),
      atime: atimeNs === undefined ? undefined : timeView(atimeNs, freshSince),
      sparse: sparse ? JSON.stringify(sparse.regions) : undefined,
    };
    out.set(`${String(i++).padStart(6, '0')} ${name}`, JSON.stringify(view));
  }
  return out;
}

const BLOCK = 512;
const EXTENSION_TYPES = new Set(['x', 'g', 'L', 'K']);
const HEADER_ONLY = new Set(['1', '2', '3', '4', '5', '6']);
// USTAR fields by offset and length; mtime (136) and the checksum (148) are left out on purpose.
const FIELDS: Array<[string, number, number]> = [
  ['name', 0, 100], ['mode', 100, 8], ['uid', 108, 8], ['gid', 116, 8], ['size', 124, 12], ['typeflag', 156, 1],
  ['linkname', 157, 100], ['magic', 257, 6], ['version', 263, 2], ['uname', 265, 32], ['gname', 297, 32],
  ['devmajor', 329, 8], ['devminor', 337, 8], ['prefix', 345, 155], ['pad', 500, 12],
];

function octalField(block: Buffer, off: number, len: number): number {
  const text = block.toString('latin1', off, off + len).replace(/[\0 ]+$/, '');
  return text === '' ? 0 : parseInt(text, 8);
}

/**
 * rawTarHeaders lists a tar's header blocks in order, field by field as raw bytes, each with
 * the body of PAX and GNU long-name blocks: the bytes Docker hashes, minus mtime and checksum
 * (fresh times differ between daemons). File data is skipped (viewTar compares it by digest).
 * Only what Docker and Strata write is expected: octal sizes, no sparse maps.
 */
export async function rawTarHeaders(file: string): Promise<TreeView> {
  const tar = await readFile(file);
  const out: TreeView = new Map();
  for (let off = 0, i = 0; off + BLOCK <= tar.length; i++) {
    const block = tar.subarray(off, off + BLOCK);
    if (block.every((b) => b === 0)) break;
    const type = String.fromCharCode(block[156]!);
    const size = octalField(block, 124, 12);
    const fields = Object.fromEntries(FIELDS.map(([name, at, len]) => [name, block.toString('latin1', at, at + len)]));
    const body = EXTENSION_TYPES.has(type) ? tar.toString('latin1', off + BLOCK, off + BLOCK + size) : undefined;
    out.set(String(i).padStart(6, '0'), JSON.stringify({ ...fields, body }));
    off += BLOCK + (HEADER_ONLY.has(type) ? 0 : Math.ceil(size / BLOCK) * BLOCK);
  }
  return out;
}

// ---------- containers that change their image ----------

/** Mutation is what a container does to its image: a script inside, then steps on the merged dir from the host. */
export interface Mutation {
  /** a shell script for the container's sh; it must end by printing "done" */
  script: string;
  host?: (merged: string) => Promise<void>;
  /** entries the committed layer tar must hold, so the comparison is known to cover them */
  committed: string[];
}

/**
 * compareMutation runs `mutation` in a container of `image` on both daemons and compares
 * the container's tree, docker diff, size, export, committed layer tar and committed layer dir.
 * It returns Strata's view of the committed layer tar.
 */
export async function compareMutation(p: Pair<TestDaemon>, image: string, c: string, mutation: Mutation, since: bigint): Promise<TreeView> {
  await onBoth(p, (d) => d.docker(['run', '-d', '--network', 'none', '--name', c, image, 'sleep', '3600']));
  const ran = await onBoth(p, (d) => d.docker(['exec', c, 'sh', '-c', mutation.script]));
  assert.match(ran.strata.stdout, /done\n$/);
  if (mutation.host) await onBoth(p, async (d) => mutation.host!(await mergedDir(d, c)));

  const trees = await onBoth(p, async (d) => viewTree(await mergedDir(d, c), since));
  assert.deepEqual(differences(trees.overlay2, trees.strata), [], 'container root filesystems');
  const diffs = await onBoth(p, (d) => dockerDiff(d, c));
  assert.deepEqual(diffs.strata, diffs.overlay2, 'docker diff');
  assert.ok(diffs.strata.length > 5);
  const sizes = await onBoth(p, (d) => sizeRw(d, c));
  assert.equal(sizes.strata, sizes.overlay2, 'container size (DiffSize)');
  await compareTars(p, since, (d, dir) => d.docker(['export', '-o', path.join(dir, 'export.tar'), c]).then(() => path.join(dir, 'export.tar')), 'docker export');

  const committed = `${image}-${c}`;
  await onBoth(p, (d) => d.docker(['commit', c, committed]));
  const layer = await compareTars(p, since, async (d, dir) => (await savedLayers(d, committed, dir)).at(-1)!, 'committed layer tar');
  const names = new Set([...layer.keys()].map((k) => k.slice(7)));
  for (const name of mutation.committed) assert.ok(names.has(name), `the committed layer holds ${name}`);
  const tops = await onBoth(p, async (d) => (await imageLayerDirs(d, committed)).at(-1)!);
  assert.deepEqual(differences(viewTree(tops.overlay2, since), viewTree(tops.strata, since)), [], 'committed layer dir');
  await onBoth(p, (d) => d.docker(['rm', '-f', c]));
  await onBoth(p, (d) => d.docker(['rmi', committed]));
  return layer;
}

/** compareTars makes a tar on each daemon with `make`, compares the two entry by entry and returns Strata's view. */
export async function compareTars(p: Pair<TestDaemon>, since: bigint, make: (d: TestDaemon, dir: string) => Promise<string>, what: string): Promise<TreeView> {
  const views = await onBoth(p, (d) =>
    withTempDir('strata-oracle-tar-', async (dir) => {
      const tar = await make(d, dir);
      return { entries: await viewTar(tar, since), headers: await rawTarHeaders(tar), bytes: (await stat(tar)).size };
    }),
  );
  assert.equal(views.strata.bytes, views.overlay2.bytes, `${what}: the same length, end-of-archive blocks included`);
  const diff = differences(views.overlay2.entries, views.strata.entries);
  assert.deepEqual(diff, [], `${what} differs:\n${diff.join('\n')}`);
  const raw = differences(views.overlay2.headers, views.strata.headers, 10);
  assert.deepEqual(raw, [], `${what}: header bytes differ:\n${raw.join('\n')}`);
  return views.strata.entries;
}
