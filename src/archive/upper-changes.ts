/**
 * The changes of an overlay upper directory against the view of its lower layers, in the order
 * and with the judgement of containerd's walking differ (continuity's double walk of the lower
 * and the merged tree), but visiting only what the upper dir holds: nothing outside it can
 * differ, except below an opaque directory, where the lower side is walked in full.
 *
 * - Order: depth first, names in byte order within a directory, a directory before its children.
 * - A name in both trees is unchanged when mode, owner, device number and security.capability
 *   agree and, for non-directories, size and mtime seconds do too; then equal nanoseconds, or
 *   (both zero) the same symlink target or file bytes, make it unchanged. Directory times are
 *   not compared. An unchanged file with several links is still reported (as 'unmodified'), so
 *   that a later new link to its inode can be written with it.
 * - A 0/0 character device in the upper dir is a deletion when the lower view shows the name.
 */
import fs from 'node:fs';
import { errnoOf } from '../errors';
import { AT_FDCWD, lgetxattr, lstatAt, makedev, type LinkStat } from '../sys/libc';
import { CAPABILITY_XATTR } from './capability';
import { ByteRoot, joinRel } from './entry-path';
import type { LayerView, VisibleNode } from './view';
import { OPAQUE_XATTR, isOpaqueValue, isWhiteoutDevice } from './whiteout';

export type UpperChangeKind = 'add' | 'modify' | 'delete' | 'unmodified';

