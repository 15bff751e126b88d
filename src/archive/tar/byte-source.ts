/**
 * The byte source under the tar reader: exact reads, and reads of whatever is buffered, over the
 * chunks of a stream; the reader and the GNU sparse readers take their bytes from it.
 */
import { InvalidArchiveError } from '../../errors';

/**
 * ReceivedChunks is a source of chunks that can also hand out, without a promise, the chunks it
 * has already received (stream-chunks.ts makes one of a stream).
 */
export interface ReceivedChunks extends AsyncIterable<Buffer> {
  /** takeReceived returns the next chunk already received, or undefined when there is none yet */
  takeReceived(): Buffer | undefined;
}

function isReceivedChunks(input: object): input is ReceivedChunks {
  return typeof (input as Partial<ReceivedChunks>).takeReceived === 'function';
}

/** ByteSource gives exact reads over an async iterable of chunks. */
export class ByteSource {
  readonly #it: AsyncIterator<Buffer>;
  readonly #received: ReceivedChunks | undefined;
  #buf: Buffer = Buffer.alloc(0);
  #done = false;
  /** position is how many bytes of the stream have been consumed */
  position = 0;
  constructor(input: AsyncIterable<Buffer | Uint8Array | string>) {
    this.#received = isReceivedChunks(input) ? input : undefined;
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

  /** fillReceived takes, once the buffered bytes are used up, a chunk the source holds already; it tells whether there was one. */
  #fillReceived(): boolean {
    const chunk = this.#done ? undefined : this.#received?.takeReceived();
    if (chunk === undefined) return false;
    this.#buf = chunk;
    return true;
  }

  /** fill takes the next chunk once the buffered bytes are used up; it tells whether there was one. */
  async #fill(): Promise<boolean> {
    if (this.#fillReceived()) return true;
    if (this.#done) return false;
    const r = await this.#it.next();
    if (r.done) {
      this.#done = true;
      return false;
    }
    this.#buf = r.value;
    return true;
  }

  /**
   * readExact returns exactly n bytes, or null if the input ended cleanly before any byte. Bytes
   * that lie in one chunk are not copied; a block that spans chunks is put together from its
   * pieces alone (joining whole chunks copied most of a stream's bytes once more).
   */
  async readExact(n: number): Promise<Buffer | null> {
    if (n === 0) return this.#take(0);
    while (this.#buf.length === 0) if (!(await this.#fill())) return null;
    if (this.#buf.length >= n) return this.#take(n);
    const out = Buffer.allocUnsafe(n);
    let have = 0;
    while (have < n) {
      if (this.#buf.length === 0 && !this.#fillReceived() && !(await this.#fill())) throw new InvalidArchiveError('tar stream ended in the middle of a block (truncated)');
      const piece = this.#take(Math.min(n - have, this.#buf.length));
      piece.copy(out, have);
      have += piece.length;
    }
    return out;
  }

  #take(n: number): Buffer {
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    this.position += n;
    return out;
  }

  /**
   * takeBuffered returns the next n bytes (with `upTo`, the next 1 to n) when they are buffered
   * already, without waiting, and undefined otherwise; reading them then takes readExact or
   * readUpTo. Most reads of a stream find their bytes in the chunk at hand, or in the next one a
   * ReceivedChunks source holds already: none pays for a promise then.
   */
  takeBuffered(n: number, { upTo = false } = {}): Buffer | undefined {
    if (n === 0 && !upTo) return this.#take(0);
    if (this.#buf.length === 0) this.#fillReceived();
    if (this.#buf.length === 0 || (!upTo && this.#buf.length < n)) return undefined;
    return this.#take(Math.min(n, this.#buf.length));
  }

  /** readUpTo returns between 1 and max bytes without copying; it throws at an early end. */
  async readUpTo(max: number): Promise<Buffer> {
    if (this.#buf.length === 0 && !(await this.#fill())) {
      throw new InvalidArchiveError('tar stream ended in the middle of an entry (truncated)');
    }
    return this.#take(Math.min(max, this.#buf.length));
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
