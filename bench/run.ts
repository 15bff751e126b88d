#!/usr/bin/env node
/**
 * `npm run bench`: builds the corpus offline, measures the layer work against GNU tar, then
 * starts two isolated dockerds of the same binary (Strata and the built-in overlay2) and runs
 * the docker benchmarks interleaved. Prints a table and writes bench-results/<time>.json.
 * Everything it starts is stopped by pid, and everything it mounts is unmounted, also on Ctrl-C.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TestDaemon, exec } from '../test/helpers/dockerd';
import { DOCKER, DOCKERD } from '../test/helpers/tiers';
import { buildCorpus, type Corpus } from './corpus/images';
import { materializeTree } from '../test/helpers/corpus';
import { asTreeNodes, smallFiles } from './corpus/trees';
import { formatProfile, summariseProfiles, type ProfileSummary } from './cpu-profile';
import { DockerBench, SIDES, type SideName } from './docker-bench';
import { limitBench } from './limit-bench';
import type { Comparison } from './measure';
import { CTRD_GROUPS, ContainerdBench, missingContainerdRoute } from './containerd-bench';
import { formatContainerdTable } from './containerd-report';
import { runLayerBench, type LayerBenchResult } from './layer-bench';
import { BENCHMARK_GROUPS, machineFacts, parseOptions, type BenchOptions } from './options';
import { REPORT_SCHEMA, RSS_TARGET_MIB, formatTable, summarise, writeReport, type Report } from './report';
import { StrataServer } from './strata-client';

const REPO = path.resolve(__dirname, '..', '..');
const TMPFS_SIZE = '16g';
const started = Date.now();
const cleanups: Array<() => Promise<void>> = [];

function progress(line: string): void {
  console.error(`[bench +${Math.round((Date.now() - started) / 1000)}s] ${line}`);
}

async function cleanUp(): Promise<void> {
  while (cleanups.length) await cleanups.pop()!().catch((err: unknown) => progress(`cleanup failed: ${(err as Error).message}`));
}

function checkHost(): void {
  if (process.getuid?.() !== 0) throw new Error('the bench needs root (it runs dockerd and mounts overlayfs)');
  for (const bin of [DOCKERD, DOCKER, '/bin/busybox']) if (!existsSync(bin)) throw new Error(`${bin} is missing: run sudo bash test/setup.sh first`);
}

/** workDir is the run's scratch directory; on tmpfs (unless --disk), so GNU tar and Strata's home sit in memory. */
async function makeWorkDir(tmpfs: boolean): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-bench-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  if (tmpfs) {
    await exec('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE}`, 'strata-bench', dir]);
    // Lazy: the log of the Strata that ran here may still be open in this process.
    cleanups.push(async () => void (await exec('umount', ['-l', dir])));
  }
  return dir;
}

