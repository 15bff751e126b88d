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
  /** stagingDir holds snapshot dirs being built or deleted; whatever is left there at start goes. */
  stagingDir(): string {
    return path.join(this.root, 'staging');
  }
}

/** snapshotIdOfDir returns the id a directory name under snapshots/ stands for, or undefined for any other name. */
export function snapshotIdOfDir(name: string): number | undefined {
  return /^[1-9][0-9]{0,15}$/.test(name) ? Number(name) : undefined;
}
