/**
 * Metrics and status of `strata snapshotter` behind containerd 1.7: the endpoint on a unix
 * socket (0600) the user opted into counts the snapshot calls of an import and a run, a
 * refused call as an error of its kind, the diff service's Apply calls, and snapshots by kind
 * that go back to none after the image is removed; `strata status --snapshotter` reaches the process over its gRPC socket.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { TestContainerd } from '../helpers/containerd';
import { CLI } from '../helpers/dockerd';
import { eventually } from '../helpers/eventually';
import { busyboxLayer, randomFilesLayer, writeImageArchive } from '../helpers/image-archive';
import { scrape, series, sumOf } from '../helpers/metrics-scrape';
import { SnapshotClient } from '../helpers/snapshotter-process';
import { CliProcess } from '../helpers/strata-process';
import { needContainerd } from '../helpers/tiers';

const run = promisify(execFile);
const REF = 'docker.io/library/snapmetrics:1';

describe('metrics and status of strata snapshotter under containerd 1.7', { skip: needContainerd() }, () => {
  let dir: string;
  let image: string;
  let metricsSocket: string;
  let root: string;
  let strata: CliProcess;
  let ctrd: TestContainerd;
  let client: SnapshotClient;
  const metrics = async () => (await scrape(metricsSocket)).text;
  const calls = (text: string, method: string, outcome = 'ok') => series(text, `strata_request_duration_seconds_count{service="snapshots",method="${method}",outcome="${outcome}"}`);
  const snapshots = (text: string, kind: string) => series(text, `strata_snapshots{kind="${kind}"}`);
  const status = async () => JSON.parse((await run(process.execPath, [CLI, 'status', '--snapshotter', '--socket', strata.socket, '--json'])).stdout) as Record<string, unknown> & { store: { snapshots: Record<string, number>; pendingDeletes: number }; requests: { total: number; failed: number }; recentErrors: Array<{ method: string; kind: string }> };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'strata-snapmetrics-'));
    const base = await busyboxLayer(path.join(dir, 'base.tar'));
    const payload = await randomFilesLayer(path.join(dir, 'payload.tar'), 'payload', { dirs: 2, filesPerDir: 10, fileSize: 4096 });
    image = await writeImageArchive(path.join(dir, 'image.tar'), 'snapmetrics:1', [base, payload]);
    metricsSocket = path.join(dir, 'metrics.sock');
    root = path.join(dir, 'root');
    const socket = path.join(dir, 'snapshotter.sock');
    // Strata is containerd's snapshotter and its first differ, so both gRPC front ends are counted.
    ctrd = await TestContainerd.start({
      proxyPlugins: { strata: { address: socket, root }, 'strata-diff': { address: socket, type: 'diff' } },
      extraToml: '[plugins."io.containerd.service.v1.diff-service"]\n  default = ["strata-diff", "walking"]',
    });
    strata = new CliProcess(socket, path.join(dir, 'snapshotter.log'), ['snapshotter', '--socket', socket, '--root', root, '--log-level', 'debug', '--containerd-address', ctrd.address, '--metrics-address', metricsSocket]);
    await strata.start();
    client = new SnapshotClient(strata.socket);
  });

  after(async () => {
    client?.close();
    await ctrd?.stop();
    await strata?.kill('SIGTERM');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves metrics on a unix socket only root may use', async () => {
    assert.equal((await stat(metricsSocket)).mode & 0o777, 0o600);
    const text = await metrics();
    assert.ok(series(text, 'process_resident_memory_bytes') > 0);
    assert.equal(snapshots(text, 'committed'), 0);
    assert.doesNotMatch(text, /^strata_layers /m);
  });

  it('counts the snapshot and diff calls of an import and a run, and the snapshots by kind', async () => {
    const before = await metrics();
    await ctrd.ctr(['images', 'import', '--snapshotter', 'strata', image]);
    const imported = await metrics();
    assert.equal(series(imported, 'strata_request_duration_seconds_count{service="diff",method="Apply",outcome="ok"}'), 2, 'both layers unpack through Strata\'s differ');
    assert.ok(calls(imported, 'Prepare') >= calls(before, 'Prepare') + 2);
    assert.ok(calls(imported, 'Commit') >= calls(before, 'Commit') + 2);
    assert.equal(snapshots(imported, 'committed'), 2);
    await ctrd.ctrRun(REF, 'm1', ['/bin/true'], { snapshotter: 'strata' });
    const ran = await metrics();
    assert.ok(calls(ran, 'Prepare') >= calls(imported, 'Prepare') + 1);
    // containerd's garbage collector removes the container's snapshot after the run
    await eventually(async () => {
      const now = await metrics();
      assert.equal(snapshots(now, 'active'), 0);
      assert.ok(calls(now, 'Remove') >= calls(imported, 'Remove') + 1);
    }, 15_000);
  });

  it('counts a refused call as an error of its kind, and status lists it', async () => {
    const before = await metrics();
    const failure = await client.failure('Stat', { key: 'no-such-snapshot' });
    assert.equal(failure.code, 5);
    const after = await metrics();
    assert.equal(calls(after, 'Stat', 'error'), calls(before, 'Stat', 'error') + 1);
    assert.equal(sumOf(after, 'strata_request_errors_total', { service: 'snapshots', kind: 'layer_not_found' }), sumOf(before, 'strata_request_errors_total', { service: 'snapshots', kind: 'layer_not_found' }) + 1);
    const last = (await status()).recentErrors.at(-1)!;
    assert.deepEqual([last.method, last.kind], ['Stat', 'layer_not_found']);
  });

  it('strata status --snapshotter summarises the process from its gRPC socket', async () => {
    const report = await status();
    assert.equal(report.command, 'snapshotter');
    assert.equal(report.pid, strata.pid);
    assert.equal(report.home, root);
    assert.equal(report.store.snapshots.committed, 2);
    assert.ok((report.sizeBytes as number) > 100_000, 'the busybox layer alone is larger');
    assert.ok(report.requests.total > 5);
    const text = (await run(process.execPath, [CLI, 'status', '--snapshotter', '--socket', strata.socket])).stdout;
    assert.match(text, /^strata snapshotter \d+\.\d+\.\d+ \(pid \d+\)/);
    assert.match(text, /^snapshots: +2 committed, 0 active, 0 view; \d+\.\d MiB$/m);
  });

  it('shows no snapshots and no pending deletes once the image is removed', async () => {
    await ctrd.ctr(['images', 'rm', '--sync', REF]);
    await eventually(async () => {
      const text = await metrics();
      assert.equal(snapshots(text, 'committed') + snapshots(text, 'active') + snapshots(text, 'view'), 0);
      assert.equal(series(text, 'strata_pending_deletes'), 0);
    }, 15_000);
  });
});
