/**
 * A layer's bytes uncompressed, whatever its media type says: as containerd does, the data's
 * first bytes decide between gzip, zstd and a plain tar.
 */
import { Readable, pipeline } from 'node:stream';
import zlib from 'node:zlib';
import { InvalidArchiveError } from '../errors';

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b, 0x08]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

type Decompressor = () => NodeJS.ReadWriteStream;

/**
 * The decompressor's output buffer: each buffer filled is a round trip between the thread pool
 * and the main thread, and at zlib's 16 KiB default those round trips take three times as long
 * as the inflating. But a buffer is allocated per layer, and a MiB for each small layer of a deep
 * image had V8 collecting its whole heap every few layers (external memory counts against it),
 * which doubled the CPU of an Apply of a 40 KB layer: the buffer is four times the compressed
 * size, between 16 KiB and a MiB.
 */
const MIN_OUTPUT_CHUNK = 16 * 1024;
const MAX_OUTPUT_CHUNK = 1024 * 1024;

function outputChunk(compressedBytes: number): number {
  return Math.min(MAX_OUTPUT_CHUNK, Math.max(MIN_OUTPUT_CHUNK, 2 ** Math.ceil(Math.log2(Math.max(1, compressedBytes * 4)))));
}

/**
 * A gzip layer that came in one piece of at most this size is inflated in one synchronous call
 * (into at most SMALL_OUTPUT bytes; beyond that, streamed): a stream's hops to the thread pool
 * and back were most of an Apply of a small layer.
 */
const SMALL_INPUT = 256 * 1024;
const SMALL_OUTPUT = 4 * 1024 * 1024;

function inflatedAtOnce(input: Buffer): Buffer | undefined {
  try {
    return zlib.gunzipSync(input, { maxOutputLength: SMALL_OUTPUT });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return undefined;
    throw corruptionOf(err);
  }
}

function corruptionOf(err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code?.startsWith('Z_') || code?.startsWith('ERR_ZSTD')) return new InvalidArchiveError(`the layer's compressed data is corrupt (${(err as Error).message})`);
  return err;
}

type Compression = 'gzip' | 'zstd';

function compressionOf(head: Buffer): Compression | undefined {
  if (head.subarray(0, 3).equals(GZIP_MAGIC)) return 'gzip';
  if (head.subarray(0, 4).equals(ZSTD_MAGIC)) return 'zstd';
  return undefined;
}

function decompressorFor(compression: Compression, chunkSize: number): Decompressor {
  if (compression === 'gzip') return () => zlib.createGunzip({ chunkSize });
  const zstd = (zlib as unknown as { createZstdDecompress?: (opts: { chunkSize: number }) => NodeJS.ReadWriteStream }).createZstdDecompress;
  if (!zstd) throw new InvalidArchiveError('the layer is zstd-compressed, which this Node.js cannot decompress (Node 22.15 or later can)');
  return () => zstd({ chunkSize });
}

/** LayerBytes is a layer's uncompressed bytes, and the compression they were found in (none: the blob's bytes themselves). */
export interface LayerBytes {
  compression: Compression | undefined;
  bytes: AsyncIterable<Buffer>;
}

/** uncompressed reads the start of `input` (`compressedBytes` long) to tell its compression; corrupt compressed data is an InvalidArchiveError. */
export async function uncompressed(input: AsyncIterable<Buffer>, compressedBytes: number): Promise<LayerBytes> {
  const source = input[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  const held: Buffer[] = [];
  // The magic may straddle chunks; four bytes decide.
  while (head.length < 4) {
    const next = await source.next();
    if (next.done) break;
    held.push(next.value);
    head = Buffer.concat([head, next.value]);
  }
  const all = (async function* () {
    yield* held;
    for (let next = await source.next(); !next.done; next = await source.next()) yield next.value;
  })();
  const compression = compressionOf(head);
  if (!compression) return { compression, bytes: all };
  const decompressor = decompressorFor(compression, outputChunk(compressedBytes));
  return { compression, bytes: inflated(compression, head, held, source, all, decompressor) };
}

async function* inflated(compression: Compression, head: Buffer, held: Buffer[], source: AsyncIterator<Buffer>, all: AsyncIterable<Buffer>, decompressor: Decompressor): AsyncGenerator<Buffer> {
  if (compression === 'gzip' && held.length === 1 && head.length <= SMALL_INPUT) {
    const after = await source.next();
    const atOnce = after.done ? inflatedAtOnce(head) : undefined;
    if (atOnce) {
      yield atOnce;
      return;
    }
    if (!after.done) held.push(after.value);
  }
  const output = decompressor();
  // A failure on either side destroys the other, so that iterating the output sees it.
  pipeline(Readable.from(all, { objectMode: false }), output, () => {});
  try {
    for await (const chunk of output as AsyncIterable<Buffer>) yield chunk;
  } catch (err) {
    throw corruptionOf(err);
  }
}
