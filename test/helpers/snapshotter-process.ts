/**
 * A `strata snapshotter` process for tests, from this checkout's build, on its own socket and
 * root, killed and restarted by pid; and a promise-shaped gRPC client of containerd's snapshot
 * service built from the same .proto files (so field numbers are checked against containerd's
 * real clients by the containerd-tier tests, not here).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { credentials, type Client, type ServiceError } from '@grpc/grpc-js';
import { snapshotsServiceClass } from '../../src/snapshots/server';
import { SERVE_NODE_ARGS } from '../../src/node-args';
import { socketAnswers } from './dockerd';

const CLI = path.resolve(__dirname, '..', '..', 'src', 'cli.js');

export class SnapshotterProcess {
  #child?: ChildProcess;
  readonly socket: string;
  readonly root: string;
  readonly logFile: string;

  constructor(readonly dir: string, options: { socket?: string; root?: string } = {}) {
    this.socket = options.socket ?? path.join(dir, 'snapshotter.sock');
    this.root = options.root ?? path.join(dir, 'root');
    this.logFile = path.join(dir, 'snapshotter.log');
  }

  /** start runs `strata snapshotter` and waits until it answers on its socket. */
  async start(): Promise<void> {
    const log = createWriteStream(this.logFile, { flags: 'a' });
    const child = spawn(process.execPath, [...SERVE_NODE_ARGS, CLI, 'snapshotter', '--socket', this.socket, '--root', this.root, '--log-level', 'debug'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    this.#child = child;
    const deadline = Date.now() + 20_000;
    while (!(await socketAnswers(this.socket))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`strata snapshotter did not start (see ${this.logFile})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  get pid(): number | undefined {
    return this.#child?.exitCode === null ? this.#child.pid : undefined;
  }

  /** kill sends a signal to this process only and waits for it to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }
}

/** A gRPC status as a test sees it: the code and the message. */
export interface CallError {
  code: number;
  details: string;
}

type Message = Record<string, unknown>;

/** SnapshotClient calls the snapshot service; unary calls resolve with the reply or reject with a CallError. */
export class SnapshotClient {
  readonly #client: Client & Record<string, (...args: unknown[]) => unknown>;

  constructor(socket: string) {
    const Service = snapshotsServiceClass();
    this.#client = new Service(`unix:${socket}`, credentials.createInsecure()) as unknown as Client & Record<string, (...args: unknown[]) => unknown>;
  }

  call(method: string, request: Message): Promise<Message> {
    return new Promise((resolve, reject) => {
      this.#client[method]!(request, { deadline: Date.now() + 30_000 }, (err: ServiceError | null, reply: Message) => {
        if (err) reject({ code: err.code, details: err.details } satisfies CallError);
        else resolve(reply);
      });
    });
  }

  /** list collects the whole List stream. */
  list(filters: string[] = []): Promise<Message[]> {
    return new Promise((resolve, reject) => {
      const infos: Message[] = [];
      const stream = this.#client.List!({ snapshotter: 'strata', filters }) as NodeJS.EventEmitter;
      stream.on('data', (m: { info: Message[] }) => infos.push(...m.info));
      stream.on('error', (err: ServiceError) => reject({ code: err.code, details: err.details } satisfies CallError));
      stream.on('end', () => resolve(infos));
    });
  }

  /** failure returns the CallError of a call that must fail (and throws if it succeeded). */
  async failure(method: string, request: Message): Promise<CallError> {
    try {
      await this.call(method, request);
    } catch (err) {
      return err as CallError;
    }
    throw new Error(`${method} ${JSON.stringify(request).slice(0, 200)} succeeded but should have failed`);
  }

  close(): void {
    this.#client.close();
  }
}
