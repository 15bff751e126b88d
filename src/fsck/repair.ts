/**
 * Applying the fixes `strata fsck` found. Only run while no Strata serves the home: every fix
 * assumes that nothing else is creating, mounting or removing layers at the same time.
 */
import { chown, mkdir, readlink, rm, stat, symlink } from 'node:fs/promises';
import { mountPointsBelow, type Layout } from '../store/layout';
import { readOptional, writeFileAtomic } from '../store/meta';
import type { MountEntry } from '../sys/mountinfo';
import type { Mounter } from '../sys/mounter';
import type { LoopFilesystems } from '../sys/loop-fs';
import { diskUsage } from './inspect';
import type { Finding, Fix } from './findings';

export interface RepairDeps {
  layout: Layout;
  mounter: Mounter;
  loopFs: LoopFilesystems;
  readMounts: () => Promise<MountEntry[]>;
}

// Unmounts first (a mounted layer cannot be deleted), then removals, then re-creations.
const ORDER: Record<Fix['action'], number> = { unmount: 0, 'release-loop': 0.5, 'remove-layer': 1, 'remove-path': 2, 'write-link-file': 3, 'create-link': 4, 'make-work-dir': 5 };

async function unmountBelow(deps: RepairDeps, dir: string): Promise<void> {
  for (const m of mountPointsBelow(dir, (await deps.readMounts()).map((e) => e.mountPoint))) await deps.mounter.unmount(m, { lazy: true });
}

/** removeLayer deletes a layer dir and its l/ link (only if the link still points at it); returns the bytes freed. */
async function removeLayer(deps: RepairDeps, id: string): Promise<number> {
  const { layout } = deps;
  await unmountBelow(deps, layout.layerDir(id));
  const bytes = diskUsage(layout.layerDir(id));
  const link = readOptional(layout.linkFile(id))?.trim();
  if (link && (await readlink(layout.linkPath(link)).catch(() => undefined)) === layout.linkTarget(id)) await rm(layout.linkPath(link));
  await rm(layout.layerDir(id), { recursive: true, force: true, maxRetries: 3 });
  return bytes;
}

async function makeWorkDir(layout: Layout, id: string): Promise<void> {
  // The work dir belongs to whoever owns the diff dir (the remapped root under userns-remap).
  const owner = await stat(layout.diffDir(id));
  await mkdir(layout.workDir(id), { mode: 0o700 });
  await chown(layout.workDir(id), owner.uid, owner.gid);
}

/** applyFix performs one fix and returns the disk space it freed. */
async function applyFix(deps: RepairDeps, fix: Fix, bytes: number | undefined): Promise<number> {
  const { layout } = deps;
  switch (fix.action) {
    case 'unmount':
      await deps.mounter.unmount(fix.path, { lazy: true });
      return 0;
    case 'release-loop':
      await deps.loopFs.release(fix.device);
      return 0;
    case 'remove-layer':
      return removeLayer(deps, fix.id);
    case 'remove-path':
      await unmountBelow(deps, fix.path);
      await rm(fix.path, { recursive: true, force: true, maxRetries: 3 });
      return bytes ?? 0;
    case 'write-link-file':
      writeFileAtomic(layout.linkFile(fix.id), fix.link, 0o644);
      return 0;
    case 'create-link':
      await rm(layout.linkPath(fix.link), { force: true });
      await mkdir(layout.linksDir(), { recursive: true, mode: 0o700 });
      await symlink(layout.linkTarget(fix.id), layout.linkPath(fix.link));
      return 0;
    case 'make-work-dir':
      await makeWorkDir(layout, fix.id);
      return 0;
  }
}

/**
 * repairFindings applies the fixes of the chosen findings in a safe order, marking each as
 * repaired or recording why it failed. It returns the disk space freed and the layers removed.
 */
export async function repairFindings(deps: RepairDeps, chosen: Finding[]): Promise<{ freed: number; removed: Set<string> }> {
  let freed = 0;
  const removed = new Set<string>();
  const ordered = chosen.filter((f) => f.fix).sort((a, b) => ORDER[a.fix!.action] - ORDER[b.fix!.action]);
  for (const f of ordered) {
    // A layer removed by an earlier fix takes its other findings with it.
    if (f.id !== undefined && removed.has(f.id)) {
      f.repaired = true;
      continue;
    }
    try {
      freed += await applyFix(deps, f.fix!, f.bytes);
      if (f.fix!.action === 'remove-layer') removed.add(f.fix!.id);
      f.repaired = true;
    } catch (err) {
      f.repaired = false;
      f.repairError = (err as Error).message;
    }
  }
  return { freed, removed };
}
