/**
 * The servers' log destination: stderr, written once per burst of lines rather than once per
 * line. dockerd makes eight GraphDriver calls for one `docker create` + `docker rm` (and
 * containerd a Prepare, an Apply and a Commit per layer it unpacks), each
 * logging a line; a write per line (a hand-off to libuv's thread pool, a wake-up of the
 * reader, a completion back on the event loop) cost about 0.5 ms of CPU per create + rm, a
 * tenth of what Strata spends on it. Lines wait at most LINGER_MS, and what is buffered is
 * written when the process exits (a SIGKILL loses the last LINGER_MS of lines).
 */
import pino, { type DestinationStream } from 'pino';

/** LINGER_MS is the longest a line waits in the buffer. */
export const LINGER_MS = 10;
// Written at once when this much is buffered (sonic-boom's minLength).
const BATCH_BYTES = 8192;

/** LingeringDestination buffers pino lines for `fd` (stderr by default) and writes them LINGER_MS after the first. */
export class LingeringDestination implements DestinationStream {
  // pino.destination's sonic-boom writes what is buffered when the process exits.
  readonly #out: ReturnType<typeof pino.destination>;
  #timer: NodeJS.Timeout | undefined;

  constructor(fd = 2) {
    this.#out = pino.destination({ fd, sync: false, minLength: BATCH_BYTES });
  }

  write(line: string): void {
    this.#out.write(line);
    this.#timer ??= setTimeout(() => this.flush(), LINGER_MS).unref();
  }

  /** flush writes what is buffered now; `done` runs once it is written. */
  flush(done?: (err?: Error) => void): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#out.flush(done);
  }
}
