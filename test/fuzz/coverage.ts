/**
 * Coverage feedback for the fuzzer: V8's precise block coverage, read in-process through the
 * inspector. Each take() returns the blocks of Strata's compiled source that ran since the last
 * take (V8 resets the counts on every take), as features: a block, and how often it ran in
 * AFL-style buckets, so that an input that runs a loop more often counts as new too.
 *
 * NOTE: V8 reports a function as its own range plus the nested ranges whose count differs from
 * the range around them, so a block that ran as often as its function is not reported at all.
 * A block is known once it has been reported (typically with count 0, not run); in a later take
 * its count is that of the innermost reported range holding it.
 */
import inspector from 'node:inspector';

/** bucket maps a hit count to AFL's classes: 1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128+. */
function bucket(count: number): number {
  if (count <= 3) return count - 1;
  if (count < 8) return 3;
  if (count < 16) return 4;
  if (count < 32) return 5;
  if (count < 128) return 6;
  return 7;
}

/** innermostCount is the count of the smallest reported range that holds [start, end), or 0 if none does. */
function innermostCount(ranges: readonly inspector.Profiler.CoverageRange[], start: number, end: number): number {
  let best: inspector.Profiler.CoverageRange | undefined;
  for (const r of ranges) {
    if (r.startOffset <= start && r.endOffset >= end && (!best || r.endOffset - r.startOffset < best.endOffset - best.startOffset)) best = r;
  }
  return best?.count ?? 0;
}

export class Coverage {
  readonly #session = new inspector.Session();
  readonly #blocks = new Map<string, number>();
  /** the blocks known in each function, by script URL and function start */
  readonly #known = new Map<string, Array<{ start: number; end: number; id: number }>>();
  readonly #executed = new Set<number>();
  readonly #wanted: (url: string) => boolean;

  /** The coverage of scripts whose URL `wanted` accepts (the code under test, not the fuzzer or node). */
  constructor(wanted: (url: string) => boolean) {
    this.#wanted = wanted;
    this.#session.connect();
    this.#post('Profiler.enable');
    this.#post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  // The inspector answers in-process calls synchronously.
  #post(method: string, params?: object): any {
    let result: unknown;
    let error: Error | null = null;
    this.#session.post(method, params, (err, res) => {
      error = err;
      result = res;
    });
    if (error) throw error;
    return result;
  }

  /** blocks is how many distinct blocks of the code under test are known, and how many of them have run. */
  get blocks(): { known: number; run: number } {
    return { known: this.#blocks.size, run: this.#executed.size };
  }

  /** take returns the features of what ran since the last take. */
  take(): number[] {
    const features: number[] = [];
    const { result } = this.#post('Profiler.takePreciseCoverage') as inspector.Profiler.TakePreciseCoverageReturnType;
    for (const script of result) {
      if (!this.#wanted(script.url)) continue;
      for (const fn of script.functions) {
        const ranges = fn.ranges;
        const fnKey = `${script.url}:${ranges[0]!.startOffset}`;
        let known = this.#known.get(fnKey);
        if (!known) this.#known.set(fnKey, (known = []));
        for (const r of ranges) {
          const key = `${script.url}:${r.startOffset}:${r.endOffset}`;
          if (this.#blocks.has(key)) continue;
          const id = this.#blocks.size;
          this.#blocks.set(key, id);
          known.push({ start: r.startOffset, end: r.endOffset, id });
        }
        for (const block of known) {
          const count = innermostCount(ranges, block.start, block.end);
          if (count === 0) continue;
          this.#executed.add(block.id);
          features.push(block.id * 8 + bucket(count));
        }
      }
    }
    return features;
  }

  close(): void {
    this.#session.disconnect();
  }
}
