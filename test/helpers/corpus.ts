/**
 * The offline image corpus: layer tars made with real tools (GNU tar, debootstrap, setcap) or
 * crafted entry by entry (tar-stream), and `docker save`-format archives that `docker load`
 * feeds byte-identical layers to any daemon. Used by the oracle suites (Strata against overlay2)
 * and by the benchmarks.
 *
 *   buildDebianRootfs(cacheDir)      debootstrap'ed Debian (minbase + ping/setcap/attr, or another recipe), cached
 *   buildDebianLayer(cacheDir)       that rootfs as one layer tar (xattrs kept), cached
 *   buildBusyboxLayer(workDir)       the host's static busybox as a base layer
 *   buildFidelityImage(workDir)      every file kind and metadata a layer can carry, across layers
 *   buildSparseImage(workDir)        sparse files in each GNU tar PAX sparse format
 *   buildLenientLayers(workDir)      valid tars overlay2 refuses (old-GNU sparse, typeflag '7')
 *   buildDeepImage(workDir, depth)   a chain of `depth` layers (Docker allows at most 125)
 *   materializeTree(dir, nodes)      a directory from a list of nodes with exact metadata
 *   tarDirectory(dir, out, format)   GNU tar of a directory as Docker would get it in a layer
 *   treeLayer(workDir, name, nodes)  materializeTree + tarDirectory
 *   craftTar(out, entries)           a tar written entry by entry (order, duplicates, odd names)
 *   writeImageArchive(out, images)   manifest.json + config + layer tars, ready for docker load
 *
 * Every timestamp in a built tree is fixed (CORPUS_TIME unless a node says otherwise), so a
 * layer is the same bytes on every run and its times lie well before any container runs.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pack, type Header } from 'tar-stream';
import { lsetxattr, lutimesNs, mknod } from '../../src/sys/libc';
import { buildBusyboxRootfs, exec, mountsUnder } from './dockerd';

/** CORPUS_TIME is the mtime (seconds) of every corpus node that does not set its own. */
export const CORPUS_TIME = 1_600_000_000;
export const DEFAULT_CACHE_DIR = process.env.STRATA_TEST_CACHE ?? '/var/cache/strata-test';
export const DEBIAN_SUITE = 'bookworm';
export const DEBIAN_MIRROR = process.env.STRATA_TEST_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
/** Packages added to minbase: ping is setcap'ed (cap_net_raw) by its postinst; attr gives setfattr. */
export const DEBIAN_PACKAGES = ['iputils-ping', 'libcap2-bin', 'attr'] as const;

/** DebianRecipe is what debootstrap installs: a variant ('default' is debootstrap's own: required and important packages) plus packages. */
export interface DebianRecipe {
  variant: 'minbase' | 'default';
  packages: readonly string[];
}
/** MINBASE_RECIPE is the test corpus's Debian: small, with ping's file capability and setfattr. */
export const MINBASE_RECIPE: DebianRecipe = { variant: 'minbase', packages: DEBIAN_PACKAGES };
// Bump when the way the cached Debian layer is made changes, so old caches are not reused.
const DEBIAN_RECIPE_REVISION = 1;

// ---------- trees ----------

/** A path inside a tree: text, or raw bytes for names that are not UTF-8. */
export type TreePath = string | Buffer;

/** NodeMeta is the metadata a node can pin; anything left out gets the corpus defaults. */
export interface NodeMeta {
  mode?: number;
  uid?: number;
  gid?: number;
  /** mtime as "seconds[.nanoseconds]" (may be negative) */
  mtime?: string;
  xattrs?: Record<string, Buffer | string>;
  /** a capability set for setcap(8), e.g. "cap_net_raw+ep" */
  capability?: string;
}

export type TreeNode = NodeMeta &
  (
    | { kind: 'file'; path: TreePath; data?: Buffer | string; sparse?: SparseLayout }
    | { kind: 'dir'; path: TreePath }
    | { kind: 'symlink'; path: TreePath; target: string }
    | { kind: 'hardlink'; path: TreePath; target: TreePath }
    | { kind: 'char' | 'block'; path: TreePath; major: number; minor: number }
    | { kind: 'fifo'; path: TreePath }
  );

/** SparseLayout is a file of `size` bytes that holds data only at the given offsets. */
export interface SparseLayout {
  size: number;
  chunks: Array<{ offset: number; data: Buffer }>;
}

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

/** pseudoRandom returns `size` reproducible bytes for `seed` (sha256 in counter mode). */
export function pseudoRandom(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let off = 0, i = 0; off < size; off += 32, i++) {
    createHash('sha256').update(`${seed}:${i}`).digest().copy(out, off);
  }
  return out;
}

