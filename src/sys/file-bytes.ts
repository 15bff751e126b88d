/**
 * The bytes of a file whose size is known, read the cheapest way. A small file is read in one
 * synchronous read: a stream costs a thread-pool hop per read and one more for its end, which
 * was a third of an Apply of a small layer of a deep image. A larger one is streamed with its
 * end given, so that its buffers are the size of what is left rather than a MiB each.
 */
import { constants, readSync } from 'node:fs';
import { open } from 'node:fs/promises';

const SMALL_FILE = 256 * 1024;
const READ_CHUNK = 1024 * 1024;

/**
 * openFileBytes opens `file` without following a final symlink and gives its bytes, or says
 * undefined when it is not there as a regular file of `size` bytes.
 */
export async function openFileBytes(file: string, size: number): Promise<AsyncIterable<Buffer> | undefined> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => undefined);
  if (!handle) return undefined;
  const st = await handle.stat().catch(() => undefined);
  if (!st?.isFile() || st.size !== size) {
    await handle.close();
    return undefined;
  }
  if (size > SMALL_FILE) return handle.createReadStream({ highWaterMark: READ_CHUNK, start: 0, end: Math.max(0, size - 1), autoClose: true });
  try {
    const bytes = Buffer.allocUnsafe(size);
    for (let at = 0; at < size; ) {
      const n = readSync(handle.fd, bytes, at, size - at, at);
      if (n === 0) return undefined;
      at += n;
    }
    return (async function* () {
      yield bytes;
    })();
  } finally {
    await handle.close();
  }
}
