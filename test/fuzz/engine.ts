/**
 * A coverage-guided fuzzing loop in the manner of libFuzzer: replay the seeds, then mutate
 * inputs from the corpus and keep each one that runs a block of Strata's code, or runs it a
 * number of times, that no input before it did. The first broken invariant stops the run and
 * its input is written out.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Coverage } from './coverage';
import { fixTarChecksums, mutate, Rng, type MutationContext } from './mutate';

/** FuzzTarget is one thing to fuzz: its seeds, how to run one input, and what mutations suit it. */
export interface FuzzTarget {
  name: string;
  /** inputs to start from (the repo's corpus is added to them) */
  seeds(): Promise<Buffer[]>;
  /** execute runs one input; it throws when an invariant breaks (an error that is none of ours, an escape, too much memory) */
  execute(input: Buffer): Promise<void>;
  dictionary: readonly Buffer[];
  maxLength: number;
  /** tar inputs get block-aware mutations and, mostly, repaired checksums */
  tar: boolean;
  /** a directory the target works in: a fresh tmpfs there, and the rest of the file system read-only */
  confine?: string;
  /** outcomes worth a look that break no invariant (e.g. I/O errors by errno): how often, and the first input that had it */
  notes?(): Map<string, { count: number; example: Buffer }>;
}

export interface FuzzOptions {
  durationMs: number;
  seed: number;
  /** where new corpus inputs and a failing input go */
  outDir: string;
  log: (line: string) => void;
  /** log each input that adds coverage, not only a pulse every 10 s */
  verbose?: boolean;
  /** called with each input before it runs (the hang watchdog keeps it) */
  beforeExec?: (data: Buffer) => void;
}

export interface FuzzResult {
  target: string;
  execs: number;
  seconds: number;
  seeds: number;
  corpus: number;
  features: number;
  blocks: { known: number; run: number };
  notes: Record<string, number>;
  /** the input that broke an invariant, and how */
  failure?: { file: string; error: string };
}

const EXEC_TIMEOUT_MS = 10_000;
/** how many inputs run between two takes of coverage */
const BATCH = 16;

interface CorpusEntry {
  data: Buffer;
  features: number[];
}

