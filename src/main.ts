/** Composition: logger, session, store factory, server; signals and shutdown order. */
import type { Config } from './config';
import { buildApp } from './graphdriver/app';
import { listenOnSocket } from './graphdriver/listen';
import { LayerStore } from './store/layer-store';
import { Layout } from './store/layout';
import { DriverSession, type OpenStore } from './graphdriver/session';
import { run } from './sys/exec';
import { createLogger, type Logger } from './sys/log';
import { exitOnSignals } from './sys/shutdown';
import { readMountInfo } from './sys/mountinfo';
import { KernelMounter } from './sys/mounter';
import { LoopFilesystems } from './sys/loop-fs';
import { treeRemover } from './sys/remove-tree';
import { probeHost } from './sys/probe';
import { mkdir } from 'node:fs/promises';
import { VERSION } from './version';
import { Metrics } from './telemetry/metrics';
import { closeMetricsServer, startMetricsServer } from './telemetry/metrics-server';


/** openStoreWith returns the OpenStore that probes the home and opens a kernel-backed store. */
export function openStoreWith(log: Logger, settings: Pick<Config, 'idleUnmountMs'>): OpenStore {
  const mounter = new KernelMounter(run);
  return async (params, idMap) => {
    await mkdir(params.home, { recursive: true, mode: 0o710 });
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
}

/** serve runs the plugin until SIGTERM/SIGINT. Mounts stay: running containers keep their root. */
export async function serve(config: Config): Promise<void> {
  const log = createLogger({ level: config.logLevel });
  const session = new DriverSession(config.stateDir, openStoreWith(log, config), log);
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
  exitOnSignals(log, async () => {
    if (metricsServer) await closeMetricsServer(metricsServer);
    await app.close();
    await session.close();
  });
}