function abs(dir: string, p: TreePath): Buffer {
  return Buffer.concat([Buffer.from(`${dir}/`), typeof p === 'string' ? Buffer.from(p) : p]);
}

function parseTime(text: string): { sec: number; nsec: number } {
  const m = /^(-?\d+)(?:\.(\d{1,9}))?$/.exec(text);
  if (!m) throw new Error(`bad corpus time ${text}`);
  return { sec: Number(m[1]), nsec: Number((m[2] ?? '').padEnd(9, '0')) };
}

function createNode(dir: string, node: TreeNode): void {
  const p = abs(dir, node.path);
  fs.mkdirSync(Buffer.from(path.dirname(p.toString('latin1')), 'latin1'), { recursive: true });
  switch (node.kind) {
    case 'dir':
      fs.mkdirSync(p, { recursive: true });
      break;
    case 'file':
      writeFileNode(p, node.data, node.sparse);
      break;
    case 'symlink':
      fs.symlinkSync(node.target, p);
      break;
    case 'hardlink':
      fs.linkSync(abs(dir, node.target), p);
      break;
    case 'char':
    case 'block':
      mknod(p, (node.kind === 'char' ? S_IFCHR : S_IFBLK) | 0o600, node.major, node.minor);
      break;
    case 'fifo':
      mknod(p, S_IFIFO | 0o600, 0, 0);
      break;
  }
}

function writeFileNode(p: Buffer, data: Buffer | string | undefined, sparse: SparseLayout | undefined): void {
  if (!sparse) {
    fs.writeFileSync(p, data ?? '');
    return;
  }
  const fd = fs.openSync(p, 'w');
  try {
    for (const c of sparse.chunks) fs.writeSync(fd, c.data, 0, c.data.length, c.offset);
    fs.ftruncateSync(fd, sparse.size);
  } finally {
    fs.closeSync(fd);
  }
}

// Order as in Docker's extraction: owner first (chown clears setuid bits and capabilities),
// then xattrs, then the mode; times last of all, when no child will be added any more.
async function applyMeta(dir: string, node: TreeNode): Promise<void> {
  if (node.kind === 'hardlink') return;
  const p = abs(dir, node.path);
  fs.lchownSync(p, node.uid ?? 0, node.gid ?? 0);
  for (const [name, value] of Object.entries(node.xattrs ?? {})) lsetxattr(p, name, Buffer.from(value));
  if (node.capability) {
    if (typeof node.path !== 'string') throw new Error('setcap needs a UTF-8 path');
    await exec('setcap', [node.capability, path.join(dir, node.path)]);
  }
  if (node.kind !== 'symlink') fs.chmodSync(p, node.mode ?? (node.kind === 'dir' ? 0o755 : 0o644));
}

function setTimes(p: Buffer, mtime: string | undefined): void {
  const t = parseTime(mtime ?? String(CORPUS_TIME));
  lutimesNs(p, t, t);
}

function* walkBytes(dir: Buffer): Generator<Buffer> {
  for (const name of fs.readdirSync(dir, { encoding: 'buffer' })) {
    const child = Buffer.concat([dir, Buffer.from('/'), name]);
    yield child;
    if (fs.lstatSync(child).isDirectory()) yield* walkBytes(child);
  }
}

/**
 * materializeTree creates `nodes` under `dir` (which may already hold files) with their exact
 * owners, modes, xattrs and times; every other path under `dir`, and `dir` itself, gets
 * CORPUS_TIME and keeps its owner and mode.
 */
export async function materializeTree(dir: string, nodes: readonly TreeNode[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const node of nodes) createNode(dir, node);
  for (const node of nodes) await applyMeta(dir, node);
  const pinned = new Map(nodes.filter((n) => n.kind !== 'hardlink').map((n) => [abs(dir, n.path).toString('latin1'), n.mtime]));
  for (const p of walkBytes(Buffer.from(dir))) setTimes(p, pinned.get(p.toString('latin1')));
  setTimes(Buffer.from(dir), undefined);
}

/** TarFormat picks GNU tar's archive format; sparse files are detected in every format. */
export type TarFormat = 'posix' | 'gnu' | 'posix-sparse-0.0' | 'posix-sparse-0.1' | 'posix-sparse-1.0';

/**
 * tarDirectory writes the tar of `dir` (entries "./", "./a", … in name order, numeric owners).
 * posix formats keep every xattr as SCHILY.xattr records and nanosecond times; the gnu format
 * keeps neither but writes old-GNU sparse headers and base-256 ids.
 */
