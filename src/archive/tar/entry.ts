/**
 * The tar entry model: entry types and their typeflags, the entry the reader folds out of a
 * header and its extensions, the fields the writer takes, and the 512-byte block layout both
 * share. Names are carried as "byte strings" (latin1: one char per byte), so file names that
 * are not UTF-8 survive untouched; see bytePath().
 */

export const BLOCK = 512;

export type EntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

/** SparseRegion is one stretch of a sparse file's data: where it sits in the file, and how long it is. */
export interface SparseRegion {
  offset: number;
  length: number;
}

/** TarEntry is one logical entry after PAX/GNU extensions have been folded in. */
export interface TarEntry {
  /** name as a byte string (latin1), as stored in the archive */
  name: string;
  type: EntryType;
  /** the raw typeflag, to report unsupported ones */
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** mtime and atime in nanoseconds since the epoch (atime undefined when absent) */
  mtimeNs: bigint;
  atimeNs?: bigint;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** SCHILY.xattr.* records: attribute name → raw value bytes */
  xattrs: Map<string, Buffer>;
  /** for sparse files: the data regions and the real size; the stored data is the regions in order */
  sparse?: { regions: SparseRegion[]; realSize: number; mapInData: boolean };
}

/** HeaderFields is what the writer needs for one entry (names as byte strings). */
export interface HeaderFields {
  name: string;
  type: EntryType;
  /** the mode field: Docker 20.10 keeps the S_IF* file-type bits in it, Go's FileInfoHeader does not */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** whole seconds: Docker's and containerd's writers cut mtimes to the second */
  mtimeSec: number;
  linkname?: string;
  uname?: string;
  gname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Map<string, Buffer>;
}

const TYPES: Record<string, EntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

/** TYPEFLAGS is the typeflag the writer gives each entry type. */
export const TYPEFLAGS: Record<EntryType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

/** typeOf maps a typeflag to an entry type, or undefined for ones we do not extract. */
export function typeOf(flag: string): EntryType | undefined {
  return TYPES[flag];
}

/** padding returns how many zero bytes bring `size` to a block boundary. */
export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/**
 * MAX_EXTENSION_SIZE bounds the extension data the reader holds for one entry (a PAX header, a
 * GNU long name, a GNU 1.0 sparse map), so that memory stays bounded per entry.
 */
export const MAX_EXTENSION_SIZE = 16 * 1024 * 1024;
