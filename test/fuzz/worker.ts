/**
 * One fuzz target in a process of its own: coverage is switched on before Strata's modules load,
 * then the target runs from its seeds and the repo's corpus for the time asked, and the result
 * goes to <out>/result.json. Started by run.ts; not meant to be run by hand.
 */
import fs from 'node:fs';
import path from 'node:path';
import { confine } from './confine';
import { Coverage } from './coverage';
import { fuzz, minimize, type FuzzTarget } from './engine';
import { Watchdog } from './watchdog';

/** WorkerArgs is what run.ts passes, as JSON in argv[2]. */
export interface WorkerArgs {
  target: string;
  durationMs: number;
  seed: number;
  outDir: string;
  seedsDir: string;
  corpusDir: string;
  confine?: string;
  /** the runner's mount namespace, which the confined worker must not be in */
  parentNamespace: string;
  verbose: boolean;
  /** write a minimal corpus of at most this many bytes to <out>/minimized */
  minimizeBytes?: number;
}

function inputsIn(dir: string): Buffer[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).sort().map((name) => fs.readFileSync(path.join(dir, name)));
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2]!) as WorkerArgs;
  if (args.confine) confine(args.confine, [args.outDir], args.parentNamespace);
  const coverage = new Coverage((url) => url.includes('/dist/src/'));
  const { target } = require(`./targets/${args.target}`) as { target: FuzzTarget };
  const seeds = [...inputsIn(args.seedsDir), ...inputsIn(args.corpusDir)].filter((s) => s.length <= target.maxLength);
  const watchdog = new Watchdog(target.maxLength, path.join(args.outDir, 'hang-input'));
  const log = (line: string) => process.stderr.write(`[${target.name}] ${line}\n`);
  const result = await fuzz(target, coverage, seeds, { durationMs: args.durationMs, seed: args.seed, outDir: args.outDir, log, verbose: args.verbose, beforeExec: (d) => watchdog.running(d) });
  if (args.minimizeBytes !== undefined && !result.failure) {
    const found = inputsIn(path.join(args.outDir, 'corpus')).concat(inputsIn(args.corpusDir));
    const kept = await minimize(target, coverage, inputsIn(args.seedsDir), found, args.minimizeBytes);
    const dir = path.join(args.outDir, 'minimized');
    fs.mkdirSync(dir, { recursive: true });
    for (const [name, data] of kept) fs.writeFileSync(path.join(dir, name), data);
    log(`minimized: ${kept.length} inputs, ${kept.reduce((n, [, d]) => n + d.length, 0)} bytes`);
  }
  await watchdog.close();
  fs.writeFileSync(path.join(args.outDir, 'result.json'), JSON.stringify(result));
  process.exit(result.failure ? 1 : 0);
}

main().catch((err: unknown) => {
  process.stderr.write(`fuzz worker failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(2);
});
