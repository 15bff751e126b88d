/**
 * Per-test scratch directories under /tmp. makeTmpDir registers a t.after hook that lazily
 * unmounts anything still mounted below the directory (deepest first) and then removes it, so
 * a failing test leaves neither mounts nor files behind.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

/** The minimal slice of node:test's TestContext that makeTmpDir needs. */
export interface AfterHook {
  after(fn: () => void | Promise<void>): void;
}

// Independent of src/sys/mountinfo.ts on purpose: cleanup must not depend on the code under test.
function unescapeMountPoint(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export interface MountRow {
  mountPoint: string;
  /** per-mount options (rw/ro, nosuid, …) */
  mountOptions: string;
  fsType: string;
  /** filesystem options (lowerdir=…, upperdir=…) */
  superOptions: string;
}

/** mountTable reads /proc/self/mountinfo. */
export function mountTable(): MountRow[] {
  const rows: MountRow[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0) continue;
    rows.push({ mountPoint: unescapeMountPoint(f[4]!), mountOptions: f[5]!, fsType: f[sep + 1]!, superOptions: f[sep + 3] ?? '' });
  }
  return rows;
}

/** mountPointsUnder lists the mount points at or below `dir` in this process's namespace. */
export function mountPointsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return mountTable()
    .map((m) => m.mountPoint)
    .filter((m) => m === dir || m.startsWith(prefix));
}

/** loopDevicesUnder lists the attached loop devices whose backing file is below `dir` (deleted ones too). */
export function loopDevicesUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const devices: string[] = [];
  for (const name of readdirSync('/sys/block').filter((n) => n.startsWith('loop'))) {
    let backing: string;
    try {
      backing = readFileSync(path.join('/sys/block', name, 'loop', 'backing_file'), 'utf8').trim();
    } catch {
      continue;
    }
    if (backing.startsWith(prefix)) devices.push(`/dev/${name}`);
  }
  return devices;
}

/** unmountAllUnder unmounts everything below `dir` (lazy, deepest first) and detaches loop devices on its files, as a reboot would. */
export function unmountAllUnder(dir: string): void {
  for (let round = 0; round < 5; round++) {
    const mounts = mountPointsUnder(dir).sort((a, b) => b.length - a.length);
    if (mounts.length === 0) break;
    for (const m of mounts) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  }
  for (const device of loopDevicesUnder(dir)) spawnSync('losetup', ['-d', device], { stdio: 'ignore' });
}

/** removeTmpDir unmounts everything below `dir` (see unmountAllUnder) and deletes it. */
export function removeTmpDir(dir: string): void {
  unmountAllUnder(dir);
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** makeTmpDir creates a fresh directory under /tmp that is cleaned up when the test ends. */
export function makeTmpDir(t: AfterHook, prefix = 'strata-test-'): string {
  const dir = mkdtempSync(path.join('/tmp', prefix));
  t.after(() => removeTmpDir(dir));
  return dir;
}
