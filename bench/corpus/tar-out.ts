/**
 * Writing the corpus's tars: layer tars from generated entries (tar-stream, an implementation
 * independent of Strata's) or from a directory (GNU tar, which keeps xattrs such as
 * security.capability), and docker-save image tars that `docker load` takes offline.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { pack, type Pack } from 'tar-stream';
import { exec } from '../../test/helpers/dockerd';

/** EntrySpec is one generated tar entry; `content` streams a file's data (its size is in `size`). */
export interface EntrySpec {
  name: string;
  type: 'file' | 'directory' | 'symlink';
  mode?: number;
  size?: number;
  linkname?: string;
  content?: Buffer | (() => AsyncIterable<Buffer>);
}

/** LayerTar is a layer tar on disk with what the image config needs about it. */
export interface LayerTar {
  path: string;
  diffId: string;
}

// One fixed time for every generated entry: the same corpus gives the same diff ids.
const FIXED_MTIME = new Date('2024-01-01T00:00:00Z');

function headerOf(e: EntrySpec) {
  const size = e.type === 'file' ? (Buffer.isBuffer(e.content) ? e.content.length : (e.size ?? 0)) : 0;
  const mode = e.mode ?? (e.type === 'directory' ? 0o755 : e.type === 'symlink' ? 0o777 : 0o644);
  return { name: e.name, type: e.type, mode, size, linkname: e.linkname, uid: 0, gid: 0, mtime: FIXED_MTIME };
}

function addEntry(p: Pack, e: EntrySpec): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error | null) => (err ? reject(err) : resolve());
    if (e.type !== 'file') {
      p.entry(headerOf(e), done);
      return;
    }
    if (e.content === undefined || Buffer.isBuffer(e.content)) {
      p.entry(headerOf(e), e.content ?? Buffer.alloc(0), done);
      return;
    }
    const sink = p.entry(headerOf(e), done);
    pipeline(e.content(), sink).catch(reject);
  });
}

/** sha256File returns the hex sha256 of a file, read as a stream. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** writeTarFromEntries streams the entries into a tar at `out`. */
export async function writeTarFromEntries(out: string, entries: AsyncIterable<EntrySpec> | Iterable<EntrySpec>): Promise<LayerTar> {
  const p = pack();
  const written = pipeline(p, createWriteStream(out));
  for await (const e of entries) await addEntry(p, e);
  p.finalize();
  await written;
  return { path: out, diffId: `sha256:${await sha256File(out)}` };
}

/** writeTarOfDir tars a directory with GNU tar, numeric owners and all xattrs. */
export async function writeTarOfDir(out: string, dir: string): Promise<LayerTar> {
  await exec('tar', ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--sort=name', '-C', dir, '-cf', out, '.']);
  return { path: out, diffId: `sha256:${await sha256File(out)}` };
}

/** writeImageTar writes a docker-save archive of one image made of `layers` (bottom first). */
export async function writeImageTar(out: string, tag: string, layers: readonly LayerTar[]): Promise<void> {
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    created: FIXED_MTIME.toISOString(),
    config: { Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({ created: FIXED_MTIME.toISOString(), created_by: `strata bench layer ${i}` })),
  }));
  const configName = `${createHash('sha256').update(config).digest('hex')}.json`;
  const layerNames = layers.map((l, i) => `${String(i).padStart(3, '0')}-${l.diffId.slice(7, 19)}/layer.tar`);
  const manifest = Buffer.from(JSON.stringify([{ Config: configName, RepoTags: [tag], Layers: layerNames }]));
  async function* entries(): AsyncGenerator<EntrySpec> {
    for (const [i, l] of layers.entries()) {
      yield { name: layerNames[i]!.split('/')[0]!, type: 'directory' };
      yield { name: layerNames[i]!, type: 'file', size: (await stat(l.path)).size, content: () => createReadStream(l.path, { highWaterMark: 1 << 20 }) };
    }
    yield { name: configName, type: 'file', content: config };
    yield { name: 'manifest.json', type: 'file', content: manifest };
  }
  await writeTarFromEntries(out, entries());
}

/**
 * cachedFile returns `file`, building it first (into a temp name, then renamed) unless a
 * previous run already did. `meta` is kept beside it as JSON and returned either way.
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
