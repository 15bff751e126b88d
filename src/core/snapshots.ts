/**
 * The snapshot contract: what a store of copy-on-write filesystem snapshots promises to any
 * front end, with no wire protocol in sight. Its shape is containerd's `core/snapshots`
 * interface, because containerd, dockerd 26+ and Kubernetes' CRI drive it that way; the
 * containerd gRPC front end (`src/snapshots/`) only translates messages and error kinds.
 *
 * Keys are opaque strings chosen by the caller (`default/12/sha256:…`, with spaces and
 * slashes): they are never a path. Errors are the kinds of `src/errors.ts`:
 * NotFoundError, AlreadyExistsError, InvalidArgumentError, FailedPreconditionError.
 */

/** Kind is a snapshot's state: a view and an active snapshot are mounted, a committed one is a parent. */
export type Kind = 'view' | 'active' | 'committed';

export type Labels = Record<string, string>;

/** SnapshotInfo is what a snapshot's metadata says about it. */
export interface SnapshotInfo {
  /** the key of an active snapshot or view, the name of a committed one */
  name: string;
  /** the name of the committed snapshot it builds on; '' for none */
  parent: string;
  kind: Kind;
  /** microseconds since the epoch */
  createdUs: number;
  updatedUs: number;
  labels: Labels;
}

/** Usage is the space a snapshot takes on its own (not its parents'): bytes in blocks, and inodes. */
export interface Usage {
  size: number;
  inodes: number;
}

/**
 * Mount describes a mount for the caller to perform (containerd's mount.Mount); the store never
 * mounts snapshots itself.
 */
export interface Mount {
  type: string;
  source: string;
  options: string[];
}

/**
 * MountedLayers is what a mount list the store handed out shows: its directories, top first
 * (what a differ diffs and an applier writes into), and the snapshot whose directory is on top.
 */
export interface MountedLayers {
  dirs: string[];
  /** the key of the snapshot whose own directory is dirs[0]; absent when there are no dirs */
  topKey?: string;
  /** whether the mounts write into dirs[0] (an active snapshot's mounts) */
  writable: boolean;
}

/** Snapshotter is the contract of a snapshot store. */
export interface Snapshotter {
  /** stat returns the info of `key`; NotFoundError when there is none. */
  stat(key: string): Promise<SnapshotInfo>;
  /**
   * update changes the mutable fields of `info.name`: with no field paths every label is
   * replaced, `labels` replaces them all, `labels.<k>` sets or (absent or empty in `info`)
   * deletes one. Any other path is InvalidArgumentError. Returns the updated info.
   */
  update(info: Pick<SnapshotInfo, 'name' | 'labels'>, fieldPaths: readonly string[]): Promise<SnapshotInfo>;
  /** usage measures an active snapshot now and returns what a committed one measured at commit; a view uses nothing. */
  usage(key: string): Promise<Usage>;
  /** mounts returns the mounts of an active snapshot or view; FailedPreconditionError for a committed one. */
  mounts(key: string): Promise<Mount[]>;
  /**
   * prepare creates an active (writable) snapshot on top of the committed `parent` ('' for an
   * empty one). AlreadyExistsError when the key exists, NotFoundError for an unknown parent,
   * InvalidArgumentError for a parent that is not committed.
   */
  prepare(key: string, parent: string, labels: Labels): Promise<Mount[]>;
  /** view creates a read-only snapshot of the committed `parent`, with the same errors as prepare. */
  view(key: string, parent: string, labels: Labels): Promise<Mount[]>;
  /**
   * commit turns the active snapshot `key` into the committed snapshot `name`, keeping its data
   * and replacing its labels. NotFoundError for an unknown key, FailedPreconditionError when it
   * is not active, AlreadyExistsError when `name` exists.
   */
  commit(name: string, key: string, labels: Labels): Promise<void>;
  /**
   * remove deletes a snapshot: the key is gone when it returns, the space comes back in the
   * background. NotFoundError for an unknown key, FailedPreconditionError while it has children.
   */
  remove(key: string): Promise<void>;
  /**
   * layers reads back mounts this store handed out (as mounts() or prepare() gave them, for a
   * snapshot that still exists); undefined for any other mounts. An empty list is an empty view.
   */
  layers(mounts: readonly Mount[]): Promise<MountedLayers | undefined>;
  /** list returns every snapshot's info, parents before children. */
  list(): Promise<SnapshotInfo[]>;
  /** cleanup deletes whatever lies in the store's directories that no snapshot owns; the space comes back in the background. */
  cleanup(): Promise<void>;
  /** close waits for background deletes and releases the metadata store. */
  close(): Promise<void>;
}
