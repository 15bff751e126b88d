/**
 * The containerd route: the same docker commands against dockerd 26 on the containerd image
 * store with Strata's snapshotter and Strata's differ, the same without Strata's differ, on
 * containerd's built-in `overlayfs`, and on the classic overlay2 graphdriver of the same
 * dockerd (containerd-sides.ts), plus the snapshotter call latency with thousands of snapshots
 * (snapshot-calls.ts).
 *
 * Sides are measured in turn, forwards and backwards (A B C D, D C B A, …) with a `sync`
 * before each timed command. After every sample that removes something (rmi, rm, run --rm,
 * builder prune), the bench waits, untimed, until containerd's asynchronous GC has removed it,
 * so the next sample neither finds a layer still unpacked nor shares the CPU with the
 * previous sample's GC.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildBusyboxRootfs, exec } from '../test/helpers/dockerd';
import { SnapshotterProcess } from '../test/helpers/snapshotter-process';
import { CONTAINERD17, CTR17, DOCKER26, DOCKERD26 } from '../test/helpers/tiers';
import type { CorpusImage } from './corpus/images';
import { CTRD_SIDES, GZIP6_SIDE, startSide, type BenchSide, type CtrdSideName } from './containerd-sides';
import type { DockerComparison } from './docker-bench';
import { topLayerBlob, type LayerBlob } from './layer-blob';
import { describeSamples, flushDirtyPages, interleave, timeMs, type Target } from './measure';
import type { BenchmarkGroup, Profile } from './options';
import { StrataLog, type RequestTotals } from './process-stats';
import { LINGER_MS } from '../src/sys/lingering-log';
import { SnapshotService } from './snapshot-calls';

export const CTRD_GROUPS = ['ctrd-load', 'ctrd-run', 'ctrd-create', 'ctrd-commit', 'ctrd-build', 'ctrd-calls'] as const;

/** Bar is one of the targets for a row: median(measured) / median(baseline) within `target`. */
export interface Bar {
  measured: CtrdSideName;
  baseline: CtrdSideName;
  target: Target;
}

/**
 * The bars for the containerd route: commit within 1.3× classic overlay2 and load no
 * slower than containerd's own applier (issue 15 item 4); run and create as issue 10 item 7 set
 * them for the snapshotter. The first bar is the row's ratio and target in the JSON report.
 */
export const CTRD_BARS: Record<string, Bar[]> = {
  'ctrd-load': [
    { measured: 'strata-differ', baseline: 'overlayfs', target: { maxRatio: 1.0, text: '≤ 1.00' } },
    { measured: 'strata-differ', baseline: 'strata', target: { maxRatio: 1.0, text: '≤ 1.00' } },
  ],
  'ctrd-run': [{ measured: 'strata', baseline: 'overlayfs', target: { maxRatio: 1.05, text: '≤ 1.05' } }],
  'ctrd-create': [{ measured: 'strata', baseline: 'overlayfs', target: { maxRatio: 1.05, text: '≤ 1.05' } }],
  'ctrd-commit': [{ measured: 'strata-differ', baseline: 'overlay2', target: { maxRatio: 1.3, text: '≤ 1.30' } }],
};

/** CtrdComparison is a row of the containerd route: every side's samples, the bars, and each Strata side's requests. */
export interface CtrdComparison extends DockerComparison {
  bars: Bar[];
  /** Strata's requests during the timed commands, per Strata side (`strataRequests` is the first side's) */
  strataRequestsBySide: Partial<Record<CtrdSideName, RequestTotals>>;
}

/** CommitSample is one timed commit on a Strata differ side: its time, Strata's calls during it, and (once) its layer's blob. */
export interface CommitSample {
  side: CtrdSideName;
  ms: number;
  requests: RequestTotals;
  blob?: LayerBlob;
}

const BUSYBOX_TAG = 'bench/busybox:latest';
const WRITER = 'bench-writer';
const CALLS_NAMESPACE = 'bench-calls';
const LONG = { timeoutMs: 30 * 60_000 };
const SETTLE_MS = 60_000;
/** CALL_SIDES are the sides of the snapshotter-call rows (the classic driver has no snapshot service). */
const CALL_SIDES: readonly CtrdSideName[] = ['strata', 'overlayfs'];
const DIFFER_SIDES: readonly CtrdSideName[] = ['strata-differ', GZIP6_SIDE];

/** missingContainerdRoute names the first binary the containerd route needs that is not there (test/setup-trixie.sh). */
export function missingContainerdRoute(): string | undefined {
  return [CONTAINERD17, CTR17, DOCKERD26, DOCKER26].find((f) => !existsSync(f));
}

