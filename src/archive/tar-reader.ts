/**
 * A streaming tar reader. It folds PAX records (binary-safe), GNU long names and all GNU sparse
 * formats into one TarEntry per file, and hands out each entry's data as a stream of chunks.
 * Memory is bounded by one input chunk plus the extension headers of one entry.
 */
import { InvalidArchiveError } from '../errors';
import {
  BLOCK,
  decodeHeader,
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
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArchiveError(`invalid PAX ${k} ${JSON.stringify(v)}`);
    return n;
  };
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
    mtimeNs: text('mtime') !== undefined ? parsePaxTime(text('mtime')!) : BigInt(raw.mtime) * 1_000_000_000n,
    atimeNs: text('atime') !== undefined ? parsePaxTime(text('atime')!) : undefined,
    linkname: (ext.longLink || undefined) ?? bytes('linkpath') ?? raw.linkname,
    uname: text('uname') ?? raw.uname,
    gname: text('gname') ?? raw.gname,
    devmajor: raw.devmajor,
    devminor: raw.devminor,
    xattrs: new Map(),
  };
  for (const [k, v] of rec) {
    if (k.startsWith('SCHILY.xattr.') && v.length > 0) entry.xattrs.set(k.slice('SCHILY.xattr.'.length), v);
  }
  const sparse = paxSparse(ext, rec, num);
  if (sparse) {
    entry.sparse = sparse;
    entry.name = bytes('GNU.sparse.name') ?? entry.name;
  }
  const storedSize = entry.size;
  if (entry.sparse) entry.size = entry.sparse.realSize;
  return { entry, storedSize };
}

/** paxSparse reads the GNU sparse formats 0.0, 0.1 and 1.0 from PAX records. */
function paxSparse(ext: Extensions, rec: Map<string, Buffer>, num: (k: string, fallback: number) => number): TarEntry['sparse'] {
  if (rec.get('GNU.sparse.major')?.toString() === '1') {
    return { regions: [], realSize: num('GNU.sparse.realsize', 0), mapInData: true };
  }
  const map = rec.get('GNU.sparse.map')?.toString();
  if (map !== undefined) {
    return { regions: pairs(map.split(',').filter(Boolean).map(Number)), realSize: num('GNU.sparse.size', 0), mapInData: false };
  }
  if (ext.pax.some(([k]) => k === 'GNU.sparse.offset')) {
    const nums = ext.pax.filter(([k]) => k === 'GNU.sparse.offset' || k === 'GNU.sparse.numbytes').map(([, v]) => Number(v.toString()));
    return { regions: pairs(nums), realSize: num('GNU.sparse.size', 0), mapInData: false };
  }
  return undefined;
}

function pairs(nums: number[]): Array<{ offset: number; length: number }> {
  if (nums.length % 2 !== 0 || nums.some((n) => !Number.isSafeInteger(n) || n < 0)) {
    throw new InvalidArchiveError('invalid GNU sparse map');
  }
  const out: Array<{ offset: number; length: number }> = [];
  for (let i = 0; i < nums.length; i += 2) out.push({ offset: nums[i]!, length: nums[i + 1]! });
  return out;
}

async function readExtension(src: ByteSource, size: number, what: string): Promise<Buffer> {
  if (size > MAX_EXTENSION_SIZE) throw new InvalidArchiveError(`${what} of ${size} bytes is too large`);
  const data = await src.readExact(size + padding(size));
  if (!data) throw new InvalidArchiveError(`tar stream ended inside a ${what} (truncated)`);
  return Buffer.from(data.subarray(0, size));
}

/**
 * readTar yields the entries of an uncompressed tar stream. It throws InvalidArchiveError for a
 * malformed or truncated stream, including one that ends without the end-of-archive marker.
 */
