import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../../src/errors';
import { parseDriverOptions, requestedSizeLimit, takesSizeLimit } from '../../../src/graphdriver/driver-options';

const refusal = (message: string) => (err: unknown) => err instanceof InvalidArgumentError && err.message === message;
const MiB = 1024 * 1024;
const ID = 'c'.repeat(64);

describe('requestedSizeLimit', () => {
  it('gives no limit to a Create without storage options and without a default', () => {
    assert.equal(requestedSizeLimit(undefined, false, {}), undefined);
    assert.equal(requestedSizeLimit({}, true, {}), undefined);
  });

  it('takes size (any case) of a read-write layer, in binary units', () => {
    assert.deepEqual(requestedSizeLimit({ size: '64M' }, true, {}), { bytes: 64 * MiB, option: '--storage-opt size' });
    assert.deepEqual(requestedSizeLimit({ Size: '1.5g' }, true, {}), { bytes: 1536 * MiB, option: '--storage-opt size' });
  });

  it('applies the default to read-write layers only, and its own size wins', () => {
    const options = { defaultSizeLimit: { bytes: 32 * MiB, option: 'strata.size' } };
    assert.deepEqual(requestedSizeLimit(undefined, true, options), { bytes: 32 * MiB, option: 'strata.size' });
    assert.equal(requestedSizeLimit(undefined, false, options), undefined);
    assert.equal(requestedSizeLimit({ size: '64m' }, true, options)?.bytes, 64 * MiB);
  });

  it('leaves Docker\'s -init layers unlimited', () => {
    assert.equal(takesSizeLimit(`${ID}-init`), false);
    assert.equal(takesSizeLimit(ID), true);
  });

  it('refuses bad sizes naming the option, a size of a read-only layer, and unknown options by name', () => {
    assert.throws(() => requestedSizeLimit({ size: 'lots' }, true, {}), refusal('invalid --storage-opt size="lots": not a size (write a number with an optional unit k, m, g or t, such as 64M or 10G)'));
    assert.throws(() => requestedSizeLimit({ size: '0' }, true, {}), refusal('invalid --storage-opt size="0": a size limit cannot be zero'));
    assert.throws(() => requestedSizeLimit({ size: '1M' }, true, {}), refusal('invalid --storage-opt size="1M": below the smallest limit of 16MiB, which the layer\'s ext4 filesystem needs for its journal and inode tables'));
    assert.throws(() => requestedSizeLimit({ Size: '10G' }, false, {}), refusal('--storage-opt size is only supported for read-write layers'));
    assert.throws(() => requestedSizeLimit({ foo: 'bar' }, true, {}), refusal('unknown storage option "foo": strata takes --storage-opt size=<size> only'));
  });
});

describe('parseDriverOptions', () => {
  it('reads strata.size as the default limit', () => {
    assert.deepEqual(parseDriverOptions([]), {});
    assert.deepEqual(parseDriverOptions(['strata.size=10G']), { defaultSizeLimit: { bytes: 10 * 1024 * MiB, option: 'strata.size' } });
  });

  it('refuses unknown options and bad sizes by name', () => {
    assert.throws(() => parseDriverOptions(['overlay2.size=10G']), refusal('unknown storage option "overlay2.size=10G": strata takes strata.size=<size> only'));
    assert.throws(() => parseDriverOptions(['strata.size']), InvalidArgumentError);
    assert.throws(() => parseDriverOptions(['strata.size=-1']), refusal('invalid strata.size="-1": not a size (write a number with an optional unit k, m, g or t, such as 64M or 10G)'));
  });
});
