/**
 * A streaming tar writer producing what Go's archive/tar produces for Docker: USTAR headers,
 * a PAX header only where USTAR cannot hold a value, and the two-block end marker.
 */
import { BLOCK, padding, type HeaderFields } from './entry';
import { encodeHeader, writeUstarHeader } from './header-encode';

/** CHUNK_SIZE is the size of the output buffers: large enough that per-chunk costs vanish, small enough to bound memory. */
const CHUNK_SIZE = 1024 * 1024;

/**
 * TarWriter writes the archive into fixed-size output buffers, so that file data can be read
 * straight into place (space/commit) instead of being copied or concatenated. The caller drains
 * takeFilled() (or take()) to apply backpressure.
 */
export class TarWriter {
  // The buffer being filled: bytes before #start were handed out by take(), #start..#used are queued.
  #chunk: Buffer | undefined;
  #start = 0;
  #used = 0;
  #filled: Buffer[] = [];
  #filledBytes = 0;

  /** header queues the header of one entry; file data must follow with data() for `size` bytes. */
  header(fields: HeaderFields): void {
    // Headers start on block boundaries, so the block fits in place unless data was left unpadded.
    const block = this.space(BLOCK);
    if (block.length === BLOCK && writeUstarHeader(fields, block)) this.commit(BLOCK);
    else this.data(encodeHeader(fields));
  }

  data(bytes: Buffer): void {
    for (let off = 0; off < bytes.length; ) {
      const target = this.space(bytes.length - off);
      off += bytes.copy(target, 0, off);
      this.commit(target.length);
    }
  }

  /** space returns where the next bytes go (at most `max`, at least 1); commit() says how many were written. */
  space(max: number): Buffer {
    if (!this.#chunk || this.#used === this.#chunk.length) {
      this.#chunk = Buffer.allocUnsafe(CHUNK_SIZE); // every byte is written before it is handed out
      this.#start = this.#used = 0;
    }
    return this.#chunk.subarray(this.#used, Math.min(this.#used + max, this.#chunk.length));
  }

  /** commit queues `n` bytes written into the buffer space() returned. */
  commit(n: number): void {
    this.#used += n;
    if (this.#used === this.#chunk!.length) {
      this.#filled.push(this.#chunk!.subarray(this.#start));
      this.#filledBytes += this.#used - this.#start;
      this.#start = this.#used;
    }
  }

  /** endData pads the entry's data to the block boundary. */
  endData(size: number): void {
    this.#zeros(padding(size));
  }

  finish(): void {
    this.#zeros(BLOCK * 2);
  }

  /** pendingBytes is how much output is queued. */
  get pendingBytes(): number {
    return this.#filledBytes + this.#used - this.#start;
  }

  /** takeFilled returns the output buffers filled so far (without copying) and removes them from the queue. */
  takeFilled(): Buffer[] {
    const filled = this.#filled;
    this.#filled = [];
    this.#filledBytes = 0;
    return filled;
  }

  /** take returns the queued output as one buffer and empties the queue. */
  take(): Buffer {
    const partial = this.#chunk ? this.#chunk.subarray(this.#start, this.#used) : Buffer.alloc(0);
    this.#start = this.#used;
    const filled = this.takeFilled();
    return filled.length === 0 ? partial : Buffer.concat([...filled, partial]);
  }

  #zeros(n: number): void {
    while (n > 0) {
      const target = this.space(n).fill(0);
      this.commit(target.length);
      n -= target.length;
    }
  }
}
