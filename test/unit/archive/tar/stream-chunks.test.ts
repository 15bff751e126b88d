/**
 * StreamChunks: the chunks of a stream as they arrive, taken by the tar reader without a promise
 * when they are there already; bounded by pausing the stream; an abort reaches the reader.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { readTar } from '../../../../src/archive/tar/reader';
import { StreamChunks } from '../../../../src/archive/tar/stream-chunks';
import { dockerdPieces, packWithTarStream, readWithOurReader } from '../../../helpers/tar-build';

const tick = () => new Promise((resolve) => setImmediate(resolve));

async function sampleTar(): Promise<Buffer> {
  return packWithTarStream([
    { header: { name: 'etc/', type: 'directory', mode: 0o755 } },
    { header: { name: 'etc/hostname', mode: 0o644 }, content: 'strata\n' },
    { header: { name: 'etc/big', mode: 0o644 }, content: Buffer.alloc(100_000, 7) },
    { header: { name: 'etc/link', type: 'symlink', linkname: 'hostname' } },
    { header: { name: 'empty', mode: 0o600 }, content: '' },
    { header: { name: 'pax-named', mode: 0o644, pax: { 'SCHILY.xattr.user.k': 'v' } }, content: 'x'.repeat(513) },
  ]);
}

describe('StreamChunks', () => {
  it('hands out each chunk as it arrived, none joined, and counts the bytes', async () => {
    const stream = new PassThrough();
    const chunks = new StreamChunks(stream);
    for (const s of ['a', 'bc', 'def']) stream.write(s);
    await tick();
    assert.deepEqual([chunks.takeReceived(), chunks.takeReceived(), chunks.takeReceived()].map(String), ['a', 'bc', 'def']);
    assert.equal(chunks.takeReceived(), undefined);
    assert.equal(chunks.bytes, 6);
    stream.end('g');
    const rest: string[] = [];
    for await (const c of chunks) rest.push(String(c));
    assert.deepEqual(rest, ['g']);
  });

  it('pauses the stream at its high-water mark and resumes it once half of that is taken', async () => {
    const stream = new PassThrough();
    const chunks = new StreamChunks(stream, 1000);
    for (let i = 0; i < 3; i++) stream.write(Buffer.alloc(400));
    await tick();
    assert.equal(stream.isPaused(), true, 'paused with 1200 bytes queued');
    chunks.takeReceived();
    assert.equal(stream.isPaused(), true, '800 bytes still queued');
    chunks.takeReceived();
    assert.equal(stream.isPaused(), false, 'resumed at 400 bytes');
  });

  it('fails the reader with the error of a stream that is destroyed, and with a premature close of one closed before its end', async () => {
    const failed = new PassThrough();
    const a = new StreamChunks(failed);
    failed.write('part');
    failed.destroy(new Error('connection reset'));
    await assert.rejects(async () => {
      for await (const _ of a) void _;
    }, /connection reset/);
    const closed = new PassThrough();
    const b = new StreamChunks(closed);
    closed.destroy();
    await assert.rejects(async () => {
      for await (const _ of b) void _;
    }, { code: 'ERR_STREAM_PREMATURE_CLOSE' });
  });

  it('after stop queues nothing more and ends the iteration', async () => {
    const stream = new PassThrough();
    const chunks = new StreamChunks(stream);
    stream.write('kept');
    await tick();
    chunks.stop();
    stream.write('dropped');
    await tick();
    assert.equal(chunks.takeReceived(), undefined);
    assert.deepEqual(await chunks[Symbol.asyncIterator]().next(), { done: true, value: undefined });
  });

  it('readTar reads a tar sent in dockerd\'s pieces as it reads the whole tar, and small files come whole from buffered()', async () => {
    const tar = await sampleTar();
    const expected = await readWithOurReader(tar, tar.length);
    const stream = new PassThrough();
    const pieces = dockerdPieces(tar);
    assert.ok(pieces.length > 12, 'a piece per header, data and padding');
    for (const p of pieces) stream.write(p);
    stream.end();
    const got = await readWithOurReader(new StreamChunks(stream));
    assert.deepEqual(got, expected);

    const again = new PassThrough();
    for (const p of dockerdPieces(tar)) again.write(p);
    again.end();
    await tick();
    const whole: string[] = [];
    for await (const { entry, buffered } of readTar(new StreamChunks(again))) {
      if (entry.name === 'etc/hostname') whole.push(String(buffered()));
    }
    assert.deepEqual(whole, ['strata\n'], 'the data piece that follows a header is taken without waiting');
  });
});
