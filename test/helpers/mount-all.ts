/** Performing a snapshotter's mount descriptions in tests, and filling a filesystem to its end. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Mount } from '../../src/core/snapshots';

/**
 * mountInNewDir performs the described mounts on a new directory under `parent`, as containerd's
 * mount.All does, and returns it (the caller unmounts them; makeTmpDir does at the end).
 */
export function mountInNewDir(parent: string, mounts: readonly Mount[]): string {
  const target = fs.mkdtempSync(path.join(parent, 'm-'));
  for (const m of mounts) {
    const args = m.type === 'bind' ? ['-o', m.options.join(','), m.source, target] : ['-t', m.type, '-o', m.options.join(','), m.source, target];
    execFileSync('mount', args);
  }
  return target;
}

/** fillFile writes 1 MiB chunks into `file` until the filesystem refuses; it returns the bytes written and the error code. */
export function fillFile(file: string): { bytes: number; code: string | undefined } {
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(1024 * 1024, 7);
  let bytes = 0;
  try {
    for (;;) bytes += fs.writeSync(fd, chunk);
  } catch (err) {
    return { bytes, code: (err as NodeJS.ErrnoException).code };
  } finally {
    fs.closeSync(fd);
  }
}
