/**
 * Generated file trees for the bench corpus: many small files and one big file, as streamed
 * tar entries, or as corpus tree nodes for writing to a directory. Content is cheap to make
 * but not all zeros, and the same counts always give the same names and sizes.
 */
import { randomBytes } from 'node:crypto';
import type { TreeNode } from '../../test/helpers/corpus';
import type { EntrySpec } from './tar-out';

const FILES_PER_DIR = 100;
const MiB = 1 << 20;
const NOISE = randomBytes(256 * 1024);

/** noise returns `size` bytes of random-looking content, starting at a place that depends on `seed`. */
function noise(seed: number, size: number): Buffer {
  if (size > NOISE.length) return Buffer.concat(Array.from({ length: Math.ceil(size / NOISE.length) }, () => NOISE)).subarray(0, size);
  const start = (seed * 7919) % (NOISE.length - size + 1);
  return NOISE.subarray(start, start + size);
}

/** smallFileSize spreads sizes over 0..8 KiB (mean about 4 KiB) with a fixed pseudo-random walk. */
export function smallFileSize(i: number): number {
  return (i * 2654435761) % 8192;
}

/** MEAN_SMALL_FILE_SIZE is the mean of smallFileSize over many files, in bytes. */
export const MEAN_SMALL_FILE_SIZE = 4096;

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

/** bigFile yields `dir` and in it one file of `mib` MiB of random data, made as it is written. */
export function* bigFile(dir: string, name: string, mib: number): Generator<EntrySpec> {
  async function* content(): AsyncGenerator<Buffer> {
    for (let i = 0; i < mib; i++) yield randomBytes(MiB);
  }
  yield { name: dir, type: 'directory' };
  yield { name: `${dir}/${name}`, type: 'file', size: mib * MiB, content };
}

/** asTreeNodes turns generated entries (with in-memory content) into nodes for materializeTree. */
export function asTreeNodes(entries: Iterable<EntrySpec>): TreeNode[] {
  return [...entries].map((e) => {
    if (e.type === 'directory') return { kind: 'dir', path: e.name };
    if (!Buffer.isBuffer(e.content) && e.content !== undefined) throw new Error(`asTreeNodes: ${e.name} streams its content`);
    return { kind: 'file', path: e.name, data: e.content };
  });
}
