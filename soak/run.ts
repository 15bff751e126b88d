#!/usr/bin/env node
/**
 * `npm run soak [-- --minutes N]`: one long-lived Strata behind an isolated dockerd 20.10,
 * driven through rounds of container runs, image loads, commits, removals and parallel runs
 * until the time is up. After each round, once the idle mounts and background deletes have
 * drained, it samples Strata's RSS and V8 heap after a forced full GC (Strata runs with
 * --expose-gc and collects when `strata status --gc` asks), its open fds, the mounts under the
 * home, the layer dirs and staging. It fails if any operation failed or any series grows
 * after the warm-up (see drift.ts), and writes every sample to soak-results/<time>.json.
 */
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Layout, isLayerName } from '../src/store/layout';
import { fetchServeStatus } from '../src/telemetry/status-command';
import type { StatusReport } from '../src/telemetry/status-report';
import { TestDaemon, importBusybox, mountsUnder } from '../test/helpers/dockerd';
import { busyboxLayer, randomFilesLayer, writeImageArchive } from '../test/helpers/image-archive';
import { needDocker } from '../test/helpers/tiers';
import { judge, type Point, type Tolerance, type Verdict } from './drift';

const REPO = path.resolve(__dirname, '..', '..');
const MiB = 1024 * 1024;
const PARALLEL = 8;
const QUIET_TIMEOUT_MS = 30_000;

/** What may grow from the window after the warm-up to the last one (see drift.ts). */
const SERIES: Array<{ name: keyof Sample; unit: string; tolerance: Tolerance }> = [
  { name: 'rssMiB', unit: 'MiB', tolerance: { fraction: 0.05, absolute: 3 } },
  { name: 'heapUsedMiB', unit: 'MiB', tolerance: { fraction: 0.05, absolute: 1 } },
  { name: 'openFds', unit: 'fds', tolerance: { fraction: 0, absolute: 0 } },
  { name: 'mounts', unit: 'mounts', tolerance: { fraction: 0, absolute: 0 } },
  { name: 'layerDirs', unit: 'dirs', tolerance: { fraction: 0, absolute: 0 } },
  { name: 'stagingEntries', unit: 'entries', tolerance: { fraction: 0, absolute: 0 } },
];

interface Sample {
  ops: number;
  seconds: number;
  rssMiB: number;
  heapUsedMiB: number;
  heapTotalMiB: number;
  openFds: number;
  mounts: number;
  layerDirs: number;
  stagingEntries: number;
}

/** LTS_NODE is the Node.js build test/setup-node.sh installs as the current LTS. */
const LTS_NODE = '/opt/strata-test/node/lts/bin/node';

/** strataNode picks the node that runs Strata: STRATA_SOAK_NODE, else the tested LTS build, else this one if it is supported (22+). */
function strataNode(): string {
  if (process.env.STRATA_SOAK_NODE) return process.env.STRATA_SOAK_NODE;
  if (existsSync(LTS_NODE)) return LTS_NODE;
  if (Number(process.versions.node.split('.')[0]) >= 22) return process.execPath;
  throw new Error(`no supported node to run Strata: this is ${process.version} and ${LTS_NODE} is missing (run test/setup-node.sh)`);
}

const started = Date.now();
const progress = (line: string) => console.error(`[soak +${Math.round((Date.now() - started) / 1000)}s] ${line}`);

/** Soak drives one daemon and counts what it did. */
class Soak {
  ops = 0;
  failures: string[] = [];
  constructor(
    readonly d: TestDaemon,
    readonly imageArchive: string,
  ) {}

  async docker(args: string[]): Promise<string> {
    const r = await this.d.docker(args, { allowFail: true, timeoutMs: 120_000 });
    this.ops++;
    if (r.code !== 0) this.failures.push(`docker ${args.join(' ')}: ${r.stderr.trim().slice(0, 300)}`);
    return r.stdout;
  }

  /** round: sequential runs, a load/run/rmi, a run/commit/run/rm/rmi and a burst of parallel runs. */
  async round(n: number): Promise<void> {
    for (let i = 0; i < 10; i++) await this.docker(['run', '--rm', 'busybox:strata', 'true']);
    await this.docker(['load', '-i', this.imageArchive]);
    await this.docker(['run', '--rm', 'soak-load:1', 'sh', '-c', 'cat /payload/d00/f0000 > /dev/null']);
    await this.docker(['rmi', 'soak-load:1']);
    const name = `soak-c${n}`;
    await this.docker(['run', '--name', name, 'busybox:strata', 'sh', '-c', `echo ${n} > /round`]);
    await this.docker(['commit', name, `soak-commit:${n}`]);
    await this.docker(['rm', name]);
    await this.docker(['run', '--rm', `soak-commit:${n}`, 'cat', '/round']);
    await this.docker(['rmi', `soak-commit:${n}`]);
    await Promise.all(Array.from({ length: PARALLEL }, () => this.docker(['run', '--rm', 'busybox:strata', 'sh', '-c', 'echo hi > /tmp/x'])));
  }

