/**
 * `--storage-opt size=` on a real dockerd 20.10 with real containers, on this ext4 host where
 * overlay2 refuses it: a write past the limit fails with ENOSPC once the container's filesystem is
 * full, `df /` shows the limit, other containers are unaffected; diff, cp, commit, export and
 * `ps -s` see the layer; the limit and the data survive restarts of Strata, of dockerd and a
 * simulated reboot (everything unmounted, loop devices detached); rm frees the loop device and the
 * image file; `strata.size` in daemon.json is the default; bad sizes are refused by name.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestDaemon, importBusybox } from '../helpers/dockerd';
import { eventually } from '../helpers/eventually';
import { needDocker } from '../helpers/tiers';
import { loopDevicesUnder, unmountAllUnder } from '../helpers/tmp-dir';

const IMAGE = 'busybox:strata';
const MiB = 1024 * 1024;
const RUN = ['--network', 'none'];

/** dfRoot is what `df /` shows inside a container: total and available bytes. */
function parseDf(out: string): { size: number; avail: number } {
  const fields = out.trim().split('\n').at(-1)!.trim().split(/\s+/);
  return { size: Number(fields[1]) * 1024, avail: Number(fields[3]) * 1024 };
}

function imageFiles(home: string): string[] {
  return readdirSync(home).filter((id) => existsSync(path.join(home, id, 'limit.img')));
}

