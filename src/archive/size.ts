/** Sizes of layer contents, counted the way overlay2 counts them. */
import fs from 'node:fs';
import { ByteRoot, joinRel } from './entry-path';

/**
 * directorySize adds up the apparent sizes of everything but directories under `root`,
 * counting each inode once (hardlinks) and skipping empty entries (whiteout devices).
 */
export function directorySize(root: string): number {
  const br = new ByteRoot(root);
  const seen = new Set<bigint>();
  let size = 0;
  const walk = (rel: string): void => {
    for (const d of fs.readdirSync(br.path(rel), { withFileTypes: true, encoding: 'buffer' })) {
      const child = joinRel(rel, d.name.toString('latin1'));
      if (d.isDirectory()) {
        walk(child);
        continue;
      }
      const st = fs.lstatSync(br.path(child), { bigint: true });
      if (st.size === 0n) continue;
      if (st.nlink > 1n) {
        if (seen.has(st.ino)) continue;
        seen.add(st.ino);
      }
      size += Number(st.size);
    }
  };
  walk('');
  return size;
}
