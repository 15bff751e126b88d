/**
 * What a size limit costs: the same docker commands on the Strata dockerd with
 * `--storage-opt size=` and without, interleaved round by round. A limited container layer makes
 * a sparse image, runs mkfs.ext4 and mounts it through a loop device at create, and unmounts it
 * at rm; its writes go through ext4 on the loop device into the image file on the host's
 * filesystem. overlay2 cannot take part: on this ext4 host it refuses `--storage-opt size`.
 */
import type { TestDaemon } from '../test/helpers/dockerd';
import { BUSYBOX_TAG } from './docker-bench';
import { describeSamples, flushDirtyPages, interleave, repeat, timeMs, type Comparison, type Target } from './measure';
import type { Profile } from './options';

const LIMIT_SIDES = ['limited', 'unlimited'] as const;
type LimitSide = (typeof LIMIT_SIDES)[number];

/** START_TARGET is the bar: a limited container starts within 50 ms of an unlimited one. */
const START_TARGET: Target = { maxRatio: Infinity, maxDeltaMs: 50, text: '≤ +50 ms' };

/** sizeArgs is what a side adds to `docker create`/`run`: a limit well above what the sample writes. */
function sizeArgs(side: LimitSide, bytesWritten = 0): string[] {
  const mib = Math.max(1024, Math.ceil((bytesWritten * 2) / 2 ** 20));
  return side === 'limited' ? ['--storage-opt', `size=${mib}M`] : [];
}

/** limitBench runs the size-limit comparisons on the Strata dockerd `d` (which has BUSYBOX_TAG). */
export async function limitBench(d: TestDaemon, profile: Profile, progress: (line: string) => void): Promise<Comparison[]> {
  const results: Comparison[] = [];
  const compare = async (id: string, label: string, target: Target | undefined, measure: (side: LimitSide) => Promise<number[]>) => {
    const samples = await interleave(profile.rounds, LIMIT_SIDES, async (side) => {
      await flushDirtyPages();
      return measure(side);
    });
    results.push({ id, group: 'limit', label, sides: [...LIMIT_SIDES], samples, target });
    progress(describeSamples(id, samples));
  };
  const run = ['run', '--rm', '--network', 'none'];
  await compare('limit-create-rm', 'docker create + docker rm, --storage-opt size=1G vs none', START_TARGET, (side) =>
    repeat(profile.samplesPerRound, async () => {
      const id = (await d.docker(['create', '--network', 'none', ...sizeArgs(side), BUSYBOX_TAG, 'true'])).stdout.trim();
      await d.docker(['rm', id]);
    }));
  await compare('limit-run', 'docker run --rm busybox true, --storage-opt size=1G vs none', START_TARGET, (side) =>
    repeat(profile.samplesPerRound, () => d.docker([...run, ...sizeArgs(side), BUSYBOX_TAG, 'true'])));
  const bytes = profile.limitWriteMiB * 2 ** 20;
  const write = `dd if=/dev/zero of=/data bs=1M count=${profile.limitWriteMiB} conv=fsync 2>/dev/null`;
  await compare('limit-write', `docker run --rm writing ${profile.limitWriteMiB} MiB (dd, fsync), size=2x vs none`, undefined, async (side) =>
    [await timeMs(() => d.docker([...run, ...sizeArgs(side, bytes), BUSYBOX_TAG, 'sh', '-c', write], { timeoutMs: 10 * 60_000 }))]);
  return results;
}
