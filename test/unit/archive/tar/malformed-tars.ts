/**
 * Malformed layer tars built byte by byte, one per way a tar can be wrong, shared by the
 * reader's unit tests, the extraction tests (root) and the ApplyDiff tests (protocol). Each
 * says which entry its error must name, as the archive spells it, and whether Go's reader
 * refuses it too or Strata is stricter on purpose.
 */
import { BLOCK } from '../../../../src/archive/tar/entry';

export interface MalformedTar {
  what: string;
  tar: Buffer;
  /** the entry name the error must contain; for faults before any name, the entry before */
  names: string;
  /** true when readTar accepts it and only the extraction refuses it (a type or link fault) */
  extractOnly?: boolean;
}

interface Fields {
  name: string;
  type?: string;
  size?: number;
  mode?: string;
  linkname?: string;
  /** GNU magic ("ustar  \0") instead of POSIX ("ustar\0" "00") */
  gnu?: boolean;
  /** raw bytes for a field, written over what the other options gave: [offset, bytes] */
  raw?: Array<[number, Buffer | string]>;
  /** leave the checksum wrong */
  badChecksum?: boolean;
}

/** header builds one header block with a correct checksum (unless asked otherwise). */
export function header(f: Fields): Buffer {
  const b = Buffer.alloc(BLOCK);
  const put = (off: number, v: Buffer | string) => (typeof v === 'string' ? b.write(v, off, 'latin1') : v.copy(b, off));
  put(0, f.name);
  put(100, f.mode ?? '0000644\0');
  put(108, '0000000\0');
  put(116, '0000000\0');
  put(124, `${(f.size ?? 0).toString(8).padStart(11, '0')}\0`);
  put(136, '14530000000\0');
  put(156, f.type ?? '0');
  put(157, f.linkname ?? '');
  put(257, f.gnu ? 'ustar  \0' : 'ustar\x0000');
  for (const [off, v] of f.raw ?? []) put(off, v);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : b[i]!;
  put(148, `${(f.badChecksum ? sum + 1 : sum).toString(8).padStart(6, '0')}\0 `);
  return b;
}

/** padded returns `data` followed by zeros up to a block boundary. */
export function padded(data: Buffer | string): Buffer {
  const buf = Buffer.from(data);
  return Buffer.concat([buf, Buffer.alloc((BLOCK - (buf.length % BLOCK)) % BLOCK)]);
}

/** record makes one PAX record with its correct length. */
export function record(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len++;
  return `${len}${body}`;
}

/** pax returns a PAX header named `PaxHeaders.0/<name>` with `data` as its records. */
export function pax(name: string, data: string | Buffer): Buffer {
  return Buffer.concat([header({ name: `PaxHeaders.0/${name}`, type: 'x', size: Buffer.byteLength(data) }), padded(data)]);
}

/** file returns a regular file entry (header and data). */
export function file(name: string, content = ''): Buffer {
  return Buffer.concat([header({ name, size: content.length }), padded(content)]);
}

export const END = Buffer.alloc(2 * BLOCK);

const first = file('first', 'first file');
const tar = (...parts: Buffer[]) => Buffer.concat([first, ...parts, END]);
const base256 = (bytes: number[]) => Buffer.from(bytes);

/** sparsePax01 is a GNU sparse 0.1 file whose map, real size and stored data are as given. */
function sparsePax01(map: string, realSize: number, stored: string, numblocks = String(map === '' ? 0 : map.split(',').length / 2)): Buffer {
  const records = record('GNU.sparse.size', String(realSize)) + record('GNU.sparse.numblocks', numblocks) + record('GNU.sparse.map', map);
  return Buffer.concat([pax('sparse01', records), file('sparse01', stored)]);
}

/** sparse10 is a GNU sparse 1.0 file: the map lines open the data, padded to a block. */
function sparse10(mapLines: string, realSize: number, stored: string): Buffer {
  const records = record('GNU.sparse.major', '1') + record('GNU.sparse.minor', '0') + record('GNU.sparse.name', 'sparse10') + record('GNU.sparse.realsize', String(realSize));
  const data = Buffer.concat([padded(mapLines), Buffer.from(stored)]);
  return Buffer.concat([pax('GNUSparseFile.0/sparse10', records), header({ name: 'GNUSparseFile.0/sparse10', size: data.length }), padded(data)]);
}

/** oldGnuSparse is an old GNU 'S' entry with one region in its header. */
function oldGnuSparse(offset: number, length: number, realSize: number, stored: string): Buffer {
  const oct = (n: number) => `${n.toString(8).padStart(11, '0')}\0`;
  const h = header({ name: 'oldsparse', type: 'S', size: stored.length, gnu: true, raw: [[386, oct(offset)], [398, oct(length)], [483, oct(realSize)]] });
  return Buffer.concat([h, padded(stored)]);
}

const whole = tar(file('second', 'x'.repeat(3000)));