export async function tarDirectory(dir: string, out: string, format: TarFormat = 'posix'): Promise<string> {
  const args = ['--create', '--file', out, '--directory', dir, '--numeric-owner', '--sort=name', '--sparse'];
  if (format === 'gnu') args.push('--format=gnu');
  else args.push('--format=posix', '--xattrs', '--xattrs-include=*');
  const sparseVersion = /^posix-sparse-(.*)$/.exec(format)?.[1];
  if (sparseVersion) args.push(`--sparse-version=${sparseVersion}`);
  await exec('tar', [...args, '.']);
  return out;
}

/** CraftEntry is one tar-stream header (with PAX records) plus its content. */
export type CraftHeader = Partial<Omit<Header, 'pax'>> & Pick<Header, 'name'> & { pax?: Record<string, string> };
export interface CraftEntry {
  header: CraftHeader;
  content?: Buffer | string;
}

/** craftTar writes entries exactly in the given order, duplicates and odd names included. */
export async function craftTar(out: string, entries: readonly CraftEntry[]): Promise<string> {
  const p = pack();
  const file = fs.createWriteStream(out);
  const done = new Promise<void>((resolve, reject) => {
    file.on('finish', resolve);
    file.on('error', reject);
    p.on('error', reject);
  });
  p.pipe(file);
  for (const e of entries) {
    const header = { mtime: new Date(CORPUS_TIME * 1000), uid: 0, gid: 0, ...e.header };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (e.content === undefined) p.entry(header, cb);
      else p.entry(header, e.content, cb);
    });
  }
  p.finalize();
  await done;
  return out;
}

// ---------- image archives ----------

/** ImageSpec describes an image by its layer tars (uncompressed), base layer first. */
export interface ImageSpec {
  tag: string;
  layers: readonly string[];
  cmd?: readonly string[];
}

/** sha256File returns the hex sha256 of a file, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function dockerArch(): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[process.arch] ?? process.arch;
}

/**
 * writeImageArchive writes a `docker save`-format archive holding `images`; `docker load -i`
 * then hands each layer tar unchanged to the storage driver. Layers are not copied: the
 * archive is written by tar following symlinks.
 */
export async function writeImageArchive(out: string, images: readonly ImageSpec[]): Promise<string> {
  const staging = await mkdtemp(path.join(os.tmpdir(), 'strata-image-'));
  try {
    const manifest = [];
    for (const image of images) {
      const diffIds: string[] = [];
      for (const layer of image.layers) {
        const hex = await sha256File(layer);
        diffIds.push(`sha256:${hex}`);
        await mkdir(path.join(staging, hex), { recursive: true });
        await symlink(path.resolve(layer), path.join(staging, hex, 'layer.tar')).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'EEXIST') throw err;
        });
      }
      const config = JSON.stringify({
        architecture: dockerArch(),
        os: 'linux',
        created: '2020-09-13T12:26:40Z',
        config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: image.cmd ?? ['sh'] },
        rootfs: { type: 'layers', diff_ids: diffIds },
        history: diffIds.map((_, i) => ({ created: '2020-09-13T12:26:40Z', created_by: `strata corpus ${image.tag} layer ${i}` })),
      });
      const configName = `${createHash('sha256').update(config).digest('hex')}.json`;
      await writeFile(path.join(staging, configName), config);
      manifest.push({ Config: configName, RepoTags: [image.tag], Layers: diffIds.map((d) => `${d.slice(7)}/layer.tar`) });
    }
    await writeFile(path.join(staging, 'manifest.json'), JSON.stringify(manifest));
    await exec('tar', ['--create', '--dereference', '--file', out, '--directory', staging, '.']);
    return out;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

// ---------- busybox ----------

/** buildBusyboxLayer tars the host's static busybox rootfs (see buildBusyboxRootfs) as a base layer. */
export async function buildBusyboxLayer(workDir: string): Promise<string> {
  const dir = path.join(workDir, 'busybox-rootfs');
  await buildBusyboxRootfs(dir);
  await materializeTree(dir, []);
  return tarDirectory(dir, path.join(workDir, 'busybox.tar'));
}

// ---------- Debian ----------

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

async function unmountBelow(dir: string): Promise<void> {
  for (const m of mountsUnder(dir).sort((a, b) => b.length - a.length)) await exec('umount', ['-l', m], { allowFail: true });
}

