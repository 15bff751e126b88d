/**
 * The sides of the containerd route, each a dockerd 26 of the same build with its own
 * containerd 1.7 of the same build (so no side finds another's blobs or snapshots):
 *   - `strata-differ`: the containerd image store on Strata's snapshotter, with Strata also as
 *     containerd's first differ (`strata-diff`, ahead of `walking`);
 *   - `strata`: the same without the Strata differ (containerd's walking differ and applier);
 *   - `overlayfs`: the containerd image store on containerd's built-in overlayfs, walking differ;
 *   - `overlay2`: the classic overlay2 graphdriver (containerd-snapshotter feature off);
 *   - `strata-differ-gzip6` (commit only): `strata-differ` writing its layers at gzip level 6.
 * Each Strata side has its own `strata snapshotter`: containerd's GC removes whatever snapshot
 * of its proxy snapshotter its own metadata does not name, so two containerds cannot share one.
 */
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { TestContainerd } from '../test/helpers/containerd';
import { DOCKER26_BINARIES, TestDaemon, type RunResult } from '../test/helpers/dockerd';
import { Docker26, type DockerOptions } from '../test/helpers/dockerd26';
import { SnapshotterProcess } from '../test/helpers/snapshotter-process';
import { StrataLog } from './process-stats';
import { LINGER_MS } from '../src/sys/lingering-log';
import { SnapshotService } from './snapshot-calls';

/** CTRD_SIDES are the sides of every docker-command row, in the order of a forward round. */
export const CTRD_SIDES = ['strata-differ', 'strata', 'overlayfs', 'overlay2'] as const;
/** GZIP6_SIDE is the extra side of the commit row: the Strata differ at `--diff-gzip-level 6`. */
export const GZIP6_SIDE = 'strata-differ-gzip6';
export type CtrdSideName = (typeof CTRD_SIDES)[number] | typeof GZIP6_SIDE;

const DIFFER_ORDER = '[plugins."io.containerd.service.v1.diff-service"]\n  default = ["strata-diff", "walking"]';

/** BenchSide is one side: its docker CLI, and what must come back after a sample that removed something. */
export interface BenchSide {
  readonly name: CtrdSideName;
  docker(args: readonly string[], opts?: DockerOptions): Promise<RunResult>;
  /** counts names the snapshots, blobs and layers the side holds, so a sample can wait for the GC to undo it */
  counts(): Promise<string>;
  /**
   * dropDifferLeases (the Strata differ sides) removes the leases Strata's differ took for the
   * blobs it wrote: containerd does not pass its caller's lease to a diff proxy plugin, so
   * Strata holds each new blob under a lease of its own that expires in an hour, and a removed
   * image's layer would otherwise stay in the content store that long. Untimed, after a sample.
   */
  dropDifferLeases?(): Promise<void>;
  /** the containerd-store sides */
  readonly containerd?: TestContainerd;
  readonly namespace?: string;
  /** the Strata sides: their snapshotter process and its request log */
  readonly strata?: { process: SnapshotterProcess; log: StrataLog };
}

interface ContainerdSpec {
  name: Exclude<CtrdSideName, 'overlay2'>;
  snapshotter: 'strata' | 'overlayfs';
  differ: boolean;
  gzipLevel?: number;
}

const SPECS: Record<Exclude<CtrdSideName, 'overlay2'>, ContainerdSpec> = {
  'strata-differ': { name: 'strata-differ', snapshotter: 'strata', differ: true },
  strata: { name: 'strata', snapshotter: 'strata', differ: false },
  overlayfs: { name: 'overlayfs', snapshotter: 'overlayfs', differ: false },
  [GZIP6_SIDE]: { name: GZIP6_SIDE, snapshotter: 'strata', differ: true, gzipLevel: 6 },
};

type OnCleanup = (fn: () => Promise<void>) => void;

/** startSide starts one side under `dir` (temp dirs of the helpers go there too) and registers its stops. */
export async function startSide(name: CtrdSideName, dir: string, onCleanup: OnCleanup): Promise<BenchSide> {
  return name === 'overlay2' ? startClassic(onCleanup) : startContainerdStore(SPECS[name], dir, onCleanup);
}

