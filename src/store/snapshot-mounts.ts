/**
 * Planning the mounts of a snapshot (pure), as containerd's overlayfs snapshotter describes
 * them, so that the caller (containerd, its shim, dockerd 26) mounts exactly what it would
 * mount for the built-in snapshotter:
 * - no parents: a bind mount of the snapshot's own dir, `ro` for a view;
 * - a view of one parent: a read-only bind mount of that parent's dir (overlay needs two
 *   lower dirs when it has no upper one);
 * - otherwise overlay: the kernel-feature options first (index=off, and redirect_dir=off and
 *   metacopy=off where the kernel knows them, so the upper dir stays a plain diff), then
 *   workdir and upperdir for an active snapshot, then lowerdir, nearest parent first.
 */
import type { Kind, Mount } from '../core/snapshots';
import type { SnapshotLayout } from './snapshot-layout';

export interface SnapshotMountRequest {
  id: number;
  kind: Exclude<Kind, 'committed'>;
  /** ids of the parents, nearest first */
  parentIds: readonly number[];
  featureOptions: readonly string[];
}

export function planSnapshotMounts(layout: SnapshotLayout, req: SnapshotMountRequest): Mount[] {
  const readOnly = req.kind === 'view';
  if (req.parentIds.length === 0) {
    return [{ type: 'bind', source: layout.fsDir(req.id), options: [readOnly ? 'ro' : 'rw', 'rbind'] }];
  }
  if (readOnly && req.parentIds.length === 1) {
    return [{ type: 'bind', source: layout.fsDir(req.parentIds[0]!), options: ['ro', 'rbind'] }];
  }
  const options = [...req.featureOptions];
  if (!readOnly) options.push(`workdir=${layout.workDir(req.id)}`, `upperdir=${layout.fsDir(req.id)}`);
  options.push(`lowerdir=${req.parentIds.map((p) => layout.fsDir(p)).join(':')}`);
  return [{ type: 'overlay', source: 'overlay', options }];
}
