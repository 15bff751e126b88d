/**
 * Gzip on every core: the stream is cut into pieces compressed at the same time on libuv's
 * thread pool, each a complete gzip member, written out in order. A concatenation of members is
 * one valid gzip file (RFC 1952 §2.2) that every reader of layers decompresses whole (Go's
 * gzip.Reader, pigz, zlib); a 4 MiB piece costs well under 1% of ratio against one stream.
 * A piece whose first 64 KiB shrink by less than a tenth (media, archives, random data) is
 * stored as uncompressed deflate blocks: on such data zlib's fastest level runs at a third of
 * its usual speed and saves little.
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { StageTimes } from './stage-times';

const gzip = promisify(zlib.gzip);

/** MEMBER_BYTES is the uncompressed size of one member. */
const MEMBER_BYTES = 4 * 1024 * 1024;
const PROBE_BYTES = 64 * 1024;
/** a probe that keeps more than this share of its size marks its piece as not worth compressing */
const INCOMPRESSIBLE = 0.9;

/**
 * OUTPUT_SLACK is room beyond a piece's size in the output buffer: deflate's worst case adds a
 * few bytes per 16 KiB block. A buffer the whole member fits makes it one pass on the thread
 * pool; zlib's 16 KiB default costs a round trip to the main thread per 16 KiB (five times the
 * time of storing a piece).
 */
const OUTPUT_SLACK = 64 * 1024;

/**
 * MEM_LEVEL is zlib's largest hash table: its default (8) has more collisions to chase, and the
 * largest is 12–25% faster on layer data (a Debian root, many small files) for the same output.
 */
const MEM_LEVEL = 9;

async function member(piece: Buffer, level: number): Promise<Buffer> {
  const chunkSize = piece.length + OUTPUT_SLACK;
  if (piece.length >= PROBE_BYTES) {
    const probe = await gzip(piece.subarray(0, PROBE_BYTES), { level, memLevel: MEM_LEVEL });
    if (probe.length > PROBE_BYTES * INCOMPRESSIBLE) return gzip(piece, { level: 0, chunkSize });
  }
  return gzip(piece, { level, memLevel: MEM_LEVEL, chunkSize });
}

/** gzipMembers compresses `input` at `level` with up to `parallel` members in flight, counting each member's time as `times`' gzip stage. */
export async function* gzipMembers(input: AsyncIterable<Buffer>, level: number, parallel: number, times?: StageTimes): AsyncGenerator<Buffer> {
  const inFlight: Array<Promise<Buffer>> = [];
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const launch = () => {
    const piece = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    const done = times ? times.timed('gzip', () => member(piece, level)) : member(piece, level);
    done.catch(() => {}); // awaited in order below; a failure is thrown there
    inFlight.push(done);
  };
  for await (const chunk of input) {
    for (let at = 0; at < chunk.length; ) {
      const take = Math.min(chunk.length - at, MEMBER_BYTES - pendingBytes);
      pending.push(chunk.subarray(at, at + take));
      pendingBytes += take;
      at += take;
      if (pendingBytes === MEMBER_BYTES) launch();
      while (inFlight.length >= parallel) yield await inFlight.shift()!;
    }
  }
  if (pendingBytes > 0 || inFlight.length === 0) launch();
  while (inFlight.length > 0) yield await inFlight.shift()!;
}
