/**
 * What dockerd makes of a refused Init: with its data-root's driver home on a filesystem
 * without d_type (ext2 made without `filetype`, loop-mounted), Strata's Init fails, dockerd
 * logs Strata's advice and stops with "driver not supported". Back on a good filesystem the
 * same daemon starts again.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestDaemon, exec, mountsUnder } from '../helpers/dockerd';
import { needDocker } from '../helpers/tiers';

describe('dockerd on a home where overlay cannot work', { skip: needDocker() }, () => {
  let d: TestDaemon;
  let work: string;
  const mounted: string[] = [];

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'strata-host-docker-'));
    d = await TestDaemon.start({ driver: 'strata' });
    await d.stopDockerd();
    await d.killStrata('SIGTERM');
    // dockerd bind-mounts a data-root whose mount is not shared onto itself, hiding mounts
    // below it; a shared bind made here first keeps it from doing so.
    await exec('mount', ['--bind', d.dataRoot, d.dataRoot]);
    mounted.push(d.dataRoot);
    await exec('mount', ['--make-shared', d.dataRoot]);
  });

  after(async () => {
    await d?.stopDockerd();
    for (const m of mounted.reverse()) await exec('umount', [m], { allowFail: true });
    await d?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('dockerd reports the driver not supported, with Strata\'s reason in its log', async () => {
    const image = path.join(work, 'nodtype.img');
    await exec('truncate', ['-s', '64M', image]);
    await exec('mkfs.ext2', ['-q', '-F', '-O', '^filetype', image]);
    await exec('mount', ['-t', 'ext2', '-o', 'loop', image, d.home]);
    mounted.push(d.home);
    await d.startStrata();
    assert.notEqual(await d.startDockerdExpectingFailure(), 0, 'dockerd stopped with an error');
    const log = readFileSync(path.join(d.base, 'dockerd.log'), 'utf8');
    assert.match(log, /driver not supported/);
    assert.match(log, /d_type/);
    assert.deepEqual(mountsUnder(d.home), [], 'the failed probe left no mount');
  });

  it('starts again once the home is back on a filesystem with d_type', async () => {
    await exec('umount', [mounted.pop()!]);
    await d.startDockerd();
    assert.match((await d.docker(['info'])).stdout, /Supports d_type: true/);
  });
});
