/**
 * The content-store contract the differ needs (the part of containerd's content.Store it uses),
 * with no wire protocol in sight: blobs named by digest, written through a named ingest and
 * committed with an expected digest and size, carrying labels. One instance serves one
 * containerd namespace.
 */
import type { Labels } from './snapshots';

/** BlobSeal is what a written blob is committed with, known only once all its bytes are out. */
export interface BlobSeal {
  digest: string;
  size: number;
  labels: Labels;
}

export interface ContentStore {
  /** read streams a blob's bytes; NotFoundError when there is no such blob. */
  read(digest: string): AsyncIterable<Buffer>;
  /**
   * write stores `data` as one blob through the ingest `ref` (starting it over if a crashed
   * writer left some), then commits it as `seal()` says; a blob that already exists counts as written.
   */
  write(ref: string, data: AsyncIterable<Buffer>, seal: () => BlobSeal): Promise<void>;
  /** labels returns a blob's labels; NotFoundError when there is no such blob. */
  labels(digest: string): Promise<Labels>;
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
