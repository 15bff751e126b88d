/**
 * The docker-level benchmarks: the same docker commands against two isolated dockerds of the
 * same binary, one on Strata and one on the built-in overlay2, interleaved round by round.
 * Only the command under test is timed; loading, removing and writing data around it is not.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { TestDaemon, importBusybox } from '../test/helpers/dockerd';
import { DOCKER } from '../test/helpers/tiers';
import type { CorpusImage } from './corpus/images';
import { describeSamples, flushDirtyPages, interleave, repeat, timeMs, type Comparison, type Target } from './measure';
import type { BenchmarkGroup, Profile } from './options';
import { StrataLog, peakRssMiB, resetPeakRss, rssMiB, type RequestTotals } from './process-stats';
import { LINGER_MS } from '../src/sys/lingering-log';

export const SIDES = ['strata', 'overlay2'] as const;
export type SideName = (typeof SIDES)[number];

export const BUSYBOX_TAG = 'bench/busybox:latest';
const WRITER = 'bench-writer';

/** DockerComparison adds what Strata logged about its own requests during the Strata samples. */
export interface DockerComparison extends Comparison {
  strataRequests: RequestTotals;
}

/**
 * PeakRss is Strata's VmHWM while loading one image (the round with the largest), with its RSS
 * just before that load: VmHWM starts again from the current RSS, which earlier work may have
 * left high.
 */
export interface PeakRss {
  image: string;
  bytes: number;
  layers: number;
  rssBeforeMiB: number;
  peakMiB: number;
}

// Issue 14's targets (on tmpfs; ps from issue 6).
const TARGETS: Record<string, Target> = {
  load: { maxRatio: 0.95, text: '≤ 0.95' },
  run: { maxRatio: 1.0, text: '≤ 1.00' },
  create: { maxRatio: 1.05, text: '≤ 1.05' },
  commit: { maxRatio: 1.1, text: '≤ 1.10' },
  diff: { maxRatio: 0.9, text: '≤ 0.90' },
  save: { maxRatio: 1.0, text: '≤ 1.00' },
  ps: { maxRatio: 1.0, text: '≤ 1.00' },
};

/** DockerBench owns the two daemons for one run. */
export class DockerBench {
  readonly results: DockerComparison[] = [];
  readonly peakRss: PeakRss[] = [];
  readonly #strataLog: StrataLog;

  constructor(
    readonly daemons: Record<SideName, TestDaemon>,
    readonly profile: Profile,
    readonly progress: (line: string) => void,
  ) {
    // Untimed: the wait for what Strata logged during a sample to reach the file.
    this.#strataLog = new StrataLog(path.join(daemons.strata.base, 'strata.log'), 5 * LINGER_MS);
  }

