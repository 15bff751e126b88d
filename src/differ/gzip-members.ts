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

const gzip = promisify(zlib.gzip);

/** MEMBER_BYTES is the uncompressed size of one member. */
const MEMBER_BYTES = 4 * 1024 * 1024;
const PROBE_BYTES = 64 * 1024;
/** a probe that keeps more than this share of its size marks its piece as not worth compressing */
const INCOMPRESSIBLE = 0.9;

async function member(piece: Buffer, level: number): Promise<Buffer> {
  if (piece.length >= PROBE_BYTES) {
    const probe = await gzip(piece.subarray(0, PROBE_BYTES), { level });
    if (probe.length > PROBE_BYTES * INCOMPRESSIBLE) return gzip(piece, { level: 0 });
  }
  return gzip(piece, { level });
}

/** gzipMembers compresses `input` at `level` with up to `parallel` members in flight. */
export async function* gzipMembers(input: AsyncIterable<Buffer>, level: number, parallel: number): AsyncGenerator<Buffer> {
  const inFlight: Array<Promise<Buffer>> = [];
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const launch = () => {
    const piece = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    const done = member(piece, level);
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
