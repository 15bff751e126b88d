/**
 * Snapshotter call latency with thousands of snapshots in the store: Prepare, Stat and List,
 * timed one call at a time from a gRPC client of containerd's snapshot service
 * (containerd.services.snapshots.v1.Snapshots, from Strata's own .proto files).
 *
 * The same service answers on three sockets:
 *   - Strata's own socket (a `strata snapshotter` no containerd uses, so no GC removes what
 *     the bench made there): what a call costs inside Strata and its gRPC server;
 *   - containerd's socket, snapshotter `strata` (the proxy plugin): what a containerd client
 *     pays, containerd's metadata store plus the proxy hop to Strata;
 *   - containerd's socket, snapshotter `overlayfs`: the reference, containerd's built-in
 *     snapshotter behind the same metadata store, in process.
 * Calls to containerd carry the namespace as `containerd-namespace` metadata; containerd adds
 * the `<namespace>/<n>/` prefix to keys before the backend sees them.
 */
import { randomBytes } from 'node:crypto';
import { credentials, Metadata, type Client, type ServiceError } from '@grpc/grpc-js';
import { grpcService } from '../src/grpc/services';
import { timeMs } from './measure';

type Message = Record<string, unknown>;

/** GC_ROOT keeps containerd's GC from collecting what the bench made (nothing else refers to it). */
const GC_ROOT = { 'containerd.io/gc.root': 'strata-bench' };
/** CHAIN is how many committed snapshots each chain of the populated store has, like an image's layers. */
const CHAIN = 10;
const POPULATE_CONCURRENCY = 4;

/** SnapshotService is a promise-shaped client of one snapshotter behind one socket. */
export class SnapshotService {
  readonly #client: Client & Record<string, (...args: unknown[]) => unknown>;
  /** committed snapshots made by `populate`, by the name this client uses */
  readonly committed: string[] = [];
  #seq = 0;

  /**
   * `snapshotter` goes in every request; `namespace` (for containerd's socket) goes in the
   * call metadata; `direct` (Strata's own socket) makes keys with containerd's `<ns>/<n>/` prefix.
   */
  constructor(socket: string, readonly snapshotter: string, readonly namespace?: string, readonly direct = false) {
    const Service = grpcService('snapshots');
    this.#client = new Service(`unix:${socket}`, credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 * 1024 * 1024 }) as unknown as Client & Record<string, (...args: unknown[]) => unknown>;
  }

  #metadata(): Metadata {
    const m = new Metadata();
    if (this.namespace) m.set('containerd-namespace', this.namespace);
    return m;
  }

  /** key makes a fresh key the way its caller would: containerd's backend keys on Strata's socket, client keys on containerd's. */
  key(name: string): string {
    return this.direct ? `bench-calls/${++this.#seq}/${name}` : name;
  }

  call(method: string, request: Message): Promise<Message> {
    return new Promise((resolve, reject) => {
      this.#client[method]!({ snapshotter: this.snapshotter, ...request }, this.#metadata(), { deadline: Date.now() + 120_000 }, (err: ServiceError | null, reply: Message) => {
        if (err) reject(new Error(`${method} on ${this.snapshotter}: ${err.details} (code ${err.code})`));
        else resolve(reply);
      });
    });
  }

  /** list streams the whole List and returns how many snapshots it named. */
  list(): Promise<number> {
    return new Promise((resolve, reject) => {
      let n = 0;
      const stream = this.#client.List!({ snapshotter: this.snapshotter, filters: [] }, this.#metadata(), { deadline: Date.now() + 300_000 }) as NodeJS.EventEmitter;
      stream.on('data', (m: { info: Message[] }) => (n += m.info.length));
      stream.on('error', (err: ServiceError) => reject(new Error(`List on ${this.snapshotter}: ${err.details} (code ${err.code})`)));
      stream.on('end', () => resolve(n));
    });
  }

  /** populate commits `count` snapshots in chains of CHAIN (a Prepare and a Commit each), a few chains at a time. */
  async populate(count: number): Promise<void> {
    const chains = Math.ceil(count / CHAIN);
    let next = 0;
    const worker = async () => {
      for (let c = next++; c < chains; c = next++) {
        let parent = '';
        for (let i = 0; i < CHAIN && c * CHAIN + i < count; i++) {
          const tag = randomBytes(32).toString('hex');
          const key = this.key(`extract-${Date.now()}${i} sha256:${tag}`);
          const name = this.key(`sha256:${tag}`);
          await this.call('Prepare', { key, parent, labels: GC_ROOT });
          await this.call('Commit', { name, key, labels: GC_ROOT });
          this.committed.push(name);
          parent = name;
        }
      }
    };
    await Promise.all(Array.from({ length: POPULATE_CONCURRENCY }, worker));
  }

  /** timedPrepares times `n` Prepares of fresh active snapshots on committed parents, then removes them (untimed). */
  async timedPrepares(n: number): Promise<number[]> {
    const made: string[] = [];
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const key = this.key(`${randomBytes(32).toString('hex')}`);
      const parent = this.committed[(i * 7919) % this.committed.length]!;
      out.push(await timeMs(() => this.call('Prepare', { key, parent, labels: GC_ROOT })));
      made.push(key);
    }
    for (const key of made) await this.call('Remove', { key });
    return out;
  }

  /** timedStats times `n` Stats of committed snapshots spread over the store. */
  async timedStats(n: number, round: number): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const key = this.committed[(round * 104_729 + i * 7919) % this.committed.length]!;
      out.push(await timeMs(() => this.call('Stat', { key })));
    }
    return out;
  }

  /** timedLists times `n` unfiltered Lists (what containerd's GC sends), checking that each names at least `atLeast`. */
  async timedLists(n: number, atLeast: number): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      let listed = 0;
      out.push(await timeMs(async () => void (listed = await this.list())));
      if (listed < atLeast) throw new Error(`List on ${this.snapshotter} named ${listed} snapshots, expected at least ${atLeast}`);
    }
    return out;
  }

  close(): void {
    this.#client.close();
  }
}
