/**
 * Images made offline for the docker tier: layer tars from directories, and `docker save`
 * style archives (manifest.json + config + layer tars) that `docker load` takes. Images built
 * from the same layer tar share that layer, as pulled images share their base.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildBusyboxRootfs, exec } from './dockerd';

/** tarDirectory writes an uncompressed tar of `dir`'s contents with stable ownership and order. */
export async function tarDirectory(dir: string, outTar: string): Promise<string> {
  await exec('tar', ['--sort=name', '--numeric-owner', '-C', dir, '-cf', outTar, '.']);
  return outTar;
}

/** sha256File returns the hex sha256 of a file, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** busyboxLayer writes the busybox root filesystem as a layer tar. */
export async function busyboxLayer(outTar: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-bb-layer-'));
  try {
    await buildBusyboxRootfs(dir);
    return await tarDirectory(dir, outTar);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * randomFilesLayer writes a layer tar holding `dirs` × `filesPerDir` files of `fileSize`
 * random bytes under /`top`/dNN/fNNNN (random data: nothing compresses or deduplicates it).
 */
export async function randomFilesLayer(outTar: string, top: string, shape: { dirs: number; filesPerDir: number; fileSize: number }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-rnd-layer-'));
  try {
    for (let d = 0; d < shape.dirs; d++) {
      const sub = path.join(dir, top, `d${String(d).padStart(2, '0')}`);
      await mkdir(sub, { recursive: true });
      for (let f = 0; f < shape.filesPerDir; f++) await writeFile(path.join(sub, `f${String(f).padStart(4, '0')}`), randomBytes(shape.fileSize));
    }
    return await tarDirectory(dir, outTar);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** smallFileLayer writes a layer tar with one text file. */
export async function smallFileLayer(outTar: string, file: string, content: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-small-layer-'));
  try {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), content);
    return await tarDirectory(dir, outTar);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** writeImageArchive writes a `docker save` style archive of an image made of `layerTars` (base first). */
export async function writeImageArchive(outFile: string, tag: string, layerTars: readonly string[]): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-image-'));
  try {
    const diffIds: string[] = [];
    const layers: string[] = [];
    for (const [i, tar] of layerTars.entries()) {
      diffIds.push(`sha256:${await sha256File(tar)}`);
      layers.push(`layer${i}.tar`);
      await exec('ln', ['-s', tar, path.join(dir, `layer${i}.tar`)]);
    }
    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: layerTars.map(() => ({ created_by: 'strata test image' })),
    });
    const configName = `${createHash('sha256').update(config).digest('hex')}.json`;
    await writeFile(path.join(dir, configName), config);
    await writeFile(path.join(dir, 'manifest.json'), JSON.stringify([{ Config: configName, RepoTags: [tag], Layers: layers }]));
    // -h stores the layer tars themselves rather than the symlinks to them.
    await exec('tar', ['-h', '-C', dir, '-cf', outFile, 'manifest.json', configName, ...layers]);
    return outFile;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