function cpuProfArgs(opts: BenchOptions, dir: string | undefined, name: string): string[] {
  return opts.cpuProf && dir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(dir, name)}`] : [];
}

async function layerBench(opts: BenchOptions, corpus: Corpus, work: string, profileDir?: string): Promise<LayerBenchResult> {
  const dir = path.join(work, 'layer');
  await mkdir(dir);
  const strata = await StrataServer.start(dir, cpuProfArgs(opts, profileDir, 'layer'));
  try {
    return await runLayerBench(strata, corpus, dir, opts.profile.rounds, progress);
  } finally {
    await strata.stop();
  }
}

async function startDaemons(opts: BenchOptions, profileDir?: string): Promise<Record<SideName, TestDaemon>> {
  const tmpfsDataRoot = opts.tmpfs ? TMPFS_SIZE : undefined;
  const daemons: Partial<Record<SideName, TestDaemon>> = {};
  for (const side of SIDES) {
    const d = await TestDaemon.start({ driver: side, tmpfsDataRoot, strataNodeArgs: cpuProfArgs(opts, profileDir, 'docker') });
    cleanups.push(() => d.stop());
    daemons[side] = d;
  }
  return daemons as Record<SideName, TestDaemon>;
}

/** dockerBench runs the selected docker benchmarks in a fixed order. */
async function dockerBench(opts: BenchOptions, corpus: Corpus, work: string, profileDir?: string): Promise<DockerBench> {
  const { only, profile } = opts;
  const bench = new DockerBench(await startDaemons(opts, profileDir), profile, progress);
  await bench.prepare();
  if (only.has('load')) {
    const images = [['load-debian', corpus.debian], ['load-stack', corpus.stack], ['load-small', corpus.small], ['load-big', corpus.big], ['load-many', corpus.many]] as const;
    for (const [id, img] of images) await bench.load('load', id, img);
  }
  if (only.has('run')) await bench.run();
  if (only.has('create')) await bench.createRemove();
  if (only.has('commit') || only.has('diff') || only.has('ps')) {
    const data = path.join(work, 'commit-data');
    await materializeTree(data, asTreeNodes(smallFiles('data', profile.commitFiles, () => Math.floor((profile.commitMiB * 2 ** 20) / profile.commitFiles))));
    await bench.startWriters(data);
    if (only.has('diff')) await bench.diff();
    if (only.has('ps')) await bench.ps();
    if (only.has('commit')) await bench.commit();
    await bench.stopWriters();
  }
  if (only.has('save')) await bench.save(corpus.debian);
  if (only.has('scale-load')) for (const [i, img] of corpus.scaling.entries()) await bench.load('scale-load', `scale-load-${profile.scalingFiles[i]}`, img);
  if (only.has('scale-depth')) for (const img of corpus.depth) await bench.depth(img);
  return bench;
}

/**
 * containerdBench runs the selected ctrd-* benchmarks under Docker 26: Strata's snapshotter with
 * and without Strata's differ, containerd's overlayfs, and the classic overlay2 driver.
 */
async function containerdBench(opts: BenchOptions, corpus: Corpus, work: string): Promise<ContainerdBench> {
  const { only, profile } = opts;
  const bench = await ContainerdBench.start(work, profile, only.has('ctrd-commit'), progress, (fn) => void cleanups.push(fn));
  await bench.prepare();
  if (only.has('ctrd-load')) {
    for (const [id, img] of [['ctrd-load-debian', corpus.debian], ['ctrd-load-small', corpus.small], ['ctrd-load-big', corpus.big], ['ctrd-load-many', corpus.many]] as const) await bench.load(id, img);
  }
  if (only.has('ctrd-run')) await bench.run();
  if (only.has('ctrd-create')) await bench.createRemove();
  if (only.has('ctrd-commit') || only.has('ctrd-build')) {
    const data = path.join(work, 'ctrd-build-context', 'data');
    await materializeTree(data, asTreeNodes(smallFiles('data', profile.commitFiles, () => Math.floor((profile.commitMiB * 2 ** 20) / profile.commitFiles))));
    if (only.has('ctrd-commit')) await bench.commit(data);
    if (only.has('ctrd-build')) await bench.build(data);
  }
  if (only.has('ctrd-calls')) await bench.calls();
  return bench;
}

function corpusFacts(c: Corpus, opts: BenchOptions): Record<string, unknown> {
  const { debianLayer, scaling, depth, ...images } = c;
  return {
    cacheDir: opts.cacheDir,
    debianSource: opts.profile.debian,
    debianLayer: { entries: debianLayer.entries, bytes: debianLayer.bytes },
    images: [...Object.values(images), ...scaling, ...depth].map(({ tag, layers, entries, bytes }) => ({ tag, layers, entries, bytes })),
  };
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2), REPO);
  checkHost();
  const missing = [...opts.only].some((g) => (CTRD_GROUPS as readonly string[]).includes(g)) ? missingContainerdRoute() : undefined;
  if (missing && opts.only.size === BENCHMARK_GROUPS.length) {
    progress(`skipping the containerd route (ctrd-*): ${missing} is missing (sudo bash test/setup-trixie.sh)`);
    for (const g of CTRD_GROUPS) opts.only.delete(g);
  } else if (missing) throw new Error(`the containerd route needs ${missing}: run sudo bash test/setup-trixie.sh first`);
  const startedAt = new Date(started).toISOString();
  const machine = machineFacts();
  progress(`profile ${opts.profile.name}, ${opts.profile.rounds} round(s), benchmarks: ${[...opts.only].join(', ')}${opts.tmpfs ? ', on tmpfs' : ', on the disk'}`);
  const corpus = await buildCorpus(opts.profile, opts.cacheDir);
  progress('corpus ready');
  const profileDir = opts.cpuProf ? path.join(opts.outDir, `${startedAt.replace(/[:.]/g, '-')}-profiles`) : undefined;
  const work = await makeWorkDir(opts.tmpfs);
  let layer: LayerBenchResult | undefined;
  let docker: DockerBench | undefined;
  let ctrd: ContainerdBench | undefined;
  let limits: Comparison[] = [];
  try {
    if (opts.only.has('layer')) layer = await layerBench(opts, corpus, work, profileDir);
    const dockerGroups = [...opts.only].filter((g) => g !== 'layer' && !g.startsWith('ctrd-'));
    if (dockerGroups.length) docker = await dockerBench(opts, corpus, work, profileDir);
    if (docker && opts.only.has('limit')) limits = await limitBench(docker.daemons.strata, opts.profile, progress);
    if ([...opts.only].some((g) => g.startsWith('ctrd-'))) ctrd = await containerdBench(opts, corpus, work);
  } finally {
    await cleanUp();
  }
  const profiles: ProfileSummary[] = profileDir ? [...(await summariseProfiles(path.join(profileDir, 'layer'))), ...(await summariseProfiles(path.join(profileDir, 'docker')))] : [];
  const report: Report = {
    schema: REPORT_SCHEMA,
    startedAt,
    durationSec: Math.round((Date.now() - started) / 1000),
    options: { profile: opts.profile, only: [...opts.only], tmpfs: opts.tmpfs, cpuProf: opts.cpuProf },
    machine: { ...machine, tmpfs: opts.tmpfs, loadavgAtEnd: os.loadavg().map((l) => Math.round(l * 100) / 100), dockerd: (await exec(DOCKERD, ['--version'])).stdout.trim() },
    corpus: corpusFacts(corpus, opts),
    results: [...(layer?.comparisons ?? []), ...(docker?.results ?? []), ...limits, ...(ctrd?.results ?? [])].map(summarise),
    peakRss: { targetMiB: RSS_TARGET_MIB, loads: docker?.peakRss ?? [], ...(layer ? { layerApplyMiB: layer.applyPeakRssMiB } : {}) },
    profiles,
    ...(ctrd ? { containerd: { commitSamples: ctrd.commitSamples, buildRequests: ctrd.buildDiffer } } : {}),
  };
  console.log(formatTable(report));
  const ctrdTable = formatContainerdTable(report);
  if (ctrdTable) console.log(ctrdTable);
  for (const p of profiles) console.log(`\n${formatProfile(p)}`);
  console.log(`\nreport: ${await writeReport(report, opts.outDir)} (${report.durationSec} s; load average ${JSON.stringify(machine.loadavgAtStart)} at start, ${JSON.stringify(report.machine.loadavgAtEnd)} at end)`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    progress(`${signal}: stopping the daemons and removing what the bench mounted`);
    void cleanUp().finally(() => process.exit(130));
  });
}

main().catch(async (err: unknown) => {
  await cleanUp();
  console.error(`bench: ${(err as Error).message ?? String(err)}`);
  process.exitCode = 1;
});
