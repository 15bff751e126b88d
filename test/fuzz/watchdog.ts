/**
 * A watchdog for inputs that never return: an async hang is caught by the engine's timeout,
 * but a synchronous loop (a regular expression that backtracks forever, say) blocks the event
 * loop, timers included. A worker thread watches a shared exec counter; when it has not moved
 * for HANG_SECONDS it writes the running input out and kills the process.
 */
import { Worker } from 'node:worker_threads';

const HANG_SECONDS = 30;

const WATCHER = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { counter, input, file, seconds } = workerData;
const state = new Int32Array(counter);
let last = -1;
let still = 0;
setInterval(() => {
  const now = Atomics.load(state, 0);
  still = now === last ? still + 1 : 0;
  last = now;
  if (still < seconds) return;
  const length = Atomics.load(state, 1);
  fs.writeFileSync(file, Buffer.from(input, 0, length));
  fs.writeFileSync(file + '.txt', 'one input ran for more than ' + seconds + ' s without returning (a synchronous hang)\\n');
  process.stderr.write('FAILURE: a synchronous hang, input written to ' + file + '\\n');
  process.kill(process.pid, 'SIGKILL');
}, 1000);
`;

/** Watchdog keeps the running input where its thread can write it out. */
export class Watchdog {
  readonly #state: Int32Array;
  readonly #input: Uint8Array;
  readonly #worker: Worker;

  constructor(maxLength: number, file: string) {
    const counter = new SharedArrayBuffer(8);
    const input = new SharedArrayBuffer(maxLength);
    this.#state = new Int32Array(counter);
    this.#input = new Uint8Array(input);
    this.#worker = new Worker(WATCHER, { eval: true, workerData: { counter, input, file, seconds: HANG_SECONDS } });
    this.#worker.unref();
  }

  /** running records the input that is about to run. */
  running(data: Buffer): void {
    const n = Math.min(data.length, this.#input.length);
    this.#input.set(data.subarray(0, n));
    Atomics.store(this.#state, 1, n);
    Atomics.add(this.#state, 0, 1);
  }

  async close(): Promise<void> {
    await this.#worker.terminate();
  }
}
