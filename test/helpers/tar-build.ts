/**
 * Building and reading tars in tests: with the tar-stream package (an independent
 * implementation), with Strata's own TarWriter/readTar, and as chunked async input.
 */
import { extract, pack, type Header } from 'tar-stream';
import { isZeroBlock } from '../../src/archive/tar/header-decode';
import { parseNumeric } from '../../src/archive/tar/numbers';
import { HEADER_ONLY, readTar } from '../../src/archive/tar/reader';
import { BLOCK, padding, type HeaderFields, type TarEntry } from '../../src/archive/tar/entry';
import { TarWriter } from '../../src/archive/tar/writer';

/** tar-stream headers with the PAX records it reads and writes as strings. */
export type StreamHeaders = Partial<Omit<Header, 'pax'>> & Pick<Header, 'name'> & { pax?: Record<string, string> | null };

export interface StreamEntry {
  header: StreamHeaders;
  content?: Buffer | string;
}

/** packWithTarStream builds a complete tar with tar-stream's pack(). */
export async function packWithTarStream(entries: readonly StreamEntry[]): Promise<Buffer> {
  const p = pack();
  const out: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of p) out.push(Buffer.from(chunk as Uint8Array));
  })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      const header = e.header as Parameters<typeof p.entry>[0];
      if (e.content === undefined) p.entry(header, cb);
      else p.entry(header, e.content, cb);
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(out);
}

export interface ExtractedEntry {
  header: StreamHeaders;
  data: Buffer;
}

/** extractWithTarStream parses a tar with tar-stream's extract(). */
export async function extractWithTarStream(tar: Buffer, filenameEncoding: BufferEncoding = 'utf-8'): Promise<ExtractedEntry[]> {
  // tar-stream reads filenameEncoding although its typings do not list it.
  const ex = extract({ filenameEncoding } as Parameters<typeof extract>[0]);
  const out: ExtractedEntry[] = [];
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const parts: Buffer[] = [];
      stream.on('data', (c: unknown) => parts.push(Buffer.from(c as Uint8Array)));
      stream.on('end', () => {
        out.push({ header: header as StreamHeaders, data: Buffer.concat(parts) });
        next();
      });
      stream.on('error', reject);
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(tar);
  await done;
  return out;
}

export interface OurEntry {
  fields: HeaderFields;
  data?: Buffer;
}

/** tarWithOurWriter builds a tar with Strata's TarWriter; `end: false` leaves out the end marker. */
export function tarWithOurWriter(entries: readonly OurEntry[], opts: { end?: boolean } = {}): Buffer {
  const w = new TarWriter();
  for (const e of entries) {
    w.header(e.fields);
    if (e.data && e.data.length > 0) {
      w.data(e.data);
      w.endData(e.data.length);
    }
  }
  if (opts.end !== false) w.finish();
  return w.take();
}

/** chunked yields `buf` in pieces of `size` bytes, as a socket would deliver it. */
export async function* chunked(buf: Buffer, size = 4096): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, Math.min(i + size, buf.length));
}

export interface ReadBack {
  entry: TarEntry;
  data: Buffer;
}

/** readWithOurReader reads every entry and its stored data with Strata's readTar. */
export async function readWithOurReader(input: Buffer | AsyncIterable<Buffer>, chunkSize = 4096): Promise<ReadBack[]> {
  const src = Buffer.isBuffer(input) ? chunked(input, chunkSize) : input;
  const out: ReadBack[] = [];
  for await (const { entry, data } of readTar(src)) {
    const parts: Buffer[] = [];
    for await (const c of data()) parts.push(Buffer.from(c));
    out.push({ entry, data: Buffer.concat(parts) });
  }
  return out;
}

/** fields fills in the HeaderFields a test does not care about. */
export function fields(f: Partial<HeaderFields> & Pick<HeaderFields, 'name' | 'type'>): HeaderFields {
  return { mode: f.type === 'dir' ? 0o40755 : 0o100644, uid: 0, gid: 0, size: 0, mtimeSec: 1_600_000_000, ...f };
}

/** latin1 turns bytes into the byte-string form Strata uses for names. */
export function byteString(bytes: Buffer): string {
  return bytes.toString('latin1');
}

/**
 * dockerdPieces cuts a tar where dockerd's ApplyDiff body has its HTTP chunks: tar-split passes on
 * each read of Go's tar reader, so there is a chunk per header block, per 32 KiB of file data and
 * per padding. The pieces always add up to the tar; a PAX size override only moves where the
 * cuts fall.
 */
export function dockerdPieces(tar: Buffer): Buffer[] {
  const pieces: Buffer[] = [];
  let off = 0;
  while (off + BLOCK <= tar.length) {
    const header = tar.subarray(off, off + BLOCK);
    pieces.push(header);
    off += BLOCK;
    if (isZeroBlock(header)) continue;
    const size = HEADER_ONLY.has(String.fromCharCode(header[156]!)) ? 0 : parseNumeric(header, 124, 12, 'size');
    const stored = Math.min(size, tar.length - off);
    for (let p = 0; p < stored; p += 32768) pieces.push(tar.subarray(off + p, off + Math.min(stored, p + 32768)));
    off += stored;
    const pad = Math.min(padding(stored), tar.length - off);
    if (pad > 0) pieces.push(tar.subarray(off, off + pad));
    off += pad;
  }
  if (off < tar.length) pieces.push(tar.subarray(off));
  return pieces;
}
