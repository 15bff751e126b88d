/** Copying a file's bytes into a tar being written, straight into the writer's output buffers. */
import fs from 'node:fs';
import type { TarWriter } from './tar/writer';

/**
 * fileData writes `size` bytes of the file open as `fd` as an entry's data, yielding output
 * buffers as they fill. A file that shrank while it was read is padded with zeros, so that the
 * archive stays well formed (a running container may change files under a diff).
 */
export function* fileData(writer: TarWriter, fd: number, size: number): Generator<Buffer> {
  let left = size;
  let shrunk = false;
  while (left > 0) {
    const target = writer.space(left);
    const n = shrunk ? 0 : fs.readSync(fd, target, 0, target.length, null);
    if (n === 0) shrunk = true;
    const written = shrunk ? target.fill(0).length : n;
    writer.commit(written);
    left -= written;
    yield* writer.takeFilled();
  }
  writer.endData(size);
}
