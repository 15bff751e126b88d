/**
 * Compare for mounts this store handed out: the lower side a view of the upper side's parents,
 * the upper side an active snapshot (or a view of a committed one). The layer is the upper
 * snapshot's own directory read against its parents' view, written as containerd's walking
 * differ writes it, compressed and stored in containerd's content store with the
 * `containerd.io/uncompressed` label (the diff id), as the walking differ does. Any other pair
 * of mounts is NotImplementedError, which sends containerd on to its next differ.
 */
import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import { Readable } from 'node:stream';
import { ChangeWriter } from '../archive/change-writer';
import type { NsTime } from '../sys/libc';
import { upperChanges } from '../archive/upper-changes';
import { LayerView } from '../archive/view';
import type { ContentScope, ContentStores } from '../core/content';
import type { Labels, Mount, Snapshotter } from '../core/snapshots';
import { NotImplementedError } from '../errors';
import type { Descriptor } from './descriptor';
import { gzipMembers } from './gzip-members';
import { LAYER_TAR, LAYER_TAR_GZIP, diffCompression } from './media-types';
import type { RecentLayers } from './recent-layers';
import { StageTimes } from './stage-times';

export const UNCOMPRESSED_LABEL = 'containerd.io/uncompressed';

export interface CompareDeps {
  store: Snapshotter;
  content: ContentStores;
  /** gzip level of the layers written (1 fastest … 9 smallest) */
  gzipLevel: number;
  /** where the tars of the layers written are kept for the Apply that may follow */
  recent?: RecentLayers;
}

export interface CompareRequest {
  lower: readonly Mount[];
  upper: readonly Mount[];
  mediaType: string;
  ref: string;
  labels: Labels;
  sourceDateEpoch?: NsTime;
  /** the caller's namespace and lease, where its call said */
  namespace?: string;
  lease?: string;
}

/** Compared describes the blob written, the size of its tar, and where the time went. */
export interface Compared {
  diff: Descriptor;
  tarBytes: number;
  stagesMs: ReturnType<StageTimes['ms']>;
}

/** compareLayers writes the diff of `upper` over `lower` into the content store and describes the blob. */
export async function compareLayers(deps: CompareDeps, req: CompareRequest): Promise<Compared> {
  const compression = diffCompression(req.mediaType);
  if (!compression) throw new NotImplementedError(`strata does not write diffs of media type ${JSON.stringify(req.mediaType)}`);
  const [lower, upper] = await Promise.all([deps.store.layers(req.lower), deps.store.layers(req.upper)]);
  if (!lower || !upper?.topKey) throw new NotImplementedError('the mounts are not snapshots of this strata store');
  const parents = upper.dirs.slice(1);
  if (parents.length !== lower.dirs.length || parents.some((dir, i) => dir !== lower.dirs[i])) {
    throw new NotImplementedError("the lower mounts are not the view of the upper snapshot's parents");
  }
  const started = now();
  const writer = new ChangeWriter(upper.dirs[0]!, {
    whiteoutTime: req.sourceDateEpoch ?? started,
    mtimeBound: req.sourceDateEpoch,
  });
  const view = new LayerView(lower.dirs);
  function* tar(): Generator<Buffer> {
    for (const change of upperChanges(upper!.dirs[0]!, view)) yield* writer.change(change);
    yield* writer.finish();
  }

  const times = new StageTimes();
  const diffId = createHash('sha256');
  let tarBytes = 0;
  const recording = await deps.recent?.record();
  const hashed = async function* (): AsyncGenerator<Buffer> {
    for await (const chunk of Readable.from(times.producing('tar', tar()), { objectMode: false }) as AsyncIterable<Buffer>) {
      const started = process.hrtime.bigint();
      diffId.update(chunk);
      tarBytes += chunk.length;
      times.add('tar', process.hrtime.bigint() - started);
      await recording?.write(chunk);
      yield chunk;
    }
  };
  const tarStream = hashed();
  const body = times.consuming('write', compression === 'gzip' ? gzipMembers(tarStream, deps.gzipLevel, os.availableParallelism(), times) : tarStream);

  const scope = scopeOf(req, upper.topKey);
  const content = deps.content(scope);
  const labels: Labels = { ...req.labels };
  const ref = req.ref || `strata-diff-${Date.now()}-${randomBytes(3).toString('base64url')}`;
  let tarDigest = '';
  let sealed = 0n;
  const { digest, size } = await content
    .write(ref, body, () => {
      sealed = process.hrtime.bigint();
      tarDigest = `sha256:${diffId.digest('hex')}`;
      if (compression === 'gzip') labels[UNCOMPRESSED_LABEL] = tarDigest;
      return labels;
    })
    .catch(async (err: unknown) => {
      await recording?.discard();
      throw err;
    });
  times.add('write', process.hrtime.bigint() - sealed);
  await recording?.keep(scope.namespace, digest, tarDigest);
  // The blob may have existed already, without the label (as the walking differ, set it then).
  if (compression === 'gzip' && (await content.info(digest)).labels[UNCOMPRESSED_LABEL] === undefined) {
    await content.setLabel(digest, UNCOMPRESSED_LABEL, labels[UNCOMPRESSED_LABEL]!);
  }
  return { diff: { mediaType: compression === 'gzip' ? LAYER_TAR_GZIP : LAYER_TAR, digest, size }, tarBytes, stagesMs: times.ms() };
}

/** scopeOf is the caller's namespace, or the one its snapshot's key starts with (`<namespace>/<n>/<key>`). */
export function scopeOf(req: { namespace?: string; lease?: string }, key: string): ContentScope {
  return { namespace: req.namespace || key.slice(0, key.indexOf('/')), lease: req.lease };
}

function now(): NsTime {
  const ns = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
  return { sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) };
}
