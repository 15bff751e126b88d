import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../../src/errors';
import { checkFreeSpace, formatBytes, parseByteSize, parseSizeLimit } from '../../../src/store/size-limit';

const MiB = 1024 * 1024;

describe('parseByteSize', () => {
  it('reads sizes as Docker users write them, with binary units', () => {
    const table: Array<[string, number | undefined]> = [
      ['4096', 4096], ['64M', 64 * MiB], ['64m', 64 * MiB], ['64MB', 64 * MiB], ['64MiB', 64 * MiB], ['1.5g', 1536 * MiB],
      ['2 G', 2048 * MiB], ['1t', 1024 * 1024 * MiB], ['512k', 512 * 1024],
      ['', undefined], ['M', undefined], ['-1', undefined], ['1e9', undefined], ['64X', undefined], ['0x10', undefined], ['99999999p', undefined],
    ];
    for (const [text, bytes] of table) assert.equal(parseByteSize(text), bytes, text);
  });
});

describe('parseSizeLimit', () => {
  it('rounds up to whole 4 KiB blocks', () => {
    assert.equal(parseSizeLimit('size', '16777217'), 16 * MiB + 4096);
  });

  it('refuses zero and sizes below 16 MiB, naming the option', () => {
    assert.throws(() => parseSizeLimit('strata.size', '0'), (e: unknown) => e instanceof InvalidArgumentError && e.message.startsWith('invalid strata.size="0"'));
    assert.throws(() => parseSizeLimit('size', '16777215'), InvalidArgumentError);
  });
});

describe('checkFreeSpace', () => {
  it('refuses a limit above the free space', () => {
    checkFreeSpace('size', 64 * MiB, 64 * MiB);
    assert.throws(() => checkFreeSpace('--storage-opt size', 64 * MiB, 32 * MiB), (e: unknown) => e instanceof InvalidArgumentError && e.message === 'invalid --storage-opt size=64MiB: more than the 32MiB free on the storage driver\'s filesystem');
  });
});

describe('formatBytes', () => {
  it('writes whole binary units', () => {
    assert.equal(formatBytes(64 * MiB), '64MiB');
    assert.equal(formatBytes(1536 * MiB), '1.5GiB');
    assert.equal(formatBytes(10 * 1024 * MiB), '10GiB');
    assert.equal(formatBytes(1000), '1000B');
  });
});
