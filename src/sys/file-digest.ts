/**
 * The SHA-256 of a file, computed on a worker thread. Hashing runs at about 1.1 GB/s here, as
 * slow as everything else an Apply of a large uncompressed layer does together; on a thread of
 * its own it runs beside the extraction rather than in its path. One worker serves every
 * request in turn; it is started on the first and does not keep the process alive, and one that
 * died is started again on the next.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { DigestAnswer, DigestRequest } from './file-digest-worker';

const WORKER = path.join(__dirname, 'file-digest-worker.js');

export class FileDigests {
  #worker: Worker | undefined;
  #nextId = 1;
  readonly #waiting = new Map<number, { resolve: (digest: string) => void; reject: (err: Error) => void }>();

  /** digest hashes `file`, which must be a regular file of `size` bytes from start to end; what fails is an Error naming the cause, not the path. */
  digest(file: string, size: number): Promise<string> {
    const id = this.#nextId++;
    const answered = new Promise<string>((resolve, reject) => this.#waiting.set(id, { resolve, reject }));
    this.#started().postMessage({ id, file, size } satisfies DigestRequest);
    return answered;
  }

  #started(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(WORKER);
    worker.unref();
    worker.on('message', (answer: DigestAnswer) => {
      const waiter = this.#waiting.get(answer.id);
      this.#waiting.delete(answer.id);
      if ('digest' in answer) waiter?.resolve(answer.digest);
      else waiter?.reject(new Error(`the file to digest ${answer.error}`));
    });
    const failAll = (err: Error) => {
      if (this.#worker === worker) this.#worker = undefined;
      for (const waiter of this.#waiting.values()) waiter.reject(err);
      this.#waiting.clear();
    };
    worker.on('error', failAll);
    worker.on('exit', (code) => failAll(new Error(`the digest worker exited (${code})`)));
    this.#worker = worker;
    return worker;
  }

  /** close stops the worker; digests in progress fail. */
  async close(): Promise<void> {
    await this.#worker?.terminate();
  }
}
