/**
 * `strata fsck`: check a driver home (and, with Docker's layer database, which layers are still
 * used), optionally repair what is safe, and report for a person or, with --json, for scripts.
 * Exit codes: 0 nothing wrong (or everything repaired), 1 problems remain, 2 usage error or
 * refused (a repair was asked for while Strata serves the home).
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { FailedPreconditionError, InvalidArgumentError } from '../errors';
import { Layout } from '../store/layout';
import { liveOwner } from '../store/owner';
import type { MountEntry } from '../sys/mountinfo';
import type { Mounter } from '../sys/mounter';
import type { LoopDevice, LoopFilesystems } from '../sys/loop-fs';
import { findLayerDb, readDockerReferences } from './docker-refs';
import { needsRemoveFlag, type Finding } from './findings';
import { inspectHome } from './inspect';
import { repairFindings } from './repair';

export const FSCK_USAGE = `usage: strata fsck --home DIR [--docker-root DIR] [--repair] [--remove-unreferenced] [--json]

  --home                 the driver home dockerd passed in Init (e.g. /var/lib/docker/strata)
  --docker-root          dockerd's data-root, to find which layers Docker still uses
                         (default: the parent of --home, if it holds image/<driver>/layerdb)
  --repair               fix what is safe: dangling or missing l/ links, link files, work dirs,
                         staging leftovers, interrupted layers, mounts no layer uses
  --remove-unreferenced  also delete layers Docker no longer references
  --json                 print the report as JSON
Repairs need dockerd and strata stopped. Exit codes: 0 clean, 1 problems found, 2 usage error.`;

export interface FsckOptions {
  home: string;
  dockerRoot?: string;
  repair: boolean;
  removeUnreferenced: boolean;
  json: boolean;
}

export interface FsckDeps {
  mounter: Mounter;
  loopFs: LoopFilesystems;
  loopDevices: () => LoopDevice[];
  readMounts: () => Promise<MountEntry[]>;
}

/** FsckReport is the outcome of one run; it is also the --json output. */
export interface FsckReport {
  home: string;
  layerDb: string | null;
  strataPid: number | null;
  layers: number;
  mountsInUse: string[];
  findings: Finding[];
  unreferenced: { layers: number; bytes: number };
  repaired: number;
  reclaimedBytes: number;
  /** problems not repaired */
  problems: number;
}

function absolute(flag: string, value: string | undefined): string {
  if (!value || !path.isAbsolute(value)) throw new InvalidArgumentError(`${flag} needs an absolute path`);
  return path.normalize(value).replace(/(.)\/$/, '$1');
}

/** parseFsckArgs reads the fsck flags; it throws InvalidArgumentError on a usage error. */
export function parseFsckArgs(args: readonly string[]): FsckOptions {
  const opts: Partial<FsckOptions> = { repair: false, removeUnreferenced: false, json: false };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => inline ?? args[++i];
    if (flag === '--home') opts.home = absolute(flag, value());
    else if (flag === '--docker-root') opts.dockerRoot = absolute(flag, value());
    else if (flag === '--repair') opts.repair = true;
    else if (flag === '--remove-unreferenced') opts.removeUnreferenced = true;
    else if (flag === '--json') opts.json = true;
    else throw new InvalidArgumentError(`unknown option ${flag}`);
  }
  if (!opts.home) throw new InvalidArgumentError('--home is required');
  return opts as FsckOptions;
}

/** runFsck inspects the home and applies the fixes the options allow. */
export async function runFsck(opts: FsckOptions, deps: FsckDeps): Promise<FsckReport> {
  const layout = new Layout(opts.home);
  if (!(await stat(opts.home).then((st) => st.isDirectory(), () => false))) throw new InvalidArgumentError(`${opts.home} is not a directory`);
  const owner = await liveOwner(layout);
  if (owner && (opts.repair || opts.removeUnreferenced)) {
    throw new FailedPreconditionError(`strata (pid ${owner.pid}) is serving ${opts.home}; stop dockerd and strata before repairing`);
  }
  const layerDb = await findLayerDb(opts.home, opts.dockerRoot);
  const references = layerDb ? await readDockerReferences(layerDb) : undefined;
  const prefix = opts.home + path.sep;
  const mounts = (await deps.readMounts()).filter((m) => m.mountPoint.startsWith(prefix));
  const found = await inspectHome({ layout, mounts, loopDevices: deps.loopDevices(), references, live: owner !== undefined });
  const chosen = found.findings.filter((f) => (needsRemoveFlag(f) ? opts.removeUnreferenced : opts.repair));
  const { freed, removed } = await repairFindings({ layout, ...deps }, chosen);
  for (const f of found.findings) if (f.id !== undefined && removed.has(f.id)) f.repaired = true;
  const unreferenced = found.findings.filter((f) => f.kind === 'unreferenced');
  return {
    home: opts.home,
    layerDb: layerDb ?? null,
    strataPid: owner?.pid ?? null,
    layers: found.layers,
    mountsInUse: found.mounts,
    findings: found.findings,
    unreferenced: { layers: unreferenced.length, bytes: unreferenced.reduce((n, f) => n + (f.bytes ?? 0), 0) },
    repaired: found.findings.filter((f) => f.repaired).length,
    reclaimedBytes: freed,
    problems: found.findings.filter((f) => !f.repaired).length,
  };
}

/** formatBytes renders a byte count for people (binary units). */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

function outcome(f: Finding): string {
  if (f.repaired) return 'repaired';
  if (f.repairError) return `repair failed: ${f.repairError}`;
  if (!f.fix) return 'needs a person';
  return needsRemoveFlag(f) ? 'fix with --remove-unreferenced' : 'fix with --repair';
}

/** formatReport renders a report for a person. */
export function formatReport(r: FsckReport): string {
  const lines = [
    `strata fsck ${r.home}`,
    `  layers: ${r.layers}, mounted and in use: ${r.mountsInUse.length}`,
    `  docker layer database: ${r.layerDb ?? 'not found, so unreferenced layers are not checked (give --docker-root)'}`,
    `  strata: ${r.strataPid ? `serving this home as pid ${r.strataPid} (work in progress is not reported)` : 'not running on this home'}`,
  ];
  if (r.findings.length > 0) lines.push('findings:');
  for (const f of r.findings) {
    const size = f.bytes === undefined ? '' : ` (${formatBytes(f.bytes)})`;
    lines.push(`  ${f.kind.padEnd(17)} ${f.path}: ${f.detail}${size} -> ${outcome(f)}`);
  }
  lines.push(
    `summary: ${r.findings.length} found, ${r.repaired} repaired, ${r.problems} left; ` +
      `${r.unreferenced.layers} unreferenced layers hold ${formatBytes(r.unreferenced.bytes)}; reclaimed ${formatBytes(r.reclaimedBytes)}`,
  );
  return lines.join('\n');
}

/** fsckMain runs the command and returns its exit code; `out`/`err` receive the text. */
export async function fsckMain(args: readonly string[], deps: FsckDeps, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  if (args.includes('--help')) {
    out(FSCK_USAGE);
    return 0;
  }
  let report: FsckReport;
  try {
    const opts = parseFsckArgs(args);
    report = await runFsck(opts, deps);
    out(opts.json ? JSON.stringify(report, null, 2) : formatReport(report));
  } catch (e) {
    if (!(e instanceof InvalidArgumentError || e instanceof FailedPreconditionError)) throw e;
    err(`strata fsck: ${e.message}${e instanceof InvalidArgumentError ? `\n${FSCK_USAGE}` : ''}`);
    return 2;
  }
  return report.problems > 0 ? 1 : 0;
}
