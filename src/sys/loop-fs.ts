/**
 * Filesystems in image files on loop devices: how a writable layer gets a size limit where the
 * kernel has no quotas. The image is a sparse file holding an ext4 of exactly the limit, on a
 * loop device with direct I/O (without it every block the container writes sits in the page
 * cache twice, once for the image's ext4 and once for the image file: writing 1 GiB with fsync
 * took 2-6 times as long here). The device is detached as soon as the filesystem is mounted:
 * the kernel then only marks it to clear itself on the last close, so unmounting the filesystem
 * is what frees the device, and no loop device outlives its mount.
 */
import { closeSync, ftruncateSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { CommandFailedError } from '../errors';
import type { Exec } from './exec';
import type { Mounter } from './mounter';

/** LOOP_FS_TYPE is the filesystem limited layers get (mkfs.xfs refuses anything under 300 MB). */
export const LOOP_FS_TYPE = 'ext4';

/**
 * LOOP_MOUNT_OPTIONS: `discard` punches the blocks of deleted files out of the image, so a
 * container that writes and deletes gives the host its space back.
 */
export const LOOP_MOUNT_OPTIONS = 'discard';

const LOOP_DEVICE = /^\/dev\/loop[0-9]+$/;

/**
 * journalOptions caps ext4's journal at 64 MiB. mke2fs's default grows to 1 GiB on large
 * filesystems and, unlike the rest of the image, the journal is allocated at once: a 100G limit
 * would take 512 MiB of the host's disk before the container writes a byte.
 */
export function journalOptions(bytes: number): string[] {
  return bytes >= 16 * 1024 ** 3 ? ['-J', 'size=64'] : [];
}

export class LoopFilesystems {
  readonly #exec: Exec;
  readonly #mounter: Mounter;
  constructor(exec: Exec, mounter: Mounter) {
    this.#exec = exec;
    this.#mounter = mounter;
  }

  /**
   * make creates `image` as a sparse file of `bytes` and puts an ext4 in it: no blocks reserved
   * for root (the container's root is the only user), no reserved GDT blocks (the image never
   * grows), and a capped journal. mke2fs discards the fresh file, which tells it the inode
   * tables read as zeros, so no kernel thread writes them out after mounting.
   */
  async make(image: string, bytes: number): Promise<void> {
    const fd = openSync(image, 'wx', 0o600);
    try {
      ftruncateSync(fd, bytes);
    } finally {
      closeSync(fd);
    }
    await this.#exec(['mkfs.ext4', '-q', '-F', '-m', '0', '-O', '^resize_inode', ...journalOptions(bytes), image], { timeoutMs: 60_000, discardStdout: true });
  }

  /** attach mounts the filesystem in `image` on `target` through a self-clearing loop device. */
  async attach(image: string, target: string): Promise<void> {
    const { stdout } = await this.#exec(['losetup', '--find', '--show', '--direct-io=on', image], { timeoutMs: 30_000 });
    const device = stdout.trim();
    if (!LOOP_DEVICE.test(device)) throw new CommandFailedError(['losetup', '--find', '--show'], 0, null, `unexpected output ${JSON.stringify(device.slice(0, 80))}`);
    try {
      await this.#mounter.mount({ type: LOOP_FS_TYPE, source: device, target, options: LOOP_MOUNT_OPTIONS });
    } finally {
      // Mounted, the device is open and only marked to clear itself; unmounted, it goes now.
      await this.release(device);
    }
  }

  /** release detaches a loop device, or, while a mount holds it open, marks it to clear itself when unmounted. */
  async release(device: string): Promise<void> {
    await this.#exec(['losetup', '-d', device], { timeoutMs: 30_000, discardStdout: true });
  }

  /** detach unmounts `target` (lazily, so a busy one goes once unused); its loop device clears with it. */
  async detach(target: string): Promise<void> {
    await this.#mounter.unmount(target, { lazy: true });
  }
}

/**
 * isMountedOver tells whether `dir` is the root of a mount: its device differs from its
 * parent's. Two stats, so it is asked on every Get instead of trusting a record of earlier mounts
 * that an unmount behind Strata's back (a reboot) would falsify.
 */
export function isMountedOver(dir: string): boolean {
  const own = statSync(dir, { throwIfNoEntry: false });
  return own !== undefined && own.dev !== statSync(path.dirname(dir)).dev;
}

/** DELETED_SUFFIX is what the kernel appends to the backing file of a loop device once the file is unlinked. */
export const DELETED_SUFFIX = ' (deleted)';

/** LoopDevice is an attached loop device and the file behind it, as the kernel names it. */
export interface LoopDevice {
  device: string;
  /** the backing file's path now; ends in " (deleted)" once the file is unlinked */
  backingFile: string;
}

/** listLoopDevices reads the attached loop devices from sysfs. */
export function listLoopDevices(sysBlock = '/sys/block'): LoopDevice[] {
  const devices: LoopDevice[] = [];
  for (const name of readdirSync(sysBlock).filter((n) => n.startsWith('loop'))) {
    let backing: string;
    try {
      backing = readFileSync(path.join(sysBlock, name, 'loop', 'backing_file'), 'utf8').trim();
    } catch {
      continue; // not attached: sysfs has no loop/ directory for a free device
    }
    devices.push({ device: `/dev/${name}`, backingFile: backing });
  }
  return devices;
}
