/**
 * `strata snapshotter` over its real unix socket, spoken to with a gRPC client of containerd's
 * snapshot service: the socket's mode and start-up refusals, every RPC with the status codes
 * containerd's errdefs expect, refused requests that change nothing, List as a stream of
 * batches with containerd's filters, one log line per call, and kill -9 at random moments of a
 * busy workload leaving a catalog and directories that agree.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { eventually } from '../helpers/eventually';
import { SnapshotClient, SnapshotterProcess, catalogIds, snapshotDirIds, type CallError } from '../helpers/snapshotter-process';
import { needRoot } from '../helpers/tiers';
import { makeTmpDir } from '../helpers/tmp-dir';

const CLI = path.resolve(__dirname, '..', '..', 'src', 'cli.js');
const CODE = { INVALID_ARGUMENT: 3, NOT_FOUND: 5, ALREADY_EXISTS: 6, FAILED_PRECONDITION: 9 } as const;

async function started(t: TestContext) {
  const dir = makeTmpDir(t, 'strata-snapproto-');
  const proc = new SnapshotterProcess(dir);
  await proc.start();
  const client = new SnapshotClient(proc.socket);
  t.after(async () => {
    client.close();
    await proc.kill('SIGTERM');
  });
  return { dir, proc, client };
}

function logLines(file: string): Array<Record<string, unknown>> {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}


describe('strata snapshotter over its socket', { skip: needRoot() }, () => {
  it('listens on a 0600 socket, refuses to start beside a live one and replaces a stale one', async (t) => {
    const { dir, proc } = await started(t);
    assert.equal(fs.statSync(proc.socket).mode & 0o777, 0o600);
    const second = spawnSync(process.execPath, [CLI, 'snapshotter', '--socket', proc.socket, '--root', path.join(dir, 'other-root')], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(second.status, 1);
    assert.match(second.stderr, /already listening/);

    const staleDir = makeTmpDir(t, 'strata-snapstale-');
    const stale = path.join(staleDir, 'snapshotter.sock');
    // A process that bound the socket and died: the file stays, nobody answers on it.
    spawnSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(stale)})`]);
    assert.ok(fs.statSync(stale).isSocket());
    const third = new SnapshotterProcess(staleDir, { socket: stale });
    await third.start();
    t.after(() => third.kill('SIGTERM'));
    assert.equal(fs.statSync(stale).mode & 0o777, 0o600);
  });

  it('answers every call with the codes containerd expects, and a refused call changes nothing', async (t) => {
    const { client } = await started(t);
    const prepared = await client.call('Prepare', { snapshotter: 'strata', key: 'default/1/extract-1 sha256:aa', parent: '', labels: { 'containerd.io/snapshot.ref': 'sha256:aa' } });
    assert.deepEqual((prepared.mounts as Array<{ type: string; options: string[] }>).map((m) => [m.type, m.options]), [['bind', ['rw', 'rbind']]]);
    await client.call('Commit', { name: 'default/2/sha256:aa', key: 'default/1/extract-1 sha256:aa', labels: { 'containerd.io/snapshot.ref': 'sha256:aa' } });
    const child = await client.call('Prepare', { key: 'default/3/c', parent: 'default/2/sha256:aa' });
    const [overlay] = child.mounts as Array<{ type: string; source: string; options: string[] }>;
    assert.equal(overlay!.type, 'overlay');
    assert.ok(overlay!.options.includes('index=off'));
    assert.match(overlay!.options.at(-1)!, /^lowerdir=\/.*\/snapshots\/1\/fs$/);
    assert.deepEqual((await client.call('Mounts', { key: 'default/3/c' })).mounts, child.mounts);
    await client.call('View', { key: 'default/4/v', parent: 'default/2/sha256:aa' });

    const stat = (await client.call('Stat', { key: 'default/2/sha256:aa' })).info as Record<string, unknown>;
    assert.equal(stat.kind, 'COMMITTED');
    assert.deepEqual(stat.labels, { 'containerd.io/snapshot.ref': 'sha256:aa' });
    assert.ok(Number((stat.created_at as { seconds: string }).seconds) > 1_700_000_000);
    const usage = await client.call('Usage', { key: 'default/3/c' });
    assert.equal(usage.inodes, '1');

    const before = await client.list();
    const refusals: Array<[string, Record<string, unknown>, number]> = [
      ['Prepare', { key: 'default/3/c' }, CODE.ALREADY_EXISTS],
      ['Prepare', { key: 'default/5/x', parent: 'default/9/missing' }, CODE.NOT_FOUND],
      ['Prepare', { key: 'default/5/x', parent: 'default/3/c' }, CODE.INVALID_ARGUMENT],
      ['View', { key: 'default/5/x', parent: 'default/4/v' }, CODE.INVALID_ARGUMENT],
      ['Prepare', { key: 'default/5/\u0000' }, CODE.INVALID_ARGUMENT],
      ['Prepare', { key: 'default/5/\u001b[31m' }, CODE.INVALID_ARGUMENT],
      ['Prepare', { key: '' }, CODE.INVALID_ARGUMENT],
      ['Prepare', { key: 'default/5/x', labels: { big: 'v'.repeat(5000) } }, CODE.INVALID_ARGUMENT],
      ['Prepare', { key: 'default/5/x', labels: { 'a\u0000': 'v' } }, CODE.INVALID_ARGUMENT],
      ['Commit', { name: 'default/5/n', key: 'default/4/v' }, CODE.FAILED_PRECONDITION],
      ['Commit', { name: 'default/5/n', key: 'default/9/missing' }, CODE.NOT_FOUND],
      ['Commit', { name: 'default/2/sha256:aa', key: 'default/3/c' }, CODE.ALREADY_EXISTS],
      ['Remove', { key: 'default/2/sha256:aa' }, CODE.FAILED_PRECONDITION],
      ['Remove', { key: 'default/9/missing' }, CODE.NOT_FOUND],
      ['Stat', { key: 'default/9/missing' }, CODE.NOT_FOUND],
      ['Usage', { key: 'default/9/missing' }, CODE.NOT_FOUND],
      ['Mounts', { key: 'default/9/missing' }, CODE.NOT_FOUND],
      ['Mounts', { key: 'default/2/sha256:aa' }, CODE.FAILED_PRECONDITION],
      ['Update', { info: { name: 'default/9/missing' }, update_mask: { paths: ['labels.a'] } }, CODE.NOT_FOUND],
      ['Update', { info: { name: 'default/2/sha256:aa', parent: 'x' }, update_mask: { paths: ['parent'] } }, CODE.INVALID_ARGUMENT],
      ['Update', { update_mask: { paths: ['labels.a'] } }, CODE.INVALID_ARGUMENT],
    ];
    for (const [method, request, code] of refusals) {
      const failure = await client.failure(method, request);
      assert.equal(failure.code, code, `${method} ${JSON.stringify(request).slice(0, 120)}: ${failure.details}`);
      assert.doesNotMatch(failure.details, /\/tmp\/|\/var\/lib/, 'no host path in an error');
    }
    assert.match((await client.failure('Remove', { key: 'default/2/sha256:aa' })).details, /remove/);
    assert.deepEqual(await client.list(), before, 'the refused calls changed nothing');
    // Update as containerd sends it: kind, parent and times zeroed, labels by field path.
    const updated = (await client.call('Update', { info: { name: 'default/2/sha256:aa', kind: 'UNKNOWN', labels: { 'containerd.io/gc.root': 'x' } }, update_mask: { paths: ['labels.containerd.io/gc.root', 'labels.containerd.io/snapshot.ref'] } })).info as Record<string, unknown>;
    assert.deepEqual(updated.labels, { 'containerd.io/gc.root': 'x' });
    assert.equal(updated.kind, 'COMMITTED');
    assert.equal(updated.parent, '');

    await client.call('Remove', { key: 'default/3/c' });
    await client.call('Remove', { key: 'default/4/v' });
    await client.call('Remove', { key: 'default/2/sha256:aa' });
    await client.call('Cleanup', {});
    assert.deepEqual(await client.list(), []);
  });

  it('streams List in batches and applies containerd filters, the remote-snapshotter one included', async (t) => {
    const { proc, client } = await started(t);
    await client.call('Prepare', { key: 'ns/1/base-x' });
    await client.call('Commit', { name: 'ns/2/base', key: 'ns/1/base-x' });
    for (let i = 0; i < 250; i++) {
      await client.call('Prepare', { key: `ns/${10 + i}/extract-${i} sha256:${i}`, parent: 'ns/2/base', labels: { 'containerd.io/snapshot.ref': `sha256:${i}` } });
    }
    const all = await client.list();
    assert.equal(all.length, 251);
    const hit = await client.list([`labels."containerd.io/snapshot.ref"==sha256:117,parent=="ns/2/base"`]);
    assert.deepEqual(hit.map((i) => i.name), ['ns/127/extract-117 sha256:117']);
    assert.deepEqual((await client.list(['kind==committed'])).map((i) => i.name), ['ns/2/base']);
    assert.equal((await client.list(['kind==committed', 'name~=extract-24[0-9]'])).length, 11);
    const bad = await client.list(['kind=='])
      .then(() => undefined)
      .catch((e: CallError) => e);
    assert.equal(bad?.code, CODE.INVALID_ARGUMENT);
    // Five List calls, however many messages each streamed: one log line each (the log is written asynchronously).
    await eventually(() => assert.equal(logLines(proc.logFile).filter((l) => l.op === 'List').length, 5));
  });

  it('logs one JSON line per call with its id, operation, key and duration; failures at warn', async (t) => {
    const { proc, client } = await started(t);
    await client.call('Prepare', { key: 'default/1/k' });
    await client.failure('Stat', { key: 'default/9/none' });
    let lines: Array<Record<string, unknown>> = [];
    await eventually(() => assert.equal((lines = logLines(proc.logFile).filter((l) => typeof l.op === 'string')).length, 2));
    assert.deepEqual(lines.map((l) => [l.op, l.key, l.level]), [
      ['Prepare', 'default/1/k', 30],
      ['Stat', 'default/9/none', 40],
    ]);
    for (const l of lines) {
      assert.match(String(l.reqId), /^[0-9a-f]{8}$/);
      assert.equal(typeof l.ms, 'number');
      assert.equal(l.name, 'strata');
    }
    assert.equal(lines[1]!.code, CODE.NOT_FOUND);
  });

  it('keeps catalog and directories in agreement through kill -9 at random moments of a busy workload', async (t) => {
    const dir = makeTmpDir(t, 'strata-snapkill-');
    const proc = new SnapshotterProcess(dir);
    t.after(() => proc.kill('SIGKILL'));
    let committed = 0;
    for (let round = 0; round < 6; round++) {
      await proc.start();
      const client = new SnapshotClient(proc.socket);
      // After a restart, everything listed is whole: each snapshot has its dir, and only those dirs exist.
      assert.deepEqual(snapshotDirIds(proc.root), catalogIds(proc.root), `round ${round}`);
      const infos = await client.list();
      for (const info of infos.filter((i) => i.kind === 'COMMITTED')) {
        const usage = await client.call('Usage', { key: info.name as string });
        assert.ok(Number(usage.inodes) >= 1, `${String(info.name)} measured at commit`);
      }
      const workload = (async () => {
        for (let i = 0; ; i++) {
          const key = `w/${round}/${i}`;
          try {
            await client.call('Prepare', { key: `${key}-x`, parent: i % 3 === 0 || committed === 0 ? '' : `w/${round}/${i - 1}` });
            await client.call('Commit', { name: key, key: `${key}-x`, labels: { n: String(i) } });
            committed++;
            if (i % 4 === 3) await client.call('Remove', { key: `w/${round}/${i - 3}` }).catch(() => undefined);
          } catch {
            return; // the process is gone
          }
        }
      })();
      await new Promise((r) => setTimeout(r, 150 + Math.floor(Math.random() * 400)));
      await proc.kill('SIGKILL');
      await workload;
      client.close();
    }
    assert.ok(committed > 10, `the workload ran (${committed} commits)`);
    await proc.start();
    assert.deepEqual(snapshotDirIds(proc.root), catalogIds(proc.root));
    await proc.kill('SIGTERM');
  });
});

