/**
 * The only place where errors become gRPC statuses on the snapshotter socket. The codes are the
 * ones containerd's errdefs translate back into its error kinds, which its unpacker, garbage
 * collector and CRI plugin act on (a FailedPrecondition Remove is skipped by GC, a NotFound
 * Stat is skipped by listings, anything else stops them).
 */
import { status } from '@grpc/grpc-js';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArchiveError,
  InvalidArgumentError,
  NotFoundError,
  NotImplementedError,
  NotInitialisedError,
  NotSupportedError,
  StrataError,
  UnsafeArchiveError,
  UpstreamError,
} from '../errors';

export interface GrpcFailure {
  code: status;
  details: string;
  /** whether the error is one of ours; unknown errors are logged with their stack */
  known: boolean;
}

const KINDS: Array<[new (...args: never[]) => StrataError, status]> = [
  [NotFoundError, status.NOT_FOUND],
  [AlreadyExistsError, status.ALREADY_EXISTS],
  [InvalidArgumentError, status.INVALID_ARGUMENT],
  [InvalidArchiveError, status.INVALID_ARGUMENT],
  [UnsafeArchiveError, status.INVALID_ARGUMENT],
  [FailedPreconditionError, status.FAILED_PRECONDITION],
  [NotSupportedError, status.FAILED_PRECONDITION],
  [NotInitialisedError, status.UNAVAILABLE],
  [NotImplementedError, status.UNIMPLEMENTED],
  [UpstreamError, status.UNAVAILABLE],
];

/** grpcFailure maps any error to a gRPC status code and the message a client sees. */
export function grpcFailure(err: unknown): GrpcFailure {
  if (err instanceof StrataError) {
    const kind = KINDS.find(([cls]) => err instanceof cls);
    return { code: kind ? kind[1] : status.UNKNOWN, details: err.message, known: true };
  }
  // Not ours: its message may carry host paths, so the client gets a generic one and the log the rest.
  return { code: status.UNKNOWN, details: 'internal error in strata (see its log)', known: false };
}
