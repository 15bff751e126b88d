/**
 * A layer's bytes uncompressed: a small gzip layer that arrives in one piece is inflated in one
 * call, any other in a stream, and both ways give the same bytes and the same errors.
 */
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { uncompressed } from '../../../src/differ/decompress';

async function outcome(blob: Buffer, pieces: Buffer[]): Promise<string> {
  const parts: Buffer[] = [];
  try {
    for await (const chunk of (await uncompressed((async function* () { yield* pieces; })(), blob.length)).bytes) parts.push(chunk);
    return `bytes ${Buffer.concat(parts).toString('base64').slice(0, 60)} ${Buffer.concat(parts).length}`;
  } catch (err) {
    return `${(err as Error).constructor.name}: ${(err as Error).message}`;
  }
}

const member = gzipSync(Buffer.from('a layer '.repeat(500)));
const CASES: Record<string, Buffer> = {
  'one member': member,
  'two members': Buffer.concat([member, gzipSync(Buffer.from('and a second member'))]),
  'trailing bytes that are not gzip': Buffer.concat([member, Buffer.from('not gzip')]),
  'corrupt data': Buffer.concat([member.subarray(0, 20), Buffer.alloc(20, 7), member.subarray(40)]),
  'cut short': member.subarray(0, member.length - 5),
  'inflating past the one-call bound': gzipSync(Buffer.alloc(5 * 1024 * 1024, 1)),
  'a plain tar': Buffer.alloc(1024),
};

describe('decompressed', () => {
  for (const [name, blob] of Object.entries(CASES)) {
    it(`gives the same for ${name} in one piece as in several`, async () => {
      const whole = await outcome(blob, [blob]);
      assert.equal(whole, await outcome(blob, [blob.subarray(0, 3), blob.subarray(3, 100), blob.subarray(100)]));
      if (name === 'corrupt data' || name === 'cut short' || name === 'trailing bytes that are not gzip') assert.match(whole, /^InvalidArchiveError: the layer's compressed data is corrupt/);
      else assert.match(whole, /^bytes /);
    });
  }
});
