/**
 * Streamed layer tars for the bench's large generated layers (20k small files, a 500 MB file),
 * written entry by entry with tar-stream without ever holding a layer in memory, and a cache
 * of built corpus files with a small JSON description beside each.
 */
import { createWriteStream, existsSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { pack, type Pack } from 'tar-stream';
import { CORPUS_TIME } from '../../test/helpers/corpus';

/** EntrySpec is a generated directory or file; `content` is the data or streams it (then `size` is needed). */
export interface EntrySpec {
  name: string;
  type: 'file' | 'directory';
  size?: number;
  content?: Buffer | (() => AsyncIterable<Buffer>);
}

function headerOf(e: EntrySpec) {
  const size = e.type === 'file' ? (Buffer.isBuffer(e.content) ? e.content.length : (e.size ?? 0)) : 0;
  return { name: e.name, type: e.type, mode: e.type === 'directory' ? 0o755 : 0o644, size, uid: 0, gid: 0, mtime: new Date(CORPUS_TIME * 1000) };
}

function addEntry(p: Pack, e: EntrySpec): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error | null) => (err ? reject(err) : resolve());
    if (e.type === 'directory') p.entry(headerOf(e), done);
    else if (typeof e.content === 'function') pipeline(e.content(), p.entry(headerOf(e), done)).catch(reject);
    else p.entry(headerOf(e), e.content ?? Buffer.alloc(0), done);
  });
}

/** writeTarFromEntries streams the entries into a tar at `out` and returns `out`. */
export async function writeTarFromEntries(out: string, entries: Iterable<EntrySpec>): Promise<string> {
  const p = pack();
  const written = pipeline(p, createWriteStream(out));
  for (const e of entries) await addEntry(p, e);
  p.finalize();
  await written;
  return out;
}

/**
 * cachedFile returns the description of `file`, building the file first (into a temp name,
 * then renamed) unless a previous run did. The description is kept beside it as JSON.
 */
export async function cachedFile<M>(file: string, build: (tmp: string) => Promise<M>): Promise<M> {
  const metaFile = `${file}.json`;
  if (existsSync(file) && existsSync(metaFile)) return JSON.parse(await readFile(metaFile, 'utf8')) as M;
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    const meta = await build(tmp);
    await writeFile(metaFile, JSON.stringify(meta, null, 2));
    await rename(tmp, file);
    return meta;
  } finally {
    await rm(tmp, { force: true, recursive: true });
  }
}