/** withTmpdir runs `fn` with os.tmpdir() pointing into `dir`, where the helpers make their temp dirs. */
async function withTmpdir<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const before = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
  }
}

type Timed = (fn: () => Promise<unknown>) => Promise<number>;

export class ContainerdBench {
  readonly results: CtrdComparison[] = [];
  readonly commitSamples: CommitSample[] = [];
  /** which differ BuildKit's exporter used, from the Strata differ side's log during the builds */
  buildDiffer?: RequestTotals;

  private constructor(
    readonly dir: string,
    readonly sides: Partial<Record<CtrdSideName, BenchSide>>,
    readonly profile: Profile,
    readonly progress: (line: string) => void,
    readonly onCleanup: (fn: () => Promise<void>) => void,
  ) {}

  /**
   * start runs, under `work/ctrd` (so on tmpfs with --tmpfs), the four sides and, with
   * `gzip6`, the commit row's fifth. Every stop is registered with `onCleanup` as soon as its
   * process runs.
   */
  static async start(work: string, profile: Profile, gzip6: boolean, progress: (line: string) => void, onCleanup: (fn: () => Promise<void>) => void): Promise<ContainerdBench> {
    const dir = path.join(work, 'ctrd');
    await mkdir(dir, { recursive: true });
    const names: CtrdSideName[] = gzip6 ? [...CTRD_SIDES, GZIP6_SIDE] : [...CTRD_SIDES];
    const sides = await withTmpdir(dir, async () => {
      const made: Partial<Record<CtrdSideName, BenchSide>> = {};
      for (const name of names) made[name] = await startSide(name, dir, onCleanup);
      return made;
    });
    return new ContainerdBench(dir, sides, profile, progress, onCleanup);
  }

