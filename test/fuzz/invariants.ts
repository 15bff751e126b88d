/** The invariants every fuzz target asserts, and the failure that says one broke. */
import { StrataError } from '../../src/errors';

/** InvariantBroken is a fuzz finding: the input made Strata break a promise it makes for any input. */
export class InvariantBroken extends Error {}

/**
 * refusedByUs accepts an error that is one of Strata's own (a clean refusal of bad input) and
 * rethrows anything else: a TypeError, a RangeError or an error of a dependency means the
 * input reached a path nobody checked.
 */
export function refusedByUs(err: unknown): void {
  if (err instanceof StrataError) return;
  throw err instanceof InvariantBroken ? err : new InvariantBroken(`an error that is none of Strata's: ${(err as Error)?.stack ?? String(err)}`, { cause: err });
}

const MIB = 2 ** 20;

/** MEMORY_PER_ENTRY is what one entry may hold live, beyond the input itself: its extensions (16 MiB at most) and some chunks. */
export const MEMORY_PER_ENTRY = 48 * MIB;

function used(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/**
 * MemoryBound checks that the memory an exec holds stays bounded: it measures from the start
 * of the exec, and only when the measure is over the bound does it collect garbage (node runs
 * with --expose-gc) and measure what is live.
 */
export class MemoryBound {
  #base = 0;

  start(): void {
    this.#base = used();
  }

  check(what: string, allowed = MEMORY_PER_ENTRY): void {
    if (used() - this.#base <= allowed) return;
    (globalThis as { gc?: () => void }).gc?.();
    const live = used() - this.#base;
    if (live > allowed) throw new InvariantBroken(`${what} holds ${Math.round(live / MIB)} MiB (bound ${Math.round(allowed / MIB)} MiB)`);
  }
}