/**
 * MALFORMED lists the cases. Unless a case says otherwise, Go's archive/tar refuses it too
 * (ErrHeader, io.ErrUnexpectedEOF, or its sparse reader's errors), so overlay2 refuses it.
 */
export const MALFORMED: MalformedTar[] = [
  // ---- header blocks and numbers
  { what: 'a header with a bad checksum', tar: tar(header({ name: 'second', badChecksum: true }), END), names: 'first' },
  { what: 'a mode field that is not octal', tar: tar(header({ name: 'badmode', mode: '0000x44\0' })), names: 'badmode' },
  { what: 'a size field that is not octal', tar: tar(header({ name: 'badsize', raw: [[124, '0000000009a\0']] })), names: 'badsize' },
  { what: 'a uid field that is not octal', tar: tar(header({ name: 'baduid', raw: [[108, '-000001\0']] })), names: 'baduid' },
  // Go takes negative base-256 numbers and refuses them as sizes; Strata refuses them in every field.
  { what: 'a negative base-256 size', tar: tar(header({ name: 'negsize', raw: [[124, base256([0xff, ...Array(10).fill(0xff), 0xfe])]] })), names: 'negsize' },
  { what: 'a negative base-256 uid (stricter than Go)', tar: tar(header({ name: 'neguid', raw: [[108, base256([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe])]] })), names: 'neguid' },
  { what: 'a base-256 size beyond 2^53', tar: tar(header({ name: 'hugesize', raw: [[124, base256([0x80, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])]] })), names: 'hugesize' },
  { what: 'a PAX header whose own size is not octal', tar: tar(header({ name: 'PaxHeaders.0/x', type: 'x', raw: [[124, 'zz\0']] })), names: 'PaxHeaders.0/x' },
  // ---- PAX records
  { what: 'a PAX record longer than the data', tar: tar(pax('victim', '99 path=long\n'), file('victim')), names: 'PaxHeaders.0/victim' },
  { what: 'a PAX record shorter than it is', tar: tar(pax('victim', '12 path=longer-than-twelve\n'), file('victim')), names: 'PaxHeaders.0/victim' },
  { what: 'a PAX record without "="', tar: tar(pax('victim', '13 pathvalue\n'), file('victim')), names: 'PaxHeaders.0/victim' },
  { what: 'a PAX record whose length is not a number', tar: tar(pax('victim', '1x path=a\n'), file('victim')), names: 'PaxHeaders.0/victim' },
  { what: 'PAX data ending in bytes that are no record', tar: tar(pax('victim', `${record('uid', '5')}junk`), file('victim')), names: 'PaxHeaders.0/victim' },
  { what: 'a PAX path holding a NUL', tar: tar(pax('victim', record('path', 'a\0b')), file('victim')), names: 'PaxHeaders.0/victim' },
  { what: 'a PAX global header with a bad record', tar: tar(Buffer.concat([header({ name: 'pax_global_header', type: 'g', size: 9 }), padded('9 nothing')]), file('after')), names: 'pax_global_header' },
  { what: 'a PAX mtime that is not a number', tar: tar(pax('victim', record('mtime', 'yesterday')), file('victim')), names: 'victim' },
  { what: 'a PAX mtime that is not a number, on an entry named by PAX', tar: tar(pax('x', record('path', 'pax-named') + record('mtime', '1e9')), file('x')), names: 'pax-named' },
  { what: 'a PAX atime that is not a number', tar: tar(pax('victim', record('atime', '1.2.3')), file('victim')), names: 'victim' },
  { what: 'a PAX ctime that is not a number', tar: tar(pax('victim', record('ctime', 'abc')), file('victim')), names: 'victim' },
  { what: 'a negative PAX size', tar: tar(pax('victim', record('size', '-1')), file('victim')), names: 'victim' },
  { what: 'a PAX uid that is not decimal', tar: tar(pax('victim', record('uid', '0x10')), file('victim')), names: 'victim' },
  // ---- truncation
  { what: 'a stream truncated inside a header', tar: whole.subarray(0, first.length + 300), names: 'first' },
  { what: 'a stream truncated inside PAX data', tar: Buffer.concat([first, pax('victim', record('path', 'p'.repeat(600))).subarray(0, BLOCK + 200)]), names: 'PaxHeaders.0/victim' },
  { what: 'a stream truncated inside file data', tar: whole.subarray(0, first.length + BLOCK + 1000), names: 'second' },
  { what: 'a stream truncated inside a GNU long name', tar: Buffer.concat([first, header({ name: '././@LongLink', type: 'L', size: 700, gnu: true }), Buffer.alloc(600, 0x61)]), names: '././@LongLink' },
  { what: 'a stream truncated inside a GNU sparse extension block', tar: Buffer.concat([first, header({ name: 'oldsparse', type: 'S', gnu: true, raw: [[482, '\x01']] }), Buffer.alloc(100)]), names: 'oldsparse' },
  { what: 'a stream without the end-of-archive marker', tar: first, names: 'first' },
  // ---- GNU sparse maps (Go's validateSparseEntries, readGNUSparseMap0x1 and 1x0)
  { what: 'a GNU sparse 0.1 region past the real size', tar: tar(sparsePax01('10,5', 12, 'abcde')), names: 'sparse01' },
  { what: 'a GNU sparse 0.1 map that is not numbers', tar: tar(sparsePax01('a,b', 12, 'abcde')), names: 'sparse01' },
  { what: 'a GNU sparse 0.1 map of an odd count', tar: tar(sparsePax01('0,5,7', 12, 'abcde', '1')), names: 'sparse01' },
  { what: 'a GNU sparse 0.1 map longer than its numblocks', tar: tar(sparsePax01('0,2,4,3', 12, 'abcde', '1')), names: 'sparse01' },
  { what: 'GNU sparse 0.1 regions out of order', tar: tar(sparsePax01('6,2,0,3', 12, 'abcde')), names: 'sparse01' },
  { what: 'a GNU sparse 0.1 map covering more than the stored data', tar: tar(sparsePax01('0,9', 12, 'abcde')), names: 'sparse01' },
  { what: 'a GNU sparse 0.1 map covering less than the stored data', tar: tar(sparsePax01('0,2', 12, 'abcde')), names: 'sparse01' },
  { what: 'a GNU sparse 1.0 map line that is not a number', tar: tar(sparse10('1\n0\nfive\n', 10, 'abcde')), names: 'sparse10' },
  { what: 'a GNU sparse 1.0 count that is not a number', tar: tar(sparse10('one\n0\n5\n', 10, 'abcde')), names: 'sparse10' },
  { what: 'a GNU sparse 1.0 region past the real size', tar: tar(sparse10('1\n8\n5\n', 10, 'abcde')), names: 'sparse10' },
  { what: 'an old GNU sparse region past the real size', tar: tar(oldGnuSparse(100, 5, 50, 'abcde')), names: 'oldsparse' },
  // ---- entry types and links, refused by the extraction
  // Go's reader hands out any type flag; Docker's createTarFile then fails with "unhandled tar
  // header type", so overlay2 refuses the layer. Strata refuses them the same way.
  { what: "a GNU volume header (type 'V')", tar: tar(header({ name: 'volume', type: 'V' })), names: 'volume', extractOnly: true },
  { what: "an unknown type flag ('Z') with data", tar: tar(Buffer.concat([header({ name: 'zed', type: 'Z', size: 3 }), padded('zzz')])), names: 'zed', extractOnly: true },
  // Docker's os.Link fails the same way, with the host paths in its message; Strata names the entry.
  { what: 'a hardlink to a name the archive has not created', tar: tar(header({ name: 'h', type: '1', linkname: 'missing' })), names: 'h', extractOnly: true },
  { what: 'a hardlink below a file', tar: tar(header({ name: 'h', type: '1', linkname: 'first/below' })), names: 'h', extractOnly: true },
  { what: 'a hardlink to a directory', tar: tar(header({ name: 'd/', type: '5', mode: '0000755\0' }), header({ name: 'h', type: '1', linkname: 'd' })), names: 'h', extractOnly: true },
  // ---- found by the fuzzer (npm run fuzz); each was an IoError (HTTP 500) before
  // Docker's symlink(2) and overlay whiteout mknod(2) fail alike (ENOENT, EEXIST).
  { what: 'a symlink without a target', tar: tar(header({ name: 'empty-link', type: '2' })), names: 'empty-link', extractOnly: true },
  { what: 'a whiteout of a name the layer holds already', tar: tar(file('.wh.first')), names: '.wh.first', extractOnly: true },
  { what: 'a whiteout given twice', tar: tar(file('.wh.gone'), file('.wh.gone')), names: '.wh.gone', extractOnly: true },
  { what: 'a device number beyond what Linux takes', tar: tar(header({ name: 'bigdev', type: '3', raw: [[329, '0010000\0']] })), names: 'bigdev', extractOnly: true },
  { what: 'a name of 256 bytes', tar: tar(pax('long', record('path', 'n'.repeat(256))), file('long')), names: 'n'.repeat(256), extractOnly: true },
  { what: 'a symlink target of 4096 bytes', tar: tar(pax('longlink', record('linkpath', 't'.repeat(4096))), header({ name: 'longlink', type: '2' })), names: 'longlink', extractOnly: true },
  // Strata is stricter on purpose: Go hands the id to lchown(2), which keeps its low 32 bits
  // (uid 2^32 would become root).
  { what: 'a uid beyond 32 bits', tar: tar(header({ name: 'big-uid', raw: [[108, base256([0x80, 0, 0, 1, 0, 0, 0, 0])]] })), names: 'big-uid', extractOnly: true },
  { what: 'a PAX gid beyond 32 bits', tar: tar(pax('big-gid', record('gid', '4294967296')), file('big-gid')), names: 'big-gid', extractOnly: true },
];
