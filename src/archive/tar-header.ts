/**
 * Tar header encoding and decoding (pure): ustar blocks, PAX records (binary-safe), GNU long
 * names and base-256 numbers. Names are carried as "byte strings" (latin1: one char per byte),
 * so file names that are not UTF-8 survive untouched; see bytePath().
 */

import path from 'node:path';
import { InvalidArchiveError } from '../errors';

export const BLOCK = 512;

export type EntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

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
  sparse?: { regions: Array<{ offset: number; length: number }>; realSize: number; mapInData: boolean };
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
const TYPEFLAGS: Record<EntryType, string> = {
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

// ---------- decoding ----------

function cstring(buf: Buffer, off: number, len: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString('latin1', off, end === -1 || end > off + len ? off + len : end);
}

/**
 * parseNumeric reads an octal field, or a base-256 one (high bit set) as GNU tar writes large
 * values. It throws InvalidArchiveError for text that is not octal, and for base-256 numbers
 * that are negative or beyond 2^53 (Go's reader takes negative ones, then refuses them as
 * sizes; no id, time or device number in a layer is negative, so Strata refuses them all).
 */
export function parseNumeric(buf: Buffer, off: number, len: number, what = 'numeric'): number {
  if (buf[off]! & 0x80) {
    if (buf[off]! & 0x40) throw new InvalidArchiveError(`its ${what} field holds a negative base-256 number`);
    let value = BigInt(buf[off]! & 0x7f);
    for (let i = 1; i < len; i++) value = (value << 8n) | BigInt(buf[off + i]!);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidArchiveError(`its ${what} field holds a base-256 number too large to use`);
    return Number(value);
  }
  const text = cstring(buf, off, len).replace(/[ \0]+$/, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new InvalidArchiveError(`its ${what} field holds ${JSON.stringify(text)}, not an octal number`);
  return parseInt(text, 8);
}

/** checksumsOf returns a block's checksum with bytes read unsigned, and read signed (as old Sun tar summed). */
function checksumsOf(block: Buffer): [number, number] {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 32 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return [unsigned, signed];
}

/** checksumOk tells whether a block's stored checksum matches either way of summing it. */
export function checksumOk(block: Buffer): boolean {
  try {
    return checksumsOf(block).includes(parseNumeric(block, 148, 8, 'checksum'));
  } catch {
    return false;
  }
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
  /** old GNU sparse: regions in the header, whether extension blocks follow, real size */
  gnuSparse?: { regions: Array<{ offset: number; length: number }>; extended: boolean; realSize: number };
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

/** readSparseRegions reads up to `count` (offset, numbytes) pairs of 12+12 bytes from an old GNU sparse block. */
export function readSparseRegions(block: Buffer, off: number, count: number): Array<{ offset: number; length: number }> {
  const regions: Array<{ offset: number; length: number }> = [];
  for (let i = 0; i < count; i++) {
    const at = off + i * 24;
    if (block[at] === 0) break;
    regions.push({ offset: parseNumeric(block, at, 12, 'GNU sparse offset'), length: parseNumeric(block, at + 12, 12, 'GNU sparse length') });
  }
  return regions;
}

/** PAX_TEXT_KEYS are the records whose values become names, where Go's reader refuses a NUL. */
const PAX_TEXT_KEYS = new Set(['path', 'linkpath', 'uname', 'gname']);

/**
 * parsePax parses PAX extended header records in order; values stay raw bytes (xattrs may be
 * binary) and repeated keys are kept (GNU sparse 0.0 repeats offset/numbytes). Like Go's
 * parsePAXRecord it throws InvalidArchiveError for a record whose length is not a decimal
 * number of at least 5 that ends inside the data on a newline, without "=", with an empty key,
 * a NUL in its key or a NUL in a name value, and for trailing bytes that are no record. Go
 * also takes a "+" before the length; Strata takes digits only (no tar writer adds a sign).
 */
export function parsePax(data: Buffer): Array<[string, Buffer]> {
  const records: Array<[string, Buffer]> = [];
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    const digits = space === -1 ? '' : data.toString('latin1', pos, space);
    if (!/^\d{1,12}$/.test(digits)) throw new InvalidArchiveError(`PAX record at offset ${pos} does not start with its length`);
    const len = Number(digits);
    if (len < 5 || len > data.length - pos || len <= digits.length + 1) {
      throw new InvalidArchiveError(`PAX record at offset ${pos} claims ${len} bytes, of ${data.length - pos} left`);
    }
    if (data[pos + len - 1] !== 0x0a) throw new InvalidArchiveError(`PAX record at offset ${pos} does not end with a newline where its length says`);
    const record = data.subarray(space + 1, pos + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq <= 0) throw new InvalidArchiveError(`PAX record at offset ${pos} has ${eq === 0 ? 'an empty key' : 'no "="'}`);
    const key = record.toString('utf8', 0, eq);
    const value = record.subarray(eq + 1);
    if (key.includes('\0') || (PAX_TEXT_KEYS.has(key) && value.includes(0))) throw new InvalidArchiveError(`PAX record ${JSON.stringify(key)} holds a NUL byte`);
    records.push([key, value]);
    pos += len;
  }
  return records;
}

const MAX_INT64 = 2n ** 63n - 1n;

/**
 * parsePaxTime converts "1577934245.6" to nanoseconds since the epoch, with Go's parsePAXTime
 * rules: decimal seconds that fit an int64, optional fraction digits (cut after nine). It throws
 * InvalidArchiveError for anything else.
 */
export function parsePaxTime(text: string): bigint {
  const m = /^([-+]?)(\d+)(?:\.(\d*))?$/.exec(text);
  if (!m || BigInt(m[2]!) > MAX_INT64) throw new InvalidArchiveError(`invalid PAX time ${JSON.stringify(text)}`);
  const frac = (m[3] ?? '').padEnd(9, '0').slice(0, 9);
  const ns = BigInt(m[2]!) * 1_000_000_000n + BigInt(frac);
  return m[1] === '-' ? -ns : ns;
}

// ---------- encoding ----------

// Header fields are short, so plain byte stores beat a round trip through Buffer.write.
function writeString(block: Buffer, value: string, off: number, len: number): void {
  const n = Math.min(value.length, len);
  for (let i = 0; i < n; i++) block[off + i] = value.charCodeAt(i) & 0xff; // latin1, as Buffer.write does
}

/** writeOctal writes `value` as len-1 zero-padded octal digits and a NUL; callers make sure it fits. */
function writeOctal(block: Buffer, value: number, off: number, len: number): void {
  let rest = value;
  for (let i = off + len - 2; i >= off; i--) {
    block[i] = 0x30 + (rest % 8);
    rest = Math.floor(rest / 8);
  }
  block[off + len - 1] = 0;
}

/** fitsOctal tells whether a value fits an octal field of `len` bytes (with its terminator). */
export function fitsOctal(value: number, len: number): boolean {
  return value >= 0 && value < 8 ** (len - 1);
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
  mtimeSec: number;
  /** sub-second part of the mtime; when non-zero Go writes the whole mtime as a PAX record */
  mtimeNsec?: number;
  /** access and change times, which Go can only write as PAX records */
  atime?: PaxTime;
  ctime?: PaxTime;
  linkname?: string;
  uname?: string;
  gname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Map<string, Buffer>;
}

/** PaxTime is a time as Go's tar writer takes it: seconds and nanoseconds. */
export interface PaxTime {
  sec: number;
  nsec: number;
}

/** formatPaxTime writes a time as Go's formatPAXTime does: seconds, and the fraction without trailing zeros. */
export function formatPaxTime(t: PaxTime): string {
  if (t.nsec === 0) return String(t.sec);
  return `${t.sec}.${String(t.nsec).padStart(9, '0')}`.replace(/0+$/, '');
}

function isAscii(s: string): boolean {
  return /^[\x00-\x7f]*$/.test(s);
}

/** toAscii drops every byte Go's toASCII drops (non-ASCII and NUL) from a byte string. */
function toAscii(s: string): string {
  return s.replace(/[^\x01-\x7f]/g, '');
}

// USTAR splits long names at a '/' into a 155-byte prefix and a 100-byte name (Go's splitUSTARPath).
function splitUstarName(name: string): [string, string] | undefined {
  if (name.length <= 100) return ['', name];
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (prefix.length <= 155 && rest.length <= 100 && rest.length > 0) return [prefix, rest];
    if (rest.length > 100) break;
  }
  return undefined;
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length > len) len++;
  return Buffer.concat([Buffer.from(String(len), 'latin1'), body]);
}

