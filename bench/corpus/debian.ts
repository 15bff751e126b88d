/**
 * The Debian layer of the bench: debootstrap's default bookworm (required and important
 * packages: about 10k entries, 200 MB, the size of a real Debian base image; cached with the
 * test corpus), or where debootstrap is not wanted (the quick profile) a synthetic stand-in of
 * the same shape: busybox plus a couple of thousand small files.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildDebianLayer, materializeTree, tarDirectory, type DebianRecipe } from '../../test/helpers/corpus';
import { buildBusyboxRootfs } from '../../test/helpers/dockerd';
import { cachedFile } from './tar-out';
import { asTreeNodes, smallFiles } from './trees';

export type DebianSource = 'debootstrap' | 'synthetic';

const SYNTHETIC_FILES = 2_000;
const BENCH_RECIPE: DebianRecipe = { variant: 'default', packages: [] };

/** syntheticLayer writes the stand-in rootfs as a layer tar at `out`. */
async function syntheticLayer(out: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-bench-rootfs-'));
  try {
    await buildBusyboxRootfs(dir);
    await materializeTree(dir, asTreeNodes(smallFiles('usr/share/bench', SYNTHETIC_FILES)));
    return await tarDirectory(dir, out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** debianLayerTar returns the path of the Debian layer tar: the corpus's, or the synthetic one cached in `cacheDir`. */
export async function debianLayerTar(source: DebianSource, cacheDir: string, version: number): Promise<string> {
  if (source === 'debootstrap') return buildDebianLayer(undefined, BENCH_RECIPE);
  const file = path.join(cacheDir, `debian-synthetic-layer-v${version}.tar`);
  await cachedFile(file, async (tmp) => {
    await syntheticLayer(tmp);
    return { source, files: SYNTHETIC_FILES };
  });
  return file;
}
