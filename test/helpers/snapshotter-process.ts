/**
 * A `strata snapshotter` process for tests, from this checkout's build, on its own socket and
 * root, killed and restarted by pid; and a promise-shaped gRPC client of containerd's snapshot
 * service built from the same .proto files (so field numbers are checked against containerd's
 * real clients by the containerd-tier tests, not here).
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { ServiceError } from '@grpc/grpc-js';
import { GrpcClient, type CallError, type Message } from './grpc-client';
import { CliProcess } from './strata-process';

/** SnapshotterProcess is `strata snapshotter` on its own socket and root. */
export type { CallError };

export class SnapshotterProcess extends CliProcess {
  readonly root: string;

  /**
   * `args` are further flags of `strata snapshotter`, e.g. ['--default-size-limit', '32M'];
   * `hiddenDir` is a directory the process sees empty (an empty tmpfs over it in a mount namespace of its own).
   */
  constructor(readonly dir: string, options: { socket?: string; root?: string; containerdAddress?: string; args?: readonly string[]; hiddenDir?: string } = {}) {
    const socket = options.socket ?? path.join(dir, 'snapshotter.sock');
    const root = options.root ?? path.join(dir, 'root');
    const containerd = options.containerdAddress ? ['--containerd-address', options.containerdAddress] : [];
    const hiding = options.hiddenDir ? ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs tmpfs "$0" && exec "$@"', options.hiddenDir] : [];
    super(socket, path.join(dir, 'snapshotter.log'), ['snapshotter', '--socket', socket, '--root', root, '--log-level', 'debug', ...containerd, ...(options.args ?? [])], hiding);
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

/** SnapshotClient calls the snapshot service (on a snapshotter's socket, or containerd's with a namespace). */
export class SnapshotClient extends GrpcClient {
  constructor(socket: string, namespace?: string, lease?: string) {
    super(socket, 'snapshots', namespace, lease);
  }

  /** list collects the whole List stream. */
  list(filters: string[] = []): Promise<Message[]> {
    return new Promise((resolve, reject) => {
      const infos: Message[] = [];
      const stream = this.stream('List', { snapshotter: 'strata', filters });
      stream.on('data', (m: { info: Message[] }) => infos.push(...m.info));
      stream.on('error', (err: ServiceError) => reject({ code: err.code, details: err.details } satisfies CallError));
      stream.on('end', () => resolve(infos));
    });
  }
}
