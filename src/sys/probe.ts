/**
 * Host checks, run once when a home is taken into use. Their results are plain data handed
 * down to the store; nothing re-probes per request.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, mkdir, readFile, rename, rm, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { NotSupportedError, errnoOf } from '../errors';
import { dirTypesKnown } from './libc';
import type { Mounter } from './mounter';

/** HostFeatures are the facts about the kernel and the home filesystem that shape mounts. */
export interface HostFeatures {
  backingFs: string;
  dTypeSupported: boolean;
  /** mount options the kernel understands and that keep the upper dir a faithful diff */
  extraMountOptions: string[];
  /** the same for the mounts the snapshotter describes, leaving out what the kernel already defaults to (see snapshotOptionsFor) */
  snapshotMountOptions: string[];
  nativeDiff: boolean;
  /** size limits can be given: loop devices, ext4 and mkfs.ext4 are there (see sys/loop-fs) */
  sizeLimits: boolean;
}

const FS_NAMES = new Map<number, string>([
  [0xef53, 'extfs'],
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
  [0x01021994, 'tmpfs'],
  [0x794c7630, 'overlayfs'],
  [0x2fc12fc1, 'zfs'],
  [0x6969, 'nfs'],
  [0xf2f52010, 'f2fs'],
  [0x65735546, 'fuse'],
  [0x73717368, 'squashfs'],
]);
const OVERLAY_MAGIC = 0x794c7630;
const OVERLAY_PARAMS = '/sys/module/overlay/parameters';

/** backingFsName maps a statfs magic to the name overlay2 shows in `docker info`. */
export function backingFsName(magic: number): string {
  return FS_NAMES.get(magic >>> 0) ?? '<unknown>';
}

/** overlayOptionsFor picks the options that disable index, redirect_dir and metacopy where the kernel knows them. */
export function overlayOptionsFor(knownParams: ReadonlySet<string>): string[] {
  const opts: string[] = [];
  // index=off avoids EBUSY "upperdir is in-use by another mount" (moby#37970).
  if (knownParams.has('index')) opts.push('index=off');
  // With redirect_dir or metacopy on, the upper dir is no longer a plain diff of the layer.
  if (knownParams.has('redirect_dir')) opts.push('redirect_dir=off');
  if (knownParams.has('metacopy')) opts.push('metacopy=off');
  return opts;
}

/**
 * snapshotOptionsFor picks the options of the overlay mounts the snapshotter hands to
 * containerd: index=off and redirect_dir=off where the kernel knows them, and metacopy=off
 * only where the kernel turns metacopy on by default. BuildKit reads these options to diff a
 * snapshot through its upper dir, and any option outside the few it knows (metacopy=off is
 * one) sends it to containerd's walking differ, which is slower and fails on images with 0/0
 * character devices; containerd's own overlayfs snapshotter sends index=off alone.
 */
export function snapshotOptionsFor(params: ReadonlyMap<string, string>): string[] {
  const opts: string[] = [];
  if (params.has('index')) opts.push('index=off');
  if (params.has('redirect_dir')) opts.push('redirect_dir=off');
  if (params.get('metacopy') === 'Y') opts.push('metacopy=off');
  return opts;
}

/** canMakeLoopFilesystems tells whether the host has loop devices, ext4 and mkfs.ext4 on the PATH. */
async function canMakeLoopFilesystems(): Promise<boolean> {
  if (!existsSync('/dev/loop-control')) return false;
  const text = await readFile('/proc/filesystems', 'utf8').catch(() => '');
  if (!/\text4$/m.test(text)) return false;
  const dirs = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':');
  return dirs.some((d) => d !== '' && existsSync(path.join(d, 'mkfs.ext4')));
}

async function kernelHasOverlay(): Promise<boolean> {
  if (existsSync(OVERLAY_PARAMS)) return true;
  const text = await readFile('/proc/filesystems', 'utf8').catch(() => '');
  return /\toverlay$/m.test(text);
}

/** overlayParams reads the kernel's defaults of the overlay parameters that shape a diff (absent ones are unknown to it). */
function overlayParams(): Map<string, string> {
  const params = new Map<string, string>();
  for (const name of ['index', 'redirect_dir', 'metacopy']) {
    try {
      params.set(name, readFileSync(path.join(OVERLAY_PARAMS, name), 'utf8').trim());
    } catch {
      // an older kernel without this parameter
    }
  }
  return params;
}

/**
 * probeHost checks that overlay works on `home` with a real test mount and returns the
 * features found. It throws NotSupportedError with advice when overlay cannot work there.
 */
export async function probeHost(home: string, mounter: Mounter): Promise<HostFeatures> {
  const fs = await statfs(home);
  const backingFs = backingFsName(Number(fs.type));
  if (Number(fs.type) === OVERLAY_MAGIC) {
    throw new NotSupportedError(
      `${home} is on an overlay filesystem, which overlay cannot use as an upper layer; ` +
        'put the docker data-root on a real filesystem (ext4, xfs, btrfs or tmpfs), e.g. a volume or bind mount',
    );
  }
  if (!(await kernelHasOverlay())) {
    throw new NotSupportedError('the kernel has no overlay filesystem: load it with `modprobe overlay` and start strata again');
  }
  const scratch = await mkdtemp(path.join(home, '.probe-'));
  try {
    await writeFile(path.join(scratch, 'entry'), '');
    const dTypeSupported = dirTypesKnown(scratch);
    if (!dTypeSupported) {
      throw new NotSupportedError(
        `the filesystem of ${home} (${backingFs}) does not report file types in directory entries (d_type), ` +
          'which overlay needs; turn d_type on (xfs: reformat with mkfs.xfs -n ftype=1; ext2/3/4: tune2fs -O filetype, then e2fsck -f) ' +
          'or put the docker data-root on another filesystem',
      );
    }
    const params = overlayParams();
    const extraMountOptions = overlayOptionsFor(new Set(params.keys()));
    const nativeDiff = await testMount(scratch, mounter, extraMountOptions);
    const sizeLimits = await canMakeLoopFilesystems();
    return { backingFs, dTypeSupported, extraMountOptions, snapshotMountOptions: snapshotOptionsFor(params), nativeDiff, sizeLimits };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

// Mounts lower1:lower2 with an upper dir and renames a lower directory: with redirect_dir off
// the kernel refuses (EXDEV), which proves the upper dir will be a plain diff.
async function testMount(scratch: string, mounter: Mounter, extra: string[]): Promise<boolean> {
  const dirs = ['lower1/d', 'lower2', 'upper', 'work', 'merged'];
  await Promise.all(dirs.map((d) => mkdir(path.join(scratch, d), { recursive: true })));
  const merged = path.join(scratch, 'merged');
  const options = [...extra, 'lowerdir=lower1:lower2', 'upperdir=upper', 'workdir=work'].join(',');
  try {
    await mounter.mount({ type: 'overlay', source: 'overlay', target: merged, options, cwd: scratch });
  } catch (err) {
    throw new NotSupportedError(`a test overlay mount on ${scratch} failed: ${(err as Error).message}`, { cause: err });
  }
  try {
    await rename(path.join(merged, 'd'), path.join(merged, 'd2'));
    return false;
  } catch (err) {
    return errnoOf(err) === 'EXDEV';
  } finally {
    await mounter.unmount(merged, { lazy: true });
  }
}
