/**
 * The byte source under the tar reader: exact reads, and reads of whatever is buffered, over the
 * chunks of a stream; the reader and the GNU sparse readers take their bytes from it.
 */
import { InvalidArchiveError } from '../../errors';

/** ByteSource gives exact reads over an async iterable of chunks. */
export class ByteSource {
  readonly #it: AsyncIterator<Buffer>;
  #buf: Buffer = Buffer.alloc(0);
  #done = false;
  /** position is how many bytes of the stream have been consumed */
  position = 0;
  constructor(input: AsyncIterable<Buffer | Uint8Array | string>) {
    const inner = input[Symbol.asyncIterator]();
    this.#it = {
      next: async () => {
        const r = await inner.next();
        if (r.done) return r;
        const v = r.value;
        return { done: false, value: typeof v === 'string' ? Buffer.from(v) : Buffer.isBuffer(v) ? v : Buffer.from(v) };
      },
    };
  }

  async #fill(): Promise<boolean> {
    if (this.#done) return false;
    const r = await this.#it.next();
    if (r.done) {
      this.#done = true;
      return false;
    }
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, r.value]) : r.value;
    return true;
  }

  /** readExact returns exactly n bytes, or null if the input ended cleanly before any byte. */
  async readExact(n: number): Promise<Buffer | null> {
    while (this.#buf.length < n) {
      if (!(await this.#fill())) {
        if (this.#buf.length === 0) return null;
        throw new InvalidArchiveError('tar stream ended in the middle of a block (truncated)');
      }
    }
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    this.position += n;
    return out;
  }

  /** readUpTo returns between 1 and max bytes without copying; it throws at an early end. */
  async readUpTo(max: number): Promise<Buffer> {
    if (this.#buf.length === 0 && !(await this.#fill())) {
      throw new InvalidArchiveError('tar stream ended in the middle of an entry (truncated)');
    }
    const n = Math.min(max, this.#buf.length);
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    this.position += n;
    return out;
  }

  async skip(n: number): Promise<void> {
    while (n > 0) n -= (await this.readUpTo(n)).length;
  }

  /** drain consumes whatever follows the archive (dockerd may send padding). */
  async drain(): Promise<void> {
    this.#buf = Buffer.alloc(0);
    while (await this.#fill()) this.#buf = Buffer.alloc(0);
  }
}
