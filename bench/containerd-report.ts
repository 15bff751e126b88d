/**
 * The containerd route's part of the printed table, in the same columns as report.ts's
 * sections: median per side, ratio, the target and whether it is met.
 */
import { median } from './measure';
import type { Report } from './report';

type Row = Report['results'][number];

const SECTIONS: Array<{ title: string; groups: string[]; note?: string }> = [
  {
    title: 'containerd route, docker commands: strata snapshotter vs containerd overlayfs (same dockerd 26, same containerd 1.7 build)',
    groups: ['ctrd-load', 'ctrd-run', 'ctrd-create', 'ctrd-commit'],
  },
  {
    title: 'containerd route, snapshotter calls: one call, median ms (gRPC client of the snapshot service)',
    groups: ['ctrd-calls'],
    note: '"on its own socket" rows set Strata alone against overlayfs behind containerd\'s metadata store: not like for like, no target',
  },
];

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

/** fixed prints call latencies (well under a millisecond) with enough digits. */
function fixed(ms: number): string {
  return ms < 10 ? ms.toFixed(2) : ms.toFixed(1);
}

function formatRow(r: Row): string {
  const [a, b] = r.sides;
  const verdict = r.met === undefined ? '' : r.met ? 'yes' : 'NO';
  const ratio = r.ratio.toFixed(2);
  return [pad(r.label, 96), pad(fixed(median(r.samples[a]!)), 10, true), pad(fixed(median(r.samples[b]!)), 10, true), pad(ratio, 7, true), pad(r.target?.text ?? '', 8, true), pad(verdict, 4, true)].join(' ');
}

/** formatContainerdTable renders the ctrd-* results (nothing when there are none). */
export function formatContainerdTable(report: Report): string {
  const lines: string[] = [];
  for (const section of SECTIONS) {
    const rows = report.results.filter((r) => section.groups.includes(r.group));
    if (rows.length === 0) continue;
    const [a, b] = rows[0]!.sides;
    lines.push('', section.title);
    if (section.note) lines.push(`(${section.note})`);
    lines.push([pad('benchmark (median ms)', 96), pad(a, 10, true), pad(b, 10, true), pad('ratio', 7, true), pad('target', 8, true), pad('met', 4, true)].join(' '));
    for (const r of rows) lines.push(formatRow(r));
  }
  return lines.join('\n');
}
