/**
 * The handlers of containerd.services.diff.v1.Diff: each validates its request, calls the
 * differ and shapes the reply; `grpc/calls` logs each call and translates its error once
 * (NotImplemented sends containerd on to its next differ). containerd names the caller's
 * namespace in the call's metadata.
 */
import type { Metadata, UntypedServiceImplementation } from '@grpc/grpc-js';
import { applyLayer, type ApplyDeps } from '../differ/apply';
import { compareLayers, type CompareDeps } from '../differ/compare';
import { unaryCall, type Request } from '../grpc/calls';
import type { Logger } from '../sys/log';
import type { Metrics } from '../telemetry/metrics';
import { parseRequest } from '../validate';
import { ApplyRequest, DiffRequest, descriptorMessage } from './messages';

export type DiffServiceDeps = CompareDeps & ApplyDeps & { log: Logger; metrics: Metrics };

const header = (metadata: Metadata, name: string) => {
  const value = metadata.get(name)[0];
  return typeof value === 'string' && value !== '' ? value : undefined;
};

function logFields(request: Request): Record<string, unknown> {
  const diff = request.diff as Request | undefined;
  return { mediaType: diff?.media_type ?? request.media_type, digest: diff?.digest };
}

/** diffService returns the service implementation for a grpc Server. */
export function diffService(deps: DiffServiceDeps): UntypedServiceImplementation {
  const sink = { log: deps.log, metrics: deps.metrics, service: 'diff' as const };
  return {
    Apply: unaryCall(sink, 'Apply', logFields, async (r, metadata, note) => {
      const q = parseRequest(ApplyRequest, r);
      const { applied, readFrom } = await applyLayer(deps, {
        layer: { mediaType: q.diff.media_type, digest: q.diff.digest, size: q.diff.size },
        mounts: q.mounts,
        payloadCount: Object.keys(q.payloads).length,
        syncFs: q.sync_fs,
        namespace: header(metadata, 'containerd-namespace'),
      });
      note({ readFrom });
      return { applied: descriptorMessage(applied) };
    }),
    Diff: unaryCall(sink, 'Diff', logFields, async (r, metadata, note) => {
      const q = parseRequest(DiffRequest, r);
      const epoch = q.source_date_epoch;
      const { diff, tarBytes, stagesMs } = await compareLayers(deps, {
        lower: q.left,
        upper: q.right,
        mediaType: q.media_type,
        ref: q.ref,
        labels: q.labels,
        sourceDateEpoch: epoch ? { sec: epoch.seconds, nsec: epoch.nanos } : undefined,
        namespace: header(metadata, 'containerd-namespace'),
        lease: header(metadata, 'containerd-lease'),
      });
      note({ tarBytes, blobBytes: diff.size, stagesMs });
      return { diff: descriptorMessage(diff) };
    }),
  };
}
