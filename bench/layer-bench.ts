/**
 * The layer work alone: ApplyDiff and Diff of the Debian layer through Strata's socket, against
 * GNU tar extracting and creating the same data on the same disk. GNU tar is the floor for the
 * disk work; the gap to it is what Strata spends on top (HTTP, parsing, per-file syscalls).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { exec } from '../test/helpers/dockerd';
import type { Corpus } from './corpus/images';
import { describeSamples, flushDirtyPages, interleave, timeMs, type Comparison } from './measure';
import { peakRssMiB, resetPeakRss } from './process-stats';
import type { StrataServer } from './strata-client';

const SIDES = ['strata', 'gnu tar'] as const;

/** LayerBenchResult is the two comparisons plus Strata's peak RSS while applying. */
export interface LayerBenchResult {
  comparisons: Comparison[];
  applyPeakRssMiB: number;
}

/** gnuTarCreate runs GNU tar -c and counts its output: /dev/null would let GNU tar skip reading file data. */
function gnuTarCreate(dir: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', ['--numeric-owner', '--xattrs', '--xattrs-include=*', '-C', dir, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0;
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (bytes += c.length));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(bytes) : reject(new Error(`tar -c failed (${code}): ${stderr}`))));
  });
}

function newLayerId(): string {
  return randomBytes(32).toString('hex');
}

/**
 * runLayerBench measures ApplyDiff against `tar -x` and then Diff against `tar -c`, each
 * interleaved for `rounds` rounds. `scratch` is where GNU tar extracts (the same filesystem
 * as the Strata server's home).
 */
export async function runLayerBench(strata: StrataServer, corpus: Corpus, scratch: string, rounds: number, progress: (line: string) => void): Promise<LayerBenchResult> {
  const tar = corpus.debianLayer;
  const what = `the Debian layer (${tar.entries} entries, ${Math.round(tar.bytes / 2 ** 20)} MiB)`;
  let peak = 0;
  let lastLayer = '';
  const apply = await interleave(rounds, SIDES, async (side, round) => {
    if (side === 'strata') {
      if (lastLayer) await strata.call('GraphDriver.Remove', { ID: lastLayer });
      lastLayer = newLayerId();
      await strata.call('GraphDriver.Create', { ID: lastLayer });
      await flushDirtyPages();
      resetPeakRss(strata.pid);
      const ms = await timeMs(() => strata.applyDiff(lastLayer, '', tar.path));
      peak = Math.max(peak, peakRssMiB(strata.pid));
      return [ms];
    }
    const dir = path.join(scratch, `gnu-${round}`);
    await mkdir(dir);
    await flushDirtyPages();
    const ms = await timeMs(() => exec('tar', ['--numeric-owner', '--xattrs', '--xattrs-include=*', '-xpf', tar.path, '-C', dir]));
    await rm(dir, { recursive: true, force: true });
    return [ms];
  });
  progress(describeSamples('layer-apply', apply));
  const diff = await interleave(rounds, SIDES, async (side) => {
    await flushDirtyPages();
    return [await timeMs(() => (side === 'strata' ? strata.diffBytes(lastLayer, '') : gnuTarCreate(strata.diffDir(lastLayer))))];
  });
  progress(describeSamples('layer-diff', diff));
  await strata.call('GraphDriver.Remove', { ID: lastLayer });
  return {
    comparisons: [
      { id: 'layer-apply', group: 'layer', label: `ApplyDiff of ${what} vs tar -x`, sides: [...SIDES], samples: apply, target: { maxRatio: 1.25, text: '≥ 0.8× tar (≤ 1.25)' } },
      { id: 'layer-diff', group: 'layer', label: `Diff of ${what} vs tar -c`, sides: [...SIDES], samples: diff },
    ],
    applyPeakRssMiB: peak,
  };
}
