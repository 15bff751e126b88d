/**
 * The Debian layer of the corpus: a bookworm minbase rootfs from debootstrap (the same variant
 * the official debian image uses), tarred with its xattrs and cached. `synthetic` stands in
 * where debootstrap is not wanted (the quick profile): busybox plus small files, same layout.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildBusyboxRootfs, exec } from '../../test/helpers/dockerd';
import { writeTarOfDir, type LayerTar } from './tar-out';
import { materialize, smallFiles } from './trees';

export type DebianSource = 'debootstrap' | 'synthetic';

const SUITE = 'bookworm';
const MIRROR = process.env.STRATA_BENCH_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
const SYNTHETIC_FILES = 2_000;

/**
 * debootstrapRootfs returns a minbase rootfs directory under `cacheDir`, running debootstrap
 * the first time (a few minutes; needs the Debian mirror). debootstrap deletes its own
 * `debootstrap/` work directory only when it succeeds, so its presence marks a broken run.
 */
async function debootstrapRootfs(cacheDir: string): Promise<string> {
  const dir = path.join(cacheDir, `debian-${SUITE}-minbase.rootfs`);
  if (existsSync(path.join(dir, 'etc', 'debian_version')) && !existsSync(path.join(dir, 'debootstrap'))) return dir;
  await rm(dir, { recursive: true, force: true });
  await mkdir(cacheDir, { recursive: true });
  console.error(`bench: running debootstrap --variant=minbase ${SUITE} (once; cached in ${dir})`);
  await exec('debootstrap', ['--variant=minbase', SUITE, dir, MIRROR], { timeoutMs: 30 * 60_000 });
  return dir;
}

async function syntheticRootfs(dir: string): Promise<void> {
  await buildBusyboxRootfs(dir);
  await materialize(dir, smallFiles('usr/share/bench', SYNTHETIC_FILES));
}

/** debianLayerTar writes the Debian (or synthetic) rootfs as a layer tar at `out`. */
export async function debianLayerTar(out: string, cacheDir: string, source: DebianSource): Promise<LayerTar> {
  if (source === 'debootstrap') return writeTarOfDir(out, await debootstrapRootfs(cacheDir));
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-bench-rootfs-'));
  try {
    await syntheticRootfs(dir);
    return await writeTarOfDir(out, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
