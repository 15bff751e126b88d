/**
 * The handlers of containerd.services.snapshots.v1.Snapshots: each validates its request,
 * calls one store method and shapes the reply; `grpc/calls` logs and counts each call and
 * translates its error once.
 */
import type { ServerWritableStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Snapshotter } from '../core/snapshots';
import type { Logger } from '../sys/log';
import type { Metrics } from '../telemetry/metrics';
import { matches, parseFilters } from './filters';
import { finishCall, unaryCall, type Request } from '../grpc/calls';
import { CommitRequest, CreateRequest, EmptyRequest, KeyRequest, ListRequest, UpdateRequest, infoMessage, mountMessages } from './messages';
import { parseRequest } from '../validate';

export interface SnapshotServiceDeps {
  store: Snapshotter;
  log: Logger;
  metrics: Metrics;
}

/** LIST_BATCH is how many Infos go in one ListSnapshotsResponse of the stream. */
const LIST_BATCH = 100;

/** logFields picks what identifies a request in the log, cut short: keys can be long. */
function logFields(request: Request): Record<string, unknown> {
  const cut = (v: unknown) => (typeof v === 'string' && v !== '' ? v.slice(0, 200) : undefined);
  const info = request.info as Request | undefined;
  // pino's base record has a 'name' (the logger's): a commit's new name goes in as 'commitAs'.
  return { key: cut(request.key) ?? cut(info?.name), parent: cut(request.parent), commitAs: cut(request.name) };
}

/** snapshotService returns the service implementation for a grpc Server. */
export function snapshotService(deps: SnapshotServiceDeps): UntypedServiceImplementation {
  const { store, log, metrics } = deps;
  const sink = { log, metrics, service: 'snapshots' as const };

  const unary = (op: string, handle: (request: Request) => Promise<unknown>) => unaryCall(sink, op, logFields, handle);

  return {
    Prepare: unary('Prepare', async (r) => {
      const q = parseRequest(CreateRequest, r);
      return { mounts: mountMessages(await store.prepare(q.key, q.parent, q.labels)) };
    }),
    View: unary('View', async (r) => {
      const q = parseRequest(CreateRequest, r);
      return { mounts: mountMessages(await store.view(q.key, q.parent, q.labels)) };
    }),
    Mounts: unary('Mounts', async (r) => ({ mounts: mountMessages(await store.mounts(parseRequest(KeyRequest, r).key)) })),
    Commit: unary('Commit', async (r) => {
      const q = parseRequest(CommitRequest, r);
      await store.commit(q.name, q.key, q.labels);
      return {};
    }),
    Remove: unary('Remove', async (r) => {
      await store.remove(parseRequest(KeyRequest, r).key);
      return {};
    }),
    Stat: unary('Stat', async (r) => ({ info: infoMessage(await store.stat(parseRequest(KeyRequest, r).key)) })),
    Update: unary('Update', async (r) => {
      const q = parseRequest(UpdateRequest, r);
      return { info: infoMessage(await store.update(q.info, q.update_mask?.paths ?? [])) };
    }),
    Usage: unary('Usage', async (r) => {
      const usage = await store.usage(parseRequest(KeyRequest, r).key);
      return { size: String(usage.size), inodes: String(usage.inodes) };
    }),
    Cleanup: unary('Cleanup', async (r) => {
      parseRequest(EmptyRequest, r);
      await store.cleanup();
      return {};
    }),
    List: (call: ServerWritableStream<Request, unknown>) => {
      const started = process.hrtime.bigint();
      void (async () => {
        const filters = parseFilters(parseRequest(ListRequest, call.request).filters);
        const infos = (await store.list()).filter((info) => matches(filters, info)).map(infoMessage);
        for (let i = 0; i < infos.length; i += LIST_BATCH) call.write({ info: infos.slice(i, i + LIST_BATCH) });
      })().then(
        () => {
          finishCall(sink, 'List', logFields(call.request), started, undefined);
          call.end();
        },
        (err: unknown) => call.emit('error', finishCall(sink, 'List', logFields(call.request), started, err)),
      );
    },
  };
}
