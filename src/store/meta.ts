/**
 * Small metadata files of a layer: written atomically (temp file + rename), read forgivingly.
 * The calls are synchronous: each is a few microseconds of syscall, less than a thread-pool
 * hop costs on a busy host, and they sit on the path of every docker run.
 */
import { randomBytes } from 'node:crypto';
import { lstatSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { errnoOf } from '../errors';

/** writeFileAtomic replaces `file` with `content` so readers see the old or the new, never half. */
export function writeFileAtomic(file: string, content: string, mode = 0o644): void {
  const tmp = `${file}.tmp-${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(tmp, content, { mode });
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** readOptional returns a file's text, or undefined when it does not exist. */
export function readOptional(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** pathExists tells whether anything (even a dangling symlink) exists at `p`; any error means no. */
export function pathExists(p: string): boolean {
  try {
    return lstatSync(p, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false; // ENOTDIR (a file on the way), EACCES, ...
  }
}
