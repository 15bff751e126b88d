/**
 * Which layer media types the differ takes (pure). Compare writes what containerd's walking
 * differ writes: an uncompressed or a gzip tar, gzip when no type is asked for. Apply takes the
 * layer types containerd itself unpacks without a stream processor (OCI and Docker, plain, gzip
 * or zstd; the data's own magic decides, as in containerd); anything else (encrypted layers, a
 * processor's types) is left to the next differ.
 */
export const LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
export const LAYER_TAR_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

/** diffCompression tells how Compare compresses for `mediaType`, or undefined for a type it does not write. */
export function diffCompression(mediaType: string): 'none' | 'gzip' | undefined {
  if (mediaType === '' || mediaType === LAYER_TAR_GZIP) return 'gzip';
  if (mediaType === LAYER_TAR) return 'none';
  return undefined;
}

const APPLIED = new Set([
  LAYER_TAR,
  LAYER_TAR_GZIP,
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  'application/vnd.docker.image.rootfs.diff.tar',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
]);

/** appliedType tells whether Apply takes a layer of `mediaType`. */
export function appliedType(mediaType: string): boolean {
  return APPLIED.has(mediaType);
}
