/**
 * A streaming tar writer producing what Go's archive/tar produces for Docker: USTAR headers,
 * a PAX header only where USTAR cannot hold a value, and the two-block end marker.
 */
import { BLOCK, encodeHeader, padding, type HeaderFields } from './tar-header';

/** TarWriter collects output chunks; the caller drains `take()` to apply backpressure. */
export class TarWriter {
  #chunks: Buffer[] = [];
  #pending = 0;

  /** header queues the header of one entry; file data must follow with data() for `size` bytes. */
  header(fields: HeaderFields): void {
    this.#push(encodeHeader(fields));
  }

  data(chunk: Buffer): void {
    this.#push(chunk);
  }

  /** endData pads the entry's data to the block boundary. */
  endData(size: number): void {
    const pad = padding(size);
    if (pad) this.#push(Buffer.alloc(pad));
  }

  finish(): void {
    this.#push(Buffer.alloc(BLOCK * 2));
  }

  /** pendingBytes is how much output is queued. */
  get pendingBytes(): number {
    return this.#pending;
  }

  /** take returns the queued output as one buffer and empties the queue. */
  take(): Buffer {
    const out = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    this.#chunks = [];
    this.#pending = 0;
    return out;
  }

  #push(b: Buffer): void {
    this.#chunks.push(b);
    this.#pending += b.length;
  }
}
