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
