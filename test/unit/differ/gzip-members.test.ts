import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { gzipMembers } from '../../../src/differ/gzip-members';

async function gzipped(chunks: Buffer[], parallel: number): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const part of gzipMembers((async function* () { yield* chunks; })(), 1, parallel)) out.push(part);
  return Buffer.concat(out);
}

describe('gzipMembers', () => {
  it('gives one gzip stream that decompresses to the input, whatever the chunking and parallelism', async () => {
    const text = Buffer.from('layer tar bytes that compress well. '.repeat(400_000));
    const random = randomBytes(5 << 20);
    const input = Buffer.concat([text, random, text.subarray(0, 12345)]);
    for (const parallel of [1, 2, 4]) {
      const chunks = [input.subarray(0, 1000), input.subarray(1000, 7 << 20), input.subarray(7 << 20)];
      const gz = await gzipped(chunks, parallel);
      assert.ok(gunzipSync(gz).equals(input), `parallel ${parallel}`);
    }
  });

  it('stores pieces that do not compress, and compresses the others', async () => {
    const random = randomBytes(8 << 20);
    const stored = await gzipped([random], 2);
    assert.ok(stored.length >= random.length && stored.length < random.length * 1.01, `${stored.length} for ${random.length}`);
    const text = Buffer.from('abc '.repeat(2 << 20));
    assert.ok((await gzipped([text], 2)).length < text.length / 20);
  });

  it('writes a valid empty gzip stream for no input', async () => {
    assert.equal(gunzipSync(await gzipped([], 2)).length, 0);
  });
});
