/**
 * Composition of `strata snapshotter`: logger, host probe, snapshot store, the containerd
 * content client the differ uses, and one gRPC server with the snapshot and diff services;
 * signals and shutdown order.
 */
import { mkdir } from 'node:fs/promises';
import type { SnapshotterConfig } from './config';
import { ContainerdContent } from './containerd/content-client';
import { diffService } from './diff/service';
import { RecentLayers } from './differ/recent-layers';
import { grpcService } from './grpc/services';
import { startGrpcServer } from './grpc/server';
import { VERSION } from './version';
import { snapshotService } from './snapshots/service';
import { SnapshotLayout } from './store/snapshot-layout';
import { SnapshotStore } from './store/snapshot-store';
import { run } from './sys/exec';
import { FileDigests } from './sys/file-digest';
import { createLogger } from './sys/log';
import { LingeringDestination } from './sys/lingering-log';
import { exitOnSignals } from './sys/shutdown';
import { KernelMounter } from './sys/mounter';
import { LoopFilesystems } from './sys/loop-fs';
import { probeHost } from './sys/probe';
import { treeRemover } from './sys/remove-tree';
import { Metrics } from './telemetry/metrics';
import { closeMetricsServer, startMetricsServer } from './telemetry/metrics-server';
import { StatusServiceDefinition, statusService } from './telemetry/status-grpc';

/** LEASE_TTL_MS is how long a blob the differ wrote is kept for its caller to reference it. */
const LEASE_TTL_MS = 60 * 60 * 1000;

/** serveSnapshotter runs the containerd proxy snapshotter until SIGTERM/SIGINT; snapshots stay mounted wherever containerd mounted them. */
export async function serveSnapshotter(config: SnapshotterConfig): Promise<void> {
  const log = createLogger({ level: config.logLevel, destination: new LingeringDestination() });
  process.on('warning', (warning) => log.warn({ warning: warning.name }, warning.message));
  await mkdir(config.root, { recursive: true, mode: 0o700 });
  const features = await probeHost(config.root, new KernelMounter(run));
  log.info({ root: config.root, ...features }, 'root checked');
  const layout = new SnapshotLayout(config.root);
  const store = await SnapshotStore.open({
    layout,
    log,
    mountOptions: features.snapshotMountOptions,
    removeTree: treeRemover(run),
    sizeLimits: features.sizeLimits ? { loopFs: new LoopFilesystems(run, new KernelMounter(run)), defaultBytes: config.defaultSizeLimit } : undefined,
  });
  const content = new ContainerdContent({
    address: config.containerdAddress,
    leaseTtlMs: LEASE_TTL_MS,
    onContentRoot: (dir) => log.info({ contentDir: dir ?? null }, dir ? "layers are read from containerd's content directory where it holds them" : 'containerd names no content directory: layers are read through its Read call'),
  });
  const recent = await RecentLayers.open(layout.recentLayersDir());
  const fileDigests = new FileDigests();
  const metrics = new Metrics({ store: 'snapshots', sample: async () => store.activity() });
  const status = { version: VERSION, command: 'snapshotter' as const, metrics, home: () => config.root };
  const differ = {
    store,
    log,
    metrics,
    content: content.stores,
    gzipLevel: config.diffGzipLevel,
    recent,
    fileDigests,
    // sync -f is syncfs(2) on the filesystem holding the directory.
    syncFs: async (dir: string) => void (await run(['sync', '-f', dir], { discardStdout: true })),
  };
  const server = await startGrpcServer(
    [
      { definition: grpcService('snapshots').service, implementation: snapshotService({ store, log, metrics }) },
      { definition: grpcService('diff').service, implementation: diffService(differ) },
      { definition: StatusServiceDefinition, implementation: statusService(status, log) },
    ],
    config.socket,
  );
  const metricsServer = config.metricsAddress && (await startMetricsServer(metrics, config.metricsAddress, log));
  log.info({ socket: config.socket, root: config.root, containerd: config.containerdAddress, version: VERSION }, 'strata snapshotter is listening');
  // Start-up's lines go out now, not LINGER_MS later.
  log.flush();
  exitOnSignals(log, async () => {
    if (metricsServer) await closeMetricsServer(metricsServer);
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    content.close();
    await recent.close();
    await fileDigests.close();
    await store.close();
  });
}
