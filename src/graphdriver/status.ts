/** GraphDriver.Status: the lines `docker info` shows under the storage driver. */
import type { LayerStore } from '../store/layer-store';

/** statusLines gives the Status pairs of the store, in overlay2's order and words. */
export async function statusLines(store: LayerStore): Promise<Array<[string, string]>> {
  const f = store.features;
  return [
    ['Backing Filesystem', f.backingFs],
    ['Supports d_type', String(f.dTypeSupported)],
    ['Native Overlay Diff', String(f.nativeDiff)],
    ['userxattr', 'false'],
    ['Layers', String(await store.layerCount())],
    ['Strata Version', store.version],
  ];
}
