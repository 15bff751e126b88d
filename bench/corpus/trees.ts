/**
 * Generated file trees for the corpus, as tar entries: many small files, one big file, and
 * the small per-layer changes of deep images. Content is cheap to make but not all zeros, and
 * the same counts always give the same names and sizes.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { EntrySpec } from './tar-out';

const FILES_PER_DIR = 100;
const MiB = 1 << 20;
const NOISE = randomBytes(256 * 1024);

/** noise returns `size` bytes of random-looking content, different for different `seed`s. */
function noise(seed: number, size: number): Buffer {
  const start = (seed * 7919) % (NOISE.length - Math.min(size, NOISE.length));
  if (size <= NOISE.length) return NOISE.subarray(start, start + size);
  return Buffer.concat(Array.from({ length: Math.ceil(size / NOISE.length) }, () => NOISE)).subarray(0, size);
}

/** smallFileSize spreads sizes over 0..8 KiB (mean about 4 KiB) with a fixed pseudo-random walk. */
export function smallFileSize(i: number): number {
  return (i * 2654435761) % 8192;
}

/**
 * smallFiles yields `count` files in directories of 100 under `prefix`; `sizeOf(i)` gives the
 * size of the i-th file.
 */
export function* smallFiles(prefix: string, count: number, sizeOf: (i: number) => number = smallFileSize): Generator<EntrySpec> {
  yield { name: prefix, type: 'directory' };
  for (let i = 0; i < count; i++) {
    const dir = `${prefix}/d${String(Math.floor(i / FILES_PER_DIR)).padStart(4, '0')}`;
    if (i % FILES_PER_DIR === 0) yield { name: dir, type: 'directory' };
    yield { name: `${dir}/f${String(i).padStart(6, '0')}`, type: 'file', content: noise(i, sizeOf(i)) };
  }
}

/** bigFile yields one file of `mib` MiB of random data, made as it is written. */
export function* bigFile(name: string, mib: number): Generator<EntrySpec> {
  async function* content(): AsyncGenerator<Buffer> {
    for (let i = 0; i < mib; i++) yield randomBytes(MiB);
  }
  yield { name, type: 'file', size: mib * MiB, content };
}

/** layerChange yields what layer `n` of a deep image adds: its own directory and a file that every layer rewrites. */
export function* layerChange(n: number): Generator<EntrySpec> {
  const dir = `layers/${String(n).padStart(3, '0')}`;
  yield { name: 'layers', type: 'directory' };
  yield { name: dir, type: 'directory' };
  for (let i = 0; i < 10; i++) yield { name: `${dir}/f${i}`, type: 'file', content: noise(n * 10 + i, 1024) };
  yield { name: 'etc', type: 'directory' };
  yield { name: 'etc/bench-top-layer', type: 'file', content: Buffer.from(`${n}\n`) };
}

/** materialize writes generated entries into a directory on the host (files and directories only). */
export async function materialize(dir: string, entries: Iterable<EntrySpec>): Promise<void> {
  for (const e of entries) {
    const target = path.join(dir, e.name);
    if (e.type === 'directory') await mkdir(target, { recursive: true });
    else if (e.type === 'file' && Buffer.isBuffer(e.content)) await writeFile(target, e.content);
    else throw new Error(`materialize: cannot write ${e.type} entry ${e.name}`);
  }
}
