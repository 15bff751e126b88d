/**
 * Deleting large directory trees. A recursive delete inside Node allocates per entry and leaves
 * the heap grown for good (a 50k-file layer added ~120 MB of RSS), so trees go to a child `rm`.
 * --one-file-system keeps it from ever descending into something still mounted below the tree.
 */
import type { Exec } from './exec';

/** RemoveTree deletes a directory tree; a missing tree is not an error. */
export type RemoveTree = (dir: string) => Promise<void>;

/** treeRemover returns the RemoveTree that runs `rm -rf --one-file-system` through `exec`. */
export function treeRemover(exec: Exec): RemoveTree {
  return async (dir) => {
    await exec(['rm', '-rf', '--one-file-system', '--', dir], { timeoutMs: 30 * 60_000, discardStdout: true });
  };
}
