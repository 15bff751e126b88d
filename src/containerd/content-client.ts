/**
 * containerd's content store as the differ reaches it: a gRPC client of containerd's content and
 * lease services on containerd's socket. Every call names its namespace in the
 * `containerd-namespace` header, and writes name a lease in `containerd-lease`: the caller's when
 * it sent one, else one of ours that containerd's garbage collector drops after `leaseTtlMs`, so
 * that a blob we wrote survives until whoever asked for it references it (a differ's callers
 * send no lease: containerd does not pass theirs on).
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { Metadata, credentials, status, type Client, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import type { BlobInfo, ContentScope, ContentStore, ContentStores, OpenBlob, WrittenBlob } from '../core/content';
import type { Labels } from '../core/snapshots';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError, StrataError, UpstreamError } from '../errors';
import { grpcService } from '../grpc/services';
import { contentRootOf, openBlob, pluginsFilter } from './content-files';

const NAMESPACE_HEADER = 'containerd-namespace';
const LEASE_HEADER = 'containerd-lease';
const EXPIRE_LABEL = 'containerd.io/gc.expire';
/** WRITE_CHUNK is the data per write message: well under containerd's 16 MiB message limit. */
const WRITE_CHUNK = 1024 * 1024;
const EMPTY_DIGEST = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** WriteAnswer is the part of containerd's answer to a write message that the writer reads. */
interface WriteAnswer {
  offset: string;
  digest: string;
}

export interface ContainerdContentOptions {
  /** containerd's socket */
  address: string;
  /** how long a lease of ours keeps the blobs written under it */
  leaseTtlMs: number;
  /** told once where containerd keeps its blobs (undefined: it named no directory) */
  onContentRoot?: (root: string | undefined) => void;
}

/** ContainerdContent opens the clients once; `stores` gives a store per namespace and lease. */
export class ContainerdContent {
  readonly #content: Client & Record<string, CallableFunction>;
  readonly #leases: Client & Record<string, CallableFunction>;
  readonly #introspection: Client & Record<string, CallableFunction>;
  readonly #opts: ContainerdContentOptions;
  #contentRoot: Promise<string | undefined> | undefined;

  constructor(opts: ContainerdContentOptions) {
    this.#opts = opts;
    const target = `unix:${opts.address}`;
    // A window of 16 MiB rather than HTTP/2's 64 KiB: a layer read from containerd would otherwise wait for a window update every 64 KiB.
    const channelOptions = { 'grpc.max_receive_message_length': 16 * 1024 * 1024, 'grpc.enable_channelz': 0, 'grpc-node.flow_control_window': 16 * 1024 * 1024 };
    const Content = grpcService('content');
    const Leases = grpcService('leases');
    this.#content = new Content(target, credentials.createInsecure(), channelOptions) as never;
    this.#leases = new Leases(target, credentials.createInsecure(), { ...channelOptions, channelOverride: this.#content.getChannel() }) as never;
    const Introspection = grpcService('introspection');
    this.#introspection = new Introspection(target, credentials.createInsecure(), { ...channelOptions, channelOverride: this.#content.getChannel() }) as never;
  }

  readonly stores: ContentStores = (scope) => new ContainerdContentStore(this.#content, this.#leases, scope, this.#opts.leaseTtlMs, () => this.#discoverContentRoot());

  /**
   * discoverContentRoot asks containerd once where its content plugin keeps blobs; a failed
   * answer is asked again next time (containerd may have been restarting).
   */
  #discoverContentRoot(): Promise<string | undefined> {
    this.#contentRoot ??= new Promise<string | undefined>((resolve) =>
      this.#introspection.Plugins!(pluginsFilter, (err: ServiceError | null, reply: Parameters<typeof contentRootOf>[0]) => {
        if (err) this.#contentRoot = undefined;
        const root = err ? undefined : contentRootOf(reply);
        if (!err) this.#opts.onContentRoot?.(root);
        resolve(root);
      }),
    );
    return this.#contentRoot;
  }

  close(): void {
    this.#content.close();
  }
}

class ContainerdContentStore implements ContentStore {
  #lease: Promise<string> | undefined;

  constructor(
    readonly content: Client & Record<string, CallableFunction>,
    readonly leases: Client & Record<string, CallableFunction>,
    readonly scope: ContentScope,
    readonly leaseTtlMs: number,
    readonly contentRoot: () => Promise<string | undefined>,
  ) {}

