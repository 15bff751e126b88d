/**
 * The real server over a real unix socket, driven with the exact bytes dockerd 20.10 sends,
 * through the call sequence of protocol.md §1.8: start, pull, container create/start,
 * docker diff/commit/ps -s/inspect/rm, info, shutdown. Steps run in order on one server.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dockerActivate, dockerApplyDiff, dockerCall, jsonBody, requestHead, type RawResponse } from '../helpers/raw-client';
import { initBody, startServer, type TestServer } from '../helpers/protocol-server';
import { extractWithTarStream, packWithTarStream } from '../helpers/tar-build';
import { needRoot } from '../helpers/tiers';
import { mountTable } from '../helpers/tmp-dir';

const hex = (c: string) => c.repeat(64).slice(0, 64);
const LAYER1 = hex('a1');
const LAYER2 = hex('b2');
const MOUNT = hex('c3');
const INIT = `${MOUNT}-init`;
const COMMIT = hex('d4');

/** ok asserts a 200 with a non-empty JSON object body and no Err, and returns the object. */
function ok(res: RawResponse, what: string): Record<string, unknown> {
  assert.equal(res.status, 200, `${what}: status ${res.status} ${res.body.toString()}`);
  assert.ok(res.body.length > 0, `${what}: a success must have a JSON body`);
  assert.ok(res.json !== null && typeof res.json === 'object', `${what}: body is a JSON object`);
  const obj = res.json as Record<string, unknown>;
  assert.ok(!obj.Err, `${what}: no Err on success (${String(obj.Err)})`);
  return obj;
}

/** failed asserts a non-200 with a JSON body whose Err is a non-empty string. */
function failed(res: RawResponse, what: string): string {
  assert.notEqual(res.status, 200, `${what}: must not be 200`);
  const obj = res.json as { Err?: unknown } | undefined;
  assert.ok(obj && typeof obj.Err === 'string' && obj.Err.length > 0, `${what}: JSON {"Err": non-empty}, got ${res.body.toString()}`);
  return obj.Err as string;
}

function isMounted(dir: string): boolean {
  return mountTable().some((m) => m.mountPoint === dir);
}

