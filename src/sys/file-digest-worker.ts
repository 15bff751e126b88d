/**
 * The worker thread of file-digest: for each request, the SHA-256 of one file read in MiB
 * pieces into one buffer (no garbage per piece), opened here without following a final symlink,
 * and only if it is a regular file of the expected size, which it must still be at the end.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

export interface DigestRequest {
  id: number;
  file: string;
  size: number;
}

export type DigestAnswer = { id: number; digest: string } | { id: number; error: string };

const buffer = Buffer.allocUnsafe(1024 * 1024);

function digestOf(file: string, size: number): string {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size !== size) throw new Error(`is not a file of ${size} bytes`);
    const hash = createHash('sha256');
    let read = 0;
    for (let n = readSync(fd, buffer, 0, buffer.length, read); n > 0; n = readSync(fd, buffer, 0, buffer.length, read)) {
      hash.update(buffer.subarray(0, n));
      read += n;
    }
    if (read !== size) throw new Error(`held ${read} bytes, not ${size}`);
    return `sha256:${hash.digest('hex')}`;
  } finally {
    closeSync(fd);
  }
}

parentPort!.on('message', ({ id, file, size }: DigestRequest) => {
  let answer: DigestAnswer;
  try {
    answer = { id, digest: digestOf(file, size) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    answer = { id, error: code ? `could not be read (${code})` : (err as Error).message };
  }
  parentPort!.postMessage(answer);
});
