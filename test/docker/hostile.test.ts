/**
 * Hostile layers through the real dockerd: `docker load` of crafted layer tars that try every
 * way out of the layer — `..`, symlinks (absolute, relative, chained, to `..`, reached through a
 * hardlink), whiteouts and opaque markers through a symlink, hardlinks to outside or through a
 * symlinked parent — and a truncated tar. Each load must be refused with an error naming the
 * entry, a canary directory on the host must be byte-for-byte unchanged, and Strata's home must
 * hold exactly the layers it held before: nothing half-written, no staging leftovers.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildBusyboxLayer, craftTar, pseudoRandom, treeLayer, writeImageArchive, type CraftEntry } from '../helpers/corpus';
import { TestDaemon } from '../helpers/dockerd';
import { eventually } from '../helpers/eventually';
import { viewTree } from '../helpers/oracle';
import { needDocker } from '../helpers/tiers';

// Exact comparison: no time counts as fresh.
const NEVER_FRESH = 2n ** 63n;

interface HomeState {
  layers: string[];
  links: string[];
  staging: string[];
  trees: Record<string, string[]>;
}

async function listOrEmpty(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

// Creating a child (re)writes the parent's `committed` marker, as overlay2 does, even when the
// child is then refused: bookkeeping, not layer content, so the marker and the layer dir's own
// times are left out.
const isChildBookkeeping = (rel: string) => rel === '' || rel === 'committed';

/** homeState records every layer dir (whole tree, metadata files included), l/ and the staging area. */
async function homeState(d: TestDaemon): Promise<HomeState> {
  const layers = await d.layerDirs();
  const trees: Record<string, string[]> = {};
  for (const id of layers) trees[id] = [...viewTree(path.join(d.home, id), NEVER_FRESH, isChildBookkeeping)].map(([k, v]) => `${k} ${v}`);
  return {
    layers: layers.sort(),
    links: await listOrEmpty(path.join(d.home, 'l')),
    staging: await listOrEmpty(path.join(d.home, '.strata', 'staging')),
    trees,
  };
}

const file = (name: string, content: string | Buffer = 'x'): CraftEntry => ({ header: { name, type: 'file', mode: 0o644 }, content });
const symlink = (name: string, linkname: string): CraftEntry => ({ header: { name, type: 'symlink', linkname } });
const hardlink = (name: string, linkname: string): CraftEntry => ({ header: { name, type: 'link', linkname } });
const dir = (name: string): CraftEntry => ({ header: { name, type: 'directory', mode: 0o755 } });

