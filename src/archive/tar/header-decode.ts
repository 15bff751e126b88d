/**
 * USTAR header decoding (pure): one 512-byte block to its fields, its checksum, the zero block
 * that ends an archive, and the name a header gives.
 */
import { InvalidArchiveError } from '../../errors';
import { BLOCK } from './entry';
import { parseNumeric } from './numbers';
import { readSparseRegions, type GnuSparseHeader } from './sparse';

function cstring(buf: Buffer, off: number, len: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString('latin1', off, end === -1 || end > off + len ? off + len : end);
}

// The checksum field itself counts as eight spaces.
const CHECKSUM_OFFSET = 148;
const CHECKSUM_LENGTH = 8;

/**
 * checksumOk tells whether a block's stored checksum matches either way of summing it: bytes
 * read unsigned, or signed (as old Sun tar summed). One pass: the signed sum is the unsigned one
 * less 256 for each byte above 127.
 */
export function checksumOk(block: Buffer): boolean {
  let unsigned = CHECKSUM_LENGTH * 0x20;
  let high = 0;
  for (let i = 0; i < BLOCK; i++) {
    if (i === CHECKSUM_OFFSET) i += CHECKSUM_LENGTH;
    const b = block[i]!;
    unsigned += b;
    if (b > 127) high++;
  }
  let stored: number;
  try {
    stored = parseNumeric(block, CHECKSUM_OFFSET, CHECKSUM_LENGTH, 'checksum');
  } catch {
    return false;
  }
  return stored === unsigned || stored === unsigned - 256 * high;
}

/** isZeroBlock tells whether a block is all zeros (end-of-archive marker). */
export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

export interface RawHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  gnuSparse?: GnuSparseHeader;
}

/** headerName returns the name a header block gives, with its USTAR prefix; it never throws. */
export function headerName(block: Buffer): string {
  const name = cstring(block, 0, 100);
  if (block.toString('latin1', 257, 263) !== 'ustar\0') return name;
  const prefix = cstring(block, 345, 155);
  return prefix ? `${prefix}/${name}` : name;
}

/**
 * decodeHeader parses one 512-byte header block. It throws InvalidArchiveError for a bad
 * checksum (either sum is taken, as in Go's reader) and for numbers that do not parse; the
 * caller names the entry.
 */
export function decodeHeader(block: Buffer): RawHeader {
  if (!checksumOk(block)) throw new InvalidArchiveError('tar header checksum mismatch (not a tar stream, or corrupted)');
  return decodeFields(block);
}

/** decodeFields is decodeHeader for a block whose checksum the caller checked already. */
export function decodeFields(block: Buffer): RawHeader {
  const magic = block.toString('latin1', 257, 263);
  const typeflag = String.fromCharCode(block[156]!);
  const header: RawHeader = {
    name: headerName(block),
    mode: parseNumeric(block, 100, 8, 'mode'),
    uid: parseNumeric(block, 108, 8, 'uid'),
    gid: parseNumeric(block, 116, 8, 'gid'),
    size: parseNumeric(block, 124, 12, 'size'),
    mtime: parseNumeric(block, 136, 12, 'mtime'),
    typeflag,
    linkname: cstring(block, 157, 100),
    uname: cstring(block, 265, 32),
    gname: cstring(block, 297, 32),
    devmajor: parseNumeric(block, 329, 8, 'devmajor'),
    devminor: parseNumeric(block, 337, 8, 'devminor'),
  };
  if (typeflag === 'S' && magic === 'ustar ') {
    header.gnuSparse = {
      regions: readSparseRegions(block, 386, 4),
      extended: block[482] !== 0,
      realSize: parseNumeric(block, 483, 12, 'GNU sparse real size'),
    };
  }
  return header;
}
