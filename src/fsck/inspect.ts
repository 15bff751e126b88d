/**
 * Read-only inspection of a driver home: every layer's link, l/ symlink, lower chain, parent,
 * diff/work/merged dirs and incomplete marker; the l/ directory; staging leftovers; mounts under
 * the home; and, given Docker's references, the layers nobody uses and the space they hold.
 */
import { lstatSync, readdirSync } from 'node:fs';
import { readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { MAX_DEPTH } from '../store/layer-store';
import { isLinkId } from '../store/ids';
import { isLayerName, layerOfLinkTarget, mountPointsBelow, type Layout } from '../store/layout';
import { pathExists, readOptional } from '../store/meta';
import type { MountEntry } from '../sys/mountinfo';
import { DELETED_SUFFIX, type LoopDevice } from '../sys/loop-fs';
import type { Finding } from './findings';

/** LayerRecord is what one layer dir says about itself. */
interface LayerRecord {
  id: string;
  link?: string;
  lowers?: string[];
  parent?: string;
}

export interface InspectInput {
  layout: Layout;
  mounts: readonly MountEntry[];
  /** the loop devices attached on this host */
  loopDevices: readonly LoopDevice[];
  /** layer ids Docker references, or undefined when its layer database is unknown */
  references?: ReadonlySet<string>;
  /** a live Strata serves the home: its staging area and incomplete layers are work in progress */
  live: boolean;
}

export interface Inspection {
  layers: number;
  findings: Finding[];
  /** mount points under the home that belong to layers in use */
  mounts: string[];
}

// Docker names layers by 64 hex digits; container layers add "-init". Anything else (BuildKit
// cache snapshots, for one) is not in the layer database, so its absence proves nothing.
const DOCKER_LAYER_ID = /^[0-9a-f]{64}(-init)?$/;

/** diskUsage counts the blocks under `dir` once per inode, without crossing into mounts. */
export function diskUsage(dir: string): number {
  const seen = new Set<bigint>();
  const root = lstatSync(dir, { bigint: true });
  let bytes = 0;
  const visit = (p: string): void => {
    const st = lstatSync(p, { bigint: true });
    if (st.dev !== root.dev || seen.has(st.ino)) return;
    seen.add(st.ino);
    bytes += Number(st.blocks) * 512;
    if (st.isDirectory()) for (const name of readdirSync(p)) visit(path.join(p, name));
  };
  visit(dir);
  return bytes;
}

async function layerNames(layout: Layout): Promise<string[]> {
  const entries = await readdir(layout.home, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory() && isLayerName(e.name)).map((e) => e.name).sort();
}

async function readRecord(layout: Layout, id: string): Promise<LayerRecord> {
  const link = readOptional(layout.linkFile(id))?.trim();
  const lowerText = readOptional(layout.lowerFile(id))?.trim();
  const parent = readOptional(layout.parentFile(id))?.trim() || undefined;
  return { id, link, lowers: lowerText ? lowerText.split(':') : undefined, parent };
}

/** readLinks maps each l/ entry to the layer id its symlink names (undefined if it is no such link). */
async function readLinks(layout: Layout): Promise<Map<string, string | undefined>> {
  const links = new Map<string, string | undefined>();
  for (const name of await readdir(layout.linksDir()).catch(() => [] as string[])) {
    const target = await readlink(layout.linkPath(name)).catch(() => undefined);
    links.set(name, target === undefined ? undefined : layerOfLinkTarget(target));
  }
  return links;
}

function checkLink(layout: Layout, r: LayerRecord, links: Map<string, string | undefined>, layerIds: Set<string>): Finding[] {
  if (r.link === undefined || !isLinkId(r.link)) {
    const claimed = [...links].find(([, id]) => id === r.id)?.[0];
    return [{
      kind: 'bad-link-file', id: r.id, path: layout.linkFile(r.id),
      detail: r.link === undefined ? 'the link file is missing' : `the link file holds ${JSON.stringify(r.link.slice(0, 40))}`,
      fix: claimed ? { action: 'write-link-file', id: r.id, link: claimed } : undefined,
    }];
  }
  const owner = links.get(r.link);
  if (links.has(r.link) && owner === r.id) return [];
  // A link that points at another existing layer cannot be taken over safely.
  const taken = owner !== undefined && owner !== r.id && layerIds.has(owner);
  return [{
    kind: 'missing-link', id: r.id, path: layout.linkPath(r.link),
    detail: links.has(r.link) ? `l/${r.link} does not point at ${layout.linkTarget(r.id)}` : `l/${r.link} is missing`,
    fix: taken ? undefined : { action: 'create-link', id: r.id, link: r.link },
  }];
}

function checkLowers(layout: Layout, r: LayerRecord, linkOwners: Map<string, string>): Finding[] {
  const findings: Finding[] = [];
  const lowers = r.lowers ?? [];
  if (lowers.length > MAX_DEPTH) {
    findings.push({ kind: 'too-deep', id: r.id, path: layout.lowerFile(r.id), detail: `${lowers.length} lower layers (at most ${MAX_DEPTH})` });
  }
  const unresolved = lowers.filter((entry) => !entry.startsWith('l/') || !isLinkId(entry.slice(2)) || !linkOwners.has(entry.slice(2)));
  if (unresolved.length > 0) {
    findings.push({ kind: 'broken-lower', id: r.id, path: layout.lowerFile(r.id), detail: `lower entries that no layer provides: ${unresolved.slice(0, 3).join(', ')}${unresolved.length > 3 ? ', …' : ''}` });
  }
  const first = lowers[0]?.slice(2);
  if (r.parent !== undefined && (first === undefined || linkOwners.get(first) !== r.parent)) {
    findings.push({ kind: 'parent-mismatch', id: r.id, path: layout.parentFile(r.id), detail: `the parent file names ${r.parent}, whose link is not the first lower entry` });
  }
  return findings;
}

async function checkDirs(layout: Layout, r: LayerRecord, mounted: Set<string>): Promise<Finding[]> {
  const findings: Finding[] = [];
  if (!pathExists(layout.diffDir(r.id))) findings.push({ kind: 'missing-diff', id: r.id, path: layout.diffDir(r.id), detail: 'the layer has no diff dir: its files are lost' });
  if (r.lowers && !pathExists(layout.workDir(r.id))) {
    findings.push({ kind: 'missing-work', id: r.id, path: layout.workDir(r.id), detail: 'a layer with lowers needs a work dir to be mounted', fix: { action: 'make-work-dir', id: r.id } });
  }
  const limited = pathExists(layout.sizeLimitFile(r.id));
  const image = pathExists(layout.limitImage(r.id));
  if (limited && !image) findings.push({ kind: 'missing-image', id: r.id, path: layout.limitImage(r.id), detail: 'the layer has a size limit but no image file: its files are lost' });
  if (!limited && image) {
    const fix = mounted.has(layout.limitDir(r.id)) ? undefined : { action: 'remove-path' as const, path: layout.limitImage(r.id) };
    findings.push({ kind: 'leaked-image', id: r.id, path: layout.limitImage(r.id), detail: 'an image file in a layer without a size limit', bytes: diskUsage(layout.limitImage(r.id)), fix });
  }
  const merged = layout.mergedDir(r.id);
  if (!mounted.has(merged) && (await readdir(merged).catch(() => [])).length > 0) {
    findings.push({ kind: 'merged-not-empty', id: r.id, path: merged, detail: 'files were written into the mount point while nothing was mounted there' });
  }
  return findings;
}

function checkStrayLinks(layout: Layout, links: Map<string, string | undefined>, records: Map<string, LayerRecord>): Finding[] {
  const findings: Finding[] = [];
  for (const [name, id] of links) {
    const r = id === undefined ? undefined : records.get(id);
    if (r === undefined) {
      // A layer whose link file names this entry gets it re-pointed by its missing-link fix.
      if ([...records.values()].some((x) => x.link === name)) continue;
      findings.push({ kind: 'dangling-link', path: layout.linkPath(name), detail: id === undefined ? 'not a link to a layer diff dir' : `points at ${layout.linkTarget(id)}, which does not exist`, fix: { action: 'remove-path', path: layout.linkPath(name) } });
    } else if (r.link !== name && isLinkId(r.link ?? '')) {
      findings.push({ kind: 'extra-link', id, path: layout.linkPath(name), detail: `layer ${id} is linked as l/${r.link}; lower chains naming l/${name} still resolve` });
    }
  }
  return findings;
}

async function checkLeftovers(layout: Layout, live: boolean, mounted: Set<string>): Promise<Finding[]> {
  const findings: Finding[] = [];
  const staging = live ? [] : await readdir(layout.stagingDir()).catch(() => [] as string[]);
  const probes = (await readdir(layout.home)).filter((n) => n.startsWith('.probe-') && !live);
  const paths = [...staging.map((n) => path.join(layout.stagingDir(), n)), ...probes.map((n) => path.join(layout.home, n))];
  for (const p of paths) {
    if (mountPointsBelow(p, mounted).length > 0) continue;
    findings.push({ kind: 'staging-leftover', path: p, detail: 'left by an interrupted write', bytes: diskUsage(p), fix: { action: 'remove-path', path: p } });
  }
  return findings;
}

/**
 * checkLoopDevices finds loop devices on files under the home that are not the image of a
 * layer whose filesystem is mounted: a mounted limit clears its device when unmounted, so any
 * other one holds its image (and, once the image is deleted, its space) for nothing.
 */
function checkLoopDevices(input: InspectInput, records: Map<string, LayerRecord>, mounted: Set<string>): Finding[] {
  const { layout } = input;
  const findings: Finding[] = [];
  for (const dev of input.loopDevices) {
    const deleted = dev.backingFile.endsWith(DELETED_SUFFIX);
    const file = deleted ? dev.backingFile.slice(0, -DELETED_SUFFIX.length) : dev.backingFile;
    if (!file.startsWith(layout.home + path.sep)) continue;
    if (input.live && file.startsWith(layout.stagingDir() + path.sep)) continue;
    const id = path.basename(path.dirname(file));
    const held = !deleted && records.has(id) && file === layout.limitImage(id) && mounted.has(layout.limitDir(id));
    if (held) continue;
    findings.push({ kind: 'leaked-loop-device', id: records.has(id) ? id : undefined, path: dev.device, detail: `attached to ${deleted ? 'a deleted' : 'an'} image file that no mounted layer filesystem holds`, fix: { action: 'release-loop', device: dev.device } });
  }
  return findings;
}

function classifyMounts(input: InspectInput, records: Map<string, LayerRecord>): { findings: Finding[]; inUse: string[] } {
  const { layout, references } = input;
  const findings: Finding[] = [];
  const inUse: string[] = [];
  for (const m of input.mounts) {
    const id = layout.layerOfMountPoint(m.mountPoint) ?? layout.layerOfLimitMount(m.mountPoint);
    const used = id !== undefined && records.has(id) && (references === undefined || references.has(id));
    if (used) inUse.push(m.mountPoint);
    else findings.push({ kind: 'leaked-mount', id, path: m.mountPoint, detail: id && records.has(id) ? 'mounted, but Docker no longer uses this layer' : 'mounted, but belongs to no layer', fix: { action: 'unmount', path: m.mountPoint } });
  }
  return { findings, inUse };
}

function checkReferences(input: InspectInput, r: LayerRecord, interrupted: boolean, keptChild: string | undefined): Finding[] {
  const { layout, references } = input;
  if (references === undefined || references.has(r.id)) return [];
  const bytes = diskUsage(layout.layerDir(r.id));
  let detail = 'Docker no longer references this layer';
  if (!DOCKER_LAYER_ID.test(r.id)) detail = 'not in Docker\'s layer database, but not a Docker layer id either (BuildKit cache?): never removed';
  else if (keptChild) detail += `, but the kept layer ${keptChild} builds on it: not removed`;
  // An interrupted layer is removed by its own fix.
  const removable = DOCKER_LAYER_ID.test(r.id) && !keptChild && !interrupted;
  return [{ kind: 'unreferenced', id: r.id, path: layout.layerDir(r.id), bytes, detail, fix: removable ? { action: 'remove-layer', id: r.id } : undefined }];
}

/**
 * keptChildren maps each layer that a kept layer builds on (any of its lowers) to one such
 * kept layer. A layer is kept when Docker references it or when fsck would never remove it;
 * removing what it builds on would break it.
 */
function keptChildren(input: InspectInput, records: Map<string, LayerRecord>, linkOwners: Map<string, string>): Map<string, string> {
  const refs = input.references;
  const kept = [...records.values()].filter((r) => refs === undefined || refs.has(r.id) || !DOCKER_LAYER_ID.test(r.id));
  const children = new Map<string, string>();
  for (const r of kept) {
    for (const entry of r.lowers ?? []) {
      const lower = linkOwners.get(entry.slice(2));
      if (lower !== undefined && !children.has(lower)) children.set(lower, r.id);
    }
  }
  return children;
}

/** inspectHome examines a home without changing it. */
export async function inspectHome(input: InspectInput): Promise<Inspection> {
  const { layout } = input;
  const ids = await layerNames(layout);
  const records = new Map<string, LayerRecord>();
  for (const id of ids) records.set(id, await readRecord(layout, id));
  const links = await readLinks(layout);
  const linkOwners = new Map<string, string>();
  for (const r of records.values()) if (r.link && isLinkId(r.link)) linkOwners.set(r.link, r.id);
  for (const [name, id] of links) if (id !== undefined && records.has(id) && !linkOwners.has(name)) linkOwners.set(name, id);
  const mountPoints = new Set(input.mounts.map((m) => m.mountPoint));
  const layerIds = new Set(ids);

  const kept = keptChildren(input, records, linkOwners);
  const findings: Finding[] = [];
  for (const r of records.values()) {
    const interrupted = !input.live && pathExists(layout.incompleteFile(r.id));
    if (interrupted) {
      const child = kept.get(r.id);
      const detail = `its ApplyDiff was cut short; Docker never registered it${child ? `, but the kept layer ${child} builds on it` : ''}`;
      findings.push({ kind: 'interrupted', id: r.id, path: layout.incompleteFile(r.id), detail, fix: child ? undefined : { action: 'remove-layer', id: r.id } });
    }
    findings.push(...checkLink(layout, r, links, layerIds));
    findings.push(...checkLowers(layout, r, linkOwners));
    findings.push(...(await checkDirs(layout, r, mountPoints)));
    findings.push(...checkReferences(input, r, interrupted, kept.get(r.id)));
  }
  findings.push(...checkStrayLinks(layout, links, records));
  findings.push(...(await checkLeftovers(layout, input.live, mountPoints)));
  findings.push(...checkLoopDevices(input, records, mountPoints));
  const mounts = classifyMounts(input, records);
  findings.push(...mounts.findings);
  return { layers: ids.length, findings, mounts: mounts.inUse };
}
