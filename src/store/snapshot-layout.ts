/**
 * Where a snapshot store keeps things under its root (pure). Each snapshot's directory is named
 * by its catalog id, a small integer, never by its key: every layer dir sits under one parent
 * with a short name, so that the mounting side can shorten a deep lowerdir list to relative
 * paths that fit in one page (containerd's mount code does that from pagesize - 512 bytes on).
 */
import path from 'node:path';

export class SnapshotLayout {
  constructor(readonly root: string) {}

  catalogFile(): string {
    return path.join(this.root, 'metadata.db');
  }
  snapshotsDir(): string {
    return path.join(this.root, 'snapshots');
  }
  snapshotDir(id: number): string {
    return path.join(this.root, 'snapshots', String(id));
  }
  /** fsDir is the snapshot's own files: the upper dir of an active snapshot, a lower dir of its children. */
  fsDir(id: number): string {
    return path.join(this.root, 'snapshots', String(id), 'fs');
  }
  /** idOfFsDir returns the id whose fsDir is exactly `dir`, or undefined for any other path. */
  idOfFsDir(dir: string): number | undefined {
    const prefix = `${this.snapshotsDir()}/`;
    if (!dir.startsWith(prefix) || !dir.endsWith('/fs')) return undefined;
    const id = snapshotIdOfDir(dir.slice(prefix.length, -'/fs'.length));
    return id !== undefined && this.fsDir(id) === dir ? id : undefined;
  }
  /** workDir is overlay's work dir; only active snapshots have one. */
  workDir(id: number): string {
    return path.join(this.root, 'snapshots', String(id), 'work');
  }
  /**
   * sizeLimitFile records the size limit of a limited active snapshot, in bytes. Its fs and work
   * are links into limitDir, where the filesystem of limitImage is mounted (see sys/loop-fs):
   * overlay wants upper and work dir on one mount, and the links keep the mount plans and
   * readSnapshotMounts as they are.
   */
  sizeLimitFile(id: number): string {
    return path.join(this.snapshotDir(id), SIZE_LIMIT_FILE);
  }
  limitDir(id: number): string {
    return path.join(this.snapshotDir(id), LIMIT_DIR);
  }
  limitImage(id: number): string {
    return path.join(this.snapshotDir(id), LIMIT_IMAGE);
  }
  /** limitFsDir is where a limited snapshot's files really are (its fsDir is a link to it). */
  limitFsDir(id: number): string {
    return path.join(this.snapshotDir(id), LIMIT_DIR, 'fs');
  }
  /** recentLayersDir holds the tars of the layers the differ wrote last (see differ/recent-layers); emptied at start. */
  recentLayersDir(): string {
    return path.join(this.root, 'recent-layers');
  }
  /** stagingDir holds snapshot dirs being built or deleted; whatever is left there at start goes. */
  stagingDir(): string {
    return path.join(this.root, 'staging');
  }
}

/** Names inside a snapshot dir (also of one being built in staging) for its size limit. */
export const SIZE_LIMIT_FILE = 'size-limit';
export const LIMIT_DIR = 'limit';
export const LIMIT_IMAGE = 'limit.img';

/** snapshotIdOfDir returns the id a directory name under snapshots/ stands for, or undefined for any other name. */
export function snapshotIdOfDir(name: string): number | undefined {
  return /^[1-9][0-9]{0,15}$/.test(name) ? Number(name) : undefined;
}
