/**
 * Apply for mounts this store handed out: a layer from containerd's content store (or the tar
 * kept by the diff that just wrote it, see recent-layers) extracted into an active snapshot's
 * empty directory with Strata's own extractor (every escape refused, bounded memory) under
 * containerd's applier's rules (see ApplyOptions.rules): whiteouts in overlay's form when the
 * snapshot has parents and carried out when it has none, as containerd does on overlay and on
 * a bind mount, and implied directories copied from the parents. Returns the uncompressed
 * layer's descriptor, the digest over every byte (trailing data included), which the caller
 * checks against the image's diff id. Anything else is NotImplementedError.
 */
import { createHash } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { applyTar } from '../archive/apply';
import type { ContentStores } from '../core/content';
import type { Mount, Snapshotter } from '../core/snapshots';
import type { FileDigests } from '../sys/file-digest';
import { NotImplementedError, UpstreamError } from '../errors';
import { IdMapping } from '../idmap';
import { scopeOf } from './compare';
import { uncompressed } from './decompress';
import type { Descriptor } from './descriptor';
import { LAYER_TAR, appliedType } from './media-types';
import type { RecentLayers } from './recent-layers';

export interface ApplyDeps {
  store: Snapshotter;
  content: ContentStores;
  /** syncFs flushes the filesystem holding `dir` (containerd's sync_fs option) */
  syncFs: (dir: string) => Promise<void>;
  /** the tars of layers this differ wrote lately, when it keeps them */
  recent?: RecentLayers;
  /** digests of large blob files on another thread, when there is one */
  fileDigests?: FileDigests;
}

export interface ApplyRequest {
  layer: Descriptor;
  mounts: readonly Mount[];
  /** stream processors' payloads: a layer that needs one is not ours to apply */
  payloadCount: number;
  syncFs: boolean;
  namespace?: string;
}

const IDENTITY = new IdMapping();
/** An uncompressed layer from a file at least this large is hashed on the digest thread; below it, the hand-off costs more than it saves. */
const OFF_THREAD_DIGEST = 8 * 1024 * 1024;

/** Applied describes the tar applied, and says where it was read: the tar kept by the diff that made it, or the blob, from its file or through containerd's Read. */
export interface Applied {
  applied: Descriptor;
  readFrom: 'recent diff' | 'content file' | 'content service';
}

/** applyLayer extracts `layer` into the snapshot `mounts` show and describes what it applied. */
export async function applyLayer(deps: ApplyDeps, req: ApplyRequest): Promise<Applied> {
  if (req.payloadCount > 0) throw new NotImplementedError('the layer needs a stream processor');
  if (!appliedType(req.layer.mediaType)) throw new NotImplementedError(`strata does not apply layers of media type ${JSON.stringify(req.layer.mediaType)}`);
  const target = await deps.store.layers(req.mounts);
  if (!target?.writable || !target.topKey) throw new NotImplementedError('the mounts are not an active snapshot of this strata store');
  const dir = target.dirs[0]!;
  // The extractor takes an empty directory only: applying over earlier content is left to containerd.
  if ((await readdir(dir)).length > 0) throw new NotImplementedError('the snapshot is not empty');

  const scope = scopeOf(req, target.topKey);
  const content = deps.content(scope);
  const parents = target.dirs.slice(1);
  let applied: Descriptor | undefined;
  let readFrom: Applied['readFrom'] = 'recent diff';
  const kept = deps.recent?.take(scope.namespace, req.layer.digest);
  if (kept) {
    try {
      // Only while containerd holds the blob for this namespace: the answer must be the one the blob gives.
      await content.info(req.layer.digest);
      const bytes = await kept.bytes();
      applied = bytes && (await extract(bytes, dir, parents, hashedElsewhere(deps, kept.file, kept.size, 'the kept tar')).catch(() => undefined));
      if (applied?.digest !== kept.diffId) {
        applied = undefined;
        await emptyDir(dir);
      }
    } finally {
      await kept.remove();
    }
  }
  if (!applied) {
    const blob = await content.read(req.layer.digest);
    readFrom = blob.from === 'file' ? 'content file' : 'content service';
    const layer = await uncompressed(blob.bytes, req.layer.size);
    // An uncompressed layer's digest is its file's: hashed beside the extraction, not in its way.
    const elsewhere = blob.from === 'file' && !layer.compression ? hashedElsewhere(deps, blob.file, req.layer.size, `blob ${req.layer.digest}`) : undefined;
    applied = await extract(layer.bytes, dir, parents, elsewhere);
  }
  if (req.syncFs) await deps.syncFs(dir);
  return { applied, readFrom };
}

/** hashedElsewhere starts the digest of the tar `file` of `size` bytes on the digest thread, when it is large enough to be worth it. */
function hashedElsewhere(deps: ApplyDeps, file: string, size: number, what: string): { digest: Promise<string>; size: number } | undefined {
  if (!deps.fileDigests || size < OFF_THREAD_DIGEST) return undefined;
  const digest = deps.fileDigests.digest(file, size).catch((err: Error) => Promise.reject(new UpstreamError(`reading ${what}: ${err.message}`)));
  digest.catch(() => {}); // awaited by extract, which throws what failed
  return { digest, size };
}

/**
 * extract applies the tar `bytes` into the empty `dir` and describes every byte read, trailing
 * data included; or, given the digest and size of those bytes as they are hashed elsewhere,
 * describes them by that.
 */
async function extract(bytes: AsyncIterable<Buffer>, dir: string, parents: string[], hashedElsewhere?: { digest: Promise<string>; size: number }): Promise<Descriptor> {
  const digest = createHash('sha256');
  let size = 0;
  const layer = bytes[Symbol.asyncIterator]();
  const next = async () => {
    const step = await layer.next();
    if (!step.done && !hashedElsewhere) {
      digest.update(step.value);
      size += step.value.length;
    }
    return step;
  };
  // The extractor may stop at the end-of-archive marker; what follows is still read and counted.
  const tarBytes: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => ({ next, return: async () => ({ done: true, value: undefined }) }) };
  try {
    await applyTar(tarBytes, dir, { idMap: IDENTITY, rules: 'containerd', parents });
    while (!(await next()).done);
  } finally {
    await layer.return?.(undefined);
  }
  if (hashedElsewhere) return { mediaType: LAYER_TAR, digest: await hashedElsewhere.digest, size: hashedElsewhere.size };
  return { mediaType: LAYER_TAR, digest: `sha256:${digest.digest('hex')}`, size };
}

async function emptyDir(dir: string): Promise<void> {
  for (const name of await readdir(dir)) await rm(path.join(dir, name), { recursive: true, force: true });
}
