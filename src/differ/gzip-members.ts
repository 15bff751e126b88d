/**
 * Gzip on every core: the stream is cut into pieces compressed at the same time on libuv's
 * thread pool, each a complete gzip member, written out in order. A concatenation of members is
 * one valid gzip file (RFC 1952 §2.2) that every reader of layers decompresses whole (Go's
 * gzip.Reader, pigz, zlib); a 4 MiB piece costs well under 1% of ratio against one stream.
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const gzip = promisify(zlib.gzip);

/** MEMBER_BYTES is the uncompressed size of one member. */
const MEMBER_BYTES = 4 * 1024 * 1024;

/** gzipMembers compresses `input` at `level` with up to `parallel` members in flight. */
export async function* gzipMembers(input: AsyncIterable<Buffer>, level: number, parallel: number): AsyncGenerator<Buffer> {
  const inFlight: Array<Promise<Buffer>> = [];
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const launch = () => {
    const piece = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    const done = gzip(piece, { level });
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
