/**
 * The record of which process serves a home (src/store/owner.ts), which keeps `strata fsck`
 * from repairing under a running Strata: the process itself, a process that has exited, and a
 * Strata in a pid namespace of its own (as a managed plugin runs) seen from outside it.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Layout } from '../../src/store/layout';
import { claimHome, liveOwner, processStartTime } from '../../src/store/owner';
import { makeTmpDir } from '../helpers/tmp-dir';
import { needRoot } from '../helpers/tiers';

function layoutIn(dir: string): Layout {
  const layout = new Layout(path.join(dir, 'home'));
  mkdirSync(layout.stateDir(), { recursive: true });
  return layout;
}

describe('the owner of a home', { skip: needRoot() }, () => {
  it('is this process after it claims the home', async (t) => {
    const layout = layoutIn(makeTmpDir(t));
    assert.equal(await liveOwner(layout), undefined, 'nobody before the claim');
    await claimHome(layout);
    assert.equal((await liveOwner(layout))?.pid, process.pid);
  });

  it('is nobody once the recorded process has exited, even if its pid is reused with another start time', async (t) => {
    const layout = layoutIn(makeTmpDir(t));
    const child = spawnSync('true');
    assert.equal(child.status, 0);
    const ns = spawnSync('readlink', ['/proc/self/ns/pid']).stdout.toString().trim();
    writeFileSync(layout.ownerFile(), JSON.stringify({ pid: child.pid, startTime: '1', pidNamespace: ns }));
    assert.equal(await liveOwner(layout), undefined);
    writeFileSync(layout.ownerFile(), JSON.stringify({ pid: process.pid, startTime: '1', pidNamespace: ns }));
    assert.equal(await liveOwner(layout), undefined, 'a live pid with another start time is not the owner');
    writeFileSync(layout.ownerFile(), 'not json');
    assert.equal(await liveOwner(layout), undefined);
  });

  it('is found across pid namespaces, as a managed plugin is seen from the host', async (t) => {
    const layout = layoutIn(makeTmpDir(t));
    const script = `require(${JSON.stringify(path.resolve(__dirname, '../../src/store/owner.js'))}).claimHome(new (require(${JSON.stringify(path.resolve(__dirname, '../../src/store/layout.js'))}).Layout)(${JSON.stringify(layout.home)})).then(() => setInterval(() => {}, 1000))`;
    const child = spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', process.execPath, '-e', script], { stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', r));
    t.after(async () => {
      child.kill('SIGKILL');
      await exited;
    });
    const deadline = Date.now() + 10_000;
    while (!existsSync(layout.ownerFile())) {
      assert.ok(Date.now() < deadline, 'the namespaced process claimed the home');
      await new Promise((r) => setTimeout(r, 50));
    }
    const owner = await liveOwner(layout);
    assert.ok(owner, 'the owner in another pid namespace is seen as running');
    assert.notEqual(owner.pid, process.pid);
    assert.equal(processStartTime(owner.pid), owner.startTime, 'reported under its pid in this namespace');
    // unshare ignores SIGTERM while it waits; --kill-child takes the namespace down with it.
    child.kill('SIGKILL');
    await exited;
    const gone = Date.now() + 10_000;
    while (await liveOwner(layout)) {
      assert.ok(Date.now() < gone, 'the owner is gone once its namespace ended');
      await new Promise((r) => setTimeout(r, 50));
    }
  });
});
