/**
 * `strata fsck` on a home made by a real Strata and then damaged by hand, one kind of damage
 * per layer: what is found, what --repair fixes, what it leaves for a person, and the exit
 * codes. (test/docker/fsck.test.ts covers Docker's references, mounts and staging.)
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fsckMain, runFsck, type FsckReport } from '../../src/fsck/fsck';
import { run } from '../../src/sys/exec';
import { readMountInfo } from '../../src/sys/mountinfo';
import { KernelMounter } from '../../src/sys/mounter';
import { LoopFilesystems, listLoopDevices } from '../../src/sys/loop-fs';
import { smallFileLayer } from '../helpers/image-archive';
import { StrataProcess } from '../helpers/strata-process';
import { removeTmpDir } from '../helpers/tmp-dir';
import { needRoot } from '../helpers/tiers';

const mounter = new KernelMounter(run);
const deps = { mounter, loopFs: new LoopFilesystems(run, mounter), loopDevices: listLoopDevices, readMounts: readMountInfo };
const LAYERS: Array<[string, string]> = [['A', ''], ['B', 'A'], ['C', 'B'], ['D', ''], ['E', 'D'], ['F', ''], ['G', 'F'], ['H', ''], ['I', '']];

function kinds(report: FsckReport, pick: (f: FsckReport['findings'][number]) => boolean = () => true): string[] {
  return report.findings.filter(pick).map((f) => `${f.kind}:${f.id ?? path.basename(f.path)}`).sort();
}

describe('strata fsck on a damaged home', { skip: needRoot() }, () => {
  let dir: string;
  let home: string;
  const link = (id: string) => readFileSync(path.join(home, id, 'link'), 'utf8');

  after(() => {
    if (dir) removeTmpDir(dir);
  });

  before(async () => {
    dir = mkdtempSync('/tmp/strata-fsck-root-');
    home = path.join(dir, 'strata');
    const strata = new StrataProcess(dir);
    await strata.start();
    try {
      assert.equal((await strata.call('GraphDriver.Init', { Home: home })).status, 200);
      const tar = await readFile(await smallFileLayer(path.join(dir, 'l.tar'), 'f.txt', 'f\n'));
      for (const [id, parent] of LAYERS) {
        assert.equal((await strata.call('GraphDriver.Create', { ID: id, Parent: parent })).status, 200);
        assert.equal((await strata.applyDiff(id, parent, tar)).status, 200);
      }
    } finally {
      await strata.kill('SIGTERM');
    }
    rmSync(path.join(home, 'A', 'link'));
    writeFileSync(path.join(home, 'E', 'lower'), 'l/ZZZZZZZZZZZZZZZZZZZZZZZZZZ');
    writeFileSync(path.join(home, 'G', 'lower'), Array(129).fill(`l/${link('F')}`).join(':'));
    rmSync(path.join(home, 'H', 'diff'), { recursive: true });
    mkdirSync(path.join(home, 'B', 'merged'));
    writeFileSync(path.join(home, 'B', 'merged', 'stray'), 'x');
    writeFileSync(path.join(home, 'I', 'incomplete'), '');
    symlinkSync('../D/diff', path.join(home, 'l', 'EXTRAEXTRAEXTRAEXTRAEXTRA2'));
    writeFileSync(path.join(home, 'l', 'JUNK'), 'not a link');
  });

  it('finds one problem per kind of damage, and changes nothing without --repair', async () => {
    const report = await runFsck({ home, repair: false, removeUnreferenced: false, json: false }, deps);
    assert.equal(report.layerDb, null, 'no Docker layer database next to this home');
    assert.equal(report.layers, LAYERS.length);
    assert.deepEqual(kinds(report), [
      'bad-link-file:A',
      'broken-lower:E',
      'dangling-link:JUNK',
      'extra-link:D',
      'interrupted:I',
      'merged-not-empty:B',
      'missing-diff:H',
      'parent-mismatch:E',
      'too-deep:G',
    ]);
    assert.equal(report.repaired, 0);
    assert.ok(readdirSync(home).includes('I'));
  });

  it('--repair fixes the link file, the junk in l/ and the interrupted layer; the rest needs a person', async () => {
    const report = await runFsck({ home, repair: true, removeUnreferenced: false, json: false }, deps);
    assert.deepEqual(kinds(report, (f) => f.repaired === true), ['bad-link-file:A', 'dangling-link:JUNK', 'interrupted:I']);
    assert.deepEqual(kinds(report, (f) => !f.repaired), ['broken-lower:E', 'extra-link:D', 'merged-not-empty:B', 'missing-diff:H', 'parent-mismatch:E', 'too-deep:G']);
    assert.equal(readlinkSync(path.join(home, 'l', link('A'))), '../A/diff', 'the link file was restored from the l/ entry that points at A');
    assert.ok(!readdirSync(home).includes('I'), 'the interrupted layer is gone');
    assert.ok(!readdirSync(path.join(home, 'l')).includes('JUNK'));
    const again = await runFsck({ home, repair: false, removeUnreferenced: false, json: false }, deps);
    assert.equal(again.problems, 6);
  });

  it('exits 1 with problems left, 2 on usage errors, and prints JSON with --json', async () => {
    const out: string[] = [];
    const err: string[] = [];
    assert.equal(await fsckMain(['--home', home, '--json'], deps, (s) => out.push(s), (s) => err.push(s)), 1);
    assert.equal((JSON.parse(out.pop()!) as FsckReport).problems, 6);
    assert.equal(await fsckMain(['--home', 'relative'], deps, (s) => out.push(s), (s) => err.push(s)), 2);
    assert.equal(await fsckMain(['--bogus'], deps, (s) => out.push(s), (s) => err.push(s)), 2);
    assert.equal(await fsckMain([], deps, (s) => out.push(s), (s) => err.push(s)), 2);
    assert.match(err.join('\n'), /--home is required/);
    assert.equal(await fsckMain(['--home', home, '--docker-root', '/nonexistent'], deps, (s) => out.push(s), (s) => err.push(s)), 2);
    assert.equal(await fsckMain(['--home', path.join(home, 'missing')], deps, (s) => out.push(s), (s) => err.push(s)), 2);
  });
});

