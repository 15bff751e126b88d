/**
 * The overlay snapshot store: containerd's snapshot contract (`core/snapshots.ts`) over
 * directories named by catalog id, `snapshots/<id>/{fs,work}`, with the catalog in SQLite.
 *
 * Catalog and directories agree at every instant a crash can stop us:
 * - a new snapshot is built in staging and renamed to `snapshots/<id>` inside the catalog
 *   transaction that creates its row, so a crash leaves at most a directory without a row;
 * - a removed snapshot's row goes first, its directory afterwards, in the background;
 * - directories without a row (and everything in staging) are deleted when the store opens
 *   and by cleanup.
 * Catalog transactions are synchronous and never span an await, so no two interleave.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, lchownSync, lstatSync, mkdirSync, renameSync, rmSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { diskUsage } from '../archive/size';
import type { Kind, Labels, Mount, MountedLayers, SnapshotInfo, Snapshotter, Usage } from '../core/snapshots';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  IoError,
  NotFoundError,
  StrataError,
} from '../errors';
import type { Logger } from '../sys/log';
import type { RemoveTree } from '../sys/remove-tree';
import { Catalog, type SnapshotRow } from './catalog';
import { isMountedOver, type LoopFilesystems } from '../sys/loop-fs';
import { checkFreeSpace } from './size-limit';
import { checkKey, checkLabels, sizeLimitLabel, takesDefaultSizeLimit } from './snapshot-keys';
import { LIMIT_DIR, LIMIT_IMAGE, SIZE_LIMIT_FILE, SnapshotLayout, snapshotIdOfDir } from './snapshot-layout';
import { planSnapshotMounts, readSnapshotMounts } from './snapshot-mounts';

export interface SnapshotStoreDeps {
  layout: SnapshotLayout;
  log: Logger;
  /** overlay options the kernel supports that keep upper dirs plain diffs (see sys/probe) */
  mountOptions: readonly string[];
  /** removeTree deletes removed snapshots' trees (out of process: see sys/remove-tree) */
  removeTree: RemoveTree;
  /** sizeLimits lets active snapshots have a size limit; without it a max-size label is refused */
  sizeLimits?: SnapshotSizeLimits;
}

/** SnapshotSizeLimits is how limited snapshots get their filesystems, and the limit of those without a label. */
export interface SnapshotSizeLimits {
  loopFs: LoopFilesystems;
  /** bytes; applies to active snapshots without a max-size label (see takesDefaultSizeLimit) */
  defaultBytes?: number;
}


