/**
 * The bench's output: a table on stdout (median and range per side, ratio, whether the two
 * ranges overlap, the target and whether it is met) and the same numbers, with every
 * sample, as JSON.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { PeakRss } from './docker-bench';
import { median, ratioOf, type Comparison } from './measure';
import type { ContainerdExtras } from './containerd-report';
import type { ProfileSummary } from './cpu-profile';
import type { RequestTotals } from './process-stats';

export const REPORT_SCHEMA = 'strata-bench/1';
export const RSS_TARGET_MIB = 150;

/** Report is what a run writes as JSON. */
export interface Report {
  schema: typeof REPORT_SCHEMA;
  startedAt: string;
  durationSec: number;
  options: Record<string, unknown>;
  machine: Record<string, unknown>;
  corpus: Record<string, unknown>;
  results: Array<Comparison & {
    medians: Record<string, number>;
    /** [min, max] of each side's samples */
    ranges: Record<string, [number, number]>;
    ratio: number;
    /** the two sides' ranges overlap: the ratio is within the noise of this run */
    tie: boolean;
    met?: boolean;
    strataRequests?: RequestTotals;
  }>;
  peakRss: { targetMiB: number; loads: PeakRss[]; layerApplyMiB?: number };
  profiles: ProfileSummary[];
  /** the containerd route's commit breakdown and BuildKit's differ, when it ran */
  containerd?: ContainerdExtras;
}

/** summarise adds medians, ranges, the ratio, whether it is a tie and the verdict to each comparison. */
export function summarise(c: Comparison): Report['results'][number] {
  const medians = Object.fromEntries(c.sides.map((s) => [s, round1(median(c.samples[s]!))]));
  const ranges = Object.fromEntries(c.sides.map((s) => [s, rangeOf(c.samples[s]!)])) as Record<string, [number, number]>;
  const ratio = Math.round(ratioOf(c) * 100) / 100;
  const [a, b] = c.sides.map((s) => ranges[s]!) as [[number, number], [number, number]];
  const tie = a[0] <= b[1] && b[0] <= a[1];
  return { ...c, medians, ranges, ratio, tie, ...(c.target ? { met: meets(c, c.target) } : {}) };
}

function rangeOf(xs: readonly number[]): [number, number] {
  return [round1(Math.min(...xs)), round1(Math.max(...xs))];
}

