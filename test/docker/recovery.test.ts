/**
 * Restart recovery with running containers. Strata killed with -9 and started again while
 * containers run gets no new Init from dockerd: it must resume from its state dir and adopt the
 * containers' mounts from /proc/self/mountinfo, so that stopping them later unmounts them. And
 * dockerd killed with -9 and started again (it sends Init again) brings its containers back on
 * Strata without mounting anything twice.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestDaemon, exec, importBusybox, mountsUnder } from '../helpers/dockerd';
import { request } from '../helpers/strata-process';
import { eventually } from '../helpers/eventually';
import { needDocker } from '../helpers/tiers';

const IMAGE = 'busybox:strata';
const NAMES = ['rec1', 'rec2', 'rec3'];

async function mergedDirOf(d: TestDaemon, name: string): Promise<string> {
  return (await d.docker(['inspect', '-f', '{{.GraphDriver.Data.MergedDir}}', name])).stdout.trim();
}

function assertNoDuplicates(mounts: string[]): void {
  const seen = new Set<string>();
  for (const m of mounts) {
    assert.ok(!seen.has(m), `${m} is mounted more than once`);
    seen.add(m);
  }
}

async function waitRunning(d: TestDaemon, names: string[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const states = await Promise.all(names.map(async (n) => (await d.docker(['inspect', '-f', '{{.State.Running}}', n])).stdout.trim()));
    if (states.every((s) => s === 'true')) return;
    if (Date.now() > deadline) throw new Error(`containers not running again: ${states.join(',')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('restart recovery with running containers', { skip: needDocker() }, () => {
  let d: TestDaemon;
  const merged = new Map<string, string>();

  before(async () => {
    d = await TestDaemon.start({ driver: 'strata' });
    await importBusybox(d, IMAGE);
    for (const n of NAMES) await d.docker(['run', '-d', '--restart', 'always', '--network', 'none', '--name', n, IMAGE, 'sleep', '600']);
    for (const n of NAMES) merged.set(n, await mergedDirOf(d, n));
  });

  after(async () => {
    await d?.docker(['rm', '-f', ...NAMES], { allowFail: true });
    // dockerd makes its data-root a shared bind mount of itself and undoes that only when the
    // same process made it; after a kill -9 the restarted dockerd leaves it. It is not Strata's.
    await d?.stopDockerd();
    if (d && mountsUnder(d.base).includes(d.dataRoot)) await exec('umount', [d.dataRoot]);
    await d?.stop();
  });

  it('Strata killed with -9 resumes without Init and adopts the running containers\' mounts', async () => {
    assert.deepEqual(mountsUnder(d.home).sort(), [...merged.values()].sort());
    await d.killStrata('SIGKILL');
    await d.startStrata();
    const log = readFileSync(path.join(d.base, 'strata.log'), 'utf8');
    assert.match(log, /resumed from the last Init/);
    const adopted = log.split('\n').filter((l) => l.includes('adopted existing layer mounts')).pop()!;
    for (const dir of merged.values()) assert.ok(adopted.includes(path.basename(path.dirname(dir))), `the mount ${dir} was adopted`);
    assert.match((await d.docker(['info'])).stdout, /Strata Version: /, 'Status answers with the resumed configuration');
    assert.equal((await d.docker(['exec', 'rec1', 'cat', '/etc/passwd'])).code, 0);
  });

  it('a docker cp into a running container takes and releases one more reference, keeping the mount', async () => {
    await d.docker(['cp', '/etc/hostname', 'rec1:/copied']);
    assert.ok(mountsUnder(d.home).includes(merged.get('rec1')!), 'the running container is still mounted after the cp');
    assert.equal((await d.docker(['exec', 'rec1', 'ls', '/copied'])).code, 0);
  });

  it('stopping the adopted containers unmounts them once idle, and Put of an unmounted layer is harmless', async () => {
    await d.docker(['update', '--restart', 'no', 'rec3']);
    await d.docker(['stop', '-t', '1', 'rec3']);
    const rec3 = merged.get('rec3')!;
    await eventually(() => assert.ok(!mountsUnder(d.home).includes(rec3), 'the stopped container is unmounted after the idle delay'));
    const put = await request(d.pluginSocket, '/GraphDriver.Put', JSON.stringify({ ID: path.basename(path.dirname(rec3)) }));
    assert.equal(put.status, 200, put.text);
    const again = await request(d.pluginSocket, '/GraphDriver.Put', JSON.stringify({ ID: path.basename(path.dirname(rec3)) }));
    assert.equal(again.status, 200, again.text);
    await d.docker(['start', 'rec3']);
    await d.docker(['update', '--restart', 'always', 'rec3']);
    await waitRunning(d, ['rec3']);
    assert.ok(mountsUnder(d.home).includes(rec3), 'started again, mounted again');
  });

  it('dockerd killed with -9 and restarted brings the containers back on strata, nothing mounted twice', async () => {
    const pidsBefore = await Promise.all(NAMES.map(async (n) => (await d.docker(['inspect', '-f', '{{.State.Pid}}', n])).stdout.trim()));
    await d.stopDockerd('SIGKILL');
    assertNoDuplicates(mountsUnder(d.home));
    await d.startDockerd();
    await waitRunning(d, NAMES);
    const pidsAfter = await Promise.all(NAMES.map(async (n) => (await d.docker(['inspect', '-f', '{{.State.Pid}}', n])).stdout.trim()));
    assert.notDeepEqual(pidsAfter, pidsBefore, 'the containers were started again');
    const mounts = mountsUnder(d.home);
    assertNoDuplicates(mounts);
    assert.deepEqual(mounts.sort(), [...merged.values()].sort(), 'exactly the containers\' mounts, once each');
    for (const n of NAMES) {
      assert.equal((await d.docker(['inspect', '-f', '{{.GraphDriver.Name}}', n])).stdout.trim(), d.driverName);
      assert.equal((await d.docker(['exec', n, 'sh', '-c', 'grep -c " / overlay " /proc/mounts'])).stdout.trim(), '1');
    }
  });

  it('stopping everything after both restarts leaves nothing mounted', async () => {
    for (const n of NAMES) await d.docker(['update', '--restart', 'no', n]);
    await d.docker(['stop', '-t', '1', ...NAMES]);
    await eventually(() => assert.deepEqual(mountsUnder(d.home), []));
  });
});
