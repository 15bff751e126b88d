/**
 * Extraction of a layer tar into an empty directory (a layer's upper dir), with overlay2's
 * rules: replacement, whiteouts → 0/0 devices, opaque markers → xattr, ownership through the id
 * mapping, xattrs, modes, nanosecond times, directory times set last.
 *
 * Safety without a chroot: the target starts empty and nothing else writes to it, so everything
 * in it was made by this tar and is tracked here. An entry is refused when its path (or a
 * hardlink's target) would go through a symlink this tar made, or climb above the root.
 * Syscalls are synchronous on purpose: they are short, and a thread-pool hop per call would
 * cost more than the call.
 */
import fs from 'node:fs';
import { InvalidArchiveError, IoError, StrataError, UnsafeArchiveError, errnoOf } from '../errors';
import type { IdMapping } from '../idmap';
import {
  AT_FDCWD,
  chmodAt,
  cName,
  createAt,
  fsetxattr,
  futimesNs,
  lchownAt,
  lsetxattr,
  lstatAt,
  lutimesNs,
  lutimesNsAt,
  mkdirAt,
  mknod,
  mknodAt,
  openDirAt,
  symlinkAt,
  type CName,
  type NsTime,
} from '../sys/libc';
import { ByteRoot, baseOf, isWithin, joinRel, layerRelative, parentOf, toUtf8 } from './entry-path';
import type { TarEntry } from './tar/entry';
import { adoptLowerDir } from './lower-dir-attrs';
import { directorySize } from './size';
import { readTar, type ReadEntry } from './tar/reader';
import { OPAQUE_XATTR, classifyTarName, type WhiteoutKind } from './whiteout';

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;
const S_IFDIR = 0o040000;
const S_IFMT = 0o170000;
const MAX_TIME_NS = 2n ** 63n - 1n;
/** MAX_DEV_MAJOR and MAX_DEV_MINOR are the largest device numbers mknod(2) takes (the kernel's new_valid_dev). */
const MAX_DEV_MAJOR = 2 ** 12 - 1;
const MAX_DEV_MINOR = 2 ** 20 - 1;
/** MAX_ID is the largest uid or gid lchown(2) takes (2^32 - 1 itself means "leave unchanged", as it does for Docker). */
const MAX_ID = 2 ** 32 - 1;

export interface ApplyOptions {
  idMap: IdMapping;
  /**
   * 'docker' (the default) applies as moby's overlay2 does; 'containerd' as containerd's
   * applier: no trusted.* xattrs from the archive, empty xattr values kept, and every time,
   * a symlink's too, bounded to what chtimes takes (outside it, the epoch), atime no earlier
   * than mtime. Whiteouts are stored in overlay's form, except that containerd, applying a
   * layer with no parents (a plain directory, nothing below to hide), only carries them out
   * on what this tar made.
   */
  rules?: 'docker' | 'containerd';
  /** the lower layers' dirs, nearest first, whose copy of a directory the tar implies lends it its attributes (containerd's applier does this) */
  parents?: readonly string[];
  /** called once per xattr that the filesystem refused (ENOTSUP/EPERM), which overlay2 also ignores */
  onIgnoredXattr?: (entry: string, name: string, errno: string) => void;
}

interface DeferredTimes {
  rel: string;
  atime: NsTime;
  mtime: NsTime;
}

function toNsTime(ns: bigint): NsTime {
  // Times Go cannot represent for chtimes (before 1970, after 2262) become the epoch.
  if (ns < 0n || ns > MAX_TIME_NS) return { sec: 0, nsec: 0 };
  return { sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) };
}

/**
 * symlinkTime is the time Docker gives a symlink: no clamping there (it calls utimensat with
 * Go's UnixNano, which wraps at int64), so a symlink keeps a time before 1970.
 */