async function withTimeout(run: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`one input ran for more than ${EXEC_TIMEOUT_MS / 1000} s`)), EXEC_TIMEOUT_MS);
  });
  try {
    await Promise.race([run, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const sha1 = (data: Buffer) => createHash('sha1').update(data).digest('hex');

/** fuzz runs one target for `durationMs` after its seeds, or until an invariant breaks. */
export async function fuzz(target: FuzzTarget, coverage: Coverage, seeds: Buffer[], opts: FuzzOptions): Promise<FuzzResult> {
  const started = Date.now();
  const rng = new Rng(opts.seed);
  const seen = new Set<number>();
  const seenInBatches = new Set<number>();
  const corpus: CorpusEntry[] = [];
  let execs = 0;
  fs.mkdirSync(path.join(opts.outDir, 'corpus'), { recursive: true });
  const noted = (): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const [what, { count, example }] of target.notes?.() ?? []) {
      out[what] = count;
      fs.writeFileSync(path.join(opts.outDir, `note-${what.replace(/[^\w.-]+/g, '_')}`), example);
    }
    return out;
  };
  const result = (failure?: FuzzResult['failure']): FuzzResult => ({
    target: target.name,
    execs,
    seconds: (Date.now() - started) / 1000,
    seeds: seeds.length,
    corpus: corpus.length,
    features: seen.size,
    blocks: coverage.blocks,
    notes: noted(),
    failure,
  });

  /** execute runs one input and returns the failure it caused, if any */
  const execute = async (data: Buffer): Promise<{ error: unknown } | undefined> => {
    execs++;
    opts.beforeExec?.(data);
    try {
      await withTimeout(target.execute(data));
      return undefined;
    } catch (error) {
      return { error };
    }
  };
  /** fresh returns the features of what ran since the last take that no input had before, and marks them seen */
  const fresh = (): number[] => {
    const features = coverage.take().filter((f) => !seen.has(f));
    for (const f of features) seen.add(f);
    return features;
  };
  /** run executes one input; it returns the features it added, or the failure it caused */
  const run = async (data: Buffer): Promise<number[] | { error: unknown }> => (await execute(data)) ?? fresh();
  const failed = (data: Buffer, error: unknown): FuzzResult => {
    const file = path.join(opts.outDir, `crash-${sha1(data).slice(0, 16)}`);
    fs.writeFileSync(file, data);
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    fs.writeFileSync(`${file}.txt`, `${text}\n`);
    opts.log(`FAILURE on ${data.length} bytes, written to ${file}:\n${text}`);
    return result({ file, error: text });
  };

  coverage.take(); // what ran while the target was set up is not the input's
  for (const data of seeds) {
    const outcome = await run(data);
    if (!Array.isArray(outcome)) return failed(data, outcome.error);
    if (outcome.length > 0) corpus.push({ data, features: outcome });
  }
  if (corpus.length === 0) corpus.push({ data: Buffer.alloc(0), features: [] });
  opts.log(`#${execs} INITED cov: ${seen.size} blocks: ${coverage.blocks.run}/${coverage.blocks.known} corp: ${corpus.length}`);

  const ctx: MutationContext = { dictionary: target.dictionary, maxLength: target.maxLength, tar: target.tar, other: () => rng.pick(corpus).data };
  let nextReport = Date.now() + 10_000;
  while (Date.now() - started < opts.durationMs) {
    // Taking coverage costs V8 some milliseconds whatever ran, so inputs run in batches with one
    // take each; only a batch that ran something new is run again, input by input, to find which.
    const batch: Buffer[] = [];
    for (let i = 0; i < BATCH; i++) {
      let data = mutate(rng.pick(corpus).data, rng, ctx);
      // Mostly with valid checksums, so that mutations reach past the header check.
      if (target.tar && rng.next() < 0.95) data = fixTarChecksums(data);
      const outcome = await execute(data);
      if (outcome) return failed(data, outcome.error);
      batch.push(data);
    }
    // A batch's counts are its inputs' summed, so they are compared with earlier batches': a block
    // no batch ran before always shows, a new hit count of one input may not.
    const batchFeatures = coverage.take().filter((f) => !seenInBatches.has(f));
    for (const f of batchFeatures) seenInBatches.add(f);
    if (batchFeatures.length === 0) continue;
    for (const data of batch) {
      const outcome = await run(data);
      if (!Array.isArray(outcome)) return failed(data, outcome.error);
      if (outcome.length === 0) continue;
      corpus.push({ data, features: outcome });
      fs.writeFileSync(path.join(opts.outDir, 'corpus', sha1(data)), data);
      if (opts.verbose) opts.log(`#${execs} NEW cov: ${seen.size} blocks: ${coverage.blocks.run}/${coverage.blocks.known} corp: ${corpus.length} len: ${data.length}`);
    }
    if (Date.now() >= nextReport) {
      nextReport = Date.now() + 10_000;
      const seconds = (Date.now() - started) / 1000;
      opts.log(`#${execs} pulse cov: ${seen.size} blocks: ${coverage.blocks.run}/${coverage.blocks.known} corp: ${corpus.length} exec/s: ${Math.round(execs / seconds)} rss: ${Math.round(process.memoryUsage.rss() / 2 ** 20)} MiB`);
    }
  }
  return result();
}

/**
 * minimize picks, smallest first, the inputs of `found` that run something the seeds and the
 * inputs picked before them do not, up to `budgetBytes` in all (libFuzzer's -merge, roughly).
 * It returns them named by their SHA-1.
 */
export async function minimize(target: FuzzTarget, coverage: Coverage, seeds: Buffer[], found: Buffer[], budgetBytes: number): Promise<Array<[string, Buffer]>> {
  const covered = new Set<number>();
  const features = async (data: Buffer): Promise<number[]> => {
    coverage.take();
    await withTimeout(target.execute(data)).catch(() => undefined);
    return coverage.take();
  };
  for (const data of seeds) for (const f of await features(data)) covered.add(f);
  const kept = new Map<string, Buffer>();
  let bytes = 0;
  for (const data of [...found].sort((a, b) => a.length - b.length)) {
    if (bytes + data.length > budgetBytes) break;
    const fresh = (await features(data)).filter((f) => !covered.has(f));
    if (fresh.length === 0 || kept.has(sha1(data))) continue;
    for (const f of fresh) covered.add(f);
    kept.set(sha1(data), data);
    bytes += data.length;
  }
  return [...kept];
}
