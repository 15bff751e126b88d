/**
 * Host checks at Init, on real filesystems: a home on a filesystem without d_type and a home
 * inside an overlay mount are refused with a message that says what to do; a home that is
 * itself a mount point (tmpfs) is never unmounted by Cleanup or Remove.
 * NOTE: the filesystem without d_type is ext2 made without its `filetype` feature (a loop
 * mount). xfs with ftype=0 needs the V4 on-disk format, which current kernels (6.x without
 * CONFIG_XFS_SUPPORT_V4) refuse to mount. "No overlay in the kernel" is not tested: the module
 * is loaded and in use on the test host, and unloading it is neither possible nor acceptable.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exec } from '../helpers/dockerd';
import { eventually } from '../helpers/eventually';
import { smallFileLayer } from '../helpers/image-archive';
import { StrataProcess } from '../helpers/strata-process';
import { mountPointsUnder, removeTmpDir } from '../helpers/tmp-dir';
import { needRoot } from '../helpers/tiers';
import { readFile } from 'node:fs/promises';


function init(strata: StrataProcess, home: string) {
  return strata.call('GraphDriver.Init', { Home: home, Opts: null, UIDMaps: null, GIDMaps: null });
}

describe('host checks at Init', { skip: needRoot() }, () => {
  let dir: string;
  let strata: StrataProcess;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'strata-host-checks-'));
    strata = new StrataProcess(dir);
    await strata.start();
  });

  after(async () => {
    await strata?.kill();
    for (const m of mountPointsUnder(dir).sort((a, b) => b.length - a.length)) await exec('umount', [m], { allowFail: true });
    if (dir) removeTmpDir(dir);
  });

  it('refuses a home on a filesystem without d_type, saying how to turn it on', async () => {
    const image = path.join(dir, 'ext2-nodtype.img');
    await exec('truncate', ['-s', '64M', image]);
    await exec('mkfs.ext2', ['-q', '-F', '-O', '^filetype', image]);
    const mnt = path.join(dir, 'nodtype');
    mkdirSync(mnt);
    // A loop mount with autoclear: the loop device goes away with the unmount.
    await exec('mount', ['-t', 'ext2', '-o', 'loop', image, mnt]);
    const reply = await init(strata, path.join(mnt, 'home'));
    assert.equal(reply.status, 500);
    assert.match(String(reply.json?.Err), /does not report file types in directory entries \(d_type\)/);
    assert.match(String(reply.json?.Err), /tune2fs -O filetype/);
    assert.equal((await strata.call('GraphDriver.Status')).status, 503, 'the driver stays uninitialised');
    assert.deepEqual(mountPointsUnder(mnt), [mnt], 'the probe left no mount behind');
    await exec('umount', [mnt]);
  });

  it('refuses a home inside an overlay mount, suggesting a real filesystem', async () => {
    for (const d of ['lower', 'upper', 'work', 'ovl']) mkdirSync(path.join(dir, d));
    const ovl = path.join(dir, 'ovl');
    await exec('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${dir}/lower,upperdir=${dir}/upper,workdir=${dir}/work`, ovl]);
    const reply = await init(strata, path.join(ovl, 'home'));
    assert.equal(reply.status, 500);
    assert.match(String(reply.json?.Err), /overlay filesystem/);
    assert.match(String(reply.json?.Err), /volume or bind mount/);
    await exec('umount', [ovl]);
  });

  it('never unmounts a home that is itself a mount point, in Cleanup or Remove', async () => {
    const home = path.join(dir, 'tmpfs-home');
    mkdirSync(home);
    await exec('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'strata-home', home]);
    writeFileSync(path.join(home, 'marker'), 'still here\n');
    assert.equal((await init(strata, home)).status, 200);
    const tar = await readFile(await smallFileLayer(path.join(dir, 'l.tar'), 'file.txt', 'x\n'));
    assert.equal((await strata.call('GraphDriver.Create', { ID: 'base' })).status, 200);
    assert.equal((await strata.applyDiff('base', '', tar)).status, 200);
    assert.equal((await strata.call('GraphDriver.CreateReadWrite', { ID: 'rw', Parent: 'base' })).status, 200);
    assert.equal((await strata.call('GraphDriver.Get', { ID: 'rw' })).status, 200);
    assert.deepEqual(mountPointsUnder(home), [home, path.join(home, 'rw', 'merged')]);
    assert.equal((await strata.call('GraphDriver.Cleanup')).status, 200);
    assert.deepEqual(mountPointsUnder(home), [home], 'Cleanup unmounted the layer, not the home');
    assert.equal((await strata.call('GraphDriver.Get', { ID: 'rw' })).status, 200);
    assert.equal((await strata.call('GraphDriver.Remove', { ID: 'rw' })).status, 200);
    assert.equal((await strata.call('GraphDriver.Remove', { ID: 'base' })).status, 200);
    // Removed layers are unmounted and deleted in the background.
    await eventually(() => assert.deepEqual(mountPointsUnder(home), [home], 'Remove of a mounted layer left the home mounted'));
    assert.ok(existsSync(path.join(home, 'marker')), 'and the home\'s own files in place');
    await strata.kill('SIGTERM');
    assert.deepEqual(mountPointsUnder(home), [home], 'so did shutting down');
    await exec('umount', [home]);
  });
});
