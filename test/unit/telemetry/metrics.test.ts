import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArchiveError } from '../../../src/errors';
import { Metrics, countBytes, type StoreSample } from '../../../src/telemetry/metrics';

/** value reads one sample line of the exposition text, e.g. value(text, 'strata_layers'). */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('Metrics', () => {
  it('counts requests by method and outcome, errors by kind, and archive bytes', async () => {
    const m = new Metrics({ store: 'layers', sample: async () => undefined });
    m.request({ service: 'graphdriver', method: 'ApplyDiff', seconds: 0.2, appliedBytes: 1000 });
    m.request({ service: 'graphdriver', method: 'ApplyDiff', seconds: 0.01, error: new InvalidArchiveError('truncated', { entry: 'etc/passwd' }) });
    m.request({ service: 'graphdriver', method: 'Diff', seconds: 0.1, diffedBytes: 512 });
    m.request({ service: 'snapshots', method: 'Prepare', seconds: 0.001, error: new Error('EACCES /var/lib/secret') });
    const text = await m.registry.metrics();
    assert.equal(value(text, 'strata_request_duration_seconds_count{service="graphdriver",method="ApplyDiff",outcome="ok"}'), 1);
    assert.equal(value(text, 'strata_request_duration_seconds_count{service="graphdriver",method="ApplyDiff",outcome="error"}'), 1);
    assert.equal(value(text, 'strata_request_duration_seconds_bucket{le="0.25",service="graphdriver",method="ApplyDiff",outcome="ok"}'), 1);
    assert.equal(value(text, 'strata_request_duration_seconds_bucket{le="0.1",service="graphdriver",method="ApplyDiff",outcome="ok"}'), 0);
    assert.equal(value(text, 'strata_request_errors_total{service="graphdriver",method="ApplyDiff",kind="tar_invalid"}'), 1);
    assert.equal(value(text, 'strata_request_errors_total{service="snapshots",method="Prepare",kind="internal"}'), 1);
    assert.equal(value(text, 'strata_applied_bytes_total{service="graphdriver"}'), 1000);
    assert.equal(value(text, 'strata_diffed_bytes_total{service="graphdriver"}'), 512);
    // prom-client's process metrics come along
    assert.ok(value(text, 'process_resident_memory_bytes')! > 0);
    assert.deepEqual(m.totals(), { requests: 4, failed: 2 });
    const recent = m.recentErrors();
    assert.deepEqual(recent.map((e) => [e.method, e.kind]), [['ApplyDiff', 'tar_invalid'], ['Prepare', 'internal']]);
    assert.match(recent[0]!.message, /etc\/passwd.*truncated/);
    // an error that is not ours may carry host paths: its message stays in the log
    assert.doesNotMatch(recent[1]!.message, /var\/lib/);
  });

  it('counts a request passed on to another implementation apart, neither ok nor failed', async () => {
    const m = new Metrics({ store: 'snapshots', sample: async () => undefined });
    m.request({ service: 'diff', method: 'Apply', seconds: 0.001, error: new Error('not ours'), passedOn: true });
    const text = await m.registry.metrics();
    assert.equal(value(text, 'strata_request_duration_seconds_count{service="diff",method="Apply",outcome="passed_on"}'), 1);
    assert.doesNotMatch(text, /^strata_request_errors_total\{/m);
    assert.deepEqual([m.totals(), m.recentErrors()], [{ requests: 1, failed: 0 }, []]);
  });

  it('keeps only the latest errors', () => {
    const m = new Metrics({ store: 'layers', sample: async () => undefined });
    for (let i = 0; i < 50; i++) m.request({ service: 'graphdriver', method: `M${i}`, seconds: 0, error: new InvalidArchiveError('x') });
    const recent = m.recentErrors();
    assert.equal(recent.length, 20);
    assert.equal(recent.at(-1)!.method, 'M49');
  });

  it('reads the layer gauges from the store when scraped, once per scrape, as 0 before there is a store', async () => {
    let reads = 0;
    let sample: StoreSample | undefined;
    const m = new Metrics({ store: 'layers', sample: async () => (reads++, sample) });
    let text = await m.registry.metrics();
    assert.equal(value(text, 'strata_layers'), 0);
    assert.equal(value(text, 'strata_pending_deletes'), 0);
    sample = { layers: 7, mounts: { active: 2, idle: 1 }, pendingDeletes: 3 };
    reads = 0;
    text = await m.registry.metrics();
    assert.equal(reads, 1);
    assert.equal(value(text, 'strata_layers'), 7);
    assert.equal(value(text, 'strata_mounts{state="active"}'), 2);
    assert.equal(value(text, 'strata_mounts{state="idle"}'), 1);
    assert.equal(value(text, 'strata_pending_deletes'), 3);
    assert.equal(value(text, 'strata_snapshots{kind="committed"}'), undefined);
  });

  it('has snapshot gauges, and no layer ones, for a snapshot store', async () => {
    const m = new Metrics({ store: 'snapshots', sample: async () => ({ snapshots: { committed: 4, active: 1, view: 0 }, pendingDeletes: 2 }) });
    const text = await m.registry.metrics();
    assert.equal(value(text, 'strata_snapshots{kind="committed"}'), 4);
    assert.equal(value(text, 'strata_snapshots{kind="view"}'), 0);
    assert.equal(value(text, 'strata_pending_deletes'), 2);
    assert.equal(value(text, 'strata_layers'), undefined);
    assert.equal(value(text, 'strata_mounts{state="active"}'), undefined);
  });
});

describe('countBytes', () => {
  it('passes chunks through and reports their total, also when the reader stops early', async () => {
    const source = async function* () {
      yield Buffer.alloc(3);
      yield Buffer.alloc(4);
      yield Buffer.alloc(5);
    };
    let total = -1;
    const seen: number[] = [];
    for await (const c of countBytes(source(), (n) => (total = n))) seen.push(c.length);
    assert.deepEqual([seen, total], [[3, 4, 5], 12]);
    for await (const _ of countBytes(source(), (n) => (total = n))) break;
    assert.equal(total, 3);
  });
});