const quote = (s: string) => JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}…` : s);
const nowUs = () => Date.now() * 1000;

export class SnapshotStore implements Snapshotter {
  readonly #d: SnapshotStoreDeps;
  readonly #catalog: Catalog;
  /** names in staging whose delete is queued, so that cleanup does not queue them twice */
  readonly #reclaimQueued = new Set<string>();
  /** removed snapshots' trees are deleted one after another, after the Remove has answered */
  #reclaiming: Promise<void> = Promise.resolve();
  /** names in staging of limited snapshots being built (their build awaits mkfs and mount), which cleanup leaves alone */
  readonly #building = new Set<string>();
  /** filesystems of limited snapshots being mounted again, by snapshot id */
  readonly #attaching = new Map<number, Promise<void>>();
  /**
   * whether each snapshot looked at has a size limit: fixed when it is made, and ids are never
   * handed out again, so one look per snapshot serves every later mount of its children (a
   * look per layer per call cost half a millisecond per call on a 100-layer image)
   */
  readonly #limited = new Map<number, boolean>();

  private constructor(deps: SnapshotStoreDeps, catalog: Catalog) {
    this.#d = deps;
    this.#catalog = catalog;
  }

  /** open creates the root if needed, opens the catalog and deletes what a crash left behind. */
  static async open(deps: SnapshotStoreDeps): Promise<SnapshotStore> {
    const { layout } = deps;
    await mkdir(layout.root, { recursive: true, mode: 0o700 });
    await mkdir(layout.snapshotsDir(), { recursive: true, mode: 0o700 });
    await mkdir(layout.stagingDir(), { recursive: true, mode: 0o700 });
    const store = new SnapshotStore(deps, Catalog.open(layout.catalogFile()));
    await store.cleanup();
    await store.settled();
    return store;
  }

  get root(): string {
    return this.#d.layout.root;
  }

  async stat(key: string): Promise<SnapshotInfo> {
    return this.#catalog.info(this.#row(checkKey(key)));
  }

  async update(info: Pick<SnapshotInfo, 'name' | 'labels'>, fieldPaths: readonly string[]): Promise<SnapshotInfo> {
    checkKey(info.name, 'name');
    const given = checkLabels(info.labels);
    return this.#catalog.transaction(() => {
      const row = this.#row(info.name);
      let next: Labels = fieldPaths.length === 0 ? given : this.#catalog.labels(row.id);
      for (const p of fieldPaths) {
        if (p === 'labels') next = { ...given };
        else if (p.startsWith('labels.') && p.length > 'labels.'.length) {
          const name = p.slice('labels.'.length);
          if (given[name] === undefined) delete next[name];
          else next[name] = given[name];
        } else throw new InvalidArgumentError(`cannot update field ${quote(p)} of snapshot ${quote(info.name)}: only labels can change`);
      }
      this.#catalog.setLabels(row.id, checkLabels(next), nowUs());
      return this.#catalog.info(this.#catalog.byId(row.id)!);
    });
  }

  async usage(key: string): Promise<Usage> {
    const row = this.#row(checkKey(key));
    if (row.kind === 'active') return this.#measure(key, await this.#readableFsDir(row.id));
    return { size: row.size, inodes: row.inodes };
  }

  async mounts(key: string): Promise<Mount[]> {
    const row = this.#row(checkKey(key));
    if (row.kind === 'committed') throw new FailedPreconditionError(`snapshot ${quote(key)} is committed: only active snapshots and views have mounts`);
    return this.#plan(row.id, row.kind, this.#catalog.parentIds(row.id));
  }

  prepare(key: string, parent: string, labels: Labels): Promise<Mount[]> {
    return this.#create('active', key, parent, labels);
  }

  view(key: string, parent: string, labels: Labels): Promise<Mount[]> {
    return this.#create('view', key, parent, labels);
  }

  async commit(name: string, key: string, labels: Labels): Promise<void> {
    checkKey(name, 'name');
    checkKey(key);
    const kept = checkLabels(labels);
    const row = this.#committable(name, key);
    const usage = this.#measure(key, await this.#readableFsDir(row.id));
    this.#catalog.transaction(() => {
      // Checked again: the snapshot may have changed while its usage was measured.
      if (this.#committable(name, key).id !== row.id) throw new NotFoundError(`snapshot ${quote(key)} does not exist`);
      this.#catalog.commit(row.id, name, kept, usage, nowUs());
    });
  }

  async remove(key: string): Promise<void> {
    checkKey(key);
    const id = this.#catalog.transaction(() => {
      const row = this.#row(key);
      // containerd's own tests look for "remove" in this message.
      if (this.#catalog.hasChildren(row.id)) throw new FailedPreconditionError(`cannot remove snapshot ${quote(key)}: it has children`);
      this.#catalog.delete(row.id);
      return row.id;
    });
    this.#limited.delete(id);
    this.#discard(this.#d.layout.snapshotDir(id));
  }

  async layers(mounts: readonly Mount[]): Promise<MountedLayers | undefined> {
    const found = this.#layersOf(mounts);
    if (!found) return undefined;
    const dirs: string[] = [];
    for (const dir of found.dirs) {
      const id = this.#d.layout.idOfFsDir(dir);
      dirs.push(id === undefined ? dir : await this.#readableFsDir(id));
    }
    return { ...found, dirs };
  }

  #layersOf(mounts: readonly Mount[]): MountedLayers | undefined {
    if (mounts.length === 0) return { dirs: [], writable: false };
    const plan = readSnapshotMounts(this.#d.layout, mounts);
    if (!plan) return undefined;
    const top = this.#catalog.byId(plan.type === 'bind' ? plan.id : (plan.upperId ?? plan.lowerIds[0]!));
    if (!top) return undefined;
    const parents = this.#catalog.parentIds(top.id);
    const stack = (writable: boolean): MountedLayers => ({ dirs: [top.id, ...parents].map((id) => this.#d.layout.fsDir(id)), topKey: top.key, writable });
    const sameIds = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((id, i) => id === b[i]);
    if (plan.type === 'bind') {
      if (parents.length > 0) return undefined;
      // A view of nothing is a read-only bind of its own, empty, directory.
      if (top.kind === 'view') return plan.readOnly ? { dirs: [], writable: false } : undefined;
      if (!plan.readOnly && top.kind !== 'active') return undefined;
      return stack(!plan.readOnly);
    }
    if (plan.upperId !== undefined) return top.kind === 'active' && sameIds(parents, plan.lowerIds) ? stack(true) : undefined;
    return top.kind === 'committed' && sameIds(parents, plan.lowerIds.slice(1)) ? stack(false) : undefined;
  }

  async list(): Promise<SnapshotInfo[]> {
    return this.#catalog.all();
  }

  /**
   * cleanup takes snapshot dirs the catalog does not know and staging leftovers out of the way and
   * deletes them in the background (see settled): containerd's garbage collector waits for
   * Cleanup after every pass, with docker commands behind it.
   */
  async cleanup(): Promise<void> {
    const { layout } = this.#d;
    const names = await readdir(layout.snapshotsDir());
    // Read after the listing: a snapshot created while readdir ran is in both, never taken for a leftover.
    const known = this.#catalog.ids();
    for (const name of names) {
      const id = snapshotIdOfDir(name);
      if (id !== undefined && known.has(id)) continue;
      this.#d.log.warn({ dir: name }, 'deleting a snapshot directory the catalog does not know');
      this.#discard(path.join(layout.snapshotsDir(), name));
    }
    for (const name of await readdir(layout.stagingDir())) {
      if (!this.#reclaimQueued.has(name) && !this.#building.has(name)) this.#reclaim(path.join(layout.stagingDir(), name));
    }
  }

  /** settled resolves once the trees of removed snapshots are deleted. */
  async settled(): Promise<void> {
    await this.#reclaiming;
  }

  async close(): Promise<void> {
    await this.settled();
    this.#catalog.close();
  }

  /** activity counts snapshots by kind and the trees still being deleted (for metrics and status). */
  activity(): { snapshots: Record<Kind, number>; pendingDeletes: number } {
    return { snapshots: this.#catalog.countByKind(), pendingDeletes: this.#reclaimQueued.size };
  }

  #row(key: string): SnapshotRow {
    const row = this.#catalog.byKey(key);
    if (!row) throw new NotFoundError(`snapshot ${quote(key)} does not exist`);
    return row;
  }

  /** committable returns the active snapshot `key`, checking in containerd's order that `name` is free. */
  #committable(name: string, key: string): SnapshotRow {
    if (this.#catalog.byKey(name)) throw new AlreadyExistsError(`snapshot ${quote(name)} already exists`);
    const row = this.#row(key);
    if (row.kind !== 'active') throw new FailedPreconditionError(`snapshot ${quote(key)} is not active: only an active snapshot can be committed`);
    return row;
  }

  #measure(key: string, fsDir: string): Usage {
    try {
      return diskUsage(fsDir);
    } catch (err) {
      throw new IoError(`measuring snapshot ${quote(key)}`, err);
    }
  }

  /** plan describes the mounts of a snapshot, with the filesystems of the limited ones among it and its parents mounted. */
  async #plan(id: number, kind: Exclude<Kind, 'committed'>, parentIds: readonly number[]): Promise<Mount[]> {
    for (const i of [id, ...parentIds]) await this.#readableFsDir(i);
    return planSnapshotMounts(this.#d.layout, { id, kind, parentIds, featureOptions: this.#d.mountOptions });
  }

  async #create(kind: 'active' | 'view', key: string, parent: string, labels: Labels): Promise<Mount[]> {
    checkKey(key);
    if (parent) checkKey(parent, 'parent');
    const kept = checkLabels(labels);
    // Refused before any disk work; checked again inside the transaction.
    if (this.#catalog.byKey(key)) throw new AlreadyExistsError(`snapshot ${quote(key)} already exists`);
    // A parent committed from a limited snapshot has its files on its own filesystem.
    if (parent) await this.#readableFsDir(this.#parentRow(parent).id);
    const limit = kind === 'active' ? this.#sizeLimitFor(key, kept) : undefined;
    const { layout } = this.#d;
    const name = `new-${randomBytes(6).toString('hex')}`;
    const staging = path.join(layout.stagingDir(), name);
    let placed: string | undefined;
    try {
      // Synchronous: three mkdirs take microseconds, less than the thread-pool hops of async ones,
      // and with no await from here to the rename, cleanup never finds a create in progress. A
      // limited snapshot awaits mkfs and mount; cleanup skips it while it is being built.
      mkdirSync(staging, { mode: 0o700 });
      if (limit !== undefined) {
        this.#building.add(name);
        await this.#makeLimit(staging, limit);
      } else {
        mkdirSync(path.join(staging, 'fs'), { mode: 0o755 });
        if (kind === 'active') mkdirSync(path.join(staging, 'work'), { mode: 0o711 });
      }
      const { id, parentIds } = this.#catalog.transaction(() => {
        if (this.#catalog.byKey(key)) throw new AlreadyExistsError(`snapshot ${quote(key)} already exists`);
        const parentRow = parent ? this.#parentRow(parent) : undefined;
        const id = this.#catalog.insert(key, parentRow?.id ?? null, kind, kept, nowUs());
        const parentIds = parentRow ? [parentRow.id, ...this.#catalog.parentIds(parentRow.id)] : [];
        if (parentRow) {
          // As containerd does: a child's root has its parent's owner (user-namespaced images).
          const owner = lstatSync(this.#fsDirOf(parentRow.id));
          lchownSync(path.join(staging, limit !== undefined ? LIMIT_DIR : '', 'fs'), owner.uid, owner.gid);
        }
        renameSync(staging, layout.snapshotDir(id));
        placed = layout.snapshotDir(id);
        return { id, parentIds };
      });
      placed = undefined;
      return await this.#plan(id, kind, parentIds);
    } catch (err) {
      // The transaction rolled back: nothing but two empty directories (or an unused filesystem) to undo, at once.
      const dir = placed ?? staging;
      if (limit !== undefined) await this.#detachLimit(dir);
      rmSync(dir, { recursive: true, force: true });
      if (err instanceof StrataError) throw err;
      throw new IoError(`creating snapshot ${quote(key)}`, err);
    } finally {
      this.#building.delete(name);
    }
  }

  /** sizeLimitFor gives the limit of a new active snapshot: its max-size label, else the default (see takesDefaultSizeLimit). */
  #sizeLimitFor(key: string, labels: Labels): number | undefined {
    const own = sizeLimitLabel(labels);
    const bytes = own ?? (takesDefaultSizeLimit(key) ? this.#d.sizeLimits?.defaultBytes : undefined);
    if (bytes === undefined) return undefined;
    const option = own === undefined ? '--default-size-limit' : 'label containerd.io/snapshot/max-size';
    if (!this.#d.sizeLimits) throw new InvalidArgumentError(`${option} needs loop devices, ext4 and mkfs.ext4, which this host lacks`);
    const fs = statfsSync(this.#d.layout.root);
    checkFreeSpace(option, bytes, fs.bavail * fs.bsize);
    return bytes;
  }

  /**
   * makeLimit gives the snapshot being built in `staging` a filesystem of `bytes` on its limit
   * dir, with fs and work on it and linked from where the layout expects them; the record of the
   * limit goes last, so a snapshot carrying it has its filesystem.
   */
  async #makeLimit(staging: string, bytes: number): Promise<void> {
    const { loopFs } = this.#d.sizeLimits!;
    const limitDir = path.join(staging, LIMIT_DIR);
    await loopFs.make(path.join(staging, LIMIT_IMAGE), bytes);
    mkdirSync(limitDir, { mode: 0o700 });
    await loopFs.attach(path.join(staging, LIMIT_IMAGE), limitDir);
    mkdirSync(path.join(limitDir, 'fs'), { mode: 0o755 });
    mkdirSync(path.join(limitDir, 'work'), { mode: 0o711 });
    symlinkSync(path.join(LIMIT_DIR, 'fs'), path.join(staging, 'fs'));
    symlinkSync(path.join(LIMIT_DIR, 'work'), path.join(staging, 'work'));
    writeFileSync(path.join(staging, SIZE_LIMIT_FILE), String(bytes), { mode: 0o644 });
  }

  /** detachLimit unmounts the filesystem of the (limited) snapshot dir `dir`, if mounted; a failure is logged. */
  async #detachLimit(dir: string): Promise<void> {
    const limitDir = path.join(dir, LIMIT_DIR);
    if (!this.#d.sizeLimits || !isMountedOver(limitDir)) return;
    await this.#d.sizeLimits.loopFs.detach(limitDir).catch((err: unknown) => this.#d.log.warn({ path: limitDir, err }, 'unmount failed'));
  }

  /** fsDirOf is the real path of a snapshot's files: its fs dir, or for a limited one the fs dir on its filesystem. */
  #fsDirOf(id: number): string {
    const { layout } = this.#d;
    let limited = this.#limited.get(id);
    if (limited === undefined) {
      limited = existsSync(layout.sizeLimitFile(id));
      this.#limited.set(id, limited);
    }
    return limited ? layout.limitFsDir(id) : layout.fsDir(id);
  }

  /**
   * readableFsDir is fsDirOf with a limited snapshot's filesystem mounted again when it is not
   * (after a reboot unmounted everything); concurrent callers share one mount.
   */
  async #readableFsDir(id: number): Promise<string> {
    const { layout, log } = this.#d;
    const dir = this.#fsDirOf(id);
    if (dir === layout.fsDir(id) || isMountedOver(layout.limitDir(id))) return dir;
    let attaching = this.#attaching.get(id);
    if (!attaching) {
      if (!this.#d.sizeLimits) throw new FailedPreconditionError(`snapshot ${id} has a size limit, and this snapshotter cannot mount its filesystem`);
      attaching = this.#d.sizeLimits.loopFs
        .attach(layout.limitImage(id), layout.limitDir(id))
        .then(() => log.info({ id }, 'attached the filesystem of a size-limited snapshot'))
        .finally(() => this.#attaching.delete(id));
      this.#attaching.set(id, attaching);
    }
    await attaching;
    return dir;
  }

  #parentRow(parent: string): SnapshotRow {
    const row = this.#catalog.byKey(parent);
    if (!row) throw new NotFoundError(`parent snapshot ${quote(parent)} does not exist`);
    if (row.kind !== 'committed') throw new InvalidArgumentError(`parent snapshot ${quote(parent)} is not committed`);
    return row;
  }

  /** discard moves a directory into staging at once and deletes it in the background. */
  #discard(dir: string): void {
    const { layout, log } = this.#d;
    let target = dir;
    if (path.dirname(dir) !== layout.stagingDir()) {
      target = path.join(layout.stagingDir(), `rm-${randomBytes(6).toString('hex')}`);
      try {
        renameSync(dir, target);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        // Left where it is: cleanup and the next start find it again.
        log.warn({ path: dir, err }, 'could not move a snapshot directory out of the way');
        return;
      }
    }
    this.#reclaim(target);
  }

  #reclaim(dir: string): void {
    const name = path.basename(dir);
    this.#reclaimQueued.add(name);
    this.#reclaiming = this.#reclaiming.then(async () => {
      try {
        await this.#detachLimit(dir);
        await this.#d.removeTree(dir);
      } catch (err) {
        // What is left stays in staging, which cleanup and the next start empty.
        this.#d.log.warn({ path: dir, err }, 'deleting a removed snapshot failed');
      } finally {
        this.#reclaimQueued.delete(name);
      }
    });
  }
}