/**
 * writeName writes a name field as Go's formatString does: truncated to the field, and when
 * truncation leaves trailing slashes, the first of them becomes the terminating NUL.
 */
function writeName(block: Buffer, value: string, off: number, len: number): void {
  writeString(block, value, off, len);
  if (value.length > len && value[len - 1] === '/') block[off + value.slice(0, len - 1).replace(/\/+$/, '').length] = 0;
}

function checksummed(block: Buffer): Buffer {
  writeString(block, 'ustar\x0000', 257, 8);
  // The checksum field is still zero, so checksumOf's eight spaces are simply added (a tighter loop).
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) sum += block[i]!;
  writeOctal(block, sum, 148, 7);
  block[155] = 0x20;
  return block;
}

/** mainBlock is Go's templateV7Plus: every numeric field written, 0 where the value does not fit. */
function mainBlock(f: HeaderFields, name: string, prefix: string, block: Buffer): Buffer {
  writeName(block, name, 0, 100);
  writeOctal(block, f.mode & 0o7777777, 100, 8);
  writeOctal(block, fitsOctal(f.uid, 8) ? f.uid : 0, 108, 8);
  writeOctal(block, fitsOctal(f.gid, 8) ? f.gid : 0, 116, 8);
  writeOctal(block, fitsOctal(f.size, 12) ? f.size : 0, 124, 12);
  writeOctal(block, fitsOctal(f.mtimeSec, 12) ? f.mtimeSec : 0, 136, 12);
  writeString(block, TYPEFLAGS[f.type], 156, 1);
  writeName(block, f.linkname ?? '', 157, 100);
  writeString(block, f.uname ?? '', 265, 32);
  writeString(block, f.gname ?? '', 297, 32);
  writeOctal(block, fitsOctal(f.devmajor ?? 0, 8) ? (f.devmajor ?? 0) : 0, 329, 8);
  writeOctal(block, fitsOctal(f.devminor ?? 0, 8) ? (f.devminor ?? 0) : 0, 337, 8);
  writeString(block, prefix, 345, 155);
  return checksummed(block);
}

