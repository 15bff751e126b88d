/**
 * A smoke run of `npm run bench` with the quick profile: it must start and stop both daemons,
 * run every benchmark and write a well-formed JSON report. Timings are not asserted: on a
 * shared machine they are noise (the bench itself is not part of `npm test`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { mountsUnder } from '../helpers/dockerd';
import { CONTAINERD17, CTR17, DOCKER26, DOCKERD26, needDocker } from '../helpers/tiers';

const RUN = path.resolve(__dirname, '..', '..', 'bench', 'run.js');
const EXPECTED_IDS = [
  'layer-apply', 'layer-diff',
  'load-debian', 'load-stack', 'load-small', 'load-big', 'load-many',
  'run', 'create-rm', 'diff', 'ps-s', 'commit', 'save',
  'scale-load-100', 'scale-load-400', 'depth-1', 'depth-4',
  'limit-create-rm', 'limit-run', 'limit-write',
];
// The containerd route (Docker 26 + containerd 1.7 from test/setup-trixie.sh); the bench skips it where those are missing.
const CTRD_IDS = [
  'ctrd-load-debian', 'ctrd-load-small', 'ctrd-load-big', 'ctrd-load-many', 'ctrd-run', 'ctrd-create-rm', 'ctrd-commit', 'ctrd-build',
  'ctrd-prepare', 'ctrd-prepare-via', 'ctrd-stat', 'ctrd-stat-via', 'ctrd-list', 'ctrd-list-via',
];
const HAS_CTRD = [CONTAINERD17, CTR17, DOCKERD26, DOCKER26].every((f) => existsSync(f));

interface ReportShape {
  schema: string;
  results: Array<{ id: string; sides: [string, string]; samples: Record<string, number[]>; medians: Record<string, number>; ratio: number; met?: boolean }>;
  peakRss: { targetMiB: number; loads: Array<{ image: string; peakMiB: number }>; layerApplyMiB: number };
}

describe('npm run bench -- --quick', { skip: needDocker() }, () => {
  it('runs every benchmark on both sides and writes a well-formed report', (t) => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'strata-bench-smoke-'));
    // The bench's own temp dir, so the check for leftover mounts sees this run's and not those of a bench running beside it (short: socket paths).
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'sbs-'));
    t.after(() => rmSync(out, { recursive: true, force: true }));
    t.after(() => rmSync(tmp, { recursive: true, force: true }));
    const run = spawnSync(process.execPath, [RUN, '--quick', '--out', out], { encoding: 'utf8', timeout: 15 * 60_000, env: { ...process.env, TMPDIR: tmp } });
    assert.equal(run.status, 0, `bench failed:\n${run.stderr}`);
    assert.match(run.stdout, /docker commands: strata vs overlay2/);

    const files = readdirSync(out).filter((f) => f.endsWith('.json'));
    assert.equal(files.length, 1);
    const report = JSON.parse(readFileSync(path.join(out, files[0]!), 'utf8')) as ReportShape;
    assert.equal(report.schema, 'strata-bench/1');
    assert.deepEqual(report.results.map((r) => r.id).sort(), [...EXPECTED_IDS, ...(HAS_CTRD ? CTRD_IDS : [])].sort());
    if (HAS_CTRD) {
      assert.match(run.stdout, /containerd route, docker commands: dockerd 26\S* on the containerd store/);
      assert.match(run.stdout, /where a docker commit's time goes on the strata differ side/);
      const commit = report.results.find((r) => r.id === 'ctrd-commit')!;
      assert.deepEqual(Object.keys(commit.samples).sort(), ['overlay2', 'overlayfs', 'strata', 'strata-differ', 'strata-differ-gzip6']);
    }
    for (const r of report.results) {
      for (const side of r.sides) {
        assert.ok(r.samples[side]!.length >= 1 && r.samples[side]!.every((ms) => ms > 0), `${r.id}: samples of ${side}`);
        assert.ok(Number.isFinite(r.medians[side]), `${r.id}: median of ${side}`);
      }
      assert.ok(Number.isFinite(r.ratio) && r.ratio > 0, `${r.id}: ratio`);
    }
    assert.ok(report.peakRss.loads.length >= 4 && report.peakRss.loads.every((p) => p.peakMiB > 0), 'a peak RSS per loaded image');
    assert.ok(report.peakRss.layerApplyMiB > 0);
    assert.deepEqual(mountsUnder(tmp), [], 'the bench left nothing mounted');
  });
});
