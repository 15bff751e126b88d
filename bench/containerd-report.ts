/**
 * The containerd route's part of the printed table: the docker commands on every side (median
 * and range), each side against classic overlay2 and the Strata differ against overlayfs and
 * against Strata without it, with the issue's bars; the snapshotter calls in report.ts's
 * columns; where a commit's time goes on the Strata differ sides; which differ BuildKit used.
 */
import type { CommitSample } from './containerd-bench';
import { CTRD_SIDES, GZIP6_SIDE, type CtrdSideName } from './containerd-sides';
import { median } from './measure';
import type { RequestTotals } from './process-stats';
import { formatSections, type Report, type TableSection } from './report';

/** ContainerdExtras is what the containerd route adds to the JSON report besides its rows. */
export interface ContainerdExtras {
  commitSamples: CommitSample[];
  /** Strata's requests on the differ side during the timed builds */
  buildRequests?: RequestTotals;
}

const DOCKER_GROUPS = ['ctrd-load', 'ctrd-run', 'ctrd-create', 'ctrd-commit', 'ctrd-build'];

const CALLS: TableSection[] = [
  {
    title: 'containerd route, snapshotter calls: one call, median ms (gRPC client of the snapshot service)',
    groups: ['ctrd-calls'],
    note: '"on its own socket" rows set Strata alone against overlayfs behind containerd\'s metadata store: not like for like, no target',
  },
];

const SHORT: Record<CtrdSideName, string> = { 'strata-differ': 's+d', strata: 'str', overlayfs: 'ofs', overlay2: 'ov2', [GZIP6_SIDE]: 's+d6' };
const HEADS: Record<CtrdSideName, string> = { 'strata-differ': 'strata+differ', strata: 'strata', overlayfs: 'overlayfs', overlay2: 'overlay2', [GZIP6_SIDE]: 'gzip 6' };
const RATIOS: Array<[CtrdSideName, CtrdSideName]> = [['strata-differ', 'overlay2'], ['strata', 'overlay2'], ['overlayfs', 'overlay2'], ['strata-differ', 'overlayfs'], ['strata-differ', 'strata']];
/** the order of Strata's calls in the breakdown: the commit's own work first */
/** STAGE_LABELS name the stages a Diff logs (they overlap: together they exceed the Diff). */
const STAGE_LABELS: Record<string, string> = {
  tar: 'walk, tar, digest (main thread)',
  gzip: 'gzip (thread pool, members summed)',
  write: 'content write (sending, containerd)',
};

const OPS = ['Diff', 'Apply', 'Prepare', 'Commit', 'Mounts', 'View', 'Stat', 'Remove', 'Usage', 'List'];

type Row = Report['results'][number] & { bars?: Array<{ measured: CtrdSideName; baseline: CtrdSideName; target: { maxRatio: number; text: string } }> };

/** fixed prints call latencies (well under a millisecond) with enough digits. */
function fixed(ms: number): string {
  return ms < 10 ? ms.toFixed(2) : ms.toFixed(1);
}

function whole(ms: number): string {
  return ms < 10 ? ms.toFixed(1) : String(Math.round(ms));
}

function ratio(r: Row, a: CtrdSideName, b: CtrdSideName): number {
  return median(r.samples[a] ?? []) / median(r.samples[b] ?? []);
}

function bars(r: Row): string {
  return (r.bars ?? []).map((b) => {
    const x = ratio(r, b.measured, b.baseline);
    return `${SHORT[b.measured]}/${SHORT[b.baseline]} ${b.target.text} ${x <= b.target.maxRatio ? 'yes' : 'NO'}`;
  }).join('; ');
}

