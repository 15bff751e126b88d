import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../../src/errors';
import { checkStorageOptions } from '../../../src/graphdriver/driver-options';

const refusal = (message: string) => (err: unknown) => err instanceof InvalidArgumentError && err.message === message;

describe('checkStorageOptions', () => {
  it('takes a Create without storage options', () => {
    checkStorageOptions(undefined, false);
    checkStorageOptions({}, true);
  });

  it('refuses size (any case) with the reason overlay2 gives, and unknown options by name', () => {
    assert.throws(() => checkStorageOptions({ size: '10G' }, true), refusal('--storage-opt size needs disk quotas, which strata does not support on this host'));
    assert.throws(() => checkStorageOptions({ Size: '10G' }, false), refusal('--storage-opt size is only supported for read-write layers'));
    assert.throws(() => checkStorageOptions({ foo: 'bar' }, true), refusal('unknown storage option "foo"'));
  });
});
