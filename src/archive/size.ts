/** Sizes of layer contents, counted the way overlay2 counts them. */
import fs from 'node:fs';
import { AT_FDCWD, openAt, sizeAt } from '../sys/libc';
import { ByteRoot, joinRel } from './entry-path';

/**
 * directorySize adds up the apparent sizes of everything but directories under `root`,
 * counting each inode once (hardlinks) and skipping empty entries (whiteout devices).
 * docker ps -s asks this of every container each time, so entries are stat'ed relative to an
 * open fd of their directory (a fraction of the cost of an lstat of the full path).
 */
export function directorySize(root: string): number {
  const br = new ByteRoot(root);
  const seen = new Set<bigint>();
  let size = 0;
  const walk = (rel: string): void => {
    const dir = br.path(rel);
    const fd = openAt(AT_FDCWD, dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
    try {
      // latin1 names are the raw bytes, whatever their encoding
      for (const d of fs.readdirSync(dir, { withFileTypes: true, encoding: 'latin1' })) {
        if (d.isDirectory()) {
          walk(joinRel(rel, d.name));
          continue;
        }
        const entry = sizeAt(fd, d.name);
        if (entry.size === 0) continue;
        if (entry.sharedIno !== undefined) {
          if (seen.has(entry.sharedIno)) continue;
          seen.add(entry.sharedIno);
        }
        size += entry.size;
      }
    } finally {
      fs.closeSync(fd);
    }
  };
  walk('');
  return size;
}

/** DiskUsage is what a tree takes on disk: allocated bytes, and inodes. */
export interface DiskUsage {
  size: number;
  inodes: number;
}

/**
 * diskUsage counts a tree the way containerd's snapshotters do (continuity's fs.DiskUsage):
 * every inode once, the root included, at its allocated size (512-byte blocks), so `ctr
 * snapshots usage`, `docker system df` and a kubelet see the same numbers as with overlayfs.
 * An entry that vanishes during the walk (a running container deletes it) is not counted.
 */
export function diskUsage(root: string): DiskUsage {
  const br = new ByteRoot(root);
  const seen = new Set<string>();
  let size = 0;
  const count = (abs: fs.PathLike): fs.Stats | undefined => {
    const st = fs.lstatSync(abs, { throwIfNoEntry: false });
    if (!st) return undefined;
    const key = `${st.dev}:${st.ino}`;
    if (!seen.has(key)) {
      seen.add(key);
      size += st.blocks * 512;
    }
    return st;
  };
  const walk = (rel: string): void => {
    let names: string[];
    try {
      names = fs.readdirSync(br.path(rel), { encoding: 'latin1' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const name of names) {
      const child = joinRel(rel, name);
      if (count(br.path(child))?.isDirectory()) walk(child);
    }
  };
  if (count(root)?.isDirectory()) walk('');
  return { size, inodes: seen.size };
}
