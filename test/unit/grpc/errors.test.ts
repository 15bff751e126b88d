import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AlreadyExistsError,
  CommandFailedError,
  FailedPreconditionError,
  InvalidArchiveError,
  InvalidArgumentError,
  IoError,
  NotFoundError,
  NotImplementedError,
  NotSupportedError,
  UnsafeArchiveError,
  UpstreamError,
} from '../../../src/errors';
import { grpcFailure } from '../../../src/grpc/errors';

describe('grpcFailure', () => {
  it("gives each error kind the gRPC code containerd's errdefs map back to that kind", () => {
    const table: Array<[Error, number]> = [
      [new NotFoundError('x'), 5],
      [new AlreadyExistsError('x'), 6],
      [new InvalidArgumentError('x'), 3],
      [new InvalidArchiveError('x'), 3],
      [new UnsafeArchiveError('e', 'x'), 3],
      [new FailedPreconditionError('x'), 9],
      [new NotSupportedError('x'), 9],
      // containerd's diff service moves on to its next differ on Unimplemented
      [new NotImplementedError('x'), 12],
      [new UpstreamError('x'), 14],
      [new IoError('writing', Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' })), 2],
      [new CommandFailedError(['rm'], 1, null, ''), 2],
    ];
    for (const [err, code] of table) assert.equal(grpcFailure(err).code, code, err.constructor.name);
  });

  it('keeps our messages and hides those of errors that are not ours', () => {
    assert.deepEqual(grpcFailure(new NotFoundError('snapshot "k" does not exist')), { code: 5, details: 'snapshot "k" does not exist', known: true });
    const foreign = grpcFailure(new Error("EACCES: permission denied, open '/var/lib/strata/snapshotter/metadata.db'"));
    assert.equal(foreign.code, 2);
    assert.equal(foreign.known, false);
    assert.doesNotMatch(foreign.details, /\/var\/lib/);
  });

  it('IoError messages carry no host path', () => {
    const cause = Object.assign(new Error("EACCES: permission denied, open '/var/lib/strata/x'"), { code: 'EACCES', syscall: 'open', path: '/var/lib/strata/x' });
    assert.equal(new IoError('creating snapshot "k"', cause).message, 'creating snapshot "k": EACCES: permission denied');
  });
});
