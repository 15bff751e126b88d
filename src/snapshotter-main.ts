/** Composition of `strata snapshotter`: logger, host probe, snapshot store, gRPC server; signals and shutdown order. */
import { mkdir } from 'node:fs/promises';
import type { SnapshotterConfig } from './config';
import { VERSION } from './main';
import { startSnapshotServer } from './snapshots/server';
import { SnapshotLayout } from './store/snapshot-layout';
import { SnapshotStore } from './store/snapshot-store';
import { run } from './sys/exec';
import { createLogger } from './sys/log';
import { KernelMounter } from './sys/mounter';
import { probeHost } from './sys/probe';
import { treeRemover } from './sys/remove-tree';

/** serveSnapshotter runs the containerd proxy snapshotter until SIGTERM/SIGINT; snapshots stay mounted wherever containerd mounted them. */
export async function serveSnapshotter(config: SnapshotterConfig): Promise<void> {
  const log = createLogger({ level: config.logLevel });
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
  let closing = false;
  const close = (signal: string) => {
    if (closing) return;
    closing = true;
    log.info({ signal }, 'shutting down');
    new Promise<void>((resolve) => server.tryShutdown(() => resolve()))
      .then(() => store.close())
      .then(
        () => log.flush(() => process.exit(0)),
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          log.flush(() => process.exit(1));
        },
      );
  };
  process.on('SIGTERM', () => close('SIGTERM'));
  process.on('SIGINT', () => close('SIGINT'));
}
