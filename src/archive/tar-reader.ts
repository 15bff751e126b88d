/**
 * A streaming tar reader. It folds PAX records (binary-safe), GNU long names and all GNU sparse
 * formats into one TarEntry per file, and hands out each entry's data as a stream of chunks.
 * Memory is bounded by one input chunk plus the extension headers of one entry.
 */
import { InvalidArchiveError } from '../errors';
import { toUtf8 } from './entry-path';
import {
  BLOCK,
  checksumOk,
  decodeHeader,
  headerName,
  isZeroBlock,
  padding,
  parsePax,
  parsePaxTime,
  readSparseRegions,
  typeOf,
  type RawHeader,
  type TarEntry,
} from './tar-header';

const MAX_EXTENSION_SIZE = 16 * 1024 * 1024;

/** ByteSource gives exact reads over an async iterable of chunks. */
class ByteSource {
  readonly #it: AsyncIterator<Buffer>;
  #buf: Buffer = Buffer.alloc(0);
  #done = false;
  /** position is how many bytes of the stream have been consumed */
  position = 0;
  constructor(input: AsyncIterable<Buffer | Uint8Array | string>) {
    const inner = input[Symbol.asyncIterator]();
    this.#it = {
      next: async () => {
        const r = await inner.next();
        if (r.done) return r;
        const v = r.value;
        return { done: false, value: typeof v === 'string' ? Buffer.from(v) : Buffer.isBuffer(v) ? v : Buffer.from(v) };
      },
    };
  }

  async #fill(): Promise<boolean> {
    if (this.#done) return false;
    const r = await this.#it.next();
    if (r.done) {
      this.#done = true;
      return false;
    }
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, r.value]) : r.value;
    return true;
  }

  /** readExact returns exactly n bytes, or null if the input ended cleanly before any byte. */
  async readExact(n: number): Promise<Buffer | null> {
    while (this.#buf.length < n) {
      if (!(await this.#fill())) {
        if (this.#buf.length === 0) return null;
        throw new InvalidArchiveError('tar stream ended in the middle of a block (truncated)');
      }
    }
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    this.position += n;
    return out;
  }

  /** readUpTo returns between 1 and max bytes without copying; it throws at an early end. */
  async readUpTo(max: number): Promise<Buffer> {
    if (this.#buf.length === 0 && !(await this.#fill())) {
      throw new InvalidArchiveError('tar stream ended in the middle of an entry (truncated)');
    }
    const n = Math.min(max, this.#buf.length);
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    this.position += n;
    return out;
  }

  async skip(n: number): Promise<void> {
    while (n > 0) n -= (await this.readUpTo(n)).length;
  }

  /** drain consumes whatever follows the archive (dockerd may send padding). */
  async drain(): Promise<void> {
    this.#buf = Buffer.alloc(0);
    while (await this.#fill()) this.#buf = Buffer.alloc(0);
  }
}

/** ReadEntry is an entry plus its data; `data()` must be consumed (or not) before the next entry. */
export interface ReadEntry {
  entry: TarEntry;
  /** data yields the stored bytes: the file content, or for sparse files the regions in order */
  data(): AsyncGenerator<Buffer>;
}

interface Extensions {
  pax: Array<[string, Buffer]>;
  longName?: string;
  longLink?: string;
}

/**
 * fromPax folds an entry's extensions into one TarEntry the way Go's archive/tar (and so
 * Docker) does: an empty PAX record keeps the header's own value, a GNU long name wins over a
 * PAX path, a typeflag '\0' entry whose name ends in '/' is a directory (old V7 tars), and
 * GNU.sparse.name renames only entries that are sparse.
 */
function fromPax(ext: Extensions, raw: RawHeader): { entry: TarEntry; storedSize: number } {
  const rec = new Map<string, Buffer>(ext.pax);
  const present = (k: string) => {
    const v = rec.get(k);
    return v && v.length > 0 ? v : undefined;
  };
  const text = (k: string) => present(k)?.toString('utf8');
  const bytes = (k: string) => present(k)?.toString('latin1');
  const num = (k: string, fallback: number) => {
    const v = text(k);
    return v === undefined ? fallback : decimal(v, `PAX ${k}`);
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
  const sparse = paxSparse(ext, rec, num('GNU.sparse.size', num('GNU.sparse.realsize', num('size', raw.size))));
  if (sparse) {
    entry.sparse = sparse;
    entry.name = bytes('GNU.sparse.name') ?? entry.name;
  }
  const storedSize = entry.size;
  if (entry.sparse) entry.size = entry.sparse.realSize;
  return { entry, storedSize };
}

/**
 * decimal parses a decimal number the way Go's strconv.ParseInt does for PAX values and sparse
 * maps, without a sign (nothing in a layer is negative, and Go refuses negative sizes and
 * sparse offsets): it throws InvalidArchiveError for anything else.
 */
function decimal(v: string, what: string): number {
  const n = /^\d{1,16}$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n)) throw new InvalidArchiveError(`its ${what} ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)} is not a number`);
  return n;
}

/**
 * paxSparse reads the GNU sparse formats 0.0, 0.1 and 1.0 from PAX records, as Go's
 * readGNUSparsePAXHeaders does: the 0.x maps need GNU.sparse.numblocks and exactly that many
 * pairs, 0.0's offset and numbytes records must alternate, and every number is decimal. The
 * real size is GNU.sparse.size, else GNU.sparse.realsize, else the entry's size.
 */
function paxSparse(ext: Extensions, rec: Map<string, Buffer>, realSize: number): TarEntry['sparse'] {
  if (rec.get('GNU.sparse.major')?.toString() === '1') return { regions: [], realSize, mapInData: true };
  let fields: string[];
  const map = rec.get('GNU.sparse.map')?.toString();
  if (map !== undefined) {
    fields = map === '' ? [] : map.split(',');
  } else if (ext.pax.some(([k]) => k === 'GNU.sparse.offset')) {
    const records = ext.pax.filter(([k]) => k === 'GNU.sparse.offset' || k === 'GNU.sparse.numbytes');
    records.forEach(([k], i) => {
      if (k !== (i % 2 === 0 ? 'GNU.sparse.offset' : 'GNU.sparse.numbytes')) throw new InvalidArchiveError('its GNU sparse offset and numbytes records do not alternate');
    });
    fields = records.map(([, v]) => v.toString('latin1'));
  } else {
    return undefined;
  }
  const count = decimal(rec.get('GNU.sparse.numblocks')?.toString('latin1') ?? '', 'GNU.sparse.numblocks');
  if (fields.length !== count * 2) throw new InvalidArchiveError(`its GNU sparse map holds ${fields.length} numbers, not the ${count * 2} its numblocks says`);
  return { regions: pairs(fields.map((f) => decimal(f, 'GNU sparse map number'))), realSize, mapInData: false };
}

function pairs(nums: number[]): Array<{ offset: number; length: number }> {
  if (nums.length % 2 !== 0) throw new InvalidArchiveError('its GNU sparse map has an offset without a length');
  const out: Array<{ offset: number; length: number }> = [];
  for (let i = 0; i < nums.length; i += 2) out.push({ offset: nums[i]!, length: nums[i + 1]! });
  return out;
}

/**
 * checkSparse refuses a sparse map the way Go's validateSparseEntries and its sparse reader
 * do: regions in order, not overlapping, inside the real size, and together exactly as long
 * as the data stored for them.
 */
function checkSparse(sparse: NonNullable<TarEntry['sparse']>, stored: number): void {
  let end = 0;
  let total = 0;
  for (const { offset, length } of sparse.regions) {
    if (offset < end) throw new InvalidArchiveError(`its GNU sparse map has a region at ${offset} that overlaps or precedes the one before`);
    if (offset + length > sparse.realSize) throw new InvalidArchiveError(`its GNU sparse map has a region at ${offset}+${length}, past the file's real size ${sparse.realSize}`);
    end = offset + length;
    total += length;
  }
  if (total !== stored) throw new InvalidArchiveError(`its GNU sparse map covers ${total} bytes, but ${stored} are stored`);
}

async function readExtension(src: ByteSource, size: number, what: string): Promise<Buffer> {
  if (size > MAX_EXTENSION_SIZE) throw new InvalidArchiveError(`${what} of ${size} bytes is too large`);
  const data = await src.readExact(size + padding(size));
  if (!data) throw new InvalidArchiveError(`tar stream ended inside a ${what} (truncated)`);
  return Buffer.from(data.subarray(0, size));
}

/** named gives an archive error the entry it belongs to; other errors pass unchanged. */
function named(err: unknown, entry: string): unknown {
  return err instanceof InvalidArchiveError ? err.inEntry(entry) : err;
}

/** nameless places an error that no entry name can be given to: the byte offset, and the entry before. */
function nameless(reason: string, at: number, previous: string | undefined): InvalidArchiveError {
  const after = previous === undefined ? '' : `, after entry ${JSON.stringify(toUtf8(previous))}`;
  return new InvalidArchiveError(`${reason} at byte ${at}${after}`);
}

/** pendingName is the name an entry will have once its extensions are folded in (as in fromPax). */
function pendingName(ext: Extensions, raw: string): string {
  if (ext.longName) return ext.longName;
  let path: Buffer | undefined;
  for (const [k, v] of ext.pax) if (k === 'path') path = v;
  return path && path.length > 0 ? path.toString('latin1') : raw;
}

/**
 * readTar yields the entries of an uncompressed tar stream. It throws InvalidArchiveError for a
 * malformed or truncated stream, including one that ends without the end-of-archive marker;
 * the error names the entry at fault as the archive spells it (an extension header by its own
 * name), or, where no header could be read, the byte offset and the entry before.
 */
export async function* readTar(input: AsyncIterable<Buffer | Uint8Array | string>): AsyncGenerator<ReadEntry> {
  const src = new ByteSource(input);
  let ext: Extensions = { pax: [] };
  let previous: string | undefined;
  for (;;) {
    const at = src.position;
    let block: Buffer | null;
    try {
      block = await src.readExact(BLOCK);
    } catch (err) {
      if (err instanceof InvalidArchiveError) throw nameless('tar stream ended inside a header', at, previous);
      throw err;
    }
    if (!block) throw nameless('tar stream ended without the end-of-archive marker', at, previous);
    if (isZeroBlock(block)) {
      // As in Go's reader: the end is two zero blocks, or one at the very end of the stream;
      // a header after a zero block means a damaged archive, not more entries to ignore.
      const next = await src.readExact(BLOCK).catch((err: unknown) => {
        throw err instanceof InvalidArchiveError ? nameless('tar stream ended inside the end-of-archive marker', at + BLOCK, previous) : err;
      });
      if (next && !isZeroBlock(next)) throw nameless('tar stream has data after an end-of-archive block (damaged archive)', at + BLOCK, previous);
      await src.drain();
      return;
    }
    if (!checksumOk(block)) throw nameless('not a tar header (checksum mismatch: not a tar stream, or corrupted)', at, previous);
    const typeflag = String.fromCharCode(block[156]!);
    const isExtension = 'xgLK'.includes(typeflag);
    // An extension header is named by its own name, an entry by the name it will end up with.
    let name = isExtension ? headerName(block) : pendingName(ext, headerName(block));
    try {
      const raw = decodeHeader(block);
      if (isExtension) {
        await readExtensionHeader(src, raw, ext);
        continue;
      }
      const { entry, storedSize } = fromPax(ext, raw);
      name = entry.name;
      previous = entry.name;
      ext = { pax: [] };
      const remaining = await readSparseDetails(src, raw, entry, storedSize);
      let taken = 0;
      const data = async function* (): AsyncGenerator<Buffer> {
        try {
          while (taken < remaining) {
            const chunk = await src.readUpTo(remaining - taken);
            taken += chunk.length;
            yield chunk;
          }
        } catch (err) {
          throw named(err, entry.name);
        }
      };
      yield { entry, data };
      if (taken < remaining) await src.skip(remaining - taken);
      await src.skip(padding(HEADER_ONLY.has(raw.typeflag) ? 0 : storedSize));
    } catch (err) {
      throw named(err, name);
    }
  }
}

/** readExtensionHeader reads a PAX or GNU long-name header's data into `ext`. */
async function readExtensionHeader(src: ByteSource, raw: RawHeader, ext: Extensions): Promise<void> {
  switch (raw.typeflag) {
    case 'x':
      ext.pax.push(...parsePax(await readExtension(src, raw.size, 'PAX header')));
      return;
    case 'g':
      // Checked but applied to nothing: Go's reader hands global records out on their own and
      // Docker ignores them, so they must not change the entries that follow.
      parsePax(await readExtension(src, raw.size, 'PAX global header'));
      return;
    case 'L':
      ext.longName = cut(await readExtension(src, raw.size, 'GNU long name'));
      return;
    case 'K':
      ext.longLink = cut(await readExtension(src, raw.size, 'GNU long link name'));
      return;
  }
}

/**
 * readSparseDetails reads what an entry's header leaves to the stream (old GNU sparse
 * extension blocks, a GNU 1.0 map at the start of the data), checks the sparse map, and
 * returns how many bytes of data follow.
 */
async function readSparseDetails(src: ByteSource, raw: RawHeader, entry: TarEntry, storedSize: number): Promise<number> {
  if (raw.gnuSparse) {
    const regions = [...raw.gnuSparse.regions];
    let extended = raw.gnuSparse.extended;
    while (extended) {
      const more = await src.readExact(BLOCK);
      if (!more) throw new InvalidArchiveError('tar stream ended inside its GNU sparse header');
      regions.push(...readSparseRegions(more, 0, 21));
      extended = more[504] !== 0;
    }
    entry.sparse = { regions, realSize: raw.gnuSparse.realSize, mapInData: false };
    entry.size = raw.gnuSparse.realSize;
  }
  // Header-only types carry no data whatever their size field says (as in Go's reader).
  const stored = HEADER_ONLY.has(raw.typeflag) ? 0 : storedSize;
  if (!entry.sparse) return stored;
  let consumed = 0;
  if (entry.sparse.mapInData) {
    const map = await readSparseMapFromData(src, stored);
    consumed = map.consumed;
    entry.sparse.regions = map.regions;
  }
  checkSparse(entry.sparse, stored - consumed);
  return stored - consumed;
}

const HEADER_ONLY = new Set(['1', '2', '3', '4', '5', '6']);

function cut(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.toString('latin1', 0, end === -1 ? buf.length : end);
}

/**
 * readSparseMapFromData reads GNU sparse 1.0's map: decimal lines at the start of the data (a
 * count, then offset and length for each region), padded to a block, as Go's
 * readGNUSparseMap1x0 does; a line that is not a number, or a map longer than the entry's
 * data, is an InvalidArchiveError.
 */
async function readSparseMapFromData(src: ByteSource, stored: number): Promise<{ regions: Array<{ offset: number; length: number }>; consumed: number }> {
  let text = '';
  let consumed = 0;
  const tokens: string[] = [];
  let wanted = 1;
  while (tokens.length < wanted) {
    if (consumed + BLOCK > stored) throw new InvalidArchiveError('its GNU sparse map is larger than its entry');
    if (consumed + BLOCK > MAX_EXTENSION_SIZE) throw new InvalidArchiveError('its GNU sparse map is too large');
    const block = await src.readExact(BLOCK);
    if (!block) throw new InvalidArchiveError('tar stream ended inside its GNU sparse map');
    consumed += BLOCK;
    text += block.toString('latin1');
    const lines = text.split('\n');
    text = lines.pop() ?? '';
    for (const line of lines) {
      if (tokens.length >= wanted) break;
      tokens.push(line);
      if (tokens.length === 1) wanted = 1 + 2 * decimal(line, 'GNU sparse map entry count');
    }
  }
  return { regions: pairs(tokens.slice(1).map((t) => decimal(t, 'GNU sparse map number'))), consumed };
}
