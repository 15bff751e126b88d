/**
 * Metrics and status of `strata serve` behind a real dockerd 20.10: the Prometheus endpoint
 * the user opted into is scraped around docker commands and its numbers move the right way
 * (a run counts requests and its mounts come back to the baseline after rm, a load adds
 * applied bytes and layers, a commit diffed bytes, a refused request an error of its kind),
 * and `strata status` reaches the same process over its plugin socket with no opt-in.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { CLI, TestDaemon, importBusybox } from '../helpers/dockerd';
import { eventually } from '../helpers/eventually';
import { busyboxLayer, randomFilesLayer, writeImageArchive } from '../helpers/image-archive';
import { freePort } from '../helpers/free-port';
import { scrape, series, sumOf } from '../helpers/metrics-scrape';
import { request } from '../helpers/strata-process';
import { needDocker } from '../helpers/tiers';

const run = promisify(execFile);

describe('metrics and status of strata serve under dockerd 20.10', { skip: needDocker() }, () => {
  let d: TestDaemon;
  let port: number;
  let dir: string;
  let image: string;
  let payloadBytes: number;
  const metrics = async () => (await scrape(port)).text;
  const requests = (text: string, method: string, outcome = 'ok') => series(text, `strata_request_duration_seconds_count{service="graphdriver",method="${method}",outcome="${outcome}"}`);
  const status = async (...args: string[]) => (await run(process.execPath, [CLI, 'status', '--socket', d.pluginSocket, ...args])).stdout;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'strata-metrics-'));
    const base = await busyboxLayer(path.join(dir, 'base.tar'));
    const payload = await randomFilesLayer(path.join(dir, 'payload.tar'), 'payload', { dirs: 2, filesPerDir: 20, fileSize: 64 * 1024 });
    payloadBytes = (await stat(payload)).size;
    image = await writeImageArchive(path.join(dir, 'image.tar'), 'metrics-load:1', [base, payload]);
    port = await freePort();
    d = await TestDaemon.start({ driver: 'strata', strataArgs: ['--metrics-address', `127.0.0.1:${port}`] });
    await importBusybox(d);
  });

  after(async () => {
    await d?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves the text format at /metrics, with process metrics, and nothing else', async () => {
    const r = await scrape(port);
    assert.equal(r.status, 200);
    assert.match(r.contentType, /^text\/plain; version=0\.0\.4/);
    assert.ok(series(r.text, 'process_resident_memory_bytes') > 10 * 1024 * 1024);
    assert.ok(series(r.text, 'process_open_fds') > 0);
    assert.match(r.text, /^# TYPE strata_request_duration_seconds histogram$/m);
    assert.equal((await scrape(port, '/')).status, 404);
  });

  it('counts the requests of a run, and its mounts come back to the baseline after rm', async () => {
    const before = await metrics();
    const baseline = series(before, 'strata_mounts{state="active"}') + series(before, 'strata_mounts{state="idle"}');
    await d.docker(['run', '--name', 'm1', 'busybox:strata', 'true']);
    const during = await metrics();
    assert.ok(requests(during, 'CreateReadWrite') >= requests(before, 'CreateReadWrite') + 1);
    assert.ok(requests(during, 'Get') >= requests(before, 'Get') + 1);
    assert.ok(requests(during, 'Put') >= requests(before, 'Put') + 1);
    assert.ok(series(during, 'strata_request_duration_seconds_sum{service="graphdriver",method="Get",outcome="ok"}') > 0);
    await d.docker(['rm', 'm1']);
    await eventually(async () => {
      const now = await metrics();
      assert.equal(series(now, 'strata_mounts{state="active"}') + series(now, 'strata_mounts{state="idle"}'), baseline);
      assert.equal(series(now, 'strata_pending_deletes'), 0);
    });
  });

  it('adds the bytes of a load to the applied bytes, and its layers to the layer count', async () => {
    const before = await metrics();
    await d.docker(['load', '-i', image]);
    const after = await metrics();
    // the payload layer is new; the busybox base may be shared with the imported image or not
    assert.ok(series(after, 'strata_applied_bytes_total{service="graphdriver"}') >= series(before, 'strata_applied_bytes_total{service="graphdriver"}') + payloadBytes);
    assert.ok(series(after, 'strata_layers') >= series(before, 'strata_layers') + 1);
    assert.equal(series(after, 'strata_layers'), (await d.layerDirs()).length);
    await d.docker(['rmi', 'metrics-load:1']);
    await eventually(async () => assert.equal(series(await metrics(), 'strata_layers'), (await d.layerDirs()).length));
  });

  it('adds the archive of a commit to the diffed bytes', async () => {
    const before = await metrics();
    await d.docker(['run', '--name', 'm2', 'busybox:strata', 'sh', '-c', 'head -c 100000 /dev/urandom > /blob']);
    await d.docker(['commit', 'm2', 'metrics-commit:1']);
    await d.docker(['rm', 'm2']);
    await d.docker(['rmi', 'metrics-commit:1']);
    const after = await metrics();
    assert.ok(requests(after, 'Diff') >= requests(before, 'Diff') + 1);
    assert.ok(series(after, 'strata_diffed_bytes_total{service="graphdriver"}') >= series(before, 'strata_diffed_bytes_total{service="graphdriver"}') + 100_000);
  });

  it('counts a refused request as an error of its kind, and status lists it', async () => {
    const before = await metrics();
    const reply = await request(d.pluginSocket, '/GraphDriver.Get', JSON.stringify({ ID: 'f'.repeat(64) }));
    assert.equal(reply.status, 404);
    const after = await metrics();
    assert.equal(sumOf(after, 'strata_request_errors_total', { kind: 'layer_not_found' }), sumOf(before, 'strata_request_errors_total', { kind: 'layer_not_found' }) + 1);
    assert.equal(requests(after, 'Get', 'error'), requests(before, 'Get', 'error') + 1);
    const report = JSON.parse(await status('--json')) as { recentErrors: Array<{ method: string; kind: string; message: string }> };
    const last = report.recentErrors.at(-1)!;
    assert.deepEqual([last.method, last.kind], ['Get', 'layer_not_found']);
    assert.match(last.message, /f{64}/);
  });

  it('strata status summarises the running process from its plugin socket', async () => {
    const report = JSON.parse(await status('--json')) as Record<string, unknown> & { store: { layers: number; mounts: { active: number; idle: number }; pendingDeletes: number }; requests: { total: number; failed: number }; memory: { rssBytes: number } };
    assert.equal(report.command, 'serve');
    assert.equal(report.version, JSON.parse((await run('cat', [path.join(__dirname, '..', '..', '..', 'package.json')])).stdout).version);
    assert.equal(report.pid, d.strataPid);
    assert.equal(report.home, d.home);
    assert.equal(report.store.layers, (await d.layerDirs()).length);
    assert.ok((report.sizeBytes as number) > 100_000, 'the busybox layer alone is larger');
    assert.ok(report.requests.total > 10);
    assert.ok(report.requests.failed >= 1);
    assert.ok(report.memory.rssBytes > 10 * 1024 * 1024);
    assert.equal(report.gcForced, false);
    const text = await status();
    assert.match(text, /^strata serve \d+\.\d+\.\d+ \(pid \d+\), up /);
    assert.match(text, new RegExp(`^home: +${d.home}$`, 'm'));
    assert.match(text, /^layers: +\d+, \d+\.\d MiB$/m);
    assert.match(text, /^mounts: +\d+ active, \d+ idle$/m);
    assert.match(text, /^recent errors:\n {2}\S+ graphdriver Get layer_not_found: /m);
  });

  it('strata status says so when nothing answers', async () => {
    await assert.rejects(run(process.execPath, [CLI, 'status', '--socket', path.join(dir, 'none.sock')]), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 1);
      assert.match(err.stderr, /no answer from/);
      return true;
    });
  });
});
