/** GraphDriver.Status: the lines `docker info` shows under the storage driver. */
import type { LayerStore } from '../store/layer-store';
import { formatBytes } from '../store/size-limit';
import type { DriverOptions } from './driver-options';

/** statusLines gives the Status pairs of the store, in overlay2's order and words. */
export async function statusLines(store: LayerStore, options: DriverOptions = {}): Promise<Array<[string, string]>> {
  const f = store.features;
  const limit = options.defaultSizeLimit;
  return [
    ['Backing Filesystem', f.backingFs],
    ['Supports d_type', String(f.dTypeSupported)],
    ['Native Overlay Diff', String(f.nativeDiff)],
    ['userxattr', 'false'],
    ['Layers', String(await store.layerCount())],
    ['Size Limits', f.sizeLimits ? 'available (--storage-opt size=, default strata.size=): each limited container layer is an ext4 image file on a loop device' : 'not available: the host lacks loop devices, ext4 or mkfs.ext4'],
    ...(limit ? [['Default Size Limit', `${formatBytes(limit.bytes)} (${limit.option})`] as [string, string]] : []),
    ['Strata Version', store.version],
  ];
}
