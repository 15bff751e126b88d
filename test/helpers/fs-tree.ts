/**
 * Describing real directory trees for assertions: one record per path (lstat facts, link
 * target, content digest, xattrs), so tests can compare trees or prove a tree did not change.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { lgetxattr, llistxattr } from '../../src/sys/libc';

export interface NodeFacts {
  type: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';
  /** permission bits incl. setuid/setgid/sticky */
  perm: number;
  uid: number;
  gid: number;
  size: number;
  mtimeNs: bigint;
  major?: number;
  minor?: number;
  link?: string;
  sha256?: string;
  xattrs: Record<string, string>;
  ino: bigint;
  nlink: number;
}

/** major/minor of a Linux dev_t (glibc encoding). */
export function devParts(rdev: number | bigint): { major: number; minor: number } {
  const d = BigInt(rdev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
  const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
  return { major, minor };
}

function typeOf(st: fs.BigIntStats): NodeFacts['type'] {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

/** xattrsOf returns every extended attribute of `p` (not following links) as hex values. */
export function xattrsOf(p: string | Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of llistxattr(p).sort()) {
    const v = lgetxattr(p, name);
    if (v !== undefined) out[name] = v.toString('hex');
  }
  return out;
}

/** factsOf describes one path. */
export function factsOf(p: string | Buffer): NodeFacts {
  const st = fs.lstatSync(p, { bigint: true });
  const type = typeOf(st);
  const facts: NodeFacts = {
    type,
    perm: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: Number(st.size),
    mtimeNs: st.mtimeNs,
    xattrs: xattrsOf(p),
    ino: st.ino,
    nlink: Number(st.nlink),
  };
  if (type === 'char' || type === 'block') Object.assign(facts, devParts(st.rdev));
  if (type === 'symlink') facts.link = fs.readlinkSync(p, { encoding: 'buffer' }).toString('latin1');
  if (type === 'file') facts.sha256 = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
  return facts;
}

/**
 * snapshotTree describes every path below `root` (keys are byte-string relative paths, '' is
 * the root itself). Hardlinked paths share an inode number, so link structure is comparable.
 */
export function snapshotTree(root: string): Map<string, NodeFacts> {
  const out = new Map<string, NodeFacts>();
  const rootBytes = Buffer.from(root);
  const walk = (rel: string): void => {
    const abs = rel === '' ? rootBytes : Buffer.concat([rootBytes, Buffer.from(`/${rel}`, 'latin1')]);
    const facts = factsOf(abs);
    out.set(rel, facts);
    if (facts.type !== 'dir') return;
    for (const name of fs.readdirSync(abs, { encoding: 'buffer' }).map((b) => b.toString('latin1')).sort()) {
      walk(rel === '' ? name : `${rel}/${name}`);
    }
  };
  walk('');
  return out;
}

/**
 * comparable drops what a tar round trip legitimately changes (inode numbers become a link
 * group, times are whole seconds, directory sizes are filesystem-specific).
 */
export function comparable(tree: Map<string, NodeFacts>, opts: { seconds?: boolean; skipRootTimes?: boolean } = {}): Record<string, unknown> {
  const groups = new Map<bigint, string>();
  const out: Record<string, unknown> = {};
  for (const [rel, f] of tree) {
    const { ino, mtimeNs, size, ...rest } = f;
    let linkGroup: string | undefined;
    if (f.type !== 'dir' && f.nlink > 1) {
      if (!groups.has(ino)) groups.set(ino, rel);
      linkGroup = groups.get(ino);
    }
    const time = opts.seconds ? mtimeNs / 1_000_000_000n : mtimeNs;
    out[rel] = {
      ...rest,
      size: f.type === 'dir' ? undefined : size,
      mtime: rel === '' && opts.skipRootTimes ? undefined : String(time),
      linkGroup,
    };
  }
  return out;
}

/** abs joins a root with a byte-string relative path. */
export function absPath(root: string, rel: string): Buffer {
  return Buffer.concat([Buffer.from(root), Buffer.from(`/${rel}`, 'latin1')]);
}

