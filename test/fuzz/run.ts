#!/usr/bin/env node
/**
 * npm run fuzz: runs every fuzz target (or those named) for as long as asked, each in a worker
 * process of its own, and fails when one of them breaks an invariant.
 *
 *   npm run fuzz -- [--duration 60s|20m|1h] [--target NAME]... [--seed N] [--out DIR] [--save-corpus] [--verbose]
 *
 * --duration is per target; 0 replays the seeds and the repo's corpus only (a regression pass).
 * --save-corpus replaces test/fuzz/corpus/<target>/ with a minimal set of the inputs found that
 * add coverage beyond the seeds (at most CORPUS_BYTES per target), to commit. --verbose logs
 * every input that adds coverage (libFuzzer's NEW lines), not only a pulse every 10 s.
 * The apply-tar target needs root: it runs in a mount namespace of its own (see confine.ts).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { mountNamespace } from './confine';
import type { FuzzResult, FuzzTarget } from './engine';
import type { WorkerArgs } from './worker';

const TARGETS = ['tar-reader', 'apply-tar', 'graphdriver-requests', 'snapshot-requests'];
const REPO = path.join(__dirname, '..', '..', '..');
const CORPUS = path.join(REPO, 'test', 'fuzz', 'corpus');
const CORPUS_BYTES = 96 * 1024;
/** the node the tests run under (test/run.js), else this one */
const LTS_NODE = '/opt/strata-test/node/lts/bin/node';

function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
  if (!m) throw new Error(`--duration ${text}: give a number with s, m or h (60s, 20m, 1h)`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}

function run(argv: string[], timeoutMs: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

async function fuzzOne(name: string, opts: { durationMs: number; seed: number; out: string; saveCorpus: boolean; verbose: boolean }): Promise<FuzzResult | string> {
  const { target } = (await import(`./targets/${name}`)) as { target: FuzzTarget };
  const outDir = path.join(opts.out, name);
  const seedsDir = path.join(outDir, 'seeds');
  fs.mkdirSync(seedsDir, { recursive: true });
  // Seeds are built here: building them runs tar, which the confined worker could not.
  (await target.seeds()).forEach((seed, i) => fs.writeFileSync(path.join(seedsDir, String(i).padStart(4, '0')), seed));
  const args: WorkerArgs = {
    target: name,
    durationMs: opts.durationMs,
    seed: opts.seed,
    outDir,
    seedsDir,
    corpusDir: path.join(CORPUS, name),
    confine: target.confine,
    parentNamespace: mountNamespace(),
    minimizeBytes: opts.saveCorpus ? CORPUS_BYTES : undefined,
    verbose: opts.verbose,
  };
  const node = fs.existsSync(LTS_NODE) ? LTS_NODE : process.execPath;
  const worker = [node, '--expose-gc', path.join(__dirname, 'worker.js'), JSON.stringify(args)];
  if (target.confine) {
    if (process.getuid?.() !== 0) return `${name} needs root (it extracts as root in a mount namespace of its own)`;
    fs.mkdirSync(target.confine, { recursive: true });
  }
  const code = await run(target.confine ? ['unshare', '--mount', '--propagation', 'private', ...worker] : worker, opts.durationMs + 10 * 60_000);
  if (target.confine) fs.rmSync(target.confine, { recursive: true, force: true });
  const resultFile = path.join(outDir, 'result.json');
  if (!fs.existsSync(resultFile)) return `${name}: the worker ended (exit ${code}) without a result; see its output${fs.existsSync(path.join(outDir, 'hang-input')) ? ` and ${path.join(outDir, 'hang-input')}` : ''}`;
  const result = JSON.parse(fs.readFileSync(resultFile, 'utf8')) as FuzzResult;
  if (opts.saveCorpus && !result.failure) {
    const dir = path.join(CORPUS, name);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.cpSync(path.join(outDir, 'minimized'), dir, { recursive: true });
  }
  return result;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '60s' },
      target: { type: 'string', multiple: true },
      seed: { type: 'string' },
      out: { type: 'string' },
      'save-corpus': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const names = values.target ?? TARGETS;
  for (const n of names) if (!TARGETS.includes(n)) throw new Error(`--target ${n}: the targets are ${TARGETS.join(', ')}`);
  const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
  const out = values.out ?? fs.mkdtempSync(path.join(os.tmpdir(), 'strata-fuzz-'));
  const durationMs = parseDuration(values.duration);
  console.log(`fuzzing ${names.join(', ')} for ${values.duration} each, seed ${seed}, output in ${out}`);
  const failures: string[] = [];
  for (const name of names) {
    const result = await fuzzOne(name, { durationMs, seed, out, saveCorpus: values['save-corpus'], verbose: values.verbose });
    if (typeof result === 'string') {
      failures.push(result);
      continue;
    }
    const notes = Object.entries(result.notes).map(([k, v]) => `${k}: ${v}`).join(', ');
    console.log(
      `${name}: ${result.execs} execs in ${result.seconds.toFixed(0)} s (${Math.round(result.execs / Math.max(result.seconds, 1e-3))}/s), ` +
        `${result.seeds} seeds, corpus ${result.corpus}, ${result.features} features, blocks run ${result.blocks.run} of ${result.blocks.known} known${notes ? `; ${notes}` : ''}`,
    );
    if (result.failure) failures.push(`${name}: ${result.failure.file}\n${result.failure.error}`);
  }
  if (failures.length > 0) {
    console.error(`fuzzing found ${failures.length} failure(s):\n${failures.join('\n')}`);
    process.exit(1);
  }
  // What a passing run leaves (seeds, the inputs it kept) is only worth keeping when asked for with --out.
  if (values.out === undefined) fs.rmSync(out, { recursive: true, force: true });
  console.log(`fuzz: ${names.length} passed, 0 failed`);
}

main().catch((err: unknown) => {
  console.error((err as Error)?.message ?? err);
  process.exit(2);
});
