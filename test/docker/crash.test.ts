/**
 * kill -9 of Strata while dockerd loads an image with a large layer (2048 files of 32 KiB of
 * random data). Strata is killed  when the staging area holds a chosen number of that layer's
 * files, then restarted; dockerd's load fails. Afterwards no partial layer is reported or
 * mounted, the staging leftovers are gone, and loading the same image then succeeds with every
 * byte in place. (dockerd retries the cut ApplyDiff for about 15 s, so each kill point costs that.)
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestDaemon, exec, mountsUnder } from '../helpers/dockerd';
import { busyboxLayer, randomFilesLayer, writeImageArchive } from '../helpers/image-archive';
import { needDocker } from '../helpers/tiers';
import { eventually } from '../helpers/eventually';

const IMAGE = 'strata/big:1';
const SHAPE = { dirs: 32, filesPerDir: 64, fileSize: 32 * 1024 };
const FILES = SHAPE.dirs * SHAPE.filesPerDir;
/** kill when this many files of the big layer are staged */
const THRESHOLDS = [1, 700, 1400, 2000];

/** stagedFiles counts the big layer's files in every ApplyDiff staging dir. */
function stagedFiles(home: string): number {
  const staging = path.join(home, '.strata', 'staging');
  let n = 0;
  const list = (p: string): string[] => {
    try {
      return readdirSync(p);
    } catch {
      return [];
    }
  };
  for (const apply of list(staging).filter((a) => a.startsWith('apply-'))) {
    for (const sub of list(path.join(staging, apply, 'data'))) n += list(path.join(staging, apply, 'data', sub)).length;
  }
  return n;
}

interface FsckJson {
  problems: number;
  findings: Array<{ kind: string; id?: string; bytes?: number }>;
}

async function fsckJson(d: TestDaemon): Promise<FsckJson> {
  const cli = path.resolve(__dirname, '..', '..', 'src', 'cli.js');
  const out = await exec(process.execPath, [cli, 'fsck', '--home', d.home, '--json'], { allowFail: true });
  return JSON.parse(out.stdout) as FsckJson;
}

const CHECKSUM = 'cd / && find data -type f | sort | xargs md5sum | md5sum';

describe('kill -9 of strata during docker load', { skip: needDocker() }, () => {
  let d: TestDaemon;
  let work: string;
  let archive: string;
  let expectedSum: string;
  const tried: string[] = [];

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'strata-crash-'));
    const big = await randomFilesLayer(path.join(work, 'big.tar'), 'data', SHAPE);
    archive = await writeImageArchive(path.join(work, 'image.tar'), IMAGE, [await busyboxLayer(path.join(work, 'bb.tar')), big]);
    const unpacked = path.join(work, 'unpacked');
    await exec('mkdir', [unpacked]);
    await exec('tar', ['-C', unpacked, '-xf', big]);
    expectedSum = (await exec('sh', ['-c', CHECKSUM.replace('cd /', `cd ${unpacked}`)])).stdout.trim();
    d = await TestDaemon.start({ driver: 'strata' });
  });

  after(async () => {
    await d?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('leaves no partial layer at any kill point', async () => {
    for (const threshold of THRESHOLDS) {
      const started = Date.now();
      const load = d.docker(['load', '-i', archive], { allowFail: true });
      let staged = 0;
      let loadDone = false;
      void load.then(() => (loadDone = true));
      while (!loadDone && (staged = stagedFiles(d.home)) < threshold) await new Promise((r) => setTimeout(r, 2));
      assert.ok(!loadDone, `the load was still running at ${threshold} staged files`);
      await d.killStrata('SIGKILL');
      const killedAt = Date.now();
      await d.startStrata();
      const result = await load;
      tried.push(`${staged}/${FILES} files staged at ${killedAt - started} ms, load failed ${Date.now() - killedAt} ms later`);
      assert.notEqual(result.code, 0, `docker load failed after the kill at ${staged} files`);

      // Start removes the leftovers; a layer dockerd removes after the failed load goes in the background.
      await eventually(() => assert.deepEqual(readdirSync(path.join(d.home, '.strata', 'staging')), [], 'staging leftovers were removed at start'));
      assert.deepEqual(mountsUnder(d.home), [], 'nothing is mounted');
      assert.equal((await d.docker(['images', '-q', IMAGE])).stdout.trim(), '', 'the image is not there');
      const report = await fsckJson(d);
      for (const f of report.findings) {
        assert.equal(f.kind, 'unreferenced', `only layers Docker dropped remain: ${JSON.stringify(f)}`);
        assert.deepEqual(readdirSync(path.join(d.home, f.id!, 'diff')), [], `an unreferenced layer is an empty created layer, not a partial one: ${f.id}`);
      }
    }
    console.log(`# docker load kill points tried: ${tried.length} (${tried.join(', ')})`);
  });

  it('then loads the same image, with every byte of the big layer', async () => {
    assert.match((await d.docker(['load', '-i', archive])).stdout, new RegExp(`Loaded image: ${IMAGE}`));
    const sum = (await d.docker(['run', '--rm', '--network', 'none', IMAGE, 'sh', '-c', CHECKSUM])).stdout.trim();
    assert.equal(sum, expectedSum);
    assert.equal((await d.docker(['run', '--rm', '--network', 'none', IMAGE, 'sh', '-c', 'find /data -type f | wc -l'])).stdout.trim(), String(FILES));
  });
});
