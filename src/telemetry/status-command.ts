/**
 * `strata status`: asks a running Strata for its StatusReport over the socket it already
 * serves, with no opt-in: `strata serve` answers POST /Strata.Status on its plugin socket,
 * `strata snapshotter` the gRPC call /strata.v1.Status/Get on its socket. The size of the
 * layers or snapshots is measured here, in this process, from the home the report names.
 */
import { readdirSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { Client, credentials, type ServiceError } from '@grpc/grpc-js';
import { directorySize } from '../archive/size';
import { DEFAULT_SNAPSHOTTER_SOCKET, DEFAULT_SOCKET } from '../config';
import { Layout, isLayerName } from '../store/layout';
import { SnapshotLayout, snapshotIdOfDir } from '../store/snapshot-layout';
import { STATUS_GET_PATH, jsonCodec } from './status-grpc';
import type { StatusReport } from './status-report';

export const STATUS_USAGE = `usage: strata status [--snapshotter] [--socket PATH] [--json] [--gc]

  status         summarise a running strata serve (or, with --snapshotter, strata snapshotter)
  --socket       its socket (default ${DEFAULT_SOCKET}, or ${DEFAULT_SNAPSHOTTER_SOCKET} with --snapshotter)
  --json         print the report as JSON
  --gc           have it run a full garbage collection first (when started with node --expose-gc)`;

/** StatusOutput is the report with what this command measured itself. */
export interface StatusOutput extends StatusReport {
  /** bytes of the layers' (or snapshots') own files; null when the home could not be read from here */
  sizeBytes: number | null;
}

const TIMEOUT_MS = 10_000;

/** fetchServeStatus asks `strata serve` on its plugin socket. */
export function fetchServeStatus(socket: string, gc: boolean): Promise<StatusReport> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ gc });
    const req = http.request({ socketPath: socket, method: 'POST', path: '/Strata.Status', timeout: TIMEOUT_MS, headers: { 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) return reject(new Error(`${socket} answered ${res.statusCode}: ${text.slice(0, 200)} (is it strata serve, and as new as this command?)`));
        resolve(JSON.parse(text) as StatusReport);
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${socket} did not answer within ${TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** fetchSnapshotterStatus asks `strata snapshotter` on its gRPC socket. */
export function fetchSnapshotterStatus(socket: string, gc: boolean): Promise<StatusReport> {
  const client = new Client(`unix:${socket}`, credentials.createInsecure());
  return new Promise<StatusReport>((resolve, reject) => {
    client.makeUnaryRequest(STATUS_GET_PATH, jsonCodec.serialize, jsonCodec.deserialize, { gc }, { deadline: Date.now() + TIMEOUT_MS }, (err: ServiceError | null, reply?: unknown) => {
      if (err) reject(new Error(`${socket}: ${err.details || err.message}`));
      else resolve(reply as StatusReport);
    });
  }).finally(() => client.close());
}

/** measureSize adds up the layers' (or snapshots') own files under the report's home. */
export function measureSize(report: StatusReport): number | null {
  if (!report.home) return null;
  try {
    if (report.command === 'serve') {
      const layout = new Layout(report.home);
      return readdirSync(report.home).filter(isLayerName).reduce((sum, id) => sum + directorySize(layout.diffDir(id)), 0);
    }
    const layout = new SnapshotLayout(report.home);
    const ids = readdirSync(layout.snapshotsDir()).map(snapshotIdOfDir).filter((id) => id !== undefined);
    return ids.reduce((sum, id) => sum + directorySize(layout.fsDir(id)), 0);
  } catch {
    // Another mount namespace (a managed plugin), or not root: the report stands without it.
    return null;
  }
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

function duration(seconds: number): string {
  const s = Math.floor(seconds);
  const parts = [[Math.floor(s / 86400), 'd'], [Math.floor(s / 3600) % 24, 'h'], [Math.floor(s / 60) % 60, 'm'], [s % 60, 's']] as const;
  const first = parts.findIndex(([n]) => n > 0);
  return parts.slice(first < 0 ? 3 : first).map(([n, u]) => `${n}${u}`).join(' ');
}

/** formatStatus renders the report for a person. */
export function formatStatus(r: StatusOutput): string {
  const size = r.sizeBytes === null ? 'size unknown' : mib(r.sizeBytes);
  const lines = [`strata ${r.command} ${r.version} (pid ${r.pid}), up ${duration(r.uptimeSeconds)} since ${r.startedAt}`];
  const row = (name: string, value: string) => lines.push(`${`${name}:`.padEnd(17)}${value}`);
  row(r.command === 'serve' ? 'home' : 'root', r.home ?? 'none yet (dockerd has not sent GraphDriver.Init)');
  if (r.store?.layers !== undefined) row('layers', `${r.store.layers}, ${size}`);
  if (r.store?.snapshots) row('snapshots', `${Object.entries(r.store.snapshots).map(([k, n]) => `${n} ${k}`).join(', ')}; ${size}`);
  if (r.store?.mounts) row('mounts', `${r.store.mounts.active} active, ${r.store.mounts.idle} idle`);
  if (r.store) row('pending deletes', String(r.store.pendingDeletes));
  row('requests', `${r.requests.total} (${r.requests.failed} failed)`);
  row('memory', `rss ${mib(r.memory.rssBytes)}, heap ${mib(r.memory.heapUsedBytes)} used of ${mib(r.memory.heapTotalBytes)}${r.gcForced ? ' (after a full GC)' : ''}`);
  row('open fds', String(r.openFds));
  lines.push(r.recentErrors.length === 0 ? 'recent errors:   none' : 'recent errors:');
  for (const e of r.recentErrors) lines.push(`  ${e.at} ${e.service} ${e.method} ${e.kind}: ${e.message}`);
  return lines.join('\n');
}

/** statusMain runs `strata status`; it returns the exit code (1 when nothing answered). */
export async function statusMain(args: string[], out: (text: string) => void, err: (text: string) => void): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args, strict: true, options: { socket: { type: 'string' }, snapshotter: { type: 'boolean' }, json: { type: 'boolean' }, gc: { type: 'boolean' } } }));
  } catch (e) {
    err(`strata status: ${(e as Error).message}\n${STATUS_USAGE}`);
    return 2;
  }
  const socket = values.socket ?? (values.snapshotter ? DEFAULT_SNAPSHOTTER_SOCKET : DEFAULT_SOCKET);
  const fetch = values.snapshotter ? fetchSnapshotterStatus : fetchServeStatus;
  let report: StatusReport;
  try {
    report = await fetch(socket, values.gc ?? false);
  } catch (e) {
    err(`strata status: no answer from ${socket}: ${(e as Error).message}`);
    return 1;
  }
  const output: StatusOutput = { ...report, sizeBytes: measureSize(report) };
  out(values.json ? JSON.stringify(output, null, 2) : formatStatus(output));
  return 0;
}
