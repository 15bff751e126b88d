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
 * OUTPUT_CHUNK is the decompressor's output buffer: each buffer filled is a round trip between
 * the thread pool and the main thread, and at zlib's 16 KiB default those round trips take
 * three times as long as the inflating.
 */
const OUTPUT_CHUNK = 1024 * 1024;

function decompressorFor(head: Buffer): Decompressor | undefined {
  if (head.subarray(0, 3).equals(GZIP_MAGIC)) return () => zlib.createGunzip({ chunkSize: OUTPUT_CHUNK });
  if (head.subarray(0, 4).equals(ZSTD_MAGIC)) {
    const zstd = (zlib as unknown as { createZstdDecompress?: (opts: { chunkSize: number }) => NodeJS.ReadWriteStream }).createZstdDecompress;
    if (!zstd) throw new InvalidArchiveError('the layer is zstd-compressed, which this Node.js cannot decompress (Node 22.15 or later can)');
    return () => zstd({ chunkSize: OUTPUT_CHUNK });
  }
  return undefined;
}

/** decompressed yields the uncompressed bytes of `input`; corrupt compressed data is an InvalidArchiveError. */
export async function* decompressed(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
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
  const decompressor = decompressorFor(head);
  if (!decompressor) {
    yield* all;
    return;
  }
  const output = decompressor();
  // A failure on either side destroys the other, so that iterating the output sees it.
  pipeline(Readable.from(all, { objectMode: false }), output, () => {});
  try {
    for await (const chunk of output as AsyncIterable<Buffer>) yield chunk;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code?.startsWith('Z_') || (err as NodeJS.ErrnoException).code?.startsWith('ERR_ZSTD')) {
      throw new InvalidArchiveError(`the layer's compressed data is corrupt (${(err as Error).message})`);
    }
    throw err;
  }
}
