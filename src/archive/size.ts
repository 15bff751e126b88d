/** Sizes of layer contents, counted the way overlay2 counts them. */
import fs from 'node:fs';
import { AT_FDCWD, lstatAt, openAt } from '../sys/libc';
import { ByteRoot, joinRel } from './entry-path';

/**
 * directorySize adds up the apparent sizes of everything but directories under `root`,
 * counting each inode once (hardlinks) and skipping empty entries (whiteout devices).
 * docker ps -s asks this of every container each time, so entries are stat'ed relative to an
 * open fd of their directory: half the cost of an lstat of the full path.
 */
export function directorySize(root: string): number {
  const br = new ByteRoot(root);
  const seen = new Set<bigint>();
  let size = 0;
  const walk = (rel: string): void => {
    const dir = br.path(rel);
    const fd = openAt(AT_FDCWD, dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
    try {
      for (const d of fs.readdirSync(dir, { withFileTypes: true, encoding: 'buffer' })) {
        if (d.isDirectory()) {
          walk(joinRel(rel, d.name.toString('latin1')));
          continue;
        }
        const st = lstatAt(fd, d.name);
        if (st.size === 0) continue;
        if (st.nlink > 1) {
          if (seen.has(st.ino)) continue;
          seen.add(st.ino);
        }
        size += st.size;
      }
    } finally {
      fs.closeSync(fd);
    }
  };
  walk('');
  return size;
}
