/**
 * The tars a Diff keeps for the Apply that follows: real files in a scratch directory, taken
 * once, by namespace and digest, within their bounds, and gone from disk when forgotten.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RecentLayers, type KeepLimits } from '../../../src/differ/recent-layers';
import { eventually } from '../../helpers/eventually';

const LIMITS: KeepLimits = { maxKept: 2, maxTarBytes: 1024, keepMs: 60_000 };

async function bytesOf(source: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of source) parts.push(chunk);
  return Buffer.concat(parts).toString();
}

async function keep(recent: RecentLayers, namespace: string, digest: string, ...chunks: string[]): Promise<void> {
  const recording = (await recent.record())!;
  for (const chunk of chunks) await recording.write(Buffer.from(chunk));
  await recording.keep(namespace, digest, `diff-id-of-${digest}`);
}

describe('RecentLayers', () => {
  let root: string;
  let dir: string;
  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'strata-recent-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });
  const open = async (name: string, limits = LIMITS) => RecentLayers.open((dir = path.join(root, name)), limits);

  it('empties its directory when it opens', async () => {
    await mkdir(path.join(root, 'left'), { recursive: true });
    await writeFile(path.join(root, 'left', 'from-before-a-crash'), 'x');
    await open('left');
    assert.deepEqual(await readdir(dir), []);
  });

  it('hands a kept tar over once, only in the namespace that wrote it, and removes its file', async () => {
    const recent = await open('once');
    await keep(recent, 'moby', 'sha256:a', 'first ', 'second');
    assert.equal(recent.take('other', 'sha256:a'), undefined, 'another namespace gets nothing');
    const kept = recent.take('moby', 'sha256:a')!;
    assert.equal(kept.diffId, 'diff-id-of-sha256:a');
    assert.equal(await bytesOf((await kept.bytes())!), 'first second');
    assert.equal(recent.take('moby', 'sha256:a'), undefined, 'taken once');
    await kept.remove();
    assert.deepEqual(await readdir(dir), []);
  });

  it('keeps at most maxKept tars, forgetting the oldest, and none past maxTarBytes', async () => {
    const recent = await open('bounds');
    for (const d of ['sha256:1', 'sha256:2', 'sha256:3']) await keep(recent, 'ns', d, d);
    assert.equal(recent.take('ns', 'sha256:1'), undefined, 'the oldest was forgotten');
    assert.ok(recent.take('ns', 'sha256:2') && recent.take('ns', 'sha256:3'));
    await keep(recent, 'ns', 'sha256:big', 'x'.repeat(600), 'x'.repeat(600));
    assert.equal(recent.take('ns', 'sha256:big'), undefined, 'a tar over the limit is not kept');
    await eventually(async () => assert.equal((await readdir(dir)).length, 2, 'only the two taken files are left'));
  });

  it('records nothing, and says so, where no file can be made', async () => {
    const recent = await open('gone');
    await rm(dir, { recursive: true });
    assert.equal(await recent.record(), undefined);
  });

  it('forgets a tar after keepMs, and a discarded recording leaves nothing', async () => {
    const recent = await open('expiry', { ...LIMITS, keepMs: 20 });
    await keep(recent, 'ns', 'sha256:old', 'bytes');
    const discarded = (await recent.record())!;
    await discarded.write(Buffer.from('half'));
    await discarded.discard();
    await eventually(async () => assert.deepEqual(await readdir(dir), []));
    assert.equal(recent.take('ns', 'sha256:old'), undefined);
  });
});