function meets(c: Comparison, target: NonNullable<Comparison['target']>): boolean {
  if (target.maxDeltaMs !== undefined) return median(c.samples[c.sides[0]]!) - median(c.samples[c.sides[1]]!) <= target.maxDeltaMs;
  return ratioOf(c) <= target.maxRatio;
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

/** TableSection is one titled block of rows of the printed table. */
export interface TableSection {
  title: string;
  groups: string[];
  note?: string;
}

/** TableColumns sizes a table's label, side and target columns and prints a side's value. */
export interface TableColumns {
  labelWidth: number;
  targetWidth: number;
  /** width of a side's column (default 10) */
  sideWidth?: number;
  value: (r: Report['results'][number], side: string) => string;
}

const SECTIONS: TableSection[] = [
  { title: 'docker commands: strata vs overlay2 (same dockerd binary)', groups: ['load', 'run', 'create', 'commit', 'diff', 'save', 'ps'] },
  { title: 'size limits: the strata dockerd with --storage-opt size vs without (overlay2 refuses it on ext4)', groups: ['limit'] },
  { title: 'layer work alone: strata (over its socket) vs GNU tar, same file system', groups: ['layer'] },
  { title: 'how cost grows: load time by file count', groups: ['scale-load'] },
  { title: 'how cost grows: docker run --rm (mount + Get/Put) by image depth', groups: ['scale-depth'] },
];

/** A side's cell: the median, then the fastest and slowest sample. */
const COLUMNS: TableColumns = {
  labelWidth: 70,
  targetWidth: 21,
  sideWidth: 24,
  value: (r, side) => `${r.medians[side]!.toFixed(1)} (${r.ranges[side]!.map((x) => x.toFixed(1)).join('–')})`,
};
const TIE_LEGEND = '(ms: median (min–max) of each side; "~" after a ratio: the two ranges overlap, a tie within this run\'s noise)';

/** formatSections renders the rows of each section that has any: value per side, ratio (marked when a tie), target, verdict. */
export function formatSections(report: Report, sections: readonly TableSection[], columns: TableColumns): string[] {
  const { labelWidth, targetWidth, value } = columns;
  const sideWidth = columns.sideWidth ?? 10;
  const lines: string[] = [];
  for (const section of sections) {
    const rows = report.results.filter((r) => section.groups.includes(r.group));
    if (rows.length === 0) continue;
    const [a, b] = rows[0]!.sides;
    lines.push('', section.title);
    if (section.note) lines.push(`(${section.note})`);
    lines.push([pad('benchmark (ms)', labelWidth), pad(a!, sideWidth, true), pad(b!, sideWidth, true), pad('ratio', 7, true), pad('target', targetWidth, true), pad('met', 4, true)].join(' '));
    for (const r of rows) {
      const verdict = r.met === undefined ? '' : r.met ? 'yes' : 'NO';
      const ratio = `${r.ratio.toFixed(2)}${r.tie ? '~' : ' '}`;
      lines.push([pad(r.label, labelWidth), pad(value(r, a!), sideWidth, true), pad(value(r, b!), sideWidth, true), pad(ratio, 7, true), pad(r.target?.text ?? '', targetWidth, true), pad(verdict, 4, true)].join(' '));
    }
  }
  return lines;
}

/** formatTable renders the report as the text table the bench prints. */
export function formatTable(report: Report): string {
  const lines = formatSections(report, SECTIONS, COLUMNS);
  if (lines.length) lines.push('', TIE_LEGEND);
  lines.push(...formatStrataShare(report));
  const rss = report.peakRss;
  if (rss.loads.length || rss.layerApplyMiB !== undefined) {
    lines.push('', `strata peak RSS (VmHWM, reset before each load; target ≤ ${rss.targetMiB} MiB on the largest image, flat as layers grow)`);
    for (const p of rss.loads) {
      const size = `${pad(String(p.layers), 4, true)} layers ${pad(String(Math.round(p.bytes / 2 ** 20)), 6, true)} MiB`;
      lines.push(`  ${pad(p.image, 24)} ${size}   RSS before ${p.rssBeforeMiB.toFixed(1).padStart(6)} MiB, peak ${p.peakMiB.toFixed(1).padStart(6)} MiB`);
    }
    if (rss.layerApplyMiB !== undefined) lines.push(`  ApplyDiff of the Debian layer (standalone strata): peak ${rss.layerApplyMiB.toFixed(1)} MiB`);
  }
  return lines.join('\n');
}

/**
 * formatStrataShare says, per docker benchmark, how long Strata itself spent on each kind of
 * request per sample (from its request log), so the gap to overlay2 can be placed.
 */
function formatStrataShare(report: Report): string[] {
  const rows = report.results.filter((r) => r.strataRequests && Object.keys(r.strataRequests).length > 0);
  if (rows.length === 0) return [];
  const lines = ['', 'time inside strata per sample, by request (from its log): count × mean ms'];
  for (const r of rows) {
    const perSample = r.samples.strata!.length;
    const ops = Object.entries(r.strataRequests!)
      .sort((a, b) => b[1].totalMs - a[1].totalMs)
      .map(([op, t]) => `${op} ${round1(t.count / perSample)}×${round1(t.totalMs / t.count)}`);
    lines.push(`  ${pad(r.id, 18)} ${ops.join(', ')}`);
  }
  return lines;
}

/** writeReport writes the JSON report as <outDir>/<timestamp>.json and returns its path. */
export async function writeReport(report: Report, outDir: string): Promise<string> {
  await mkdir(outDir, { recursive: true });
  const file = path.join(outDir, `${report.startedAt.replace(/[:.]/g, '-')}.json`);
  await writeFile(file, JSON.stringify(report, null, 2) + '\n');
  return file;
}
