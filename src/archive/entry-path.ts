/**
 * Path policy for tar entries (pure, no IO). Names are byte strings (latin1). A name is cleaned
 * the way Go's filepath.Clean does; an absolute name is taken relative to the layer root (as
 * Docker's chroot does), and a relative name whose ".." climbs above the root is refused.
 */
import { UnsafeArchiveError } from '../errors';

/** MAX_NAME_BYTES is Linux's PATH_MAX: nothing longer can be created anyway. */
export const MAX_NAME_BYTES = 4096;

/**
 * layerRelative turns an entry name into a path relative to the layer root ('' is the root
 * itself). It throws UnsafeArchiveError for names that leave the root or cannot be paths,
 * naming `entry` (the tar entry the name belongs to, e.g. a hardlink whose target this is).
 */
export function layerRelative(name: string, what = 'entry', entry = name): string {
  const refuse = (reason: string) => new UnsafeArchiveError(entry.length > MAX_NAME_BYTES ? entry.slice(0, 64) + '…' : entry, reason);
  if (name.includes('\0')) throw refuse(`${what} name contains a NUL byte`);
  if (name.length > MAX_NAME_BYTES) throw refuse(`${what} name is longer than ${MAX_NAME_BYTES} bytes`);
  const absolute = name.startsWith('/');
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length > 0) parts.pop();
      else if (!absolute) throw refuse(`${what} climbs above the layer root with '..'`);
      continue;
    }
    parts.push(part);
  }
  return parts.join('/');
}

/** parentOf returns the parent of a layer-relative path ('' for top-level names). */
export function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i === -1 ? '' : rel.slice(0, i);
}

/** baseOf returns the last component of a layer-relative path. */
export function baseOf(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

/** joinRel joins a layer-relative directory and a name. */
export function joinRel(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** isWithin tells whether `rel` is `dir` or below it (both layer-relative). */
export function isWithin(rel: string, dir: string): boolean {
  return dir === '' || rel === dir || rel.startsWith(dir + '/');
}

/** ByteRoot turns layer-relative byte-string paths into absolute Buffer paths for fs calls. */
export class ByteRoot {
  readonly #prefix: string;
  constructor(readonly root: string) {
    this.#prefix = Buffer.from(root, 'utf8').toString('latin1');
  }
  path(rel: string): Buffer {
    return Buffer.from(rel === '' ? this.#prefix : `${this.#prefix}/${rel}`, 'latin1');
  }
}

/** toUtf8 turns a byte-string path into text for JSON (invalid UTF-8 becomes U+FFFD, as in Go). */
export function toUtf8(bytes: string): string {
  return Buffer.from(bytes, 'latin1').toString('utf8');
}