/** cached returns `<cacheDir>/<name>`, running `make(tmpDir)` once to fill it (atomically, by rename). */
async function cached(cacheDir: string, name: string, make: (tmp: string) => Promise<void>): Promise<string> {
  const final = path.join(cacheDir, name);
  if (await exists(final)) return final;
  await mkdir(cacheDir, { recursive: true });
  const tmp = await mkdtemp(path.join(cacheDir, `.tmp-${name}-`));
  try {
    await make(tmp);
    await rename(tmp, final).catch(async (err: NodeJS.ErrnoException) => {
      // Someone else finished the same entry first: theirs is as good as ours.
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
    });
  } finally {
    await unmountBelow(tmp);
    await rm(tmp, { recursive: true, force: true });
  }
  return final;
}

function debianKey(recipe: DebianRecipe): string {
  const packages = recipe.packages.length ? `-${recipe.packages.join('+')}` : '';
  return `debian-${DEBIAN_SUITE}-${recipe.variant}${packages}-r${DEBIAN_RECIPE_REVISION}`;
}

/**
 * buildDebianRootfs returns a directory holding a Debian root filesystem made by debootstrap
 * (by default minbase plus DEBIAN_PACKAGES, so /usr/bin/ping carries security.capability), built once and
 * then reused from `cacheDir`. Downloaded packages and apt lists are removed, as in Docker's
 * Debian images. Needs root and the Debian mirror (STRATA_TEST_DEBIAN_MIRROR).
 */
export async function buildDebianRootfs(cacheDir = DEFAULT_CACHE_DIR, recipe = MINBASE_RECIPE): Promise<string> {
  const entry = await cached(cacheDir, `${debianKey(recipe)}.rootfs`, async (tmp) => {
    const rootfs = path.join(tmp, 'rootfs');
    const variant = recipe.variant === 'default' ? [] : [`--variant=${recipe.variant}`];
    const include = recipe.packages.length ? [`--include=${recipe.packages.join(',')}`] : [];
    await exec('debootstrap', [...variant, ...include, DEBIAN_SUITE, rootfs, DEBIAN_MIRROR], { timeoutMs: 900_000 });
    await unmountBelow(rootfs);
    for (const sub of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
      for (const name of await readdir(path.join(rootfs, sub))) {
        if (name !== 'partial' && name !== 'lock') await rm(path.join(rootfs, sub, name), { recursive: true, force: true });
      }
    }
  });
  return path.join(entry, 'rootfs');
}

/** buildDebianLayer returns the cached layer tar of buildDebianRootfs (posix, every xattr kept). */
export async function buildDebianLayer(cacheDir = DEFAULT_CACHE_DIR, recipe = MINBASE_RECIPE): Promise<string> {
  const rootfs = await buildDebianRootfs(cacheDir, recipe);
  const entry = await cached(cacheDir, `${debianKey(recipe)}.layer`, async (tmp) => {
    await tarDirectory(rootfs, path.join(tmp, 'layer.tar'));
  });
  return path.join(entry, 'layer.tar');
}

// ---------- the fidelity image ----------

const MIB = 1024 * 1024;

function sparseFile(seed: string, size: number, offsets: number[]): SparseLayout {
  return { size, chunks: offsets.map((offset, i) => ({ offset, data: pseudoRandom(`${seed}${i}`, 4096 + i * 1000) })) };
}

