/**
 * Deleting trees: small ones in process (raw, non-UTF-8 names included), large ones and any
 * tree with something mounted below it by the child `rm --one-file-system`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { Exec } from '../../src/sys/exec';
import { smallTreeOnOneDevice, treeRemover } from '../../src/sys/remove-tree';
import { needRoot } from '../helpers/tiers';
import { makeTmpDir } from '../helpers/tmp-dir';

function recordingExec(): { exec: Exec; calls: string[][] } {
  const calls: string[][] = [];
  return { calls, exec: async (argv) => (calls.push([...argv]), { stdout: '', stderr: '' }) };
}

describe('treeRemover', { skip: needRoot() }, () => {
  it('deletes a small tree in process, whatever bytes its names hold', async (t) => {
    const tree = path.join(makeTmpDir(t, 'strata-rmtree-'), 'tree');
    fs.mkdirSync(path.join(tree, 'a', 'b'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'a', 'b', 'f'), 'x');
    fs.writeFileSync(Buffer.concat([Buffer.from(`${tree}/`), Buffer.from([0xff, 0xfe, 0x41])]), 'latin');
    fs.symlinkSync('/nowhere', path.join(tree, 'dangling'));
    const { exec, calls } = recordingExec();
    await treeRemover(exec)(tree);
    assert.deepEqual(calls, []);
    assert.equal(fs.existsSync(tree), false);
    await treeRemover(exec)(tree);
    assert.deepEqual(calls, [], 'a missing tree is no error and needs no child');
  });

  it('hands a tree of more entries than the limit to rm --one-file-system', async (t) => {
    const tree = path.join(makeTmpDir(t, 'strata-rmtree-'), 'tree');
    fs.mkdirSync(tree);
    for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(tree, `f${i}`), '');
    const { exec, calls } = recordingExec();
    await treeRemover(exec, 4)(tree);
    assert.deepEqual(calls, [['rm', '-rf', '--one-file-system', '--', tree]]);
    assert.equal(fs.readdirSync(tree).length, 5);
  });

  it('never deletes in process below a mount', (t) => {
    const tree = path.join(makeTmpDir(t, 'strata-rmtree-'), 'tree');
    fs.mkdirSync(path.join(tree, 'mnt'), { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', path.join(tree, 'mnt')]);
    fs.writeFileSync(path.join(tree, 'mnt', 'precious'), 'x');
    assert.equal(smallTreeOnOneDevice(tree, 256), false);
    execFileSync('umount', [path.join(tree, 'mnt')]);
    assert.equal(smallTreeOnOneDevice(tree, 256), true);
  });
});
