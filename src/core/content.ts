/**
 * The content-store contract the differ needs (the part of containerd's content.Store it uses),
 * with no wire protocol in sight: blobs named by digest, written through a named ingest and
 * committed with labels; the store digests what it receives (as containerd's does anyway), so a
 * writer need not digest it again. One instance serves one containerd namespace.
 */
import type { Labels } from './snapshots';

/** WrittenBlob is the digest and size the store found in what it was given. */
export interface WrittenBlob {
  digest: string;
  size: number;
}

/** BlobInfo is what the store says of a blob it holds. */
export interface BlobInfo {
  size: number;
  labels: Labels;
}

/** OpenBlob is a blob's bytes, read from its file (whose path it gives) or through the store's service. */
export type OpenBlob = { bytes: AsyncIterable<Buffer>; from: 'file'; file: string } | { bytes: AsyncIterable<Buffer>; from: 'service' };

export interface ContentStore {
  /** read opens a blob; NotFoundError when there is no such blob. */
  read(digest: string): Promise<OpenBlob>;
  /**
   * write stores `data` as one blob through the ingest `ref` (starting it over if a crashed
   * writer left some), then commits it with the labels `labels()` gives once every byte is out;
   * a blob that already exists counts as written (and keeps its labels).
   */
  write(ref: string, data: AsyncIterable<Buffer>, labels: () => Labels): Promise<WrittenBlob>;
  /** info describes a blob; NotFoundError when there is no such blob. */
  info(digest: string): Promise<BlobInfo>;
  /** setLabel sets one label of a blob. */
  setLabel(digest: string, key: string, value: string): Promise<void>;
}

/** ContentScope is whose content a call reaches: a namespace, and the lease new blobs are held by. */
export interface ContentScope {
  namespace: string;
  /** the caller's lease; without one, a store keeps new blobs for a while by a lease of its own */
  lease?: string;
}

export type ContentStores = (scope: ContentScope) => ContentStore;