  get #strataPid(): number {
    return this.daemons.strata.strataPid!;
  }

  /**
   * compare runs one benchmark on both sides and records it. The Strata log is read around
   * each Strata sample so that only its own requests are counted.
   */
  async compare(group: BenchmarkGroup, id: string, label: string, measure: (d: TestDaemon, side: SideName, round: number) => Promise<number[]>): Promise<void> {
    const strataRequests: RequestTotals = {};
    const samples = await interleave(this.profile.rounds, SIDES, async (side, round) => {
      await flushDirtyPages();
      if (side === 'strata') await this.#strataLog.mark();
      const out = await measure(this.daemons[side], side, round);
      if (side === 'strata') await this.#strataLog.totalsSinceMark(strataRequests);
      return out;
    });
    const result: DockerComparison = { id, group, label, sides: [...SIDES], samples, target: TARGETS[group], strataRequests };
    this.results.push(result);
    this.progress(describeSamples(id, samples));
  }

  /** prepare gives both daemons the busybox image and runs one container each, so no sample pays for a cold start. */
  async prepare(): Promise<void> {
    await Promise.all(SIDES.map((s) => importBusybox(this.daemons[s], BUSYBOX_TAG)));
    for (const s of SIDES) await this.daemons[s].docker(['run', '--rm', '--network', 'none', BUSYBOX_TAG, 'true']);
  }

  // ---------- load ----------

  /** load times `docker load` of an image, then removes it (untimed) for the next round. */
  async #timedLoad(d: TestDaemon, side: SideName, img: CorpusImage): Promise<number> {
    const rssBeforeMiB = side === 'strata' ? rssMiB(this.#strataPid) : 0;
    if (side === 'strata') resetPeakRss(this.#strataPid);
    const ms = await timeMs(() => d.docker(['load', '-q', '-i', img.tarPath], { timeoutMs: 30 * 60_000 }));
    if (side === 'strata') this.#notePeak({ image: img.tag, bytes: img.bytes, layers: img.layers, rssBeforeMiB, peakMiB: peakRssMiB(this.#strataPid) });
    await d.docker(['rmi', img.tag]);
    return ms;
  }

  #notePeak(sample: PeakRss): void {
    const i = this.peakRss.findIndex((p) => p.image === sample.image);
    if (i === -1) this.peakRss.push(sample);
    else if (sample.peakMiB > this.peakRss[i]!.peakMiB) this.peakRss[i] = sample;
  }

  async load(group: 'load' | 'scale-load', id: string, img: CorpusImage): Promise<void> {
    const label = `docker load ${img.tag} (${img.layers} layer${img.layers > 1 ? 's' : ''}, ${img.entries} entries, ${mib(img.bytes)} MiB)`;
    await this.compare(group, id, label, async (d, side) => [await this.#timedLoad(d, side, img)]);
  }

  // ---------- containers ----------

  async run(): Promise<void> {
    await this.compare('run', 'run', 'docker run --rm busybox true', (d) =>
      repeat(this.profile.samplesPerRound, () => d.docker(['run', '--rm', '--network', 'none', BUSYBOX_TAG, 'true'])));
  }

  async createRemove(): Promise<void> {
    await this.compare('create', 'create-rm', 'docker create + docker rm', (d) =>
      repeat(this.profile.samplesPerRound, async () => {
        const id = (await d.docker(['create', '--network', 'none', BUSYBOX_TAG, 'true'])).stdout.trim();
        await d.docker(['rm', id]);
      }));
  }

  /**
   * startWriters runs a container on each side that copied `dataDir` (the commit dataset)
   * into its own layer and keeps running, so `ps -s` lists it.
   */
  async startWriters(dataDir: string): Promise<void> {
    await Promise.all(SIDES.map(async (s) => {
      const d = this.daemons[s];
      await d.docker(['run', '-d', '--name', WRITER, '--network', 'none', '-v', `${dataDir}:/src:ro`, BUSYBOX_TAG, 'sleep', '1000000']);
      await d.docker(['exec', WRITER, 'sh', '-c', 'mkdir /data && cp -a /src/. /data/']);
    }));
  }

  async commit(): Promise<void> {
    const mb = `${this.profile.commitMiB} MiB in ${this.profile.commitFiles} files`;
    await this.compare('commit', 'commit', `docker commit (container wrote ${mb})`, async (d, _side, round) => {
      const tag = `bench/committed:${round}`;
      const ms = await timeMs(() => d.docker(['commit', WRITER, tag]));
      await d.docker(['rmi', tag]);
      return [ms];
    });
  }

  async diff(): Promise<void> {
    await this.compare('diff', 'diff', `docker diff (${this.profile.commitFiles} added files)`, (d) =>
      repeat(this.profile.samplesPerRound, () => d.docker(['diff', WRITER])));
  }

  async ps(): Promise<void> {
    await this.compare('ps', 'ps-s', 'docker ps -s (the writer container)', (d) =>
      repeat(this.profile.samplesPerRound, () => d.docker(['ps', '-s'])));
  }

  async stopWriters(): Promise<void> {
    await Promise.all(SIDES.map((s) => this.daemons[s].docker(['rm', '-f', WRITER], { allowFail: true })));
  }

  // ---------- save ----------

  async save(img: CorpusImage): Promise<void> {
    await Promise.all(SIDES.map((s) => this.daemons[s].docker(['load', '-q', '-i', img.tarPath])));
    await this.compare('save', 'save', `docker save ${img.tag} (${mib(img.bytes)} MiB)`, async (d) => [await timeMs(() => saveToNull(d, img.tag))]);
    await Promise.all(SIDES.map((s) => this.daemons[s].docker(['rmi', img.tag])));
  }

  // ---------- depth ----------

  /** depth times `docker run --rm img true` on an image `img.layers` deep (mount + Get + Put). */
  async depth(img: CorpusImage): Promise<void> {
    await Promise.all(SIDES.map((s) => this.daemons[s].docker(['load', '-q', '-i', img.tarPath])));
    await this.compare('scale-depth', `depth-${img.layers}`, `docker run --rm on a ${img.layers}-layer image`, (d) =>
      repeat(this.profile.samplesPerRound, () => d.docker(['run', '--rm', '--network', 'none', img.tag, 'true'])));
    await Promise.all(SIDES.map((s) => this.daemons[s].docker(['rmi', img.tag])));
  }
}

function mib(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}

/** saveToNull runs `docker save` with stdout on /dev/null (the CLI refuses a terminal, and -o writes a file). */
function saveToNull(d: TestDaemon, tag: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(DOCKER, ['-H', `unix://${d.dockerSocket}`, 'save', tag], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`docker save ${tag} failed (${code}): ${stderr}`))));
  });
}