  #side(name: CtrdSideName): BenchSide {
    const side = this.sides[name];
    if (!side) throw new Error(`the ${name} side was not started`);
    return side;
  }

  /** prepare gives every dockerd the busybox image and runs one container each, so no sample pays for a cold start. */
  async prepare(): Promise<void> {
    const rootfs = path.join(this.dir, 'busybox-rootfs');
    await buildBusyboxRootfs(rootfs);
    await exec('tar', ['-C', rootfs, '-cf', `${rootfs}.tar`, '.']);
    for (const side of Object.values(this.sides)) {
      await side.docker(['import', '--change', 'CMD ["sh"]', `${rootfs}.tar`, BUSYBOX_TAG]);
      await side.docker(['run', '--rm', '--network', 'none', BUSYBOX_TAG, 'true']);
      await this.#settle(side, await side.counts());
    }
  }

  // ---------- measuring ----------

  /**
   * compare runs one benchmark on `sides` and records it. `measure` times its commands with
   * `timed`, which syncs first and, on a Strata side, adds up what Strata logged during the
   * timed command alone (from `log` instead of the side's own, when given, for the 'strata' side);
   * `onSample` sees each timed command with those requests.
   */
  async compare(group: BenchmarkGroup, id: string, label: string, measure: (side: BenchSide, round: number, timed: Timed) => Promise<number[]>,
    opts: { sides?: readonly CtrdSideName[]; log?: StrataLog; onSample?: (side: BenchSide, ms: number, requests: RequestTotals) => void } = {}): Promise<void> {
    const names = opts.sides ?? CTRD_SIDES;
    const bySide: Partial<Record<CtrdSideName, RequestTotals>> = {};
    const samples = await interleave(this.profile.rounds, names, (name, round) => {
      const side = this.#side(name);
      const log = name === 'strata' && opts.log ? opts.log : side.strata?.log;
      return measure(side, round, async (fn) => {
        await flushDirtyPages();
        if (!log) return timeMs(fn);
        await log.mark();
        const ms = await timeMs(fn);
        const requests = await log.totalsSinceMark();
        addTotals((bySide[name] ??= {}), requests);
        opts.onSample?.(side, ms, requests);
        return ms;
      });
    });
    const bars = CTRD_BARS[group] ?? [];
    const sides: [string, string] = bars[0] ? [bars[0].measured, bars[0].baseline] : [names[0]!, names.at(-1)!];
    const result: CtrdComparison = { id, group, label, sides, samples, target: bars[0]?.target, bars, strataRequests: bySide[sides[0] as CtrdSideName] ?? {}, strataRequestsBySide: bySide };
    this.results.push(result);
    this.progress(describeSamples(id, samples));
  }

  /** settle waits (untimed) until containerd's GC has brought the side's counts back to `baseline`. */
  async #settle(side: BenchSide, baseline: string): Promise<void> {
    await side.dropDifferLeases?.();
    const deadline = Date.now() + SETTLE_MS;
    let now = await side.counts();
    while (now !== baseline) {
      if (Date.now() > deadline) throw new Error(`${side.name}: containerd's GC did not get back to ${baseline} within ${SETTLE_MS / 1000} s (now ${now})`);
      await new Promise((r) => setTimeout(r, 100));
      now = await side.counts();
    }
  }

  /** repeatSettled times `fn` `n` times, waiting for GC after each. */
  async #repeatSettled(side: BenchSide, n: number, timed: Timed, fn: () => Promise<unknown>): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const baseline = await side.counts();
      out.push(await timed(fn));
      await this.#settle(side, baseline);
    }
    return out;
  }

  // ---------- docker commands ----------

  async load(id: string, img: CorpusImage): Promise<void> {
    const label = `docker load ${img.tag} (${img.layers} layer${img.layers > 1 ? 's' : ''}, ${img.entries} entries, ${Math.round(img.bytes / 2 ** 20)} MiB)`;
    await this.compare('ctrd-load', id, label, async (side, _round, timed) => {
      const baseline = await side.counts();
      const ms = await timed(() => side.docker(['load', '-q', '-i', img.tarPath], LONG));
      await side.docker(['rmi', img.tag]);
      await this.#settle(side, baseline);
      return [ms];
    });
  }

  async run(): Promise<void> {
    await this.compare('ctrd-run', 'ctrd-run', 'docker run --rm busybox true', (side, _round, timed) =>
      this.#repeatSettled(side, this.profile.samplesPerRound, timed, () => side.docker(['run', '--rm', '--network', 'none', BUSYBOX_TAG, 'true'])));
  }

  async createRemove(): Promise<void> {
    await this.compare('ctrd-create', 'ctrd-create-rm', 'docker create + docker rm', (side, _round, timed) =>
      this.#repeatSettled(side, this.profile.samplesPerRound, timed, async () => {
        const id = (await side.docker(['create', '--network', 'none', BUSYBOX_TAG, 'true'])).stdout.trim();
        await side.docker(['rm', id]);
      }));
  }

  /**
   * commit times `docker commit` of a running container that copied `dataDir` into its own
   * layer, on the four sides and the gzip-level-6 one when it runs. On the differ sides it keeps
   * each commit's Strata calls and, in the first round, the size of the layer's blob.
   */
  async commit(dataDir: string): Promise<void> {
    const names = Object.keys(this.sides) as CtrdSideName[];
    for (const name of names) {
      const d = this.#side(name);
      await d.docker(['run', '-d', '--name', WRITER, '--network', 'none', '-v', `${dataDir}:/src:ro`, BUSYBOX_TAG, 'sleep', '1000000']);
      await d.docker(['exec', WRITER, 'sh', '-c', 'mkdir /data && cp -a /src/. /data/']);
    }
    try {
      const mb = `${this.profile.commitMiB} MiB in ${this.profile.commitFiles} files`;
      const onSample = (side: BenchSide, ms: number, requests: RequestTotals) => {
        if (DIFFER_SIDES.includes(side.name)) this.commitSamples.push({ side: side.name, ms, requests });
      };
      await this.compare('ctrd-commit', 'ctrd-commit', `docker commit (container wrote ${mb})`, async (side, round, timed) => {
        const tag = `bench/committed:${round}`;
        const baseline = await side.counts();
        const ms = await timed(() => side.docker(['commit', WRITER, tag], LONG));
        if (round === 0 && DIFFER_SIDES.includes(side.name)) this.commitSamples.at(-1)!.blob = await topLayerBlob(side, tag);
        await side.docker(['rmi', tag]);
        await this.#settle(side, baseline);
        return [ms];
      }, { sides: names, onSample });
    } finally {
      for (const name of names) await this.#side(name).docker(['rm', '-f', WRITER], { allowFail: true });
    }
  }

  /**
   * build times `docker build --no-cache` (BuildKit) of one RUN that copies `dataDir` from the
   * build context into a new layer, then removes the image and the build cache (untimed). The
   * Strata differ side's log says which differ BuildKit's exporter used.
   */
  async build(dataDir: string): Promise<void> {
    const context = path.dirname(dataDir);
    const dockerfile = path.join(context, 'Dockerfile');
    await writeFile(dockerfile, `FROM ${BUSYBOX_TAG}\nRUN --mount=type=bind,source=${path.basename(dataDir)},target=/src cp -a /src/. /data/\n`);
    const mb = `${this.profile.commitMiB} MiB in ${this.profile.commitFiles} files`;
    const tag = 'bench/built:latest';
    await this.compare('ctrd-build', 'ctrd-build', `docker build --no-cache, one RUN wrote ${mb}`, async (side, _round, timed) => {
      const baseline = await side.counts();
      const ms = await timed(() => side.docker(['build', '-q', '--no-cache', '--network', 'none', '-f', dockerfile, '-t', tag, context], LONG));
      await side.docker(['rmi', tag]);
      await side.docker(['builder', 'prune', '-af']);
      await this.#settle(side, baseline);
      return [ms];
    });
    this.buildDiffer = this.results.at(-1)!.strataRequestsBySide['strata-differ'];
  }

  // ---------- snapshotter calls ----------

  /**
   * calls fills three stores with `profile.ctrdSnapshots` committed snapshots each (Strata on
   * its own socket, in a second `strata snapshotter` no containerd knows; Strata through
   * containerd; overlayfs through containerd) and times Prepare, Stat and List on them: Strata
   * direct against overlayfs through containerd (what each answers its client), and Strata
   * through containerd against overlayfs through containerd (what a containerd client sees).
   */
  async calls(): Promise<void> {
    const n = this.profile.ctrdSnapshots;
    const direct = await startSnapshotter(path.join(this.dir, 'strata-direct'), this.onCleanup);
    const directLog = new StrataLog(direct.logFile, 5 * LINGER_MS);
    const stores = {
      direct: new SnapshotService(direct.socket, 'strata', undefined, true),
      strata: new SnapshotService(this.#side('strata').containerd!.address, 'strata', CALLS_NAMESPACE),
      overlayfs: new SnapshotService(this.#side('overlayfs').containerd!.address, 'overlayfs', CALLS_NAMESPACE),
    };
    try {
      for (const [name, s] of Object.entries(stores)) {
        const ms = await timeMs(() => s.populate(n));
        this.progress(`ctrd-calls: ${n} snapshots committed in ${name} in ${Math.round(ms)} ms`);
      }
      const k = Math.max(10, this.profile.samplesPerRound * 20);
      const lists = this.profile.samplesPerRound;
      const kinds = [
        { id: 'prepare', what: `Prepare (${n} snapshots in the store)`, fn: (s: SnapshotService) => s.timedPrepares(k) },
        { id: 'stat', what: `Stat (${n} snapshots in the store)`, fn: (s: SnapshotService, round: number) => s.timedStats(k, round) },
        { id: 'list', what: `List, unfiltered (${n} snapshots in the store)`, fn: (s: SnapshotService) => s.timedLists(lists, n) },
      ];
      for (const kind of kinds) {
        await this.compare('ctrd-calls', `ctrd-${kind.id}`, `${kind.what}: strata on its own socket, overlayfs via containerd`, (side, round, timed) =>
          this.#timedCalls(side.name === 'strata' ? stores.direct : stores.overlayfs, timed, (s) => kind.fn(s, round)), { sides: CALL_SIDES, log: directLog });
        await this.compare('ctrd-calls', `ctrd-${kind.id}-via`, `${kind.what}: both via containerd`, (side, round, timed) =>
          this.#timedCalls(side.name === 'strata' ? stores.strata : stores.overlayfs, timed, (s) => kind.fn(s, round)), { sides: CALL_SIDES });
      }
    } finally {
      for (const s of Object.values(stores)) s.close();
    }
  }

  /** timedCalls syncs once, then the calls time themselves; Strata's log is read around the whole batch. */
  async #timedCalls(store: SnapshotService, timed: Timed, batch: (s: SnapshotService) => Promise<number[]>): Promise<number[]> {
    let out: number[] = [];
    await timed(async () => void (out = await batch(store)));
    return out;
  }
}

/** addTotals adds one sample's request totals into a running total. */
function addTotals(into: RequestTotals, more: RequestTotals): void {
  for (const [op, t] of Object.entries(more)) {
    const sum = (into[op] ??= { count: 0, totalMs: 0 });
    sum.count += t.count;
    sum.totalMs = Math.round((sum.totalMs + t.totalMs) * 10) / 10;
  }
}

/** startSnapshotter starts a `strata snapshotter` in `dir` (from this build) and registers its stop. */
async function startSnapshotter(dir: string, onCleanup: (fn: () => Promise<void>) => void): Promise<SnapshotterProcess> {
  await mkdir(dir, { recursive: true });
  const sp = new SnapshotterProcess(dir);
  onCleanup(() => sp.kill('SIGTERM'));
  await sp.start();
  return sp;
}
