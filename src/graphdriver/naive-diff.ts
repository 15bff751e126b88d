/**
 * Diff, Changes and DiffSize as GraphDriver asks for them. Against the layer's direct parent
 * the answer is the layer's own diff dir (the store's native diff). Against any other parent,
 * or against none for a layer that has one, the two trees are compared file by file, as
 * moby's NaiveDiffDriver does, but through layer views rather than mounts.
 */
import { lstatSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { ChangeKind, changes as computeChanges, type Change } from '../archive/changes';
import { Locator, packChanges } from '../archive/pack';
import type { LayerView } from '../archive/view';
import { checkLayerId } from '../store/ids';
import type { LayerStore } from '../store/layer-store';

/** ChangeRecord is a change as the protocol reports it. */
export interface ChangeRecord {
  path: string;
  kind: ChangeKind;
}

function checkIds(id: string, parent: string): void {
  checkLayerId(id);
  if (parent) checkLayerId(parent, 'parent id');
}

async function changesAgainst(store: LayerStore, view: LayerView, parent: string): Promise<Change[]> {
  return computeChanges(view, parent ? await store.view(parent) : undefined);
}

/** diff streams the layer tar of `id` against `parent` (its own files when parent is its parent). */
export async function diff(store: LayerStore, id: string, parent: string): Promise<Readable> {
  checkIds(id, parent);
  if (await store.isDirectParent(id, parent)) return await store.packDiffDir(id);
  const view = await store.view(id);
  return packChanges(view, await changesAgainst(store, view, parent), { idMap: store.idMap });
}

/** changes lists what `id` changes compared with `parent`. */
export async function changes(store: LayerStore, id: string, parent: string): Promise<ChangeRecord[]> {
  checkIds(id, parent);
  return changesAgainst(store, await store.view(id), parent);
}

/** diffSize counts the bytes `id` adds over `parent`, as overlay2 does. */
export async function diffSize(store: LayerStore, id: string, parent: string): Promise<number> {
  checkIds(id, parent);
  if (await store.isDirectParent(id, parent)) return await store.diffDirSize(id);
  const view = await store.view(id);
  return changesSize(view, await changesAgainst(store, view, parent));
}

function changesSize(view: LayerView, list: readonly Change[]): number {
  const seen = new Set<bigint>();
  let size = 0;
  const locator = new Locator(view);
  for (const c of list) {
    if (c.kind === ChangeKind.Delete) continue;
    const abs = locator.locate(c.path.slice(1));
    if (!abs) continue;
    const st = lstatSync(abs, { bigint: true });
    if (st.isDirectory()) continue;
    if (st.nlink > 1n) {
      if (seen.has(st.ino)) continue;
      seen.add(st.ino);
    }
    size += Number(st.size);
  }
  return size;
}
