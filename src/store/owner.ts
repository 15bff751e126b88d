/**
 * Which process serves a home. The store records its pid and the kernel's start time of that
 * pid when it opens, so that `strata fsck --repair` can tell a live server (whose staging area,
 * mounts and fresh layers are in use) from a file left behind by a crash, even after pid reuse.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Layout } from './layout';
import { readOptional, writeFileAtomic } from './meta';

const OwnerSchema = z.object({ pid: z.number().int().positive(), startTime: z.string() });

/** HomeOwner identifies a process by pid and start time (field 22 of /proc/<pid>/stat). */
export type HomeOwner = z.infer<typeof OwnerSchema>;

/** processStartTime returns the start time of `pid` in clock ticks since boot, or undefined if it is gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** claimHome records this process as the one serving the home. */
export async function claimHome(layout: Layout): Promise<void> {
  const owner: HomeOwner = { pid: process.pid, startTime: processStartTime(process.pid) ?? '' };
  await writeFileAtomic(layout.ownerFile(), JSON.stringify(owner), 0o600);
}

/** liveOwner returns the recorded owner of the home if that very process still runs. */
export async function liveOwner(layout: Layout): Promise<HomeOwner | undefined> {
  const text = await readOptional(layout.ownerFile());
  if (text === undefined) return undefined;
  let owner: HomeOwner;
  try {
    owner = OwnerSchema.parse(JSON.parse(text));
  } catch {
    return undefined;
  }
  return processStartTime(owner.pid) === owner.startTime ? owner : undefined;
}
