/**
 * A `strata snapshotter` process for tests, from this checkout's build, on its own socket and
 * root, killed and restarted by pid; and a promise-shaped gRPC client of containerd's snapshot
 * service built from the same .proto files (so field numbers are checked against containerd's
 * real clients by the containerd-tier tests, not here).
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { credentials, type Client, type ServiceError } from '@grpc/grpc-js';
import { snapshotsServiceClass } from '../../src/snapshots/server';
import { CliProcess } from './strata-process';

/** SnapshotterProcess is `strata snapshotter` on its own socket and root. */
export class SnapshotterProcess extends CliProcess {
  readonly root: string;

  constructor(readonly dir: string, options: { socket?: string; root?: string } = {}) {
    const socket = options.socket ?? path.join(dir, 'snapshotter.sock');
    const root = options.root ?? path.join(dir, 'root');
    super(socket, path.join(dir, 'snapshotter.log'), ['snapshotter', '--socket', socket, '--root', root, '--log-level', 'debug']);
    this.root = root;
  }
}

/** catalogIds reads the snapshot ids straight from a snapshotter's catalog (read-only, beside a running Strata). */
export function catalogIds(root: string): number[] {
  const db = new DatabaseSync(path.join(root, 'metadata.db'), { readOnly: true });
  try {
    return (db.prepare('SELECT id FROM snapshots ORDER BY id').all() as Array<{ id: number }>).map((r) => r.id);
  } finally {
    db.close();
  }
}

/** snapshotDirIds lists the ids that have a directory under the snapshotter root's snapshots/. */
export function snapshotDirIds(root: string): number[] {
  return readdirSync(path.join(root, 'snapshots')).map(Number).sort((a, b) => a - b);
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
