/**
 * What a bench run does: the sizes of the corpus (a profile), how many rounds, which benchmarks,
 * and where results go. `--quick` is the profile for the smoke test and CI; the default profile
 * is the one the targets are judged on.
 */
import os from 'node:os';
import path from 'node:path';

/** Profile fixes the corpus sizes and the repetitions of one run. */
export interface Profile {
  name: 'quick' | 'full';
  /** Debian rootfs from debootstrap, or a synthetic tree of the same shape when debootstrap is not wanted */
  debian: 'debootstrap' | 'synthetic';
  smallFiles: number;
  bigFileMiB: number;
  manyLayers: number;
  /** the layered image: this many layers holding `stackFiles` small files and `stackMiB` MiB in all */
  stackLayers: number;
  stackFiles: number;
  stackMiB: number;
  commitFiles: number;
  commitMiB: number;
  /** file counts of the load-scaling images */
  scalingFiles: number[];
  /** layer depths of the Get-latency images */
  depths: number[];
  rounds: number;
  /** repetitions per round of the cheap operations (run, create+rm, diff, ps -s) */
  samplesPerRound: number;
  /** committed snapshots in each store for the containerd route's call latency (ctrd-calls) */
  ctrdSnapshots: number;
  /** MiB a container writes in the size-limit write benchmark (limit-write) */
  limitWriteMiB: number;
}

export const PROFILES: Record<Profile['name'], Profile> = {
  quick: {
    name: 'quick',
    debian: 'synthetic',
    smallFiles: 300,
    bigFileMiB: 4,
    manyLayers: 5,
    stackLayers: 3,
    stackFiles: 150,
    stackMiB: 3,
    commitFiles: 50,
    commitMiB: 1,
    scalingFiles: [100, 400],
    depths: [1, 4],
    rounds: 1,
    samplesPerRound: 1,
    ctrdSnapshots: 100,
    limitWriteMiB: 64,
  },
  full: {
    name: 'full',
    debian: 'debootstrap',
    smallFiles: 20_000,
    bigFileMiB: 500,
    manyLayers: 100,
    stackLayers: 8,
    stackFiles: 20_000,
    stackMiB: 500,
    commitFiles: 5_000,
    commitMiB: 50,
    scalingFiles: [1_000, 10_000, 50_000],
    depths: [1, 32, 125],
    rounds: 6,
    samplesPerRound: 5,
    ctrdSnapshots: 2_000,
    limitWriteMiB: 1024,
  },
};

/** BENCHMARK_GROUPS are the names `--only` accepts. */
export const BENCHMARK_GROUPS = ['load', 'run', 'create', 'commit', 'diff', 'save', 'ps', 'limit', 'layer', 'scale-load', 'scale-depth',
  'ctrd-load', 'ctrd-run', 'ctrd-create', 'ctrd-commit', 'ctrd-build', 'ctrd-calls'] as const;
export type BenchmarkGroup = (typeof BENCHMARK_GROUPS)[number];
/** GROUP_ALIASES are `--only` names for several groups: `containerd` is the containerd route (Docker 26 on the containerd store). */
export const GROUP_ALIASES: Record<string, BenchmarkGroup[]> = {
  containerd: BENCHMARK_GROUPS.filter((g) => g.startsWith('ctrd-')),
};

export interface BenchOptions {
  profile: Profile;
  only: Set<BenchmarkGroup>;
  /** both data-roots and the layer scratch dir on tmpfs (the default: CPU cost, no disk); `--disk` puts them on the disk */
  tmpfs: boolean;
  /** run Strata under `node --cpu-prof` and summarise the profile */
  cpuProf: boolean;
  /** where the corpus is cached between runs */
  cacheDir: string;
  /** where the JSON report (and profiles) go */
  outDir: string;
}

export const USAGE = `usage: npm run bench -- [--quick] [--rounds N] [--samples N] [--only a,b,...] [--disk] [--snapshots N]
                        [--cpu-prof] [--debian debootstrap|synthetic] [--cache DIR] [--out DIR]

  --quick      small corpus, 1 round (the smoke test's profile); default is the full profile
  --rounds N   rounds per benchmark; sides alternate A B, B A, ... so every side goes first as often
  --samples N  repetitions per round of the cheap operations (run, create+rm, diff, ps -s)
  --only LIST  benchmarks to run: ${BENCHMARK_GROUPS.join(', ')}
               (containerd = all the ctrd-* ones)
  --snapshots N  snapshots in each store for ctrd-calls (full: 2000, quick: 100)
  --disk       both data-roots and the layer scratch dir on the disk of TMPDIR; the default is
               tmpfs (--tmpfs), which compares CPU cost without the disk's noise
  --cpu-prof   run Strata under node --cpu-prof and print its hottest functions
  --debian     where the Debian rootfs comes from (full: debootstrap, quick: synthetic)
  --cache DIR  corpus cache (default /var/cache/strata-test/bench)
  --out DIR    report directory (default bench-results/)`;

function positiveInt(flag: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

function groupsOf(value: string | undefined): Set<BenchmarkGroup> {
  const names = (value ?? '').split(',').filter(Boolean).flatMap((n) => GROUP_ALIASES[n] ?? [n]);
  const unknown = names.filter((n) => !(BENCHMARK_GROUPS as readonly string[]).includes(n));
  if (names.length === 0 || unknown.length > 0) throw new Error(`--only takes a list of ${[...BENCHMARK_GROUPS, ...Object.keys(GROUP_ALIASES)].join(', ')}; got ${JSON.stringify(value)}`);
  return new Set(names as BenchmarkGroup[]);
}

/** parseOptions reads the command line; it throws an Error with a readable message. */
export function parseOptions(argv: readonly string[], repoDir: string): BenchOptions {
  let profile = { ...PROFILES.full };
  const overrides: Partial<Profile> = {};
  const opts: Omit<BenchOptions, 'profile'> = {
    only: new Set(BENCHMARK_GROUPS),
    tmpfs: true,
    cpuProf: false,
    cacheDir: '/var/cache/strata-test/bench',
    outDir: path.join(repoDir, 'bench-results'),
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = () => argv[++i];
    switch (flag) {
      case '--quick': profile = { ...PROFILES.quick }; break;
      case '--rounds': overrides.rounds = positiveInt(flag, value()); break;
      case '--samples': overrides.samplesPerRound = positiveInt(flag, value()); break;
      case '--snapshots': overrides.ctrdSnapshots = positiveInt(flag, value()); break;
      case '--only': opts.only = groupsOf(value()); break;
      case '--tmpfs': opts.tmpfs = true; break;
      case '--disk': opts.tmpfs = false; break;
      case '--cpu-prof': opts.cpuProf = true; break;
      case '--debian': {
        const v = value();
        if (v !== 'debootstrap' && v !== 'synthetic') throw new Error('--debian is debootstrap or synthetic');
        overrides.debian = v;
        break;
      }
      case '--cache': opts.cacheDir = path.resolve(value() ?? ''); break;
      case '--out': opts.outDir = path.resolve(value() ?? ''); break;
      case '--help': case '-h': throw new Error(USAGE);
      default: throw new Error(`unknown option ${flag}\n${USAGE}`);
    }
  }
  return { ...opts, profile: { ...profile, ...overrides } };
}

/** machineFacts records what makes timings comparable (or not) between runs. */
export function machineFacts(): { loadavgAtStart: number[] } & Record<string, unknown> {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    loadavgAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}
