/** Composition: logger, session, store factory, server; signals and shutdown order. */
import type { Config } from './config';
import { buildApp } from './graphdriver/app';
import { listenOnSocket } from './graphdriver/listen';
import { LayerStore } from './store/layer-store';
import { Layout } from './store/layout';
import { DriverSession, type OpenStore } from './graphdriver/session';
import { run } from './sys/exec';
import { createLogger, type Logger } from './sys/log';
import { LingeringDestination } from './sys/lingering-log';
import { exitOnSignals } from './sys/shutdown';
import { readMountInfo } from './sys/mountinfo';
import { KernelMounter } from './sys/mounter';
import { HelperMounter } from './sys/helper-mounter';
import { LoopFilesystems } from './sys/loop-fs';
import { treeRemover } from './sys/remove-tree';
import { probeHost } from './sys/probe';
import { mkdir } from 'node:fs/promises';
import { VERSION } from './version';
import { Metrics } from './telemetry/metrics';
import { closeMetricsServer, startMetricsServer } from './telemetry/metrics-server';


/** StoreOpener opens kernel-backed stores; close stops the mount helper of the last one. */
export interface StoreOpener {
  open: OpenStore;
  close(): Promise<void>;
}

/** openStoreWith returns the opener that probes the home and opens a kernel-backed store, mounting through a helper child per home. */
export function openStoreWith(log: Logger, settings: Pick<Config, 'idleUnmountMs'>): StoreOpener {
  const viaChildren = new KernelMounter(run);
  let mounter: HelperMounter | undefined;
  const open: OpenStore = async (params, idMap) => {
    await mkdir(params.home, { recursive: true, mode: 0o710 });
    await mounter?.close();
    mounter = new HelperMounter({ home: params.home, log, viaChildren });
    const features = await probeHost(params.home, mounter);
    log.info({ home: params.home, ...features }, 'home checked');
    return LayerStore.open({
      layout: new Layout(params.home),
      mounter,
      loopFs: new LoopFilesystems(run, mounter),
      log,
      features,
      idMap,
      readMounts: readMountInfo,
      removeTree: treeRemover(run),
      version: VERSION,
      idleUnmountMs: settings.idleUnmountMs,
    });
  };
  return { open, close: async () => mounter?.close() };
}

/** serve runs the plugin until SIGTERM/SIGINT. Mounts stay: running containers keep their root. */
export async function serve(config: Config): Promise<void> {
  const log = createLogger({ level: config.logLevel, destination: new LingeringDestination() });
  const stores = openStoreWith(log, config);
  const session = new DriverSession(config.stateDir, stores.open, log);
  try {
    await session.resume();
  } catch (err) {
    log.error({ err }, 'could not resume from the last Init; waiting for GraphDriver.Init');
  }
  const metrics = new Metrics({ store: 'layers', sample: () => session.sample() });
  const app = buildApp({ session, log, metrics });
  await listenOnSocket(app, config.socket);
  const metricsServer = config.metricsAddress && (await startMetricsServer(metrics, config.metricsAddress, log));
  log.info({ socket: config.socket, version: VERSION }, 'strata is listening');
  // Start-up's lines go out now, not LINGER_MS later.
  log.flush();
  exitOnSignals(log, async () => {
    if (metricsServer) await closeMetricsServer(metricsServer);
    await app.close();
    await session.close();
    await stores.close();
  });
}
