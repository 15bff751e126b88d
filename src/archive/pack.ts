/**
 * Producing layer tars (GraphDriver.Diff): from an upper directory in overlay2's format
 * (whiteout devices → `.wh.<name>`, opaque dirs → `.wh..wh..opq` right after the directory),
 * or from a list of changes over a view (the naive export). The output follows Docker's
 * addTarFile: lexical walk, mode with file-type bits, mtime to the second, only
 * security.capability among xattrs, later paths of an inode as hardlinks.
 */
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { errnoOf } from '../errors';
import type { IdMapping } from '../idmap';
import { AT_FDCWD, fgetxattr, lgetxattr, lstatAt, makedev, openAt, type CPath, type LinkStat } from '../sys/libc';
import { CAPABILITY_XATTR } from './capability';
import { readHostOwnerNames, type OwnerNames } from './owner-names';
import { ByteRoot, baseOf, joinRel, parentOf } from './entry-path';
import { ChangeKind, type Change } from './changes';
import { entryTypeOf } from './file-type';
import type { HeaderFields } from './tar/entry';
import { fileData } from './file-data';
import { TarWriter } from './tar/writer';
import type { LayerView, VisibleNode } from './view';
import { OPAQUE_MARKER, OPAQUE_XATTR, WHITEOUT_PREFIX, isOpaqueValue, isWhiteoutDevice } from './whiteout';


export interface PackOptions {
  idMap: IdMapping;
  /** uname/gname lookups by host id; the host's /etc/passwd and /etc/group when absent */
  ownerNames?: OwnerNames;
}

// Capabilities v3 carry a namespace root id; Docker exports them as v2 (the first 20 bytes).
function exportedCapability(value: Buffer | undefined): Buffer | undefined {
  if (!value || value.length === 0) return undefined;
  if (value.length === 24 && (value.readUInt32LE(0) & 0xff000000) === 0x03000000) {
    const v2 = Buffer.from(value.subarray(0, 20));
    v2.writeUInt32LE(0x02000000 | (value.readUInt32LE(0) & 0x1), 0);
    return v2;
  }
  return value;
}

/** A file on disk: `name` in the directory open as `dirfd` (or AT_FDCWD and an absolute name), and its absolute path. */
interface Location {
  dirfd: number;
  name: CPath;
  abs: Buffer;
}