/** formatDockerRows prints each docker command with a median line and a min–max line. */
function formatDockerRows(report: Report): string[] {
  const rows = report.results.filter((r) => DOCKER_GROUPS.includes(r.group)) as Row[];
  if (rows.length === 0) return [];
  const LABEL = Math.max(...rows.map((r) => r.label.length));
  const ratioHeads = RATIOS.map(([a, b]) => `${SHORT[a]}/${SHORT[b]}`.padStart(8));
  const lines = [
    '',
    'containerd route, docker commands: dockerd 26 on the containerd store (strata snapshotter with and without the strata differ; containerd overlayfs) and on classic overlay2',
    '(median ms, min–max below; s+d = strata+differ, str = strata with the walking differ, ofs = overlayfs, ov2 = classic overlay2)',
    [('benchmark').padEnd(LABEL), ...CTRD_SIDES.map((s) => HEADS[s].padStart(13)), ...ratioHeads, '  targets'].join(' '),
  ];
  for (const r of rows) {
    const cells = CTRD_SIDES.map((s) => (r.samples[s] ? fixed(median(r.samples[s]!)) : '-').padStart(13));
    const ratios = RATIOS.map(([a, b]) => (r.samples[a] && r.samples[b] ? ratio(r, a, b).toFixed(2) : '-').padStart(8));
    lines.push([r.label.padEnd(LABEL), ...cells, ...ratios, `  ${bars(r)}`].join(' '));
    const spread = CTRD_SIDES.map((s) => {
      const xs = r.samples[s];
      return (xs ? `${whole(Math.min(...xs))}–${whole(Math.max(...xs))}` : '').padStart(13);
    });
    const n = Math.max(...Object.values(r.samples).map((xs) => xs.length));
    lines.push([`  min–max, n=${n}`.padEnd(LABEL), ...spread].join(' '));
  }
  return lines;
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

/**
 * formatCommitBreakdown says where a commit's time goes on each Strata differ side: the median
 * of each of Strata's calls per commit (Diff walks the upper dir, writes the tar, gzips it and
 * writes the blob to containerd's content store; Apply unpacks it into the new image's
 * snapshot), the rest of the commit outside Strata, and the layer's blob against its tar.
 */
function formatCommitBreakdown(extras: ContainerdExtras | undefined): string[] {
  const samples = extras?.commitSamples ?? [];
  const sides = [...new Set(samples.map((s) => s.side))];
  if (sides.length === 0) return [];
  const of = (side: CtrdSideName) => samples.filter((s) => s.side === side);
  const seen = new Set(samples.flatMap((s) => Object.keys(s.requests)));
  const stagesOf = (op: string) => [...seen].filter((key) => key.startsWith(`${op}: `));
  const calls = [...OPS.filter((op) => seen.has(op)), ...[...seen].filter((key) => !OPS.includes(key) && !key.includes(': ')).sort()];
  const ops = calls.flatMap((op) => [op, ...stagesOf(op)]);
  const col = (f: (side: CtrdSideName) => string) => sides.map((s) => f(s).padStart(16)).join(' ');
  const opMs = (s: CommitSample, op: string) => s.requests[op]?.totalMs ?? 0;
  const inside = (s: CommitSample) => Object.entries(s.requests).reduce((sum, [key, t]) => (key.includes(': ') ? sum : sum + t.totalMs), 0);
  const lines = [
    '',
    'where a docker commit\'s time goes on the strata differ side (median per commit, ms, from Strata\'s log; calls × count)',
    `${''.padEnd(44)} ${col((s) => (s === GZIP6_SIDE ? '--diff-gzip-level 6' : '--diff-gzip-level 1'))}`,
    `${'docker commit, total'.padEnd(44)} ${col((s) => whole(median(of(s).map((x) => x.ms))))}`,
  ];
  for (const op of ops) {
    const count = (s: CtrdSideName) => median(of(s).map((x) => x.requests[op]?.count ?? 0));
    const stage = STAGE_LABELS[op.slice(op.indexOf(': ') + 2)];
    if (op.includes(': ')) lines.push(`${`    ${stage ?? op}`.padEnd(44)} ${col((s) => whole(median(of(s).map((x) => opMs(x, op)))))}`);
    else lines.push(`${`  ${op}`.padEnd(44)} ${col((s) => `${whole(median(of(s).map((x) => opMs(x, op))))} ×${count(s)}`)}`);
  }
  lines.push(`${'  outside Strata (dockerd, containerd, CLI)'.padEnd(44)} ${col((s) => whole(median(of(s).map((x) => x.ms - inside(x)))))}`);
  const blob = (s: CtrdSideName) => of(s).find((x) => x.blob)?.blob;
  if (sides.some(blob)) {
    lines.push(`${'layer tar MiB (uncompressed)'.padEnd(44)} ${col((s) => (blob(s) ? mib(blob(s)!.tarBytes) : '-'))}`);
    lines.push(`${'layer blob MiB (gzip, in the content store)'.padEnd(44)} ${col((s) => (blob(s) ? mib(blob(s)!.bytes) : '-'))}`);
    lines.push(`${'blob / tar'.padEnd(44)} ${col((s) => (blob(s) ? (blob(s)!.bytes / blob(s)!.tarBytes).toFixed(3) : '-'))}`);
  }
  return lines;
}

/**
 * formatBuildDiffer says which differ BuildKit's exporter used: Strata's Diff calls during the
 * builds, answered or passed on. BuildKit first tries its own overlay differ on any snapshotter
 * whose mounts are an overlay (it tars the upper dir itself) and calls containerd's diff
 * service only when that fails, so none at all is what Strata's overlay mounts lead to.
 */
function formatBuildDiffer(extras: ContainerdExtras | undefined): string[] {
  const requests = extras?.buildRequests;
  if (!requests) return [];
  const answered = requests.Diff?.count ?? 0;
  const passedOn = requests['Diff passed on']?.count ?? 0;
  const who = answered === 0 && passedOn === 0 ? "its own overlay differ on the upper dir (no Diff call reached containerd's diff service)"
    : passedOn === 0 ? 'the Strata differ' : answered === 0 ? "containerd's walking differ (Strata passed every Diff on)" : 'the Strata differ for some layers, the walking differ for others';
  const calls = Object.entries(requests).map(([op, t]) => `${op} ${t.count}×${(t.totalMs / t.count).toFixed(1)} ms`).join(', ');
  return ['', `docker build on the strata+differ side: BuildKit's exporter used ${who}; Strata's calls during the timed builds: ${calls}`];
}

/** formatContainerdTable renders the ctrd-* results (nothing when there are none). */
export function formatContainerdTable(report: Report & { containerd?: ContainerdExtras }): string {
  return [
    ...formatDockerRows(report),
    ...formatCommitBreakdown(report.containerd),
    ...formatBuildDiffer(report.containerd),
    ...formatSections(report, CALLS, { labelWidth: 96, targetWidth: 8, value: (r, side) => fixed(median(r.samples[side]!)) }),
  ].join('\n');
}
