// GraphDriver semantics still housed here: Get/Put refcounts and idle mounts (entangled with create/remove locking).
/**
 * The layer store: overlay2's on-disk layout under one home, with per-id locks, mount
 * reference counts derived from the kernel's mount table, and layers that are whole or absent
 * (new layers and applied diffs are built in a staging directory and renamed into place).
 */
import { randomBytes } from 'node:crypto';
import { chownSync, mkdirSync, readlinkSync, renameSync, rmSync, rmdirSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs';
import { chown, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { applyTar } from '../archive/apply';
import { packDirectory } from '../archive/pack';
import { directorySize } from '../archive/size';
import { LayerView } from '../archive/view';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  IoError,
  NotFoundError,
  StrataError,
} from '../errors';
import type { IdMapping } from '../idmap';
import type { Logger } from '../sys/log';
import type { MountEntry } from '../sys/mountinfo';
import type { Mounter } from '../sys/mounter';
import { isMountedOver, type LoopFilesystems } from '../sys/loop-fs';
import type { RemoveTree } from '../sys/remove-tree';
import type { HostFeatures } from '../sys/probe';
import { checkLayerId, checkMountLabel, isLinkId, newLinkId } from './ids';
import { Layout, isLayerName, layerOfLinkTarget, mountPointsBelow } from './layout';
import { KeyedLock } from './locks';
import { pathExists, readOptional, writeFileAtomic } from './meta';
import { claimHome } from './owner';
import { planOverlayMount } from './mount-plan';
import { checkFreeSpace } from './size-limit';

/** MAX_DEPTH is overlay2's limit on lower layers (Docker's layer store stops at 125 anyway). */
export const MAX_DEPTH = 128;

export interface LayerStoreDeps {
  layout: Layout;
  mounter: Mounter;
  /** loopFs gives size-limited layers their own filesystems */
  loopFs: LoopFilesystems;
  log: Logger;
  features: HostFeatures;
  idMap: IdMapping;
  readMounts: () => Promise<MountEntry[]>;
  /** removeTree deletes removed layers and staging leftovers (out of process: see sys/remove-tree) */
  removeTree: RemoveTree;
  version: string;
  /**
   * idleUnmountMs keeps a layer mounted this long after its last put, so that the get that
   * usually follows (docker create mounts a container, docker start mounts it again) finds the
   * mount ready. 0 unmounts at once, as overlay2 does.
   */
  idleUnmountMs: number;
}

export interface CreateOptions {
  /** CreateReadWrite rather than Create; both make the same layer (GraphDriver's storage-opt rules use it) */
  readWrite: boolean;
  mountLabel?: string;
  /**
   * sizeLimit gives the layer a filesystem of its own of `bytes`; `option` is how the user
   * named the limit, for the error when the home has less space free.
   */
  sizeLimit?: { bytes: number; option: string };
}

interface LayerInfo {
  link: string;
  /** link ids of the lower layers, nearest first */
  lowers: string[];
  parent?: string;
  /** bytes of the layer's own filesystem (see Layout.sizeLimitFile); undefined when unlimited */
  sizeLimit?: number;
}

export class LayerStore {
  readonly #d: LayerStoreDeps;
  readonly #locks = new KeyedLock();
  readonly #refs = new Map<string, number>();
  readonly #linkOwners = new Map<string, string>();
  /** link, lowers and parent never change after create, so they are read from disk once */
  readonly #infos = new Map<string, LayerInfo>();
  /** layers still mounted after their last put, with the timer that unmounts them */
  readonly #idle = new Map<string, NodeJS.Timeout>();
  /** idle layers whose unmount has been queued behind their lock, until it is done */
  readonly #unmounting = new Map<string, Promise<void>>();
  /** removed layers' trees are deleted one after another, after the Remove has answered */
  #reclaiming: Promise<void> = Promise.resolve();
  /** how many removed layers' trees are queued or being deleted */
  #pendingDeletes = 0;

  private constructor(deps: LayerStoreDeps) {
    this.#d = deps;
  }

  /** open prepares the home, removes staging leftovers and adopts mounts that already exist. */
  static async open(deps: LayerStoreDeps): Promise<LayerStore> {
    const store = new LayerStore(deps);
    await store.#prepare();
    return store;
  }

  get home(): string {
    return this.#d.layout.home;
  }

  get features(): HostFeatures {
    return this.#d.features;
  }

  get idMap(): IdMapping {
    return this.#d.idMap;
  }

  get version(): string {
    return this.#d.version;
  }

  async #prepare(): Promise<void> {
    const { layout, idMap } = this.#d;
    const root = idMap.rootPair();
    await mkdir(layout.home, { recursive: true, mode: 0o710 });
    await chown(layout.home, 0, root.gid);
    await mkdir(layout.linksDir(), { recursive: true, mode: 0o700 });
    await this.#unmountUnder(layout.stagingDir());
    await this.#d.removeTree(layout.stagingDir());
    await mkdir(layout.stagingDir(), { recursive: true, mode: 0o700 });
    for (const m of await this.#mountsUnderHome()) {
      const id = layout.layerOfMountPoint(m.mountPoint);
      if (id) this.#refs.set(id, 1);
    }
    if (this.#refs.size > 0) this.#d.log.info({ mounted: [...this.#refs.keys()] }, 'adopted existing layer mounts');
    await this.#removeInterrupted();
    await claimHome(layout);
  }

  /** removeInterrupted deletes the layers whose ApplyDiff a crash cut short (see Layout.incompleteFile). */
  async #removeInterrupted(): Promise<void> {
    const { layout, log } = this.#d;
    for (const name of await readdir(layout.home)) {
      if (!isLayerName(name) || !pathExists(layout.incompleteFile(name))) continue;
      log.warn({ id: name }, 'removing a layer whose ApplyDiff was interrupted');
      await this.#deleteLayer(name);
    }
  }

  async #mountsUnderHome(): Promise<MountEntry[]> {
    const prefix = this.home + path.sep;
    return (await this.#d.readMounts()).filter((m) => m.mountPoint.startsWith(prefix));
  }

  // ---------- reading layers ----------

  async #readLayer(id: string): Promise<LayerInfo> {
    const cached = this.#infos.get(id);
    if (cached) return cached;
    const { layout } = this.#d;
    const link = readOptional(layout.linkFile(id))?.trim();
    if (link === undefined) {
      throw pathExists(layout.layerDir(id)) ? new StrataError('STRATA_ERR_IO', `layer ${id} is damaged: its link file is missing`) : new NotFoundError(`layer ${id} does not exist`);
    }
    const lowerText = readOptional(layout.lowerFile(id))?.trim();
    const lowers = lowerText ? lowerText.split(':').map((e) => e.replace(/^l\//, '')) : [];
    if (!isLinkId(link) || lowers.some((l) => !isLinkId(l))) {
      throw new StrataError('STRATA_ERR_IO', `layer ${id} is damaged: its link or lower file is malformed`);
    }
    const parent = readOptional(layout.parentFile(id))?.trim() || undefined;
    const limitText = readOptional(layout.sizeLimitFile(id))?.trim();
    const sizeLimit = limitText === undefined ? undefined : Number(limitText);
    if (sizeLimit !== undefined && !(Number.isSafeInteger(sizeLimit) && sizeLimit > 0)) {
      throw new StrataError('STRATA_ERR_IO', `layer ${id} is damaged: its size-limit file is malformed`);
    }
    const info = { link, lowers, parent, sizeLimit };
    this.#infos.set(id, info);
    return info;
  }

  async #layerOfLink(link: string): Promise<string> {
    const known = this.#linkOwners.get(link);
    if (known) return known;
    let target: string;
    try {
      target = readlinkSync(this.#d.layout.linkPath(link));
    } catch (err) {
      throw new StrataError('STRATA_ERR_IO', `lower layer link l/${link} is missing`, { cause: err });
    }
    const id = layerOfLinkTarget(target);
    if (!id) throw new StrataError('STRATA_ERR_IO', `lower layer link l/${link} points at ${target}`);
    this.#linkOwners.set(link, id);
    return id;
  }

  async #lowerIds(info: LayerInfo): Promise<string[]> {
    return Promise.all(info.lowers.map((l) => this.#layerOfLink(l)));
  }

  /** view is the layer's tree as its diff dirs stack up (its own first), read without mounting. */
  async view(id: string): Promise<LayerView> {
    const info = await this.#readLayer(id);
    const ids = [id, ...(await this.#lowerIds(info))];
    const dirs: string[] = [];
    for (const i of ids) dirs.push(await this.#readableDiffDir(i));
    return new LayerView(dirs);
  }

  /** isDirectParent tells whether `parent` is the layer right below `id` (both '' for a base layer). */
  async isDirectParent(id: string, parent: string): Promise<boolean> {
    return this.#isDirectParent(await this.#readLayer(id), parent);
  }

  async #isDirectParent(info: LayerInfo, parent: string): Promise<boolean> {
    if (info.lowers.length === 0) return parent === '';
    if (parent === '') return false;
    if (info.parent !== undefined) return info.parent === parent;
    return (await this.#layerOfLink(info.lowers[0]!)) === parent;
  }

  // ---------- create / remove ----------

  /** create makes an empty layer on top of `parent` (or a base layer); see overlay2's create. */
  async create(id: string, parent: string, opts: CreateOptions): Promise<void> {
    checkLayerId(id);
    if (parent) checkLayerId(parent, 'parent id');
    if (opts.mountLabel) checkMountLabel(opts.mountLabel);
    await this.#locks.with(parent ? [id, parent] : [id], async () => {
      const { layout, idMap } = this.#d;
      if (pathExists(layout.layerDir(id))) throw new AlreadyExistsError(`layer ${id} already exists`);
      if (opts.sizeLimit) this.checkSizeLimit(opts.sizeLimit);
      let lowers: string[] = [];
      if (parent) {
        const p = await this.#readLayer(parent);
        lowers = [p.link, ...p.lowers];
        if (lowers.length > MAX_DEPTH) throw new InvalidArgumentError('max depth exceeded');
        // A parent with children mounts read-only from now on, so an idle writable mount must
        // go; it goes while docker prepares the child, and the child's get waits for it.
        this.#releaseIdle(parent);
      }
      const root = idMap.rootPair();
      const link = newLinkId();
      const staging = path.join(layout.stagingDir(), `new-${randomBytes(6).toString('hex')}`);
      const stagedLimit = new Layout(path.dirname(staging)).limitDir(path.basename(staging));
      try {
        mkdirSync(staging, { mode: 0o710 });
        chownSync(staging, 0, root.gid);
        if (opts.sizeLimit) await this.#makeLimit(staging, opts.sizeLimit.bytes, Boolean(parent));
        else makeDir(path.join(staging, 'diff'), 0o755, root);
        writeFileSync(path.join(staging, 'link'), link, { mode: 0o644 });
        if (parent) {
          writeFileSync(path.join(staging, 'lower'), lowers.map((l) => layout.relativeLower(l)).join(':'), { mode: 0o644 });
          writeFileSync(path.join(staging, 'parent'), parent, { mode: 0o644 });
          if (!opts.sizeLimit) makeDir(path.join(staging, 'work'), 0o700, root);
          // Before the layer appears, as overlay2 does: a parent with children mounts read-only.
          writeFileAtomic(layout.committedFile(parent), '', 0o600);
        }
        symlinkSync(layout.linkTarget(id), layout.linkPath(link));
        renameSync(staging, layout.layerDir(id));
        this.#infos.set(id, { link, lowers, parent: parent || undefined, sizeLimit: opts.sizeLimit?.bytes });
      } catch (err) {
        if (opts.sizeLimit && isMountedOver(stagedLimit)) await this.#d.loopFs.detach(stagedLimit).catch((e: unknown) => this.#d.log.warn({ path: stagedLimit, err: e }, 'unmount failed'));
        rmSync(staging, { recursive: true, force: true });
        rmSync(layout.linkPath(link), { force: true });
        if (err instanceof StrataError) throw err;
        throw new IoError(`creating layer ${id}`, err);
      }
    });
  }

  /** checkSizeLimit throws InvalidArgumentError when this host cannot give a layer `limit`: no loop devices or mkfs.ext4, or less space free under the home. */
  checkSizeLimit(limit: { bytes: number; option: string }): void {
    if (!this.#d.features.sizeLimits) throw new InvalidArgumentError(`${limit.option} needs loop devices, ext4 and mkfs.ext4, which this host lacks`);
    const fs = statfsSync(this.#d.layout.home);
    checkFreeSpace(limit.option, limit.bytes, fs.bavail * fs.bsize);
  }

  /**
   * makeLimit gives the staged layer `staging` its own filesystem of `bytes`, mounted on its limit
   * dir, with diff (and work, for a layer with a parent) on it and linked from where the layout
   * expects them. The record of the limit goes last: a layer carrying it has its filesystem.
   */
  async #makeLimit(staging: string, bytes: number, withWork: boolean): Promise<void> {
    const { loopFs, idMap } = this.#d;
    const staged = new Layout(path.dirname(staging));
    const name = path.basename(staging);
    const root = idMap.rootPair();
    await loopFs.make(staged.limitImage(name), bytes);
    mkdirSync(staged.limitDir(name), { mode: 0o700 });
    await loopFs.attach(staged.limitImage(name), staged.limitDir(name));
    makeDir(path.join(staged.limitDir(name), 'diff'), 0o755, root);
    symlinkSync(staged.limitDiffTarget(), staged.diffDir(name));
    if (withWork) {
      makeDir(path.join(staged.limitDir(name), 'work'), 0o700, root);
      symlinkSync(staged.limitWorkTarget(), staged.workDir(name));
    }
    writeFileSync(staged.sizeLimitFile(name), String(bytes), { mode: 0o644 });
  }

  /**
   * readableDiffDir is the real path of a layer's diff dir, ready to read: a limited layer's
   * filesystem is mounted again when it is not (after a Cleanup, or a reboot unmounted
   * everything), under the layer's lock.
   */
  async #readableDiffDir(id: string): Promise<string> {
    const { layout } = this.#d;
    if ((await this.#readLayer(id)).sizeLimit === undefined) return layout.diffDir(id);
    await this.#locks.with([id], () => this.#attachLimit(id));
    return layout.limitDiffDir(id);
  }

  /** attachLimit is attachLimitLocked for a caller that holds the layer's lock. */
  async #attachLimit(id: string): Promise<void> {
    const { layout, loopFs, log } = this.#d;
    if ((await this.#readLayer(id)).sizeLimit === undefined || isMountedOver(layout.limitDir(id))) return;
    await loopFs.attach(layout.limitImage(id), layout.limitDir(id));
    log.info({ id }, 'attached the filesystem of a size-limited layer');
  }

  /** remove deletes a layer; removing one that does not exist succeeds (Docker retries removals). */
  async remove(id: string): Promise<void> {
    checkLayerId(id);
    await this.#locks.with([id], async () => {
      if (pathExists(this.#d.layout.layerDir(id))) await this.#deleteLayer(id);
    });
  }

  /**
   * deleteLayer makes an existing layer disappear at once (unlink, rename into staging) and
   * leaves unmounting and deleting its tree to the background; the caller holds its lock.
   */
  async #deleteLayer(id: string): Promise<void> {
    const { layout } = this.#d;
    const link = readOptional(layout.linkFile(id))?.trim();
    if (link && isLinkId(link)) {
      rmSync(layout.linkPath(link), { force: true });
      this.#linkOwners.delete(link);
    }
    // A mount below a directory moves with it, so the rename works while merged is mounted.
    const trash = path.join(layout.stagingDir(), `rm-${randomBytes(6).toString('hex')}`);
    try {
      renameSync(layout.layerDir(id), trash);
    } catch (err) {
      throw new IoError(`removing layer ${id}`, err);
    }
    this.#endIdle(id);
    this.#refs.delete(id);
    this.#infos.delete(id);
    this.#reclaim(trash);
  }

  #reclaim(trash: string): void {
    this.#pendingDeletes++;
    this.#reclaiming = this.#reclaiming.then(async () => {
      try {
        await this.#unmountUnder(trash);
        await this.#d.removeTree(trash);
      } catch (err) {
        // What is left stays in staging, which the next start empties.
        this.#d.log.warn({ path: trash, err }, 'deleting a removed layer failed');
      } finally {
        this.#pendingDeletes--;
      }
    });
  }

  /** settled resolves once the trees of removed layers are deleted. */
  async settled(): Promise<void> {
    await this.#reclaiming;
  }

  /** unmountUnder lazily unmounts everything mounted below `dir`, deepest first; a failure is logged and the rest go on. */
  async #unmountUnder(dir: string): Promise<void> {
    for (const m of mountPointsBelow(dir, (await this.#mountsUnderHome()).map((e) => e.mountPoint))) {
      try {
        await this.#d.mounter.unmount(m, { lazy: true });
      } catch (err) {
        this.#d.log.warn({ path: m, err }, 'unmount failed');
      }
    }
  }

  /** exists tells whether a layer directory exists. */
  async exists(id: string): Promise<boolean> {
    checkLayerId(id);
    return pathExists(this.#d.layout.layerDir(id));
  }

  // ---------- get / put ----------

  /** get returns the layer's root: its diff dir for a base layer, else an overlay mount (refcounted). */
  async get(id: string, mountLabel?: string): Promise<string> {
    checkLayerId(id);
    if (mountLabel) checkMountLabel(mountLabel);
    return this.#locks.with([id], async () => {
      const { layout, mounter, features, idMap } = this.#d;
      const info = await this.#readLayer(id);
      await this.#attachLimit(id);
      if (info.lowers.length === 0) return layout.diffDir(id);
      const merged = layout.mergedDir(id);
      const count = this.#refs.get(id) ?? 0;
      // An unmount still queued behind this get has not run yet: the mount is there to reuse.
      if (this.#endIdle(id) || count > 0 || this.#unmounting.has(id)) {
        this.#refs.set(id, count + 1);
        return merged;
      }
      await this.#unmountIdleLowers(info);
      const readOnly = pathExists(layout.committedFile(id));
      const spec = planOverlayMount(layout, {
        id,
        lowers: info.lowers,
        readOnly,
        mountLabel,
        featureOptions: features.extraMountOptions,
      });
      const root = idMap.rootPair();
      mkdirSync(merged, { recursive: true, mode: 0o700 });
      chownSync(merged, root.uid, root.gid);
      try {
        await mounter.mount(spec);
      } catch (err) {
        removeMountPoint(merged);
        throw err;
      }
      if (!readOnly && !idMap.isIdentity) chownSync(path.join(layout.workDir(id), 'work'), root.uid, root.gid);
      this.#refs.set(id, 1);
      return merged;
    });
  }

  /** put releases one get; after the last one the layer unmounts, at once or once idle long enough. */
  async put(id: string): Promise<void> {
    checkLayerId(id);
    await this.#locks.with([id], async () => {
      const count = this.#refs.get(id) ?? 0;
      if (count > 1) {
        this.#refs.set(id, count - 1);
        return;
      }
      if (count === 0) return;
      this.#refs.delete(id);
      if (this.#d.idleUnmountMs <= 0) return this.#unmountMerged(id);
      const timer = setTimeout(() => this.#releaseIdle(id), this.#d.idleUnmountMs);
      timer.unref();
      this.#idle.set(id, timer);
    });
  }

  /** unmountIdleLowers waits until no layer below `info` is mounted idle: the kernel refuses, or warns about, a lower dir that is another mount's upper dir. */
  async #unmountIdleLowers(info: LayerInfo): Promise<void> {
    for (const lowerId of [...this.#idle.keys(), ...this.#unmounting.keys()]) {
      const link = this.#infos.get(lowerId)?.link;
      if (!link || !info.lowers.includes(link)) continue;
      this.#releaseIdle(lowerId);
      await this.#unmounting.get(lowerId);
    }
  }

  /** endIdle stops the idle timer of `id`; it tells whether the layer was idle. */
  #endIdle(id: string): boolean {
    const timer = this.#idle.get(id);
    if (!timer) return false;
    clearTimeout(timer);
    this.#idle.delete(id);
    return true;
  }

  /** releaseIdle ends the idle period of `id` and queues its unmount behind its lock. */
  #releaseIdle(id: string): void {
    if (!this.#endIdle(id)) return;
    const done = this.#locks
      .with([id], async () => {
        try {
          // A get that was queued ahead of this unmount has taken the mount back into use.
          if (!this.#refs.has(id)) await this.#unmountMerged(id);
        } finally {
          this.#unmounting.delete(id);
        }
      })
      .catch((err: unknown) => this.#d.log.warn({ id, err }, 'unmounting an idle layer failed'));
    this.#unmounting.set(id, done);
  }

  /** unmountIdle unmounts `id` if it is mounted without outstanding gets; the caller holds its lock. */
  async #unmountIdle(id: string): Promise<void> {
    if (this.#endIdle(id)) await this.#unmountMerged(id);
  }

  async #unmountMerged(id: string): Promise<void> {
    const merged = this.#d.layout.mergedDir(id);
    try {
      await this.#d.mounter.unmount(merged, { lazy: true });
    } catch (err) {
      this.#d.log.warn({ id, err }, 'unmount failed');
    }
    // Removing the mount point makes the kernel drop copies of the mount in other namespaces.
    removeMountPoint(merged);
  }

  /** close unmounts idle layers and waits for removed layers to be deleted; mounts in use stay. */
  async close(): Promise<void> {
    for (const id of [...this.#idle.keys()]) this.#releaseIdle(id);
    await Promise.all(this.#unmounting.values());
    await this.settled();
  }

  /**
   * activity counts mounts and background deletes now (for metrics and status): active mounts
   * have outstanding gets, idle ones wait for their idle timer or their queued unmount.
   */
  activity(): { mounts: { active: number; idle: number }; pendingDeletes: number } {
    return { mounts: { active: this.#refs.size, idle: this.#idle.size + this.#unmounting.size }, pendingDeletes: this.#pendingDeletes };
  }

  /** mountedCount is how many gets are outstanding for a layer (0 when not mounted). */
  mountedCount(id: string): number {
    return this.#refs.get(id) ?? 0;
  }

  /** cleanup unmounts every layer mount under the home (never the home itself). */
  async cleanup(): Promise<void> {
    for (const timer of this.#idle.values()) clearTimeout(timer);
    this.#idle.clear();
    await Promise.all(this.#unmounting.values());
    await this.settled();
    await this.#unmountUnder(this.home);
    this.#refs.clear();
  }

  // ---------- metadata ----------

  /** layerCount is how many layers the home holds. */
  async layerCount(): Promise<number> {
    return (await readdir(this.home)).filter(isLayerName).length;
  }

  /** metadata gives the directories docker inspect shows as GraphDriver.Data. */
  async metadata(id: string): Promise<Record<string, string>> {
    checkLayerId(id);
    const { layout } = this.#d;
    const info = await this.#readLayer(id);
    const meta: Record<string, string> = {
      WorkDir: layout.workDir(id),
      MergedDir: layout.mergedDir(id),
      UpperDir: layout.diffDir(id),
    };
    if (info.lowers.length > 0) meta.LowerDir = (await this.#lowerIds(info)).map((l) => layout.diffDir(l)).join(':');
    return meta;
  }

  // ---------- diffs ----------

  /** applyDiff extracts a layer tar into the (empty) layer and returns its size. */
  async applyDiff(id: string, parent: string, input: AsyncIterable<Buffer>): Promise<number> {
    checkLayerId(id);
    if (parent) checkLayerId(parent, 'parent id');
    return this.#locks.with([id], async () => {
      const { layout, idMap, log } = this.#d;
      const info = await this.#readLayer(id);
      if (info.sizeLimit !== undefined) throw new FailedPreconditionError(`layer ${id} has a size limit; diffs are applied only to layers without one`);
      if (!(await this.#isDirectParent(info, parent))) {
        throw new InvalidArgumentError(`${parent ? `layer ${parent}` : 'no parent'} is not the parent of layer ${id}`);
      }
      await this.#unmountIdle(id);
      if (this.mountedCount(id) > 0) throw new FailedPreconditionError(`layer ${id} is mounted; a diff can only be applied to an unused layer`);
      if ((await readdir(layout.diffDir(id))).length > 0) throw new FailedPreconditionError(`layer ${id} already holds data; a diff can only be applied to an empty layer`);
      const root = idMap.rootPair();
      const staging = path.join(layout.stagingDir(), `apply-${randomBytes(6).toString('hex')}`);
      try {
        await writeFile(layout.incompleteFile(id), '', { mode: 0o600 });
        await mkdir(staging, { mode: 0o755 });
        await chown(staging, root.uid, root.gid);
        let ignored = 0;
        const size = await applyTar(input, staging, {
          idMap,
          onIgnoredXattr: (_entry, name, errno) => {
            if (ignored++ < 5) log.warn({ id, xattr: name, errno }, 'ignored an xattr the filesystem refused');
          },
        });
        // rename(2) replaces the empty diff dir in one step: the layer never lacks its diff dir.
        await rename(staging, layout.diffDir(id));
        await rm(layout.incompleteFile(id));
        return size;
      } catch (err) {
        await this.#d.removeTree(staging);
        await rm(layout.incompleteFile(id), { force: true });
        if (err instanceof StrataError) throw err;
        throw new IoError(`applying a diff to layer ${id}`, err);
      }
    });
  }

  /** packDiffDir streams the layer's own files (its diff against its direct parent) as a tar. */
  async packDiffDir(id: string): Promise<Readable> {
    return packDirectory(await this.#readableDiffDir(id), { idMap: this.#d.idMap });
  }

  /** diffDirSize counts the bytes of the layer's own files, as overlay2 does. */
  async diffDirSize(id: string): Promise<number> {
    return directorySize(await this.#readableDiffDir(id));
  }
}

/** makeDir creates a directory owned by the (possibly remapped) root. */
function makeDir(dir: string, mode: number, owner: { uid: number; gid: number }): void {
  mkdirSync(dir, { mode });
  chownSync(dir, owner.uid, owner.gid);
}

/** removeMountPoint deletes an empty merged dir; one still in use or already gone is left as it is. */
function removeMountPoint(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // busy (a copy of the mount elsewhere) or absent: the next get or remove deals with it
  }
}