describe('hostile layers through docker load on strata', { skip: needDocker() }, () => {
  let d: TestDaemon;
  let work = '';
  let canary = '';
  let base = '';
  const up = '../'.repeat(40);

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'strata-hostile-'));
    canary = await mkdtemp(path.join(os.tmpdir(), 'strata-canary-'));
    await writeFile(path.join(canary, 'secret'), 'must not change\n');
    await mkdir(path.join(canary, 'sub'));
    await writeFile(path.join(canary, 'sub', 'data'), pseudoRandom('canary', 4096));
    base = await buildBusyboxLayer(work);
    // A legitimate child first, so the base layer is already marked as having children.
    const legit = await treeLayer(work, 'legit', [{ kind: 'file', path: 'legit', data: 'ok\n' }]);
    d = await TestDaemon.start({ driver: 'strata' });
    await d.docker(['load', '-i', await writeImageArchive(path.join(work, 'legit-image.tar'), [{ tag: 'hostile/legit:1', layers: [base, legit] }])]);
  });

  after(async () => {
    await d?.stop();
    await rm(work, { recursive: true, force: true });
    await rm(canary, { recursive: true, force: true });
  });

  /** loadHostile loads [base, layer] and returns docker's result, with the home and canary compared around it. */
  async function loadHostile(name: string, layer: string): Promise<{ code: number; stderr: string }> {
    const canaryBefore = viewTree(canary, NEVER_FRESH);
    const homeBefore = await homeState(d);
    const archive = await writeImageArchive(path.join(work, `${name}-image.tar`), [{ tag: `hostile/${name}:1`, layers: [base, layer] }]);
    const result = await d.docker(['load', '-i', archive], { allowFail: true, timeoutMs: 120_000 });
    assert.deepEqual(viewTree(canary, NEVER_FRESH), canaryBefore, 'the canary outside the layer is unchanged');
    // dockerd removes the refused layer; its tree leaves staging in the background.
    if (result.code !== 0) await eventually(async () => assert.deepEqual(await homeState(d), homeBefore, 'the home holds exactly the layers it held before'));
    return result;
  }

  // Each case: its name, and (given the canary's path) its entries and the entry to be refused.
  // NOTE: a directory replaced by a symlink in the same tar cannot be tried here: Docker's
  // layer store refuses any tar that names a path twice before a driver sees it.
  const cases: Array<[string, (canaryDir: string) => { entries: CraftEntry[]; refused: string }]> = [
    ['.. out of the layer', (c) => ({ entries: [file(`${up}${c.slice(1)}/dotdot`)], refused: `${up}${c.slice(1)}/dotdot` })],
    ['a write through an absolute symlink', (c) => ({ entries: [symlink('lnk', c), file('lnk/pwned')], refused: 'lnk/pwned' })],
    ['a write through a relative symlink', (c) => ({ entries: [dir('a/'), symlink('a/rel', `${up}${c.slice(1)}`), file('a/rel/pwned')], refused: 'a/rel/pwned' })],
    ['a write through a chain of symlinks', (c) => ({ entries: [symlink('one', 'two'), symlink('two', 'three'), symlink('three', c), file('one/pwned')], refused: 'one/pwned' })],
    ['a write through a symlink to ..', () => ({ entries: [symlink('up', '..'), file('up/up/up/up/up/up/up/up/pwned')], refused: 'up/up/up/up/up/up/up/up/pwned' })],
    ['a write through a hardlink to a symlink', (c) => ({ entries: [symlink('lnk', c), hardlink('again', 'lnk'), file('again/pwned')], refused: 'again/pwned' })],
    ['a hardlink to a file outside', (c) => ({ entries: [hardlink('hl', `${up}${c.slice(1)}/secret`)], refused: 'hl' })],
    ['a hardlink through a symlinked parent', (c) => ({ entries: [symlink('lnk', c), hardlink('hl', 'lnk/secret')], refused: 'hl' })],
    ['a whiteout through a symlink', (c) => ({ entries: [symlink('lnk', c), file('lnk/.wh.secret', '')], refused: 'lnk/.wh.secret' })],
    ['an opaque marker through a symlink', (c) => ({ entries: [symlink('lnk', `${c}/sub`), file('lnk/.wh..wh..opq', '')], refused: 'lnk/.wh..wh..opq' })],
  ];

  for (const [what, build] of cases) {
    it(`refuses ${what}, names the entry, and changes nothing`, async () => {
      const { entries, refused } = build(canary);
      const name = what.replace(/[^a-z]+/g, '-');
      const result = await loadHostile(name, await craftTar(path.join(work, `${name}.tar`), entries));
      assert.notEqual(result.code, 0, 'the load is refused');
      assert.ok(result.stderr.includes(`refused tar entry ${JSON.stringify(refused)}`), `the error names the entry: ${result.stderr}`);
    });
  }

  it('lands an absolute name inside the layer, as Docker does, and changes nothing outside', async () => {
    const layer = await craftTar(path.join(work, 'absolute.tar'), [file(`${canary}/absolute`, 'inside\n')]);
    const result = await loadHostile('absolute', layer);
    assert.equal(result.code, 0, result.stderr);
    const out = await d.docker(['run', '--rm', '--network', 'none', 'hostile/absolute:1', 'cat', `${canary}/absolute`]);
    assert.equal(out.stdout, 'inside\n');
    await d.docker(['rmi', 'hostile/absolute:1']);
  });

  it('refuses a tar cut in the middle of a file, and leaves no half layer', async () => {
    const layer = await craftTar(path.join(work, 'truncated.tar'), [file('big', pseudoRandom('big', 256 * 1024)), file('after')]);
    await truncate(layer, 100 * 1024);
    // dockerd's own tar reader fails first here and cuts the request: Strata sees an aborted stream.
    const result = await loadHostile('truncated', layer);
    assert.notEqual(result.code, 0);
  });

  it('refuses a tar that stops between entries without the end-of-archive blocks', async () => {
    const layer = await craftTar(path.join(work, 'no-end.tar'), [file('first', pseudoRandom('first', 2048)), file('second')]);
    await truncate(layer, (await readFile(layer)).length - 1024);
    const result = await loadHostile('no-end', layer);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /ended without the end-of-archive marker/);
  });

  it('still loads and runs ordinary images afterwards', async () => {
    const out = await d.docker(['run', '--rm', '--network', 'none', 'hostile/legit:1', 'cat', '/legit']);
    assert.equal(out.stdout, 'ok\n');
  });
});
