/**
 * A Kubernetes node without a kubelet, for the CRI suites: a plain-HTTP docker-registry on
 * 127.0.0.1 holding a pause image and the suite's app image (both on busybox), `strata
 * snapshotter`, and containerd 1.7 whose CRI plugin runs pods on it and pulls from that
 * registry. A suite drives it through `cri` the way a kubelet does.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { TestContainerd } from './containerd';
import { CriClient } from './cri-client';
import { HttpRegistry, type ImageRun, type PushedImage } from './http-registry';
import { busyboxLayer } from './image-archive';
import { SnapshotterProcess } from './snapshotter-process';

/** FOREVER runs until killed; as pid 1 it needs a handler to end on SIGTERM. */
export const FOREVER = 'trap "exit 0" TERM; while :; do sleep 1; done';

export interface CriNodeOptions {
  /** the app image's layers above busybox (uncompressed tars) */
  appLayers?: readonly string[];
  /** what the app image runs */
  appRun: ImageRun;
  /** extra flags for `strata snapshotter` */
  snapshotterArgs?: readonly string[];
}

export class CriNode {
  /** the CRI client; reconnect() replaces it after containerd restarts */
  cri: CriClient;

  private constructor(
    readonly registry: HttpRegistry,
    readonly pause: PushedImage,
    readonly image: PushedImage,
    readonly snap: SnapshotterProcess,
    readonly ctrd: TestContainerd,
  ) {
    this.cri = new CriClient(ctrd.address);
  }

  /** start brings the node up under `dir`; what it started is stopped again if a later step fails. */
  static async start(dir: string, opts: CriNodeOptions): Promise<CriNode> {
    const busybox = await busyboxLayer(path.join(dir, 'busybox.tar'));
    const registry = await HttpRegistry.start(path.join(dir, 'registry'));
    let snap: SnapshotterProcess | undefined;
    try {
      const pause = await registry.pushImage('strata/pause', '1', [busybox], { entrypoint: ['/bin/sh', '-c', FOREVER] });
      const image = await registry.pushImage('strata/app', '1', [busybox, ...(opts.appLayers ?? [])], opts.appRun);
      snap = new SnapshotterProcess(path.join(dir, 'snapshotter'), { args: opts.snapshotterArgs });
      await mkdir(snap.dir, { recursive: true });
      await snap.start();
      const ctrd = await TestContainerd.start({
        proxyPlugins: { strata: { address: snap.socket, root: snap.root } },
        cri: { snapshotter: 'strata', sandboxImage: pause.ref, extraToml: registry.criMirrorToml() },
      });
      return new CriNode(registry, pause, image, snap, ctrd);
    } catch (err) {
      await snap?.kill('SIGTERM');
      await registry.stop();
      throw err;
    }
  }

  /** reconnect opens a new CRI client, for after a containerd restart. */
  reconnect(): void {
    this.cri.close();
    this.cri = new CriClient(this.ctrd.address);
  }

  /** stop closes the client and stops containerd, the snapshotter and the registry; it returns the mounts containerd left under its dir. */
  async stop(): Promise<string[]> {
    this.cri.close();
    const leftovers = await this.ctrd.stop({ allowLeftoverMounts: true });
    await this.snap.kill('SIGTERM');
    await this.registry.stop();
    return leftovers;
  }
}
