/** A LayerStore on real overlay mounts (KernelMounter, probeHost) for root-tier tests. */
import { mkdirSync } from 'node:fs';
import { Writable } from 'node:stream';
import { IdMapping } from '../../src/idmap';
import { LayerStore } from '../../src/store/layer-store';
import { Layout } from '../../src/store/layout';
import { run } from '../../src/sys/exec';
import { createLogger, type Logger } from '../../src/sys/log';
import { readMountInfo } from '../../src/sys/mountinfo';
import { KernelMounter } from '../../src/sys/mounter';
import { LoopFilesystems } from '../../src/sys/loop-fs';
import { treeRemover } from '../../src/sys/remove-tree';
import { probeHost, type HostFeatures } from '../../src/sys/probe';

export interface KernelStore {
  store: LayerStore;
  features: HostFeatures;
  /** JSON log lines the store wrote */
  logLines: Array<Record<string, unknown>>;
}

/** memoryLogger returns a pino logger whose lines are collected as parsed JSON. */
export function memoryLogger(level = 'info'): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger({ level, destination: sink }), lines };
}

/** openKernelStore probes `home` and opens a store on it, as openStoreWith does. */
export async function openKernelStore(home: string, idMap = new IdMapping(), idleUnmountMs = 0): Promise<KernelStore> {
  mkdirSync(home, { recursive: true });
  const mounter = new KernelMounter(run);
  const features = await probeHost(home, mounter);
  const { log, lines } = memoryLogger();
  const store = await LayerStore.open({ layout: new Layout(home), mounter, loopFs: new LoopFilesystems(run, mounter), log, features, idMap, readMounts: readMountInfo, removeTree: treeRemover(run), version: 'test', idleUnmountMs });
  return { store, features, logLines: lines };
}
