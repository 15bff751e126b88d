/**
 * `strata fsck` on the home of a real dockerd. Orphans are made the ways they happen: dockerd
 * killed with -9 in the middle of a load, and layers created through the protocol that Docker
 * never registered (one of them left mounted by a Strata killed with -9, one with an id that is
 * not Docker's). Damage is added by hand while everything is stopped: a missing l/ link, a
 * dangling l/ link, staging leftovers and a container layer without its work dir. fsck must
 * find each, refuse to repair while Strata serves the home, repair the safe things with
 * --repair, remove Docker's orphans only with --remove-unreferenced, and leave Docker working.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestDaemon, exec, importBusybox, mountsUnder } from '../helpers/dockerd';
import { busyboxLayer, randomFilesLayer, writeImageArchive } from '../helpers/image-archive';
import { request } from '../helpers/strata-process';
import { needDocker } from '../helpers/tiers';
import { eventually } from '../helpers/eventually';

const IMAGE = 'busybox:strata';
const CLI = path.resolve(__dirname, '..', '..', 'src', 'cli.js');
const ORPHAN = 'a'.repeat(64);
const ORPHAN_CHILD = 'b'.repeat(64);
const ORPHAN_INIT = `${'c'.repeat(64)}-init`;
const PROTECTED = 'd'.repeat(64);
const NOT_DOCKER = 'buildkitsnapshot1';
const REMOVABLE = [ORPHAN, ORPHAN_CHILD, ORPHAN_INIT];

interface Finding {
  kind: string;
  id?: string;
  path: string;
  bytes?: number;
  repaired?: boolean;
}
interface Report {
  layers: number;
  problems: number;
  repaired: number;
  reclaimedBytes: number;
  strataPid: number | null;
  layerDb: string | null;
  mountsInUse: string[];
  findings: Finding[];
  unreferenced: { layers: number; bytes: number };
}

async function fsck(d: TestDaemon, ...flags: string[]): Promise<{ code: number; report?: Report; stderr: string; stdout: string }> {
  const r = await exec(process.execPath, [CLI, 'fsck', '--home', d.home, ...flags], { allowFail: true });
  return { code: r.code, stderr: r.stderr, stdout: r.stdout, report: flags.includes('--json') && r.code !== 2 ? (JSON.parse(r.stdout) as Report) : undefined };
}

function kinds(report: Report): string[] {
  return report.findings.map((f) => `${f.kind}:${f.id ?? path.basename(f.path)}`).sort();
}

function stagingHasData(home: string): boolean {
  const staging = path.join(home, '.strata', 'staging');
  try {
    return readdirSync(staging).some((a) => a.startsWith('apply-') && readdirSync(path.join(staging, a)).length > 0);
  } catch {
    return false;
  }
}

describe('strata fsck on a real daemon\'s home', { skip: needDocker() }, () => {
  let d: TestDaemon;
  let work: string;
  let killedLoadLayer: string;
  const numbers: string[] = [];

  const call = (method: string, body: unknown) => request(d.pluginSocket, `/GraphDriver.${method}`, JSON.stringify(body));

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'strata-fsck-'));
    d = await TestDaemon.start({ driver: 'strata' });
    await importBusybox(d, IMAGE);
    await d.docker(['create', '--network', 'none', '--name', 'stopped', IMAGE, 'cat', '/etc/passwd']);
    await d.docker(['run', '-d', '--network', 'none', '--name', 'running', IMAGE, 'sleep', '600']);
  });

  after(async () => {
    await d?.docker(['rm', '-f', 'running', 'stopped'], { allowFail: true });
    // The data-root bind mount dockerd leaves after its kill -9 is dockerd's, not Strata's.
    await d?.stopDockerd();
    if (d && mountsUnder(d.base).includes(d.dataRoot)) await exec('umount', [d.dataRoot]);
    await d?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('finds the layer left by dockerd killed with -9 in the middle of a load', async () => {
    const before = new Set(await d.layerDirs());
    const big = await randomFilesLayer(path.join(work, 'big.tar'), 'data', { dirs: 16, filesPerDir: 64, fileSize: 16 * 1024 });
    const archive = await writeImageArchive(path.join(work, 'image.tar'), 'strata/killed:1', [await busyboxLayer(path.join(work, 'bb.tar')), big]);
    const load = d.docker(['load', '-i', archive], { allowFail: true });
    while (!stagingHasData(d.home)) await new Promise((r) => setTimeout(r, 2));
    await d.stopDockerd('SIGKILL');
    await load;
    await d.startDockerd();
    await d.docker(['start', 'running']);
    const added = (await d.layerDirs()).filter((n) => !before.has(n));
    const { report } = await fsck(d, '--json');
    const orphans = report!.findings.filter((f) => f.kind === 'unreferenced').map((f) => f.id!);
    assert.ok(orphans.length >= 1, `the cut load left an unreferenced layer: ${JSON.stringify(report!.findings)}`);
    for (const id of orphans) assert.ok(added.includes(id), `${id} is one of the load's layers`);
    killedLoadLayer = orphans[0]!;
    await eventually(() => assert.deepEqual(readdirSync(path.join(d.home, '.strata', 'staging')), [], 'Strata cleaned the cut ApplyDiff\'s staging'));
  });

  it('reports, read-only while Strata serves the home, the orphans made through the protocol', async () => {
    const tar = await readFile(await randomFilesLayer(path.join(work, 'orphan.tar'), 'junk', { dirs: 2, filesPerDir: 16, fileSize: 128 * 1024 }));
    assert.equal((await call('Create', { ID: ORPHAN })).status, 200);
    assert.equal((await request(d.pluginSocket, `/GraphDriver.ApplyDiff?id=${ORPHAN}&parent=`, tar)).status, 200);
    assert.equal((await call('Create', { ID: ORPHAN_CHILD, Parent: ORPHAN })).status, 200);
    assert.equal((await call('CreateReadWrite', { ID: ORPHAN_INIT, Parent: ORPHAN_CHILD })).status, 200);
    assert.equal((await call('Create', { ID: PROTECTED })).status, 200);
    assert.equal((await call('Create', { ID: NOT_DOCKER, Parent: PROTECTED })).status, 200);
    const { code, report } = await fsck(d, '--json');
    assert.equal(code, 1);
    assert.ok(report!.strataPid, 'fsck sees that Strata serves the home');
    assert.ok(report!.layerDb?.endsWith(path.join('image', d.driverName, 'layerdb')));
    assert.equal(report!.mountsInUse.length, 1, 'the running container\'s mount is in use, not leaked');
    assert.deepEqual(kinds(report!), [...REMOVABLE, PROTECTED, NOT_DOCKER, killedLoadLayer].map((id) => `unreferenced:${id}`).sort());
    const refused = await fsck(d, '--repair');
    assert.equal(refused.code, 2, 'no repair while Strata serves the home');
    assert.match(refused.stderr, /stop dockerd and strata before repairing/);
  });

  it('finds every kind of damage once dockerd and Strata are down', async () => {
    const stoppedLayer = path.basename(path.dirname((await d.docker(['inspect', '-f', '{{.GraphDriver.Data.UpperDir}}', 'stopped'])).stdout.trim()));
    // A leaked mount: Strata killed with -9 while an unreferenced layer was mounted.
    await d.docker(['stop', '-t', '1', 'running']);
    await d.stopDockerd();
    assert.equal((await call('Get', { ID: ORPHAN_INIT })).status, 200);
    await d.killStrata('SIGKILL');
    assert.deepEqual(mountsUnder(d.home), [path.join(d.home, ORPHAN_INIT, 'merged')]);
    // A missing l/ link of the image layer, a dangling l/ link, staging leftovers, a missing work dir.
    const imageLayer = (await exec('sh', ['-c', `cat ${d.dataRoot}/image/${d.driverName}/layerdb/sha256/*/cache-id`])).stdout.trim();
    const imageLink = readFileSync(path.join(d.home, imageLayer, 'link'), 'utf8');
    rmSync(path.join(d.home, 'l', imageLink));
    symlinkSync('../0000000000000000000000000000000000000000000000000000000000000000/diff', path.join(d.home, 'l', 'DANGLINGDANGLINGDANGLING22'));
    mkdirSync(path.join(d.home, '.strata', 'staging', 'apply-deadbeef0000', 'etc'), { recursive: true });
    writeFileSync(path.join(d.home, '.strata', 'staging', 'apply-deadbeef0000', 'etc', 'half'), Buffer.alloc(300 * 1024, 1));
    rmSync(path.join(d.home, stoppedLayer, 'work'), { recursive: true });

    const { code, report } = await fsck(d, '--json');
    assert.equal(code, 1);
    assert.equal(report!.strataPid, null);
    assert.deepEqual(kinds(report!), [
      `dangling-link:DANGLINGDANGLINGDANGLING22`,
      `leaked-mount:${ORPHAN_INIT}`,
      `missing-link:${imageLayer}`,
      `missing-work:${stoppedLayer}`,
      'staging-leftover:apply-deadbeef0000',
      ...[...REMOVABLE, PROTECTED, NOT_DOCKER, killedLoadLayer].map((id) => `unreferenced:${id}`),
    ].sort());
    const unref = report!.unreferenced;
    assert.equal(unref.layers, 6);
    assert.ok(unref.bytes >= 4 * 1024 * 1024, `the orphans hold at least the 4 MiB applied to ${ORPHAN}: ${unref.bytes}`);
    numbers.push(`found ${report!.findings.length} problems, ${unref.layers} unreferenced layers holding ${unref.bytes} bytes`);
    const text = await fsck(d);
    assert.match(text.stdout, /summary: 11 found, 0 repaired, 11 left; 6 unreferenced layers hold [\d.]+ MiB; reclaimed 0 B/);
  });

  it('--repair fixes the safe things and keeps the orphans', async () => {
    const { code, report } = await fsck(d, '--repair', '--json');
    assert.equal(code, 1, 'the unreferenced layers remain');
    const left = report!.findings.filter((f) => !f.repaired).map((f) => `${f.kind}:${f.id}`).sort();
    assert.deepEqual(left, [...REMOVABLE, PROTECTED, NOT_DOCKER, killedLoadLayer].map((id) => `unreferenced:${id}`).sort());
    assert.deepEqual(mountsUnder(d.home), [], 'the leaked mount is gone');
    await eventually(() => assert.deepEqual(readdirSync(path.join(d.home, '.strata', 'staging')), []));
    const again = await fsck(d, '--json');
    assert.deepEqual(kinds(again.report!).filter((k) => !k.startsWith('unreferenced:')), [], 'a second run finds only the orphans');
  });

  it('--remove-unreferenced removes Docker\'s orphans and reports the space reclaimed; never a non-Docker id or what it builds on', async () => {
    const { code, report } = await fsck(d, '--remove-unreferenced', '--json');
    assert.equal(code, 1, 'the non-Docker layer needs a person');
    const removed = report!.findings.filter((f) => f.repaired).map((f) => f.id).sort();
    assert.deepEqual(removed, [...REMOVABLE, killedLoadLayer].sort(), `${PROTECTED} stays: ${NOT_DOCKER} builds on it`);
    assert.ok(report!.reclaimedBytes >= 4 * 1024 * 1024, `reclaimed ${report!.reclaimedBytes}`);
    for (const id of removed) assert.ok(!readdirSync(d.home).includes(id!), `${id} is gone`);
    assert.ok(readdirSync(d.home).includes(NOT_DOCKER) && readdirSync(d.home).includes(PROTECTED));
    numbers.push(`removed ${removed.length} unreferenced layers, reclaimed ${report!.reclaimedBytes} bytes`);
    const after = await fsck(d, '--json');
    assert.deepEqual(kinds(after.report!), [`unreferenced:${NOT_DOCKER}`, `unreferenced:${PROTECTED}`].sort());
  });

  it('Docker works on the repaired home: images, the stopped container, new containers', async () => {
    await d.startStrata();
    await d.startDockerd();
    assert.match((await d.docker(['start', '-a', 'stopped'])).stdout, /^root:/);
    assert.equal((await d.docker(['run', '--rm', '--network', 'none', IMAGE, 'echo', 'ok'])).stdout, 'ok\n');
    await d.docker(['start', 'running']);
    assert.equal((await d.docker(['exec', 'running', 'echo', 'up'])).stdout, 'up\n');
    console.log(`# fsck: ${numbers.join('; ')}`);
  });
});
