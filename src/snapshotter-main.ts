/** Composition of `strata snapshotter`: logger, host probe, snapshot store, gRPC server; signals and shutdown order. */
import { mkdir } from 'node:fs/promises';
import type { SnapshotterConfig } from './config';
import { VERSION } from './main';
import { startSnapshotServer } from './snapshots/server';
import { SnapshotLayout } from './store/snapshot-layout';
import { SnapshotStore } from './store/snapshot-store';
import { run } from './sys/exec';
import { createLogger } from './sys/log';
import { exitOnSignals } from './sys/shutdown';
import { KernelMounter } from './sys/mounter';
import { probeHost } from './sys/probe';
import { treeRemover } from './sys/remove-tree';

/** serveSnapshotter runs the containerd proxy snapshotter until SIGTERM/SIGINT; snapshots stay mounted wherever containerd mounted them. */
export async function serveSnapshotter(config: SnapshotterConfig): Promise<void> {
  const log = createLogger({ level: config.logLevel });
  process.on('warning', (warning) => log.warn({ warning: warning.name }, warning.message));
  await mkdir(config.root, { recursive: true, mode: 0o700 });
  const features = await probeHost(config.root, new KernelMounter(run));
  log.info({ root: config.root, ...features }, 'root checked');
  const store = await SnapshotStore.open({
    layout: new SnapshotLayout(config.root),
    log,
    mountOptions: features.snapshotMountOptions,
    removeTree: treeRemover(run),
  });
  const server = await startSnapshotServer({ store, log }, config.socket);
  log.info({ socket: config.socket, root: config.root, version: VERSION }, 'strata snapshotter is listening');
  exitOnSignals(log, async () => {
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    await store.close();
  });
}
