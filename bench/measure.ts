/**
 * Timing and the interleaved schedule. Disk timings on one machine swing 2-4x between runs,
 * so the two sides of a comparison are measured in alternating order (A B, B A, A B, ...) in
 * the same run, and compared by their medians.
 */
import { exec } from '../test/helpers/dockerd';

/** Target is the bar for one comparison: median(A)/median(B) at most `maxRatio`. */
export interface Target {
  maxRatio: number;
  /** for a bar on the difference instead: median(A) − median(B) at most this many ms */
  maxDeltaMs?: number;
  /** how the target reads in the issue, e.g. "≤ 1.10" or "≥ 0.8× GNU tar's throughput" */
  text: string;
}

/** Comparison is one benchmark measured on two sides (or more), in milliseconds. */
export interface Comparison {
  id: string;
  group: string;
  label: string;
  /** [measured side, baseline side] of the ratio and target, e.g. ['strata', 'overlay2'] */
  sides: [string, string];
  /** every side's samples: the two of `sides`, and any other side measured in the same rounds */
  samples: Record<string, number[]>;
  target?: Target;
}

/** median of a non-empty list (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** ratioOf is median(measured) / median(baseline). */
export function ratioOf(c: Comparison): number {
  return median(c.samples[c.sides[0]]!) / median(c.samples[c.sides[1]]!);
}

/** describeSamples is a one-line summary for progress output: median, range and count per side. */
export function describeSamples(id: string, samples: Record<string, number[]>): string {
  const sides = Object.entries(samples).map(([side, xs]) => `${side} ${Math.round(median(xs))} ms (${Math.round(Math.min(...xs))}-${Math.round(Math.max(...xs))}, n=${xs.length})`);
  return `${id}: ${sides.join(' | ')}`;
}

/** timeMs runs `fn` and returns how long it took in milliseconds. */
export async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/**
 * orderOfRound runs the sides forwards in even rounds and backwards in odd ones (A B C, C B A),
 * so no side always gets the warmer caches or always follows the same neighbour.
 */
export function orderOfRound<S>(round: number, sides: readonly S[]): S[] {
  return round % 2 === 0 ? [...sides] : [...sides].reverse();
}

/**
 * interleave measures every side for `rounds` rounds in alternating order. `measure` returns
 * the samples of one side in one round (it may take several, or set up and clean up around
 * the timed part).
 */
export async function interleave<S extends string>(
  rounds: number,
  sides: readonly S[],
  measure: (side: S, round: number) => Promise<number[]>,
): Promise<Record<S, number[]>> {
  const samples = Object.fromEntries(sides.map((s) => [s, [] as number[]])) as Record<S, number[]>;
  for (let round = 0; round < rounds; round++) {
    for (const side of orderOfRound(round, sides)) samples[side].push(...(await measure(side, round)));
  }
  return samples;
}

/**
 * flushDirtyPages writes back what earlier samples left in the page cache (untimed), so a
 * sample does not pay for the writeback of the one before it. Neither driver syncs on its own.
 */
export async function flushDirtyPages(): Promise<void> {
  await exec('sync', []);
}

/** repeat collects `n` timings of `fn`. */
export async function repeat(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await timeMs(fn));
  return out;
}
