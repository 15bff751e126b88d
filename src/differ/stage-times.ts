/**
 * Where a diff's time goes, stage by stage of its pipeline (the stages overlap, so the times
 * add up to more than the call): making the tar and its digest on the main thread, gzip on
 * the thread pool (summed over the members compressed at once), and the content write, which
 * is how long the writer held each piece before asking for the next (sending it, and waiting
 * for containerd to take it) plus the wait for containerd's commit.
 */
export type Stage = 'tar' | 'gzip' | 'write';

export class StageTimes {
  readonly #ns: Record<Stage, bigint> = { tar: 0n, gzip: 0n, write: 0n };

  add(stage: Stage, ns: bigint): void {
    this.#ns[stage] += ns;
  }

  /** timed runs `work` as part of `stage`. */
  async timed<T>(stage: Stage, work: () => Promise<T>): Promise<T> {
    const started = process.hrtime.bigint();
    try {
      return await work();
    } finally {
      this.add(stage, process.hrtime.bigint() - started);
    }
  }

  /** producing counts the time spent inside `source`'s steps as `stage`. */
  *producing<T>(stage: Stage, source: Iterator<T>): Generator<T> {
    for (;;) {
      const started = process.hrtime.bigint();
      const step = source.next();
      this.add(stage, process.hrtime.bigint() - started);
      if (step.done) return;
      yield step.value;
    }
  }

  /** consuming counts the time the consumer of `source` holds each item before asking for the next as `stage`. */
  async *consuming<T>(stage: Stage, source: AsyncIterable<T>): AsyncGenerator<T> {
    for await (const item of source) {
      const started = process.hrtime.bigint();
      yield item;
      this.add(stage, process.hrtime.bigint() - started);
    }
  }

  /** ms gives each stage's time in milliseconds, to a tenth. */
  ms(): Record<Stage, number> {
    const ms = (ns: bigint) => Math.round(Number(ns) / 1e5) / 10;
    return { tar: ms(this.#ns.tar), gzip: ms(this.#ns.gzip), write: ms(this.#ns.write) };
  }
}
