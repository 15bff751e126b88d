/**
 * Which process serves a home. The store records its pid, the kernel's start time of that pid
 * and its pid namespace when it opens, so that `strata fsck --repair` can tell a live server
 * (whose staging area, mounts and fresh layers are in use) from a file left behind by a crash,
 * even after pid reuse, and even when Strata runs as a managed plugin in a pid namespace of its
 * own while fsck runs on the host.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { z } from 'zod';
import type { Layout } from './layout';
import { readOptional, writeFileAtomic } from './meta';

const OwnerSchema = z.object({ pid: z.number().int().positive(), startTime: z.string(), pidNamespace: z.string() });

/** HomeOwner identifies a process by pid and start time (field 22 of /proc/<pid>/stat) in a pid namespace. */
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

function pidNamespaceOf(pid: number | 'self'): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

/** innermostPid returns a process's pid as seen in its own pid namespace (the last NSpid field). */
function innermostPid(pid: number): number | undefined {
  try {
    const line = /^NSpid:\s*(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return line === undefined ? undefined : Number(line.trim().split(/\s+/).pop());
  } catch {
    return undefined;
  }
}

/** visiblePid returns the pid under which this process sees the owner, or undefined if it is not running. */
function visiblePid(owner: HomeOwner): number | undefined {
  if (owner.pidNamespace === pidNamespaceOf('self')) return processStartTime(owner.pid) === owner.startTime ? owner.pid : undefined;
  // Another namespace (a managed plugin seen from the host): find the process whose innermost pid it is.
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pidNamespaceOf(pid) !== owner.pidNamespace) continue;
    if (innermostPid(pid) === owner.pid && processStartTime(pid) === owner.startTime) return pid;
  }
  return undefined;
}

/** claimHome records this process as the one serving the home. */
export async function claimHome(layout: Layout): Promise<void> {
  const owner: HomeOwner = { pid: process.pid, startTime: processStartTime(process.pid) ?? '', pidNamespace: pidNamespaceOf('self') ?? '' };
  writeFileAtomic(layout.ownerFile(), JSON.stringify(owner), 0o600);
}

/** liveOwner returns the recorded owner of the home, with the pid this process sees it under, if that very process still runs. */
export async function liveOwner(layout: Layout): Promise<HomeOwner | undefined> {
  const text = readOptional(layout.ownerFile());
  if (text === undefined) return undefined;
  let owner: HomeOwner;
  try {
    owner = OwnerSchema.parse(JSON.parse(text));
  } catch {
    return undefined;
  }
  const pid = visiblePid(owner);
  return pid === undefined ? undefined : { ...owner, pid };
}