export async function* readTar(input: AsyncIterable<Buffer | Uint8Array | string>): AsyncGenerator<ReadEntry> {
  const src = new ByteSource(input);
  let ext: Extensions = { pax: [] };
  for (;;) {
    const block = await src.readExact(BLOCK);
    if (!block) throw new InvalidArchiveError('tar stream ended without the end-of-archive marker (truncated)');
    if (isZeroBlock(block)) {
      // As in Go's reader: the end is two zero blocks, or one at the very end of the stream;
      // a header after a zero block means a damaged archive, not more entries to ignore.
      const next = await src.readExact(BLOCK);
      if (next && !isZeroBlock(next)) throw new InvalidArchiveError('tar stream has data after an end-of-archive block (damaged archive)');
      await src.drain();
      return;
    }
    let raw: RawHeader;
    try {
      raw = decodeHeader(block);
    } catch (err) {
      throw new InvalidArchiveError(`invalid tar header: ${(err as Error).message}`, { cause: err });
    }
    switch (raw.typeflag) {
      case 'x':
        ext.pax.push(...parsePax(await readExtension(src, raw.size, 'PAX header')));
        continue;
      case 'g':
        // Checked but applied to nothing: Go's reader hands global records out on their own and
        // Docker ignores them, so they must not change the entries that follow.
        parsePax(await readExtension(src, raw.size, 'PAX global header'));
        continue;
      case 'L':
        ext.longName = cut(await readExtension(src, raw.size, 'GNU long name'));
        continue;
      case 'K':
        ext.longLink = cut(await readExtension(src, raw.size, 'GNU long link name'));
        continue;
    }
    const { entry, storedSize } = fromPax(ext, raw);
    ext = { pax: [] };
    if (raw.gnuSparse) {
      const regions = [...raw.gnuSparse.regions];
      let extended = raw.gnuSparse.extended;
      while (extended) {
        const more = await src.readExact(BLOCK);
        if (!more) throw new InvalidArchiveError('tar stream ended inside a GNU sparse header');
        regions.push(...readSparseRegions(more, 0, 21));
        extended = more[504] !== 0;
      }
      entry.sparse = { regions, realSize: raw.gnuSparse.realSize, mapInData: false };
      entry.size = raw.gnuSparse.realSize;
    }
    // Header-only types carry no data whatever their size field says (as in Go's reader).
    const stored = HEADER_ONLY.has(raw.typeflag) ? 0 : storedSize;
    let consumed = 0;
    if (entry.sparse?.mapInData) {
      const map = await readSparseMapFromData(src);
      consumed = map.consumed;
      entry.sparse.regions = map.regions;
    }
    if (consumed > stored) throw new InvalidArchiveError(`GNU sparse map of ${JSON.stringify(entry.name)} is larger than its entry`);
    const remaining = stored - consumed;
    let taken = 0;
    const data = async function* (): AsyncGenerator<Buffer> {
      while (taken < remaining) {
        const chunk = await src.readUpTo(remaining - taken);
        taken += chunk.length;
        yield chunk;
      }
    };
    yield { entry, data };
    if (taken < remaining) await src.skip(remaining - taken);
    await src.skip(padding(stored));
  }
}

const HEADER_ONLY = new Set(['1', '2', '3', '4', '5', '6']);

function cut(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.toString('latin1', 0, end === -1 ? buf.length : end);
}

// GNU sparse 1.0 keeps its map as decimal lines at the start of the data, padded to a block.
async function readSparseMapFromData(src: ByteSource): Promise<{ regions: Array<{ offset: number; length: number }>; consumed: number }> {
  let text = '';
  let consumed = 0;
  const numbers: number[] = [];
  let expected = -1;
  while (expected < 0 || numbers.length < 1 + expected * 2) {
    const block = await src.readExact(BLOCK);
    if (!block) throw new InvalidArchiveError('tar stream ended inside a GNU sparse map');
    consumed += BLOCK;
    text += block.toString('latin1');
    const lines = text.split('\n');
    text = lines.pop() ?? '';
    for (const line of lines) {
      if (numbers.length === 0 || expected < 0 || numbers.length < 1 + expected * 2) numbers.push(Number(line));
      if (numbers.length === 1) expected = numbers[0]!;
    }
    if (consumed > MAX_EXTENSION_SIZE) throw new InvalidArchiveError('GNU sparse map is too large');
  }
  return { regions: pairs(numbers.slice(1, 1 + expected * 2)), consumed };
}
