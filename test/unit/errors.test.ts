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
  NotInitialisedError,
  NotSupportedError,
  StrataError,
  UnsafeArchiveError,
  errnoOf,
  errorKind,
} from '../../src/errors';

describe('error classes', () => {
  const enoent = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
  const table: Array<[string, () => StrataError, string, number, new (...args: never[]) => StrataError]> = [
    ['StrataError', () => new StrataError('STRATA_ERR_IO', 'x'), 'STRATA_ERR_IO', 500, StrataError],
    ['StrataError with a status', () => new StrataError('STRATA_ERR_ARG_INVALID', 'x', { status: 418 }), 'STRATA_ERR_ARG_INVALID', 418, StrataError],
    ['InvalidArgumentError', () => new InvalidArgumentError('x'), 'STRATA_ERR_ARG_INVALID', 400, InvalidArgumentError],
    ['NotFoundError', () => new NotFoundError('x'), 'STRATA_ERR_LAYER_NOT_FOUND', 404, NotFoundError],
    ['AlreadyExistsError', () => new AlreadyExistsError('x'), 'STRATA_ERR_LAYER_EXISTS', 409, AlreadyExistsError],
    ['FailedPreconditionError', () => new FailedPreconditionError('x'), 'STRATA_ERR_LAYER_BUSY', 409, FailedPreconditionError],
    ['UnsafeArchiveError', () => new UnsafeArchiveError('../x', 'climbs'), 'STRATA_ERR_TAR_UNSAFE_ENTRY', 400, UnsafeArchiveError],
    ['InvalidArchiveError', () => new InvalidArchiveError('x'), 'STRATA_ERR_TAR_INVALID', 400, InvalidArchiveError],
    ['CommandFailedError', () => new CommandFailedError(['mount', '-t', 'overlay'], 32, null, 'a\nb\nc\nd\n'), 'STRATA_ERR_CMD_FAILED', 500, CommandFailedError],
    ['NotSupportedError', () => new NotSupportedError('x'), 'STRATA_ERR_KERNEL_UNSUPPORTED', 500, NotSupportedError],
    ['NotInitialisedError', () => new NotInitialisedError(), 'STRATA_ERR_NOT_INITIALISED', 503, NotInitialisedError],
    ['IoError', () => new IoError('writing f', enoent), 'STRATA_ERR_IO', 500, IoError],
  ];

  for (const [name, make, code, status, cls] of table) {
    it(`${name}: code ${code}, status ${status}, a StrataError and an Error`, () => {
      const err = make();
      assert.ok(err instanceof cls);
      assert.ok(err instanceof StrataError);
      assert.ok(err instanceof Error);
      assert.equal(err.code, code);
      assert.equal(err.status, status);
      assert.equal(err.name, cls.name);
      assert.ok(err.message.length > 0);
      assert.ok(typeof err.stack === 'string');
    });
  }

  it('every error code is used by exactly one class (besides the base)', () => {
    const codes = table.slice(2).map(([, make]) => make().code);
    // IoError and the bare StrataError share STRATA_ERR_IO; the others are distinct.
    assert.equal(new Set(codes).size, codes.length);
  });

  it('keeps the cause', () => {
    const cause = new Error('inner');
    assert.equal(new InvalidArchiveError('outer', { cause }).cause, cause);
    assert.equal(new IoError('x', enoent).cause, enoent);
    assert.equal(new StrataError('STRATA_ERR_IO', 'no cause').cause, undefined);
  });

  it('UnsafeArchiveError carries the entry name', () => {
    assert.equal(new UnsafeArchiveError('a/../../b', 'r').entry, 'a/../../b');
  });

  it('CommandFailedError carries argv, exit code and the stderr tail', () => {
    const err = new CommandFailedError(['mount', '-o', 'x'], 32, null, 'one\ntwo\nthree\nfour\n');
    assert.deepEqual(err.argv, ['mount', '-o', 'x']);
    assert.equal(err.exitCode, 32);
    assert.equal(err.stderrTail, 'two | three | four');
    assert.equal(new CommandFailedError(['x'], null, 'SIGKILL', '').exitCode, null);
  });

  it('IoError names ENOSPC plainly and keeps the errno', () => {
    const err = new IoError('applying', Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' }));
    assert.equal(err.errno, 'ENOSPC');
    assert.match(err.message, /no space left on device/);
  });

  it('errnoOf reads the code of fs errors only', () => {
    assert.equal(errnoOf(enoent), 'ENOENT');
    assert.equal(errnoOf(new Error('plain')), undefined);
    assert.equal(errnoOf(undefined), undefined);
  });
});

describe('errorKind', () => {
  it('names our errors by their code, HTTP-level refusals bad_request, anything else internal', () => {
    assert.equal(errorKind(new InvalidArchiveError('x')), 'tar_invalid');
    assert.equal(errorKind(new NotFoundError('x')), 'layer_not_found');
    assert.equal(errorKind(new NotInitialisedError()), 'not_initialised');
    assert.equal(errorKind(new IoError('writing', new Error('EIO'))), 'io');
    assert.equal(errorKind(Object.assign(new Error('too large'), { statusCode: 413 })), 'bad_request');
    assert.equal(errorKind(Object.assign(new Error('boom'), { statusCode: 500 })), 'internal');
    assert.equal(errorKind(new TypeError('x is undefined')), 'internal');
    assert.equal(errorKind('a string'), 'internal');
  });
});
