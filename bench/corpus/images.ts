/**
 * The bench corpus: docker-save archives of every image the bench loads, built offline with
 * the test corpus's tools and cached by name and size, plus the Debian layer tar for the layer
 * benchmarks.
 */
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { buildDeepImage, writeImageArchive } from '../../test/helpers/corpus';
import { exec } from '../../test/helpers/dockerd';
import type { Profile } from '../options';
import { debianLayerTar } from './debian';
import { cachedFile, writeTarFromEntries } from './tar-out';
import { MEAN_SMALL_FILE_SIZE, bigFile, smallFiles } from './trees';

// Bump when the generators change, so stale cached archives are not reused.
const CORPUS_VERSION = 2;

/** CorpusImage is one image archive with what the report says about it. */
export interface CorpusImage {
  tag: string;
  tarPath: string;
  layers: number;
  /** tar entries over all layers */
  entries: number;
  bytes: number;
}

/** CorpusLayer is a single layer tar. */
export interface CorpusLayer {
  path: string;
  entries: number;
  bytes: number;
}

export interface Corpus {
  debianLayer: CorpusLayer;
  debian: CorpusImage;
  small: CorpusImage;
  big: CorpusImage;
  stack: CorpusImage;
  many: CorpusImage;
  scaling: CorpusImage[];
  depth: CorpusImage[];
}

async function describeLayer(tar: string): Promise<CorpusLayer> {
  const entries = (await exec('tar', ['-tf', tar])).stdout.split('\n').filter(Boolean).length;
  return { path: tar, entries, bytes: (await stat(tar)).size };
}

/** image builds (or takes from the cache) the archive of image `tag`; `makeLayers` writes its layer tars in a work dir. */
async function image(cacheDir: string, tag: string, makeLayers: (workDir: string) => Promise<string[]>): Promise<CorpusImage> {
  const file = path.join(cacheDir, `${tag.replace(/[/:]/g, '_')}-v${CORPUS_VERSION}.tar`);
  return cachedFile(file, async (tmp) => {
    const work = await mkdtemp(path.join(cacheDir, '.work-'));
    try {
      const layers = await makeLayers(work);
      await writeImageArchive(tmp, [{ tag, layers }]);
      let entries = 0;
      for (const l of layers) entries += (await describeLayer(l)).entries;
      return { tag, tarPath: file, layers: layers.length, entries, bytes: (await stat(tmp)).size };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
}

function smallImage(cacheDir: string, files: number): Promise<CorpusImage> {
  return image(cacheDir, `bench/small:${files}`, async (work) => [await writeTarFromEntries(path.join(work, 'layer.tar'), smallFiles('data', files))]);
}

/**
 * stackImage is an image as a real application image is made: `layers` layers, each with its
 * share of `files` small files and one file that brings the layers to `mib` MiB in all.
 */
function stackImage(cacheDir: string, layers: number, files: number, mib: number): Promise<CorpusImage> {
  const filesPerLayer = Math.ceil(files / layers);
  const smallMiB = (filesPerLayer * MEAN_SMALL_FILE_SIZE) / 2 ** 20;
  const bigMiB = Math.max(1, Math.round(mib / layers - smallMiB));
  return image(cacheDir, `bench/stack:${layers}x${files}x${mib}m`, async (work) => {
    const tars: string[] = [];
    for (let i = 0; i < layers; i++) {
      const dir = `app/layer${i}`;
      tars.push(await writeTarFromEntries(path.join(work, `layer${i}.tar`), [...smallFiles(dir, filesPerLayer), ...bigFile(`${dir}/blob`, 'data.bin', bigMiB)]));
    }
    return tars;
  });
}

/** deepImage is the test corpus's deep image: busybox, then layers that add, rewrite, delete and make opaque. */
function deepImage(cacheDir: string, depth: number): Promise<CorpusImage> {
  const tag = `bench/deep:${depth}`;
  return image(cacheDir, tag, async (work) => (await buildDeepImage(work, depth, tag)).layers.slice());
}

/** buildCorpus makes every image the profile needs, reusing cached ones. */
export async function buildCorpus(p: Profile, cacheDir: string): Promise<Corpus> {
  await mkdir(cacheDir, { recursive: true });
  const debianLayer = await describeLayer(await debianLayerTar(p.debian, cacheDir, CORPUS_VERSION));
  // Named by what it holds: a change of the Debian recipe must not reuse the cached archive of the old one.
  const debian = await image(cacheDir, `bench/debian:${p.debian === 'debootstrap' ? 'bookworm' : p.debian}`, async () => [debianLayer.path]);
  const small = await smallImage(cacheDir, p.smallFiles);
  const big = await image(cacheDir, `bench/big:${p.bigFileMiB}m`, async (work) => [await writeTarFromEntries(path.join(work, 'layer.tar'), bigFile('data', 'big.bin', p.bigFileMiB))]);
  const stack = await stackImage(cacheDir, p.stackLayers, p.stackFiles, p.stackMiB);
  const many = await deepImage(cacheDir, p.manyLayers);
  const scaling: CorpusImage[] = [];
  for (const n of p.scalingFiles) scaling.push(await smallImage(cacheDir, n));
  const depth: CorpusImage[] = [];
  for (const n of p.depths) depth.push(await deepImage(cacheDir, n));
  return { debianLayer, debian, small, big, stack, many, scaling, depth };
}
