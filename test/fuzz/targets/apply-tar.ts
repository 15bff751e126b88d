/**
 * Fuzz target: the extractor, applyTar, into a target directory with a sibling and a canary
 * beside it, as the hostile-archive tests set it up. Every input is applied or refused with one
 * of Strata's errors; nothing outside the target changes (the sibling's files, their link
 * counts, the canary); the target stays a directory; memory stays bounded. The fuzzer runs it
 * in a mount namespace of its own where everything but the scene is read-only, so that an
 * escape cannot harm the machine and shows as EROFS.
 */
import fs from 'node:fs';
import path from 'node:path';
import { applyTar } from '../../../src/archive/apply';
import { IoError } from '../../../src/errors';
import { IdMapping } from '../../../src/idmap';
import { comparable, snapshotTree } from '../../helpers/fs-tree';
import { chunked } from '../../helpers/tar-build';
import type { FuzzTarget } from '../engine';
import { InvariantBroken, MemoryBound, refusedByUs } from '../invariants';
import { SCENE, TAR_DICTIONARY, tarSeeds } from '../tar-seeds';

const MAX_LENGTH = 128 * 1024;
const layers = path.join(SCENE, 'layers');
const root = path.join(layers, 'target');
const sibling = path.join(layers, 'sibling');

/** setUp makes the scene: the empty target, a sibling with a file, a canary. */
function setUp(): unknown {
  fs.mkdirSync(root, { recursive: true });
  fs.mkdirSync(path.join(sibling, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(sibling, 'sub', 'file'), 'sibling content');
  fs.writeFileSync(path.join(SCENE, 'canary'), 'canary content');
  return outside();
}

/** outside is everything in the scene but the target's contents. */
function outside(): unknown {
  const tree = snapshotTree(SCENE);
  for (const key of [...tree.keys()]) if (key.startsWith('layers/target/')) tree.delete(key);
  tree.delete('layers/target');
  return comparable(tree, { skipRootTimes: true });
}

function empty(dir: string): void {
  for (const name of fs.readdirSync(dir, { encoding: 'buffer' })) fs.rmSync(Buffer.concat([Buffer.from(`${dir}/`), name]), { recursive: true, force: true });
}

let expected: string | undefined;
const ioErrors = new Map<string, { count: number; example: Buffer }>();

export const target: FuzzTarget = {
  name: 'apply-tar',
  confine: SCENE,
  seeds: () => tarSeeds(MAX_LENGTH),
  dictionary: TAR_DICTIONARY,
  maxLength: MAX_LENGTH,
  tar: true,
  notes: () => ioErrors,
  async execute(input) {
    expected ??= JSON.stringify(setUp());
    const memory = new MemoryBound();
    memory.start();
    try {
      await applyTar(chunked(input, 4096), root, { idMap: new IdMapping() });
    } catch (err) {
      if (err instanceof IoError) {
        if (err.errno === 'EROFS') throw new InvariantBroken(`the extraction wrote outside its scene: ${err.message}`, { cause: err });
        const key = `IoError ${err.errno ?? err.message}`;
        const seen = ioErrors.get(key);
        if (seen) seen.count++;
        else ioErrors.set(key, { count: 1, example: Buffer.from(input) });
      }
      refusedByUs(err);
    }
    memory.check('the extraction');
    if (!fs.lstatSync(root).isDirectory()) throw new InvariantBroken('the target is no longer a directory');
    if (JSON.stringify(outside()) !== expected) throw new InvariantBroken(`something outside the target changed: ${JSON.stringify(outside())}`);
    empty(root);
  },
};
