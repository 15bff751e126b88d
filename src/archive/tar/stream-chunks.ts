/**
 * The chunks of a readable stream as they arrive, for the tar reader. dockerd sends a layer as
 * one HTTP chunk per tar header, per piece of file data and per padding (59k chunks for the 10k
 * files of a Debian layer). Read through the stream's async iterator, each chunk cost three
 * promises, and whatever had piled up meanwhile was joined into a new buffer; that doubled the
 * CPU of such an ApplyDiff. Here chunks wait in a queue from which the reader takes those already
 * received without a promise, and the stream pauses while the queue holds `highWaterMark` bytes.
 */
import { finished, type Readable } from 'node:stream';
import type { ReceivedChunks } from './byte-source';

const DEFAULT_HIGH_WATER_MARK = 512 * 1024;

export class StreamChunks implements ReceivedChunks {
  readonly #stream: Readable;
  readonly #highWaterMark: number;
  readonly #queue: Buffer[] = [];
  #queuedBytes = 0;
  #ended = false;
  #failure: { error: unknown } | undefined;
  #stopped = false;
  #wake: (() => void) | undefined;
  readonly #onData = (chunk: Buffer | string): void => {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.#queue.push(buf);
    this.#queuedBytes += buf.length;
    this.bytes += buf.length;
    if (this.#queuedBytes >= this.#highWaterMark) this.#stream.pause();
    this.#wakeUp();
  };
  /** bytes is how many bytes have arrived so far */
  bytes = 0;

  constructor(stream: Readable, highWaterMark = DEFAULT_HIGH_WATER_MARK) {
    this.#stream = stream;
    this.#highWaterMark = highWaterMark;
    stream.on('data', this.#onData);
    // finished() tells an end from an abort (a closed connection, a destroyed stream).
    finished(stream, (err) => {
      if (err) this.#failure = { error: err };
      else this.#ended = true;
      this.#wakeUp();
    });
  }

  takeReceived(): Buffer | undefined {
    const chunk = this.#queue.shift();
    if (chunk === undefined) return undefined;
    this.#queuedBytes -= chunk.length;
    if (this.#queuedBytes < this.#highWaterMark / 2 && this.#stream.isPaused() && !this.#stopped) this.#stream.resume();
    return chunk;
  }

  /**
   * stop detaches from the stream and drops what is queued: a reader that gave up must not have
   * the rest of a body (which the HTTP server then reads and discards) pile up here.
   */
  stop(): void {
    this.#stopped = true;
    this.#stream.off('data', this.#onData);
    this.#queue.length = 0;
    this.#queuedBytes = 0;
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return { next: () => this.#next() };
  }

  async #next(): Promise<IteratorResult<Buffer>> {
    for (;;) {
      const chunk = this.takeReceived();
      if (chunk !== undefined) return { done: false, value: chunk };
      if (this.#failure) throw this.#failure.error;
      if (this.#ended || this.#stopped) return { done: true, value: undefined };
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
