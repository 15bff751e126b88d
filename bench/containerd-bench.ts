/**
 * The containerd route: the same docker commands against two dockerd 26 on the containerd
 * image store, one with Strata's snapshotter (`strata snapshotter`, a proxy plugin) as its
 * storage driver and one with containerd's built-in `overlayfs`, plus the snapshotter call
 * latency with thousands of snapshots (snapshot-calls.ts).
 *
 * Each side has its own containerd of the same 1.7 build (two roots, so neither side finds the
 * other's blobs in a shared content store), and its own dockerd of the same 26 build. Sides are
 * measured alternately (A B, B A, …) with a `sync` before each timed command. After every
 * sample that removes something (rmi, rm, run --rm), the bench waits, untimed, until
 * containerd's asynchronous GC has removed it, so the next sample neither finds a layer still
 * unpacked nor shares the CPU with the previous sample's GC.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { TestContainerd } from '../test/helpers/containerd';
import { buildBusyboxRootfs, exec } from '../test/helpers/dockerd';
import { Docker26 } from '../test/helpers/dockerd26';
import { SnapshotterProcess } from '../test/helpers/snapshotter-process';
import { CONTAINERD17, CTR17, DOCKER26, DOCKERD26 } from '../test/helpers/tiers';
import type { CorpusImage } from './corpus/images';
import type { DockerComparison } from './docker-bench';
import { describeSamples, flushDirtyPages, interleave, timeMs, type Target } from './measure';
import type { BenchmarkGroup, Profile } from './options';
import { StrataLog, type RequestTotals } from './process-stats';
import { SnapshotService } from './snapshot-calls';

export const CTRD_SIDES = ['strata', 'overlayfs'] as const;
export type CtrdSide = (typeof CTRD_SIDES)[number];

export const CTRD_GROUPS = ['ctrd-load', 'ctrd-run', 'ctrd-create', 'ctrd-commit', 'ctrd-calls'] as const;

/** The bars for the containerd route (issue 10 item 7). */
export const CTRD_TARGETS: Record<string, Target> = {
  'ctrd-load': { maxRatio: 1.0, text: '≤ 1.00' },
  'ctrd-run': { maxRatio: 1.05, text: '≤ 1.05' },
  'ctrd-create': { maxRatio: 1.05, text: '≤ 1.05' },
  'ctrd-commit': { maxRatio: 1.0, text: '≤ 1.00' },
};

const BUSYBOX_TAG = 'bench/busybox:latest';
const WRITER = 'bench-writer';
const CALLS_NAMESPACE = 'bench-calls';
const LONG = { timeoutMs: 30 * 60_000 };
const SETTLE_MS = 60_000;

/** missingContainerdRoute names the first binary the containerd route needs that is not there (test/setup-trixie.sh). */
export function missingContainerdRoute(): string | undefined {
  return [CONTAINERD17, CTR17, DOCKERD26, DOCKER26].find((f) => !existsSync(f));
}

interface Side {
  containerd: TestContainerd;
  docker: Docker26;
  snapshotter: string;
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

export class ContainerdBench {
  readonly results: DockerComparison[] = [];
  readonly #log: StrataLog;

  private constructor(
    readonly dir: string,
    readonly sides: Record<CtrdSide, Side>,
    readonly strata: SnapshotterProcess,
    readonly profile: Profile,
    readonly progress: (line: string) => void,
    readonly onCleanup: (fn: () => Promise<void>) => void,
  ) {
    this.#log = new StrataLog(strata.logFile);
  }

