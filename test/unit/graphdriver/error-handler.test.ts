import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, NotInitialisedError, StrataError, UnsafeArchiveError } from '../../../src/errors';
import { errorReply } from '../../../src/graphdriver/error-handler';

describe('errorReply', () => {
  it('maps Strata errors to their status and message', () => {
    for (const err of [new InvalidArgumentError('bad'), new NotFoundError('gone'), new FailedPreconditionError('busy'), new UnsafeArchiveError('../x', 'climbs'), new NotInitialisedError()]) {
      assert.deepEqual(errorReply(err), { status: err.status, message: err.message, known: true });
    }
  });

  it('never answers 2xx/3xx: a Strata error with a low status becomes 500', () => {
    assert.equal(errorReply(new StrataError('STRATA_ERR_IO', 'x', { status: 200 })).status, 500);
  });

  it('keeps fastify 4xx errors (bad body, too large) as client errors', () => {
    const e = Object.assign(new Error('Request body is too large'), { statusCode: 413 });
    assert.deepEqual(errorReply(e), { status: 413, message: 'Request body is too large', known: true });
  });

  it('turns anything else into a 500 marked unknown, with a non-empty message', () => {
    const r = errorReply(new TypeError('boom'));
    assert.equal(r.status, 500);
    assert.equal(r.known, false);
    assert.ok(r.message.length > 0);
    assert.equal(errorReply('a string').status, 500);
    assert.equal(errorReply(Object.assign(new Error('x'), { statusCode: 502 })).status, 500);
  });
});
