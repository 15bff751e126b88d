/**
 * The mount helper on real overlay mounts: many mounts through one long-lived child, kill -9 of
 * the helper with a request in flight and the next request on a new one, refusals on both
 * sides, the fallback to mount/umount processes, and a server process that exits on its own.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { MountFailedError } from '../../src/errors';
import { run, startService } from '../../src/sys/exec';
import { HelperMounter, MOUNT_HELPER_COMMAND } from '../../src/sys/helper-mounter';
import { KernelMounter, type Mounter, type MountSpec } from '../../src/sys/mounter';
import { memoryLogger } from '../helpers/store-fixture';
import { needRoot } from '../helpers/tiers';
import { makeTmpDir, mountTable } from '../helpers/tmp-dir';

/** layerDirs makes lower, upper, work and merged dirs for overlay `name` below `home`, with a file in the lower. */
function layerDirs(home: string, name: string): MountSpec {
  for (const d of ['lower', 'upper', 'work', 'merged']) fs.mkdirSync(path.join(home, name, d), { recursive: true });
  fs.writeFileSync(path.join(home, name, 'lower', 'file'), name);
  return { type: 'overlay', source: 'overlay', target: path.join(home, name, 'merged'), options: `index=off,lowerdir=${name}/lower,upperdir=${name}/upper,workdir=${name}/work`, cwd: home };
}

function mountedAt(target: string): string | undefined {
  return mountTable().find((m) => m.mountPoint === target)?.fsType;
}

/** countingMounter is KernelMounter that counts what reaches it. */
function countingMounter(): { mounter: Mounter; calls: string[] } {
  const inner = new KernelMounter(run);
  const calls: string[] = [];
  return {
    calls,
    mounter: {
      mount: (spec) => (calls.push(`mount ${spec.type}`), inner.mount(spec)),
      unmount: (target, options) => (calls.push('umount'), inner.unmount(target, options)),
    },
  };
}

function helperFor(t: { after(fn: () => Promise<void>): void }, home: string, command?: readonly string[]) {
  const { log, lines } = memoryLogger('debug');
  const children = countingMounter();
  const mounter = new HelperMounter({ home, log, viaChildren: children.mounter, ...(command ? { command } : {}) });
  t.after(() => mounter.close());
  return { mounter, lines, calls: children.calls };
}