/**
 * startContainerdStore starts containerd first (it dials its proxy plugins only when first used),
 * then the Strata snapshotter that dials containerd's content store, then dockerd.
 */
async function startContainerdStore(spec: ContainerdSpec, dir: string, onCleanup: OnCleanup): Promise<BenchSide> {
  const strataDir = path.join(dir, spec.name);
  const socket = path.join(strataDir, 'snapshotter.sock');
  const root = path.join(strataDir, 'root');
  const proxyPlugins = spec.snapshotter !== 'strata' ? undefined
    : { strata: { address: socket, root }, ...(spec.differ ? { 'strata-diff': { address: socket, type: 'diff' as const } } : {}) };
  const containerd = await TestContainerd.start({ proxyPlugins, extraToml: spec.differ ? DIFFER_ORDER : undefined, logLevel: 'info' });
  onCleanup(() => containerd.stop({ allowLeftoverMounts: true }).then(() => undefined));
  let strata: BenchSide['strata'];
  if (spec.snapshotter === 'strata') {
    await mkdir(strataDir, { recursive: true });
    const args = spec.gzipLevel ? ['--diff-gzip-level', String(spec.gzipLevel)] : [];
    const sp = new SnapshotterProcess(strataDir, { socket, root, containerdAddress: spec.differ ? containerd.address : undefined, args });
    onCleanup(() => sp.kill('SIGTERM'));
    await sp.start();
    strata = { process: sp, log: new StrataLog(sp.logFile, 5 * LINGER_MS) };
  }
  const docker = await Docker26.start({ containerd, snapshotter: spec.snapshotter });
  onCleanup(() => docker.stop({ allowLeftoverMounts: true }).then(() => undefined));
  const info = await docker.info();
  if (info.Driver !== spec.snapshotter) throw new Error(`dockerd 26 of the ${spec.name} side runs on ${info.Driver}`);
  const store = strata ? new SnapshotService(strata.process.socket, 'strata', undefined, true) : undefined;
  if (store) onCleanup(async () => store.close());
  const ctrLines = async (args: string[]) => (await containerd.ctr(args, { namespace: docker.namespace })).stdout.split('\n').filter(Boolean);
  const lines = async (args: string[]) => (await ctrLines(args)).length;
  const dropDifferLeases = async () => {
    const ours = (await ctrLines(['leases', 'ls', '-q'])).filter((id) => id.startsWith('strata-diff-'));
    if (ours.length) await containerd.ctr(['leases', 'rm', ...ours], { namespace: docker.namespace });
  };
  return {
    name: spec.name,
    docker: (args, opts) => docker.docker(args, opts),
    containerd,
    namespace: docker.namespace,
    strata,
    ...(spec.differ ? { dropDifferLeases } : {}),
    async counts() {
      const snaps = (await lines(['snapshots', '--snapshotter', spec.snapshotter, 'ls'])) - 1;
      const blobs = await lines(['content', 'ls', '-q']);
      return `${snaps} snapshots, ${blobs} blobs, ${store ? await store.list() : 0} in store`;
    },
  };
}

/** startClassic starts the classic side: TestDaemon with Docker 26's binaries and overlay2, no containerd-snapshotter feature. */
async function startClassic(onCleanup: OnCleanup): Promise<BenchSide> {
  const daemon = await TestDaemon.start({ driver: 'overlay2', binaries: DOCKER26_BINARIES });
  onCleanup(() => daemon.stop());
  const info = JSON.parse((await daemon.docker(['info', '--format', '{{json .}}'])).stdout) as { Driver: string; DriverStatus: Array<[string, string]> };
  if (info.Driver !== 'overlay2' || info.DriverStatus.some(([k]) => k === 'driver-type')) throw new Error(`dockerd 26 of the overlay2 side runs on ${info.Driver} ${JSON.stringify(info.DriverStatus)}`);
  return {
    name: 'overlay2',
    docker: (args, opts) => daemon.docker(args, opts),
    // overlay2 removes layers before rmi returns; the count only checks that nothing stayed.
    async counts() {
      const layers = (await readdir(path.join(daemon.dataRoot, 'overlay2'))).filter((n) => n !== 'l').length;
      const images = (await daemon.docker(['images', '-aq'])).stdout.split('\n').filter(Boolean).length;
      return `${layers} layers, ${images} images`;
    },
  };
}
