/**
 * The report `strata status` prints, as the running process makes it: what it is, since when,
 * what its store holds and what it has cost (memory, after a full collection when asked and
 * when node runs with --expose-gc; open fds). Sizes on disk are left to the status command,
 * which walks the store in its own process rather than blocking this one's event loop.
 */
import { readdirSync } from 'node:fs';
import type { Metrics, RecentError, StoreSample } from './metrics';

export interface StatusReport {
  version: string;
  /** which front end answers: `strata serve` or `strata snapshotter` */
  command: 'serve' | 'snapshotter';
  pid: number;
  startedAt: string;
  uptimeSeconds: number;
  /** the GraphDriver home (null before dockerd's Init) or the snapshotter root */
  home: string | null;
  store: StoreSample | null;
  requests: { total: number; failed: number };
  recentErrors: RecentError[];
  memory: { rssBytes: number; heapUsedBytes: number; heapTotalBytes: number; externalBytes: number; arrayBuffersBytes: number };
  /** whether a full garbage collection ran just before the memory figures were read */
  gcForced: boolean;
  openFds: number;
}

export interface StatusSource {
  version: string;
  command: StatusReport['command'];
  metrics: Metrics;
  home: () => string | undefined;
}

/**
 * statusReport reads the process and its store now. With `gc`, it first runs a full garbage
 * collection, which node offers only under --expose-gc (the soak starts Strata so); without
 * the flag `gcForced` says it did not happen.
 */
export async function statusReport(source: StatusSource, options: { gc: boolean }): Promise<StatusReport> {
  const { metrics } = source;
  const collect = (globalThis as { gc?: () => void }).gc;
  if (options.gc && collect) collect();
  const m = process.memoryUsage();
  const totals = metrics.totals();
  return {
    version: source.version,
    command: source.command,
    pid: process.pid,
    startedAt: metrics.startedAt.toISOString(),
    uptimeSeconds: Math.round((Date.now() - metrics.startedAt.getTime()) / 100) / 10,
    home: source.home() ?? null,
    store: (await metrics.sample()) ?? null,
    requests: { total: totals.requests, failed: totals.failed },
    recentErrors: metrics.recentErrors(),
    memory: { rssBytes: m.rss, heapUsedBytes: m.heapUsed, heapTotalBytes: m.heapTotal, externalBytes: m.external, arrayBuffersBytes: m.arrayBuffers },
    gcForced: options.gc && collect !== undefined,
    // less the one readdirSync itself holds open
    openFds: readdirSync('/proc/self/fd').length - 1,
  };
}
