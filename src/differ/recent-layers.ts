/**
 * The uncompressed tars of the last layers this differ wrote, kept as files beside the store.
 * A commit (dockerd's, nerdctl's) diffs a container and then applies the new layer into the
 * image's snapshot at once; that Apply reads the tar back from here instead of reading
 * containerd's blob and inflating it, which took its time from about 500 to 130 ms for a 54 MiB
 * layer.
 *
 * A kept tar is only a faster copy of a blob, never a substitute for one: it serves the
 * namespace that wrote it, it is used once, the caller checks that containerd still holds the
 * blob, and the digest of what is applied from it must be the diff id recorded (else the
 * applied files go and the blob is applied). At most two tars of at most 1 GiB each are kept,
 * for a minute; the directory is emptied at start.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { openFileBytes } from '../sys/file-bytes';

/** How many tars are kept, how large each may be, and for how long. */
export interface KeepLimits {
  maxKept: number;
  maxTarBytes: number;
  keepMs: number;
}

const DEFAULT_LIMITS: KeepLimits = { maxKept: 2, maxTarBytes: 1024 * 1024 * 1024, keepMs: 60_000 };

/** KeptLayer is one tar taken for an Apply: its file, size and bytes (undefined: the file is gone), the diff id they must hash to, and its removal. */
export interface KeptLayer {
  file: string;
  size: number;
  diffId: string;
  bytes(): Promise<AsyncIterable<Buffer> | undefined>;
  remove(): Promise<void>;
}

interface Entry {
  file: string;
  size: number;
  diffId: string;
  timer: NodeJS.Timeout;
}

export class RecentLayers {
  readonly #dir: string;
  readonly #limits: KeepLimits;
  /** by namespace and blob digest, oldest first */
  readonly #kept = new Map<string, Entry>();

  private constructor(dir: string, limits: KeepLimits) {
    this.#dir = dir;
    this.#limits = limits;
  }

  static async open(dir: string, limits: KeepLimits = DEFAULT_LIMITS): Promise<RecentLayers> {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return new RecentLayers(dir, limits);
  }

  /**
   * record starts keeping the tar of a layer being written (nothing is kept until `keep`), or
   * says undefined when no file can be made for it (a full or read-only disk): the diff goes on.
   */
  async record(): Promise<LayerRecording | undefined> {
    const file = path.join(this.#dir, randomBytes(8).toString('hex'));
    const handle = await open(file, 'wx', 0o600).catch(() => undefined);
    return handle && new LayerRecording(file, handle, this.#limits.maxTarBytes, (key, size, diffId) => this.#add(key, file, size, diffId));
  }

  /** take hands over the tar of blob `digest` written in `namespace`, if it is still kept. */
  take(namespace: string, digest: string): KeptLayer | undefined {
    const key = keyOf(namespace, digest);
    const entry = this.#kept.get(key);
    if (!entry) return undefined;
    this.#kept.delete(key);
    clearTimeout(entry.timer);
    return {
      file: entry.file,
      size: entry.size,
      diffId: entry.diffId,
      bytes: () => openFileBytes(entry.file, entry.size),
      remove: () => rm(entry.file, { force: true }),
    };
  }

  /** close forgets every kept tar and removes its file. */
  async close(): Promise<void> {
    const files = [...this.#kept.values()].map((e) => (clearTimeout(e.timer), e.file));
    this.#kept.clear();
    await Promise.all(files.map((f) => rm(f, { force: true })));
  }

  #add(key: string, file: string, size: number, diffId: string): void {
    this.#forget(key);
    const timer = setTimeout(() => this.#forget(key), this.#limits.keepMs).unref();
    this.#kept.set(key, { file, size, diffId, timer });
    for (const oldest of this.#kept.keys()) {
      if (this.#kept.size <= this.#limits.maxKept) break;
      this.#forget(oldest);
    }
  }

  #forget(key: string): void {
    const entry = this.#kept.get(key);
    if (!entry) return;
    this.#kept.delete(key);
    clearTimeout(entry.timer);
    void rm(entry.file, { force: true });
  }
}

/**
 * LayerRecording writes one layer's tar as it streams past. Past `maxBytes` it stops and keeps
 * nothing; a write that fails does the same, since the diff itself does not depend on it.
 */
export class LayerRecording {
  #pending: Promise<unknown> = Promise.resolve();
  #bytes = 0;
  #failed = false;
  #closed = false;

  constructor(
    readonly file: string,
    readonly handle: FileHandle,
    readonly maxBytes: number,
    readonly onKept: (key: string, size: number, diffId: string) => void,
  ) {}

  /** write queues `chunk` (which must not change afterwards) behind the previous write, and waits for that one. */
  async write(chunk: Buffer): Promise<void> {
    if (this.#failed) return;
    this.#bytes += chunk.length;
    if (this.#bytes > this.maxBytes) {
      this.#failed = true;
      return;
    }
    const previous = this.#pending;
    this.#pending = previous.then(() => this.handle.write(chunk)).catch(() => (this.#failed = true));
    await previous;
  }

  /** keep makes the tar available to `take` as blob `digest` of `namespace`, with the diff id its bytes hash to. */
  async keep(namespace: string, digest: string, diffId: string): Promise<void> {
    await this.#close();
    if (this.#failed) return this.discard();
    this.onKept(keyOf(namespace, digest), this.#bytes, diffId);
  }

  /** discard removes what was written. */
  async discard(): Promise<void> {
    await this.#close();
    await rm(this.file, { force: true });
  }

  async #close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pending;
    await this.handle.close().catch(() => (this.#failed = true));
  }
}

function keyOf(namespace: string, digest: string): string {
  return `${namespace}\n${digest}`;
}
