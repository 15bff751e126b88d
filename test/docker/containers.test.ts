/**
 * Real containers on Strata: an isolated dockerd 20.10 with --storage-driver pointing at a
 * Strata started by the test, a busybox image made offline, and the everyday commands —
 * run, diff, commit, save/load, cp, rm/rmi, a daemon restart, docker info.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestDaemon, importBusybox, mountsUnder } from '../helpers/dockerd';
import { eventually } from '../helpers/eventually';
import { needDocker } from '../helpers/tiers';

const IMAGE = 'busybox:strata';
const MUTATE = [
  'set -e',
  'echo created > /created.txt',
  'mkdir -p /newdir/sub && echo deep > /newdir/sub/file',
  'echo changed >> /etc/passwd',
  'rm /bin/vi',
  'rm -r /tmp',
  'echo done',
].join('; ');

function diffLines(out: string): string[] {
  return out.split('\n').filter(Boolean).sort();
}

describe('real containers on strata', { skip: needDocker() }, () => {
  let d: TestDaemon;
  let second: TestDaemon;
  const work = { dir: '' };

  before(async () => {
    work.dir = await mkdtemp(path.join(os.tmpdir(), 'strata-docker-suite-'));
    d = await TestDaemon.start({ driver: 'strata' });
    await importBusybox(d, IMAGE);
  });

  after(async () => {
    await second?.stop();
    await d?.stop();
    await rm(work.dir, { recursive: true, force: true });
  });

  it('docker info shows Strata as the storage driver with its status lines', async () => {
    const info = (await d.docker(['info'])).stdout;
    assert.match(info, new RegExp(`Storage Driver: ${d.driverName}`));
    assert.match(info, /Backing Filesystem: \w+/);
    assert.match(info, /Supports d_type: true/);
    assert.match(info, /Native Overlay Diff: true/);
    assert.match(info, /Strata Version: \d+\.\d+\.\d+/);
    assert.match(info, /Layers: \d+/);
  });

  it('runs a container that creates, modifies and deletes files, on a strata overlay mount', async () => {
    const run = await d.docker(['run', '--network', 'none', '--name', 'mutator', IMAGE, 'sh', '-c', `${MUTATE}; grep -c ' / overlay ' /proc/mounts`]);
    assert.match(run.stdout, /done\n1\n$/);
    const inspect = (await d.docker(['inspect', '-f', '{{.GraphDriver.Name}}|{{.GraphDriver.Data.UpperDir}}', 'mutator'])).stdout.trim();
    const [driver, upper] = inspect.split('|');
    assert.equal(driver, d.driverName);
    assert.ok(upper!.startsWith(`${d.home}/`), `upper dir ${upper} lies in strata's home ${d.home}`);
    assert.equal(await readFile(path.join(upper!, 'created.txt'), 'utf8'), 'created\n');
  });

  it('docker diff reports exactly those changes', async () => {
    const out = (await d.docker(['diff', 'mutator'])).stdout;
    assert.deepEqual(diffLines(out), [
      'A /created.txt',
      'A /newdir',
      'A /newdir/sub',
      'A /newdir/sub/file',
      'C /bin',
      'C /etc',
      'C /etc/passwd',
      'D /bin/vi',
      'D /tmp',
    ]);
  });

  it('docker commit gives an image whose containers see the changes, deletions included', async () => {
    await d.docker(['commit', 'mutator', 'strata/committed:1']);
    const out = (
      await d.docker(['run', '--rm', '--network', 'none', 'strata/committed:1', 'sh', '-c', 'cat /created.txt /newdir/sub/file; tail -n1 /etc/passwd; ls /bin/vi /tmp 2>&1 || true'])
    ).stdout;
    assert.match(out, /^created\ndeep\nchanged\n/);
    assert.match(out, /\/bin\/vi: No such file or directory/);
    assert.match(out, /\/tmp: No such file or directory/);
    const history = (await d.docker(['history', '-q', 'strata/committed:1'])).stdout.split('\n').filter(Boolean);
    assert.equal(history.length, 2, 'the commit added exactly one layer');
  });

  it('docker cp works on a running container, both ways', async () => {
    await d.docker(['run', '-d', '--network', 'none', '--name', 'runner', IMAGE, 'sleep', '300']);
    const local = path.join(work.dir, 'in.txt');
    await writeFile(local, 'copied in\n');
    await d.docker(['cp', local, 'runner:/in.txt']);
    assert.equal((await d.docker(['exec', 'runner', 'cat', '/in.txt'])).stdout, 'copied in\n');
    await d.docker(['exec', 'runner', 'sh', '-c', 'echo made inside > /out.txt']);
    await d.docker(['cp', 'runner:/out.txt', path.join(work.dir, 'out.txt')]);
    assert.equal(await readFile(path.join(work.dir, 'out.txt'), 'utf8'), 'made inside\n');
    assert.deepEqual(diffLines((await d.docker(['diff', 'runner'])).stdout), ['A /in.txt', 'A /out.txt']);
  });

  it('docker save then docker load into a second daemon round-trips the image', async () => {
    const archive = path.join(work.dir, 'committed.tar');
    await d.docker(['save', '-o', archive, 'strata/committed:1']);
    second = await TestDaemon.start({ driver: 'strata' });
    const loaded = (await second.docker(['load', '-i', archive])).stdout;
    assert.match(loaded, /Loaded image: strata\/committed:1/);
    const ids = await Promise.all([d, second].map(async (x) => (await x.docker(['image', 'inspect', '-f', '{{.Id}} {{json .RootFS.Layers}}', 'strata/committed:1'])).stdout));
    assert.equal(ids[1], ids[0], 'same image id and layer diff ids after the round trip');
    const out = (await second.docker(['run', '--rm', '--network', 'none', 'strata/committed:1', 'sh', '-c', 'cat /created.txt; ls /bin/vi 2>&1 || true'])).stdout;
    assert.match(out, /^created\n.*No such file/s);
  });

  it('docker rm and docker rmi leave no mount and no layer directory behind', async () => {
    const before = await d.layerDirs();
    await d.docker(['run', '-d', '--network', 'none', '--name', 'temp', 'strata/committed:1', 'sleep', '300']);
    assert.equal((await d.layerDirs()).length, before.length + 2, 'a container adds its -init and rw layers');
    assert.ok(mountsUnder(d.home).length > 0, 'the running container is mounted under the home');
    await d.docker(['rm', '-f', 'temp', 'runner', 'mutator']);
    await d.docker(['rmi', 'strata/committed:1']);
    const left = await d.layerDirs();
    const imageLayers = (await d.docker(['image', 'inspect', '-f', '{{len .RootFS.Layers}}', IMAGE])).stdout.trim();
    assert.equal(left.length, Number(imageLayers), `only the busybox layer remains, found ${left.join(', ')}`);
    await eventually(() => assert.deepEqual(mountsUnder(d.home), []));
  });

  it('restarting dockerd keeps images and stopped containers usable', async () => {
    await d.docker(['create', '--network', 'none', '--name', 'keeper', IMAGE, 'sh', '-c', 'echo kept >> /kept.txt; cat /kept.txt']);
    assert.equal((await d.docker(['start', '-a', 'keeper'])).stdout, 'kept\n');
    await d.restartDockerd();
    assert.equal((await d.docker(['start', '-a', 'keeper'])).stdout, 'kept\nkept\n');
    assert.equal((await d.docker(['run', '--rm', '--network', 'none', IMAGE, 'echo', 'fresh'])).stdout, 'fresh\n');
    assert.match((await d.docker(['info'])).stdout, new RegExp(`Storage Driver: ${d.driverName}`));
    await d.docker(['rm', 'keeper']);
  });
});