function symlinkTime(ns: bigint): NsTime {
  const wrapped = BigInt.asIntN(64, ns);
  let sec = wrapped / 1_000_000_000n;
  let nsec = wrapped % 1_000_000_000n;
  if (nsec < 0n) {
    nsec += 1_000_000_000n;
    sec -= 1n;
  }
  return { sec: Number(sec), nsec: Number(nsec) };
}

/** EntryData is how an entry's bytes are read: all at once when they are buffered, else chunk by chunk. */
type EntryData = Pick<ReadEntry, 'data' | 'buffered'>;

/** Where an entry is: a name in an open directory (AT_FDCWD and a full path for the root). */
interface At {
  dirfd: number;
  name: CName;
}

interface Owner {
  uid: number;
  gid: number;
}

/** WorkDir is the open directory that entries are created in, kept while the tar stays in it. */
interface WorkDir {
  rel: string;
  fd: number;
  /** its group, which a node created in it may get instead of the creator's (see ownedAsCreated) */
  gid: number;
}

/** Extractor holds the state of one extraction. */
class Extractor {
  readonly #root: ByteRoot;
  readonly #opts: ApplyOptions;
  /** directories known to exist ('' is the root) */
  readonly #dirs = new Set<string>(['']);
  /** symlinks this tar created: never traversed */
  readonly #symlinks = new Set<string>();
  readonly #dirTimes: DeferredTimes[] = [];
  readonly #rootOwner: Owner;
  /** who owns what this process creates, before a chown */
  readonly #creator: Owner = { uid: process.geteuid!(), gid: process.getegid!() };
  #workDir: WorkDir | undefined;
  /**
   * size counts what directory.Size would find in the result: regular files by their size,
   * symlinks by their target's length, each inode once (so hardlink entries add nothing).
   * Once an entry replaced something, the count is no longer known and size() walks the tree.
   */
  #size = 0;
  #sizeKnown = true;

  constructor(root: string, opts: ApplyOptions) {
    this.#root = new ByteRoot(root);
    this.#opts = opts;
    this.#rootOwner = opts.idMap.rootPair();
  }

