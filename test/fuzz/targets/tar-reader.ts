/**
 * Fuzz target: the tar reader. Every input either reads to its end or is refused with one of
 * Strata's errors; no entry yields more data than the input holds, and no entry holds more
 * memory than its bound.
 */
import { readTar } from '../../../src/archive/tar/reader';
import { chunked } from '../../helpers/tar-build';
import type { FuzzTarget } from '../engine';
import { InvariantBroken, MemoryBound, refusedByUs } from '../invariants';
import { TAR_DICTIONARY, tarSeeds } from '../tar-seeds';

const MAX_LENGTH = 128 * 1024;
/** The reader is fed in chunks of one of these sizes (picked by the input's length, so that an input always replays alike). */
const CHUNK_SIZES = [4096, 512, 61];

export const target: FuzzTarget = {
  name: 'tar-reader',
  seeds: () => tarSeeds(MAX_LENGTH),
  dictionary: TAR_DICTIONARY,
  maxLength: MAX_LENGTH,
  tar: true,
  async execute(input) {
    const memory = new MemoryBound();
    memory.start();
    try {
      for await (const { entry, data } of readTar(chunked(input, CHUNK_SIZES[input.length % CHUNK_SIZES.length]))) {
        let stored = 0;
        for await (const chunk of data()) stored += chunk.length;
        if (stored > input.length) throw new InvariantBroken(`entry ${JSON.stringify(entry.name)} yields ${stored} bytes from a ${input.length}-byte input`);
        memory.check(`entry ${JSON.stringify(entry.name)}`);
      }
    } catch (err) {
      refusedByUs(err);
    }
  },
};
