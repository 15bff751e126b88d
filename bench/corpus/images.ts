/**
 * The bench corpus: docker-save tars of every image the bench loads, built offline and cached
 * by name and size, plus the Debian layer tar for the layer benchmarks. Each image's base layer
 * is its own (a marker file), so removing one image never leaves layers another one reuses.
 */
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildBusyboxRootfs, exec } from '../../test/helpers/dockerd';
import type { Profile } from '../options';
import { debianLayerTar } from './debian';
import { cachedFile, writeImageTar, writeTarFromEntries, writeTarOfDir, type EntrySpec, type LayerTar } from './tar-out';
import { bigFile, layerChange, smallFiles } from './trees';

// Bump when the generators change, so stale cached tars are not reused.
const CORPUS_VERSION = 1;

/** CorpusImage is one image tar with what the report says about it. */
export interface CorpusImage {
  tag: string;
  tarPath: string;
  layers: number;
  /** tar entries over all layers */
  entries: number;
  bytes: number;
}

export interface Corpus {
  debianLayer: LayerTar & { entries: number; bytes: number };
  debian: CorpusImage;
  small: CorpusImage;
  big: CorpusImage;
  many: CorpusImage;
  scaling: CorpusImage[];
  depth: CorpusImage[];
}

async function countEntries(tar: string): Promise<number> {
  return (await exec('tar', ['-tf', tar])).stdout.split('\n').filter(Boolean).length;
}

async function describeLayer(layer: LayerTar): Promise<LayerTar & { entries: number; bytes: number }> {
  return { ...layer, entries: await countEntries(layer.path), bytes: (await stat(layer.path)).size };
}

type LayerMaker = (out: string) => Promise<LayerTar>;

/** image builds (or takes from the cache) the image `tag` from layer makers, bottom first. */
async function image(cacheDir: string, tag: string, makers: readonly LayerMaker[]): Promise<CorpusImage> {
  const file = path.join(cacheDir, `${tag.replace(/[/:]/g, '_')}-v${CORPUS_VERSION}.tar`);
  return cachedFile(file, async (tmp) => {
    const layerDir = `${tmp}.layers`;
    await mkdir(layerDir, { recursive: true });
    try {
      const layers: Array<LayerTar & { entries: number; bytes: number }> = [];
      for (const [i, make] of makers.entries()) layers.push(await describeLayer(await make(path.join(layerDir, `${i}.tar`))));
      await writeImageTar(tmp, tag, layers);
      const entries = layers.reduce((n, l) => n + l.entries, 0);
      return { tag, tarPath: file, layers: layers.length, entries, bytes: (await stat(tmp)).size };
    } finally {
      await rm(layerDir, { recursive: true, force: true });
    }
  });
}

function fromEntries(entries: () => Iterable<EntrySpec>): LayerMaker {
  return (out) => writeTarFromEntries(out, entries());
}

/** busyboxBase is a runnable base layer marked with the image's name. */
function busyboxBase(name: string): LayerMaker {
  return async (out) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-bench-base-'));
    try {
      await buildBusyboxRootfs(dir);
      await writeFile(path.join(dir, 'etc', 'bench-image'), `${name}\n`);
      return await writeTarOfDir(out, dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
}

function deepImage(cacheDir: string, depth: number): Promise<CorpusImage> {
  const tag = `bench/deep:${depth}`;
  const upper = Array.from({ length: depth - 1 }, (_, i) => fromEntries(() => layerChange(i + 1)));
  return image(cacheDir, tag, [busyboxBase(tag), ...upper]);
}

function smallImage(cacheDir: string, files: number): Promise<CorpusImage> {
  return image(cacheDir, `bench/small:${files}`, [fromEntries(() => smallFiles('data', files))]);
}

/** buildCorpus makes every image the profile needs, reusing cached ones. */
export async function buildCorpus(p: Profile, cacheDir: string): Promise<Corpus> {
  await mkdir(cacheDir, { recursive: true });
  const debianFile = path.join(cacheDir, `debian-${p.debian}-layer-v${CORPUS_VERSION}.tar`);
  const debianLayer = await cachedFile(debianFile, async (tmp) => ({ ...(await describeLayer(await debianLayerTar(tmp, cacheDir, p.debian))), path: debianFile }));
  const debian = await image(cacheDir, `bench/debian:${p.debian}`, [async (out) => {
    await exec('cp', [debianLayer.path, out]);
    return { path: out, diffId: debianLayer.diffId };
  }]);
  const small = await smallImage(cacheDir, p.smallFiles);
  const big = await image(cacheDir, `bench/big:${p.bigFileMiB}m`, [fromEntries(() => [{ name: 'data', type: 'directory' }, ...bigFile('data/big.bin', p.bigFileMiB)])]);
  const many = await deepImage(cacheDir, p.manyLayers);
  const scaling: CorpusImage[] = [];
  for (const n of p.scalingFiles) scaling.push(await smallImage(cacheDir, n));
  const depth: CorpusImage[] = [];
  for (const n of p.depths) depth.push(await deepImage(cacheDir, n));
  return { debianLayer, debian, small, big, many, scaling, depth };
}
