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
import { lgetxattr } from '../sys/libc';
import { readHostOwnerNames, type OwnerNames } from './owner-names';
import { ByteRoot, baseOf, joinRel, parentOf } from './entry-path';
import { ChangeKind, type Change } from './changes';
import type { EntryType, HeaderFields } from './tar-header';
import { TarWriter } from './tar-writer';
import type { LayerView } from './view';
import { OPAQUE_MARKER, OPAQUE_XATTR, WHITEOUT_PREFIX, isOpaqueValue, isWhiteoutDevice } from './whiteout';

const CHUNK = 1024 * 1024;
const FLUSH_AT = 256 * 1024;
const CAPABILITY_XATTR = 'security.capability';

export interface PackOptions {
  idMap: IdMapping;
  /** uname/gname lookups by host id; the host's /etc/passwd and /etc/group when absent */
  ownerNames?: OwnerNames;
}

const TYPE_BITS: Array<[number, EntryType]> = [
  [0o100000, 'file'],
  [0o040000, 'dir'],
  [0o120000, 'symlink'],
  [0o020000, 'char'],
  [0o060000, 'block'],
  [0o010000, 'fifo'],
];

function entryTypeOf(mode: number): EntryType | undefined {
  const fmt = mode & 0o170000;
  return TYPE_BITS.find(([bits]) => bits === fmt)?.[1];
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

/** wholeSeconds truncates a time to the second below it, as Go's Time.Truncate does (also before 1970). */
function wholeSeconds(ns: bigint): number {
  const rem = ((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  return Number((ns - rem) / 1_000_000_000n);
}

/** Packer writes entries for files on disk into a TarWriter. */
class Packer {
  readonly writer = new TarWriter();
  readonly #seen = new Map<bigint, string>();
  readonly #names: OwnerNames;
  constructor(readonly opts: PackOptions, readonly convertOverlay: boolean) {
    this.#names = opts.ownerNames ?? readHostOwnerNames();
  }

  /** add writes the entry for `abs` under `name`; it yields output as it fills. */
  *add(abs: Buffer, name: string): Generator<Buffer> {
    let st: fs.BigIntStats;
    try {
      st = fs.lstatSync(abs, { bigint: true });
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return; // removed while we walk: a running container may do that
      throw err;
    }
    const mode = Number(st.mode);
    const type = entryTypeOf(mode);
    if (!type) return; // sockets cannot be archived; Docker skips them too
    const h: HeaderFields = {
      name: type === 'dir' ? `${name}/` : name,
      type,
      // st_mode as is: the permission bits plus the S_IF* type bits Docker keeps in tar headers
      mode,
      uid: Number(st.uid),
      gid: Number(st.gid),
      // Go looks the names up by the file's host ids, before any id mapping.
      uname: this.#names.user(Number(st.uid)),
      gname: this.#names.group(Number(st.gid)),
      size: type === 'file' ? Number(st.size) : 0,
      mtimeSec: wholeSeconds(st.mtimeNs),
    };
    if (type === 'symlink') h.linkname = fs.readlinkSync(abs, { encoding: 'buffer' }).toString('latin1');
    if (type === 'char' || type === 'block') {
      const rdev = Number(st.rdev);
      h.devmajor = ((rdev >>> 8) & 0xfff) | Math.floor(rdev / 2 ** 32) & ~0xfff;
      h.devminor = (rdev & 0xff) | ((rdev >>> 12) & 0xfff00);
    }
    if (type !== 'symlink') {
      const cap = exportedCapability(lgetxattr(abs, CAPABILITY_XATTR));
      if (cap) h.xattrs = new Map([[CAPABILITY_XATTR, cap]]);
    }
    if (type !== 'dir' && st.nlink > 1n) {
      const first = this.#seen.get(st.ino);
      if (first !== undefined) {
        h.type = 'hardlink';
        h.linkname = first;
        h.size = 0;
        h.mode = mode;
      } else this.#seen.set(st.ino, name);
    }
    let opaque: HeaderFields | undefined;
    const whiteout = this.convertOverlay && isWhiteoutDevice({ mode: st.mode, rdev: st.rdev });
    if (whiteout) {
      h.name = joinRel(parentOf(name), WHITEOUT_PREFIX + baseOf(name));
      h.type = 'file';
      h.mode = 0o600;
      h.size = 0;
      delete h.devmajor;
      delete h.devminor;
    } else if (this.convertOverlay && type === 'dir' && isOpaqueValue(lgetxattr(abs, OPAQUE_XATTR))) {
      opaque = { name: `${name}/${OPAQUE_MARKER}`, type: 'file', mode: mode & 0o777, uid: h.uid, gid: h.gid, uname: h.uname, gname: h.gname, size: 0, mtimeSec: 0 };
    }
    // Whiteouts were made by the kernel with host ownership, so they are not mapped back.
    if (!whiteout && !this.opts.idMap.isIdentity) {
      h.uid = this.opts.idMap.toContainerUid(h.uid);
      h.gid = this.opts.idMap.toContainerGid(h.gid);
      if (opaque) [opaque.uid, opaque.gid] = [h.uid, h.gid];
    }
    if (h.type !== 'file' || h.size === 0) {
      this.writer.header(h);
      if (opaque) this.writer.header(opaque);
      yield* this.flush(false);
      return;
    }
    yield* this.#fileData(abs, h);
  }

  *#fileData(abs: Buffer, h: HeaderFields): Generator<Buffer> {
    const fd = fs.openSync(abs, 'r');
    try {
      this.writer.header(h);
      let left = h.size;
      while (left > 0) {
        const buf = Buffer.allocUnsafe(Math.min(CHUNK, left));
        const n = fs.readSync(fd, buf, 0, buf.length, null);
        if (n === 0) {
          // The file shrank while we read it: pad with zeros so the archive stays well formed.
          this.writer.data(Buffer.alloc(left));
          break;
        }
        this.writer.data(n === buf.length ? buf : buf.subarray(0, n));
        left -= n;
        yield* this.flush(false);
      }
      this.writer.endData(h.size);
    } finally {
      fs.closeSync(fd);
    }
    yield* this.flush(false);
  }

  *flush(force: boolean): Generator<Buffer> {
    if (this.writer.pendingBytes >= FLUSH_AT || (force && this.writer.pendingBytes > 0)) yield this.writer.take();
  }
}

function* walkSorted(root: ByteRoot, rel: string): Generator<string> {
  const names = fs.readdirSync(root.path(rel), { encoding: 'buffer' }).map((b) => b.toString('latin1'));
  names.sort();
  for (const name of names) {
    const child = joinRel(rel, name);
    yield child;
    let isDir = false;
    try {
      isDir = fs.lstatSync(root.path(child)).isDirectory();
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw err;
    }
    if (isDir) yield* walkSorted(root, child);
  }
}

/** packDirectory streams the tar of an upper directory in the layer-tar format. */
export function packDirectory(dir: string, opts: PackOptions): Readable {
  const root = new ByteRoot(dir);
  function* generate(): Generator<Buffer> {
    const packer = new Packer(opts, true);
    for (const rel of walkSorted(root, '')) yield* packer.add(root.path(rel), rel);
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
    for (const change of sorted) {
      const rel = change.path.slice(1);
      if (change.kind === ChangeKind.Delete) {
        const name = joinRel(parentOf(rel), WHITEOUT_PREFIX + baseOf(rel));
        packer.writer.header({ name, type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtimeSec: nowSec });
        continue;
      }
      const abs = locate(view, rel);
      if (abs) yield* packer.add(abs, rel);
    }
    packer.writer.finish();
    yield* packer.flush(true);
  }
  return Readable.from(generate(), { objectMode: false });
}

/** locate finds the layer file that a view shows at `rel`. */
export function locate(view: LayerView, rel: string): Buffer | undefined {
  let layers = view.rootLayers();
  const parts = rel.split('/');
  let cur = '';
  for (let k = 0; k < parts.length; k++) {
    const node = view.children(cur, layers).get(parts[k]!);
    cur = joinRel(cur, parts[k]!);
    if (!node) return undefined;
    if (k === parts.length - 1) return view.path(node.layer, cur);
    if (!node.dirLayers) return undefined;
    layers = node.dirLayers;
  }
  return undefined;
}