/** lstatOrSkip stats an entry, or returns undefined when it is gone: a running container may remove files while we walk. */
function lstatOrSkip(at: Location): LinkStat | undefined {
  try {
    return lstatAt(at.dirfd, at.name);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** cPathOf passes an ASCII byte string as a string (cheaper through FFI, same bytes), any other as raw bytes. */
function cPathOf(bytes: string): CPath {
  return /^[\x01-\x7f]*$/.test(bytes) ? bytes : Buffer.from(bytes, 'latin1');
}

/** Packer writes entries for files on disk into a TarWriter. */
class Packer {
  readonly writer = new TarWriter();
  readonly #seen = new Map<bigint, string>();
  readonly #names: OwnerNames;
  constructor(readonly opts: PackOptions, readonly convertOverlay: boolean) {
    this.#names = opts.ownerNames ?? readHostOwnerNames();
  }

  /**
   * add writes the entry for the file at `at`, stat'ed as `st`, under `name`; it yields output
   * as it fills. `heldFd` is an fd on the entry itself when the caller holds one (a directory it walks).
   */
  *add(at: Location, name: string, st: LinkStat, heldFd?: number): Generator<Buffer> {
    const mode = st.mode;
    const type = entryTypeOf(mode);
    if (!type) return; // sockets cannot be archived; Docker skips them too
    const h: HeaderFields = {
      name: type === 'dir' ? `${name}/` : name,
      type,
      // st_mode as is: the permission bits plus the S_IF* type bits Docker keeps in tar headers
      mode,
      uid: st.uid,
      gid: st.gid,
      // Go looks the names up by the file's host ids, before any id mapping.
      uname: this.#names.user(st.uid),
      gname: this.#names.group(st.gid),
      size: type === 'file' ? st.size : 0,
      mtimeSec: st.mtimeSec,
    };
    if (type === 'symlink') h.linkname = fs.readlinkSync(at.abs, { encoding: 'buffer' }).toString('latin1');
    if (type === 'char' || type === 'block') {
      h.devmajor = st.rdevMajor;
      h.devminor = st.rdevMinor;
    }
    if (type !== 'dir' && st.nlink > 1) {
      const first = this.#seen.get(st.ino);
      if (first !== undefined) {
        h.type = 'hardlink';
        h.linkname = first;
        h.size = 0;
        h.mode = mode;
      } else this.#seen.set(st.ino, name);
    }
    const whiteout = this.convertOverlay && type === 'char' && isWhiteoutDevice({ mode, rdev: makedev(st.rdevMajor, st.rdevMinor) });
    if (whiteout) {
      h.name = joinRel(parentOf(name), WHITEOUT_PREFIX + baseOf(name));
      h.type = 'file';
      h.mode = 0o600;
      h.size = 0;
      delete h.devmajor;
      delete h.devminor;
    }
    // Attributes come through an open fd when there is one: that spares the kernel a path lookup.
    const hasData = h.type === 'file' && h.size > 0;
    const fd = hasData ? openAt(at.dirfd, at.name, fs.constants.O_RDONLY) : heldFd;
    try {
      const xattr = (attr: string) => (fd !== undefined ? fgetxattr(fd, attr) : lgetxattr(at.abs, attr));
      if (type !== 'symlink') {
        const cap = exportedCapability(xattr(CAPABILITY_XATTR));
        if (cap) h.xattrs = new Map([[CAPABILITY_XATTR, cap]]);
      }
      let opaque: HeaderFields | undefined;
      if (this.convertOverlay && type === 'dir' && isOpaqueValue(xattr(OPAQUE_XATTR))) {
        opaque = { name: `${name}/${OPAQUE_MARKER}`, type: 'file', mode: mode & 0o777, uid: h.uid, gid: h.gid, uname: h.uname, gname: h.gname, size: 0, mtimeSec: 0 };
      }
      // Whiteouts were made by the kernel with host ownership, so they are not mapped back.
      if (!whiteout && !this.opts.idMap.isIdentity) {
        h.uid = this.opts.idMap.toContainerUid(h.uid);
        h.gid = this.opts.idMap.toContainerGid(h.gid);
        if (opaque) [opaque.uid, opaque.gid] = [h.uid, h.gid];
      }
      this.writer.header(h);
      if (opaque) this.writer.header(opaque);
      if (hasData) yield* fileData(this.writer, fd!, h.size);
    } finally {
      if (hasData) fs.closeSync(fd!);
    }
    yield* this.flush(false);
  }

  /** flush yields the filled output buffers, and with `force` whatever else is queued too. */
  *flush(force: boolean): Generator<Buffer> {
    yield* this.writer.takeFilled();
    if (force && this.writer.pendingBytes > 0) yield this.writer.take();
  }
}

/** walkSorted packs what is below the directory open as `dirfd`, in lexical byte order, depth first. */
function* walkSorted(packer: Packer, root: ByteRoot, rel: string, dirfd: number): Generator<Buffer> {
  const names = fs.readdirSync(root.path(rel), 'latin1').sort();
  for (const base of names) {
    const child = joinRel(rel, base);
    const at: Location = { dirfd, name: cPathOf(base), abs: root.path(child) };
    const st = lstatOrSkip(at);
    if (!st) continue;
    if (entryTypeOf(st.mode) !== 'dir') {
      yield* packer.add(at, child, st);
      continue;
    }
    let fd: number;
    try {
      fd = openAt(dirfd, at.name, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') continue; // removed since the stat
      throw err;
    }
    try {
      yield* packer.add(at, child, st, fd);
      yield* walkSorted(packer, root, child, fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** packDirectory streams the tar of an upper directory in the layer-tar format. */
export function packDirectory(dir: string, opts: PackOptions): Readable {
  const root = new ByteRoot(dir);
  function* generate(): Generator<Buffer> {
    const packer = new Packer(opts, true);
    const fd = fs.openSync(root.path(''), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      yield* walkSorted(packer, root, '', fd);
    } finally {
      fs.closeSync(fd);
    }
    packer.writer.finish();
    yield* packer.flush(true);
  }
  return Readable.from(generate(), { objectMode: false });
}

/** packChanges streams the tar of a list of changes, taking files from `view` (naive export). */
export function packChanges(view: LayerView, list: readonly Change[], opts: PackOptions): Readable {
  function* generate(): Generator<Buffer> {
    const packer = new Packer(opts, false);
    const sorted = [...list].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const nowSec = Math.floor(Date.now() / 1000);
    const locator = new Locator(view);
    for (const change of sorted) {
      const rel = change.path.slice(1);
      if (change.kind === ChangeKind.Delete) {
        const name = joinRel(parentOf(rel), WHITEOUT_PREFIX + baseOf(rel));
        packer.writer.header({ name, type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtimeSec: nowSec });
        continue;
      }
      const abs = locator.locate(rel);
      const at: Location | undefined = abs && { dirfd: AT_FDCWD, name: abs, abs };
      const st = at && lstatOrSkip(at);
      if (st) yield* packer.add(at, rel, st);
    }
    packer.writer.finish();
    yield* packer.flush(true);
  }
  return Readable.from(generate(), { objectMode: false });
}

/**
 * Locator finds the layer files a view shows, for many paths: it keeps the listings of the last
 * path's ancestor directories. Sorted paths leave a directory for good once they leave it, so in
 * sorted order each directory is read once and only one branch of listings is held.
 */
export class Locator {
  /** the listings from the root down to the last path's parent; `name` is each one's base name */
  readonly #dirs: Array<{ name: string; rel: string; children: Map<string, VisibleNode> }>;

  constructor(readonly view: LayerView) {
    this.#dirs = [{ name: '', rel: '', children: view.children('', view.rootLayers()) }];
  }

  /** locate returns the layer file shown at `rel`, or undefined when the view has nothing there. */
  locate(rel: string): Buffer | undefined {
    const parts = rel.split('/');
    let depth = 1;
    while (depth < this.#dirs.length && depth < parts.length && this.#dirs[depth]!.name === parts[depth - 1]) depth++;
    this.#dirs.length = depth;
    for (; depth < parts.length; depth++) {
      const parent = this.#dirs[depth - 1]!;
      const name = parts[depth - 1]!;
      const dir = parent.children.get(name);
      if (!dir?.dirLayers) return undefined;
      const dirRel = joinRel(parent.rel, name);
      this.#dirs.push({ name, rel: dirRel, children: this.view.children(dirRel, dir.dirLayers) });
    }
    const node = this.#dirs[depth - 1]!.children.get(parts[depth - 1]!);
    return node && this.view.path(node.layer, rel);
  }
}

/** locate finds the layer file that a view shows at `rel` (a single lookup; Locator for many). */
export function locate(view: LayerView, rel: string): Buffer | undefined {
  return new Locator(view).locate(rel);
}
