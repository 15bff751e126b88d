/**
 * The containerd route's part of the printed table, in the same columns as report.ts's
 * sections: median per side, ratio, the target and whether it is met.
 */
import { median } from './measure';
import { formatSections, type Report, type TableSection } from './report';

const SECTIONS: TableSection[] = [
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

/** fixed prints call latencies (well under a millisecond) with enough digits. */
function fixed(ms: number): string {
  return ms < 10 ? ms.toFixed(2) : ms.toFixed(1);
}

/** formatContainerdTable renders the ctrd-* results (nothing when there are none). */
export function formatContainerdTable(report: Report): string {
  return formatSections(report, SECTIONS, { labelWidth: 96, targetWidth: 8, value: (r, side) => fixed(median(r.samples[side]!)) }).join('\n');
}