/** Layer 1: every kind of entry and every piece of metadata a layer can carry. */
export function kindsNodes(): TreeNode[] {
  const deep = `names/deep/${Array.from({ length: 24 }, (_, i) => `level-${String(i).padStart(2, '0')}`).join('/')}`;
  return [
    { kind: 'file', path: 'files/empty' },
    { kind: 'file', path: 'files/small', data: 'hello, layer\n' },
    { kind: 'file', path: 'files/one-block', data: pseudoRandom('block', 512) },
    { kind: 'file', path: 'files/medium', data: pseudoRandom('medium', 300_000) },
    { kind: 'file', path: 'files/large', data: pseudoRandom('large', 5 * MIB + 17) },
    { kind: 'dir', path: 'dirs/nested/a/b/c' },
    { kind: 'file', path: 'dirs/nested/a/b/c/leaf', data: 'leaf\n' },
    { kind: 'dir', path: 'dirs/private', mode: 0o700 },
    { kind: 'dir', path: 'dirs/readonly', mode: 0o555 },
    { kind: 'file', path: 'dirs/readonly/inside', data: 'in a 0555 dir\n' },
    { kind: 'dir', path: 'dirs/none', mode: 0o000 },
    { kind: 'file', path: 'dirs/none/inside', data: 'in a 0000 dir\n' },
    { kind: 'dir', path: 'dirs/sticky', mode: 0o1777 },
    { kind: 'dir', path: 'dirs/setgid', mode: 0o2775, gid: 50 },
    { kind: 'symlink', path: 'links/relative', target: '../files/small' },
    { kind: 'symlink', path: 'links/absolute', target: '/files/small' },
    { kind: 'symlink', path: 'links/dangling', target: '/does/not/exist' },
    { kind: 'symlink', path: 'links/to-dir', target: '../dirs/nested' },
    { kind: 'symlink', path: 'links/up', target: '..' },
    { kind: 'symlink', path: 'links/long-target', target: `../${'t'.repeat(180)}/${'u'.repeat(150)}` },
    { kind: 'symlink', path: 'links/owned', target: 'relative', uid: 1234, gid: 5678 },
    { kind: 'file', path: 'hard/orig', data: 'shared inode\n', mode: 0o640 },
    { kind: 'hardlink', path: 'hard/second', target: 'hard/orig' },
    { kind: 'hardlink', path: 'files/hard-elsewhere', target: 'hard/orig' },
    { kind: 'file', path: 'hard/setuid-orig', data: 'suid and linked\n', mode: 0o4755, xattrs: { 'user.linked': 'yes' } },
    { kind: 'hardlink', path: 'hard/setuid-link', target: 'hard/setuid-orig' },
    { kind: 'char', path: 'devs/null', major: 1, minor: 3, mode: 0o666 },
    { kind: 'char', path: 'devs/big-numbers', major: 300, minor: 70_000, mode: 0o620, gid: 5 },
    { kind: 'block', path: 'devs/loop', major: 7, minor: 0, mode: 0o660, gid: 6 },
    { kind: 'fifo', path: 'devs/fifo', mode: 0o644 },
    // A 0/0 character device in an image is overlay's whiteout: it hides nothing here, and is hidden itself.
    { kind: 'char', path: 'devs/zero-zero', major: 0, minor: 0 },
    { kind: 'file', path: 'modes/none', data: 'x', mode: 0o000 },
    { kind: 'file', path: 'modes/all', data: 'x', mode: 0o777 },
    { kind: 'file', path: 'modes/setuid', data: 'x', mode: 0o4755 },
    { kind: 'file', path: 'modes/setgid', data: 'x', mode: 0o2755, gid: 50 },
    { kind: 'file', path: 'modes/sticky', data: 'x', mode: 0o1644 },
    { kind: 'file', path: 'modes/every-bit', data: 'x', mode: 0o7777 },
    { kind: 'file', path: 'modes/setuid-setgid-exec-only', data: 'x', mode: 0o6711, uid: 1, gid: 1 },
    { kind: 'file', path: 'owners/user', data: 'x', uid: 1000, gid: 1000 },
    { kind: 'file', path: 'owners/nobody', data: 'x', uid: 65534, gid: 65534 },
    { kind: 'file', path: 'owners/above-16-bit', data: 'x', uid: 70_000, gid: 80_000 },
    { kind: 'file', path: 'owners/above-octal-field', data: 'x', uid: 3_000_000, gid: 3_000_001 },
    { kind: 'dir', path: 'owners/dir', uid: 100_000, gid: 100_001, mode: 0o750 },
    { kind: 'file', path: `names/${'n'.repeat(99)}`, data: '99-byte component\n' },
    { kind: 'file', path: `names/${'l'.repeat(200)}`, data: '200-byte component\n' },
    { kind: 'file', path: `${deep}/leaf`, data: 'more than 255 bytes of path\n' },
    { kind: 'file', path: 'names/café', data: 'utf-8 name\n' },
    { kind: 'file', path: 'names/日本語のファイル名', data: 'utf-8 name\n' },
    { kind: 'file', path: 'names/emoji-🙂', data: 'utf-8 name\n' },
    { kind: 'file', path: Buffer.from('names/latin1-\xe9\xff-not-utf8', 'latin1'), data: 'not utf-8\n' },
    { kind: 'file', path: 'names/with space and \\ backslash', data: 'odd characters\n' },
    { kind: 'file', path: 'names/.hidden', data: 'dot file\n' },
    { kind: 'file', path: 'xattrs/user', data: 'x', xattrs: { 'user.mime_type': 'text/plain', 'user.binary': Buffer.from([0, 0xff, 0x10, 0x80]), 'user.empty': '' } },
    { kind: 'file', path: 'xattrs/trusted', data: 'x', xattrs: { 'trusted.strata': 'root only' } },
    { kind: 'file', path: 'xattrs/capability', data: pseudoRandom('cap', 1000), mode: 0o755, capability: 'cap_net_raw,cap_net_admin+ep' },
    { kind: 'file', path: 'xattrs/capability-and-user', data: 'x', mode: 0o750, gid: 50, capability: 'cap_chown+eip', xattrs: { 'user.other': '1' } },
    { kind: 'dir', path: 'xattrs/dir', xattrs: { 'user.on_dir': 'd', 'trusted.on_dir': 't' } },
    { kind: 'symlink', path: 'xattrs/symlink', target: 'user', xattrs: { 'trusted.on_symlink': 's' } },
    { kind: 'dir', path: 'xattrs/looks-opaque', xattrs: { 'trusted.overlay.opaque': 'y' } },
    { kind: 'file', path: 'xattrs/looks-opaque/child', data: 'under a dir whose tar entry carries the opaque xattr\n' },
    { kind: 'file', path: 'times/nanoseconds', data: 'x', mtime: '1577934245.123456789' },
    { kind: 'file', path: 'times/tenth', data: 'x', mtime: '1577934245.6' },
    { kind: 'dir', path: 'times/dir-subsecond', mtime: '1500000000.5' },
    { kind: 'file', path: 'times/dir-subsecond/child', data: 'x', mtime: '1500000001.25' },
    { kind: 'symlink', path: 'times/symlink-subsecond', target: 'nanoseconds', mtime: '1400000000.75' },
    { kind: 'file', path: 'times/before-1970', data: 'x', mtime: '-315619200' },
    { kind: 'symlink', path: 'times/symlink-before-1970', target: 'before-1970', mtime: '-315619200.5' },
    { kind: 'file', path: 'times/after-2262', data: 'x', mtime: '10413792000' },
    { kind: 'file', path: 'times/epoch', data: 'x', mtime: '0' },
    { kind: 'file', path: 'replace/file-to-dir', data: 'was a file\n' },
    { kind: 'dir', path: 'replace/dir-to-file' },
    { kind: 'file', path: 'replace/dir-to-file/child', data: 'goes away\n' },
    { kind: 'dir', path: 'replace/dir-on-dir', xattrs: { 'user.lower': '1' } },
    { kind: 'file', path: 'replace/dir-on-dir/kept', data: 'kept from below\n' },
    { kind: 'file', path: 'replace/dir-on-dir/overwritten', data: 'old\n' },
    { kind: 'symlink', path: 'replace/symlink-to-dir', target: '/files' },
    { kind: 'dir', path: 'replace/dir-to-symlink' },
    { kind: 'file', path: 'replace/dir-to-symlink/child', data: 'goes away\n' },
    { kind: 'char', path: 'replace/device-to-file', major: 1, minor: 5 },
    { kind: 'file', path: 'whiteout/gone-file', data: 'deleted above\n' },
    { kind: 'dir', path: 'whiteout/gone-dir/sub' },
    { kind: 'file', path: 'whiteout/gone-dir/sub/file', data: 'deleted above\n' },
    { kind: 'file', path: 'whiteout/opaque/hidden-by-opaque', data: 'hidden above\n' },
    { kind: 'dir', path: 'whiteout/opaque/hidden-dir' },
    { kind: 'file', path: 'whiteout/opaque-implied/hidden', data: 'hidden above\n' },
    { kind: 'file', path: 'whiteout/readded', data: 'deleted and added again above\n' },
    { kind: 'file', path: 'whiteout/hardlinked', data: 'one name deleted above\n' },
    { kind: 'hardlink', path: 'whiteout/hardlinked-other', target: 'whiteout/hardlinked' },
    { kind: 'file', path: 'whiteout/later-opaque/old', data: 'hidden two layers up\n' },
  ];
}

