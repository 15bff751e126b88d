/**
 * Changes between two layer views, with the semantics of Docker's naive walker (which overlay2
 * always uses for `docker diff`): Add/Modify/Delete per name, a Modify for every directory that
 * holds a change, one Delete for a deleted directory. Subtrees that both views take from the
 * same layer directories cannot differ and are skipped, so the cost follows the upper layers.
 */
import type fs from 'node:fs';
import { lgetxattr } from '../sys/libc';
import { CAPABILITY_XATTR } from './capability';
import { joinRel } from './entry-path';
import type { LayerView, VisibleNode } from './view';

export const enum ChangeKind {
  Modify = 0,
  Add = 1,
  Delete = 2,
}

/** Change is one changed path; `path` is a byte string starting with '/'. */
export interface Change {
  path: string;
  kind: ChangeKind;
}

const S_IFDIR = 0o040000n;

function sameTime(a: bigint, b: bigint): boolean {
  if (a === b) return true;
  const [as, an] = [a / 1_000_000_000n, a % 1_000_000_000n];
  const [bs, bn] = [b / 1_000_000_000n, b % 1_000_000_000n];
  return as === bs && (an === 0n || bn === 0n);
}

/** statDifferent mirrors Docker's rule: size and mtime are ignored for directories. */
export function statDifferent(a: fs.BigIntStats, b: fs.BigIntStats): boolean {
  if (a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.rdev !== b.rdev) return true;
  if ((a.mode & S_IFDIR) !== S_IFDIR && (!sameTime(a.mtimeNs, b.mtimeNs) || a.size !== b.size)) return true;
  return false;
}

function capabilityOf(view: LayerView, node: VisibleNode, rel: string): Buffer | undefined {
  if (node.stat.isSymbolicLink()) return undefined;
  return lgetxattr(view.path(node.layer, rel), CAPABILITY_XATTR);
}

function sameLayers(a: LayerView, al: readonly number[], b: LayerView, bl: readonly number[]): boolean {
  return al.length === bl.length && al.every((i, k) => a.dirs[i] === b.dirs[bl[k]!]);
}

/** changes lists what differs in `next` compared with `prev` (no prev: everything is added). */
export function changes(next: LayerView, prev: LayerView | undefined): Change[] {
  const out: Change[] = [];
  const walk = (rel: string, nextLayers: number[], prevLayers: number[] | undefined, added: boolean): void => {
    if (prevLayers && sameLayers(next, nextLayers, prev!, prevLayers)) return;
    const sizeAtEntry = out.length;
    const nextChildren = next.children(rel, nextLayers);
    const prevChildren = prevLayers ? prev!.children(rel, prevLayers) : new Map<string, VisibleNode>();
    for (const [name, node] of nextChildren) {
      const child = joinRel(rel, name);
      const old = prevChildren.get(name);
      let childAdded = false;
      if (!old) {
        out.push({ path: `/${child}`, kind: ChangeKind.Add });
        childAdded = true;
      } else {
        prevChildren.delete(name);
        const differs =
          statDifferent(old.stat, node.stat) ||
          !bufferEqual(capabilityOf(prev!, old, child), capabilityOf(next, node, child));
        if (differs) {
          out.push({ path: `/${child}`, kind: ChangeKind.Modify });
          childAdded = true;
        }
      }
      if (node.dirLayers) walk(child, node.dirLayers, old?.dirLayers, childAdded);
    }
    for (const name of prevChildren.keys()) out.push({ path: `/${joinRel(rel, name)}`, kind: ChangeKind.Delete });
    if (out.length > sizeAtEntry && !added && rel !== '') {
      out.splice(sizeAtEntry, 0, { path: `/${rel}`, kind: ChangeKind.Modify });
    }
  };
  walk('', next.rootLayers(), prev?.rootLayers(), false);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function bufferEqual(a: Buffer | undefined, b: Buffer | undefined): boolean {
  if (!a || a.length === 0) return !b || b.length === 0;
  return b !== undefined && a.equals(b);
}
