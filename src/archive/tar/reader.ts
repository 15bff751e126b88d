/**
 * A streaming tar reader. It folds PAX records (binary-safe), GNU long names and all GNU sparse
 * formats into one TarEntry per file, and hands out each entry's data as a stream of chunks.
 * Memory is bounded by one input chunk plus the extension headers of one entry.
 */
import { InvalidArchiveError } from '../../errors';
import { toUtf8 } from '../entry-path';
import { ByteSource } from './byte-source';
import { BLOCK, MAX_EXTENSION_SIZE, padding, type TarEntry } from './entry';
import { checksumOk, decodeFields, headerName, isZeroBlock, type RawHeader } from './header-decode';
import { fromPax, parsePax, pendingName, type Extensions } from './pax-parse';
import { checkSparse, readGnuSparseExtensions, readSparseMapFromData } from './sparse';

/** ReadEntry is an entry plus its data; `data()` must be consumed (or not) before the next entry. */
export interface ReadEntry {
  entry: TarEntry;
  /** data yields the stored bytes: the file content, or for sparse files the regions in order */
  data(): AsyncGenerator<Buffer>;
  /**
   * buffered returns all the stored bytes at once when the input chunk at hand holds them (most
   * small files), and undefined otherwise; after it returned them, data() yields nothing. It is
   * for the first read of an entry, and saves a promise per step for the bytes of small files.
   */
  buffered(): Buffer | undefined;
}

async function readExtension(src: ByteSource, size: number, what: string): Promise<Buffer> {
  if (size > MAX_EXTENSION_SIZE) throw new InvalidArchiveError(`${what} of ${size} bytes is too large`);
  const data = src.takeBuffered(size + padding(size)) ?? (await src.readExact(size + padding(size)));
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
      // Most headers are in the chunk at hand: no promise for them.
      block = src.takeBuffered(BLOCK) ?? (await src.readExact(BLOCK));
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
      const raw = decodeFields(block);
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
            const chunk = src.takeBuffered(remaining - taken, { upTo: true }) ?? (await src.readUpTo(remaining - taken));
            taken += chunk.length;
            yield chunk;
          }
        } catch (err) {
          throw named(err, entry.name);
        }
      };
      const buffered = (): Buffer | undefined => {
        if (taken > 0) return undefined;
        const all = src.takeBuffered(remaining);
        if (all) taken = remaining;
        return all;
      };
      yield { entry, data, buffered };
      if (taken < remaining) await src.skip(remaining - taken);
      const pad = padding(HEADER_ONLY.has(raw.typeflag) ? 0 : storedSize);
      if (!src.takeBuffered(pad)) await src.skip(pad);
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
    const regions = await readGnuSparseExtensions(src, raw.gnuSparse);
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

/** HEADER_ONLY are the type flags whose entries store no data, whatever their size field says (as in Go's reader). */
export const HEADER_ONLY: ReadonlySet<string> = new Set(['1', '2', '3', '4', '5', '6']);

function cut(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.toString('latin1', 0, end === -1 ? buf.length : end);
}
