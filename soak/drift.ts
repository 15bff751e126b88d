/**
 * Deciding whether a series drifts (pure). A sample is taken at a quiet point after each round
 * of operations; the first part of the run is warm-up (JIT, caches, the heap finding its
 * size). Growth is judged by medians, which one slow GC or a late timer cannot move: the
 * median of the last window against the median of the window right after the warm-up, with a
 * stated tolerance. The least-squares slope per 1,000 operations is reported beside it.
 */

export interface Point {
  /** operations done when the sample was taken */
  ops: number;
  value: number;
}

export interface Tolerance {
  /** growth allowed as a fraction of the early median (0.05: 5 %) */
  fraction: number;
  /** growth always allowed, in the series' unit (e.g. 2 MiB of RSS, 0 fds) */
  absolute: number;
}

export interface Verdict {
  name: string;
  unit: string;
  /** median of the window right after the warm-up */
  early: number;
  /** median of the last window */
  late: number;
  /** how much growth the tolerance allows on top of `early` */
  allowed: number;
  /** least-squares slope after the warm-up, per 1,000 operations */
  slopePer1000: number;
  drifts: boolean;
}

/** WARMUP_FRACTION of the samples is warm-up; each compared window is WINDOW_FRACTION of them. */
export const WARMUP_FRACTION = 0.2;
export const WINDOW_FRACTION = 0.25;
/** MIN_SAMPLES is the fewest samples a verdict is drawn from. */
export const MIN_SAMPLES = 8;

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** slope fits value = a + b·ops by least squares and returns b. */
export function slope(points: readonly Point[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p.ops, 0) / n;
  const my = points.reduce((s, p) => s + p.value, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.ops - mx) * (p.value - my);
    den += (p.ops - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** judge compares the series' last window with the window after its warm-up. */
export function judge(name: string, unit: string, points: readonly Point[], tolerance: Tolerance): Verdict {
  const warmup = Math.floor(points.length * WARMUP_FRACTION);
  const window = Math.max(1, Math.floor(points.length * WINDOW_FRACTION));
  if (points.length < MIN_SAMPLES) throw new Error(`${name}: ${points.length} samples are too few to judge (need ${MIN_SAMPLES})`);
  const early = median(points.slice(warmup, warmup + window).map((p) => p.value));
  const late = median(points.slice(-window).map((p) => p.value));
  const allowed = Math.max(tolerance.absolute, early * tolerance.fraction);
  return { name, unit, early, late, allowed, slopePer1000: slope(points.slice(warmup)) * 1000, drifts: late > early + allowed };
}
