/**
 * Error replies over the real socket: every failure is a non-200 with a JSON {"Err": "…"},
 * nothing from a bad request reaches the disk, and the server keeps serving afterwards.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dockerActivate, dockerApplyDiff, dockerCall, exchange, requestHead, type RawResponse } from '../helpers/raw-client';
import { initBody, startServer, type TestServer } from '../helpers/protocol-server';
import { fields, packWithTarStream, tarWithOurWriter } from '../helpers/tar-build';
import { needRoot } from '../helpers/tiers';
import { MALFORMED } from '../unit/archive/tar/malformed-tars';

const BASE = 'e5'.repeat(32);
const CHILD = 'f6'.repeat(32);

function failed(res: RawResponse, what: string): string {
  assert.notEqual(res.status, 200, `${what}: must not be 200 (${res.body.toString()})`);
  const obj = res.json as { Err?: unknown } | undefined;
  assert.ok(obj && typeof obj.Err === 'string' && obj.Err.length > 0, `${what}: JSON {"Err": non-empty}, got ${JSON.stringify(res.body.toString())}`);
  return obj.Err as string;
}

describe('protocol error replies', { skip: needRoot() }, () => {
  let srv: TestServer;
  let homeEntries: string[] = [];
  const call = (method: string, body?: unknown) => dockerCall(srv.socket, method, body);
  /** raw sends an arbitrary body with dockerd's headers. */
  const raw = (method: string, body: string) => {
    const b = Buffer.from(body);
    return exchange(srv.socket, Buffer.from(requestHead(`/${method}`, { contentLength: b.length })), [b]);
  };
  const stillServing = async () => {
    assert.equal((await dockerActivate(srv.socket)).status, 200);
    assert.equal((await call('GraphDriver.Status', {})).status, 200);
    assert.deepEqual(fs.readdirSync(srv.home).sort(), homeEntries, 'the home did not change');
  };

  before(async () => {
    srv = await startServer();
    assert.equal((await call('GraphDriver.Init', initBody(srv.home))).status, 200);
    assert.equal((await call('GraphDriver.Create', { ID: BASE })).status, 200);
    const tar = await packWithTarStream([{ header: { name: 'f', type: 'file', mode: 0o644 }, content: 'data' }]);
    assert.equal((await dockerApplyDiff(srv.socket, BASE, '', tar)).status, 200);
    assert.equal((await call('GraphDriver.Create', { ID: CHILD, Parent: BASE })).status, 200);
    homeEntries = fs.readdirSync(srv.home).sort();
  });
  after(async () => {
    await srv?.close();
  });

  it('malformed JSON', async () => {
    for (const body of ['{"ID":', 'not json', '{"ID":"x"}}', '\u0000']) failed(await raw('GraphDriver.Create', `${body}\n`), `body ${JSON.stringify(body)}`);
    await stillServing();
  });

  it('wrong JSON types', async () => {
    const cases: Array<[string, unknown]> = [
      ['GraphDriver.Create', { ID: 5 }],
      ['GraphDriver.Create', { ID: null }],
      ['GraphDriver.Create', { ID: ['a'] }],
      ['GraphDriver.Create', { ID: 'ok-id', Parent: 7 }],
      ['GraphDriver.Create', { ID: 'ok-id', StorageOpt: 'size=1G' }],
      ['GraphDriver.Create', { ID: 'ok-id', StorageOpt: { size: 10 } }],
      ['GraphDriver.Get', { ID: BASE, MountLabel: 3 }],
      ['GraphDriver.Remove', {}],
      ['GraphDriver.Remove', []],
      ['GraphDriver.Remove', 'a string'],
      ['GraphDriver.Diff', { ID: CHILD, Parent: false }],
      ['GraphDriver.Init', { Home: 3 }],
      ['GraphDriver.Init', { Home: srv.home, Opts: 'a=b' }],
      ['GraphDriver.Init', { Home: srv.home, UIDMaps: [{ ContainerID: 0, HostID: 1000, Size: 1 }] }],
    ];
    for (const [method, body] of cases) failed(await call(method, body), `${method} ${JSON.stringify(body)}`);
    await stillServing();
  });

  it('an Init whose Home is relative or not normalised', async () => {
    const cwd = process.cwd();
    process.chdir(srv.dir); // should the check ever regress, a relative Home lands in the scratch dir
    try {
      for (const home of ['relative/home', `${srv.dir}/x/../home2`, '/']) {
        failed(await call('GraphDriver.Init', initBody(home)), `Init ${home}`);
      }
    } finally {
      process.chdir(cwd);
    }
    assert.equal(fs.existsSync(path.join(srv.dir, 'relative')), false);
    assert.equal(fs.existsSync(path.join(srv.dir, 'home2')), false);
    await stillServing();
  });

  it('an unknown method is a 404 with Err', async () => {
    for (const method of ['GraphDriver.Frobnicate', 'Plugin.Deactivate', 'VolumeDriver.Create']) {
      const res = await call(method, {});
      assert.equal(res.status, 404, method);
      failed(res, method);
    }
    await stillServing();
  });

  const badIds: Array<[string, string]> = [
    ['a slash', 'a/b'],
    ['a lone slash', '/'],
    ['..', '..'],
    ['a climb', '../../etc'],
    ['a comma', 'a,b'],
    ['a colon', 'a:b'],
    ['a NUL byte', 'a\u0000b'],
    ['a newline', 'a\nb'],
    ['a 10 KB id', 'a'.repeat(10 * 1024)],
    ['the empty string', ''],
  ];
  for (const [what, id] of badIds) {
    it(`an id with ${what} is refused by every method`, async () => {
      for (const method of ['GraphDriver.Create', 'GraphDriver.CreateReadWrite', 'GraphDriver.Remove', 'GraphDriver.Get', 'GraphDriver.Put', 'GraphDriver.GetMetadata', 'GraphDriver.Diff', 'GraphDriver.Changes', 'GraphDriver.DiffSize']) {
        failed(await call(method, { ID: id }), `${method} ${what}`);
      }
      if (id !== '') failed(await call('GraphDriver.Create', { ID: 'fine-id', Parent: id }), `Create with parent ${what}`);
      await stillServing();
    });
  }

  it('ids in the ApplyDiff query string are checked too', async () => {
    const tar = await packWithTarStream([{ header: { name: 'x', type: 'file', mode: 0o644 }, content: 'x' }]);
    for (const [id, parent] of [
      ['../escape', ''],
      ['a,b', ''],
      ['a:b', ''],
      [CHILD, '../x'],
      ['', ''],
    ]) {
      failed(await dockerApplyDiff(srv.socket, id!, parent!, tar), `ApplyDiff ?id=${id}&parent=${parent}`);
    }
    await stillServing();
  });

  it('mount labels with quotes or stray commas', async () => {
    for (const label of ['system_u:object_r:t:s0"', 'system_u:object_r:t:s0",upperdir="/etc', 'system_u:object_r:t,s0', "a:b:c'"]) {
      failed(await call('GraphDriver.Get', { ID: CHILD, MountLabel: label }), `Get label ${label}`);
      failed(await call('GraphDriver.CreateReadWrite', { ID: 'labelled', Parent: BASE, MountLabel: label }), `CreateReadWrite label ${label}`);
    }
    await stillServing();
  });

  it('ApplyDiff for a missing id', async () => {
    const tar = await packWithTarStream([{ header: { name: 'x', type: 'file', mode: 0o644 }, content: 'x'.repeat(100_000) }]);
    const res = await dockerApplyDiff(srv.socket, 'does-not-exist', '', tar);
    assert.equal(res.status, 404);
    failed(res, 'ApplyDiff missing');
    await stillServing();
  });

  it('ApplyDiff to a layer that already holds data', async () => {
    const tar = await packWithTarStream([{ header: { name: 'y', type: 'file', mode: 0o644 }, content: 'y' }]);
    failed(await dockerApplyDiff(srv.socket, BASE, '', tar), 'ApplyDiff twice');
    assert.deepEqual(fs.readdirSync(path.join(srv.home, BASE, 'diff')), ['f']);
    await stillServing();
  });

  it('ApplyDiff with the wrong parent', async () => {
    const tar = await packWithTarStream([{ header: { name: 'y', type: 'file', mode: 0o644 }, content: 'y' }]);
    failed(await dockerApplyDiff(srv.socket, CHILD, '', tar), 'ApplyDiff without the parent');
    failed(await dockerApplyDiff(srv.socket, CHILD, CHILD, tar), 'ApplyDiff with itself as parent');
    await stillServing();
  });

  it('ApplyDiff of hostile or broken tars, after which the layer still takes a good one', async () => {
    const hostile = await packWithTarStream([
      { header: { name: 'lnk', type: 'symlink', linkname: '/etc' } },
      { header: { name: 'lnk/strata-pwned', type: 'file', mode: 0o644 }, content: 'x' },
    ]);
    failed(await dockerApplyDiff(srv.socket, CHILD, BASE, hostile), 'hostile ApplyDiff');
    assert.equal(fs.existsSync('/etc/strata-pwned'), false);
    const truncated = (await packWithTarStream([{ header: { name: 'big', type: 'file', mode: 0o644 }, content: 'z'.repeat(50_000) }])).subarray(0, 20_000);
    failed(await dockerApplyDiff(srv.socket, CHILD, BASE, truncated), 'truncated ApplyDiff');
    const noEnd = tarWithOurWriter([{ fields: fields({ name: 'a', type: 'file', size: 1 }), data: Buffer.from('a') }], { end: false });
    failed(await dockerApplyDiff(srv.socket, CHILD, BASE, noEnd), 'ApplyDiff without end marker');
    failed(await dockerApplyDiff(srv.socket, CHILD, BASE, Buffer.from('garbage'.repeat(200))), 'garbage ApplyDiff');
    assert.deepEqual(fs.readdirSync(path.join(srv.home, CHILD, 'diff')), [], 'the layer is still empty');
    assert.deepEqual(fs.readdirSync(path.join(srv.home, '.strata', 'staging')), [], 'no staging leftovers');
    const good = await packWithTarStream([{ header: { name: 'good', type: 'file', mode: 0o644 }, content: 'good' }]);
    const res = await dockerApplyDiff(srv.socket, CHILD, BASE, good);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { Size: 4 });
  });

  it('ApplyDiff of every malformed tar is a 400 with an Err naming the entry and no host path', async () => {
    // These came back as 500s naming the staging paths (hardlinks) or the wrong entry (PAX), or
    // were applied (GNU sparse maps past the real size or not numbers): Go's reader refuses them.
    const layer = 'a7'.repeat(32);
    assert.equal((await call('GraphDriver.Create', { ID: layer, Parent: BASE })).status, 200);
    for (const c of MALFORMED) {
      const res = await dockerApplyDiff(srv.socket, layer, BASE, c.tar);
      assert.equal(res.status, 400, `${c.what}: ${res.body.toString()}`);
      const err = failed(res, c.what);
      assert.ok(err.includes(JSON.stringify(c.names)), `${c.what}: the Err names ${JSON.stringify(c.names)}: ${err}`);
      assert.ok(!err.includes('/tmp/') && !err.includes(srv.dir), `${c.what}: no host path in ${err}`);
      assert.deepEqual(fs.readdirSync(path.join(srv.home, layer, 'diff')), [], `${c.what}: nothing applied`);
      assert.deepEqual(fs.readdirSync(path.join(srv.home, '.strata', 'staging')), [], `${c.what}: no staging leftovers`);
    }
    const good = await packWithTarStream([{ header: { name: 'good', type: 'file', mode: 0o644 }, content: 'good' }]);
    assert.equal((await dockerApplyDiff(srv.socket, layer, BASE, good)).status, 200);
    homeEntries = fs.readdirSync(srv.home).sort();
    await stillServing();
  });

  it('Diff, Changes, DiffSize and GetMetadata of a missing layer fail with a JSON Err, never a 200', async () => {
    for (const method of ['GraphDriver.Diff', 'GraphDriver.Changes', 'GraphDriver.DiffSize', 'GraphDriver.GetMetadata', 'GraphDriver.Get']) {
      const res = await call(method, { ID: 'missing-layer' });
      assert.equal(res.status, 404, method);
      failed(res, method);
    }
    await stillServing();
  });

  it('Create of an existing layer, or on a missing parent', async () => {
    failed(await call('GraphDriver.Create', { ID: BASE }), 'Create existing');
    failed(await call('GraphDriver.Create', { ID: 'orphan', Parent: 'missing-parent' }), 'Create on missing parent');
    failed(await call('GraphDriver.CreateReadWrite', { ID: 'sized', Parent: BASE, StorageOpt: { size: 'lots' } }), 'size option that is not a size');
    failed(await call('GraphDriver.Create', { ID: 'sized', Parent: BASE, StorageOpt: { size: '10G' } }), 'size option of a read-only layer');
    await stillServing();
  });
});