  async read(digest: string): Promise<OpenBlob> {
    const root = await this.contentRoot();
    const opened = root && (await openBlob(root, digest, (await this.info(digest)).size));
    return opened ? { ...opened, from: 'file' } : { bytes: this.#stream(digest), from: 'service' };
  }

  async *#stream(digest: string): AsyncIterable<Buffer> {
    const call = this.content.Read!({ digest, offset: '0', size: '0' }, this.#metadata()) as AsyncIterable<{ data: Buffer }> & { cancel(): void };
    let finished = false;
    try {
      for await (const message of call) yield message.data;
      finished = true;
    } catch (err) {
      throw fromContainerd(err, `reading blob ${digest}`);
    } finally {
      if (!finished) call.cancel();
    }
  }

  async write(ref: string, data: AsyncIterable<Buffer>, labels: () => Labels): Promise<WrittenBlob> {
    const metadata = this.#metadata(await this.#writeLease());
    const call = this.content.Write!(metadata) as ClientDuplexStream<Record<string, unknown>, WriteAnswer>;
    // Every message is answered with the ingest's offset and the digest of everything written so far.
    let answered: WriteAnswer = { offset: '0', digest: EMPTY_DIGEST };
    let closed = false;
    const answers = new EventEmitter();
    const ended = new Promise<void>((resolve, reject) => {
      call.on('data', (answer: WriteAnswer) => {
        answered = answer;
        answers.emit('answer');
      });
      call.on('error', reject);
      call.on('end', resolve);
    }).finally(() => (closed = true));
    ended.catch(() => {});
    let sourceFailure: { err: unknown } | undefined;
    const source = async function* () {
      try {
        yield* data;
      } catch (err) {
        sourceFailure = { err };
        throw err;
      }
    };
    try {
      let offset = 0;
      for await (const chunk of source()) {
        for (let at = 0; at < chunk.length; at += WRITE_CHUNK) {
          const part = chunk.subarray(at, at + WRITE_CHUNK);
          // Offset 0 on the first write starts over an ingest that a crashed writer left behind.
          if (!call.write({ action: 'WRITE', ref, offset: String(offset), data: part })) await Promise.race([once(call, 'drain'), ended]);
          offset += part.length;
        }
      }
      // The digest committed is containerd's of what it received, once it has received it all.
      while (Number(answered.offset) !== offset) {
        if (closed) throw new UpstreamError(`writing blob ${ref}: containerd ended the write at ${answered.offset} of ${offset} bytes`);
        await Promise.race([once(answers, 'answer'), ended]);
      }
      const written = { digest: answered.digest, size: offset };
      call.write({ action: 'COMMIT', ref, offset: String(offset), total: String(offset), expected: written.digest, labels: labels() });
      call.end();
      await ended.catch((err: unknown) => {
        if ((err as Partial<ServiceError>).code !== status.ALREADY_EXISTS) throw err;
      });
      return written;
    } catch (err) {
      call.cancel();
      // What failed to make the bytes keeps its own error; containerd's answers are translated.
      if (sourceFailure) throw sourceFailure.err;
      throw fromContainerd(err, `writing blob ${ref}`);
    }
  }

  async info(digest: string): Promise<BlobInfo> {
    const reply = await this.#unary<{ info: { size: string; labels: Labels } }>(this.content, 'Info', { digest }, `looking up blob ${digest}`);
    return { size: Number(reply.info.size), labels: reply.info.labels };
  }

  async setLabel(digest: string, key: string, value: string): Promise<void> {
    const request = { info: { digest, labels: { [key]: value } }, update_mask: { paths: [`labels.${key}`] } };
    await this.#unary(this.content, 'Update', request, `labelling blob ${digest}`);
  }

  /** writeLease is the caller's lease, or one of ours that expires, created on the first write. */
  #writeLease(): Promise<string> {
    if (this.scope.lease) return Promise.resolve(this.scope.lease);
    this.#lease ??= (async () => {
      const id = `strata-diff-${Date.now()}-${randomBytes(4).toString('hex')}`;
      const expires = new Date(Date.now() + this.leaseTtlMs).toISOString().replace(/\.\d+Z$/, 'Z');
      await this.#unary(this.leases, 'Create', { id, labels: { [EXPIRE_LABEL]: expires } }, 'creating a lease');
      return id;
    })();
    return this.#lease;
  }

  #metadata(lease?: string): Metadata {
    const metadata = new Metadata();
    metadata.set(NAMESPACE_HEADER, this.scope.namespace);
    if (lease) metadata.set(LEASE_HEADER, lease);
    return metadata;
  }

  #unary<T>(client: Record<string, CallableFunction>, method: string, request: unknown, what: string): Promise<T> {
    return new Promise((resolve, reject) =>
      client[method]!(request, this.#metadata(), (err: ServiceError | null, reply: T) => (err ? reject(fromContainerd(err, what)) : resolve(reply))),
    );
  }
}

/**
 * fromContainerd turns containerd's answer into our error kinds. containerd's messages may name
 * its own paths: they are cut out, as ours are.
 */
function fromContainerd(err: unknown, what: string): StrataError {
  if (err instanceof StrataError) return err;
  const { code, details } = err as Partial<ServiceError>;
  const said = `${what}: containerd says ${String(details ?? err).replace(/\/[^\s:'"]+/g, '<path>')}`;
  switch (code) {
    case status.NOT_FOUND:
      return new NotFoundError(said);
    case status.ALREADY_EXISTS:
      return new AlreadyExistsError(said);
    case status.INVALID_ARGUMENT:
      return new InvalidArgumentError(said);
    case status.FAILED_PRECONDITION:
      return new FailedPreconditionError(said);
    default:
      return new UpstreamError(said, { cause: err });
  }
}