/** Sparse files, one layer per GNU tar sparse format. */
function sparseNodes(format: string): TreeNode[] {
  return [
    { kind: 'file', path: `sparse/${format}/holes`, sparse: sparseFile(format, 16 * MIB, [0, 3 * MIB + 100, 9 * MIB]) },
    { kind: 'file', path: `sparse/${format}/all-hole`, sparse: { size: 8 * MIB, chunks: [] } },
    { kind: 'file', path: `sparse/${format}/data-at-end`, sparse: sparseFile(`${format}-end`, 2 * MIB, [2 * MIB - 4096]) },
    // base-256 numbers appear only in the gnu format, for ids above the octal field
    { kind: 'file', path: `sparse/${format}/big-owner`, data: 'x', uid: 3_000_000, gid: 2_097_152 },
  ];
}

/** Layer 2: entries replacing what layer 1 put at the same names. */
function replaceNodes(): TreeNode[] {
  return [
    { kind: 'dir', path: 'replace/file-to-dir', mode: 0o711 },
    { kind: 'file', path: 'replace/file-to-dir/child', data: 'now a dir\n' },
    { kind: 'file', path: 'replace/dir-to-file', data: 'now a file\n' },
    { kind: 'dir', path: 'replace/dir-on-dir', mode: 0o700, uid: 1000, gid: 1000, xattrs: { 'user.upper': '2' }, mtime: '1610000000.5' },
    { kind: 'file', path: 'replace/dir-on-dir/overwritten', data: 'new\n' },
    { kind: 'file', path: 'replace/dir-on-dir/added', data: 'added above\n' },
    { kind: 'dir', path: 'replace/symlink-to-dir' },
    { kind: 'file', path: 'replace/symlink-to-dir/child', data: 'in a dir that was a symlink\n' },
    { kind: 'symlink', path: 'replace/dir-to-symlink', target: '../files' },
    { kind: 'file', path: 'replace/device-to-file', data: 'was a device\n' },
  ];
}