/** paxHeaderBlock is Go's writeRawFile for a PAX header: name, zero ids and times, the size. */
function paxHeaderBlock(entryName: string, size: number): Buffer {
  const cut = entryName.lastIndexOf('/') + 1;
  const name = toAscii(path.posix.join(entryName.slice(0, cut), 'PaxHeaders.0', entryName.slice(cut))).slice(0, 100).replace(/\/+$/, '');
  const block = Buffer.alloc(BLOCK);
  writeString(block, name, 0, 100);
  for (const [off, len] of [[100, 8], [108, 8], [116, 8], [136, 12]] as const) writeOctal(block, 0, off, len);
  writeOctal(block, size, 124, 12);
  writeString(block, 'x', 156, 1);
  return checksummed(block);
}

/** paxRecordsFor lists, sorted by key as Go writes them, what a USTAR header cannot hold. */
function paxRecordsFor(f: HeaderFields): Array<[string, Buffer]> {
  const raw = (s: string) => Buffer.from(s, 'latin1');
  const records: Array<[string, Buffer]> = [];
  const text = (key: string, value: string, max: number) => {
    if (value.length > max || !isAscii(value)) records.push([key, raw(value)]);
  };
  const number = (key: string, value: number, len: number) => {
    if (!fitsOctal(value, len)) records.push([key, raw(String(value))]);
  };
  text('path', f.name, 100);
  text('linkpath', f.linkname ?? '', 100);
  text('uname', f.uname ?? '', 32);
  text('gname', f.gname ?? '', 32);
  number('uid', f.uid, 8);
  number('gid', f.gid, 8);
  number('size', f.size, 12);
  if (f.mtimeNsec) records.push(['mtime', raw(formatPaxTime({ sec: f.mtimeSec, nsec: f.mtimeNsec }))]);
  else number('mtime', f.mtimeSec, 12);
  if (f.atime) records.push(['atime', raw(formatPaxTime(f.atime))]);
  if (f.ctime) records.push(['ctime', raw(formatPaxTime(f.ctime))]);
  for (const [key, value] of f.xattrs ?? []) records.push([`SCHILY.xattr.${key}`, value]);
  return records.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * encodeHeader returns the header block(s) for an entry exactly as Go's archive/tar writes a
 * Docker header (Format PAX, whole-second mtime): a USTAR block, with a long ASCII name split
 * into prefix and name, when nothing else needs more; otherwise a PAX header holding every
 * record USTAR cannot (the path too, when it is long), then a main block with ASCII-only,
 * truncated fields.
 */
export function encodeHeader(f: HeaderFields): Buffer {
  const block = Buffer.alloc(BLOCK);
  if (writeUstarHeader(f, block)) return block;
  const records = paxRecordsFor(f);
  const body = Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
  const main = mainBlock({ ...f, linkname: toAscii(f.linkname ?? ''), uname: toAscii(f.uname ?? ''), gname: toAscii(f.gname ?? '') }, toAscii(f.name), '', block);
  return Buffer.concat([paxHeaderBlock(f.name, body.length), body, Buffer.alloc(padding(body.length)), main]);
}

/**
 * writeUstarHeader writes the header into `block` (BLOCK bytes, any content) when a lone USTAR
 * block holds it, and tells whether it did; encodeHeader covers every other entry.
 */
export function writeUstarHeader(f: HeaderFields, block: Buffer): boolean {
  const records = paxRecordsFor(f);
  const split = records.every(([key]) => key === 'path') ? splitUstarName(f.name) : undefined;
  if (!split || !isAscii(f.name)) return false;
  mainBlock(f, split[1], split[0], block.fill(0));
  return true;
}

/** padding returns how many zero bytes bring `size` to a block boundary. */
export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}