describe('size limits with --storage-opt size', { skip: needDocker() }, () => {
  let d: TestDaemon;

  before(async () => {
    d = await TestDaemon.start({ driver: 'strata' });
    await importBusybox(d, IMAGE);
  });

  after(async () => {
    await d?.stop();
  });

  it('docker info says size limits are available and how they work', async () => {
    const info = (await d.docker(['info'])).stdout;
    assert.match(info, /Size Limits: available \(--storage-opt size=, default strata.size=\): each limited container layer is an ext4 image file on a loop device/);
  });

  it('holds a container to its limit: df shows it, ENOSPC when full, others unaffected', async () => {
    const script = 'df -k / ; dd if=/dev/zero of=/big bs=1M count=100; echo "dd exit $?"; ls -l /big';
    const out = await d.docker(['run', '--rm', ...RUN, '--storage-opt', 'size=64M', IMAGE, 'sh', '-c', script]);
    const df = parseDf(out.stdout.split('\n').slice(0, 2).join('\n'));
    assert.ok(df.size <= 64 * MiB && df.size > 0.85 * 64 * MiB, `df / shows ${df.size} bytes`);
    assert.match(out.stderr, /No space left on device/);
    assert.match(out.stdout, /dd exit 1/);
    const written = Number(out.stdout.trim().split('\n').at(-1)!.trim().split(/\s+/)[4]);
    assert.ok(written <= 64 * MiB && written >= df.avail - 2 * MiB, `wrote ${written} of ${df.avail} free`);
    const free = await d.docker(['run', '--rm', ...RUN, IMAGE, 'sh', '-c', 'dd if=/dev/zero of=/big bs=1M count=100 2>/dev/null; echo "dd exit $?"']);
    assert.equal(free.stdout, 'dd exit 0\n', 'a container without a limit writes 100 MiB');
  });

  it('the layer gives docker diff, cp, commit, export, ps -s and system df as without a limit', async () => {
    await d.docker(['run', '--name', 'limited', ...RUN, '--storage-opt', 'size=32M', IMAGE, 'sh', '-c', 'echo hello > /hello; dd if=/dev/zero of=/five bs=1M count=5 2>/dev/null']);
    assert.deepEqual((await d.docker(['diff', 'limited'])).stdout.trim().split('\n').sort(), ['A /five', 'A /hello']);
    assert.equal((await d.docker(['cp', 'limited:/hello', '-'])).stdout.includes('hello\n'), true);
    const size = (await d.docker(['ps', '-a', '-s', '--filter', 'name=limited', '--format', '{{.Size}}'])).stdout;
    assert.match(size, /^5\.2[0-9]MB \(virtual /);
    const df = (await d.docker(['system', 'df', '--format', '{{.Type}} {{.Size}}'])).stdout;
    assert.match(df, /^Containers 5\.2[0-9]*MB$/m, 'docker system df counts the layer');
    await d.docker(['commit', 'limited', 'limited:committed']);
    assert.equal((await d.docker(['run', '--rm', ...RUN, 'limited:committed', 'cat', '/hello'])).stdout, 'hello\n');
    const listing = (await d.docker(['export', 'limited'])).stdout;
    assert.ok(listing.includes('hello\n'), 'the export carries the file');
    await d.docker(['rmi', 'limited:committed']);
  });

  it('survives restarts of Strata, of dockerd and a reboot, with its data and its limit', async () => {
    const check = async (when: string) => {
      const out = await d.docker(['start', '-a', 'limited2']);
      const lines = out.stdout.trim().split('\n');
      assert.ok(lines.length >= 3, `${when}: ${out.stdout}`);
      assert.ok(parseDf(lines.slice(0, 2).join('\n')).size <= 48 * MiB, `${when}: df / shows the limit`);
      assert.equal(lines.filter((l) => l === 'kept').length >= 1, true, `${when}: the data is there`);
    };
    await d.docker(['create', '--name', 'limited2', ...RUN, '--storage-opt', 'size=48M', IMAGE, 'sh', '-c', 'df -k /; cat /kept 2>/dev/null; echo kept > /kept']);
    await d.docker(['start', '-a', 'limited2']);
    await d.killStrata('SIGKILL');
    await d.startStrata();
    await check('after a Strata crash');
    await d.restartDockerd();
    await check('after a dockerd restart');
    await d.stopDockerd();
    await d.killStrata('SIGTERM');
    unmountAllUnder(d.home);
    assert.deepEqual(loopDevicesUnder(d.home), []);
    await d.startStrata();
    await d.startDockerd();
    await check('after a reboot');
  });

  it('rm frees the loop device and the image file', async () => {
    for (const name of ['limited', 'limited2']) await d.docker(['rm', name]);
    await eventually(() => {
      assert.deepEqual(loopDevicesUnder(d.home), []);
      assert.deepEqual(imageFiles(d.home), []);
      assert.deepEqual(readdirSync(path.join(d.home, '.strata', 'staging')), []);
    });
  });

  it('refuses bad sizes and unknown options by name, creating nothing', async () => {
    const layers = (await d.layerDirs()).length;
    const cases: Array<[string, RegExp]> = [
      ['size=lots', /invalid --storage-opt size="lots": not a size/],
      ['size=0', /invalid --storage-opt size="0": a size limit cannot be zero/],
      ['size=1M', /invalid --storage-opt size="1M": below the smallest limit of 16MiB/],
      ['size=100T', /invalid --storage-opt size=100TiB: more than the \S+ free on the storage driver's filesystem/],
      ['foo=bar', /unknown storage option "foo"/],
    ];
    for (const [opt, message] of cases) {
      const out = await d.docker(['create', ...RUN, '--storage-opt', opt, IMAGE, 'true'], { allowFail: true });
      assert.notEqual(out.code, 0, opt);
      assert.match(out.stderr, message, opt);
    }
    assert.equal((await d.layerDirs()).length, layers, 'no layer was left behind');
    assert.deepEqual(loopDevicesUnder(d.home), []);
  });

  it('applies strata.size from daemon.json when the run gives no size', async () => {
    await writeFile(path.join(d.base, 'daemon.json'), JSON.stringify({ 'storage-opts': ['strata.size=32M'] }));
    try {
      await d.restartDockerd();
      assert.match((await d.docker(['info'])).stdout, /Default Size Limit: 32MiB \(strata.size\)/);
      const out = await d.docker(['run', '--rm', ...RUN, IMAGE, 'df', '-k', '/']);
      assert.ok(parseDf(out.stdout).size <= 32 * MiB, out.stdout);
      const own = await d.docker(['run', '--rm', ...RUN, '--storage-opt', 'size=64M', IMAGE, 'df', '-k', '/']);
      assert.ok(parseDf(own.stdout).size > 32 * MiB, 'the run\'s own size wins');
    } finally {
      await writeFile(path.join(d.base, 'daemon.json'), '{}');
      await d.restartDockerd();
    }
  });
});
