/**
 * Every malformed tar in malformed-tars.ts, read with readTar: each ends in InvalidArchiveError
 * (never a bare RangeError or TypeError) naming the entry at fault, whether the caller reads
 * the entries' data or skips it. The extraction-only faults (types, links) read cleanly here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeHeader } from '../../../../src/archive/tar/header-decode';
import { readTar } from '../../../../src/archive/tar/reader';
import { InvalidArchiveError } from '../../../../src/errors';
import { chunked, readWithOurReader } from '../../../helpers/tar-build';
import { END, MALFORMED, file, header, pax, record } from './malformed-tars';

async function readAll(tar: Buffer, chunk: number, consumeData: boolean): Promise<number> {
  let n = 0;
  for await (const { data } of readTar(chunked(tar, chunk))) {
    n++;
    if (consumeData) for await (const _ of data()) void _;
  }
  return n;
}

/** checkRefusal asserts the error kind, its wire status and that it names `names` and no path. */
export function checkRefusal(err: unknown, names: string): true {
  assert.ok(err instanceof InvalidArchiveError, `an InvalidArchiveError, got ${String(err)}`);
  assert.equal(err.code, 'STRATA_ERR_TAR_INVALID');
  assert.equal(err.status, 400);
  assert.ok(err.message.includes(JSON.stringify(names)), `the message names ${JSON.stringify(names)}: ${err.message}`);
  assert.ok(!err.message.includes('/tmp/'), `no host path in ${err.message}`);
  return true;
}

describe('readTar refuses every malformed tar with InvalidArchiveError naming the entry', () => {
  for (const c of MALFORMED) {
    if (c.extractOnly) {
      it(`reads ${c.what} (the extraction refuses it)`, async () => {
        assert.ok((await readAll(c.tar, 512, true)) >= 2);
      });
      continue;
    }
    it(c.what, async () => {
      await assert.rejects(readAll(c.tar, 512, true), (err) => checkRefusal(err, c.names));
    });
    it(`${c.what}, in odd chunks with the data skipped`, async () => {
      await assert.rejects(readAll(c.tar, 77, false), (err) => checkRefusal(err, c.names));
    });
  }

  it('names a fault in an entry by the entry, and one in its PAX header by the header', async () => {
    const badTime = Buffer.concat([pax('victim', record('mtime', 'x')), file('victim'), END]);
    await assert.rejects(readAll(badTime, 512, true), (err: InvalidArchiveError) => err.entry === 'victim');
    const badRecord = Buffer.concat([pax('victim', '7 a\n'), file('victim'), END]);
    await assert.rejects(readAll(badRecord, 512, true), (err: InvalidArchiveError) => err.entry === 'PaxHeaders.0/victim');
  });

  it('names a non-UTF-8 entry as UTF-8 text with U+FFFD, keeping its bytes in err.entry', async () => {
    const name = 'caf\xe9';
    const tar = Buffer.concat([header({ name, mode: '00006x4\0' }), END]);
    await assert.rejects(readAll(tar, 512, true), (err: InvalidArchiveError) => err.entry === name && err.message.includes('"caf\ufffd"'));
  });

  it('takes a checksum summed over signed bytes, as Go does', async () => {
    const block = header({ name: 'caf\xe9' });
    let signed = 0;
    for (let i = 0; i < 512; i++) signed += i >= 148 && i < 156 ? 32 : (block[i]! > 127 ? block[i]! - 256 : block[i]!);
    block.write(`${signed.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    assert.equal(decodeHeader(block).name, 'caf\xe9');
    assert.equal((await readWithOurReader(Buffer.concat([block, END]))).length, 1);
  });

  it('reads a well-formed GNU sparse 0.1 map that the malformed cases vary', async () => {
    const records = record('GNU.sparse.size', '12') + record('GNU.sparse.numblocks', '2') + record('GNU.sparse.map', '0,2,9,3');
    const [e] = await readWithOurReader(Buffer.concat([pax('s', records), file('s', 'abcde'), END]));
    assert.deepEqual(e!.entry.sparse, { regions: [{ offset: 0, length: 2 }, { offset: 9, length: 3 }], realSize: 12, mapInData: false });
    assert.equal(e!.entry.size, 12);
  });
});
