/**
 * A full disk. Strata's home is a 40 MiB tmpfs (so it is also a home that is itself a mount
 * point). A stopped container holding 28 MiB leaves too little room for a 16 MiB layer:
 * `docker load` fails with a readable "no space left on device", no half layer stays behind,
 * and Strata keeps serving. A container writing past the end gets ENOSPC itself. Once the
 * space is freed the same load succeeds. Stopping dockerd (Cleanup) leaves the home mounted.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestDaemon, exec, importBusybox, mountsUnder } from '../helpers/dockerd';
import { eventually } from '../helpers/eventually';
import { busyboxLayer, randomFilesLayer, writeImageArchive } from '../helpers/image-archive';
import { needDocker } from '../helpers/tiers';

const IMAGE = 'busybox:strata';
const BIG = 'strata/sixteen:1';
const CHECKSUM = 'cd / && find data -type f | sort | xargs md5sum | md5sum';

interface FsckJson {
  findings: Array<{ kind: string; id?: string }>;
}

describe('strata on a full disk', { skip: needDocker() }, () => {
  let d: TestDaemon;
  let work: string;
  let archive: string;
  let expectedSum: string;
  let mounted = false;

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'strata-diskfull-'));
    const big = await randomFilesLayer(path.join(work, 'big.tar'), 'data', { dirs: 4, filesPerDir: 16, fileSize: 256 * 1024 });
    archive = await writeImageArchive(path.join(work, 'image.tar'), BIG, [await busyboxLayer(path.join(work, 'bb.tar')), big]);
    await exec('mkdir', [path.join(work, 'x')]);
    await exec('tar', ['-C', path.join(work, 'x'), '-xf', big]);
    expectedSum = (await exec('sh', ['-c', CHECKSUM.replace('cd /', `cd ${path.join(work, 'x')}`)])).stdout.trim();
    d = await TestDaemon.start({ driver: 'strata' });
    // Put the home on a small filesystem of its own, then let dockerd Init Strata on it. dockerd
    // bind-mounts a data-root whose mount is not shared onto itself, which would hide the home's
    // mount: doing that first ourselves (shared) keeps dockerd from doing it.
    await d.stopDockerd();
    await d.killStrata('SIGTERM');
    await exec('mount', ['--bind', d.dataRoot, d.dataRoot]);
    await exec('mount', ['--make-shared', d.dataRoot]);
    await exec('mount', ['-t', 'tmpfs', '-o', 'size=40m,mode=0710', 'strata-full', d.home]);
    mounted = true;
    await d.startStrata();
    await d.startDockerd();
    await importBusybox(d, IMAGE);
  });

  after(async () => {
    await d?.stopDockerd();
    if (mounted) for (const m of [d.home, d.dataRoot]) await exec('umount', [m], { allowFail: true });
    await d?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('a load that does not fit fails with "no space left on device" and leaves no half layer', async () => {
    const filler = await d.docker(['run', '--name', 'filler', '--network', 'none', IMAGE, 'dd', 'if=/dev/zero', 'of=/fill', 'bs=1M', 'count=28']);
    assert.equal(filler.code, 0);
    const load = await d.docker(['load', '-i', archive], { allowFail: true });
    assert.notEqual(load.code, 0, 'the load failed');
    assert.match(load.stderr, /GraphDriver.ApplyDiff\?id=\S+: extracting "[^"]+": no space left on device/);
    // dockerd removes the failed layer; Strata deletes its tree in the background.
    await eventually(() => assert.deepEqual(readdirSync(path.join(d.home, '.strata', 'staging')), [], 'the staged files were removed'));
    for (const id of await d.layerDirs()) assert.ok(!existsSync(path.join(d.home, id, 'incomplete')), `${id} is not half-applied`);
    const cli = path.resolve(__dirname, '..', '..', 'src', 'cli.js');
    const report = JSON.parse((await exec(process.execPath, [cli, 'fsck', '--home', d.home, '--json'], { allowFail: true })).stdout) as FsckJson;
    for (const f of report.findings) {
      assert.equal(f.kind, 'unreferenced', JSON.stringify(f));
      assert.deepEqual(readdirSync(path.join(d.home, f.id!, 'diff')), [], `${f.id} is an empty created layer`);
    }
    assert.equal((await d.docker(['images', '-q', BIG])).stdout.trim(), '');
  });

  it('keeps serving: a container still runs', async () => {
    assert.equal((await d.docker(['run', '--rm', '--network', 'none', IMAGE, 'echo', 'alive'])).stdout, 'alive\n');
  });

  it('a container writing past the end gets ENOSPC', async () => {
    const out = await d.docker(['run', '--rm', '--network', 'none', IMAGE, 'sh', '-c', 'dd if=/dev/zero of=/more bs=1M count=64; echo "dd exit $?"'], { allowFail: true });
    assert.match(out.stderr + out.stdout, /No space left on device/);
    assert.match(out.stdout, /dd exit 1/);
  });

  it('once space is freed the same load succeeds, with every byte', async () => {
    await d.docker(['rm', 'filler']);
    assert.match((await d.docker(['load', '-i', archive])).stdout, new RegExp(`Loaded image: ${BIG}`));
    assert.equal((await d.docker(['run', '--rm', '--network', 'none', BIG, 'sh', '-c', CHECKSUM])).stdout.trim(), expectedSum);
  });

  it('stopping dockerd (Cleanup) never unmounts the home itself', async () => {
    await d.stopDockerd();
    assert.ok(mountsUnder(d.base).includes(d.home), 'the home is still mounted');
    assert.deepEqual(mountsUnder(d.home), [], 'but nothing under it');
    await d.startDockerd();
  });
});