/** UpperChange is one changed name; `abs` and `stat` describe the upper file (not for a delete). */
export interface UpperChange {
  kind: UpperChangeKind;
  /** layer-relative byte string */
  rel: string;
  abs?: Buffer;
  stat?: LinkStat;
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const COMPARE_CHUNK = 64 * 1024;

const isDir = (mode: number | bigint) => (Number(mode) & S_IFMT) === S_IFDIR;
const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** upperChanges yields the changes of `upperDir` over `lower` (the parents' view, top first). */
export function* upperChanges(upperDir: string, lower: LayerView): Generator<UpperChange> {
  const walk = new UpperWalk(new ByteRoot(upperDir), lower);
  yield* walk.merged('', lower.rootLayers());
}

class UpperWalk {
  constructor(
    readonly upper: ByteRoot,
    readonly lower: LayerView,
  ) {}

  /**
   * merged walks an upper directory whose lower copy (merged from the layers `below`, none when
   * undefined) shows through: only upper names can have changed.
   */
  *merged(rel: string, below: readonly number[] | undefined): Generator<UpperChange> {
    for (const [name, stat] of this.#upperEntries(rel)) {
      const child = joinRel(rel, name);
      const abs = this.upper.path(child);
      const low = below ? this.lower.lookup(child, below) : undefined;
      if (isWhiteoutDevice({ mode: stat.mode, rdev: makedev(stat.rdevMajor, stat.rdevMinor) })) {
        if (low) yield { kind: 'delete', rel: child };
        continue;
      }
      yield* this.#compared(child, abs, stat, low);
    }
  }

  /**
   * hidden walks an upper directory that hides its lower copy (merged from the layers `below`):
   * the merged tree holds only the upper names, so every lower name missing from them is a deletion.
   */
  *hidden(rel: string, below: readonly number[]): Generator<UpperChange> {
    const uppers = this.#upperEntries(rel).filter(([, st]) => !isWhiteoutDevice({ mode: st.mode, rdev: makedev(st.rdevMajor, st.rdevMinor) }));
    const lowers = [...this.lower.children(rel, below)].sort(([a], [b]) => byteOrder(a, b));
    let u = 0;
    let l = 0;
    while (u < uppers.length || l < lowers.length) {
      const order = u === uppers.length ? 1 : l === lowers.length ? -1 : byteOrder(uppers[u]![0], lowers[l]![0]);
      if (order > 0) {
        yield { kind: 'delete', rel: joinRel(rel, lowers[l++]![0]) };
        continue;
      }
      const [name, stat] = uppers[u++]!;
      const low = order === 0 ? lowers[l++]![1] : undefined;
      const child = joinRel(rel, name);
      yield* this.#compared(child, this.upper.path(child), stat, low, true);
    }
  }

  /** compared reports one upper entry against its lower counterpart, then walks into it. */
  *#compared(rel: string, abs: Buffer, stat: LinkStat, low: VisibleNode | undefined, underOpaque = false): Generator<UpperChange> {
    if (!low) yield { kind: 'add', rel, abs, stat };
    else if (!this.#same(low, rel, abs, stat)) yield { kind: 'modify', rel, abs, stat };
    else if (!isDir(stat.mode) && stat.nlink > 1) yield { kind: 'unmodified', rel, abs, stat };
    if (!isDir(stat.mode)) return;
    if (!low?.dirLayers) yield* this.merged(rel, undefined);
    else if (underOpaque || isOpaqueValue(xattrOf(abs, OPAQUE_XATTR))) yield* this.hidden(rel, low.dirLayers);
    else yield* this.merged(rel, low.dirLayers);
  }

  /** upperEntries lists an upper directory, names in byte order, skipping names gone since the listing. */
  #upperEntries(rel: string): Array<[string, LinkStat]> {
    const names = fs.readdirSync(this.upper.path(rel), 'latin1').sort(byteOrder);
    const out: Array<[string, LinkStat]> = [];
    for (const name of names) {
      try {
        out.push([name, lstatAt(AT_FDCWD, this.upper.path(joinRel(rel, name)))]);
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw err;
      }
    }
    return out;
  }

  /** same is continuity's sameFile for a lower file and the upper one that replaces it. */
  #same(low: VisibleNode, rel: string, abs: Buffer, stat: LinkStat): boolean {
    const ls = low.stat;
    if (Number(ls.mode) !== stat.mode || Number(ls.uid) !== stat.uid || Number(ls.gid) !== stat.gid) return false;
    if (ls.rdev !== makedev(stat.rdevMajor, stat.rdevMinor)) return false;
    const lowAbs = this.lower.path(low.layer, rel);
    if (!bytesEqual(xattrOf(lowAbs, CAPABILITY_XATTR), xattrOf(abs, CAPABILITY_XATTR))) return false;
    if (isDir(stat.mode)) return true;
    if (Number(ls.size) !== stat.size || Number(ls.mtimeNs / 1_000_000_000n) !== stat.mtimeSec) return false;
    const lowNsec = Number(ls.mtimeNs % 1_000_000_000n);
    if (lowNsec !== 0 || stat.mtimeNsec !== 0) return lowNsec === stat.mtimeNsec;
    if ((stat.mode & S_IFMT) === S_IFLNK) return fs.readlinkSync(lowAbs, 'latin1') === fs.readlinkSync(abs, 'latin1');
    return stat.size === 0 || sameContent(lowAbs, abs);
  }
}

/** xattrOf is the attribute, or undefined where it is absent or not ours to read (EPERM: trusted.* without CAP_SYS_ADMIN). */
function xattrOf(p: Buffer, name: string): Buffer | undefined {
  try {
    return lgetxattr(p, name);
  } catch (err) {
    if (errnoOf(err) === 'EPERM') return undefined;
    throw err;
  }
}

function bytesEqual(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return (a ?? Buffer.alloc(0)).equals(b ?? Buffer.alloc(0));
}

function sameContent(a: Buffer, b: Buffer): boolean {
  const fa = fs.openSync(a, 'r');
  try {
    const fb = fs.openSync(b, 'r');
    try {
      const ba = Buffer.allocUnsafe(COMPARE_CHUNK);
      const bb = Buffer.allocUnsafe(COMPARE_CHUNK);
      for (;;) {
        const na = fs.readSync(fa, ba, 0, COMPARE_CHUNK, null);
        const nb = fs.readSync(fb, bb, 0, COMPARE_CHUNK, null);
        if (na !== nb || !ba.subarray(0, na).equals(bb.subarray(0, nb))) return false;
        if (na === 0) return true;
      }
    } finally {
      fs.closeSync(fb);
    }
  } finally {
    fs.closeSync(fa);
  }
}
