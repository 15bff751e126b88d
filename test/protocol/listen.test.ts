/**
 * listenOnSocket: the socket is 0600 from its creation, a second server on a live socket is
 * refused while the first keeps serving, a stale socket left by a dead process is replaced,
 * and a path that is not a socket is never removed. No Init is sent, so no root is needed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { buildApp } from '../../src/graphdriver/app';
import { listenOnSocket } from '../../src/graphdriver/listen';
import { DriverSession } from '../../src/graphdriver/session';
import { createLogger } from '../../src/sys/log';
import { dockerActivate } from '../helpers/raw-client';
import { makeTmpDir } from '../helpers/tmp-dir';

const log = createLogger({ level: 'silent' });

function newApp(t: TestContext, stateDir: string) {
  const session = new DriverSession(stateDir, async () => {
    throw new Error('no Init in these tests');
  }, log);
  const app = buildApp({ session, log });
  t.after(() => app.close());
  return app;
}

/** leaveStaleSocket makes a socket file whose listener was killed with SIGKILL. */
async function leaveStaleSocket(socket: string): Promise<void> {
  const script = `require('net').createServer().listen(${JSON.stringify(socket)}, () => process.kill(process.pid, 'SIGKILL'))`;
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    child.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`child exited without SIGKILL (${signal})`))));
    child.on('error', reject);
  });
}

describe('listenOnSocket', () => {
  it('creates the socket with mode 0600 and serves on it', async (t) => {
    const dir = makeTmpDir(t, 'strata-listen-');
    const socket = path.join(dir, 'run', 'plugins', 'strata.sock');
    const app = newApp(t, dir);
    await listenOnSocket(app, socket);
    const st = fs.lstatSync(socket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal((await dockerActivate(socket)).status, 200);
  });

  it('restores the process umask afterwards', async (t) => {
    const dir = makeTmpDir(t, 'strata-listen-');
    const before = process.umask();
    await listenOnSocket(newApp(t, dir), path.join(dir, 's.sock'));
    assert.equal(process.umask(), before);
  });

  it('refuses a second server on a live socket with a clear error, while the first keeps serving', async (t) => {
    const dir = makeTmpDir(t, 'strata-listen-');
    const socket = path.join(dir, 'strata.sock');
    await listenOnSocket(newApp(t, dir), socket);
    const inode = fs.statSync(socket).ino;
    await assert.rejects(listenOnSocket(newApp(t, dir), socket), /already listening on .*strata\.sock/);
    assert.equal(fs.statSync(socket).ino, inode, 'the live socket was not replaced');
    assert.equal((await dockerActivate(socket)).status, 200);
  });

  it('replaces a stale socket file left by a dead process', async (t) => {
    const dir = makeTmpDir(t, 'strata-listen-');
    const socket = path.join(dir, 'strata.sock');
    await leaveStaleSocket(socket);
    assert.ok(fs.lstatSync(socket).isSocket(), 'the dead process left its socket file');
    await listenOnSocket(newApp(t, dir), socket);
    const res = await dockerActivate(socket);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { Implements: ['GraphDriver'] });
  });

  it('refuses a regular file at the path and leaves it alone', async (t) => {
    const dir = makeTmpDir(t, 'strata-listen-');
    const socket = path.join(dir, 'strata.sock');
    fs.writeFileSync(socket, 'important data');
    await assert.rejects(listenOnSocket(newApp(t, dir), socket), /is not a socket/);
    assert.equal(fs.readFileSync(socket, 'utf8'), 'important data');
  });

  it('refuses a directory or a symlink at the path', async (t) => {
    const dir = makeTmpDir(t, 'strata-listen-');
    const asDir = path.join(dir, 'dir.sock');
    fs.mkdirSync(asDir);
    await assert.rejects(listenOnSocket(newApp(t, dir), asDir), /is not a socket/);
    assert.ok(fs.statSync(asDir).isDirectory());
    const asLink = path.join(dir, 'link.sock');
    fs.symlinkSync('/etc/passwd', asLink);
    await assert.rejects(listenOnSocket(newApp(t, dir), asLink), /is not a socket/);
    assert.equal(fs.readlinkSync(asLink), '/etc/passwd');
  });
});
