/**
 * Concurrency: 20 containers started and removed in parallel, parallel `docker load` of images
 * that share their base layer, and `docker cp`/`docker export`/`docker diff` while a container
 * runs — no EBUSY, no leaked mount, no lost or orphaned layer (checked with `strata fsck`).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestDaemon, exec, importBusybox, mountsUnder } from '../helpers/dockerd';
import { eventually } from '../helpers/eventually';
import { busyboxLayer, smallFileLayer, writeImageArchive } from '../helpers/image-archive';
import { needDocker } from '../helpers/tiers';

const IMAGE = 'busybox:strata';
const PARALLEL = 20;
const LOADS = 4;

interface FsckJson {
  problems: number;
  layers: number;
  findings: Array<{ kind: string; path: string }>;
}

async function fsck(d: TestDaemon): Promise<FsckJson> {
  const cli = path.resolve(__dirname, '..', '..', 'src', 'cli.js');
  return JSON.parse((await exec(process.execPath, [cli, 'fsck', '--home', d.home, '--json'], { allowFail: true })).stdout) as FsckJson;
}

describe('concurrent use of strata', { skip: needDocker() }, () => {
  let d: TestDaemon;
  let work: string;

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'strata-concurrency-'));
    d = await TestDaemon.start({ driver: 'strata' });
    await importBusybox(d, IMAGE);
  });

  after(async () => {
    await d?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it(`starts and removes ${PARALLEL} containers in parallel`, async () => {
    const layersBefore = (await d.layerDirs()).length;
    const names = Array.from({ length: PARALLEL }, (_, i) => `par${i}`);
    await Promise.all(names.map((n, i) => d.docker(['run', '-d', '--network', 'none', '--name', n, IMAGE, 'sh', '-c', `echo ${i} > /id; exec sleep 300`])));
    const mounts = mountsUnder(d.home);
    assert.equal(new Set(mounts).size, PARALLEL, `one mount per container: ${mounts.length}`);
    assert.equal(mounts.length, PARALLEL, 'nothing mounted twice');
    const ids = await Promise.all(names.map(async (n) => (await d.docker(['exec', n, 'cat', '/id'])).stdout.trim()));
    assert.deepEqual(ids, names.map((_, i) => String(i)), 'each container sees its own layer');
    await Promise.all(names.map((n) => d.docker(['rm', '-f', n])));
    // Removed layers are unmounted and deleted in the background.
    await eventually(() => assert.deepEqual(mountsUnder(d.home), [], 'no mount left'));
    assert.equal((await d.layerDirs()).length, layersBefore, 'every container layer was removed');
  });

  it(`loads ${LOADS} images that share a base layer in parallel, losing and leaking nothing`, async () => {
    const base = await busyboxLayer(path.join(work, 'base.tar'));
    const archives = await Promise.all(
      Array.from({ length: LOADS }, async (_, i) => {
        const own = await smallFileLayer(path.join(work, `own${i}.tar`), `own/${i}.txt`, `image ${i}\n`);
        return writeImageArchive(path.join(work, `image${i}.tar`), `strata/shared:${i}`, [base, own]);
      }),
    );
    const results = await Promise.all(archives.map((a) => d.docker(['load', '-i', a])));
    results.forEach((r, i) => assert.match(r.stdout, new RegExp(`Loaded image: strata/shared:${i}`)));
    for (let i = 0; i < LOADS; i++) {
      const out = await d.docker(['run', '--rm', '--network', 'none', `strata/shared:${i}`, 'cat', `/own/${i}.txt`]);
      assert.equal(out.stdout, `image ${i}\n`);
    }
    const report = await fsck(d);
    assert.equal(report.problems, 0, JSON.stringify(report.findings));
    // The busybox import, the shared base once, and one layer per image.
    assert.equal(report.layers, 1 + 1 + LOADS);
  });

  it('docker cp, export and diff while the container runs and writes', async () => {
    // The busy writes go to a tmpfs: a file rewritten in the layer while dockerd tars it makes
    // Docker's own export stream short (its tar writer gets fewer bytes than the header said).
    const loop = 'echo start > /counter; i=0; while true; do i=$((i+1)); echo $i > /scratch/counter; done';
    await d.docker(['run', '-d', '--network', 'none', '--tmpfs', '/scratch', '--name', 'busy', IMAGE, 'sh', '-c', loop]);
    while ((await d.docker(['exec', 'busy', 'cat', '/counter'], { allowFail: true })).code !== 0) await new Promise((r) => setTimeout(r, 50));
    const jobs: Array<Promise<unknown>> = [];
    for (let i = 0; i < 5; i++) {
      jobs.push(d.docker(['cp', '/etc/hostname', `busy:/in${i}`]));
      jobs.push(d.docker(['cp', 'busy:/etc/passwd', path.join(work, `out${i}`)]));
      jobs.push(d.docker(['diff', 'busy']));
    }
    for (let i = 0; i < 3; i++) jobs.push(d.docker(['export', '-o', path.join(work, `export${i}.tar`), 'busy']));
    await Promise.all(jobs);
    for (let i = 0; i < 3; i++) {
      const list = (await exec('tar', ['-tf', path.join(work, `export${i}.tar`)])).stdout.split('\n');
      assert.ok(list.includes('bin/busybox') && list.includes('counter'), `export ${i} holds the image and the container's files`);
    }
    const diff = (await d.docker(['diff', 'busy'])).stdout.split('\n');
    for (let i = 0; i < 5; i++) assert.ok(diff.includes(`A /in${i}`), `the copy in${i} arrived`);
    assert.equal(mountsUnder(d.home).length, 1, 'the running container is mounted once, the extra references were released');
    await d.docker(['rm', '-f', 'busy']);
    await eventually(() => assert.deepEqual(mountsUnder(d.home), []));
  });

  it('no request failed with EBUSY and fsck finds nothing wrong', async () => {
    const log = readFileSync(path.join(d.base, 'strata.log'), 'utf8');
    assert.doesNotMatch(log, /EBUSY|resource busy|STRATA_ERR_LAYER_BUSY/);
    assert.equal((await fsck(d)).problems, 0);
  });
});
