/**
 * GraphDriver's per-layer options: `--storage-opt` of Create and CreateReadWrite. Strata
 * honours none of them, so every one is refused, each with the reason overlay2 would give.
 */
import { InvalidArgumentError } from '../errors';

/** checkStorageOptions refuses the storage options of a Create (all of them: strata has no quotas). */
export function checkStorageOptions(storageOpt: Record<string, string> | undefined, readWrite: boolean): void {
  for (const key of Object.keys(storageOpt ?? {})) {
    const k = key.toLowerCase();
    if (k !== 'size') throw new InvalidArgumentError(`unknown storage option ${JSON.stringify(key)}`);
    if (!readWrite) throw new InvalidArgumentError('--storage-opt size is only supported for read-write layers');
    throw new InvalidArgumentError('--storage-opt size needs disk quotas, which strata does not support on this host');
  }
}
