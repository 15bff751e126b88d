/**
 * Size limits of writable layers (pure): reading a size as Docker users write it, and the
 * bounds a limit must keep. A limited layer gets its own ext4 image of exactly the limit, so
 * the bounds are those of a small ext4 and of the free space under the home.
 */
import { InvalidArgumentError } from '../errors';

/**
 * MIN_SIZE_LIMIT is the smallest limit taken. Below it ext4's journal (4 MiB at this size) and
 * inode tables leave the container less than 90 % of what it asked for, and mke2fs itself
 * refuses a journal below 2,048 blocks.
 */
export const MIN_SIZE_LIMIT = 16 * 1024 * 1024;

/** SIZE_BLOCK is ext4's block size here: a limit is rounded up to whole blocks. */
export const SIZE_BLOCK = 4096;

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/**
 * parseByteSize reads "64M", "1.5g", "512MiB", "10GB" or "4096" as bytes, with binary units as
 * Docker's RAMInBytes reads `--storage-opt size`; undefined when the text is not a size.
 */
export function parseByteSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$/i.exec(text);
  if (!m) return undefined;
  const bytes = Number(m[1]) * UNITS[m[2]!.toLowerCase()]!;
  return Number.isSafeInteger(Math.ceil(bytes)) ? Math.ceil(bytes) : undefined;
}

/** formatBytes writes a byte count the short way `docker info` readers expect ("64MiB"). */
export function formatBytes(bytes: number): string {
  for (const [unit, size] of [['TiB', 1024 ** 4], ['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes >= size && bytes % (size / 1024) === 0) return `${Math.round((bytes / size) * 100) / 100}${unit}`;
  }
  return `${bytes}B`;
}

/**
 * parseSizeLimit reads the value of a size option (`option` names it in the error, as the user
 * wrote it: `--storage-opt size`, `strata.size`) and rounds it up to whole blocks. It throws
 * InvalidArgumentError for text that is not a size, for zero and for less than MIN_SIZE_LIMIT.
 */
export function parseSizeLimit(option: string, text: string): number {
  const bytes = parseByteSize(text);
  const shown = `${option}=${JSON.stringify(text)}`;
  if (bytes === undefined) throw new InvalidArgumentError(`invalid ${shown}: not a size (write a number with an optional unit k, m, g or t, such as 64M or 10G)`);
  if (bytes === 0) throw new InvalidArgumentError(`invalid ${shown}: a size limit cannot be zero`);
  if (bytes < MIN_SIZE_LIMIT) throw new InvalidArgumentError(`invalid ${shown}: below the smallest limit of ${formatBytes(MIN_SIZE_LIMIT)}, which the layer's ext4 filesystem needs for its journal and inode tables`);
  return Math.ceil(bytes / SIZE_BLOCK) * SIZE_BLOCK;
}

/** checkFreeSpace refuses a limit larger than the space free under the home (`freeBytes`). */
export function checkFreeSpace(option: string, bytes: number, freeBytes: number): void {
  if (bytes > freeBytes) {
    throw new InvalidArgumentError(`invalid ${option}=${formatBytes(bytes)}: more than the ${formatBytes(Math.floor(freeBytes / 1024) * 1024)} free on the storage driver's filesystem`);
  }
}
