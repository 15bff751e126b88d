/**
 * Reading the .cpuprofile files that `node --cpu-prof` writes when Strata exits: self time per
 * function (where the CPU went), the top of the list, and the share that was idle.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** ProfileSummary is one profile's busy time and its hottest functions by self time. */
export interface ProfileSummary {
  file: string;
  totalMs: number;
  idleMs: number;
  top: Array<{ fn: string; selfMs: number; percentOfBusy: number }>;
}

function frameName(n: ProfileNode): string {
  const { functionName, url, lineNumber } = n.callFrame;
  const where = url ? `${url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^node:/, '')}:${lineNumber + 1}` : '';
  return `${functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
}

/** summariseProfile adds up self time per function of one profile. */
export function summariseProfile(file: string, profile: CpuProfile, topN: number): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  let idle = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const node = byId.get(id);
    const name = node ? frameName(node) : '(unknown)';
    total += us;
    if (name.startsWith('(idle)')) idle += us;
    else self.set(name, (self.get(name) ?? 0) + us);
  });
  const busy = Math.max(1, total - idle);
  const top = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([fn, us]) => ({ fn, selfMs: Math.round(us / 100) / 10, percentOfBusy: Math.round((us / busy) * 1000) / 10 }));
  return { file, totalMs: Math.round(total / 1000), idleMs: Math.round(idle / 1000), top };
}

/** summariseProfiles reads every .cpuprofile in `dir`. */
export async function summariseProfiles(dir: string, topN = 25): Promise<ProfileSummary[]> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile')).sort();
  const out: ProfileSummary[] = [];
  for (const f of files) {
    const full = path.join(dir, f);
    out.push(summariseProfile(full, JSON.parse(await readFile(full, 'utf8')) as CpuProfile, topN));
  }
  return out;
}

/** formatProfile renders one summary as text. */
export function formatProfile(p: ProfileSummary): string {
  const lines = [`${p.file}: ${p.totalMs} ms sampled, ${p.idleMs} ms idle; self time of the busy part:`];
  for (const t of p.top) lines.push(`  ${t.percentOfBusy.toFixed(1).padStart(5)}%  ${t.selfMs.toFixed(1).padStart(9)} ms  ${t.fn}`);
  return lines.join('\n');
}