  async entry(entry: TarEntry, data: EntryData): Promise<void> {
    const rel = layerRelative(entry.name);
    if (rel === '') {
      if (entry.type !== 'dir') throw new UnsafeArchiveError(entry.name, 'only a directory may replace the layer root');
      // Docker skips a directory entry whose name cleans to "." (such as GNU tar's "./"): the
      // root exists already. Only an absolute name ("/") reaches the root's metadata.
      if (!entry.name.startsWith('/')) return;
      const owner = this.#owner(entry);
      this.#finish(entry, rel, owner, { dirfd: AT_FDCWD, name: cName(this.#root.path('').toString('latin1')) }, -1, false);
      return;
    }
    const parent = parentOf(rel);
    this.#ensureDir(parent, entry.name);
    const owner = this.#owner(entry);
    const base = baseOf(rel);
    const whiteout = classifyTarName(base);
    if (whiteout) {
      this.#whiteout(entry.name, rel, parent, whiteout, owner);
      return;
    }

    // Entries are created exclusively: almost all are new, and only a clash (EEXIST) needs a look.
    const at: At = { dirfd: this.#enter(parent), name: cName(base) };
    let created = true;
    let fd = -1;
    try {
      switch (entry.type) {
        case 'dir':
          created = this.#mkdir(rel, at);
          this.#dirs.add(rel);
          break;
        case 'file':
          fd = this.#exclusively(rel, () => createAt(at.dirfd, at.name, fs.constants.O_WRONLY, 0o600));
          await this.#writeFile(entry, fd, data);
          this.#size += entry.size;
          break;
        case 'hardlink': {
          const linked = this.#linkTarget(entry);
          const target = this.#root.path(rel);
          this.#exclusively(rel, () => this.#link(entry, linked, target));
          if (this.#symlinks.has(linked)) this.#symlinks.add(rel);
          // the inode is an earlier entry's, with that entry's owner
          created = false;
          break;
        }
        case 'symlink':
          // symlink(2) refuses an empty target (ENOENT), as it does under Docker.
          if (entry.linkname === '') throw new InvalidArchiveError('it is a symlink without a target', { entry: entry.name });
          this.#exclusively(rel, () => symlinkAt(cName(entry.linkname), at.dirfd, at.name));
          this.#symlinks.add(rel);
          this.#size += entry.linkname.length;
          break;
        case 'char':
        case 'block':
          // mknod(2) refuses (EINVAL) what a dev_t cannot hold, under Docker too.
          if (entry.devmajor > MAX_DEV_MAJOR || entry.devminor > MAX_DEV_MINOR) {
            throw new InvalidArchiveError(`its device number ${entry.devmajor}:${entry.devminor} is beyond Linux's (major < 4096, minor < 2^20)`, { entry: entry.name });
          }
          this.#exclusively(rel, () => mknodAt(at.dirfd, at.name, (entry.type === 'char' ? S_IFCHR : S_IFBLK) | (entry.mode & 0o7777), entry.devmajor, entry.devminor));
          break;
        case 'fifo':
          this.#exclusively(rel, () => mknodAt(at.dirfd, at.name, S_IFIFO | (entry.mode & 0o7777), 0, 0));
          break;
      }
      this.#finish(entry, rel, owner, at, fd, created);
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
  }

  /**
   * ownedAsCreated tells whether a node just created in the work dir already has `owner`: its
   * uid is the creator's, and its gid is the creator's or the directory's (setgid, or a grpid
   * mount), so only when those two agree is it known without a look.
   */
  #ownedAsCreated(owner: Owner): boolean {
    const dirGid = this.#workDir?.gid;
    return owner.uid === this.#creator.uid && owner.gid === this.#creator.gid && dirGid === this.#creator.gid;
  }

  #owner(entry: TarEntry): Owner {
    // NOTE: Strata is stricter than Docker on purpose here: Go passes an id beyond 32 bits to
    // lchown(2), which keeps its low 32 bits, so uid 2^32 would become root.
    for (const [what, id] of [['uid', entry.uid], ['gid', entry.gid]] as const) {
      if (id > MAX_ID) throw new InvalidArchiveError(`its ${what} ${id} does not fit the 32 bits of a Linux id`, { entry: entry.name });
    }
    return { uid: this.#opts.idMap.toHostUid(entry.uid), gid: this.#opts.idMap.toHostGid(entry.gid) };
  }

  /** whiteout turns `.wh.` entries into overlay's form: rare, so plain paths do. */
  #whiteout(name: string, rel: string, parent: string, whiteout: NonNullable<WhiteoutKind>, owner: Owner): void {
    const target = this.#root.path(rel);
    if (lstatOrNull(target)) this.#remove(rel);
    if (this.#opts.rules === 'containerd' && !this.#opts.parents?.length) {
      if (whiteout.kind === 'whiteout' && whiteout.name !== '') {
        const hiddenRel = joinRel(parent, whiteout.name);
        if (lstatOrNull(this.#root.path(hiddenRel))) this.#remove(hiddenRel);
      }
      return;
    }
    if (whiteout.kind === 'opaque') {
      lsetxattr(this.#root.path(parent), OPAQUE_XATTR, Buffer.from('y'));
      return;
    }
    if (whiteout.name === '') throw new UnsafeArchiveError(name, 'whiteout without a name');
    const hidden = this.#root.path(joinRel(parent, whiteout.name));
    // Docker's mknod fails (EEXIST) alike when this layer holds the name it whites out, or whites it out twice.
    if (lstatOrNull(hidden)) throw new InvalidArchiveError(`it whites out ${JSON.stringify(toUtf8(whiteout.name))}, which this layer holds already`, { entry: name });
    mknod(hidden, S_IFCHR, 0, 0);
    fs.lchownSync(hidden, owner.uid, owner.gid);
  }

  /** mkdir creates a directory entry's directory unless one is there; it tells whether it created it. */
  #mkdir(rel: string, at: At): boolean {
    try {
      mkdirAt(at.dirfd, at.name, 0o700);
      return true;
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw err;
    }
    if ((lstatAt(at.dirfd, at.name).mode & S_IFMT) === S_IFDIR) return false;
    this.#remove(rel);
    mkdirAt(at.dirfd, at.name, 0o700);
    return true;
  }

  /** exclusively runs `create`, and once more after removing whatever an earlier entry left at `rel`. */
  #exclusively<T>(rel: string, create: () => T): T {
    try {
      return create();
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw err;
    }
    this.#remove(rel);
    return create();
  }

  /**
   * finish applies owner, xattrs, mode and times the way Docker's createTarFile does, through
   * the open file when there is one. A node this tar just created may already have its owner.
   */
  #finish(entry: TarEntry, rel: string, { uid, gid }: Owner, at: At, fd: number, created: boolean): void {
    if (!(created && this.#ownedAsCreated({ uid, gid }))) {
      if (fd >= 0) fs.fchownSync(fd, uid, gid);
      else lchownAt(at.dirfd, at.name, uid, gid);
    }
    const containerd = this.#opts.rules === 'containerd';
    for (const [name, value] of entry.xattrs) {
      if (containerd ? name.startsWith('trusted.') : value.length === 0) continue;
      try {
        if (fd >= 0) fsetxattr(fd, name, value);
        else lsetxattr(this.#root.path(rel), name, value);
      } catch (err) {
        const errno = errnoOf(err);
        if (errno !== 'ENOTSUP' && errno !== 'EPERM' && errno !== 'EOPNOTSUPP') throw err;
        this.#opts.onIgnoredXattr?.(entry.name, name, errno);
      }
    }
    // A hardlink entry's mode and times go to the shared inode unless it is a symlink.
    const viaLink = entry.type === 'hardlink' && this.#symlinks.has(rel);
    if (entry.type !== 'symlink' && !viaLink) {
      if (fd >= 0) fs.fchmodSync(fd, entry.mode & 0o7777);
      else chmodAt(at.dirfd, at.name, entry.mode & 0o7777);
    }
    const mtime = toNsTime(entry.mtimeNs);
    if (entry.type === 'dir') {
      // Only the root can be the open directory here: its group may have just changed.
      if (this.#workDir?.rel === rel) this.#leaveWorkDir();
      // Directory times are set after all children exist; a missing atime is the epoch, as in Go.
      const atime = containerd ? latest(entry.atimeNs, entry.mtimeNs) : (entry.atimeNs ?? -1n);
      this.#dirTimes.push({ rel, atime: toNsTime(atime), mtime });
      return;
    }
    if (viaLink) return;
    const atimeNs = latest(entry.atimeNs, entry.mtimeNs);
    if (entry.type === 'symlink' && !containerd) lutimesNsAt(at.dirfd, at.name, symlinkTime(atimeNs), symlinkTime(entry.mtimeNs));
    else if (fd >= 0) futimesNs(fd, toNsTime(atimeNs), mtime);
    else lutimesNsAt(at.dirfd, at.name, toNsTime(atimeNs), mtime);
  }

  async #writeFile(entry: TarEntry, fd: number, { data, buffered }: EntryData): Promise<void> {
    if (!entry.sparse) {
      const all = buffered();
      if (all) {
        if (all.length > 0) fs.writeSync(fd, all);
        return;
      }
      for await (const chunk of data()) fs.writeSync(fd, chunk);
      return;
    }
    const regions = entry.sparse.regions;
    let region = 0;
    let inRegion = 0;
    for await (const chunk of data()) {
      let pos = 0;
      while (pos < chunk.length) {
        while (region < regions.length && inRegion >= regions[region]!.length) {
          region++;
          inRegion = 0;
        }
        if (region >= regions.length) throw new InvalidArchiveError('its sparse data is longer than its map', { entry: entry.name });
        const n = Math.min(chunk.length - pos, regions[region]!.length - inRegion);
        fs.writeSync(fd, chunk, pos, n, regions[region]!.offset + inRegion);
        pos += n;
        inRegion += n;
      }
    }
    fs.ftruncateSync(fd, entry.sparse.realSize);
  }

  /**
   * enter returns an fd of the directory `rel` (which ensureDir vetted), opening it only when
   * the tar moves on to another directory: tars list a directory's entries together.
   */
  #enter(rel: string): number {
    if (this.#workDir?.rel === rel) return this.#workDir.fd;
    this.#leaveWorkDir();
    const fd = openDirAt(AT_FDCWD, this.#root.path(rel));
    try {
      this.#workDir = { rel, fd, gid: fs.fstatSync(fd).gid };
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    return fd;
  }

  #leaveWorkDir(): void {
    if (!this.#workDir) return;
    fs.closeSync(this.#workDir.fd);
    this.#workDir = undefined;
  }

  #linkTarget(entry: TarEntry): string {
    const linked = layerRelative(entry.linkname, `its hardlink target ${JSON.stringify(toUtf8(entry.linkname))}`, entry.name);
    if (linked === '') throw new UnsafeArchiveError(entry.name, 'a hardlink cannot point at the layer root');
    this.#refuseSymlinkAncestors(parentOf(linked), entry.name, 'its hardlink target');
    return linked;
  }

  /**
   * link makes the hardlink `target` to the layer path `linked`. A target the archive has not
   * made (absent, or a directory, which cannot be linked) is an InvalidArchiveError naming the
   * entry and its linkname as the archive spells them, as Go's os.Link fails in Docker.
   */
  #link(entry: TarEntry, linked: string, target: Buffer): void {
    try {
      fs.linkSync(this.#root.path(linked), target);
    } catch (err) {
      const errno = errnoOf(err);
      if (errno !== 'ENOENT' && errno !== 'ENOTDIR' && errno !== 'EPERM') throw err;
      const found = lstatOrNull(this.#root.path(linked));
      if (found && !found.isDirectory()) throw err;
      const what = found ? 'a directory, which cannot be hardlinked' : 'not in this archive';
      throw new InvalidArchiveError(`its hardlink target ${JSON.stringify(toUtf8(entry.linkname))} is ${what}`, { entry: entry.name });
    }
  }

  /** ensureDir makes sure `rel` is a directory, creating implied parents 0755 owned by (remapped) root. */
  #ensureDir(rel: string, name: string): void {
    if (this.#dirs.has(rel)) return;
    this.#refuseSymlinkAncestors(rel, name, 'its path');
    let cur = '';
    for (const part of rel.split('/')) {
      cur = joinRel(cur, part);
      if (this.#dirs.has(cur)) continue;
      const p = this.#root.path(cur);
      try {
        fs.mkdirSync(p, 0o755);
      } catch (err) {
        if (errnoOf(err) !== 'EEXIST') throw err;
        if (!lstatOrNull(p)?.isDirectory()) throw new InvalidArchiveError(`it needs ${JSON.stringify(toUtf8(cur))} to be a directory, but an earlier entry made it something else`, { entry: name });
        this.#dirs.add(cur);
        continue;
      }
      fs.chmodSync(p, 0o755);
      fs.lchownSync(p, this.#rootOwner.uid, this.#rootOwner.gid);
      if (this.#opts.parents) adoptLowerDir(this.#opts.parents, cur, p);
      this.#dirs.add(cur);
    }
  }

  #refuseSymlinkAncestors(rel: string, name: string, what: string): void {
    if (this.#symlinks.size === 0 || rel === '') return;
    let cur = '';
    for (const part of rel.split('/')) {
      cur = joinRel(cur, part);
      if (this.#symlinks.has(cur)) {
        throw new UnsafeArchiveError(name, `${what} goes through ${JSON.stringify(cur)}, a symlink written earlier in this layer; following it could leave the layer`);
      }
    }
  }

  #remove(rel: string): void {
    if (this.#workDir && isWithin(this.#workDir.rel, rel)) this.#leaveWorkDir();
    fs.rmSync(this.#root.path(rel), { recursive: true, force: true });
    this.#sizeKnown = false;
    for (const set of [this.#dirs, this.#symlinks]) {
      for (const p of set) if (isWithin(p, rel)) set.delete(p);
    }
  }

  /** size returns the size of the extracted tree, counted like overlay2's directory.Size. */
  size(): number {
    return this.#sizeKnown ? this.#size : directorySize(this.#root.root);
  }

  /** end sets the directory times that creating children disturbed. */
  end(): void {
    this.#leaveWorkDir();
    for (const { rel, atime, mtime } of this.#dirTimes) {
      const target = this.#root.path(rel);
      if (lstatOrNull(target)?.isDirectory()) lutimesNs(target, atime, mtime);
    }
  }

  /** close releases the open directory after a failure. */
  close(): void {
    this.#leaveWorkDir();
  }
}

function latest(atimeNs: bigint | undefined, mtimeNs: bigint): bigint {
  return atimeNs !== undefined && atimeNs > mtimeNs ? atimeNs : mtimeNs;
}

function lstatOrNull(p: Buffer): fs.Stats | null {
  try {
    // Most entries are new: answering ENOENT without building an exception is ~18% of extraction.
    return fs.lstatSync(p, { throwIfNoEntry: false }) ?? null;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return null;
    throw err;
  }
}

/**
 * applyTar extracts a layer tar into `root` (which must be empty) and returns the size of the
 * result as overlay2 reports it. It throws UnsafeArchiveError, InvalidArchiveError or IoError,
 * and leaves `root` empty again on failure; the caller discards it.
 */
export async function applyTar(input: AsyncIterable<Buffer | Uint8Array | string>, root: string, opts: ApplyOptions): Promise<number> {
  const extractor = new Extractor(root, opts);
  let current = '';
  try {
    for await (const { entry, data, buffered } of readTar(input)) {
      current = entry.name;
      if (entry.type === undefined || !['0', '\0', '7', '1', '2', '3', '4', '5', '6', 'S'].includes(entry.typeflag)) {
        // Go's reader hands these out; Docker's createTarFile refuses them ("unhandled tar header type").
        throw new InvalidArchiveError(`its tar type ${JSON.stringify(entry.typeflag)} is not one a layer holds`, { entry: entry.name });
      }
      await extractor.entry(entry, { data, buffered });
    }
    extractor.end();
    return extractor.size();
  } catch (err) {
    extractor.close();
    emptyDir(root);
    if (err instanceof StrataError) throw err;
    // Only the archive's names and link targets can be too long; Docker's mkdir, open and symlink fail alike.
    if (errnoOf(err) === 'ENAMETOOLONG') {
      throw new InvalidArchiveError('it has a name or link target longer than the file system takes (255 bytes a name, 4095 a target)', { entry: current, cause: err });
    }
    throw new IoError(`extracting ${JSON.stringify(Buffer.from(current, 'latin1').toString('utf8'))}`, err);
  } finally {
    extractor.close();
  }
}

/** emptyDir removes what a failed extraction left in `root`, so that nothing of it is applied. */
function emptyDir(root: string): void {
  try {
    for (const name of fs.readdirSync(root, { encoding: 'buffer' })) {
      fs.rmSync(Buffer.concat([Buffer.from(`${root}/`), name]), { recursive: true, force: true });
    }
  } catch {
    // NOTE: the caller discards `root` as well (the layer store removes its staging tree)
  }
}
