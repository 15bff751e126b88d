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

/**
 * PlannedStack is what a mount list planned above shows, read back: the snapshot whose dir a
 * bind mount shows, or an overlay's upper and lower dirs, as snapshot ids.
 */
export type PlannedStack = { type: 'bind'; id: number; readOnly: boolean } | { type: 'overlay'; upperId?: number; lowerIds: number[] };

/**
 * readSnapshotMounts reads a mount list back into snapshot ids: undefined unless it has the shape
 * planSnapshotMounts gives and every directory in it is a snapshot dir of `layout`.
 */
export function readSnapshotMounts(layout: SnapshotLayout, mounts: readonly Mount[]): PlannedStack | undefined {
  if (mounts.length !== 1) return undefined;
  const [m] = mounts as [Mount];
  if (m.type === 'bind') {
    const id = layout.idOfFsDir(m.source);
    return id === undefined ? undefined : { type: 'bind', id, readOnly: m.options.includes('ro') };
  }
  if (m.type !== 'overlay') return undefined;
  const value = (name: string) => m.options.filter((o) => o.startsWith(`${name}=`)).map((o) => o.slice(name.length + 1));
  const [upper, ...moreUppers] = value('upperdir');
  const [lower, ...moreLowers] = value('lowerdir');
  if (moreUppers.length > 0 || moreLowers.length > 0 || lower === undefined) return undefined;
  const lowerIds = lower.split(':').map((dir) => layout.idOfFsDir(dir));
  if (lowerIds.some((id) => id === undefined)) return undefined;
  if (upper === undefined) return { type: 'overlay', lowerIds: lowerIds as number[] };
  const upperId = layout.idOfFsDir(upper);
  return upperId === undefined ? undefined : { type: 'overlay', upperId, lowerIds: lowerIds as number[] };
}