describe('HelperMounter and strata mount-helper', { skip: needRoot() }, () => {
  it('mounts and unmounts real overlays, relative and absolute, one after another and together, through one helper process', async (t) => {
    const home = makeTmpDir(t, 'strata-mh-');
    const { mounter, calls } = helperFor(t, home);
    const a = layerDirs(home, 'a');
    await mounter.mount(a);
    assert.equal(mountedAt(a.target), 'overlay');
    assert.equal(fs.readFileSync(path.join(a.target, 'file'), 'utf8'), 'a');
    const pid = await mounter.pid();
    assert.ok(pid);
    await mounter.unmount(a.target, { lazy: true });
    assert.equal(mountedAt(a.target), undefined);

    const absolute = (s: MountSpec): MountSpec => ({ ...s, options: s.options.replace(/(lowerdir|upperdir|workdir)=/g, `$1=${home}/`), cwd: undefined });
    const specs = ['b', 'c', 'd', 'e', 'f', 'g'].map((n, i) => (i % 2 ? absolute(layerDirs(home, n)) : layerDirs(home, n)));
    await Promise.all(specs.map((s) => mounter.mount(s)));
    for (const s of specs) assert.equal(fs.readFileSync(path.join(s.target, 'file'), 'utf8'), path.basename(path.dirname(s.target)));
    await Promise.all(specs.map((s) => mounter.unmount(s.target)));
    for (const s of specs) assert.equal(mountedAt(s.target), undefined);
    assert.equal(await mounter.pid(), pid, 'the same helper served every request');
    assert.equal(fs.readlinkSync(`/proc/${pid}/cwd`), '/', 'the helper holds no cwd in the home, which would make umount of its filesystem fail (EBUSY)');
    assert.deepEqual(calls, [], 'no mount or umount process ran');
  });

  it('fails the request in flight when the helper is killed (-9), and the next request starts a new helper', async (t) => {
    const home = makeTmpDir(t, 'strata-mh-');
    const { mounter, lines } = helperFor(t, home);
    const a = layerDirs(home, 'a');
    await mounter.mount(a);
    const first = await mounter.pid();
    assert.ok(first);
    // Stopped, the helper cannot answer: the unmount is surely in flight when it is killed.
    process.kill(first, 'SIGSTOP');
    const inFlight = mounter.unmount(a.target, { lazy: true });
    process.kill(first, 'SIGKILL');
    await assert.rejects(inFlight, (err: unknown) => {
      assert.ok(err instanceof MountFailedError);
      assert.equal(err.code, 'STRATA_ERR_CMD_FAILED');
      assert.equal(err.message, 'umount failed: the mount helper exited (killed by SIGKILL) before it answered');
      return true;
    });
    assert.ok(lines.some((l) => l.msg === 'the mount helper exited; the next mount starts it again' && l.signal === 'SIGKILL' && l.inFlight === 1));
    // The unmount never ran: the mount is still there, and the retry is the caller's.
    assert.equal(mountedAt(a.target), 'overlay');
    await mounter.unmount(a.target, { lazy: true });
    assert.equal(mountedAt(a.target), undefined);
    const second = await mounter.pid();
    assert.ok(second && second !== first, 'a new helper answered');
    await mounter.mount(a);
    assert.equal(mountedAt(a.target), 'overlay');
    await mounter.unmount(a.target);
  });

  it('refuses, before the helper sees it, what is outside the home or not a planned option; kernel errors name the operation and no path', async (t) => {
    const home = makeTmpDir(t, 'strata-mh-');
    const outside = makeTmpDir(t, 'strata-mh-outside-');
    const { mounter, calls } = helperFor(t, home);
    const a = layerDirs(home, 'a');
    const foreign = layerDirs(outside, 'x');
    const refused = async (p: Promise<void>, reason: RegExp) =>
      assert.rejects(p, (err: unknown) => err instanceof MountFailedError && err.code === 'STRATA_ERR_CMD_FAILED' && reason.test(err.message) && !err.message.includes('/tmp'));
    await refused(mounter.mount(foreign), /^mount failed: refused: the target is not below the store$/);
    await refused(mounter.mount({ ...a, options: `${a.options},lowerdir=${outside}/x/lower` }), /refused: mount option lowerdir given twice/);
    await refused(mounter.mount({ ...a, options: a.options.replace('a/lower', '../' + path.basename(outside) + '/x/lower') }), /refused: lowerdir names a directory outside the store/);
    await refused(mounter.mount({ ...a, options: `${a.options},xino=on` }), /refused: mount option "xino=on" is not one Strata plans/);
    await refused(mounter.unmount(outside), /^umount failed: refused: the target is not below the store$/);
    await refused(mounter.unmount(a.target), /^umount failed: EINVAL: invalid argument$/);
    await refused(mounter.mount({ ...a, options: a.options.replace('a/work', 'a/missing') }), /^mount failed: ENOENT: no such file or directory$/);
    assert.equal(mountedAt(foreign.target), undefined);
    assert.equal(mountedAt(a.target), undefined);
    assert.deepEqual(calls, []);
  });

  it('refuses in the helper what a client that skipped the check sends, and answers every line in order', async (t) => {
    const home = makeTmpDir(t, 'strata-mh-');
    const outside = makeTmpDir(t, 'strata-mh-outside-');
    const a = layerDirs(home, 'a');
    const foreign = layerDirs(outside, 'x');
    const child = startService([...MOUNT_HELPER_COMMAND, '--home', home]);
    t.after(() => void child.kill('SIGKILL'));
    const replies = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const next = async () => JSON.parse(String((await replies.next()).value)) as Record<string, unknown>;
    assert.deepEqual(await next(), { ready: true });
    const send = (line: string) => child.stdin.write(`${line}\n`);
    send(JSON.stringify({ id: 1, op: 'mount', target: foreign.target, options: `lowerdir=${outside}/x/lower` }));
    send('not json');
    send(JSON.stringify({ id: 3, op: 'mount', target: a.target, options: `lowerdir=${outside}/x/lower` }));
    send(JSON.stringify({ id: 4, op: 'mount', target: a.target, options: a.options, cwd: a.cwd }));
    send(JSON.stringify({ id: 5, op: 'unmount', target: a.target, lazy: false }));
    send(`{"id":6,"op":"unmount","target":"${home}/${'a'.repeat(40_000)}","lazy":true}`);
    assert.deepEqual(await next(), { id: 1, ok: false, reason: 'refused: the target is not below the store' });
    assert.deepEqual(await next(), { id: 0, ok: false, reason: 'refused: not a request object' });
    assert.deepEqual(await next(), { id: 3, ok: false, reason: 'refused: lowerdir names a directory outside the store' });
    assert.deepEqual(await next(), { id: 4, ok: true });
    assert.deepEqual(await next(), { id: 5, ok: true });
    assert.deepEqual(await next(), { id: 0, ok: false, reason: 'refused: not a request object' });
    assert.equal(mountedAt(foreign.target), undefined);
    const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.stdin.end();
    assert.equal(await exited, 0, 'the helper exits when its stdin closes');
  });

  it('mounts through mount/umount processes, and says so, when the helper cannot start; other filesystem types always go that way', async (t) => {
    const home = makeTmpDir(t, 'strata-mh-');
    const { mounter, lines, calls } = helperFor(t, home, [path.join(home, 'no-such-helper')]);
    const a = layerDirs(home, 'a');
    await mounter.mount(a);
    assert.equal(mountedAt(a.target), 'overlay');
    await mounter.unmount(a.target, { lazy: true });
    assert.deepEqual(calls, ['mount overlay', 'umount']);
    assert.equal(lines.filter((l) => l.msg === 'the mount helper could not start; mounting through mount and umount processes').length, 1);

    const working = helperFor(t, home);
    const tmpfs = path.join(home, 'tmpfs');
    fs.mkdirSync(tmpfs);
    await working.mounter.mount({ type: 'tmpfs', source: 'tmpfs', target: tmpfs, options: 'size=1m' });
    assert.equal(mountedAt(tmpfs), 'tmpfs');
    await working.mounter.unmount(tmpfs, { lazy: true });
    assert.equal(mountedAt(tmpfs), undefined);
    assert.deepEqual(working.calls, ['mount tmpfs'], 'only the tmpfs mount ran a process; its unmount went through the helper');
  });

  it('lets a process exit while its helper idles, and close stops the helper', async (t) => {
    const home = makeTmpDir(t, 'strata-mh-');
    const a = layerDirs(home, 'a');
    const script = `
      const { HelperMounter } = require(${JSON.stringify(path.resolve(__dirname, '../../src/sys/helper-mounter'))});
      const { KernelMounter } = require(${JSON.stringify(path.resolve(__dirname, '../../src/sys/mounter'))});
      const { run } = require(${JSON.stringify(path.resolve(__dirname, '../../src/sys/exec'))});
      const { createLogger } = require(${JSON.stringify(path.resolve(__dirname, '../../src/sys/log'))});
      const m = new HelperMounter({ home: ${JSON.stringify(home)}, log: createLogger({ level: 'silent' }), viaChildren: new KernelMounter(run) });
      m.mount(${JSON.stringify(a)}).then(() => m.unmount(${JSON.stringify(a.target)})).then(() => m.pid()).then((pid) => console.log(pid));`;
    // Without the exit, execFileSync would wait for the timeout and throw.
    const helperPid = Number(execFileSync(process.execPath, ['-e', script], { timeout: 60_000, encoding: 'utf8' }).trim());
    assert.ok(helperPid > 0);
    assert.equal(mountedAt(a.target), undefined);

    const { mounter } = helperFor(t, home);
    await mounter.mount(a);
    await mounter.unmount(a.target);
    const pid = await mounter.pid();
    assert.ok(pid);
    await mounter.close();
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
    assert.equal(await mounter.pid(), undefined);
  });
});