describe('dockerd call sequence over the unix socket', { skip: needRoot() }, () => {
  let srv: TestServer;
  const call = (method: string, body?: unknown) => dockerCall(srv.socket, method, body);
  before(async () => {
    srv = await startServer();
  });
  after(async () => {
    await srv?.close();
  });

  it('the raw client sends the bytes captured from dockerd 20.10.24 (protocol.md §1.3)', () => {
    assert.equal(
      requestHead('/Plugin.Activate', { contentLength: 0 }),
      'POST /Plugin.Activate HTTP/1.1\r\nHost: \r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: 0\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\n\r\n',
    );
    assert.deepEqual(jsonBody({}), Buffer.from('{}\n'), 'Status/Cleanup/Capabilities bodies are 3 bytes');
    assert.doesNotMatch(requestHead('/GraphDriver.Get', { contentLength: 10 }), /Content-Type/i);
    assert.match(requestHead('/GraphDriver.ApplyDiff?id=x&parent=', 'chunked'), /\r\nTransfer-Encoding: chunked\r\n/);
  });

  it('answers the legacy handshake: Plugin.Activate with an empty body', async () => {
    const res = await dockerActivate(srv.socket);
    assert.deepEqual(ok(res, 'Activate'), { Implements: ['GraphDriver'] });
  });

  it('answers every store method before Init with a non-200 {"Err"}', async () => {
    const byId = { ID: LAYER1 };
    const calls: Array<[string, unknown]> = [
      ['GraphDriver.Create', byId],
      ['GraphDriver.CreateReadWrite', byId],
      ['GraphDriver.Remove', byId],
      ['GraphDriver.Get', byId],
      ['GraphDriver.Put', byId],
      ['GraphDriver.Exists', byId],
      ['GraphDriver.Status', {}],
      ['GraphDriver.GetMetadata', byId],
      ['GraphDriver.Cleanup', {}],
      ['GraphDriver.Diff', byId],
      ['GraphDriver.Changes', byId],
      ['GraphDriver.DiffSize', byId],
    ];
    for (const [method, body] of calls) failed(await call(method, body), `${method} before Init`);
    failed(await dockerApplyDiff(srv.socket, LAYER1, '', await packWithTarStream([])), 'ApplyDiff before Init');
    assert.equal(fs.existsSync(srv.home), false, 'nothing was created before Init');
  });

  it('Init (Opts/UIDMaps/GIDMaps null) then Capabilities, nested as the proxy decodes it', async () => {
    assert.deepEqual(ok(await call('GraphDriver.Init', initBody(srv.home)), 'Init'), {});
    assert.ok(fs.statSync(srv.home).isDirectory());
    const caps = await call('GraphDriver.Capabilities', {});
    assert.deepEqual(ok(caps, 'Capabilities'), { Capabilities: { ReproducesExactDiffs: false } });
  });

  it('pull: Create + ApplyDiff (chunked, ids in the query) for two layers', async () => {
    const base = await packWithTarStream([
      { header: { name: 'etc', type: 'directory', mode: 0o755 } },
      { header: { name: 'etc/passwd', type: 'file', mode: 0o644 }, content: 'root:x:0:0:root:/root:/bin/sh\n' },
      { header: { name: 'etc/hosts', type: 'file', mode: 0o644 }, content: '127.0.0.1 localhost\n' },
      { header: { name: 'bin/sh', type: 'file', mode: 0o755 }, content: '#!shell' },
      { header: { name: 'usr/share/doc/README', type: 'file', mode: 0o644 }, content: 'docs' },
    ]);
    assert.deepEqual(ok(await call('GraphDriver.Create', { ID: LAYER1 }), 'Create base'), {});
    const size1 = ok(await dockerApplyDiff(srv.socket, LAYER1, '', base), 'ApplyDiff base');
    assert.deepEqual(size1, { Size: 30 + 20 + 7 + 4 });

    const top = await packWithTarStream([
      { header: { name: 'etc/.wh.hosts', type: 'file', mode: 0o600 }, content: '' },
      { header: { name: 'usr/share', type: 'directory', mode: 0o755 } },
      { header: { name: 'usr/share/.wh..wh..opq', type: 'file', mode: 0o755 }, content: '' },
      { header: { name: 'usr/share/new', type: 'file', mode: 0o644 }, content: 'new!' },
      { header: { name: 'app/run', type: 'file', mode: 0o755 }, content: 'run v1' },
    ]);
    assert.deepEqual(ok(await call('GraphDriver.Create', { ID: LAYER2, Parent: LAYER1 }), 'Create top'), {});
    assert.deepEqual(ok(await dockerApplyDiff(srv.socket, LAYER2, LAYER1, top), 'ApplyDiff top'), { Size: 4 + 6 });
  });

  let initDir = '';
  it('container create: CreateReadWrite <id>-init, Get, write init files, Put, CreateReadWrite <id>', async () => {
    ok(await call('GraphDriver.CreateReadWrite', { ID: INIT, Parent: LAYER2, MountLabel: 'system_u:object_r:container_file_t:s0:c1,c2' }), 'CreateReadWrite init');
    const got = ok(await call('GraphDriver.Get', { ID: INIT }), 'Get init');
    initDir = got.Dir as string;
    assert.equal(initDir, path.join(srv.home, INIT, 'merged'));
    assert.ok(isMounted(initDir), 'Get returns a mount visible in this namespace');
    // The image as the container will see it: whiteout and opaque dir applied.
    assert.equal(fs.readFileSync(path.join(initDir, 'etc/passwd'), 'utf8'), 'root:x:0:0:root:/root:/bin/sh\n');
    assert.equal(fs.existsSync(path.join(initDir, 'etc/hosts')), false);
    assert.deepEqual(fs.readdirSync(path.join(initDir, 'usr/share')), ['new']);
    // What daemon/initlayer writes (protocol.md §2.2).
    for (const d of ['dev/pts', 'dev/shm', 'proc', 'sys']) fs.mkdirSync(path.join(initDir, d), { recursive: true });
    for (const f of ['.dockerenv', 'etc/resolv.conf', 'etc/hosts', 'etc/hostname', 'dev/console']) fs.writeFileSync(path.join(initDir, f), '', { mode: 0o755 });
    fs.symlinkSync('/proc/mounts', path.join(initDir, 'etc/mtab'));
    ok(await call('GraphDriver.Put', { ID: INIT }), 'Put init');
    assert.ok(isMounted(initDir), 'idle after its last Put, for a Get that may follow');
    ok(await call('GraphDriver.CreateReadWrite', { ID: MOUNT, Parent: INIT }), 'CreateReadWrite container');
  });

  let dir = '';
  it('start: Get returns the same mounted path every time (nested Gets are normal)', async () => {
    dir = ok(await call('GraphDriver.Get', { ID: MOUNT }), 'Get').Dir as string;
    assert.equal(dir, path.join(srv.home, MOUNT, 'merged'));
    assert.ok(isMounted(dir));
    assert.equal(isMounted(initDir), false, 'the idle init layer was unmounted before it became a lower');
    assert.ok(fs.existsSync(path.join(dir, '.dockerenv')), 'init layer content is visible');
    const again = ok(await call('GraphDriver.Get', { ID: MOUNT }), 'nested Get').Dir;
    assert.equal(again, dir);
    ok(await call('GraphDriver.Put', { ID: MOUNT }), 'nested Put');
    assert.ok(isMounted(dir), 'still mounted: one Get is outstanding');
    // The running container changes things.
    fs.mkdirSync(path.join(dir, 'tmp'));
    fs.writeFileSync(path.join(dir, 'tmp/data'), 'container data');
    fs.rmSync(path.join(dir, 'etc/passwd'));
    fs.writeFileSync(path.join(dir, 'app/run'), 'run v2!');
  });

  it('docker diff: Changes against the -init layer', async () => {
    const res = ok(await call('GraphDriver.Changes', { ID: MOUNT, Parent: INIT }), 'Changes');
    assert.deepEqual(res.Changes, [
      { Path: '/app', Kind: 0 },
      { Path: '/app/run', Kind: 0 },
      { Path: '/etc', Kind: 0 },
      { Path: '/etc/passwd', Kind: 2 },
      { Path: '/tmp', Kind: 1 },
      { Path: '/tmp/data', Kind: 1 },
    ]);
  });

  let committed: Buffer = Buffer.alloc(0);
  it('docker commit: Diff streams a raw tar on 200, which becomes a new layer', async () => {
    const res = await call('GraphDriver.Diff', { ID: MOUNT, Parent: INIT });
    assert.equal(res.status, 200);
    committed = res.body;
    const entries = await extractWithTarStream(committed);
    assert.deepEqual(
      entries.map((e) => e.header.name),
      ['app/', 'app/run', 'etc/', 'etc/.wh.passwd', 'tmp/', 'tmp/data'],
    );
    assert.equal(entries.find((e) => e.header.name === 'tmp/data')!.data.toString(), 'container data');
    ok(await call('GraphDriver.Create', { ID: COMMIT, Parent: LAYER2 }), 'Create commit');
    assert.deepEqual(ok(await dockerApplyDiff(srv.socket, COMMIT, LAYER2, committed), 'ApplyDiff commit'), { Size: 7 + 14 });
    const wh = fs.lstatSync(path.join(srv.home, COMMIT, 'diff', 'etc', 'passwd'));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0);
  });

  it('docker ps -s: DiffSize', async () => {
    assert.deepEqual(ok(await call('GraphDriver.DiffSize', { ID: MOUNT, Parent: INIT }), 'DiffSize'), { Size: 7 + 14 });
  });

  it('docker inspect: GetMetadata', async () => {
    const meta = ok(await call('GraphDriver.GetMetadata', { ID: MOUNT }), 'GetMetadata');
    const d = (id: string) => path.join(srv.home, id, 'diff');
    assert.deepEqual(meta.Metadata, {
      LowerDir: [d(INIT), d(LAYER2), d(LAYER1)].join(':'),
      MergedDir: path.join(srv.home, MOUNT, 'merged'),
      UpperDir: d(MOUNT),
      WorkDir: path.join(srv.home, MOUNT, 'work'),
    });
  });

  it('stop and rm: Put leaves the mount idle, Remove takes it away, Remove twice succeeds', async () => {
    ok(await call('GraphDriver.Put', { ID: MOUNT }), 'Put');
    assert.ok(isMounted(dir), 'idle, not yet unmounted');
    ok(await call('GraphDriver.Remove', { ID: MOUNT }), 'Remove container');
    assert.equal(isMounted(dir), false);
    ok(await call('GraphDriver.Remove', { ID: INIT }), 'Remove init');
    ok(await call('GraphDriver.Remove', { ID: MOUNT }), 'Remove again');
    assert.equal(fs.existsSync(path.join(srv.home, MOUNT)), false);
    assert.deepEqual(ok(await call('GraphDriver.Exists', { ID: MOUNT }), 'Exists removed'), { Exists: false });
    assert.deepEqual(ok(await call('GraphDriver.Exists', { ID: LAYER1 }), 'Exists image layer'), { Exists: true });
  });

  it('docker info: Status is a list of [key, value] string pairs', async () => {
    const status = ok(await call('GraphDriver.Status', {}), 'Status').Status as unknown[];
    assert.ok(Array.isArray(status) && status.length > 0);
    for (const pair of status) {
      assert.ok(Array.isArray(pair) && pair.length === 2 && pair.every((s) => typeof s === 'string'), JSON.stringify(pair));
    }
    const map = new Map(status as Array<[string, string]>);
    assert.equal(map.get('Layers'), '3');
    assert.ok(map.has('Backing Filesystem'));
  });

  it('save/push: Get of an image layer returns a readable tree with its parents, Put releases it', async () => {
    const top = ok(await call('GraphDriver.Get', { ID: LAYER2 }), 'Get image layer').Dir as string;
    assert.equal(fs.readFileSync(path.join(top, 'bin/sh'), 'utf8'), '#!shell');
    assert.equal(fs.readFileSync(path.join(top, 'app/run'), 'utf8'), 'run v1');
    ok(await call('GraphDriver.Put', { ID: LAYER2 }), 'Put image layer');
  });

  it('shutdown: Cleanup unmounts everything and answers {}', async () => {
    ok(await call('GraphDriver.Get', { ID: COMMIT }), 'Get before Cleanup');
    assert.ok(mountTable().some((m) => m.mountPoint.startsWith(`${srv.home}/`)));
    assert.deepEqual(ok(await call('GraphDriver.Cleanup', {}), 'Cleanup'), {});
    assert.equal(mountTable().some((m) => m.mountPoint.startsWith(`${srv.home}/`)), false);
  });
});
