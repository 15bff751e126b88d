/**
 * LayerView: what a stack of layer directories looks like through overlay, computed without
 * mounting (redirect_dir and metacopy are off, so the rules are simple): the first layer that
 * has a name wins, a 0/0 character device hides the name below, an opaque directory hides
 * everything below it in lower layers.
 */
import fs from 'node:fs';
import { errnoOf } from '../errors';
import { lgetxattr } from '../sys/libc';
import { ByteRoot, joinRel } from './entry-path';
import { OPAQUE_XATTR, isOpaqueValue, isWhiteoutDevice } from './whiteout';

/** VisibleNode is one name as the merged view shows it. */
export interface VisibleNode {
  /** index of the layer that provides it (0 = top) */
  layer: number;
  stat: fs.BigIntStats;
  /** for directories: the layers (top first) whose copies of it merge into the view */
  dirLayers?: number[];
}

export class LayerView {
  readonly roots: ByteRoot[];

  /** `dirs` are layer diff directories, the top layer first. */
  constructor(readonly dirs: readonly string[]) {
    this.roots = dirs.map((d) => new ByteRoot(d));
  }

  /** rootLayers are the layers that contribute to the root directory. */
  rootLayers(): number[] {
    const layers: number[] = [];
    for (let i = 0; i < this.dirs.length; i++) {
      layers.push(i);
      if (this.#isOpaque(i, '')) break;
    }
    return layers;
  }

  /** path returns the absolute path of `rel` in layer `i`. */
  path(i: number, rel: string): Buffer {
    return this.roots[i]!.path(rel);
  }

  /** children lists the visible names in directory `rel`, given the layers contributing to it. */
  children(rel: string, dirLayers: readonly number[]): Map<string, VisibleNode> {
    const out = new Map<string, VisibleNode>();
    const hidden = new Set<string>();
    for (const i of dirLayers) {
      let names: Buffer[];
      try {
        names = fs.readdirSync(this.path(i, rel), { encoding: 'buffer' });
      } catch (err) {
        if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') continue;
        throw err;
      }
      for (const raw of names) {
        const name = raw.toString('latin1');
        if (hidden.has(name)) continue;
        const child = joinRel(rel, name);
        const seen = out.get(name);
        if (seen) {
          // A lower copy of a visible directory merges into it unless something above hid it.
          if (seen.dirLayers && !this.#closed(seen)) {
            const st = fs.lstatSync(this.path(i, child), { bigint: true });
            if (st.isDirectory()) {
              seen.dirLayers.push(i);
              if (this.#isOpaque(i, child)) this.#close(seen);
            } else this.#close(seen);
          }
          continue;
        }
        const st = fs.lstatSync(this.path(i, child), { bigint: true });
        if (isWhiteoutDevice(st)) {
          hidden.add(name);
          continue;
        }
        const node: VisibleNode = { layer: i, stat: st };
        if (st.isDirectory()) {
          node.dirLayers = [i];
          if (this.#isOpaque(i, child)) this.#close(node);
        }
        out.set(name, node);
      }
    }
    return out;
  }

  /**
   * lookup returns what the view shows at `rel`, a name in the directory merged from
   * `dirLayers`, or undefined when it shows nothing there: the single-name form of children().
   */
  lookup(rel: string, dirLayers: readonly number[]): VisibleNode | undefined {
    let node: VisibleNode | undefined;
    for (const i of dirLayers) {
      const st = lstatIfAny(this.path(i, rel));
      if (!st) continue;
      if (!node) {
        if (isWhiteoutDevice(st)) return undefined;
        node = { layer: i, stat: st };
        if (!st.isDirectory()) return node;
        node.dirLayers = [i];
        if (this.#isOpaque(i, rel)) return node;
        continue;
      }
      // Below a visible directory only more directories merge in; anything else ends the merge.
      if (!st.isDirectory()) return node;
      node.dirLayers!.push(i);
      if (this.#isOpaque(i, rel)) return node;
    }
    return node;
  }

  readonly #closedNodes = new WeakSet<VisibleNode>();
  #closed(n: VisibleNode): boolean {
    return this.#closedNodes.has(n);
  }
  #close(n: VisibleNode): void {
    this.#closedNodes.add(n);
  }

  #isOpaque(i: number, rel: string): boolean {
    try {
      return isOpaqueValue(lgetxattr(this.path(i, rel), OPAQUE_XATTR));
    } catch (err) {
      if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR' || errnoOf(err) === 'EPERM') return false;
      throw err;
    }
  }
}

function lstatIfAny(p: Buffer): fs.BigIntStats | undefined {
  try {
    return fs.lstatSync(p, { bigint: true, throwIfNoEntry: false });
  } catch (err) {
    if (errnoOf(err) === 'ENOTDIR') return undefined;
    throw err;
  }
}
