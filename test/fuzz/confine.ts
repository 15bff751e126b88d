/**
 * Confinement for a fuzz target that writes files as root: in the worker's own mount namespace
 * (the runner starts it under `unshare --mount --propagation private`), a fresh tmpfs on the
 * target's scene and every other mount read-only, so that an escape from the extraction target
 * cannot touch the machine and fails with EROFS instead.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

function mount(args: string[]): void {
  // -n: no userspace mount table (/run/mount/utab), which sits on the root that is made read-only.
  // Pipes, not 'ignore': that opens /dev/null, which a nodev /dev refuses.
  execFileSync('mount', ['-n', ...args], { stdio: 'pipe' });
}

/** mountPoints lists the mount points of this namespace, as /proc/self/mountinfo escapes them (\040 for a space). */
function mountPoints(): string[] {
  const rows = fs.readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n');
  return [...new Set(rows.map((row) => row.split(' ')[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))))];
}

/** mountNamespace names this process's mount namespace ("mnt:[4026531841]"). */
export function mountNamespace(): string {
  return fs.readlinkSync('/proc/self/ns/mnt');
}

const within = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`);

/**
 * confine mounts a tmpfs on `scene`, keeps each of `writable` writable, and makes every other
 * mount read-only (and /dev's device nodes unopenable). It refuses to run in the machine's own
 * mount namespace (that of the runner, `parentNamespace`), where it would make the host read-only.
 */
export function confine(scene: string, writable: readonly string[], parentNamespace: string): void {
  if (mountNamespace() === parentNamespace) {
    throw new Error('confine: not in a mount namespace of its own (start the worker under unshare --mount --propagation private)');
  }
  mount(['-t', 'tmpfs', '-o', 'nodev,nosuid,size=1g', 'strata-fuzz', scene]);
  for (const dir of writable) mount(['--bind', dir, dir]);
  const kept = [scene, ...writable];
  for (const point of mountPoints()) {
    if (kept.some((dir) => within(point, dir))) continue;
    try {
      mount(['-o', `remount,bind,ro${within(point, '/dev') ? ',nodev' : ''}`, point]);
    } catch {
      // NOTE: some pseudo file systems (cgroup, proc's own sub-mounts) do not take a remount; they hold no files an extraction could reach
    }
  }
  const probe = path.join(path.dirname(scene), `.strata-fuzz-probe-${process.pid}`);
  try {
    fs.writeFileSync(probe, '');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EROFS') return;
    throw err;
  }
  fs.rmSync(probe);
  throw new Error(`confine: ${path.dirname(scene)} is still writable`);
}