  /**
   * start runs, under `work/ctrd` (so on tmpfs with --tmpfs): a `strata snapshotter`, two
   * containerd 1.7 (one with it as proxy plugin `strata`) and a dockerd 26 on each. Every stop
   * is registered with `onCleanup` as soon as its process runs.
   */
  static async start(work: string, profile: Profile, progress: (line: string) => void, onCleanup: (fn: () => Promise<void>) => void): Promise<ContainerdBench> {
    const dir = path.join(work, 'ctrd');
    await mkdir(dir, { recursive: true });
    const strata = await startSnapshotter(path.join(dir, 'strata'), onCleanup);
    const sides = await withTmpdir(dir, async () => {
      const made: Partial<Record<CtrdSide, Side>> = {};
      for (const side of CTRD_SIDES) {
        const proxyPlugins = side === 'strata' ? { strata: { address: strata.socket, root: strata.root } } : undefined;
        const containerd = await TestContainerd.start({ proxyPlugins, logLevel: 'info' });
        onCleanup(() => containerd.stop({ allowLeftoverMounts: true }).then(() => undefined));
        const docker = await Docker26.start({ containerd, snapshotter: side });
        onCleanup(() => docker.stop({ allowLeftoverMounts: true }).then(() => undefined));
        made[side] = { containerd, docker, snapshotter: side };
      }
      return made as Record<CtrdSide, Side>;
    });
    const bench = new ContainerdBench(dir, sides, strata, profile, progress, onCleanup);
    for (const side of CTRD_SIDES) {
      const info = await sides[side].docker.info();
      if (info.Driver !== side) throw new Error(`dockerd 26 of the ${side} side runs on ${info.Driver}`);
    }
    return bench;
  }

  /** prepare gives both dockerds the busybox image and runs one container each, so no sample pays for a cold start. */
  async prepare(): Promise<void> {
    const rootfs = path.join(this.dir, 'busybox-rootfs');
    await buildBusyboxRootfs(rootfs);
    await exec('tar', ['-C', rootfs, '-cf', `${rootfs}.tar`, '.']);
    for (const side of CTRD_SIDES) {
      const d = this.sides[side].docker;
      await d.docker(['import', '--change', 'CMD ["sh"]', `${rootfs}.tar`, BUSYBOX_TAG]);
      await d.docker(['run', '--rm', '--network', 'none', BUSYBOX_TAG, 'true']);
      await this.#settle(side, await this.#counts(side));
    }
  }

  // ---------- measuring ----------

  /**
   * compare runs one benchmark on both sides and records it. `measure` times its commands with
   * `timed`, which syncs first and, on the Strata side, adds up what Strata logged during the
   * timed command alone.
   */
  async compare(group: BenchmarkGroup, id: string, label: string, measure: (side: CtrdSide, round: number, timed: (fn: () => Promise<unknown>) => Promise<number>) => Promise<number[]>, log: StrataLog = this.#log): Promise<void> {
    const strataRequests: RequestTotals = {};
    const samples = await interleave(this.profile.rounds, CTRD_SIDES, (side, round) =>
      measure(side, round, async (fn) => {
        await flushDirtyPages();
        if (side !== 'strata') return timeMs(fn);
        await log.mark();
        const ms = await timeMs(fn);
        await log.totalsSinceMark(strataRequests);
        return ms;
      }));
    const result: DockerComparison = { id, group, label, sides: [...CTRD_SIDES], samples, target: CTRD_TARGETS[group], strataRequests };
    this.results.push(result);
    this.progress(describeSamples(id, samples));
  }

  /** counts is what must come back after a sample: snapshots and blobs in the dockerd's namespace, and (Strata) snapshots in Strata's store. */
  async #counts(side: CtrdSide): Promise<string> {
    const { containerd, docker, snapshotter } = this.sides[side];
    const lines = async (args: string[]) => (await containerd.ctr(args, { namespace: docker.namespace })).stdout.split('\n').filter(Boolean).length;
    const snaps = (await lines(['snapshots', '--snapshotter', snapshotter, 'ls'])) - 1;
    const blobs = await lines(['content', 'ls', '-q']);
    const store = side === 'strata' ? await this.#strataClient.list() : 0;
    return `${snaps} snapshots, ${blobs} blobs, ${store} in store`;
  }

  #client?: SnapshotService;
  get #strataClient(): SnapshotService {
    return (this.#client ??= new SnapshotService(this.strata.socket, 'strata', undefined, true));
  }