/**
 * Layer 3, crafted: whiteouts, opaque dirs, implied parents, odd names. No path appears twice:
 * Docker's layer store (tar-split) refuses such a tar before any driver sees it.
 */
function whiteoutEntries(): CraftEntry[] {
  const dir = (name: string, extra: Partial<CraftHeader> = {}): CraftEntry => ({ header: { name, type: 'directory', mode: 0o755, ...extra } });
  const file = (name: string, content: string, extra: Partial<CraftHeader> = {}): CraftEntry => ({ header: { name, type: 'file', mode: 0o644, ...extra }, content });
  return [
    dir('whiteout/'),
    file('whiteout/.wh.gone-file', ''),
    file('whiteout/.wh.gone-dir', ''),
    file('whiteout/.wh.never-existed', ''),
    file('whiteout/.wh.hardlinked', ''),
    dir('whiteout/opaque/', { mode: 0o750 }),
    file('whiteout/opaque/.wh..wh..opq', ''),
    file('whiteout/opaque/fresh', 'the only child now\n'),
    // an opaque marker whose directory has no entry of its own
    file('whiteout/opaque-implied/.wh..wh..opq', ''),
    file('whiteout/.wh.readded', ''),
    file('whiteout/readded', 'back again\n'),
    dir('whiteout/later-opaque/'),
    file('whiteout/later-opaque/kept-until-above', 'x\n'),
    file('implied/a/b/c/file', 'parents implied\n', { uid: 1000, gid: 1000 }),
    { header: { name: 'implied/dev', type: 'character-device', devmajor: 1, devminor: 7, mode: 0o600 } },
    file('inlayer/link-target', 'target\n', { mode: 0o644, mtime: new Date(1_500_000_000_000) }),
    // A hardlink header's mode and time go to the shared inode (Docker chmods through the link).
    { header: { name: 'inlayer/link-with-other-mode', type: 'link', linkname: 'inlayer/link-target', mode: 0o600, mtime: new Date(1_510_000_000_000) } },
    file('/inlayer/absolute-name', 'an absolute name lands inside the layer\n'),
    file('./inlayer/./dot//segments', 'dots and double slashes are cleaned\n'),
    file('inlayer/sub/../climbs-back', '.. that stays inside the layer\n'),
    file('inlayer/pax-times', 'pax atime and mtime\n', { pax: { mtime: '1234567890.987654321', atime: '1234567899.5' } }),
    file('inlayer/pax-atime-before-mtime', 'atime is raised to mtime\n', { pax: { mtime: '1234567890.5', atime: '1000000000' } }),
  ];
}

/** Layer 4: names whited out below come back, opaque dirs get children, the root entry has odd metadata. */
function afterWhiteoutNodes(): TreeNode[] {
  return [
    { kind: 'file', path: 'whiteout/gone-file', data: 'recreated two layers up\n', mode: 0o600 },
    { kind: 'file', path: 'whiteout/opaque/added-later', data: 'x\n' },
    { kind: 'file', path: 'whiteout/later-opaque/.wh..wh..opq' },
    { kind: 'file', path: 'whiteout/later-opaque/only-child', data: 'x\n' },
    { kind: 'file', path: 'whiteout/opaque/.wh.fresh' },
    { kind: 'file', path: 'implied/a/.wh.b' },
  ];
}