  /** quiet waits until Strata holds no mounts and deletes nothing in the background. */
  async quiet(): Promise<StatusReport> {
    const deadline = Date.now() + QUIET_TIMEOUT_MS;
    for (;;) {
      const s = await fetchServeStatus(this.d.pluginSocket, false);
      const busy = !s.store || s.store.pendingDeletes > 0 || (s.store.mounts?.active ?? 0) + (s.store.mounts?.idle ?? 0) > 0;
      if (!busy || Date.now() > deadline) return s;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async sample(): Promise<Sample> {
    await this.quiet();
    const s = await fetchServeStatus(this.d.pluginSocket, true);
    if (!s.gcForced) throw new Error('strata did not run a GC: is it started with --expose-gc?');
    const layout = new Layout(this.d.home);
    return {
      ops: this.ops,
      seconds: Math.round((Date.now() - started) / 1000),
      rssMiB: round1(s.memory.rssBytes / MiB),
      heapUsedMiB: round1(s.memory.heapUsedBytes / MiB),
      heapTotalMiB: round1(s.memory.heapTotalBytes / MiB),
      openFds: s.openFds,
      mounts: mountsUnder(this.d.home).length,
      layerDirs: readdirSync(this.d.home).filter(isLayerName).length,
      stagingEntries: readdirSync(layout.stagingDir()).length,
    };
  }
}

const round1 = (x: number) => Math.round(x * 10) / 10;

function formatVerdict(v: Verdict): string {
  const f = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(1));
  return `${v.drifts ? 'DRIFTS' : 'flat  '} ${v.name.padEnd(15)} early ${f(v.early)} → late ${f(v.late)} ${v.unit} (allowed +${f(v.allowed)}), slope ${v.slopePer1000.toFixed(2)} ${v.unit}/1000 ops`;
}

async function prepareImages(d: TestDaemon, dir: string): Promise<string> {
  await importBusybox(d);
  const base = await busyboxLayer(path.join(dir, 'base.tar'));
  const payload = await randomFilesLayer(path.join(dir, 'payload.tar'), 'payload', { dirs: 4, filesPerDir: 50, fileSize: 16 * 1024 });
  return writeImageArchive(path.join(dir, 'image.tar'), 'soak-load:1', [base, payload]);
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { minutes: { type: 'string', default: '40' } }, strict: true });
  const minutes = Number(values.minutes);
  if (!(minutes > 0)) throw new Error('--minutes must be a positive number');
  const skip = needDocker();
  if (skip) throw new Error(`the soak needs root and dockerd 20.10: ${skip}`);
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'strata-soak-'));
  const node = strataNode();
  const d = await TestDaemon.start({ driver: 'strata', strataNode: node, strataNodeArgs: ['--expose-gc'] });
  const stop = async () => {
    await d.stop();
    await rm(scratch, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stop().finally(() => process.exit(130)));
  try {
    const soak = new Soak(d, await prepareImages(d, scratch));
    const samples: Sample[] = [await soak.sample()];
    progress(`strata runs on ${node} (${(await d.docker(['info', '--format', '{{.ServerVersion}}'])).stdout.trim()} dockerd)`);
    progress(`start: rss ${samples[0]!.rssMiB} MiB, heap ${samples[0]!.heapUsedMiB} MiB after GC; running ${minutes} min`);
    const end = started + minutes * 60_000;
    for (let n = 1; Date.now() < end && soak.failures.length === 0; n++) {
      await soak.round(n);
      const s = await soak.sample();
      samples.push(s);
      if (n % 5 === 0) progress(`round ${n}: ${s.ops} ops, rss ${s.rssMiB} MiB, heap ${s.heapUsedMiB} MiB, fds ${s.openFds}, mounts ${s.mounts}, layers ${s.layerDirs}, staging ${s.stagingEntries}`);
    }
    const verdicts = SERIES.map((series) => judge(series.name, series.unit, samples.map((s): Point => ({ ops: s.ops, value: s[series.name] })), series.tolerance));
    const last = samples.at(-1)!;
    console.log(`soak: ${last.ops} operations in ${Math.round(last.seconds / 60)} min, ${samples.length} samples, ${soak.failures.length} failed operations`);
    console.log(`first sample: rss ${samples[0]!.rssMiB} MiB, heap ${samples[0]!.heapUsedMiB} MiB; peak rss ${Math.max(...samples.map((s) => s.rssMiB))} MiB`);
    for (const v of verdicts) console.log(formatVerdict(v));
    for (const f of soak.failures) console.log(`failed: ${f}`);
    const out = path.join(REPO, 'soak-results');
    await mkdir(out, { recursive: true });
    const file = path.join(out, `${new Date(started).toISOString().replace(/[:.]/g, '-')}.json`);
    await writeFile(file, JSON.stringify({ minutes, node, parallel: PARALLEL, verdicts, failures: soak.failures, samples }, null, 2));
    console.log(`samples in ${path.relative(process.cwd(), file)}`);
    return soak.failures.length > 0 || verdicts.some((v) => v.drifts) ? 1 : 0;
  } finally {
    await stop();
  }
}

if (!existsSync(path.join(REPO, 'package.json'))) throw new Error('run the soak from the built checkout (npm run soak)');
main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(`soak: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  },
);