  /** settle waits (untimed) until containerd's GC has brought the counts back to `baseline`. */
  async #settle(side: CtrdSide, baseline: string): Promise<void> {
    const deadline = Date.now() + SETTLE_MS;
    let now = await this.#counts(side);
    while (now !== baseline) {
      if (Date.now() > deadline) throw new Error(`${side}: containerd's GC did not get back to ${baseline} within ${SETTLE_MS / 1000} s (now ${now})`);
      await new Promise((r) => setTimeout(r, 100));
      now = await this.#counts(side);
    }
  }

  /** repeatSettled times `fn` `n` times, waiting for GC after each. */
  async #repeatSettled(side: CtrdSide, n: number, timed: (fn: () => Promise<unknown>) => Promise<number>, fn: () => Promise<unknown>): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const baseline = await this.#counts(side);
      out.push(await timed(fn));
      await this.#settle(side, baseline);
    }
    return out;
  }

  // ---------- docker commands ----------

  async load(id: string, img: CorpusImage): Promise<void> {
    const label = `docker load ${img.tag} (${img.layers} layer${img.layers > 1 ? 's' : ''}, ${img.entries} entries, ${Math.round(img.bytes / 2 ** 20)} MiB)`;
    await this.compare('ctrd-load', id, label, async (side, _round, timed) => {
      const d = this.sides[side].docker;
      const baseline = await this.#counts(side);
      const ms = await timed(() => d.docker(['load', '-q', '-i', img.tarPath], LONG));
      await d.docker(['rmi', img.tag]);
      await this.#settle(side, baseline);
      return [ms];
    });
  }

  async run(): Promise<void> {
    await this.compare('ctrd-run', 'ctrd-run', 'docker run --rm busybox true', (side, _round, timed) =>
      this.#repeatSettled(side, this.profile.samplesPerRound, timed, () => this.sides[side].docker.docker(['run', '--rm', '--network', 'none', BUSYBOX_TAG, 'true'])));
  }

  async createRemove(): Promise<void> {
    await this.compare('ctrd-create', 'ctrd-create-rm', 'docker create + docker rm', (side, _round, timed) =>
      this.#repeatSettled(side, this.profile.samplesPerRound, timed, async () => {
        const d = this.sides[side].docker;
        const id = (await d.docker(['create', '--network', 'none', BUSYBOX_TAG, 'true'])).stdout.trim();
        await d.docker(['rm', id]);
      }));
  }

  /** commit times `docker commit` of a running container that copied `dataDir` into its own layer. */
  async commit(dataDir: string): Promise<void> {
    for (const side of CTRD_SIDES) {
      const d = this.sides[side].docker;
      await d.docker(['run', '-d', '--name', WRITER, '--network', 'none', '-v', `${dataDir}:/src:ro`, BUSYBOX_TAG, 'sleep', '1000000']);
      await d.docker(['exec', WRITER, 'sh', '-c', 'mkdir /data && cp -a /src/. /data/']);
    }
    try {
      const mb = `${this.profile.commitMiB} MiB in ${this.profile.commitFiles} files`;
      await this.compare('ctrd-commit', 'ctrd-commit', `docker commit (container wrote ${mb})`, async (side, round, timed) => {
        const d = this.sides[side].docker;
        const tag = `bench/committed:${round}`;
        const baseline = await this.#counts(side);
        const ms = await timed(() => d.docker(['commit', WRITER, tag], LONG));
        await d.docker(['rmi', tag]);
        await this.#settle(side, baseline);
        return [ms];
      });
    } finally {
      for (const side of CTRD_SIDES) await this.sides[side].docker.docker(['rm', '-f', WRITER], { allowFail: true });
    }
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
    const directLog = new StrataLog(direct.logFile);
    const stores = {
      direct: new SnapshotService(direct.socket, 'strata', undefined, true),
      strata: new SnapshotService(this.sides.strata.containerd.address, 'strata', CALLS_NAMESPACE),
      overlayfs: new SnapshotService(this.sides.overlayfs.containerd.address, 'overlayfs', CALLS_NAMESPACE),
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
          this.#timedCalls(side === 'strata' ? stores.direct : stores.overlayfs, timed, (s) => kind.fn(s, round)), directLog);
        await this.compare('ctrd-calls', `ctrd-${kind.id}-via`, `${kind.what}: both via containerd`, (side, round, timed) =>
          this.#timedCalls(side === 'strata' ? stores.strata : stores.overlayfs, timed, (s) => kind.fn(s, round)));
      }
    } finally {
      for (const s of Object.values(stores)) s.close();
    }
  }

  /** timedCalls syncs once, then the calls time themselves; Strata's log is read around the whole batch. */
  async #timedCalls(store: SnapshotService, timed: (fn: () => Promise<unknown>) => Promise<number>, batch: (s: SnapshotService) => Promise<number[]>): Promise<number[]> {
    let out: number[] = [];
    await timed(async () => void (out = await batch(store)));
    return out;
  }

  async stop(): Promise<void> {
    this.#client?.close();
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
