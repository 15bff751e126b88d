/**
 * What containerd's applier gives a directory that a layer implies (names a child of) without
 * holding it: the attributes of the same directory in the nearest lower layer that has it —
 * owner, mode, times, and its xattrs but trusted.* ones — or nothing when the nearest layer
 * that has the name holds something else there.
 */
import fs from 'node:fs';
import { errnoOf } from '../errors';
import { lgetxattr, llistxattr, lsetxattr, lutimesNs } from '../sys/libc';
import { ByteRoot } from './entry-path';

/** adoptLowerDir gives the new directory `target` (layer path `rel`) the attributes of its copy in `parents` (nearest first). */
export function adoptLowerDir(parents: readonly string[], rel: string, target: Buffer): void {
  for (const parent of parents) {
    const source = new ByteRoot(parent).path(rel);
    let st: fs.BigIntStats;
    try {
      st = fs.lstatSync(source, { bigint: true });
    } catch (err) {
      if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') continue;
      throw err;
    }
    if (!st.isDirectory()) return;
    fs.lchownSync(target, Number(st.uid), Number(st.gid));
    fs.chmodSync(target, Number(st.mode) & 0o7777);
    const ns = (t: bigint) => ({ sec: Number(t / 1_000_000_000n), nsec: Number(t % 1_000_000_000n) });
    lutimesNs(target, ns(st.atimeNs), ns(st.mtimeNs));
    for (const name of llistxattr(source)) {
      if (name.startsWith('trusted.')) continue;
      const value = lgetxattr(source, name);
      if (value !== undefined) lsetxattr(target, name, value);
    }
    return;
  }
}
