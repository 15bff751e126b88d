/**
 * A digest of a directory tree (names, types, modes, owners, contents, link targets), to show
 * that something was left untouched. It never follows symlinks and never crosses into mounts.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';

/** treeDigest hashes everything under `root` except the names in `skip` (relative paths). */
export function treeDigest(root: string, skip: readonly string[] = []): string {
  const hash = createHash('sha256');
  const rootDev = lstatSync(root).dev;
  const walk = (rel: string): void => {
    const abs = path.join(root, rel);
    const st = lstatSync(abs);
    hash.update(`${rel}\0${st.mode}\0${st.uid}:${st.gid}\0`);
    if (st.isSymbolicLink()) hash.update(readlinkSync(abs));
    else if (st.isFile()) hash.update(readFileSync(abs));
    else if (st.isDirectory() && st.dev === rootDev) {
      for (const name of readdirSync(abs).sort()) {
        const child = rel ? path.join(rel, name) : name;
        if (!skip.includes(child)) walk(child);
      }
    }
  };
  walk('');
  return hash.digest('hex');
}

/** stagedBytes adds up the sizes of the files under `dir` (0 when it does not exist). */
export function stagedBytes(dir: string): number {
  let total = 0;
  const walk = (p: string): void => {
    let names: string[];
    try {
      names = readdirSync(p);
    } catch {
      return;
    }
    for (const n of names) {
      try {
        const st = lstatSync(path.join(p, n));
        if (st.isDirectory()) walk(path.join(p, n));
        else total += st.size;
      } catch {
        // Entries vanish while a layer is renamed into place.
      }
    }
  };
  walk(dir);
  return total;
}
