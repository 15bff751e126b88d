/**
 * GNU sparse files in all their formats: the old GNU header's region table and its extension
 * blocks, the PAX formats 0.0, 0.1 and 1.0 (whose map sits at the start of the data), and the
 * checks Go's reader makes of a map before it takes it.
 */
import { InvalidArchiveError } from '../../errors';
import type { ByteSource } from './byte-source';
import { BLOCK, MAX_EXTENSION_SIZE, type SparseRegion, type TarEntry } from './entry';
import { parseDecimal, parseNumeric } from './numbers';

/** GnuSparseHeader is what an old GNU sparse header says: regions in the header, whether extension blocks follow, the real size. */
export interface GnuSparseHeader {
  regions: SparseRegion[];
  extended: boolean;
  realSize: number;
}

/** readSparseRegions reads up to `count` (offset, numbytes) pairs of 12+12 bytes from an old GNU sparse block. */
export function readSparseRegions(block: Buffer, off: number, count: number): SparseRegion[] {
  const regions: SparseRegion[] = [];
  for (let i = 0; i < count; i++) {
    const at = off + i * 24;
    if (block[at] === 0) break;
    regions.push({ offset: parseNumeric(block, at, 12, 'GNU sparse offset'), length: parseNumeric(block, at + 12, 12, 'GNU sparse length') });
  }
  return regions;
}

/** readGnuSparseExtensions reads the extension blocks that follow an old GNU sparse header, and returns every region. */
export async function readGnuSparseExtensions(src: ByteSource, header: GnuSparseHeader): Promise<SparseRegion[]> {
  const regions = [...header.regions];
  let extended = header.extended;
  while (extended) {
    const more = await src.readExact(BLOCK);
    if (!more) throw new InvalidArchiveError('tar stream ended inside its GNU sparse header');
    regions.push(...readSparseRegions(more, 0, 21));
    extended = more[504] !== 0;
  }
  return regions;
}

/**
 * paxSparse reads the GNU sparse formats 0.0, 0.1 and 1.0 from an entry's PAX records (in
 * order, and by key with the last one winning), as Go's readGNUSparsePAXHeaders does: the 0.x
 * maps need GNU.sparse.numblocks and exactly that many pairs, 0.0's offset and numbytes records
 * must alternate, and every number is decimal. The real size is GNU.sparse.size, else
 * GNU.sparse.realsize, else the entry's size.
 */
export function paxSparse(pax: Array<[string, Buffer]>, rec: Map<string, Buffer>, realSize: number): TarEntry['sparse'] {
  if (rec.get('GNU.sparse.major')?.toString() === '1') return { regions: [], realSize, mapInData: true };
  let fields: string[];
  const map = rec.get('GNU.sparse.map')?.toString();
  if (map !== undefined) {
    fields = map === '' ? [] : map.split(',');
  } else if (pax.some(([k]) => k === 'GNU.sparse.offset')) {
    const records = pax.filter(([k]) => k === 'GNU.sparse.offset' || k === 'GNU.sparse.numbytes');
    records.forEach(([k], i) => {
      if (k !== (i % 2 === 0 ? 'GNU.sparse.offset' : 'GNU.sparse.numbytes')) throw new InvalidArchiveError('its GNU sparse offset and numbytes records do not alternate');
    });
    fields = records.map(([, v]) => v.toString('latin1'));
  } else {
    return undefined;
  }
  const count = parseDecimal(rec.get('GNU.sparse.numblocks')?.toString('latin1') ?? '', 'GNU.sparse.numblocks');
  if (fields.length !== count * 2) throw new InvalidArchiveError(`its GNU sparse map holds ${fields.length} numbers, not the ${count * 2} its numblocks says`);
  return { regions: pairs(fields.map((f) => parseDecimal(f, 'GNU sparse map number'))), realSize, mapInData: false };
}

function pairs(nums: number[]): SparseRegion[] {
  if (nums.length % 2 !== 0) throw new InvalidArchiveError('its GNU sparse map has an offset without a length');
  const out: SparseRegion[] = [];
  for (let i = 0; i < nums.length; i += 2) out.push({ offset: nums[i]!, length: nums[i + 1]! });
  return out;
}

/**
 * checkSparse refuses a sparse map the way Go's validateSparseEntries and its sparse reader
 * do: regions in order, not overlapping, inside the real size, and together exactly as long
 * as the data stored for them.
 */
export function checkSparse(sparse: NonNullable<TarEntry['sparse']>, stored: number): void {
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

/**
 * readSparseMapFromData reads GNU sparse 1.0's map: decimal lines at the start of the data (a
 * count, then offset and length for each region), padded to a block, as Go's
 * readGNUSparseMap1x0 does; a line that is not a number, or a map longer than the entry's
 * data, is an InvalidArchiveError.
 */
export async function readSparseMapFromData(src: ByteSource, stored: number): Promise<{ regions: SparseRegion[]; consumed: number }> {
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
      if (tokens.length === 1) wanted = 1 + 2 * parseDecimal(line, 'GNU sparse map entry count');
    }
  }
  return { regions: pairs(tokens.slice(1).map((t) => parseDecimal(t, 'GNU sparse map number'))), consumed };
}
