/**
 * PAX extended headers, read: the records of an extended header, PAX times, and the folding of
 * an entry's extensions (PAX records, GNU long names, GNU sparse records) into one TarEntry.
 */
import { InvalidArchiveError } from '../../errors';
import { typeOf, type TarEntry } from './entry';
import type { RawHeader } from './header-decode';
import { parseDecimal } from './numbers';
import { paxSparse } from './sparse';

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

/** Extensions are what the extension headers before an entry gave it: PAX records in order, GNU long names. */
export interface Extensions {
  pax: Array<[string, Buffer]>;
  longName?: string;
  longLink?: string;
}

/**
 * fromPax folds an entry's extensions into one TarEntry the way Go's archive/tar (and so
 * Docker) does: an empty PAX record keeps the header's own value, a GNU long name wins over a
 * PAX path, a typeflag '\0' entry whose name ends in '/' is a directory (old V7 tars), and
 * GNU.sparse.name renames only entries that are sparse. It returns the size stored in the
 * archive too, which for a sparse entry is not its size.
 */
export function fromPax(ext: Extensions, raw: RawHeader): { entry: TarEntry; storedSize: number } {
  const rec = new Map<string, Buffer>(ext.pax);
  const present = (k: string) => {
    const v = rec.get(k);
    return v && v.length > 0 ? v : undefined;
  };
  const text = (k: string) => present(k)?.toString('utf8');
  const bytes = (k: string) => present(k)?.toString('latin1');
  const num = (k: string, fallback: number) => {
    const v = text(k);
    return v === undefined ? fallback : parseDecimal(v, `PAX ${k}`);
  };
  const time = (k: string) => {
    const v = text(k);
    return v === undefined ? undefined : parsePaxTime(v);
  };
  // Go's reader parses ctime too, and refuses the entry when it is not a time.
  time('ctime');
  const name = (ext.longName || undefined) ?? bytes('path') ?? raw.name;
  const legacyDir = raw.typeflag === '\0' && name.endsWith('/');
  const type = legacyDir ? 'dir' : typeOf(raw.typeflag === 'S' ? '0' : raw.typeflag);
  const entry: TarEntry = {
    name,
    type: type ?? 'file',
    typeflag: raw.typeflag,
    mode: raw.mode,
    uid: num('uid', raw.uid),
    gid: num('gid', raw.gid),
    size: num('size', raw.size),
    mtimeNs: time('mtime') ?? BigInt(raw.mtime) * 1_000_000_000n,
    atimeNs: time('atime'),
    linkname: (ext.longLink || undefined) ?? bytes('linkpath') ?? raw.linkname,
    uname: text('uname') ?? raw.uname,
    gname: text('gname') ?? raw.gname,
    devmajor: raw.devmajor,
    devminor: raw.devminor,
    xattrs: new Map(),
  };
  for (const [k, v] of rec) {
    if (k.startsWith('SCHILY.xattr.')) entry.xattrs.set(k.slice('SCHILY.xattr.'.length), v);
  }
  const sparse = paxSparse(ext.pax, rec, num('GNU.sparse.size', num('GNU.sparse.realsize', num('size', raw.size))));
  if (sparse) {
    entry.sparse = sparse;
    entry.name = bytes('GNU.sparse.name') ?? entry.name;
  }
  const storedSize = entry.size;
  if (entry.sparse) entry.size = entry.sparse.realSize;
  return { entry, storedSize };
}

/** pendingName is the name an entry will have once its extensions are folded in (as in fromPax). */
export function pendingName(ext: Extensions, raw: string): string {
  if (ext.longName) return ext.longName;
  let path: Buffer | undefined;
  for (const [k, v] of ext.pax) if (k === 'path') path = v;
  return path && path.length > 0 ? path.toString('latin1') : raw;
}