/**
 * buildFidelityImage builds the fidelity image's layers under `workDir`: busybox (so containers
 * run), then the kinds, replace, whiteout and after-whiteout layers.
 */
export async function buildFidelityImage(workDir: string, tag = 'corpus/fidelity:1'): Promise<ImageSpec> {
  const layers = [await buildBusyboxLayer(workDir)];
  layers.push(await treeLayer(workDir, 'kinds', kindsNodes()));
  layers.push(await treeLayer(workDir, 'replace', replaceNodes()));
  layers.push(...(await buildWhiteoutLayers(workDir)));
  return { tag, layers };
}

/**
 * buildWhiteoutLayers builds the fidelity image's last two layers (whiteouts, opaque markers,
 * implied parents and odd names, then names brought back) and returns their tars in order.
 * They expect the kinds layer (kindsNodes) below them.
 */
export async function buildWhiteoutLayers(workDir: string): Promise<string[]> {
  return [
    await craftTar(path.join(workDir, 'whiteouts.tar'), whiteoutEntries()),
    await treeLayer(workDir, 'after-whiteouts', afterWhiteoutNodes()),
  ];
}

/**
 * buildSparseImage builds busybox plus one layer of sparse files per GNU tar PAX sparse format
 * (0.0, 0.1, 1.0). NOTE: `docker save` cannot give such layers back on any driver (tar-split
 * keeps the sparse encoding, the reassembly reads the whole file), so they live apart.
 */
export async function buildSparseImage(workDir: string, tag = 'corpus/sparse:1'): Promise<ImageSpec> {
  const layers = [await buildBusyboxLayer(workDir)];
  for (const format of ['posix-sparse-0.0', 'posix-sparse-0.1', 'posix-sparse-1.0'] as const) {
    layers.push(await treeLayer(workDir, `sparse-${format}`, sparseNodes(format), format));
  }
  return { tag, layers };
}

/** treeLayer materializes `nodes` in `<workDir>/<name>` and tars them as `<workDir>/<name>.tar`. */
export async function treeLayer(workDir: string, name: string, nodes: readonly TreeNode[], format: TarFormat = 'posix'): Promise<string> {
  const dir = path.join(workDir, name);
  await materializeTree(dir, nodes);
  return tarDirectory(dir, path.join(workDir, `${name}.tar`), format);
}

/**
 * buildLenientLayers builds layers that overlay2 refuses ("unhandled tar header type") but
 * that are valid tar: old-GNU sparse files (typeflag 'S') and a contiguous file ('7').
 */
export async function buildLenientLayers(workDir: string): Promise<Record<'gnuSparse' | 'contiguous', string>> {
  return {
    gnuSparse: await treeLayer(workDir, 'sparse-gnu', sparseNodes('gnu'), 'gnu'),
    contiguous: await craftTar(path.join(workDir, 'contiguous.tar'), [
      { header: { name: 'contiguous/', type: 'directory', mode: 0o755 } },
      { header: { name: 'contiguous/file', type: 'contiguous-file', mode: 0o640 }, content: 'typeflag 7 is a regular file\n' },
    ]),
  };
}

// ---------- the deep image ----------

function deepNodes(i: number): TreeNode[] {
  const nodes: TreeNode[] = [
    { kind: 'file', path: `deep/layer-${i}`, data: `layer ${i}\n`, mtime: String(CORPUS_TIME + i) },
    { kind: 'file', path: 'deep/common', data: `changed by layer ${i}\n` },
  ];
  if (i >= 2) nodes.push({ kind: 'file', path: `deep/.wh.layer-${i - 2}` });
  if (i % 10 === 0) {
    nodes.push({ kind: 'file', path: 'deep/opaque/.wh..wh..opq' }, { kind: 'file', path: `deep/opaque/from-${i}`, data: `${i}\n` });
  } else {
    nodes.push({ kind: 'file', path: `deep/opaque/from-${i}`, data: `${i}\n` });
  }
  return nodes;
}

/**
 * buildDeepImage builds an image of `depth` layers: busybox, then layers that each add a file,
 * rewrite a shared one, delete an older one and (every tenth) make a directory opaque.
 */
export async function buildDeepImage(workDir: string, depth = 125, tag = 'corpus/deep:1'): Promise<ImageSpec> {
  const layers = [await buildBusyboxLayer(workDir)];
  for (let i = 1; i < depth; i++) {
    layers.push(await treeLayer(workDir, `deep-${i}`, deepNodes(i)));
    await rm(path.join(workDir, `deep-${i}`), { recursive: true, force: true });
  }
  return { tag, layers };
}
